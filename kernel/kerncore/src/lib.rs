//! Kernel logic that needs no hardware, factored out of the kernel so it can
//! be unit-tested on the host (the Hubris `kerncore` model): ARMv7-A
//! short-descriptor encoding, fault-status decoding, processor-mode names and
//! the boot command line, kernel-memory accounting and stack-overflow
//! detection.
//!
//! The kernel crate re-uses these types verbatim; nothing here touches a
//! register or memory, so the crate forbids `unsafe`.
#![no_std]
#![forbid(unsafe_code)]

pub mod asid;
pub mod bootargs;
pub mod dtb;
pub mod elf;
pub mod fault;
pub mod kmem;
pub mod mmu;
pub mod psr;
pub mod runqueue;
pub mod stack;
