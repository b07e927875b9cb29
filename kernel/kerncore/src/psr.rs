//! Program status register fields.

use core::fmt;

/// Processor modes (CPSR.M).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Mode {
    /// PL0 user.
    User = 0x10,
    /// Fast interrupt.
    Fiq = 0x11,
    /// Interrupt.
    Irq = 0x12,
    /// Supervisor: the kernel's own mode.
    Supervisor = 0x13,
    /// Secure monitor.
    Monitor = 0x16,
    /// Data and prefetch aborts.
    Abort = 0x17,
    /// Hypervisor.
    Hyp = 0x1a,
    /// Undefined instruction.
    Undefined = 0x1b,
    /// PL1 with user registers.
    System = 0x1f,
}

/// Mode field mask.
pub const MODE_MASK: u32 = 0x1f;
/// IRQ disable.
pub const IRQ_MASK_BIT: u32 = 1 << 7;
/// FIQ disable.
pub const FIQ_MASK_BIT: u32 = 1 << 6;
/// Thumb state.
pub const THUMB_BIT: u32 = 1 << 5;
/// Asynchronous abort disable.
pub const ASYNC_ABORT_MASK_BIT: u32 = 1 << 8;

impl Mode {
    /// Decodes CPSR.M; `None` for reserved encodings.
    pub const fn from_psr(psr: u32) -> Option<Self> {
        Some(match psr & MODE_MASK {
            0x10 => Mode::User,
            0x11 => Mode::Fiq,
            0x12 => Mode::Irq,
            0x13 => Mode::Supervisor,
            0x16 => Mode::Monitor,
            0x17 => Mode::Abort,
            0x1a => Mode::Hyp,
            0x1b => Mode::Undefined,
            0x1f => Mode::System,
            _ => return None,
        })
    }

    /// The short name ARM documentation uses.
    pub const fn name(self) -> &'static str {
        match self {
            Mode::User => "usr",
            Mode::Fiq => "fiq",
            Mode::Irq => "irq",
            Mode::Supervisor => "svc",
            Mode::Monitor => "mon",
            Mode::Abort => "abt",
            Mode::Hyp => "hyp",
            Mode::Undefined => "und",
            Mode::System => "sys",
        }
    }
}

/// A PSR shown as flags and mode, e.g. `nZCv IF- svc`.
#[derive(Clone, Copy)]
pub struct PsrDisplay(pub u32);

impl fmt::Display for PsrDisplay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        let flag = |bit: u32, c: char| {
            if v & (1 << bit) != 0 {
                c.to_ascii_uppercase()
            } else {
                c
            }
        };
        write!(
            f,
            "{}{}{}{} {}{}{} ",
            flag(31, 'n'),
            flag(30, 'z'),
            flag(29, 'c'),
            flag(28, 'v'),
            if v & IRQ_MASK_BIT != 0 { 'I' } else { '-' },
            if v & FIQ_MASK_BIT != 0 { 'F' } else { '-' },
            if v & THUMB_BIT != 0 { 'T' } else { 'A' },
        )?;
        match Mode::from_psr(v) {
            Some(m) => f.write_str(m.name()),
            None => write!(f, "mode?{:#x}", v & MODE_MASK),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate alloc;
    use alloc::format;

    #[test]
    fn modes() {
        assert_eq!(Mode::from_psr(0x6000_01d3), Some(Mode::Supervisor));
        assert_eq!(Mode::from_psr(0x10), Some(Mode::User));
        assert_eq!(Mode::from_psr(0x14), None);
        assert_eq!(format!("{}", PsrDisplay(0x6000_01d3)), "nZCv IFA svc");
        assert_eq!(format!("{}", PsrDisplay(0x8000_0030)), "Nzcv --T usr");
    }
}
