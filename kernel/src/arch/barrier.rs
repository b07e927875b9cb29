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

/// Invalidates every TLB entry tagged with `asid` (TLBIASID).
pub fn tlb_invalidate_asid(asid: u8) {
    dsb();
    // SAFETY: invalidation only drops cached translations of one user
    // address space; the kernel half is global and unaffected.
    unsafe {
        asm!("mcr p15, 0, {0}, c8, c7, 2", in(reg) asid as u32, options(nostack, preserves_flags))
    };
    dsb();
    isb();
}

/// Invalidates the entries for `count` pages from `va` in `asid`
/// (TLBIMVA, one per page).
pub fn tlb_invalidate_pages(va: u32, count: u32, asid: u8) {
    dsb();
    for i in 0..count {
        let mva = (va.wrapping_add(i << 12) & !0xfff) | asid as u32;
        // SAFETY: as above, for one page of one user address space.
        unsafe {
            asm!("mcr p15, 0, {0}, c8, c7, 1", in(reg) mva, options(nostack, preserves_flags))
        };
    }
    dsb();
    isb();
}

/// Drops every cached translation of the page at `va` whatever its ASID,
/// including intermediate table-walk entries for it (TLBIMVAA, a
/// multiprocessing-extensions operation the Cortex-A9 has). Used when an L2
/// table is freed: a walk cache need not tag the L1 entry that pointed at
/// it with an ASID. The caller issues the barriers (`dsb` before, and
/// `tlb_invalidate_asid` or `dsb` + `isb` after).
pub fn tlb_invalidate_mva_all_asids(va: u32) {
    // SAFETY: invalidation only drops cached translations; the address is
    // a user (TTBR0) address, so the kernel half is unaffected.
    unsafe {
        asm!("mcr p15, 0, {0}, c8, c7, 3", in(reg) va & !0xfff, options(nostack, preserves_flags))
    };
}

/// Waits for an interrupt.
#[inline(always)]
pub fn wfi() {
    // SAFETY: waiting has no memory-safety effect.
    unsafe { asm!("wfi", options(nostack, preserves_flags)) }
}

/// Wakes CPUs waiting in `wfe` (the secondary-CPU handshake).
#[inline(always)]
#[allow(dead_code)] // only vexpress-a9's start_cpu, not yet called
pub fn sev() {
    // SAFETY: an event signal has no memory-safety effect.
    unsafe { asm!("sev", options(nostack, preserves_flags)) }
}
