//! The ARM generic timer's virtual timer (CNTV): the tick and the clock on
//! `virt`. A KVM guest must use the virtual timer (KVM traps and emulates
//! the physical one), and the counter's frequency is whatever CNTFRQ says
//! (62.5 MHz under TCG, the host firmware's value under KVM): it is read,
//! never assumed.
//!
//! The tick is programmed with the 64-bit compare value CVAL rather than
//! the 32-bit down-counter TVAL: each interrupt moves CVAL on by exactly
//! one period from the previous deadline, so the handler's latency never
//! accumulates into drift.

use core::sync::atomic::{AtomicU32, Ordering};

use crate::arch::barrier::isb;
use crate::arch::sysreg;

/// CNTV_CTL.ENABLE.
const CTL_ENABLE: u32 = 1 << 0;
/// CNTV_CTL.IMASK: condition met but no interrupt.
const CTL_IMASK: u32 = 1 << 1;
/// CNTV_CTL.ISTATUS: the timer condition is met (read-only).
const CTL_ISTATUS: u32 = 1 << 2;

/// Why the timer cannot be used. The numbers are stable (printed at boot).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimerError {
    /// CNTFRQ reads 0: firmware did not program it, so no period can be
    /// computed.
    NoFrequency = 1,
}

/// The calling CPU's virtual timer. One value serves every CPU (the
/// registers are banked per CPU; only the period is shared).
pub struct VirtualTimer {
    frequency: u32,
    /// Counter ticks per scheduler tick; 0 until `start_periodic`.
    period: AtomicU32,
}

impl VirtualTimer {
    /// Reads CNTFRQ; fails if it is 0.
    pub fn new() -> Result<Self, TimerError> {
        let frequency = sysreg::cntfrq();
        if frequency == 0 {
            return Err(TimerError::NoFrequency);
        }
        Ok(Self {
            frequency,
            period: AtomicU32::new(0),
        })
    }

    /// The counter frequency in Hz (CNTFRQ at boot).
    pub fn frequency(&self) -> u32 {
        self.frequency
    }

    /// The 64-bit virtual count (CNTVCT).
    pub fn count(&self) -> u64 {
        sysreg::cntvct()
    }

    /// Programs a periodic interrupt at `hz` (clamped to 1..=frequency) on
    /// this CPU: the first deadline one period from now.
    pub fn start_periodic(&self, hz: u32) {
        let period = (self.frequency / hz.clamp(1, self.frequency)).max(1);
        self.period.store(period, Ordering::Relaxed);
        let first = sysreg::cntvct().wrapping_add(u64::from(period));
        // SAFETY: this driver owns the calling CPU's virtual timer. The
        // timer is masked while the deadline changes, so a stale deadline
        // cannot fire; the isb makes the new control value take effect
        // before we return (ARM DDI 0487 D12.1.2: writes to the timer
        // registers are only guaranteed visible after a context
        // synchronization event).
        unsafe {
            sysreg::set_cntv_ctl(CTL_IMASK);
            sysreg::set_cntv_cval(first);
            sysreg::set_cntv_ctl(CTL_ENABLE);
        }
        isb();
    }

    /// Called on the timer interrupt: if the timer has fired, moves the
    /// deadline on by one period (or, after missed periods, to the first
    /// future multiple of the period) and returns true. The level-sensitive
    /// interrupt drops once the new deadline is in the future.
    pub fn clear_interrupt(&self) -> bool {
        if sysreg::cntv_ctl() & CTL_ISTATUS == 0 {
            return false;
        }
        let period = u64::from(self.period.load(Ordering::Relaxed));
        if period == 0 {
            // Fired without `start_periodic` (e.g. left enabled by an
            // earlier stage): silence it.
            self.stop();
            return true;
        }
        let now = sysreg::cntvct();
        let mut next = sysreg::cntv_cval().wrapping_add(period);
        if next <= now {
            let missed = (now - next) / period + 1;
            next = next.wrapping_add(missed * period);
        }
        // SAFETY: this driver owns the calling CPU's virtual timer; the isb
        // makes the condition (and so the interrupt line) drop before the
        // caller signals end of interrupt.
        unsafe { sysreg::set_cntv_cval(next) };
        isb();
        true
    }

    /// Disables this CPU's virtual timer.
    pub fn stop(&self) {
        // SAFETY: this driver owns the calling CPU's virtual timer.
        unsafe { sysreg::set_cntv_ctl(CTL_IMASK) };
        isb();
    }
}
