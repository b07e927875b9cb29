//! The boot command line.
//!
//! On `virt` it is the device tree's `/chosen/bootargs` (QEMU's `-append`).
//! On vexpress-a9 QEMU gives an ELF kernel no device tree, but with
//! semihosting on, `SYS_GET_CMDLINE` returns the image path followed by the
//! `-append` string. The runner uses that channel for test
//! selection and tuning: `key=value` words separated by spaces. Unknown
//! words are reported and ignored, malformed values are errors the kernel
//! prints; nothing here can fail hard.

/// A self-test the kernel runs instead of the normal boot path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SelfTest {
    /// Read from an unmapped kernel address: a data abort.
    DataAbort,
    /// Execute an undefined instruction.
    Undefined,
    /// Jump to an unmapped address: a prefetch abort.
    PrefetchAbort,
    /// Call `panic!`.
    Panic,
}

/// Parsed boot parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BootArgs<'a> {
    /// `mem=<size>[K|M|G]`: RAM size, overriding the probe.
    pub mem_bytes: Option<u32>,
    /// `selftest=dabort|undef|pabort|panic`.
    pub selftest: Option<SelfTest>,
    /// `ticks=N`: timer ticks to run before the demo shuts down.
    pub ticks: u32,
    /// `hz=N`: timer tick rate.
    pub tick_hz: u32,
    /// `system=NAME`: the boot-manifest system to start.
    pub system: Option<&'a str>,
    /// `semihosting=on|off`: whether QEMU listens for semihosting calls
    /// (`off`: the kernel ends the run by powering the board off).
    pub semihosting: bool,
}

impl Default for BootArgs<'_> {
    fn default() -> Self {
        Self {
            mem_bytes: None,
            selftest: None,
            ticks: 5,
            tick_hz: 100,
            system: None,
            semihosting: true,
        }
    }
}

/// One word that could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArgProblem<'a> {
    /// `key=value` with a key this kernel does not know.
    UnknownKey(&'a str),
    /// A known key with a value that does not parse or is out of range.
    BadValue(&'a str),
}

/// Parses a size with an optional K/M/G suffix.
pub fn parse_size(s: &str) -> Option<u32> {
    let (digits, shift) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 10),
        b'm' | b'M' => (&s[..s.len() - 1], 20),
        b'g' | b'G' => (&s[..s.len() - 1], 30),
        _ => (s, 0),
    };
    let n = parse_u32(digits)?;
    n.checked_mul(1u32.checked_shl(shift)?)
}

/// Parses a decimal or `0x` hexadecimal u32.
pub fn parse_u32(s: &str) -> Option<u32> {
    if let Some(hex) = s.strip_prefix("0x") {
        u32::from_str_radix(hex, 16).ok()
    } else {
        s.parse().ok()
    }
}

impl<'a> BootArgs<'a> {
    /// Parses `line`, calling `problem` for every word it cannot use. The
    /// first word is skipped if it does not contain `=` (QEMU puts the image
    /// path there).
    pub fn parse(line: &'a str, mut problem: impl FnMut(ArgProblem<'a>)) -> Self {
        let mut args = Self::default();
        for word in line.split_ascii_whitespace() {
            let Some((key, value)) = word.split_once('=') else {
                continue; // the image path, or a bare flag: nothing to set
            };
            let ok = match key {
                "mem" => parse_size(value)
                    .filter(|&m| m >= 16 << 20)
                    .map(|m| args.mem_bytes = Some(m))
                    .is_some(),
                "selftest" => {
                    let t = match value {
                        "dabort" => Some(SelfTest::DataAbort),
                        "undef" => Some(SelfTest::Undefined),
                        "pabort" => Some(SelfTest::PrefetchAbort),
                        "panic" => Some(SelfTest::Panic),
                        _ => None,
                    };
                    t.map(|t| args.selftest = Some(t)).is_some()
                }
                "system" => (!value.is_empty())
                    .then(|| args.system = Some(value))
                    .is_some(),
                "ticks" => parse_u32(value).map(|n| args.ticks = n).is_some(),
                "semihosting" => match value {
                    "on" => {
                        args.semihosting = true;
                        true
                    }
                    "off" => {
                        args.semihosting = false;
                        true
                    }
                    _ => false,
                },
                "hz" => parse_u32(value)
                    .filter(|&h| (1..=10_000).contains(&h))
                    .map(|h| args.tick_hz = h)
                    .is_some(),
                _ => {
                    problem(ArgProblem::UnknownKey(word));
                    continue;
                }
            };
            if !ok {
                problem(ArgProblem::BadValue(word));
            }
        }
        args
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate alloc;
    use alloc::vec::Vec;

    #[test]
    fn parses_qemu_style_line() {
        let mut problems = Vec::new();
        let a = BootArgs::parse(
            "target/kernel mem=512M selftest=dabort ticks=3 hz=250 colour=blue mem=x system=ipc-test semihosting=off semihosting=maybe",
            |p| problems.push(p),
        );
        assert_eq!(a.mem_bytes, Some(512 << 20));
        assert_eq!(a.selftest, Some(SelfTest::DataAbort));
        assert_eq!(a.ticks, 3);
        assert_eq!(a.tick_hz, 250);
        assert_eq!(a.system, Some("ipc-test"));
        assert!(!a.semihosting);
        assert_eq!(
            problems,
            [
                ArgProblem::UnknownKey("colour=blue"),
                ArgProblem::BadValue("mem=x"),
                ArgProblem::BadValue("semihosting=maybe")
            ]
        );
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1G"), Some(1 << 30));
        assert_eq!(parse_size("4G"), None, "overflow");
        assert_eq!(parse_size("0x1000"), Some(0x1000));
        assert_eq!(parse_size(""), None);
        assert_eq!(parse_size("K"), None);
    }

    #[test]
    fn defaults_and_garbage() {
        let a = BootArgs::parse("", |_| panic!("no problems expected"));
        assert_eq!(a, BootArgs::default());
        let mut n = 0;
        let a = BootArgs::parse("== =x hz=0 hz=99999 selftest= system=", |_| n += 1);
        assert_eq!(a.tick_hz, 100);
        assert_eq!(a.system, None);
        assert_eq!(n, 6);
    }
}
