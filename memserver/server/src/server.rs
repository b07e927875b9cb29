//! [`Server`]: decode → validate → account → act → encode.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use abi::{KernelError, MapAttrs, MemType};
use abi::{Pfn, VirtAddr, PAGE_SHIFT, PAGE_SIZE};
use buddy::BuddyPool;
use ipc::{decode_response, encode_request, HEADER_SIZE, MAX_MESSAGE_SIZE};
use ipc::{
    encode_reply_body, encode_reply_error, peek_sequence, split_request, AreaKind, AreaRecord,
    BoundedVec, ClientUsage, DmaAllocOk, DmaAllocRequest, DmaFreeOk, DmaFreeRequest, ErrorCode,
    InfoOk, InfoRequest, IoremapOk, IoremapRequest, IounmapOk, IounmapRequest, Opcode, PingOk,
    PingRequest, Request, RequestBody, Response, StatsOk, StatsRequest, VfreeOk, VfreeRequest,
    VirtToPhysOk, VirtToPhysRequest, VmallocFlags, VmallocOk, VmallocRequest, VmapFlags, VmapOk,
    VmapRequest, VmapSource, VunmapOk, VunmapRequest, INFO_MAX_RECORDS, NR_ORDERS,
    STATS_MAX_CLIENTS,
};
use ipc::{RangeState, WindowMapOk, WindowMapRequest, WindowRange, WINDOW_MAP_MAX_RANGES};
use memcore::{FrameAllocator, Mapper, MemCore, MemError, OwnerId, VmFlags, VmStruct};

use crate::config::{ClientConfig, ClientId, ConfigError, PhysRange, Quota, ServerConfig};
use crate::report::{ClientView, ExitSummary, FaultOutcome, LeakGroup, OverrunReport, Usage};

type Result<T> = core::result::Result<T, ErrorCode>;

/// One row of the client table.
#[derive(Debug)]
struct ClientState {
    quota: Quota,
    devices: Vec<PhysRange>,
    usage: Usage,
    /// Listed in the manifest: the row (quota, grants) outlives an exit.
    configured: bool,
    /// May see every client's areas and usage (`Info`, `Stats`).
    observer: bool,
}

impl ClientState {
    /// Refuses a new area of `pages` frames spanning `window_pages` pages
    /// of the window (guard included) that would take the client past its
    /// quota. Checked before anything changes, so a refusal changes
    /// nothing. O(1): arithmetic on the row.
    fn check_quota(&self, pages: u32, window_pages: u32) -> Result<()> {
        let u = &self.usage;
        let q = &self.quota;
        let pages_ok = u64::from(u.pages) + u64::from(pages) <= u64::from(q.max_pages);
        let areas_ok = u64::from(u.areas) < u64::from(q.max_areas);
        let window_ok =
            u64::from(u.window_pages) + u64::from(window_pages) <= u64::from(q.max_window_pages);
        if pages_ok && areas_ok && window_ok {
            Ok(())
        } else {
            Err(ErrorCode::QuotaExceeded)
        }
    }
}

/// The client table: rows sorted by badge in a vector (a handful of
/// clients: a binary search over one cache line or two beats a B-tree's
/// node walk on every request). Same interface as the `BTreeMap` it
/// replaced, iteration in badge order included.
#[derive(Debug, Default)]
struct ClientTable {
    rows: Vec<(ClientId, ClientState)>,
}

impl ClientTable {
    #[inline]
    fn position(&self, id: &ClientId) -> core::result::Result<usize, usize> {
        self.rows.binary_search_by(|(k, _)| k.cmp(id))
    }
    #[inline]
    fn get(&self, id: &ClientId) -> Option<&ClientState> {
        self.position(id).ok().map(|i| &self.rows[i].1)
    }
    #[inline]
    fn get_mut(&mut self, id: &ClientId) -> Option<&mut ClientState> {
        match self.position(id) {
            Ok(i) => Some(&mut self.rows[i].1),
            Err(_) => None,
        }
    }
    fn insert(&mut self, id: ClientId, row: ClientState) -> Option<ClientState> {
        match self.position(&id) {
            Ok(i) => Some(core::mem::replace(&mut self.rows[i].1, row)),
            Err(i) => {
                self.rows.insert(i, (id, row));
                None
            }
        }
    }
    fn remove(&mut self, id: &ClientId) -> Option<ClientState> {
        self.position(id).ok().map(|i| self.rows.remove(i).1)
    }
    fn iter(&self) -> impl Iterator<Item = (&ClientId, &ClientState)> + '_ {
        self.rows.iter().map(|(k, v)| (k, v))
    }
}

impl<'a> IntoIterator for &'a ClientTable {
    type Item = (&'a ClientId, &'a ClientState);
    type IntoIter = core::iter::Map<
        core::slice::Iter<'a, (ClientId, ClientState)>,
        fn(&'a (ClientId, ClientState)) -> (&'a ClientId, &'a ClientState),
    >;
    fn into_iter(self) -> Self::IntoIter {
        self.rows.iter().map(|(k, v)| (k, v))
    }
}

/// Where a request is read and its reply written.
trait Io {
    /// The whole request message (header included).
    fn request(&self) -> &[u8];
    /// The reply buffer.
    fn reply(&mut self) -> &mut [u8];
}

/// Request and reply in separate buffers.
struct Split<'a> {
    request: &'a [u8],
    reply: &'a mut [u8],
}

impl Io for Split<'_> {
    fn request(&self) -> &[u8] {
        self.request
    }
    fn reply(&mut self) -> &mut [u8] {
        self.reply
    }
}

/// The request is the first `len` bytes of the reply buffer.
struct InPlace<'a> {
    buffer: &'a mut [u8],
    len: usize,
}

impl Io for InPlace<'_> {
    fn request(&self) -> &[u8] {
        &self.buffer[..self.len]
    }
    fn reply(&mut self) -> &mut [u8] {
        self.buffer
    }
}

/// What the server needs to know about one live area, read from its
/// `vm_struct` before acting on it.
struct AreaFacts {
    kind: AreaKind,
    /// Mapped bytes (guard page excluded).
    size: u32,
    /// Frames the area owns (charged to its owner).
    owned_pages: u32,
    /// Pages of the window it reserves (guard page included).
    window_pages: u32,
}

fn kind_of(flags: VmFlags) -> AreaKind {
    // VM_ALLOC first: it is the only kind that carries extra flag bits
    // (VM_ZEROED, VM_NO_GUARD) a caller chose.
    if flags.contains(VmFlags::VM_ALLOC) {
        AreaKind::Vmalloc
    } else if flags.contains(VmFlags::VM_DMA) {
        AreaKind::Dma
    } else if flags.contains(VmFlags::VM_IOREMAP) {
        AreaKind::Ioremap
    } else {
        AreaKind::Vmap
    }
}

/// Mapped bytes of an area whose reservation is `[start, end)`.
fn mapped_size(start: VirtAddr, end: VirtAddr, flags: VmFlags) -> u32 {
    let span = end.0.wrapping_sub(start.0);
    if flags.contains(VmFlags::VM_NO_GUARD) {
        span
    } else {
        span.saturating_sub(PAGE_SIZE)
    }
}

/// The facts of area `a` if it is `client`'s and of `kind`; errors in
/// the order Linux's `vfree` checks them (after the lookup itself).
#[inline]
fn area_facts(
    client: ClientId,
    a: &vmap::AreaRef<'_, VmStruct>,
    kind: AreaKind,
) -> Result<AreaFacts> {
    let vm = a.private;
    if vm.owner() != OwnerId::from(client) {
        return Err(ErrorCode::NotOwner);
    }
    let facts = AreaFacts {
        kind: kind_of(vm.flags()),
        size: mapped_size(a.va_start, a.va_end, vm.flags()),
        owned_pages: owned_pages(vm),
        window_pages: window_pages(a.va_start, a.va_end),
    };
    if facts.kind != kind {
        return Err(ErrorCode::WrongAreaKind);
    }
    Ok(facts)
}

/// Frames an area owns, as `(first pfn, count)` runs: the vmalloc blocks,
/// or the DMA buffer's contiguous frames. Empty for ioremap and vmap.
fn owned_runs(vm: &VmStruct) -> impl Iterator<Item = (u32, u32)> + '_ {
    let blocks = vm
        .flags()
        .contains(VmFlags::VM_ALLOC)
        .then(|| vm.frames().map(|b| (b.pfn.0, b.pages())));
    let dma = (vm.flags().contains(VmFlags::VM_DMA) && vm.requested_size() != 0)
        .then(|| (vm.phys_addr().pfn().0, dma_pages(vm)));
    blocks.into_iter().flatten().chain(dma)
}

/// Pages of the window an area reserves: `[start, end)` is its whole
/// reservation, guard page included; alignment padding is not part of it.
fn window_pages(start: VirtAddr, end: VirtAddr) -> u32 {
    end.0.wrapping_sub(start.0) >> PAGE_SHIFT
}

/// The `pages=` of an area's vmallocinfo record.
fn record_pages(kind: AreaKind, vm: &VmStruct) -> u32 {
    match kind {
        AreaKind::Ioremap => 0,
        AreaKind::Dma => dma_pages(vm),
        AreaKind::Vmalloc | AreaKind::Vmap => vm.nr_pages(),
    }
}

fn dma_pages(vm: &VmStruct) -> u32 {
    vm.requested_size().div_ceil(PAGE_SIZE)
}

fn owned_pages(vm: &VmStruct) -> u32 {
    if vm.flags().contains(VmFlags::VM_ALLOC) {
        vm.nr_pages()
    } else if vm.flags().contains(VmFlags::VM_DMA) {
        dma_pages(vm)
    } else {
        0
    }
}

/// The wire code of a core error. `MapFailed` is the kernel refusing a
/// call the server made after validating it: attributes the capability
/// does not allow are the caller's choice (`PermissionDenied`), the
/// client's own page-table quota is its resource (`QuotaExceeded`), the
/// kernel's memory a shared one (`OutOfMemory`); any other refusal is the
/// server's fault, not the caller's, hence `Internal`.
fn wire(e: MemError) -> ErrorCode {
    match e {
        MemError::MapFailed(refusal) => match refusal.kernel_error() {
            KernelError::AttributesNotAllowed => ErrorCode::PermissionDenied,
            KernelError::KernelQuotaExceeded => ErrorCode::QuotaExceeded,
            KernelError::OutOfKernelMemory => ErrorCode::OutOfMemory,
            _ => ErrorCode::Internal,
        },
        MemError::DuplicateFrame => ErrorCode::DuplicateFrame,
        MemError::InvalidSize | MemError::InvalidRange => ErrorCode::InvalidSize,
        MemError::BadAlignment => ErrorCode::BadAlignment,
        MemError::NoVirtualSpace => ErrorCode::NoVirtualSpace,
        MemError::OutOfMemory => ErrorCode::OutOfMemory,
        MemError::NotFound => ErrorCode::NotFound,
        MemError::NotOwner => ErrorCode::NotOwner,
        MemError::UnalignedAddress => ErrorCode::UnalignedAddress,
        MemError::PermissionDenied => ErrorCode::PermissionDenied,
    }
}

/// The memory server: the allocator core plus the client table.
///
/// Generic over the hardware side only ([`Mapper`]): the frame pool is the
/// real [`BuddyPool`], because `Stats` reports its per-order free counts,
/// which memcore's `FrameAllocator` trait does not expose.
pub struct Server<M: Mapper> {
    core: MemCore<BuddyPool, M>,
    clients: ClientTable,
    ram: Vec<PhysRange>,
    unknown_clients: Option<Quota>,
    /// Bytes of the window: nothing larger can ever be mapped.
    window_bytes: u32,
    /// Each observer's last window-map snapshot, paged by `WindowMap`
    /// cursors (dropped after its last page or when the observer exits).
    window_maps: BTreeMap<ClientId, WindowSnapshot>,
}

/// The whole window map at one moment, as one observer pages through it.
#[derive(Debug)]
struct WindowSnapshot {
    /// The reply's totals (its `ranges` empty, `next_cursor` none).
    totals: WindowMapOk,
    /// Every range, in address order.
    ranges: Vec<WindowRange>,
}

impl<M: Mapper> core::fmt::Debug for Server<M> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Server")
            .field("clients", &self.clients)
            .field("pool", self.core.frames())
            .finish_non_exhaustive()
    }
}

impl<M: Mapper> Server<M> {
    /// A server over `config.window`, the frame pool `pool` (the Pool
    /// capability's RAM, already added) and the hardware `mapper`.
    pub fn new(
        config: ServerConfig,
        pool: BuddyPool,
        mapper: M,
    ) -> core::result::Result<Self, ConfigError> {
        let ServerConfig {
            window,
            ram,
            clients: configs,
            unknown_clients,
        } = config;
        let valid = |r: &PhysRange| r.size != 0 && r.end() <= 1 << 32;
        if let Some(bad) = ram.iter().find(|r| !valid(r)) {
            return Err(ConfigError::InvalidRange(*bad));
        }
        let mut clients = ClientTable::default();
        for ClientConfig {
            client,
            quota,
            devices,
            observer,
        } in configs
        {
            for d in &devices {
                if !valid(d) {
                    return Err(ConfigError::InvalidRange(*d));
                }
                let is_ram = ram
                    .iter()
                    .any(|r| r.overlaps(u64::from(d.start.0), d.end()))
                    || pool_overlaps(&pool, d.start.0.into(), d.end());
                if is_ram {
                    return Err(ConfigError::DeviceIsRam { client, range: *d });
                }
            }
            let row = ClientState {
                quota,
                devices,
                usage: Usage::default(),
                configured: true,
                observer,
            };
            if clients.insert(client, row).is_some() {
                return Err(ConfigError::DuplicateClient(client));
            }
        }
        let window_bytes = window.end.0.wrapping_sub(window.start.0);
        let core = MemCore::new(window, pool, mapper).map_err(|_| ConfigError::InvalidWindow)?;
        Ok(Self {
            core,
            clients,
            ram,
            unknown_clients,
            window_bytes,
            window_maps: BTreeMap::new(),
        })
    }

    // ------------------------------------------------------------------
    // The protocol entry point.

    /// Serves one request: `request` is the message the kernel delivered
    /// from `client` (its badge); the reply is written to `reply` and its
    /// length returned (the reply tag's length).
    ///
    /// Never panics. A message that does not decode gets an error reply
    /// (`Malformed`, `TooLarge`, `UnsupportedVersion`, `UnknownOpcode`)
    /// carrying its sequence number when the header was readable, else 0.
    /// `reply` should be a whole IPC buffer ([`MAX_MESSAGE_SIZE`] bytes):
    /// if it is shorter the request is not acted on (a success the client
    /// never hears of would leak until it exits) and an `Internal` error is
    /// replied if it fits; 0 is returned if nothing fits.
    pub fn handle(&mut self, client: ClientId, request: &[u8], reply: &mut [u8]) -> usize {
        let (seq, opcode) = match split_request(request) {
            Ok((seq, opcode, _)) => (seq, opcode),
            Err(e) => {
                let seq = peek_sequence(request).unwrap_or(0);
                return encode_reply_error(seq, e.to_error_code(), reply).unwrap_or(0);
            }
        };
        if reply.len() < MAX_MESSAGE_SIZE {
            return encode_reply_error(seq, ErrorCode::Internal, reply).unwrap_or(0);
        }
        self.handle_io(client, seq, opcode, &mut Split { request, reply })
    }

    /// [`Server::handle`] for a request that is the first `len` bytes of
    /// `buffer`, answered in the same buffer (the task's IPC buffer): the
    /// request is decoded before anything is written, so it need not be
    /// copied out first. Same answers as `handle`.
    pub fn handle_in_place(&mut self, client: ClientId, buffer: &mut [u8], len: usize) -> usize {
        let request = &buffer[..len.min(buffer.len())];
        let (seq, opcode) = match split_request(request) {
            Ok((seq, opcode, _)) => (seq, opcode),
            Err(e) => {
                let seq = peek_sequence(request).unwrap_or(0);
                return encode_reply_error(seq, e.to_error_code(), buffer).unwrap_or(0);
            }
        };
        if buffer.len() < MAX_MESSAGE_SIZE {
            return encode_reply_error(seq, ErrorCode::Internal, buffer).unwrap_or(0);
        }
        let len = len.min(buffer.len());
        self.handle_io(client, seq, opcode, &mut InPlace { buffer, len })
    }

    /// The typed path, once the header checked out and the reply buffer is
    /// big enough: only the one body type the opcode names is decoded and
    /// encoded (see `ipc::RequestBody`); `dispatch` gives the same answers
    /// through the `Request`/`Response` enums.
    fn handle_io(&mut self, client: ClientId, seq: u32, opcode: Opcode, io: &mut impl Io) -> usize {
        let out = match opcode {
            Opcode::Vmalloc => self.serve(seq, io, |s, r| s.vmalloc(client, &r)),
            Opcode::Vfree => self.serve(seq, io, |s, r| s.op_vfree(client, &r)),
            Opcode::Ioremap => self.serve(seq, io, |s, r| s.ioremap(client, &r)),
            Opcode::Iounmap => self.serve(seq, io, |s, r| s.op_iounmap(client, &r)),
            Opcode::Vmap => self.serve(seq, io, |s, r| s.vmap(client, &r)),
            Opcode::Vunmap => self.serve(seq, io, |s, r| s.op_vunmap(client, &r)),
            Opcode::DmaAlloc => self.serve(seq, io, |s, r| s.dma_alloc(client, &r)),
            Opcode::DmaFree => self.serve(seq, io, |s, r| s.op_dma_free(client, &r)),
            Opcode::VirtToPhys => self.serve(seq, io, |s, r| s.op_virt_to_phys(client, &r)),
            Opcode::Info => self.serve(seq, io, |s, r: InfoRequest| Ok(s.info(client, r.cursor))),
            Opcode::Stats => self.serve(seq, io, |s, _: StatsRequest| Ok(s.stats(client))),
            Opcode::Ping => self.serve(seq, io, |_, r: PingRequest| Ok(PingOk { nonce: r.nonce })),
            Opcode::WindowMap => self.serve(seq, io, |s, r: WindowMapRequest| {
                s.window_map_page(client, r.cursor)
            }),
        };
        out.unwrap_or(0)
    }

    /// Decodes an `R`, runs `op` on it and encodes its reply or error.
    fn serve<R: RequestBody>(
        &mut self,
        seq: u32,
        io: &mut impl Io,
        op: impl FnOnce(&mut Self, R) -> Result<R::Reply>,
    ) -> core::result::Result<usize, ipc::EncodeError> {
        // The body is owned once decoded: the reply may then overwrite
        // the request.
        let decoded = R::decode_payload(io.request().get(HEADER_SIZE..).unwrap_or(&[]));
        let result = decoded
            .map_err(|e| e.to_error_code())
            .and_then(|r| op(self, r));
        let reply = io.reply();
        match result {
            Ok(ok) => encode_reply_body::<R>(seq, &ok, reply),
            Err(code) => encode_reply_error(seq, code, reply),
        }
    }

    /// Acts on a decoded request from `client` (the enum path: tests and
    /// tools that hold a `Request`). It goes through the wire format and
    /// `handle`, so there is one opcode table and one codec per body.
    pub fn dispatch(&mut self, client: ClientId, request: &Request) -> Response {
        let mut buf = [0u8; MAX_MESSAGE_SIZE];
        let Ok(len) = encode_request(0, request, &mut buf) else {
            // Unreachable: every request fits (checked by ipc's size bounds).
            return Response::Error(ErrorCode::TooLarge);
        };
        let n = self.handle_in_place(client, &mut buf, len);
        match buf.get(..n).map(decode_response) {
            Some(Ok((_, response))) => response,
            _ => Response::Error(ErrorCode::Internal),
        }
    }

    fn op_vfree(&mut self, client: ClientId, r: &VfreeRequest) -> Result<VfreeOk> {
        self.release(client, r.addr, AreaKind::Vmalloc)
            .map(|size| VfreeOk { size })
    }

    fn op_iounmap(&mut self, client: ClientId, r: &IounmapRequest) -> Result<IounmapOk> {
        self.release(client, r.addr.page_align_down(), AreaKind::Ioremap)
            .map(|_| IounmapOk {})
    }

    fn op_vunmap(&mut self, client: ClientId, r: &VunmapRequest) -> Result<VunmapOk> {
        self.release(client, r.addr, AreaKind::Vmap)
            .map(|_| VunmapOk {})
    }

    fn op_dma_free(&mut self, client: ClientId, r: &DmaFreeRequest) -> Result<DmaFreeOk> {
        self.release(client, r.addr, AreaKind::Dma)
            .map(|_| DmaFreeOk {})
    }

    fn op_virt_to_phys(&mut self, client: ClientId, r: &VirtToPhysRequest) -> Result<VirtToPhysOk> {
        self.core
            .virt_to_phys(r.addr, client.into())
            .map(|phys| VirtToPhysOk { phys })
            .map_err(wire)
    }

    // ------------------------------------------------------------------
    // Client lifecycle.

    /// The client exited: frees every area it holds (memcore `reclaim`)
    /// and zeroes its usage. A manifest client keeps its row (quota and
    /// grants) for a restart under the same badge; an admitted unknown
    /// badge loses it.
    pub fn client_exited(&mut self, client: ClientId) -> ExitSummary {
        self.window_maps.remove(&client);
        let leaks = self.leak_groups(client);
        let stats = self.core.reclaim(client.into());
        let usage = match self.clients.get_mut(&client) {
            Some(row) => core::mem::take(&mut row.usage),
            None => Usage::default(),
        };
        if self.clients.get(&client).is_some_and(|row| !row.configured) {
            self.clients.remove(&client);
        }
        ExitSummary {
            client,
            areas: stats.areas,
            pages_unmapped: stats.pages,
            frames_released: usage.pages,
            ioremaps: usage.ioremaps,
            dma_pages: usage.dma_pages,
            leaks,
        }
    }

    /// The client's live areas grouped by caller tag, ascending (before a
    /// reclaim: what it leaked). Its heap's areas
    /// ([`ipc::HEAP_CALLER_TAG`]) are held for the task's lifetime by
    /// design and are not listed.
    pub fn leak_groups(&self, client: ClientId) -> Vec<LeakGroup> {
        let owner = OwnerId::from(client);
        let mut groups: BTreeMap<u32, LeakGroup> = BTreeMap::new();
        let leaked = |vm: &VmStruct| vm.owner() == owner && vm.caller() != ipc::HEAP_CALLER_TAG;
        for a in self.core.window().iter().filter(|a| leaked(a.private)) {
            let vm = a.private;
            let g = groups.entry(vm.caller()).or_insert(LeakGroup {
                caller: vm.caller(),
                ..LeakGroup::default()
            });
            g.areas += 1;
            g.bytes = g
                .bytes
                .saturating_add(mapped_size(a.va_start, a.va_end, vm.flags()));
        }
        groups.into_values().collect()
    }

    /// The client faulted at `addr` (the kernel suspended it). If `addr` is
    /// in the guard page of one of its areas, or in the page just past an
    /// area without a guard, the outcome names that area; then everything
    /// the client held is reclaimed as on exit (a faulted task does not
    /// resume).
    pub fn client_faulted(&mut self, client: ClientId, addr: VirtAddr) -> FaultOutcome {
        let overrun = self.overrun_at(client, addr);
        FaultOutcome {
            overrun,
            reclaimed: self.client_exited(client),
        }
    }

    /// The client's area that `addr` lies just past, if any.
    fn overrun_at(&self, client: ClientId, addr: VirtAddr) -> Option<OverrunReport> {
        let owner = OwnerId::from(client);
        let report = |start: VirtAddr, end: VirtAddr, vm: &VmStruct| {
            let size = mapped_size(start, end, vm.flags());
            let past = u64::from(addr.0).checked_sub(u64::from(start.0) + u64::from(size))?;
            (vm.owner() == owner && past < u64::from(PAGE_SIZE)).then(|| OverrunReport {
                client,
                fault_addr: addr,
                area_start: start,
                area_size: size,
                requested: vm.requested_size(),
                caller: vm.caller(),
                kind: kind_of(vm.flags()),
            })
        };
        // The guard page of the area holding `addr`, else the area that
        // holds the page before it (an area without a guard page, whose
        // overrun lands in free space or in the next area).
        let window = self.core.window();
        let here = window
            .find(addr)
            .and_then(|a| report(a.va_start, a.va_end, a.private));
        here.or_else(|| {
            let before = window.find(VirtAddr(addr.0.checked_sub(PAGE_SIZE)?))?;
            report(before.va_start, before.va_end, before.private)
        })
    }

    // ------------------------------------------------------------------
    // Accessors for the task and the tests.

    /// The client's row, if it has one.
    pub fn client(&self, client: ClientId) -> Option<ClientView> {
        self.clients.get(&client).map(|row| ClientView {
            client,
            quota: row.quota,
            usage: row.usage,
            configured: row.configured,
        })
    }

    /// The frame pool.
    pub fn pool(&self) -> &BuddyPool {
        self.core.frames()
    }

    /// The hardware side.
    pub fn mapper(&self) -> &M {
        self.core.mapper()
    }

    /// The hardware side, mutably (tests inject failures through it).
    pub fn mapper_mut(&mut self) -> &mut M {
        self.core.mapper_mut()
    }

    /// The allocator core, read-only (vmallocinfo text, statistics).
    pub fn core(&self) -> &MemCore<BuddyPool, impl Mapper> {
        &self.core
    }

    /// Flushes every lazily freed range now (one batched TLB flush) and
    /// returns their frames to the pool. The core does this by itself
    /// when the lazy threshold is passed or an allocation runs short; the
    /// task may also call it when idle.
    pub fn purge(&mut self) {
        self.core.purge();
    }

    /// Checks the core's invariants and that the client table agrees with
    /// the areas the core holds (pages, areas, ioremaps, vmaps, DMA pages
    /// per owner) and with every quota.
    pub fn check_invariants(&self) -> core::result::Result<(), &'static str> {
        self.core.check_invariants()?;
        let mut seen: BTreeMap<u32, Usage> = BTreeMap::new();
        for a in self.core.window().iter() {
            let vm = a.private;
            let u = seen.entry(vm.owner().0).or_default();
            u.areas += 1;
            u.pages += owned_pages(vm);
            u.window_pages += window_pages(a.va_start, a.va_end);
            match kind_of(vm.flags()) {
                AreaKind::Ioremap => u.ioremaps += 1,
                AreaKind::Vmap => u.vmaps += 1,
                AreaKind::Dma => u.dma_pages += dma_pages(vm),
                AreaKind::Vmalloc => {}
            }
        }
        for (id, row) in &self.clients {
            let actual = seen.remove(&id.0).unwrap_or_default();
            if actual != row.usage {
                return Err("server: client usage differs from the core's areas");
            }
            if row.usage.pages > row.quota.max_pages
                || row.usage.areas > row.quota.max_areas
                || row.usage.window_pages > row.quota.max_window_pages
            {
                return Err("server: a client is over its quota");
            }
        }
        if !seen.is_empty() {
            return Err("server: an area belongs to no client in the table");
        }
        Ok(())
    }

    // ------------------------------------------------------------------
    // Requests.

    /// The row of a client about to allocate: its manifest row, or a new
    /// row for an unknown badge if the configuration admits those.
    fn admit(&mut self, client: ClientId) -> Result<&mut ClientState> {
        let i = match self.clients.position(&client) {
            Ok(i) => i,
            Err(i) => {
                let quota = self.unknown_clients.ok_or(ErrorCode::PermissionDenied)?;
                let row = ClientState {
                    quota,
                    devices: Vec::new(),
                    usage: Usage::default(),
                    configured: false,
                    observer: false,
                };
                self.clients.rows.insert(i, (client, row));
                i
            }
        };
        Ok(&mut self.clients.rows[i].1)
    }

    /// Refuses a mapping of `pages` pages (plus its guard page) that no
    /// empty window could hold: `TooLarge`, not `NoVirtualSpace`, because
    /// freeing memory would not help.
    fn check_fits_window(&self, pages: u32, guard: bool) -> Result<()> {
        let span = (u64::from(pages) + u64::from(guard)) << PAGE_SHIFT;
        if span > u64::from(self.window_bytes) {
            Err(ErrorCode::TooLarge)
        } else {
            Ok(())
        }
    }

    fn vmalloc(&mut self, client: ClientId, r: &VmallocRequest) -> Result<VmallocOk> {
        if r.size == 0 || r.size > u32::MAX - (PAGE_SIZE - 1) {
            return Err(ErrorCode::InvalidSize);
        }
        if !r.align.is_power_of_two() || r.align > self.window_bytes {
            return Err(ErrorCode::BadAlignment);
        }
        let pages = r.size.div_ceil(PAGE_SIZE);
        if pages > self.core.frames().total_frames() {
            return Err(ErrorCode::TooLarge);
        }
        let guard = !r.flags.contains(VmallocFlags::NO_GUARD);
        self.check_fits_window(pages, guard)?;
        // The reservation: pages and guard; alignment padding stays free.
        let span = pages + u32::from(guard);
        self.admit(client)?.check_quota(pages, span)?;

        let mut flags = VmFlags::NONE;
        if r.flags.contains(VmallocFlags::ZEROED) {
            flags = flags.union(VmFlags::VM_ZEROED);
        }
        if !guard {
            flags = flags.union(VmFlags::VM_NO_GUARD);
        }
        let area = self
            .core
            .vmalloc(r.size, r.align, flags, client.into(), r.caller)
            .map_err(wire)?;
        self.charge(client, |u| {
            u.pages += pages;
            u.areas += 1;
            u.window_pages += span;
        });
        Ok(VmallocOk {
            addr: area.addr(),
            size: area.size(),
        })
    }

    fn ioremap(&mut self, client: ClientId, r: &IoremapRequest) -> Result<IoremapOk> {
        if r.size == 0 {
            return Err(ErrorCode::InvalidSize);
        }
        let start = u64::from(r.phys.0);
        let end = start + u64::from(r.size);
        if end > 1 << 32 {
            return Err(ErrorCode::InvalidSize);
        }
        // Kernel memory and the pool are RAM: never a device, whatever the
        // grants say (the manifest is checked at construction too).
        let is_ram = self.ram.iter().any(|m| m.overlaps(start, end))
            || pool_overlaps(self.core.frames(), start, end);
        let row = self.admit(client)?;
        if is_ram || !row.devices.iter().any(|d| d.covers(start, end)) {
            return Err(ErrorCode::PermissionDenied);
        }
        // Device registers are never mapped cacheable (speculative
        // fetches); Device and Normal uncached (ioremap_wc) are.
        if !r.mem_type.allowed_for_device() {
            return Err(ErrorCode::PermissionDenied);
        }
        let offset = u64::from(r.phys.page_offset());
        // ≤ 2^20 pages: `end` ≤ 2^32.
        let pages = (offset + u64::from(r.size)).div_ceil(u64::from(PAGE_SIZE)) as u32;
        self.check_fits_window(pages, true)?;
        let span = pages + 1;
        self.admit(client)?.check_quota(0, span)?;

        let area = self
            .core
            .ioremap(r.phys, r.size, r.mem_type, client.into(), r.caller)
            .map_err(wire)?;
        self.charge(client, |u| {
            u.areas += 1;
            u.ioremaps += 1;
            u.window_pages += span;
        });
        Ok(IoremapOk {
            addr: area.addr(),
            size: r.size,
        })
    }

    fn vmap(&mut self, client: ClientId, r: &VmapRequest) -> Result<VmapOk> {
        self.admit(client)?;
        let (pfns, mem_type) = match &r.source {
            VmapSource::Frames(runs) => self.owned_frames(client, runs)?,
            VmapSource::Dma { addr } => {
                let (start, end) = {
                    let (a, _) = self.lookup(client, *addr, AreaKind::Dma)?;
                    let vm = a.private;
                    let first = vm.phys_addr().pfn().0;
                    (first, first.saturating_add(dma_pages(vm)))
                };
                ((start..end).map(Pfn).collect(), DMA_MEM_TYPE)
            }
        };
        // Bounded by the window check in `owned_frames` or by the DMA
        // buffer's own size.
        let pages = pfns.len() as u32;
        // memcore's vmap always reserves a guard page (NO_GUARD is not
        // honoured: a guard more is safe, a guard less is not).
        self.check_fits_window(pages, true)?;
        let span = pages + 1;
        self.admit(client)?.check_quota(0, span)?;

        // Read-only or read-write as asked; the memory type is the one the
        // frames are already mapped with (two mappings of one frame with
        // different cacheability are UNPREDICTABLE on ARMv7).
        let attrs = MapAttrs::new(mem_type, !r.flags.contains(VmapFlags::READ_ONLY));
        let area = self
            .core
            .vmap(&pfns, attrs, client.into(), r.caller)
            .map_err(wire)?;
        self.charge(client, |u| {
            u.areas += 1;
            u.vmaps += 1;
            u.window_pages += span;
        });
        Ok(VmapOk {
            addr: area.addr(),
            size: area.size(),
        })
    }

    /// Expands `runs` to frames after checking that each run lies inside
    /// frames the client owns (its vmalloc and DMA areas): a client may
    /// alias its own memory, never another client's or the kernel's. Also
    /// returns the memory type those frames are mapped with (vmalloc:
    /// Normal cached, DMA: Normal uncached); frames of both kinds in one
    /// request are `PermissionDenied` (one area, one memory type, as
    /// Linux's `vmap` takes one `pgprot`), and a frame named twice is
    /// `DuplicateFrame`.
    fn owned_frames(&self, client: ClientId, runs: &[ipc::PageRun]) -> Result<(Vec<Pfn>, MemType)> {
        if runs.is_empty() || runs.iter().any(|r| r.count == 0) {
            return Err(ErrorCode::InvalidSize);
        }
        let total: u64 = runs.iter().map(|r| u64::from(r.count)).sum();
        // Before expanding anything: a hostile count must not become a
        // huge allocation.
        if total + 1 > u64::from(self.window_bytes >> PAGE_SHIFT) {
            return Err(ErrorCode::TooLarge);
        }
        let owner = OwnerId::from(client);
        let mut owned: Vec<(u64, u64, MemType)> = self
            .core
            .window()
            .iter()
            .filter(|a| a.private.owner() == owner)
            .flat_map(|a| {
                let mem = if a.private.flags().contains(VmFlags::VM_DMA) {
                    DMA_MEM_TYPE
                } else {
                    MemType::NormalCached
                };
                owned_runs(a.private).map(move |r| (r, mem))
            })
            .map(|((pfn, n), mem)| (u64::from(pfn), u64::from(pfn) + u64::from(n), mem))
            .collect();
        owned.sort_unstable_by_key(|r| r.0);
        // Merge touching runs of one memory type: a vmalloc area is many
        // buddy blocks, and a run may span two physically adjacent ones.
        // `spans` merges regardless of type: a run inside it but not inside
        // one typed interval crosses from DMA frames into vmalloc ones.
        let mut merged: Vec<(u64, u64, MemType)> = Vec::with_capacity(owned.len());
        let mut spans: Vec<(u64, u64)> = Vec::with_capacity(owned.len());
        for (s, e, mem) in owned {
            match merged.last_mut() {
                Some(last) if s <= last.1 && mem == last.2 => last.1 = last.1.max(e),
                _ => merged.push((s, e, mem)),
            }
            match spans.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => spans.push((s, e)),
            }
        }
        let mut pfns = Vec::with_capacity(total as usize);
        let mut mem_type = None;
        for run in runs {
            let (s, e) = (
                u64::from(run.pfn.0),
                u64::from(run.pfn.0) + u64::from(run.count),
            );
            let i = merged.partition_point(|iv| iv.0 <= s);
            let inside = i
                .checked_sub(1)
                .and_then(|i| merged.get(i))
                .filter(|iv| e <= iv.1);
            let Some(&(_, _, mem)) = inside else {
                let j = spans.partition_point(|iv| iv.0 <= s);
                let owned = j
                    .checked_sub(1)
                    .and_then(|j| spans.get(j))
                    .is_some_and(|iv| e <= iv.1);
                return Err(if owned {
                    ErrorCode::PermissionDenied
                } else {
                    ErrorCode::NotOwner
                });
            };
            if *mem_type.get_or_insert(mem) != mem {
                return Err(ErrorCode::PermissionDenied);
            }
            // Inside an owned run, so below 2^20: no truncation.
            pfns.extend((s..e).map(|p| Pfn(p as u32)));
        }
        // Runs given in increasing, disjoint order (the common case) need
        // no sort to prove every frame appears once.
        let ascending = runs
            .windows(2)
            .all(|w| u64::from(w[0].pfn.0) + u64::from(w[0].count) <= u64::from(w[1].pfn.0));
        if !ascending {
            let mut sorted = pfns.clone();
            sorted.sort_unstable();
            if sorted.windows(2).any(|w| w[0] == w[1]) {
                return Err(ErrorCode::DuplicateFrame);
            }
        }
        Ok((pfns, mem_type.unwrap_or(MemType::NormalCached)))
    }

    fn dma_alloc(&mut self, client: ClientId, r: &DmaAllocRequest) -> Result<DmaAllocOk> {
        let pages = r.pages;
        if pages == 0 {
            return Err(ErrorCode::InvalidSize);
        }
        let pool = self.core.frames();
        // A DMA buffer is one buddy block's worth at most (`alloc_exact`).
        let largest = 1u32
            .checked_shl(u32::from(pool.max_order()))
            .unwrap_or(u32::MAX);
        if pages > pool.total_frames() || pages > largest {
            return Err(ErrorCode::TooLarge);
        }
        self.check_fits_window(pages, true)?;
        let span = pages + 1;
        self.admit(client)?.check_quota(pages, span)?;

        let dma = self
            .core
            .dma_alloc(pages, client.into(), r.caller)
            .map_err(wire)?;
        self.charge(client, |u| {
            u.pages += pages;
            u.dma_pages += pages;
            u.areas += 1;
            u.window_pages += span;
        });
        Ok(DmaAllocOk {
            addr: dma.area().addr(),
            phys: dma.phys(),
            size: dma.area().size(),
        })
    }

    /// The area of `client` starting at `addr`, of `kind`; errors in the
    /// order Linux's `vfree` checks them.
    fn lookup(
        &self,
        client: ClientId,
        addr: VirtAddr,
        kind: AreaKind,
    ) -> Result<(vmap::AreaRef<'_, VmStruct>, AreaFacts)> {
        if !addr.is_page_aligned() {
            return Err(ErrorCode::UnalignedAddress);
        }
        let a = self
            .core
            .window()
            .find(addr)
            .filter(|a| a.va_start == addr)
            .ok_or(ErrorCode::NotFound)?;
        let facts = area_facts(client, &a, kind)?;
        Ok((a, facts))
    }

    /// Frees the `kind` area of `client` at `addr`; returns its mapped size.
    fn release(&mut self, client: ClientId, addr: VirtAddr, kind: AreaKind) -> Result<u32> {
        let may_alias = self
            .clients
            .get(&client)
            .is_some_and(|row| row.usage.vmaps != 0);
        let facts = if may_alias {
            self.release_aliasable(client, addr, kind)?
        } else {
            // No vmap of the client's can alias the area's frames (see
            // `aliased`): one lookup checks and removes it.
            if !addr.is_page_aligned() {
                return Err(ErrorCode::UnalignedAddress);
            }
            self.core
                .release_checked(addr, |a| area_facts(client, &a, kind))
                .ok_or(ErrorCode::NotFound)??
        };
        self.charge(client, |u| {
            u.areas = u.areas.saturating_sub(1);
            u.pages = u.pages.saturating_sub(facts.owned_pages);
            u.window_pages = u.window_pages.saturating_sub(facts.window_pages);
            match facts.kind {
                AreaKind::Ioremap => u.ioremaps = u.ioremaps.saturating_sub(1),
                AreaKind::Vmap => u.vmaps = u.vmaps.saturating_sub(1),
                AreaKind::Dma => u.dma_pages = u.dma_pages.saturating_sub(facts.owned_pages),
                AreaKind::Vmalloc => {}
            }
        });
        Ok(facts.size)
    }

    /// The release of a client with live vmaps: the area's frames must not
    /// be aliased by one of them.
    fn release_aliasable(
        &mut self,
        client: ClientId,
        addr: VirtAddr,
        kind: AreaKind,
    ) -> Result<AreaFacts> {
        let facts = {
            let (area, facts) = self.lookup(client, addr, kind)?;
            if facts.owned_pages != 0 && self.aliased(client, area.private) {
                // A vmap of these frames is live: freeing them would let
                // the pool hand them to another client while this one can
                // still reach them through the alias. Vunmap first.
                return Err(ErrorCode::PermissionDenied);
            }
            facts
        };
        let owner = client.into();
        match kind {
            AreaKind::Vmalloc => self.core.vfree(addr, owner),
            AreaKind::Ioremap => self.core.iounmap(addr, owner),
            AreaKind::Vmap => self.core.vunmap(addr, owner),
            AreaKind::Dma => self.core.dma_free(addr, owner),
        }
        .map_err(wire)?;
        Ok(facts)
    }

    /// Whether one of `client`'s vmap areas maps a frame `vm` owns. Only
    /// the owner can vmap its frames, so only its vmaps are searched, and
    /// only if it has any (the common case costs nothing).
    fn aliased(&self, client: ClientId, vm: &VmStruct) -> bool {
        if self
            .clients
            .get(&client)
            .is_none_or(|row| row.usage.vmaps == 0)
        {
            return false;
        }
        let runs: Vec<(u32, u32)> = owned_runs(vm).collect();
        let owner = OwnerId::from(client);
        self.core
            .window()
            .iter()
            .filter(|a| a.private.owner() == owner && kind_of(a.private.flags()) == AreaKind::Vmap)
            .flat_map(|a| a.private.frames())
            .any(|b| {
                runs.iter()
                    .any(|&(s, n)| b.pfn.0 >= s && u64::from(b.pfn.0) < u64::from(s) + u64::from(n))
            })
    }

    fn charge(&mut self, client: ClientId, f: impl FnOnce(&mut Usage)) {
        if let Some(row) = self.clients.get_mut(&client) {
            f(&mut row.usage);
        }
    }

    /// Whether `client` may see every client's areas and usage.
    fn is_observer(&self, client: ClientId) -> bool {
        self.clients.get(&client).is_some_and(|row| row.observer)
    }

    /// One page of the vmallocinfo listing: areas starting at or above
    /// `cursor`, in address order — every client's for an observer, else
    /// only the caller's own (another client's areas, caller tags and
    /// physical addresses are none of its business).
    fn info(&self, client: ClientId, cursor: u32) -> InfoOk {
        let mut records = BoundedVec::<AreaRecord, INFO_MAX_RECORDS>::new();
        let mut next_cursor = None;
        let all = self.is_observer(client);
        let me = OwnerId::from(client);
        // The window exposes no range iterator: skip to the cursor.
        for a in self
            .core
            .window()
            .iter()
            .filter(|a| a.va_start.0 >= cursor && (all || a.private.owner() == me))
        {
            let vm = a.private;
            let kind = kind_of(vm.flags());
            let record = AreaRecord {
                start: a.va_start,
                size: a.va_end.0.wrapping_sub(a.va_start.0),
                nr_pages: record_pages(kind, vm),
                phys: matches!(kind, AreaKind::Ioremap | AreaKind::Dma).then(|| vm.phys_addr()),
                kind,
                caller: vm.caller(),
                owner: vm.owner().0,
            };
            if records.push(record).is_err() {
                next_cursor = Some(a.va_start.0);
                break;
            }
        }
        InfoOk {
            records,
            next_cursor,
        }
    }

    /// One page of the window map: cursor 0 takes a new snapshot of the
    /// whole window ([`window_snapshot`](Self::window_snapshot)) for this
    /// observer; a cursor is an index into that snapshot, so the pages of
    /// one map are one moment however the window changes in between.
    /// Observers only: the map shows every client's areas.
    fn window_map_page(&mut self, client: ClientId, cursor: u32) -> Result<WindowMapOk> {
        if !self.is_observer(client) {
            return Err(ErrorCode::PermissionDenied);
        }
        if cursor == 0 {
            let snapshot = self.window_snapshot();
            self.window_maps.insert(client, snapshot);
        }
        let Some(snapshot) = self.window_maps.get(&client) else {
            // A cursor without a snapshot (never taken, or already done).
            return Err(ErrorCode::NotFound);
        };
        let len = snapshot.ranges.len();
        let from = (cursor as usize).min(len);
        let to = from.saturating_add(WINDOW_MAP_MAX_RANGES).min(len);
        let page = WindowMapOk {
            ranges: BoundedVec::from_slice(&snapshot.ranges[from..to]).unwrap_or_default(),
            next_cursor: (to < len).then_some(to as u32),
            ..snapshot.totals.clone()
        };
        if page.next_cursor.is_none() {
            self.window_maps.remove(&client);
        }
        Ok(page)
    }

    /// The whole window now: busy areas (with their vmallocinfo fields),
    /// lazily freed ranges and free ranges (free tree and size-class
    /// pools) in address order, tiling the window, and its totals.
    fn window_snapshot(&self) -> WindowSnapshot {
        let window = self.core.window();
        let config = window.config();
        let free = |r: memcore::VaRange, state| WindowRange {
            start: r.start,
            size: r.end.0.wrapping_sub(r.start.0),
            state,
            ..WindowRange::default()
        };
        let mut ranges: Vec<WindowRange> = window
            .iter()
            .map(|a| {
                let vm = a.private;
                let size = mapped_size(a.va_start, a.va_end, vm.flags());
                let kind = kind_of(vm.flags());
                WindowRange {
                    start: a.va_start,
                    size,
                    state: RangeState::Busy,
                    guard: size != a.va_end.0.wrapping_sub(a.va_start.0),
                    kind,
                    owner: vm.owner().0,
                    caller: vm.caller(),
                    nr_pages: record_pages(kind, vm),
                    phys: matches!(kind, AreaKind::Ioremap | AreaKind::Dma).then(|| vm.phys_addr()),
                }
            })
            .chain(
                window
                    .lazy_ranges()
                    .iter()
                    .map(|r| free(*r, RangeState::Lazy)),
            )
            .chain(window.free_ranges().map(|r| free(r, RangeState::Free)))
            .chain(window.pooled_ranges().map(|r| free(r, RangeState::Free)))
            .collect();
        ranges.sort_unstable_by_key(|r| r.start.0);
        WindowSnapshot {
            totals: WindowMapOk {
                window_start: config.start,
                window_size: config.end.0.wrapping_sub(config.start.0),
                largest_free: window.stats().largest_free,
                lazy_frames: self.core.frame_accounting().deferred,
                ranges: BoundedVec::new(),
                next_cursor: None,
            },
            ranges,
        }
    }

    /// Pool-wide figures (free blocks per order, total and free pages,
    /// free window) for everyone, like `/proc/buddyinfo` and
    /// `/proc/meminfo`; the per-client rows of every client for an
    /// observer, else only the caller's own row.
    fn stats(&self, client: ClientId) -> StatsOk {
        let pool = self.core.frames();
        let mut free_blocks = [0u32; NR_ORDERS];
        for (order, slot) in (0u8..).zip(free_blocks.iter_mut()) {
            *slot = pool.nr_free(order);
        }
        let window = self.core.window().stats();
        let lazy_bytes = window.lazy_pages.saturating_mul(PAGE_SIZE);
        let mut clients = BoundedVec::<ClientUsage, STATS_MAX_CLIENTS>::new();
        let all = self.is_observer(client);
        let mut clients_total = 0u32;
        for (id, row) in self.clients.iter().filter(|(id, _)| all || **id == client) {
            clients_total = clients_total.saturating_add(1);
            // Full after STATS_MAX_CLIENTS rows: the rest is only counted.
            let _ = clients.push(ClientUsage {
                client: id.0,
                areas: row.usage.areas,
                pages: row.usage.pages,
                quota_pages: row.quota.max_pages,
                window_pages: row.usage.window_pages,
                quota_window_pages: row.quota.max_window_pages,
            });
        }
        StatsOk {
            free_blocks,
            total_pages: pool.total_frames(),
            free_pages: pool.free_frames(),
            window_free: window.free_bytes.saturating_add(lazy_bytes),
            clients,
            clients_total,
        }
    }
}

/// The memory type DMA buffers are mapped with (and so every vmap of
/// their frames).
const DMA_MEM_TYPE: MemType = MemType::NormalUncached;

/// Whether `[start, end)` (bytes) touches a frame of the pool.
fn pool_overlaps(pool: &BuddyPool, start: u64, end: u64) -> bool {
    let first = start >> PAGE_SHIFT;
    let last = end.saturating_sub(1) >> PAGE_SHIFT;
    // Frame numbers of a 32-bit space fit in u32.
    let (first, count) = (first as u32, (last - first + 1) as u32);
    FrameAllocator::overlaps(pool, Pfn(first), count)
}
