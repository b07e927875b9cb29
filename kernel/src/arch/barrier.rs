//! Memory barriers and the cache/TLB maintenance the kernel needs. Kept in
//! one module so the SMP work only has to swap in the inner-shareable
//! broadcast variants here.

use core::arch::asm;

/// Data synchronisation barrier (full system).
#[inline(always)]
pub fn dsb() {
    // SAFETY: a barrier has no memory-safety effect.
    unsafe { asm!("dsb sy", options(nostack, preserves_flags)) }
}

/// Instruction synchronisation barrier.
#[inline(always)]
pub fn isb() {
    // SAFETY: a barrier has no memory-safety effect.
    unsafe { asm!("isb", options(nostack, preserves_flags)) }
}

/// Invalidates the whole unified TLB of this CPU (TLBIALL) and waits.
///
/// # Safety
/// The current translation tables must be valid for all code that runs next.
#[inline]
pub unsafe fn tlb_invalidate_all() {
    dsb();
    // SAFETY: caller guarantees the tables are valid; invalidation only
    // drops cached translations.
    unsafe { asm!("mcr p15, 0, {0}, c8, c7, 0", in(reg) 0u32, options(nostack, preserves_flags)) };
    // BPIALL: the branch predictor caches virtual addresses too.
    // SAFETY: as above.
    unsafe { asm!("mcr p15, 0, {0}, c7, c5, 6", in(reg) 0u32, options(nostack, preserves_flags)) };
    dsb();
    isb();
}

/// Waits for an interrupt.
#[inline(always)]
pub fn wfi() {
    // SAFETY: waiting has no memory-safety effect.
    unsafe { asm!("wfi", options(nostack, preserves_flags)) }
}
