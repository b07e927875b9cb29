//! The memory-server task.
//!
//! Capabilities (boot manifest, `kernel/src/manifest.rs`):
//! - slot 0: the endpoint it receives on — client requests (badge = client
//!   task id) and, as every client's supervisor, their fault/exit reports;
//! - slot 1: the Pool of all free RAM, which the kernel also maps linearly
//!   at [`LINEAR_MAP_BASE`] so the server can zero and inspect frames; its
//!   `cap_info` part 1 is the board's whole RAM (kernel included), which no
//!   client may ever `ioremap`;
//! - then for each client a VSpace capability (its page quota, window
//!   quota and flags ride in the capability: `cap_info` parts 0 and 1),
//!   followed by the Device capabilities that client may ioremap.
//!
//! The first [`HEAP_BYTES`] of the pool are the server's own heap; the rest
//! goes to the buddy allocator. When every client has exited, the server
//! checks that the buddy pool holds exactly the frames it had at boot and
//! ends the run with the result.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;

use abi::{
    CapSlot, ClientFlags, FaultKind, FaultMessage, FrameRun, MessageTag, Pfn, VirtAddr, FLUSH_ALL,
    LABEL_FAULT,
};
use buddy::{BuddyPool, DEFAULT_MAX_ORDER};
use log::{error, info, warn};
use memserver::{
    ClientConfig, ClientId, MapAttrs, MapError, Mapper, OwnerId, PhysRange, Quota, Server,
    ServerConfig, VaRange, VmapConfig,
};
use talc::{ErrOnOom, Span, Talc, Talck};
use userlib::{dev, sys, LineBuf};

/// Where the kernel maps the Pool (`kernel/src/manifest.rs`).
const LINEAR_MAP_BASE: u32 = 0x5000_0000;
/// The server's own heap, carved from the start of the pool.
const HEAP_BYTES: u32 = 8 << 20;
/// Most clients (capability slots bound it anyway).
const MAX_CLIENTS: usize = 12;

const EP: CapSlot = CapSlot(0);
const POOL: CapSlot = CapSlot(1);

#[global_allocator]
static HEAP: Talck<spin::Mutex<()>, ErrOnOom> = Talc::new(ErrOnOom).lock();

/// One client as the server's capabilities describe it.
#[derive(Clone, Copy, Debug)]
struct ClientSlots {
    id: u32,
    vspace: CapSlot,
    quota_pages: u32,
    /// Window quota in pages (`cap_info` part 1).
    window_pages: u32,
    /// May see every client's areas and usage.
    observer: bool,
    /// Promised to free everything: areas left at exit fail the run.
    strict: bool,
}

/// A Device capability and the client it was granted for.
#[derive(Clone, Copy, Debug)]
struct DeviceSlot {
    client: u32,
    slot: CapSlot,
    base: u32,
    count: u32,
}

/// The `Mapper` made of the kernel's map/unmap/flush calls.
struct KernelMapper {
    clients: Vec<ClientSlots>,
    devices: Vec<DeviceSlot>,
    pool_base: u32,
    pool_count: u32,
    /// Clients with unmapped-but-unflushed pages since the last flush.
    dirty: u32,
}

impl KernelMapper {
    fn client_index(&self, owner: OwnerId) -> Option<usize> {
        self.clients.iter().position(|c| c.id == owner.0)
    }

    fn frames_slot(&self, owner: OwnerId, pfn: Pfn, count: u32) -> Option<CapSlot> {
        let end = pfn.0.checked_add(count)?;
        if pfn.0 >= self.pool_base && end <= self.pool_base + self.pool_count {
            return Some(POOL);
        }
        self.devices
            .iter()
            .find(|d| d.client == owner.0 && pfn.0 >= d.base && end <= d.base + d.count)
            .map(|d| d.slot)
    }

    /// The linear-map address of a pool frame.
    fn linear(&self, pfn: u32) -> Option<u32> {
        let off = pfn.checked_sub(self.pool_base)?;
        (off < self.pool_count).then(|| LINEAR_MAP_BASE + (off << 12))
    }
}

impl Mapper for KernelMapper {
    fn map(
        &mut self,
        owner: OwnerId,
        va: VirtAddr,
        pfn: Pfn,
        count: u32,
        attrs: MapAttrs,
    ) -> Result<(), MapError> {
        // MapError carries the kernel's error number (0: the server's own
        // bookkeeping had no capability for the request).
        let Some(i) = self.client_index(owner) else {
            return Err(MapError(0));
        };
        let frames = self.frames_slot(owner, pfn, count).ok_or(MapError(0))?;
        // The attributes are abi's own type from the client's request to
        // here: passed to the kernel as they are (it checks them against
        // the frame capability).
        match sys::map_pages(
            self.clients[i].vspace,
            va,
            &[FrameRun { pfn: pfn.0, count }],
            attrs,
            frames,
        ) {
            Ok(n) if n == count => Ok(()),
            Ok(_) => Err(MapError(0)),
            Err(e) => Err(MapError(e.number())),
        }
    }

    fn unmap(&mut self, owner: OwnerId, va: VirtAddr, count: u32) {
        if let Some(i) = self.client_index(owner) {
            // A dead client's space is gone already: nothing to clear.
            let _ = sys::unmap_pages(self.clients[i].vspace, va, count);
            self.dirty |= 1 << i;
        }
    }

    fn flush_tlb(&mut self, ranges: &[VaRange]) {
        let pages_of = |r: &VaRange| r.end.0.saturating_sub(r.start.0) >> 12;
        let pages: u32 = ranges.iter().map(pages_of).sum();
        for (i, c) in self.clients.iter().enumerate() {
            if self.dirty & (1 << i) == 0 {
                continue;
            }
            if pages > 64 {
                let _ = sys::flush_tlb(c.vspace, VirtAddr(0), FLUSH_ALL);
            } else {
                for r in ranges {
                    let _ = sys::flush_tlb(c.vspace, r.start, pages_of(r));
                }
            }
        }
        self.dirty = 0;
    }

    fn zero_frames(&mut self, pfn: Pfn, count: u32) -> Result<(), MapError> {
        let start = self.linear(pfn.0).ok_or(MapError(0))?;
        let last = count
            .checked_sub(1)
            .and_then(|c| pfn.0.checked_add(c))
            .ok_or(MapError(0))?;
        self.linear(last).ok_or(MapError(0))?;
        // SAFETY: the frames are pool frames (checked above: the first and
        // the last lie in the pool, which is contiguous), mapped read-write
        // at their linear-map address in this task, and owned by the
        // server's allocator until it hands them out after this call. The
        // start is page aligned and the length a whole number of pages.
        unsafe { zero::zero_pages(start as *mut u8, count) };
        Ok(())
    }
}

/// Page zeroing with ARM block stores: every frame a client receives is
/// zeroed first (isolation), so this is on the path of every allocation.
///
/// `core::ptr::write_bytes` compiles to a call of the generic `memset`;
/// this loop stores eight zeroed registers per `stm` (32 bytes), eight
/// `stm`s per iteration: 10 instructions per 256 bytes, 160 per 4 KiB
/// page (measured at boot: `memserver: zeroing 256 pages took …`; Linux's
/// `init_on_alloc` costs about 475 per page on the same CPU).
mod zero {
    use core::arch::asm;

    /// Fills `pages` whole pages from `dst` with zeroes.
    ///
    /// # Safety
    /// `dst` must be page aligned, and `pages` pages from it mapped
    /// writable in this task and not referenced by any Rust object while
    /// this runs.
    pub unsafe fn zero_pages(dst: *mut u8, pages: u32) {
        // At most 1 GiB per loop, so the byte count never wraps to 0 (the
        // loop would then run past the range).
        const CHUNK_PAGES: u32 = 1 << 18;
        let mut dst = dst;
        let mut left = pages;
        while left > 0 {
            let n = left.min(CHUNK_PAGES);
            // SAFETY: `n` pages from `dst` lie inside the caller's range.
            unsafe { zero_chunk(dst, n << 12) };
            // In bounds: at most one past the caller's range.
            dst = dst.wrapping_add((n as usize) << 12);
            left -= n;
        }
    }

    /// Zeroes `bytes` (a non-zero multiple of 256) from `dst`.
    ///
    /// # Safety
    /// As [`zero_pages`], for `bytes` bytes.
    unsafe fn zero_chunk(dst: *mut u8, bytes: u32) {
        // SAFETY: the caller vouches for the range; the loop writes exactly
        // `bytes` bytes (a non-zero multiple of 256) upwards from `dst`,
        // touches no memory Rust knows about, and clobbers only the
        // registers listed.
        unsafe {
            asm!(
                "mov r2, #0",
                "mov r3, #0",
                "mov r4, #0",
                "mov r5, #0",
                "mov r8, #0",
                "mov r10, #0",
                "mov r12, #0",
                "mov lr, #0",
                "2:",
                "stmia r0!, {{r2-r5, r8, r10, r12, lr}}",
                "stmia r0!, {{r2-r5, r8, r10, r12, lr}}",
                "stmia r0!, {{r2-r5, r8, r10, r12, lr}}",
                "stmia r0!, {{r2-r5, r8, r10, r12, lr}}",
                "stmia r0!, {{r2-r5, r8, r10, r12, lr}}",
                "stmia r0!, {{r2-r5, r8, r10, r12, lr}}",
                "stmia r0!, {{r2-r5, r8, r10, r12, lr}}",
                "stmia r0!, {{r2-r5, r8, r10, r12, lr}}",
                "subs r1, r1, #256",
                "bne 2b",
                inout("r0") dst => _,
                inout("r1") bytes => _,
                out("r2") _,
                out("r3") _,
                out("r4") _,
                out("r5") _,
                out("r8") _,
                out("r10") _,
                out("r12") _,
                out("lr") _,
                options(nostack),
            );
        }
    }
}

#[no_mangle]
pub fn task_main(_arg: u32) -> i32 {
    userlib::init_logger();
    let Ok((2, pool_base, pool_count)) = sys::cap_info(POOL) else {
        error!("memserver: slot 1 is not a Pool capability");
        return 1;
    };
    // The board's RAM, from the kernel (the board layer knows it; no
    // address is built in here).
    let ram = match dev::pool_ram(POOL) {
        Ok((first, count)) => match count.checked_mul(abi::PAGE_SIZE) {
            Some(bytes) if count > 0 => PhysRange::new(first << abi::PAGE_SHIFT, bytes),
            _ => {
                error!("memserver: the Pool capability reports {count} RAM frames");
                return 1;
            }
        },
        Err(e) => {
            error!("memserver: no RAM range in the Pool capability (cap_info part 1): {e}");
            return 1;
        }
    };
    let heap_pages = HEAP_BYTES >> 12;
    if pool_count <= heap_pages {
        error!("memserver: pool of {pool_count} frames is too small");
        return 1;
    }
    // SAFETY: the first HEAP_BYTES of the pool are mapped read-write at
    // LINEAR_MAP_BASE for this task and are never given to the buddy pool.
    unsafe {
        if HEAP
            .lock()
            .claim(Span::from_base_size(
                LINEAR_MAP_BASE as *mut u8,
                HEAP_BYTES as usize,
            ))
            .is_err()
        {
            error!("memserver: cannot set up the heap");
            return 1;
        }
    }

    // Clients and their device grants, from the capability table.
    let mut clients = Vec::new();
    let mut devices = Vec::new();
    for slot in 2..16 {
        match sys::cap_info(CapSlot(slot)) {
            Ok((4, task, quota)) if clients.len() < MAX_CLIENTS => {
                let Ok((window_pages, flags)) = sys::cap_info_limits(CapSlot(slot)) else {
                    error!("memserver: no client limits in the VSpace capability in slot {slot}");
                    return 1;
                };
                clients.push(ClientSlots {
                    id: task,
                    vspace: CapSlot(slot),
                    quota_pages: quota,
                    window_pages,
                    observer: flags.contains(ClientFlags::OBSERVER),
                    strict: flags.contains(ClientFlags::STRICT),
                })
            }
            Ok((3, base, count)) => match clients.last() {
                Some(c) => devices.push(DeviceSlot {
                    client: c.id,
                    slot: CapSlot(slot),
                    base,
                    count,
                }),
                None => warn!("memserver: device capability in slot {slot} before any client"),
            },
            _ => {}
        }
    }

    let mut pool = match BuddyPool::new(DEFAULT_MAX_ORDER) {
        Ok(p) => p,
        Err(e) => {
            error!("memserver: buddy pool: {e:?}");
            return 1;
        }
    };
    measure_zeroing(pool_count - heap_pages);
    if let Err(e) = pool.add_range(Pfn(pool_base + heap_pages), pool_count - heap_pages) {
        error!("memserver: buddy pool: {e:?}");
        return 1;
    }
    let boot_free = pool.free_frames();
    let mut config = ServerConfig::new(VmapConfig::default());
    config.ram.push(ram);
    for c in &clients {
        let mut cc = ClientConfig::new(
            ClientId(c.id),
            Quota::new(c.quota_pages, c.quota_pages.max(16), c.window_pages),
        )
        .with_observer(c.observer);
        for d in devices.iter().filter(|d| d.client == c.id) {
            cc = cc.with_device(PhysRange::new(d.base << 12, d.count << 12));
        }
        config.clients.push(cc);
    }
    let mapper = KernelMapper {
        clients: clients.clone(),
        devices: devices.clone(),
        pool_base,
        pool_count,
        dirty: 0,
    };
    let mut server = match Server::new(config, pool, mapper) {
        Ok(s) => s,
        Err(e) => {
            error!("memserver: configuration refused: {e}");
            return 1;
        }
    };
    info!(
        "memserver: pool {:#010x}-{:#010x} ({} MiB, {} KiB heap), {} frames for vmalloc, {} clients, {} device grants",
        pool_base << 12,
        ((pool_base + pool_count) << 12) - 1,
        pool_count >> 8,
        HEAP_BYTES >> 10,
        boot_free,
        clients.len(),
        devices.len()
    );
    info!(
        "memserver: RAM {:#010x}-{:#010x} (from the Pool capability): never ioremapped",
        ram.start.0,
        ram.end() - 1
    );
    let mut line = LineBuf::new();
    let _ = server.pool().write_buddyinfo(&mut line);
    info!("memserver: boot {}", line.as_str());

    let mut gone = 0usize;
    // Strict clients that exited or faulted holding areas.
    let mut strict_leaks = 0u32;
    let mut reply: Option<MessageTag> = None;
    loop {
        let received = match reply.take() {
            Some(tag) => sys::reply_recv(EP, tag),
            None => sys::recv(EP),
        };
        let (badge, tag) = match received {
            Ok(v) => v,
            Err(e) => {
                error!("memserver: receive failed: {e}");
                return 1;
            }
        };
        let len = tag.length();
        if tag.label() == LABEL_FAULT {
            let Some(report) = FaultMessage::read_from(&sys::ipc_buffer().bytes[..len]) else {
                continue;
            };
            let client = ClientId(report.task);
            let strict = clients.iter().any(|c| c.id == report.task && c.strict);
            if report.fault_kind() == Some(FaultKind::Exit) {
                let summary = server.client_exited(client);
                info!(
                    "memserver: client {} exited (code {}): {}",
                    report.task, report.exit_code as i32, summary
                );
                strict_leaks += leak_report(&summary, "exited", strict);
            } else {
                let outcome = server.client_faulted(client, VirtAddr(report.address));
                match &outcome.overrun {
                    Some(o) => warn!(
                        "memserver: client {} faulted at {:#010x}: {}",
                        report.task, report.address, o
                    ),
                    None => warn!(
                        "memserver: client {} faulted at {:#010x} (no area of its own there)",
                        report.task, report.address
                    ),
                }
                info!(
                    "memserver: client {} reclaimed: {}",
                    report.task, outcome.reclaimed
                );
                strict_leaks += leak_report(&outcome.reclaimed, "faulted", strict);
            }
            gone += 1;
            if gone == clients.len() {
                let status = finish(&mut server, boot_free);
                if strict_leaks > 0 {
                    error!("memserver: LEAK: {strict_leaks} strict clients exited holding areas");
                    return 1;
                }
                return status;
            }
            continue;
        }
        // Decoded in place: the reply overwrites the request only after
        // its body was read.
        let out = server.handle_in_place(ClientId(badge.0), &mut sys::ipc_buffer().bytes[..], len);
        reply = Some(MessageTag::new(userlib::mem::MEMSERVER_LABEL, out).unwrap_or_default());
    }
}

/// Logs the leak report of a client that `how` ("exited", "faulted")
/// holding areas (its heap's excepted): a header, then one line per caller
/// tag. Returns 1 if the client is strict and held any (that fails the
/// run), else 0.
fn leak_report(summary: &memserver::ExitSummary, how: &str, strict: bool) -> u32 {
    if summary.leaks.is_empty() {
        return 0;
    }
    let client = summary.client.0;
    // Plain info lines (no level prefix): the host symbolizer and tests
    // match them from their start.
    info!(
        "memserver: leak report: client {} {} holding {} areas, {} bytes:",
        client,
        how,
        summary.leaked_areas(),
        summary.leaked_bytes()
    );
    for group in &summary.leaks {
        info!("memserver:   {group} owner={client}");
    }
    if strict {
        error!("memserver: client {client} is strict: areas left at exit fail the run");
        1
    } else {
        0
    }
}

/// Frames the boot-time zeroing measurement clears (1 MiB).
const ZERO_PROBE_PAGES: u32 = 256;

/// Times [`zero::zero_pages`] over the first frames after the heap, before
/// they join the buddy pool (nobody holds them yet), and logs the cost per
/// page: under `-icount shift=0` one instruction is 1 ns, and the counter
/// runs at the frequency `read_counter` reports.
fn measure_zeroing(frames_after_heap: u32) {
    let pages = ZERO_PROBE_PAGES.min(frames_after_heap);
    let addr = LINEAR_MAP_BASE + HEAP_BYTES;
    let (t0, hz) = sys::read_counter();
    // SAFETY: `pages` frames right after the heap, mapped read-write at
    // their linear-map address; they are not in the buddy pool yet, so
    // nothing refers to them.
    unsafe { zero::zero_pages(addr as *mut u8, pages) };
    let (t1, _) = sys::read_counter();
    if pages > 0 {
        let ticks = t1.saturating_sub(t0);
        info!(
            "memserver: zeroing {} pages took {} ticks (under -icount: {} instructions per page)",
            pages,
            ticks,
            dev::ticks_to_ns(ticks, hz) / u64::from(pages)
        );
    }
}

/// Every client is gone: nothing may be left.
fn finish(server: &mut Server<KernelMapper>, boot_free: u32) -> i32 {
    server.purge();
    let free = server.pool().free_frames();
    let mut line = LineBuf::new();
    let _ = server.pool().write_buddyinfo(&mut line);
    info!("memserver: final {}", line.as_str());
    if free == boot_free && server.check_invariants().is_ok() {
        info!("memserver: all clients gone; buddy free frames {free} == boot value {boot_free}: nothing leaked");
        0
    } else {
        error!("memserver: LEAK: buddy free frames {free} != boot value {boot_free}");
        1
    }
}
