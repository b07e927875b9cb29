//! Time: the global timer as a clock, the private timer as the tick.

use core::sync::atomic::{AtomicU32, Ordering};

use crate::drivers::a9timer::{GlobalTimer, PrivateTimer};
use crate::platform;

static GLOBAL_TIMER: GlobalTimer = {
    match platform::device_va(platform::GLOBAL_TIMER_PHYS) {
        // SAFETY: the boot map and the kernel table map the A9 private
        // region as device memory at this address; only this module uses
        // the global timer.
        Some(va) => unsafe { GlobalTimer::new(va) },
        None => panic!("global timer outside the device window"),
    }
};

static PRIVATE_TIMER: PrivateTimer = {
    match platform::device_va(platform::PRIVATE_TIMER_PHYS) {
        // SAFETY: as above, for the private timer.
        Some(va) => unsafe { PrivateTimer::new(va) },
        None => panic!("private timer outside the device window"),
    }
};

static TICKS: AtomicU32 = AtomicU32::new(0);

/// Starts the clock. Called first thing, so log timestamps start at 0.
pub fn init_clock() {
    GLOBAL_TIMER.start();
}

/// Global-timer ticks (10 ns each) since boot.
pub fn now_ticks() -> u64 {
    GLOBAL_TIMER.count()
}

/// Nanoseconds since boot.
pub fn now_ns() -> u64 {
    now_ticks() * (1_000_000_000 / platform::PERIPH_CLOCK_HZ as u64)
}

/// Starts the periodic tick.
pub fn start_tick(hz: u32) {
    PRIVATE_TIMER.start_periodic(platform::PERIPH_CLOCK_HZ, hz);
}

/// Timer interrupt: count the tick.
pub fn on_tick_irq() {
    if PRIVATE_TIMER.clear_interrupt() {
        TICKS.fetch_add(1, Ordering::Relaxed);
    }
}

/// Ticks since `start_tick`.
pub fn ticks() -> u32 {
    TICKS.load(Ordering::Relaxed)
}
