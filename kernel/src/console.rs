//! The kernel console: the PL011 behind the `log` crate, with Linux-style
//! `[seconds.micros]` timestamps from the global timer.

use core::fmt::Write;

use spin::Mutex;

use crate::arch::irq::IrqGuard;
use crate::drivers::pl011::Pl011;
use crate::platform;
use crate::time;

static UART: Mutex<Pl011> = Mutex::new(match platform::device_va(platform::UART0_PHYS) {
    // SAFETY: the boot map and the kernel table map UART0 as device memory
    // here, and the console is its only user.
    Some(va) => unsafe { Pl011::new(va) },
    None => panic!("uart outside the device window"),
});

struct KernelLogger;

static LOGGER: KernelLogger = KernelLogger;

impl log::Log for KernelLogger {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        let ns = time::now_ns();
        let _irq = IrqGuard::new();
        let mut uart = UART.lock();
        let _ = writeln!(
            uart,
            "[{:5}.{:06}] {:<5} {}",
            ns / 1_000_000_000,
            (ns / 1_000) % 1_000_000,
            record.level(),
            record.args()
        );
    }

    fn flush(&self) {
        UART.lock().flush();
    }
}

/// Brings up the UART and installs the logger.
pub fn init(level: log::LevelFilter) {
    UART.lock().init();
    // Only fails if a logger is already set, which would be ours.
    let _ = log::set_logger(&LOGGER);
    log::set_max_level(level);
}

/// Writes raw text to the console, bypassing the logger (fault dumps,
/// where taking the logger's formatting path is itself a risk).
pub fn write_fmt_raw(args: core::fmt::Arguments<'_>) {
    let _irq = IrqGuard::new();
    // A fault inside a locked console section must still be able to print:
    // steal the lock rather than deadlock.
    let mut uart = match UART.try_lock() {
        Some(g) => g,
        None => {
            // SAFETY: we are about to stop the system; the interrupted
            // holder will never run again on this CPU, and output
            // interleaving is the worst outcome.
            unsafe { UART.force_unlock() };
            UART.lock()
        }
    };
    let _ = uart.write_fmt(args);
}

/// `print!` to the raw console.
#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => { $crate::console::write_fmt_raw(format_args!($($arg)*)) };
}
