//! The block service protocol (driver ⇄ its clients), one `call` per
//! request:
//!
//! | label | request bytes | reply label | reply bytes |
//! |---|---|---|---|
//! | `READ` 0x10 | header | status | `count × 512` data (count ≤ 8: 4 KiB) |
//! | `WRITE` 0x11 | header + `count × 512` data (count ≤ 7) | status | – |
//! | `INFO` 0x12 | – | status | capacity in sectors (u64 LE) |
//! | `STATS` 0x14 | – | status | ticks blocked in `irq_wait` (u64), requests (u32), interrupts (u32), LE |
//! | `SHUTDOWN` 0x13 | – (sent with `send`, not `call`) | – | – |
//!
//! The header is 8 bytes, little-endian: sector (u32), count (u16),
//! reserved (u16, 0). The whole message lives in the 4 KiB IPC buffer, so
//! a read returns up to 8 sectors and a write carries up to 7 (the header
//! takes the room of the eighth).

/// Sector size.
pub const SECTOR: usize = 512;
/// Read one or more sectors.
pub const READ: u16 = 0x10;
/// Write one or more sectors.
pub const WRITE: u16 = 0x11;
/// Capacity.
pub const INFO: u16 = 0x12;
/// The driver's counters.
pub const STATS: u16 = 0x14;
/// Stop serving and exit.
pub const SHUTDOWN: u16 = 0x13;
/// Header length.
pub const HEADER: usize = 8;
/// Sectors a read returns at most.
pub const MAX_READ: u16 = 8;
/// Sectors a write carries at most.
pub const MAX_WRITE: u16 = 7;

/// Reply status (the reply's label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum Status {
    /// Done.
    Ok = 0,
    /// Malformed: wrong length, zero count or reserved bits set.
    BadRequest = 1,
    /// Past the end of the disk.
    OutOfRange = 2,
    /// More sectors than one call carries.
    TooLarge = 3,
    /// The device reported an error.
    IoError = 4,
    /// Unknown label.
    UnknownOp = 5,
}

impl Status {
    /// From a reply label.
    pub fn from_label(label: u16) -> Option<Self> {
        Some(match label {
            0 => Status::Ok,
            1 => Status::BadRequest,
            2 => Status::OutOfRange,
            3 => Status::TooLarge,
            4 => Status::IoError,
            5 => Status::UnknownOp,
            _ => return None,
        })
    }
}

/// A request header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// First sector.
    pub sector: u32,
    /// Sectors.
    pub count: u16,
}

impl Header {
    /// Writes the header at the start of `buf` (≥ 8 bytes).
    pub fn encode(self, buf: &mut [u8]) {
        buf[0..4].copy_from_slice(&self.sector.to_le_bytes());
        buf[4..6].copy_from_slice(&self.count.to_le_bytes());
        buf[6..8].copy_from_slice(&[0, 0]);
    }

    /// Reads a header; `None` if `buf` is short or the reserved bits are set.
    pub fn decode(buf: &[u8]) -> Option<Self> {
        let b = buf.get(..HEADER)?;
        if b[6] != 0 || b[7] != 0 {
            return None;
        }
        Some(Self {
            sector: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            count: u16::from_le_bytes([b[4], b[5]]),
        })
    }
}

/// Byte `i` of sector `sector` in the host's test image
/// (`tools/runner/src/blk_tests.rs` has the same function).
pub fn host_byte(sector: u32, i: usize) -> u8 {
    if i < 4 {
        (sector >> (8 * i)) as u8
    } else {
        (sector.wrapping_mul(31).wrapping_add(i as u32 * 7) ^ 0xa5) as u8
    }
}

/// Byte `i` of sector `sector` as the guest writes it.
pub fn written_byte(sector: u32, i: usize) -> u8 {
    !host_byte(sector, i) ^ 0x3c
}

/// First sector the test client writes.
pub const WRITE_FIRST: u32 = 1000;
/// Sectors it writes.
pub const WRITE_COUNT: u32 = 16;
