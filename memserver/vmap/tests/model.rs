//! Model-based property test: random alloc / free / purge sequences (and
//! bad requests) against a naive reference — busy and lazy ranges in plain
//! vectors, the lowest fit found by a linear scan of the gaps — comparing
//! every result and checking every invariant after every step.
//!
//! With the size-class pools on, the checked guarantee is the documented
//! relaxation: an allocation returns either a pooled area of exactly its
//! size (aligned, inside the window, overlapping nothing live or lazy),
//! or the lowest fit of the free tree (pooled areas counted as taken);
//! when neither exists the pools go back to the tree and the lowest fit
//! of everything free is returned; it fails only when no fit exists at
//! all; and the pools never hold more pages than the last purge returned.

use abi::{VirtAddr, PAGE_SIZE};
use proptest::prelude::*;
use vmap::{AllocRequest, Flush, Vmap, VmapConfig, VmapError};

const P: u32 = PAGE_SIZE;
const S: u32 = 0x4000_0000;

#[derive(Clone, Debug)]
enum Op {
    Alloc {
        pages: u32,
        align_shift: u32,
        guard: bool,
        range: Option<(u32, u32)>,
    },
    /// Free the live area with this index (modulo the live count).
    Free(usize),
    /// Free an arbitrary (mostly bogus) address.
    FreeAddr(u32),
    Purge,
    Find(u32),
    BadAlloc(u32, u32),
}

fn op(window: u32) -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (1u32..24, 0u32..6, proptest::bool::weighted(0.8),
              proptest::option::weighted(0.2, (0..window, 0..=window)))
            .prop_map(|(pages, align_shift, guard, range)| Op::Alloc { pages, align_shift, guard, range }),
        5 => any::<usize>().prop_map(Op::Free),
        1 => (0..window * P + 2 * P).prop_map(Op::FreeAddr),
        1 => Just(Op::Purge),
        1 => (0..window * P + P).prop_map(Op::Find),
        1 => (any::<u32>(), any::<u32>()).prop_map(|(s, a)| Op::BadAlloc(s, a)),
    ]
}

/// The reference: busy (start, end, tag) and lazy (start, end), offsets in
/// bytes from the window start.
struct Model {
    window: u32,
    lazy_max: u32,
    busy: Vec<(u32, u32, u32)>,
    lazy: Vec<(u32, u32)>,
    lazy_pages: u32,
    flushes: u32,
    /// The allocator's pooled areas just before the current allocation.
    pooled: Vec<(u32, u32)>,
}

impl Model {
    fn lowest(&self, size: u32, align: u32, lo: u32, hi: u32) -> Option<u32> {
        self.lowest_taking(size, align, lo, hi, &[])
    }

    /// The lowest fit with `also` counted as taken.
    fn lowest_taking(
        &self,
        size: u32,
        align: u32,
        lo: u32,
        hi: u32,
        also: &[(u32, u32)],
    ) -> Option<u32> {
        let mut taken: Vec<(u32, u32)> = self.busy.iter().map(|b| (b.0, b.1)).collect();
        taken.extend(self.lazy.iter().copied());
        taken.extend(also.iter().copied());
        taken.sort_unstable();
        let mut at = 0u32;
        let mut gaps = Vec::new();
        for (s, e) in taken {
            if s > at {
                gaps.push((at, s));
            }
            at = e;
        }
        if at < self.window {
            gaps.push((at, self.window));
        }
        for (gs, ge) in gaps {
            let s = gs.max(lo);
            let e = ge.min(hi);
            // Window offsets are aligned like absolute addresses because S
            // is aligned to every alignment tested here.
            let a = s.div_ceil(align) * align;
            if a < e && e - a >= size {
                return Some(a);
            }
        }
        None
    }

    fn purge(&mut self) {
        if !self.lazy.is_empty() {
            self.flushes += 1;
        }
        self.lazy.clear();
        self.lazy_pages = 0;
    }

    /// Whether `[a, a+size)` is an `align`-aligned fit inside `[lo, hi)`
    /// that overlaps no busy or lazy range.
    fn fits(&self, a: u32, size: u32, align: u32, lo: u32, hi: u32) -> bool {
        a.is_multiple_of(align)
            && a >= lo
            && a.checked_add(size).is_some_and(|e| e <= hi)
            && self
                .busy
                .iter()
                .map(|b| (b.0, b.1))
                .chain(self.lazy.iter().copied())
                .all(|(s, e)| e <= a || s >= a + size)
    }

    /// Allocates at the lowest fit — or at `prefer` if it is another valid
    /// fit above it (the allocator under test chose a higher address, as
    /// its pruned aligned search may).
    fn alloc(
        &mut self,
        size: u32,
        align: u32,
        lo: u32,
        hi: u32,
        tag: u32,
        prefer: Option<u32>,
    ) -> Option<u32> {
        // A pooled area of exactly this size (the allocator's choice,
        // passed as `prefer`) is accepted as it stands.
        if let Some(p) = prefer {
            if self.pooled.contains(&(p, p + size)) && self.fits(p, size, align, lo, hi) {
                let i = self.busy.partition_point(|b| b.0 < p);
                self.busy.insert(i, (p, p + size, tag));
                return Some(p);
            }
        }
        let pooled = core::mem::take(&mut self.pooled);
        let a = match self.lowest_taking(size, align, lo, hi, &pooled) {
            Some(a) => Some(a),
            // The pools went back to the free tree.
            None => self.lowest(size, align, lo, hi),
        };
        self.pooled = pooled;
        let a = match a {
            Some(a) => a,
            None if !self.lazy.is_empty() => {
                self.purge();
                self.lowest(size, align, lo, hi)?
            }
            None => return None,
        };
        let a = match prefer {
            Some(p) if p > a && self.fits(p, size, align, lo, hi) => p,
            _ => a,
        };
        let i = self.busy.partition_point(|b| b.0 < a);
        self.busy.insert(i, (a, a + size, tag));
        Some(a)
    }

    fn free(&mut self, i: usize) -> u32 {
        let (s, e, tag) = self.busy.remove(i);
        self.lazy.push((s, e));
        self.lazy_pages += (e - s) / P;
        if self.lazy_pages > self.lazy_max {
            self.purge();
        }
        tag
    }
}

/// `budget`: `None` runs the exact search (every result must equal the
/// reference's lowest fit); `Some(b)` lets aligned searches switch to
/// Linux's pruning after `b` ranges, and then accepts any valid fit above
/// the lowest one, but still requires a fit whenever one exists.
///
/// `pools`: the size-class pools' largest size in pages (0: off, every
/// result the exact reference answer).
fn run(
    window: u32,
    lazy_max: u32,
    ops: Vec<Op>,
    budget: Option<u32>,
    pools: u32,
) -> Result<(), TestCaseError> {
    let mut v: Vmap<u32> = Vmap::new(VmapConfig {
        start: VirtAddr(S),
        end: VirtAddr(S + window * P),
        lazy_max_pages: lazy_max,
    })
    .unwrap();
    v.set_exact_align_budget(budget.unwrap_or(u32::MAX));
    v.set_pool_max_pages(pools);
    let mut m = Model {
        window: window * P,
        lazy_max,
        busy: Vec::new(),
        lazy: Vec::new(),
        lazy_pages: 0,
        flushes: 0,
        pooled: Vec::new(),
    };
    let mut flushes = 0u32;
    let mut last_flush_pages = 0u32;
    let mut tag = 0u32;
    for op in ops {
        m.pooled = v
            .pooled_ranges()
            .map(|r| (r.start.0 - S, r.end.0 - S))
            .collect();
        let mut f = |b: &Flush<'_>| {
            flushes += 1;
            last_flush_pages = b.pages;
            // A batch is sorted, coalesced and covers exactly its pages.
            let mut pages = 0;
            for w in b.ranges.windows(2) {
                assert!(w[0].end < w[1].start);
            }
            for r in b.ranges {
                pages += r.pages();
            }
            assert_eq!(pages, b.pages);
        };
        match op {
            Op::Alloc {
                pages,
                align_shift,
                guard,
                range,
            } => {
                tag += 1;
                let align = P << align_shift;
                let size = pages * P;
                let mut req = AllocRequest::new(size).align(align);
                let (lo, hi) = match range {
                    Some((a, b)) => {
                        req = req.range(VirtAddr(S + a * P), VirtAddr(S + b * P));
                        (a * P, (b * P).min(m.window))
                    }
                    None => (0, m.window),
                };
                if !guard {
                    req = req.no_guard();
                }
                let got = v.alloc(&req, tag, &mut f);
                let total = size + if guard { P } else { 0 };
                let want = if lo >= hi {
                    Err(VmapError::InvalidRange)
                } else if total > hi - lo {
                    Err(VmapError::NoVirtualSpace)
                } else {
                    let prefer = match (budget, got) {
                        (Some(_), Ok(r)) => r.start.0.checked_sub(S),
                        (None, Ok(r)) if pools != 0 => {
                            // Only a pooled area may differ from the
                            // reference's lowest fit.
                            let a = r.start.0.wrapping_sub(S);
                            m.pooled.contains(&(a, a + total)).then_some(a)
                        }
                        _ => None,
                    };
                    m.alloc(total, align, lo, hi, tag, prefer)
                        .map(|a| S + a)
                        .ok_or(VmapError::NoVirtualSpace)
                };
                prop_assert_eq!(got.map(|r| r.start.0), want);
                if let Ok(r) = got {
                    prop_assert_eq!(r.size(), total);
                    prop_assert_eq!(r.start.0 % align, 0);
                }
            }
            Op::Free(i) => {
                if !m.busy.is_empty() {
                    let i = i % m.busy.len();
                    let start = S + m.busy[i].0;
                    let want = m.free(i);
                    prop_assert_eq!(v.free(VirtAddr(start), &mut f), Ok(want));
                }
            }
            Op::FreeAddr(off) => {
                let addr = S.wrapping_add(off).wrapping_sub(P);
                let want = if addr % P != 0 {
                    Err(VmapError::UnalignedAddress)
                } else if let Some(i) = m.busy.iter().position(|b| S + b.0 == addr) {
                    Ok(m.free(i))
                } else {
                    Err(VmapError::NotFound)
                };
                prop_assert_eq!(v.free(VirtAddr(addr), &mut f), want);
            }
            Op::Purge => {
                let want_pages = m.lazy_pages;
                let st = v.purge(&mut f);
                prop_assert_eq!(st.pages, want_pages);
                m.purge();
            }
            Op::Find(off) => {
                let addr = S + off;
                let got = v
                    .find(VirtAddr(addr))
                    .map(|a| (a.va_start.0, a.va_end.0, *a.private));
                let want = m
                    .busy
                    .iter()
                    .find(|b| S + b.0 <= addr && addr < S + b.1)
                    .map(|b| (S + b.0, S + b.1, b.2));
                prop_assert_eq!(got, want);
            }
            Op::BadAlloc(size, align) => {
                // Arbitrary values: must be an error or a valid area.
                let req = AllocRequest::new(size).align(align);
                tag += 1;
                let want = if size == 0 || size % P != 0 || size > u32::MAX - P {
                    Some(VmapError::InvalidSize)
                } else if align == 0 || !align.is_power_of_two() {
                    Some(VmapError::BadAlignment)
                } else {
                    None
                };
                match (v.alloc(&req, tag, &mut f), want) {
                    (Err(e), Some(w)) => prop_assert_eq!(e, w),
                    (Ok(r), None) => {
                        let a = r.start.0.wrapping_sub(S);
                        let pooled = m.pooled.contains(&(a, a + r.size()));
                        let prefer = if budget.is_some() || pooled {
                            r.start.0.checked_sub(S)
                        } else {
                            None
                        };
                        let a = m
                            .alloc(r.size(), align.max(P), 0, m.window, tag, prefer)
                            .map(|a| S + a);
                        prop_assert_eq!(Some(r.start.0), a);
                    }
                    (Err(e), None) => {
                        prop_assert_eq!(e, VmapError::NoVirtualSpace);
                        let total = size + P;
                        prop_assert!(
                            total > m.window
                                || m.alloc(total, align.max(P), 0, m.window, tag, None)
                                    .is_none()
                        );
                    }
                    (Ok(_), Some(w)) => prop_assert!(false, "accepted, expected {:?}", w),
                }
            }
        }
        if let Err(e) = v.check_invariants() {
            prop_assert!(false, "invariant: {}", e);
        }
        prop_assert_eq!(flushes, m.flushes);
        let st = v.stats();
        prop_assert_eq!(st.busy_areas as usize, m.busy.len());
        prop_assert_eq!(st.lazy_pages, m.lazy_pages);
        // The pools hold at most what the last purge returned.
        prop_assert!(st.pooled_pages <= last_flush_pages);
        if pools == 0 {
            prop_assert_eq!(st.pooled_areas, 0);
        }
    }
    // Everything freed and purged: one free range, the whole window.
    let starts: Vec<u32> = v.iter().map(|a| a.va_start.0).collect();
    let mut f = |_: &Flush<'_>| {};
    for s in starts {
        v.free(VirtAddr(s), &mut f).unwrap();
    }
    v.purge(&mut f);
    // Pooled areas count as free; drained, they merge into one range.
    prop_assert_eq!(v.stats().free_bytes, window * P);
    v.drain_pools();
    prop_assert!(v.check_invariants().is_ok());
    prop_assert_eq!(v.free_ranges().count(), 1);
    prop_assert_eq!(v.stats().free_bytes, window * P);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 10_000, ..ProptestConfig::default() })]

    #[test]
    fn vmap_matches_reference_model(
        window in 8u32..200,
        lazy_max in prop_oneof![Just(0u32), 1u32..40, Just(10_000)],
        ops in proptest::collection::vec(op(200), 1..120),
    ) {
        run(window, lazy_max, ops, None, 0)?;
    }

    #[test]
    fn vmap_pruned_alignment_matches_model(
        window in 8u32..200,
        lazy_max in prop_oneof![Just(0u32), 1u32..40, Just(10_000)],
        ops in proptest::collection::vec(op(200), 1..120),
        budget in 1u32..4,
    ) {
        run(window, lazy_max, ops, Some(budget), 0)?;
    }

    #[test]
    fn vmap_with_pools_matches_relaxed_model(
        window in 8u32..200,
        lazy_max in prop_oneof![Just(0u32), 1u32..40, Just(10_000)],
        ops in proptest::collection::vec(op(200), 1..120),
        pools in 1u32..=vmap::POOL_MAX_PAGES,
    ) {
        run(window, lazy_max, ops, None, pools)?;
    }
}
