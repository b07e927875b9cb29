//! The kernel console: the board's PL011 behind the `log` crate, with
//! Linux-style `[seconds.micros]` timestamps from the board's clock.

use core::fmt::Write;

use spin::Mutex;

use crate::arch::irq::IrqGuard;
use crate::drivers::pl011::Pl011;
use crate::{board, time};

/// The console UART; `None` until [`init`] (output before it is dropped:
/// the board may not know its UART before it has read its device tree).
static UART: Mutex<Option<Pl011>> = Mutex::new(None);

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
        let Some(uart) = uart.as_mut() else {
            return;
        };
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
        if let Some(uart) = UART.lock().as_ref() {
            uart.flush();
        }
    }
}

/// Brings up the board's console UART and installs the logger. Call after
/// `mm::map_boot_windows` (the UART must be mapped).
pub fn init(level: log::LevelFilter) {
    let pa = board::console();
    let Some(va) = board::device_va(pa) else {
        // No window covers the console: nothing can be printed at all.
        return;
    };
    // SAFETY: the device windows map the console UART as device memory at
    // `va`, and the console is its only user.
    let uart = unsafe { Pl011::new(va) };
    uart.init();
    *UART.lock() = Some(uart);
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
    if let Some(uart) = uart.as_mut() {
        let _ = uart.write_fmt(args);
    }
}

/// `print!` to the raw console.
#[macro_export]
macro_rules! kprint {
    ($($arg:tt)*) => { $crate::console::write_fmt_raw(format_args!($($arg)*)) };
}

/// Waits until the console has sent everything (before power-off).
pub fn flush() {
    let _irq = IrqGuard::new();
    if let Some(uart) = UART.try_lock() {
        if let Some(uart) = uart.as_ref() {
            uart.flush();
        }
    }
}
