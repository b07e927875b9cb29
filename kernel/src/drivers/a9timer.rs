//! Cortex-A9 MPCore private timer (the scheduler tick) and global timer
//! (the monotonic clock and cost counter, see PLATFORM.md).

use crate::mmio::MmioRegion;

const PT_LOAD: usize = 0x00;
const PT_CONTROL: usize = 0x08;
const PT_INTSTAT: usize = 0x0c;
const PT_ENABLE: u32 = 1 << 0;
const PT_AUTO_RELOAD: u32 = 1 << 1;
const PT_IRQ_ENABLE: u32 = 1 << 2;

const GT_COUNTER_LO: usize = 0x00;
const GT_COUNTER_HI: usize = 0x04;
const GT_CONTROL: usize = 0x08;
const GT_ENABLE: u32 = 1 << 0;

/// The per-CPU private timer.
pub struct PrivateTimer {
    regs: MmioRegion,
}

impl PrivateTimer {
    /// # Safety
    /// `base` must be the kernel mapping of this CPU's private timer.
    pub const unsafe fn new(base: usize) -> Self {
        Self {
            // SAFETY: forwarded from the caller.
            regs: unsafe { MmioRegion::new(base, 0x20) },
        }
    }

    /// Starts a periodic interrupt every `clock_hz / hz` clock cycles.
    pub fn start_periodic(&self, clock_hz: u32, hz: u32) {
        let load = (clock_hz / hz.max(1)).saturating_sub(1).max(1);
        self.regs.write32(PT_CONTROL, 0);
        self.regs.write32(PT_INTSTAT, 1);
        self.regs.write32(PT_LOAD, load);
        self.regs
            .write32(PT_CONTROL, PT_ENABLE | PT_AUTO_RELOAD | PT_IRQ_ENABLE);
    }

    /// Clears the event flag; returns whether it was set.
    pub fn clear_interrupt(&self) -> bool {
        let set = self.regs.read32(PT_INTSTAT) & 1 != 0;
        self.regs.write32(PT_INTSTAT, 1);
        set
    }
}

/// The cluster-wide 64-bit global timer.
pub struct GlobalTimer {
    regs: MmioRegion,
}

impl GlobalTimer {
    /// # Safety
    /// `base` must be the kernel mapping of the A9 global timer.
    pub const unsafe fn new(base: usize) -> Self {
        Self {
            // SAFETY: forwarded from the caller.
            regs: unsafe { MmioRegion::new(base, 0x20) },
        }
    }

    /// Starts counting (prescaler 0: one tick per PERIPHCLK cycle).
    pub fn start(&self) {
        self.regs.write32(GT_CONTROL, GT_ENABLE);
    }

    /// The 64-bit count, read high-low-high so a carry between the halves
    /// is never seen.
    pub fn count(&self) -> u64 {
        loop {
            let hi = self.regs.read32(GT_COUNTER_HI);
            let lo = self.regs.read32(GT_COUNTER_LO);
            if self.regs.read32(GT_COUNTER_HI) == hi {
                return (hi as u64) << 32 | lo as u64;
            }
        }
    }
}
