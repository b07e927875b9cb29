//! QEMU `virt` (the board KVM on ARM offers): devices from the device tree
//! the boot loader (QEMU, or a real one) leaves in RAM, with the layout of
//! `hw/arm/virt.c` as the built-in fallback when the tree is missing or
//! malformed.
//!
//! Entered in Non-secure SVC (or HYP with `virtualization=on`, left in
//! `arch/boot.rs`): no secure-only register is touched, no set/way cache
//! operation is made, and the A9-only devices (SCU, L2x0, private and
//! global timers) do not exist. The tick is the virtual timer (CNTV), the
//! clock the virtual counter, the interrupt controller a GICv2 or a GICv3
//! with the system-register CPU interface, as the tree says; power-off and
//! secondary CPUs go through PSCI with the tree's conduit.

use abi::{DeviceRole, PhysAddr};
use kerncore::dtb::{self, BoardInfo, DtbError, GicInfo, PsciConduit, PsciInfo};
use log::{info, warn};
use spin::Once;

use super::{DeviceRegs, IrqChip, NoDevice, Window, DEVICE_VIRT_BASE, DEVICE_VIRT_END};
use crate::drivers::generic_timer::VirtualTimer;
use crate::drivers::gic::Gic;
use crate::drivers::gicv3::GicV3;
use crate::drivers::psci::Psci;

/// RAM base, load address and direct-map offset (shared with `build.rs`).
pub mod layout {
    include!("virt_layout.rs");
}

/// The board's name in the banner and the memory map.
pub const NAME: &str = "virt";
/// RAM the kernel direct-maps (the kernel half from 0x8000_0000 to the
/// device windows): more RAM than this is left unused.
pub const RAM_MAX: u32 = 1 << 30;
/// No set/way cache maintenance: KVM traps it (and QEMU has no caches).
pub const SETWAY_INVALIDATE: bool = false;

/// The built-in layout (`hw/arm/virt.c`), used without a device tree.
mod defaults {
    pub const GICD: u32 = 0x0800_0000;
    pub const GICC: u32 = 0x0801_0000;
    pub const UART: u32 = 0x0900_0000;
    pub const UART_IRQ: u32 = 33;
    pub const RTC: u32 = 0x0901_0000;
    pub const RTC_IRQ: u32 = 34;
    pub const VIRTIO: u32 = 0x0a00_0000;
    pub const VIRTIO_STRIDE: u32 = 0x200;
    pub const VIRTIO_IRQ: u32 = 48;
    pub const VIRTIO_COUNT: usize = 32;
    /// The virtual timer's PPI 11.
    pub const VTIMER_IRQ: u32 = 27;
}

/// Each CPU's GICv3 redistributor: RD and SGI frames, 64 KiB each.
const REDIST_STRIDE: u32 = 0x2_0000;
/// CPUs whose redistributors the kernel maps (the SMP issue's limit).
const MAX_CPUS: u32 = 4;
/// Most device windows this board maps (GICv3: 2 sections; UART: 1).
const MAX_WINDOWS: usize = 8;
/// Largest device tree accepted (QEMU's is about 1 MiB with padding).
const MAX_DTB_SIZE: usize = 2 << 20;

/// Where the interrupt controller's registers are.
#[derive(Clone, Copy, Debug)]
enum GicRegs {
    V2 {
        dist: DeviceRegs,
        cpu: DeviceRegs,
    },
    V3 {
        dist: DeviceRegs,
        redist: DeviceRegs,
    },
}

/// Why the device tree was not used.
#[derive(Clone, Copy, Debug)]
enum DtbProblem {
    /// Not inside the direct-mapped RAM (or overlapping the kernel).
    OutOfRam(u32),
    /// The bus did not answer there.
    Unreadable(u32),
    /// Rejected by the parser.
    Bad(u32, DtbError),
    /// Its `totalsize` is implausible, runs past the kernel's RAM window
    /// or into the kernel image.
    BadSize(u32, usize),
}

/// What the board found at boot.
struct Platform {
    /// The device tree's physical address and size, if one was used.
    dtb: Option<(PhysAddr, u32)>,
    /// Where the tree was looked for and whether r2 named it.
    dtb_from_r2: bool,
    problem: Option<DtbProblem>,
    bootargs: Option<&'static str>,
    ram: Option<(PhysAddr, u32)>,
    gic: GicRegs,
    uart: DeviceRegs,
    rtc: Option<DeviceRegs>,
    virtio: [DeviceRegs; defaults::VIRTIO_COUNT],
    virtio_count: usize,
    virtio_dropped: usize,
    timer_irq: u32,
    psci: Option<PsciInfo>,
    /// Devices the tree did not describe (the defaults stood in).
    defaulted: [&'static str; 4],
    defaulted_count: usize,
    windows: [Window; MAX_WINDOWS],
    window_count: usize,
    devices: [(&'static str, PhysAddr, u32); 6],
    device_count: usize,
}

static PLATFORM: Once<Platform> = Once::new();

fn platform() -> &'static Platform {
    match PLATFORM.get() {
        Some(p) => p,
        None => panic!("virt: board used before board::init"),
    }
}

const fn regs(phys: u32, size: u32, irq: Option<u32>) -> DeviceRegs {
    DeviceRegs {
        phys: PhysAddr(phys),
        size,
        irq,
    }
}

/// A device-tree region as 32-bit registers, if it lies below 4 GiB.
fn region32(r: dtb::Region, irq: Option<u32>) -> Option<DeviceRegs> {
    let base = u32::try_from(r.base).ok()?;
    let size = u32::try_from(r.size).ok()?;
    base.checked_add(size)?;
    Some(regs(base, size, irq))
}

/// Finds and checks the device tree: r2 if the boot loader set it, else
/// the RAM base (where QEMU puts it for an ELF kernel).
fn find_dtb(boot_r2: u32) -> Result<&'static [u8], DtbProblem> {
    let pa = if boot_r2 != 0 {
        boot_r2
    } else {
        layout::RAM_BASE
    };
    let image = (
        layout::KERNEL_LOAD,
        crate::mm::kva_to_pa(crate::mm::image_layout().end).0,
    );
    let in_ram = pa >= layout::RAM_BASE
        && pa - layout::RAM_BASE <= RAM_MAX - dtb::HEADER_SIZE as u32
        && pa.is_multiple_of(4)
        && !(pa >= image.0 && pa < image.1);
    if !in_ram {
        return Err(DtbProblem::OutOfRam(pa));
    }
    let va = crate::mm::pa_to_kva(PhysAddr(pa)) as usize;
    // SAFETY: `va` is in the boot map's RAM direct map (checked above);
    // an address no RAM backs aborts and the probe reports it.
    if unsafe { crate::arch::trap::probe_read(va) }.is_none() {
        return Err(DtbProblem::Unreadable(pa));
    }
    // SAFETY: the header's 40 bytes lie in mapped RAM whose first word
    // answered; nothing writes the device tree (it is reserved).
    let header = unsafe { core::slice::from_raw_parts(va as *const u8, dtb::HEADER_SIZE) };
    let size = dtb::blob_size(header).map_err(|e| DtbProblem::Bad(pa, e))?;
    let end = (pa as usize).checked_add(size);
    let fits = (dtb::HEADER_SIZE..=MAX_DTB_SIZE).contains(&size)
        && end.is_some_and(|e| e <= (layout::RAM_BASE + RAM_MAX) as usize)
        && !(pa < image.1 && pa as usize + size > image.0 as usize);
    if !fits {
        return Err(DtbProblem::BadSize(pa, size));
    }
    // SAFETY: as above, for the last word of the blob.
    if unsafe { crate::arch::trap::probe_read((va + size - 4) & !3) }.is_none() {
        return Err(DtbProblem::Unreadable(pa + size as u32 - 4));
    }
    // SAFETY: the whole blob lies in mapped RAM (first and last word
    // answered, RAM is one block), is reserved from every allocator and
    // never written, so a shared 'static slice is sound.
    Ok(unsafe { core::slice::from_raw_parts(va as *const u8, size) })
}

/// Reads the device tree (or takes the defaults) and lays out the kernel's
/// device windows. Runs before the console exists: problems are kept and
/// printed by [`report`].
pub fn init(boot_r2: u32) {
    PLATFORM.call_once(|| discover(boot_r2));
}

fn discover(boot_r2: u32) -> Platform {
    let mut p = Platform {
        dtb: None,
        dtb_from_r2: boot_r2 != 0,
        problem: None,
        bootargs: None,
        ram: None,
        gic: GicRegs::V2 {
            dist: regs(defaults::GICD, 0x1_0000, None),
            cpu: regs(defaults::GICC, 0x1_0000, None),
        },
        uart: regs(defaults::UART, 0x1000, Some(defaults::UART_IRQ)),
        rtc: Some(regs(defaults::RTC, 0x1000, Some(defaults::RTC_IRQ))),
        virtio: [regs(0, 0, None); defaults::VIRTIO_COUNT],
        virtio_count: defaults::VIRTIO_COUNT,
        virtio_dropped: 0,
        timer_irq: defaults::VTIMER_IRQ,
        psci: Some(PsciInfo {
            conduit: PsciConduit::Hvc,
            v0_2: true,
            cpu_on: None,
            cpu_off: None,
        }),
        defaulted: [""; 4],
        defaulted_count: 0,
        windows: [Window {
            name: "",
            phys: PhysAddr(0),
            virt: 0,
            sections: 0,
        }; MAX_WINDOWS],
        window_count: 0,
        devices: [("", PhysAddr(0), 0); 6],
        device_count: 0,
    };
    for (i, v) in p.virtio.iter_mut().enumerate() {
        *v = regs(
            defaults::VIRTIO + i as u32 * defaults::VIRTIO_STRIDE,
            defaults::VIRTIO_STRIDE,
            Some(defaults::VIRTIO_IRQ + i as u32),
        );
    }
    match find_dtb(boot_r2).and_then(|blob| {
        let pa = crate::mm::kva_to_pa(blob.as_ptr() as u32).0;
        dtb::parse(blob)
            .map(|info| (pa, info))
            .map_err(|e| DtbProblem::Bad(pa, e))
    }) {
        Ok((pa, info)) => apply(&mut p, pa, &info),
        Err(problem) => p.problem = Some(problem),
    }
    lay_out_windows(&mut p);
    p
}

/// Takes what the tree describes; what it lacks keeps the default.
fn apply(p: &mut Platform, pa: u32, info: &BoardInfo<'static>) {
    p.dtb = Some((PhysAddr(pa), info.blob_size as u32));
    p.bootargs = info.bootargs;
    p.ram = info.memory.as_slice().iter().find_map(|r| {
        let base = u32::try_from(r.base).ok()?;
        // RAM past 4 GiB is out of reach without LPAE: clip.
        let size = r.size.min(u64::from(u32::MAX - base)) as u32;
        Some((PhysAddr(base), size))
    });
    let defaulted = |p: &mut Platform, what: &'static str| {
        if p.defaulted_count < p.defaulted.len() {
            p.defaulted[p.defaulted_count] = what;
            p.defaulted_count += 1;
        }
    };
    let max_redist = MAX_CPUS * REDIST_STRIDE;
    let gic = match info.gic {
        Some(GicInfo::V2 { dist, cpu }) => region32(dist, None)
            .zip(region32(cpu, None))
            .map(|(dist, cpu)| GicRegs::V2 { dist, cpu }),
        Some(GicInfo::V3 { dist, redist }) => region32(dist, None)
            .zip(redist.as_slice().first().and_then(|r| region32(*r, None)))
            .map(|(dist, mut redist)| {
                redist.size = redist.size.min(max_redist);
                GicRegs::V3 { dist, redist }
            }),
        None => None,
    };
    match gic {
        Some(g) => p.gic = g,
        None => defaulted(p, "interrupt controller"),
    }
    match info.uart.and_then(|d| region32(d.reg, d.irq)) {
        Some(u) => p.uart = u,
        None => defaulted(p, "uart"),
    }
    p.rtc = info.rtc.and_then(|d| region32(d.reg, d.irq));
    p.virtio_count = 0;
    for d in info.virtio.as_slice() {
        if let Some(r) = region32(d.reg, d.irq) {
            if p.virtio_count < p.virtio.len() {
                p.virtio[p.virtio_count] = r;
                p.virtio_count += 1;
            }
        }
    }
    p.virtio_dropped = info.virtio.dropped();
    match info.timer {
        Some(t) => p.timer_irq = t.virt,
        None => defaulted(p, "timer"),
    }
    p.psci = info.psci;
}

/// One window per distinct MiB section the kernel's own devices touch:
/// the interrupt controller and the console.
fn lay_out_windows(p: &mut Platform) {
    let (gic_name, gic_a, gic_b) = match p.gic {
        GicRegs::V2 { dist, cpu } => ("gic (v2)", dist, cpu),
        GicRegs::V3 { dist, redist } => ("gic (v3)", dist, redist),
    };
    let mut next_virt = DEVICE_VIRT_BASE;
    for (name, r) in [
        (gic_name, gic_a),
        (gic_name, gic_b),
        ("uart (pl011)", p.uart),
    ] {
        let first = r.phys.0 & !0xf_ffff;
        let last = (r.phys.0 + r.size.max(1) - 1) & !0xf_ffff;
        let mut section = first;
        loop {
            let covered = p.windows[..p.window_count]
                .iter()
                .any(|w| w.va_of(PhysAddr(section)).is_some());
            if !covered {
                if p.window_count == MAX_WINDOWS || next_virt >= DEVICE_VIRT_END {
                    panic!("virt: too many device windows");
                }
                p.windows[p.window_count] = Window {
                    name,
                    phys: PhysAddr(section),
                    virt: next_virt,
                    sections: 1,
                };
                p.window_count += 1;
                next_virt += 1 << 20;
            }
            if section == last {
                break;
            }
            section += 1 << 20;
        }
    }
    let mut devices = [("", PhysAddr(0), 0u32); 6];
    let mut n = 0;
    let mut add = |name, r: DeviceRegs| {
        devices[n] = (name, r.phys, r.size);
        n += 1;
    };
    match p.gic {
        GicRegs::V2 { dist, cpu } => {
            add("gic distributor", dist);
            add("gic cpu if", cpu);
        }
        GicRegs::V3 { dist, redist } => {
            add("gic distributor", dist);
            add("gic redistributors", redist);
        }
    }
    add("uart0 (pl011)", p.uart);
    if let Some(rtc) = p.rtc {
        add("rtc (pl031)", rtc);
    }
    if p.virtio_count > 0 {
        let first = p.virtio[0];
        let last = p.virtio[p.virtio_count - 1];
        add(
            "virtio-mmio transports",
            regs(first.phys.0, last.phys.0 + last.size - first.phys.0, None),
        );
    }
    p.devices = devices;
    p.device_count = n;
}

/// Logs where the device tree came from, what was wrong with it, and
/// which defaults stood in.
pub fn report() {
    let p = platform();
    match (p.dtb, p.problem) {
        (Some((pa, size)), _) => info!(
            "device tree: {:#010x}, {} bytes ({})",
            pa.0,
            size,
            if p.dtb_from_r2 {
                "from r2"
            } else {
                "r2 = 0: at the RAM base"
            }
        ),
        (None, Some(problem)) => {
            match problem {
                DtbProblem::OutOfRam(pa) => {
                    warn!("device tree: {pa:#010x} is not in the kernel's RAM window")
                }
                DtbProblem::Unreadable(pa) => {
                    warn!("device tree: nothing answers at {pa:#010x}")
                }
                DtbProblem::Bad(pa, e) => warn!("device tree at {pa:#010x} rejected: {e}"),
                DtbProblem::BadSize(pa, size) => warn!(
                    "device tree at {pa:#010x} rejected: totalsize {size} is not usable (at most {MAX_DTB_SIZE} bytes, inside RAM, clear of the kernel)"
                ),
            }
            warn!("device tree missing or malformed: using the built-in virt defaults (GICv2, PL011 at 0x09000000, 32 virtio-mmio, PSCI over hvc)");
        }
        (None, None) => {}
    }
    for what in &p.defaulted[..p.defaulted_count] {
        warn!("device tree: no usable {what}: using the built-in default");
    }
    if p.virtio_dropped > 0 {
        warn!(
            "device tree: {} virtio-mmio transports beyond the first {} ignored",
            p.virtio_dropped, p.virtio_count
        );
    }
    if p.dtb.is_some() && p.psci.is_none() {
        warn!("device tree: no PSCI node: no power-off, no secondary CPUs");
    }
}

/// The kernel-half device windows.
pub fn windows() -> &'static [Window] {
    let p = platform();
    &p.windows[..p.window_count]
}

/// The console UART.
pub fn console() -> PhysAddr {
    platform().uart.phys
}

/// RAM from the device tree's `/memory`.
pub fn firmware_ram() -> Option<(PhysAddr, u32)> {
    platform().ram
}

/// `/chosen/bootargs`.
pub fn cmdline() -> Option<&'static str> {
    platform().bootargs
}

/// The device tree's pages: never handed to the kernel pool or a task.
pub fn reserved() -> Option<(PhysAddr, u32)> {
    platform().dtb.map(|(pa, size)| {
        (
            PhysAddr(pa.0 & !0xfff),
            (size + (pa.0 & 0xfff)).next_multiple_of(4096),
        )
    })
}

/// A named device: its registers and interrupt.
pub fn device(role: DeviceRole, instance: u8) -> Result<DeviceRegs, NoDevice> {
    let p = platform();
    let only_one = |d: Option<DeviceRegs>| match d {
        Some(d) if instance == 0 => Ok(d),
        Some(_) => Err(NoDevice::Instance(role, instance)),
        None => Err(NoDevice::Role(role)),
    };
    match role {
        DeviceRole::Console => only_one(Some(p.uart)),
        DeviceRole::Rtc => only_one(p.rtc),
        DeviceRole::VirtioMmio => p.virtio[..p.virtio_count]
            .get(instance as usize)
            .copied()
            .ok_or(NoDevice::Instance(role, instance)),
        DeviceRole::Sysregs | DeviceRole::Timer => Err(NoDevice::Role(role)),
    }
}

/// Devices of the board, for the memory-map report.
pub fn devices() -> &'static [(&'static str, PhysAddr, u32)] {
    let p = platform();
    &p.devices[..p.device_count]
}

fn va(pa: PhysAddr) -> usize {
    match super::device_va(pa) {
        Some(va) => va,
        None => panic!("virt: device {:#010x} outside the kernel windows", pa.0),
    }
}

static TIMER: Once<VirtualTimer> = Once::new();
/// CNTVCT when the clock started: the counter runs from reset (or from
/// the host's boot under KVM), the kernel's clock from its own start.
static CLOCK_ORIGIN: Once<u64> = Once::new();
static IRQ_CHIP: Once<IrqChip> = Once::new();
static PSCI: Once<Option<Psci>> = Once::new();

fn timer() -> &'static VirtualTimer {
    TIMER.call_once(|| match VirtualTimer::new() {
        Ok(t) => t,
        Err(e) => panic!("virt: generic timer unusable: {e:?}"),
    })
}

fn psci() -> Option<&'static Psci> {
    PSCI.call_once(|| platform().psci.as_ref().map(Psci::from_info))
        .as_ref()
}

/// Starts the clock: reads CNTFRQ and notes where the virtual counter
/// (running since reset) stands.
pub fn clock_start() {
    CLOCK_ORIGIN.call_once(|| timer().count());
}

/// Virtual-counter ticks (CNTVCT) since [`clock_start`].
pub fn clock_count() -> u64 {
    let origin = CLOCK_ORIGIN.get().copied().unwrap_or(0);
    timer().count().wrapping_sub(origin)
}

/// CNTFRQ, as read at boot (62.5 MHz under TCG; the host's under KVM).
pub fn clock_hz() -> u32 {
    timer().frequency()
}

/// The tick's interrupt: the virtual timer's PPI from the tree.
pub fn tick_irq() -> u32 {
    platform().timer_irq
}

/// Starts the periodic tick on this CPU.
pub fn tick_start(hz: u32) {
    timer().start_periodic(hz);
}

/// In the tick interrupt: reprograms the timer; whether it had fired.
pub fn tick_acknowledge() -> bool {
    timer().clear_interrupt()
}

/// The interrupt controller, created on first use.
pub fn irq_chip() -> &'static IrqChip {
    IRQ_CHIP.call_once(|| match platform().gic {
        GicRegs::V2 { dist, cpu } => {
            // SAFETY: the device windows map both register blocks as
            // device memory, and this `Once` is the controller's only
            // owner.
            IrqChip::Gic2(unsafe { Gic::new(va(dist.phys), va(cpu.phys)) }, 2)
        }
        GicRegs::V3 { dist, redist } => {
            // SAFETY: as above; the window covers `redist.size` bytes of
            // redistributors (MAX_CPUS of them at most).
            IrqChip::Gic3(unsafe {
                GicV3::new(va(dist.phys), va(redist.phys), redist.size as usize)
            })
        }
    })
}

/// Board lines of the boot banner: GIC, timer and PSCI.
pub fn banner() {
    let chip = irq_chip();
    info!(
        "board: gic v{}, {} interrupt lines; clock: generic timer, virtual counter at {} Hz, tick on the virtual timer (irq {})",
        chip.version(),
        chip.lines(),
        clock_hz(),
        tick_irq()
    );
    let conduit = match psci().map(Psci::conduit) {
        Some(PsciConduit::Hvc) => "hvc",
        Some(PsciConduit::Smc) => "smc",
        None => "none",
    };
    match psci().map(|p| p.version()) {
        Some(Ok(v)) => info!("psci: version {v} over {conduit}"),
        Some(Err(e)) => warn!("psci: PSCI_VERSION over {conduit} failed: {e:?}"),
        None => warn!("psci: none (no power-off)"),
    }
}

/// Powers the board off through PSCI SYSTEM_OFF. Returns only if that
/// failed.
pub fn power_off() {
    if let Some(p) = psci() {
        let _refused = p.system_off();
    }
}

/// Starts the CPU with affinity `mpidr` at `entry_pa` (MMU off, SVC)
/// through PSCI CPU_ON. The mechanism only: the SMP issue uses it.
#[allow(dead_code)]
pub fn start_cpu(mpidr: u32, entry_pa: PhysAddr) -> Result<(), &'static str> {
    let psci = psci().ok_or("no PSCI")?;
    psci.cpu_on(mpidr, entry_pa.0, 0)
        .map_err(|_| "PSCI CPU_ON refused")
}
