//! `kvmcheck`: a QEMU TCG plugin that flags guest MMIO accesses KVM could
//! not emulate.
//!
//! Loaded with `qemu-system-arm ... -plugin libkvmcheck.so,out=REPORT`. At
//! translation it classifies every guest instruction ([`decode`]); each
//! one that may touch data memory gets a memory callback. An executed
//! access whose physical address is an I/O region
//! (`qemu_plugin_hwaddr_is_io`) is counted, and flagged if its instruction
//! has no valid syndrome under KVM (writeback, LDM/STM, LDRD/STRD,
//! exclusives, coprocessor/VFP/SIMD, anything unrecognised). At QEMU's
//! exit the plugin writes REPORT (format in `doc/kvmcheck.md`):
//!
//! ```text
//! kvmcheck: 123456 I/O accesses checked, 0 flagged
//! flagged pc=0x.. insn=0x.. size=4 thumb=0 io=0x.. count=N kind=...; disas=...
//! ```
//!
//! The plugin glue is left out of the host unit tests (it needs QEMU's
//! symbols); the classifier is tested there.

pub mod decode;

#[cfg(not(test))]
mod plugin;
