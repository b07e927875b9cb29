//! The MMIO accessor rule: every device register access is one `ldr`/`str`
//! (`ldrb`/`ldrh`/`strb`/`strh` for narrower fields) with a plain register
//! base and no offset arithmetic or writeback in the instruction, so a
//! hypervisor (KVM) can emulate it from the fault syndrome alone.
//!
//! `virtio-drivers` reaches its registers through `safe-mmio`. With
//! `safe-mmio`'s `custom-mmio` feature every access it makes — header
//! registers and config space alike — funnels into the [`MmioOps`] below
//! (registered with `set_mmio_ops!`); no other code path touches device
//! memory. This module's own transport probe uses the same functions.

use core::arch::asm;

use safe_mmio::{set_mmio_ops, MmioOps};

/// Single-instruction ARM loads and stores.
#[derive(Debug)]
pub struct ArmMmio;

/// Reads a 32-bit register with one `ldr`.
///
/// # Safety
///
/// `src` must be a mapped, 4-byte aligned device register.
#[inline(always)]
pub unsafe fn read32(src: *const u32) -> u32 {
    let v: u32;
    // SAFETY: the caller guarantees `src` is a mapped aligned register; the
    // instruction reads 4 bytes at `src` and writes only `v`.
    unsafe {
        asm!("ldr {v}, [{p}]", v = out(reg) v, p = in(reg) src, options(nostack, preserves_flags));
    }
    v
}

/// Writes a 32-bit register with one `str`.
///
/// # Safety
///
/// `dst` must be a mapped, 4-byte aligned device register.
#[inline(always)]
pub unsafe fn write32(dst: *mut u32, value: u32) {
    // SAFETY: the caller guarantees `dst` is a mapped aligned register; the
    // instruction writes 4 bytes at `dst` only.
    unsafe {
        asm!("str {v}, [{p}]", v = in(reg) value, p = in(reg) dst, options(nostack, preserves_flags));
    }
}

impl MmioOps for ArmMmio {
    unsafe fn read_u8(src: *const u8) -> u8 {
        let v: u32;
        // SAFETY: safe-mmio passes a valid, mapped MMIO address; one `ldrb`.
        unsafe {
            asm!("ldrb {v}, [{p}]", v = out(reg) v, p = in(reg) src, options(nostack, preserves_flags));
        }
        v as u8
    }

    unsafe fn read_u16(src: *const u16) -> u16 {
        let v: u32;
        // SAFETY: safe-mmio passes a valid, aligned MMIO address; one `ldrh`.
        unsafe {
            asm!("ldrh {v}, [{p}]", v = out(reg) v, p = in(reg) src, options(nostack, preserves_flags));
        }
        v as u16
    }

    unsafe fn read_u32(src: *const u32) -> u32 {
        // SAFETY: safe-mmio passes a valid, aligned MMIO address.
        unsafe { read32(src) }
    }

    unsafe fn read_u64(src: *const u64) -> u64 {
        // virtio-mmio has no 64-bit registers (64-bit values are split in
        // low/high words); two single `ldr`s, low word first.
        let lo = src.cast::<u32>();
        let hi = lo.wrapping_add(1);
        // SAFETY: safe-mmio passes a valid 8-byte MMIO field; both halves
        // lie inside it and are 4-byte aligned.
        unsafe { u64::from(read32(lo)) | u64::from(read32(hi)) << 32 }
    }

    unsafe fn write_u8(dst: *mut u8, value: u8) {
        // SAFETY: safe-mmio passes a valid, mapped MMIO address; one `strb`.
        unsafe {
            asm!("strb {v}, [{p}]", v = in(reg) u32::from(value), p = in(reg) dst, options(nostack, preserves_flags));
        }
    }

    unsafe fn write_u16(dst: *mut u16, value: u16) {
        // SAFETY: safe-mmio passes a valid, aligned MMIO address; one `strh`.
        unsafe {
            asm!("strh {v}, [{p}]", v = in(reg) u32::from(value), p = in(reg) dst, options(nostack, preserves_flags));
        }
    }

    unsafe fn write_u32(dst: *mut u32, value: u32) {
        // SAFETY: safe-mmio passes a valid, aligned MMIO address.
        unsafe { write32(dst, value) }
    }

    unsafe fn write_u64(dst: *mut u64, value: u64) {
        let lo = dst.cast::<u32>();
        let hi = lo.wrapping_add(1);
        // SAFETY: safe-mmio passes a valid 8-byte MMIO field; both halves
        // lie inside it and are 4-byte aligned.
        unsafe {
            write32(lo, value as u32);
            write32(hi, (value >> 32) as u32);
        }
    }
}

set_mmio_ops!(ArmMmio);
