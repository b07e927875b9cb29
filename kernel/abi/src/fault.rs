//! The message the kernel sends to a task's supervisor endpoint when the task
//! faults or exits.
//!
//! The faulting task is suspended and queued on its supervisor endpoint like
//! a blocked sender (the kernel never needs to buffer anything); a receiver
//! gets tag `label = LABEL_FAULT (0xFFFF), length = 24`, the badge of the
//! supervisor capability the kernel installed for that task, and these 24
//! bytes at the start of its IPC buffer. Nobody replies: a faulted or exited
//! task never runs again, and the supervisor (the memory server) reclaims
//! everything it owned.

use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout};

/// A task's kernel-assigned number (its index in the boot manifest).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct TaskId(pub u32);

/// What happened to the task (the `kind` field). Never renumber.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum FaultKind {
    /// Data abort: `address` = DFAR, `status` = DFSR.
    DataAbort = 1,
    /// Prefetch abort: `address` = IFAR, `status` = IFSR.
    PrefetchAbort = 2,
    /// Undefined instruction at `pc`; `address` and `status` are 0.
    UndefinedInstruction = 3,
    /// The task called `exit`: `exit_code` holds its r0; the other fields
    /// describing a fault are 0 (`pc` is where it called `exit`).
    Exit = 4,
    /// Stack overflow: a data abort in the task's stack guard page (the
    /// unmapped page below its stack), or between the stack and a stack
    /// pointer a large frame moved below it. `address` = DFAR, `status` =
    /// DFSR, as for [`FaultKind::DataAbort`].
    StackOverflow = 5,
}

impl FaultKind {
    /// Decodes the `kind` field.
    pub const fn from_u32(value: u32) -> Option<Self> {
        Some(match value {
            1 => FaultKind::DataAbort,
            2 => FaultKind::PrefetchAbort,
            3 => FaultKind::UndefinedInstruction,
            4 => FaultKind::Exit,
            5 => FaultKind::StackOverflow,
            _ => return None,
        })
    }
}

/// The fault/exit message, at offset 0 of the supervisor's IPC buffer.
///
/// ```text
/// offset  field      meaning
///  0      task       TaskId of the task that faulted/exited
///  4      kind       FaultKind number
///  8      address    faulting address (DFAR/IFAR), else 0
/// 12      pc         PC of the faulting instruction (or of the exit call)
/// 16      status     fault status register (DFSR/IFSR), else 0
/// 20      exit_code  exit code for FaultKind::Exit, else 0
/// ```
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Default, FromBytes, IntoBytes, KnownLayout, Immutable,
)]
#[repr(C)]
pub struct FaultMessage {
    /// The task that faulted or exited.
    pub task: u32,
    /// A [`FaultKind`] number.
    pub kind: u32,
    /// DFAR or IFAR for aborts, else 0.
    pub address: u32,
    /// PC of the faulting instruction.
    pub pc: u32,
    /// DFSR or IFSR for aborts, else 0.
    pub status: u32,
    /// Exit code for [`FaultKind::Exit`], else 0.
    pub exit_code: u32,
}

/// Size of [`FaultMessage`] on the wire (the tag length).
pub const FAULT_MESSAGE_SIZE: usize = core::mem::size_of::<FaultMessage>();

impl FaultMessage {
    /// The decoded kind; `None` for an unknown number (newer kernel).
    pub const fn fault_kind(&self) -> Option<FaultKind> {
        FaultKind::from_u32(self.kind)
    }

    /// Reads a message from the first bytes of a buffer; `None` if short.
    pub fn read_from(bytes: &[u8]) -> Option<Self> {
        Self::read_from_prefix(bytes).ok().map(|(msg, _)| msg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_round_trip() {
        assert_eq!(FAULT_MESSAGE_SIZE, 24);
        let msg = FaultMessage {
            task: 3,
            kind: FaultKind::DataAbort as u32,
            address: 0x4001_0000,
            pc: 0x0001_0234,
            status: 0x805,
            exit_code: 0,
        };
        let bytes = msg.as_bytes();
        assert_eq!(&bytes[..8], &[3, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(&bytes[8..12], &[0x00, 0x00, 0x01, 0x40]);
        assert_eq!(FaultMessage::read_from(bytes), Some(msg));
        assert_eq!(FaultMessage::read_from(&bytes[..23]), None);
        assert_eq!(msg.fault_kind(), Some(FaultKind::DataAbort));
        for k in 1..=5 {
            assert_eq!(FaultKind::from_u32(k).map(|k| k as u32), Some(k));
        }
        assert_eq!(FaultKind::from_u32(6), None);
    }
}
