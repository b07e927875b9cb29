//! The memory server's physical page pool: a binary buddy allocator over a
//! set of page-frame-number (PFN) ranges.
//!
//! # Model
//!
//! Free memory is kept as naturally aligned blocks of `2^order` frames
//! (`order` in `0..=max_order`, [`DEFAULT_MAX_ORDER`] = 10, i.e. 4 MiB), one
//! doubly linked free list per order. The *buddy* of the block at `pfn` of
//! order `o` is the block at `pfn ^ (1 << o)`; the two together form the
//! aligned block of order `o + 1` that contains both.
//!
//! * **Allocate** `order`: take the smallest non-empty order `>= order`
//!   (one `trailing_zeros` on a bitmap of non-empty orders, so O(1)), then
//!   split it, handing the upper half back to the next lower free list until
//!   the block has the requested order.
//! * **Free** `(pfn, order)`: while the buddy is a free block of the same
//!   order, unlink the buddy (O(1): the lists are doubly linked) and merge;
//!   then push the result. A buddy that is a hole (outside the pool) is never
//!   merged with.
//!
//! ```text
//!  alloc_pages(0) with one free order-2 block at pfn 8:
//!
//!   order 2   [  8   9  10  11 ]             free list 2: 8  → (taken)
//!                 │ split
//!   order 1   [  8   9 ][ 10  11 ]           10 → free list 1
//!                 │ split
//!   order 0   [  8 ][  9 ]                   9  → free list 0, 8 is returned
//!
//!  free_pages(8, 0):
//!   buddy 8 ^ 1 = 9  is free at order 0 → unlink 9,  merge into [ 8..=9 ]
//!   buddy 8 ^ 2 = 10 is free at order 1 → unlink 10, merge into [ 8..=11 ]
//!   buddy 8 ^ 4 = 12 not free at order 2 (allocated, split, a hole, or
//!   order == max_order) → push 8 on free list 2
//! ```
//!
//! # Per-frame metadata: 9 bytes per frame
//!
//! The memory server cannot touch the frames it manages (they are not
//! mapped into its address space), so unlike Linux the free-list links
//! cannot live inside the free pages. They live in side arrays indexed by
//! `pfn - base`, covering the span from the lowest to the highest frame
//! ever added:
//!
//! ```text
//!   links[i] : FreeLink { next: u32, prev: u32 }   8 bytes  (absolute PFNs,
//!                                                            NIL = u32::MAX)
//!   state[i] : u8                                  1 byte
//!              0b000o_oooo  free block head, order o
//!              0b001o_oooo  allocated block head, order o
//!              0b010o_oooo  allocated head queued in a running free_blocks
//!              0b011o_oooo  alloc_exact piece, more pieces follow
//!              0b101o_oooo  alloc_exact piece, the last one
//!              0x80         tail frame of a block (free or allocated)
//!              0xff         hole: not in the pool
//! ```
//!
//! [`BYTES_PER_FRAME`] = 9, i.e. 0.22 % of the memory it describes (Linux
//! spends 32+ bytes per frame on `struct page`). Holes between disjoint
//! ranges cost the same 9 bytes per frame, which is fine for one RAM bank
//! with a few gaps; ranges megabytes apart would want one pool each.
//!
//! Tails are not told apart as free or allocated so that split and merge stay
//! O(1) per step: a frame's block is found, when needed (error paths,
//! [`BuddyPool::is_allocated`]), by trying the `max_order + 1` aligned heads
//! that could contain it.
//!
//! # Ranges
//!
//! [`BuddyPool::add_range`] carves a range into maximal naturally aligned
//! blocks (it need not be aligned to `max_order`), inserting each with the
//! normal merge, so a range adjacent to an earlier one coalesces with it and
//! the free blocks are always the canonical decomposition of the free frames.
//!
//! ```text
//!   add_range(3, 6):  frames 3..=8     [3][4  5  6  7][8]
//!                                     o0      o2      o0
//! ```
//!
//! # Errors and atomicity
//!
//! Every failure is a [`BuddyError`]; no argument can make the pool panic or
//! corrupt itself (a double free, a free of a frame outside the pool, of a
//! tail frame or with the wrong order are all detected from the per-frame
//! state; so is freeing an `alloc_exact` allocation with the wrong count,
//! from its middle, or through `free_pages`). Every call that fails leaves
//! the pool bit-for-bit unchanged: bulk calls plan or validate before they
//! modify anything.
//!
//! # Costs
//!
//! `alloc_pages` / `free_pages`: O(max_order), no heap allocation, no scan.
//! `alloc_frames(n)`: O(blocks × max_order) plus one `Vec` reservation.
//! `add_range`, `check_invariants`: O(frames).
#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use abi::{Pfn, PAGE_SHIFT};
use alloc::vec::Vec;
use core::fmt;

/// Linux's default: blocks up to `2^10` frames (4 MiB with 4 KiB pages).
pub const DEFAULT_MAX_ORDER: u8 = 10;

/// The largest `max_order` [`BuddyPool::new`] accepts: one block of order
/// 20 already covers the whole 32-bit physical address space.
pub const MAX_ORDER_LIMIT: u8 = 20;

/// One past the highest frame number of the 32-bit physical address space.
pub const PFN_LIMIT: u32 = 1 << (32 - PAGE_SHIFT);

/// Bytes of pool metadata per frame of the covered span (see crate docs).
pub const BYTES_PER_FRAME: usize = core::mem::size_of::<FreeLink>() + 1;

/// The node and zone names `/proc/buddyinfo` lines carry: the pool is one
/// zone of one node.
const BUDDYINFO_NODE: u32 = 0;
const BUDDYINFO_ZONE: &str = "Normal";

/// Number of per-order slots in the fixed arrays.
const NR_ORDER_SLOTS: usize = MAX_ORDER_LIMIT as usize + 1;

/// End-of-list marker in the free-list links (never a valid PFN: all PFNs
/// are below [`PFN_LIMIT`]).
const NIL: u32 = u32::MAX;

/// Per-frame state byte encoding (see the crate docs).
mod frame_state {
    pub const ORDER_MASK: u8 = 0x1f;
    pub const KIND_MASK: u8 = 0xe0;
    pub const FREE_HEAD: u8 = 0x00;
    pub const ALLOC_HEAD: u8 = 0x20;
    /// An allocated head already validated by the running `free_blocks`
    /// call: a second occurrence in the same slice is a double free.
    pub const PENDING_FREE: u8 = 0x40;
    /// One block of an `alloc_exact` allocation that more blocks follow:
    /// `free_exact` must name the whole allocation, and `free_pages` must
    /// not take a piece of it.
    pub const EXACT_HEAD: u8 = 0x60;
    /// The last block of an `alloc_exact` allocation.
    pub const EXACT_LAST: u8 = 0xa0;
    pub const TAIL: u8 = 0x80;
    pub const HOLE: u8 = 0xff;
}
use frame_state::{ALLOC_HEAD, EXACT_HEAD, EXACT_LAST, FREE_HEAD, HOLE, PENDING_FREE, TAIL};

/// The decoded per-frame state, for the slow paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FrameState {
    FreeHead(u8),
    AllocHead(u8),
    PendingFree(u8),
    ExactHead(u8),
    ExactLast(u8),
    Tail,
    Hole,
}

impl FrameState {
    fn decode(byte: u8) -> Self {
        let order = byte & frame_state::ORDER_MASK;
        match byte {
            HOLE => Self::Hole,
            TAIL => Self::Tail,
            _ => match byte & frame_state::KIND_MASK {
                FREE_HEAD => Self::FreeHead(order),
                ALLOC_HEAD => Self::AllocHead(order),
                PENDING_FREE => Self::PendingFree(order),
                EXACT_HEAD => Self::ExactHead(order),
                EXACT_LAST => Self::ExactLast(order),
                // 0x81..=0x9f and 0xc0..=0xfe are never written.
                _ => Self::Hole,
            },
        }
    }
}

/// `2^order` frames starting at `pfn` (naturally aligned when produced by
/// the pool).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Block {
    pub pfn: Pfn,
    pub order: u8,
}

impl Block {
    /// Number of frames in the block; 0 for an order of 32 or more, which
    /// the pool never produces.
    pub fn pages(&self) -> u32 {
        1u32.checked_shl(u32::from(self.order)).unwrap_or(0)
    }
}

/// Why a pool operation failed. The numbers are stable (they travel in
/// memserver replies): add new variants, never renumber.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum BuddyError {
    /// Not enough free frames (or no free block of a large enough order).
    OutOfMemory = 1,
    /// `order` above the pool's `max_order` (or `max_order` above
    /// [`MAX_ORDER_LIMIT`] in [`BuddyPool::new`]).
    InvalidOrder = 2,
    /// The frame is not part of the pool.
    NotInPool = 3,
    /// The frame is already free (or listed twice in one `free_blocks`).
    DoubleFree = 4,
    /// The frame heads an allocated block of another order.
    WrongOrder = 5,
    /// The frame lies inside an allocated block but is not its first frame.
    NotBlockHead = 6,
    /// `add_range` overlaps frames already in the pool.
    Overlap = 7,
    /// `add_range` with zero frames or past the 32-bit physical space.
    InvalidRange = 8,
    /// A page count of zero, or (`alloc_exact`) above `2^max_order`.
    InvalidCount = 9,
    /// The heap could not grow the pool's metadata or the caller's block
    /// vector.
    NoMetadataMemory = 10,
    /// The block came from `alloc_exact` but is freed with `free_pages` /
    /// `free_blocks`, or the other way round.
    WrongFreeCall = 11,
    /// `free_exact` with a page count other than the allocation's.
    WrongCount = 12,
}

impl fmt::Display for BuddyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::OutOfMemory => "out of memory",
            Self::InvalidOrder => "invalid order",
            Self::NotInPool => "frame not in the pool",
            Self::DoubleFree => "double free",
            Self::WrongOrder => "free with the wrong order",
            Self::NotBlockHead => "frame is not the head of its block",
            Self::Overlap => "range overlaps the pool",
            Self::InvalidRange => "invalid range",
            Self::InvalidCount => "invalid page count",
            Self::NoMetadataMemory => "no memory for pool metadata",
            Self::WrongFreeCall => "block freed through the wrong call",
            Self::WrongCount => "free_exact with the wrong page count",
        };
        f.write_str(text)
    }
}

/// Which free call validates a block: it decides the state byte expected
/// and how a mismatch is reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FreeCall {
    /// `free_pages` / `free_blocks`: an `alloc_pages` / `alloc_frames` block.
    Pages,
    /// `free_exact`: one piece of an `alloc_exact` allocation.
    ExactPiece { last: bool },
}

impl FreeCall {
    fn expected_state(self, order: u8) -> u8 {
        match self {
            Self::Pages => ALLOC_HEAD | order,
            Self::ExactPiece { last: false } => EXACT_HEAD | order,
            Self::ExactPiece { last: true } => EXACT_LAST | order,
        }
    }
}

/// Free-list links of one frame; only meaningful while the frame heads a
/// free block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FreeLink {
    next: u32,
    prev: u32,
}

const UNLINKED: FreeLink = FreeLink {
    next: NIL,
    prev: NIL,
};

/// One range as given to `add_range`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PfnRange {
    start: u32,
    count: u32,
}

impl PfnRange {
    fn end(&self) -> u32 {
        // Validated in add_range: start + count <= PFN_LIMIT.
        self.start + self.count
    }
}

/// Iterator over the maximal naturally aligned blocks (capped at
/// `max_order`) that tile `[cur, end)`, lowest first.
struct AlignedBlocks {
    cur: u32,
    end: u32,
    max_order: u8,
}

impl Iterator for AlignedBlocks {
    type Item = (u32, u8);

    fn next(&mut self) -> Option<(u32, u8)> {
        if self.cur >= self.end {
            return None;
        }
        let remaining = self.end - self.cur;
        let order = self
            .cur
            .trailing_zeros()
            .min(floor_log2(remaining))
            .min(u32::from(self.max_order)) as u8;
        let pfn = self.cur;
        self.cur += 1 << order;
        Some((pfn, order))
    }
}

/// `floor(log2(n))` for `n > 0`.
fn floor_log2(n: u32) -> u32 {
    31 - n.leading_zeros()
}

/// `ceil(log2(n))` for `n > 0` (32 for `n > 2^31`).
fn ceil_log2(n: u32) -> u32 {
    if n <= 1 {
        0
    } else {
        32 - (n - 1).leading_zeros()
    }
}

/// Bitmap of orders `0..=order`.
fn orders_up_to(order: u8) -> u32 {
    u32::MAX >> (31 - u32::from(order))
}

/// The order `alloc_frames` takes next, given the non-empty-order bitmap
/// and the pages still needed: the largest free order that fits, or, when
/// nothing that small is free, the largest order that fits (which the
/// allocation then splits off a larger block). Shared by the planner and
/// the executor so they cannot disagree.
fn bulk_step_order(nonempty: u32, remaining: u32, max_order: u8) -> u8 {
    let need = floor_log2(remaining).min(u32::from(max_order)) as u8;
    let fitting = nonempty & orders_up_to(need);
    if fitting != 0 {
        floor_log2(fitting) as u8
    } else {
        need
    }
}

/// A physical page pool. See the crate docs for the design.
#[derive(Clone, PartialEq, Eq)]
pub struct BuddyPool {
    max_order: u8,
    /// PFN of `state[0]` / `links[0]`.
    base: u32,
    state: Vec<u8>,
    links: Vec<FreeLink>,
    /// First block of each order's free list, `NIL` when empty.
    free_head: [u32; NR_ORDER_SLOTS],
    nr_free: [u32; NR_ORDER_SLOTS],
    /// Bit `o` set iff `free_head[o] != NIL`.
    nonempty_orders: u32,
    ranges: Vec<PfnRange>,
    total_frames: u32,
    free_frames: u32,
    alloc_count: u64,
    free_count: u64,
}

impl fmt::Debug for BuddyPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BuddyPool")
            .field("max_order", &self.max_order)
            .field("total_frames", &self.total_frames)
            .field("free_frames", &self.free_frames)
            .field("nr_free", &&self.nr_free[..=usize::from(self.max_order)])
            .field("ranges", &self.ranges)
            .finish_non_exhaustive()
    }
}

impl BuddyPool {
    /// An empty pool with blocks of up to `2^max_order` frames. Does not
    /// allocate.
    pub fn new(max_order: u8) -> Result<Self, BuddyError> {
        if max_order > MAX_ORDER_LIMIT {
            return Err(BuddyError::InvalidOrder);
        }
        Ok(Self {
            max_order,
            base: 0,
            state: Vec::new(),
            links: Vec::new(),
            free_head: [NIL; NR_ORDER_SLOTS],
            nr_free: [0; NR_ORDER_SLOTS],
            nonempty_orders: 0,
            ranges: Vec::new(),
            total_frames: 0,
            free_frames: 0,
            alloc_count: 0,
            free_count: 0,
        })
    }

    /// Adds the free frames `start .. start + count` to the pool.
    ///
    /// The range need not be aligned: it is carved into maximal naturally
    /// aligned blocks, each merged with free buddies already in the pool.
    /// Errors: `InvalidRange` (zero frames, or past [`PFN_LIMIT`]),
    /// `Overlap` (any frame already in the pool), `NoMetadataMemory`.
    pub fn add_range(&mut self, start: Pfn, count: u32) -> Result<(), BuddyError> {
        let start = start.0;
        let end = match start.checked_add(count) {
            Some(end) if count > 0 && end <= PFN_LIMIT => end,
            _ => return Err(BuddyError::InvalidRange),
        };
        if self.ranges.iter().any(|r| start < r.end() && r.start < end) {
            return Err(BuddyError::Overlap);
        }
        self.ranges
            .try_reserve(1)
            .map_err(|_| BuddyError::NoMetadataMemory)?;
        self.grow_span(start, end)?;
        // Nothing below can fail.
        self.ranges.push(PfnRange { start, count });
        let first = self.idx(start);
        self.state[first..first + count as usize].fill(TAIL);
        let blocks = AlignedBlocks {
            cur: start,
            end,
            max_order: self.max_order,
        };
        for (pfn, order) in blocks {
            self.free_and_merge(pfn, order);
        }
        self.total_frames += count;
        self.free_frames += count;
        Ok(())
    }

    /// Makes the metadata arrays cover `[start, end)` as well as the current
    /// span. On failure nothing changes.
    fn grow_span(&mut self, start: u32, end: u32) -> Result<(), BuddyError> {
        let old_len = self.state.len();
        let old_end = self.base + old_len as u32;
        let (new_base, new_end) = if old_len == 0 {
            (start, end)
        } else {
            (self.base.min(start), old_end.max(end))
        };
        if new_base == self.base && new_end == old_end {
            return Ok(());
        }
        let new_len = (new_end - new_base) as usize;
        let mut state = Vec::new();
        let mut links = Vec::new();
        state
            .try_reserve_exact(new_len)
            .map_err(|_| BuddyError::NoMetadataMemory)?;
        links
            .try_reserve_exact(new_len)
            .map_err(|_| BuddyError::NoMetadataMemory)?;
        state.resize(new_len, HOLE);
        links.resize(new_len, UNLINKED);
        // Links hold absolute PFNs, so moving the base needs no fix-up.
        if old_len != 0 {
            let shift = (self.base - new_base) as usize;
            state[shift..shift + old_len].copy_from_slice(&self.state);
            links[shift..shift + old_len].copy_from_slice(&self.links);
        }
        self.state = state;
        self.links = links;
        self.base = new_base;
        Ok(())
    }

    /// Allocates one naturally aligned block of `2^order` frames.
    pub fn alloc_pages(&mut self, order: u8) -> Result<Pfn, BuddyError> {
        if order > self.max_order {
            return Err(BuddyError::InvalidOrder);
        }
        let pfn = self.take_block(order)?;
        self.alloc_count += 1;
        Ok(Pfn(pfn))
    }

    /// Frees a block returned by [`alloc_pages`](Self::alloc_pages) (or one
    /// block of an [`alloc_frames`](Self::alloc_frames) result).
    pub fn free_pages(&mut self, pfn: Pfn, order: u8) -> Result<(), BuddyError> {
        self.check_allocated_head(pfn.0, order, FreeCall::Pages)?;
        self.release_block(pfn.0, order);
        self.free_count += 1;
        Ok(())
    }

    /// Appends blocks covering exactly `n` pages to `out` (largest first). On error `out` and the pool are unchanged.
    ///
    /// Like Linux's `vm_area_alloc_pages`: each step takes a free block of
    /// the largest order that still fits the remaining need, and splits a
    /// larger block only when no free block of a fitting order exists, so
    /// bulk requests use up fragments before breaking large blocks. The
    /// appended blocks are sorted by descending order.
    /// Succeeds whenever `n <= free_frames()`. Errors: `InvalidCount`
    /// (`n == 0`), `OutOfMemory`, `NoMetadataMemory` (growing `out`).
    pub fn alloc_frames(&mut self, n: u32, out: &mut Vec<Block>) -> Result<(), BuddyError> {
        if n == 0 {
            return Err(BuddyError::InvalidCount);
        }
        if n > self.free_frames {
            return Err(BuddyError::OutOfMemory);
        }
        if n == 1 {
            // The one-page case (what the general loop does for it: one
            // order-0 step, nothing to sort), without the planner.
            if out.len() == out.capacity() {
                out.try_reserve(1)
                    .map_err(|_| BuddyError::NoMetadataMemory)?;
            }
            // Cannot fail: a free frame exists, and any free block holds
            // an order-0 one.
            let pfn = self.take_block(0)?;
            out.push(Block {
                pfn: Pfn(pfn),
                order: 0,
            });
            self.alloc_count += 1;
            return Ok(());
        }
        // `n` blocks is an upper bound: when the buffer (a reused scratch
        // vector, usually) already has that much room, skip the planner.
        if out.capacity() - out.len() < n as usize {
            let nr_blocks = self.plan_bulk(n);
            out.try_reserve(nr_blocks)
                .map_err(|_| BuddyError::NoMetadataMemory)?;
        }
        let first_new = out.len();
        let mut remaining = n;
        while remaining > 0 {
            let order = bulk_step_order(self.nonempty_orders, remaining, self.max_order);
            match self.take_block(order) {
                Ok(pfn) => {
                    out.push(Block {
                        pfn: Pfn(pfn),
                        order,
                    });
                    remaining -= 1 << order;
                }
                Err(err) => {
                    // Unreachable: n <= free_frames guarantees a block at
                    // every step. Keep the pool consistent regardless.
                    for block in out.drain(first_new..) {
                        self.release_block(block.pfn.0, block.order);
                    }
                    return Err(err);
                }
            }
        }
        // Taking a small fragment can leave a remainder that needs a split,
        // so the steps are not always in descending order: sort (in place,
        // no allocation) to keep the "largest first" promise.
        out[first_new..].sort_unstable_by_key(|block| core::cmp::Reverse(block.order));
        self.alloc_count += 1;
        Ok(())
    }

    /// Counts the blocks `alloc_frames(n)` will produce by replaying its
    /// choices on a copy of the per-order counters.
    fn plan_bulk(&self, n: u32) -> usize {
        let mut nr_free = self.nr_free;
        let mut nonempty = self.nonempty_orders;
        let mut remaining = n;
        let mut nr_blocks = 0usize;
        while remaining > 0 {
            let order = bulk_step_order(nonempty, remaining, self.max_order);
            let larger = nonempty >> order;
            if larger == 0 {
                break; // Cannot happen while remaining <= free frames.
            }
            let from = order + larger.trailing_zeros() as u8;
            // Split `from` down to `order`: one upper half per order between.
            nr_free[usize::from(from)] -= 1;
            if nr_free[usize::from(from)] == 0 {
                nonempty &= !(1 << from);
            }
            for split in order..from {
                nr_free[usize::from(split)] += 1;
                nonempty |= 1 << split;
            }
            remaining -= 1 << order;
            nr_blocks += 1;
        }
        nr_blocks
    }

    /// Validates every block first; frees nothing if any block is invalid.
    ///
    /// The error is that of the first invalid block in slice order; a block
    /// listed twice is a `DoubleFree`.
    pub fn free_blocks(&mut self, blocks: &[Block]) -> Result<(), BuddyError> {
        if let [block] = blocks {
            // One block cannot be listed twice: validate and free it
            // without the pending marks.
            self.check_allocated_head(block.pfn.0, block.order, FreeCall::Pages)?;
            self.release_block(block.pfn.0, block.order);
            self.free_count += 1;
            return Ok(());
        }
        // Pass 1: validate, marking each head so a duplicate is caught.
        for (validated, block) in blocks.iter().enumerate() {
            match self.check_allocated_head(block.pfn.0, block.order, FreeCall::Pages) {
                Ok(slot) => self.state[slot] = PENDING_FREE | block.order,
                Err(err) => {
                    for earlier in &blocks[..validated] {
                        let slot = self.idx(earlier.pfn.0);
                        self.state[slot] = ALLOC_HEAD | earlier.order;
                    }
                    return Err(err);
                }
            }
        }
        // Pass 2: free. Pending heads are not free heads, so no merge
        // touches a block that is still waiting.
        for block in blocks {
            self.release_block(block.pfn.0, block.order);
        }
        self.free_count += 1;
        Ok(())
    }

    /// Allocates `n` physically contiguous frames (for DMA), like Linux's
    /// `alloc_pages_exact`: takes a block of order `ceil(log2(n))` and gives
    /// the unused tail back. The `n` frames stay allocated as the aligned
    /// blocks of `n`'s binary decomposition, marked as one allocation: free
    /// it with [`free_exact`](Self::free_exact)`(pfn, n)`, not `free_pages`.
    /// Errors: `InvalidCount` (`n == 0` or `n > 2^max_order`), `OutOfMemory`.
    pub fn alloc_exact(&mut self, n: u32) -> Result<Pfn, BuddyError> {
        if n == 0 || ceil_log2(n) > u32::from(self.max_order) {
            return Err(BuddyError::InvalidCount);
        }
        let order = ceil_log2(n) as u8;
        let pfn = self.take_block(order)?;
        let used_end = pfn + n;
        let block_end = pfn + (1 << order);
        for (piece, piece_order) in self.aligned_blocks(pfn, used_end) {
            let last = piece + (1 << piece_order) == used_end;
            let slot = self.idx(piece);
            self.state[slot] = FreeCall::ExactPiece { last }.expected_state(piece_order);
        }
        for (piece, piece_order) in self.aligned_blocks(used_end, block_end) {
            self.release_block(piece, piece_order);
        }
        self.alloc_count += 1;
        Ok(Pfn(pfn))
    }

    /// Frees `n` frames from [`alloc_exact`](Self::alloc_exact)`(n)`.
    /// Validates all of them first; frees nothing on error. `WrongCount`
    /// if `n` is not the allocated count, `WrongFreeCall` for a block from
    /// `alloc_pages` / `alloc_frames`.
    pub fn free_exact(&mut self, pfn: Pfn, n: u32) -> Result<(), BuddyError> {
        if n == 0 {
            return Err(BuddyError::InvalidCount);
        }
        let end = pfn.0.checked_add(n).ok_or(BuddyError::NotInPool)?;
        for (piece, piece_order) in self.aligned_blocks(pfn.0, end) {
            let last = piece + (1 << piece_order) == end;
            self.check_allocated_head(piece, piece_order, FreeCall::ExactPiece { last })?;
        }
        if self.follows_exact_piece(pfn.0) {
            // The pieces from here on are the tail of a larger allocation.
            return Err(BuddyError::NotBlockHead);
        }
        for (piece, piece_order) in self.aligned_blocks(pfn.0, end) {
            self.release_block(piece, piece_order);
        }
        self.free_count += 1;
        Ok(())
    }

    /// The largest block order of this pool.
    pub fn max_order(&self) -> u8 {
        self.max_order
    }

    /// Frames added to the pool.
    pub fn total_frames(&self) -> u32 {
        self.total_frames
    }

    /// Frames currently free.
    pub fn free_frames(&self) -> u32 {
        self.free_frames
    }

    /// Free blocks of `order` (Linux `free_area[order].nr_free`); 0 for an
    /// order above `max_order`.
    pub fn nr_free(&self, order: u8) -> u32 {
        if order > self.max_order {
            return 0;
        }
        self.nr_free[usize::from(order)]
    }

    /// Successful allocation calls (`alloc_pages`, `alloc_frames`,
    /// `alloc_exact`).
    pub fn alloc_count(&self) -> u64 {
        self.alloc_count
    }

    /// Successful free calls (`free_pages`, `free_blocks`, `free_exact`).
    pub fn free_count(&self) -> u64 {
        self.free_count
    }

    /// Bytes of metadata the pool holds for its span (excluding the fixed
    /// struct and the range list).
    pub fn metadata_bytes(&self) -> usize {
        self.state.len() * BYTES_PER_FRAME
    }

    /// The ranges added, in the order they were added, as `(start, count)`.
    pub fn ranges(&self) -> impl Iterator<Item = (Pfn, u32)> + '_ {
        self.ranges.iter().map(|r| (Pfn(r.start), r.count))
    }

    /// Whether the frame belongs to the pool (free or allocated).
    pub fn contains(&self, pfn: Pfn) -> bool {
        self.slot(pfn.0)
            .is_some_and(|slot| self.state[slot] != HOLE)
    }

    /// Whether the frame is inside an allocated block.
    pub fn is_allocated(&self, pfn: Pfn) -> bool {
        matches!(
            self.block_of(pfn.0),
            Some((
                _,
                FrameState::AllocHead(_)
                    | FrameState::PendingFree(_)
                    | FrameState::ExactHead(_)
                    | FrameState::ExactLast(_)
            ))
        )
    }

    /// Writes one line in Linux `/proc/buddyinfo` format:
    /// `Node 0, zone   Normal` then `nr_free` of each order `0..=max_order`.
    pub fn write_buddyinfo(&self, w: &mut dyn fmt::Write) -> fmt::Result {
        // Same format strings as Linux's mm/vmstat.c frag_show_print().
        write!(w, "Node {BUDDYINFO_NODE}, zone {BUDDYINFO_ZONE:>8} ")?;
        for nr_free in &self.nr_free[..=usize::from(self.max_order)] {
            write!(w, "{nr_free:>6} ")?;
        }
        w.write_char('\n')
    }

    /// Full consistency check for tests (free lists vs per-frame state, counters, no two free buddies unmerged).
    pub fn check_invariants(&self) -> Result<(), &'static str> {
        let len = self.state.len();
        if self.links.len() != len {
            return Err("links and state arrays differ in length");
        }
        if self.max_order > MAX_ORDER_LIMIT {
            return Err("max_order above the limit");
        }
        if u64::from(self.base) + len as u64 > u64::from(PFN_LIMIT) {
            return Err("span past the physical address space");
        }

        // Ranges: disjoint, inside the span, exactly the non-hole frames.
        let mut range_frames = 0u32;
        for (i, range) in self.ranges.iter().enumerate() {
            if range.count == 0 {
                return Err("empty range recorded");
            }
            if self.ranges[..i]
                .iter()
                .any(|r| range.start < r.end() && r.start < range.end())
            {
                return Err("overlapping ranges recorded");
            }
            let (Some(first), Some(_)) = (self.slot(range.start), self.slot(range.end() - 1))
            else {
                return Err("range outside the metadata span");
            };
            if self.state[first..first + range.count as usize].contains(&HOLE) {
                return Err("hole inside a range");
            }
            range_frames += range.count;
        }
        let pool_frames = self.state.iter().filter(|&&s| s != HOLE).count();
        if pool_frames != range_frames as usize || range_frames != self.total_frames {
            return Err("total_frames does not match the ranges");
        }

        // Frame walk: every frame is a hole or belongs to exactly one
        // aligned block whose head carries its order.
        let mut free_heads = [0u32; NR_ORDER_SLOTS];
        let mut free_frames = 0u32;
        let mut slot = 0usize;
        while slot < len {
            let (order, is_free) = match FrameState::decode(self.state[slot]) {
                FrameState::Hole => {
                    if self.state[slot] != HOLE {
                        return Err("unknown state byte");
                    }
                    slot += 1;
                    continue;
                }
                FrameState::Tail => return Err("tail frame without a head"),
                FrameState::PendingFree(_) => return Err("pending free left behind"),
                FrameState::FreeHead(order) => (order, true),
                FrameState::AllocHead(order) | FrameState::ExactLast(order) => (order, false),
                FrameState::ExactHead(order) => {
                    // Pieces of one alloc_exact allocation: the binary
                    // decomposition of its count, largest first.
                    let next = slot.checked_add(1 << order).and_then(|s| self.state.get(s));
                    match next.map(|&s| FrameState::decode(s)) {
                        Some(FrameState::ExactHead(next) | FrameState::ExactLast(next))
                            if next < order => {}
                        _ => return Err("alloc_exact piece without a smaller successor"),
                    }
                    (order, false)
                }
            };
            if order > self.max_order {
                return Err("block order above max_order");
            }
            let pfn = self.base + slot as u32;
            let pages = 1u32 << order;
            if pfn & (pages - 1) != 0 {
                return Err("block head not naturally aligned");
            }
            let block_end = slot + pages as usize;
            if block_end > len {
                return Err("block runs past the span");
            }
            if self.state[slot + 1..block_end].iter().any(|&s| s != TAIL) {
                return Err("block frames are not all tails");
            }
            if is_free {
                free_heads[usize::from(order)] += 1;
                free_frames += pages;
                if order < self.max_order {
                    let buddy = pfn ^ pages;
                    if let Some(buddy_slot) = self.slot(buddy) {
                        if self.state[buddy_slot] == FREE_HEAD | order {
                            return Err("two free buddies left unmerged");
                        }
                    }
                }
            }
            slot = block_end;
        }
        if free_frames != self.free_frames {
            return Err("free_frames does not match the free blocks");
        }

        // Free lists: well-formed, exactly the free heads of their order.
        let mut listed_frames = 0u32;
        for (order, &heads_seen) in free_heads.iter().enumerate() {
            let head = self.free_head[order];
            let bit_set = self.nonempty_orders & (1 << order) != 0;
            if bit_set != (head != NIL) {
                return Err("non-empty-order bitmap disagrees with the free list");
            }
            if order > usize::from(self.max_order) && (head != NIL || self.nr_free[order] != 0) {
                return Err("free list above max_order");
            }
            let mut prev = NIL;
            let mut cur = head;
            let mut length = 0u32;
            while cur != NIL {
                let Some(cur_slot) = self.slot(cur) else {
                    return Err("free-list link outside the span");
                };
                if self.state[cur_slot] != FREE_HEAD | order as u8 {
                    return Err("free-list entry is not a free head of its order");
                }
                if self.links[cur_slot].prev != prev {
                    return Err("free-list prev link broken");
                }
                length += 1;
                if length > self.total_frames {
                    return Err("free-list cycle");
                }
                prev = cur;
                cur = self.links[cur_slot].next;
            }
            if length != self.nr_free[order] {
                return Err("nr_free does not match the free list");
            }
            if length != heads_seen {
                return Err("free list does not hold every free head");
            }
            listed_frames += length << order;
        }
        if listed_frames != self.free_frames || self.free_frames > self.total_frames {
            return Err("free frame counters disagree");
        }
        Ok(())
    }

    // ---- internals ---------------------------------------------------

    /// Index of a PFN known to be inside the span.
    #[inline]
    fn idx(&self, pfn: u32) -> usize {
        pfn.wrapping_sub(self.base) as usize
    }

    /// Index of any PFN, `None` outside the span.
    #[inline]
    fn slot(&self, pfn: u32) -> Option<usize> {
        let slot = pfn.wrapping_sub(self.base) as usize;
        (slot < self.state.len()).then_some(slot)
    }

    fn aligned_blocks(&self, start: u32, end: u32) -> AlignedBlocks {
        AlignedBlocks {
            cur: start,
            end,
            max_order: self.max_order,
        }
    }

    /// Pushes a free block on the front of its list (LIFO keeps recently
    /// freed, cache-warm metadata in use).
    #[inline]
    fn push_free(&mut self, pfn: u32, order: u8) {
        let slot = self.idx(pfn);
        let list = usize::from(order);
        let old_head = self.free_head[list];
        self.links[slot] = FreeLink {
            next: old_head,
            prev: NIL,
        };
        if old_head != NIL {
            let old_slot = self.idx(old_head);
            self.links[old_slot].prev = pfn;
        }
        self.free_head[list] = pfn;
        self.state[slot] = FREE_HEAD | order;
        self.nr_free[list] += 1;
        self.nonempty_orders |= 1 << order;
    }

    /// Removes a free block from its list; the caller rewrites its state.
    #[inline]
    fn unlink_free(&mut self, pfn: u32, order: u8) {
        let slot = self.idx(pfn);
        let list = usize::from(order);
        let FreeLink { next, prev } = self.links[slot];
        if prev != NIL {
            let prev_slot = self.idx(prev);
            self.links[prev_slot].next = next;
        } else {
            self.free_head[list] = next;
            if next == NIL {
                self.nonempty_orders &= !(1 << order);
            }
        }
        if next != NIL {
            let next_slot = self.idx(next);
            self.links[next_slot].prev = prev;
        }
        self.nr_free[list] -= 1;
    }

    /// Takes a block of `order <= max_order` off the free lists, splitting
    /// the smallest larger block if needed, and marks it allocated.
    #[inline]
    fn take_block(&mut self, order: u8) -> Result<u32, BuddyError> {
        let candidates = self.nonempty_orders >> order;
        if candidates == 0 {
            return Err(BuddyError::OutOfMemory);
        }
        let mut cur_order = order + candidates.trailing_zeros() as u8;
        let pfn = self.free_head[usize::from(cur_order)];
        self.unlink_free(pfn, cur_order);
        while cur_order > order {
            cur_order -= 1;
            self.push_free(pfn + (1 << cur_order), cur_order);
        }
        let slot = self.idx(pfn);
        self.state[slot] = ALLOC_HEAD | order;
        self.free_frames -= 1 << order;
        Ok(pfn)
    }

    /// Returns a validated allocated block to the free lists.
    #[inline]
    fn release_block(&mut self, pfn: u32, order: u8) {
        self.free_and_merge(pfn, order);
        self.free_frames += 1 << order;
    }

    /// Inserts a free block, merging with free buddies as far as possible.
    /// The block's own head state is overwritten, whatever it was.
    #[inline]
    fn free_and_merge(&mut self, mut pfn: u32, mut order: u8) {
        while order < self.max_order {
            let buddy = pfn ^ (1 << order);
            match self.slot(buddy) {
                Some(buddy_slot) if self.state[buddy_slot] == FREE_HEAD | order => {}
                _ => break,
            }
            self.unlink_free(buddy, order);
            let upper = pfn.max(buddy);
            let upper_slot = self.idx(upper);
            self.state[upper_slot] = TAIL;
            pfn = pfn.min(buddy);
            order += 1;
        }
        self.push_free(pfn, order);
    }

    /// `Ok(slot)` if `pfn` heads an allocated block of exactly `order` of
    /// the kind `call` frees.
    #[inline]
    fn check_allocated_head(
        &self,
        pfn: u32,
        order: u8,
        call: FreeCall,
    ) -> Result<usize, BuddyError> {
        if order > self.max_order {
            return Err(BuddyError::InvalidOrder);
        }
        match self.slot(pfn) {
            Some(slot) if self.state[slot] == call.expected_state(order) => Ok(slot),
            _ => Err(self.classify_bad_free(pfn, order, call)),
        }
    }

    /// Why freeing `(pfn, order)` through `call` is wrong (slow path,
    /// `order` valid).
    fn classify_bad_free(&self, pfn: u32, order: u8, call: FreeCall) -> BuddyError {
        let Some(slot) = self.slot(pfn) else {
            return BuddyError::NotInPool;
        };
        let is_exact_call = matches!(call, FreeCall::ExactPiece { .. });
        match FrameState::decode(self.state[slot]) {
            FrameState::Hole => BuddyError::NotInPool,
            FrameState::FreeHead(_) => BuddyError::DoubleFree,
            FrameState::AllocHead(_) | FrameState::PendingFree(_) if is_exact_call => {
                BuddyError::WrongFreeCall
            }
            FrameState::ExactHead(_) | FrameState::ExactLast(_) if !is_exact_call => {
                BuddyError::WrongFreeCall
            }
            // An exact piece of another order or position: the count given
            // to free_exact does not decompose like the allocation's.
            FrameState::ExactHead(_) | FrameState::ExactLast(_) => BuddyError::WrongCount,
            FrameState::AllocHead(held) | FrameState::PendingFree(held) if held != order => {
                BuddyError::WrongOrder
            }
            FrameState::PendingFree(_) => BuddyError::DoubleFree,
            // Only reached with a matching order, which check_allocated_head
            // accepts; kept total for safety.
            FrameState::AllocHead(_) => BuddyError::WrongOrder,
            FrameState::Tail => match self.block_of(pfn) {
                Some((_, FrameState::FreeHead(_))) => BuddyError::DoubleFree,
                Some(_) => BuddyError::NotBlockHead,
                None => BuddyError::NotInPool,
            },
        }
    }

    /// Whether the block ending just before `pfn` is an `alloc_exact` piece
    /// that more pieces follow, i.e. `pfn` continues that allocation. Only
    /// an [`EXACT_HEAD`] of order `k` at `pfn - 2^k` can end there.
    fn follows_exact_piece(&self, pfn: u32) -> bool {
        (0..=self.max_order).any(|order| {
            pfn.checked_sub(1 << order)
                .and_then(|before| self.slot(before))
                .is_some_and(|slot| self.state[slot] == EXACT_HEAD | order)
        })
    }

    /// The head PFN and state of the block containing `pfn`. Blocks are
    /// naturally aligned, so the head is `pfn` rounded down to some order
    /// `<= max_order`: the first head found rounding down by increasing
    /// orders is the one (every candidate before it lies inside the block).
    fn block_of(&self, pfn: u32) -> Option<(u32, FrameState)> {
        for order in 0..=self.max_order {
            let head = pfn & !((1u32 << order) - 1);
            let state = FrameState::decode(self.state[self.slot(head)?]);
            match state {
                FrameState::Tail => continue,
                FrameState::Hole => return None,
                FrameState::FreeHead(held)
                | FrameState::AllocHead(held)
                | FrameState::PendingFree(held)
                | FrameState::ExactHead(held)
                | FrameState::ExactLast(held) => {
                    return (pfn - head < 1u32 << held).then_some((head, state));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_blocks_carve_maximal_blocks() {
        let carve = |start, end, max_order| {
            AlignedBlocks {
                cur: start,
                end,
                max_order,
            }
            .collect::<Vec<_>>()
        };
        assert_eq!(carve(3, 9, 10), [(3, 0), (4, 2), (8, 0)]);
        assert_eq!(carve(0, 8, 2), [(0, 2), (4, 2)]);
        assert_eq!(carve(0, 1, 10), [(0, 0)]);
        assert_eq!(carve(5, 5, 10), []);
        assert_eq!(carve(PFN_LIMIT - 1, PFN_LIMIT, 20), [(PFN_LIMIT - 1, 0)]);
    }

    #[test]
    fn log2_helpers() {
        assert_eq!(floor_log2(1), 0);
        assert_eq!(floor_log2(5), 2);
        assert_eq!(floor_log2(u32::MAX), 31);
        assert_eq!(ceil_log2(1), 0);
        assert_eq!(ceil_log2(5), 3);
        assert_eq!(ceil_log2(8), 3);
        assert_eq!(ceil_log2(u32::MAX), 32);
        assert_eq!(orders_up_to(0), 1);
        assert_eq!(orders_up_to(3), 0b1111);
        assert_eq!(orders_up_to(31), u32::MAX);
    }

    #[test]
    fn state_bytes_round_trip() {
        for order in 0..=MAX_ORDER_LIMIT {
            assert_eq!(
                FrameState::decode(FREE_HEAD | order),
                FrameState::FreeHead(order)
            );
            assert_eq!(
                FrameState::decode(ALLOC_HEAD | order),
                FrameState::AllocHead(order)
            );
            assert_eq!(
                FrameState::decode(PENDING_FREE | order),
                FrameState::PendingFree(order)
            );
            assert_eq!(
                FrameState::decode(EXACT_HEAD | order),
                FrameState::ExactHead(order)
            );
            assert_eq!(
                FrameState::decode(EXACT_LAST | order),
                FrameState::ExactLast(order)
            );
        }
        assert_eq!(FrameState::decode(TAIL), FrameState::Tail);
        assert_eq!(FrameState::decode(HOLE), FrameState::Hole);
        assert_eq!(BYTES_PER_FRAME, 9);
    }
}
