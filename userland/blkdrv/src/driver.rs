//! The virtio-blk driver task: finds the device on the virtio-mmio
//! transports its capabilities describe (the board resolves them: from the
//! device tree on virt), drives it with `virtio-drivers` over [`MemHal`],
//! completes requests on its interrupt (or by polling when the manifest
//! gives it no IRQ capability), and serves sectors over IPC.

use core::ptr::NonNull;

use abi::{CapSlot, CapType, DeviceRole, KernelError, MessageTag, PAGE_SIZE};
use log::{error, info};
use memclient::{ClientError, ErrorCode};
use userlib::{dev, sys};
use virtio_drivers::device::blk::{BlkReq, BlkResp, VirtIOBlk};
use virtio_drivers::transport::mmio::{MmioError, MmioTransport, VirtIOHeader};

use crate::hal::{self, MemHal};
use crate::mmio;
use crate::proto::{self, Header, Status, SECTOR};

/// Size of one virtio-mmio transport's registers (header and config
/// space; the virtio-mmio spec's layout, the same on every board).
pub const TRANSPORT_SIZE: u32 = 0x200;
/// Transports the driver probes at most (its capability table is smaller).
pub const MAX_TRANSPORTS: usize = 16;
/// virtio device ID of a block device.
const DEVICE_BLOCK: u32 = 2;

/// Slot of the block service's receive endpoint.
const SERVICE: CapSlot = CapSlot(2);

/// Sectors of the driver's DMA data buffer (64 KiB).
const DATA_SECTORS: u32 = 128;
/// Bytes read by the benchmark.
const BENCH_BYTES: u32 = 4 << 20;

/// Why the driver stopped (logged with `{:?}`).
#[derive(Debug)]
#[allow(dead_code)] // the fields are read through `Debug` only
pub enum DrvError {
    /// The memory server refused a request.
    Mem(ClientError),
    /// No block device on the chosen transport (its instance).
    NoDevice(u8),
    /// The capabilities describe no virtio-mmio transport.
    NoTransports,
    /// The IRQ capability is not the interrupt of any granted transport.
    NotVirtioIrq(u32),
    /// The transport's header is not usable.
    Transport(MmioError),
    /// A virtio error (device or queue).
    Virtio(virtio_drivers::Error),
    /// A system call failed.
    Kernel(KernelError),
    /// No DMA memory for the request buffers.
    NoDma,
}

impl From<virtio_drivers::Error> for DrvError {
    fn from(e: virtio_drivers::Error) -> Self {
        DrvError::Virtio(e)
    }
}

impl From<KernelError> for DrvError {
    fn from(e: KernelError) -> Self {
        DrvError::Kernel(e)
    }
}

/// A transport this driver was granted and what it holds.
#[derive(Clone, Copy, Debug)]
pub struct Probe {
    /// Its Device capability (address, IRQ, instance).
    pub cap: dev::Device,
    /// Virtual address of its registers (in the ioremapped page).
    pub virt: u32,
    /// `MagicValue` (0x74726976, "virt").
    pub magic: u32,
    /// `Version` (1 legacy, 2 modern).
    pub version: u32,
    /// `DeviceID` (0 none, 2 block).
    pub device_id: u32,
}

/// Maps (through the memory server) and identifies every virtio-mmio
/// transport among this task's Device capabilities, in instance order.
/// Returns how many there are; `out` holds them.
pub fn probe(out: &mut [Option<Probe>; MAX_TRANSPORTS]) -> Result<usize, DrvError> {
    let mut n = 0;
    for cap in dev::devices().filter(|d| d.role() == Some(DeviceRole::VirtioMmio)) {
        if n == MAX_TRANSPORTS {
            break;
        }
        let phys = cap.phys();
        // The registers must lie inside the capability's range.
        if u64::from(cap.info.offset()) + u64::from(TRANSPORT_SIZE) > u64::from(cap.size()) {
            error!(
                "blkdrv: transport {} at {phys:#010x}: {} bytes of registers do not fit its {}-byte capability",
                cap.info.instance(),
                TRANSPORT_SIZE,
                cap.size()
            );
            continue;
        }
        let page = hal::map_mmio_page(cap.page()).map_err(DrvError::Mem)?;
        let base = page + cap.info.offset();
        let reg = |off: u32| {
            // SAFETY: `page` maps the transport's page as device memory,
            // the transport's registers lie inside it (checked above) and
            // every offset here is an aligned identification register
            // (reading them has no side effects).
            unsafe { mmio::read32((base + off) as usize as *const u32) }
        };
        out[n] = Some(Probe {
            cap,
            virt: base,
            magic: reg(0x000),
            version: reg(0x004),
            device_id: reg(0x008),
        });
        n += 1;
    }
    out[..n].sort_unstable_by_key(|p| p.map(|p| p.cap.info.instance()));
    Ok(n)
}

fn device_name(id: u32) -> &'static str {
    match id {
        0 => "empty",
        1 => "network",
        2 => "block",
        3 => "console",
        4 => "entropy",
        _ => "other",
    }
}

/// Addresses of the request header, status byte and data buffer, all in
/// one DMA allocation (control page + `DATA_SECTORS` sectors).
#[derive(Debug)]
struct Io {
    ctl: u32,
    data: u32,
}

/// The driver.
pub struct Driver {
    blk: VirtIOBlk<MemHal, MmioTransport<'static>>,
    irq: Option<CapSlot>,
    io: Io,
    capacity: u64,
    /// Requests completed.
    pub requests: u32,
    /// Interrupts taken.
    pub interrupts: u32,
    /// Counter ticks spent blocked in `irq_wait` (the device's time, and
    /// under `-icount` the idle clock warps).
    pub wait_ticks: u64,
}

impl Driver {
    /// Maps the transports its capabilities describe, logs what they hold,
    /// and starts the block device on the transport whose interrupt its
    /// IRQ capability is (or the first block device when polling).
    pub fn start() -> Result<Self, DrvError> {
        let mut probes = [None; MAX_TRANSPORTS];
        let count = probe(&mut probes)?;
        let probes = &probes[..count];
        for p in probes.iter().flatten() {
            info!(
                "blkdrv: transport {} at {:#010x}: magic {:#010x} version {} device id {} ({})",
                p.cap.info.instance(),
                p.cap.phys(),
                p.magic,
                p.version,
                p.device_id,
                device_name(p.device_id)
            );
        }
        if count == 0 {
            return Err(DrvError::NoTransports);
        }
        // The IRQ capability (none: poll) names the transport to drive.
        let irq = dev::find_slot(CapType::Irq).and_then(|slot| match sys::cap_info(slot) {
            Ok((_, n, _)) => Some((slot, n)),
            Err(_) => None,
        });
        let chosen = match irq {
            Some((_, n)) => probes
                .iter()
                .flatten()
                .find(|p| p.cap.irq == Some(n))
                .ok_or(DrvError::NotVirtioIrq(n))?,
            None => probes
                .iter()
                .flatten()
                .find(|p| p.device_id == DEVICE_BLOCK)
                .ok_or(DrvError::NoDevice(0))?,
        };
        let index = chosen.cap.info.instance();
        if chosen.device_id != DEVICE_BLOCK {
            return Err(DrvError::NoDevice(index));
        }
        let header = NonNull::new(chosen.virt as usize as *mut VirtIOHeader)
            .ok_or(DrvError::NoDevice(index))?;
        // SAFETY: `header` is the chosen transport inside a device mapping
        // made by `probe`, which this task never unmaps; the 0x200 bytes of
        // the transport (header and config space, inside its capability's
        // range: checked by `probe`) belong to it alone.
        let transport = unsafe { MmioTransport::new(header, TRANSPORT_SIZE as usize) }
            .map_err(DrvError::Transport)?;
        let version = transport.version();
        let blk = VirtIOBlk::<MemHal, _>::new(transport)?;
        let capacity = blk.capacity();
        let pages = 1 + DATA_SECTORS * SECTOR as u32 / PAGE_SIZE;
        let (_, ctl, _) = hal::alloc_dma(pages).ok_or(DrvError::NoDma)?;
        let io = Io {
            ctl,
            data: ctl + PAGE_SIZE,
        };
        // SAFETY: the control page is ours, zeroed, page aligned (so aligned
        // for both structures) and used for nothing else; 64 bytes apart.
        unsafe {
            (io.ctl as usize as *mut BlkReq).write(BlkReq::default());
            ((io.ctl + 64) as usize as *mut BlkResp).write(BlkResp::default());
        }
        let irq = match irq {
            Some((slot, n)) => {
                sys::irq_bind(slot)?;
                info!(
                    "blkdrv: transport {index}: virtio-blk, mmio {version:?}, irq {n}: interrupt-driven completion"
                );
                Some(slot)
            }
            None => {
                info!("blkdrv: transport {index}: virtio-blk, mmio {version:?}, no IRQ capability: polling");
                None
            }
        };
        info!("blkdrv: capacity {capacity} sectors ({} KiB)", capacity / 2);
        Ok(Self {
            blk,
            irq,
            io,
            capacity,
            requests: 0,
            interrupts: 0,
            wait_ticks: 0,
        })
    }

    /// Waits until the request `token` is in the used ring: on the
    /// transport's interrupt (the device raises it for every used buffer;
    /// if it fired already, the kernel kept it pending and `irq_wait`
    /// returns at once), or by polling the used ring without an IRQ.
    fn wait(&mut self, token: u16) -> Result<(), DrvError> {
        loop {
            match self.irq {
                Some(irq) => {
                    let (before, _) = sys::read_counter();
                    sys::irq_wait(irq)?;
                    let (after, _) = sys::read_counter();
                    self.wait_ticks += after.saturating_sub(before);
                    self.interrupts += 1;
                    // Clear the device's interrupt status before unmasking
                    // the (level-triggered) line.
                    self.blk.ack_interrupt();
                    sys::irq_ack(irq)?;
                }
                None => {
                    if self.blk.peek_used() != Some(token) {
                        let (before, _) = sys::read_counter();
                        sys::yield_now();
                        let (after, _) = sys::read_counter();
                        self.wait_ticks += after.saturating_sub(before);
                    }
                }
            }
            if self.blk.peek_used() == Some(token) {
                self.requests += 1;
                return Ok(());
            }
        }
    }

    /// The request header and status byte in the control page.
    ///
    /// # Safety
    ///
    /// The caller holds no other reference from this function.
    unsafe fn ctl(&self) -> (&'static mut BlkReq, &'static mut BlkResp) {
        // SAFETY: both were initialised in `start`, live in this driver's
        // DMA control page (never freed) and the caller holds no other
        // reference to them.
        unsafe {
            (
                &mut *(self.io.ctl as usize as *mut BlkReq),
                &mut *((self.io.ctl + 64) as usize as *mut BlkResp),
            )
        }
    }

    /// The DMA data buffer, `sectors` long (≤ `DATA_SECTORS`).
    fn data(&self, sectors: u32) -> &'static mut [u8] {
        let len = sectors.min(DATA_SECTORS) as usize * SECTOR;
        // SAFETY: the data buffer follows the control page in the same DMA
        // allocation (never freed); the driver is single-threaded and holds
        // at most one slice of it at a time.
        unsafe { core::slice::from_raw_parts_mut(self.io.data as usize as *mut u8, len) }
    }

    /// Reads `buf.len() / 512` sectors at `sector` into `buf` (any memory:
    /// the HAL bounces it when it is not DMA memory).
    pub fn read(&mut self, sector: u32, buf: &mut [u8]) -> Result<(), DrvError> {
        if buf.is_empty() || !buf.len().is_multiple_of(SECTOR) {
            return Err(DrvError::Virtio(virtio_drivers::Error::InvalidParam));
        }
        // SAFETY: no other reference from `ctl` is alive.
        let (req, resp) = unsafe { self.ctl() };
        // SAFETY: `req`, `buf` and `resp` stay untouched until
        // `complete_read_blocks` below, which gets the same buffers.
        let token = unsafe { self.blk.read_blocks_nb(sector as usize, req, buf, resp) }?;
        self.wait(token)?;
        // SAFETY: the same buffers as for `read_blocks_nb`.
        unsafe { self.blk.complete_read_blocks(token, req, buf, resp) }?;
        Ok(())
    }

    /// Writes `buf` (a multiple of 512 bytes) at `sector`.
    pub fn write(&mut self, sector: u32, buf: &[u8]) -> Result<(), DrvError> {
        if buf.is_empty() || !buf.len().is_multiple_of(SECTOR) {
            return Err(DrvError::Virtio(virtio_drivers::Error::InvalidParam));
        }
        // SAFETY: no other reference from `ctl` is alive.
        let (req, resp) = unsafe { self.ctl() };
        // SAFETY: `req`, `buf` and `resp` stay untouched until
        // `complete_write_blocks` below, which gets the same buffers.
        let token = unsafe { self.blk.write_blocks_nb(sector as usize, req, buf, resp) }?;
        self.wait(token)?;
        // SAFETY: the same buffers as for `write_blocks_nb`.
        unsafe { self.blk.complete_write_blocks(token, req, buf, resp) }?;
        Ok(())
    }

    /// Reads `sectors` sectors into the DMA data buffer (no bounce).
    fn read_dma(&mut self, sector: u32, sectors: u32) -> Result<&'static [u8], DrvError> {
        let buf = self.data(sectors);
        self.read(sector, buf)?;
        Ok(buf)
    }

    /// Sequential read of 4 MiB from sector 0 in requests of
    /// `per_request` sectors; logs the cost.
    pub fn bench(&mut self, per_request: u32) -> Result<(), DrvError> {
        let total = (BENCH_BYTES / SECTOR as u32).min(self.capacity as u32);
        let per_request = per_request.clamp(1, DATA_SECTORS);
        let irqs = self.interrupts;
        let waited = self.wait_ticks;
        let (start, hz) = sys::read_counter();
        let mut sector = 0;
        while sector + per_request <= total {
            self.read_dma(sector, per_request)?;
            sector += per_request;
        }
        let (end, _) = sys::read_counter();
        let ticks = end - start;
        let busy = ticks.saturating_sub(self.wait_ticks - waited);
        let kib = u64::from(sector) / 2;
        // Under -icount shift=0 one instruction is 1 ns of counter time.
        let (elapsed, outside) = (dev::ticks_to_ns(ticks, hz), dev::ticks_to_ns(busy, hz));
        info!(
            "blkdrv: bench: read {kib} KiB, {} KiB/request: {ticks} ticks ({hz} Hz) = {} instr elapsed ({}/KiB); outside irq_wait {} instr, {} instructions per KiB; {} interrupts",
            per_request / 2,
            elapsed,
            elapsed / kib.max(1),
            outside,
            outside / kib.max(1),
            self.interrupts - irqs
        );
        Ok(())
    }

    /// Serves block requests until a `SHUTDOWN` message.
    pub fn serve(&mut self) -> Result<(), DrvError> {
        info!("blkdrv: serving block requests");
        let mut msg = sys::recv(SERVICE);
        loop {
            let (_badge, tag) = msg?;
            if tag.label() == proto::SHUTDOWN {
                return Ok(());
            }
            let (status, len) = self.handle(tag);
            let reply = MessageTag::new(status as u16, len).unwrap_or_default();
            msg = sys::reply_recv(SERVICE, reply);
        }
    }

    /// One request in the IPC buffer; returns the reply status and length.
    fn handle(&mut self, tag: MessageTag) -> (Status, usize) {
        match tag.label() {
            proto::INFO => {
                sys::ipc_buffer().bytes[..8].copy_from_slice(&self.capacity.to_le_bytes());
                (Status::Ok, 8)
            }
            proto::STATS => {
                let b = &mut sys::ipc_buffer().bytes;
                b[..8].copy_from_slice(&self.wait_ticks.to_le_bytes());
                b[8..12].copy_from_slice(&self.requests.to_le_bytes());
                b[12..16].copy_from_slice(&self.interrupts.to_le_bytes());
                (Status::Ok, 16)
            }
            proto::READ => {
                let h = match self.check(tag, proto::MAX_READ, false) {
                    Ok(h) => h,
                    Err(s) => return (s, 0),
                };
                let n = usize::from(h.count) * SECTOR;
                match self.read_dma(h.sector, u32::from(h.count)) {
                    Ok(data) => {
                        sys::ipc_buffer().bytes[..n].copy_from_slice(&data[..n]);
                        (Status::Ok, n)
                    }
                    Err(e) => {
                        error!("blkdrv: read of {} at {}: {e:?}", h.count, h.sector);
                        (Status::IoError, 0)
                    }
                }
            }
            proto::WRITE => {
                let h = match self.check(tag, proto::MAX_WRITE, true) {
                    Ok(h) => h,
                    Err(s) => return (s, 0),
                };
                let n = usize::from(h.count) * SECTOR;
                let data = self.data(u32::from(h.count));
                data.copy_from_slice(&sys::ipc_buffer().bytes[proto::HEADER..proto::HEADER + n]);
                match self.write(h.sector, data) {
                    Ok(()) => (Status::Ok, 0),
                    Err(e) => {
                        error!("blkdrv: write of {} at {}: {e:?}", h.count, h.sector);
                        (Status::IoError, 0)
                    }
                }
            }
            _ => (Status::UnknownOp, 0),
        }
    }

    /// Validates a READ/WRITE request: header, count, length, range.
    fn check(&self, tag: MessageTag, max: u16, with_data: bool) -> Result<Header, Status> {
        let bytes = &sys::ipc_buffer().bytes;
        let h =
            Header::decode(&bytes[..tag.length().min(bytes.len())]).ok_or(Status::BadRequest)?;
        if h.count == 0 {
            return Err(Status::BadRequest);
        }
        if h.count > max {
            return Err(Status::TooLarge);
        }
        let data = if with_data {
            usize::from(h.count) * SECTOR
        } else {
            0
        };
        if tag.length() != proto::HEADER + data {
            return Err(Status::BadRequest);
        }
        if u64::from(h.sector) + u64::from(h.count) > self.capacity {
            return Err(Status::OutOfRange);
        }
        Ok(h)
    }
}

/// Parameter bit: run the in-driver benchmark before serving.
pub const PARAM_BENCH: u32 = 1;

/// The driver role.
pub fn run(param: u32) -> i32 {
    let mut drv = match Driver::start() {
        Ok(d) => d,
        Err(e) => {
            error!("blkdrv: cannot start: {e:?}");
            refuse_all();
            return 4;
        }
    };
    // First light: sector 0 into a stack buffer (bounced by the HAL).
    let mut sector0 = [0u8; SECTOR];
    match drv.read(0, &mut sector0) {
        Ok(()) => info!("blkdrv: sector 0: {:02x?}", &sector0[..16]),
        Err(e) => {
            error!("blkdrv: read of sector 0: {e:?}");
            return 5;
        }
    }
    if param & PARAM_BENCH != 0 {
        for per_request in [8, DATA_SECTORS] {
            if let Err(e) = drv.bench(per_request) {
                error!("blkdrv: bench: {e:?}");
                return 6;
            }
        }
    }
    let result = drv.serve();
    let s = hal::stats();
    info!(
        "blkdrv: shutdown: {} requests, {} interrupts; shares: {} direct, {} bounced, {} contiguous; {} DMA allocations",
        drv.requests, drv.interrupts, s.direct, s.bounced, s.contiguous, s.dma_allocs
    );
    match result {
        Ok(()) => 0,
        Err(e) => {
            error!("blkdrv: service stopped: {e:?}");
            7
        }
    }
}

/// Without a device: answers every request with `IoError` until
/// `SHUTDOWN`, so clients fail instead of waiting for ever.
fn refuse_all() {
    let mut msg = sys::recv(SERVICE);
    while let Ok((_, tag)) = msg {
        if tag.label() == proto::SHUTDOWN {
            return;
        }
        let reply = MessageTag::new(Status::IoError as u16, 0).unwrap_or_default();
        msg = sys::reply_recv(SERVICE, reply);
    }
}

/// The refused-grant role: a driver whose memory-server client has no
/// Device grant asks for the transports anyway (it knows where they are
/// from its own, information-only, Device capability).
pub fn nogrant() -> i32 {
    let Some(cap) = dev::find(DeviceRole::VirtioMmio) else {
        error!("blkdrv: no virtio-mmio Device capability: nothing to ask for");
        return 1;
    };
    let page = cap.page();
    match hal::ioremap(page, PAGE_SIZE) {
        Err(ClientError::Server(ErrorCode::PermissionDenied)) => {
            info!(
                "blkdrv: ioremap({page:#010x}, {PAGE_SIZE}) without a device grant -> PermissionDenied: refused ok"
            );
            0
        }
        Ok(v) => {
            error!("blkdrv: ioremap of an ungranted device mapped at {v:#010x}");
            1
        }
        Err(e) => {
            error!("blkdrv: ioremap of an ungranted device: {e:?} (expected PermissionDenied)");
            1
        }
    }
}
