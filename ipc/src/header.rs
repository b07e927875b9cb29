//! The fixed 12-byte message header.

use zerocopy::byteorder::little_endian::{U16, U32};
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

/// Size of [`Header`] in bytes.
pub const HEADER_SIZE: usize = core::mem::size_of::<Header>();

/// Set in the opcode of a successful reply: `opcode | 0x8000`.
pub const OPCODE_REPLY_BIT: u16 = 0x8000;
/// Opcode of an error reply (payload: one [`ErrorCode`](crate::ErrorCode)).
pub const OPCODE_ERROR: u16 = 0xFFFF;

/// The message header. Little-endian, no padding, alignment 1 (it can be
/// read from any byte offset).
///
/// ```text
/// offset size field
///  0     2    version   PROTOCOL_VERSION
///  2     2    opcode    request Opcode, Opcode|0x8000 reply, 0xFFFF error
///  4     4    seq       chosen by the client, echoed by the server
///  8     4    len       payload bytes following the header
/// ```
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub struct Header {
    /// Protocol version of the sender.
    pub version: U16,
    /// What the payload is.
    pub opcode: U16,
    /// Sequence number: lets the client match a reply to its request.
    pub seq: U32,
    /// Payload length in bytes.
    pub len: U32,
}

impl Header {
    /// A header with the given fields.
    pub fn new(version: u16, opcode: u16, seq: u32, len: u32) -> Self {
        Self {
            version: U16::new(version),
            opcode: U16::new(opcode),
            seq: U32::new(seq),
            len: U32::new(len),
        }
    }
}

macro_rules! opcodes {
    ($($(#[$m:meta])* $name:ident = $value:literal,)+) => {
        /// A request opcode. Wire numbers are explicit and never renumbered.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u16)]
        pub enum Opcode {
            $($(#[$m])* $name = $value,)+
        }
        impl Opcode {
            /// Every opcode, in number order.
            pub const ALL: &'static [Opcode] = &[$(Opcode::$name,)+];
            /// Decodes a request opcode.
            pub const fn from_wire(value: u16) -> Option<Self> {
                match value {
                    $($value => Some(Opcode::$name),)+
                    _ => None,
                }
            }
        }
    };
}

opcodes! {
    /// Allocate virtually contiguous memory.
    Vmalloc = 1,
    /// Free a vmalloc area.
    Vfree = 2,
    /// Map device memory.
    Ioremap = 3,
    /// Unmap an ioremap area.
    Iounmap = 4,
    /// Map frames the caller owns at a new virtual range.
    Vmap = 5,
    /// Remove a vmap area.
    Vunmap = 6,
    /// Allocate physically contiguous memory for DMA.
    DmaAlloc = 7,
    /// Free a DMA buffer.
    DmaFree = 8,
    /// Translate an address of one of the caller's areas.
    VirtToPhys = 9,
    /// One page of the vmallocinfo listing.
    Info = 10,
    /// Buddy and per-client statistics.
    Stats = 11,
    /// Liveness check.
    Ping = 12,
    /// One page of the window map (observers only).
    WindowMap = 13,
}

impl Opcode {
    /// The request's wire number.
    #[inline]
    pub const fn to_wire(self) -> u16 {
        self as u16
    }
    /// The wire number of its successful reply.
    #[inline]
    pub const fn reply_wire(self) -> u16 {
        self as u16 | OPCODE_REPLY_BIT
    }
}
