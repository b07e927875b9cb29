//! ARMv7-A specifics: boot, exception entry, system registers, barriers.
pub mod barrier;
pub mod boot;
pub mod cp15;
pub mod irq;
pub mod trap;
