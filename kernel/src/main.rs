//! A minimal ARMv7-A microkernel for the Cortex-A9 (QEMU `vexpress-a9`).
//!
//! This is the boot foundation: exception vectors, the MMU with the kernel
//! in the TTBR1 half, the console, the GIC and the tick. User tasks, IPC and
//! the memory calls come next (see `doc/`).
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

mod arch;
mod console;
mod drivers;
mod interrupts;
mod ipc;
mod kpool;
mod loader;
mod manifest;
mod mm;
mod mmio;
mod platform;
mod sched;
mod selftest;
mod semihosting;
mod syscall;
mod task;
mod time;
mod trap;
mod vspace;

/// The user task images `build.rs` embedded.
mod images {
    include!(concat!(env!("OUT_DIR"), "/images.rs"));
}

use kerncore::bootargs::{ArgProblem, BootArgs};
use log::{info, warn};

use crate::arch::{barrier, cp15, irq};
use crate::semihosting::ExitStatus;

/// Rust entry, on CPU 0's SVC stack with the boot map live.
#[no_mangle]
extern "C" fn kmain() -> ! {
    time::init_clock();
    console::init(log::LevelFilter::Info);
    info!(
        "microkernel {} booting: vexpress-a9, MIDR {:#010x}, cpu {}",
        env!("CARGO_PKG_VERSION"),
        cp15::Midr::read(),
        cp15::cpu_id()
    );

    let mut cmdline_buf = [0u8; 512];
    let cmdline = semihosting::cmdline(&mut cmdline_buf);
    match cmdline {
        Some(line) => info!("command line: {line:?}"),
        None => info!("command line: none (semihosting off)"),
    }
    let args = BootArgs::parse(cmdline.unwrap_or(""), |p| match p {
        ArgProblem::UnknownKey(w) => warn!("ignoring unknown boot parameter {w:?}"),
        ArgProblem::BadValue(w) => warn!("ignoring bad boot parameter {w:?}"),
    });

    let ram = *mm::RAM.call_once(|| mm::discover_ram(&args));
    mm::init_kernel_tables(&ram);
    info!("mmu: kernel table live (TTBR1, TTBCR.N=1), caches and branch prediction on");
    mm::print_memory_map(&ram);

    let lines = interrupts::init();
    time::start_tick(args.tick_hz);
    // SAFETY: the vectors are installed and the GIC and timer are set up.
    unsafe { irq::enable() };
    info!(
        "gic: {lines} interrupt lines; timer: {} Hz tick on irq {}",
        args.tick_hz,
        platform::IRQ_PRIVATE_TIMER
    );

    if let Some(test) = args.selftest {
        selftest::run(test);
        warn!("selftest {test:?} returned: the fault was not taken");
        shutdown(ExitStatus::TestFailure);
    }

    // Kernel objects come from the kernel pool right after the image.
    let kpool_base = (mm::kva_to_pa(mm::image_layout().end).0 + 0xf_ffff) & !0xf_ffff;
    let kpool_bytes = kpool::init(abi::PhysAddr(kpool_base), ram.base.0 + ram.size);
    if let Some(name) = args.system {
        let Some(system) = manifest::find(name) else {
            warn!("unknown system {name:?}");
            for s in manifest::SYSTEMS {
                info!("  known system {:?}: {}", s.name, s.about);
            }
            shutdown(ExitStatus::TestFailure);
        };
        let mut free = loader::FreeRam {
            next: kpool_base + kpool_bytes,
            end: ram.base.0 + ram.size,
        };
        let started = loader::load_system(&mut sched::KERNEL.lock(), system, &mut free);
        if started == 0 {
            warn!("system {name:?}: no task could start");
            shutdown(ExitStatus::TestFailure);
        }
        irq::disable();
        sched::start();
    }

    let mut seen = 0;
    while seen < args.ticks {
        barrier::wfi();
        let now = time::ticks();
        if now != seen {
            seen = now;
            info!("tick {seen}");
        }
    }
    info!(
        "boot complete: {seen} ticks at {} Hz; shutting down",
        args.tick_hz
    );
    shutdown(ExitStatus::Success)
}

/// Ends the run with `status` (or idles if semihosting is off).
pub(crate) fn shutdown(status: ExitStatus) -> ! {
    log::logger().flush();
    semihosting::exit(status);
    loop {
        barrier::wfi();
    }
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    irq::disable();
    match info.location() {
        Some(at) => kprint!(
            "\n*** KERNEL PANIC: {} (at {}:{}) ***\n",
            info.message(),
            at.file(),
            at.line()
        ),
        None => kprint!("\n*** KERNEL PANIC: {} ***\n", info.message()),
    }
    semihosting::exit(ExitStatus::Panic);
    loop {
        barrier::wfi();
    }
}
