//! CP15 system registers, one named type per register, read and written
//! with `mrc`/`mcr`. Reading is always safe; writing a register that
//! changes translation, caching or exception routing is `unsafe`.

use core::arch::asm;

macro_rules! cp15_reg {
    ($(#[$doc:meta])* $name:ident, $op1:literal, $crn:literal, $crm:literal, $op2:literal) => {
        $(#[$doc])*
        pub struct $name;
        impl $name {
            /// Reads the register.
            #[inline(always)]
            #[allow(dead_code)]
            pub fn read() -> u32 {
                let v: u32;
                // SAFETY: reading this CP15 register has no side effects.
                unsafe {
                    asm!(concat!("mrc p15, ", $op1, ", {}, ", $crn, ", ", $crm, ", ", $op2),
                         out(reg) v, options(nomem, nostack, preserves_flags));
                }
                v
            }
            /// Writes the register.
            ///
            /// # Safety
            /// The caller must uphold whatever invariants the register
            /// controls (translation, caching, vectors) for all code that
            /// runs afterwards.
            #[inline(always)]
            #[allow(dead_code)]
            pub unsafe fn write(v: u32) {
                // SAFETY: delegated to the caller (see `# Safety`).
                unsafe {
                    asm!(concat!("mcr p15, ", $op1, ", {}, ", $crn, ", ", $crm, ", ", $op2),
                         in(reg) v, options(nostack, preserves_flags));
                }
            }
        }
    };
}

cp15_reg!(/// Main ID Register.
    Midr, 0, "c0", "c0", 0);
cp15_reg!(/// Multiprocessor Affinity Register: Aff0 = CPU number in the cluster.
    Mpidr, 0, "c0", "c0", 5);
cp15_reg!(/// System Control Register.
    Sctlr, 0, "c1", "c0", 0);
cp15_reg!(/// Auxiliary Control Register (A9: bit 6 = SMP coherency).
    Actlr, 0, "c1", "c0", 1);
cp15_reg!(/// Translation Table Base Register 0 (per task, `[0, 2 GiB)`).
    Ttbr0, 0, "c2", "c0", 0);
cp15_reg!(/// Translation Table Base Register 1 (kernel half).
    Ttbr1, 0, "c2", "c0", 1);
cp15_reg!(/// Translation Table Base Control Register (N).
    Ttbcr, 0, "c2", "c0", 2);
cp15_reg!(/// Domain Access Control Register.
    Dacr, 0, "c3", "c0", 0);
cp15_reg!(/// Data Fault Status Register.
    Dfsr, 0, "c5", "c0", 0);
cp15_reg!(/// Instruction Fault Status Register.
    Ifsr, 0, "c5", "c0", 1);
cp15_reg!(/// Data Fault Address Register.
    Dfar, 0, "c6", "c0", 0);
cp15_reg!(/// Instruction Fault Address Register.
    Ifar, 0, "c6", "c0", 2);
cp15_reg!(/// Vector Base Address Register.
    Vbar, 0, "c12", "c0", 0);
cp15_reg!(/// Context ID Register (ASID in bits 7..0).
    Contextidr, 0, "c13", "c0", 1);
cp15_reg!(/// PL1-only thread ID register: holds this CPU's per-CPU pointer.
    Tpidrprw, 0, "c13", "c0", 4);

/// SCTLR bits this kernel sets or checks.
#[allow(dead_code)]
pub mod sctlr {
    /// MMU enable.
    pub const M: u32 = 1 << 0;
    /// Alignment checking.
    pub const A: u32 = 1 << 1;
    /// Data/unified cache enable.
    pub const C: u32 = 1 << 2;
    /// Branch prediction enable.
    pub const Z: u32 = 1 << 11;
    /// Instruction cache enable.
    pub const I: u32 = 1 << 12;
    /// High vectors (0xffff0000) instead of VBAR.
    pub const V: u32 = 1 << 13;
    /// TEX remap.
    pub const TRE: u32 = 1 << 28;
    /// Access flag enable.
    pub const AFE: u32 = 1 << 29;
}

/// This CPU's number inside the cluster.
#[inline]
pub fn cpu_id() -> u32 {
    Mpidr::read() & 0x3
}
