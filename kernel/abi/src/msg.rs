//! The message tag: what travels in a register next to the copied bytes.
//!
//! ```text
//!  31              16 15  13 12           0
//! +------------------+------+--------------+
//! |      label       | 0 0 0|    length    |
//! +------------------+------+--------------+
//! ```
//!
//! `length` (0..=4096) is the number of message bytes at the start of the
//! IPC buffer; `label` is the sender's choice (the memory server ignores it).
//! Labels `0x8000..=0xFFFF` are reserved for messages the kernel itself
//! synthesises, so a task cannot forge a fault report: a user tag with such
//! a label fails with `ReservedLabel`. Reserved bits set: `InvalidArgument`.

use crate::ipc_buffer::IPC_BUFFER_SIZE;

/// A message label (the upper half of the tag).
pub type Label = u16;

/// First label reserved for kernel-generated messages.
pub const LABEL_KERNEL_MIN: Label = 0x8000;
/// Label of the fault/exit message the kernel sends to a task's supervisor.
pub const LABEL_FAULT: Label = 0xFFFF;

const LENGTH_BITS: u32 = 13;
const LENGTH_MASK: u32 = (1 << LENGTH_BITS) - 1;
const RESERVED_MASK: u32 = 0x0000_E000;
const LABEL_SHIFT: u32 = 16;

/// Why a raw tag was rejected (the kernel maps these to `KernelError`s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TagError {
    /// Bits 13–15 are not zero (`InvalidArgument`).
    ReservedBits,
    /// Length above [`IPC_BUFFER_SIZE`] (`MessageTooLong`).
    TooLong,
}

/// A validated message tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(transparent)]
pub struct MessageTag(u32);

impl MessageTag {
    /// Builds a tag; `None` if `length` exceeds the IPC buffer.
    pub const fn new(label: Label, length: usize) -> Option<Self> {
        if length > IPC_BUFFER_SIZE {
            return None;
        }
        Some(Self(((label as u32) << LABEL_SHIFT) | length as u32))
    }

    /// Decodes a tag register as the kernel does.
    pub const fn from_raw(raw: u32) -> Result<Self, TagError> {
        if raw & RESERVED_MASK != 0 {
            return Err(TagError::ReservedBits);
        }
        if (raw & LENGTH_MASK) as usize > IPC_BUFFER_SIZE {
            return Err(TagError::TooLong);
        }
        Ok(Self(raw))
    }

    /// The register value.
    #[inline]
    pub const fn raw(self) -> u32 {
        self.0
    }

    /// The label.
    #[inline]
    pub const fn label(self) -> Label {
        (self.0 >> LABEL_SHIFT) as Label
    }

    /// Number of message bytes (≤ [`IPC_BUFFER_SIZE`]).
    #[inline]
    pub const fn length(self) -> usize {
        (self.0 & LENGTH_MASK) as usize
    }

    /// Whether the label is reserved for kernel messages.
    #[inline]
    pub const fn is_kernel_label(self) -> bool {
        self.label() >= LABEL_KERNEL_MIN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_decode() {
        let tag = MessageTag::new(0x1234, 4096).unwrap();
        assert_eq!(tag.raw(), 0x1234_1000);
        assert_eq!(MessageTag::from_raw(tag.raw()), Ok(tag));
        assert_eq!(tag.label(), 0x1234);
        assert_eq!(tag.length(), 4096);
        assert!(!tag.is_kernel_label());
        assert!(MessageTag::new(LABEL_FAULT, 24).unwrap().is_kernel_label());
        assert_eq!(MessageTag::new(0, 4097), None);
        assert_eq!(MessageTag::from_raw(0x0000_1001), Err(TagError::TooLong));
        assert_eq!(
            MessageTag::from_raw(0x0000_2000),
            Err(TagError::ReservedBits)
        );
        assert_eq!(MessageTag::from_raw(0x0000_1fff), Err(TagError::TooLong));
    }
}
