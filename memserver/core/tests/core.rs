//! Unit tests of the composition: every public call, its errors, the lazy
//! release of frames after the batched flush, and the vmallocinfo format.

mod common;

use abi::{Pfn, PhysAddr, VirtAddr, PAGE_SIZE};
use buddy::BuddyPool;
use common::*;
use memcore::{MapAttrs, MapError, MemCore, MemError, MemType, OwnerId, VmFlags, VmapConfig};

const P: u32 = PAGE_SIZE;
const S: u32 = 0x4000_0000;
const A: OwnerId = OwnerId(1);
const B: OwnerId = OwnerId(2);

fn core_with(frames: u32, window_pages: u32, lazy: u32) -> MemCore<BuddyPool, FakeMapper> {
    MemCore::new(
        VmapConfig {
            start: VirtAddr(S),
            end: VirtAddr(S + window_pages * P),
            lazy_max_pages: lazy,
        },
        pool(frames),
        FakeMapper::default(),
    )
    .unwrap()
}

fn info(c: &MemCore<BuddyPool, FakeMapper>) -> String {
    let mut s = String::new();
    c.write_vmallocinfo(&mut s).unwrap();
    s
}

#[test]
fn vmalloc_maps_frames_and_leaves_guard_unmapped() {
    let mut c = core_with(256, 1024, 1000);
    let a = c.vmalloc(5 * P - 100, P, VmFlags::NONE, A, 0x1234).unwrap();
    assert_eq!((a.addr(), a.size()), (VirtAddr(S), 5 * P));
    for i in 0..5 {
        assert!(c.mapper().is_mapped(A, VirtAddr(S + i * P)));
        assert!(!c.mapper().is_mapped(B, VirtAddr(S + i * P)));
    }
    assert!(
        !c.mapper().is_mapped(A, VirtAddr(S + 5 * P)),
        "guard page mapped"
    );
    assert_eq!(c.frames().free_frames(), 251);
    // The next area starts after the guard page.
    let b = c.vmalloc(P, P, VmFlags::NONE, B, 0).unwrap();
    assert_eq!(b.addr(), VirtAddr(S + 6 * P));
    c.check_invariants().unwrap();
    let g = c.find_area(VirtAddr(S + 5 * P + 8)).unwrap();
    assert!(g.in_guard);
    assert_eq!((g.owner, g.caller), (A, 0x1234));
}

#[test]
fn vmallocinfo_uses_linux_format() {
    let mut c = core_with(256, 4096, 1000);
    c.vmalloc(16 * P, P, VmFlags::NONE, A, 0x1234).unwrap();
    c.ioremap(PhysAddr(0x1001_3000), 0x200, MemType::Device, A, 0xc0de)
        .unwrap();
    let d = c.dma_alloc(2, B, 0).unwrap();
    let v = c
        .vmap(&[Pfn(0x10), Pfn(0x11)], MapAttrs::NORMAL_RW, B, 0x42)
        .unwrap();
    c.vfree(v.addr(), B).unwrap();
    let want = format!(
        "0x40000000-0x40011000   69632 0x00001234 pages=16 vmalloc\n\
         0x40011000-0x40013000    8192 0x0000c0de phys=0x10013000 ioremap\n\
         0x40013000-0x40016000   12288 phys=0x{:08x} dma-coherent\n\
         0x40016000-0x40019000   12288 unpurged vm_area\n",
        d.phys().0
    );
    assert_eq!(info(&c), want);
}

#[test]
fn vfree_checks_like_linux() {
    let mut c = core_with(256, 1024, 1000);
    let a = c.vmalloc(2 * P, P, VmFlags::NONE, A, 0).unwrap();
    assert_eq!(c.vfree(VirtAddr(S + 1), A), Err(MemError::UnalignedAddress));
    assert_eq!(c.vfree(VirtAddr(S + P), A), Err(MemError::NotFound));
    assert_eq!(c.vfree(VirtAddr(S + 100 * P), A), Err(MemError::NotFound));
    assert_eq!(c.vfree(a.addr(), B), Err(MemError::NotOwner));
    assert_eq!(c.iounmap(a.addr(), A), Err(MemError::PermissionDenied));
    assert_eq!(c.dma_free(a.addr(), A), Err(MemError::PermissionDenied));
    c.vfree(a.addr(), A).unwrap();
    assert_eq!(c.vfree(a.addr(), A), Err(MemError::NotFound));
    assert!(c.mapper().ptes.is_empty());
    c.check_invariants().unwrap();
}

#[test]
fn size_and_alignment_errors() {
    let mut c = core_with(256, 1024, 1000);
    let e = |c: &mut MemCore<_, _>, s, a| c.vmalloc(s, a, VmFlags::NONE, A, 0).unwrap_err();
    assert_eq!(e(&mut c, 0, P), MemError::InvalidSize);
    assert_eq!(e(&mut c, 257 * P, P), MemError::InvalidSize);
    assert_eq!(e(&mut c, u32::MAX, P), MemError::InvalidSize);
    assert_eq!(e(&mut c, P, 3), MemError::BadAlignment);
    assert_eq!(e(&mut c, P, 0), MemError::BadAlignment);
    assert_eq!(e(&mut c, 256 * P, 1 << 31), MemError::NoVirtualSpace);
    // The whole pool is fine.
    let a = c.vmalloc(256 * P, 64 * P, VmFlags::NONE, A, 0).unwrap();
    assert_eq!(a.addr().0 % (64 * P), 0);
    assert_eq!(e(&mut c, P, P), MemError::OutOfMemory);
    // The failed requests left nothing behind.
    assert_eq!(c.window().len(), 1);
    c.check_invariants().unwrap();
}

#[test]
fn frames_return_only_after_the_batched_flush() {
    let mut c = core_with(256, 1024, 1000);
    let a = c.vmalloc(8 * P, P, VmFlags::NONE, A, 0).unwrap();
    let b = c.vmalloc(8 * P, P, VmFlags::NONE, A, 0).unwrap();
    c.vfree(a.addr(), A).unwrap();
    c.vfree(b.addr(), A).unwrap();
    // PTEs gone at once, frames and ranges parked.
    assert!(c.mapper().ptes.is_empty());
    assert_eq!(c.frames().free_frames(), 240);
    assert_eq!(c.stats().frames.deferred, 16);
    assert_eq!(c.mapper().flushes, 0);
    c.check_invariants().unwrap();
    let st = c.purge();
    assert_eq!((st.areas, st.pages), (2, 18));
    assert_eq!(c.mapper().flushes, 1);
    assert!(fully_coalesced(c.frames()));
    assert_eq!(c.window().free_ranges().count(), 1);
    // A purge with nothing pending does not flush.
    c.purge();
    assert_eq!(c.mapper().flushes, 1);
    c.check_invariants().unwrap();
}

#[test]
fn lazy_threshold_triggers_one_purge() {
    let mut c = core_with(256, 1024, 4);
    let a = c.vmalloc(P, P, VmFlags::NONE, A, 0).unwrap();
    let b = c.vmalloc(P, P, VmFlags::NONE, A, 0).unwrap();
    let d = c.vmalloc(P, P, VmFlags::NONE, A, 0).unwrap();
    c.vfree(a.addr(), A).unwrap();
    c.vfree(b.addr(), A).unwrap();
    assert_eq!(c.mapper().flushes, 0);
    c.vfree(d.addr(), A).unwrap(); // 6 lazy pages > 4
    assert_eq!(c.mapper().flushes, 1);
    assert!(fully_coalesced(c.frames()));
    c.check_invariants().unwrap();
}

#[test]
fn out_of_memory_purges_and_retries() {
    let mut c = core_with(64, 1024, 1_000_000);
    let a = c.vmalloc(64 * P, P, VmFlags::NONE, A, 0).unwrap();
    c.vfree(a.addr(), A).unwrap();
    assert_eq!(c.frames().free_frames(), 0);
    let b = c.vmalloc(32 * P, P, VmFlags::VM_ZEROED, B, 0).unwrap();
    assert_eq!(c.mapper().flushes, 1);
    // Purged before the reuse: the range is the lowest again.
    assert_eq!(c.stats().vmalloc_areas, 1);
    // Every frame handed out is zeroed: A's 64, then B's 32.
    assert_eq!(c.mapper().zeroed, 64 + 32);
    c.vfree(b.addr(), B).unwrap();
    c.purge();
    assert!(fully_coalesced(c.frames()));
}

#[test]
fn no_guard_areas_are_adjacent() {
    let mut c = core_with(256, 1024, 1000);
    let a = c.vmalloc(P, P, VmFlags::VM_NO_GUARD, A, 0).unwrap();
    let b = c.vmalloc(P, P, VmFlags::VM_NO_GUARD, A, 0).unwrap();
    assert_eq!(b.addr().0, a.addr().0 + P);
    assert!(c.find_area(VirtAddr(S + P)).is_some_and(|i| !i.in_guard));
    c.check_invariants().unwrap();
}

#[test]
fn ioremap_alignment_offset_and_permissions() {
    let mut c = core_with(256, 8192, 1000);
    c.vmalloc(P, P, VmFlags::NONE, A, 0).unwrap();
    // 1 MiB device window: 1 MiB aligned; offset in page kept.
    let r = c
        .ioremap(PhysAddr(0x1000_0010), 1 << 20, MemType::Device, A, 0)
        .unwrap();
    assert_eq!(r.addr().0 & 0xfff, 0x10);
    assert_eq!((r.addr().0 & !0xfff) % (1 << 21), 0);
    // 0x10 offset + 1 MiB spans one more page.
    assert_eq!(r.size(), (1 << 20) + P);
    assert_eq!(
        c.mapper().lookup(A, VirtAddr(r.addr().0 & !0xfff)),
        Some(0x10000)
    );
    assert_eq!(
        c.virt_to_phys(VirtAddr(r.addr().0 + 0x20), A),
        Ok(PhysAddr(0x1000_0030))
    );
    // Pool RAM cannot be ioremapped.
    assert_eq!(
        c.ioremap(PhysAddr(0x6000_0000), P, MemType::Device, A, 0)
            .unwrap_err(),
        MemError::PermissionDenied
    );
    assert_eq!(
        c.ioremap(PhysAddr(0x5fff_f000), 2 * P, MemType::Device, A, 0)
            .unwrap_err(),
        MemError::PermissionDenied
    );
    assert_eq!(
        c.ioremap(PhysAddr(0xffff_f000), 2 * P, MemType::Device, A, 0)
            .unwrap_err(),
        MemError::InvalidRange
    );
    assert_eq!(
        c.ioremap(PhysAddr(0x1000_0000), 0, MemType::Device, A, 0)
            .unwrap_err(),
        MemError::InvalidSize
    );
    assert_eq!(c.iounmap(r.addr(), B), Err(MemError::NotOwner));
    c.iounmap(r.addr(), A).unwrap();
    c.check_invariants().unwrap();
}

#[test]
fn vmap_maps_borrowed_frames_without_freeing_them() {
    let mut c = core_with(256, 1024, 0);
    let f1 = c.frames_mut().alloc_pages(0).unwrap();
    let f2 = c.frames_mut().alloc_pages(0).unwrap();
    let v = c.vmap(&[f2, f1], MapAttrs::NORMAL_RW, A, 0).unwrap();
    assert_eq!(c.mapper().lookup(A, v.addr()), Some(f2.0));
    assert_eq!(c.mapper().lookup(A, VirtAddr(v.addr().0 + P)), Some(f1.0));
    assert_eq!(
        c.virt_to_phys(VirtAddr(v.addr().0 + P + 5), A),
        Ok(PhysAddr((f1.0 << 12) + 5))
    );
    c.vunmap(v.addr(), A).unwrap();
    c.purge();
    assert!(c.frames().is_allocated(f1) && c.frames().is_allocated(f2));
    // Free pool frames cannot be vmapped.
    let free = Pfn(POOL_BASE + 200);
    assert_eq!(
        c.vmap(&[free], MapAttrs::NORMAL_RW, A, 0).unwrap_err(),
        MemError::PermissionDenied
    );
    assert_eq!(
        c.vmap(&[], MapAttrs::NORMAL_RW, A, 0).unwrap_err(),
        MemError::InvalidSize
    );
    c.check_invariants().unwrap();
}

#[test]
fn dma_is_contiguous_zeroed_and_uncached() {
    let mut c = core_with(256, 1024, 0);
    let d = c.dma_alloc(5, A, 0).unwrap();
    assert_eq!(d.area().size(), 5 * P);
    assert_eq!(c.mapper().zeroed, 5);
    for i in 0..5 {
        let (pfn, attrs) = c.mapper().ptes[&(A.0, (d.area().addr().0 >> 12) + i)];
        assert_eq!(pfn, (d.phys().0 >> 12) + i);
        assert_eq!(attrs, MapAttrs::UNCACHED_RW);
    }
    assert_eq!(
        c.virt_to_phys(VirtAddr(d.area().addr().0 + 3 * P + 1), A),
        Ok(PhysAddr(d.phys().0 + 3 * P + 1))
    );
    assert_eq!(c.stats().frames.owned, 5);
    c.check_invariants().unwrap();
    c.dma_free(d.area().addr(), A).unwrap();
    assert!(fully_coalesced(c.frames()));
    assert_eq!(c.dma_alloc(0, A, 0).unwrap_err(), MemError::InvalidSize);
    assert_eq!(c.dma_alloc(65, A, 0).unwrap_err(), MemError::InvalidSize);
    c.check_invariants().unwrap();
}

#[test]
fn virt_to_phys_walks_blocks_and_rejects_guard() {
    let mut c = core_with(256, 1024, 1000);
    let a = c.vmalloc(7 * P, P, VmFlags::NONE, A, 0).unwrap();
    for i in 0..7 {
        let va = VirtAddr(a.addr().0 + i * P + 3);
        let pfn = c.mapper().lookup(A, va).unwrap();
        assert_eq!(c.virt_to_phys(va, A), Ok(PhysAddr((pfn << 12) + 3)));
    }
    assert_eq!(
        c.virt_to_phys(VirtAddr(a.addr().0 + 7 * P), A),
        Err(MemError::NotFound)
    );
    assert_eq!(c.virt_to_phys(a.addr(), B), Err(MemError::NotOwner));
    assert_eq!(c.virt_to_phys(VirtAddr(0x1000), A), Err(MemError::NotFound));
}

#[test]
fn reclaim_frees_everything_an_owner_holds() {
    let mut c = core_with(256, 4096, 1000);
    c.vmalloc(3 * P, P, VmFlags::NONE, A, 0).unwrap();
    let keep = c.vmalloc(3 * P, P, VmFlags::NONE, B, 0).unwrap();
    c.ioremap(PhysAddr(0x1001_3000), P, MemType::Device, A, 0)
        .unwrap();
    c.dma_alloc(2, A, 0).unwrap();
    c.vmalloc(9 * P, P, VmFlags::VM_ZEROED, A, 0).unwrap();
    let st = c.reclaim(A);
    assert_eq!((st.areas, st.pages), (4, 3 + 1 + 2 + 9));
    assert_eq!(c.stats().vmalloc_areas, 1);
    assert!(c.mapper().ptes.keys().all(|k| k.0 == B.0));
    c.purge();
    assert_eq!(c.frames().free_frames(), 253);
    c.vfree(keep.addr(), B).unwrap();
    c.purge();
    assert!(fully_coalesced(c.frames()));
    c.check_invariants().unwrap();
}

#[test]
fn error_numbers_are_stable() {
    assert_eq!(MemError::InvalidSize.code(), 1);
    assert_eq!(MemError::BadAlignment.code(), 2);
    assert_eq!(MemError::NoVirtualSpace.code(), 3);
    assert_eq!(MemError::OutOfMemory.code(), 4);
    assert_eq!(MemError::NotFound.code(), 5);
    assert_eq!(MemError::NotOwner.code(), 6);
    assert_eq!(MemError::UnalignedAddress.code(), 7);
    assert_eq!(MemError::PermissionDenied.code(), 8);
    assert_eq!(MemError::MapFailed(MapError(67)).code(), 9);
    assert_eq!(MemError::DuplicateFrame.code(), 11);
    assert_eq!(MemError::InvalidRange.code(), 10);
}

#[test]
fn metadata_per_area_and_page() {
    // The busy-tree entry holds the whole vm_struct.
    let entry = MemCore::<BuddyPool, FakeMapper>::area_metadata_size();
    assert!(entry <= 56, "host entry {entry} bytes");
    assert_eq!(core::mem::size_of::<memcore::PackedBlock>(), 4);
}

/// Frames never carry data across owners: A fills its pages with a
/// marker, frees them; after the purge B gets the same frames through a
/// plain vmalloc (no VM_ZEROED) and reads zeroes only. A DMA buffer too.
#[test]
fn frames_reach_the_next_owner_zeroed() {
    const MARKER: u32 = 0x6d61_726b;
    let mut c = core_with(64, 1024, 1_000_000);
    let a = c.vmalloc(64 * P, P, VmFlags::NONE, A, 0).unwrap();
    for i in 0..64 {
        let va = VirtAddr(a.addr().0 + i * P);
        assert_eq!(c.mapper().read(A, va), Some(0), "plain vmalloc is zeroed");
        assert!(c.mapper_mut().write(A, va, MARKER));
    }
    c.vfree(a.addr(), A).unwrap();
    c.purge();
    let b = c.vmalloc(48 * P, P, VmFlags::NONE, B, 0).unwrap();
    let d = c.dma_alloc(16, B, 0).unwrap();
    assert_eq!(c.frames().free_frames(), 0, "B holds every frame A had");
    for i in 0..48 {
        assert_eq!(c.mapper().read(B, VirtAddr(b.addr().0 + i * P)), Some(0));
    }
    for i in 0..16 {
        let va = VirtAddr(d.area().addr().0 + i * P);
        assert_eq!(c.mapper().read(B, va), Some(0));
    }
    assert!(!c.mapper().contents.values().any(|&w| w == MARKER));
    // VM_ZEROED costs nothing more: the frames are zeroed once.
    assert_eq!(c.mapper().zeroed, 64 + 48 + 16);
}

/// vmap maps with the attributes it is given (the server picks the
/// source frames' memory type) and refuses a frame named twice.
#[test]
fn vmap_takes_attributes_and_refuses_duplicates() {
    let mut c = core_with(256, 1024, 0);
    let d = c.dma_alloc(2, A, 0).unwrap();
    let f = d.phys().pfn();
    let v = c
        .vmap(&[f, Pfn(f.0 + 1)], MapAttrs::UNCACHED_RW.read_only(), A, 0)
        .unwrap();
    for i in 0..2 {
        let (_, attrs) = c.mapper().ptes[&(A.0, (v.addr().0 >> 12) + i)];
        assert_eq!(attrs.mem_type(), MemType::NormalUncached);
        assert!(!attrs.is_writable());
    }
    let before = c.stats();
    for pfns in [
        vec![f, f],
        vec![f, Pfn(f.0 + 1), f],
        vec![Pfn(f.0 + 1), f, Pfn(f.0 + 1)],
    ] {
        assert_eq!(
            c.vmap(&pfns, MapAttrs::NORMAL_RW, A, 0).unwrap_err(),
            MemError::DuplicateFrame
        );
    }
    assert_eq!(c.stats(), before, "a refused vmap changes nothing");
    c.check_invariants().unwrap();
}

/// ioremap: Device and Normal uncached (`ioremap_wc`) are allowed for a
/// device, Normal cacheable never.
#[test]
fn ioremap_memory_types() {
    let mut c = core_with(256, 1024, 0);
    assert_eq!(
        c.ioremap(PhysAddr(0x1001_3000), P, MemType::NormalCached, A, 0)
            .unwrap_err(),
        MemError::PermissionDenied
    );
    assert!(c.window().is_empty());
    for (mem, phys) in [
        (MemType::Device, 0x1001_3000),
        (MemType::NormalUncached, 0x1001_4000),
    ] {
        let io = c.ioremap(PhysAddr(phys), P, mem, A, 0).unwrap();
        let (_, attrs) = c.mapper().ptes[&(A.0, io.addr().0 >> 12)];
        assert_eq!(attrs, MapAttrs::new(mem, true));
    }
    c.check_invariants().unwrap();
}
