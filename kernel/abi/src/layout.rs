//! Fixed user virtual addresses every task and the kernel agree on.
//!
//! The user half is `[0, 2 GiB)` (TTBR0, `TTBCR.N = 1`). The vmalloc window
//! starts at 1 GiB; its size is a boot option (default 240 MiB, the Linux ARM
//! default), so it may grow up to the 2 GiB boundary. Everything a task owns
//! outside the window therefore lives below 1 GiB.

use crate::addr::VirtAddr;

/// Default first address of the vmalloc window (same in every task).
pub const VMALLOC_START_DEFAULT: VirtAddr = VirtAddr(0x4000_0000);
/// Default end (exclusive) of the vmalloc window: start + 240 MiB.
pub const VMALLOC_END_DEFAULT: VirtAddr = VirtAddr(0x4F00_0000);

/// Where every task's IPC buffer (one 4 KiB page) is mapped.
///
/// Why here: below the window whatever size the boot option gives it, page
/// aligned, alone in its own 1 MiB section (so its second-level table is not
/// shared with image or stack mappings), with unmapped pages on both sides so
/// an overrun faults instead of corrupting something. Address 0 is never
/// mapped, which is why `log` can use pointer 0 to mean "the IPC buffer".
pub const IPC_BUFFER_VADDR: VirtAddr = VirtAddr(0x3FF0_0000);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ipc_buffer::IPC_BUFFER_SIZE;

    #[test]
    fn ipc_buffer_is_outside_the_window_and_in_the_user_half() {
        let start = IPC_BUFFER_VADDR.as_u32();
        let end = start + IPC_BUFFER_SIZE as u32;
        assert!(IPC_BUFFER_VADDR.is_page_aligned());
        assert!(end <= VMALLOC_START_DEFAULT.as_u32());
        assert!(end <= 0x8000_0000);
        assert_eq!(
            VMALLOC_END_DEFAULT.as_u32() - VMALLOC_START_DEFAULT.as_u32(),
            240 << 20
        );
    }
}
