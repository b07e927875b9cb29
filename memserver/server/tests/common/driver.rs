//! A request driver for the real [`Server`] over [`FakeMapper`], shared by
//! the `server` libFuzzer target (`ipc/fuzz/fuzz_targets/server.rs`
//! includes this file and `fake_mapper.rs` by path) and the plain
//! `cargo test` smoke run (`tests/fuzz_smoke.rs`, a PRNG byte stream).
//!
//! The input bytes pick, step by step: a client (six badges: an observer
//! with device grants, a plain client, two small-quota ones, two unknown
//! badges admitted with a default quota), and an action — a structured
//! valid request (sizes near 0 and 2^32, random and foreign addresses,
//! duplicated frames, every memory type), the same request mutated
//! (a byte changed, cut short, garbage appended), raw bytes, a client's
//! exit or fault, a purge, or a check of a live area's data.
//!
//! Asserted after every step: no panic; every reply decodes and echoes
//! the sequence number; never `Internal` (the fake kernel refuses
//! nothing the server validated); [`Server::check_invariants`]; the fake
//! kernel saw nothing it would refuse; every frame a client receives
//! (vmalloc with or without ZEROED, DMA) reads zero, and keeps the data
//! its owner wrote until freed; `Info`/`Stats` of a non-observer show
//! only its own areas and row. At the end every client exits and, after
//! a purge, the pool holds exactly its boot frames, no PTE and no area
//! is left.
#![allow(dead_code)]

use abi::{MemType, Pfn, PhysAddr, VirtAddr, PAGE_SIZE};
use buddy::BuddyPool;
use ipc::{
    decode_request, decode_response, encode_request, peek_sequence, AreaKind, BoundedVec,
    DmaAllocRequest, DmaFreeRequest, ErrorCode, InfoRequest, IoremapRequest, IounmapRequest,
    PageRun, PingRequest, Request, Response, StatsRequest, VfreeRequest, VirtToPhysRequest,
    VmallocFlags, VmallocRequest, VmapFlags, VmapRequest, VmapSource, VunmapRequest,
    MAX_MESSAGE_SIZE, MAX_VMAP_RUNS,
};
use memserver::{ClientConfig, ClientId, PhysRange, Quota, Server, ServerConfig, VmapConfig};

use super::fake_mapper::{FakeMapper, STALE};

/// First frame of the pool (inside [`RAM`]).
pub const POOL_BASE: u32 = 0x6_0400;
/// Frames in the pool: small, so exhaustion paths are reached.
pub const POOL_PAGES: u32 = 512;
/// Pages of the window: small, so `NoVirtualSpace` is reached too.
pub const WINDOW_PAGES: u32 = 4096;
/// All RAM (never a device).
pub const RAM: PhysRange = PhysRange::new(0x6000_0000, 512 << 20);
/// Devices granted to client 1.
pub const UART: PhysRange = PhysRange::new(0x1000_9000, 0x1000);
pub const VIRTIO: PhysRange = PhysRange::new(0x1001_3000, 0x200);
/// Badges 1..=CLIENTS.
pub const CLIENTS: u32 = 6;
/// Client 1: observer with device grants.
pub const OBSERVER: u32 = 1;

/// The input, read as needed; zeroes once it runs out.
pub struct Input<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Input<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, at: 0 }
    }
    pub fn is_empty(&self) -> bool {
        self.at >= self.data.len()
    }
    pub fn u8(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at += 1;
        b
    }
    pub fn u32(&mut self) -> u32 {
        u32::from_le_bytes([self.u8(), self.u8(), self.u8(), self.u8()])
    }
    /// A number below `n` (> 0).
    pub fn below(&mut self, n: u32) -> u32 {
        if n <= 256 {
            u32::from(self.u8()) % n
        } else {
            self.u32() % n
        }
    }
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 != 0
    }
    /// Up to `n` raw bytes.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let start = self.at.min(self.data.len());
        let end = (start + n).min(self.data.len());
        self.at = start + n;
        &self.data[start..end]
    }
}

/// An area the driver knows a client holds.
#[derive(Clone, Copy, Debug)]
struct Tracked {
    addr: u32,
    kind: AreaKind,
    pages: u32,
    /// The word written into every page (vmalloc and DMA areas).
    marker: Option<u32>,
}

/// What a run did.
#[derive(Clone, Copy, Debug, Default)]
pub struct Figures {
    /// Requests handed to the server.
    pub requests: u64,
    /// Of which succeeded.
    pub ok: u64,
    /// Pages read back: zero on arrival, then their owner's data.
    pub verified_pages: u64,
    /// Client exits and faults.
    pub exits: u64,
}

pub struct Driver {
    pub server: Server<FakeMapper>,
    areas: Vec<Vec<Tracked>>,
    seq: u32,
    reply: Vec<u8>,
    pub figures: Figures,
}

fn config() -> ServerConfig {
    let window = window();
    let mut cfg = ServerConfig::new(window);
    cfg.ram.push(RAM);
    cfg.clients.push(
        ClientConfig::new(ClientId(1), Quota::UNLIMITED)
            .with_device(UART)
            .with_device(VIRTIO)
            .with_observer(true),
    );
    cfg.clients
        .push(ClientConfig::new(ClientId(2), Quota::UNLIMITED));
    cfg.clients
        .push(ClientConfig::new(ClientId(3), Quota::new(16, 6, 64)));
    cfg.clients
        .push(ClientConfig::new(ClientId(4), Quota::new(64, 32, 24)).with_device(UART));
    // Badges 5 and 6 are admitted on first use.
    cfg.unknown_clients = Some(Quota::new(32, 8, 128));
    cfg
}

pub fn window() -> VmapConfig {
    VmapConfig {
        start: VirtAddr(0x4000_0000),
        end: VirtAddr(0x4000_0000 + WINDOW_PAGES * PAGE_SIZE),
        lazy_max_pages: 64,
    }
}

fn pool() -> BuddyPool {
    let mut pool = BuddyPool::new(buddy::DEFAULT_MAX_ORDER).unwrap();
    pool.add_range(Pfn(POOL_BASE), POOL_PAGES).unwrap();
    pool
}

fn marker(client: u32, addr: u32) -> u32 {
    let m = 0x4000_0000 | (client << 24) ^ (addr >> 12);
    debug_assert!(m != 0 && m != STALE);
    m
}

impl Default for Driver {
    fn default() -> Self {
        Self::new()
    }
}

impl Driver {
    pub fn new() -> Self {
        let mapper = FakeMapper::new(&window(), POOL_BASE, POOL_PAGES);
        Self {
            server: Server::new(config(), pool(), mapper).unwrap(),
            areas: (0..=CLIENTS).map(|_| Vec::new()).collect(),
            seq: 0,
            reply: vec![0; MAX_MESSAGE_SIZE],
            figures: Figures::default(),
        }
    }

    /// Runs every step the input describes, then ends the session.
    pub fn run(data: &[u8]) -> Figures {
        let mut d = Driver::new();
        let mut input = Input::new(data);
        while !input.is_empty() {
            d.step(&mut input);
        }
        d.finish();
        d.figures
    }

    /// One step.
    pub fn step(&mut self, input: &mut Input<'_>) {
        let client = 1 + input.below(CLIENTS);
        match input.below(32) {
            0..=15 => {
                let request = self.request(client, input);
                let mut buf = vec![0u8; MAX_MESSAGE_SIZE];
                self.seq = self.seq.wrapping_add(1);
                let len = encode_request(self.seq, &request, &mut buf).expect("every request fits");
                buf.truncate(len);
                self.send(client, &buf);
            }
            16..=21 => {
                let request = self.request(client, input);
                let mut buf = vec![0u8; MAX_MESSAGE_SIZE];
                self.seq = self.seq.wrapping_add(1);
                let len = encode_request(self.seq, &request, &mut buf).expect("every request fits");
                buf.truncate(len);
                match input.below(4) {
                    0 => {
                        let i = input.below(len as u32) as usize;
                        buf[i] = input.u8();
                    }
                    1 => buf.truncate(input.below(len as u32) as usize),
                    2 => {
                        let extra = input.below(16) as usize;
                        buf.extend_from_slice(input.bytes(extra));
                        // Sometimes with a header length that matches.
                        if input.bool() && buf.len() >= 12 {
                            let n = (buf.len() - 12) as u32;
                            buf[8..12].copy_from_slice(&n.to_le_bytes());
                        }
                    }
                    _ => {
                        // A payload byte changed, header length kept right.
                        if len > 12 {
                            let i = 12 + input.below((len - 12) as u32) as usize;
                            buf[i] ^= 1 << input.below(8);
                        }
                    }
                }
                self.send(client, &buf);
            }
            22..=23 => {
                let n = input.below(64) as usize;
                let mut buf = input.bytes(n).to_vec();
                // A valid header in front half of the time.
                if input.bool() {
                    let mut h = [0u8; 12];
                    h[0] = 1;
                    h[2] = input.below(14) as u8;
                    h[8..12].copy_from_slice(&(buf.len() as u32).to_le_bytes());
                    buf.splice(0..0, h);
                }
                self.send(client, &buf);
            }
            24..=26 => self.verify(client, input),
            27 => {
                self.server.client_exited(ClientId(client));
                self.areas[client as usize].clear();
                self.figures.exits += 1;
            }
            28 => {
                let addr = self.some_addr(client, input);
                let at = VirtAddr(addr.wrapping_add(input.below(3) * PAGE_SIZE));
                self.server.client_faulted(ClientId(client), at);
                self.areas[client as usize].clear();
                self.figures.exits += 1;
            }
            29 => self.server.purge(),
            _ => {
                let request = self.request(client, input);
                let mut buf = vec![0u8; MAX_MESSAGE_SIZE];
                let len = encode_request(0, &request, &mut buf).expect("fits");
                // The in-place entry point, as the task uses it.
                let n = self.server.handle_in_place(ClientId(client), &mut buf, len);
                let (_, response) = decode_response(&buf[..n]).expect("the reply decodes");
                self.figures.requests += 1;
                self.account(client, Some(&request), &response);
            }
        }
        self.check();
    }

    /// Ends the session: every client exits; after a purge the pool holds
    /// exactly its boot frames.
    pub fn finish(&mut self) {
        for c in 0..=CLIENTS {
            self.server.client_exited(ClientId(c));
            self.areas[c as usize].clear();
        }
        self.server.purge();
        self.server
            .check_invariants()
            .expect("invariants at the end");
        assert_eq!(
            self.server.pool().free_frames(),
            POOL_PAGES,
            "frames leaked"
        );
        assert_eq!(self.server.mapper().pte_count(), 0, "PTEs leaked");
        assert!(self.server.core().window().is_empty(), "areas leaked");
        assert!(
            self.server.mapper().violations.is_empty(),
            "{:?}",
            self.server.mapper().violations
        );
    }

    fn check(&self) {
        if let Err(e) = self.server.check_invariants() {
            panic!("invariant broken: {e}");
        }
        assert!(
            self.server.mapper().violations.is_empty(),
            "{:?}",
            self.server.mapper().violations
        );
    }

    /// An address: mostly one of the client's own areas (exact, or a
    /// byte off), else another client's, else anything.
    fn some_addr(&self, client: u32, input: &mut Input<'_>) -> u32 {
        let own = &self.areas[client as usize];
        match input.below(8) {
            0..=4 if !own.is_empty() => own[input.below(own.len() as u32) as usize].addr,
            5 if !own.is_empty() => own[input.below(own.len() as u32) as usize].addr + 1,
            6 => {
                let other = &self.areas[(1 + input.below(CLIENTS)) as usize];
                if other.is_empty() {
                    0x4000_0000
                } else {
                    other[input.below(other.len() as u32) as usize].addr
                }
            }
            _ => match input.below(4) {
                0 => input.u32(),
                1 => 0x4000_0000 + input.below(WINDOW_PAGES) * PAGE_SIZE,
                2 => 0,
                _ => u32::MAX - 0xfff,
            },
        }
    }

    fn size(input: &mut Input<'_>) -> u32 {
        match input.below(10) {
            0 => 0,
            1 => 1,
            2 => PAGE_SIZE - 1,
            3 => PAGE_SIZE + 1,
            4 => u32::MAX - input.below(PAGE_SIZE * 2),
            5 => 1 << (20 + input.below(12)),
            6 => input.u32(),
            _ => (1 + input.below(24)) * PAGE_SIZE - input.below(8),
        }
    }

    /// A structured request from `client`'s point of view.
    fn request(&self, client: u32, input: &mut Input<'_>) -> Request {
        match input.below(14) {
            0..=3 => Request::Vmalloc(VmallocRequest {
                size: Self::size(input),
                align: match input.below(6) {
                    0 => 0,
                    1 => 3,
                    2 => 1 << input.below(32),
                    3 => input.u32(),
                    _ => PAGE_SIZE,
                },
                flags: VmallocFlags::from_bits_truncate(input.u8()),
                caller: input.u32(),
            }),
            4..=5 => Request::Vfree(VfreeRequest {
                addr: VirtAddr(self.some_addr(client, input)),
            }),
            6 => Request::Ioremap(IoremapRequest {
                phys: PhysAddr(match input.below(5) {
                    0 => UART.start.0 + input.below(0x1000),
                    1 => VIRTIO.start.0 + input.below(0x200),
                    2 => RAM.start.0 + input.u32() % RAM.size,
                    3 => (POOL_BASE << 12) + input.below(POOL_PAGES * PAGE_SIZE),
                    _ => input.u32(),
                }),
                size: match input.below(3) {
                    0 => 1 + input.below(0x200),
                    1 => 0x1000,
                    _ => Self::size(input),
                },
                mem_type: MemType::ALL[input.below(3) as usize],
                caller: input.u32(),
            }),
            7 => self.vmap_request(client, input),
            8 => Request::DmaAlloc(DmaAllocRequest {
                pages: match input.below(4) {
                    0 => 0,
                    1 => input.u32(),
                    _ => 1 + input.below(16),
                },
                caller: input.u32(),
            }),
            9 => {
                let addr = VirtAddr(self.some_addr(client, input));
                match input.below(3) {
                    0 => Request::DmaFree(DmaFreeRequest { addr }),
                    1 => Request::Iounmap(IounmapRequest { addr }),
                    _ => Request::Vunmap(VunmapRequest { addr }),
                }
            }
            10 => Request::VirtToPhys(VirtToPhysRequest {
                addr: VirtAddr(
                    self.some_addr(client, input)
                        .wrapping_add(input.below(4 * PAGE_SIZE)),
                ),
            }),
            11 => Request::Info(InfoRequest {
                cursor: if input.bool() {
                    0
                } else {
                    self.some_addr(client, input)
                },
            }),
            12 => Request::Stats(StatsRequest {}),
            _ => Request::Ping(PingRequest { nonce: input.u32() }),
        }
    }

    /// A vmap of the client's own frames (runs through VirtToPhys, maybe
    /// repeated or overlapping), of a DMA buffer, or of any frames.
    fn vmap_request(&self, client: u32, input: &mut Input<'_>) -> Request {
        let flags = VmapFlags::from_bits_truncate(input.u8());
        let own: Vec<&Tracked> = self.areas[client as usize]
            .iter()
            .filter(|a| a.marker.is_some())
            .collect();
        if own.is_empty() || input.below(4) == 0 {
            if input.bool() {
                return Request::Vmap(VmapRequest {
                    source: VmapSource::Dma {
                        addr: VirtAddr(self.some_addr(client, input)),
                    },
                    flags,
                    caller: input.u32(),
                });
            }
            let n = input.below(4) as usize;
            let runs: Vec<PageRun> = (0..n)
                .map(|_| PageRun {
                    pfn: Pfn(if input.bool() {
                        POOL_BASE + input.below(POOL_PAGES)
                    } else {
                        input.u32()
                    }),
                    count: input.below(8),
                })
                .collect();
            return Request::Vmap(VmapRequest {
                source: VmapSource::Frames(BoundedVec::from_slice(&runs).unwrap()),
                flags,
                caller: input.u32(),
            });
        }
        let mut runs = Vec::new();
        for _ in 0..1 + input.below(4) {
            let a = own[input.below(own.len() as u32) as usize];
            let page = input.below(a.pages);
            let va = VirtAddr(a.addr + page * PAGE_SIZE);
            let Ok(phys) = self.server.core().virt_to_phys(va, ClientId(client).into()) else {
                continue;
            };
            runs.push(PageRun {
                pfn: phys.pfn(),
                count: 1 + input.below(2),
            });
            if input.below(4) == 0 {
                // The same frame again: DuplicateFrame.
                runs.push(*runs.last().unwrap());
            }
        }
        runs.truncate(MAX_VMAP_RUNS);
        if runs.is_empty() {
            runs.push(PageRun {
                pfn: Pfn(POOL_BASE),
                count: 1,
            });
        }
        Request::Vmap(VmapRequest {
            source: VmapSource::Frames(BoundedVec::from_slice(&runs).unwrap()),
            flags,
            caller: input.u32(),
        })
    }

    /// Hands `bytes` to the server as `client` and checks the reply.
    fn send(&mut self, client: u32, bytes: &[u8]) {
        let n = self.server.handle(ClientId(client), bytes, &mut self.reply);
        let (seq, response) = decode_response(&self.reply[..n]).expect("every reply decodes");
        if let Some(sent) = peek_sequence(bytes) {
            assert_eq!(seq, sent, "the reply echoes the sequence number");
        }
        self.figures.requests += 1;
        let request = decode_request(bytes).ok().map(|(_, r)| r);
        if request.is_none() {
            assert!(
                matches!(response, Response::Error(_)),
                "an undecodable request succeeded"
            );
        }
        self.account(client, request.as_ref(), &response);
    }

    /// Follows a reply: tracks new areas (checking their frames arrive
    /// zeroed, then writing the owner's marker), forgets freed ones.
    fn account(&mut self, client: u32, request: Option<&Request>, response: &Response) {
        assert_ne!(
            *response,
            Response::Error(ErrorCode::Internal),
            "Internal for {request:?} from client {client}"
        );
        if !matches!(response, Response::Error(_)) {
            self.figures.ok += 1;
        }
        let own = |r: &ipc::AreaRecord| r.owner == client;
        match (request, response) {
            (_, Response::Vmalloc(ok)) => self.fresh(client, ok.addr.0, ok.size, AreaKind::Vmalloc),
            (_, Response::DmaAlloc(ok)) => self.fresh(client, ok.addr.0, ok.size, AreaKind::Dma),
            (_, Response::Ioremap(ok)) => self.areas[client as usize].push(Tracked {
                addr: ok.addr.0 & !(PAGE_SIZE - 1),
                kind: AreaKind::Ioremap,
                pages: 0,
                marker: None,
            }),
            (_, Response::Vmap(ok)) => self.areas[client as usize].push(Tracked {
                addr: ok.addr.0,
                kind: AreaKind::Vmap,
                pages: ok.size / PAGE_SIZE,
                marker: None,
            }),
            (Some(Request::Vfree(r)), Response::Vfree(_)) => self.forget(client, r.addr.0),
            (Some(Request::Vunmap(r)), Response::Vunmap(_)) => self.forget(client, r.addr.0),
            (Some(Request::DmaFree(r)), Response::DmaFree(_)) => self.forget(client, r.addr.0),
            (Some(Request::Iounmap(r)), Response::Iounmap(_)) => {
                self.forget(client, r.addr.0 & !(PAGE_SIZE - 1))
            }
            (_, Response::Info(ok)) if client != OBSERVER => {
                assert!(ok.records.iter().all(own), "Info shows a foreign area");
            }
            (_, Response::Stats(ok)) if client != OBSERVER => {
                assert!(ok.clients_total <= 1);
                assert!(ok.clients.iter().all(|u| u.client == client));
            }
            _ => {}
        }
    }

    /// A new vmalloc or DMA area: every page reads zero, then gets the
    /// owner's marker.
    fn fresh(&mut self, client: u32, addr: u32, size: u32, kind: AreaKind) {
        let pages = size / PAGE_SIZE;
        let mark = marker(client, addr);
        let mapper = self.server.mapper_mut();
        for i in 0..pages {
            let va = addr + i * PAGE_SIZE;
            assert_eq!(
                mapper.read(client, va),
                Some(0),
                "a frame reached client {client} holding data ({kind:?} at {va:#x})"
            );
            assert!(mapper.write(client, va, mark));
        }
        self.figures.verified_pages += u64::from(pages);
        self.areas[client as usize].push(Tracked {
            addr,
            kind,
            pages,
            marker: Some(mark),
        });
    }

    fn forget(&mut self, client: u32, addr: u32) {
        let list = &mut self.areas[client as usize];
        let i = list
            .iter()
            .position(|a| a.addr == addr)
            .expect("a freed area was tracked");
        list.swap_remove(i);
    }

    /// Reads back every page of one of the client's vmalloc/DMA areas:
    /// still its owner's marker (nobody else wrote it, nobody zeroed it).
    fn verify(&mut self, client: u32, input: &mut Input<'_>) {
        let list = &self.areas[client as usize];
        if list.is_empty() {
            return;
        }
        let a = list[input.below(list.len() as u32) as usize];
        let Some(mark) = a.marker else { return };
        for i in 0..a.pages {
            let va = a.addr + i * PAGE_SIZE;
            assert_eq!(
                self.server.mapper().read(client, va),
                Some(mark),
                "client {client}'s data changed at {va:#x}"
            );
        }
        self.figures.verified_pages += u64::from(a.pages);
    }
}
