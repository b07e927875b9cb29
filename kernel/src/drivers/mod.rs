//! Drivers for the devices the kernel itself uses. Each board builds only
//! the drivers of its own devices (`board/`).
#[cfg(feature = "board-vexpress-a9")]
pub mod a9timer;
#[cfg(feature = "board-virt")]
pub mod generic_timer;
pub mod gic;
#[cfg(feature = "board-virt")]
pub mod gicv3;
pub mod pl011;
#[cfg(feature = "board-virt")]
pub mod psci;
