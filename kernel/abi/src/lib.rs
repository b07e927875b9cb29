//! The kernel ABI: everything the kernel and user tasks must agree on.
//!
//! One crate, shared by the kernel, the memory server and every task (the
//! Hubris model), so a number changes in exactly one place. The prose
//! specification is `doc/syscalls.md`; this crate is its executable form.
//!
//! Nothing here is `unsafe`: the IPC buffer and the kernel-written messages
//! are plain-old-data types (`zerocopy`), so both sides view them as bytes
//! without pointer casts.
#![no_std]
#![forbid(unsafe_code)]

pub mod addr;
pub mod cap;
pub mod error;
pub mod fault;
pub mod ipc_buffer;
pub mod layout;
pub mod map;
pub mod msg;
pub mod syscall;

pub use addr::{Pfn, PhysAddr, VirtAddr, PAGE_SHIFT, PAGE_SIZE};
pub use cap::{
    Badge, CapSlot, CapType, ClientFlags, DeviceInfo, DeviceRole, EndpointRights, IrqNumber,
};
pub use error::KernelError;
pub use fault::{FaultKind, FaultMessage, TaskId};
pub use ipc_buffer::{FrameRun, IpcBuffer, IPC_BUFFER_SIZE, MAX_FRAME_RUNS};
pub use layout::{IPC_BUFFER_VADDR, VMALLOC_END_DEFAULT, VMALLOC_START_DEFAULT};
pub use map::{MapAttrs, MemType};
pub use msg::{Label, MessageTag, LABEL_FAULT, LABEL_KERNEL_MIN};
pub use syscall::{Syscall, CAP_INFO_BASIC, CAP_INFO_LIMITS, FLUSH_ALL, NO_IRQ};
