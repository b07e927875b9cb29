//! Host fakes: a page-table recorder standing in for the kernel, the real
//! buddy pool, and a loopback transport that plays the kernel's IPC copy
//! between `memclient` and the [`Server`].
#![allow(dead_code)]

mod fake_mapper;

use std::cell::RefCell;
use std::rc::Rc;

use abi::{Pfn, VirtAddr, PAGE_SIZE};
use buddy::BuddyPool;
use ipc::{decode_response, encode_request, Request, Response, MAX_MESSAGE_SIZE};
use memclient::{ClientError, KernelError, MemClient, Transport};
use memserver::*;

pub use fake_mapper::*;

/// RAM on vexpress-a9: 512 MiB at 0x6000_0000.
pub const RAM: PhysRange = PhysRange::new(0x6000_0000, 512 << 20);
/// The pool starts above the kernel's first 4 MiB of RAM.
pub const POOL_BASE_PFN: u32 = 0x6_0400;
/// Kernel memory: RAM that is not in the pool.
pub const KERNEL_PHYS: u32 = 0x6000_0000;
/// Devices granted to [`DEV_CLIENT`]: a UART page and a virtio-mmio slot.
pub const UART: PhysRange = PhysRange::new(0x1000_9000, 0x1000);
pub const VIRTIO: PhysRange = PhysRange::new(0x1001_3000, 0x200);
/// A device nobody was granted.
pub const UNGRANTED: PhysRange = PhysRange::new(0x1001_1000, 0x1000);

pub const DEV_CLIENT: ClientId = ClientId(1);
/// The client with the observer right (sees every client in Info/Stats).
pub const OBSERVER: ClientId = DEV_CLIENT;
pub const PLAIN_CLIENT: ClientId = ClientId(2);
pub const SMALL_CLIENT: ClientId = ClientId(3);
pub const SMALL_QUOTA: Quota = Quota::new(16, 4, 40);

/// A pool of `pages` frames from [`POOL_BASE_PFN`].
pub fn pool(pages: u32) -> BuddyPool {
    let mut pool = BuddyPool::new(buddy::DEFAULT_MAX_ORDER).unwrap();
    pool.add_range(Pfn(POOL_BASE_PFN), pages).unwrap();
    pool
}

/// The test manifest: a device client, a plain client, a small-quota one.
pub fn config(window: VmapConfig) -> ServerConfig {
    let mut cfg = ServerConfig::new(window);
    cfg.ram.push(RAM);
    cfg.clients.push(
        ClientConfig::new(DEV_CLIENT, Quota::UNLIMITED)
            .with_device(UART)
            .with_device(VIRTIO)
            .with_observer(true),
    );
    cfg.clients
        .push(ClientConfig::new(PLAIN_CLIENT, Quota::UNLIMITED));
    cfg.clients
        .push(ClientConfig::new(SMALL_CLIENT, SMALL_QUOTA));
    cfg
}

pub type TestServer = Server<FakeMapper>;

pub fn server_with(window: VmapConfig, pool_pages: u32) -> TestServer {
    let mapper = FakeMapper::new(&window, POOL_BASE_PFN, pool_pages);
    Server::new(config(window), pool(pool_pages), mapper).unwrap()
}

/// A small window (`pages` pages) at the default start.
pub fn window(pages: u32, lazy_max_pages: u32) -> VmapConfig {
    VmapConfig {
        start: VirtAddr(0x4000_0000),
        end: VirtAddr(0x4000_0000 + pages * PAGE_SIZE),
        lazy_max_pages,
    }
}

/// Everything returned: after a purge the pool is whole, no PTE is left,
/// the window is free, and the mapper saw nothing the kernel would refuse.
pub fn assert_no_leaks(server: &mut TestServer, pool_pages: u32) {
    server.purge();
    server.check_invariants().unwrap();
    assert_eq!(server.pool().free_frames(), pool_pages, "leaked frames");
    assert_eq!(server.mapper().pte_count(), 0, "leaked PTEs");
    assert!(server.mapper().users.is_empty());
    assert!(server.core().window().is_empty(), "leaked areas");
    assert_eq!(server.mapper().violations, Vec::<String>::new());
}

/// Every PTE of a pool frame points at an allocated frame (a frame never
/// goes back to the pool while a client can reach it).
pub fn assert_mapped_frames_allocated(server: &TestServer) {
    for pfn in server.mapper().users.keys() {
        assert!(
            server.pool().is_allocated(Pfn(*pfn)),
            "frame {pfn:#x} is mapped but free in the pool"
        );
    }
}

/// The kernel's role between a client and the server: copy the request
/// out of the client's buffer, deliver it with the client's badge, copy
/// the reply back.
pub struct Loopback {
    pub server: Rc<RefCell<TestServer>>,
    pub badge: ClientId,
    buffer: Vec<u8>,
}

impl Loopback {
    pub fn new(server: &Rc<RefCell<TestServer>>, badge: ClientId) -> Self {
        Self {
            server: Rc::clone(server),
            badge,
            buffer: vec![0; MAX_MESSAGE_SIZE],
        }
    }
}

impl Transport for Loopback {
    fn buffer(&mut self) -> &mut [u8] {
        &mut self.buffer
    }

    fn call(&mut self, request_len: usize) -> Result<usize, KernelError> {
        let request = self
            .buffer
            .get(..request_len)
            .ok_or(KernelError::MessageTooLong)?
            .to_vec();
        let len = self
            .server
            .borrow_mut()
            .handle(self.badge, &request, &mut self.buffer);
        Ok(len)
    }
}

pub type Client = MemClient<Loopback>;

pub fn client(server: &Rc<RefCell<TestServer>>, badge: ClientId) -> Client {
    MemClient::new(Loopback::new(server, badge))
}

/// Sends raw bytes as `client`; returns the decoded reply and its seq.
pub fn raw(server: &mut TestServer, client: ClientId, bytes: &[u8]) -> (u32, Response) {
    let mut reply = vec![0u8; MAX_MESSAGE_SIZE];
    let len = server.handle(client, bytes, &mut reply);
    decode_response(&reply[..len]).expect("the server's reply decodes")
}

/// Encodes `request` with `seq`.
pub fn bytes(seq: u32, request: &Request) -> Vec<u8> {
    let mut buf = vec![0u8; MAX_MESSAGE_SIZE];
    let len = encode_request(seq, request, &mut buf).unwrap();
    buf.truncate(len);
    buf
}
pub mod driver;

/// A default-window server over a pool of `pages` frames, shared by the
/// clients of one test.
pub fn shared_server(pages: u32) -> Rc<RefCell<TestServer>> {
    Rc::new(RefCell::new(server_with(VmapConfig::default(), pages)))
}

/// The server error a client call must have returned.
pub fn server_error<T: std::fmt::Debug>(r: Result<T, ClientError>) -> ipc::ErrorCode {
    match r {
        Err(ClientError::Server(code)) => code,
        other => panic!("expected a server error, got {other:?}"),
    }
}
