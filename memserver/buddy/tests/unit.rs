//! Unit tests of split, merge, ranges, errors and the buddyinfo report,
//! through the public API only.

use abi::Pfn;
use buddy::{Block, BuddyError, BuddyPool, DEFAULT_MAX_ORDER, MAX_ORDER_LIMIT, PFN_LIMIT};

fn pool_with(max_order: u8, ranges: &[(u32, u32)]) -> BuddyPool {
    let mut pool = BuddyPool::new(max_order).unwrap();
    for &(start, count) in ranges {
        pool.add_range(Pfn(start), count).unwrap();
    }
    pool.check_invariants().unwrap();
    pool
}

/// `nr_free` of orders `0..=max_order`.
fn nr_free_all(pool: &BuddyPool) -> Vec<u32> {
    (0..=pool.max_order()).map(|o| pool.nr_free(o)).collect()
}

fn buddyinfo(pool: &BuddyPool) -> String {
    let mut text = String::new();
    pool.write_buddyinfo(&mut text).unwrap();
    text
}

#[test]
fn new_rejects_orders_above_limit() {
    assert!(BuddyPool::new(0).is_ok());
    assert!(BuddyPool::new(MAX_ORDER_LIMIT).is_ok());
    assert_eq!(
        BuddyPool::new(MAX_ORDER_LIMIT + 1).unwrap_err(),
        BuddyError::InvalidOrder
    );
    assert_eq!(
        BuddyPool::new(u8::MAX).unwrap_err(),
        BuddyError::InvalidOrder
    );
    let empty = BuddyPool::new(DEFAULT_MAX_ORDER).unwrap();
    assert_eq!(empty.total_frames(), 0);
    assert_eq!(empty.metadata_bytes(), 0);
    empty.check_invariants().unwrap();
}

#[test]
fn aligned_range_is_one_block_per_max_order() {
    let pool = pool_with(10, &[(0x60000, 4096)]);
    assert_eq!(pool.total_frames(), 4096);
    assert_eq!(pool.free_frames(), 4096);
    assert_eq!(pool.nr_free(10), 4);
    assert_eq!(nr_free_all(&pool)[..10], [0; 10]);
    assert_eq!(pool.metadata_bytes(), 4096 * 9);
}

#[test]
fn split_hands_upper_halves_down() {
    let mut pool = pool_with(2, &[(8, 4)]);
    assert_eq!(nr_free_all(&pool), [0, 0, 1]);
    assert_eq!(pool.alloc_pages(0), Ok(Pfn(8)));
    assert_eq!(nr_free_all(&pool), [1, 1, 0]);
    pool.check_invariants().unwrap();
    // The split-off halves are what comes next, smallest first.
    assert_eq!(pool.alloc_pages(0), Ok(Pfn(9)));
    assert_eq!(pool.alloc_pages(1), Ok(Pfn(10)));
    assert_eq!(pool.alloc_pages(0), Err(BuddyError::OutOfMemory));
    assert_eq!(pool.free_frames(), 0);
    pool.check_invariants().unwrap();
}

#[test]
fn merge_restores_the_original_block_in_any_free_order() {
    let mut pool = pool_with(2, &[(8, 4)]);
    let a = pool.alloc_pages(0).unwrap();
    let b = pool.alloc_pages(0).unwrap();
    let c = pool.alloc_pages(1).unwrap();
    pool.free_pages(b, 0).unwrap();
    pool.check_invariants().unwrap();
    assert_eq!(nr_free_all(&pool), [1, 0, 0]);
    pool.free_pages(c, 1).unwrap();
    assert_eq!(nr_free_all(&pool), [1, 1, 0]);
    pool.free_pages(a, 0).unwrap();
    pool.check_invariants().unwrap();
    assert_eq!(nr_free_all(&pool), [0, 0, 1]);
    assert_eq!(pool.alloc_count(), 3);
    assert_eq!(pool.free_count(), 3);
}

#[test]
fn unaligned_range_is_carved_into_maximal_blocks() {
    // 3..=8: [3] [4..=7] [8]
    let pool = pool_with(10, &[(3, 6)]);
    assert_eq!(nr_free_all(&pool)[..3], [2, 0, 1]);
    // 1..=1000, checked against a naive carve.
    let pool = pool_with(10, &[(1, 1000)]);
    let mut expected = [0u32; 11];
    let (mut cur, end) = (1u32, 1001u32);
    while cur < end {
        let order = cur
            .trailing_zeros()
            .min(31 - (end - cur).leading_zeros())
            .min(10);
        expected[order as usize] += 1;
        cur += 1 << order;
    }
    assert_eq!(nr_free_all(&pool), expected);
    assert_eq!(pool.free_frames(), 1000);
}

#[test]
fn buddies_at_range_edges_never_merge_with_holes() {
    // Frame 3's buddy is 2 and frame 8's buddy is 9: both holes.
    let mut pool = pool_with(10, &[(3, 6)]);
    let blocks: Vec<_> = core::iter::from_fn(|| pool.alloc_pages(0).ok()).collect();
    assert_eq!(blocks.len(), 6);
    for pfn in blocks {
        pool.free_pages(pfn, 0).unwrap();
        pool.check_invariants().unwrap();
    }
    assert_eq!(nr_free_all(&pool)[..3], [2, 0, 1]);
    assert!(!pool.contains(Pfn(2)));
    assert!(!pool.contains(Pfn(9)));
}

#[test]
fn adjacent_ranges_coalesce_as_if_added_at_once() {
    let joined = pool_with(10, &[(3, 13)]);
    let split = pool_with(10, &[(3, 6), (9, 7)]);
    assert_eq!(nr_free_all(&joined), nr_free_all(&split));
    // And in the other order (growing the span downwards).
    let reversed = pool_with(10, &[(9, 7), (3, 6)]);
    assert_eq!(nr_free_all(&joined), nr_free_all(&reversed));
    assert_eq!(nr_free_all(&joined)[..4], [1, 0, 1, 1]);
}

#[test]
fn multiple_disjoint_ranges() {
    let mut pool = pool_with(3, &[(100, 20), (16, 8), (200, 1)]);
    assert_eq!(pool.total_frames(), 29);
    assert!(pool.contains(Pfn(16)) && pool.contains(Pfn(119)) && pool.contains(Pfn(200)));
    assert!(!pool.contains(Pfn(15)) && !pool.contains(Pfn(24)) && !pool.contains(Pfn(150)));
    assert_eq!(pool.ranges().count(), 3);
    let mut got = Vec::new();
    pool.alloc_frames(29, &mut got).unwrap();
    assert_eq!(got.iter().map(Block::pages).sum::<u32>(), 29);
    for block in &got {
        for pfn in block.pfn.0..block.pfn.0 + block.pages() {
            assert!(pool.is_allocated(Pfn(pfn)));
        }
    }
    assert_eq!(pool.alloc_pages(0), Err(BuddyError::OutOfMemory));
    pool.free_blocks(&got).unwrap();
    pool.check_invariants().unwrap();
    assert_eq!(pool.free_frames(), 29);
}

#[test]
fn add_range_errors() {
    let mut pool = pool_with(10, &[(100, 50)]);
    let before = pool.clone();
    assert_eq!(pool.add_range(Pfn(0), 0), Err(BuddyError::InvalidRange));
    assert_eq!(
        pool.add_range(Pfn(PFN_LIMIT - 1), 2),
        Err(BuddyError::InvalidRange)
    );
    assert_eq!(
        pool.add_range(Pfn(u32::MAX), 1),
        Err(BuddyError::InvalidRange)
    );
    assert_eq!(
        pool.add_range(Pfn(u32::MAX - 1), u32::MAX),
        Err(BuddyError::InvalidRange)
    );
    assert_eq!(pool.add_range(Pfn(90), 11), Err(BuddyError::Overlap));
    assert_eq!(pool.add_range(Pfn(149), 1), Err(BuddyError::Overlap));
    assert_eq!(pool.add_range(Pfn(0), 1000), Err(BuddyError::Overlap));
    assert_eq!(pool.add_range(Pfn(120), 2), Err(BuddyError::Overlap));
    assert_eq!(pool, before);
    // Touching edges are fine, and so is the very last frame.
    pool.add_range(Pfn(90), 10).unwrap();
    pool.add_range(Pfn(150), 10).unwrap();
    let mut edge = BuddyPool::new(DEFAULT_MAX_ORDER).unwrap();
    edge.add_range(Pfn(PFN_LIMIT - 1), 1).unwrap();
    assert_eq!(edge.alloc_pages(0), Ok(Pfn(PFN_LIMIT - 1)));
    pool.check_invariants().unwrap();
}

#[test]
fn free_errors_are_typed_and_change_nothing() {
    let mut pool = pool_with(4, &[(16, 16), (64, 3)]);
    let big = pool.alloc_pages(2).unwrap(); // 16..=19
    let single = pool.alloc_pages(0).unwrap();
    let before = pool.clone();
    let cases = [
        (big, 5, BuddyError::InvalidOrder),
        (Pfn(0), 0, BuddyError::NotInPool),
        (Pfn(40), 0, BuddyError::NotInPool), // hole inside the span
        (Pfn(67), 0, BuddyError::NotInPool),
        (Pfn(u32::MAX), 0, BuddyError::NotInPool),
        (big, 1, BuddyError::WrongOrder),
        (big, 3, BuddyError::WrongOrder),
        (Pfn(big.0 + 1), 0, BuddyError::NotBlockHead),
        (Pfn(big.0 + 2), 1, BuddyError::NotBlockHead),
        (Pfn(24), 3, BuddyError::DoubleFree), // free head
        (Pfn(25), 0, BuddyError::DoubleFree), // tail of a free block
        (Pfn(64), 0, BuddyError::DoubleFree),
    ];
    for (pfn, order, err) in cases {
        assert_eq!(
            pool.free_pages(pfn, order),
            Err(err),
            "{pfn:?} order {order}"
        );
        assert_eq!(pool, before);
    }
    pool.free_pages(single, 0).unwrap();
    assert_eq!(pool.free_pages(single, 0), Err(BuddyError::DoubleFree));
    pool.free_pages(big, 2).unwrap();
    assert_eq!(pool.free_pages(big, 2), Err(BuddyError::DoubleFree));
    assert_eq!(pool.alloc_pages(5), Err(BuddyError::InvalidOrder));
    assert_eq!(pool.alloc_pages(u8::MAX), Err(BuddyError::InvalidOrder));
    pool.check_invariants().unwrap();
}

#[test]
fn alloc_pages_out_of_memory_at_large_order() {
    // 12 frames: blocks of order 3 and 2, nothing of order 4.
    let mut pool = pool_with(4, &[(0, 12)]);
    assert_eq!(pool.alloc_pages(4), Err(BuddyError::OutOfMemory));
    assert_eq!(pool.alloc_pages(3), Ok(Pfn(0)));
    assert_eq!(pool.alloc_pages(3), Err(BuddyError::OutOfMemory));
    assert_eq!(pool.alloc_pages(2), Ok(Pfn(8)));
    let empty = &mut BuddyPool::new(0).unwrap();
    assert_eq!(empty.alloc_pages(0), Err(BuddyError::OutOfMemory));
}

#[test]
fn alloc_frames_takes_largest_blocks_first() {
    let mut pool = pool_with(10, &[(0, 1024)]);
    let mut out = vec![Block {
        pfn: Pfn(7),
        order: 0,
    }];
    pool.alloc_frames(13, &mut out).unwrap();
    // The existing element is kept; 13 = 8 + 4 + 1, one split of the 1024.
    let orders: Vec<u8> = out[1..].iter().map(|b| b.order).collect();
    assert_eq!(orders, [3, 2, 0]);
    assert_eq!(out[0].pfn, Pfn(7));
    assert_eq!(pool.free_frames(), 1024 - 13);
    pool.check_invariants().unwrap();
}

#[test]
fn alloc_frames_uses_fragments_before_splitting() {
    let mut pool = pool_with(10, &[(0, 2048)]);
    // Four order-0 fragments: allocate 8 singles (splitting one order-10
    // block into orders 3..=9 on the way), free every other one.
    let singles: Vec<Pfn> = (0..8).map(|_| pool.alloc_pages(0).unwrap()).collect();
    for pfn in singles.iter().step_by(2) {
        pool.free_pages(*pfn, 0).unwrap();
    }
    assert_eq!(nr_free_all(&pool), [4, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]);
    // Need 4, the largest free order <= 2 is 0: the fragments go first.
    let mut out = Vec::new();
    pool.alloc_frames(4, &mut out).unwrap();
    assert_eq!(
        out.iter().map(|b| b.order).collect::<Vec<_>>(),
        [0, 0, 0, 0]
    );
    assert_eq!(nr_free_all(&pool), [0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]);
    // Need 12: the free order-3 block, then nothing free at orders <= 2,
    // so the smallest larger block (order 4) is split for an order 2.
    out.clear();
    pool.alloc_frames(12, &mut out).unwrap();
    assert_eq!(out.iter().map(|b| b.order).collect::<Vec<_>>(), [3, 2]);
    assert_eq!(nr_free_all(&pool), [0, 0, 1, 1, 0, 1, 1, 1, 1, 1, 1]);
    pool.check_invariants().unwrap();
}

#[test]
fn alloc_frames_with_only_singles_free() {
    let mut pool = pool_with(2, &[(0, 8)]);
    let all: Vec<Pfn> = (0..8).map(|_| pool.alloc_pages(0).unwrap()).collect();
    for pfn in [all[0], all[2], all[4], all[6]] {
        pool.free_pages(pfn, 0).unwrap();
    }
    let mut out = Vec::new();
    pool.alloc_frames(3, &mut out).unwrap();
    assert_eq!(out.len(), 3);
    assert!(out.iter().all(|b| b.order == 0));
    assert_eq!(pool.free_frames(), 1);
}

#[test]
fn alloc_frames_errors_leave_pool_and_out_unchanged() {
    let mut pool = pool_with(3, &[(0, 20)]);
    let held = pool.alloc_pages(1).unwrap();
    let before = pool.clone();
    let mut out = vec![Block {
        pfn: Pfn(1),
        order: 1,
    }];
    assert_eq!(
        pool.alloc_frames(0, &mut out),
        Err(BuddyError::InvalidCount)
    );
    assert_eq!(
        pool.alloc_frames(19, &mut out),
        Err(BuddyError::OutOfMemory)
    );
    assert_eq!(
        pool.alloc_frames(u32::MAX, &mut out),
        Err(BuddyError::OutOfMemory)
    );
    assert_eq!(pool, before);
    assert_eq!(out.len(), 1);
    pool.alloc_frames(18, &mut out).unwrap();
    assert_eq!(pool.free_frames(), 0);
    pool.free_blocks(&out[1..]).unwrap();
    pool.free_pages(held, 1).unwrap();
    assert_eq!(nr_free_all(&pool), nr_free_all(&pool_with(3, &[(0, 20)])));
}

#[test]
fn free_blocks_validates_everything_first() {
    let mut pool = pool_with(4, &[(0, 64)]);
    let mut blocks = Vec::new();
    pool.alloc_frames(11, &mut blocks).unwrap(); // 8 + 2 + 1
    let before = pool.clone();
    let bad_tail = Block {
        pfn: Pfn(blocks[0].pfn.0 + 1),
        order: 0,
    };
    let cases: Vec<(Vec<Block>, BuddyError)> = vec![
        (
            vec![blocks[0], blocks[1], blocks[0]],
            BuddyError::DoubleFree,
        ),
        (
            vec![
                blocks[1],
                Block {
                    pfn: blocks[1].pfn,
                    order: 0,
                },
            ],
            BuddyError::WrongOrder,
        ),
        (vec![blocks[0], bad_tail], BuddyError::NotBlockHead),
        (
            vec![
                blocks[2],
                Block {
                    pfn: Pfn(63),
                    order: 0,
                },
            ],
            BuddyError::DoubleFree,
        ),
        (
            vec![
                blocks[2],
                Block {
                    pfn: Pfn(64),
                    order: 0,
                },
            ],
            BuddyError::NotInPool,
        ),
        (
            vec![
                blocks[2],
                Block {
                    pfn: Pfn(0),
                    order: 200,
                },
            ],
            BuddyError::InvalidOrder,
        ),
    ];
    for (slice, err) in cases {
        assert_eq!(pool.free_blocks(&slice), Err(err), "{slice:?}");
        assert_eq!(pool, before);
    }
    pool.free_blocks(&[]).unwrap();
    pool.free_blocks(&blocks).unwrap();
    assert_eq!(pool.free_frames(), 64);
    assert_eq!(pool.free_blocks(&blocks[..1]), Err(BuddyError::DoubleFree));
    pool.check_invariants().unwrap();
    assert_eq!(pool.nr_free(4), 4);
}

#[test]
fn alloc_exact_gives_the_tail_back() {
    let mut pool = pool_with(4, &[(0, 16)]);
    let pfn = pool.alloc_exact(5).unwrap(); // order-3 block, tail 3 frames back
    assert_eq!(pfn, Pfn(0));
    assert_eq!(pool.free_frames(), 11);
    pool.check_invariants().unwrap();
    for frame in 0..16 {
        assert_eq!(pool.is_allocated(Pfn(frame)), frame < 5, "frame {frame}");
    }
    // The tail was returned as maximal blocks: [5] [6..=7], plus the
    // order-3 buddy [8..=15].
    assert_eq!(nr_free_all(&pool), [1, 1, 0, 1, 0]);
    let before = pool.clone();
    assert_eq!(pool.free_exact(pfn, 4), Err(BuddyError::WrongCount));
    assert_eq!(pool.free_exact(pfn, 6), Err(BuddyError::WrongCount));
    assert_eq!(pool.free_exact(pfn, 3), Err(BuddyError::WrongCount));
    assert_eq!(pool.free_exact(pfn, 8), Err(BuddyError::WrongCount));
    assert_eq!(pool.free_exact(Pfn(1), 4), Err(BuddyError::NotBlockHead));
    assert_eq!(pool.free_exact(Pfn(5), 1), Err(BuddyError::DoubleFree));
    assert_eq!(pool.free_pages(pfn, 2), Err(BuddyError::WrongFreeCall));
    assert_eq!(pool.free_pages(Pfn(4), 0), Err(BuddyError::WrongFreeCall));
    assert_eq!(
        pool.free_blocks(&[Block { pfn, order: 2 }]),
        Err(BuddyError::WrongFreeCall)
    );
    assert_eq!(pool.free_exact(pfn, 0), Err(BuddyError::InvalidCount));
    assert_eq!(
        pool.free_exact(Pfn(u32::MAX), 2),
        Err(BuddyError::NotInPool)
    );
    assert_eq!(pool, before);
    pool.free_exact(pfn, 5).unwrap();
    assert_eq!(pool.free_exact(pfn, 5), Err(BuddyError::DoubleFree));
    assert_eq!(nr_free_all(&pool), [0, 0, 0, 0, 1]);
    pool.check_invariants().unwrap();
}

#[test]
fn alloc_exact_errors() {
    let mut pool = pool_with(3, &[(0, 12)]);
    let before = pool.clone();
    assert_eq!(pool.alloc_exact(0), Err(BuddyError::InvalidCount));
    assert_eq!(pool.alloc_exact(9), Err(BuddyError::InvalidCount));
    assert_eq!(pool.alloc_exact(u32::MAX), Err(BuddyError::InvalidCount));
    assert_eq!(pool, before);
    assert_eq!(pool.alloc_exact(8), Ok(Pfn(0)));
    assert_eq!(pool.alloc_exact(5), Err(BuddyError::OutOfMemory));
    assert_eq!(pool.alloc_exact(3), Ok(Pfn(8)));
    assert_eq!(pool.free_frames(), 1);
    // Even a one-block exact allocation must go back through free_exact,
    // and an alloc_pages block must not.
    assert_eq!(pool.free_pages(Pfn(0), 3), Err(BuddyError::WrongFreeCall));
    pool.free_exact(Pfn(0), 8).unwrap();
    let single = pool.alloc_pages(0).unwrap();
    assert_eq!(pool.free_exact(single, 1), Err(BuddyError::WrongFreeCall));
    pool.free_pages(single, 0).unwrap();
    pool.check_invariants().unwrap();
}

#[test]
fn is_allocated_and_contains() {
    let mut pool = pool_with(4, &[(32, 16)]);
    let pfn = pool.alloc_pages(2).unwrap();
    assert!(pool.is_allocated(pfn) && pool.is_allocated(Pfn(pfn.0 + 3)));
    assert!(!pool.is_allocated(Pfn(pfn.0 + 4)));
    assert!(!pool.is_allocated(Pfn(0)) && !pool.is_allocated(Pfn(u32::MAX)));
    assert!(!pool.contains(Pfn(31)) && pool.contains(Pfn(47)) && !pool.contains(Pfn(48)));
}

#[test]
fn buddyinfo_matches_linux_format() {
    let mut pool = pool_with(10, &[(0, 1024 + 3)]);
    assert_eq!(
        buddyinfo(&pool),
        "Node 0, zone   Normal      1      1      0      0      0      0      0      0      0      0      1 \n"
    );
    let pool_small = pool_with(2, &[]);
    assert_eq!(
        buddyinfo(&pool_small),
        "Node 0, zone   Normal      0      0      0 \n"
    );
    pool.alloc_pages(0).unwrap();
    pool.alloc_pages(0).unwrap();
    pool.alloc_pages(0).unwrap();
    let line = buddyinfo(&pool);
    let columns: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(columns[..4], ["Node", "0,", "zone", "Normal"]);
    assert_eq!(columns.len(), 4 + 11);
    assert_eq!(
        columns[4..],
        ["0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "1"]
    );
}

#[test]
fn display_and_error_numbers_are_stable() {
    assert_eq!(BuddyError::OutOfMemory as u16, 1);
    assert_eq!(BuddyError::InvalidOrder as u16, 2);
    assert_eq!(BuddyError::NotInPool as u16, 3);
    assert_eq!(BuddyError::DoubleFree as u16, 4);
    assert_eq!(BuddyError::WrongOrder as u16, 5);
    assert_eq!(BuddyError::NotBlockHead as u16, 6);
    assert_eq!(BuddyError::Overlap as u16, 7);
    assert_eq!(BuddyError::InvalidRange as u16, 8);
    assert_eq!(BuddyError::InvalidCount as u16, 9);
    assert_eq!(BuddyError::NoMetadataMemory as u16, 10);
    assert_eq!(BuddyError::WrongFreeCall as u16, 11);
    assert_eq!(BuddyError::WrongCount as u16, 12);
    assert_eq!(BuddyError::DoubleFree.to_string(), "double free");
}

#[test]
fn block_pages_never_overflows() {
    assert_eq!(
        Block {
            pfn: Pfn(0),
            order: 0
        }
        .pages(),
        1
    );
    assert_eq!(
        Block {
            pfn: Pfn(0),
            order: 10
        }
        .pages(),
        1024
    );
    assert_eq!(
        Block {
            pfn: Pfn(0),
            order: 31
        }
        .pages(),
        1 << 31
    );
    assert_eq!(
        Block {
            pfn: Pfn(0),
            order: 32
        }
        .pages(),
        0
    );
    assert_eq!(
        Block {
            pfn: Pfn(0),
            order: 255
        }
        .pages(),
        0
    );
}

#[test]
fn whole_physical_space_at_max_order_limit() {
    let mut pool = BuddyPool::new(MAX_ORDER_LIMIT).unwrap();
    pool.add_range(Pfn(0), PFN_LIMIT).unwrap();
    assert_eq!(pool.nr_free(MAX_ORDER_LIMIT), 1);
    assert_eq!(pool.alloc_pages(MAX_ORDER_LIMIT), Ok(Pfn(0)));
    pool.free_pages(Pfn(0), MAX_ORDER_LIMIT).unwrap();
    let pfn = pool.alloc_pages(0).unwrap();
    assert_eq!(pool.nr_free(MAX_ORDER_LIMIT), 0);
    pool.free_pages(pfn, 0).unwrap();
    assert_eq!(pool.nr_free(MAX_ORDER_LIMIT), 1);
    pool.check_invariants().unwrap();
}

#[test]
fn free_exact_must_start_at_the_allocation() {
    let mut pool = pool_with(4, &[(0, 16)]);
    // 7 = [0..=3] [4..=5] [6]
    let pfn = pool.alloc_exact(7).unwrap();
    assert_eq!(pfn, Pfn(0));
    let before = pool.clone();
    assert_eq!(pool.free_exact(Pfn(4), 3), Err(BuddyError::NotBlockHead));
    assert_eq!(pool.free_exact(Pfn(6), 1), Err(BuddyError::NotBlockHead));
    assert_eq!(pool.free_exact(Pfn(4), 2), Err(BuddyError::WrongCount));
    assert_eq!(pool, before);
    pool.free_exact(pfn, 7).unwrap();
    assert_eq!(pool.nr_free(4), 1);
    pool.check_invariants().unwrap();
}
