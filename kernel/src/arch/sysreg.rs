//! CP15 system registers of the ARM generic timer and the GICv3 CPU
//! interface (AArch32 encodings, ARM DDI 0487 G8 / ARM IHI 0069), used only
//! on boards that have them (`virt`). Kept apart from `cp15.rs` because
//! some are 64-bit (`mrrc`/`mcrr`) and some reads have side effects
//! (ICC_IAR1 acknowledges an interrupt).
//!
//! Reading is safe. Writing is `unsafe`: the caller owns the timer or the
//! interrupt-controller state of this CPU the register controls (none of
//! them changes translation or Rust-visible memory, but a wrong write can
//! mask or misroute every interrupt).

use core::arch::asm;

/// A 32-bit register read with `mrc` without side effects.
macro_rules! reg32_read {
    ($(#[$doc:meta])* $read:ident, $op1:literal, $crn:literal, $crm:literal, $op2:literal) => {
        $(#[$doc])*
        #[inline(always)]
        pub fn $read() -> u32 {
            let v: u32;
            // SAFETY: reading this register has no side effects.
            unsafe {
                asm!(concat!("mrc p15, ", $op1, ", {}, ", $crn, ", ", $crm, ", ", $op2),
                     out(reg) v, options(nomem, nostack, preserves_flags));
            }
            v
        }
    };
}

/// A 32-bit register written with `mcr`.
macro_rules! reg32_write {
    ($(#[$doc:meta])* $write:ident, $op1:literal, $crn:literal, $crm:literal, $op2:literal) => {
        $(#[$doc])*
        ///
        /// # Safety
        /// The caller owns the state this register controls on this CPU
        /// (see the module documentation) and follows the write with the
        /// `isb` the architecture requires before relying on it.
        #[inline(always)]
        pub unsafe fn $write(v: u32) {
            // SAFETY: delegated to the caller (see `# Safety`).
            unsafe {
                asm!(concat!("mcr p15, ", $op1, ", {}, ", $crn, ", ", $crm, ", ", $op2),
                     in(reg) v, options(nostack, preserves_flags));
            }
        }
    };
}

// --- Generic timer -------------------------------------------------------

reg32_read!(/// CNTFRQ: the system counter's frequency in Hz, as firmware (or
    /// QEMU, or the host under KVM) programmed it.
    cntfrq, 0, "c14", "c0", 0);
reg32_read!(/// CNTV_CTL: virtual timer control (ENABLE bit 0, IMASK bit 1,
    /// ISTATUS bit 2).
    cntv_ctl, 0, "c14", "c3", 1);
reg32_write!(/// Writes CNTV_CTL.
    set_cntv_ctl, 0, "c14", "c3", 1);

/// CNTVCT: the 64-bit virtual count. The `isb` first stops the read from
/// being performed early, out of program order (ARM DDI 0487 D12.1.2).
#[inline(always)]
pub fn cntvct() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: an isb and a counter read have no memory-safety effect.
    unsafe {
        asm!("isb", "mrrc p15, 1, {lo}, {hi}, c14", lo = out(reg) lo, hi = out(reg) hi,
             options(nomem, nostack, preserves_flags));
    }
    (u64::from(hi) << 32) | u64::from(lo)
}

/// CNTV_CVAL: the virtual timer's 64-bit compare value.
#[inline(always)]
pub fn cntv_cval() -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: reading the compare value has no side effects.
    unsafe {
        asm!("mrrc p15, 3, {lo}, {hi}, c14", lo = out(reg) lo, hi = out(reg) hi,
             options(nomem, nostack, preserves_flags));
    }
    (u64::from(hi) << 32) | u64::from(lo)
}

/// Writes CNTV_CVAL: the virtual timer fires when CNTVCT >= `value`.
///
/// # Safety
/// As for the 32-bit writes: the caller owns this CPU's virtual timer.
#[inline(always)]
pub unsafe fn set_cntv_cval(value: u64) {
    // SAFETY: delegated to the caller (see `# Safety`).
    unsafe {
        asm!("mcrr p15, 3, {lo}, {hi}, c14", lo = in(reg) value as u32,
             hi = in(reg) (value >> 32) as u32, options(nostack, preserves_flags));
    }
}

// --- GICv3 CPU interface ---------------------------------------------------

reg32_read!(/// ID_PFR1: bits 31..28 = 1 when the GIC system-register CPU
    /// interface (v3/v4) is implemented.
    id_pfr1, 0, "c0", "c1", 1);
reg32_read!(/// ICC_SRE: system-register enable (SRE bit 0, DFB 1, DIB 2).
    icc_sre, 0, "c12", "c12", 5);
reg32_write!(/// Writes ICC_SRE.
    set_icc_sre, 0, "c12", "c12", 5);
reg32_write!(/// Writes ICC_PMR: interrupts with a priority value below this
    /// are signalled.
    set_icc_pmr, 0, "c4", "c6", 0);
reg32_write!(/// Writes ICC_BPR1: Group 1 binary point (preemption grouping).
    set_icc_bpr1, 0, "c12", "c12", 3);
reg32_write!(/// Writes ICC_CTLR (EOImode bit 1: 0 = EOIR both drops priority and
    /// deactivates).
    set_icc_ctlr, 0, "c12", "c12", 4);
reg32_write!(/// Writes ICC_IGRPEN1.
    set_icc_igrpen1, 0, "c12", "c12", 7);
reg32_write!(/// Writes ICC_EOIR1: end of a Group 1 interrupt (priority drop and,
    /// with EOImode 0, deactivation).
    set_icc_eoir1, 0, "c12", "c12", 1);

/// Reads ICC_IAR1: acknowledges the highest-priority pending Group 1
/// interrupt and returns its INTID (1023 when none is pending). A read
/// with a side effect, so it is not `nomem`-pure: it must not be merged or
/// reordered with other interrupt-controller accesses.
#[inline(always)]
pub fn icc_iar1() -> u32 {
    let v: u32;
    // SAFETY: acknowledging changes only the interrupt controller's state
    // (the interrupt becomes active until its EOI), not memory.
    unsafe {
        asm!("mrc p15, 0, {}, c12, c12, 0", out(reg) v, options(nostack, preserves_flags));
    }
    v
}

/// Writes ICC_SGI1R (64-bit): generates a Group 1 SGI (INTID bits 27..24,
/// target list 15..0 within Aff3.Aff2.Aff1 given by bits 55..48, 39..32,
/// 23..16).
///
/// # Safety
/// The caller owns inter-processor signalling; the target CPUs must expect
/// the SGI.
#[inline(always)]
#[allow(dead_code)] // inter-processor interrupts: the SMP issue
pub unsafe fn set_icc_sgi1r(value: u64) {
    // SAFETY: delegated to the caller (see `# Safety`).
    unsafe {
        asm!("mcrr p15, 0, {lo}, {hi}, c12", lo = in(reg) value as u32,
             hi = in(reg) (value >> 32) as u32, options(nostack, preserves_flags));
    }
}
