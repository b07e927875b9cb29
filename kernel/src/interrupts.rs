//! Interrupt controller set-up and IRQ dispatch (the controller is the
//! board's: `board::IrqChip`).

use log::warn;

use crate::{board, time};

/// Initialises the interrupt controller and enables the tick interrupt.
/// Returns the number of interrupt lines.
pub fn init() -> u32 {
    let chip = board::irq_chip();
    chip.init();
    chip.enable(board::tick_irq());
    chip.lines()
}

/// Enables delivery of `irq` (a task bound or acknowledged it).
pub fn enable(irq: u32) {
    board::irq_chip().enable(irq);
}

/// Masks `irq` at the distributor.
pub fn disable(irq: u32) {
    board::irq_chip().disable(irq);
}

/// Handles every pending interrupt: the tick here, anything else through
/// `device` (which returns whether a task handles it). Returns whether a
/// tick was counted.
pub fn dispatch(device: &mut dyn FnMut(u32) -> bool) -> bool {
    let chip = board::irq_chip();
    let tick = board::tick_irq();
    let mut ticked = false;
    while let Some((id, raw)) = chip.acknowledge() {
        if id == tick {
            time::on_tick_irq();
            ticked = true;
        } else if !device(id) {
            warn!("irq {id}: no handler, disabling it");
            chip.disable(id);
        }
        chip.end_of_interrupt(raw);
    }
    ticked
}
