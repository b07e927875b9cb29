//! ARM Generic Interrupt Controller v1/v2 with the memory-mapped CPU
//! interface: the Cortex-A9 MPCore's integrated GIC (vexpress-a9) and the
//! GICv2 of QEMU's `virt`. The kernel runs Non-secure on `virt` and QEMU's
//! a9mpcore model has no security extensions, so every interrupt is
//! signalled as IRQ (group 1 as the CPU interface sees it).

use crate::mmio::MmioRegion;

const GICD_CTLR: usize = 0x000;
const GICD_TYPER: usize = 0x004;
const GICD_ISENABLER: usize = 0x100;
const GICD_ICENABLER: usize = 0x180;
const GICD_ICPENDR: usize = 0x280;
const GICD_IPRIORITYR: usize = 0x400;
const GICD_ITARGETSR: usize = 0x800;
const GICD_ICFGR: usize = 0xc00;

const GICC_CTLR: usize = 0x00;
const GICC_PMR: usize = 0x04;
const GICC_BPR: usize = 0x08;
const GICC_IAR: usize = 0x0c;
const GICC_EOIR: usize = 0x10;

/// Interrupt IDs at and above this value are "spurious" (1023) or special.
pub const SPURIOUS: u32 = 1020;
/// Default priority for every interrupt (lower is more urgent).
const DEFAULT_PRIORITY: u32 = 0xa0;

/// The distributor and this CPU's interface.
pub struct Gic {
    dist: MmioRegion,
    cpu: MmioRegion,
    lines: u32,
}

impl Gic {
    /// # Safety
    /// The two bases must be the kernel mappings of a GIC distributor and
    /// CPU interface, driven by nothing else.
    pub unsafe fn new(dist_base: usize, cpu_base: usize) -> Self {
        // SAFETY: forwarded from the caller.
        let dist = unsafe { MmioRegion::new(dist_base, 0x1000) };
        // SAFETY: forwarded from the caller.
        let cpu = unsafe { MmioRegion::new(cpu_base, 0x100) };
        let lines = ((dist.read32(GICD_TYPER) & 0x1f) + 1) * 32;
        Self {
            dist,
            cpu,
            lines: lines.min(1020),
        }
    }

    /// Number of interrupt IDs the distributor implements.
    pub fn lines(&self) -> u32 {
        self.lines
    }

    /// Resets the distributor (all shared interrupts off, level-triggered,
    /// routed to CPU 0) and enables this CPU's interface.
    pub fn init(&self) {
        self.init_distributor();
        self.init_cpu();
    }

    /// Resets the distributor's shared interrupts (IDs 32 and up): once,
    /// on the boot CPU.
    pub fn init_distributor(&self) {
        self.dist.write32(GICD_CTLR, 0);
        for reg in 1..self.lines as usize / 32 {
            self.dist.write32(GICD_ICENABLER + reg * 4, u32::MAX);
            self.dist.write32(GICD_ICPENDR + reg * 4, u32::MAX);
        }
        let prio = DEFAULT_PRIORITY * 0x0101_0101;
        for reg in 8..self.lines as usize / 4 {
            self.dist.write32(GICD_IPRIORITYR + reg * 4, prio);
        }
        // ITARGETSR for IDs 0..31 is read-only (banked per CPU).
        for reg in 8..self.lines as usize / 4 {
            self.dist.write32(GICD_ITARGETSR + reg * 4, 0x0101_0101);
        }
        for reg in 2..self.lines as usize / 16 {
            self.dist.write32(GICD_ICFGR + reg * 4, 0);
        }
        self.dist.write32(GICD_CTLR, 1);
    }

    /// Resets the calling CPU's banked SGIs and PPIs (IDs 0-31: enable,
    /// pending, priority) and enables its CPU interface: on each CPU.
    pub fn init_cpu(&self) {
        self.dist.write32(GICD_ICENABLER, u32::MAX);
        self.dist.write32(GICD_ICPENDR, u32::MAX);
        let prio = DEFAULT_PRIORITY * 0x0101_0101;
        for reg in 0..8 {
            self.dist.write32(GICD_IPRIORITYR + reg * 4, prio);
        }
        self.cpu.write32(GICC_PMR, 0xf0);
        self.cpu.write32(GICC_BPR, 0);
        self.cpu.write32(GICC_CTLR, 1);
    }

    /// Enables delivery of interrupt `id` (ignored if out of range).
    pub fn enable(&self, id: u32) {
        if id < self.lines {
            self.dist
                .write32(GICD_ISENABLER + (id as usize / 32) * 4, 1 << (id % 32));
        }
    }

    /// Disables delivery of interrupt `id`.
    pub fn disable(&self, id: u32) {
        if id < self.lines {
            self.dist
                .write32(GICD_ICENABLER + (id as usize / 32) * 4, 1 << (id % 32));
        }
    }

    /// Acknowledges the highest-priority pending interrupt; returns the raw
    /// IAR value (ID in bits 9..0, source CPU in 12..10).
    pub fn acknowledge(&self) -> u32 {
        self.cpu.read32(GICC_IAR)
    }

    /// Signals the end of handling for an acknowledged interrupt.
    pub fn end_of_interrupt(&self, iar: u32) {
        self.cpu.write32(GICC_EOIR, iar);
    }
}
