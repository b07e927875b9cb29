//! A small ARMv7-A microkernel for QEMU's `vexpress-a9` (Cortex-A9) and
//! `virt` (Cortex-A15 or an ARMv8 core in AArch32, as under KVM) boards.
//!
//! Exception vectors, the MMU with the kernel in the TTBR1 half, the
//! board's console, interrupt controller and tick (`board/`), tasks, IPC,
//! capabilities and the memory calls (see `doc/`).
#![no_std]
#![no_main]
#![forbid(unsafe_op_in_unsafe_fn)]

mod arch;
mod board;
mod console;
mod drivers;
mod interrupts;
mod ipc;
mod kpool;
mod loader;
mod manifest;
mod mm;
mod mmio;
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
use kerncore::psr::Mode;
use log::{info, warn};

use crate::arch::{barrier, cp15, irq};
use crate::semihosting::ExitStatus;

/// Rust entry, on CPU 0's SVC stack with the boot map live; `boot_r2` is
/// the r2 the boot loader left (a device-tree address, or 0), `entry_psr`
/// the CPSR `_start` was entered with.
#[no_mangle]
extern "C" fn kmain(boot_r2: u32, entry_psr: u32) -> ! {
    // The board first: on `virt` it reads the device tree to learn where
    // its devices are, before anything is printed.
    board::init(boot_r2);
    mm::map_boot_windows();
    time::init_clock();
    console::init(log::LevelFilter::Info);
    info!(
        "microkernel {} booting: {}, MIDR {:#010x}, cpu {}",
        env!("CARGO_PKG_VERSION"),
        board::NAME,
        cp15::Midr::read(),
        cp15::cpu_id()
    );
    match Mode::from_psr(entry_psr) {
        Some(Mode::Hyp) => {
            info!("entered in HYP mode: left for SVC through eret (ELR_hyp, SPSR_hyp)")
        }
        Some(m) => info!("entered in {m:?} mode"),
        None => info!("entered in an unknown mode (CPSR {entry_psr:#010x})"),
    }
    board::report();

    let mut cmdline_buf = [0u8; 512];
    let cmdline = match board::cmdline() {
        Some(line) => Some(line),
        None => semihosting::cmdline(&mut cmdline_buf),
    };
    match cmdline {
        Some(line) => info!("command line: {line:?}"),
        None => info!("command line: none (no device tree bootargs, semihosting off)"),
    }
    let args = BootArgs::parse(cmdline.unwrap_or(""), |p| match p {
        ArgProblem::UnknownKey(w) => warn!("ignoring unknown boot parameter {w:?}"),
        ArgProblem::BadValue(w) => warn!("ignoring bad boot parameter {w:?}"),
    });
    if !args.semihosting {
        semihosting::disable();
    }

    let ram = *mm::RAM.call_once(|| mm::discover_ram(&args));
    mm::init_kernel_tables(&ram);
    info!("mmu: kernel table live (TTBR1, TTBCR.N=1), caches and branch prediction on");
    mm::print_memory_map(&ram);

    let lines = interrupts::init();
    info!(
        "gic: {lines} interrupt lines; timer: {} Hz tick on irq {}",
        args.tick_hz,
        board::tick_irq()
    );
    board::banner();
    info!(
        "boot: board {}, MIDR {:#010x}, gic v{} ({lines} lines), timer {} Hz (tick {} Hz on irq {}), RAM {} MiB at {:#010x}, semihosting {}",
        board::NAME,
        cp15::Midr::read(),
        board::irq_chip().version(),
        time::clock_hz(),
        args.tick_hz,
        board::tick_irq(),
        ram.size >> 20,
        ram.base.0,
        if semihosting::available() { "on" } else { "off" }
    );
    // The tick starts after the banner, so its first ticks are not spent
    // printing.
    time::start_tick(args.tick_hz);
    // SAFETY: the vectors are installed and the interrupt controller and
    // timer are set up.
    unsafe { irq::enable() };

    if let Some(test) = args.selftest {
        selftest::run(test);
        warn!("selftest {test:?} returned: the fault was not taken");
        shutdown(ExitStatus::TestFailure);
    }

    // Kernel objects come from the kernel pool right after the image (and
    // after the device tree, if the boot loader put it there).
    let mut after_image = mm::kva_to_pa(mm::image_layout().end).0;
    if let Some((dtb, size)) = board::reserved() {
        if dtb.0 >= after_image && dtb.0 < ram.base.0 + ram.size {
            after_image = dtb.0 + size;
        }
    }
    let kpool_base = (after_image + 0xf_ffff) & !0xf_ffff;
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

    // Every tick is reported, even if several passed while the console
    // was busy (a slow console, or QEMU under a TCG plugin).
    let mut seen = 0;
    while seen < args.ticks {
        barrier::wfi();
        let now = time::ticks().min(args.ticks);
        while seen < now {
            seen += 1;
            info!("tick {seen}");
        }
    }
    info!(
        "boot complete: {seen} ticks at {} Hz; shutting down",
        args.tick_hz
    );
    shutdown(ExitStatus::Success)
}

/// Ends the run with `status`: flushes the log, then [`finish`].
pub(crate) fn shutdown(status: ExitStatus) -> ! {
    log::logger().flush();
    finish(status)
}

/// The one way the kernel stops: prints the last line, `system: exit
/// status N` (raw, so it appears even if the logger is wedged), then ends
/// the run through semihosting with N, or, with semihosting off, powers
/// the board off (the runner reads N from the line).
pub(crate) fn finish(status: ExitStatus) -> ! {
    irq::disable();
    kprint!("system: exit status {}\n", status as u8);
    console::flush();
    semihosting::exit(status);
    board::power_off();
    kprint!("system: the board did not power off; halting\n");
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
    finish(ExitStatus::Panic)
}
