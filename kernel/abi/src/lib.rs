//! The kernel ABI: everything the kernel and user tasks must agree on.
//!
//! One crate, shared by the kernel, the memory server and every task (the
//! Hubris model), so a number changes in exactly one place.
#![no_std]
#![forbid(unsafe_code)]

pub mod addr;

pub use addr::{PhysAddr, Pfn, VirtAddr, PAGE_SHIFT, PAGE_SIZE};
