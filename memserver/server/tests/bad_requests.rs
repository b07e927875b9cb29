//! Every bad request gets its exact error, changes nothing, and no byte
//! string panics the server.

mod common;

use std::cell::RefCell;
use std::rc::Rc;

use abi::{Pfn, PhysAddr, VirtAddr, PAGE_SIZE};
use common::*;
use ipc::*;
use memserver::*;
use proptest::prelude::*;

const POOL: u32 = 4096;

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
    usage: Vec<Option<Usage>>,
    map_calls: u32,
}

fn snapshot(s: &TestServer) -> Snapshot {
    Snapshot {
        free: s.pool().free_frames(),
        ptes: s.mapper().pte_count(),
        areas: s.core().window().len(),
        usage: [DEV_CLIENT, PLAIN_CLIENT, SMALL_CLIENT, ClientId(99)]
            .iter()
            .map(|c| s.client(*c).map(|v| v.usage))
            .collect(),
        map_calls: s.mapper().map_calls,
    }
}

#[test]
fn bad_frees() {
    let server = setup();
    let c = client(&server, DEV_CLIENT);
    let other = client(&server, PLAIN_CLIENT);
    let area = c.vmalloc(2 * PAGE_SIZE).unwrap();
    let io = c.ioremap(UART.start, 0x100, MemType::Device).unwrap();
    let dma = c.dma_alloc(1).unwrap();
    let before = snapshot(&server.borrow());

    use ErrorCode::*;
    let a = area.addr();
    assert_eq!(err(c.vfree_addr(VirtAddr(a.0 + 1))), UnalignedAddress);
    assert_eq!(err(c.vfree_addr(VirtAddr(a.0 + PAGE_SIZE))), NotFound);
    assert_eq!(err(c.vfree_addr(VirtAddr(0x4800_0000))), NotFound);
    assert_eq!(err(c.vfree_addr(VirtAddr(0))), NotFound);
    assert_eq!(err(other.vfree_addr(a)), NotOwner);
    assert_eq!(
        err(c.vfree_addr(io.addr().page_align_down())),
        WrongAreaKind
    );
    assert_eq!(err(c.vfree_addr(dma.addr())), WrongAreaKind);
    assert_eq!(err(c.iounmap_addr(a)), WrongAreaKind);
    assert_eq!(err(c.vunmap_addr(a)), WrongAreaKind);
    assert_eq!(err(c.dma_free_addr(a)), WrongAreaKind);
    assert_eq!(err(other.iounmap_addr(io.addr())), NotOwner);
    assert_eq!(err(other.dma_free_addr(dma.addr())), NotOwner);
    assert_eq!(
        err(c.dma_free_addr(VirtAddr(dma.addr().0 + 2))),
        UnalignedAddress
    );
    assert_eq!(
        snapshot(&server.borrow()),
        before,
        "refusals change nothing"
    );

    // Double free.
    let raw = area.into_raw().0;
    assert_eq!(c.vfree_addr(raw), Ok(2 * PAGE_SIZE));
    assert_eq!(err(c.vfree_addr(raw)), NotFound);
    let io_raw = io.into_raw().0;
    c.iounmap_addr(io_raw).unwrap();
    assert_eq!(err(c.iounmap_addr(io_raw)), NotFound);
    drop(dma);
    assert_eq!(c.drop_failures(), 0);
    assert_no_leaks(&mut server.borrow_mut(), POOL);
}

#[test]
fn bad_sizes_and_alignments() {
    let server = setup();
    let c = client(&server, PLAIN_CLIENT);
    let before = snapshot(&server.borrow());
    use ErrorCode::*;
    let v = |size, align| err(c.vmalloc_with(size, align, VmallocFlags::NONE, 0));
    assert_eq!(v(0, PAGE_SIZE), InvalidSize);
    assert_eq!(
        v(u32::MAX, PAGE_SIZE),
        InvalidSize,
        "overflows when rounded"
    );
    assert_eq!(v(u32::MAX - PAGE_SIZE, PAGE_SIZE), TooLarge);
    assert_eq!(v(POOL * PAGE_SIZE + 1, PAGE_SIZE), TooLarge, "above RAM");
    assert_eq!(v(PAGE_SIZE, 0), BadAlignment);
    assert_eq!(v(PAGE_SIZE, 3), BadAlignment);
    assert_eq!(v(PAGE_SIZE, 0x3000), BadAlignment);
    assert_eq!(v(PAGE_SIZE, 1 << 31), BadAlignment, "above the window");
    assert_eq!(err(c.dma_alloc(0)), InvalidSize);
    assert_eq!(err(c.dma_alloc(POOL + 1)), TooLarge);
    assert_eq!(err(c.dma_alloc(2048)), TooLarge, "above one buddy block");
    assert_eq!(snapshot(&server.borrow()), before);
    // Small alignments mean a page; large powers of two are honoured.
    let small = c.vmalloc_with(1, 1, VmallocFlags::NONE, 0).unwrap();
    let aligned = c
        .vmalloc_with(PAGE_SIZE, 1 << 20, VmallocFlags::NONE, 0)
        .unwrap();
    assert_eq!(aligned.addr().0 % (1 << 20), 0);
    drop((small, aligned));
    assert_no_leaks(&mut server.borrow_mut(), POOL);
}

#[test]
fn bad_ioremaps() {
    let server = setup();
    let dev = client(&server, DEV_CLIENT);
    let plain = client(&server, PLAIN_CLIENT);
    let before = snapshot(&server.borrow());
    use ErrorCode::*;
    let io =
        |c: &Client, phys: u32, size: u32| err(c.ioremap(PhysAddr(phys), size, MemType::Device));
    let pool_ram = POOL_BASE_PFN << 12;
    assert_eq!(io(&dev, pool_ram, PAGE_SIZE), PermissionDenied, "pool RAM");
    assert_eq!(
        io(&dev, KERNEL_PHYS, PAGE_SIZE),
        PermissionDenied,
        "kernel RAM"
    );
    assert_eq!(io(&dev, UNGRANTED.start.0, 0x100), PermissionDenied);
    assert_eq!(
        io(&dev, UART.start.0 + 0xf00, 0x200),
        PermissionDenied,
        "runs past the grant"
    );
    assert_eq!(
        io(&dev, UART.start.0 - 4, 8),
        PermissionDenied,
        "starts before it"
    );
    assert_eq!(
        io(&plain, UART.start.0, 0x100),
        PermissionDenied,
        "not granted to this client"
    );
    assert_eq!(io(&dev, UART.start.0, 0), InvalidSize);
    assert_eq!(io(&dev, 0xffff_f000, 0x2000), InvalidSize, "wraps");
    assert_eq!(snapshot(&server.borrow()), before);
    // The whole grant is fine, and the same device twice too.
    let a = dev
        .ioremap(UART.start, UART.size, MemType::NormalUncached)
        .unwrap();
    let b = dev.ioremap(UART.start, 1, MemType::Device).unwrap();
    assert_eq!(
        server
            .borrow()
            .mapper()
            .pte(1, a.addr().0)
            .unwrap()
            .attrs
            .mem_type(),
        MemType::NormalUncached
    );
    // Iounmap takes any address in the first page.
    dev.iounmap_addr(VirtAddr(b.into_raw().0 .0 + 0x10))
        .unwrap();
    drop(a);
    assert_no_leaks(&mut server.borrow_mut(), POOL);
}

#[test]
fn bad_vmaps() {
    let server = setup();
    let c = client(&server, DEV_CLIENT);
    let other = client(&server, PLAIN_CLIENT);
    let mine = c.vmalloc(4 * PAGE_SIZE).unwrap();
    let theirs = other.vmalloc(PAGE_SIZE).unwrap();
    let my_pfn = c.virt_to_phys(mine.addr()).unwrap().pfn();
    let their_pfn = other.virt_to_phys(theirs.addr()).unwrap().pfn();
    let io = c.ioremap(UART.start, 0x100, MemType::Device).unwrap();
    let before = snapshot(&server.borrow());
    use ErrorCode::*;
    let runs = |r: &[(u32, u32)]| {
        VmapSource::Frames(
            BoundedVec::from_slice(
                &r.iter()
                    .map(|&(pfn, count)| PageRun {
                        pfn: Pfn(pfn),
                        count,
                    })
                    .collect::<Vec<_>>(),
            )
            .unwrap(),
        )
    };
    let vm = |src| err(c.vmap(src, VmapFlags::NONE));
    assert_eq!(
        vm(runs(&[(their_pfn.0, 1)])),
        NotOwner,
        "another client's frame"
    );
    assert_eq!(
        vm(runs(&[(KERNEL_PHYS >> 12, 1)])),
        NotOwner,
        "kernel frame"
    );
    assert_eq!(
        vm(runs(&[(UART.start.0 >> 12, 1)])),
        NotOwner,
        "device frame"
    );
    assert_eq!(
        vm(runs(&[(POOL_BASE_PFN + POOL - 1, 1)])),
        NotOwner,
        "free frame"
    );
    assert_eq!(vm(runs(&[(my_pfn.0, 5)])), NotOwner, "runs past the area");
    assert_eq!(vm(runs(&[])), InvalidSize);
    assert_eq!(vm(runs(&[(my_pfn.0, 0)])), InvalidSize);
    assert_eq!(
        vm(runs(&[(my_pfn.0, u32::MAX), (my_pfn.0, u32::MAX)])),
        TooLarge
    );
    assert_eq!(vm(VmapSource::Dma { addr: mine.addr() }), WrongAreaKind);
    assert_eq!(vm(VmapSource::Dma { addr: io.addr() }), WrongAreaKind);
    let odd = VirtAddr(mine.addr().0 + 1);
    assert_eq!(vm(VmapSource::Dma { addr: odd }), UnalignedAddress);
    assert_eq!(
        vm(VmapSource::Dma {
            addr: VirtAddr(0x4e00_0000)
        }),
        NotFound
    );
    assert_eq!(snapshot(&server.borrow()), before);

    // While an alias is live, the frames' owner area cannot be freed.
    let alias = c.vmap(runs(&[(my_pfn.0, 4)]), VmapFlags::NONE).unwrap();
    let (raw, _) = mine.into_raw();
    assert_eq!(err(c.vfree_addr(raw)), PermissionDenied);
    assert_eq!(err(c.vfree_addr(alias.addr())), WrongAreaKind);
    c.vunmap(alias).unwrap();
    c.vfree_addr(raw).unwrap();
    drop((theirs, io));
    assert_no_leaks(&mut server.borrow_mut(), POOL);
}

#[test]
fn bad_lookups() {
    let server = setup();
    let c = client(&server, DEV_CLIENT);
    let other = client(&server, PLAIN_CLIENT);
    let a = c.vmalloc(PAGE_SIZE).unwrap();
    use ErrorCode::*;
    assert_eq!(err(other.virt_to_phys(a.addr())), NotOwner);
    assert_eq!(
        err(c.virt_to_phys(VirtAddr(a.addr().0 + PAGE_SIZE))),
        NotFound,
        "guard page"
    );
    assert_eq!(err(c.virt_to_phys(VirtAddr(0x1000))), NotFound);
    drop(a);
    assert_no_leaks(&mut server.borrow_mut(), POOL);
}

#[test]
fn quota_overrun_is_refused_and_changes_nothing() {
    let server = setup();
    let c = client(&server, SMALL_CLIENT);
    let a = c.vmalloc(10 * PAGE_SIZE).unwrap();
    let before = snapshot(&server.borrow());
    use ErrorCode::*;
    assert_eq!(err(c.vmalloc(7 * PAGE_SIZE)), QuotaExceeded);
    assert_eq!(err(c.dma_alloc(7)), QuotaExceeded);
    assert_eq!(snapshot(&server.borrow()), before);
    let b = c.vmalloc(6 * PAGE_SIZE).unwrap(); // exactly the quota
    assert_eq!(err(c.vmalloc(1)), QuotaExceeded);
    drop(b);
    // The area quota (4) counts every kind, page-free ones included.
    let d = c.dma_alloc(1).unwrap();
    let v = c
        .vmap(VmapSource::Dma { addr: d.addr() }, VmapFlags::NONE)
        .unwrap();
    let e = c.vmalloc(1).unwrap();
    let before = snapshot(&server.borrow());
    assert_eq!(
        err(c.vmap(VmapSource::Dma { addr: d.addr() }, VmapFlags::NONE)),
        QuotaExceeded
    );
    assert_eq!(err(c.vmalloc(1)), QuotaExceeded);
    assert_eq!(snapshot(&server.borrow()), before);
    let stats = c.stats().unwrap();
    let me = stats.clients.iter().find(|u| u.client == 3).unwrap();
    assert_eq!((me.areas, me.pages, me.quota_pages), (4, 12, 16));
    drop((v, e, d, a));
    assert_no_leaks(&mut server.borrow_mut(), POOL);
}

#[test]
fn unknown_badges_are_refused_unless_admitted() {
    let server = setup();
    let stranger = client(&server, ClientId(99));
    assert_eq!(err(stranger.vmalloc(1)), ErrorCode::PermissionDenied);
    assert_eq!(err(stranger.dma_alloc(1)), ErrorCode::PermissionDenied);
    stranger.ping(5).unwrap();
    assert!(server.borrow().client(ClientId(99)).is_none());

    // Admitted with a default quota: a row appears, and goes on exit.
    let mut cfg = config(VmapConfig::default());
    cfg.unknown_clients = Some(Quota::new(2, 8, 64));
    let window = VmapConfig::default();
    let s = Server::new(cfg, pool(64), FakeMapper::new(&window, POOL_BASE_PFN, 64)).unwrap();
    let server = Rc::new(RefCell::new(s));
    let stranger = client(&server, ClientId(99));
    let a = stranger.vmalloc(2 * PAGE_SIZE).unwrap().into_raw();
    assert_eq!(err(stranger.vmalloc(1)), ErrorCode::QuotaExceeded);
    assert!(!server.borrow().client(ClientId(99)).unwrap().configured);
    let _ = a;
    let summary = server.borrow_mut().client_exited(ClientId(99));
    assert_eq!(summary.frames_released, 2);
    assert!(server.borrow().client(ClientId(99)).is_none());
    assert_no_leaks(&mut server.borrow_mut(), 64);
}

#[test]
fn config_errors() {
    let w = VmapConfig::default();
    let mk = |cfg| Server::new(cfg, pool(16), FakeMapper::new(&w, POOL_BASE_PFN, 16)).err();
    let mut cfg = config(w);
    cfg.clients
        .push(ClientConfig::new(DEV_CLIENT, Quota::UNLIMITED));
    assert_eq!(mk(cfg), Some(ConfigError::DuplicateClient(DEV_CLIENT)));
    let mut cfg = config(w);
    let ram = PhysRange::new(KERNEL_PHYS, PAGE_SIZE);
    cfg.clients
        .push(ClientConfig::new(ClientId(7), Quota::UNLIMITED).with_device(ram));
    assert_eq!(
        mk(cfg),
        Some(ConfigError::DeviceIsRam {
            client: ClientId(7),
            range: ram
        })
    );
    let mut cfg = config(w);
    cfg.ram.push(PhysRange::new(0xffff_f000, 0x2000));
    assert!(matches!(mk(cfg), Some(ConfigError::InvalidRange(_))));
    let mut cfg = config(w);
    cfg.window.end = cfg.window.start;
    assert_eq!(mk(cfg), Some(ConfigError::InvalidWindow));
}

/// Raw bytes: every malformed message gets its exact error and the
/// request's sequence number when the header is readable.
#[test]
fn malformed_messages() {
    let mut s = server_with(VmapConfig::default(), POOL);
    let ping = bytes(41, &Request::Ping(PingRequest { nonce: 300 }));
    assert_eq!(
        raw(&mut s, DEV_CLIENT, &ping),
        (41, Response::Ping(PingOk { nonce: 300 }))
    );
    let e = |code| Response::Error(code);
    use ErrorCode::*;
    // Truncated: header only partly there (seq unreadable) and payload cut.
    assert_eq!(raw(&mut s, DEV_CLIENT, &ping[..5]), (0, e(Malformed)));
    assert_eq!(raw(&mut s, DEV_CLIENT, &[]), (0, e(Malformed)));
    assert_eq!(
        raw(&mut s, DEV_CLIENT, &ping[..ping.len() - 1]),
        (41, e(Malformed))
    );
    // Trailing byte with a matching length field.
    let mut trailing = ping.clone();
    trailing.push(0);
    trailing[8] += 1;
    assert_eq!(raw(&mut s, DEV_CLIENT, &trailing), (41, e(Malformed)));
    // Garbage payload: an unterminated varint.
    let mut garbage = bytes(
        42,
        &Request::Vfree(VfreeRequest {
            addr: VirtAddr(0x4000_0000),
        }),
    );
    let n = garbage.len();
    garbage[n - 1] = 0xff;
    assert_eq!(raw(&mut s, DEV_CLIENT, &garbage), (42, e(Malformed)));
    // Unknown flag bit in a vmalloc.
    let mut flags = bytes(
        43,
        &Request::Vmalloc(VmallocRequest {
            size: 1,
            align: 1,
            flags: VmallocFlags::NONE,
            caller: 0,
        }),
    );
    flags[HEADER_SIZE + 2] = 0x80;
    assert_eq!(raw(&mut s, DEV_CLIENT, &flags), (43, e(Malformed)));
    // Wrong version.
    let mut version = ping.clone();
    version[0] = 2;
    assert_eq!(
        raw(&mut s, DEV_CLIENT, &version),
        (41, e(UnsupportedVersion))
    );
    // Unknown opcode and a reply opcode sent as a request.
    let mut unknown = ping.clone();
    unknown[2] = 99;
    assert_eq!(raw(&mut s, DEV_CLIENT, &unknown), (41, e(UnknownOpcode)));
    let mut reply_op = ping.clone();
    reply_op[3] = 0x80;
    assert_eq!(raw(&mut s, DEV_CLIENT, &reply_op), (41, e(UnknownOpcode)));
    // Longer than an IPC buffer.
    let mut long = vec![0u8; MAX_MESSAGE_SIZE + 1];
    long[..12].copy_from_slice(&ping[..12]);
    assert_eq!(raw(&mut s, DEV_CLIENT, &long), (41, e(TooLarge)));
    assert_eq!(s.mapper().map_calls, 0);
    s.check_invariants().unwrap();
}

/// A reply buffer shorter than an IPC buffer: nothing is done.
#[test]
fn short_reply_buffer_does_not_act() {
    let mut s = server_with(VmapConfig::default(), POOL);
    let req = bytes(
        9,
        &Request::Vmalloc(VmallocRequest {
            size: PAGE_SIZE,
            align: PAGE_SIZE,
            flags: VmallocFlags::NONE,
            caller: 0,
        }),
    );
    let mut small = [0u8; 64];
    let len = s.handle(DEV_CLIENT, &req, &mut small);
    assert_eq!(
        decode_response(&small[..len]),
        Ok((9, Response::Error(ErrorCode::Internal)))
    );
    assert_eq!(s.handle(DEV_CLIENT, &req, &mut [0u8; 4]), 0);
    assert_eq!(s.pool().free_frames(), POOL);
    assert!(s.core().window().is_empty());
}

fn any_request() -> impl Strategy<Value = Request> {
    let addr = prop_oneof![
        any::<u32>(),
        (0u32..64).prop_map(|p| 0x4000_0000 + p * PAGE_SIZE),
        (0u32..64).prop_map(|p| 0x4000_0000 + p * PAGE_SIZE + 1),
    ]
    .prop_map(VirtAddr);
    let runs = proptest::collection::vec(
        (0u32..0x70000, 0u32..8).prop_map(|(pfn, count)| PageRun {
            pfn: Pfn(pfn),
            count,
        }),
        0..4,
    )
    .prop_map(|r| BoundedVec::from_slice(&r).unwrap());
    prop_oneof![
        (any::<u32>(), any::<u32>(), 0u8..4, any::<u32>()).prop_map(|(size, align, f, caller)| {
            Request::Vmalloc(VmallocRequest {
                size: size % (1 << 24),
                align,
                flags: VmallocFlags::from_bits_truncate(f),
                caller,
            })
        }),
        addr.clone()
            .prop_map(|addr| Request::Vfree(VfreeRequest { addr })),
        (any::<u32>(), any::<u32>(), any::<bool>()).prop_map(|(phys, size, d)| {
            Request::Ioremap(IoremapRequest {
                phys: PhysAddr(phys),
                size,
                mem_type: if d {
                    MemType::Device
                } else {
                    MemType::NormalUncached
                },
                caller: phys ^ size,
            })
        }),
        addr.clone()
            .prop_map(|addr| Request::Iounmap(IounmapRequest { addr })),
        (runs, 0u8..4).prop_map(|(runs, f)| Request::Vmap(VmapRequest {
            source: VmapSource::Frames(runs),
            flags: VmapFlags::from_bits_truncate(f),
            caller: u32::from(f),
        })),
        addr.clone().prop_map(|addr| Request::Vmap(VmapRequest {
            source: VmapSource::Dma { addr },
            flags: VmapFlags::NONE,
            caller: addr.0,
        })),
        addr.clone()
            .prop_map(|addr| Request::Vunmap(VunmapRequest { addr })),
        any::<u32>().prop_map(|pages| Request::DmaAlloc(DmaAllocRequest {
            pages: pages % 64,
            caller: pages,
        })),
        addr.clone()
            .prop_map(|addr| Request::DmaFree(DmaFreeRequest { addr })),
        addr.prop_map(|addr| Request::VirtToPhys(VirtToPhysRequest { addr })),
        any::<u32>().prop_map(|cursor| Request::Info(InfoRequest { cursor })),
        Just(Request::Stats(StatsRequest {})),
        any::<u32>().prop_map(|nonce| Request::Ping(PingRequest { nonce })),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    /// Arbitrary bytes, and valid requests with a few bytes flipped, from
    /// arbitrary badges: the server never panics, always replies with a
    /// decodable message echoing the sequence number when readable, and
    /// its state stays consistent.
    #[test]
    fn no_input_panics(
        steps in proptest::collection::vec(
            (0u32..5, any::<u32>(), any_request(), proptest::collection::vec((any::<u16>(), any::<u8>()), 0..3), proptest::collection::vec(any::<u8>(), 0..40), any::<bool>()),
            1..24,
        )
    ) {
        let mut s = server_with(common::window(256, 16), 128);
        for (badge, seq, request, flips, garbage, use_garbage) in steps {
            let mut msg = if use_garbage { garbage } else { bytes(seq, &request) };
            for (at, x) in flips {
                let n = msg.len();
                if n > 0 {
                    msg[usize::from(at) % n] ^= x;
                }
            }
            let mut reply = vec![0u8; MAX_MESSAGE_SIZE];
            let len = s.handle(ClientId(badge), &msg, &mut reply);
            let (got, response) = decode_response(&reply[..len]).expect("reply decodes");
            prop_assert_eq!(got, peek_sequence(&msg).unwrap_or(0));
            if let Ok((_, req)) = decode_request(&msg) {
                if let Some(op) = response.request_opcode() {
                    prop_assert_eq!(op, req.opcode());
                }
            } else {
                prop_assert!(matches!(response, Response::Error(_)));
            }
            prop_assert_ne!(response, Response::Error(ErrorCode::Internal));
            prop_assert_eq!(s.check_invariants(), Ok(()));
        }
        for badge in 0..5 {
            s.client_exited(ClientId(badge));
        }
        assert_no_leaks(&mut s, 128);
    }
}
