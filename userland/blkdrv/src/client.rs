//! A client of the block service: checks the host's test pattern, writes
//! sectors, reads them back (also on a second boot), and measures the
//! service.

use alloc::vec;
use alloc::vec::Vec;

use abi::{CapSlot, KernelError, MessageTag};
use log::{error, info};
use userlib::{dev, sys};

use crate::proto::{self, Header, Status, SECTOR};

/// Slot of the block service's endpoint.
const SERVICE: CapSlot = CapSlot(1);

/// Why a block call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlkError {
    /// The kernel call failed.
    Kernel(KernelError),
    /// The service answered with an error status.
    Status(Status),
    /// The reply has an unknown status or the wrong length.
    BadReply {
        /// Its label.
        label: u16,
        /// Its length.
        len: usize,
    },
}

/// The block service, seen from a client.
#[derive(Debug)]
pub struct BlkService {
    ep: CapSlot,
}

impl BlkService {
    /// The service on slot `ep`.
    pub const fn new(ep: CapSlot) -> Self {
        Self { ep }
    }

    fn call(&self, label: u16, len: usize, want: Option<usize>) -> Result<usize, BlkError> {
        let tag =
            MessageTag::new(label, len).ok_or(BlkError::Kernel(KernelError::MessageTooLong))?;
        let reply = sys::call(self.ep, tag).map_err(BlkError::Kernel)?;
        let bad = BlkError::BadReply {
            label: reply.label(),
            len: reply.length(),
        };
        match Status::from_label(reply.label()) {
            Some(Status::Ok) if want.is_none_or(|w| w == reply.length()) => Ok(reply.length()),
            Some(Status::Ok) | None => Err(bad),
            Some(s) => Err(BlkError::Status(s)),
        }
    }

    /// Capacity in sectors.
    pub fn info(&self) -> Result<u64, BlkError> {
        self.call(proto::INFO, 0, Some(8))?;
        let b = &sys::ipc_buffer().bytes;
        let mut raw = [0; 8];
        raw.copy_from_slice(&b[..8]);
        Ok(u64::from_le_bytes(raw))
    }

    /// The driver's counters: (ticks blocked waiting for the device,
    /// requests, interrupts).
    pub fn stats(&self) -> Result<(u64, u32, u32), BlkError> {
        self.call(proto::STATS, 0, Some(16))?;
        let b = &sys::ipc_buffer().bytes;
        let word = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        Ok((
            u64::from(word(0)) | u64::from(word(4)) << 32,
            word(8),
            word(12),
        ))
    }

    /// Reads `out.len() / 512` sectors (≤ 8) at `sector`.
    pub fn read(&self, sector: u32, out: &mut [u8]) -> Result<(), BlkError> {
        let count = (out.len() / SECTOR) as u16;
        Header { sector, count }.encode(&mut sys::ipc_buffer().bytes);
        self.call(proto::READ, proto::HEADER, Some(out.len()))?;
        out.copy_from_slice(&sys::ipc_buffer().bytes[..out.len()]);
        Ok(())
    }

    /// Writes `data` (≤ 7 sectors) at `sector`.
    pub fn write(&self, sector: u32, data: &[u8]) -> Result<(), BlkError> {
        let count = (data.len() / SECTOR) as u16;
        let buf = &mut sys::ipc_buffer().bytes;
        Header { sector, count }.encode(buf);
        let end = proto::HEADER + data.len();
        buf.get_mut(proto::HEADER..end)
            .ok_or(BlkError::Kernel(KernelError::MessageTooLong))?
            .copy_from_slice(data);
        self.call(proto::WRITE, end, Some(0)).map(|_| ())
    }

    /// A raw request (header only) for the refusal checks.
    pub fn raw(&self, label: u16, sector: u32, count: u16, len: usize) -> Result<usize, BlkError> {
        Header { sector, count }.encode(&mut sys::ipc_buffer().bytes);
        self.call(label, len, None)
    }

    /// Tells the driver to stop (one-way).
    pub fn shutdown(&self) {
        if let Some(tag) = MessageTag::new(proto::SHUTDOWN, 0) {
            let _ = sys::send(self.ep, tag);
        }
    }
}

/// Scenario: show the disk (README's `system=blk`).
pub const DEMO: u32 = 1;
/// Scenario: verify the host's pattern, write sectors, read them back.
pub const FIRST_BOOT: u32 = 2;
/// Scenario: read back what the first boot wrote.
pub const SECOND_BOOT: u32 = 3;
/// Scenario: 4 MiB sequential read through the service.
pub const BENCH: u32 = 4;

/// The client role.
pub fn run(scenario: u32) -> i32 {
    let blk = BlkService::new(SERVICE);
    let result = match scenario {
        DEMO => demo(&blk),
        FIRST_BOOT => first_boot(&blk),
        SECOND_BOOT => second_boot(&blk),
        BENCH => bench(&blk),
        other => {
            error!("blkclient: unknown scenario {other}");
            Err(Failed)
        }
    };
    blk.shutdown();
    match result {
        Ok(()) => 0,
        Err(Failed) => 1,
    }
}

/// A check failed (already logged).
#[derive(Debug)]
struct Failed;

fn ok<T>(what: &str, r: Result<T, BlkError>) -> Result<T, Failed> {
    r.map_err(|e| {
        error!("blkclient: {what}: {e:?}");
        Failed
    })
}

fn capacity(blk: &BlkService) -> Result<u32, Failed> {
    let cap = ok("info", blk.info())?;
    info!("blkclient: disk of {cap} sectors ({} KiB)", cap / 2);
    u32::try_from(cap).map_err(|_| {
        error!("blkclient: disk too large for 32-bit sector numbers");
        Failed
    })
}

fn demo(blk: &BlkService) -> Result<(), Failed> {
    let cap = capacity(blk)?;
    let mut buf = vec![0u8; 8 * SECTOR];
    ok("read sector 0", blk.read(0, &mut buf[..SECTOR]))?;
    info!("blkclient: sector 0 starts {:02x?}", &buf[..16]);
    let sectors = cap.min(128);
    let mut sum: u32 = 0;
    let mut s = 0;
    while s < sectors {
        let n = (sectors - s).min(8) as usize;
        ok("read", blk.read(s, &mut buf[..n * SECTOR]))?;
        sum = buf[..n * SECTOR]
            .iter()
            .fold(sum, |a, &b| a.rotate_left(5) ^ u32::from(b));
        s += n as u32;
    }
    info!(
        "blkclient: read {} KiB from sector 0, checksum {sum:#010x}",
        sectors / 2
    );
    Ok(())
}

/// Checks `count` sectors from `first` against `byte`; returns the number
/// of mismatching sectors.
fn verify(
    blk: &BlkService,
    first: u32,
    count: u32,
    byte: fn(u32, usize) -> u8,
) -> Result<u32, Failed> {
    let mut buf = vec![0u8; 8 * SECTOR];
    let mut bad = 0;
    let mut s = first;
    while s < first + count {
        let n = (first + count - s).min(8);
        let chunk = &mut buf[..n as usize * SECTOR];
        ok("read", blk.read(s, chunk))?;
        for (k, sec) in chunk.chunks(SECTOR).enumerate() {
            let sector = s + k as u32;
            if sec.iter().enumerate().any(|(i, &b)| b != byte(sector, i)) {
                if bad == 0 {
                    error!("blkclient: sector {sector} differs: {:02x?}", &sec[..8]);
                }
                bad += 1;
            }
        }
        s += n;
    }
    Ok(bad)
}

fn first_boot(blk: &BlkService) -> Result<(), Failed> {
    let cap = capacity(blk)?;
    // The host's pattern: the first 64 sectors and the last 8.
    let bad = verify(blk, 0, 64, proto::host_byte)? + verify(blk, cap - 8, 8, proto::host_byte)?;
    if bad != 0 {
        error!("blkclient: {bad} sectors differ from the host pattern");
        return Err(Failed);
    }
    info!(
        "blkclient: 72 sectors of the host pattern verified (0..64, {}..{cap})",
        cap - 8
    );

    // Write 16 sectors in calls of at most 7.
    let mut data: Vec<u8> = Vec::with_capacity(proto::MAX_WRITE as usize * SECTOR);
    let mut s = proto::WRITE_FIRST;
    let end = proto::WRITE_FIRST + proto::WRITE_COUNT;
    let mut calls = 0;
    while s < end {
        let n = (end - s).min(u32::from(proto::MAX_WRITE));
        data.clear();
        for sector in s..s + n {
            data.extend((0..SECTOR).map(|i| proto::written_byte(sector, i)));
        }
        ok("write", blk.write(s, &data))?;
        calls += 1;
        s += n;
    }
    info!(
        "blkclient: wrote sectors {}..{end} in {calls} calls",
        proto::WRITE_FIRST
    );
    let bad = verify(
        blk,
        proto::WRITE_FIRST,
        proto::WRITE_COUNT,
        proto::written_byte,
    )?;
    if bad != 0 {
        error!("blkclient: {bad} written sectors read back wrong");
        return Err(Failed);
    }
    info!(
        "blkclient: {} written sectors read back: ok",
        proto::WRITE_COUNT
    );
    // Neighbours untouched.
    let bad = verify(blk, proto::WRITE_FIRST - 8, 8, proto::host_byte)?
        + verify(blk, end, 8, proto::host_byte)?;
    if bad != 0 {
        error!("blkclient: {bad} neighbouring sectors changed");
        return Err(Failed);
    }

    // Refusals.
    let checks: [(&str, u16, u32, u16, usize, Status); 5] = [
        (
            "read past the end",
            proto::READ,
            cap - 1,
            2,
            proto::HEADER,
            Status::OutOfRange,
        ),
        (
            "read of 0 sectors",
            proto::READ,
            0,
            0,
            proto::HEADER,
            Status::BadRequest,
        ),
        (
            "read of 9 sectors",
            proto::READ,
            0,
            9,
            proto::HEADER,
            Status::TooLarge,
        ),
        (
            "write without its data",
            proto::WRITE,
            0,
            1,
            proto::HEADER,
            Status::BadRequest,
        ),
        (
            "unknown label 0x77",
            0x77,
            0,
            1,
            proto::HEADER,
            Status::UnknownOp,
        ),
    ];
    for (what, label, sector, count, len, want) in checks {
        match blk.raw(label, sector, count, len) {
            Err(BlkError::Status(s)) if s == want => {
                info!("blkclient: {what} -> {s:?} ok");
            }
            other => {
                error!("blkclient: {what} -> {other:?}, expected {want:?}");
                return Err(Failed);
            }
        }
    }
    info!("blkclient: first boot checks passed");
    Ok(())
}

fn second_boot(blk: &BlkService) -> Result<(), Failed> {
    capacity(blk)?;
    let bad = verify(
        blk,
        proto::WRITE_FIRST,
        proto::WRITE_COUNT,
        proto::written_byte,
    )?;
    if bad != 0 {
        error!("blkclient: {bad} sectors do not hold what the first boot wrote");
        return Err(Failed);
    }
    let bad = verify(blk, 0, 8, proto::host_byte)?;
    if bad != 0 {
        error!("blkclient: {bad} host-pattern sectors changed");
        return Err(Failed);
    }
    info!(
        "blkclient: second boot: sectors {}..{} hold what the first boot wrote: ok",
        proto::WRITE_FIRST,
        proto::WRITE_FIRST + proto::WRITE_COUNT
    );
    Ok(())
}

fn bench(blk: &BlkService) -> Result<(), Failed> {
    let cap = capacity(blk)?;
    let total: u32 = (4 << 20) / SECTOR as u32;
    if cap < total {
        error!("blkclient: bench needs a disk of at least 4 MiB");
        return Err(Failed);
    }
    let mut buf = vec![0u8; 8 * SECTOR];
    let (waited0, _, irqs0) = ok("stats", blk.stats())?;
    let (start, hz) = sys::read_counter();
    let mut s = 0;
    while s < total {
        ok("read", blk.read(s, &mut buf))?;
        s += 8;
    }
    let (end, _) = sys::read_counter();
    let (waited1, _, irqs1) = ok("stats", blk.stats())?;
    // The last read holds sectors total-8..total of the host pattern.
    let last = total - 8;
    if buf[..SECTOR]
        .iter()
        .enumerate()
        .any(|(i, &b)| b != proto::host_byte(last, i))
    {
        error!("blkclient: bench: sector {last} differs from the host pattern");
        return Err(Failed);
    }
    let ticks = end - start;
    let busy = ticks.saturating_sub(waited1 - waited0);
    let kib = u64::from(total) / 2;
    // Under -icount shift=0 one instruction is 1 ns of counter time.
    let (elapsed, outside) = (dev::ticks_to_ns(ticks, hz), dev::ticks_to_ns(busy, hz));
    info!(
        "blkclient: bench: read {kib} KiB via the block service, 4 KiB/call: {ticks} ticks ({hz} Hz) = {} instr elapsed ({}/KiB); outside driver irq_wait {} instr, {} instructions per KiB; {} interrupts",
        elapsed,
        elapsed / kib,
        outside,
        outside / kib,
        irqs1 - irqs0
    );
    Ok(())
}
