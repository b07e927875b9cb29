//! The whole path on the host: memclient → bytes → loopback "kernel" →
//! Server (real buddy pool, recording fake mapper) → bytes → memclient.
//! One test per request kind family, and the lifecycle calls.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use abi::{Pfn, PhysAddr, VirtAddr, PAGE_SIZE};
use common::*;
use ipc::{AreaKind, AreaRecord, BoundedVec, ErrorCode, PageRun};
use memclient::{ClientError, MemType, VmallocFlags, VmapFlags, VmapSource};
use memserver::*;

const POOL: u32 = 4096;

fn setup() -> Rc<RefCell<TestServer>> {
    shared_server(POOL)
}

#[test]
fn every_request_kind_round_trips() {
    let server = setup();
    let c = client(&server, DEV_CLIENT);
    c.ping(0xdead_beef).unwrap();

    // Vmalloc (zeroed, caller tag): lowest fit at the window start.
    let area = c
        .vmalloc_with(64 * 1024, PAGE_SIZE, VmallocFlags::ZEROED, 0x1234)
        .unwrap();
    assert_eq!(area.addr(), VirtAddr(0x4000_0000));
    assert_eq!(area.size(), 64 * 1024);
    {
        let s = server.borrow();
        assert_eq!(s.mapper().ptes_of(1), 16);
        assert_eq!(s.mapper().zeroed_frames, 16);
        let pte = s.mapper().pte(1, 0x4000_0000).unwrap();
        assert_eq!(pte.attrs, MapAttrs::NORMAL_RW);
    }
    // Next area after the guard page.
    let small = c.vmalloc(1).unwrap();
    assert_eq!(small.addr(), VirtAddr(0x4001_1000));
    assert_eq!(small.size(), PAGE_SIZE);

    // VirtToPhys keeps the offset and matches the PTE.
    let phys = c.virt_to_phys(VirtAddr(0x4000_1123)).unwrap();
    let pfn = server.borrow().mapper().pte(1, 0x4000_1000).unwrap().pfn;
    assert_eq!(phys, PhysAddr((pfn << 12) | 0x123));

    // Ioremap keeps the offset in the page; mapped as device memory.
    let io = c
        .ioremap(PhysAddr(UART.start.0 + 0x18), 0x20, MemType::Device)
        .unwrap();
    assert_eq!(io.addr().0 & 0xfff, 0x18);
    assert_eq!(io.size(), 0x20);
    assert_eq!(
        c.virt_to_phys(io.addr()).unwrap(),
        PhysAddr(UART.start.0 + 0x18)
    );
    {
        let s = server.borrow();
        let pte = s.mapper().pte(1, io.addr().0 & !0xfff).unwrap();
        assert_eq!(pte.pfn, UART.start.0 >> 12);
        assert_eq!(pte.attrs.mem_type(), MemType::Device);
    }

    // DmaAlloc: contiguous, uncached, zeroed.
    let dma = c.dma_alloc(4).unwrap();
    assert_eq!(dma.size(), 4 * PAGE_SIZE);
    assert_eq!(c.virt_to_phys(dma.addr()).unwrap(), dma.phys());
    {
        let s = server.borrow();
        for i in 0..4 {
            let pte = s.mapper().pte(1, dma.addr().0 + i * PAGE_SIZE).unwrap();
            assert_eq!(pte.pfn, (dma.phys().0 >> 12) + i);
            assert_eq!(pte.attrs.mem_type(), MemType::NormalUncached);
        }
    }

    // Vmap of the DMA buffer, read-only: the same frames, no write.
    let alias = c
        .vmap(VmapSource::Dma { addr: dma.addr() }, VmapFlags::READ_ONLY)
        .unwrap();
    assert_eq!(alias.size(), 4 * PAGE_SIZE);
    {
        let s = server.borrow();
        let pte = s.mapper().pte(1, alias.addr().0).unwrap();
        assert_eq!(pte.pfn, dma.phys().0 >> 12);
        // Read-only, and uncached like the buffer's own mapping.
        assert_eq!(pte.attrs, MapAttrs::UNCACHED_RW.read_only());
    }

    // Vmap of explicit runs: pages 3 and 0 of the vmalloc area, reversed.
    let p0 = c.virt_to_phys(area.addr()).unwrap().pfn();
    let p3 = c
        .virt_to_phys(VirtAddr(area.addr().0 + 3 * PAGE_SIZE))
        .unwrap()
        .pfn();
    let runs =
        BoundedVec::from_slice(&[PageRun { pfn: p3, count: 1 }, PageRun { pfn: p0, count: 1 }])
            .unwrap();
    let frames_alias = c.vmap(VmapSource::Frames(runs), VmapFlags::NONE).unwrap();
    assert_eq!(
        c.virt_to_phys(frames_alias.addr()).unwrap(),
        p3.addr(),
        "first page of the alias is page 3 of the area"
    );
    assert!(
        server
            .borrow()
            .mapper()
            .pte(1, frames_alias.addr().0)
            .unwrap()
            .attrs
            == MapAttrs::NORMAL_RW
    );

    // Info: every area, in address order, with kinds, owners, callers.
    let mut records: Vec<AreaRecord> = Vec::new();
    c.info_all(|r| records.push(*r)).unwrap();
    assert_eq!(records.len(), 6);
    assert!(records.windows(2).all(|w| w[0].start < w[1].start));
    let first = records[0];
    assert_eq!(first.start, VirtAddr(0x4000_0000));
    assert_eq!(first.size, 17 * PAGE_SIZE, "size includes the guard page");
    assert_eq!(first.nr_pages, 16);
    assert_eq!(first.caller, 0x1234);
    assert_eq!(first.owner, 1);
    assert_eq!(first.kind, AreaKind::Vmalloc);
    let kinds: Vec<AreaKind> = records.iter().map(|r| r.kind).collect();
    for kind in [AreaKind::Ioremap, AreaKind::Dma, AreaKind::Vmap] {
        assert!(kinds.contains(&kind));
    }
    let io_record = records
        .iter()
        .find(|r| r.kind == AreaKind::Ioremap)
        .unwrap();
    assert_eq!(io_record.phys, Some(UART.start));
    assert_eq!(io_record.nr_pages, 0);
    let dma_record = records.iter().find(|r| r.kind == AreaKind::Dma).unwrap();
    assert_eq!(dma_record.phys, Some(dma.phys()));
    assert_eq!(dma_record.nr_pages, 4);
    // The record prints as a /proc/vmallocinfo line.
    assert!(format!("{first}").starts_with("0x40000000-0x40011000   69632"));

    // Stats: pool, buddyinfo and the client's usage.
    let stats = c.stats().unwrap();
    assert_eq!(stats.total_pages, POOL);
    assert_eq!(stats.free_pages, POOL - 16 - 1 - 4);
    let listed: u32 = stats
        .free_blocks
        .iter()
        .enumerate()
        .map(|(order, n)| n << order)
        .sum();
    assert_eq!(listed, stats.free_pages, "buddyinfo adds up");
    assert_eq!(stats.clients_total, 3, "every manifest client is listed");
    let me = stats.clients.iter().find(|u| u.client == 1).unwrap();
    assert_eq!((me.areas, me.pages, me.quota_pages), (6, 21, u32::MAX));
    // Window: 16+1, 1+1, ioremap 1+1, DMA 4+1, its alias 4+1, 2+1.
    assert_eq!((me.window_pages, me.quota_window_pages), (34, u32::MAX));
    let view = server.borrow().client(DEV_CLIENT).unwrap();
    assert_eq!(
        view.usage,
        Usage {
            pages: 21,
            areas: 6,
            ioremaps: 1,
            vmaps: 2,
            dma_pages: 4,
            window_pages: 34,
        }
    );
    server.borrow().check_invariants().unwrap();

    // Frees, explicit (with the reply checked) and by drop.
    c.vunmap(alias).unwrap();
    c.dma_free(dma).unwrap();
    c.iounmap(io).unwrap();
    drop(frames_alias);
    assert_eq!(c.vfree_addr(small.into_raw().0), Ok(PAGE_SIZE));
    drop(area);
    assert_eq!(c.drop_failures(), 0);
    let stats = c.stats().unwrap();
    assert_eq!(stats.clients[0].areas, 0);
    assert_eq!(stats.clients[0].pages, 0);
    assert_eq!(
        server.borrow().client(DEV_CLIENT).unwrap().usage,
        Usage::default()
    );
    assert_no_leaks(&mut server.borrow_mut(), POOL);
}

#[test]
fn info_is_paged_by_cursor() {
    let server = setup();
    let c = client(&server, PLAIN_CLIENT);
    let areas: Vec<_> = (0..250).map(|_| c.vmalloc(PAGE_SIZE).unwrap()).collect();
    let page = c.info(0).unwrap();
    assert_eq!(page.records.len(), ipc::INFO_MAX_RECORDS);
    let next = page.next_cursor.expect("more to come");
    assert_eq!(next, areas[100].addr().0);
    let mut all = Vec::new();
    c.info_all(|r| all.push(r.start)).unwrap();
    let expected: Vec<VirtAddr> = areas.iter().map(|a| a.addr()).collect();
    assert_eq!(all, expected);
    // A cursor inside an area starts at the next one.
    let mid = c.info(areas[7].addr().0 + 1).unwrap();
    assert_eq!(mid.records[0].start, areas[8].addr());
    // Past the last area: empty, complete.
    let end = c.info(u32::MAX).unwrap();
    assert!(end.records.is_empty());
    assert_eq!(end.next_cursor, None);
    drop(areas);
    assert_no_leaks(&mut server.borrow_mut(), POOL);
}

#[test]
fn clients_are_isolated_and_accounted_separately() {
    let server = setup();
    let a = client(&server, DEV_CLIENT);
    let b = client(&server, PLAIN_CLIENT);
    let x = a.vmalloc(3 * PAGE_SIZE).unwrap();
    let y = b.vmalloc(5 * PAGE_SIZE).unwrap();
    {
        let s = server.borrow();
        assert_eq!(s.mapper().ptes_of(1), 3);
        assert_eq!(s.mapper().ptes_of(2), 5);
        assert_eq!(s.client(DEV_CLIENT).unwrap().usage.pages, 3);
        assert_eq!(s.client(PLAIN_CLIENT).unwrap().usage.pages, 5);
    }
    assert_eq!(
        b.vfree_addr(x.addr()),
        Err(ClientError::Server(ErrorCode::NotOwner))
    );
    assert_eq!(
        b.virt_to_phys(x.addr()),
        Err(ClientError::Server(ErrorCode::NotOwner))
    );
    drop(x);
    drop(y);
    assert_no_leaks(&mut server.borrow_mut(), POOL);
}

#[test]
fn exit_reclaims_everything_the_client_held() {
    let server = setup();
    let a = client(&server, DEV_CLIENT);
    let b = client(&server, PLAIN_CLIENT);
    let keep = b.vmalloc(2 * PAGE_SIZE).unwrap();
    let mut raw = Vec::new();
    raw.push(
        a.vmalloc_with(10 * PAGE_SIZE, PAGE_SIZE, VmallocFlags::NONE, 0x0001_2a4c)
            .unwrap()
            .into_raw(),
    );
    raw.push(
        a.ioremap_with(VIRTIO.start, 0x200, MemType::Device, 0x0001_2a4c)
            .unwrap()
            .into_raw(),
    );
    let dma = a.dma_alloc_with(3, 0x0001_2a4c).unwrap();
    raw.push(
        a.vmap_with(VmapSource::Dma { addr: dma.addr() }, VmapFlags::NONE, 0xb0b)
            .unwrap()
            .into_raw(),
    );
    raw.push(dma.into_raw());

    let summary = server.borrow_mut().client_exited(DEV_CLIENT);
    assert_eq!(
        summary,
        ExitSummary {
            client: DEV_CLIENT,
            areas: 4,
            pages_unmapped: 10 + 1 + 3 + 3,
            frames_released: 13,
            ioremaps: 1,
            dma_pages: 3,
            // Grouped by caller, ascending: every kind of area carries
            // the tag its request named (the vmap its own, the vmalloc,
            // ioremap and DMA areas a shared one).
            leaks: vec![
                LeakGroup {
                    caller: 0xb0b,
                    areas: 1,
                    bytes: 3 * PAGE_SIZE,
                },
                LeakGroup {
                    caller: 0x0001_2a4c,
                    areas: 3,
                    bytes: (10 + 1 + 3) * PAGE_SIZE,
                },
            ],
        }
    );
    assert_eq!(summary.leaked_areas(), 4);
    assert_eq!(summary.leaked_bytes(), 17 * PAGE_SIZE);
    assert_eq!(
        format!("{}", summary.leaks[1]),
        "3 areas, 57344 bytes, caller 0x00012a4c"
    );
    assert!(format!("{summary}").contains("reclaimed 4 areas"));
    {
        let mut s = server.borrow_mut();
        assert_eq!(s.mapper().ptes_of(1), 0);
        assert_eq!(s.mapper().ptes_of(2), 2, "the other client keeps its area");
        // The manifest row survives (quota, grants) with zero usage.
        let view = s.client(DEV_CLIENT).unwrap();
        assert!(view.configured);
        assert_eq!(view.usage, Usage::default());
        s.purge();
        assert_eq!(s.pool().free_frames(), POOL - 2);
        s.check_invariants().unwrap();
    }
    // A restarted client under the same badge works (and can ioremap).
    let io = a.ioremap(UART.start, 0x1000, MemType::Device).unwrap();
    drop(io);
    drop(keep);
    assert_no_leaks(&mut server.borrow_mut(), POOL);
}

#[test]
fn guard_page_fault_names_the_area_then_reclaims() {
    let server = setup();
    let c = client(&server, PLAIN_CLIENT);
    let _before = c.vmalloc(PAGE_SIZE).unwrap().into_raw();
    let (addr, size) = c
        .vmalloc_with(3 * PAGE_SIZE - 100, PAGE_SIZE, VmallocFlags::NONE, 0xc0de)
        .unwrap()
        .into_raw();
    assert_eq!(size, 3 * PAGE_SIZE);
    let guard = VirtAddr(addr.0 + size + 8);
    let outcome = server.borrow_mut().client_faulted(PLAIN_CLIENT, guard);
    let report = outcome.overrun.expect("a guard-page hit is an overrun");
    assert_eq!(report.area_start, addr);
    assert_eq!(report.area_size, 3 * PAGE_SIZE);
    assert_eq!(report.requested, 3 * PAGE_SIZE - 100);
    assert_eq!(report.caller, 0xc0de);
    assert_eq!(report.kind, AreaKind::Vmalloc);
    assert_eq!(
        format!("{report}"),
        "overran area 0x40002000-0x40005000 (12288 bytes, caller 0x0000c0de)"
    );
    assert_eq!(outcome.reclaimed.areas, 2);
    assert_no_leaks(&mut server.borrow_mut(), POOL);
}

#[test]
fn fault_just_past_an_area_without_guard_names_it() {
    let server = setup();
    let c = client(&server, PLAIN_CLIENT);
    let (addr, size) = c
        .vmalloc_with(PAGE_SIZE, PAGE_SIZE, VmallocFlags::NO_GUARD, 7)
        .unwrap()
        .into_raw();
    // The next area starts right after it (no guard page between).
    let (next, _) = c.vmalloc(PAGE_SIZE).unwrap().into_raw();
    assert_eq!(next.0, addr.0 + size);
    let outcome = server
        .borrow_mut()
        .client_faulted(PLAIN_CLIENT, VirtAddr(next.0 + 4));
    // The address is inside `next` (mapped): the overrun is of the first.
    let report = outcome.overrun.expect("just past an unguarded area");
    assert_eq!((report.area_start, report.caller), (addr, 7));
    assert_no_leaks(&mut server.borrow_mut(), POOL);
}

#[test]
fn faults_that_are_not_overruns_only_reclaim() {
    let server = setup();
    let a = client(&server, DEV_CLIENT);
    let b = client(&server, PLAIN_CLIENT);
    let (theirs, size) = a.vmalloc(PAGE_SIZE).unwrap().into_raw();
    let (mine, _) = b.vmalloc(PAGE_SIZE).unwrap().into_raw();
    let mut s = server.borrow_mut();
    // Another client's guard page: no report (and no leak of its tag).
    let o = s.client_faulted(PLAIN_CLIENT, VirtAddr(theirs.0 + size));
    assert!(o.overrun.is_none());
    assert_eq!(o.reclaimed.areas, 1);
    // Null pointer, far outside any area, inside a mapped page: none.
    assert!(s.client_faulted(DEV_CLIENT, VirtAddr(0)).overrun.is_none());
    assert!(s
        .client_faulted(DEV_CLIENT, VirtAddr(u32::MAX))
        .overrun
        .is_none());
    let _ = mine;
    assert_no_leaks(&mut s, POOL);
}

#[test]
fn vmallocinfo_text_lists_areas() {
    let server = setup();
    let c = client(&server, DEV_CLIENT);
    let _a = c
        .vmalloc_with(2 * PAGE_SIZE, PAGE_SIZE, VmallocFlags::NONE, 0xabc)
        .unwrap();
    let _io = c.ioremap(UART.start, 0x1000, MemType::Device).unwrap();
    let mut text = String::new();
    server.borrow().core().write_vmallocinfo(&mut text).unwrap();
    assert!(text.contains("0x40000000-0x40003000   12288 0x00000abc pages=2 vmalloc"));
    assert!(text.contains("phys=0x10009000 ioremap"));
    let _ = Pfn(0);
}
