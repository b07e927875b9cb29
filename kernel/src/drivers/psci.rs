//! PSCI (ARM DEN 0022) through the `smccc` crate: power off, start a
//! secondary CPU, report the version. The conduit (`hvc` on `virt` and
//! under KVM, `smc` under `virt,virtualization=on`) comes from the device
//! tree's `/psci/method` and is chosen at run time; `smccc` provides both
//! as types, so each call is one `match`.
//!
//! `smccc` 0.2 encodes the instructions with `.inst`, so the kernel needs
//! neither the `virtualization` nor the `trustzone` target feature, and it
//! saves and restores r6/r7 itself (LLVM reserves them on 32-bit ARM).

use kerncore::dtb::{PsciConduit, PsciInfo};
use smccc::psci;
use smccc::{Hvc, Smc};

/// A PSCI call's failure. The numbers are PSCI's own return codes.
#[repr(i32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciError {
    /// The function is not implemented (or PSCI 0.1 has no such call).
    NotSupported = -1,
    /// A parameter is invalid (e.g. an MPIDR naming no CPU).
    InvalidParameters = -2,
    /// The caller may not do this.
    Denied = -3,
    /// CPU_ON: the CPU is already on.
    AlreadyOn = -4,
    /// CPU_ON: the CPU is already being turned on.
    OnPending = -5,
    /// The firmware failed.
    InternalFailure = -6,
    /// No trusted OS on the target.
    NotPresent = -7,
    /// The CPU is disabled.
    Disabled = -8,
    /// CPU_ON: the entry point is not a valid physical address.
    InvalidAddress = -9,
    /// A return value PSCI does not define (or SYSTEM_OFF returned).
    Unknown = i32::MIN,
}

impl From<psci::error::Error> for PsciError {
    fn from(error: psci::error::Error) -> Self {
        use psci::error::Error as E;
        match error {
            E::NotSupported => Self::NotSupported,
            E::InvalidParameters => Self::InvalidParameters,
            E::Denied => Self::Denied,
            E::AlreadyOn => Self::AlreadyOn,
            E::OnPending => Self::OnPending,
            E::InternalFailure => Self::InternalFailure,
            E::NotPresent => Self::NotPresent,
            E::Disabled => Self::Disabled,
            E::InvalidAddress => Self::InvalidAddress,
            E::Unknown(_) => Self::Unknown,
        }
    }
}

impl core::fmt::Display for PsciError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?} (PSCI {})", self, *self as i32)
    }
}

/// A PSCI version (PSCI_VERSION).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PsciVersion {
    /// Major version (1 for QEMU 7.2's PSCI 1.1).
    pub major: u16,
    /// Minor version.
    pub minor: u16,
}

impl core::fmt::Display for PsciVersion {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// The PSCI firmware interface, over one conduit.
#[derive(Clone, Copy, Debug)]
pub struct Psci {
    conduit: PsciConduit,
    /// PSCI 0.1 only: the device tree's CPU_ON function ID (0.2 and later
    /// use the standard `CPU_ON_32`).
    legacy_cpu_on: Option<u32>,
}

/// Runs `psci::$call::<C>($args)` with `C` the conduit's type.
macro_rules! via {
    ($self:ident, $call:ident $(, $arg:expr)*) => {
        match $self.conduit {
            PsciConduit::Hvc => psci::$call::<Hvc>($($arg),*),
            PsciConduit::Smc => psci::$call::<Smc>($($arg),*),
        }
    };
}

impl Psci {
    /// From the device tree's `/psci` node (PSCI 0.1 IDs if it is 0.1 only).
    pub fn from_info(info: &PsciInfo) -> Self {
        Self {
            conduit: info.conduit,
            legacy_cpu_on: if info.v0_2 { None } else { info.cpu_on },
        }
    }

    /// The conduit in use.
    pub fn conduit(&self) -> PsciConduit {
        self.conduit
    }

    fn is_legacy(&self) -> bool {
        self.legacy_cpu_on.is_some()
    }

    /// PSCI_VERSION (0.2 and later).
    pub fn version(&self) -> Result<PsciVersion, PsciError> {
        if self.is_legacy() {
            return Err(PsciError::NotSupported);
        }
        let version = via!(self, version)?;
        Ok(PsciVersion {
            major: version.major,
            minor: version.minor,
        })
    }

    /// SYSTEM_OFF. Returns only if the firmware did not power off, with
    /// why.
    pub fn system_off(&self) -> PsciError {
        if self.is_legacy() {
            return PsciError::NotSupported;
        }
        match via!(self, system_off) {
            Err(error) => error.into(),
            Ok(()) => PsciError::Unknown,
        }
    }

    /// CPU_ON: starts the CPU whose MPIDR affinity is `target_mpidr` at
    /// physical address `entry_pa` (MMU off, SVC or HYP as the firmware
    /// enters), with `context_id` in r0.
    pub fn cpu_on(
        &self,
        target_mpidr: u32,
        entry_pa: u32,
        context_id: u32,
    ) -> Result<(), PsciError> {
        if let Some(function) = self.legacy_cpu_on {
            let args = [target_mpidr, entry_pa, context_id, 0, 0, 0, 0];
            let ret = match self.conduit {
                PsciConduit::Hvc => smccc::hvc32(function, args),
                PsciConduit::Smc => smccc::smc32(function, args),
            };
            return match ret[0] as i32 {
                0 => Ok(()),
                code => Err(psci::error::Error::from(code).into()),
            };
        }
        via!(self, cpu_on_32, target_mpidr, entry_pa, context_id).map_err(PsciError::from)
    }
}
