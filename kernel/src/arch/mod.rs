//! ARMv7-A specifics: boot, exception entry, system registers, barriers.
pub mod barrier;
pub mod boot;
pub mod cp15;
pub mod irq;
/// Generic-timer and GICv3 system registers: only `virt` has them.
#[cfg(feature = "board-virt")]
pub mod sysreg;
pub mod trap;
