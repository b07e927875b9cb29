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

/// Handles every pending interrupt (called from the IRQ vector).
pub fn dispatch() {
    let Some(gic) = GIC.get() else {
        return;
    };
    loop {
        let iar = gic.acknowledge();
        let id = iar & 0x3ff;
        if id >= gic::SPURIOUS {
            return;
        }
        match id {
            platform::IRQ_PRIVATE_TIMER => time::on_tick_irq(),
            other => {
                warn!("irq {other}: no handler, disabling it");
                gic.disable(other);
            }
        }
        gic.end_of_interrupt(iar);
    }
}
