//! Host fakes: a page-table recorder standing in for the kernel, the real
//! buddy pool, and a loopback transport that plays the kernel's IPC copy
//! between `memclient` and the [`Server`].
#![allow(dead_code)]

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use abi::{Pfn, VirtAddr, PAGE_SHIFT, PAGE_SIZE};
use buddy::BuddyPool;
use ipc::{decode_response, encode_request, Request, Response, MAX_MESSAGE_SIZE};
use memclient::{KernelError, MemClient, Transport};
use memserver::*;

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
pub const PLAIN_CLIENT: ClientId = ClientId(2);
pub const SMALL_CLIENT: ClientId = ClientId(3);
pub const SMALL_QUOTA: Quota = Quota {
    max_pages: 16,
    max_areas: 4,
};

/// One recorded PTE.
#[derive(Debug, PartialEq, Eq)]
pub struct Pte {
    pub pfn: u32,
    pub attrs: MapAttrs,
}

/// The kernel's page tables, recorded: PTEs per (owner, virtual page).
/// Checks what the real kernel would refuse (outside the window, mapping
/// over a PTE, unmapping a missing one) plus the server's own promise that
/// a pool frame is mapped in at most one client's space.
#[derive(Debug, Default)]
pub struct FakeMapper {
    pub ptes: BTreeMap<(u32, u32), Pte>,
    /// Pool frame → the (owner, virtual page) slots mapping it.
    pub users: BTreeMap<u32, BTreeSet<(u32, u32)>>,
    pub window: (u32, u32),
    pub pool: (u32, u32),
    pub flushes: u32,
    pub flushed_pages: u64,
    pub zeroed_frames: u64,
    pub map_calls: u32,
    /// Fail the map call with this index (counting `map_calls`).
    pub fail_map_at: Option<u32>,
    pub violations: Vec<String>,
}

impl FakeMapper {
    pub fn new(window: &VmapConfig, pool_first: u32, pool_pages: u32) -> Self {
        Self {
            window: (window.start.0, window.end.0),
            pool: (pool_first, pool_first + pool_pages),
            ..Self::default()
        }
    }

    pub fn pte_count(&self) -> usize {
        self.ptes.len()
    }

    pub fn ptes_of(&self, owner: u32) -> usize {
        self.ptes.range((owner, 0)..(owner + 1, 0)).count()
    }

    pub fn pte(&self, owner: u32, va: u32) -> Option<&Pte> {
        self.ptes.get(&(owner, va >> PAGE_SHIFT))
    }

    fn in_pool(&self, pfn: u32) -> bool {
        (self.pool.0..self.pool.1).contains(&pfn)
    }
}

impl Mapper for FakeMapper {
    fn map(
        &mut self,
        owner: OwnerId,
        va: VirtAddr,
        pfn: Pfn,
        count: u32,
        attrs: MapAttrs,
    ) -> Result<(), MapError> {
        let call = self.map_calls;
        self.map_calls += 1;
        if self.fail_map_at == Some(call) {
            return Err(MapError(70));
        }
        let end = u64::from(va.0) + u64::from(count) * u64::from(PAGE_SIZE);
        if count == 0
            || !va.is_page_aligned()
            || va.0 < self.window.0
            || end > u64::from(self.window.1)
        {
            self.violations
                .push(format!("map outside the window: {va:?} + {count}"));
            return Err(MapError(1));
        }
        let first = va.0 >> PAGE_SHIFT;
        // All or nothing, as the kernel validates before writing.
        for i in 0..count {
            if self.ptes.contains_key(&(owner.0, first + i)) {
                self.violations
                    .push(format!("double map at page {:#x} of {owner:?}", first + i));
                return Err(MapError(8));
            }
            let frame = pfn.0 + i;
            if self.in_pool(frame) {
                if let Some(other) = self
                    .users
                    .get(&frame)
                    .and_then(|u| u.iter().find(|(o, _)| *o != owner.0))
                {
                    self.violations.push(format!(
                        "frame {frame:#x} of {owner:?} already mapped by client {}",
                        other.0
                    ));
                    return Err(MapError(9));
                }
            }
        }
        for i in 0..count {
            let frame = pfn.0 + i;
            self.ptes
                .insert((owner.0, first + i), Pte { pfn: frame, attrs });
            if self.in_pool(frame) {
                self.users
                    .entry(frame)
                    .or_default()
                    .insert((owner.0, first + i));
            }
        }
        Ok(())
    }

    fn unmap(&mut self, owner: OwnerId, va: VirtAddr, count: u32) {
        let first = va.0 >> PAGE_SHIFT;
        for i in 0..count {
            match self.ptes.remove(&(owner.0, first + i)) {
                Some(pte) => {
                    if let Some(u) = self.users.get_mut(&pte.pfn) {
                        u.remove(&(owner.0, first + i));
                        if u.is_empty() {
                            self.users.remove(&pte.pfn);
                        }
                    }
                }
                None => self.violations.push(format!(
                    "unmap of a missing PTE at page {:#x} of {owner:?}",
                    first + i
                )),
            }
        }
    }

    fn flush_tlb(&mut self, ranges: &[VaRange]) {
        self.flushes += 1;
        self.flushed_pages += ranges.iter().map(|r| u64::from(r.pages())).sum::<u64>();
    }

    fn zero_frames(&mut self, _pfn: Pfn, count: u32) -> Result<(), MapError> {
        self.zeroed_frames += u64::from(count);
        Ok(())
    }
}

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
            .with_device(VIRTIO),
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
