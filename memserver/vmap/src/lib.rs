//! `vmap`: the allocator of the vmalloc window.
//!
//! One [`Vmap`] hands out page-aligned ranges of the shared vmalloc window
//! `[VMALLOC_START, VMALLOC_END)` for the whole system (DESIGN.md §3, §6).
//! It is the Linux (≥ 5.2) `mm/vmalloc.c` KVA allocator, rebuilt without
//! pointers:
//!
//! * **Free tree** — every free range is one node of a balanced tree (a
//!   weak AVL tree, see `avl.rs`) keyed by
//!   `va_start`; each node also stores the largest free size in its subtree
//!   (Linux's `subtree_max_size`). A subtree whose maximum is below the
//!   request cannot hold it, so the *lowest-address* fit is found by one
//!   descent ([`Vmap::alloc`], Linux's `find_vmap_lowest_match`) in
//!   O(log n) for page alignment. For larger alignments the search is
//!   exact (the lowest aligned fit) while it stays cheap; a range that is
//!   big enough may still miss the aligned fit, so after a bounded number
//!   of such ranges the search switches to Linux's pruning on
//!   `size + align - 1` (O(log n), may return a higher address), and falls
//!   back to the unbounded exact search only if that finds nothing, so an
//!   aligned request fails only when no aligned fit exists.
//! * **Clipping** — the chosen range is cut in one of Linux's four ways
//!   (`va_clip`: FL/LE/RE/NE_FIT_TYPE), see [`FitType`]; the search hands
//!   its root path to the clip, so the subtree maxima are fixed bottom-up
//!   without a second descent, and a merge on free finds both neighbours
//!   and the insertion point in one descent.
//! * **Busy tree** — allocated areas sit in a second arena WAVL tree
//!   keyed by `va_start`; [`Vmap::find`] returns the area holding *any* address
//!   inside it (guard page included), which fault reports need. Each busy
//!   area carries a caller-chosen payload `T` (Linux's `va->vm`) inside its
//!   node: the memory server keeps its `vm_struct` there, so an area costs
//!   one node of [`Vmap::area_node_size`] bytes — the entry plus 8 bytes of
//!   `u32` links, the same on every target (44 bytes on the 32-bit target
//!   for the memory server's 28-byte `vm_struct`). It replaced a `BTreeMap`
//!   (about 64 B/area on the 32-bit target once node fill is counted). A
//!   WAVL rather than a plain AVL tree because an allocator inserts and
//!   deletes at the same place over and over, which makes AVL rebalancing
//!   climb to the root every time while WAVL's is O(1) amortised. Measured
//!   with `vmbench` (this crate against its earlier B-tree version as a
//!   whole, on a shared 2-core host): 30-50 % faster on the fragmented
//!   long-busy, full-fit, fixed-size and aligned workloads, up to ~10 %
//!   slower on the contiguous long-busy list at 10k-100k areas (a binary
//!   tree descends ~3× more levels than the B-tree's wide nodes, which
//!   shows when the whole path is in cache).
//! * **Guard page** — every area is followed by one unmapped page unless the
//!   request says otherwise (`VM_NO_GUARD`); the guard is part of the
//!   reservation (`va_end` includes it), as in Linux.
//! * **Lazy free** — [`Vmap::free`] does not return the range: it goes on
//!   the purge list, because a client's TLB may still hold translations for
//!   it. When the lazily freed pages exceed
//!   [`VmapConfig::lazy_max_pages`] (Linux: 32 MiB × fls(num_cpus)), one
//!   purge hands every pending range to the caller's flush callback in a
//!   single batch and only then merges them back into the free tree
//!   (`merge_or_add_vmap_area`). An allocation that finds no space purges
//!   once and retries before failing with [`VmapError::NoVirtualSpace`].
//! * **Size-class pools (optional, off by default)** —
//!   [`Vmap::set_pool_max_pages`] turns on Linux 6.9's `vmap_pool`: a
//!   purge keeps each purged area of up to [`POOL_MAX_PAGES`] pages
//!   (guard included) whole, in a list per exact size in ascending
//!   address order, and the next whole-window request of that size takes
//!   the lowest one (for an alignment above a page: the lowest aligned one
//!   among the first [`POOL_ALIGN_SCAN`]) in O(1), skipping the free-tree
//!   search and cut, and the busy-tree work stays. The relaxation, checked
//!   by the model test: a request gets a pooled area of its exact size or
//!   the lowest fit of the free tree with pooled areas counted as taken;
//!   with neither, the pools go back to the tree (no flush) and the lowest
//!   fit of everything free is returned, so a request still fails only
//!   when nothing fits. Each purge first returns the areas the previous
//!   one pooled and nothing reused, so the pools hold at most one purge's
//!   pages (≈ `lazy_max_pages`). Measured (`vmbench`, callgrind
//!   instructions per alloc+free, exact → pools): `long_busy_frag` 10k
//!   1,865 → 915, `full_fit` 2,089 → 920, random alignment 2,798 →
//!   1,308, `fix_size` 1 page 381 → 331, but random 1–100 pages 383 → 802
//!   (sizes rarely repeat: the leftovers decay back into the tree at every
//!   purge and the purge list arrives unsorted). Off by default because
//!   the memory server and its tests promise the exact lowest fit.
//!
//! The trees' arena layout (nodes in a `Vec`, `u32` links with the WAVL
//! rank packed into one of them, recycled slots, growth by 1/16) keeps a
//! free-tree node at 20 bytes, a busy node at its entry + 8, and the hot
//! path free of heap allocation once the arena has grown to the
//! working-set size. Every tree operation is iterative (explicit root
//! path, no recursion, no parent links) and stops rebalancing as soon as a
//! subtree's rank and maximum come out unchanged.
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

mod avl;

use abi::{VirtAddr, PAGE_SHIFT, PAGE_SIZE};
use alloc::boxed::Box;
use alloc::vec::Vec;
use avl::{Avl, Item, IDX_MASK, MAX_DEPTH, NIL};

/// Default start of the vmalloc window (DESIGN.md §3).
pub const VMALLOC_START: VirtAddr = VirtAddr(0x4000_0000);
/// Default size of the vmalloc window: 240 MiB, the Linux ARM default.
pub const VMALLOC_SIZE: u32 = 240 << 20;
/// Default end (exclusive) of the vmalloc window.
pub const VMALLOC_END: VirtAddr = VirtAddr(0x4000_0000 + (240 << 20));
/// Linux ARM's `IOREMAP_MAX_ORDER`: ioremap alignment never exceeds 16 MiB.
pub const IOREMAP_MAX_ORDER: u32 = 24;
/// Lazily freed pages per `fls(num_cpus)` before a purge (Linux: 32 MiB).
pub const LAZY_UNIT_PAGES: u32 = (32 << 20) >> PAGE_SHIFT;

/// Find last set bit, 1-based (`fls(0) == 0`), as in Linux.
pub const fn fls(x: u32) -> u32 {
    32 - x.leading_zeros()
}

/// Linux's `lazy_max_pages()`: 32 MiB worth of pages × `fls(num_cpus)`.
pub const fn lazy_max_pages(num_cpus: u32) -> u32 {
    LAZY_UNIT_PAGES.saturating_mul(fls(num_cpus))
}

/// Linux's `get_count_order`: the smallest `o` with `1 << o >= x`.
const fn count_order(x: u32) -> u32 {
    if x <= 1 {
        0
    } else {
        32 - (x - 1).leading_zeros()
    }
}

/// The alignment of an ioremap of `size` bytes:
/// `1 << clamp(order(size), PAGE_SHIFT, IOREMAP_MAX_ORDER)`, so a device
/// window can later be mapped with sections where the size allows, without
/// wasting more than 16 MiB of window to alignment.
pub const fn ioremap_align(size: u32) -> u32 {
    let o = count_order(size);
    let o = if o < PAGE_SHIFT {
        PAGE_SHIFT
    } else if o > IOREMAP_MAX_ORDER {
        IOREMAP_MAX_ORDER
    } else {
        o
    };
    1 << o
}

#[inline]
const fn align_up(x: u32, align: u32) -> Option<u32> {
    match x.checked_add(align - 1) {
        Some(v) => Some(v & !(align - 1)),
        None => None,
    }
}

/// Errors, with explicit wire numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum VmapError {
    /// Size zero, not page-aligned, or overflowing with its guard page.
    InvalidSize = 1,
    /// Alignment zero or not a power of two.
    BadAlignment = 2,
    /// No free range fits, even after a purge.
    NoVirtualSpace = 3,
    /// No busy area starts at the address.
    NotFound = 4,
    /// The address is not page-aligned.
    UnalignedAddress = 5,
    /// A window or search range that is empty, unaligned or inverted.
    InvalidRange = 6,
}

impl VmapError {
    /// The wire number.
    pub const fn code(self) -> u32 {
        self as u32
    }
}

/// A virtual range `[start, end)`, for reports and TLB flushes (a
/// description, not an ownership token).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VaRange {
    /// First byte.
    pub start: VirtAddr,
    /// One past the last byte.
    pub end: VirtAddr,
}

impl VaRange {
    /// Length in bytes.
    pub const fn size(&self) -> u32 {
        self.end.0 - self.start.0
    }
    /// Length in pages.
    pub const fn pages(&self) -> u32 {
        self.size() >> PAGE_SHIFT
    }
}

/// Configuration of one window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VmapConfig {
    /// First address of the window (page-aligned).
    pub start: VirtAddr,
    /// End of the window, exclusive (page-aligned, above `start`).
    pub end: VirtAddr,
    /// Purge once more than this many pages wait on the purge list
    /// (0: purge on every free).
    pub lazy_max_pages: u32,
}

impl Default for VmapConfig {
    fn default() -> Self {
        Self {
            start: VMALLOC_START,
            end: VMALLOC_END,
            lazy_max_pages: lazy_max_pages(1),
        }
    }
}

/// One allocation request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AllocRequest {
    /// Bytes to map (page-aligned, non-zero), without the guard page.
    pub size: u32,
    /// Alignment of `va_start` (power of two; below a page means a page).
    pub align: u32,
    /// Lowest acceptable address (clipped to the window).
    pub vstart: VirtAddr,
    /// End of the acceptable range, exclusive (clipped to the window).
    pub vend: VirtAddr,
    /// Reserve one unmapped page after the area (`!VM_NO_GUARD`).
    pub guard: bool,
}

impl AllocRequest {
    /// `size` bytes, page-aligned, anywhere in the window, with a guard.
    pub const fn new(size: u32) -> Self {
        Self {
            size,
            align: PAGE_SIZE,
            vstart: VirtAddr(0),
            vend: VirtAddr(u32::MAX),
            guard: true,
        }
    }
    /// With an alignment.
    pub const fn align(mut self, align: u32) -> Self {
        self.align = align;
        self
    }
    /// Restricted to `[vstart, vend)`.
    pub const fn range(mut self, vstart: VirtAddr, vend: VirtAddr) -> Self {
        self.vstart = vstart;
        self.vend = vend;
        self
    }
    /// Without the guard page (`VM_NO_GUARD`).
    pub const fn no_guard(mut self) -> Self {
        self.guard = false;
        self
    }
}

/// What a purge hands to the flush callback: every lazily freed range
/// (sorted, adjacent ones coalesced), flushed as one batch before any of
/// them is reused.
#[derive(Debug)]
pub struct Flush<'a> {
    /// The ranges to invalidate.
    pub ranges: &'a [VaRange],
    /// Lowest address of the batch.
    pub start: VirtAddr,
    /// Highest end of the batch.
    pub end: VirtAddr,
    /// Pages in the batch (guard pages included).
    pub pages: u32,
}

/// How a free range is cut around an allocation (Linux `enum fit_type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FitType {
    /// The allocation takes the whole free range.
    ///
    /// ```text
    ///   |      free va     |
    ///   |<---- alloc ----->|
    ///   result: the node is removed
    /// ```
    Full,
    /// The allocation takes the left edge.
    ///
    /// ```text
    ///   |      free va     |
    ///   |<alloc>|          |
    ///   result:  |  free   |   (va_start moves up)
    /// ```
    LeftEdge,
    /// The allocation takes the right edge.
    ///
    /// ```text
    ///   |      free va     |
    ///   |          |<alloc>|
    ///   result: |  free   |    (va_end moves down)
    /// ```
    RightEdge,
    /// The allocation sits strictly inside: the range splits in two.
    ///
    /// ```text
    ///   |      free va     |
    ///   |    |<alloc>|     |
    ///   result: |L |   | R |   (va_end moves down, R is a new node)
    /// ```
    NoEdge,
}

/// Classifies `[a, a+size)` inside the free range `[start, end)`
/// (Linux `classify_va_fit_type`).
pub const fn classify_fit(start: u32, end: u32, a: u32, size: u32) -> FitType {
    let a_end = a + size;
    if a == start {
        if a_end == end {
            FitType::Full
        } else {
            FitType::LeftEdge
        }
    } else if a_end == end {
        FitType::RightEdge
    } else {
        FitType::NoEdge
    }
}

/// A free range: a node of the free tree.
#[derive(Clone, Copy, Default, Debug)]
struct FreeRange {
    start: u32,
    end: u32,
    /// Largest `end - start` in this node's subtree.
    subtree_max: u32,
}

impl Item for FreeRange {
    const AUGMENTED: bool = true;
    #[inline]
    fn key(&self) -> u32 {
        self.start
    }
    #[inline]
    fn aug(&self) -> u32 {
        self.subtree_max
    }
    #[inline]
    fn set_aug(&mut self, children: u32) {
        self.subtree_max = (self.end - self.start).max(children);
    }
}

/// A busy area: the item of a busy-tree node, keyed by `va_start`.
#[derive(Default)]
struct BusyArea<T> {
    /// First address (`va_start`).
    start: u32,
    /// End of the reservation, guard page included.
    end: u32,
    private: T,
}

impl<T: Default> Item for BusyArea<T> {
    #[inline]
    fn key(&self) -> u32 {
        self.start
    }
}

/// Tag of a search-path entry whose node was visited (its right subtree
/// is being searched); node indices use only the low bits.
const VISITED: u32 = 1 << 31;
const _: () = assert!(VISITED & IDX_MASK == 0);

/// Free ranges an exact lowest-fit search for an alignment above a page
/// may visit before it switches to Linux's `size + align - 1` pruning.
/// Past this many big-enough-but-misaligned ranges the exact answer costs
/// O(n) while the pruned one stays O(log n); below it the exact answer is
/// cheap and never wastes window to alignment.
pub const EXACT_ALIGN_BUDGET: u32 = 16;

/// The largest area, guard page included, the size-class pools can hold:
/// 128 pages (512 KiB). Linux 6.9's `vmap_pool` stops at 100 pages
/// (`MAX_VA_SIZE_PAGES`); 128 also covers a 100-page area with its guard
/// page (test_vmalloc's `long_busy_list` size) and every power-of-two size
/// up to 512 KiB. The list heads cost `POOL_MAX_PAGES × 4` bytes,
/// allocated when the first area is pooled; each pooled area 12 bytes.
pub const POOL_MAX_PAGES: u32 = 128;

/// Pooled areas an aligned request (above a page) looks at in its size
/// class before it gives up and searches the free tree: a bounded scan,
/// so a pool full of misaligned areas cannot make an allocation O(n).
pub const POOL_ALIGN_SCAN: u32 = 8;

/// `next` of a pool entry that was handed out (it stays in the arena
/// until the next purge clears it).
const POOL_TAKEN: u32 = u32::MAX;
const _: () = assert!(POOL_TAKEN != NIL);

/// One pooled area; `next` links its size class's list.
#[derive(Clone, Copy, Debug)]
struct PoolEntry {
    start: u32,
    end: u32,
    next: u32,
}

/// The size-class pools (Linux 6.9 `vmap_pool`): purged areas of up to
/// `max_pages` pages kept whole, one list per exact size in ascending
/// address order, so the next allocation of that size takes the lowest
/// one in O(1) instead of searching and cutting the free tree. Every
/// entry comes from one purge: the next purge returns whatever was not
/// reused to the free tree before pooling its own areas, so the pools
/// never hold more than the pages of the last purge (about
/// `lazy_max_pages`).
struct Pools {
    /// 0: off.
    max_pages: u32,
    /// Per size class (`pages - 1`): the first (lowest) entry.
    heads: Vec<u32>,
    /// Size classes that had an entry since the last clear.
    dirty: u128,
    /// Every entry pooled since the last clear (handed-out ones marked
    /// [`POOL_TAKEN`]), in the order they were pooled.
    entries: Vec<PoolEntry>,
    areas: u32,
    pages: u32,
}

const _: () = assert!(POOL_MAX_PAGES <= 128, "class bitmap is a u128");

impl Pools {
    const fn new() -> Self {
        Self {
            max_pages: 0,
            heads: Vec::new(),
            dirty: 0,
            entries: Vec::new(),
            areas: 0,
            pages: 0,
        }
    }

    /// Pools `[start, end)` if its size is pooled; false otherwise. The
    /// caller pushes in descending address order, so each list ascends.
    fn push(&mut self, start: u32, end: u32) -> bool {
        let pages = (end - start) >> PAGE_SHIFT;
        if pages == 0 || pages > self.max_pages {
            return false;
        }
        if self.heads.is_empty() {
            self.heads = alloc::vec![NIL; POOL_MAX_PAGES as usize];
        }
        let c = (pages - 1) as usize;
        let i = self.entries.len() as u32;
        self.entries.push(PoolEntry {
            start,
            end,
            next: self.heads[c],
        });
        self.heads[c] = i;
        self.dirty |= 1 << c;
        self.areas += 1;
        self.pages += pages;
        true
    }

    /// Takes the lowest pooled area of exactly `size` bytes (a page
    /// multiple) that starts at a multiple of `align` among the first
    /// [`POOL_ALIGN_SCAN`] of its class.
    #[inline]
    fn pop(&mut self, size: u32, align: u32) -> Option<u32> {
        let pages = size >> PAGE_SHIFT;
        if pages > self.max_pages {
            return None;
        }
        let c = (pages - 1) as usize;
        let mut prev = NIL;
        let mut i = self.heads[c];
        let mut scan = POOL_ALIGN_SCAN;
        while i != NIL {
            let e = self.entries[i as usize];
            if e.start & (align - 1) == 0 {
                if prev == NIL {
                    self.heads[c] = e.next;
                } else {
                    self.entries[prev as usize].next = e.next;
                }
                self.entries[i as usize].next = POOL_TAKEN;
                self.areas -= 1;
                self.pages -= pages;
                return Some(e.start);
            }
            scan -= 1;
            if scan == 0 {
                return None;
            }
            prev = i;
            i = e.next;
        }
        None
    }

    /// Forgets every entry (the caller returned them to the tree).
    fn clear(&mut self) {
        let mut dirty = self.dirty;
        while dirty != 0 {
            let c = dirty.trailing_zeros() as usize;
            dirty &= dirty - 1;
            self.heads[c] = NIL;
        }
        self.dirty = 0;
        self.entries.clear();
        self.areas = 0;
        self.pages = 0;
    }

    fn metadata_bytes(&self) -> usize {
        self.heads.capacity() * 4 + self.entries.capacity() * core::mem::size_of::<PoolEntry>()
    }

    /// Every list holds entries of its class in ascending order, each
    /// linked once; counters match.
    fn check(&self) -> Result<(), &'static str> {
        let (mut areas, mut pages) = (0u32, 0u32);
        let mut seen = 0usize;
        for (c, &head) in self.heads.iter().enumerate() {
            let mut i = head;
            let mut last = None;
            while i != NIL {
                let e = self
                    .entries
                    .get(i as usize)
                    .ok_or("vmap: pool link out of range")?;
                let n = (e.end - e.start) >> PAGE_SHIFT;
                if n as usize != c + 1 {
                    return Err("vmap: pooled area in the wrong class");
                }
                if last.is_some_and(|l| l >= e.start) {
                    return Err("vmap: pool list not ascending");
                }
                last = Some(e.start);
                seen += 1;
                if seen > self.entries.len() {
                    return Err("vmap: pool list loops");
                }
                areas += 1;
                pages += n;
                i = e.next;
            }
        }
        let linked = self.entries.iter().filter(|e| e.next != POOL_TAKEN).count();
        if linked != seen || areas != self.areas || pages != self.pages {
            return Err("vmap: pool counters mismatch");
        }
        if self.max_pages == 0 && self.areas != 0 {
            return Err("vmap: areas pooled with the pools off");
        }
        Ok(())
    }
}

/// The busy-tree node of a live area ([`Vmap::alloc_area`]). Nodes never
/// move while their area lives (rebalancing relinks them), so the slot
/// stays valid until the area is freed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AreaSlot(u32);

/// A borrowed view of one busy area.
#[derive(Debug)]
pub struct AreaRef<'a, T> {
    /// First address.
    pub va_start: VirtAddr,
    /// End of the reservation (guard page included, as Linux's `va_end`).
    pub va_end: VirtAddr,
    /// The payload given at allocation.
    pub private: &'a T,
}

/// Counters and sizes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmapStats {
    /// Live areas.
    pub busy_areas: u32,
    /// Bytes reserved by live areas (guard pages included).
    pub busy_bytes: u32,
    /// Free ranges in the free tree.
    pub free_ranges: u32,
    /// Free bytes: the free tree plus the pooled areas.
    pub free_bytes: u32,
    /// Largest free range (free tree or pooled area).
    pub largest_free: u32,
    /// Areas in the size-class pools (free, kept for reuse whole).
    pub pooled_areas: u32,
    /// Pages in the size-class pools (guard pages included).
    pub pooled_pages: u32,
    /// Areas on the purge list.
    pub lazy_areas: u32,
    /// Pages on the purge list.
    pub lazy_pages: u32,
    /// Purges done (each one batched flush).
    pub purges: u32,
    /// Successful allocations.
    pub allocs: u64,
    /// Frees.
    pub frees: u64,
    /// Allocations that needed the purge-and-retry.
    pub retries: u32,
}

/// What one purge did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PurgeStats {
    /// Areas returned to the free tree.
    pub areas: u32,
    /// Pages returned (guard pages included).
    pub pages: u32,
}

/// The vmalloc-window allocator; `T` is the per-area payload.
pub struct Vmap<T> {
    cfg: VmapConfig,
    free: Avl<FreeRange>,
    busy: Avl<BusyArea<T>>,
    purge_list: Vec<VaRange>,
    lazy_pages: u32,
    purges: u32,
    allocs: u64,
    frees: u64,
    retries: u32,
    exact_align_budget: u32,
    /// The size-class cache of purged areas (off unless enabled).
    pools: Pools,
    /// Coalesced ranges of the current purge's flush batch (reused).
    flush_buf: Vec<VaRange>,
    /// The root-path buffer of the hot operations (allocation, free),
    /// reused so they need not initialise ~200 bytes of stack each time.
    /// Taken out while in use; `None` only until first use.
    path: Option<Box<[u32; MAX_DEPTH]>>,
}

impl<T: Default> Vmap<T> {
    /// A window with every page free.
    pub fn new(cfg: VmapConfig) -> Result<Self, VmapError> {
        if !cfg.start.is_page_aligned() || !cfg.end.is_page_aligned() || cfg.start >= cfg.end {
            return Err(VmapError::InvalidRange);
        }
        let mut v = Self {
            cfg,
            free: Avl::new(),
            busy: Avl::new(),
            purge_list: Vec::new(),
            lazy_pages: 0,
            purges: 0,
            allocs: 0,
            frees: 0,
            retries: 0,
            exact_align_budget: EXACT_ALIGN_BUDGET,
            pools: Pools::new(),
            flush_buf: Vec::new(),
            path: None,
        };
        v.free.insert(FreeRange {
            start: cfg.start.0,
            end: cfg.end.0,
            subtree_max: 0,
        });
        Ok(v)
    }

    /// The configuration.
    pub fn config(&self) -> &VmapConfig {
        &self.cfg
    }

    /// Sets how many free ranges an aligned (above a page) lowest-fit
    /// search may visit before it switches to Linux's `size + align - 1`
    /// pruning (default [`EXACT_ALIGN_BUDGET`]; `u32::MAX`: always exact,
    /// 1: prune at once). For tests and experiments.
    #[doc(hidden)]
    pub fn set_exact_align_budget(&mut self, budget: u32) {
        self.exact_align_budget = budget.max(1);
    }

    /// Enables the size-class pools for areas of up to `pages` pages
    /// (guard page included, at most [`POOL_MAX_PAGES`]); 0 disables them
    /// (the default: every allocation is the exact lowest fit). Areas
    /// already pooled go back to the free tree first.
    pub fn set_pool_max_pages(&mut self, pages: u32) {
        self.drain_pools();
        self.pools.max_pages = pages.min(POOL_MAX_PAGES);
    }

    /// The largest pooled area size in pages (0: pools off).
    pub fn pool_max_pages(&self) -> u32 {
        self.pools.max_pages
    }

    /// Returns every pooled area to the free tree (merging); returns how
    /// many there were.
    pub fn drain_pools(&mut self) -> u32 {
        let n = self.pools.areas;
        if n == 0 {
            return 0;
        }
        let entries = core::mem::take(&mut self.pools.entries);
        for e in &entries {
            if e.next != POOL_TAKEN {
                self.merge_or_add(e.start, e.end);
            }
        }
        self.pools.entries = entries;
        self.pools.clear();
        n
    }

    /// Pooled areas (free, cached for reuse at their exact size), in the
    /// order they were pooled.
    pub fn pooled_ranges(&self) -> impl Iterator<Item = VaRange> + '_ {
        self.pools
            .entries
            .iter()
            .filter(|e| e.next != POOL_TAKEN)
            .map(|e| VaRange {
                start: VirtAddr(e.start),
                end: VirtAddr(e.end),
            })
    }

    /// Reserves a range for `req` and records `private` with it.
    ///
    /// Returns the reservation `[va_start, va_end)` (guard page included).
    /// When nothing fits, purges the lazily freed ranges once (calling
    /// `flush`) and retries.
    pub fn alloc<F: FnMut(&Flush<'_>)>(
        &mut self,
        req: &AllocRequest,
        private: T,
        flush: &mut F,
    ) -> Result<VaRange, VmapError> {
        self.alloc_area(req, private, flush).map(|(range, _)| range)
    }

    /// [`Vmap::alloc`], also returning the new area's [`AreaSlot`], so the
    /// caller can fill in its payload later without a lookup.
    pub fn alloc_area<F: FnMut(&Flush<'_>)>(
        &mut self,
        req: &AllocRequest,
        private: T,
        flush: &mut F,
    ) -> Result<(VaRange, AreaSlot), VmapError> {
        if req.size == 0 || req.size & (PAGE_SIZE - 1) != 0 {
            return Err(VmapError::InvalidSize);
        }
        if req.align == 0 || !req.align.is_power_of_two() {
            return Err(VmapError::BadAlignment);
        }
        let align = req.align.max(PAGE_SIZE);
        let size = if req.guard {
            req.size
                .checked_add(PAGE_SIZE)
                .ok_or(VmapError::InvalidSize)?
        } else {
            req.size
        };
        if !req.vstart.is_page_aligned() {
            return Err(VmapError::InvalidRange);
        }
        let vstart = req.vstart.0.max(self.cfg.start.0);
        // A non-aligned `vend` only shortens the range to a page boundary.
        let vend = req.vend.page_align_down().0.min(self.cfg.end.0);
        if vstart >= vend {
            return Err(VmapError::InvalidRange);
        }
        if size > vend - vstart {
            return Err(VmapError::NoVirtualSpace);
        }
        let mut path = self.take_path();
        // The size-class pools serve whole-window requests only (as
        // Linux's vmap_pool), so a range-restricted request always gets
        // its exact lowest fit.
        let pooled =
            if self.pools.areas != 0 && vstart == self.cfg.start.0 && vend == self.cfg.end.0 {
                self.pools.pop(size, align)
            } else {
                None
            };
        let addr = if let Some(addr) = pooled {
            addr
        } else {
            let mut hit = self.find_vmap_lowest_match(size, align, vstart, vend, &mut path);
            if hit.is_none() && self.pools.areas != 0 {
                // The pools hold the space: give it all back and retry
                // (Linux's full decay) before flushing anything.
                self.drain_pools();
                hit = self.find_vmap_lowest_match(size, align, vstart, vend, &mut path);
            }
            if hit.is_none() && !self.purge_list.is_empty() {
                self.retries = self.retries.saturating_add(1);
                // Space is short: everything purged goes to the tree.
                self.purge_inner(flush, false);
                hit = self.find_vmap_lowest_match(size, align, vstart, vend, &mut path);
            }
            let Some((node, addr, depth)) = hit else {
                self.path = Some(path);
                return Err(VmapError::NoVirtualSpace);
            };
            self.va_clip(node, addr, size, &mut path, depth);
            addr
        };
        let slot = self.busy.insert_with(
            BusyArea {
                start: addr,
                end: addr + size,
                private,
            },
            &mut path,
        );
        self.path = Some(path);
        self.allocs += 1;
        let range = VaRange {
            start: VirtAddr(addr),
            end: VirtAddr(addr + size),
        };
        Ok((range, AreaSlot(slot)))
    }

    /// The payload of the live area `slot` names ([`Vmap::alloc_area`]).
    /// The slot must not outlive its area: once the area is freed it may
    /// name another one (or a recycled, empty node).
    #[inline]
    pub fn payload_mut(&mut self, slot: AreaSlot) -> &mut T {
        &mut self.busy.item_mut(slot.0).private
    }

    /// The reusable path buffer (put it back in `self.path` when done).
    #[inline]
    fn take_path(&mut self) -> Box<[u32; MAX_DEPTH]> {
        self.path
            .take()
            .unwrap_or_else(|| Box::new([NIL; MAX_DEPTH]))
    }

    /// Lowest-address fit: `(free node, address)`, with `a % align == 0`
    /// and `[a, a+size)` inside one free range and inside `[vstart, vend)`.
    ///
    /// For page alignment this is exact and O(log n): the descent prunes
    /// subtrees whose largest range is below `size`, and any range of at
    /// least `size` bytes holds a page-aligned fit. For a larger alignment
    /// a big-enough range may still miss the aligned fit, so the exact
    /// search can visit many ranges; after [`EXACT_ALIGN_BUDGET`] visits it
    /// switches to Linux's rule — prune subtrees on `size + align - 1`,
    /// which any range that long satisfies at some aligned address — so the
    /// cost stays O(log n). The pruned walk still checks each node it
    /// passes with the exact size (as Linux's `is_within_this_va` does), so
    /// it returns a fit at or below the lowest range of `size + align - 1`
    /// bytes, possibly above the lowest aligned fit: the trade-off is some
    /// window left to alignment gaps for a bounded search. If the pruned
    /// walk finds nothing, an unbounded exact search runs, so a request
    /// fails only when no aligned fit exists at all.
    #[inline]
    fn find_vmap_lowest_match(
        &self,
        size: u32,
        align: u32,
        vstart: u32,
        vend: u32,
        path: &mut [u32; MAX_DEPTH],
    ) -> Option<(u32, u32, usize)> {
        if align <= PAGE_SIZE {
            if let Some(hit) = self.lowest_fit_descent(size, vstart, vend, path) {
                return hit;
            }
        }
        self.find_lowest_match_walk(size, align, vstart, vend, path)
    }

    /// [`Vmap::find_vmap_lowest_match`] beyond the page-aligned descent:
    /// out of line, so the common path stays a short inlined loop without
    /// this walk's register pressure (callgrind: ~25 instructions per
    /// allocation less on `fix_size`).
    #[inline(never)]
    fn find_lowest_match_walk(
        &self,
        size: u32,
        align: u32,
        vstart: u32,
        vend: u32,
        path: &mut [u32; MAX_DEPTH],
    ) -> Option<(u32, u32, usize)> {
        if align <= PAGE_SIZE {
            return self
                .lowest_fit(size, size, align, vstart, vend, u32::MAX, path)
                .ok();
        }
        match self.lowest_fit(
            size,
            size,
            align,
            vstart,
            vend,
            self.exact_align_budget,
            path,
        ) {
            Ok(hit) => Some(hit),
            Err(false) => None,
            Err(true) => {
                let pruned = size.checked_add(align - 1).and_then(|length| {
                    self.lowest_fit(size, length, align, vstart, vend, u32::MAX, path)
                        .ok()
                });
                pruned.or_else(|| {
                    self.lowest_fit(size, size, align, vstart, vend, u32::MAX, path)
                        .ok()
                })
            }
        }
    }

    /// The common case of [`Vmap::find_vmap_lowest_match`] — page
    /// alignment — as one root-to-node descent without backtracking
    /// (Linux's loop when nothing clips the request): go left while the
    /// left subtree holds a big-enough range above `vstart`, else take this
    /// range if it fits, else go right. Everything left of the node it
    /// returns is too small or below `vstart`, so the answer is the exact
    /// lowest fit. `None` when the descent would have to backtrack (a
    /// big-enough range clipped by `vstart` or `vend`): the caller then
    /// runs the general walk.
    #[inline]
    fn lowest_fit_descent(
        &self,
        size: u32,
        vstart: u32,
        vend: u32,
        path: &mut [u32; MAX_DEPTH],
    ) -> Option<Option<(u32, u32, usize)>> {
        let mut at = self.free.root;
        if self.free.aug(at) < size {
            return Some(None);
        }
        let mut d = 0;
        loop {
            let node = self.free.node(at);
            path[d] = at;
            d += 1;
            let FreeRange { start, end, .. } = node.item;
            let l = node.left();
            if start > vstart && self.free.aug(l) >= size {
                at = l;
                continue;
            }
            // Page-aligned: vstart and every range boundary are.
            let lo = start.max(vstart);
            let hi = end.min(vend);
            if lo < hi && hi - lo >= size {
                return Some(Some((at, lo, d)));
            }
            let r = node.right();
            if end < vend && self.free.aug(r) >= size {
                at = r;
                continue;
            }
            return None;
        }
    }

    /// In-order walk of the free ranges that may hold `size` bytes at an
    /// `align`-aligned address in `[vstart, vend)`, skipping subtrees whose
    /// largest range is below `length` (`>= size`). On success returns the
    /// node, the address and the depth of the node's root path, left in
    /// `path` (entries tagged with [`VISITED`]). `Err(true)`: gave up after
    /// `budget` visited ranges; `Err(false)`: no fit.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    fn lowest_fit(
        &self,
        size: u32,
        length: u32,
        align: u32,
        vstart: u32,
        vend: u32,
        mut budget: u32,
        path: &mut [u32; MAX_DEPTH],
    ) -> Result<(u32, u32, usize), bool> {
        let mut sp = 0usize;
        let mut at = self.free.root;
        loop {
            // Down the left spine while ranges there may start above vstart.
            while at != NIL {
                let node = self.free.node(at);
                if node.item.subtree_max < length {
                    break;
                }
                path[sp] = at;
                sp += 1;
                if node.item.start > vstart {
                    at = node.left();
                } else {
                    // Everything on the left ends at or below vstart.
                    break;
                }
            }
            // The deepest node not yet visited (visited ones are ancestors
            // whose right subtree is done).
            while sp > 0 && path[sp - 1] & VISITED != 0 {
                sp -= 1;
            }
            if sp == 0 {
                return Err(false);
            }
            let n = path[sp - 1];
            path[sp - 1] = n | VISITED;
            let node = self.free.node(n);
            let FreeRange { start, end, .. } = node.item;
            if start >= vend {
                return Err(false);
            }
            let lo = start.max(vstart);
            let hi = end.min(vend);
            if let Some(a) = align_up(lo, align) {
                if a < hi && hi - a >= size {
                    return Ok((n, a, sp));
                }
            }
            if end >= vend {
                return Err(false);
            }
            budget -= 1;
            if budget == 0 {
                return Err(true);
            }
            at = node.right();
        }
    }

    /// Cuts `[a, a+size)` out of free node `n` (Linux `va_clip`);
    /// `path[..depth]` is `n`'s root path (ending with `n`, entries tagged
    /// by the search), so no second descent is needed.
    fn va_clip(&mut self, n: u32, a: u32, size: u32, path: &mut [u32; MAX_DEPTH], depth: usize) {
        let last = depth - 1;
        let path_n = &path[..depth];
        let FreeRange { start, end, .. } = *self.free.item(n);
        match classify_fit(start, end, a, size) {
            // |<---- alloc ----->|  → the whole node goes.
            FitType::Full => {
                for e in &mut path[..last] {
                    *e &= IDX_MASK;
                }
                self.free.remove_at(path, last, n);
            }
            // |<alloc>|  free   |  → va_start moves up; order is kept
            // because the new start stays inside the old range.
            FitType::LeftEdge => {
                self.free.item_mut(n).start = a + size;
                self.free.fix_up(path_n, last);
            }
            // |  free   |<alloc>|  → va_end moves down.
            FitType::RightEdge => {
                self.free.item_mut(n).end = a;
                self.free.fix_up(path_n, last);
            }
            // | L |<alloc>| R |  → the node keeps L, R is a new node.
            FitType::NoEdge => {
                self.free.item_mut(n).end = a;
                self.free.fix_up(path_n, last);
                // The path is spent: the insertion reuses its buffer.
                self.free.insert_with(
                    FreeRange {
                        start: a + size,
                        end,
                        subtree_max: 0,
                    },
                    path,
                );
            }
        }
    }

    /// Returns `[start, end)` to the free tree, merging it with the free
    /// ranges that touch it (Linux `merge_or_add_vmap_area`).
    fn merge_or_add(&mut self, start: u32, end: u32) {
        // One descent: `start` is not a free range's key, and its in-order
        // neighbours (the ranges just below and just above) lie on its
        // search path.
        let mut path = [NIL; MAX_DEPTH];
        let (d, pi, si) = self.free.search_gap(start, &mut path);
        let prev = if pi == usize::MAX { NIL } else { path[pi] };
        let next = if si == usize::MAX { NIL } else { path[si] };
        let merge_prev = prev != NIL && self.free.item(prev).end == start;
        let merge_next = next != NIL && self.free.item(next).start == end;
        match (merge_prev, merge_next) {
            (true, true) => {
                // | prev |new| next |  → prev swallows both.
                let next_end = self.free.item(next).end;
                self.free.remove(end);
                let p = self.free.item_mut(prev);
                p.end = next_end;
                let key = p.start;
                self.free.fix_path(key);
            }
            (true, false) => {
                // | prev |new|  → prev's va_end moves up.
                self.free.item_mut(prev).end = end;
                self.free.fix_up(&path, pi);
            }
            (false, true) => {
                // |new| next |  → next's va_start moves down (no neighbour
                // lies in between, so the order holds).
                self.free.item_mut(next).start = start;
                self.free.fix_up(&path, si);
            }
            (false, false) => {
                self.free.insert_at_gap(
                    FreeRange {
                        start,
                        end,
                        subtree_max: 0,
                    },
                    &path,
                    d,
                );
            }
        }
    }

    /// Frees the area starting at `va_start` and returns its payload. The
    /// range waits on the purge list; when the lazy pages pass the
    /// threshold, every pending range is flushed (one `flush` call) and
    /// returned to the free tree.
    pub fn free<F: FnMut(&Flush<'_>)>(
        &mut self,
        va_start: VirtAddr,
        flush: &mut F,
    ) -> Result<T, VmapError> {
        let area = self.take(va_start)?;
        if self.lazy_pages > self.cfg.lazy_max_pages {
            self.purge(flush);
        }
        Ok(area)
    }

    /// Returns a range none of whose pages was ever mapped straight to the
    /// free tree (no TLB can hold it, so it skips the purge list): the undo
    /// of an allocation that failed before mapping anything.
    pub fn free_unmapped(&mut self, va_start: VirtAddr) -> Result<T, VmapError> {
        if !va_start.is_page_aligned() {
            return Err(VmapError::UnalignedAddress);
        }
        let mut path = self.take_path();
        let area = self.busy.remove_with(va_start.0, &mut path);
        self.path = Some(path);
        let area = area.ok_or(VmapError::NotFound)?;
        self.merge_or_add(va_start.0, area.end);
        Ok(area.private)
    }

    /// Like [`Vmap::free`] but never purges (the caller batches the purge).
    pub fn free_noflush(&mut self, va_start: VirtAddr) -> Result<T, VmapError> {
        self.take(va_start)
    }

    /// [`Vmap::free_noflush`] of the area starting exactly at `va_start`,
    /// if `check` accepts it: one descent finds the area, `check` sees it
    /// (start, end, payload) and takes what it needs from the payload, and
    /// only on `Ok` is the area removed, along the path that descent
    /// recorded, its payload dropped. `None` when no area starts at
    /// `va_start` (nothing changes); `Some(Err(_))` when `check` refused it
    /// (nothing changes either).
    pub fn take_checked<R, E>(
        &mut self,
        va_start: VirtAddr,
        check: impl FnOnce(AreaRef<'_, T>) -> Result<R, E>,
    ) -> Option<Result<R, E>> {
        if !va_start.is_page_aligned() {
            return None;
        }
        let key = va_start.0;
        let mut path = self.take_path();
        let mut d = 0;
        let mut at = self.busy.root;
        while at != NIL {
            let node = self.busy.node(at);
            let k = node.item.key();
            if key == k {
                break;
            }
            path[d] = at;
            d += 1;
            at = if key < k { node.left() } else { node.right() };
        }
        if at == NIL {
            self.path = Some(path);
            return None;
        }
        let a = self.busy.item(at);
        let end = a.end;
        let verdict = check(AreaRef {
            va_start,
            va_end: VirtAddr(end),
            private: &a.private,
        });
        let r = match verdict {
            Ok(r) => r,
            Err(e) => {
                self.path = Some(path);
                return Some(Err(e));
            }
        };
        drop(self.busy.remove_at(&mut path, d, at));
        self.path = Some(path);
        let range = VaRange {
            start: va_start,
            end: VirtAddr(end),
        };
        self.lazy_pages = self.lazy_pages.saturating_add(range.pages());
        self.purge_list.push(range);
        self.frees += 1;
        Some(Ok(r))
    }

    fn take(&mut self, va_start: VirtAddr) -> Result<T, VmapError> {
        if !va_start.is_page_aligned() {
            return Err(VmapError::UnalignedAddress);
        }
        // One descent: the removal hands back the item with its end.
        let mut path = self.take_path();
        let area = self.busy.remove_with(va_start.0, &mut path);
        self.path = Some(path);
        let area = area.ok_or(VmapError::NotFound)?;
        let range = VaRange {
            start: va_start,
            end: VirtAddr(area.end),
        };
        self.lazy_pages = self.lazy_pages.saturating_add(range.pages());
        self.purge_list.push(range);
        self.frees += 1;
        Ok(area.private)
    }

    /// Whether lazily freed pages passed the threshold.
    pub fn purge_due(&self) -> bool {
        self.lazy_pages > self.cfg.lazy_max_pages
    }

    /// Flushes every lazily freed range in one batch and returns them to
    /// the free tree (Linux `__purge_vmap_area_lazy`). Does not call
    /// `flush` when nothing is pending.
    ///
    /// With the size-class pools on, the areas the previous purge pooled
    /// and nothing reused since go back to the free tree first (the pools
    /// never hold more than one purge's worth), then each purged area of
    /// up to [`Vmap::pool_max_pages`] pages is pooled whole instead of
    /// merged, for the next allocation of its exact size.
    pub fn purge<F: FnMut(&Flush<'_>)>(&mut self, flush: &mut F) -> PurgeStats {
        self.purge_inner(flush, true)
    }

    fn purge_inner<F: FnMut(&Flush<'_>)>(&mut self, flush: &mut F, populate: bool) -> PurgeStats {
        if self.purge_list.is_empty() {
            return PurgeStats::default();
        }
        let areas = self.purge_list.len() as u32;
        let pages = self.lazy_pages;
        // Sorted and coalesced: fewer, larger flush ranges and merges.
        self.purge_list.sort_unstable_by_key(|r| r.start);
        if !(populate && self.pools.max_pages != 0) {
            // Coalesced in place: the areas go back to the tree as merged
            // runs.
            let mut w = 0usize;
            for i in 1..self.purge_list.len() {
                let r = self.purge_list[i];
                if self.purge_list[w].end == r.start {
                    self.purge_list[w].end = r.end;
                } else {
                    w += 1;
                    self.purge_list[w] = r;
                }
            }
            self.purge_list.truncate(w + 1);
            let batch = Flush {
                ranges: &self.purge_list,
                start: self.purge_list[0].start,
                end: self.purge_list[w].end,
                pages,
            };
            flush(&batch);
            self.drain_pools();
            let list = core::mem::take(&mut self.purge_list);
            for r in &list {
                self.merge_or_add(r.start.0, r.end.0);
            }
            // Keep the list's buffer: the next lazy frees reuse it.
            self.purge_list = list;
            self.purge_list.clear();
        } else {
            // The pools need each area whole: the batch is coalesced into
            // a buffer of its own.
            let mut batch_ranges = core::mem::take(&mut self.flush_buf);
            batch_ranges.clear();
            for &r in &self.purge_list {
                match batch_ranges.last_mut() {
                    Some(last) if last.end == r.start => last.end = r.end,
                    _ => batch_ranges.push(r),
                }
            }
            let batch = Flush {
                ranges: &batch_ranges,
                start: batch_ranges[0].start,
                end: batch_ranges[batch_ranges.len() - 1].end,
                pages,
            };
            flush(&batch);
            self.flush_buf = batch_ranges;
            // Unused pooled areas of the previous period decay to the tree.
            self.drain_pools();
            let list = core::mem::take(&mut self.purge_list);
            // Highest address first: every class list (LIFO) then runs in
            // ascending order from its head. Runs of unpooled areas still
            // merge as one range.
            self.pools.entries.reserve(list.len());
            let mut run: Option<(u32, u32)> = None;
            for r in list.iter().rev() {
                let (s, e) = (r.start.0, r.end.0);
                if self.pools.push(s, e) {
                    continue;
                }
                run = match run {
                    Some((rs, re)) if rs == e => Some((s, re)),
                    Some((rs, re)) => {
                        self.merge_or_add(rs, re);
                        Some((s, e))
                    }
                    None => Some((s, e)),
                };
            }
            if let Some((rs, re)) = run {
                self.merge_or_add(rs, re);
            }
            self.purge_list = list;
            self.purge_list.clear();
        }
        self.lazy_pages = 0;
        self.purges = self.purges.saturating_add(1);
        PurgeStats { areas, pages }
    }

    /// The busy area holding `addr` (its guard page included).
    pub fn find(&self, addr: VirtAddr) -> Option<AreaRef<'_, T>> {
        let n = self.busy.floor(addr.0);
        if n == NIL {
            return None;
        }
        let a = self.busy.item(n);
        (addr.0 < a.end).then_some(AreaRef {
            va_start: VirtAddr(a.start),
            va_end: VirtAddr(a.end),
            private: &a.private,
        })
    }

    /// The payload of the area starting exactly at `va_start`.
    pub fn get_mut(&mut self, va_start: VirtAddr) -> Option<&mut T> {
        let n = self.busy.get(va_start.0);
        if n == NIL {
            return None;
        }
        Some(&mut self.busy.item_mut(n).private)
    }

    /// Busy areas in address order.
    pub fn iter(&self) -> impl Iterator<Item = AreaRef<'_, T>> + '_ {
        self.busy.iter().map(move |n| {
            let a = self.busy.item(n);
            AreaRef {
                va_start: VirtAddr(a.start),
                va_end: VirtAddr(a.end),
                private: &a.private,
            }
        })
    }

    /// Free ranges in address order.
    pub fn free_ranges(&self) -> impl Iterator<Item = VaRange> + '_ {
        self.free.iter().map(move |n| {
            let f = self.free.item(n);
            VaRange {
                start: VirtAddr(f.start),
                end: VirtAddr(f.end),
            }
        })
    }

    /// Lazily freed ranges waiting for the next purge (unordered).
    pub fn lazy_ranges(&self) -> &[VaRange] {
        &self.purge_list
    }

    /// Number of live areas.
    pub fn len(&self) -> u32 {
        self.busy.len()
    }

    /// Whether no area is live.
    pub fn is_empty(&self) -> bool {
        self.busy.len() == 0
    }

    /// Counters and sizes (O(n) for the byte totals).
    pub fn stats(&self) -> VmapStats {
        let busy_bytes = self
            .iter()
            .fold(0u32, |acc, a| acc.saturating_add(a.va_end.0 - a.va_start.0));
        let free_bytes = self
            .free_ranges()
            .fold(0u32, |acc, r| acc.saturating_add(r.size()));
        let largest_pooled = self.pooled_ranges().map(|r| r.size()).max().unwrap_or(0);
        VmapStats {
            busy_areas: self.len(),
            busy_bytes,
            free_ranges: self.free.len(),
            free_bytes: free_bytes.saturating_add(self.pools.pages << PAGE_SHIFT),
            largest_free: self.free.aug(self.free.root).max(largest_pooled),
            pooled_areas: self.pools.areas,
            pooled_pages: self.pools.pages,
            lazy_areas: self.purge_list.len() as u32,
            lazy_pages: self.lazy_pages,
            purges: self.purges,
            allocs: self.allocs,
            frees: self.frees,
            retries: self.retries,
        }
    }

    /// Heap bytes held by the trees and the purge list (arena capacity).
    pub fn metadata_bytes(&self) -> usize {
        self.free.capacity() * Self::free_node_size()
            + self.busy.capacity() * Self::area_node_size()
            + (self.purge_list.capacity() + self.flush_buf.capacity())
                * core::mem::size_of::<VaRange>()
            + self.pools.metadata_bytes()
    }

    /// Bytes of one busy-tree entry (`va_start`, `va_end` and payload),
    /// without its two tree links.
    pub const fn busy_entry_size() -> usize {
        core::mem::size_of::<BusyArea<T>>()
    }

    /// Bytes of one busy-tree node: the entry plus 8 bytes of links
    /// (two `u32` words, the WAVL rank packed into one of them). This is
    /// what one live area costs in the arena; the link part is the same on
    /// every target, so on the 32-bit target it is the payload's 32-bit
    /// size + 16.
    pub const fn area_node_size() -> usize {
        core::mem::size_of::<avl::Node<BusyArea<T>>>()
    }

    /// Bytes of one free-tree node (20 on every target).
    pub const fn free_node_size() -> usize {
        core::mem::size_of::<avl::Node<FreeRange>>()
    }

    /// Checks every structural invariant: both trees ordered and balanced,
    /// subtree maxima exact, free ranges non-empty and never adjacent, and
    /// free ∪ busy ∪ lazy tiling the window exactly with no overlap.
    pub fn check_invariants(&self) -> Result<(), &'static str> {
        self.free.check()?;
        self.busy.check()?;
        self.check_subtree_max(self.free.root)?;
        let mut all: Vec<(u32, u32, u8)> = Vec::with_capacity(
            (self.free.len() + self.busy.len()) as usize + self.purge_list.len(),
        );
        let mut prev_free_end = None;
        for r in self.free_ranges() {
            if r.start >= r.end {
                return Err("vmap: empty free range");
            }
            if prev_free_end == Some(r.start.0) {
                return Err("vmap: adjacent free ranges not merged");
            }
            prev_free_end = Some(r.end.0);
            all.push((r.start.0, r.end.0, 0));
        }
        for a in self.iter() {
            if a.va_start >= a.va_end {
                return Err("vmap: empty busy area");
            }
            all.push((a.va_start.0, a.va_end.0, 1));
        }
        self.pools.check()?;
        for r in self.pooled_ranges() {
            all.push((r.start.0, r.end.0, 3));
        }
        let mut lazy = 0u32;
        for r in &self.purge_list {
            if r.start >= r.end {
                return Err("vmap: empty lazy range");
            }
            lazy = lazy.saturating_add(r.pages());
            all.push((r.start.0, r.end.0, 2));
        }
        if lazy != self.lazy_pages {
            return Err("vmap: lazy page count mismatch");
        }
        all.sort_unstable();
        let mut at = self.cfg.start.0;
        for &(s, e, _) in &all {
            if s != at {
                return Err(if s < at {
                    "vmap: ranges overlap"
                } else {
                    "vmap: window has a hole"
                });
            }
            if s & (PAGE_SIZE - 1) != 0 || e & (PAGE_SIZE - 1) != 0 {
                return Err("vmap: unaligned range");
            }
            at = e;
        }
        if at != self.cfg.end.0 {
            return Err("vmap: window not covered to its end");
        }
        Ok(())
    }

    fn check_subtree_max(&self, n: u32) -> Result<u32, &'static str> {
        if n == NIL {
            return Ok(0);
        }
        let node = self.free.node(n);
        let l = self.check_subtree_max(node.left())?;
        let r = self.check_subtree_max(node.right())?;
        let m = (node.item.end - node.item.start).max(l).max(r);
        if m != node.item.subtree_max {
            return Err("vmap: stale subtree_max");
        }
        Ok(m)
    }
}

#[cfg(test)]
mod tests;
