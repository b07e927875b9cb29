//! Fault injection: the mapper (map or zero) or the frame pool fails at
//! step k, for every k the scenario reaches. After each failure nothing
//! may leak: no PTE, no frame, no range; and after a final reclaim and
//! purge the pool is fully coalesced and the window one free range.

mod common;

use abi::{PhysAddr, VirtAddr, PAGE_SIZE};
use common::*;
use memcore::{MapAttrs, MapError, MemCore, MemError, MemType, OwnerId, VmFlags, VmapConfig};

const P: u32 = PAGE_SIZE;
const S: u32 = 0x4000_0000;
const A: OwnerId = OwnerId(1);
const B: OwnerId = OwnerId(2);

type Core = MemCore<FailingPool, FakeMapper>;

fn fresh() -> Core {
    MemCore::new(
        VmapConfig {
            start: VirtAddr(S),
            end: VirtAddr(S + 2048 * P),
            lazy_max_pages: 24,
        },
        FailingPool::new(pool(256)),
        FakeMapper::default(),
    )
    .unwrap()
}

fn check_no_leak(c: &Core, external: u32) {
    c.check_invariants().unwrap();
    let acc = c.frame_accounting();
    assert_eq!(acc.owned + acc.deferred + external, acc.pool_allocated);
    let live_pages: u32 = c
        .window()
        .iter()
        .map(|a| {
            let f = a.private.flags();
            let guard = if f.contains(VmFlags::VM_NO_GUARD) {
                0
            } else {
                P
            };
            (a.va_end.0 - a.va_start.0 - guard) / P
        })
        .sum();
    assert_eq!(c.mapper().ptes.len() as u32, live_pages, "PTE leak");
    assert!(
        c.mapper().violations.is_empty(),
        "{:?}",
        c.mapper().violations
    );
}

/// Runs the scenario; returns how many operations failed. Every failure
/// of the mapper must carry its kernel error number out.
fn scenario(c: &mut Core) -> u32 {
    let number = c.mapper().fail_with.unwrap_or(99);
    let mut failures = 0;
    let ext = [
        c.frames_mut().pool.alloc_pages(0).unwrap(),
        c.frames_mut().pool.alloc_pages(0).unwrap(),
    ];
    let mut ok = |r: Result<(), MemError>, c: &Core| {
        match r {
            Ok(()) => {}
            Err(MemError::MapFailed(MapError(n))) if n == number => failures += 1,
            Err(MemError::OutOfMemory) => failures += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
        check_no_leak(c, 2);
    };
    // Fragment the pool: many single pages, every other one freed.
    let mut singles = Vec::new();
    for _ in 0..24 {
        let r = c.vmalloc(P, P, VmFlags::NONE, A, 1);
        if let Ok(a) = &r {
            singles.push(a.addr());
        }
        ok(r.map(|_| ()), c);
    }
    for (i, a) in singles.iter().enumerate() {
        if i % 2 == 0 {
            c.vfree(*a, A).unwrap();
        }
    }
    c.purge();
    check_no_leak(c, 2);
    // Many blocks, many runs, zeroed.
    let r = c.vmalloc(45 * P, P, VmFlags::VM_ZEROED, A, 2);
    ok(r.map(|_| ()), c);
    let r = c.vmalloc(13 * P, 8 * P, VmFlags::VM_NO_GUARD, B, 3);
    ok(r.map(|_| ()), c);
    let r = c.dma_alloc(6, B, 4);
    ok(r.map(|_| ()), c);
    let r = c.ioremap(PhysAddr(0x1001_3000), 3 * P, MemType::Device, B, 5);
    ok(r.map(|_| ()), c);
    let r = c.vmap(&ext, MapAttrs::NORMAL_RW, A, 6);
    ok(r.map(|_| ()), c);
    let r = c.vmalloc(100 * P, P, VmFlags::VM_ZEROED, B, 7);
    ok(r.map(|_| ()), c);
    // Final: everything back.
    c.reclaim(A);
    c.reclaim(B);
    c.purge();
    check_no_leak(c, 2);
    c.frames_mut().pool.free_pages(ext[0], 0).unwrap();
    c.frames_mut().pool.free_pages(ext[1], 0).unwrap();
    assert!(c.mapper().ptes.is_empty());
    assert!(fully_coalesced(&c.frames().pool));
    assert_eq!(c.window().free_ranges().count(), 1);
    assert!(c.window().lazy_ranges().is_empty());
    failures
}

#[test]
fn mapper_failure_at_every_step_leaks_nothing() {
    let mut baseline = fresh();
    assert_eq!(scenario(&mut baseline), 0);
    let steps = baseline.mapper().ops;
    assert!(steps > 30, "scenario too small: {steps}");
    for k in 1..=steps {
        let mut c = fresh();
        c.mapper_mut().fail_at = Some(k);
        assert_eq!(scenario(&mut c), 1, "step {k}");
    }
}

/// The kernel's resource and permission refusals (its page-table quota,
/// its own memory, attributes) roll back exactly like any other failure,
/// and the refusal's number reaches the caller.
#[test]
fn kernel_refusals_at_every_step_leak_nothing_and_keep_their_number() {
    let mut baseline = fresh();
    assert_eq!(scenario(&mut baseline), 0);
    let steps = baseline.mapper().ops;
    for number in [
        abi::KernelError::AttributesNotAllowed,
        abi::KernelError::KernelQuotaExceeded,
        abi::KernelError::OutOfKernelMemory,
    ] {
        for k in 1..=steps {
            let mut c = fresh();
            c.mapper_mut().fail_at = Some(k);
            c.mapper_mut().fail_with = Some(number.number());
            assert_eq!(scenario(&mut c), 1, "step {k}, {number:?}");
        }
    }
    assert_eq!(
        MapError(67).kernel_error(),
        abi::KernelError::KernelQuotaExceeded
    );
    assert_eq!(MapError(0).kernel_error(), abi::KernelError::Unrecognized);
}

#[test]
fn pool_failure_at_every_step_leaks_nothing() {
    let mut baseline = fresh();
    assert_eq!(scenario(&mut baseline), 0);
    let steps = baseline.frames().ops;
    assert!(steps > 20);
    for k in 1..=steps {
        let mut c = fresh();
        c.frames_mut().fail_at = Some(k);
        assert_eq!(scenario(&mut c), 1, "step {k}");
    }
}
