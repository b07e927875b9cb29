//! Interrupt controller set-up and IRQ dispatch.

use log::warn;
use spin::Once;

use crate::drivers::gic::{self, Gic};
use crate::{platform, time};

static GIC: Once<Gic> = Once::new();

/// Initialises the GIC and enables the tick interrupt.
pub fn init() -> u32 {
    let gic = GIC.call_once(|| {
        let (Some(dist), Some(cpu)) = (
            platform::device_va(platform::GICD_PHYS),
            platform::device_va(platform::GICC_PHYS),
        ) else {
            panic!("gic outside the device window");
        };
        // SAFETY: both addresses are the kernel's device mappings of the
        // GIC, and this `Once` is the only owner.
        unsafe { Gic::new(dist, cpu) }
    });
    gic.init();
    gic.enable(platform::IRQ_PRIVATE_TIMER);
    gic.lines()
}

/// Enables delivery of `irq` (a task bound or acknowledged it).
pub fn enable(irq: u32) {
    if let Some(gic) = GIC.get() {
        gic.enable(irq);
    }
}

/// Masks `irq` at the distributor.
pub fn disable(irq: u32) {
    if let Some(gic) = GIC.get() {
        gic.disable(irq);
    }
}

/// Handles every pending interrupt: the tick here, anything else through
/// `device` (which returns whether a task handles it). Returns whether a
/// tick was counted.
pub fn dispatch(device: &mut dyn FnMut(u32) -> bool) -> bool {
    let Some(gic) = GIC.get() else {
        return false;
    };
    let mut ticked = false;
    loop {
        let iar = gic.acknowledge();
        let id = iar & 0x3ff;
        if id >= gic::SPURIOUS {
            return ticked;
        }
        if id == platform::IRQ_PRIVATE_TIMER {
            time::on_tick_irq();
            ticked = true;
        } else if !device(id) {
            warn!("irq {id}: no handler, disabling it");
            gic.disable(id);
        }
        gic.end_of_interrupt(iar);
    }
}
