//! Attributes for `map_pages` (register r3).
//!
//! ```text
//! bit 0  WRITE   1 = read-write, 0 = read-only
//! bit 1  DEVICE  1 = Device memory (shareable device), 0 = Normal memory,
//!                inner/outer write-back write-allocate, shareable
//! 2..31  reserved, must be 0 (else AttributesNotAllowed)
//! ```
//!
//! Every window mapping is user-accessible, not-global (tagged with the
//! task's ASID) and execute-never: the window holds data, never code, so
//! there is no "execute" bit to get wrong. Frames from a Pool capability may
//! only be mapped Normal (RAM is also in the memory server's cacheable
//! linear map, and mismatched attribute aliases are UNPREDICTABLE on ARMv7);
//! frames from a Device capability may be mapped Device or Normal.

/// Validated mapping attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(transparent)]
pub struct MapAttrs(u32);

impl MapAttrs {
    /// Writable mapping.
    pub const WRITE: u32 = 1 << 0;
    /// Device memory (otherwise normal cacheable memory).
    pub const DEVICE: u32 = 1 << 1;
    const KNOWN: u32 = Self::WRITE | Self::DEVICE;

    /// Normal cacheable, read-write (vmalloc).
    pub const NORMAL_RW: Self = Self(Self::WRITE);
    /// Normal cacheable, read-only.
    pub const NORMAL_RO: Self = Self(0);
    /// Device, read-write (ioremap).
    pub const DEVICE_RW: Self = Self(Self::WRITE | Self::DEVICE);
    /// Device, read-only.
    pub const DEVICE_RO: Self = Self(Self::DEVICE);

    /// Decodes r3; `None` if a reserved bit is set.
    pub const fn from_raw(raw: u32) -> Option<Self> {
        if raw & !Self::KNOWN == 0 {
            Some(Self(raw))
        } else {
            None
        }
    }
    /// The register value.
    pub const fn raw(self) -> u32 {
        self.0
    }
    /// Whether the mapping is writable.
    pub const fn is_writable(self) -> bool {
        self.0 & Self::WRITE != 0
    }
    /// Whether the mapping is Device memory.
    pub const fn is_device(self) -> bool {
        self.0 & Self::DEVICE != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attrs() {
        assert_eq!(MapAttrs::from_raw(3), Some(MapAttrs::DEVICE_RW));
        assert_eq!(MapAttrs::from_raw(4), None);
        assert!(MapAttrs::NORMAL_RW.is_writable() && !MapAttrs::NORMAL_RW.is_device());
        assert!(!MapAttrs::DEVICE_RO.is_writable() && MapAttrs::DEVICE_RO.is_device());
        assert_eq!(MapAttrs::NORMAL_RO.raw(), 0);
    }
}
