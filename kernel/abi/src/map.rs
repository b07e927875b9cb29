//! Mapping attributes: the one type that says how a page is mapped, from
//! the client API through the memory-server protocol and the server to the
//! kernel's `map_pages` (register r3).
//!
//! ```text
//! bit 0     WRITE     1 = read-write, 0 = read-only
//! bits 1-2  MEMTYPE   0 Normal cacheable (inner/outer write-back
//!                       write-allocate, shareable)
//!                     1 Device (shareable device)
//!                     2 Normal uncached (non-cacheable, shareable):
//!                       DMA buffers, ioremap_wc
//!                     3 reserved
//! 3..31     reserved, must be 0 (else AttributesNotAllowed)
//! ```
//!
//! The numbering keeps ABI v1's values: v1's `DEVICE` bit (bit 1) is
//! memory type 1, and v1 had no other type.
//!
//! Every window mapping is user-accessible, not-global (tagged with the
//! task's ASID) and execute-never: the window holds data, never code.
//!
//! Which types a frame capability allows (the kernel checks it):
//!
//! | frames from | allowed | why |
//! |---|---|---|
//! | Pool (RAM) | Normal cacheable, Normal uncached | Device attributes on RAM would alias the memory server's cacheable linear map with a Device type (UNPREDICTABLE on ARMv7) |
//! | Device (MMIO) | Device, Normal uncached | Normal cacheable would let the CPU fetch device registers speculatively into the cache; Normal uncached is Linux's `ioremap_wc` (write-combining, for frame buffers) |

/// How memory is mapped: the cacheability class of the page.
///
/// The numbers are ABI (they are bits 1-2 of [`MapAttrs`] and the byte the
/// memory-server protocol carries): never renumber, only append.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum MemType {
    /// Normal memory, inner and outer write-back write-allocate, shareable
    /// (vmalloc, vmap).
    NormalCached = 0,
    /// Device memory, shareable (ioremap of registers).
    Device = 1,
    /// Normal memory, non-cacheable, shareable (DMA buffers for
    /// non-coherent devices; `ioremap_wc`).
    NormalUncached = 2,
}

impl MemType {
    /// Every type, in number order.
    pub const ALL: [MemType; 3] = [
        MemType::NormalCached,
        MemType::Device,
        MemType::NormalUncached,
    ];

    /// Decodes a type number; `None` for a number this ABI does not know.
    pub const fn from_u8(n: u8) -> Option<Self> {
        match n {
            0 => Some(MemType::NormalCached),
            1 => Some(MemType::Device),
            2 => Some(MemType::NormalUncached),
            _ => None,
        }
    }

    /// The type number.
    pub const fn number(self) -> u8 {
        self as u8
    }

    /// Whether this is Normal memory (either cacheability).
    pub const fn is_normal(self) -> bool {
        !matches!(self, MemType::Device)
    }

    /// Whether frames of RAM (a Pool capability) may be mapped this way.
    pub const fn allowed_for_ram(self) -> bool {
        matches!(self, MemType::NormalCached | MemType::NormalUncached)
    }

    /// Whether frames of a device (a Device capability) may be mapped
    /// this way.
    pub const fn allowed_for_device(self) -> bool {
        matches!(self, MemType::Device | MemType::NormalUncached)
    }
}

/// Validated mapping attributes: a memory type and writability.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct MapAttrs(u32);

impl MapAttrs {
    /// Writable mapping.
    pub const WRITE: u32 = 1 << 0;
    /// Position of the memory type field.
    const MEMTYPE_SHIFT: u32 = 1;
    /// The memory type field.
    const MEMTYPE_MASK: u32 = 0b11 << Self::MEMTYPE_SHIFT;
    /// ABI v1's Device bit: memory type 1.
    pub const DEVICE: u32 = (MemType::Device as u32) << Self::MEMTYPE_SHIFT;
    const KNOWN: u32 = Self::WRITE | Self::MEMTYPE_MASK;

    /// Normal cacheable, read-write (vmalloc).
    pub const NORMAL_RW: Self = Self::new(MemType::NormalCached, true);
    /// Normal cacheable, read-only.
    pub const NORMAL_RO: Self = Self::new(MemType::NormalCached, false);
    /// Normal uncached, read-write (DMA buffers).
    pub const UNCACHED_RW: Self = Self::new(MemType::NormalUncached, true);
    /// Device, read-write (ioremap).
    pub const DEVICE_RW: Self = Self::new(MemType::Device, true);
    /// Device, read-only.
    pub const DEVICE_RO: Self = Self::new(MemType::Device, false);

    /// Attributes of `mem` memory, writable or not.
    pub const fn new(mem: MemType, writable: bool) -> Self {
        Self((mem as u32) << Self::MEMTYPE_SHIFT | if writable { Self::WRITE } else { 0 })
    }

    /// Decodes r3; `None` if a reserved bit or memory type is set.
    pub const fn from_raw(raw: u32) -> Option<Self> {
        if raw & !Self::KNOWN != 0 {
            return None;
        }
        match MemType::from_u8(((raw & Self::MEMTYPE_MASK) >> Self::MEMTYPE_SHIFT) as u8) {
            Some(_) => Some(Self(raw)),
            None => None,
        }
    }
    /// The register value.
    pub const fn raw(self) -> u32 {
        self.0
    }
    /// The memory type.
    pub const fn mem_type(self) -> MemType {
        match MemType::from_u8(((self.0 & Self::MEMTYPE_MASK) >> Self::MEMTYPE_SHIFT) as u8) {
            Some(m) => m,
            // Unreachable: every constructor checks the field.
            None => MemType::Device,
        }
    }
    /// Whether the mapping is writable.
    pub const fn is_writable(self) -> bool {
        self.0 & Self::WRITE != 0
    }
    /// Whether the mapping is Device memory.
    pub const fn is_device(self) -> bool {
        matches!(self.mem_type(), MemType::Device)
    }
    /// The same attributes, read-only.
    pub const fn read_only(self) -> Self {
        Self(self.0 & !Self::WRITE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attrs() {
        assert_eq!(MapAttrs::from_raw(3), Some(MapAttrs::DEVICE_RW));
        assert_eq!(MapAttrs::from_raw(5), Some(MapAttrs::UNCACHED_RW));
        assert_eq!(MapAttrs::from_raw(7), None, "memory type 3 is reserved");
        assert_eq!(MapAttrs::from_raw(8), None);
        assert!(MapAttrs::NORMAL_RW.is_writable() && !MapAttrs::NORMAL_RW.is_device());
        assert!(!MapAttrs::DEVICE_RO.is_writable() && MapAttrs::DEVICE_RO.is_device());
        assert_eq!(MapAttrs::NORMAL_RO.raw(), 0);
        assert_eq!(MapAttrs::DEVICE, 2, "ABI v1's Device bit");
        assert_eq!(
            MapAttrs::UNCACHED_RW.read_only().mem_type(),
            MemType::NormalUncached
        );
    }

    #[test]
    fn every_raw_value_round_trips() {
        for raw in 0..64u32 {
            if let Some(a) = MapAttrs::from_raw(raw) {
                assert_eq!(MapAttrs::new(a.mem_type(), a.is_writable()), a);
            }
        }
        for m in MemType::ALL {
            assert_eq!(MemType::from_u8(m.number()), Some(m));
            assert!(m.allowed_for_ram() || m.allowed_for_device());
        }
        assert_eq!(MemType::from_u8(3), None);
        assert!(!MemType::Device.allowed_for_ram());
        assert!(!MemType::NormalCached.allowed_for_device());
    }
}
