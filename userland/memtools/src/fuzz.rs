//! In-guest fuzzing of the memory server: a deterministic PRNG drives a
//! mix of valid allocations (every page written with a pattern and read
//! back before it is freed; every fresh page checked to read zero) and
//! hostile requests: random opcodes and payloads, sizes near 0 and 2^32,
//! random, stale and foreign addresses, duplicated frames, truncated,
//! mis-versioned and garbage messages, double frees, frees of an area
//! while a vmap aliases its frames, and calls with tags the kernel must
//! refuse (kernel labels, reserved bits, lengths past the IPC buffer).
//!
//! Every reply must be a valid success or a typed error (never `Internal`,
//! never an undecodable reply); a success must be one the client may get
//! (a free or translation of an address that is not its own must never
//! succeed). Several instances run at once with different seeds, so random
//! window addresses land in each other's areas.
//!
//! The seed is the role parameter; `./run.sh fuzz --seed S --count N` (the
//! runner's `fuzz` verb) patches [`FUZZ_PARAMS`] in the kernel image, since
//! the kernel passes no boot argument to tasks.

use abi::{MessageTag, PhysAddr, VirtAddr, PAGE_SIZE};
use core::fmt::Write;
use ipc::{
    decode_request, decode_response, encode_request, BoundedVec, DmaAllocRequest, IoremapRequest,
    Opcode, Request, Response, VfreeRequest, VirtToPhysRequest, VmallocRequest, HEADER_SIZE,
    PROTOCOL_VERSION,
};
use log::{error, info};
use memclient::{ClientError, ErrorCode, MemType, PageRun, VmallocFlags, VmapFlags, VmapSource};

use userlib::{dev, mem, sys, LineBuf};

use crate::stress::{fill, verify, Client, Rng};
use crate::{device, MEMSERVER};

const P: u32 = PAGE_SIZE;

/// Run-time parameters the runner patches in the kernel image
/// (`runner fuzz`): the magic `FUZZPRM1`, then which values are given
/// (bit 0: seed, bit 1: count), the first seed (instance `n` of the
/// manifest uses seed + n - 1) and the requests per instance. Unpatched:
/// the manifest's seeds and [`DEFAULT_REQUESTS`].
#[used]
static FUZZ_PARAMS: [u32; 5] = [
    u32::from_le_bytes(*b"FUZZ"),
    u32::from_le_bytes(*b"PRM1"),
    0,
    0,
    0,
];

/// Requests per instance in the CI run (three instances: over 100,000).
const DEFAULT_REQUESTS: u64 = 34_000;
/// Live areas an instance tracks at once.
const SLOTS: usize = 24;
/// Recently freed addresses kept for stale-address requests.
const STALE: usize = 16;
/// Wrong answers logged in full (the rest are only counted).
const LOG_LIMIT: u32 = 20;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Vmalloc,
    Dma,
}

#[derive(Clone, Copy, Debug)]
struct Live {
    addr: VirtAddr,
    size: u32,
    kind: Kind,
    seed: u32,
}

struct Fuzzer<'c> {
    client: &'c Client,
    rng: Rng,
    me: u32,
    live: [Option<Live>; SLOTS],
    stale: [VirtAddr; STALE],
    stale_at: usize,
    raw_seq: u32,
    requests: u64,
    pages: u64,
    typed: u64,
    /// Typed errors by wire number (what the hostile traffic ran into).
    by_code: [u32; 32],
    data_errors: u64,
    wrong: u64,
    /// The device granted to this instance (its own Device capability).
    device: dev::Device,
    /// What the device's identification registers read through the first
    /// mapping (`None`: a device without them); every later mapping must
    /// read the same.
    device_id: Option<u32>,
}

/// What one request came back as.
enum Outcome<T> {
    Ok(T),
    Typed(ErrorCode),
    /// Already counted as wrong.
    Broken,
}

impl<'c> Fuzzer<'c> {
    /// A valid request was refused with `code`: running out (quota,
    /// frames, window) is expected, and frees a random live area so the
    /// mix keeps moving; any other code is a wrong reply.
    fn refused(&mut self, code: ErrorCode, what: core::fmt::Arguments<'_>) {
        match code {
            ErrorCode::QuotaExceeded | ErrorCode::OutOfMemory | ErrorCode::NoVirtualSpace => {
                if let Some(i) = self.random_live() {
                    self.release_slot(i, false);
                }
            }
            _ => self.wrong(format_args!("valid {what} -> {code:?}")),
        }
    }

    fn wrong(&mut self, args: core::fmt::Arguments<'_>) {
        self.wrong += 1;
        if self.wrong <= u64::from(LOG_LIMIT) {
            error!("fuzz: WRONG: {args}");
        }
    }

    /// Counts one request and classifies its result.
    fn count<T>(&mut self, what: &str, r: Result<T, ClientError>) -> Outcome<T> {
        self.requests += 1;
        match r {
            Ok(v) => Outcome::Ok(v),
            Err(ClientError::Server(ErrorCode::Internal)) => {
                self.wrong(format_args!("{what} -> Internal (a server bug)"));
                Outcome::Broken
            }
            Err(ClientError::Server(code)) => {
                self.typed_error(code);
                Outcome::Typed(code)
            }
            Err(e) => {
                self.wrong(format_args!("{what} -> untyped failure {e:?}"));
                Outcome::Broken
            }
        }
    }

    fn typed_error(&mut self, code: ErrorCode) {
        self.typed += 1;
        if let Some(n) = self.by_code.get_mut(usize::from(code.to_wire())) {
            *n += 1;
        }
    }

    /// True once in `n` draws.
    fn one_in(&mut self, n: u32) -> bool {
        self.rng.next().is_multiple_of(n)
    }

    fn free_slot(&self) -> Option<usize> {
        self.live.iter().position(Option::is_none)
    }

    fn random_live(&mut self) -> Option<usize> {
        let n = self.live.iter().filter(|l| l.is_some()).count() as u32;
        if n == 0 {
            return None;
        }
        let k = self.rng.next() % n;
        self.live
            .iter()
            .enumerate()
            .filter(|(_, l)| l.is_some())
            .nth(k as usize)
            .map(|(i, _)| i)
    }

    /// The live area containing `addr`, if any.
    fn owning(&self, addr: u32) -> Option<usize> {
        self.live
            .iter()
            .position(|l| l.is_some_and(|l| addr >= l.addr.0 && addr - l.addr.0 < l.size))
    }

    fn remember_freed(&mut self, addr: VirtAddr) {
        self.stale[self.stale_at % STALE] = addr;
        self.stale_at += 1;
    }

    /// A fresh area must read zero everywhere it is sampled (every frame
    /// reaching a client is zeroed); then it gets the pattern.
    fn adopt(&mut self, addr: VirtAddr, size: u32, kind: Kind) {
        // SAFETY: the server just mapped `size` bytes read-write at `addr`
        // for this task alone.
        if !unsafe { sampled_zero(addr, size) } {
            self.data_errors += 1;
            error!(
                "fuzz: DATA: fresh {kind:?} area {:#010x} (+{size}) is not zero",
                addr.0
            );
        }
        let seed = self.rng.next();
        // SAFETY: as above; the area is ours until we free it.
        unsafe { fill(addr, size, seed) };
        match self.free_slot() {
            Some(i) => {
                self.live[i] = Some(Live {
                    addr,
                    size,
                    kind,
                    seed,
                })
            }
            None => {
                // Callers make room first; free it rather than lose it.
                let l = Live {
                    addr,
                    size,
                    kind,
                    seed,
                };
                self.release(l, false);
            }
        }
    }

    /// Verifies and frees one tracked area; `twice` also tries a double
    /// free, which must be `NotFound`.
    fn release(&mut self, l: Live, twice: bool) {
        // SAFETY: still mapped: tracked areas are freed only here.
        if unsafe { verify(l.addr, l.size, l.addr, l.seed) } {
            self.pages += u64::from(l.size / P);
        } else {
            self.data_errors += 1;
            error!(
                "fuzz: DATA: {:?} area {:#010x} lost its pattern",
                l.kind, l.addr.0
            );
        }
        let c = self.client;
        let r = match l.kind {
            Kind::Vmalloc => c.vfree_addr(l.addr).map(|_| ()),
            Kind::Dma => c.dma_free_addr(l.addr),
        };
        if let Outcome::Typed(code) = self.count("free of a live area", r) {
            self.wrong(format_args!(
                "free of live {:?} area {:#010x} -> {code:?}",
                l.kind, l.addr.0
            ));
        }
        self.remember_freed(l.addr);
        if twice {
            let r = match l.kind {
                Kind::Vmalloc => c.vfree_addr(l.addr).map(|_| ()),
                Kind::Dma => c.dma_free_addr(l.addr),
            };
            // NotOwner if another instance got the range in between.
            match self.count("double free", r) {
                Outcome::Typed(ErrorCode::NotFound | ErrorCode::NotOwner) | Outcome::Broken => {}
                Outcome::Typed(code) => {
                    self.wrong(format_args!("double free -> {code:?}, expected NotFound"))
                }
                Outcome::Ok(()) => self.wrong(format_args!("double free succeeded")),
            }
        }
    }

    fn release_slot(&mut self, i: usize, twice: bool) {
        if let Some(l) = self.live[i].take() {
            self.release(l, twice);
        }
    }

    // --- valid traffic -------------------------------------------------

    fn valid_vmalloc(&mut self) {
        let pages = if self.one_in(8) {
            self.rng.range(9, 64)
        } else {
            self.rng.range(1, 8)
        };
        let mut flags = VmallocFlags::NONE;
        if self.one_in(4) {
            flags = flags.union(VmallocFlags::ZEROED);
        }
        if self.one_in(4) {
            flags = flags.union(VmallocFlags::NO_GUARD);
        }
        let align = P << self.rng.range(0, 4);
        let r = self
            .client
            .vmalloc_with(pages * P, align, flags, 0xf022_0000 | pages)
            .map(|a| a.into_raw());
        match self.count("vmalloc", r) {
            Outcome::Ok((addr, size)) => {
                if size < pages * P || addr.0 % align != 0 {
                    self.wrong(format_args!(
                        "vmalloc({pages} pages, align {align:#x}) -> {:#010x} + {size}",
                        addr.0
                    ));
                }
                self.adopt(addr, size, Kind::Vmalloc);
            }
            Outcome::Typed(code) => self.refused(code, format_args!("vmalloc({pages} pages)")),
            Outcome::Broken => {}
        }
    }

    fn valid_dma(&mut self) {
        let pages = self.rng.range(1, 4);
        let r = self
            .client
            .dma_alloc(pages)
            .map(|d| (d.phys(), d.into_raw()));
        match self.count("dma_alloc", r) {
            Outcome::Ok((phys, (addr, size))) => {
                match sys::mapping_info(addr) {
                    Ok((attrs, p, _))
                        if attrs.mem_type() == MemType::NormalUncached && p == phys => {}
                    other => self.wrong(format_args!(
                        "dma buffer {:#010x} mapped as {other:?}",
                        addr.0
                    )),
                }
                self.adopt(addr, size, Kind::Dma);
            }
            Outcome::Typed(code) => self.refused(code, format_args!("dma_alloc({pages})")),
            Outcome::Broken => {}
        }
    }

    /// vmap of a live area's own frames; the alias must show the pattern.
    fn valid_vmap(&mut self) {
        let Some(i) = self.random_live() else {
            return;
        };
        let Some(l) = self.live[i] else { return };
        let pages = (l.size / P).min(8);
        let source = if l.kind == Kind::Dma && self.one_in(2) {
            VmapSource::Dma { addr: l.addr }
        } else {
            let mut runs = BoundedVec::<PageRun, { ipc::MAX_VMAP_RUNS }>::new();
            for p in 0..pages {
                let r = self.client.virt_to_phys(VirtAddr(l.addr.0 + p * P));
                match self.count("virt_to_phys(own page)", r) {
                    Outcome::Ok(phys) => {
                        let _ = runs.push(PageRun {
                            pfn: phys.pfn(),
                            count: 1,
                        });
                    }
                    _ => {
                        self.wrong(format_args!(
                            "virt_to_phys of own page {:#010x} failed",
                            l.addr.0 + p * P
                        ));
                        return;
                    }
                }
            }
            VmapSource::Frames(runs)
        };
        let shown = match &source {
            VmapSource::Dma { .. } => l.size,
            VmapSource::Frames(_) => pages * P,
        };
        let flags = if self.one_in(4) {
            VmapFlags::READ_ONLY
        } else {
            VmapFlags::NONE
        };
        let r = self.client.vmap(source, flags).map(|a| a.into_raw());
        match self.count("vmap(own frames)", r) {
            Outcome::Ok((alias, size)) => {
                if size != shown {
                    self.wrong(format_args!("vmap of {shown} bytes -> {size}"));
                }
                // SAFETY: the alias maps `shown` bytes of our own frames,
                // readable, until the vunmap below.
                if unsafe { verify(alias, shown.min(size), l.addr, l.seed) } {
                    self.pages += u64::from(shown.min(size) / P);
                } else {
                    self.data_errors += 1;
                    error!(
                        "fuzz: DATA: vmap alias {:#010x} of {:#010x} differs",
                        alias.0, l.addr.0
                    );
                }
                if self.one_in(3) {
                    self.free_aliased_source(l);
                }
                let r = self.client.vunmap_addr(alias);
                if let Outcome::Typed(code) = self.count("vunmap", r) {
                    self.wrong(format_args!("vunmap of own alias -> {code:?}"));
                }
            }
            Outcome::Typed(
                ErrorCode::QuotaExceeded | ErrorCode::NoVirtualSpace | ErrorCode::OutOfMemory,
            ) => {}
            Outcome::Typed(code) => self.wrong(format_args!("vmap of own frames -> {code:?}")),
            Outcome::Broken => {}
        }
    }

    /// Freeing an area while a vmap aliases its frames must be refused
    /// (`PermissionDenied`): the pool would hand the frames on while this
    /// client still reaches them through the alias.
    fn free_aliased_source(&mut self, l: Live) {
        let r = match l.kind {
            Kind::Vmalloc => self.client.vfree_addr(l.addr).map(|_| ()),
            Kind::Dma => self.client.dma_free_addr(l.addr),
        };
        match self.count("free of an aliased area", r) {
            Outcome::Typed(ErrorCode::PermissionDenied) | Outcome::Broken => {}
            Outcome::Typed(code) => self.wrong(format_args!(
                "free of an area a vmap aliases -> {code:?}, expected PermissionDenied"
            )),
            Outcome::Ok(()) => {
                self.wrong(format_args!(
                    "free of {:#010x} succeeded while a vmap aliases its frames",
                    l.addr.0
                ));
                // It is gone: stop tracking it (its alias goes next).
                if let Some(i) = self
                    .live
                    .iter()
                    .position(|x| x.is_some_and(|x| x.addr == l.addr))
                {
                    self.live[i] = None;
                }
            }
        }
    }

    /// The same frame twice in one vmap: `DuplicateFrame`.
    fn duplicate_frames(&mut self) {
        let Some(i) = self.random_live() else {
            return;
        };
        let Some(l) = self.live[i] else { return };
        let r = self.client.virt_to_phys(l.addr);
        let Outcome::Ok(phys) = self.count("virt_to_phys", r) else {
            return;
        };
        let one = PageRun {
            pfn: phys.pfn(),
            count: 1,
        };
        let runs = if self.one_in(2) {
            [one, one]
        } else {
            // A run of two overlapping a run of one (the second page may
            // not be ours).
            [PageRun { count: 2, ..one }, one]
        };
        let source = VmapSource::Frames(BoundedVec::from_slice(&runs).unwrap_or_default());
        let r = self
            .client
            .vmap(source, VmapFlags::NONE)
            .map(|a| a.into_raw());
        match self.count("vmap(duplicated frame)", r) {
            Outcome::Typed(ErrorCode::DuplicateFrame) => {}
            // The frame after ours may be another client's (NotOwner) or
            // a free pool frame (PermissionDenied), checked first.
            Outcome::Typed(ErrorCode::NotOwner | ErrorCode::PermissionDenied)
                if runs[0].count == 2 => {}
            Outcome::Typed(code) => {
                self.wrong(format_args!("vmap of a duplicated frame -> {code:?}"))
            }
            Outcome::Ok((a, _)) => {
                self.wrong(format_args!(
                    "vmap of a duplicated frame succeeded at {:#010x}",
                    a.0
                ));
                let _ = self.client.vunmap_addr(a);
            }
            Outcome::Broken => {}
        }
    }

    fn ioremap(&mut self) {
        let mem = match self.rng.next() % 3 {
            0 => MemType::Device,
            1 => MemType::NormalUncached,
            _ => MemType::NormalCached,
        };
        let r = self
            .client
            .ioremap(PhysAddr(self.device.page()), P, mem)
            .map(|m| m.into_raw());
        match self.count("ioremap", r) {
            Outcome::Ok((addr, _)) => {
                if mem == MemType::NormalCached {
                    self.wrong(format_args!(
                        "ioremap of a device as NormalCached succeeded"
                    ));
                }
                let regs = addr.0 + self.device.info.offset();
                // SAFETY: the granted device's page, mapped for this task;
                // its identification registers have no read side effects.
                let id = unsafe { device::identity(self.device.role(), regs) };
                if id != self.device_id {
                    self.data_errors += 1;
                    error!(
                        "fuzz: DATA: device identity through {:#010x} = {id:x?}, first mapping read {:x?}",
                        addr.0, self.device_id
                    );
                }
                match sys::mapping_info(addr) {
                    Ok((a, _, _)) if a.mem_type() == mem => {}
                    other => self.wrong(format_args!("ioremap {mem:?} mapped as {other:?}")),
                }
                let r = self.client.iounmap_addr(addr);
                if let Outcome::Typed(code) = self.count("iounmap", r) {
                    self.wrong(format_args!("iounmap of own mapping -> {code:?}"));
                }
            }
            Outcome::Typed(ErrorCode::PermissionDenied) if mem == MemType::NormalCached => {}
            Outcome::Typed(ErrorCode::QuotaExceeded | ErrorCode::NoVirtualSpace) => {}
            Outcome::Typed(code) => self.wrong(format_args!("ioremap {mem:?} -> {code:?}")),
            Outcome::Broken => {}
        }
    }

    fn info_and_stats(&mut self) {
        let me = self.me;
        let mut foreign = 0u32;
        let mut untracked = 0u32;
        let mut records = 0u32;
        let mut cursor = Some(0);
        while let Some(from) = cursor {
            let r = self.client.info(from);
            let Outcome::Ok(page) = self.count("info", r) else {
                return;
            };
            for rec in page.records.iter() {
                records += 1;
                if rec.owner != me {
                    foreign += 1;
                } else if self.owning(rec.start.0).is_none()
                    && !matches!(rec.kind, ipc::AreaKind::Vmalloc)
                {
                    // The heap's own vmalloc chunks are not tracked here;
                    // every other area of ours is, between steps.
                    untracked += 1;
                }
            }
            cursor = page.next_cursor;
        }
        if foreign != 0 || untracked != 0 {
            self.wrong(format_args!(
                "info listed {records} areas: {foreign} of other clients, {untracked} unknown"
            ));
        }
        let r = self.client.stats();
        if let Outcome::Ok(s) = self.count("stats", r) {
            if s.clients.iter().any(|u| u.client != me) {
                self.wrong(format_args!("stats shows other clients' usage"));
            }
        }
    }

    // --- hostile traffic -----------------------------------------------

    /// A size near 0 or near 2^32.
    fn edge_size(&mut self) -> u32 {
        const EDGES: [u32; 10] = [
            0,
            1,
            2,
            4095,
            4097,
            0x7fff_ffff,
            0x8000_0000,
            0xffff_f000,
            0xffff_f001,
            u32::MAX,
        ];
        let e = EDGES[(self.rng.next() % EDGES.len() as u32) as usize];
        if self.one_in(4) {
            e.wrapping_sub(self.rng.range(0, 16))
        } else {
            e
        }
    }

    fn edge_sizes(&mut self) {
        let size = self.edge_size();
        match self.rng.next() % 3 {
            0 => {
                let align = match self.rng.next() % 4 {
                    0 => 0,
                    1 => self.edge_size(),
                    2 => 1 << self.rng.range(0, 31),
                    _ => P,
                };
                let r = self
                    .client
                    .vmalloc_with(size, align, VmallocFlags::NONE, 0xed6e)
                    .map(|a| a.into_raw());
                if let Outcome::Ok((addr, got)) = self.count("vmalloc(edge size)", r) {
                    if got < size || size == 0 {
                        self.wrong(format_args!("vmalloc({size:#x}) -> {got:#x} bytes"));
                    }
                    self.make_room();
                    self.adopt(addr, got, Kind::Vmalloc);
                }
            }
            1 => {
                let pages = if self.one_in(2) { size } else { size >> 12 };
                let r = self.client.dma_alloc(pages).map(|d| d.into_raw());
                if let Outcome::Ok((addr, got)) = self.count("dma_alloc(edge size)", r) {
                    self.make_room();
                    self.adopt(addr, got, Kind::Dma);
                }
            }
            _ => {
                let phys = self.edge_size();
                let r = self
                    .client
                    .ioremap(PhysAddr(phys), size, MemType::Device)
                    .map(|m| m.into_raw());
                if let Outcome::Ok((addr, _)) = self.count("ioremap(edge)", r) {
                    // Only its granted range may succeed.
                    if !device::inside(&self.device, phys, size) {
                        self.wrong(format_args!("ioremap({phys:#x}, {size:#x}) succeeded"));
                    }
                    let _ = self.client.iounmap_addr(addr);
                }
            }
        }
    }

    /// An address that is probably not ours: random, in the busy low part
    /// of the window (other instances' areas), stale, or inside ours.
    fn hostile_addr(&mut self) -> u32 {
        match self.rng.next() % 5 {
            0 => self.rng.next(),
            // A page near one of ours: the other instances' areas lie
            // among ours (lowest fit).
            1 => match self.random_live().and_then(|i| self.live[i]) {
                Some(l) => (l.addr.0 & !(P - 1))
                    .wrapping_sub(32 * P)
                    .wrapping_add((self.rng.next() % 64) * P),
                None => 0x4000_0000 + (self.rng.next() % 1024) * P,
            },
            2 => self.stale[(self.rng.next() as usize) % STALE].0,
            3 => match self.random_live().and_then(|i| self.live[i]) {
                Some(l) => l.addr.0 + 1 + self.rng.next() % l.size,
                None => self.rng.next(),
            },
            _ => 0x4000_0000 + (self.rng.next() % 0x0f00_0000),
        }
    }

    fn random_addresses(&mut self) {
        let addr = self.hostile_addr();
        let va = VirtAddr(addr);
        let ours = self.owning(addr);
        let ours_start = ours.filter(|&i| self.live[i].is_some_and(|l| l.addr == va));
        let c = self.client;
        match self.rng.next() % 5 {
            4 => {
                let r = c.virt_to_phys(va);
                if let Outcome::Ok(_) = self.count("virt_to_phys(hostile)", r) {
                    if ours.is_none() {
                        self.wrong(format_args!(
                            "virt_to_phys({addr:#010x}) of a page not ours succeeded"
                        ));
                    }
                }
            }
            // The start of one of our areas: a legal free, made through
            // the normal path (verified first).
            _ if ours_start.is_some() => {
                if let Some(i) = ours_start {
                    self.release_slot(i, true);
                }
            }
            k => {
                let r = match k {
                    0 => c.vfree_addr(va).map(|_| ()),
                    1 => c.iounmap_addr(va),
                    2 => c.vunmap_addr(va),
                    _ => c.dma_free_addr(va),
                };
                if let Outcome::Ok(()) = self.count("free(hostile address)", r) {
                    self.wrong(format_args!(
                        "free of {addr:#010x} (not an area of ours) succeeded"
                    ));
                }
            }
        }
    }

    /// Makes sure a slot is free before a request that may allocate.
    fn make_room(&mut self) {
        if self.free_slot().is_none() {
            if let Some(i) = self.random_live() {
                self.release_slot(i, false);
            }
        }
    }

    /// Sends `len` bytes of the IPC buffer as they are and checks the
    /// reply. The bytes are decoded here first, as the server will: a
    /// message that happens to be a valid request is handled as one. The
    /// caller made room for an area first ([`make_room`](Self::make_room)
    /// talks to the server through the same buffer: never between writing
    /// the message and sending it).
    fn raw(&mut self, len: usize) {
        let predicted = decode_request(&sys::ipc_buffer().bytes[..len]);
        let sent_seq = u32::from_le_bytes([
            sys::ipc_buffer().bytes[4],
            sys::ipc_buffer().bytes[5],
            sys::ipc_buffer().bytes[6],
            sys::ipc_buffer().bytes[7],
        ]);
        if let Ok((_, req)) = &predicted {
            // A free of one of our own live areas would lose track of it;
            // do not send that one.
            let target = match req {
                Request::Vfree(r) => Some(r.addr),
                Request::Iounmap(r) => Some(r.addr),
                Request::Vunmap(r) => Some(r.addr),
                Request::DmaFree(r) => Some(r.addr),
                _ => None,
            };
            if target.is_some_and(|a| self.owning(a.0).is_some()) {
                return;
            }
        }
        self.requests += 1;
        let Some(tag) = MessageTag::new(mem::MEMSERVER_LABEL, len) else {
            return;
        };
        let reply = match sys::call(MEMSERVER, tag) {
            Ok(t) => t,
            Err(e) => {
                self.wrong(format_args!("raw call of {len} bytes: kernel {e}"));
                return;
            }
        };
        let bytes = &sys::ipc_buffer().bytes[..reply.length()];
        let (seq, response) = match decode_response(bytes) {
            Ok(v) => v,
            Err(e) => {
                self.wrong(format_args!(
                    "undecodable reply to a {len}-byte message: {e:?}"
                ));
                return;
            }
        };
        match (&predicted, response) {
            (_, Response::Error(ErrorCode::Internal)) => {
                self.wrong(format_args!("raw {len}-byte message -> Internal"));
            }
            (Err(_), Response::Error(code)) => self.typed_error(code),
            (Err(e), other) => self.wrong(format_args!(
                "invalid message ({e:?}) answered with {:#06x}",
                other.wire_opcode()
            )),
            (Ok((req_seq, _)), _) if seq != *req_seq || seq != sent_seq => {
                self.wrong(format_args!("reply seq {seq}, request seq {req_seq}"));
            }
            (Ok(_), Response::Error(code)) => self.typed_error(code),
            (Ok((_, req)), ok) => self.valid_by_chance(req, ok),
        }
    }

    /// A random message that was a valid request and succeeded.
    fn valid_by_chance(&mut self, req: &Request, ok: Response) {
        match (req, ok) {
            (Request::Vmalloc(_), Response::Vmalloc(a)) => {
                self.adopt(a.addr, a.size, Kind::Vmalloc)
            }
            (Request::DmaAlloc(_), Response::DmaAlloc(a)) => self.adopt(a.addr, a.size, Kind::Dma),
            (Request::Ioremap(_), Response::Ioremap(a)) => {
                let _ = self.client.iounmap_addr(a.addr);
            }
            (Request::Vmap(_), Response::Vmap(a)) => {
                let _ = self.client.vunmap_addr(a.addr);
            }
            (Request::VirtToPhys(r), Response::VirtToPhys(_)) => {
                if self.owning(r.addr.0).is_none() {
                    self.wrong(format_args!(
                        "random virt_to_phys({:#010x}) not ours succeeded",
                        r.addr.0
                    ));
                }
            }
            (
                Request::Vfree(_) | Request::Iounmap(_) | Request::Vunmap(_) | Request::DmaFree(_),
                _,
            ) => self.wrong(format_args!(
                "a random free of an address not ours succeeded"
            )),
            (Request::Info(_) | Request::Stats(_) | Request::Ping(_), _) => {}
            (r, ok) => self.wrong(format_args!(
                "{:?} answered with {:#06x}",
                r.opcode(),
                ok.wire_opcode()
            )),
        }
    }

    /// Writes a header by hand (any field may be wrong); returns the
    /// message length.
    fn put(&mut self, version: u16, opcode: u16, declared: u32, payload_len: usize) -> usize {
        self.raw_seq = self.raw_seq.wrapping_add(1);
        let buf = &mut sys::ipc_buffer().bytes;
        buf[0..2].copy_from_slice(&version.to_le_bytes());
        buf[2..4].copy_from_slice(&opcode.to_le_bytes());
        buf[4..8].copy_from_slice(&self.raw_seq.to_le_bytes());
        buf[8..12].copy_from_slice(&declared.to_le_bytes());
        HEADER_SIZE + payload_len
    }

    /// A call with a tag the kernel must refuse before the server sees
    /// it: a kernel label, reserved bits, a length past the IPC buffer.
    fn bad_tag(&mut self) {
        let length = self.rng.next() & 0xfff;
        let (raw, want) = match self.rng.next() % 3 {
            0 => (
                (0x8000 | self.rng.next()) << 16 | length,
                abi::KernelError::ReservedLabel,
            ),
            1 => (
                u32::from(mem::MEMSERVER_LABEL) << 16 | (1 + self.rng.next() % 7) << 13 | length,
                abi::KernelError::InvalidArgument,
            ),
            _ => (
                u32::from(mem::MEMSERVER_LABEL) << 16 | self.rng.range(4097, 8191),
                abi::KernelError::MessageTooLong,
            ),
        };
        self.requests += 1;
        match sys::call_raw(MEMSERVER, raw) {
            Err(e) if e == want => self.typed += 1,
            other => self.wrong(format_args!(
                "call with tag {raw:#010x} -> {:?}, expected {want:?}",
                other.map(|t| t.raw())
            )),
        }
    }

    /// Random opcode and payload bytes.
    fn garbage(&mut self) {
        if self.one_in(16) {
            self.bad_tag();
            return;
        }
        self.make_room();
        let opcode = match self.rng.next() % 4 {
            0 => self.rng.next() as u16,
            1 => Opcode::ALL[(self.rng.next() as usize) % Opcode::ALL.len()].reply_wire(),
            _ => Opcode::ALL[(self.rng.next() as usize) % Opcode::ALL.len()].to_wire(),
        };
        let max = abi::IPC_BUFFER_SIZE - HEADER_SIZE;
        let payload_len = if self.one_in(16) {
            self.rng.next() as usize % (max + 1)
        } else {
            self.rng.next() as usize % 24
        };
        {
            let buf = &mut sys::ipc_buffer().bytes;
            let mut x = self.rng.next();
            for b in &mut buf[HEADER_SIZE..HEADER_SIZE + payload_len] {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                *b = x as u8;
            }
        }
        let declared = if self.one_in(8) {
            self.rng.next() % 5000
        } else {
            payload_len as u32
        };
        let version = if self.one_in(8) {
            self.rng.next() as u16
        } else {
            PROTOCOL_VERSION
        };
        let len = self.put(version, opcode, declared, payload_len);
        self.raw(len);
    }

    /// A valid request cut short, or with a wrong version or length field.
    fn truncated(&mut self) {
        self.make_room();
        let req = match self.rng.next() % 5 {
            0 => Request::Vmalloc(VmallocRequest {
                size: self.rng.range(1, 64) * P,
                align: P,
                flags: VmallocFlags::NONE,
                caller: self.rng.next(),
            }),
            1 => Request::Vfree(VfreeRequest {
                addr: VirtAddr(self.hostile_addr()),
            }),
            2 => Request::DmaAlloc(DmaAllocRequest {
                pages: self.rng.range(1, 4),
                caller: self.rng.next(),
            }),
            3 => Request::Ioremap(IoremapRequest {
                phys: PhysAddr(self.device.page()),
                size: P,
                mem_type: MemType::Device,
                caller: self.rng.next(),
            }),
            _ => Request::VirtToPhys(VirtToPhysRequest {
                addr: VirtAddr(self.hostile_addr()),
            }),
        };
        self.raw_seq = self.raw_seq.wrapping_add(1);
        let Ok(full) = encode_request(self.raw_seq, &req, &mut sys::ipc_buffer().bytes[..]) else {
            return;
        };
        let payload = full - HEADER_SIZE;
        let len = match self.rng.next() % 4 {
            // Cut anywhere (header included), length field unchanged.
            0 => self.rng.next() as usize % full,
            // Cut inside the payload, length field fixed to match.
            1 if payload > 0 => {
                let cut = self.rng.next() as usize % payload;
                sys::ipc_buffer().bytes[8..12].copy_from_slice(&(cut as u32).to_le_bytes());
                HEADER_SIZE + cut
            }
            // Wrong version.
            2 => {
                let v = loop {
                    let v = self.rng.next() as u16;
                    if v != PROTOCOL_VERSION {
                        break v;
                    }
                };
                sys::ipc_buffer().bytes[0..2].copy_from_slice(&v.to_le_bytes());
                full
            }
            // Wrong length field.
            _ => {
                let declared = (payload as u32).wrapping_add(self.rng.range(1, 300));
                sys::ipc_buffer().bytes[8..12].copy_from_slice(&declared.to_le_bytes());
                full
            }
        };
        self.raw(len);
    }

    /// One step of the mix.
    fn step(&mut self) {
        match self.rng.next() % 100 {
            0..=17 => {
                self.make_room();
                self.valid_vmalloc();
            }
            18..=29 => {
                if let Some(i) = self.random_live() {
                    let twice = self.one_in(4);
                    self.release_slot(i, twice);
                }
            }
            30..=35 => {
                self.make_room();
                self.valid_dma();
            }
            36..=41 => self.valid_vmap(),
            42..=45 => self.ioremap(),
            46..=49 => self.duplicate_frames(),
            50..=58 => self.edge_sizes(),
            59..=70 => self.random_addresses(),
            71..=82 => self.garbage(),
            83..=92 => self.truncated(),
            93..=95 => self.info_and_stats(),
            _ => {
                let nonce = self.rng.next();
                let r = self.client.ping(nonce);
                let _ = self.count("ping", r);
            }
        }
    }
}

/// Whether sampled words of every page (the pattern's positions) read 0.
///
/// # Safety
/// The range must be mapped readable for this task.
unsafe fn sampled_zero(addr: VirtAddr, size: u32) -> bool {
    let base = addr.0 as usize as *const u32;
    let words_per_page = (P / 4) as usize;
    (0..(size / P) as usize).all(|page| {
        (0..16)
            .map(|i| i * words_per_page / 16)
            .chain(core::iter::once(words_per_page - 1))
            // SAFETY: inside the range the caller vouches for.
            .all(|w| unsafe { base.add(page * words_per_page + w).read_volatile() } == 0)
    })
}

/// The patched parameters, read with volatile loads (the compiler must
/// not fold the zeroes it sees in the source): (seed, count) if given.
fn params() -> (Option<u32>, Option<u32>) {
    // SAFETY: reads of an initialised static's words, in bounds.
    let (given, seed, count) = unsafe {
        (
            core::ptr::addr_of!(FUZZ_PARAMS[2]).read_volatile(),
            core::ptr::addr_of!(FUZZ_PARAMS[3]).read_volatile(),
            core::ptr::addr_of!(FUZZ_PARAMS[4]).read_volatile(),
        )
    };
    (
        (given & 1 != 0).then_some(seed),
        (given & 2 != 0).then_some(count),
    )
}

/// The fuzz role; `param` is the manifest's seed (instance number 1-3).
pub fn run(param: u32) -> i32 {
    let (seed_base, count) = params();
    let seed = match seed_base {
        Some(s) => s.wrapping_add(param.wrapping_sub(1)),
        None => param,
    };
    let target = count.map_or(DEFAULT_REQUESTS, u64::from);
    let client = mem::client(MEMSERVER);
    let Some(device) = crate::granted_device("fuzz") else {
        return 1;
    };
    // The reference identity, through a first mapping of the device.
    let device_id = match client.ioremap(PhysAddr(device.page()), P, MemType::Device) {
        // SAFETY: the granted device's page, mapped for this task; its
        // identification registers have no read side effects.
        Ok(io) => unsafe { device::identity(device.role(), io.addr().0 + device.info.offset()) },
        Err(e) => {
            error!("fuzz: ioremap of its granted device: {e:?}");
            return 1;
        }
    };
    info!(
        "fuzz: seed {seed}: granted {} at {:#010x}, identity {device_id:x?}",
        dev::role_name(device.role()),
        device.phys()
    );
    let me = match mem::badge(MEMSERVER) {
        Ok(b) => b,
        Err(e) => {
            error!("fuzz: no server endpoint: {e}");
            return 1;
        }
    };
    let mut f = Fuzzer {
        client: &client,
        rng: Rng::new(seed.wrapping_mul(0x9e37_79b9) ^ 0x5eed),
        me,
        live: [None; SLOTS],
        stale: [VirtAddr(0x4000_0000); STALE],
        stale_at: 0,
        raw_seq: 0x8000_0000,
        requests: 0,
        pages: 0,
        typed: 0,
        by_code: [0; 32],
        data_errors: 0,
        wrong: 0,
        device,
        device_id,
    };
    info!("fuzz: seed {seed}: {target} requests");
    let (t0, hz) = sys::read_counter();
    let mut next_report = 0u64;
    while f.requests < target {
        f.step();
        if f.requests >= next_report {
            if next_report > 0 {
                info!(
                    "fuzz: seed {seed}: {} requests so far, {} pages verified",
                    f.requests, f.pages
                );
            }
            next_report += target.div_ceil(4).max(1);
        }
    }
    for i in 0..SLOTS {
        f.release_slot(i, false);
    }
    let alive = client.ping(0x000a_117e).is_ok();
    let ticks = sys::read_counter().0.saturating_sub(t0);
    info!(
        "fuzz: seed {seed}: {} requests, {} pages verified, {} typed errors, {} data errors",
        f.requests, f.pages, f.typed, f.data_errors
    );
    let mut line = LineBuf::new();
    let _ = write!(line, "fuzz: seed {seed}: typed errors by code:");
    for code in ErrorCode::ALL {
        let n = f.by_code[usize::from(code.to_wire())];
        if n != 0 {
            let _ = write!(line, " {code:?} {n}");
        }
    }
    line.log();
    info!(
        "fuzz: seed {seed}: {} wrong replies, server alive: {alive}, {} ms of guest time",
        f.wrong,
        ticks * 1000 / u64::from(hz.max(1))
    );
    if f.data_errors == 0 && f.wrong == 0 && alive {
        0
    } else {
        1
    }
}
