//! ARM GICv3 with the system-register CPU interface (ARM IHI 0069): the
//! interrupt controller of `virt,gic-version=3` and of KVM guests on hosts
//! whose GICv3 has no GICv2-compatible interface.
//!
//! Three parts: the distributor (shared interrupts, set up once), one
//! redistributor per CPU (its SGIs and PPIs, woken and set up by that CPU)
//! and the CPU interface (ICC_* system registers, per CPU). Every
//! interrupt is put in Non-secure Group 1 and delivered as IRQ; SPIs are
//! routed to the boot CPU's affinity.
//!
//! Under KVM and in QEMU's `virt` the GIC has security disabled
//! (GICD_CTLR.DS = 1); the enable bits written are those Linux writes,
//! which mean "Group 1 on, affinity routing on" in both the DS = 0
//! Non-secure view and the DS = 1 view.
//!
//! All MMIO is through [`MmioRegion`]: single 32-bit `ldr`/`str`, which KVM
//! can emulate. The 64-bit GICD_IROUTER and GICR_TYPER are accessed as two
//! 32-bit halves, which the architecture allows.

use crate::arch::barrier::{dsb, isb};
use crate::arch::cp15::Mpidr;
use crate::arch::sysreg;
use crate::mmio::MmioRegion;

const GICD_CTLR: usize = 0x0000;
const GICD_TYPER: usize = 0x0004;
const GICD_IGROUPR: usize = 0x0080;
const GICD_ISENABLER: usize = 0x0100;
const GICD_ICENABLER: usize = 0x0180;
const GICD_ICPENDR: usize = 0x0280;
const GICD_ICACTIVER: usize = 0x0380;
const GICD_IPRIORITYR: usize = 0x0400;
const GICD_ICFGR: usize = 0x0c00;
const GICD_IROUTER: usize = 0x6000;
/// Size of the distributor's register frame.
pub const DIST_SIZE: usize = 0x1_0000;

/// GICD_CTLR (Non-secure view / DS = 1): Group 1 enable (bit 0 = EnableGrp1
/// NS-view, EnableGrp0 with DS), bit 1, affinity routing, write pending.
const GICD_CTLR_ENABLE_G1: u32 = 1 << 0;
const GICD_CTLR_ENABLE_G1A: u32 = 1 << 1;
const GICD_CTLR_ARE_NS: u32 = 1 << 4;
const GICD_CTLR_RWP: u32 = 1 << 31;

/// Redistributor RD_base frame.
const GICR_CTLR: usize = 0x0000;
const GICR_TYPER_LO: usize = 0x0008;
const GICR_TYPER_HI: usize = 0x000c;
const GICR_WAKER: usize = 0x0014;
const GICR_CTLR_RWP: u32 = 1 << 3;
/// GICR_TYPER.VLPIS: a GICv4 redistributor (two more 64 KiB frames).
const GICR_TYPER_VLPIS: u32 = 1 << 1;
/// GICR_TYPER.Last: the last redistributor of its region.
const GICR_TYPER_LAST: u32 = 1 << 4;
const GICR_WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const GICR_WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
/// The SGI_base frame (SGIs and PPIs), 64 KiB after RD_base.
const SGI_BASE: usize = 0x1_0000;
const GICR_IGROUPR0: usize = SGI_BASE + 0x0080;
const GICR_ISENABLER0: usize = SGI_BASE + 0x0100;
const GICR_ICENABLER0: usize = SGI_BASE + 0x0180;
const GICR_ICACTIVER0: usize = SGI_BASE + 0x0380;
const GICR_IPRIORITYR: usize = SGI_BASE + 0x0400;
const GICR_ICFGR1: usize = SGI_BASE + 0x0c04;
/// One GICv3 redistributor: RD_base + SGI_base.
pub const REDIST_STRIDE: usize = 0x2_0000;
const REDIST_STRIDE_V4: usize = 0x4_0000;

/// ICC_SRE: SRE, DFB, DIB.
const ICC_SRE_ENABLE: u32 = 0b111;
/// INTIDs 1020..1023 are special (1023: nothing pending).
pub const SPURIOUS: u32 = 1020;
/// Default priority for every interrupt (lower is more urgent), as GICv2.
const DEFAULT_PRIORITY: u32 = 0xa0;
/// ICC_PMR: let every priority below 0xf0 through.
const PRIORITY_MASK: u32 = 0xf0;
/// Bounded waits for RWP / ChildrenAsleep (QEMU and KVM finish at once).
const POLL_LIMIT: u32 = 1_000_000;

/// Why a CPU's GICv3 setup failed. The numbers are stable (printed).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gicv3Error {
    /// No redistributor's GICR_TYPER affinity matches this CPU's MPIDR
    /// (or the mapped redistributor window is too small).
    NoRedistributor = 1,
    /// GICR_WAKER.ChildrenAsleep did not clear.
    RedistributorAsleep = 2,
    /// ID_PFR1 says there is no GIC system-register interface, or
    /// ICC_SRE.SRE would not set.
    NoSystemRegisters = 3,
}

impl core::fmt::Display for Gicv3Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?} (gicv3 error {})", self, *self as u8)
    }
}

/// The distributor and the redistributor window.
pub struct GicV3 {
    dist: MmioRegion,
    redist: MmioRegion,
    redist_size: usize,
    lines: u32,
}

/// This CPU's MPIDR affinity (Aff2.Aff1.Aff0), as GICR_TYPER and the
/// device tree give it.
fn this_cpu_affinity() -> u32 {
    Mpidr::read() & 0x00ff_ffff
}

impl GicV3 {
    /// # Safety
    /// `dist_base` must be the kernel mapping of a GICv3 distributor
    /// ([`DIST_SIZE`] bytes) and `[redist_base, redist_base + redist_size)`
    /// the mapping of (the start of) its redistributor region, device
    /// memory driven by nothing else.
    pub unsafe fn new(dist_base: usize, redist_base: usize, redist_size: usize) -> Self {
        // SAFETY: forwarded from the caller.
        let dist = unsafe { MmioRegion::new(dist_base, DIST_SIZE) };
        // SAFETY: forwarded from the caller.
        let redist = unsafe { MmioRegion::new(redist_base, redist_size) };
        let lines = ((dist.read32(GICD_TYPER) & 0x1f) + 1) * 32;
        Self {
            dist,
            redist,
            redist_size,
            lines: lines.min(SPURIOUS),
        }
    }

    /// Number of interrupt IDs the distributor implements (SGIs, PPIs and
    /// SPIs).
    pub fn lines(&self) -> u32 {
        self.lines
    }

    /// Distributor and this CPU's redistributor and interface: the same
    /// job as GICv2's `Gic::init` on the boot CPU.
    pub fn init(&self) -> Result<(), Gicv3Error> {
        self.init_distributor();
        self.init_cpu()
    }

    fn wait_dist_rwp(&self) {
        for _ in 0..POLL_LIMIT {
            if self.dist.read32(GICD_CTLR) & GICD_CTLR_RWP == 0 {
                return;
            }
        }
    }

    fn wait_redist_rwp(&self, rd: usize) {
        for _ in 0..POLL_LIMIT {
            if self.redist.read32(rd + GICR_CTLR) & GICR_CTLR_RWP == 0 {
                return;
            }
        }
    }

    /// Once, on the boot CPU: every SPI off, not pending, not active,
    /// Group 1, level-triggered, [`DEFAULT_PRIORITY`], routed to this CPU;
    /// then affinity routing and Group 1 on.
    pub fn init_distributor(&self) {
        self.dist.write32(GICD_CTLR, 0);
        self.wait_dist_rwp();
        let lines = self.lines as usize;
        for reg in 1..lines / 32 {
            self.dist.write32(GICD_IGROUPR + reg * 4, u32::MAX);
            self.dist.write32(GICD_ICENABLER + reg * 4, u32::MAX);
            self.dist.write32(GICD_ICPENDR + reg * 4, u32::MAX);
            self.dist.write32(GICD_ICACTIVER + reg * 4, u32::MAX);
        }
        let priority = DEFAULT_PRIORITY * 0x0101_0101;
        for reg in 8..lines / 4 {
            self.dist.write32(GICD_IPRIORITYR + reg * 4, priority);
        }
        for reg in 2..lines / 16 {
            self.dist.write32(GICD_ICFGR + reg * 4, 0);
        }
        self.wait_dist_rwp();
        self.dist.write32(
            GICD_CTLR,
            GICD_CTLR_ARE_NS | GICD_CTLR_ENABLE_G1A | GICD_CTLR_ENABLE_G1,
        );
        self.wait_dist_rwp();
        // Interrupt_Routing_Mode 0: to the one CPU named by the affinity.
        let affinity = this_cpu_affinity();
        for id in 32..lines {
            self.dist.write32(GICD_IROUTER + id * 8, affinity);
            self.dist.write32(GICD_IROUTER + id * 8 + 4, 0);
        }
    }

    /// Offset in the redistributor window of the redistributor whose
    /// GICR_TYPER affinity is `affinity`.
    fn redistributor_of(&self, affinity: u32) -> Option<usize> {
        let mut offset = 0;
        while offset + REDIST_STRIDE <= self.redist_size {
            let typer = self.redist.read32(offset + GICR_TYPER_LO);
            if self.redist.read32(offset + GICR_TYPER_HI) & 0x00ff_ffff == affinity {
                return Some(offset);
            }
            if typer & GICR_TYPER_LAST != 0 {
                return None;
            }
            offset += if typer & GICR_TYPER_VLPIS != 0 {
                REDIST_STRIDE_V4
            } else {
                REDIST_STRIDE
            };
        }
        None
    }

    /// On each CPU, after `init_distributor`: wakes this CPU's
    /// redistributor, puts its SGIs and PPIs in Group 1 at the default
    /// priority, all disabled (PPIs level-triggered), and enables the
    /// system-register CPU interface.
    pub fn init_cpu(&self) -> Result<(), Gicv3Error> {
        // ICC_* accesses are UNDEFINED without the GICv3 CPU interface.
        if sysreg::id_pfr1() >> 28 == 0 {
            return Err(Gicv3Error::NoSystemRegisters);
        }
        let rd = self
            .redistributor_of(this_cpu_affinity())
            .ok_or(Gicv3Error::NoRedistributor)?;

        let waker = self.redist.read32(rd + GICR_WAKER);
        self.redist
            .write32(rd + GICR_WAKER, waker & !GICR_WAKER_PROCESSOR_SLEEP);
        let awake = (0..POLL_LIMIT)
            .any(|_| self.redist.read32(rd + GICR_WAKER) & GICR_WAKER_CHILDREN_ASLEEP == 0);
        if !awake {
            return Err(Gicv3Error::RedistributorAsleep);
        }

        self.redist.write32(rd + GICR_IGROUPR0, u32::MAX);
        self.redist.write32(rd + GICR_ICENABLER0, u32::MAX);
        self.redist.write32(rd + GICR_ICACTIVER0, u32::MAX);
        let priority = DEFAULT_PRIORITY * 0x0101_0101;
        for reg in 0..8 {
            self.redist
                .write32(rd + GICR_IPRIORITYR + reg * 4, priority);
        }
        self.redist.write32(rd + GICR_ICFGR1, 0);
        self.wait_redist_rwp(rd);

        // SAFETY: this driver owns this CPU's GIC CPU interface (ID_PFR1
        // says it exists). SRE first: the other ICC_* registers are only
        // accessible once it is set; each isb makes a write take effect
        // before the next access depends on it.
        unsafe {
            sysreg::set_icc_sre(sysreg::icc_sre() | ICC_SRE_ENABLE);
            isb();
            if sysreg::icc_sre() & 1 == 0 {
                return Err(Gicv3Error::NoSystemRegisters);
            }
            sysreg::set_icc_pmr(PRIORITY_MASK);
            sysreg::set_icc_bpr1(0);
            sysreg::set_icc_ctlr(0);
            sysreg::set_icc_igrpen1(1);
        }
        isb();
        Ok(())
    }

    /// This CPU's redistributor (looked up by affinity: a few MMIO reads,
    /// only on the rare enable/disable of an SGI or PPI).
    fn this_redistributor(&self) -> Option<usize> {
        self.redistributor_of(this_cpu_affinity())
    }

    /// Enables delivery of interrupt `id`: an SPI at the distributor, an
    /// SGI or PPI at this CPU's redistributor (ignored if out of range).
    pub fn enable(&self, id: u32) {
        let bit = 1 << (id % 32);
        if id < 32 {
            if let Some(rd) = self.this_redistributor() {
                self.redist.write32(rd + GICR_ISENABLER0, bit);
            }
        } else if id < self.lines {
            self.dist
                .write32(GICD_ISENABLER + (id as usize / 32) * 4, bit);
        }
    }

    /// Disables delivery of interrupt `id`, and waits until the disable has
    /// taken effect (RWP).
    pub fn disable(&self, id: u32) {
        let bit = 1 << (id % 32);
        if id < 32 {
            if let Some(rd) = self.this_redistributor() {
                self.redist.write32(rd + GICR_ICENABLER0, bit);
                self.wait_redist_rwp(rd);
            }
        } else if id < self.lines {
            self.dist
                .write32(GICD_ICENABLER + (id as usize / 32) * 4, bit);
            self.wait_dist_rwp();
        }
    }

    /// Acknowledges the highest-priority pending interrupt (ICC_IAR1):
    /// its INTID, or `None` if nothing was pending (1023) or the ID is
    /// special (1020..1023). The INTID is also what `end_of_interrupt`
    /// takes.
    pub fn acknowledge(&self) -> Option<u32> {
        let id = sysreg::icc_iar1() & 0x00ff_ffff;
        (id < SPURIOUS).then_some(id)
    }

    /// Signals the end of handling of an acknowledged interrupt
    /// (ICC_EOIR1: priority drop and deactivation, EOImode 0).
    pub fn end_of_interrupt(&self, id: u32) {
        // SAFETY: `id` was returned by `acknowledge` on this CPU (an EOI
        // for an inactive ID is ignored by the GIC); the isb orders it
        // before a return from the exception.
        unsafe { sysreg::set_icc_eoir1(id) };
        isb();
    }

    /// Sends software-generated interrupt `sgi` (0..15; ignored otherwise)
    /// to the CPU whose MPIDR affinity is `target_mpidr` (ICC_SGI1R).
    #[allow(dead_code)] // inter-processor interrupts: the SMP issue
    pub fn send_sgi(&self, sgi: u32, target_mpidr: u32) {
        if sgi >= 16 {
            return;
        }
        let aff0 = target_mpidr & 0xff;
        let aff1 = u64::from((target_mpidr >> 8) & 0xff);
        let aff2 = u64::from((target_mpidr >> 16) & 0xff);
        // Target list bit Aff0 % 16 within range selector Aff0 / 16.
        let value = aff2 << 32
            | u64::from(aff0 >> 4) << 44
            | u64::from(sgi) << 24
            | aff1 << 16
            | 1u64 << (aff0 & 0xf);
        // Memory writes the target will look at must be visible first.
        dsb();
        // SAFETY: the caller decides which CPU to signal; an SGI only
        // raises an interrupt there.
        unsafe { sysreg::set_icc_sgi1r(value) };
        isb();
    }
}
