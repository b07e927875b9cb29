//! Whether this host can run the `virt` kernel under KVM, and if not, why.
//!
//! KVM for an AArch32 guest needs, in this order:
//! 1. an AArch64 host (`uname -m` = aarch64): KVM runs guests of the
//!    host's own architecture only. On x86_64 `qemu-system-aarch64
//!    -enable-kvm` answers "invalid accelerator kvm" even though
//!    `/dev/kvm` exists, so the device alone proves nothing;
//! 2. `/dev/kvm`, openable for reading and writing;
//! 3. cores that run AArch32 at EL1: KVM reports it as the capability
//!    `KVM_CAP_ARM_EL1_32BIT` (`KVM_CHECK_EXTENSION` on `/dev/kvm`), the
//!    same probe QEMU makes for `-cpu host,aarch64=off`. Many recent cores
//!    (Apple M1/M2, Neoverse V1/N2, Cortex-X2 and later) have none.

/// The exit status of `runner kvm` (and `./run.sh kvm`) when the host
/// cannot run KVM for this guest: EX_UNAVAILABLE from sysexits.h, distinct
/// from every guest status (0-3) and from usage errors (64).
pub const KVM_UNAVAILABLE: u8 = 69;

/// Why this host cannot run the guest under KVM, or `None` if it can.
pub fn unavailable() -> Option<String> {
    let arch = std::env::consts::ARCH;
    if arch != "aarch64" {
        return Some(format!(
            "kvm: this host is {arch}; KVM for an ARM guest needs an AArch64 host \
             (qemu-system-aarch64 -enable-kvm answers 'invalid accelerator kvm' here{})",
            if std::path::Path::new("/dev/kvm").exists() {
                ", although /dev/kvm exists: it is KVM for this host's architecture"
            } else {
                ""
            }
        ));
    }
    let dev = match std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm")
    {
        Ok(f) => f,
        Err(e) => {
            return Some(format!(
                "kvm: this AArch64 host's /dev/kvm cannot be opened for reading and writing ({e}): \
                 load the kvm module or add yourself to the kvm group"
            ))
        }
    };
    match probe::el1_aarch32(&dev) {
        Ok(true) => None,
        Ok(false) => Some(
            "kvm: this host's cores cannot run AArch32 at EL1 (KVM_CAP_ARM_EL1_32BIT is 0), \
             so KVM cannot run this 32-bit kernel; qemu-system-aarch64 would refuse \
             -cpu host,aarch64=off"
                .into(),
        ),
        Err(e) => Some(format!(
            "kvm: asking /dev/kvm about AArch32 EL1 failed: {e}"
        )),
    }
}

/// The `KVM_CHECK_EXTENSION` ioctl (Linux on AArch64 only).
#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
mod probe {
    use std::os::fd::AsRawFd;
    use std::os::raw::{c_int, c_ulong};

    /// `_IO(KVMIO, 0x03)`.
    const KVM_CHECK_EXTENSION: c_ulong = 0xae03;
    /// From `linux/kvm.h`.
    const KVM_CAP_ARM_EL1_32BIT: c_ulong = 79;

    extern "C" {
        fn ioctl(fd: c_int, request: c_ulong, ...) -> c_int;
    }

    /// Whether KVM on `dev` offers AArch32 at EL1.
    pub fn el1_aarch32(dev: &std::fs::File) -> Result<bool, String> {
        // SAFETY: KVM_CHECK_EXTENSION takes an integer argument and reads
        // or writes no memory of ours; `dev` keeps the descriptor open for
        // the call.
        let r = unsafe { ioctl(dev.as_raw_fd(), KVM_CHECK_EXTENSION, KVM_CAP_ARM_EL1_32BIT) };
        if r < 0 {
            Err(std::io::Error::last_os_error().to_string())
        } else {
            Ok(r > 0)
        }
    }
}

/// Elsewhere [`unavailable`] has already answered from the architecture.
#[cfg(not(all(target_os = "linux", target_arch = "aarch64")))]
mod probe {
    pub fn el1_aarch32(_dev: &std::fs::File) -> Result<bool, String> {
        Err("KVM_CHECK_EXTENSION is asked only on Linux/AArch64".into())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    #[cfg(not(target_arch = "aarch64"))]
    fn a_non_arm_host_is_refused_naming_its_architecture() {
        let why = super::unavailable().expect("KVM for ARM needs an AArch64 host");
        assert!(why.starts_with(&format!("kvm: this host is {}", std::env::consts::ARCH)));
        assert!(why.contains("invalid accelerator kvm"));
    }
}
