//! What this task's capabilities say about the machine: the devices it was
//! granted (by role, with their physical address and interrupt), the RAM
//! range behind a Pool capability, and counter ticks as time.
//!
//! Nothing in userland names a board address: the boot manifest names
//! devices by role, the kernel's board layer resolves them, and a task
//! reads the result back with `cap_info` part 1 (`doc/syscalls.md`).

use abi::{
    CapSlot, CapType, DeviceInfo, DeviceRole, KernelError, CAP_INFO_LIMITS, NO_IRQ, PAGE_SHIFT,
};

use crate::{mmio, sys};

/// Slots in a task's capability table (the kernel's `MAX_CAPS`): a scan
/// past the last one only meets `InvalidCapability`.
pub const CAP_SLOTS: u32 = 16;

/// One Device capability of this task, as the kernel describes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Device {
    /// Where it is in this task's table.
    pub slot: CapSlot,
    /// First frame of the range the capability covers.
    pub first_frame: u32,
    /// Frames in the range.
    pub frames: u32,
    /// The device's interrupt, if it has one.
    pub irq: Option<u32>,
    /// Role, instance and register offset.
    pub info: DeviceInfo,
}

impl Device {
    /// Physical address of the device's registers: the first frame plus
    /// the offset inside it (several devices may share one page, e.g. the
    /// virtio-mmio transports of vexpress-a9).
    pub fn phys(&self) -> u32 {
        (self.first_frame << PAGE_SHIFT) + self.info.offset()
    }

    /// Physical address of the first page of the range.
    pub fn page(&self) -> u32 {
        self.first_frame << PAGE_SHIFT
    }

    /// Bytes the capability covers (whole pages).
    pub fn size(&self) -> u32 {
        self.frames << PAGE_SHIFT
    }

    /// The device's role, if the manifest named one.
    pub fn role(&self) -> Option<DeviceRole> {
        self.info.role()
    }
}

/// `cap_info` part 1 of `slot`: (type number, r2, r3), r3 kept whole.
fn cap_info_limits_raw(slot: CapSlot) -> Result<(u32, u32, u32), KernelError> {
    sys::cap_info_part(slot, CAP_INFO_LIMITS)
}

/// The Device capability in `slot`. `WrongCapabilityType` if the slot
/// holds anything else.
pub fn device(slot: CapSlot) -> Result<Device, KernelError> {
    let (ty, first_frame, frames) = sys::cap_info(slot)?;
    if ty != CapType::Device as u32 {
        return Err(KernelError::WrongCapabilityType);
    }
    let (_, irq, info) = cap_info_limits_raw(slot)?;
    Ok(Device {
        slot,
        first_frame,
        frames,
        irq: (irq != NO_IRQ).then_some(irq),
        info: DeviceInfo(info),
    })
}

/// Every Device capability of this task, in slot order.
pub fn devices() -> impl Iterator<Item = Device> {
    (0..CAP_SLOTS).filter_map(|s| device(CapSlot(s)).ok())
}

/// The first Device capability with `role` (any instance).
pub fn find(role: DeviceRole) -> Option<Device> {
    devices().find(|d| d.role() == Some(role))
}

/// The Device capability for instance `instance` of `role`.
pub fn find_instance(role: DeviceRole, instance: u8) -> Option<Device> {
    devices().find(|d| d.role() == Some(role) && d.info.instance() == instance)
}

/// The first slot holding a capability of type `ty`.
pub fn find_slot(ty: CapType) -> Option<CapSlot> {
    (0..CAP_SLOTS)
        .map(CapSlot)
        .find(|&s| matches!(sys::cap_info(s), Ok((t, _, _)) if t == ty as u32))
}

/// The board's whole RAM as a Pool capability reports it (`cap_info` part
/// 1): (first frame, frame count), kernel included.
pub fn pool_ram(slot: CapSlot) -> Result<(u32, u32), KernelError> {
    match cap_info_limits_raw(slot)? {
        (ty, first, count) if ty == CapType::Pool as u32 => Ok((first, count)),
        _ => Err(KernelError::WrongCapabilityType),
    }
}

/// Counter ticks as nanoseconds at `hz` ticks per second (the frequency
/// `read_counter` reports). Under QEMU's `-icount shift=0` one guest
/// instruction takes 1 ns, so this is also the instruction count.
pub fn ticks_to_ns(ticks: u64, hz: u32) -> u64 {
    let hz = u64::from(hz.max(1));
    // Split so that `ticks * 1e9` cannot overflow for any realistic run.
    (ticks / hz) * 1_000_000_000 + (ticks % hz) * 1_000_000_000 / hz
}

/// A role's name in log lines (`device` for a raw range).
pub fn role_name(role: Option<DeviceRole>) -> &'static str {
    match role {
        Some(DeviceRole::Console) => "console",
        Some(DeviceRole::Rtc) => "rtc",
        Some(DeviceRole::Sysregs) => "sysregs",
        Some(DeviceRole::VirtioMmio) => "virtio-mmio",
        Some(DeviceRole::Timer) => "timer",
        None => "device",
    }
}

/// PrimeCell component ID (`0xb105f00d`), in the four words at 0xff0 of
/// every ARM PrimeCell peripheral (PL011, PL031, SP804).
pub const PRIMECELL_CID: u32 = 0xb105_f00d;

/// Reads four byte-wide identification registers from `virt + off` into
/// one word (lowest first), as the PrimeCell spec packs them.
///
/// # Safety
///
/// `virt` must map the device's 4 KiB register page readable.
unsafe fn id_word(virt: u32, off: u32) -> u32 {
    (0..4).fold(0, |acc, i| {
        // SAFETY: the caller maps the whole register page; the ID
        // registers have no read side effects.
        let b = unsafe { mmio::read32(virt + off + 4 * i) } & 0xff;
        acc | b << (8 * i)
    })
}

/// A device's fixed identity, read through a mapping of its registers at
/// `virt`: the PrimeCell peripheral ID (part number in bits 0-11) for a
/// PrimeCell role, the board ID register (`SYS_ID`) for the sysregs.
/// `None` when the role has no identity register, or when the PrimeCell
/// component ID is wrong (the mapping does not reach a PrimeCell).
///
/// # Safety
///
/// `virt` must map the device's 4 KiB register page readable.
pub unsafe fn identity(role: Option<DeviceRole>, virt: u32) -> Option<u32> {
    match role? {
        DeviceRole::Rtc | DeviceRole::Console | DeviceRole::Timer => {
            // SAFETY: the caller maps the register page.
            let (cid, pid) = unsafe { (id_word(virt, 0xff0), id_word(virt, 0xfe0)) };
            (cid == PRIMECELL_CID).then_some(pid)
        }
        // SAFETY: SYS_ID, the first sysregs register, has no side effects.
        DeviceRole::Sysregs => Some(unsafe { mmio::read32(virt) }),
        DeviceRole::VirtioMmio => None,
    }
}
