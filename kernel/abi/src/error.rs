//! Kernel error codes (the non-zero values of `r0` after a call).
//!
//! Sorted by who is to blame, as in Hubris:
//!
//! - **Caller faults**, 1–63: the arguments were wrong. The same call will
//!   fail the same way again; the fix is in the caller's code. A correct
//!   memory server never sees one (the kernel checks what the server should
//!   already have checked).
//! - **Resource conditions**, 64–127: the call was well formed but the
//!   system could not do it now (kernel memory exhausted, the peer is gone,
//!   the interrupt is taken). A correct program must handle these.
//!
//! Every call validates all its arguments before it changes anything, so an
//! error always means "nothing happened" (except `PeerGone` on `call`, where
//! the request was delivered but no reply will come).
//!
//! Numbers are ABI: never renumber, only append inside the right range.

/// First number of the caller-fault range.
pub const CALLER_FAULT_FIRST: u32 = 1;
/// First number of the resource-condition range.
pub const RESOURCE_FIRST: u32 = 64;
/// One past the last number the kernel may ever use.
pub const ERROR_END: u32 = 128;

/// A kernel error, as returned in `r0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum KernelError {
    // ---- caller faults (1..=63) ----
    /// `r7` holds no known call number.
    BadSyscall = 1,
    /// A register holds a value outside its documented domain: reserved
    /// bits set, a zero count, an unknown enum value, a count that overflows.
    InvalidArgument = 2,
    /// The capability slot is out of range or empty.
    InvalidCapability = 3,
    /// The slot holds a capability of another type than the call needs.
    WrongCapabilityType = 4,
    /// The endpoint capability lacks the right the call needs (send/receive).
    MissingRights = 5,
    /// An address that must be page aligned is not.
    Unaligned = 6,
    /// The virtual range is not entirely inside the VSpace capability's
    /// window (or wraps around).
    OutOfWindow = 7,
    /// A frame run is not entirely inside the Pool/Device capability given.
    FrameNotCovered = 8,
    /// The attributes are not allowed for this memory (device attributes on
    /// Pool RAM, unknown attribute bits).
    AttributesNotAllowed = 9,
    /// A user pointer/length names memory the caller cannot read, or is
    /// longer than the call allows.
    BadUserBuffer = 10,
    /// A message tag's length exceeds the IPC buffer.
    MessageTooLong = 11,
    /// A message tag uses a label reserved for kernel messages (≥ 0x8000).
    ReservedLabel = 12,
    /// A page in the target range is already mapped (unmap first).
    AlreadyMapped = 13,
    /// `irq_wait`/`irq_ack` on an interrupt the caller has not bound.
    IrqNotBound = 14,
    /// `mapping_info` on an address the caller has no mapping at.
    NotMapped = 15,

    // ---- resource conditions (64..=127) ----
    /// The kernel could not allocate what the call needs (e.g. a second-level
    /// page table). Nothing was mapped; retry after freeing, or give up.
    OutOfKernelMemory = 64,
    /// The partner of the rendezvous is gone: on `call`, the server received
    /// the request but exited, faulted, or received again without replying.
    PeerGone = 65,
    /// Another task already handles this interrupt.
    IrqAlreadyBound = 66,
    /// The target task's kernel-memory quota (page tables, set by the boot
    /// manifest and reserved for it at creation) is used up. Nothing was
    /// mapped; the charge falls on the task whose space needs the tables,
    /// so no other task's mappings are affected.
    KernelQuotaExceeded = 67,

    /// Never produced by the kernel: a user-side decoding of a number this
    /// version of the ABI does not know (a newer kernel).
    Unrecognized = 0xFFFF_FFFF,
}

impl KernelError {
    /// Every error the kernel can produce, in number order.
    pub const ALL: [KernelError; 19] = [
        KernelError::BadSyscall,
        KernelError::InvalidArgument,
        KernelError::InvalidCapability,
        KernelError::WrongCapabilityType,
        KernelError::MissingRights,
        KernelError::Unaligned,
        KernelError::OutOfWindow,
        KernelError::FrameNotCovered,
        KernelError::AttributesNotAllowed,
        KernelError::BadUserBuffer,
        KernelError::MessageTooLong,
        KernelError::ReservedLabel,
        KernelError::AlreadyMapped,
        KernelError::IrqNotBound,
        KernelError::NotMapped,
        KernelError::OutOfKernelMemory,
        KernelError::PeerGone,
        KernelError::IrqAlreadyBound,
        KernelError::KernelQuotaExceeded,
    ];

    /// The number the kernel puts in `r0`.
    #[inline]
    pub const fn number(self) -> u32 {
        self as u32
    }

    /// Decodes a non-zero `r0`; unknown numbers become `Unrecognized`.
    pub const fn from_number(number: u32) -> Self {
        match number {
            1 => KernelError::BadSyscall,
            2 => KernelError::InvalidArgument,
            3 => KernelError::InvalidCapability,
            4 => KernelError::WrongCapabilityType,
            5 => KernelError::MissingRights,
            6 => KernelError::Unaligned,
            7 => KernelError::OutOfWindow,
            8 => KernelError::FrameNotCovered,
            9 => KernelError::AttributesNotAllowed,
            10 => KernelError::BadUserBuffer,
            11 => KernelError::MessageTooLong,
            12 => KernelError::ReservedLabel,
            13 => KernelError::AlreadyMapped,
            14 => KernelError::IrqNotBound,
            15 => KernelError::NotMapped,
            64 => KernelError::OutOfKernelMemory,
            65 => KernelError::PeerGone,
            66 => KernelError::IrqAlreadyBound,
            67 => KernelError::KernelQuotaExceeded,
            _ => KernelError::Unrecognized,
        }
    }

    /// Decodes `r0` after a call: 0 is success.
    #[inline]
    pub const fn check(r0: u32) -> Result<(), KernelError> {
        if r0 == 0 {
            Ok(())
        } else {
            Err(Self::from_number(r0))
        }
    }

    /// Whether the caller passed something wrong (fix the code, don't retry).
    pub const fn is_caller_fault(self) -> bool {
        let n = self as u32;
        n >= CALLER_FAULT_FIRST && n < RESOURCE_FIRST
    }

    /// Whether the system could not do a well-formed call now.
    pub const fn is_resource_condition(self) -> bool {
        let n = self as u32;
        n >= RESOURCE_FIRST && n < ERROR_END
    }
}

impl core::fmt::Display for KernelError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?} ({})", self, *self as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_round_trips_and_has_one_blame_class() {
        for e in KernelError::ALL {
            assert_eq!(KernelError::from_number(e.number()), e);
            assert_eq!(KernelError::check(e.number()), Err(e));
            assert!(e.is_caller_fault() ^ e.is_resource_condition(), "{e:?}");
        }
        assert_eq!(KernelError::check(0), Ok(()));
        assert_eq!(KernelError::from_number(63), KernelError::Unrecognized);
        assert!(!KernelError::Unrecognized.is_caller_fault());
        assert!(!KernelError::Unrecognized.is_resource_condition());
    }

    #[test]
    fn numbers_are_frozen() {
        assert_eq!(KernelError::BadSyscall as u32, 1);
        assert_eq!(KernelError::IrqNotBound as u32, 14);
        assert_eq!(KernelError::OutOfKernelMemory as u32, 64);
        assert_eq!(KernelError::IrqAlreadyBound as u32, 66);
        assert_eq!(KernelError::NotMapped as u32, 15);
        assert_eq!(KernelError::KernelQuotaExceeded as u32, 67);
    }
}
