//! Isolation between clients (issue 10): frames reach a client zeroed,
//! the window quota stops a hog before anything changes, a vmap names
//! each frame once and keeps its frames' memory type, kernel refusals
//! reach the client typed and roll back exactly, and `Info`/`Stats` show
//! a non-observer only what is its own.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use abi::{VirtAddr, PAGE_SIZE};
use common::*;
use ipc::*;
use memclient::ClientError;
use memserver::*;

const POOL: u32 = 1024;

fn setup() -> Rc<RefCell<TestServer>> {
    shared_server(POOL)
}

use common::server_error as err;

/// What must not change when a request is refused.
#[derive(Debug, PartialEq)]
struct Snapshot {
    free: u32,
    ptes: usize,
    areas: u32,
    window_free: u32,
    usage: Vec<Option<Usage>>,
}

fn snapshot(s: &TestServer) -> Snapshot {
    Snapshot {
        free: s.pool().free_frames(),
        ptes: s.mapper().pte_count(),
        areas: s.core().window().len(),
        window_free: s.core().window().stats().free_bytes,
        usage: [DEV_CLIENT, PLAIN_CLIENT, SMALL_CLIENT]
            .iter()
            .map(|c| s.client(*c).map(|v| v.usage))
            .collect(),
    }
}

/// Client A fills the whole pool with a marker, frees it and exits;
/// client B then takes the whole pool with plain vmalloc (no ZEROED) and
/// DMA buffers and reads every page: zero marker words, zero stale words.
#[test]
fn freed_frames_reach_the_next_client_zeroed() {
    const MARKER: u32 = 0x4d41_524b;
    let server = setup();
    {
        let a = client(&server, PLAIN_CLIENT);
        let area = a.vmalloc(POOL * PAGE_SIZE).unwrap();
        let mut s = server.borrow_mut();
        for i in 0..POOL {
            let va = area.addr().0 + i * PAGE_SIZE;
            assert_eq!(s.mapper().read(2, va), Some(0), "a fresh frame is zeroed");
            assert!(s.mapper_mut().write(2, va, MARKER));
        }
        drop(s);
        // Freed, then the client exits: the frames go back after the flush.
        a.vfree(area).unwrap();
    }
    server.borrow_mut().client_exited(PLAIN_CLIENT);
    server.borrow_mut().purge();
    assert_eq!(server.borrow().pool().free_frames(), POOL);

    let b = client(&server, DEV_CLIENT);
    let half = POOL / 2;
    let plain = b.vmalloc(half * PAGE_SIZE).unwrap();
    let mut dmas = Vec::new();
    let mut got = half;
    while got < POOL {
        let n = (POOL - got).min(64);
        dmas.push(b.dma_alloc(n).unwrap());
        got += n;
    }
    assert_eq!(
        server.borrow().pool().free_frames(),
        0,
        "B holds every frame"
    );
    let s = server.borrow();
    let mut markers = 0u32;
    let mut nonzero = 0u32;
    let mut scan = |va: u32| {
        let word = s.mapper().read(1, va).expect("mapped");
        markers += u32::from(word == MARKER);
        nonzero += u32::from(word != 0);
    };
    for i in 0..half {
        scan(plain.addr().0 + i * PAGE_SIZE);
    }
    for d in &dmas {
        for i in 0..d.size() / PAGE_SIZE {
            scan(d.addr().0 + i * PAGE_SIZE);
        }
    }
    assert_eq!((markers, nonzero), (0, 0));
    drop(s);
    drop(dmas);
    drop(plain);
    assert_no_leaks(&mut server.borrow_mut(), POOL);
}

/// A small window quota stops vmap of a few frames, vmalloc without a
/// guard and ioremap before they change anything; another client still
/// gets its 1 MiB.
#[test]
fn window_quota_stops_a_hog() {
    let window = VmapConfig::default();
    let mut cfg = ServerConfig::new(window);
    cfg.ram.push(RAM);
    let hog_id = ClientId(7);
    cfg.clients.push(
        ClientConfig::new(hog_id, Quota::new(64, 1000, 200))
            .with_device(UART)
            .with_device(VIRTIO),
    );
    cfg.clients
        .push(ClientConfig::new(PLAIN_CLIENT, Quota::UNLIMITED));
    let mapper = FakeMapper::new(&window, POOL_BASE_PFN, POOL);
    let server = Rc::new(RefCell::new(Server::new(cfg, pool(POOL), mapper).unwrap()));
    let hog = client(&server, hog_id);
    let other = client(&server, PLAIN_CLIENT);

    // 8 frames, vmapped over and over: each vmap spans 9 window pages.
    let frames = hog.vmalloc(8 * PAGE_SIZE).unwrap(); // 9 window pages
    let pfn = hog.virt_to_phys(frames.addr()).unwrap().pfn();
    let runs = || {
        let v: Vec<PageRun> = (0..8)
            .map(|i| {
                let pfn = hog
                    .virt_to_phys(VirtAddr(frames.addr().0 + i * PAGE_SIZE))
                    .unwrap()
                    .pfn();
                PageRun { pfn, count: 1 }
            })
            .collect();
        VmapSource::Frames(BoundedVec::from_slice(&v).unwrap())
    };
    let _ = pfn;
    let mut kept = Vec::new();
    let refused = loop {
        match hog.vmap(runs(), VmapFlags::NONE) {
            Ok(v) => kept.push(v.into_raw().0),
            Err(e) => break e,
        }
    };
    assert_eq!(refused, ClientError::Server(ErrorCode::QuotaExceeded));
    // 9 (vmalloc) + 21 * 9 = 198 ≤ 200 < 207.
    assert_eq!(kept.len(), 21);
    let view = server.borrow().client(hog_id).unwrap();
    assert_eq!(view.usage.window_pages, 198);
    let before = snapshot(&server.borrow());
    let hog_before = server.borrow().client(hog_id).unwrap().usage;
    use ErrorCode::QuotaExceeded;
    // No guard does not help: 2 pages fit (198 + 2 = 200), 3 do not.
    assert_eq!(
        err(hog.vmalloc_with(3 * PAGE_SIZE, PAGE_SIZE, VmallocFlags::NO_GUARD, 0)),
        QuotaExceeded
    );
    assert_eq!(err(hog.dma_alloc(2)), QuotaExceeded);
    assert_eq!(
        snapshot(&server.borrow()),
        before,
        "refusals change nothing"
    );
    assert_eq!(server.borrow().client(hog_id).unwrap().usage, hog_before);
    // An ioremap spans its page plus a guard page: the last 2 pages.
    let io = hog.ioremap(UART.start, 0x100, MemType::Device).unwrap();
    assert_eq!(
        server.borrow().client(hog_id).unwrap().usage.window_pages,
        200
    );
    let before = snapshot(&server.borrow());
    assert_eq!(
        err(hog.ioremap(VIRTIO.start, 0x100, MemType::Device)),
        QuotaExceeded
    );
    assert_eq!(err(hog.vmalloc(1)), QuotaExceeded);
    assert_eq!(snapshot(&server.borrow()), before);

    // The other client is not affected.
    let mib = other.vmalloc(1 << 20).unwrap();
    drop(mib);
    // Freeing gives the window pages back exactly.
    drop(io);
    for addr in kept {
        hog.vunmap_addr(addr).unwrap();
    }
    assert_eq!(
        server.borrow().client(hog_id).unwrap().usage.window_pages,
        9
    );
    let stats = hog.stats().unwrap();
    assert_eq!(stats.clients_total, 1);
    let me = stats.clients.iter().next().unwrap();
    assert_eq!(
        (me.client, me.window_pages, me.quota_window_pages),
        (7, 9, 200)
    );
    drop(frames);
    assert_no_leaks(&mut server.borrow_mut(), POOL);
}

/// The window charge of an aligned vmalloc is its reservation (pages +
/// guard), not the padding in front of it.
#[test]
fn aligned_vmalloc_is_charged_its_reservation() {
    let server = setup();
    let c = client(&server, PLAIN_CLIENT);
    let _one = c.vmalloc(PAGE_SIZE).unwrap(); // shifts the next fit off alignment
    let aligned = c
        .vmalloc_with(3 * PAGE_SIZE, 1 << 20, VmallocFlags::NONE, 0)
        .unwrap();
    assert_eq!(aligned.addr().0 % (1 << 20), 0);
    let usage = server.borrow().client(PLAIN_CLIENT).unwrap().usage;
    assert_eq!(usage.window_pages, 2 + 4);
    server.borrow().check_invariants().unwrap();
}

/// A frame may appear once per vmap: repeated or overlapping runs are
/// `DuplicateFrame`, with nothing changed. Frames of a DMA buffer and of
/// a vmalloc area in one vmap are `PermissionDenied` (one memory type per
/// mapping); each alone keeps its own type.
#[test]
fn vmap_duplicates_and_memory_types() {
    let server = setup();
    let c = client(&server, PLAIN_CLIENT);
    let area = c.vmalloc(4 * PAGE_SIZE).unwrap();
    let dma = c.dma_alloc(2).unwrap();
    let pfn_of = |va: u32| c.virt_to_phys(VirtAddr(va)).unwrap().pfn();
    let p: Vec<abi::Pfn> = (0..4)
        .map(|i| pfn_of(area.addr().0 + i * PAGE_SIZE))
        .collect();
    let d = dma.phys().pfn();
    let frames = |runs: &[(abi::Pfn, u32)]| {
        let v: Vec<PageRun> = runs
            .iter()
            .map(|&(pfn, count)| PageRun { pfn, count })
            .collect();
        VmapSource::Frames(BoundedVec::from_slice(&v).unwrap())
    };
    let before = snapshot(&server.borrow());
    use ErrorCode::*;
    for runs in [
        vec![(p[0], 1), (p[0], 1)],
        vec![(p[1], 1), (p[2], 1), (p[1], 1)],
        vec![(d, 2), (abi::Pfn(d.0 + 1), 1)],
        vec![(abi::Pfn(d.0 + 1), 1), (d, 2)],
    ] {
        assert_eq!(
            err(c.vmap(frames(&runs), VmapFlags::NONE)),
            DuplicateFrame,
            "{runs:?}"
        );
    }
    assert_eq!(
        err(c.vmap(frames(&[(p[0], 1), (d, 1)]), VmapFlags::NONE)),
        PermissionDenied
    );
    // One run across a DMA buffer and a physically adjacent vmalloc area
    // of the same client: owned, but of two memory types.
    let before_adj = snapshot(&server.borrow());
    let next = c.vmalloc(PAGE_SIZE).unwrap();
    let n = pfn_of(next.addr().0);
    assert_eq!(n.0, d.0 + 2, "the buddy pool hands out the next frame");
    assert_eq!(
        err(c.vmap(frames(&[(abi::Pfn(d.0 + 1), 2)]), VmapFlags::NONE)),
        PermissionDenied
    );
    drop(next);
    server.borrow_mut().purge();
    assert_eq!(snapshot(&server.borrow()), before_adj);
    assert_eq!(snapshot(&server.borrow()), before);

    // Reversed distinct frames are fine, mapped cached like their area.
    let v = c
        .vmap(frames(&[(p[3], 1), (p[0], 1)]), VmapFlags::NONE)
        .unwrap();
    // DMA frames named as runs: uncached, as the buffer itself.
    let w = c
        .vmap(
            frames(&[(abi::Pfn(d.0 + 1), 1), (d, 1)]),
            VmapFlags::READ_ONLY,
        )
        .unwrap();
    {
        let s = server.borrow();
        assert_eq!(
            s.mapper().pte(2, v.addr().0).unwrap().attrs,
            MapAttrs::NORMAL_RW
        );
        assert_eq!(
            s.mapper().pte(2, w.addr().0).unwrap().attrs,
            MapAttrs::UNCACHED_RW.read_only()
        );
    }
    drop((v, w, dma, area));
    assert_no_leaks(&mut server.borrow_mut(), POOL);
}

/// ioremap of a granted device: Device and Normal uncached are allowed,
/// Normal cacheable is `PermissionDenied` (never `Internal`).
#[test]
fn ioremap_memory_types() {
    let server = setup();
    let dev = client(&server, DEV_CLIENT);
    let before = snapshot(&server.borrow());
    assert_eq!(
        err(dev.ioremap(UART.start, 0x100, MemType::NormalCached)),
        ErrorCode::PermissionDenied
    );
    assert_eq!(snapshot(&server.borrow()), before);
    let a = dev.ioremap(UART.start, 0x100, MemType::Device).unwrap();
    let b = dev
        .ioremap(VIRTIO.start, 0x100, MemType::NormalUncached)
        .unwrap();
    let s = server.borrow();
    assert_eq!(
        s.mapper().pte(1, a.addr().0 & !0xfff).unwrap().attrs,
        MapAttrs::DEVICE_RW
    );
    assert_eq!(
        s.mapper().pte(1, b.addr().0 & !0xfff).unwrap().attrs,
        MapAttrs::UNCACHED_RW
    );
    drop(s);
    drop((a, b));
    assert_no_leaks(&mut server.borrow_mut(), POOL);
}

/// The kernel's refusals reach the client typed (its attribute check:
/// PermissionDenied; the client's page-table quota: QuotaExceeded; the
/// kernel's memory: OutOfMemory; anything else: Internal), at every map
/// call of every kind of request, and each rolls back exactly.
#[test]
fn kernel_refusals_are_typed_and_roll_back() {
    use abi::KernelError as K;
    let cases = [
        (
            K::AttributesNotAllowed.number(),
            ErrorCode::PermissionDenied,
        ),
        (K::KernelQuotaExceeded.number(), ErrorCode::QuotaExceeded),
        (K::OutOfKernelMemory.number(), ErrorCode::OutOfMemory),
        (K::InvalidArgument.number(), ErrorCode::Internal),
        (70, ErrorCode::Internal),
    ];
    for (number, want) in cases {
        // Each request kind, failing at its first map call.
        type Op = fn(&Client, VirtAddr) -> Result<(), ClientError>;
        let ops: [(&str, Op); 5] = [
            ("vmalloc", |c, _| {
                c.vmalloc(5 * PAGE_SIZE).map(|a| {
                    a.into_raw();
                })
            }),
            ("dma", |c, _| {
                c.dma_alloc(3).map(|a| {
                    a.into_raw();
                })
            }),
            ("ioremap", |c, _| {
                c.ioremap(UART.start, 0x100, MemType::Device).map(|a| {
                    a.into_raw();
                })
            }),
            ("vmap", |c, src| {
                c.vmap(VmapSource::Dma { addr: src }, VmapFlags::NONE)
                    .map(|a| {
                        a.into_raw();
                    })
            }),
            ("vmalloc-zeroed", |c, _| {
                c.vzalloc(PAGE_SIZE).map(|a| {
                    a.into_raw();
                })
            }),
        ];
        for (name, op) in ops {
            let server = setup();
            let c = client(&server, DEV_CLIENT);
            let src = c.dma_alloc(2).unwrap();
            let before = snapshot(&server.borrow());
            let calls = server.borrow().mapper().map_calls;
            {
                let mut s = server.borrow_mut();
                s.mapper_mut().fail_map_at = Some(calls);
                s.mapper_mut().fail_map_with = Some(number);
            }
            assert_eq!(
                err(op(&c, src.addr())),
                want,
                "{name}, kernel error {number}"
            );
            server.borrow_mut().purge();
            assert_eq!(snapshot(&server.borrow()), before, "{name}: rolled back");
            server.borrow().check_invariants().unwrap();
            drop(src);
            assert_no_leaks(&mut server.borrow_mut(), POOL);
        }
    }
}

/// A non-observer sees only its own areas (no other client's addresses,
/// caller tags, physical addresses) and its own usage row; pool-wide
/// figures stay visible to all. The observer sees everything.
#[test]
fn info_and_stats_are_private_unless_observer() {
    let server = setup();
    let a = client(&server, PLAIN_CLIENT);
    let b = client(&server, SMALL_CLIENT);
    let observer = client(&server, OBSERVER);
    let _a1 = a
        .vmalloc_with(PAGE_SIZE, PAGE_SIZE, VmallocFlags::NONE, 0xaaaa)
        .unwrap();
    let a_dma = a.dma_alloc(2).unwrap();
    let _b1 = b
        .vmalloc_with(3 * PAGE_SIZE, PAGE_SIZE, VmallocFlags::NONE, 0xbbbb)
        .unwrap();
    let _b2 = b.vmalloc(PAGE_SIZE).unwrap();
    let _o = observer.dma_alloc(1).unwrap();

    let listing = |c: &Client| {
        let mut v = Vec::new();
        c.info_all(|r| v.push(*r)).unwrap();
        v
    };
    let seen_by_a = listing(&a);
    assert_eq!(seen_by_a.len(), 2);
    assert!(seen_by_a.iter().all(|r| r.owner == 2 && r.caller != 0xbbbb));
    assert!(
        seen_by_a.iter().any(|r| r.phys == Some(a_dma.phys())),
        "its own DMA address"
    );
    let seen_by_b = listing(&b);
    assert_eq!(seen_by_b.len(), 2);
    assert!(seen_by_b.iter().all(|r| r.owner == 3 && r.phys.is_none()));
    assert_eq!(listing(&observer).len(), 5);

    // A cursor past A's first area still pages through A's own areas.
    let first = a.info(0).unwrap();
    let next = a.info(first.records.as_slice()[0].start.0 + 1).unwrap();
    assert_eq!(next.records.len(), 1);
    assert_eq!(next.records.as_slice()[0].owner, 2);

    let sa = a.stats().unwrap();
    assert_eq!(sa.clients_total, 1);
    assert_eq!(sa.clients.len(), 1);
    let row = sa.clients.as_slice()[0];
    assert_eq!((row.client, row.pages, row.areas), (2, 3, 2));
    let so = observer.stats().unwrap();
    assert_eq!(so.clients_total, 3);
    // Pool-wide figures are the same for everyone.
    assert_eq!(
        (
            sa.free_blocks,
            sa.total_pages,
            sa.free_pages,
            sa.window_free
        ),
        (
            so.free_blocks,
            so.total_pages,
            so.free_pages,
            so.window_free
        )
    );
    let sb = b.stats().unwrap();
    assert_eq!(sb.clients_total, 1);
    assert_eq!(sb.clients.as_slice()[0].client, 3);
}
