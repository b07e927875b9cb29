//! System-call dispatch (`doc/syscalls.md`). Each call validates every
//! argument before it changes anything; a bad argument is a `KernelError`
//! in r0, never a kernel panic.

use abi::{KernelError, MapAttrs, Syscall, FLUSH_ALL, IPC_BUFFER_SIZE, MAX_FRAME_RUNS};
use kerncore::mmu::Attributes;
use log::info;
use zerocopy::FromBytes;

use crate::kpool::{page_bytes, KPOOL};
use crate::sched::Kernel;
use crate::task::{Cap, State};
use crate::{arch::barrier, interrupts, mm, time};

/// Longest `log` text accepted (one IPC buffer).
const LOG_MAX: usize = IPC_BUFFER_SIZE;
/// End of the user half (TTBR0); `mapping_info` above it is refused.
const USER_HALF_END: u32 = 0x8000_0000;
/// Above this many pages `flush_tlb` invalidates the whole ASID.
const FLUSH_PAGE_LIMIT: u32 = 64;

/// Runs the call in task `cur`'s saved registers. The calls other than IPC
/// are kept out of line (`inline(never)`) so their frames and spills do not
/// weigh on the IPC path through this function.
pub fn dispatch(k: &mut Kernel, cur: usize) {
    let (a, nr, pc) = {
        let ctx = &k.task(cur).ctx;
        (
            [ctx.r[0], ctx.r[1], ctx.r[2], ctx.r[3], ctx.r[4], ctx.r[5]],
            ctx.r[7],
            ctx.pc,
        )
    };
    let Some(call) = Syscall::from_number(nr) else {
        k.set_result(cur, Err(KernelError::BadSyscall));
        return;
    };
    // Blocking calls set their own results when they complete; an error
    // is reported at once.
    let result: Result<[u32; 3], KernelError> = match call {
        Syscall::Send => k.sys_send(cur, a[0], a[1], false).map(|()| [0; 3]),
        Syscall::Call => k.sys_send(cur, a[0], a[1], true).map(|()| [0; 3]),
        Syscall::Recv => k.sys_recv(cur, a[0]).map(|()| [0; 3]),
        Syscall::ReplyRecv => k.sys_reply_recv(cur, a[0], a[1]).map(|()| [0; 3]),
        Syscall::Yield => {
            k.set_result(cur, Ok([0; 3]));
            k.yield_current();
            return;
        }
        Syscall::Exit => {
            let report = abi::FaultMessage {
                task: k.task(cur).id.0,
                kind: abi::FaultKind::Exit as u32,
                address: 0,
                pc,
                status: 0,
                exit_code: a[0],
            };
            k.kill(cur, report);
            return;
        }
        Syscall::Log => sys_log(k, cur, a[0], a[1]),
        Syscall::MapPages => sys_map_pages(k, cur, a),
        Syscall::UnmapPages => sys_unmap_pages(k, cur, a[0], a[1], a[2]),
        Syscall::FlushTlb => sys_flush_tlb(k, cur, a[0], a[1], a[2]),
        Syscall::IrqBind => sys_irq_bind(k, cur, a[0]),
        Syscall::IrqWait => sys_irq_wait(k, cur, a[0]),
        Syscall::IrqAck => sys_irq_ack(k, cur, a[0]),
        Syscall::CapInfo => sys_cap_info(k, cur, a[0], a[1]),
        Syscall::MappingInfo => sys_mapping_info(k, cur, a[0]),
        Syscall::ReadCounter => {
            let now = time::now_ticks();
            Ok([now as u32, (now >> 32) as u32, time::clock_hz()])
        }
    };
    match result {
        Err(e) => {
            // A blocking call that failed validation did not block.
            k.set_result(cur, Err(e));
        }
        Ok(v) => {
            let blocking = matches!(
                call,
                Syscall::Send
                    | Syscall::Call
                    | Syscall::Recv
                    | Syscall::ReplyRecv
                    | Syscall::IrqWait
            );
            if !blocking {
                k.set_result(cur, Ok(v));
            }
        }
    }
}

impl Kernel {
    /// Puts the running task at the back of its priority's queue.
    pub fn yield_current(&mut self) {
        if let Some(cur) = self.current.take() {
            let prio = self.task(cur).prio as usize;
            self.runq.push_back(cur, prio);
        }
    }

    fn cap(&mut self, t: usize, slot: u32) -> Result<Cap, KernelError> {
        self.task(t)
            .caps
            .get(slot as usize)
            .copied()
            .flatten()
            .ok_or(KernelError::InvalidCapability)
    }

    /// The task a VSpace capability names, if it is alive.
    fn vspace_target(&mut self, t: usize, slot: u32) -> Result<usize, KernelError> {
        match self.cap(t, slot)? {
            Cap::VSpace { task, .. } => {
                let target = task as usize;
                match self.tasks.get(target).and_then(Option::as_ref) {
                    Some(x) if x.vspace.is_some() => Ok(target),
                    _ => Err(KernelError::PeerGone),
                }
            }
            _ => Err(KernelError::WrongCapabilityType),
        }
    }

    /// Checks `[vaddr, vaddr + pages)` is page aligned and inside the
    /// vmalloc window.
    fn window_range(&self, vaddr: u32, pages: u32) -> Result<(), KernelError> {
        if pages == 0 {
            return Err(KernelError::InvalidArgument);
        }
        if vaddr & 0xfff != 0 {
            return Err(KernelError::Unaligned);
        }
        let bytes = pages.checked_mul(4096).ok_or(KernelError::OutOfWindow)?;
        let end = vaddr.checked_add(bytes).ok_or(KernelError::OutOfWindow)?;
        if vaddr < self.window.0 || end > self.window.1 {
            return Err(KernelError::OutOfWindow);
        }
        Ok(())
    }
}

#[inline(never)]
fn sys_log(k: &mut Kernel, cur: usize, ptr: u32, len: u32) -> Result<[u32; 3], KernelError> {
    let len = len as usize;
    if len > LOG_MAX {
        return Err(KernelError::BadUserBuffer);
    }
    // A static buffer, not 4 KiB of kernel stack per call; the kernel lock
    // (held by the caller) serialises its users.
    static LOG_BUF: spin::Mutex<[u8; LOG_MAX]> = spin::Mutex::new([0; LOG_MAX]);
    let mut guard = LOG_BUF.lock();
    let buf = &mut *guard;
    if ptr == 0 {
        let pa = k.task(cur).ipc_buf;
        // SAFETY: the caller's IPC-buffer page, a kernel-pool page it owns;
        // the kernel lock excludes every other access.
        let src = unsafe { page_bytes(pa) };
        buf[..len].copy_from_slice(&src[..len]);
    } else {
        let task = k.task(cur);
        let vs = task.vspace.as_ref().ok_or(KernelError::BadUserBuffer)?;
        mm::copy_from_user(vs, ptr, &mut buf[..len])?;
    }
    let text = &buf[..len];
    let name = k.task(cur).name;
    // Printed whole, however long (the console has no line buffer to
    // overflow); a text of several lines gets the task's prefix on each.
    match core::str::from_utf8(text) {
        Ok(s) => {
            for line in s.trim_end().split('\n') {
                info!("[{name}] {}", line.trim_end_matches('\r'));
            }
        }
        Err(_) => info!("[{name}] {}", text.escape_ascii()),
    }
    Ok([0; 3])
}

#[inline(never)]
fn sys_map_pages(k: &mut Kernel, cur: usize, a: [u32; 6]) -> Result<[u32; 3], KernelError> {
    let (vslot, vaddr, nruns, raw_attrs, fslot) = (a[0], a[1], a[2] as usize, a[3], a[4]);
    // Checks in the order doc/syscalls.md gives them, all before acting.
    let target = k.vspace_target(cur, vslot)?;
    let frames_cap = k.cap(cur, fslot)?;
    if !matches!(frames_cap, Cap::Pool { .. } | Cap::Device { .. }) {
        return Err(KernelError::WrongCapabilityType);
    }
    let attrs = MapAttrs::from_raw(raw_attrs).ok_or(KernelError::AttributesNotAllowed)?;
    let allowed = match frames_cap {
        Cap::Pool { .. } => attrs.mem_type().allowed_for_ram(),
        _ => attrs.mem_type().allowed_for_device(),
    };
    if !allowed {
        return Err(KernelError::AttributesNotAllowed);
    }
    if nruns == 0 || nruns > MAX_FRAME_RUNS {
        return Err(KernelError::InvalidArgument);
    }
    // The runs are read in place from the caller's IPC buffer: the caller
    // cannot run (and change them) while the kernel holds the lock.
    let buf_pa = k.task(cur).ipc_buf;
    // SAFETY: the caller's own IPC-buffer page (kernel pool); the kernel
    // lock excludes every other access while `runs` lives.
    let bytes: &[u8; 4096] = unsafe { page_bytes(buf_pa) };
    let Ok((runs, _)) = <[abi::FrameRun]>::ref_from_prefix_with_elems(&bytes[..], nruns) else {
        return Err(KernelError::InvalidArgument);
    };
    let mut total: u32 = 0;
    for run in runs {
        if run.count == 0 || run.pfn.checked_add(run.count).is_none() {
            return Err(KernelError::InvalidArgument);
        }
        total = total
            .checked_add(run.count)
            .ok_or(KernelError::InvalidArgument)?;
    }
    k.window_range(vaddr, total)?;
    if runs[..nruns]
        .iter()
        .any(|r| !frames_cap.covers(r.pfn, r.count))
    {
        return Err(KernelError::FrameNotCovered);
    }
    let live_asid = k.live_asid(target);
    let mut pool = KPOOL.lock();
    let vs = k
        .task(target)
        .vspace
        .as_mut()
        .ok_or(KernelError::PeerGone)?;
    vs.map_pages(
        &mut pool,
        vaddr,
        total,
        Attributes::user_window(attrs),
        runs,
        live_asid,
    )?;
    Ok([total, 0, 0])
}

#[inline(never)]
fn sys_unmap_pages(
    k: &mut Kernel,
    cur: usize,
    vslot: u32,
    vaddr: u32,
    count: u32,
) -> Result<[u32; 3], KernelError> {
    let target = k.vspace_target(cur, vslot)?;
    k.window_range(vaddr, count)?;
    let vs = k
        .task(target)
        .vspace
        .as_mut()
        .ok_or(KernelError::PeerGone)?;
    Ok([vs.unmap_pages(vaddr, count), 0, 0])
}

#[inline(never)]
fn sys_flush_tlb(
    k: &mut Kernel,
    cur: usize,
    vslot: u32,
    vaddr: u32,
    count: u32,
) -> Result<[u32; 3], KernelError> {
    let target = k.vspace_target(cur, vslot)?;
    if count != FLUSH_ALL {
        k.window_range(vaddr, count)?;
    }
    let live_asid = k.live_asid(target);
    let vs = k
        .task(target)
        .vspace
        .as_mut()
        .ok_or(KernelError::PeerGone)?;
    // Tables the unmaps emptied are freed now: unhooked, the ASID
    // invalidated (which covers the requested range too), then freed.
    if vs.has_empty_tables() {
        let (_, invalidated) = vs.reclaim_empty(&mut KPOOL.lock(), live_asid);
        if invalidated {
            return Ok([0; 3]);
        }
    }
    let Some(asid) = live_asid else {
        // Never ran with a live ASID: no TLB entry can exist.
        return Ok([0; 3]);
    };
    if count == FLUSH_ALL || count > FLUSH_PAGE_LIMIT {
        barrier::tlb_invalidate_asid(asid);
    } else {
        barrier::tlb_invalidate_pages(vaddr, count, asid);
    }
    Ok([0; 3])
}

fn irq_of(k: &mut Kernel, cur: usize, slot: u32) -> Result<u32, KernelError> {
    match k.cap(cur, slot)? {
        Cap::Irq { irq } => Ok(irq),
        _ => Err(KernelError::WrongCapabilityType),
    }
}

#[inline(never)]
fn sys_irq_bind(k: &mut Kernel, cur: usize, slot: u32) -> Result<[u32; 3], KernelError> {
    let irq = irq_of(k, cur, slot)?;
    let owner = k
        .irq_owner
        .get_mut(irq as usize)
        .ok_or(KernelError::InvalidArgument)?;
    match *owner {
        Some(o) if o as usize != cur => return Err(KernelError::IrqAlreadyBound),
        _ => *owner = Some(cur as u8),
    }
    k.task(cur).irq = Some(irq);
    interrupts::enable(irq);
    Ok([0; 3])
}

#[inline(never)]
fn sys_irq_wait(k: &mut Kernel, cur: usize, slot: u32) -> Result<[u32; 3], KernelError> {
    let irq = irq_of(k, cur, slot)?;
    if k.task(cur).irq != Some(irq) {
        return Err(KernelError::IrqNotBound);
    }
    let t = k.task(cur);
    if t.irq_pending {
        t.irq_pending = false;
        t.ctx.r[0] = 0;
        t.ctx.r[1..4].fill(0);
    } else {
        t.state = State::AwaitingIrq;
    }
    Ok([0; 3])
}

#[inline(never)]
fn sys_irq_ack(k: &mut Kernel, cur: usize, slot: u32) -> Result<[u32; 3], KernelError> {
    let irq = irq_of(k, cur, slot)?;
    if k.task(cur).irq != Some(irq) {
        return Err(KernelError::IrqNotBound);
    }
    interrupts::enable(irq);
    Ok([0; 3])
}

#[inline(never)]
fn sys_cap_info(k: &mut Kernel, cur: usize, slot: u32, part: u32) -> Result<[u32; 3], KernelError> {
    let cap = k.cap(cur, slot)?;
    match (part, cap) {
        (abi::CAP_INFO_BASIC, _) => {}
        (
            abi::CAP_INFO_LIMITS,
            Cap::VSpace {
                window_pages,
                flags,
                ..
            },
        ) => return Ok([abi::CapType::VSpace as u32, window_pages, flags.bits()]),
        (abi::CAP_INFO_LIMITS, Cap::Device { irq, info, .. }) => {
            return Ok([abi::CapType::Device as u32, irq, info.0])
        }
        (abi::CAP_INFO_LIMITS, Cap::Pool { .. }) => {
            // The whole board RAM, kernel included: what the memory server
            // must never ioremap.
            let ram = mm::RAM.get().ok_or(KernelError::InvalidArgument)?;
            return Ok([abi::CapType::Pool as u32, ram.base.pfn().0, ram.size >> 12]);
        }
        _ => return Err(KernelError::InvalidArgument),
    }
    Ok(match cap {
        Cap::Endpoint { badge, rights, .. } => {
            [abi::CapType::Endpoint as u32, badge.0, rights.bits() as u32]
        }
        Cap::Pool { base, count } => [abi::CapType::Pool as u32, base.0, count],
        Cap::Device { base, count, .. } => [abi::CapType::Device as u32, base.0, count],
        Cap::VSpace { task, quota, .. } => [abi::CapType::VSpace as u32, task as u32 + 1, quota],
        Cap::Irq { irq } => [abi::CapType::Irq as u32, irq, 0],
    })
}

#[inline(never)]
fn sys_mapping_info(k: &mut Kernel, cur: usize, vaddr: u32) -> Result<[u32; 3], KernelError> {
    if vaddr >= USER_HALF_END {
        return Err(KernelError::OutOfWindow);
    }
    let vs = k.task(cur).vspace.as_ref().ok_or(KernelError::NotMapped)?;
    let m = vs.describe(vaddr).ok_or(KernelError::NotMapped)?;
    Ok([m.attrs.raw(), m.page.0, m.raw])
}
