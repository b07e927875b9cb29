//! The platform layer: everything that differs between boards.
//!
//! One module per board, chosen at build time by a cargo feature
//! (`board-vexpress-a9`, the default, or `board-virt`). Each owns its RAM
//! layout (`layout`, shared with `build.rs`, which writes the linker
//! script's load address from it), the kernel-half device windows, the
//! console, the interrupt controller ([`IrqChip`]), the clock and the tick,
//! how secondary CPUs start, power-off, and the named devices: a
//! [`DeviceRole`] and an instance resolve to registers and an interrupt
//! ([`DeviceRegs`]). Nothing outside `board/` names a board address or
//! interrupt number (`doc/boards.md` gives the `grep` that checks it).
//!
//! Both boards provide the same functions under the same names; the rest
//! of the kernel uses them through `board::`.

#[cfg(all(feature = "board-vexpress-a9", feature = "board-virt"))]
compile_error!(
    "two boards selected: build the virt kernel with `--no-default-features --features board-virt`"
);
#[cfg(not(any(feature = "board-vexpress-a9", feature = "board-virt")))]
compile_error!("no board selected: enable `board-vexpress-a9` or `board-virt`");

#[cfg(all(feature = "board-vexpress-a9", not(feature = "board-virt")))]
mod vexpress_a9;
#[cfg(all(feature = "board-vexpress-a9", not(feature = "board-virt")))]
pub use vexpress_a9::*;

#[cfg(feature = "board-virt")]
mod virt;
#[cfg(feature = "board-virt")]
pub use virt::*;

use abi::{DeviceRole, PhysAddr};

use crate::drivers::gic::Gic;
#[cfg(feature = "board-virt")]
use crate::drivers::gicv3::GicV3;

/// First kernel virtual address of the device windows (1 MiB sections).
pub const DEVICE_VIRT_BASE: u32 = 0xf000_0000;
/// End of the device windows' virtual range (16 sections).
pub const DEVICE_VIRT_END: u32 = 0xf100_0000;

/// A kernel-half device window: `sections` MiB of device registers from
/// `phys`, mapped at `virt` as device memory, XN.
#[derive(Clone, Copy, Debug)]
pub struct Window {
    /// What lives there (memory-map report).
    pub name: &'static str,
    /// Physical base (1 MiB aligned).
    pub phys: PhysAddr,
    /// Kernel virtual base (1 MiB aligned, in the device range).
    pub virt: u32,
    /// Size in 1 MiB sections.
    pub sections: u32,
}

impl Window {
    /// The kernel address of `pa`, if this window covers it.
    pub const fn va_of(&self, pa: PhysAddr) -> Option<usize> {
        let off = pa.0.wrapping_sub(self.phys.0);
        if pa.0 >= self.phys.0 && off < self.sections << 20 {
            Some((self.virt + off) as usize)
        } else {
            None
        }
    }
}

/// The kernel-half virtual address of a physical device register, or
/// `None` if no kernel window covers it.
pub fn device_va(pa: PhysAddr) -> Option<usize> {
    windows().iter().find_map(|w| w.va_of(pa))
}

/// Where a named device's registers are and which interrupt it raises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceRegs {
    /// Physical address of the first register.
    pub phys: PhysAddr,
    /// Size of the register block in bytes.
    pub size: u32,
    /// GIC interrupt ID, if the device has one.
    pub irq: Option<u32>,
}

impl DeviceRegs {
    /// The pages covering the registers: (first page address, page count).
    pub const fn pages(&self) -> (PhysAddr, u32) {
        let first = self.phys.0 & !0xfff;
        let end = self.phys.0 + self.size;
        (PhysAddr(first), (end - first).div_ceil(4096))
    }
    /// Offset of the first register inside its page.
    pub const fn offset(&self) -> u32 {
        self.phys.0 & 0xfff
    }
}

/// Why a role could not be resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoDevice {
    /// The board has no device of this role at all.
    Role(DeviceRole),
    /// The board has fewer instances.
    Instance(DeviceRole, u8),
}

/// The manifest's name of a role.
pub const fn role_name(role: DeviceRole) -> &'static str {
    match role {
        DeviceRole::Console => "console",
        DeviceRole::Rtc => "rtc",
        DeviceRole::Sysregs => "sysregs",
        DeviceRole::VirtioMmio => "virtio-mmio",
        DeviceRole::Timer => "timer",
    }
}

impl core::fmt::Display for NoDevice {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            NoDevice::Role(r) => write!(f, "board has no {}", role_name(r)),
            NoDevice::Instance(r, i) => write!(f, "board has no {} {i}", role_name(r)),
        }
    }
}

/// The interrupt controller the board has (GICv2 includes the Cortex-A9's
/// integrated GICv1: same memory-mapped distributor and CPU interface).
pub enum IrqChip {
    /// Memory-mapped distributor and CPU interface; the architecture
    /// version (1 for the Cortex-A9's, 2 for a GICv2).
    Gic2(Gic, u32),
    /// Distributor, redistributors and the system-register CPU interface.
    #[cfg(feature = "board-virt")]
    Gic3(GicV3),
}

impl IrqChip {
    /// The architecture version (2 or 3).
    pub fn version(&self) -> u32 {
        match self {
            IrqChip::Gic2(_, version) => *version,
            #[cfg(feature = "board-virt")]
            IrqChip::Gic3(_) => 3,
        }
    }

    /// Number of interrupt IDs the distributor implements.
    pub fn lines(&self) -> u32 {
        match self {
            IrqChip::Gic2(g, _) => g.lines(),
            #[cfg(feature = "board-virt")]
            IrqChip::Gic3(g) => g.lines(),
        }
    }

    /// Sets up the distributor (once) and the boot CPU's interface. (A
    /// secondary CPU will set up only its own interface: the drivers'
    /// `init_cpu`, for the SMP issue.)
    pub fn init(&self) {
        match self {
            IrqChip::Gic2(g, _) => g.init(),
            #[cfg(feature = "board-virt")]
            IrqChip::Gic3(g) => {
                if let Err(e) = g.init() {
                    panic!("gicv3: cannot set up this CPU's interface: {e:?}");
                }
            }
        }
    }

    /// Enables delivery of interrupt `id`.
    pub fn enable(&self, id: u32) {
        match self {
            IrqChip::Gic2(g, _) => g.enable(id),
            #[cfg(feature = "board-virt")]
            IrqChip::Gic3(g) => g.enable(id),
        }
    }

    /// Masks interrupt `id`.
    pub fn disable(&self, id: u32) {
        match self {
            IrqChip::Gic2(g, _) => g.disable(id),
            #[cfg(feature = "board-virt")]
            IrqChip::Gic3(g) => g.disable(id),
        }
    }

    /// Acknowledges the highest-priority pending interrupt: (interrupt ID,
    /// raw value for [`end_of_interrupt`](Self::end_of_interrupt)), or
    /// `None` if nothing is pending.
    pub fn acknowledge(&self) -> Option<(u32, u32)> {
        match self {
            IrqChip::Gic2(g, _) => {
                let iar = g.acknowledge();
                let id = iar & 0x3ff;
                (id < crate::drivers::gic::SPURIOUS).then_some((id, iar))
            }
            #[cfg(feature = "board-virt")]
            IrqChip::Gic3(g) => g.acknowledge().map(|iar| (iar & 0xff_ffff, iar)),
        }
    }

    /// Signals the end of handling for an acknowledged interrupt.
    pub fn end_of_interrupt(&self, raw: u32) {
        match self {
            IrqChip::Gic2(g, _) => g.end_of_interrupt(raw),
            #[cfg(feature = "board-virt")]
            IrqChip::Gic3(g) => g.end_of_interrupt(raw),
        }
    }
}
