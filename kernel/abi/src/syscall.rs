//! System call numbers and the register convention.
//!
//! Entry: `svc #0` (the kernel does not read the immediate), call number in
//! `r7`, arguments in `r0`–`r5`. Exit: `r0` = 0 or a [`KernelError`] number,
//! `r1`–`r3` = results; result registers a call does not define, and all of
//! `r1`–`r3` after an error, are 0 (no stale kernel values leak). Every other
//! register (`r4`–`r12`, `sp`, `lr`, CPSR flags) is preserved.
//!
//! `doc/syscalls.md` gives every call's registers, errors and rationale.
//!
//! [`KernelError`]: crate::KernelError

/// The register that carries the call number (`r7`, as in Linux EABI).
pub const SYSCALL_NUMBER_REGISTER: u8 = 7;
/// Number of argument registers (`r0`–`r5`).
pub const SYSCALL_ARG_REGISTERS: usize = 6;

/// `flush_tlb` count meaning "every entry of the address space" (the ASID).
pub const FLUSH_ALL: u32 = u32::MAX;

/// `cap_info` part 0: the capability's type and its two basic parameters.
pub const CAP_INFO_BASIC: u32 = 0;
/// `cap_info` part 1. VSpace capabilities: the client's window quota in
/// pages and its [`ClientFlags`](crate::ClientFlags). Pool capabilities:
/// the whole RAM of the board (first frame, frame count), kernel included,
/// so the memory server can refuse to `ioremap` any of it. Device
/// capabilities: r2 the device's interrupt number ([`NO_IRQ`] if none), r3
/// a [`DeviceInfo`](crate::DeviceInfo) word (role, instance, and the offset
/// of the registers inside the first frame).
pub const CAP_INFO_LIMITS: u32 = 1;

/// `cap_info` part 1 of a Device capability without an interrupt.
pub const NO_IRQ: u32 = u32::MAX;

/// A system call number (the value in `r7`).
///
/// 0 is deliberately unused: a forgotten `r7` is `BadSyscall`, not `send`.
/// Numbers are part of the ABI: never renumber, only append.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum Syscall {
    /// Send a message on an endpoint; blocks until a receiver takes it.
    /// In: r0 endpoint slot, r1 tag. Out: –.
    Send = 1,
    /// Receive on an endpoint; blocks until a sender arrives.
    /// In: r0 endpoint slot. Out: r1 badge, r2 tag.
    Recv = 2,
    /// Send, then block for the reply (sets the receiver's reply target).
    /// In: r0 endpoint slot, r1 tag. Out: r1 0, r2 reply tag.
    Call = 3,
    /// Reply to the pending caller (if any), then receive.
    /// In: r0 endpoint slot, r1 reply tag. Out: r1 badge, r2 tag.
    ReplyRecv = 4,
    /// Give up the rest of the time slice. In: –. Out: –.
    Yield = 5,
    /// End the calling task; never returns. In: r0 exit code.
    Exit = 6,
    /// Write bytes to the kernel log.
    /// In: r0 user pointer (0 = the caller's IPC buffer), r1 length.
    Log = 7,
    /// Map frame runs (listed at the start of the IPC buffer) into a task's
    /// window. In: r0 VSpace slot, r1 vaddr, r2 number of runs, r3 attrs,
    /// r4 Pool/Device slot covering the frames. Out: r1 pages mapped.
    MapPages = 8,
    /// Clear page-table entries (no TLB flush).
    /// In: r0 VSpace slot, r1 vaddr, r2 page count. Out: r1 entries cleared.
    UnmapPages = 9,
    /// Invalidate TLB entries of a task's address space.
    /// In: r0 VSpace slot, r1 vaddr, r2 page count or [`FLUSH_ALL`].
    FlushTlb = 10,
    /// Become the handler of an interrupt and enable it. In: r0 Irq slot.
    IrqBind = 11,
    /// Block until the bound interrupt fires (masked until `irq_ack`).
    /// In: r0 Irq slot.
    IrqWait = 12,
    /// Unmask the bound interrupt after handling it. In: r0 Irq slot.
    IrqAck = 13,
    /// Read the global timer.
    /// Out: r1 low word, r2 high word, r3 ticks per second.
    ReadCounter = 14,
    /// Describe the capability in a slot of the caller's own table.
    /// In: r0 slot, r1 part ([`CAP_INFO_BASIC`] or [`CAP_INFO_LIMITS`]).
    /// Out: r1 [`CapType`](crate::CapType) number, r2 and r3 its
    /// parameters. Part 0: Endpoint (badge, rights bits), Pool and Device
    /// (first frame, frame count), VSpace (task id, page quota), Irq
    /// (number, 0). Part 1, VSpace only: (window quota in pages,
    /// [`ClientFlags`](crate::ClientFlags) bits); any other part or type is
    /// `InvalidArgument`.
    CapInfo = 15,
    /// Describe the caller's own mapping of one page.
    /// In: r0 virtual address. Out: r1 [`MapAttrs`](crate::MapAttrs) of the
    /// installed entry, r2 physical address of the page, r3 the raw
    /// short-descriptor entry (for self-tests). `NotMapped` if nothing is
    /// mapped there; addresses at or above 2 GiB (the kernel half) are
    /// `OutOfWindow`.
    MappingInfo = 16,
}

impl Syscall {
    /// Every call, in number order (tests and the kernel's dispatch table).
    pub const ALL: [Syscall; 16] = [
        Syscall::Send,
        Syscall::Recv,
        Syscall::Call,
        Syscall::ReplyRecv,
        Syscall::Yield,
        Syscall::Exit,
        Syscall::Log,
        Syscall::MapPages,
        Syscall::UnmapPages,
        Syscall::FlushTlb,
        Syscall::IrqBind,
        Syscall::IrqWait,
        Syscall::IrqAck,
        Syscall::ReadCounter,
        Syscall::CapInfo,
        Syscall::MappingInfo,
    ];

    /// The number that goes in `r7`.
    #[inline]
    pub const fn number(self) -> u32 {
        self as u32
    }

    /// Decodes `r7`; `None` means the kernel answers `BadSyscall`.
    pub const fn from_number(number: u32) -> Option<Self> {
        Some(match number {
            1 => Syscall::Send,
            2 => Syscall::Recv,
            3 => Syscall::Call,
            4 => Syscall::ReplyRecv,
            5 => Syscall::Yield,
            6 => Syscall::Exit,
            7 => Syscall::Log,
            8 => Syscall::MapPages,
            9 => Syscall::UnmapPages,
            10 => Syscall::FlushTlb,
            11 => Syscall::IrqBind,
            12 => Syscall::IrqWait,
            13 => Syscall::IrqAck,
            14 => Syscall::ReadCounter,
            15 => Syscall::CapInfo,
            16 => Syscall::MappingInfo,
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_round_trip_and_are_dense() {
        for (i, call) in Syscall::ALL.iter().enumerate() {
            assert_eq!(call.number(), i as u32 + 1);
            assert_eq!(Syscall::from_number(call.number()), Some(*call));
        }
        assert_eq!(Syscall::from_number(0), None);
        assert_eq!(Syscall::from_number(17), None);
        assert_eq!(Syscall::from_number(u32::MAX), None);
    }

    #[test]
    fn numbers_are_frozen() {
        // The ABI promise: these exact values, forever.
        assert_eq!(Syscall::Send as u32, 1);
        assert_eq!(Syscall::Call as u32, 3);
        assert_eq!(Syscall::ReplyRecv as u32, 4);
        assert_eq!(Syscall::MapPages as u32, 8);
        assert_eq!(Syscall::ReadCounter as u32, 14);
    }
}
