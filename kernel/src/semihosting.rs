//! ARM semihosting (QEMU `-semihosting`): the test exit status and the boot
//! command line.
//!
//! Without `-semihosting` the `svc 0x123456` reaches the kernel's own SVC
//! vector; `trap::handle` answers it with "unavailable" (`u32::MAX`) and
//! marks semihosting off, so the kernel keeps working on a board where
//! nobody listens. `semihosting=off` on the command line (the runner's
//! `--no-semihosting`, every KVM run) turns it off before any call.

use core::arch::asm;
use core::sync::atomic::{AtomicBool, Ordering};

/// Whether a host may be listening (cleared by `semihosting=off` or by
/// the first call that reached our own vector).
static AVAILABLE: AtomicBool = AtomicBool::new(true);

/// Semihosting is off: no further call is made.
pub fn disable() {
    AVAILABLE.store(false, Ordering::Relaxed);
}

/// Whether semihosting calls may still be made.
pub fn available() -> bool {
    AVAILABLE.load(Ordering::Relaxed)
}

const SYS_GET_CMDLINE: u32 = 0x15;
const SYS_EXIT_EXTENDED: u32 = 0x20;
const ADP_STOPPED_APPLICATION_EXIT: u32 = 0x20026;

/// The SVC immediate that marks a semihosting call in ARM state.
pub const SVC_IMMEDIATE: u32 = 0x12_3456;

/// Kernel exit statuses (the QEMU process exit code).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum ExitStatus {
    /// Everything the run was asked to do succeeded.
    Success = 0,
    /// A test inside the guest failed.
    TestFailure = 1,
    /// The kernel panicked.
    Panic = 2,
    /// The kernel took an exception it cannot recover from.
    KernelFault = 3,
}

/// Issues a semihosting call.
///
/// # Safety
/// `arg` must point to a parameter block valid for `op`.
unsafe fn call(op: u32, arg: usize) -> u32 {
    let ret: u32;
    // SAFETY: the host (or our SVC handler) reads/writes only the parameter
    // block the caller vouches for.
    unsafe {
        asm!("svc 0x123456", inlateout("r0") op => ret, in("r1") arg, options(nostack));
    }
    ret
}

/// Ends the QEMU run with `status`. Returns only if semihosting is off.
pub fn exit(status: ExitStatus) {
    if !available() {
        return;
    }
    let block = [ADP_STOPPED_APPLICATION_EXIT, status as u32];
    // SAFETY: `block` is the two-word SYS_EXIT_EXTENDED parameter block.
    unsafe {
        call(SYS_EXIT_EXTENDED, block.as_ptr() as usize);
    }
}

/// Copies the command line into `buf`; returns the text, or `None` without
/// semihosting.
pub fn cmdline(buf: &mut [u8]) -> Option<&str> {
    if !available() {
        return None;
    }
    let mut block = [buf.as_mut_ptr() as u32, buf.len() as u32];
    // SAFETY: the block names `buf` and its length; the host writes at most
    // that many bytes and stores the length used in block[1].
    let r = unsafe { call(SYS_GET_CMDLINE, block.as_mut_ptr() as usize) };
    if r != 0 {
        return None;
    }
    let len = (block[1] as usize).min(buf.len());
    let text = buf.get(..len)?;
    let end = text.iter().position(|&b| b == 0).unwrap_or(len);
    core::str::from_utf8(text.get(..end)?).ok()
}
