//! Unit tests: every split (va_clip) and merge (merge_or_add) case, lazy
//! purge, exhaustion, lookups and argument errors.

extern crate std;

use super::*;
use std::vec;
use std::vec::Vec;

const P: u32 = PAGE_SIZE;
const S: u32 = 0x4000_0000;

fn window(pages: u32, lazy: u32) -> Vmap<u32> {
    Vmap::new(VmapConfig {
        start: VirtAddr(S),
        end: VirtAddr(S + pages * P),
        lazy_max_pages: lazy,
    })
    .unwrap()
}

fn free_list(v: &Vmap<u32>) -> Vec<(u32, u32)> {
    v.free_ranges()
        .map(|r| ((r.start.0 - S) / P, (r.end.0 - S) / P))
        .collect()
}

fn no_flush() -> impl FnMut(&Flush<'_>) {
    |_f: &Flush<'_>| panic!("unexpected flush")
}

fn alloc(v: &mut Vmap<u32>, req: AllocRequest) -> Result<u32, VmapError> {
    let mut f = |_: &Flush<'_>| {};
    v.alloc(&req, 7, &mut f).map(|r| (r.start.0 - S) / P)
}

#[test]
fn classify_all_four_fit_types() {
    assert_eq!(classify_fit(0, 10, 0, 10), FitType::Full);
    assert_eq!(classify_fit(0, 10, 0, 4), FitType::LeftEdge);
    assert_eq!(classify_fit(0, 10, 6, 4), FitType::RightEdge);
    assert_eq!(classify_fit(0, 10, 3, 4), FitType::NoEdge);
}

/// FL_FIT_TYPE:
/// ```text
///   |  free (4 pages) |        →   (nothing free)
///   |<--- 3 + guard ->|
/// ```
#[test]
fn fl_fit_removes_the_node() {
    let mut v = window(4, 0);
    assert_eq!(alloc(&mut v, AllocRequest::new(3 * P)), Ok(0));
    assert_eq!(free_list(&v), vec![]);
    v.check_invariants().unwrap();
    assert_eq!(
        alloc(&mut v, AllocRequest::new(P)),
        Err(VmapError::NoVirtualSpace)
    );
}

/// LE_FIT_TYPE:
/// ```text
///   |      free [0,8)      |  →  [0,2) busy | free [2,8)
///   |<1+g>|
/// ```
#[test]
fn le_fit_moves_va_start() {
    let mut v = window(8, 0);
    assert_eq!(alloc(&mut v, AllocRequest::new(P)), Ok(0));
    assert_eq!(free_list(&v), vec![(2, 8)]);
    v.check_invariants().unwrap();
}

/// RE_FIT_TYPE:
/// ```text
///   |      free [0,8)      |  →  free [0,6) | [6,8) busy
///                  |<1+g>|      (vstart = 6 forces the right edge)
/// ```
#[test]
fn re_fit_moves_va_end() {
    let mut v = window(8, 0);
    let req = AllocRequest::new(P).range(VirtAddr(S + 6 * P), VirtAddr(S + 8 * P));
    assert_eq!(alloc(&mut v, req), Ok(6));
    assert_eq!(free_list(&v), vec![(0, 6)]);
    v.check_invariants().unwrap();
}

/// NE_FIT_TYPE:
/// ```text
///   |      free [0,16)         |  →  free [0,4) | [4,6) busy | free [6,16)
///           |<1+g>|                  (4-page alignment, vstart = 1)
/// ```
#[test]
fn ne_fit_splits_in_two() {
    let mut v = window(16, 0);
    let req = AllocRequest::new(P)
        .align(4 * P)
        .range(VirtAddr(S + P), VirtAddr(S + 16 * P));
    assert_eq!(alloc(&mut v, req), Ok(4));
    assert_eq!(free_list(&v), vec![(0, 4), (6, 16)]);
    v.check_invariants().unwrap();
}

/// Merge cases of `merge_or_add_vmap_area` (lazy_max_pages = 0 purges on
/// every free):
/// ```text
///   A [0,2) B [2,4) C [4,6) D [6,8) free [8,16)
///   free B: no free neighbour            → insert  [2,4)
///   free D: next neighbour [8,16)        → merge   [6,16)
///   free A: next neighbour [2,4)         → merge   [0,4)
///   free C: both neighbours              → merge   [0,16)
/// ```
#[test]
fn merge_with_neighbours_all_cases() {
    let mut v = window(16, 0);
    let a: Vec<u32> = (0..4)
        .map(|_| alloc(&mut v, AllocRequest::new(P)).unwrap())
        .collect();
    assert_eq!(a, vec![0, 2, 4, 6]);
    let mut flushes = 0;
    let mut f = |b: &Flush<'_>| {
        flushes += 1;
        assert_eq!(b.ranges.len(), 1);
    };
    v.free(VirtAddr(S + 2 * P), &mut f).unwrap();
    assert_eq!(free_list(&v), vec![(2, 4), (8, 16)]);
    v.free(VirtAddr(S + 6 * P), &mut f).unwrap();
    assert_eq!(free_list(&v), vec![(2, 4), (6, 16)]);
    v.free(VirtAddr(S), &mut f).unwrap();
    assert_eq!(free_list(&v), vec![(0, 4), (6, 16)]);
    v.check_invariants().unwrap();
    v.free(VirtAddr(S + 4 * P), &mut f).unwrap();
    assert_eq!(free_list(&v), vec![(0, 16)]);
    assert_eq!(flushes, 4);
    v.check_invariants().unwrap();
}

/// The previous-neighbour-only merge:
/// ```text
///   free [0,2) | A [2,4) | B [4,6) ...   free A → [0,4)
/// ```
#[test]
fn merge_with_previous_only() {
    let mut v = window(8, 0);
    let req = AllocRequest::new(P).range(VirtAddr(S + 2 * P), VirtAddr(S + 8 * P));
    assert_eq!(alloc(&mut v, req), Ok(2));
    assert_eq!(alloc(&mut v, req), Ok(4));
    let mut f = |_: &Flush<'_>| {};
    v.free(VirtAddr(S + 2 * P), &mut f).unwrap();
    assert_eq!(free_list(&v), vec![(0, 4), (6, 8)]);
    v.check_invariants().unwrap();
}

#[test]
fn lazy_free_waits_for_threshold_then_one_batched_flush() {
    // Threshold 6 pages: three 1-page areas (2 pages each with guard) stay
    // lazy; the fourth free crosses it.
    let mut v = window(64, 6);
    for i in 0..4 {
        assert_eq!(alloc(&mut v, AllocRequest::new(P)), Ok(2 * i));
    }
    let mut nf = no_flush();
    v.free(VirtAddr(S), &mut nf).unwrap();
    v.free(VirtAddr(S + 4 * P), &mut nf).unwrap();
    v.free(VirtAddr(S + 2 * P), &mut nf).unwrap();
    assert_eq!(v.stats().lazy_pages, 6);
    // Lazily freed ranges are not reusable yet.
    assert_eq!(alloc(&mut v, AllocRequest::new(P)), Ok(8));
    v.check_invariants().unwrap();
    let mut batches = Vec::new();
    let mut f = |b: &Flush<'_>| batches.push((b.ranges.to_vec(), b.start, b.end, b.pages));
    v.free(VirtAddr(S + 6 * P), &mut f).unwrap();
    assert_eq!(batches.len(), 1);
    let (ranges, start, end, pages) = &batches[0];
    // Sorted and coalesced into one range.
    assert_eq!(
        ranges,
        &vec![VaRange {
            start: VirtAddr(S),
            end: VirtAddr(S + 8 * P)
        }]
    );
    assert_eq!(
        (*start, *end, *pages),
        (VirtAddr(S), VirtAddr(S + 8 * P), 8)
    );
    assert_eq!(free_list(&v), vec![(0, 8), (10, 64)]);
    assert_eq!(v.stats().purges, 1);
    v.check_invariants().unwrap();
}

#[test]
fn exhaustion_purges_once_and_retries() {
    let mut v = window(8, 1000);
    assert_eq!(alloc(&mut v, AllocRequest::new(3 * P)), Ok(0));
    assert_eq!(alloc(&mut v, AllocRequest::new(3 * P)), Ok(4));
    let mut nf = no_flush();
    v.free(VirtAddr(S), &mut nf).unwrap();
    let mut flushes = 0;
    let mut f = |_: &Flush<'_>| flushes += 1;
    let r = v.alloc(&AllocRequest::new(3 * P), 1, &mut f).unwrap();
    assert_eq!(r.start, VirtAddr(S));
    assert_eq!(flushes, 1);
    assert_eq!(v.stats().retries, 1);
    // Nothing lazy any more: a failure is final and does not flush.
    let mut nf = no_flush();
    assert_eq!(
        v.alloc(&AllocRequest::new(P), 1, &mut nf),
        Err(VmapError::NoVirtualSpace)
    );
    v.check_invariants().unwrap();
}

#[test]
fn find_by_any_address_including_guard() {
    let mut v = window(16, 0);
    let mut f = |_: &Flush<'_>| {};
    v.alloc(&AllocRequest::new(2 * P), 11, &mut f).unwrap();
    v.alloc(&AllocRequest::new(P).no_guard(), 22, &mut f)
        .unwrap();
    let a = v.find(VirtAddr(S + 2 * P + 5)).unwrap();
    assert_eq!((a.va_start.0, a.va_end.0, *a.private), (S, S + 3 * P, 11));
    let b = v.find(VirtAddr(S + 3 * P + 0xfff)).unwrap();
    assert_eq!(
        (b.va_start.0, b.va_end.0, *b.private),
        (S + 3 * P, S + 4 * P, 22)
    );
    assert!(v.find(VirtAddr(S + 4 * P)).is_none());
    assert!(v.find(VirtAddr(S - 1)).is_none());
    assert!(v.find(VirtAddr(u32::MAX)).is_none(), "sentinel visible");
    assert!(v.get_mut(VirtAddr(u32::MAX)).is_none());
    assert_eq!(v.len(), 2);
    assert_eq!(v.iter().count(), 2);
    *v.get_mut(VirtAddr(S)).unwrap() = 33;
    assert_eq!(*v.find(VirtAddr(S)).unwrap().private, 33);
    assert!(v.get_mut(VirtAddr(S + P)).is_none());
}

#[test]
fn argument_errors() {
    let mut v = window(16, 0);
    let mut f = |_: &Flush<'_>| {};
    let e = |v: &mut Vmap<u32>, r: AllocRequest| alloc(v, r).unwrap_err();
    assert_eq!(e(&mut v, AllocRequest::new(0)), VmapError::InvalidSize);
    assert_eq!(e(&mut v, AllocRequest::new(100)), VmapError::InvalidSize);
    assert_eq!(
        e(&mut v, AllocRequest::new(!(P - 1))),
        VmapError::InvalidSize
    );
    assert_eq!(
        e(&mut v, AllocRequest::new(P).align(3)),
        VmapError::BadAlignment
    );
    assert_eq!(
        e(&mut v, AllocRequest::new(P).align(0)),
        VmapError::BadAlignment
    );
    assert_eq!(
        e(&mut v, AllocRequest::new(16 * P)),
        VmapError::NoVirtualSpace
    );
    assert_eq!(
        e(
            &mut v,
            AllocRequest::new(P).range(VirtAddr(S + 8 * P), VirtAddr(S + 4 * P))
        ),
        VmapError::InvalidRange
    );
    assert_eq!(
        e(
            &mut v,
            AllocRequest::new(P).range(VirtAddr(S + 1), VirtAddr(S + 4 * P))
        ),
        VmapError::InvalidRange
    );
    assert_eq!(
        e(&mut v, AllocRequest::new(P).align(1 << 31)),
        VmapError::NoVirtualSpace
    );
    // Alignment below a page means a page.
    assert_eq!(alloc(&mut v, AllocRequest::new(P).align(16)), Ok(0));
    assert_eq!(
        v.free(VirtAddr(S + 1), &mut f),
        Err(VmapError::UnalignedAddress)
    );
    assert_eq!(v.free(VirtAddr(S + P), &mut f), Err(VmapError::NotFound));
    assert_eq!(v.free(VirtAddr(0), &mut f), Err(VmapError::NotFound));
    assert_eq!(v.free(VirtAddr(S), &mut f), Ok(7));
    assert_eq!(v.free(VirtAddr(S), &mut f), Err(VmapError::NotFound));
    assert!(Vmap::<u32>::new(VmapConfig {
        start: VirtAddr(S),
        end: VirtAddr(S),
        lazy_max_pages: 0
    })
    .is_err());
    v.check_invariants().unwrap();
}

#[test]
fn ioremap_alignment_is_clamped() {
    assert_eq!(ioremap_align(1), P);
    assert_eq!(ioremap_align(P), P);
    assert_eq!(ioremap_align(P + 1), 2 * P);
    assert_eq!(ioremap_align(0x3000), 0x4000);
    assert_eq!(ioremap_align(1 << 20), 1 << 20);
    assert_eq!(ioremap_align(64 << 20), 1 << 24);
    assert_eq!(ioremap_align(u32::MAX), 1 << 24);
}

#[test]
fn lazy_max_pages_matches_linux() {
    assert_eq!(lazy_max_pages(1), 8192);
    assert_eq!(lazy_max_pages(2), 16384);
    assert_eq!(lazy_max_pages(4), 24576);
    assert_eq!(VmapConfig::default().end.0, 0x4f00_0000);
}

#[test]
fn many_areas_keep_trees_balanced() {
    let mut v = window(60_000, 64);
    let mut f = |_: &Flush<'_>| {};
    let mut live = Vec::new();
    for i in 0..10_000u32 {
        let r = v
            .alloc(&AllocRequest::new(P * (1 + i % 3)), i, &mut f)
            .unwrap();
        live.push(r.start);
    }
    v.check_invariants().unwrap();
    for (i, a) in live.iter().enumerate() {
        if i % 3 != 1 {
            assert_eq!(v.free(*a, &mut f), Ok(i as u32));
        }
    }
    v.purge(&mut f);
    v.check_invariants().unwrap();
    // Holes are reused lowest first.
    let r = v.alloc(&AllocRequest::new(P), 0, &mut f).unwrap();
    assert_eq!(r.start, VirtAddr(S));
    v.check_invariants().unwrap();
}

#[test]
fn node_sizes() {
    // Host (64-bit) sizes; both node types are pointer-free, so these are
    // also the 32-bit sizes.
    assert_eq!(core::mem::size_of::<avl::Node<FreeRange>>(), 20);
    assert_eq!(Vmap::<u32>::free_node_size(), 20);
    assert_eq!(Vmap::<u32>::area_node_size(), 20);
    assert_eq!(Vmap::<u32>::busy_entry_size(), 12);
}

/// A window of 256 busy 1-page areas (no guard) with 41 two-page holes at
/// odd pages — big enough for a 2-page request, but with no 2-page-aligned
/// fit — below an aligned 2-page hole at page 200, and optionally a 4-page
/// hole at page 240 (Linux's pruning needs size + align - 1 bytes, i.e. 4
/// pages here).
fn misaligned_holes(with_big: bool) -> Vmap<u32> {
    let mut v = window(256, 0);
    let mut f = |_: &Flush<'_>| {};
    for i in 0..256 {
        assert_eq!(alloc(&mut v, AllocRequest::new(P).no_guard()), Ok(i));
    }
    let mut free_pages: Vec<u32> = (0..41).flat_map(|j| [4 * j + 1, 4 * j + 2]).collect();
    free_pages.extend([200, 201]);
    if with_big {
        free_pages.extend([240, 241, 242, 243]);
    }
    for p in free_pages {
        v.free(VirtAddr(S + p * P), &mut f).unwrap();
    }
    v.check_invariants().unwrap();
    assert_eq!(v.stats().free_ranges, 42 + u32::from(with_big));
    v
}

#[test]
fn aligned_search_is_exact_within_budget() {
    // Unlimited budget: the lowest aligned fit, page 200.
    let mut v = misaligned_holes(true);
    v.set_exact_align_budget(u32::MAX);
    let req = AllocRequest::new(2 * P).align(2 * P).no_guard();
    assert_eq!(alloc(&mut v, req), Ok(200));
    v.check_invariants().unwrap();
    // Few misaligned ranges below the fit: exact even with the default.
    let mut v = window(64, 0);
    assert_eq!(alloc(&mut v, AllocRequest::new(P).no_guard()), Ok(0));
    assert_eq!(alloc(&mut v, req), Ok(2));
}

#[test]
fn aligned_search_prunes_past_the_budget() {
    // 41 misaligned ranges exceed the budget: the walk switches to Linux's
    // pruning on size + align - 1 (4 pages), which skips subtrees holding
    // only the small holes and ends at the 4-page hole — unless a node it
    // passes on the way (checked with the exact size, as Linux's
    // is_within_this_va does) is the aligned 2-page hole, which depends on
    // the tree's shape. Either answer is a valid aligned fit.
    for budget in [EXACT_ALIGN_BUDGET, 1] {
        let mut v = misaligned_holes(true);
        v.set_exact_align_budget(budget);
        let req = AllocRequest::new(2 * P).align(2 * P).no_guard();
        let a = alloc(&mut v, req).unwrap();
        assert!(a == 200 || a == 240, "{a}");
        v.check_invariants().unwrap();
    }
}

#[test]
fn aligned_search_falls_back_to_exact_when_pruning_finds_nothing() {
    // No range of 4 pages: pruning finds nothing, the exhaustive exact
    // search still finds the aligned 2-page hole, so the request does not
    // fail while a fit exists.
    let mut v = misaligned_holes(false);
    let req = AllocRequest::new(2 * P).align(2 * P).no_guard();
    assert_eq!(alloc(&mut v, req), Ok(200));
    v.check_invariants().unwrap();
    // And fails once none is left.
    assert_eq!(alloc(&mut v, req), Err(VmapError::NoVirtualSpace));
    v.check_invariants().unwrap();
}

/// The arena AVL against a `BTreeMap`: random inserts and removes, order,
/// balance, slot recycling and the augmented maximum checked after each.
#[test]
fn avl_random_against_btreemap() {
    #[derive(Default)]
    struct It {
        k: u32,
        v: u32,
        max: u32,
    }
    impl Item for It {
        const AUGMENTED: bool = true;
        fn key(&self) -> u32 {
            self.k
        }
        fn aug(&self) -> u32 {
            self.max
        }
        fn set_aug(&mut self, c: u32) {
            self.max = self.v.max(c);
        }
    }
    let mut t: Avl<It> = Avl::new();
    let mut m = std::collections::BTreeMap::new();
    let mut x = 0x1234_5678u32;
    for step in 0..20_000u32 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let k = x % 2048;
        let v = (x >> 11) % 1000;
        if m.contains_key(&k) {
            let it = t.remove(k).expect("present");
            assert_eq!((it.k, it.v), (k, m.remove(&k).unwrap()));
        } else if x & 1 == 0 {
            t.insert(It { k, v, max: 0 });
            m.insert(k, v);
        } else {
            assert!(t.remove(k).is_none());
            // In-place change of a present item, then the path fix.
            if let Some((&k2, _)) = m.range(k..).next() {
                let n = t.get(k2);
                t.item_mut(n).v = v;
                t.fix_path(k2);
                m.insert(k2, v);
            }
        }
        if step % 64 == 0 || m.len() < 8 {
            t.check().unwrap();
            assert_eq!(t.len() as usize, m.len());
            let keys: Vec<u32> = t.iter().map(|n| t.item(n).k).collect();
            assert!(keys.iter().copied().eq(m.keys().copied()));
            assert_eq!(t.aug(t.root), m.values().copied().max().unwrap_or(0));
            // Every subtree's maximum is exact.
            fn sub(t: &Avl<It>, n: u32) -> u32 {
                if n == NIL {
                    return 0;
                }
                let node = t.node(n);
                let m = node
                    .item
                    .v
                    .max(sub(t, node.left()))
                    .max(sub(t, node.right()));
                assert_eq!(m, node.item.max);
                m
            }
            sub(&t, t.root);
            let f = t.floor(k);
            let want = m.range(..=k).next_back().map(|(&k, _)| k);
            assert_eq!((f != NIL).then(|| t.item(f).k), want);
        }
    }
    // Removing everything leaves an empty tree whose slots are all recycled.
    let keys: Vec<u32> = m.keys().copied().collect();
    for k in keys {
        t.remove(k).unwrap();
    }
    t.check().unwrap();
    assert_eq!(t.root, NIL);
    assert!(t.capacity() <= 2048 + 2048 / 16 + 256);
}

/// `take_checked`: a missing or unaligned start changes nothing, a refusal
/// changes nothing, an acceptance removes exactly that area (which then
/// waits, lazily freed, for the purge).
#[test]
fn take_checked_refuses_or_removes_exactly_one_area() {
    let mut v = window(64, 1000);
    let a = alloc(&mut v, AllocRequest::new(2 * P)).unwrap();
    let b = alloc(&mut v, AllocRequest::new(P)).unwrap();
    let va = |page: u32| VirtAddr(S + page * P);
    let before = v.len();
    // Not the start of an area, and not page aligned: nothing happens.
    assert!(v.take_checked(va(a + 1), |_| Ok::<_, ()>(())).is_none());
    assert!(v
        .take_checked(VirtAddr(S + 1), |_| Ok::<_, ()>(()))
        .is_none());
    // The check sees the area and refuses: nothing happens.
    let seen = v.take_checked(va(b), |area| {
        assert_eq!(area.va_start, va(b));
        assert_eq!(area.va_end, va(b + 2), "one page plus its guard page");
        assert_eq!(*area.private, 7);
        Err::<(), _>("refused")
    });
    assert_eq!(seen, Some(Err("refused")));
    assert_eq!(v.len(), before);
    assert!(v.find(va(b)).is_some());
    // Accepted: exactly that area goes, the other stays.
    assert_eq!(v.take_checked(va(b), |_| Ok::<_, ()>(42)), Some(Ok(42)));
    assert_eq!(v.len(), before - 1);
    assert!(v.find(va(b)).is_none());
    assert!(v.find(va(a)).is_some());
    v.check_invariants().unwrap();
}

/// Size-class pools: a purged area is reused whole by the next request
/// of its exact size (the lowest pooled one first), ahead of a lower
/// tree fit; what the period did not reuse decays at the next purge.
#[test]
fn pools_reuse_exact_size_then_decay() {
    let mut v = window(64, 1000);
    v.set_pool_max_pages(8);
    let mut f = |_: &Flush<'_>| {};
    let a: Vec<u32> = (0..4)
        .map(|_| alloc(&mut v, AllocRequest::new(P)).unwrap())
        .collect();
    assert_eq!(a, [0, 2, 4, 6]);
    let big = alloc(&mut v, AllocRequest::new(3 * P)).unwrap();
    assert_eq!(big, 8);
    for &x in &a[1..] {
        v.free(VirtAddr(S + x * P), &mut f).unwrap();
    }
    v.free(VirtAddr(S + big * P), &mut f).unwrap();
    v.purge(&mut f);
    // Areas 2, 4, 6 (2 pages each) and 8 (4 pages) are pooled, not
    // merged: the tree holds only [12, 64).
    assert_eq!(free_list(&v), [(12, 64)]);
    assert_eq!(v.stats().pooled_areas, 4);
    assert_eq!(v.stats().pooled_pages, 10);
    assert_eq!(v.stats().free_bytes, 62 * P);
    v.check_invariants().unwrap();
    // Same size: the lowest pooled area; another size: the tree.
    assert_eq!(alloc(&mut v, AllocRequest::new(P)), Ok(2));
    assert_eq!(alloc(&mut v, AllocRequest::new(2 * P)), Ok(12));
    // Aligned to 4 pages: 4 is pooled and aligned, 6 is skipped.
    assert_eq!(alloc(&mut v, AllocRequest::new(P).align(4 * P)), Ok(4));
    // A range-restricted request never takes a pooled area.
    let req = AllocRequest::new(P).range(VirtAddr(S), VirtAddr(S + 63 * P));
    assert_eq!(alloc(&mut v, req), Ok(15));
    v.check_invariants().unwrap();
    // The next purge returns the unused 6 and 8 to the tree first.
    v.free(VirtAddr(S + 12 * P), &mut f).unwrap();
    v.purge(&mut f);
    assert_eq!(v.stats().pooled_areas, 1); // the 3-page area at 12
    assert_eq!(free_list(&v), [(6, 12), (17, 64)]);
    v.check_invariants().unwrap();
}

/// When only pooled space can hold a request, the pools go back to the
/// tree (no flush needed) and the request gets its lowest fit.
#[test]
fn pools_drain_before_failing() {
    let mut v = window(8, 1000);
    v.set_pool_max_pages(8);
    let mut f = |_: &Flush<'_>| {};
    assert_eq!(alloc(&mut v, AllocRequest::new(P)), Ok(0));
    assert_eq!(alloc(&mut v, AllocRequest::new(P)), Ok(2));
    assert_eq!(alloc(&mut v, AllocRequest::new(3 * P)), Ok(4));
    v.free(VirtAddr(S), &mut f).unwrap();
    v.free(VirtAddr(S + 2 * P), &mut f).unwrap();
    v.purge(&mut f);
    assert_eq!(v.stats().pooled_areas, 2);
    let mut nf = no_flush();
    let r = v.alloc(&AllocRequest::new(3 * P), 1, &mut nf).unwrap();
    assert_eq!(r.start, VirtAddr(S));
    assert_eq!(v.stats().pooled_areas, 0);
    v.check_invariants().unwrap();
}
