//! Property tests: random operation sequences (good and bad) against a naive
//! per-frame reference model.
//!
//! The model knows nothing about free lists: it keeps one entry per frame
//! (hole, free, or allocated as part of a given block) and predicts every
//! result from first principles. Since the buddy system keeps free blocks
//! fully coalesced, an order-`o` allocation must succeed exactly when some
//! naturally aligned run of `2^o` frames is entirely free.

use abi::Pfn;
use buddy::{Block, BuddyError, BuddyPool};
use proptest::prelude::*;

/// Frames the generated ranges may cover: `0..SPAN`.
const SPAN: u32 = 1200;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// From `alloc_pages` / `alloc_frames`.
    Pages,
    /// A piece of an `alloc_exact` allocation; `last` for its final piece.
    Exact { last: bool },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Frame {
    Hole,
    Free,
    /// Part of the block `(head, order)` of the allocation starting at
    /// `start` (== `head` except for later `alloc_exact` pieces).
    Alloc {
        head: u32,
        order: u8,
        kind: Kind,
        start: u32,
    },
}

/// A live allocation, as the caller holds it.
#[derive(Clone, Debug)]
enum Live {
    Pages { pfn: u32, order: u8 },
    Frames(Vec<Block>),
    Exact { pfn: u32, n: u32 },
}

struct Model {
    max_order: u8,
    frames: Vec<Frame>,
}

/// Naive carve of `[start, end)` into maximal aligned blocks, lazily (a
/// bad `free_exact` may name billions of frames; the first bad piece ends
/// the walk).
fn naive_carve(start: u64, end: u64, max_order: u8) -> impl Iterator<Item = (u64, u8)> {
    let mut cur = start;
    std::iter::from_fn(move || {
        if cur >= end {
            return None;
        }
        let mut order = 0u8;
        while order < max_order {
            let size = 1u64 << (order + 1);
            if cur.is_multiple_of(size) && cur + size <= end {
                order += 1;
            } else {
                break;
            }
        }
        let piece = (cur, order);
        cur += 1 << order;
        Some(piece)
    })
}

impl Model {
    fn new(max_order: u8) -> Self {
        Self {
            max_order,
            frames: vec![Frame::Hole; SPAN as usize],
        }
    }

    fn frame(&self, pfn: u64) -> Frame {
        usize::try_from(pfn)
            .ok()
            .and_then(|i| self.frames.get(i).copied())
            .unwrap_or(Frame::Hole)
    }

    fn free_count(&self) -> u32 {
        self.frames.iter().filter(|f| **f == Frame::Free).count() as u32
    }

    fn total(&self) -> u32 {
        self.frames.iter().filter(|f| **f != Frame::Hole).count() as u32
    }

    fn run_is_free(&self, start: u32, pages: u32) -> bool {
        (start..start + pages).all(|p| self.frame(u64::from(p)) == Frame::Free)
    }

    fn has_free_aligned_run(&self, order: u8) -> bool {
        let pages = 1u32 << order;
        (0..SPAN / pages).any(|i| self.run_is_free(i * pages, pages))
    }

    fn add_range(&mut self, start: u32, count: u32) -> Result<(), BuddyError> {
        assert!(start + count <= SPAN, "the model only covers 0..SPAN");
        if count == 0 {
            return Err(BuddyError::InvalidRange);
        }
        if (start..start + count).any(|p| self.frame(u64::from(p)) != Frame::Hole) {
            return Err(BuddyError::Overlap);
        }
        for p in start..start + count {
            self.frames[p as usize] = Frame::Free;
        }
        Ok(())
    }

    fn mark(&mut self, pfn: u32, order: u8, kind: Kind, start: u32) {
        for p in pfn..pfn + (1 << order) {
            assert_eq!(
                self.frames[p as usize],
                Frame::Free,
                "frame {p} handed out twice"
            );
            self.frames[p as usize] = Frame::Alloc {
                head: pfn,
                order,
                kind,
                start,
            };
        }
    }

    fn release(&mut self, pfn: u32, order: u8) {
        for p in pfn..pfn + (1 << order) {
            self.frames[p as usize] = Frame::Free;
        }
    }

    /// The error freeing `(pfn, order)` as `kind` must give, if any;
    /// `batch` holds heads already validated in the same `free_blocks`.
    fn predict_free(
        &self,
        pfn: u64,
        order: u8,
        kind: Kind,
        batch: &[u64],
    ) -> Result<(), BuddyError> {
        if order > self.max_order {
            return Err(BuddyError::InvalidOrder);
        }
        match self.frame(pfn) {
            Frame::Hole => Err(BuddyError::NotInPool),
            Frame::Free => Err(BuddyError::DoubleFree),
            Frame::Alloc { head, .. } if u64::from(head) != pfn => Err(BuddyError::NotBlockHead),
            Frame::Alloc {
                order: held,
                kind: held_kind,
                ..
            } => match (kind, held_kind) {
                (Kind::Pages, Kind::Exact { .. }) | (Kind::Exact { .. }, Kind::Pages) => {
                    Err(BuddyError::WrongFreeCall)
                }
                (Kind::Exact { last }, Kind::Exact { last: held_last }) => {
                    if held != order || last != held_last {
                        Err(BuddyError::WrongCount)
                    } else {
                        Ok(())
                    }
                }
                (Kind::Pages, Kind::Pages) => {
                    if held != order {
                        Err(BuddyError::WrongOrder)
                    } else if batch.contains(&pfn) {
                        Err(BuddyError::DoubleFree)
                    } else {
                        Ok(())
                    }
                }
            },
        }
    }

    fn predict_free_blocks(&self, blocks: &[Block]) -> Result<(), BuddyError> {
        let mut batch = Vec::new();
        for block in blocks {
            let pfn = u64::from(block.pfn.0);
            self.predict_free(pfn, block.order, Kind::Pages, &batch)?;
            batch.push(pfn);
        }
        Ok(())
    }

    fn predict_free_exact(&self, pfn: u32, n: u32) -> Result<(), BuddyError> {
        if n == 0 {
            return Err(BuddyError::InvalidCount);
        }
        let end = u64::from(pfn) + u64::from(n);
        if end > u64::from(u32::MAX) {
            return Err(BuddyError::NotInPool);
        }
        for (piece, order) in naive_carve(u64::from(pfn), end, self.max_order) {
            let last = piece + (1 << order) == end;
            self.predict_free(piece, order, Kind::Exact { last }, &[])?;
        }
        match self.frame(u64::from(pfn)) {
            Frame::Alloc { start, .. } if start != pfn => Err(BuddyError::NotBlockHead),
            _ => Ok(()),
        }
    }

    /// The canonical (fully coalesced) free blocks per order.
    fn canonical_nr_free(&self) -> Vec<u32> {
        let mut nr_free = vec![0u32; usize::from(self.max_order) + 1];
        let mut cur = 0u32;
        while cur < SPAN {
            if self.frames[cur as usize] != Frame::Free {
                cur += 1;
                continue;
            }
            let mut order = 0u8;
            while order < self.max_order {
                let size = 1u32 << (order + 1);
                if cur.is_multiple_of(size) && cur + size <= SPAN && self.run_is_free(cur, size) {
                    order += 1;
                } else {
                    break;
                }
            }
            nr_free[usize::from(order)] += 1;
            cur += 1 << order;
        }
        nr_free
    }
}

fn ceil_log2(n: u32) -> u32 {
    u32::BITS - n.saturating_sub(1).leading_zeros()
}

#[derive(Clone, Debug)]
enum Op {
    AllocPages(u8),
    AllocFrames(u32),
    AllocExact(u32),
    /// Free the live allocation at `index % len` correctly.
    FreeLive(usize),
    /// Free a previously freed allocation again.
    FreeStale(usize),
    /// `free_pages` with arbitrary arguments.
    FreePagesRaw {
        pfn: u32,
        order: u8,
    },
    /// `free_exact` with arbitrary arguments.
    FreeExactRaw {
        pfn: u32,
        n: u32,
    },
    /// `free_exact` of a live exact allocation with a count off by `delta`.
    FreeExactWrongCount {
        index: usize,
        delta: i8,
    },
    /// `free_blocks` of a live allocation's blocks, spoiled by `mutation`.
    FreeBlocksSpoiled {
        index: usize,
        mutation: u8,
        pfn: u32,
        order: u8,
    },
}

fn op_strategy(max_order: u8) -> impl Strategy<Value = Op> {
    let order = 0..=max_order + 1;
    prop_oneof![
        6 => order.clone().prop_map(Op::AllocPages),
        4 => prop_oneof![0..=40u32, 0..=SPAN + 10].prop_map(Op::AllocFrames),
        3 => prop_oneof![0..=20u32, 0..=(2u32 << max_order)].prop_map(Op::AllocExact),
        12 => any::<usize>().prop_map(Op::FreeLive),
        1 => any::<usize>().prop_map(Op::FreeStale),
        2 => (prop_oneof![0..SPAN + 4, any::<u32>()], order.clone())
            .prop_map(|(pfn, order)| Op::FreePagesRaw { pfn, order }),
        1 => (prop_oneof![0..SPAN, any::<u32>()], prop_oneof![0..=20u32, any::<u32>()])
            .prop_map(|(pfn, n)| Op::FreeExactRaw { pfn, n }),
        1 => (any::<usize>(), -3i8..=3)
            .prop_map(|(index, delta)| Op::FreeExactWrongCount { index, delta }),
        2 => (any::<usize>(), 0u8..4, 0..SPAN + 4, order)
            .prop_map(|(index, mutation, pfn, order)| Op::FreeBlocksSpoiled {
                index,
                mutation,
                pfn,
                order,
            }),
    ]
}

/// A pool configuration: `max_order` and up to four `(start, count)`
/// ranges inside `0..SPAN` (possibly overlapping, empty or out of bounds:
/// add_range must reject those exactly as the model does).
fn config_strategy() -> impl Strategy<Value = (u8, Vec<(u32, u32)>)> {
    (0u8..=10).prop_flat_map(|max_order| {
        let range = (0..SPAN, prop_oneof![1..=64u32, 0..=SPAN])
            .prop_map(|(start, count)| (start, count.min(SPAN - start)));
        (Just(max_order), prop::collection::vec(range, 1..=4))
    })
}

fn build(max_order: u8, ranges: &[(u32, u32)]) -> (BuddyPool, Model) {
    let mut pool = BuddyPool::new(max_order).unwrap();
    let mut model = Model::new(max_order);
    for &(start, count) in ranges {
        let expected = model.add_range(start, count);
        let before = pool.clone();
        assert_eq!(
            pool.add_range(Pfn(start), count),
            expected,
            "add_range({start}, {count})"
        );
        if expected.is_err() {
            assert_eq!(pool, before, "failed add_range changed the pool");
        }
        pool.check_invariants().unwrap();
    }
    (pool, model)
}

fn check_free_result(
    pool: &mut BuddyPool,
    before: &BuddyPool,
    expected: Result<(), BuddyError>,
    got: Result<(), BuddyError>,
    what: &str,
) {
    assert_eq!(got, expected, "{what}");
    if got.is_err() {
        assert_eq!(pool, before, "failed {what} changed the pool");
    }
}

/// Applies one operation to pool and model, checking the pool's answer.
fn step(
    pool: &mut BuddyPool,
    model: &mut Model,
    live: &mut Vec<Live>,
    stale: &mut Vec<Live>,
    op: Op,
) {
    let before = pool.clone();
    let max_order = model.max_order;
    match op {
        Op::AllocPages(order) => {
            let got = pool.alloc_pages(order);
            if order > max_order {
                assert_eq!(got, Err(BuddyError::InvalidOrder));
            } else if model.has_free_aligned_run(order) {
                let pfn = got.expect("a free aligned run exists").0;
                assert_eq!(pfn % (1 << order), 0, "misaligned block");
                model.mark(pfn, order, Kind::Pages, pfn);
                live.push(Live::Pages { pfn, order });
            } else {
                assert_eq!(got, Err(BuddyError::OutOfMemory));
            }
        }
        Op::AllocFrames(n) => {
            let sentinel = Block {
                pfn: Pfn(u32::MAX),
                order: 7,
            };
            let mut out = vec![sentinel];
            let got = pool.alloc_frames(n, &mut out);
            if n == 0 || n > model.free_count() {
                let err = if n == 0 {
                    BuddyError::InvalidCount
                } else {
                    BuddyError::OutOfMemory
                };
                assert_eq!(got, Err(err));
                assert_eq!(out, [sentinel], "failed alloc_frames changed out");
            } else {
                got.expect("enough free frames");
                assert_eq!(out[0], sentinel);
                let blocks = out.split_off(1);
                assert_eq!(blocks.iter().map(Block::pages).sum::<u32>(), n);
                assert!(
                    blocks.windows(2).all(|w| w[0].order >= w[1].order),
                    "not largest first: {blocks:?}"
                );
                for block in &blocks {
                    assert!(block.order <= max_order);
                    assert_eq!(block.pfn.0 % block.pages(), 0, "misaligned block");
                    model.mark(block.pfn.0, block.order, Kind::Pages, block.pfn.0);
                }
                live.push(Live::Frames(blocks));
            }
        }
        Op::AllocExact(n) => {
            let got = pool.alloc_exact(n);
            if n == 0 || ceil_log2(n) > u32::from(max_order) {
                assert_eq!(got, Err(BuddyError::InvalidCount));
            } else if model.has_free_aligned_run(ceil_log2(n) as u8) {
                let pfn = got.expect("a free aligned run exists").0;
                assert_eq!(pfn % (1 << ceil_log2(n)), 0, "misaligned exact block");
                let end = u64::from(pfn) + u64::from(n);
                for (piece, order) in naive_carve(u64::from(pfn), end, max_order) {
                    let last = piece + (1 << order) == end;
                    model.mark(piece as u32, order, Kind::Exact { last }, pfn);
                }
                live.push(Live::Exact { pfn, n });
            } else {
                assert_eq!(got, Err(BuddyError::OutOfMemory));
            }
        }
        Op::FreeLive(index) => {
            if live.is_empty() {
                return;
            }
            let victim = live.swap_remove(index % live.len());
            match &victim {
                Live::Pages { pfn, order } => {
                    pool.free_pages(Pfn(*pfn), *order).unwrap();
                    model.release(*pfn, *order);
                }
                Live::Frames(blocks) => {
                    pool.free_blocks(blocks).unwrap();
                    for block in blocks {
                        model.release(block.pfn.0, block.order);
                    }
                }
                Live::Exact { pfn, n } => {
                    pool.free_exact(Pfn(*pfn), *n).unwrap();
                    for p in *pfn..*pfn + *n {
                        model.frames[p as usize] = Frame::Free;
                    }
                }
            }
            stale.push(victim);
        }
        Op::FreeStale(index) => {
            if stale.is_empty() {
                return;
            }
            // The frames may have been reallocated since: the model says
            // what a second free must report now (usually DoubleFree, or
            // an error for whatever block holds them today; never Ok
            // unless the very same block was handed out again).
            let ghost = stale[index % stale.len()].clone();
            match ghost {
                Live::Pages { pfn, order } => {
                    let expected = model.predict_free(u64::from(pfn), order, Kind::Pages, &[]);
                    if expected.is_ok() {
                        return; // the same block is live again under a new owner
                    }
                    let got = pool.free_pages(Pfn(pfn), order);
                    check_free_result(pool, &before, expected, got, "stale free_pages");
                }
                Live::Frames(blocks) => {
                    let expected = model.predict_free_blocks(&blocks);
                    if expected.is_ok() {
                        return;
                    }
                    let got = pool.free_blocks(&blocks);
                    check_free_result(pool, &before, expected, got, "stale free_blocks");
                }
                Live::Exact { pfn, n } => {
                    let expected = model.predict_free_exact(pfn, n);
                    if expected.is_ok() {
                        return;
                    }
                    let got = pool.free_exact(Pfn(pfn), n);
                    check_free_result(pool, &before, expected, got, "stale free_exact");
                }
            }
        }
        Op::FreePagesRaw { pfn, order } => {
            let expected = model.predict_free(u64::from(pfn), order, Kind::Pages, &[]);
            let got = pool.free_pages(Pfn(pfn), order);
            check_free_result(pool, &before, expected, got, "raw free_pages");
            if got.is_ok() {
                model.release(pfn, order);
                forget_block(live, pfn);
            }
        }
        Op::FreeExactRaw { pfn, n } => {
            let expected = model.predict_free_exact(pfn, n);
            let got = pool.free_exact(Pfn(pfn), n);
            check_free_result(pool, &before, expected, got, "raw free_exact");
            if got.is_ok() {
                for p in pfn..pfn + n {
                    model.frames[p as usize] = Frame::Free;
                }
                live.retain(|l| !matches!(l, Live::Exact { pfn: p, .. } if *p == pfn));
            }
        }
        Op::FreeExactWrongCount { index, delta } => {
            let exact: Vec<(u32, u32)> = live
                .iter()
                .filter_map(|l| match l {
                    Live::Exact { pfn, n } => Some((*pfn, *n)),
                    _ => None,
                })
                .collect();
            if exact.is_empty() || delta == 0 {
                return;
            }
            let (pfn, n) = exact[index % exact.len()];
            let wrong_n = n.saturating_add_signed(i32::from(delta));
            let expected = model.predict_free_exact(pfn, wrong_n);
            assert!(expected.is_err() || wrong_n == n);
            let got = pool.free_exact(Pfn(pfn), wrong_n);
            check_free_result(
                pool,
                &before,
                expected,
                got,
                "free_exact with a wrong count",
            );
        }
        Op::FreeBlocksSpoiled {
            index,
            mutation,
            pfn,
            order,
        } => {
            let mut blocks = match live.get(index % live.len().max(1)) {
                Some(Live::Frames(blocks)) => blocks.clone(),
                Some(Live::Pages { pfn, order }) => vec![Block {
                    pfn: Pfn(*pfn),
                    order: *order,
                }],
                _ => Vec::new(),
            };
            let pick = pfn as usize % blocks.len().max(1);
            match mutation {
                0 if !blocks.is_empty() => blocks.push(blocks[pick]),
                1 if !blocks.is_empty() => blocks[pick].order = order,
                2 if !blocks.is_empty() => blocks[pick].pfn.0 += 1,
                _ => blocks.push(Block {
                    pfn: Pfn(pfn),
                    order,
                }),
            }
            let expected = model.predict_free_blocks(&blocks);
            let got = pool.free_blocks(&blocks);
            check_free_result(pool, &before, expected, got, "spoiled free_blocks");
            if got.is_ok() {
                // Freed some live blocks through an unusual path: drop them
                // from the model and from whatever allocation held them.
                for block in &blocks {
                    model.release(block.pfn.0, block.order);
                    forget_block(live, block.pfn.0);
                }
            }
        }
    }
}

/// Drops the block at `pfn` from the live allocation holding it.
fn forget_block(live: &mut Vec<Live>, pfn: u32) {
    for l in live.iter_mut() {
        if let Live::Frames(blocks) = l {
            blocks.retain(|b| b.pfn.0 != pfn);
        }
    }
    live.retain(|l| match l {
        Live::Pages { pfn: p, .. } => *p != pfn,
        Live::Frames(blocks) => !blocks.is_empty(),
        Live::Exact { .. } => true,
    });
}

fn check_against_model(pool: &BuddyPool, model: &Model) {
    if let Err(why) = pool.check_invariants() {
        panic!("invariant broken: {why}");
    }
    assert_eq!(
        pool.free_frames(),
        model.free_count(),
        "free frame accounting"
    );
    assert_eq!(pool.total_frames(), model.total());
}

fn free_everything(pool: &mut BuddyPool, model: &mut Model, live: &mut Vec<Live>) {
    let mut stale = Vec::new();
    while !live.is_empty() {
        step(pool, model, live, &mut stale, Op::FreeLive(live.len() / 2));
        check_against_model(pool, model);
    }
}

fn nr_free_all(pool: &BuddyPool) -> Vec<u32> {
    (0..=pool.max_order()).map(|o| pool.nr_free(o)).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8000, ..ProptestConfig::default() })]

    /// Random good and bad operations agree with the model at every step;
    /// after freeing everything the pool is coalesced as when fresh.
    #[test]
    fn random_operations_match_the_reference_model(
        (max_order, ranges, ops) in config_strategy().prop_flat_map(|(max_order, ranges)| {
            (Just(max_order), Just(ranges), prop::collection::vec(op_strategy(max_order), 1..80))
        })
    ) {
        let (mut pool, mut model) = build(max_order, &ranges);
        let fresh = pool.clone();
        let fresh_nr_free = nr_free_all(&pool);
        prop_assert_eq!(&fresh_nr_free, &model.canonical_nr_free());
        let mut live = Vec::new();
        let mut stale = Vec::new();
        for op in ops {
            step(&mut pool, &mut model, &mut live, &mut stale, op);
            check_against_model(&pool, &model);
        }
        // Per-frame queries agree with the model.
        for pfn in 0..SPAN + 2 {
            let frame = model.frame(u64::from(pfn));
            prop_assert_eq!(pool.contains(Pfn(pfn)), frame != Frame::Hole);
            prop_assert_eq!(pool.is_allocated(Pfn(pfn)), matches!(frame, Frame::Alloc { .. }));
        }
        prop_assert_eq!(nr_free_all(&pool), model.canonical_nr_free());
        free_everything(&mut pool, &mut model, &mut live);
        prop_assert_eq!(pool.free_frames(), pool.total_frames());
        prop_assert_eq!(nr_free_all(&pool), fresh_nr_free);
        let mut info = String::new();
        pool.write_buddyinfo(&mut info).unwrap();
        let mut fresh_info = String::new();
        fresh.write_buddyinfo(&mut fresh_info).unwrap();
        prop_assert_eq!(info, fresh_info);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]

    /// Bulk allocation against a fragmented pool: succeeds iff enough frames
    /// are free, largest blocks first, and a failure changes nothing.
    #[test]
    fn alloc_frames_on_fragmented_pools(
        max_order in 0u8..=10,
        keep in prop::collection::vec(any::<bool>(), 1..400),
        requests in prop::collection::vec(0u32..600, 1..8),
    ) {
        let mut pool = BuddyPool::new(max_order).unwrap();
        pool.add_range(Pfn(5), 1000).unwrap();
        // Fragment: allocate single frames, free a random subset.
        let singles: Vec<Pfn> = (0..keep.len()).map(|_| pool.alloc_pages(0).unwrap()).collect();
        for (pfn, keep) in singles.iter().zip(&keep) {
            if !keep {
                pool.free_pages(*pfn, 0).unwrap();
            }
        }
        let mut held = Vec::new();
        for n in requests {
            let before = pool.clone();
            let mut out = Vec::new();
            match pool.alloc_frames(n, &mut out) {
                Ok(()) => {
                    prop_assert!(n > 0 && n <= before.free_frames());
                    prop_assert_eq!(out.iter().map(Block::pages).sum::<u32>(), n);
                    prop_assert!(out.windows(2).all(|w| w[0].order >= w[1].order));
                    // Largest fitting first: the first block is never
                    // smaller than the largest free order that fit, nor
                    // larger than the need.
                    let need = (31 - n.leading_zeros()).min(u32::from(max_order)) as u8;
                    let best_free = (0..=need).rev().find(|&o| before.nr_free(o) > 0);
                    prop_assert!(out[0].order <= need);
                    prop_assert!(out[0].order >= best_free.unwrap_or(need));
                    // Fragments first: if the free blocks no larger than the
                    // need hold enough frames, no larger block is split.
                    let small_frames: u32 = (0..=need).map(|o| before.nr_free(o) << o).sum();
                    if small_frames >= n {
                        for order in need + 1..=max_order {
                            prop_assert_eq!(pool.nr_free(order), before.nr_free(order));
                        }
                    }
                    prop_assert_eq!(pool.free_frames(), before.free_frames() - n);
                    held.push(out);
                }
                Err(err) => {
                    let expected = if n == 0 { BuddyError::InvalidCount } else { BuddyError::OutOfMemory };
                    prop_assert_eq!(err, expected);
                    prop_assert!(n == 0 || n > before.free_frames());
                    prop_assert!(out.is_empty());
                    prop_assert_eq!(&pool, &before);
                }
            }
            prop_assert_eq!(pool.check_invariants(), Ok(()));
        }
        for blocks in held {
            pool.free_blocks(&blocks).unwrap();
        }
        for (pfn, keep) in singles.iter().zip(&keep) {
            if *keep {
                pool.free_pages(*pfn, 0).unwrap();
            }
        }
        let mut fresh = BuddyPool::new(max_order).unwrap();
        fresh.add_range(Pfn(5), 1000).unwrap();
        prop_assert_eq!(nr_free_all(&pool), nr_free_all(&fresh));
        prop_assert_eq!(pool.check_invariants(), Ok(()));
    }

    /// Ranges in any order and alignment give the canonical decomposition
    /// of their union, however they were split into add_range calls.
    #[test]
    fn add_range_gives_the_canonical_decomposition(
        max_order in 0u8..=10,
        cuts in prop::collection::btree_set(0..SPAN, 2..12),
        order_seed in any::<u64>(),
        skip_mask in any::<u16>(),
    ) {
        let cuts: Vec<u32> = cuts.into_iter().collect();
        let mut pieces: Vec<(u32, u32)> = cuts
            .windows(2)
            .enumerate()
            .filter(|(i, _)| skip_mask & (1 << (i % 16)) == 0)
            .map(|(_, w)| (w[0], w[1] - w[0]))
            .collect();
        // Deterministic shuffle from the seed.
        let mut seed = order_seed;
        for i in (1..pieces.len()).rev() {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            pieces.swap(i, (seed >> 33) as usize % (i + 1));
        }
        let (pool, model) = build(max_order, &pieces);
        prop_assert_eq!(nr_free_all(&pool), model.canonical_nr_free());
        prop_assert_eq!(pool.free_frames(), model.total());
    }
}
