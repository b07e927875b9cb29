//! Reply bodies (one "Ok" type per request opcode) and the [`Response`] enum.

use core::fmt;

use postcard::experimental::max_size::MaxSize;
use serde::{Deserialize, Serialize};

use crate::bounded::BoundedVec;
use crate::error::ErrorCode;
use crate::header::{Opcode, OPCODE_ERROR};
use crate::wire::{max, wire_enum};
use crate::{
    PhysAddr, VirtAddr, INFO_MAX_RECORDS, NR_ORDERS, STATS_MAX_CLIENTS, WINDOW_MAP_MAX_RANGES,
};

/// `Vmalloc` succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct VmallocOk {
    /// Start of the area (mapped, read-write).
    pub addr: VirtAddr,
    /// Usable bytes: the size rounded up to pages (the guard page excluded).
    pub size: u32,
}

/// `Vfree` succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct VfreeOk {
    /// Bytes released (the area's usable size).
    pub size: u32,
}

/// `Ioremap` succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct IoremapOk {
    /// Virtual address of `phys` (same offset inside the page).
    pub addr: VirtAddr,
    /// Bytes mapped from `addr` (the requested size).
    pub size: u32,
}

/// `Iounmap` succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, MaxSize)]
pub struct IounmapOk {}

/// `Vmap` succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct VmapOk {
    /// Start of the new mapping.
    pub addr: VirtAddr,
    /// Bytes mapped.
    pub size: u32,
}

/// `Vunmap` succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, MaxSize)]
pub struct VunmapOk {}

/// `DmaAlloc` succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct DmaAllocOk {
    /// Where the buffer is mapped in the caller's window.
    pub addr: VirtAddr,
    /// Physical start (the frames are contiguous): give this to the device.
    pub phys: PhysAddr,
    /// Bytes.
    pub size: u32,
}

/// `DmaFree` succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, MaxSize)]
pub struct DmaFreeOk {}

/// `VirtToPhys` succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct VirtToPhysOk {
    /// The physical address (page offset preserved).
    pub phys: PhysAddr,
}

wire_enum! {
    /// What kind of area a record describes (Linux's VM_* flag).
    pub enum AreaKind: u8 {
        /// VM_ALLOC: `Vmalloc`.
        Vmalloc = 1,
        /// VM_IOREMAP: `Ioremap`.
        Ioremap = 2,
        /// VM_MAP: `Vmap`.
        Vmap = 3,
        /// A `DmaAlloc` buffer (Linux: dma-coherent).
        Dma = 4,
    }
}

impl AreaKind {
    /// The word `/proc/vmallocinfo` prints for this kind.
    pub const fn linux_name(self) -> &'static str {
        match self {
            AreaKind::Vmalloc => "vmalloc",
            AreaKind::Ioremap => "ioremap",
            AreaKind::Vmap => "vmap",
            AreaKind::Dma => "dma-coherent",
        }
    }
}

/// One area, as a `/proc/vmallocinfo` line describes it (a `vm_struct`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct AreaRecord {
    /// First address.
    pub start: VirtAddr,
    /// Bytes including the guard page, as Linux's `vm_struct.size`.
    pub size: u32,
    /// Frames mapped (0 for ioremap).
    pub nr_pages: u32,
    /// Physical start for ioremap/DMA areas.
    pub phys: Option<PhysAddr>,
    /// Area kind.
    pub kind: AreaKind,
    /// The caller tag given at allocation.
    pub caller: u32,
    /// The owning client (its badge).
    pub owner: u32,
}

impl Default for AreaRecord {
    fn default() -> Self {
        Self {
            start: VirtAddr(0),
            size: 0,
            nr_pages: 0,
            phys: None,
            kind: AreaKind::Vmalloc,
            caller: 0,
            owner: 0,
        }
    }
}

/// Linux 3.0's `s_show` format, with the caller tag in hex where Linux
/// prints a symbol and the owner where Linux prints NUMA counts:
/// `0x40000000-0x40005000   20480 0x00010234 pages=4 vmalloc client=3`.
impl fmt::Display for AreaRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = u64::from(self.start.0) + u64::from(self.size);
        write!(f, "{:#010x}-{:#010x} {:7}", self.start.0, end, self.size)?;
        if self.caller != 0 {
            write!(f, " {:#010x}", self.caller)?;
        }
        if self.nr_pages != 0 {
            write!(f, " pages={}", self.nr_pages)?;
        }
        if let Some(phys) = self.phys {
            write!(f, " phys={:x}", phys.0)?;
        }
        write!(f, " {} client={}", self.kind.linux_name(), self.owner)
    }
}

/// One page of the listing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct InfoOk {
    /// Areas in address order, starting at the request's cursor.
    pub records: BoundedVec<AreaRecord, INFO_MAX_RECORDS>,
    /// Cursor for the next page; `None` when the listing is complete.
    pub next_cursor: Option<u32>,
}

wire_enum! {
    /// What a range of the window map is.
    pub enum RangeState: u8 {
        /// A live area.
        Busy = 1,
        /// Freed, waiting for the lazy purge (its TLB entries may still be
        /// live; not reusable yet).
        Lazy = 2,
        /// Free (the free tree or a size-class pool).
        Free = 3,
    }
}

impl RangeState {
    /// The word the window-map dump prints.
    pub const fn name(self) -> &'static str {
        match self {
            RangeState::Busy => "busy",
            RangeState::Lazy => "lazy",
            RangeState::Free => "free",
        }
    }
}

/// One range of the window map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct WindowRange {
    /// First address.
    pub start: VirtAddr,
    /// Bytes; for a busy area the mapped bytes, its guard page (if
    /// `guard`) excluded.
    pub size: u32,
    /// Busy, lazy or free.
    pub state: RangeState,
    /// A busy area's guard page follows it (the page at `start + size`).
    pub guard: bool,
    /// A busy area's kind (`Vmalloc` for other states).
    pub kind: AreaKind,
    /// A busy area's owner (0 for other states).
    pub owner: u32,
    /// A busy area's caller tag (0 for other states).
    pub caller: u32,
    /// A busy area's frames, as `AreaRecord::nr_pages` (0 for other states).
    pub nr_pages: u32,
    /// A busy ioremap/DMA area's physical start.
    pub phys: Option<PhysAddr>,
}

impl Default for WindowRange {
    fn default() -> Self {
        Self {
            start: VirtAddr(0),
            size: 0,
            state: RangeState::Free,
            guard: false,
            kind: AreaKind::Vmalloc,
            owner: 0,
            caller: 0,
            nr_pages: 0,
            phys: None,
        }
    }
}

impl WindowRange {
    /// A busy range as its vmallocinfo record (size with the guard page);
    /// `None` for lazy and free ranges.
    pub fn record(&self) -> Option<AreaRecord> {
        (self.state == RangeState::Busy).then(|| AreaRecord {
            start: self.start,
            size: self
                .size
                .wrapping_add(if self.guard { crate::PAGE_SIZE } else { 0 }),
            nr_pages: self.nr_pages,
            phys: self.phys,
            kind: self.kind,
            caller: self.caller,
            owner: self.owner,
        })
    }

    /// One past the last byte (guard page excluded), widened.
    pub fn end(&self) -> u64 {
        u64::from(self.start.0) + u64::from(self.size)
    }

    /// One past the last byte including the guard page: where the next
    /// range of the map starts.
    pub fn reserved_end(&self) -> u64 {
        self.end()
            + if self.guard {
                u64::from(crate::PAGE_SIZE)
            } else {
                0
            }
    }
}

/// One page of the window map, with the window's totals. The server takes
/// the whole map at once when asked for cursor 0 and pages through that
/// snapshot, so the pages of one map are one moment of the window.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct WindowMapOk {
    /// First address of the window.
    pub window_start: VirtAddr,
    /// Bytes of the window.
    pub window_size: u32,
    /// The largest free range (bytes): Linux's `VmallocChunk`.
    pub largest_free: u32,
    /// Frames of freed areas waiting for the lazy purge (not yet back in
    /// the pool).
    pub lazy_frames: u32,
    /// Ranges in address order from the cursor (an index into the
    /// snapshot); each starts where the previous one (guard page included)
    /// ends.
    pub ranges: BoundedVec<WindowRange, WINDOW_MAP_MAX_RANGES>,
    /// Cursor for the next page; `None` when the map is complete.
    pub next_cursor: Option<u32>,
}

/// One client's usage.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, Serialize, Deserialize, MaxSize)]
pub struct ClientUsage {
    /// The client's badge.
    pub client: u32,
    /// Live areas.
    pub areas: u32,
    /// Frames held.
    pub pages: u32,
    /// Frame quota.
    pub quota_pages: u32,
    /// Virtual pages of the window its live areas span, guard pages
    /// included.
    pub window_pages: u32,
    /// Window quota (pages).
    pub quota_window_pages: u32,
}

/// Buddy (`/proc/buddyinfo`) and per-client statistics.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct StatsOk {
    /// Free blocks per order (index = order).
    pub free_blocks: [u32; NR_ORDERS],
    /// Frames in the pool.
    pub total_pages: u32,
    /// Free frames.
    pub free_pages: u32,
    /// Window bytes not held by any area (lazily freed ranges included).
    pub window_free: u32,
    /// Per-client usage, ordered by badge (first `STATS_MAX_CLIENTS`).
    pub clients: BoundedVec<ClientUsage, STATS_MAX_CLIENTS>,
    /// Number of clients in total (> `clients.len()` if truncated).
    pub clients_total: u32,
}

/// `Ping` succeeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, MaxSize)]
pub struct PingOk {
    /// The request's nonce.
    pub nonce: u32,
}

/// A reply: the typed success of one opcode, or an error code.
// No allocator (no_std, no alloc): a message is one stack value at most
// about the size of the IPC buffer it is decoded from, so no boxing.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// Opcode 0x8001.
    Vmalloc(VmallocOk),
    /// Opcode 0x8002.
    Vfree(VfreeOk),
    /// Opcode 0x8003.
    Ioremap(IoremapOk),
    /// Opcode 0x8004.
    Iounmap(IounmapOk),
    /// Opcode 0x8005.
    Vmap(VmapOk),
    /// Opcode 0x8006.
    Vunmap(VunmapOk),
    /// Opcode 0x8007.
    DmaAlloc(DmaAllocOk),
    /// Opcode 0x8008.
    DmaFree(DmaFreeOk),
    /// Opcode 0x8009.
    VirtToPhys(VirtToPhysOk),
    /// Opcode 0x800A.
    Info(InfoOk),
    /// Opcode 0x800B.
    Stats(StatsOk),
    /// Opcode 0x800C.
    Ping(PingOk),
    /// Opcode 0x800D.
    WindowMap(WindowMapOk),
    /// Opcode 0xFFFF: the request failed.
    Error(ErrorCode),
}

impl Response {
    /// The largest postcard payload of any reply.
    pub const MAX_PAYLOAD_SIZE: usize = {
        let mut m = VmallocOk::POSTCARD_MAX_SIZE;
        m = max(m, VfreeOk::POSTCARD_MAX_SIZE);
        m = max(m, IoremapOk::POSTCARD_MAX_SIZE);
        m = max(m, IounmapOk::POSTCARD_MAX_SIZE);
        m = max(m, VmapOk::POSTCARD_MAX_SIZE);
        m = max(m, VunmapOk::POSTCARD_MAX_SIZE);
        m = max(m, DmaAllocOk::POSTCARD_MAX_SIZE);
        m = max(m, DmaFreeOk::POSTCARD_MAX_SIZE);
        m = max(m, VirtToPhysOk::POSTCARD_MAX_SIZE);
        m = max(m, InfoOk::POSTCARD_MAX_SIZE);
        m = max(m, StatsOk::POSTCARD_MAX_SIZE);
        m = max(m, PingOk::POSTCARD_MAX_SIZE);
        m = max(m, WindowMapOk::POSTCARD_MAX_SIZE);
        max(m, ErrorCode::POSTCARD_MAX_SIZE)
    };

    /// The request opcode this reply answers; `None` for an error reply.
    pub const fn request_opcode(&self) -> Option<Opcode> {
        Some(match self {
            Response::Vmalloc(_) => Opcode::Vmalloc,
            Response::Vfree(_) => Opcode::Vfree,
            Response::Ioremap(_) => Opcode::Ioremap,
            Response::Iounmap(_) => Opcode::Iounmap,
            Response::Vmap(_) => Opcode::Vmap,
            Response::Vunmap(_) => Opcode::Vunmap,
            Response::DmaAlloc(_) => Opcode::DmaAlloc,
            Response::DmaFree(_) => Opcode::DmaFree,
            Response::VirtToPhys(_) => Opcode::VirtToPhys,
            Response::Info(_) => Opcode::Info,
            Response::Stats(_) => Opcode::Stats,
            Response::Ping(_) => Opcode::Ping,
            Response::WindowMap(_) => Opcode::WindowMap,
            Response::Error(_) => return None,
        })
    }

    /// The header opcode of this reply.
    pub const fn wire_opcode(&self) -> u16 {
        match self.request_opcode() {
            Some(op) => op.reply_wire(),
            None => OPCODE_ERROR,
        }
    }

    /// The largest payload a reply to `opcode` can have (the Ok body or an
    /// error code, whichever is larger).
    pub const fn max_payload_size(opcode: Opcode) -> usize {
        let ok = match opcode {
            Opcode::Vmalloc => VmallocOk::POSTCARD_MAX_SIZE,
            Opcode::Vfree => VfreeOk::POSTCARD_MAX_SIZE,
            Opcode::Ioremap => IoremapOk::POSTCARD_MAX_SIZE,
            Opcode::Iounmap => IounmapOk::POSTCARD_MAX_SIZE,
            Opcode::Vmap => VmapOk::POSTCARD_MAX_SIZE,
            Opcode::Vunmap => VunmapOk::POSTCARD_MAX_SIZE,
            Opcode::DmaAlloc => DmaAllocOk::POSTCARD_MAX_SIZE,
            Opcode::DmaFree => DmaFreeOk::POSTCARD_MAX_SIZE,
            Opcode::VirtToPhys => VirtToPhysOk::POSTCARD_MAX_SIZE,
            Opcode::Info => InfoOk::POSTCARD_MAX_SIZE,
            Opcode::Stats => StatsOk::POSTCARD_MAX_SIZE,
            Opcode::Ping => PingOk::POSTCARD_MAX_SIZE,
            Opcode::WindowMap => WindowMapOk::POSTCARD_MAX_SIZE,
        };
        max(ok, ErrorCode::POSTCARD_MAX_SIZE)
    }

    /// Writes the payload through the request body's own reply encoder
    /// ([`RequestBody::encode_reply_payload`]); returns its length.
    pub(crate) fn encode_payload(&self, out: &mut [u8]) -> Result<usize, crate::EncodeError> {
        use crate::codec::RequestBody as B;
        use crate::request::*;
        match self {
            Response::Vmalloc(b) => VmallocRequest::encode_reply_payload(b, out),
            Response::Vfree(b) => VfreeRequest::encode_reply_payload(b, out),
            Response::Ioremap(b) => IoremapRequest::encode_reply_payload(b, out),
            Response::Iounmap(b) => IounmapRequest::encode_reply_payload(b, out),
            Response::Vmap(b) => VmapRequest::encode_reply_payload(b, out),
            Response::Vunmap(b) => VunmapRequest::encode_reply_payload(b, out),
            Response::DmaAlloc(b) => DmaAllocRequest::encode_reply_payload(b, out),
            Response::DmaFree(b) => DmaFreeRequest::encode_reply_payload(b, out),
            Response::VirtToPhys(b) => VirtToPhysRequest::encode_reply_payload(b, out),
            Response::Info(b) => InfoRequest::encode_reply_payload(b, out),
            Response::Stats(b) => StatsRequest::encode_reply_payload(b, out),
            Response::Ping(b) => <PingRequest as B>::encode_reply_payload(b, out),
            Response::WindowMap(b) => WindowMapRequest::encode_reply_payload(b, out),
            Response::Error(code) => postcard::to_slice(code, out)
                .map(|used| used.len())
                .map_err(|_| crate::EncodeError::BufferTooSmall),
        }
    }

    /// Decodes a whole reply payload for header opcode `wire_opcode`
    /// through the request body's own reply decoder
    /// ([`RequestBody::decode_reply_payload`]); `None` if the opcode is no
    /// reply opcode.
    pub(crate) fn decode_payload(
        wire_opcode: u16,
        payload: &[u8],
    ) -> Option<Result<Self, crate::DecodeError>> {
        use crate::codec::RequestBody as B;
        use crate::request::*;
        if wire_opcode == OPCODE_ERROR {
            return Some(crate::codec::decode_body(payload).map(Response::Error));
        }
        let opcode = Opcode::from_wire(wire_opcode & !crate::OPCODE_REPLY_BIT)
            .filter(|op| op.reply_wire() == wire_opcode)?;
        Some(match opcode {
            Opcode::Vmalloc => VmallocRequest::decode_reply_payload(payload).map(Response::Vmalloc),
            Opcode::Vfree => VfreeRequest::decode_reply_payload(payload).map(Response::Vfree),
            Opcode::Ioremap => IoremapRequest::decode_reply_payload(payload).map(Response::Ioremap),
            Opcode::Iounmap => IounmapRequest::decode_reply_payload(payload).map(Response::Iounmap),
            Opcode::Vmap => VmapRequest::decode_reply_payload(payload).map(Response::Vmap),
            Opcode::Vunmap => VunmapRequest::decode_reply_payload(payload).map(Response::Vunmap),
            Opcode::DmaAlloc => {
                DmaAllocRequest::decode_reply_payload(payload).map(Response::DmaAlloc)
            }
            Opcode::DmaFree => DmaFreeRequest::decode_reply_payload(payload).map(Response::DmaFree),
            Opcode::VirtToPhys => {
                VirtToPhysRequest::decode_reply_payload(payload).map(Response::VirtToPhys)
            }
            Opcode::Info => InfoRequest::decode_reply_payload(payload).map(Response::Info),
            Opcode::Stats => StatsRequest::decode_reply_payload(payload).map(Response::Stats),
            Opcode::Ping => <PingRequest as B>::decode_reply_payload(payload).map(Response::Ping),
            Opcode::WindowMap => {
                WindowMapRequest::decode_reply_payload(payload).map(Response::WindowMap)
            }
        })
    }
}
