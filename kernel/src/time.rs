//! Time: the board's clock (vexpress-a9: the A9 global timer; virt: the
//! virtual counter CNTVCT) and its periodic tick (the A9 private timer; the
//! virtual timer CNTV).

use core::sync::atomic::{AtomicU32, Ordering};

use crate::board;

static TICKS: AtomicU32 = AtomicU32::new(0);

/// Starts the clock. Called first thing, so log timestamps start at 0.
pub fn init_clock() {
    board::clock_start();
}

/// Clock ticks since boot (at [`clock_hz`] per second).
pub fn now_ticks() -> u64 {
    board::clock_count()
}

/// The clock's real frequency (read from the hardware where it can be).
pub fn clock_hz() -> u32 {
    board::clock_hz()
}

/// Nanoseconds since boot.
pub fn now_ns() -> u64 {
    let hz = u64::from(clock_hz().max(1));
    let t = now_ticks();
    // Split so the product cannot overflow: whole seconds, then the rest.
    (t / hz) * 1_000_000_000 + (t % hz) * 1_000_000_000 / hz
}

/// Starts the periodic tick.
pub fn start_tick(hz: u32) {
    board::tick_start(hz);
}

/// Timer interrupt: count the tick.
pub fn on_tick_irq() {
    if board::tick_acknowledge() {
        TICKS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Ticks since `start_tick`.
pub fn ticks() -> u32 {
    TICKS.load(Ordering::Relaxed)
}
