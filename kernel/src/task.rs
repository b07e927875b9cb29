//! Tasks, capabilities and endpoints: the kernel's objects.

use abi::{Badge, EndpointRights, FaultMessage, MessageTag, Pfn, PhysAddr, TaskId};

use kerncore::stack::UserStack;

use crate::arch::trap::TrapFrame;
use crate::vspace::VSpace;

/// Most tasks in a system.
pub const MAX_TASKS: usize = 16;
/// Capability slots per task.
pub const MAX_CAPS: usize = 16;
/// Most endpoints in a system.
pub const MAX_ENDPOINTS: usize = 16;

/// A capability: an unforgeable right, held in a task's slot table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cap {
    /// Send to and/or receive from an endpoint; the badge tells the
    /// receiver who sent.
    Endpoint {
        /// Endpoint index.
        ep: u8,
        /// Delivered with every message sent through this capability.
        badge: Badge,
        /// What the holder may do.
        rights: EndpointRights,
    },
    /// Physical RAM frames the holder may map (normal memory).
    Pool {
        /// First frame.
        base: Pfn,
        /// Number of frames.
        count: u32,
    },
    /// Physical device frames the holder may map (device memory, XN).
    Device {
        /// First frame.
        base: Pfn,
        /// Number of frames.
        count: u32,
        /// The device's interrupt, or `abi::NO_IRQ` (`cap_info` part 1).
        irq: u32,
        /// Which device it is and where its registers start in the first
        /// frame (`cap_info` part 1).
        info: abi::DeviceInfo,
    },
    /// Edit the vmalloc window of a task's address space.
    VSpace {
        /// Task index.
        task: u8,
        /// A number the kernel carries for the holder, like a badge: the
        /// memory server reads it as the client's page quota.
        quota: u32,
        /// Carried like `quota`: the client's window quota in pages
        /// (`cap_info` part 1).
        window_pages: u32,
        /// Carried like `quota`: what else the client may do.
        flags: abi::ClientFlags,
    },
    /// Handle one interrupt.
    Irq {
        /// GIC interrupt ID.
        irq: u32,
    },
}

impl Cap {
    /// Whether the frames `[pfn, pfn + count)` lie inside this Pool or
    /// Device capability.
    pub fn covers(&self, pfn: u32, count: u32) -> bool {
        let (base, n) = match *self {
            Cap::Pool { base, count } | Cap::Device { base, count, .. } => (base.0, count),
            _ => return false,
        };
        let Some(end) = pfn.checked_add(count) else {
            return false;
        };
        count > 0 && pfn >= base && end <= base + n
    }
}

/// What a task is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Running or in the run queue.
    Ready,
    /// Queued on an endpoint to send (or call).
    Sending { ep: u8 },
    /// Queued on an endpoint to receive.
    Receiving { ep: u8 },
    /// Called `server` and waits for its reply.
    AwaitingReply { server: u8 },
    /// Waits for its bound interrupt.
    AwaitingIrq,
    /// Dead, with a fault/exit message queued for its supervisor.
    Reporting { ep: u8 },
    /// Gone; only the slot remains.
    Dead,
}

/// A task control block.
pub struct Task {
    /// Its identity in fault messages (index + 1).
    pub id: TaskId,
    /// Name, the prefix of its log lines.
    pub name: &'static str,
    /// 0 is the most urgent.
    pub prio: u8,
    /// What it is doing.
    pub state: State,
    /// Saved user registers.
    pub ctx: TrapFrame,
    /// Its address space (`None` once dead).
    pub vspace: Option<VSpace>,
    /// Capability slots.
    pub caps: [Option<Cap>; MAX_CAPS],
    /// Physical page of its IPC buffer.
    pub ipc_buf: PhysAddr,
    /// The caller waiting for this task's reply.
    pub reply_to: Option<u8>,
    /// While sending: the tag, badge and whether it is a call.
    pub send_tag: MessageTag,
    /// Badge of the capability used for the pending send.
    pub send_badge: Badge,
    /// Whether the pending send is a call.
    pub send_is_call: bool,
    /// The fault/exit report waiting for the supervisor.
    pub report: Option<FaultMessage>,
    /// Where reports go: endpoint and the badge they carry.
    pub supervisor: Option<(u8, Badge)>,
    /// Interrupt this task handles, and whether one is pending.
    pub irq: Option<u32>,
    /// An interrupt fired while the task was not waiting.
    pub irq_pending: bool,
    /// Ending this task ends the run (the test controller).
    pub root: bool,
    /// Its stack (a fault in the guard page below is a stack overflow).
    pub stack: UserStack,
    /// It fails on purpose (a test): its failure does not fail the run.
    pub expect_failure: bool,
}

/// A FIFO of task indices (each task is in at most one endpoint queue, so
/// `MAX_TASKS` entries always suffice): a ring, O(1) both ends.
#[derive(Clone, Copy, Debug)]
pub struct TaskFifo {
    slots: [u8; MAX_TASKS],
    head: u8,
    len: u8,
}

impl TaskFifo {
    /// Empty.
    pub const fn new() -> Self {
        Self {
            slots: [0; MAX_TASKS],
            head: 0,
            len: 0,
        }
    }
    /// Appends (ignored when full, which cannot happen: one entry per task).
    pub fn push(&mut self, t: usize) {
        if (self.len as usize) < MAX_TASKS {
            let tail = (self.head as usize + self.len as usize) % MAX_TASKS;
            self.slots[tail] = t as u8;
            self.len += 1;
        }
    }
    /// Takes the oldest.
    pub fn pop(&mut self) -> Option<usize> {
        if self.len == 0 {
            return None;
        }
        let t = self.slots[self.head as usize % MAX_TASKS];
        self.head = ((self.head as usize + 1) % MAX_TASKS) as u8;
        self.len -= 1;
        Some(t as usize)
    }
    /// The oldest, without taking it.
    pub fn peek(&self) -> Option<usize> {
        (self.len != 0).then(|| self.slots[self.head as usize % MAX_TASKS] as usize)
    }
    /// Whether empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A synchronous rendezvous point.
#[derive(Clone, Copy, Debug)]
pub struct Endpoint {
    /// Tasks waiting to send.
    pub senders: TaskFifo,
    /// Tasks waiting to receive.
    pub receivers: TaskFifo,
}

impl Endpoint {
    /// No one waiting.
    pub const fn new() -> Self {
        Self {
            senders: TaskFifo::new(),
            receivers: TaskFifo::new(),
        }
    }
}
