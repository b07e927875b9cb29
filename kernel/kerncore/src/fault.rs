//! Decoding of the short-descriptor fault status registers (DFSR / IFSR,
//! ARM ARM B4.1.52 and B4.1.96) into names a person can act on.

use core::fmt;

/// The fault-status code, `FS[4] : FS[3:0]` (bit 10 : bits 3..0).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Unaligned access with alignment checking on.
    Alignment,
    /// Debug event.
    Debug,
    /// No valid L1 entry.
    TranslationSection,
    /// No valid L2 entry.
    TranslationPage,
    /// Access flag clear (section).
    AccessFlagSection,
    /// Access flag clear (page).
    AccessFlagPage,
    /// Domain set to no-access (section).
    DomainSection,
    /// Domain set to no-access (page).
    DomainPage,
    /// AP bits forbid the access (section).
    PermissionSection,
    /// AP bits forbid the access (page).
    PermissionPage,
    /// Synchronous external abort: the bus refused the access (e.g. no
    /// device or RAM at that physical address).
    SyncExternal,
    /// Synchronous external abort during a table walk.
    SyncExternalOnWalk { level: u8 },
    /// Asynchronous (imprecise) external abort.
    AsyncExternal,
    /// Fault on an instruction-cache maintenance operation.
    CacheMaintenance,
    /// Parity or ECC error.
    Parity,
    /// A code the architecture reserves.
    Reserved(u8),
}

impl FaultKind {
    /// Decodes the FS field of a DFSR or IFSR value.
    pub const fn from_fsr(fsr: u32) -> Self {
        let fs = (((fsr >> 10) & 1) << 4 | (fsr & 0xf)) as u8;
        match fs {
            0b00001 => FaultKind::Alignment,
            0b00010 => FaultKind::Debug,
            0b00100 => FaultKind::CacheMaintenance,
            0b00101 => FaultKind::TranslationSection,
            0b00111 => FaultKind::TranslationPage,
            0b00011 => FaultKind::AccessFlagSection,
            0b00110 => FaultKind::AccessFlagPage,
            0b01001 => FaultKind::DomainSection,
            0b01011 => FaultKind::DomainPage,
            0b01101 => FaultKind::PermissionSection,
            0b01111 => FaultKind::PermissionPage,
            0b01000 => FaultKind::SyncExternal,
            0b01100 => FaultKind::SyncExternalOnWalk { level: 1 },
            0b01110 => FaultKind::SyncExternalOnWalk { level: 2 },
            0b10110 => FaultKind::AsyncExternal,
            0b11001 | 0b11100 | 0b11110 | 0b11000 => FaultKind::Parity,
            other => FaultKind::Reserved(other),
        }
    }

    /// Whether the faulting address register (DFAR/IFAR) is valid for this
    /// kind (it is not for asynchronous aborts).
    pub const fn address_valid(self) -> bool {
        !matches!(self, FaultKind::AsyncExternal | FaultKind::Reserved(_))
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FaultKind::Alignment => f.write_str("alignment fault"),
            FaultKind::Debug => f.write_str("debug event"),
            FaultKind::TranslationSection => f.write_str("translation fault (section)"),
            FaultKind::TranslationPage => f.write_str("translation fault (page)"),
            FaultKind::AccessFlagSection => f.write_str("access flag fault (section)"),
            FaultKind::AccessFlagPage => f.write_str("access flag fault (page)"),
            FaultKind::DomainSection => f.write_str("domain fault (section)"),
            FaultKind::DomainPage => f.write_str("domain fault (page)"),
            FaultKind::PermissionSection => f.write_str("permission fault (section)"),
            FaultKind::PermissionPage => f.write_str("permission fault (page)"),
            FaultKind::SyncExternal => f.write_str("synchronous external abort"),
            FaultKind::SyncExternalOnWalk { level } => {
                write!(f, "external abort on L{level} table walk")
            }
            FaultKind::AsyncExternal => f.write_str("asynchronous external abort"),
            FaultKind::CacheMaintenance => f.write_str("cache maintenance fault"),
            FaultKind::Parity => f.write_str("parity error"),
            FaultKind::Reserved(code) => write!(f, "reserved fault status {code:#07b}"),
        }
    }
}

/// A decoded DFSR.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DataFaultStatus {
    /// What went wrong.
    pub kind: FaultKind,
    /// The access was a write (`WnR`, bit 11).
    pub write: bool,
    /// External abort type bit (`ExT`, bit 12), implementation defined.
    pub external: bool,
    /// The domain of the entry (bits 7..4), valid for domain and
    /// permission faults.
    pub domain: u8,
}

impl DataFaultStatus {
    /// Decodes a DFSR value.
    pub const fn from_dfsr(dfsr: u32) -> Self {
        Self {
            kind: FaultKind::from_fsr(dfsr),
            write: dfsr & (1 << 11) != 0,
            external: dfsr & (1 << 12) != 0,
            domain: ((dfsr >> 4) & 0xf) as u8,
        }
    }
}

impl fmt::Display for DataFaultStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} on {}",
            self.kind,
            if self.write { "write" } else { "read" }
        )
    }
}

/// How a task ended, as the kernel's failure line says it: "exit code 3",
/// "data abort at 0x48000000 (pc 0x00010234, status 0x5)", ...
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskEnd(pub abi::FaultMessage);

impl TaskEnd {
    /// Whether the task failed: it faulted (any kind, including kinds this
    /// kernel does not know) or exited with a non-zero code.
    pub const fn is_failure(&self) -> bool {
        match self.0.fault_kind() {
            Some(abi::FaultKind::Exit) => self.0.exit_code != 0,
            _ => true,
        }
    }
}

impl fmt::Display for TaskEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.0;
        let what = match m.fault_kind() {
            Some(abi::FaultKind::Exit) => {
                return write!(f, "exit code {}", m.exit_code as i32);
            }
            Some(abi::FaultKind::UndefinedInstruction) => {
                return write!(f, "undefined instruction at {:#010x}", m.pc);
            }
            Some(abi::FaultKind::DataAbort) => "data abort",
            Some(abi::FaultKind::PrefetchAbort) => "prefetch abort",
            Some(abi::FaultKind::StackOverflow) => "stack overflow",
            None => return write!(f, "unknown end (kind {})", m.kind),
        };
        write!(
            f,
            "{what} at {:#010x} (pc {:#010x}, status {:#x})",
            m.address, m.pc, m.status
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    extern crate std;
    use std::format;

    fn end(kind: abi::FaultKind, address: u32, exit_code: u32) -> TaskEnd {
        TaskEnd(abi::FaultMessage {
            task: 2,
            kind: kind as u32,
            address,
            pc: 0x1_0234,
            status: 0x5,
            exit_code,
        })
    }

    #[test]
    fn task_end_lines() {
        let exit0 = end(abi::FaultKind::Exit, 0, 0);
        assert!(!exit0.is_failure());
        let exit3 = end(abi::FaultKind::Exit, 0, 3);
        assert!(exit3.is_failure());
        assert_eq!(format!("{exit3}"), "exit code 3");
        assert_eq!(
            format!("{}", end(abi::FaultKind::Exit, 0, u32::MAX)),
            "exit code -1"
        );
        let abort = end(abi::FaultKind::DataAbort, 0x4800_0000, 0);
        assert!(abort.is_failure());
        assert_eq!(
            format!("{abort}"),
            "data abort at 0x48000000 (pc 0x00010234, status 0x5)"
        );
        let so = end(abi::FaultKind::StackOverflow, 0x3fee_effc, 0);
        assert!(so.is_failure());
        assert!(format!("{so}").starts_with("stack overflow at 0x3feeeffc"));
        let undef = end(abi::FaultKind::UndefinedInstruction, 0, 0);
        assert_eq!(format!("{undef}"), "undefined instruction at 0x00010234");
        let mut unknown = exit0;
        unknown.0.kind = 99;
        assert!(unknown.is_failure(), "an unknown kind is a failure");
        assert_eq!(format!("{unknown}"), "unknown end (kind 99)");
    }

    #[test]
    fn decodes_common_codes() {
        assert_eq!(FaultKind::from_fsr(0x005), FaultKind::TranslationSection);
        assert_eq!(FaultKind::from_fsr(0x007), FaultKind::TranslationPage);
        assert_eq!(FaultKind::from_fsr(0x00d), FaultKind::PermissionSection);
        assert_eq!(FaultKind::from_fsr(0x00f), FaultKind::PermissionPage);
        assert_eq!(FaultKind::from_fsr(0x001), FaultKind::Alignment);
        assert_eq!(FaultKind::from_fsr(0x008), FaultKind::SyncExternal);
        assert_eq!(FaultKind::from_fsr(0x406), FaultKind::AsyncExternal);
        assert_eq!(
            FaultKind::from_fsr(0x00e),
            FaultKind::SyncExternalOnWalk { level: 2 }
        );
        assert_eq!(FaultKind::from_fsr(0x400), FaultKind::Reserved(0b10000));
    }

    #[test]
    fn write_bit_and_domain() {
        let s = DataFaultStatus::from_dfsr(0x0000_0815);
        assert!(s.write);
        assert_eq!(s.domain, 1);
        assert_eq!(s.kind, FaultKind::TranslationSection);
        extern crate alloc;
        use alloc::string::ToString;
        assert_eq!(s.to_string(), "translation fault (section) on write");
    }

    #[test]
    fn async_address_invalid() {
        assert!(!FaultKind::AsyncExternal.address_valid());
        assert!(FaultKind::TranslationPage.address_valid());
    }
}
