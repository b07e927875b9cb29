//! Capabilities as tasks name them: a slot index into the task's own
//! capability table, plus the small values capabilities carry.

/// Index of a slot in the calling task's capability table.
///
/// Slots are per task and assigned by the boot manifest; a slot that is out
/// of range or empty is `InvalidCapability`, one holding the wrong kind of
/// object is `WrongCapabilityType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct CapSlot(pub u32);

impl CapSlot {
    /// The raw slot index (what goes in the argument register).
    #[inline]
    pub const fn index(self) -> u32 {
        self.0
    }
}

/// The kinds of object a capability can name. The numbers are used by the
/// boot manifest and in kernel diagnostics; never renumber.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum CapType {
    /// A synchronous IPC endpoint, with a badge and [`EndpointRights`].
    Endpoint = 1,
    /// A range of physical RAM frames the holder may map (normal memory).
    Pool = 2,
    /// A range of physical MMIO frames the holder may map.
    Device = 3,
    /// Authority to edit one task's vmalloc window.
    VSpace = 4,
    /// One interrupt line.
    Irq = 5,
}

impl CapType {
    /// Decodes a type number.
    pub const fn from_u32(value: u32) -> Option<Self> {
        Some(match value {
            1 => CapType::Endpoint,
            2 => CapType::Pool,
            3 => CapType::Device,
            4 => CapType::VSpace,
            5 => CapType::Irq,
            _ => return None,
        })
    }
}

/// The value an endpoint capability stamps on every message sent through it,
/// so a server knows who is calling without trusting the message. Badge 0
/// means "unbadged"; the boot manifest gives every client a non-zero badge.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub struct Badge(pub u32);

/// An interrupt number as the GIC numbers it (e.g. 29 = private timer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(transparent)]
pub struct IrqNumber(pub u32);

/// What an endpoint capability allows. A bit set, stored in the capability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(transparent)]
pub struct EndpointRights(u8);

impl EndpointRights {
    /// `send` and `call` through this capability.
    pub const SEND: Self = Self(1 << 0);
    /// `recv` and `reply_recv` on this capability.
    pub const RECEIVE: Self = Self(1 << 1);
    /// Transfer a capability with a message. Reserved: ABI v1 has no
    /// capability transfer, so the kernel ignores this right for now.
    pub const GRANT: Self = Self(1 << 2);
    /// No rights.
    pub const NONE: Self = Self(0);
    const KNOWN: u8 = 0b111;

    /// Builds a set from raw bits; `None` if an unknown bit is set.
    pub const fn from_bits(bits: u8) -> Option<Self> {
        if bits & !Self::KNOWN == 0 {
            Some(Self(bits))
        } else {
            None
        }
    }
    /// The raw bits.
    pub const fn bits(self) -> u8 {
        self.0
    }
    /// Union of two sets.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
    /// Whether every right in `needed` is present.
    pub const fn contains(self, needed: Self) -> bool {
        self.0 & needed.0 == needed.0
    }
}

/// What a device is for, as the boot manifest names it. The board layer
/// resolves a role to an address, a size and an interrupt, so neither the
/// manifest nor any task names a board address. Numbers are ABI.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DeviceRole {
    /// The console UART (PL011 on both QEMU boards).
    Console = 1,
    /// The real-time clock (PL031 on both QEMU boards).
    Rtc = 2,
    /// The motherboard system registers (vexpress-a9 only).
    Sysregs = 3,
    /// A virtio-mmio transport; the instance is its slot (0 = the one
    /// QEMU's `virtio-mmio-bus.0` names).
    VirtioMmio = 4,
    /// A dual timer (SP804 on vexpress-a9).
    Timer = 5,
}

impl DeviceRole {
    /// Decodes a role number.
    pub const fn from_u8(n: u8) -> Option<Self> {
        Some(match n {
            1 => DeviceRole::Console,
            2 => DeviceRole::Rtc,
            3 => DeviceRole::Sysregs,
            4 => DeviceRole::VirtioMmio,
            5 => DeviceRole::Timer,
            _ => return None,
        })
    }
}

/// r3 of `cap_info` part 1 on a Device capability: which device it is and
/// where its registers start inside the capability's first frame.
///
/// ```text
/// bits 0-11   offset of the registers in the first frame (bytes)
/// bits 16-23  DeviceRole number (0 = a raw range the manifest gave)
/// bits 24-31  instance (virtio-mmio slot)
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(transparent)]
pub struct DeviceInfo(pub u32);

impl DeviceInfo {
    /// Packs a role, an instance and a register offset (< 4096).
    pub const fn new(role: Option<DeviceRole>, instance: u8, offset: u32) -> Self {
        let role = match role {
            Some(r) => r as u32,
            None => 0,
        };
        Self((offset & 0xfff) | role << 16 | (instance as u32) << 24)
    }
    /// The role, if the capability was made for one.
    pub const fn role(self) -> Option<DeviceRole> {
        DeviceRole::from_u8((self.0 >> 16) as u8)
    }
    /// The instance (virtio-mmio slot).
    pub const fn instance(self) -> u8 {
        (self.0 >> 24) as u8
    }
    /// Offset of the registers in the first frame.
    pub const fn offset(self) -> u32 {
        self.0 & 0xfff
    }
}

/// What the boot manifest says about a memory-server client, carried in
/// the VSpace capability the server holds for it (`cap_info` part 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[repr(transparent)]
pub struct ClientFlags(u32);

impl ClientFlags {
    /// The client may see every client's areas and usage (`Info`, `Stats`):
    /// the vmallocinfo tool. Without it a client sees only its own.
    pub const OBSERVER: Self = Self(1 << 0);
    /// The client promises to free everything it allocates: areas it still
    /// holds when it exits or faults fail the run (the server's leak
    /// report, then a non-zero final status).
    pub const STRICT: Self = Self(1 << 1);
    /// No flag.
    pub const NONE: Self = Self(0);
    const KNOWN: u32 = 0b11;

    /// Builds a set from raw bits; `None` if an unknown bit is set.
    pub const fn from_bits(bits: u32) -> Option<Self> {
        if bits & !Self::KNOWN == 0 {
            Some(Self(bits))
        } else {
            None
        }
    }
    /// The raw bits.
    pub const fn bits(self) -> u32 {
        self.0
    }
    /// Union of two sets.
    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
    /// Whether every flag in `needed` is set.
    pub const fn contains(self, needed: Self) -> bool {
        self.0 & needed.0 == needed.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rights() {
        let send_recv = EndpointRights::SEND.union(EndpointRights::RECEIVE);
        assert!(send_recv.contains(EndpointRights::SEND));
        assert!(!send_recv.contains(EndpointRights::GRANT));
        assert!(send_recv.contains(EndpointRights::NONE));
        assert_eq!(EndpointRights::from_bits(0b1000), None);
        assert_eq!(EndpointRights::from_bits(0b111).map(|r| r.bits()), Some(7));
    }

    #[test]
    fn device_info_packs() {
        let d = DeviceInfo::new(Some(DeviceRole::VirtioMmio), 3, 0x600);
        assert_eq!(d.role(), Some(DeviceRole::VirtioMmio));
        assert_eq!((d.instance(), d.offset()), (3, 0x600));
        assert_eq!(DeviceInfo::new(None, 0, 0).role(), None);
        for n in 1..=5 {
            assert_eq!(DeviceRole::from_u8(n).map(|r| r as u8), Some(n));
        }
        assert_eq!(DeviceRole::from_u8(6), None);
    }

    #[test]
    fn client_flags() {
        let both = ClientFlags::OBSERVER.union(ClientFlags::STRICT);
        assert_eq!(both.bits(), 0b11);
        assert!(both.contains(ClientFlags::STRICT));
        assert!(!ClientFlags::OBSERVER.contains(ClientFlags::STRICT));
        assert_eq!(ClientFlags::from_bits(0b10), Some(ClientFlags::STRICT));
        assert_eq!(ClientFlags::from_bits(0b100), None);
    }

    #[test]
    fn cap_types() {
        for n in 1..=5 {
            assert_eq!(CapType::from_u32(n).map(|t| t as u32), Some(n));
        }
        assert_eq!(CapType::from_u32(0), None);
        assert_eq!(CapType::from_u32(6), None);
    }
}
