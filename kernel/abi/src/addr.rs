//! Distinct types for physical addresses, virtual addresses and page-frame
//! numbers (seL4 style): mixing them up is a type error, not a bug hunt.
//!
//! ARMv7-A short-descriptor translation: both address kinds are 32 bits.
//! With the `serde` feature they travel on the wire as their plain `u32`.

use core::fmt;

/// log2 of the small-page size.
pub const PAGE_SHIFT: u32 = 12;
/// The small-page (and frame) size in bytes.
pub const PAGE_SIZE: u32 = 1 << PAGE_SHIFT;

/// A physical address.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(
    feature = "serde",
    derive(
        serde::Serialize,
        serde::Deserialize,
        postcard::experimental::max_size::MaxSize
    ),
    serde(transparent)
)]
#[repr(transparent)]
pub struct PhysAddr(pub u32);

/// A virtual address (of a user half or the shared vmalloc window; the
/// kernel has its own type for kernel-half addresses).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(
    feature = "serde",
    derive(
        serde::Serialize,
        serde::Deserialize,
        postcard::experimental::max_size::MaxSize
    ),
    serde(transparent)
)]
#[repr(transparent)]
pub struct VirtAddr(pub u32);

/// A physical page-frame number: `PhysAddr >> PAGE_SHIFT`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(
    feature = "serde",
    derive(
        serde::Serialize,
        serde::Deserialize,
        postcard::experimental::max_size::MaxSize
    ),
    serde(transparent)
)]
#[repr(transparent)]
pub struct Pfn(pub u32);

macro_rules! addr_common {
    ($t:ident, $name:literal) => {
        impl $t {
            /// The raw value.
            #[inline]
            pub const fn as_u32(self) -> u32 {
                self.0
            }
            /// Whether the address lies on a page boundary.
            #[inline]
            pub const fn is_page_aligned(self) -> bool {
                self.0 & (PAGE_SIZE - 1) == 0
            }
            /// Whether the address is a multiple of `align` (a power of two).
            #[inline]
            pub const fn is_aligned(self, align: u32) -> bool {
                debug_assert!(align.is_power_of_two());
                self.0 & (align - 1) == 0
            }
            /// Rounds down to a page boundary.
            #[inline]
            pub const fn page_align_down(self) -> Self {
                Self(self.0 & !(PAGE_SIZE - 1))
            }
            /// Rounds up to a page boundary; `None` on overflow.
            #[inline]
            pub const fn page_align_up(self) -> Option<Self> {
                match self.0.checked_add(PAGE_SIZE - 1) {
                    Some(v) => Some(Self(v & !(PAGE_SIZE - 1))),
                    None => None,
                }
            }
            /// Offset inside its page.
            #[inline]
            pub const fn page_offset(self) -> u32 {
                self.0 & (PAGE_SIZE - 1)
            }
            /// `self + bytes`, `None` on overflow.
            #[inline]
            pub const fn checked_add(self, bytes: u32) -> Option<Self> {
                match self.0.checked_add(bytes) {
                    Some(v) => Some(Self(v)),
                    None => None,
                }
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($name, "({:#010x})"), self.0)
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:#010x}", self.0)
            }
        }
    };
}
addr_common!(PhysAddr, "PhysAddr");
addr_common!(VirtAddr, "VirtAddr");

impl PhysAddr {
    /// The frame that holds this address.
    #[inline]
    pub const fn pfn(self) -> Pfn {
        Pfn(self.0 >> PAGE_SHIFT)
    }
}

impl Pfn {
    /// The raw frame number.
    #[inline]
    pub const fn as_u32(self) -> u32 {
        self.0
    }
    /// The first byte of the frame.
    #[inline]
    pub const fn addr(self) -> PhysAddr {
        PhysAddr(self.0 << PAGE_SHIFT)
    }
    /// `self + n` frames, `None` on overflow past the 32-bit physical space.
    #[inline]
    pub const fn checked_add(self, n: u32) -> Option<Self> {
        match self.0.checked_add(n) {
            Some(v) if v <= (u32::MAX >> PAGE_SHIFT) => Some(Self(v)),
            _ => None,
        }
    }
}

impl fmt::Debug for Pfn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Pfn({:#x})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alignment_helpers() {
        assert!(VirtAddr(0x4000_0000).is_page_aligned());
        assert!(!VirtAddr(0x4000_0001).is_page_aligned());
        assert_eq!(VirtAddr(0x1001).page_align_up(), Some(VirtAddr(0x2000)));
        assert_eq!(VirtAddr(0xffff_f001).page_align_up(), None);
        assert_eq!(PhysAddr(0x6000_1234).pfn(), Pfn(0x60001));
        assert_eq!(Pfn(0x60001).addr(), PhysAddr(0x6000_1000));
        assert_eq!(Pfn(0xf_ffff).checked_add(1), None);
    }
}
