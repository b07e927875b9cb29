//! The whole protocol on the host: client → bytes → fake server → bytes →
//! client, through a loopback transport that plays the kernel's role
//! (copy `len` bytes, deliver the badge, copy the reply back).

use ipc::fake::{FakeServer, POOL_PAGES};
use ipc::{AreaKind, MAX_MESSAGE_SIZE};
use memclient::*;
use proptest::prelude::*;

/// The host transport: one buffer (the "IPC buffer") and a server.
struct Loopback<'s> {
    server: &'s mut FakeServer,
    badge: u32,
    buffer: [u8; MAX_MESSAGE_SIZE],
    /// Applied to each reply before the client sees it (fault injection).
    tamper: fn(&mut [u8]),
}

impl<'s> Loopback<'s> {
    fn new(server: &'s mut FakeServer, badge: u32) -> Self {
        Self {
            server,
            badge,
            buffer: [0; MAX_MESSAGE_SIZE],
            tamper: |_| {},
        }
    }
}

impl Transport for Loopback<'_> {
    fn buffer(&mut self) -> &mut [u8] {
        &mut self.buffer
    }

    fn call(&mut self, request_len: usize) -> Result<usize, KernelError> {
        if request_len > MAX_MESSAGE_SIZE {
            return Err(KernelError::MessageTooLong);
        }
        // The kernel copies from the sender's buffer into the receiver's.
        let request: [u8; MAX_MESSAGE_SIZE] = self.buffer;
        let reply_len = self
            .server
            .handle(self.badge, &request[..request_len], &mut self.buffer)
            .map_err(|_| KernelError::PeerGone)?;
        (self.tamper)(&mut self.buffer[..reply_len]);
        Ok(reply_len)
    }
}

#[test]
fn vmalloc_use_and_free_on_drop() {
    let mut server = FakeServer::new();
    let client = MemClient::new(Loopback::new(&mut server, 1));
    client.ping(0xdead_beef).unwrap();
    {
        let area = client.vmalloc(64 * 1024).unwrap();
        assert_eq!(area.addr(), VirtAddr(0x4000_0000));
        assert_eq!(area.size(), 64 * 1024);
        let zeroed = client.vzalloc(1).unwrap();
        // 16 pages + guard.
        assert_eq!(zeroed.addr(), VirtAddr(0x4001_1000));
        let stats = client.stats().unwrap();
        assert_eq!(stats.free_pages, POOL_PAGES - 17);
        assert_eq!(stats.clients.len(), 1);
        assert_eq!(stats.clients[0].pages, 17);
    }
    // Both handles dropped: everything returned.
    assert_eq!(client.stats().unwrap().free_pages, POOL_PAGES);
    assert_eq!(client.drop_failures(), 0);
}

#[test]
fn explicit_free_reports_errors_and_raw_addresses_work() {
    let mut server = FakeServer::new();
    let client = MemClient::new(Loopback::new(&mut server, 1));
    let area = client.vmalloc(4096).unwrap();
    let (addr, size) = area.into_raw();
    assert_eq!(size, 4096);
    assert_eq!(client.vfree_addr(addr), Ok(4096));
    assert_eq!(
        client.vfree_addr(addr),
        Err(ClientError::Server(ErrorCode::NotFound))
    );
    assert_eq!(
        client.vmalloc(0).unwrap_err(),
        ClientError::Server(ErrorCode::InvalidSize)
    );
    let area = client.vmalloc(8192).unwrap();
    client.vfree(area).unwrap();
}

#[test]
fn ioremap_dma_vmap_and_translation() {
    let mut server = FakeServer::new();
    let client = MemClient::new(Loopback::new(&mut server, 3));
    // UART0 register block, unaligned start: the offset is kept.
    let uart = client
        .ioremap(PhysAddr(0x1000_9004), 0x1000, MemType::Device)
        .unwrap();
    assert_eq!(uart.addr().page_offset(), 4);
    assert_eq!(client.virt_to_phys(uart.addr()), Ok(PhysAddr(0x1000_9004)));
    assert_eq!(
        client
            .ioremap(PhysAddr(0x6000_0000), 4096, MemType::Device)
            .unwrap_err(),
        ClientError::Server(ErrorCode::PermissionDenied)
    );

    let dma = client.dma_alloc(4).unwrap();
    assert_eq!(dma.size(), 4 * 4096);
    assert_eq!(client.virt_to_phys(dma.addr()), Ok(dma.phys()));
    let alias = client
        .vmap(VmapSource::Dma { addr: dma.addr() }, VmapFlags::READ_ONLY)
        .unwrap();
    assert_eq!(alias.size(), dma.size());
    let off = alias.addr().checked_add(4100).unwrap();
    assert_eq!(
        client.virt_to_phys(off),
        Ok(PhysAddr(dma.phys().as_u32() + 4100))
    );
    // Frames of the DMA buffer by number.
    let first = dma.phys().pfn();
    let runs = ipc::BoundedVec::from_slice(&[PageRun {
        pfn: first,
        count: 2,
    }])
    .unwrap();
    let by_frames = client
        .vmap(VmapSource::Frames(runs), VmapFlags::NONE)
        .unwrap();
    assert_eq!(by_frames.size(), 8192);
    // Frames the client does not own.
    let foreign = ipc::BoundedVec::from_slice(&[PageRun {
        pfn: Pfn(0x1),
        count: 1,
    }])
    .unwrap();
    assert_eq!(
        client
            .vmap(VmapSource::Frames(foreign), VmapFlags::NONE)
            .unwrap_err(),
        ClientError::Server(ErrorCode::NotOwner)
    );
    client.vunmap(by_frames).unwrap();
    client.vunmap(alias).unwrap();
    client.dma_free(dma).unwrap();
    client.iounmap(uart).unwrap();
    assert_eq!(client.stats().unwrap().free_pages, POOL_PAGES);
}

use ipc::Pfn;

#[test]
fn clients_cannot_free_each_others_areas() {
    let mut server = FakeServer::new();
    let (addr, _) = {
        let alice = MemClient::new(Loopback::new(&mut server, 1));
        alice.vmalloc(4096).unwrap().into_raw()
    };
    let bob = MemClient::new(Loopback::new(&mut server, 2));
    assert_eq!(
        bob.vfree_addr(addr),
        Err(ClientError::Server(ErrorCode::NotOwner))
    );
    assert_eq!(
        bob.virt_to_phys(addr),
        Err(ClientError::Server(ErrorCode::NotOwner))
    );
}

#[test]
fn info_pages_through_the_whole_listing() {
    let mut server = FakeServer::new();
    let client = MemClient::new(Loopback::new(&mut server, 5));
    let mut areas = Vec::new();
    for i in 0..150 {
        areas.push(
            client
                .vmalloc_with(4096, 4096, VmallocFlags::NONE, 0x1000 + i)
                .unwrap(),
        );
    }
    let first_page = client.info(0).unwrap();
    assert_eq!(first_page.records.len(), ipc::INFO_MAX_RECORDS);
    assert!(first_page.next_cursor.is_some());
    let mut seen = Vec::new();
    client.info_all(|r| seen.push(*r)).unwrap();
    assert_eq!(seen.len(), 150);
    assert!(seen.windows(2).all(|w| w[0].start < w[1].start));
    assert!(seen
        .iter()
        .all(|r| r.kind == AreaKind::Vmalloc && r.owner == 5));
    assert_eq!(
        seen[0].to_string(),
        "0x40000000-0x40002000    8192 0x00001000 pages=1 vmalloc client=5"
    );
    drop(areas);
    assert_eq!(client.info(0).unwrap().records.len(), 0);
}

#[test]
fn quota_and_exhaustion() {
    let mut server = FakeServer::new();
    let client = MemClient::new(Loopback::new(&mut server, 1));
    let big = client.vmalloc(ipc::fake::QUOTA_PAGES * 4096).unwrap();
    assert_eq!(
        client.vmalloc(4096).unwrap_err(),
        ClientError::Server(ErrorCode::QuotaExceeded)
    );
    drop(big);
    assert!(client.vmalloc(4096).is_ok());
}

#[test]
fn reply_sequence_numbers_are_checked() {
    let mut server = FakeServer::new();
    let mut transport = Loopback::new(&mut server, 1);
    transport.tamper = |reply| reply[4] ^= 0x55; // corrupt seq
    let client = MemClient::new(transport);
    assert_eq!(
        client.ping(1),
        Err(ClientError::SequenceMismatch {
            expected: 1,
            got: 1 ^ 0x55
        })
    );
}

#[test]
fn corrupt_replies_are_decode_errors() {
    let mut server = FakeServer::new();
    let mut transport = Loopback::new(&mut server, 1);
    transport.tamper = |reply| reply[0] = 9; // version
    let client = MemClient::new(transport);
    assert_eq!(
        client.ping(1),
        Err(ClientError::Decode(ipc::DecodeError::UnsupportedVersion {
            version: 9
        }))
    );

    let mut server = FakeServer::new();
    let mut transport = Loopback::new(&mut server, 1);
    // Turn the Ping reply (0x800c) into a Vfree reply (0x8002): same
    // payload shape, wrong opcode for the request.
    transport.tamper = |reply| reply[2] = 0x02;
    let client = MemClient::new(transport);
    assert_eq!(
        client.ping(1),
        Err(ClientError::UnexpectedReply { opcode: 0x8002 })
    );
}

#[test]
fn failed_frees_on_drop_are_counted() {
    let mut server = FakeServer::new();
    let client = MemClient::new(Loopback::new(&mut server, 1));
    let area = client.vmalloc(4096).unwrap();
    // Free it behind the handle's back, then drop the handle.
    client.vfree_addr(area.addr()).unwrap();
    drop(area);
    assert_eq!(client.drop_failures(), 1);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random alloc/free sequences: the server's pool balances, areas never
    /// overlap, and every area is page aligned with a guard page gap.
    #[test]
    fn random_sessions_balance(ops in prop::collection::vec((any::<bool>(), 1u32..40_000), 1..60)) {
        let mut server = FakeServer::new();
        let client = MemClient::new(Loopback::new(&mut server, 7));
        let mut live = Vec::new();
        for (alloc, size) in ops {
            if alloc || live.is_empty() {
                if let Ok(area) = client.vmalloc(size) {
                    live.push(area);
                }
            } else {
                let area = live.swap_remove(size as usize % live.len());
                client.vfree(area).unwrap();
            }
            let mut spans: Vec<(u32, u32)> = live.iter().map(|a| (a.addr().as_u32(), a.size())).collect();
            spans.sort();
            for w in spans.windows(2) {
                prop_assert!(w[0].0 + w[0].1 + 4096 <= w[1].0);
            }
        }
        drop(live);
        prop_assert_eq!(client.stats().unwrap().free_pages, POOL_PAGES);
    }
}

/// A loopback whose "link register" reads a fixed code address, as the
/// task transport's does (there: the real return address).
struct TaggingLoopback<'s>(Loopback<'s>);

/// The address [`TaggingLoopback`] reports.
const RETURN_ADDRESS: u32 = 0x0001_2a4c;

impl Transport for TaggingLoopback<'_> {
    fn buffer(&mut self) -> &mut [u8] {
        self.0.buffer()
    }

    fn call(&mut self, request_len: usize) -> Result<usize, KernelError> {
        self.0.call(request_len)
    }

    fn return_address() -> u32 {
        RETURN_ADDRESS
    }
}

#[test]
fn vmalloc_and_vzalloc_tag_areas_with_the_return_address() {
    let mut server = FakeServer::new();
    let client = MemClient::new(TaggingLoopback(Loopback::new(&mut server, 1)));
    let a = client.vmalloc(4096).unwrap();
    let z = client.vzalloc(4096).unwrap();
    let tagged = client
        .vmalloc_with(4096, 4096, VmallocFlags::NONE, 7)
        .unwrap();
    let mut callers = Vec::new();
    client.info_all(|r| callers.push(r.caller)).unwrap();
    assert_eq!(callers, [RETURN_ADDRESS, RETURN_ADDRESS, 7]);
    drop((a, z, tagged));
    // Host transports that cannot read it report 0.
    let mut server = FakeServer::new();
    let plain = MemClient::new(Loopback::new(&mut server, 1));
    let _b = plain.vmalloc(4096).unwrap();
    let mut callers = Vec::new();
    plain.info_all(|r| callers.push(r.caller)).unwrap();
    assert_eq!(callers, [0]);
}
