//! The kernel state and the scheduler: fixed priorities, round-robin
//! within a priority on the timer tick, `wfi` when nothing is ready.
//!
//! Every user trap saves the user registers into the current task's
//! control block, acts, then loads the registers of whichever task runs
//! next into the frame the trap returns through. Switching is therefore a
//! copy of 72 bytes each way plus, for a different address space, a
//! CONTEXTIDR/TTBR0 write.

use abi::{FaultMessage, KernelError, TaskId, VMALLOC_END_DEFAULT, VMALLOC_START_DEFAULT};
use kerncore::asid::{AsidAllocator, AsidOutcome};
use kerncore::fault::TaskEnd;
use kerncore::psr::Mode;
use kerncore::runqueue::RunQueue;
use log::{info, warn};
use spin::{Mutex, MutexGuard};

use crate::arch::trap::{TrapFrame, TrapKind};
use crate::arch::{barrier, cp15, irq};
use crate::kpool::KPOOL;
use crate::semihosting::ExitStatus;
use crate::task::{Endpoint, State, Task, MAX_ENDPOINTS, MAX_TASKS};
use crate::{interrupts, mm};

/// Interrupt IDs a task may handle: every GIC ID below the special range
/// (1020-1023), so any device a board describes can be bound.
pub const MAX_IRQ_ID: u32 = 1020;

/// Everything the kernel knows about tasks.
pub struct Kernel {
    /// Task table.
    pub tasks: [Option<Task>; MAX_TASKS],
    /// Endpoints.
    pub endpoints: [Endpoint; MAX_ENDPOINTS],
    /// Ready tasks other than the running one.
    pub runq: RunQueue,
    /// The running task.
    pub current: Option<usize>,
    /// Whose tables TTBR0 holds.
    loaded: Option<usize>,
    asids: AsidAllocator,
    /// Interrupt → handling task.
    pub irq_owner: [Option<u8>; MAX_IRQ_ID as usize],
    /// `[start, end)` of the vmalloc window.
    pub window: (u32, u32),
    /// Set when a tick asks for a round-robin turn.
    preempt: bool,
    /// System-call and switch counters.
    pub stats: Stats,
    /// Tasks that faulted or exited non-zero without `expect_failure`:
    /// any makes the run fail when the root task ends.
    unexpected_failures: u32,
}

/// Counters printed at shutdown.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// System calls handled (wrapping: a 64-bit count costs the hot path).
    pub syscalls: u32,
    /// Address-space switches.
    pub switches: u32,
    /// ASID rollovers.
    pub rollovers: u32,
}

/// The one kernel state.
pub static KERNEL: Mutex<Kernel> = Mutex::new(Kernel::new());

const NO_TASK: Option<Task> = None;

impl Kernel {
    const fn new() -> Self {
        Self {
            tasks: [NO_TASK; MAX_TASKS],
            endpoints: [Endpoint::new(); MAX_ENDPOINTS],
            runq: RunQueue::new(),
            current: None,
            loaded: None,
            asids: AsidAllocator::new(),
            irq_owner: [None; MAX_IRQ_ID as usize],
            window: (VMALLOC_START_DEFAULT.0, VMALLOC_END_DEFAULT.0),
            preempt: false,
            stats: Stats {
                syscalls: 0,
                switches: 0,
                rollovers: 0,
            },
            unexpected_failures: 0,
        }
    }

    /// The task in slot `t` (callers only pass live indices).
    #[inline(always)]
    pub fn task(&mut self, t: usize) -> &mut Task {
        match self.tasks.get_mut(t).and_then(Option::as_mut) {
            Some(task) => task,
            None => panic!("no task in slot {t}"),
        }
    }

    /// Writes a system call's results into task `t`'s saved registers.
    pub fn set_result(&mut self, t: usize, r: Result<[u32; 3], KernelError>) {
        let ctx = &mut self.task(t).ctx;
        match r {
            Ok(v) => {
                ctx.r[0] = 0;
                ctx.r[1..4].copy_from_slice(&v);
            }
            Err(e) => {
                ctx.r[0] = e.number();
                ctx.r[1..4].fill(0);
            }
        }
    }

    /// Makes `t` ready to run.
    pub fn make_ready(&mut self, t: usize) {
        let prio = {
            let task = self.task(t);
            task.state = State::Ready;
            task.prio as usize
        };
        if self.current != Some(t) {
            self.runq.push_back(t, prio);
        }
    }

    /// Makes `t` the running task at once (the IPC fast path): the old
    /// current task must already be blocked or queued.
    pub fn switch_directly(&mut self, t: usize) {
        self.task(t).state = State::Ready;
        self.runq
            .remove(t, self.tasks[t].as_ref().map_or(0, |x| x.prio as usize));
        self.current = Some(t);
    }

    /// Ends task `t` with `report` (fault or exit), telling its supervisor.
    /// A failure (fault, non-zero exit) is logged and, unless the manifest
    /// expects it, remembered: it fails the run.
    pub fn kill(&mut self, t: usize, report: FaultMessage) {
        let end = TaskEnd(report);
        if end.is_failure() {
            let task = self.task(t);
            if task.expect_failure {
                info!("task {} failed as expected: {end}", task.name);
            } else {
                warn!("task {} failed: {end}", task.name);
                self.unexpected_failures += 1;
            }
        }
        if self.loaded == Some(t) {
            mm::load_empty_user_table();
            self.loaded = None;
        }
        let (vspace, asid, supervisor, root, irq) = {
            let task = self.task(t);
            let asid = task.vspace.as_ref().map(|v| v.asid);
            (
                task.vspace.take(),
                asid,
                task.supervisor,
                task.root,
                task.irq.take(),
            )
        };
        if let (Some(v), Some(tag)) = (vspace, asid) {
            if tag.generation == self.asids.generation() && tag.asid != 0 {
                crate::arch::barrier::tlb_invalidate_asid(tag.asid);
            }
            v.destroy(&mut KPOOL.lock());
        }
        if let Some(irq) = irq {
            if let Some(o) = self.irq_owner.get_mut(irq as usize) {
                *o = None;
            }
            interrupts::disable(irq);
        }
        // Callers waiting for this task's reply would wait forever.
        for other in 0..MAX_TASKS {
            let waiting = matches!(
                self.tasks[other].as_ref().map(|x| x.state),
                Some(State::AwaitingReply { server }) if server as usize == t
            );
            if waiting {
                self.set_result(other, Err(KernelError::PeerGone));
                self.make_ready(other);
            }
        }
        let prio = self.task(t).prio as usize;
        self.runq.remove(t, prio);
        if self.current == Some(t) {
            self.current = None;
        }
        if root {
            let code = report.exit_code as i32;
            let root_ok = report.kind == abi::FaultKind::Exit as u32 && code == 0;
            info!(
                "system: root task {} ended ({}), shutting down",
                self.task(t).name,
                if root_ok { "exit 0" } else { "failure" }
            );
            if self.unexpected_failures > 0 {
                warn!(
                    "run failed: {} task(s) failed unexpectedly",
                    self.unexpected_failures
                );
            }
            let ok = root_ok && self.unexpected_failures == 0;
            info!(
                "system: {} syscalls, {} address-space switches, {} ASID rollovers, kernel pool {} KiB used",
                self.stats.syscalls,
                self.stats.switches,
                self.stats.rollovers,
                KPOOL.lock().used_bytes() / 1024
            );
            crate::shutdown(if ok {
                ExitStatus::Success
            } else {
                ExitStatus::TestFailure
            });
        }
        match supervisor {
            Some((ep, badge)) => {
                let task = self.task(t);
                task.report = Some(report);
                task.send_badge = badge;
                task.state = State::Reporting { ep };
                self.offer_report(t, ep as usize);
            }
            None => self.task(t).state = State::Dead,
        }
    }

    /// Reports why `cur` faulted, then kills it.
    pub fn fault_current(&mut self, cur: usize, kind: TrapKind, frame: &TrapFrame) {
        let (mut fault_kind, address, status) = match kind {
            TrapKind::DataAbort => (
                abi::FaultKind::DataAbort,
                cp15::Dfar::read(),
                cp15::Dfsr::read(),
            ),
            TrapKind::PrefetchAbort => (
                abi::FaultKind::PrefetchAbort,
                cp15::Ifar::read(),
                cp15::Ifsr::read(),
            ),
            _ => (
                abi::FaultKind::UndefinedInstruction,
                frame.pc.wrapping_sub(4),
                0,
            ),
        };
        let pc = match kind {
            TrapKind::Undefined => frame.pc.wrapping_sub(4),
            _ => frame.pc,
        };
        let id = self.task(cur).id;
        let stack = self.task(cur).stack;
        let overflow =
            fault_kind == abi::FaultKind::DataAbort && stack.is_overflow(address, frame.sp_usr);
        if overflow {
            fault_kind = abi::FaultKind::StackOverflow;
            warn!(
                "stack overflow in task {} (fault at {:#010x}, stack {:#010x}-{:#010x})",
                self.task(cur).name,
                address,
                stack.bottom,
                stack.top
            );
        } else {
            warn!(
                "task {} (id {}) faulted: {:?} at {:#010x}, pc {:#010x}, status {:#x}",
                self.task(cur).name,
                id.0,
                fault_kind,
                address,
                pc,
                status
            );
        }
        let report = FaultMessage {
            task: id.0,
            kind: fault_kind as u32,
            address,
            pc,
            status,
            exit_code: 0,
        };
        self.kill(cur, report);
    }

    /// Picks what runs next. Returns `None` if nothing is ready.
    fn pick(&mut self) -> Option<usize> {
        if let Some(cur) = self.current {
            let prio = self.task(cur).prio as usize;
            let more_urgent = self.runq.highest().is_some_and(|p| p < prio);
            let same_turn = self.preempt && self.runq.highest() == Some(prio);
            if self.task(cur).state == State::Ready && !more_urgent && !same_turn {
                self.preempt = false;
                return Some(cur);
            }
            if self.task(cur).state == State::Ready {
                self.runq.push_back(cur, prio);
            }
            self.current = None;
        }
        self.preempt = false;
        let next = self.runq.pop()?;
        self.current = Some(next);
        Some(next)
    }

    /// Loads task `t`'s address space; returns its context, which the
    /// trap exit restores (and the next user trap saves into: TPIDRPRW).
    #[inline(always)]
    pub(crate) fn load(&mut self, t: usize) -> *const TrapFrame {
        if self.loaded != Some(t) {
            let asids = &mut self.asids;
            if let Some(vs) = self.tasks[t].as_mut().and_then(|task| task.vspace.as_mut()) {
                let outcome = asids.ensure(&mut vs.asid);
                if outcome == AsidOutcome::RolledOver {
                    self.stats.rollovers += 1;
                    // SAFETY: flushing only drops cached translations;
                    // the kernel half is global and re-walked on demand.
                    unsafe { barrier::tlb_invalidate_all() };
                }
                mm::load_user_table(vs.ttbr0(), vs.asid.asid);
            }
            self.loaded = Some(t);
            self.stats.switches = self.stats.switches.wrapping_add(1);
        }
        let ctx = &mut self.task(t).ctx as *mut TrapFrame;
        // SAFETY: TPIDRPRW is only read by the user-trap entry, which
        // stores the user registers through it while no Rust code runs;
        // the context lives in the static task table and stays put.
        unsafe { cp15::Tpidrprw::write(ctx as u32) };
        ctx
    }
}

/// Handles a trap from user mode (registers already saved in the current
/// task's context): act, choose, and return the context to resume.
pub fn user_trap(kind: TrapKind) -> *const TrapFrame {
    let mut k = KERNEL.lock();
    let Some(cur) = k.current else {
        let frame = TrapFrame::default();
        drop(k);
        crate::trap::fatal(&frame, kind);
    };
    match kind {
        TrapKind::Svc => {
            k.stats.syscalls = k.stats.syscalls.wrapping_add(1);
            if let Some(ctx) = crate::ipc::fastpath(&mut k, cur) {
                return ctx;
            }
            crate::syscall::dispatch(&mut k, cur);
        }
        TrapKind::Irq => {
            let ticked = interrupts::dispatch(&mut |irq| k.irq_fired(irq));
            if ticked {
                k.preempt = true;
            }
        }
        TrapKind::DataAbort | TrapKind::PrefetchAbort | TrapKind::Undefined => {
            let frame = k.task(cur).ctx;
            k.fault_current(cur, kind, &frame);
        }
        TrapKind::Fiq | TrapKind::Reset => {
            let frame = k.task(cur).ctx;
            k.fault_current(cur, TrapKind::Undefined, &frame);
        }
    }
    // Fast exit: the caller goes on running (most system calls). Its
    // context is what TPIDRPRW already names and its tables are loaded.
    if let Some(t) = k.current.and_then(|c| k.tasks[c].as_ref()) {
        let urgent = k.runq.highest().is_some_and(|p| p < t.prio as usize);
        if !k.preempt && !urgent && t.state == State::Ready {
            return &t.ctx as *const TrapFrame;
        }
    }
    run_next(k)
}

/// Chooses the next task, loads its address space and returns its
/// context (also stored in TPIDRPRW for the next trap), idling with `wfi`
/// (IRQs on, kernel lock released) while nothing is ready.
fn run_next(mut k: MutexGuard<'_, Kernel>) -> *const TrapFrame {
    loop {
        if let Some(next) = k.pick() {
            return k.load(next);
        }
        drop(k);
        // SAFETY: vectors and handlers are set up; an IRQ taken here nests
        // on this stack and returns to this loop.
        unsafe { irq::enable() };
        barrier::wfi();
        irq::disable();
        k = KERNEL.lock();
    }
}

/// Handles an IRQ that interrupted the kernel (the idle loop).
pub fn kernel_irq() {
    interrupts::dispatch(&mut |irq| KERNEL.lock().irq_fired(irq));
}

/// Starts the first task; never returns.
pub fn start() -> ! {
    let ctx = run_next(KERNEL.lock());
    let top = mm::svc_stack_top(0);
    // SAFETY: `ctx` is the chosen task's context (set up by the loader with
    // a user-mode CPSR) and its tables are loaded; `kmain`'s frames below
    // `top` are abandoned.
    unsafe { crate::arch::trap::enter_user(ctx, top) }
}

impl Kernel {
    /// An interrupt bound to a task fired: mask it and wake the task.
    pub fn irq_fired(&mut self, irq: u32) -> bool {
        let Some(owner) = self.irq_owner.get(irq as usize).copied().flatten() else {
            return false;
        };
        let t = owner as usize;
        interrupts::disable(irq);
        if self.tasks[t].as_ref().map(|x| x.state) == Some(State::AwaitingIrq) {
            self.set_result(t, Ok([0; 3]));
            self.make_ready(t);
        } else {
            self.task(t).irq_pending = true;
        }
        true
    }

    /// Task `t`'s ASID if TLB entries tagged with it may exist: it has one
    /// (not 0) of the current generation (a rollover invalidated all older
    /// ones).
    pub fn live_asid(&mut self, t: usize) -> Option<u8> {
        let generation = self.asids.generation();
        let tag = self.task(t).vspace.as_ref()?.asid;
        (tag.generation == generation && tag.asid != 0).then_some(tag.asid)
    }

    /// Creates a task in a free slot; returns its index.
    pub fn add_task(&mut self, mut task: Task) -> Option<usize> {
        let slot = self.tasks.iter().position(Option::is_none)?;
        task.id = TaskId(slot as u32 + 1);
        let prio = task.prio as usize;
        self.tasks[slot] = Some(task);
        self.runq.push_back(slot, prio);
        Some(slot)
    }
}

/// Initial user registers: user mode, ARM state, IRQs on.
pub fn initial_context(entry: u32, sp: u32, arg: u32) -> TrapFrame {
    let mut ctx = TrapFrame {
        pc: entry,
        cpsr: Mode::User as u32,
        sp_usr: sp,
        ..TrapFrame::default()
    };
    ctx.r[0] = arg;
    ctx
}
