//! Request bodies (one type per opcode) and the [`Request`] enum.

use postcard::experimental::max_size::MaxSize;
use serde::{Deserialize, Serialize};

use crate::bounded::BoundedVec;
use crate::header::Opcode;
use crate::wire::{max, wire_flags};
use crate::{MemType, Pfn, PhysAddr, VirtAddr, MAX_VMAP_RUNS};

wire_flags! {
    /// `Vmalloc` flags.
    pub struct VmallocFlags {
        /// Zero the memory (vzalloc).
        const ZEROED = 0x01;
        /// No guard page after the area (Linux VM_NO_GUARD).
        const NO_GUARD = 0x02;
    }
}

wire_flags! {
    /// `Vmap` flags.
    pub struct VmapFlags {
        /// Map read-only.
        const READ_ONLY = 0x01;
        /// No guard page after the area.
        const NO_GUARD = 0x02;
    }
}

/// Allocate `size` bytes (rounded up to pages) of virtually contiguous
/// memory in the window, owned by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct VmallocRequest {
    /// Bytes wanted (> 0).
    pub size: u32,
    /// Alignment of the start, a power of two; values below a page mean a page.
    pub align: u32,
    /// Zeroed / no-guard.
    pub flags: VmallocFlags,
    /// Caller's tag recorded in the area and shown by `Info` (Linux prints
    /// the caller's return address there; a task may pass its PC or any id).
    pub caller: u32,
}

/// The caller tag of the areas a task's heap (its global allocator) grows
/// into: ASCII "heap". The heap keeps them for the task's lifetime, so the
/// server's leak report at exit does not count them as leaks.
pub const HEAP_CALLER_TAG: u32 = 0x6865_6170;

/// Free a vmalloc area by its start address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct VfreeRequest {
    /// Start address returned by `Vmalloc`.
    pub addr: VirtAddr,
}

/// Map `size` bytes of device memory at `phys` (need not be page aligned;
/// the returned address keeps `phys`'s offset inside the page).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IoremapRequest {
    /// Physical start.
    pub phys: PhysAddr,
    /// Bytes (> 0).
    pub size: u32,
    /// Memory type of the mapping: [`MemType::Device`] (Linux `ioremap`)
    /// or [`MemType::NormalUncached`] (`ioremap_wc`); a device is never
    /// mapped cacheable (`PermissionDenied`). On the wire: the type's
    /// number as one byte; an unknown number does not decode.
    #[serde(with = "mem_type_wire")]
    pub mem_type: MemType,
    /// Caller's tag recorded in the area, as [`VmallocRequest::caller`].
    pub caller: u32,
}

// `MemType` is `abi`'s: its wire form (one byte, its number) is written
// here rather than derived, as for every explicit-number enum.
impl MaxSize for IoremapRequest {
    const POSTCARD_MAX_SIZE: usize = PhysAddr::POSTCARD_MAX_SIZE
        + u32::POSTCARD_MAX_SIZE
        + u8::POSTCARD_MAX_SIZE
        + u32::POSTCARD_MAX_SIZE;
}

/// `abi::MemType` as its number (one raw byte); unknown numbers are
/// decoding errors.
mod mem_type_wire {
    use super::MemType;

    pub(super) fn serialize<S: serde::Serializer>(
        mem: &MemType,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_u8(mem.number())
    }

    pub(super) fn deserialize<'de, D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> Result<MemType, D::Error> {
        let n = <u8 as serde::Deserialize>::deserialize(deserializer)?;
        MemType::from_u8(n).ok_or_else(|| {
            serde::de::Error::invalid_value(
                serde::de::Unexpected::Unsigned(u64::from(n)),
                &"a memory type number (0, 1 or 2)",
            )
        })
    }
}

/// Unmap an ioremap area by the address `Ioremap` returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct IounmapRequest {
    /// Address returned by `Ioremap`.
    pub addr: VirtAddr,
}

/// `count` consecutive frames from `pfn`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, MaxSize)]
pub struct PageRun {
    /// First frame.
    pub pfn: Pfn,
    /// Frames in the run (≥ 1).
    pub count: u32,
}

/// What `Vmap` maps: frames the caller already owns.
// No allocator (no_std, no alloc): a message is one stack value at most
// about the size of the IPC buffer it is decoded from, so no boxing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub enum VmapSource {
    /// Explicit frame runs (each must belong to one of the caller's areas).
    /// Wire: variant index 0.
    Frames(BoundedVec<PageRun, MAX_VMAP_RUNS>),
    /// Every frame of a DMA buffer, named by its address.
    /// Wire: variant index 1.
    Dma {
        /// Address returned by `DmaAlloc`.
        addr: VirtAddr,
    },
}

/// Map frames the caller owns at a new virtual range (Linux `vmap`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct VmapRequest {
    /// The frames.
    pub source: VmapSource,
    /// Read-only / no-guard.
    pub flags: VmapFlags,
    /// Caller's tag recorded in the area, as [`VmallocRequest::caller`].
    pub caller: u32,
}

/// Remove a vmap area (the frames stay with their original owner area).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct VunmapRequest {
    /// Address returned by `Vmap`.
    pub addr: VirtAddr,
}

/// Allocate `pages` physically contiguous frames, mapped in the caller's
/// window, for device DMA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct DmaAllocRequest {
    /// Pages (> 0).
    pub pages: u32,
    /// Caller's tag recorded in the area, as [`VmallocRequest::caller`].
    pub caller: u32,
}

/// Free a DMA buffer by its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct DmaFreeRequest {
    /// Address returned by `DmaAlloc`.
    pub addr: VirtAddr,
}

/// Physical address behind an address of one of the caller's areas.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct VirtToPhysRequest {
    /// Any address inside a mapped page of the caller's area.
    pub addr: VirtAddr,
}

/// One page of the vmallocinfo listing: areas starting at or above `cursor`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct InfoRequest {
    /// 0 for the first page, then the `next_cursor` of the previous reply.
    pub cursor: u32,
}

/// One page of the window map: busy, lazily freed and free ranges tiling
/// the window (observers only: `PermissionDenied` otherwise). Cursor 0
/// takes a new snapshot of the whole window; later cursors page through
/// it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct WindowMapRequest {
    /// 0 for a new snapshot, then the `next_cursor` of the previous reply
    /// (an index into the snapshot).
    pub cursor: u32,
}

/// Buddy and per-client statistics (no arguments; empty payload).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, MaxSize)]
pub struct StatsRequest {}

/// Liveness check; the server echoes `nonce`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct PingRequest {
    /// Any value.
    pub nonce: u32,
}

/// A request: the opcode (header) selects the variant, the body is the
/// postcard payload.
// No allocator (no_std, no alloc): a message is one stack value at most
// about the size of the IPC buffer it is decoded from, so no boxing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Opcode 1.
    Vmalloc(VmallocRequest),
    /// Opcode 2.
    Vfree(VfreeRequest),
    /// Opcode 3.
    Ioremap(IoremapRequest),
    /// Opcode 4.
    Iounmap(IounmapRequest),
    /// Opcode 5.
    Vmap(VmapRequest),
    /// Opcode 6.
    Vunmap(VunmapRequest),
    /// Opcode 7.
    DmaAlloc(DmaAllocRequest),
    /// Opcode 8.
    DmaFree(DmaFreeRequest),
    /// Opcode 9.
    VirtToPhys(VirtToPhysRequest),
    /// Opcode 10.
    Info(InfoRequest),
    /// Opcode 11.
    Stats(StatsRequest),
    /// Opcode 12.
    Ping(PingRequest),
    /// Opcode 13.
    WindowMap(WindowMapRequest),
}

/// Runs `$body` with `$b` bound to the body of any request variant.
macro_rules! with_request_body {
    ($req:expr, $b:ident => $body:expr) => {
        match $req {
            Request::Vmalloc($b) => $body,
            Request::Vfree($b) => $body,
            Request::Ioremap($b) => $body,
            Request::Iounmap($b) => $body,
            Request::Vmap($b) => $body,
            Request::Vunmap($b) => $body,
            Request::DmaAlloc($b) => $body,
            Request::DmaFree($b) => $body,
            Request::VirtToPhys($b) => $body,
            Request::Info($b) => $body,
            Request::Stats($b) => $body,
            Request::Ping($b) => $body,
            Request::WindowMap($b) => $body,
        }
    };
}

impl Request {
    /// The largest postcard payload of any request.
    pub const MAX_PAYLOAD_SIZE: usize = {
        let mut m = VmallocRequest::POSTCARD_MAX_SIZE;
        m = max(m, VfreeRequest::POSTCARD_MAX_SIZE);
        m = max(m, IoremapRequest::POSTCARD_MAX_SIZE);
        m = max(m, IounmapRequest::POSTCARD_MAX_SIZE);
        m = max(m, VmapRequest::POSTCARD_MAX_SIZE);
        m = max(m, VunmapRequest::POSTCARD_MAX_SIZE);
        m = max(m, DmaAllocRequest::POSTCARD_MAX_SIZE);
        m = max(m, DmaFreeRequest::POSTCARD_MAX_SIZE);
        m = max(m, VirtToPhysRequest::POSTCARD_MAX_SIZE);
        m = max(m, InfoRequest::POSTCARD_MAX_SIZE);
        m = max(m, StatsRequest::POSTCARD_MAX_SIZE);
        m = max(m, WindowMapRequest::POSTCARD_MAX_SIZE);
        max(m, PingRequest::POSTCARD_MAX_SIZE)
    };

    /// The header opcode.
    pub const fn opcode(&self) -> Opcode {
        match self {
            Request::Vmalloc(_) => Opcode::Vmalloc,
            Request::Vfree(_) => Opcode::Vfree,
            Request::Ioremap(_) => Opcode::Ioremap,
            Request::Iounmap(_) => Opcode::Iounmap,
            Request::Vmap(_) => Opcode::Vmap,
            Request::Vunmap(_) => Opcode::Vunmap,
            Request::DmaAlloc(_) => Opcode::DmaAlloc,
            Request::DmaFree(_) => Opcode::DmaFree,
            Request::VirtToPhys(_) => Opcode::VirtToPhys,
            Request::Info(_) => Opcode::Info,
            Request::Stats(_) => Opcode::Stats,
            Request::Ping(_) => Opcode::Ping,
            Request::WindowMap(_) => Opcode::WindowMap,
        }
    }

    /// The largest payload of this request's opcode.
    pub const fn max_payload_size(opcode: Opcode) -> usize {
        match opcode {
            Opcode::Vmalloc => VmallocRequest::POSTCARD_MAX_SIZE,
            Opcode::Vfree => VfreeRequest::POSTCARD_MAX_SIZE,
            Opcode::Ioremap => IoremapRequest::POSTCARD_MAX_SIZE,
            Opcode::Iounmap => IounmapRequest::POSTCARD_MAX_SIZE,
            Opcode::Vmap => VmapRequest::POSTCARD_MAX_SIZE,
            Opcode::Vunmap => VunmapRequest::POSTCARD_MAX_SIZE,
            Opcode::DmaAlloc => DmaAllocRequest::POSTCARD_MAX_SIZE,
            Opcode::DmaFree => DmaFreeRequest::POSTCARD_MAX_SIZE,
            Opcode::VirtToPhys => VirtToPhysRequest::POSTCARD_MAX_SIZE,
            Opcode::Info => InfoRequest::POSTCARD_MAX_SIZE,
            Opcode::Stats => StatsRequest::POSTCARD_MAX_SIZE,
            Opcode::Ping => PingRequest::POSTCARD_MAX_SIZE,
            Opcode::WindowMap => WindowMapRequest::POSTCARD_MAX_SIZE,
        }
    }

    /// Writes the payload through the body's own encoder
    /// ([`RequestBody::encode_payload`]: one encoder per body, whichever
    /// path calls it); returns its length.
    pub(crate) fn encode_payload(&self, out: &mut [u8]) -> Result<usize, crate::EncodeError> {
        with_request_body!(self, body => crate::codec::RequestBody::encode_payload(body, out))
    }

    /// Decodes the whole payload of `opcode` through the body's own decoder
    /// ([`RequestBody::decode_payload`]).
    pub(crate) fn decode_payload(
        opcode: Opcode,
        payload: &[u8],
    ) -> Result<Self, crate::DecodeError> {
        use crate::codec::RequestBody as B;
        Ok(match opcode {
            Opcode::Vmalloc => Request::Vmalloc(B::decode_payload(payload)?),
            Opcode::Vfree => Request::Vfree(B::decode_payload(payload)?),
            Opcode::Ioremap => Request::Ioremap(B::decode_payload(payload)?),
            Opcode::Iounmap => Request::Iounmap(B::decode_payload(payload)?),
            Opcode::Vmap => Request::Vmap(B::decode_payload(payload)?),
            Opcode::Vunmap => Request::Vunmap(B::decode_payload(payload)?),
            Opcode::DmaAlloc => Request::DmaAlloc(B::decode_payload(payload)?),
            Opcode::DmaFree => Request::DmaFree(B::decode_payload(payload)?),
            Opcode::VirtToPhys => Request::VirtToPhys(B::decode_payload(payload)?),
            Opcode::Info => Request::Info(B::decode_payload(payload)?),
            Opcode::Stats => Request::Stats(B::decode_payload(payload)?),
            Opcode::Ping => Request::Ping(B::decode_payload(payload)?),
            Opcode::WindowMap => Request::WindowMap(B::decode_payload(payload)?),
        })
    }
}

macro_rules! request_bodies {
    ($($body:ty => $opcode:ident, $reply:ty;)*) => {
        $(
            impl crate::codec::RequestBody for $body {
                const OPCODE: Opcode = Opcode::$opcode;
                type Reply = $reply;
            }
        )*
    };
}

// The hot bodies: u32 fields written as varints directly (the same bytes
// as postcard's, checked by `codec::tests::fast_encoders_match_postcard`).
impl crate::codec::RequestBody for VmallocRequest {
    const OPCODE: Opcode = Opcode::Vmalloc;
    type Reply = crate::response::VmallocOk;

    #[inline]
    fn encode_payload(&self, out: &mut [u8]) -> Result<usize, crate::EncodeError> {
        use crate::codec::{put_u8, put_varint};
        let at = put_varint(out, 0, self.size)?;
        let at = put_varint(out, at, self.align)?;
        let at = put_u8(out, at, self.flags.bits())?;
        put_varint(out, at, self.caller)
    }

    #[inline]
    fn decode_payload(payload: &[u8]) -> Result<Self, crate::DecodeError> {
        use crate::codec::{take_end, take_varint};
        let (size, at) = take_varint(payload, 0)?;
        let (align, at) = take_varint(payload, at)?;
        let bits = *payload.get(at).ok_or(crate::DecodeError::BadPayload)?;
        let flags = VmallocFlags::from_bits(bits).ok_or(crate::DecodeError::BadPayload)?;
        let (caller, at) = take_varint(payload, at + 1)?;
        take_end(payload, at)?;
        Ok(Self {
            size,
            align,
            flags,
            caller,
        })
    }

    #[inline]
    fn encode_reply_payload(
        reply: &Self::Reply,
        out: &mut [u8],
    ) -> Result<usize, crate::EncodeError> {
        use crate::codec::put_varint;
        let at = put_varint(out, 0, reply.addr.0)?;
        put_varint(out, at, reply.size)
    }

    #[inline]
    fn decode_reply_payload(payload: &[u8]) -> Result<Self::Reply, crate::DecodeError> {
        use crate::codec::{take_end, take_varint};
        let (addr, at) = take_varint(payload, 0)?;
        let (size, at) = take_varint(payload, at)?;
        take_end(payload, at)?;
        Ok(crate::response::VmallocOk {
            addr: VirtAddr(addr),
            size,
        })
    }
}

impl crate::codec::RequestBody for VfreeRequest {
    const OPCODE: Opcode = Opcode::Vfree;
    type Reply = crate::response::VfreeOk;

    #[inline]
    fn encode_payload(&self, out: &mut [u8]) -> Result<usize, crate::EncodeError> {
        crate::codec::put_varint(out, 0, self.addr.0)
    }

    #[inline]
    fn decode_payload(payload: &[u8]) -> Result<Self, crate::DecodeError> {
        use crate::codec::{take_end, take_varint};
        let (addr, at) = take_varint(payload, 0)?;
        take_end(payload, at)?;
        Ok(Self {
            addr: VirtAddr(addr),
        })
    }

    #[inline]
    fn encode_reply_payload(
        reply: &Self::Reply,
        out: &mut [u8],
    ) -> Result<usize, crate::EncodeError> {
        crate::codec::put_varint(out, 0, reply.size)
    }

    #[inline]
    fn decode_reply_payload(payload: &[u8]) -> Result<Self::Reply, crate::DecodeError> {
        use crate::codec::{take_end, take_varint};
        let (size, at) = take_varint(payload, 0)?;
        take_end(payload, at)?;
        Ok(crate::response::VfreeOk { size })
    }
}

impl crate::codec::RequestBody for PingRequest {
    const OPCODE: Opcode = Opcode::Ping;
    type Reply = crate::response::PingOk;

    #[inline]
    fn encode_payload(&self, out: &mut [u8]) -> Result<usize, crate::EncodeError> {
        crate::codec::put_varint(out, 0, self.nonce)
    }

    #[inline]
    fn decode_payload(payload: &[u8]) -> Result<Self, crate::DecodeError> {
        use crate::codec::{take_end, take_varint};
        let (nonce, at) = take_varint(payload, 0)?;
        take_end(payload, at)?;
        Ok(Self { nonce })
    }

    #[inline]
    fn encode_reply_payload(
        reply: &Self::Reply,
        out: &mut [u8],
    ) -> Result<usize, crate::EncodeError> {
        crate::codec::put_varint(out, 0, reply.nonce)
    }

    #[inline]
    fn decode_reply_payload(payload: &[u8]) -> Result<Self::Reply, crate::DecodeError> {
        use crate::codec::{take_end, take_varint};
        let (nonce, at) = take_varint(payload, 0)?;
        take_end(payload, at)?;
        Ok(crate::response::PingOk { nonce })
    }
}

request_bodies! {
    IoremapRequest => Ioremap, crate::response::IoremapOk;
    IounmapRequest => Iounmap, crate::response::IounmapOk;
    VmapRequest => Vmap, crate::response::VmapOk;
    VunmapRequest => Vunmap, crate::response::VunmapOk;
    DmaAllocRequest => DmaAlloc, crate::response::DmaAllocOk;
    DmaFreeRequest => DmaFree, crate::response::DmaFreeOk;
    VirtToPhysRequest => VirtToPhys, crate::response::VirtToPhysOk;
    InfoRequest => Info, crate::response::InfoOk;
    StatsRequest => Stats, crate::response::StatsOk;
    WindowMapRequest => WindowMap, crate::response::WindowMapOk;
}
