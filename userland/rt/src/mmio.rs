//! Device-register access for tasks: each is one `ldr`/`str` with a plain
//! register base, no offset arithmetic and no writeback in the
//! instruction, so a hypervisor (KVM) can emulate it from the fault
//! syndrome alone (`doc/boards.md`). `read_volatile` leaves the addressing
//! mode to the compiler, which may pick a writeback form in a loop.

use core::arch::asm;

/// Reads the 32-bit register at `addr` with one `ldr`.
///
/// # Safety
///
/// `addr` must be a 4-byte aligned device register mapped readable in
/// this task, and reading it must be acceptable to the device (some
/// registers clear state when read).
#[inline(always)]
pub unsafe fn read32(addr: u32) -> u32 {
    let v: u32;
    // SAFETY: the caller vouches for the address; the instruction reads 4
    // bytes there and writes only `v`.
    unsafe {
        asm!("ldr {v}, [{p}]", v = out(reg) v, p = in(reg) addr, options(nostack, preserves_flags));
    }
    v
}

/// Writes `value` to the 32-bit register at `addr` with one `str`.
///
/// # Safety
///
/// `addr` must be a 4-byte aligned device register mapped writable in
/// this task, and the write must be one the device's owner intends.
#[inline(always)]
pub unsafe fn write32(addr: u32, value: u32) {
    // SAFETY: the caller vouches for the address; the instruction writes 4
    // bytes there only.
    unsafe {
        asm!("str {v}, [{p}]", v = in(reg) value, p = in(reg) addr, options(nostack, preserves_flags));
    }
}
