//! Drivers for the devices the kernel itself uses.
pub mod a9timer;
pub mod gic;
pub mod pl011;
