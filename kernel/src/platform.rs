//! Board facts for QEMU `vexpress-a9` (Cortex-A9 MPCore daughterboard,
//! legacy memory map) and the kernel's virtual layout. Nothing outside this
//! module names a physical device address.

use abi::PhysAddr;

/// Start of RAM (the daughterboard's DDR).
pub const RAM_BASE: PhysAddr = PhysAddr(0x6000_0000);
/// The largest RAM QEMU gives this board (`-m 1024M`).
pub const RAM_MAX: u32 = 1 << 30;
/// Where `link.ld` loads the kernel (1 MiB into RAM, the same offset the
/// `virt` port needs for its device tree).
pub const KERNEL_PHYS_BASE: PhysAddr = PhysAddr(0x6010_0000);

/// Kernel virtual address = physical + this, for RAM (the direct map).
pub const KERNEL_VIRT_OFFSET: u32 = 0x2000_0000;
/// Kernel-half virtual window for the motherboard peripherals (1 MiB).
pub const MB_PERIPH_VIRT: u32 = 0xf000_0000;
/// Physical base of the motherboard peripherals (sysregs, UARTs, timers,
/// virtio-mmio transports).
pub const MB_PERIPH_PHYS: PhysAddr = PhysAddr(0x1000_0000);
/// Kernel-half virtual window for the Cortex-A9 private region (1 MiB).
pub const A9_PRIVATE_VIRT: u32 = 0xf010_0000;
/// Physical base of the Cortex-A9 private memory region (PERIPHBASE).
pub const A9_PRIVATE_PHYS: PhysAddr = PhysAddr(0x1e00_0000);

/// PL011 UART0.
pub const UART0_PHYS: PhysAddr = PhysAddr(0x1000_9000);
/// GIC distributor (PERIPHBASE + 0x1000).
pub const GICD_PHYS: PhysAddr = PhysAddr(0x1e00_1000);
/// GIC CPU interface (PERIPHBASE + 0x100).
pub const GICC_PHYS: PhysAddr = PhysAddr(0x1e00_0100);
/// A9 global timer (PERIPHBASE + 0x200): 64-bit, ticks every 10 ns.
pub const GLOBAL_TIMER_PHYS: PhysAddr = PhysAddr(0x1e00_0200);
/// A9 private timer (PERIPHBASE + 0x600).
pub const PRIVATE_TIMER_PHYS: PhysAddr = PhysAddr(0x1e00_0600);
/// virtio-mmio transports: 4 of them from here, stride 0x200.
pub const VIRTIO_MMIO_PHYS: PhysAddr = PhysAddr(0x1001_3000);

/// Private timer interrupt (a PPI).
pub const IRQ_PRIVATE_TIMER: u32 = 29;
/// Frequency of PERIPHCLK as QEMU models it: the private and global timers
/// count at 100 MHz with prescaler 0.
pub const PERIPH_CLOCK_HZ: u32 = 100_000_000;

/// The kernel-half virtual address of a physical device register, or
/// `None` if it is not in a window the kernel maps.
pub const fn device_va(pa: PhysAddr) -> Option<usize> {
    let p = pa.0;
    if p >= MB_PERIPH_PHYS.0 && p < MB_PERIPH_PHYS.0 + (1 << 20) {
        Some((p - MB_PERIPH_PHYS.0 + MB_PERIPH_VIRT) as usize)
    } else if p >= A9_PRIVATE_PHYS.0 && p < A9_PRIVATE_PHYS.0 + (1 << 20) {
        Some((p - A9_PRIVATE_PHYS.0 + A9_PRIVATE_VIRT) as usize)
    } else {
        None
    }
}

/// Devices the boot map covers, for the memory-map report.
pub const DEVICES: &[(&str, PhysAddr, u32)] = &[
    ("sysregs", PhysAddr(0x1000_0000), 0x1000),
    ("uart0 (pl011)", UART0_PHYS, 0x1000),
    ("timer01 (sp804)", PhysAddr(0x1001_1000), 0x1000),
    ("virtio-mmio x4", VIRTIO_MMIO_PHYS, 0x800),
    ("rtc (pl031)", PhysAddr(0x1001_7000), 0x1000),
    ("scu", A9_PRIVATE_PHYS, 0x100),
    ("gic cpu if", GICC_PHYS, 0x100),
    ("global timer", GLOBAL_TIMER_PHYS, 0x20),
    ("private timer", PRIVATE_TIMER_PHYS, 0x20),
    ("gic distributor", GICD_PHYS, 0x1000),
];
