//! `memcore`: the memory server's policy core — the `vm_struct` records
//! and the composition of the vmap window allocator ([`vmap`]), the buddy
//! frame pool ([`buddy`]) and the page-table editor ([`Mapper`]).
//!
//! # What one call does
//!
//! [`MemCore::vmalloc`] follows Linux's `__vmalloc_node_range`: page-align
//! the size; reject 0 and sizes above the pool's total ([`MemError::InvalidSize`]);
//! reserve a range (lowest fit + guard page) in the vmap tree; bulk-allocate
//! the frames (the buddy pool prefers high orders, so the record stores
//! blocks, not pages); zero them, always — with or without
//! [`VmFlags::VM_ZEROED`], a frame never reaches a client holding another
//! owner's data ([`Mapper::zero_frames`]); install
//! the PTEs in the owner's space through [`Mapper::map`], one call per
//! physically contiguous run; and record the `vm_struct` in the area's
//! busy-tree node. Any failure at any step undoes every earlier step — the
//! equivalent of Linux's `area->nr_pages = i; goto fail` — so nothing
//! leaks: frames that were never mapped go straight back to the pool and a
//! range that was never mapped straight back to the free tree; once
//! anything was mapped, the failure path is a normal free (below).
//!
//! [`MemCore::vfree`] performs Linux's checks: an unaligned address is
//! [`MemError::UnalignedAddress`], an address that starts no area is
//! [`MemError::NotFound`], another owner's area is [`MemError::NotOwner`].
//!
//! # Deviation from Linux: frames wait for the TLB flush too
//!
//! Linux frees a vmalloc area's pages at once and only keeps the *virtual
//! range* off the free tree until the lazy TLB flush, because kernel code is
//! trusted not to touch memory it freed. Here the clients are untrusted user
//! tasks, and their TLBs are ASID-tagged: after `vfree` a client's TLB may
//! still hold translations to the area's frames until the flush. If the
//! frames went back to the pool at once, another client could receive them
//! while the first can still read and write them through stale entries.
//! So `vfree` removes the PTEs at once ([`Mapper::unmap`]), but the frames,
//! like the range, are parked until the next purge; the purge issues one
//! batched [`Mapper::flush_tlb`] and only then returns frames and ranges.
//! Consequently an allocation that fails with [`MemError::OutOfMemory`]
//! also purges once and retries, as Linux does for [`MemError::NoVirtualSpace`].
//!
//! # Metadata
//!
//! A `vm_struct` ([`VmStruct`]) lives in its area's busy-tree node: one
//! arena node per area, [`AREA_NODE_SIZE_32`] = 44 bytes on the 32-bit
//! target (the 36-byte entry — `va_start`, `va_end`, `vm_struct` — plus
//! two `u32` links; both sizes asserted at compile time on 32-bit targets;
//! 56 bytes on a 64-bit host, where the `Box` fields double), plus 4 bytes
//! per frame block ([`PackedBlock`]), i.e. at most 4 bytes per page. The
//! arena grows by 1/16, so its unused tail adds at most 1/16 on top.
//!
//! # Testing seams
//!
//! The composition is generic over [`FrameAllocator`] (implemented for
//! [`buddy::BuddyPool`]) and [`Mapper`], so tests inject a pool or a mapper
//! that fails at step *k* and prove that every *k* leaks nothing.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod area;

pub use area::{InfoLine, OwnerId, PackedBlock, VmFlags, VmStruct};
pub use vmap::{VaRange, VmapConfig, VmapStats};

pub use abi::{MapAttrs, MemType};

use abi::{KernelError, Pfn, PhysAddr, VirtAddr, PAGE_SHIFT, PAGE_SIZE};
use alloc::vec::Vec;
use area::{mapped_size, FrameList};
use buddy::{Block, BuddyError, BuddyPool};
use core::fmt;
use vmap::{AllocRequest, Flush, Vmap, VmapError};

/// Bytes of one area's busy-tree node on the 32-bit target: the entry
/// (`va_start`, `va_end`, a 28-byte [`VmStruct`]) plus 8 bytes of `u32`
/// links. Checked at compile time whenever this crate is built for a
/// 32-bit target (the memserver's ARMv7-A build).
pub const AREA_NODE_SIZE_32: usize = 44;

#[cfg(target_pointer_width = "32")]
const _: () = assert!(Vmap::<VmStruct>::busy_entry_size() <= 36);
#[cfg(target_pointer_width = "32")]
const _: () = assert!(Vmap::<VmStruct>::area_node_size() == AREA_NODE_SIZE_32);
// The link part is target-independent: on any target the node is the
// entry plus 8 bytes (the entry's alignment is at most 8, so no padding).
const _: () =
    assert!(Vmap::<VmStruct>::area_node_size() == Vmap::<VmStruct>::busy_entry_size() + 8);

/// The kernel refused a page-table or memory operation: its error number
/// ([`KernelError::number`]), or 0 for a failure of the server's own (a
/// frame outside its linear map, say).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct MapError(pub u32);

impl MapError {
    /// The kernel's error ([`KernelError::Unrecognized`] for 0 or an
    /// unknown number).
    pub const fn kernel_error(self) -> KernelError {
        KernelError::from_number(self.0)
    }
}

/// The hardware side: page-table edits in clients' spaces, TLB maintenance
/// and frame zeroing. The memory server implements it with the kernel's
/// `map_pages` / `unmap_pages` / `flush_tlb` calls and its linear map of
/// the pool; tests use a fake.
pub trait Mapper {
    /// Installs `count` PTEs at `va` in `owner`'s space for the frames
    /// `pfn .. pfn + count`, with `attrs` (the kernel's own attribute
    /// type: memory type and writability). Must act all-or-nothing (the
    /// kernel validates every argument before it writes anything); the
    /// error carries the kernel's number.
    fn map(
        &mut self,
        owner: OwnerId,
        va: VirtAddr,
        pfn: Pfn,
        count: u32,
        attrs: MapAttrs,
    ) -> Result<(), MapError>;
    /// Removes `count` PTEs at `va` from `owner`'s space, without TLB
    /// maintenance. Only called for PTEs this server installed.
    fn unmap(&mut self, owner: OwnerId, va: VirtAddr, count: u32);
    /// Invalidates the TLB entries of these ranges in every address space
    /// (all ASIDs): one batch per purge.
    fn flush_tlb(&mut self, ranges: &[VaRange]);
    /// Fills `count` frames from `pfn` with zeroes. Called for every
    /// frame before it first reaches a client (vmalloc with or without
    /// [`VmFlags::VM_ZEROED`], DMA buffers): frames never carry data from
    /// one owner to the next, so this is on the allocation hot path.
    fn zero_frames(&mut self, pfn: Pfn, count: u32) -> Result<(), MapError>;
}

/// The frame source. Implemented for [`BuddyPool`]; tests wrap it to fail
/// at a chosen step.
pub trait FrameAllocator {
    /// Appends blocks totalling `n` frames to `out`; on failure `out` and
    /// the pool are unchanged.
    fn alloc_frames(&mut self, n: u32, out: &mut Vec<Block>) -> Result<(), BuddyError>;
    /// Returns blocks from `alloc_frames`.
    fn free_blocks(&mut self, blocks: &[Block]) -> Result<(), BuddyError>;
    /// `n` physically contiguous frames.
    fn alloc_exact(&mut self, n: u32) -> Result<Pfn, BuddyError>;
    /// Returns frames from `alloc_exact`.
    fn free_exact(&mut self, pfn: Pfn, n: u32) -> Result<(), BuddyError>;
    /// Frames in the pool.
    fn total_frames(&self) -> u32;
    /// Free frames in the pool.
    fn free_frames(&self) -> u32;
    /// Whether `pfn` belongs to the pool.
    fn contains(&self, pfn: Pfn) -> bool;
    /// Whether `pfn` is currently allocated.
    fn is_allocated(&self, pfn: Pfn) -> bool;
    /// Whether any of `start .. start + n` belongs to the pool.
    fn overlaps(&self, start: Pfn, n: u32) -> bool {
        (0..n).any(|i| start.checked_add(i).is_some_and(|p| self.contains(p)))
    }
    /// The pool's own consistency check.
    fn check_invariants(&self) -> Result<(), &'static str> {
        Ok(())
    }
}

impl FrameAllocator for BuddyPool {
    fn alloc_frames(&mut self, n: u32, out: &mut Vec<Block>) -> Result<(), BuddyError> {
        BuddyPool::alloc_frames(self, n, out)
    }
    fn free_blocks(&mut self, blocks: &[Block]) -> Result<(), BuddyError> {
        BuddyPool::free_blocks(self, blocks)
    }
    fn alloc_exact(&mut self, n: u32) -> Result<Pfn, BuddyError> {
        BuddyPool::alloc_exact(self, n)
    }
    fn free_exact(&mut self, pfn: Pfn, n: u32) -> Result<(), BuddyError> {
        BuddyPool::free_exact(self, pfn, n)
    }
    fn total_frames(&self) -> u32 {
        BuddyPool::total_frames(self)
    }
    fn free_frames(&self) -> u32 {
        BuddyPool::free_frames(self)
    }
    fn contains(&self, pfn: Pfn) -> bool {
        BuddyPool::contains(self, pfn)
    }
    fn is_allocated(&self, pfn: Pfn) -> bool {
        BuddyPool::is_allocated(self, pfn)
    }
    fn overlaps(&self, start: Pfn, n: u32) -> bool {
        let end = u64::from(start.0) + u64::from(n);
        self.ranges().any(|(s, c)| {
            let (s, e) = (u64::from(s.0), u64::from(s.0) + u64::from(c));
            s < end && u64::from(start.0) < e
        })
    }
    fn check_invariants(&self) -> Result<(), &'static str> {
        BuddyPool::check_invariants(self)
    }
}

/// Errors, with explicit wire numbers (shared with the IPC protocol).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum MemError {
    /// Size zero, above the pool's total, or overflowing.
    InvalidSize = 1,
    /// Alignment zero or not a power of two.
    BadAlignment = 2,
    /// The window has no fitting range, even after a purge.
    NoVirtualSpace = 3,
    /// Not enough free frames, even after a purge.
    OutOfMemory = 4,
    /// No area starts at (or, for lookups, holds) the address.
    NotFound = 5,
    /// The area belongs to another owner.
    NotOwner = 6,
    /// The address is not page-aligned.
    UnalignedAddress = 7,
    /// The request names memory the caller may not map this way (pool RAM
    /// as a device, free frames for vmap, the wrong free call for an area).
    PermissionDenied = 8,
    /// The kernel refused to map, or the frames could not be zeroed: the
    /// refusal, with the kernel's error number (the server turns the
    /// kernel's resource and permission refusals into typed errors).
    MapFailed(MapError) = 9,
    /// A physical range that wraps or leaves the 32-bit space.
    InvalidRange = 10,
    /// A vmap names the same frame more than once.
    DuplicateFrame = 11,
}

impl MemError {
    /// The wire number.
    pub const fn code(self) -> u32 {
        match self {
            MemError::InvalidSize => 1,
            MemError::BadAlignment => 2,
            MemError::NoVirtualSpace => 3,
            MemError::OutOfMemory => 4,
            MemError::NotFound => 5,
            MemError::NotOwner => 6,
            MemError::UnalignedAddress => 7,
            MemError::PermissionDenied => 8,
            MemError::MapFailed(_) => 9,
            MemError::InvalidRange => 10,
            MemError::DuplicateFrame => 11,
        }
    }
}

impl From<VmapError> for MemError {
    fn from(e: VmapError) -> Self {
        match e {
            VmapError::InvalidSize => Self::InvalidSize,
            VmapError::BadAlignment => Self::BadAlignment,
            VmapError::NoVirtualSpace | VmapError::InvalidRange => Self::NoVirtualSpace,
            VmapError::NotFound => Self::NotFound,
            VmapError::UnalignedAddress => Self::UnalignedAddress,
        }
    }
}

fn frame_error(e: BuddyError) -> MemError {
    match e {
        BuddyError::InvalidCount | BuddyError::InvalidOrder => MemError::InvalidSize,
        _ => MemError::OutOfMemory,
    }
}

/// A mapped area handed to a client: address and mapped size. Owned and
/// not `Clone`: it stands for one allocation.
#[derive(Debug, PartialEq, Eq)]
pub struct VmArea {
    addr: VirtAddr,
    size: u32,
}

impl VmArea {
    /// First mapped byte (for ioremap: including the offset in the page).
    pub fn addr(&self) -> VirtAddr {
        self.addr
    }
    /// Mapped bytes (page multiple, without the guard page).
    pub fn size(&self) -> u32 {
        self.size
    }
}

/// A DMA buffer: virtual and physical address of the same frames.
#[derive(Debug, PartialEq, Eq)]
pub struct DmaArea {
    area: VmArea,
    phys: PhysAddr,
}

impl DmaArea {
    /// The mapping.
    pub fn area(&self) -> &VmArea {
        &self.area
    }
    /// The bus/physical address of the first byte.
    pub fn phys(&self) -> PhysAddr {
        self.phys
    }
}

/// What a lookup by address found (fault reports).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AreaInfo {
    /// Area start.
    pub va_start: VirtAddr,
    /// Reservation end (guard page included).
    pub va_end: VirtAddr,
    /// Owner.
    pub owner: OwnerId,
    /// Caller tag.
    pub caller: u32,
    /// Flags.
    pub flags: VmFlags,
    /// Whether the address is in the guard page.
    pub in_guard: bool,
}

/// Frame accounting: pool frames held by this core.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrameAccounting {
    /// Frames owned by live `VM_ALLOC` and `VM_DMA` areas.
    pub owned: u32,
    /// Frames of freed areas waiting for the TLB flush.
    pub deferred: u32,
    /// `total - free` of the pool.
    pub pool_allocated: u32,
}

/// Statistics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemStats {
    /// Live `vmalloc` areas.
    pub vmalloc_areas: u32,
    /// Live `ioremap` areas.
    pub ioremap_areas: u32,
    /// Live `vmap` areas.
    pub vmap_areas: u32,
    /// Live DMA areas.
    pub dma_areas: u32,
    /// Frames.
    pub frames: FrameAccounting,
    /// Frames in the pool.
    pub pool_total: u32,
    /// The window allocator's counters.
    pub vmap: VmapStats,
    /// Failed returns of frames to the pool (a bug if non-zero).
    pub release_errors: u32,
}

/// What [`MemCore::reclaim`] released.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReclaimStats {
    /// Areas freed.
    pub areas: u32,
    /// Pages unmapped.
    pub pages: u32,
}

/// The memory server's core state.
pub struct MemCore<A, M> {
    vmap: Vmap<VmStruct>,
    frames: A,
    mapper: M,
    /// Blocks of freed `VM_ALLOC` areas, released after the next flush.
    deferred: Vec<Block>,
    /// Contiguous runs of freed DMA areas, released after the next flush.
    deferred_exact: Vec<(Pfn, u32)>,
    deferred_frames: u32,
    release_errors: u32,
    /// Reused output buffer of `alloc_frames`: no allocation per call.
    scratch: Vec<Block>,
}

/// The purge's flush callback: one batched TLB flush, then the frames that
/// waited for it go back to the pool.
fn on_flush<A: FrameAllocator, M: Mapper>(
    mapper: &mut M,
    frames: &mut A,
    deferred: &mut Vec<Block>,
    deferred_exact: &mut Vec<(Pfn, u32)>,
    deferred_frames: &mut u32,
    release_errors: &mut u32,
    batch: &Flush<'_>,
) {
    mapper.flush_tlb(batch.ranges);
    if !deferred.is_empty() && frames.free_blocks(deferred).is_err() {
        *release_errors = release_errors.saturating_add(1);
    }
    deferred.clear();
    for (pfn, n) in deferred_exact.drain(..) {
        if frames.free_exact(pfn, n).is_err() {
            *release_errors = release_errors.saturating_add(1);
        }
    }
    *deferred_frames = 0;
}

/// Parks the frames `vm` owns until the flush ([`MemCore::defer`]).
#[inline]
fn defer_frames(
    deferred: &mut Vec<Block>,
    deferred_exact: &mut Vec<(Pfn, u32)>,
    deferred_frames: &mut u32,
    vm: &VmStruct,
) {
    if vm.flags.contains(VmFlags::VM_ALLOC) {
        for p in vm.frames.as_slice().iter() {
            deferred.push(p.block());
            *deferred_frames = deferred_frames.saturating_add(p.pages());
        }
    } else if vm.flags.contains(VmFlags::VM_DMA) && vm.requested != 0 {
        let pages = vm.requested.div_ceil(PAGE_SIZE);
        deferred_exact.push((PhysAddr(vm.phys_addr).pfn(), pages));
        *deferred_frames = deferred_frames.saturating_add(pages);
    }
}

/// Splits blocks (in virtual order) into physically contiguous runs.
fn runs(blocks: &[Block]) -> impl Iterator<Item = (Pfn, u32)> + '_ {
    let mut i = 0;
    core::iter::from_fn(move || {
        let first = blocks.get(i)?;
        let start = first.pfn;
        let mut count = first.pages();
        i += 1;
        while let Some(b) = blocks.get(i) {
            if start.0.checked_add(count) != Some(b.pfn.0) {
                break;
            }
            count += b.pages();
            i += 1;
        }
        Some((start, count))
    })
}

macro_rules! flush_cb {
    ($s:ident) => {{
        let MemCore {
            mapper,
            frames,
            deferred,
            deferred_exact,
            deferred_frames,
            release_errors,
            ..
        } = $s;
        move |b: &Flush<'_>| {
            on_flush(
                mapper,
                frames,
                deferred,
                deferred_exact,
                deferred_frames,
                release_errors,
                b,
            )
        }
    }};
}

impl<A: FrameAllocator, M: Mapper> MemCore<A, M> {
    /// A core over the window `cfg`, the frame pool `frames` and the
    /// page-table editor `mapper`.
    pub fn new(cfg: VmapConfig, frames: A, mapper: M) -> Result<Self, MemError> {
        Ok(Self {
            vmap: Vmap::new(cfg).map_err(|_| MemError::InvalidRange)?,
            frames,
            mapper,
            deferred: Vec::new(),
            deferred_exact: Vec::new(),
            deferred_frames: 0,
            release_errors: 0,
            scratch: Vec::new(),
        })
    }

    /// The frame pool.
    pub fn frames(&self) -> &A {
        &self.frames
    }

    /// The frame pool, mutably (for tests and for the server's own use of
    /// frames it then hands to [`MemCore::vmap`]).
    pub fn frames_mut(&mut self) -> &mut A {
        &mut self.frames
    }

    /// The mapper.
    pub fn mapper(&self) -> &M {
        &self.mapper
    }

    /// The mapper, mutably (tests re-arm fault injection through it).
    pub fn mapper_mut(&mut self) -> &mut M {
        &mut self.mapper
    }

    /// The window allocator (read-only).
    pub fn window(&self) -> &Vmap<VmStruct> {
        &self.vmap
    }

    fn reserve(&mut self, req: AllocRequest, vm: VmStruct) -> Result<VirtAddr, MemError> {
        self.reserve_area(req, vm).map(|(va, _)| va)
    }

    fn reserve_area(
        &mut self,
        req: AllocRequest,
        vm: VmStruct,
    ) -> Result<(VirtAddr, vmap::AreaSlot), MemError> {
        let mut cb = flush_cb!(self);
        let r = self.vmap.alloc_area(&req, vm, &mut cb);
        r.map(|(r, slot)| (r.start, slot)).map_err(MemError::from)
    }

    /// Gives back a range none of whose pages was ever mapped: no TLB can
    /// hold it, so it skips the purge list.
    fn unreserve(&mut self, va: VirtAddr) -> Option<VmStruct> {
        self.vmap.free_unmapped(va).ok()
    }

    fn alloc_frames_retry(&mut self, n: u32, out: &mut Vec<Block>) -> Result<(), MemError> {
        match self.frames.alloc_frames(n, out) {
            Ok(()) => Ok(()),
            Err(BuddyError::OutOfMemory) if self.deferred_frames > 0 => {
                self.purge();
                self.frames.alloc_frames(n, out).map_err(frame_error)
            }
            Err(e) => Err(frame_error(e)),
        }
    }

    fn alloc_exact_retry(&mut self, n: u32) -> Result<Pfn, MemError> {
        match self.frames.alloc_exact(n) {
            Ok(p) => Ok(p),
            Err(BuddyError::OutOfMemory) if self.deferred_frames > 0 => {
                self.purge();
                self.frames.alloc_exact(n).map_err(frame_error)
            }
            Err(e) => Err(frame_error(e)),
        }
    }

    /// Undoes a half-built area: unmaps the `mapped` first pages, then
    /// releases frames and range — at once if nothing was mapped, else
    /// through the purge list like a normal free.
    fn teardown(&mut self, va: VirtAddr, owner: OwnerId, mapped: u32) {
        if mapped == 0 {
            if let Some(vm) = self.unreserve(va) {
                self.release_now(&vm);
            }
            return;
        }
        self.mapper.unmap(owner, va, mapped);
        if let Ok(vm) = self.vmap.free_noflush(va) {
            self.defer(vm);
        }
        if self.vmap.purge_due() {
            self.purge();
        }
    }

    /// Returns the frames of a never-mapped area to the pool immediately.
    fn release_now(&mut self, vm: &VmStruct) {
        let ok = if vm.flags.contains(VmFlags::VM_ALLOC) {
            self.scratch.clear();
            self.scratch
                .extend(vm.frames.as_slice().iter().map(|p| p.block()));
            self.scratch.is_empty() || self.frames.free_blocks(&self.scratch).is_ok()
        } else if vm.flags.contains(VmFlags::VM_DMA) && vm.requested != 0 {
            let pages = vm.requested.div_ceil(PAGE_SIZE);
            self.frames
                .free_exact(PhysAddr(vm.phys_addr).pfn(), pages)
                .is_ok()
        } else {
            true
        };
        if !ok {
            self.release_errors = self.release_errors.saturating_add(1);
        }
    }

    /// Parks the frames of a freed (and unmapped) area until the flush.
    fn defer(&mut self, vm: VmStruct) {
        defer_frames(
            &mut self.deferred,
            &mut self.deferred_exact,
            &mut self.deferred_frames,
            &vm,
        );
    }

    /// `vmalloc(size)`: `size` bytes of fresh frames, mapped in `owner`'s
    /// space at an address aligned to `align`. `flags` may carry
    /// [`VmFlags::VM_ZEROED`] and [`VmFlags::VM_NO_GUARD`]; other bits are
    /// ignored. `caller` tags the area in `/proc/vmallocinfo`.
    pub fn vmalloc(
        &mut self,
        size: u32,
        align: u32,
        flags: VmFlags,
        owner: OwnerId,
        caller: u32,
    ) -> Result<VmArea, MemError> {
        if size == 0 {
            return Err(MemError::InvalidSize);
        }
        let bytes = VirtAddr(size)
            .page_align_up()
            .ok_or(MemError::InvalidSize)?
            .0;
        let pages = bytes >> PAGE_SHIFT;
        if pages > self.frames.total_frames() {
            return Err(MemError::InvalidSize);
        }
        if align == 0 || !align.is_power_of_two() {
            return Err(MemError::BadAlignment);
        }
        let flags = flags.intersect(VmFlags::CALLER_MASK);
        let mut req = AllocRequest::new(bytes).align(align);
        if flags.contains(VmFlags::VM_NO_GUARD) {
            req = req.no_guard();
        }
        let vm = VmStruct {
            owner,
            caller,
            requested: size,
            phys_addr: 0,
            flags: flags.union(VmFlags::VM_ALLOC),
            frames: FrameList::default(),
        };
        let (va, slot) = self.reserve_area(req, vm)?;

        let mut blocks = core::mem::take(&mut self.scratch);
        blocks.clear();
        if let Err(e) = self.alloc_frames_retry(pages, &mut blocks) {
            self.scratch = blocks;
            self.unreserve(va);
            return Err(e);
        }
        // Record the frames first: from here on the failure path finds
        // them in the vm_struct.
        // The slot is still this area's: nothing freed it since.
        let recorded = match pack_blocks(&blocks) {
            Some(p) => {
                self.vmap.payload_mut(slot).frames = p;
                true
            }
            None => false,
        };
        if !recorded {
            if self.frames.free_blocks(&blocks).is_err() {
                self.release_errors = self.release_errors.saturating_add(1);
            }
            self.scratch = blocks;
            self.unreserve(va);
            return Err(MemError::OutOfMemory);
        }
        // Every frame is zeroed before it reaches the client, asked or
        // not: a frame's previous owner may have been another client (or
        // the server), and nothing it left may cross over. VM_ZEROED thus
        // costs nothing extra; it keeps its meaning (all zero).
        for b in &blocks {
            if let Err(e) = self.mapper.zero_frames(b.pfn, b.pages()) {
                self.scratch = blocks;
                self.teardown(va, owner, 0);
                return Err(MemError::MapFailed(e));
            }
        }
        let mapped = self.map_runs(&blocks, va, owner, MapAttrs::NORMAL_RW);
        self.scratch = blocks;
        if let Err((mapped, e)) = mapped {
            self.teardown(va, owner, mapped);
            return Err(MemError::MapFailed(e));
        }
        Ok(VmArea {
            addr: va,
            size: bytes,
        })
    }

    /// Maps `blocks` at `va`, one call per contiguous run; on failure
    /// returns how many pages were mapped before it and the refusal.
    fn map_runs(
        &mut self,
        blocks: &[Block],
        va: VirtAddr,
        owner: OwnerId,
        attrs: MapAttrs,
    ) -> Result<(), (u32, MapError)> {
        let mut mapped = 0u32;
        for (pfn, count) in runs(blocks) {
            let at = VirtAddr(va.0 + (mapped << PAGE_SHIFT));
            self.mapper
                .map(owner, at, pfn, count, attrs)
                .map_err(|e| (mapped, e))?;
            mapped += count;
        }
        Ok(())
    }

    /// Frees an area: checks, unmaps now, parks frames and range until the
    /// next batched flush.
    fn release(&mut self, addr: VirtAddr, owner: OwnerId, kinds: VmFlags) -> Result<u32, MemError> {
        if !addr.is_page_aligned() {
            return Err(MemError::UnalignedAddress);
        }
        let (pages, flags) = {
            let a = self.vmap.find(addr).ok_or(MemError::NotFound)?;
            if a.va_start != addr {
                return Err(MemError::NotFound);
            }
            let vm = a.private;
            if vm.owner != owner {
                return Err(MemError::NotOwner);
            }
            if vm.flags.intersect(kinds) == VmFlags::NONE {
                return Err(MemError::PermissionDenied);
            }
            (
                mapped_size(a.va_start, a.va_end, vm.flags) >> PAGE_SHIFT,
                vm.flags,
            )
        };
        let _ = flags;
        self.mapper.unmap(owner, addr, pages);
        let vm = self.vmap.free_noflush(addr)?;
        self.defer(vm);
        if self.vmap.purge_due() {
            self.purge();
        }
        Ok(pages)
    }

    /// Frees the area starting exactly at `addr` if `check` accepts it, in
    /// one lookup: `check` sees the area (range and `vm_struct`) and does
    /// the caller's ownership and kind checks; on `Ok` the area is
    /// unmapped and its frames and range parked until the next batched
    /// flush, as [`MemCore::vfree`] does. `None` when no area starts at
    /// `addr` (or `addr` is not page aligned); nothing changes then, nor
    /// when `check` refuses.
    pub fn release_checked<R, E>(
        &mut self,
        addr: VirtAddr,
        check: impl FnOnce(vmap::AreaRef<'_, VmStruct>) -> Result<R, E>,
    ) -> Option<Result<R, E>> {
        let MemCore {
            vmap,
            mapper,
            deferred,
            deferred_exact,
            deferred_frames,
            ..
        } = self;
        // Unmapped and its frames parked while the area is still in the
        // tree (as `release` does), read through a reference: once `check`
        // accepted it, its removal cannot fail.
        let taken = vmap.take_checked(addr, |a| {
            let vm: &VmStruct = a.private;
            let pages = mapped_size(a.va_start, a.va_end, vm.flags) >> PAGE_SHIFT;
            let r = check(a)?;
            mapper.unmap(vm.owner, addr, pages);
            defer_frames(deferred, deferred_exact, deferred_frames, vm);
            Ok(r)
        })?;
        if taken.is_ok() && self.vmap.purge_due() {
            self.purge();
        }
        Some(taken)
    }

    /// `vfree(addr)`: frees a `vmalloc` or `vmap` area of `owner`.
    pub fn vfree(&mut self, addr: VirtAddr, owner: OwnerId) -> Result<(), MemError> {
        self.release(addr, owner, VmFlags::VM_ALLOC.union(VmFlags::VM_MAP))
            .map(|_| ())
    }

    /// `ioremap(phys, size)`: maps a device range (never pool RAM:
    /// [`MemError::PermissionDenied`]) with `mem_type`, aligned to
    /// [`vmap::ioremap_align`]. The returned address keeps `phys`'s offset
    /// in its page, as Linux's does. `mem_type` must be one a device
    /// allows ([`MemType::allowed_for_device`]: Device, or Normal uncached
    /// as Linux's `ioremap_wc`); Normal cacheable is
    /// [`MemError::PermissionDenied`].
    pub fn ioremap(
        &mut self,
        phys: PhysAddr,
        size: u32,
        mem_type: MemType,
        owner: OwnerId,
        caller: u32,
    ) -> Result<VmArea, MemError> {
        if size == 0 {
            return Err(MemError::InvalidSize);
        }
        if !mem_type.allowed_for_device() {
            return Err(MemError::PermissionDenied);
        }
        let last = phys.0.checked_add(size - 1).ok_or(MemError::InvalidRange)?;
        let first = phys.page_align_down();
        let pages = ((last - first.0) >> PAGE_SHIFT) + 1;
        let bytes = pages.checked_mul(PAGE_SIZE).ok_or(MemError::InvalidSize)?;
        let cfg = *self.vmap.config();
        if bytes > cfg.end.0 - cfg.start.0 {
            return Err(MemError::NoVirtualSpace);
        }
        if self.frames.overlaps(first.pfn(), pages) {
            return Err(MemError::PermissionDenied);
        }
        let req = AllocRequest::new(bytes).align(vmap::ioremap_align(bytes));
        let vm = VmStruct {
            owner,
            caller,
            requested: size,
            phys_addr: first.0,
            flags: VmFlags::VM_IOREMAP,
            frames: FrameList::default(),
        };
        let va = self.reserve(req, vm)?;
        let attrs = MapAttrs::new(mem_type, true);
        if let Err(e) = self.mapper.map(owner, va, first.pfn(), pages, attrs) {
            self.unreserve(va);
            return Err(MemError::MapFailed(e));
        }
        Ok(VmArea {
            addr: VirtAddr(va.0 + phys.page_offset()),
            size: bytes,
        })
    }

    /// `iounmap(addr)`: any address in the area's first page.
    pub fn iounmap(&mut self, addr: VirtAddr, owner: OwnerId) -> Result<(), MemError> {
        self.release(addr.page_align_down(), owner, VmFlags::VM_IOREMAP)
            .map(|_| ())
    }

    /// `vmap(pages, prot)`: maps caller-supplied frames (in order)
    /// contiguously with `attrs` (Linux passes a `pgprot`; the caller
    /// picks read-only or read-write and the memory type of the frames'
    /// own mapping: an alias with another cacheability is UNPREDICTABLE on
    /// ARMv7). The area does not own them: `vfree`/`vunmap` unmaps but
    /// never frees them. Frames of the pool must be allocated
    /// ([`MemError::PermissionDenied`] otherwise), and each may appear
    /// once ([`MemError::DuplicateFrame`]).
    pub fn vmap(
        &mut self,
        pfns: &[Pfn],
        attrs: MapAttrs,
        owner: OwnerId,
        caller: u32,
    ) -> Result<VmArea, MemError> {
        let n = u32::try_from(pfns.len()).map_err(|_| MemError::InvalidSize)?;
        if n == 0 {
            return Err(MemError::InvalidSize);
        }
        let bytes = n.checked_mul(PAGE_SIZE).ok_or(MemError::InvalidSize)?;
        let mut packed = Vec::with_capacity(pfns.len());
        for &pfn in pfns {
            if self.frames.contains(pfn) && !self.frames.is_allocated(pfn) {
                return Err(MemError::PermissionDenied);
            }
            packed.push(PackedBlock::new(Block { pfn, order: 0 }).ok_or(MemError::InvalidRange)?);
        }
        if has_duplicate(pfns) {
            return Err(MemError::DuplicateFrame);
        }
        let vm = VmStruct {
            owner,
            caller,
            requested: bytes,
            phys_addr: 0,
            flags: VmFlags::VM_MAP,
            frames: FrameList::Many(packed.into_boxed_slice()),
        };
        let va = self.reserve(AllocRequest::new(bytes), vm)?;
        let mut blocks = core::mem::take(&mut self.scratch);
        blocks.clear();
        blocks.extend(pfns.iter().map(|&pfn| Block { pfn, order: 0 }));
        let mapped = self.map_runs(&blocks, va, owner, attrs);
        self.scratch = blocks;
        if let Err((mapped, e)) = mapped {
            self.teardown(va, owner, mapped);
            return Err(MemError::MapFailed(e));
        }
        Ok(VmArea {
            addr: va,
            size: bytes,
        })
    }

    /// `vunmap(addr)`.
    pub fn vunmap(&mut self, addr: VirtAddr, owner: OwnerId) -> Result<(), MemError> {
        self.release(addr, owner, VmFlags::VM_MAP).map(|_| ())
    }

    /// A DMA buffer: `pages` physically contiguous, zeroed frames mapped
    /// uncached.
    pub fn dma_alloc(
        &mut self,
        pages: u32,
        owner: OwnerId,
        caller: u32,
    ) -> Result<DmaArea, MemError> {
        if pages == 0 || pages > self.frames.total_frames() {
            return Err(MemError::InvalidSize);
        }
        let bytes = pages.checked_mul(PAGE_SIZE).ok_or(MemError::InvalidSize)?;
        let vm = VmStruct {
            owner,
            caller,
            requested: 0,
            phys_addr: 0,
            flags: VmFlags::VM_DMA,
            frames: FrameList::default(),
        };
        let va = self.reserve(AllocRequest::new(bytes), vm)?;
        let pfn = match self.alloc_exact_retry(pages) {
            Ok(p) => p,
            Err(e) => {
                self.unreserve(va);
                return Err(e);
            }
        };
        // `requested != 0` marks the frames as owned from here on.
        if let Some(vm) = self.vmap.get_mut(va) {
            vm.phys_addr = pfn.addr().0;
            vm.requested = bytes;
        }
        if let Err(e) = self.mapper.zero_frames(pfn, pages) {
            self.teardown(va, owner, 0);
            return Err(MemError::MapFailed(e));
        }
        // Uncached: a device that does not snoop the cache sees what the
        // CPU wrote without cache maintenance.
        if let Err(e) = self
            .mapper
            .map(owner, va, pfn, pages, MapAttrs::UNCACHED_RW)
        {
            self.teardown(va, owner, 0);
            return Err(MemError::MapFailed(e));
        }
        Ok(DmaArea {
            area: VmArea {
                addr: va,
                size: bytes,
            },
            phys: pfn.addr(),
        })
    }

    /// Frees a DMA buffer.
    pub fn dma_free(&mut self, addr: VirtAddr, owner: OwnerId) -> Result<(), MemError> {
        self.release(addr, owner, VmFlags::VM_DMA).map(|_| ())
    }

    /// The physical address behind `addr` in one of `owner`'s areas.
    pub fn virt_to_phys(&self, addr: VirtAddr, owner: OwnerId) -> Result<PhysAddr, MemError> {
        let a = self.vmap.find(addr).ok_or(MemError::NotFound)?;
        let vm = a.private;
        if vm.owner != owner {
            return Err(MemError::NotOwner);
        }
        let off = addr.0 - a.va_start.0;
        if off >= mapped_size(a.va_start, a.va_end, vm.flags) {
            return Err(MemError::NotFound);
        }
        if vm.flags.contains(VmFlags::VM_IOREMAP) || vm.flags.contains(VmFlags::VM_DMA) {
            return Ok(PhysAddr(vm.phys_addr + off));
        }
        let mut page = off >> PAGE_SHIFT;
        for b in vm.frames.as_slice().iter() {
            if page < b.pages() {
                let pfn = b.block().pfn.0 + page;
                return Ok(PhysAddr((pfn << PAGE_SHIFT) | (off & (PAGE_SIZE - 1))));
            }
            page -= b.pages();
        }
        Err(MemError::NotFound)
    }

    /// The area holding `addr` (guard page included), for fault reports.
    pub fn find_area(&self, addr: VirtAddr) -> Option<AreaInfo> {
        let a = self.vmap.find(addr)?;
        let vm = a.private;
        let off = addr.0 - a.va_start.0;
        Some(AreaInfo {
            va_start: a.va_start,
            va_end: a.va_end,
            owner: vm.owner,
            caller: vm.caller,
            flags: vm.flags,
            in_guard: off >= mapped_size(a.va_start, a.va_end, vm.flags),
        })
    }

    /// Frees every area `owner` holds (task exit or fault).
    pub fn reclaim(&mut self, owner: OwnerId) -> ReclaimStats {
        let starts: Vec<VirtAddr> = self
            .vmap
            .iter()
            .filter(|a| a.private.owner == owner)
            .map(|a| a.va_start)
            .collect();
        let mut st = ReclaimStats::default();
        let all = VmFlags(
            VmFlags::VM_ALLOC.0 | VmFlags::VM_MAP.0 | VmFlags::VM_IOREMAP.0 | VmFlags::VM_DMA.0,
        );
        for va in starts {
            if let Ok(pages) = self.release(va, owner, all) {
                st.areas += 1;
                st.pages = st.pages.saturating_add(pages);
            }
        }
        st
    }

    /// Flushes every lazily freed range in one batch, then returns their
    /// frames and ranges.
    pub fn purge(&mut self) -> vmap::PurgeStats {
        let mut cb = flush_cb!(self);
        self.vmap.purge(&mut cb)
    }

    /// Frame accounting.
    pub fn frame_accounting(&self) -> FrameAccounting {
        let mut owned = 0u32;
        for a in self.vmap.iter() {
            let vm = a.private;
            if vm.flags.contains(VmFlags::VM_ALLOC) {
                owned = owned.saturating_add(vm.nr_pages());
            } else if vm.flags.contains(VmFlags::VM_DMA) {
                owned = owned.saturating_add(vm.requested.div_ceil(PAGE_SIZE));
            }
        }
        FrameAccounting {
            owned,
            deferred: self.deferred_frames,
            pool_allocated: self.frames.total_frames() - self.frames.free_frames(),
        }
    }

    /// Statistics (O(areas)).
    pub fn stats(&self) -> MemStats {
        let mut s = MemStats {
            frames: self.frame_accounting(),
            pool_total: self.frames.total_frames(),
            vmap: self.vmap.stats(),
            release_errors: self.release_errors,
            ..MemStats::default()
        };
        for a in self.vmap.iter() {
            let f = a.private.flags;
            if f.contains(VmFlags::VM_ALLOC) {
                s.vmalloc_areas += 1;
            } else if f.contains(VmFlags::VM_IOREMAP) {
                s.ioremap_areas += 1;
            } else if f.contains(VmFlags::VM_MAP) {
                s.vmap_areas += 1;
            } else if f.contains(VmFlags::VM_DMA) {
                s.dma_areas += 1;
            }
        }
        s
    }

    /// Heap bytes of metadata: tree arenas, frame lists, parked frames.
    pub fn metadata_bytes(&self) -> usize {
        let frames: usize = self
            .vmap
            .iter()
            .map(|a| a.private.frames.heap_len() * core::mem::size_of::<PackedBlock>())
            .sum();
        self.vmap.metadata_bytes()
            + frames
            + self.deferred.capacity() * core::mem::size_of::<Block>()
            + self.deferred_exact.capacity() * core::mem::size_of::<(Pfn, u32)>()
            + self.scratch.capacity() * core::mem::size_of::<Block>()
    }

    /// Bytes of one area's busy-tree entry (`va_start`, `va_end`,
    /// `vm_struct`), without the tree links (see
    /// [`MemCore::area_node_size`]).
    pub const fn area_metadata_size() -> usize {
        Vmap::<VmStruct>::busy_entry_size()
    }

    /// Bytes of one area's busy-tree node on this target: the entry plus
    /// 8 bytes of links ([`AREA_NODE_SIZE_32`] on the 32-bit target).
    pub const fn area_node_size() -> usize {
        Vmap::<VmStruct>::area_node_size()
    }

    /// `/proc/vmallocinfo`: one line per live area in address order, then
    /// one `unpurged vm_area` line per lazily freed range.
    pub fn vmallocinfo(&self) -> impl Iterator<Item = InfoLine<'_>> + '_ {
        self.vmap
            .iter()
            .map(|a| InfoLine {
                va_start: a.va_start,
                va_end: a.va_end,
                vm: Some(a.private),
            })
            .chain(self.vmap.lazy_ranges().iter().map(|r| InfoLine {
                va_start: r.start,
                va_end: r.end,
                vm: None,
            }))
    }

    /// Writes `/proc/vmallocinfo`.
    pub fn write_vmallocinfo(&self, w: &mut dyn fmt::Write) -> fmt::Result {
        for line in self.vmallocinfo() {
            write!(w, "{line}")?;
        }
        Ok(())
    }

    /// Checks the window allocator, the pool, and that every frame this
    /// core owns or parks is allocated in the pool and accounted for.
    pub fn check_invariants(&self) -> Result<(), &'static str> {
        self.vmap.check_invariants()?;
        self.frames.check_invariants()?;
        if self.release_errors != 0 {
            return Err("memcore: a release to the pool failed");
        }
        for a in self.vmap.iter() {
            let vm = a.private;
            if vm.flags.contains(VmFlags::VM_ALLOC) {
                let size = mapped_size(a.va_start, a.va_end, vm.flags);
                if vm.nr_pages() != size >> PAGE_SHIFT {
                    return Err("memcore: vmalloc frame count != mapped pages");
                }
                if vm
                    .frames
                    .as_slice()
                    .iter()
                    .any(|b| !self.frames.is_allocated(b.block().pfn))
                {
                    return Err("memcore: area holds a free frame");
                }
            }
        }
        let parked: u32 = self
            .deferred
            .iter()
            .map(|b| b.pages())
            .chain(self.deferred_exact.iter().map(|e| e.1))
            .sum();
        if parked != self.deferred_frames {
            return Err("memcore: parked frame count mismatch");
        }
        if !self.deferred.is_empty() && self.vmap.lazy_ranges().is_empty() {
            return Err("memcore: frames parked without a pending flush");
        }
        let acc = self.frame_accounting();
        if acc.owned.saturating_add(acc.deferred) > acc.pool_allocated {
            return Err("memcore: more frames owned than allocated");
        }
        Ok(())
    }
}

/// Whether a frame appears twice in `pfns` (sorted copy: a vmap is not a
/// hot path, and its frame list is already copied once).
fn has_duplicate(pfns: &[Pfn]) -> bool {
    if pfns.windows(2).all(|w| w[0].0 < w[1].0) {
        return false;
    }
    let mut sorted: Vec<u32> = pfns.iter().map(|p| p.0).collect();
    sorted.sort_unstable();
    sorted.windows(2).any(|w| w[0] == w[1])
}

/// The frame list of a `vm_struct`, allocated once at its exact size
/// (collecting through `Option` would lose the size hint and grow, then
/// shrink, the buffer: two extra heap calls per vmalloc). `None` if a block
/// cannot be packed or the heap is exhausted.
fn pack_blocks(blocks: &[Block]) -> Option<FrameList> {
    if let [one] = blocks {
        return PackedBlock::new(*one).map(FrameList::One);
    }
    let mut v = Vec::new();
    v.try_reserve_exact(blocks.len()).ok()?;
    for b in blocks {
        v.push(PackedBlock::new(*b)?);
    }
    Some(FrameList::Many(v.into_boxed_slice()))
}
