//! A fake memory server: the real protocol over fixed-capacity fake state.
//!
//! It decodes, validates like the real server will (sizes, alignment,
//! ownership, kinds, quotas), keeps areas in a fixed array, and encodes the
//! reply. Frames are not real: an area's frames are numbered from its
//! virtual address (`POOL_BASE_PFN + (va - window start) / PAGE_SIZE`), which
//! is unique while the area lives and needs no allocator. Used by the
//! client's end-to-end tests and the fuzz targets until `memserver/core` is
//! wired in. Quadratic scans: fine for tests, not a model of the real one.

use crate::*;

/// Most areas the fake tracks at once.
pub const MAX_AREAS: usize = 256;
/// Frames in the fake pool (32 MiB).
pub const POOL_PAGES: u32 = 8192;
/// First frame of the fake pool (RAM at 0x6000_0000 on vexpress-a9).
pub const POOL_BASE_PFN: u32 = 0x6_0000;
/// Frame quota of every client.
pub const QUOTA_PAGES: u32 = 4096;
/// Physical ranges clients may ioremap: `[start, end)`.
pub const DEVICE_RANGES: [(u32, u32); 2] = [(0x1000_0000, 0x1002_0000), (0x1e00_0000, 0x1e01_0000)];
/// ARM's IOREMAP_MAX_ORDER: ioremap alignment is capped at 16 MiB.
const IOREMAP_MAX_ORDER: u32 = 24;
const PAGE: u32 = PAGE_SIZE;

#[derive(Clone, Copy, Debug)]
struct FakeArea {
    /// Page-aligned start.
    start: u32,
    /// Usable bytes (page multiple).
    size: u32,
    guard: bool,
    kind: AreaKind,
    owner: u32,
    caller: u32,
    /// Frame of the first page (vmalloc, DMA, vmap).
    base_pfn: u32,
    /// Frames the area holds (0 for ioremap).
    nr_pages: u32,
    /// Page-aligned physical start of an ioremap area.
    io_phys: u32,
}

impl FakeArea {
    fn span(&self) -> u32 {
        self.size + if self.guard { PAGE } else { 0 }
    }
    fn end_with_guard(&self) -> u64 {
        u64::from(self.start) + u64::from(self.span())
    }
    /// Frames charged to the owner (vmap aliases existing frames).
    fn charged_pages(&self) -> u32 {
        match self.kind {
            AreaKind::Vmalloc | AreaKind::Dma => self.nr_pages,
            AreaKind::Ioremap | AreaKind::Vmap => 0,
        }
    }
}

/// The fake server state.
#[derive(Debug)]
pub struct FakeServer {
    areas: [Option<FakeArea>; MAX_AREAS],
    window_start: u32,
    window_end: u32,
    free_pages: u32,
}

impl Default for FakeServer {
    fn default() -> Self {
        Self::new()
    }
}

fn pages_for(bytes: u32) -> Option<u32> {
    let rounded = bytes.checked_add(PAGE - 1)?;
    Some(rounded / PAGE)
}

impl FakeServer {
    /// A server over the default window with an empty pool of
    /// [`POOL_PAGES`] frames.
    pub fn new() -> Self {
        Self {
            areas: [None; MAX_AREAS],
            window_start: abi::VMALLOC_START_DEFAULT.0,
            window_end: abi::VMALLOC_END_DEFAULT.0,
            free_pages: POOL_PAGES,
        }
    }

    /// Serves one message: decode → dispatch → encode. `client` is the badge
    /// the kernel delivered. Returns the reply length in `reply`.
    pub fn handle(
        &mut self,
        client: u32,
        request: &[u8],
        reply: &mut [u8],
    ) -> Result<usize, EncodeError> {
        let (seq, response) = match decode_request(request) {
            Ok((seq, request)) => (seq, self.dispatch(client, &request)),
            Err(error) => (
                peek_sequence(request).unwrap_or(0),
                Response::Error(error.to_error_code()),
            ),
        };
        encode_response(seq, &response, reply)
    }

    /// Acts on a decoded request.
    pub fn dispatch(&mut self, client: u32, request: &Request) -> Response {
        let result = match request {
            Request::Vmalloc(r) => self.vmalloc(client, r).map(Response::Vmalloc),
            Request::Vfree(r) => self
                .release(client, r.addr.0, AreaKind::Vmalloc)
                .map(|size| Response::Vfree(VfreeOk { size })),
            Request::Ioremap(r) => self.ioremap(client, r).map(Response::Ioremap),
            Request::Iounmap(r) => self
                .release(client, r.addr.0 & !(PAGE - 1), AreaKind::Ioremap)
                .map(|_| Response::Iounmap(IounmapOk {})),
            Request::Vmap(r) => self.vmap(client, r).map(Response::Vmap),
            Request::Vunmap(r) => self
                .release(client, r.addr.0, AreaKind::Vmap)
                .map(|_| Response::Vunmap(VunmapOk {})),
            Request::DmaAlloc(r) => self.dma_alloc(client, r.pages).map(Response::DmaAlloc),
            Request::DmaFree(r) => self
                .release(client, r.addr.0, AreaKind::Dma)
                .map(|_| Response::DmaFree(DmaFreeOk {})),
            Request::VirtToPhys(r) => self
                .virt_to_phys(client, r.addr.0)
                .map(|phys| Response::VirtToPhys(VirtToPhysOk { phys })),
            Request::Info(r) => Ok(Response::Info(self.info(r.cursor))),
            Request::Stats(_) => Ok(Response::Stats(self.stats())),
            Request::Ping(r) => Ok(Response::Ping(PingOk { nonce: r.nonce })),
            // The fake has no observers (the real server answers observers).
            Request::WindowMap(_) => Err(ErrorCode::PermissionDenied),
        };
        result.unwrap_or_else(Response::Error)
    }

    /// Free frames left in the fake pool.
    pub fn free_pages(&self) -> u32 {
        self.free_pages
    }

    /// Live areas.
    pub fn area_count(&self) -> usize {
        self.areas.iter().flatten().count()
    }

    fn live(&self) -> impl Iterator<Item = &FakeArea> {
        self.areas.iter().flatten()
    }

    fn client_pages(&self, client: u32) -> u32 {
        self.live()
            .filter(|a| a.owner == client)
            .map(FakeArea::charged_pages)
            .sum()
    }

    fn charge(&self, client: u32, pages: u32) -> Result<(), ErrorCode> {
        if pages > POOL_PAGES {
            return Err(ErrorCode::TooLarge);
        }
        if self.client_pages(client) + pages > QUOTA_PAGES {
            return Err(ErrorCode::QuotaExceeded);
        }
        if pages > self.free_pages {
            return Err(ErrorCode::OutOfMemory);
        }
        Ok(())
    }

    /// Lowest `align`-aligned start with `span` free bytes (guard included).
    fn find_range(&self, span: u32, align: u32) -> Result<u32, ErrorCode> {
        let candidates = core::iter::once(u64::from(self.window_start))
            .chain(self.live().map(FakeArea::end_with_guard));
        let mut best: Option<u64> = None;
        for candidate in candidates {
            let align = u64::from(align);
            let start = (candidate + align - 1) & !(align - 1);
            let end = start + u64::from(span);
            let fits = end <= u64::from(self.window_end)
                && self
                    .live()
                    .all(|a| end <= u64::from(a.start) || start >= a.end_with_guard());
            if fits && best.is_none_or(|b| start < b) {
                best = Some(start);
            }
        }
        // Window addresses fit in u32 because the window does.
        best.map(|b| b as u32).ok_or(ErrorCode::NoVirtualSpace)
    }

    fn insert(&mut self, area: FakeArea) -> Result<(), ErrorCode> {
        let slot = self
            .areas
            .iter_mut()
            .find(|slot| slot.is_none())
            .ok_or(ErrorCode::NoVirtualSpace)?;
        *slot = Some(area);
        self.free_pages -= area.charged_pages();
        Ok(())
    }

    fn place(
        &mut self,
        client: u32,
        pages: u32,
        align: u32,
        guard: bool,
        kind: AreaKind,
        caller: u32,
    ) -> Result<FakeArea, ErrorCode> {
        let size = pages.checked_mul(PAGE).ok_or(ErrorCode::TooLarge)?;
        let span = size
            .checked_add(if guard { PAGE } else { 0 })
            .ok_or(ErrorCode::TooLarge)?;
        if span > self.window_end - self.window_start {
            return Err(ErrorCode::TooLarge);
        }
        let start = self.find_range(span, align.max(PAGE))?;
        let area = FakeArea {
            start,
            size,
            guard,
            kind,
            owner: client,
            caller,
            base_pfn: POOL_BASE_PFN + (start - self.window_start) / PAGE,
            nr_pages: pages,
            io_phys: 0,
        };
        Ok(area)
    }

    fn vmalloc(&mut self, client: u32, r: &VmallocRequest) -> Result<VmallocOk, ErrorCode> {
        if r.size == 0 {
            return Err(ErrorCode::InvalidSize);
        }
        let pages = pages_for(r.size).ok_or(ErrorCode::InvalidSize)?;
        if !r.align.is_power_of_two() || r.align > self.window_end - self.window_start {
            return Err(ErrorCode::BadAlignment);
        }
        self.charge(client, pages)?;
        let guard = !r.flags.contains(VmallocFlags::NO_GUARD);
        let area = self.place(client, pages, r.align, guard, AreaKind::Vmalloc, r.caller)?;
        self.insert(area)?;
        Ok(VmallocOk {
            addr: VirtAddr(area.start),
            size: area.size,
        })
    }

    fn ioremap(&mut self, client: u32, r: &IoremapRequest) -> Result<IoremapOk, ErrorCode> {
        if r.size == 0 {
            return Err(ErrorCode::InvalidSize);
        }
        let end = r.phys.0.checked_add(r.size).ok_or(ErrorCode::InvalidSize)?;
        let allowed = DEVICE_RANGES
            .iter()
            .any(|&(lo, hi)| r.phys.0 >= lo && end <= hi);
        if !allowed || !r.mem_type.allowed_for_device() {
            return Err(ErrorCode::PermissionDenied);
        }
        let offset = r.phys.0 & (PAGE - 1);
        let pages = pages_for(offset + r.size).ok_or(ErrorCode::InvalidSize)?;
        // Linux: align = 1 << clamp(fls(size), PAGE_SHIFT, IOREMAP_MAX_ORDER).
        let order = (32 - (pages * PAGE).leading_zeros()).clamp(abi::PAGE_SHIFT, IOREMAP_MAX_ORDER);
        let mut area = self.place(client, pages, 1 << order, true, AreaKind::Ioremap, 0)?;
        area.nr_pages = 0;
        area.io_phys = r.phys.0 - offset;
        self.insert(area)?;
        Ok(IoremapOk {
            addr: VirtAddr(area.start + offset),
            size: r.size,
        })
    }

    fn owned_frames(&self, client: u32, run: &PageRun) -> bool {
        let (first, count) = (u64::from(run.pfn.0), u64::from(run.count));
        self.live().any(|a| {
            a.owner == client
                && matches!(a.kind, AreaKind::Vmalloc | AreaKind::Dma)
                && first >= u64::from(a.base_pfn)
                && first + count <= u64::from(a.base_pfn) + u64::from(a.nr_pages)
        })
    }

    fn vmap(&mut self, client: u32, r: &VmapRequest) -> Result<VmapOk, ErrorCode> {
        let (base_pfn, pages) = match &r.source {
            VmapSource::Frames(runs) => {
                if runs.is_empty() || runs.iter().any(|run| run.count == 0) {
                    return Err(ErrorCode::InvalidSize);
                }
                let mut total: u32 = 0;
                for run in runs.iter() {
                    total = total.checked_add(run.count).ok_or(ErrorCode::TooLarge)?;
                    if !self.owned_frames(client, run) {
                        return Err(ErrorCode::NotOwner);
                    }
                }
                (runs[0].pfn.0, total)
            }
            VmapSource::Dma { addr } => {
                let dma = self.find_exact(client, addr.0, AreaKind::Dma)?;
                (dma.base_pfn, dma.nr_pages)
            }
        };
        let guard = !r.flags.contains(VmapFlags::NO_GUARD);
        let mut area = self.place(client, pages, PAGE, guard, AreaKind::Vmap, 0)?;
        area.base_pfn = base_pfn;
        self.insert(area)?;
        Ok(VmapOk {
            addr: VirtAddr(area.start),
            size: area.size,
        })
    }

    fn dma_alloc(&mut self, client: u32, pages: u32) -> Result<DmaAllocOk, ErrorCode> {
        if pages == 0 {
            return Err(ErrorCode::InvalidSize);
        }
        self.charge(client, pages)?;
        let area = self.place(client, pages, PAGE, true, AreaKind::Dma, 0)?;
        self.insert(area)?;
        Ok(DmaAllocOk {
            addr: VirtAddr(area.start),
            phys: Pfn(area.base_pfn).addr(),
            size: area.size,
        })
    }

    fn find_exact(&self, client: u32, addr: u32, kind: AreaKind) -> Result<FakeArea, ErrorCode> {
        if addr & (PAGE - 1) != 0 {
            return Err(ErrorCode::UnalignedAddress);
        }
        let area = *self
            .live()
            .find(|a| a.start == addr)
            .ok_or(ErrorCode::NotFound)?;
        if area.owner != client {
            return Err(ErrorCode::NotOwner);
        }
        if area.kind != kind {
            return Err(ErrorCode::WrongAreaKind);
        }
        Ok(area)
    }

    /// Frees the area starting at `addr`; returns its usable size.
    fn release(&mut self, client: u32, addr: u32, kind: AreaKind) -> Result<u32, ErrorCode> {
        let area = self.find_exact(client, addr, kind)?;
        for slot in self.areas.iter_mut() {
            if slot.is_some_and(|a| a.start == addr) {
                *slot = None;
            }
        }
        self.free_pages += area.charged_pages();
        Ok(area.size)
    }

    fn virt_to_phys(&self, client: u32, addr: u32) -> Result<PhysAddr, ErrorCode> {
        let area = self
            .live()
            .find(|a| addr >= a.start && u64::from(addr) < u64::from(a.start) + u64::from(a.size))
            .ok_or(ErrorCode::NotFound)?;
        if area.owner != client {
            return Err(ErrorCode::NotOwner);
        }
        let offset = addr - area.start;
        Ok(match area.kind {
            AreaKind::Ioremap => PhysAddr(area.io_phys + offset),
            _ => PhysAddr(Pfn(area.base_pfn).addr().0.wrapping_add(offset)),
        })
    }

    fn record(area: &FakeArea) -> AreaRecord {
        AreaRecord {
            start: VirtAddr(area.start),
            size: area.span(),
            nr_pages: area.nr_pages,
            phys: match area.kind {
                AreaKind::Ioremap => Some(PhysAddr(area.io_phys)),
                AreaKind::Dma => Some(Pfn(area.base_pfn).addr()),
                AreaKind::Vmalloc | AreaKind::Vmap => None,
            },
            kind: area.kind,
            caller: area.caller,
            owner: area.owner,
        }
    }

    fn info(&self, cursor: u32) -> InfoOk {
        let mut records = BoundedVec::new();
        let mut next = Some(cursor);
        while let Some(from) = next {
            let Some(area) = self
                .live()
                .filter(|a| a.start >= from)
                .min_by_key(|a| a.start)
            else {
                next = None;
                break;
            };
            if records.push(Self::record(area)).is_err() {
                break; // page full: `next` is where the next page starts.
            }
            next = area.start.checked_add(1);
        }
        InfoOk {
            records,
            next_cursor: next,
        }
    }

    fn stats(&self) -> StatsOk {
        let mut free_blocks = [0u32; NR_ORDERS];
        let top = NR_ORDERS - 1;
        free_blocks[top] = self.free_pages >> top;
        for (order, count) in free_blocks.iter_mut().enumerate().take(top) {
            *count = (self.free_pages >> order) & 1;
        }
        let mut clients = BoundedVec::new();
        let mut clients_total = 0;
        let mut previous: Option<u32> = None;
        while let Some(client) = self
            .live()
            .map(|a| a.owner)
            .filter(|&o| previous.is_none_or(|p| o > p))
            .min()
        {
            clients_total += 1;
            let _ = clients.push(ClientUsage {
                client,
                areas: self.live().filter(|a| a.owner == client).count() as u32,
                pages: self.client_pages(client),
                quota_pages: QUOTA_PAGES,
                window_pages: self
                    .live()
                    .filter(|a| a.owner == client)
                    .map(|a| a.span() / PAGE)
                    .sum(),
                quota_window_pages: u32::MAX,
            });
            previous = Some(client);
        }
        let used: u64 = self.live().map(|a| u64::from(a.span())).sum();
        StatsOk {
            free_blocks,
            total_pages: POOL_PAGES,
            free_pages: self.free_pages,
            window_free: (u64::from(self.window_end - self.window_start) - used) as u32,
            clients,
            clients_total,
        }
    }
}
