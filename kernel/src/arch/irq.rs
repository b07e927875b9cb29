//! CPU interrupt mask control.

use core::arch::asm;

/// Unmasks IRQs on this CPU.
///
/// # Safety
/// Interrupt handlers and the vector table must be ready.
#[inline(always)]
pub unsafe fn enable() {
    // SAFETY: delegated to the caller.
    unsafe { asm!("cpsie i", options(nostack, preserves_flags)) }
}

/// Masks IRQs; returns whether they were unmasked before.
#[inline(always)]
pub fn disable() -> bool {
    let cpsr: u32;
    // SAFETY: reading CPSR and masking IRQs cannot break memory safety.
    unsafe {
        asm!("mrs {0}, cpsr", "cpsid i", out(reg) cpsr, options(nostack, preserves_flags));
    }
    cpsr & (1 << 7) == 0
}

/// Masks IRQs for as long as it lives, restoring the previous state.
pub struct IrqGuard {
    was_enabled: bool,
}

impl IrqGuard {
    /// Masks IRQs.
    #[inline(always)]
    pub fn new() -> Self {
        Self {
            was_enabled: disable(),
        }
    }
}

impl Drop for IrqGuard {
    #[inline(always)]
    fn drop(&mut self) {
        if self.was_enabled {
            // SAFETY: IRQs were enabled when the guard was made, so the
            // handlers were ready then and still are.
            unsafe { enable() }
        }
    }
}
