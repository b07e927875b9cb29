//! The `vm_struct` record and the `/proc/vmallocinfo` listing.

use abi::{Pfn, PhysAddr, VirtAddr, PAGE_SHIFT, PAGE_SIZE};
use alloc::boxed::Box;
use buddy::Block;
use core::fmt;

/// The task a mapping belongs to (the badge of its endpoint capability).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OwnerId(pub u32);

/// `vm_struct` flags (Linux's values where Linux has the flag).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct VmFlags(pub u16);

impl VmFlags {
    /// `ioremap()` and friends.
    pub const VM_IOREMAP: Self = Self(0x0001);
    /// `vmalloc()`: the area owns its frames.
    pub const VM_ALLOC: Self = Self(0x0002);
    /// `vmap()`: caller-supplied frames the area does not own.
    pub const VM_MAP: Self = Self(0x0004);
    /// DMA-coherent memory (Linux `VM_DMA_COHERENT`): physically
    /// contiguous, uncached.
    pub const VM_DMA: Self = Self(0x0010);
    /// No guard page after the area.
    pub const VM_NO_GUARD: Self = Self(0x0040);
    /// Frames were zeroed before being mapped (`vzalloc`).
    pub const VM_ZEROED: Self = Self(0x0100);
    /// Flags a caller of `vmalloc` may pass.
    pub const CALLER_MASK: Self = Self(0x0040 | 0x0100);
    /// No flag.
    pub const NONE: Self = Self(0);

    /// Whether every bit of `other` is set.
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }
    /// Union.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
    /// The bits of `self` also in `other`.
    pub const fn intersect(self, other: Self) -> Self {
        Self(self.0 & other.0)
    }
}

impl fmt::Debug for VmFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VmFlags({:#06x})", self.0)
    }
}

/// One buddy [`Block`] packed in 32 bits: `pfn << 5 | order`. A 32-bit
/// physical space has 2^20 frames, so the PFN needs 20 bits and the order
/// 5; a frame list costs at most 4 bytes per page (one order-0 block each)
/// and usually far less (bulk allocation prefers high orders).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct PackedBlock(u32);

impl PackedBlock {
    /// Packs `b`; `None` if its PFN or order does not fit.
    pub const fn new(b: Block) -> Option<Self> {
        if b.pfn.0 > (u32::MAX >> PAGE_SHIFT) || b.order >= 32 {
            None
        } else {
            Some(Self(b.pfn.0 << 5 | b.order as u32))
        }
    }
    /// The block.
    pub const fn block(self) -> Block {
        Block {
            pfn: Pfn(self.0 >> 5),
            order: (self.0 & 31) as u8,
        }
    }
    /// Frames in the block.
    pub const fn pages(self) -> u32 {
        1 << (self.0 & 31)
    }
}

impl fmt::Debug for PackedBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.block();
        write!(f, "Block({:#x}, order {})", b.pfn.0, b.order)
    }
}

/// The frame list of a `vm_struct`: one block inline (a 1-page vmalloc,
/// and any power-of-two one the pool serves from a single block: no heap
/// call on either side of the area's life), else a boxed slice allocated
/// at its exact size. 8 bytes on the 32-bit target, like the `Box<[_]>`
/// it replaced (the inline block sits beside the box's null niche).
#[derive(Debug)]
pub(crate) enum FrameList {
    /// Exactly one block.
    One(PackedBlock),
    /// Any other number (empty for ioremap and DMA: no allocation).
    Many(Box<[PackedBlock]>),
}

impl Default for FrameList {
    fn default() -> Self {
        Self::Many(Box::default())
    }
}

impl FrameList {
    /// The blocks, in virtual order.
    #[inline]
    pub(crate) fn as_slice(&self) -> &[PackedBlock] {
        match self {
            Self::One(b) => core::slice::from_ref(b),
            Self::Many(v) => v,
        }
    }
    /// Blocks held on the heap (0 for an inline block).
    pub(crate) fn heap_len(&self) -> usize {
        match self {
            Self::One(_) => 0,
            Self::Many(v) => v.len(),
        }
    }
}

/// Linux's `vm_struct`: what one area of the window holds. Lives inside its
/// node of the busy tree (the address and extent come from there), so an
/// area costs one node: 44 bytes on the 32-bit target (28 of them this
/// struct), 56 on a 64-bit host, plus 4 bytes per frame block.
///
/// Owned by the server and never cloned: the frames it lists are released
/// exactly once.
#[derive(Default, Debug)]
pub struct VmStruct {
    pub(crate) owner: OwnerId,
    pub(crate) caller: u32,
    /// Bytes the client asked for.
    pub(crate) requested: u32,
    /// First physical byte (ioremap, DMA); 0 otherwise.
    pub(crate) phys_addr: u32,
    pub(crate) flags: VmFlags,
    /// The frames mapped, in virtual order: owned for `VM_ALLOC`, borrowed
    /// for `VM_MAP`, empty for ioremap and DMA (physically contiguous from
    /// `phys_addr`).
    pub(crate) frames: FrameList,
}

impl VmStruct {
    /// The owner.
    pub fn owner(&self) -> OwnerId {
        self.owner
    }
    /// The caller tag (0: none).
    pub fn caller(&self) -> u32 {
        self.caller
    }
    /// Bytes requested.
    pub fn requested_size(&self) -> u32 {
        self.requested
    }
    /// Flags.
    pub fn flags(&self) -> VmFlags {
        self.flags
    }
    /// Physical address (ioremap, DMA).
    pub fn phys_addr(&self) -> PhysAddr {
        PhysAddr(self.phys_addr)
    }
    /// The frame list.
    pub fn frames(&self) -> impl Iterator<Item = Block> + '_ {
        self.frames.as_slice().iter().map(|p| p.block())
    }
    /// Linux's `nr_pages`: frames listed in the record (0 for ioremap/DMA).
    pub fn nr_pages(&self) -> u32 {
        self.frames
            .as_slice()
            .iter()
            .fold(0u32, |n, b| n.saturating_add(b.pages()))
    }
}

/// One line of `/proc/vmallocinfo`, formatted as Linux's `vmalloc_info_show`
/// does on a 32-bit kernel:
///
/// ```text
/// 0x40000000-0x40011000   69632 0x00001234 pages=16 vmalloc
/// 0x41000000-0x41002000    8192 phys=0x10013000 ioremap
/// 0x40011000-0x40013000    8192 unpurged vm_area
/// ```
///
/// `%pK` prints 8 zero-padded hex digits; the size includes the guard page
/// (`vm->size`); the caller (`%pS`) is printed as the raw tag, as `%pS`
/// prints an address it cannot resolve; `phys=%pa` is zero-padded.
#[derive(Debug)]
pub struct InfoLine<'a> {
    pub(crate) va_start: VirtAddr,
    pub(crate) va_end: VirtAddr,
    /// `None`: a lazily freed range waiting for the purge.
    pub(crate) vm: Option<&'a VmStruct>,
}

impl fmt::Display for InfoLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let size = self.va_end.0 - self.va_start.0;
        write!(
            f,
            "0x{:08x}-0x{:08x} {:7}",
            self.va_start.0, self.va_end.0, size
        )?;
        let Some(v) = self.vm else {
            return writeln!(f, " unpurged vm_area");
        };
        if v.caller != 0 {
            write!(f, " 0x{:08x}", v.caller)?;
        }
        let nr = v.nr_pages();
        if nr != 0 {
            write!(f, " pages={nr}")?;
        }
        if v.phys_addr != 0 {
            write!(f, " phys=0x{:08x}", v.phys_addr)?;
        }
        if v.flags.contains(VmFlags::VM_IOREMAP) {
            f.write_str(" ioremap")?;
        }
        if v.flags.contains(VmFlags::VM_ALLOC) {
            f.write_str(" vmalloc")?;
        }
        if v.flags.contains(VmFlags::VM_MAP) {
            f.write_str(" vmap")?;
        }
        if v.flags.contains(VmFlags::VM_DMA) {
            f.write_str(" dma-coherent")?;
        }
        f.write_str("\n")
    }
}

/// Bytes of the area's mapping, without its guard page.
pub(crate) fn mapped_size(va_start: VirtAddr, va_end: VirtAddr, flags: VmFlags) -> u32 {
    let size = va_end.0 - va_start.0;
    if flags.contains(VmFlags::VM_NO_GUARD) {
        size
    } else {
        size - PAGE_SIZE
    }
}
