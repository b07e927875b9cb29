//! The one place the kernel touches device registers.
//!
//! Every access is a single `ldr`/`str` with a plain register address (no
//! writeback, no post-index), emitted by inline assembly rather than left to
//! the compiler: KVM can only emulate such instructions when a guest access
//! traps (the data-abort syndrome describes nothing else), and a volatile
//! read could legally compile to `ldr r0, [r1], #4`. This is why register
//! blocks are not declared with `tock-registers`, whose accessors are plain
//! volatile pointer reads (see doc/design-notes.md).

use core::arch::asm;

/// A block of device registers mapped at a kernel virtual address.
///
/// Creating one is `unsafe` (the caller vouches for the mapping); using it is
/// safe, and offsets are checked against the block's size.
pub struct MmioRegion {
    base: usize,
    size: usize,
}

impl MmioRegion {
    /// # Safety
    /// `[base, base + size)` must be mapped as device memory for as long as
    /// the region lives, and nothing else may treat it as ordinary memory.
    pub const unsafe fn new(base: usize, size: usize) -> Self {
        Self { base, size }
    }

    #[inline(always)]
    fn addr(&self, offset: usize) -> usize {
        assert!(
            offset.is_multiple_of(4) && offset + 4 <= self.size,
            "mmio offset out of range"
        );
        self.base + offset
    }

    /// Reads the 32-bit register at `offset`.
    #[inline(always)]
    pub fn read32(&self, offset: usize) -> u32 {
        let addr = self.addr(offset);
        let value: u32;
        // SAFETY: `addr` is inside a region the constructor's caller vouched
        // is mapped device memory; a device read has no memory-safety effect
        // on Rust-visible memory.
        unsafe {
            asm!("ldr {v}, [{a}]", a = in(reg) addr, v = out(reg) value,
                 options(nostack, preserves_flags));
        }
        value
    }

    /// Writes the 32-bit register at `offset`.
    #[inline(always)]
    pub fn write32(&self, offset: usize, value: u32) {
        let addr = self.addr(offset);
        // SAFETY: as for `read32`; the store only reaches the device.
        unsafe {
            asm!("str {v}, [{a}]", a = in(reg) addr, v = in(reg) value,
                 options(nostack, preserves_flags));
        }
    }
}
