//! QEMU `vexpress-a9`: the Cortex-A9 MPCore daughterboard with the legacy
//! motherboard memory map. No device tree reaches an ELF kernel, so every
//! fact here is a constant (`../shared/PLATFORM.md`, QEMU's
//! `hw/arm/vexpress.c`).

use abi::{DeviceRole, PhysAddr};
use log::info;
use spin::Once;

use super::{DeviceRegs, IrqChip, NoDevice, Window, DEVICE_VIRT_BASE};
use crate::arch::barrier;
use crate::drivers::a9timer::{GlobalTimer, PrivateTimer};
use crate::drivers::gic::Gic;
use crate::mmio::MmioRegion;

/// RAM base, load address and direct-map offset (shared with `build.rs`).
pub mod layout {
    include!("vexpress_a9_layout.rs");
}

/// The board's name in the banner and the memory map.
pub const NAME: &str = "vexpress-a9";
/// The largest RAM QEMU gives this board (`-m 1024M`), all direct-mapped.
pub const RAM_MAX: u32 = 1 << 30;
/// The boot path invalidates the L1 data cache by set/way (Secure reset
/// state on real hardware: the cache contents are undefined).
pub const SETWAY_INVALIDATE: bool = true;

/// Physical base of the motherboard peripherals (sysregs, UARTs, timers,
/// virtio-mmio transports, RTC).
const MB_PERIPH_PHYS: u32 = 0x1000_0000;
/// Physical base of the Cortex-A9 private region (PERIPHBASE): SCU, GIC,
/// global and private timers.
const A9_PRIVATE_PHYS: u32 = 0x1e00_0000;

const SYSREGS_PHYS: u32 = MB_PERIPH_PHYS;
const UART0_PHYS: u32 = MB_PERIPH_PHYS + 0x9000;
const TIMER01_PHYS: u32 = MB_PERIPH_PHYS + 0x1_1000;
const VIRTIO_MMIO_PHYS: u32 = MB_PERIPH_PHYS + 0x1_3000;
const RTC_PHYS: u32 = MB_PERIPH_PHYS + 0x1_7000;
const GICC_PHYS: u32 = A9_PRIVATE_PHYS + 0x100;
const GLOBAL_TIMER_PHYS: u32 = A9_PRIVATE_PHYS + 0x200;
const PRIVATE_TIMER_PHYS: u32 = A9_PRIVATE_PHYS + 0x600;
const GICD_PHYS: u32 = A9_PRIVATE_PHYS + 0x1000;

/// Motherboard interrupts are SPIs: GIC ID = 32 + motherboard IRQ.
const fn mb_irq(n: u32) -> u32 {
    32 + n
}
/// Private timer interrupt (a PPI).
const IRQ_PRIVATE_TIMER: u32 = 29;
/// virtio-mmio transports on the motherboard.
const VIRTIO_MMIO_COUNT: u8 = 4;

/// Frequency of PERIPHCLK as QEMU models it: the private and global timers
/// count at 100 MHz with prescaler 0.
const PERIPH_CLOCK_HZ: u32 = 100_000_000;

static WINDOWS: [Window; 2] = [
    Window {
        name: "motherboard peripherals",
        phys: PhysAddr(MB_PERIPH_PHYS),
        virt: DEVICE_VIRT_BASE,
        sections: 1,
    },
    Window {
        name: "cortex-a9 private region",
        phys: PhysAddr(A9_PRIVATE_PHYS),
        virt: DEVICE_VIRT_BASE + 0x10_0000,
        sections: 1,
    },
];

/// The kernel-half device windows.
pub fn windows() -> &'static [Window] {
    &WINDOWS
}

/// Nothing to discover: no device tree. `_boot_r2` is ignored (QEMU
/// passes 0).
pub fn init(_boot_r2: u32) {}

/// Logs what the board layer found (nothing beyond the constants).
pub fn report() {}

/// The console UART (PL011 UART0).
pub fn console() -> PhysAddr {
    PhysAddr(UART0_PHYS)
}

/// RAM as firmware describes it: nothing does on this board (the kernel
/// probes).
pub fn firmware_ram() -> Option<(PhysAddr, u32)> {
    None
}

/// The command line from firmware: none (semihosting carries it).
pub fn cmdline() -> Option<&'static str> {
    None
}

/// RAM the kernel must not hand out besides its own image: none.
pub fn reserved() -> Option<(PhysAddr, u32)> {
    None
}

/// A named device: its registers and interrupt.
pub fn device(role: DeviceRole, instance: u8) -> Result<DeviceRegs, NoDevice> {
    let only_one = |d: DeviceRegs| {
        if instance == 0 {
            Ok(d)
        } else {
            Err(NoDevice::Instance(role, instance))
        }
    };
    let regs = |phys: u32, size: u32, irq: Option<u32>| DeviceRegs {
        phys: PhysAddr(phys),
        size,
        irq,
    };
    match role {
        DeviceRole::Console => only_one(regs(UART0_PHYS, 0x1000, Some(mb_irq(5)))),
        DeviceRole::Rtc => only_one(regs(RTC_PHYS, 0x1000, Some(mb_irq(4)))),
        DeviceRole::Sysregs => only_one(regs(SYSREGS_PHYS, 0x1000, None)),
        DeviceRole::VirtioMmio if instance < VIRTIO_MMIO_COUNT => Ok(regs(
            VIRTIO_MMIO_PHYS + instance as u32 * 0x200,
            0x200,
            Some(mb_irq(40 + instance as u32)),
        )),
        DeviceRole::VirtioMmio => Err(NoDevice::Instance(role, instance)),
        // SP804 timer01 and timer23.
        DeviceRole::Timer if instance < 2 => Ok(regs(
            TIMER01_PHYS + instance as u32 * 0x1000,
            0x1000,
            Some(mb_irq(2 + instance as u32)),
        )),
        DeviceRole::Timer => Err(NoDevice::Instance(role, instance)),
    }
}

/// Devices the windows cover, for the memory-map report.
pub fn devices() -> &'static [(&'static str, PhysAddr, u32)] {
    &[
        ("sysregs", PhysAddr(SYSREGS_PHYS), 0x1000),
        ("uart0 (pl011)", PhysAddr(UART0_PHYS), 0x1000),
        ("timer01 (sp804)", PhysAddr(TIMER01_PHYS), 0x1000),
        ("virtio-mmio x4", PhysAddr(VIRTIO_MMIO_PHYS), 0x800),
        ("rtc (pl031)", PhysAddr(RTC_PHYS), 0x1000),
        ("scu", PhysAddr(A9_PRIVATE_PHYS), 0x100),
        ("gic cpu if", PhysAddr(GICC_PHYS), 0x100),
        ("global timer", PhysAddr(GLOBAL_TIMER_PHYS), 0x20),
        ("private timer", PhysAddr(PRIVATE_TIMER_PHYS), 0x20),
        ("gic distributor", PhysAddr(GICD_PHYS), 0x1000),
    ]
}

/// The kernel mapping of a device in the windows above (a constant fact of
/// this board: a miss is a bug in this file).
fn va(pa: u32) -> usize {
    match WINDOWS.iter().find_map(|w| w.va_of(PhysAddr(pa))) {
        Some(va) => va,
        None => panic!("vexpress-a9: device outside the kernel windows"),
    }
}

static GLOBAL_TIMER: Once<GlobalTimer> = Once::new();
static PRIVATE_TIMER: Once<PrivateTimer> = Once::new();
static IRQ_CHIP: Once<IrqChip> = Once::new();

fn global_timer() -> &'static GlobalTimer {
    // SAFETY: the device windows map the A9 private region as device
    // memory; only this module drives the global timer.
    GLOBAL_TIMER.call_once(|| unsafe { GlobalTimer::new(va(GLOBAL_TIMER_PHYS)) })
}

fn private_timer() -> &'static PrivateTimer {
    // SAFETY: as above, for the private timer.
    PRIVATE_TIMER.call_once(|| unsafe { PrivateTimer::new(va(PRIVATE_TIMER_PHYS)) })
}

/// Starts the clock (the A9 global timer).
pub fn clock_start() {
    global_timer().start();
}

/// Clock ticks since boot.
pub fn clock_count() -> u64 {
    global_timer().count()
}

/// Clock ticks per second.
pub fn clock_hz() -> u32 {
    PERIPH_CLOCK_HZ
}

/// The tick's interrupt (the private timer's PPI).
pub fn tick_irq() -> u32 {
    IRQ_PRIVATE_TIMER
}

/// Starts the periodic tick on this CPU.
pub fn tick_start(hz: u32) {
    private_timer().start_periodic(PERIPH_CLOCK_HZ, hz);
}

/// In the tick interrupt: clears it; whether it had fired.
pub fn tick_acknowledge() -> bool {
    private_timer().clear_interrupt()
}

/// The interrupt controller (the A9's integrated GIC), created on first
/// use.
pub fn irq_chip() -> &'static IrqChip {
    // SAFETY: both addresses are the kernel's device mappings of the GIC,
    // and this `Once` is its only owner.
    IRQ_CHIP.call_once(|| IrqChip::Gic2(unsafe { Gic::new(va(GICD_PHYS), va(GICC_PHYS)) }, 1))
}

/// Board lines of the boot banner.
pub fn banner() {
    info!(
        "board: gic v1 (cortex-a9 mpcore), {} interrupt lines; clock: a9 global timer at {} Hz",
        irq_chip().lines(),
        PERIPH_CLOCK_HZ
    );
}

/// Motherboard configuration controller (sysregs `SYS_CFGDATA`,
/// `SYS_CFGCTRL`): QEMU's `arm_sysctl.c` ends the run on a write of
/// function `SYS_CFG_SHUTDOWN` (8) to site 0 (the motherboard), device 0.
const SYS_CFGDATA: usize = 0xa0;
const SYS_CFGCTRL: usize = 0xa4;
const CFGCTRL_START: u32 = 1 << 31;
const CFGCTRL_WRITE: u32 = 1 << 30;
const CFG_FUNCTION_SHUTDOWN: u32 = 8 << 20;

/// Powers the board off. Returns only if the board did not stop.
pub fn power_off() {
    // SAFETY: the motherboard window maps the sysregs page as device
    // memory; the kernel is stopping and nothing else uses it now.
    let sysregs = unsafe { MmioRegion::new(va(SYSREGS_PHYS), 0x1000) };
    sysregs.write32(SYS_CFGDATA, 0);
    sysregs.write32(
        SYS_CFGCTRL,
        CFGCTRL_START | CFGCTRL_WRITE | CFG_FUNCTION_SHUTDOWN,
    );
    // QEMU stops at the end of this instruction's translation block; give
    // real hardware time to act.
    for _ in 0..1000 {
        barrier::dsb();
    }
}

/// How secondary CPUs start: every CPU enters `_start` at reset and the
/// others park there until `SECONDARY_ENTRY` holds an address (`dsb; sev`
/// releases them). `cpu` is the MPIDR's Aff0. The mechanism only: the SMP
/// issue brings secondaries up through it.
#[allow(dead_code)]
pub fn start_cpu(_cpu: u32, entry_pa: PhysAddr) -> Result<(), &'static str> {
    use core::sync::atomic::Ordering;
    crate::arch::boot::SECONDARY_ENTRY.store(entry_pa.0, Ordering::Release);
    barrier::dsb();
    barrier::sev();
    Ok(())
}
