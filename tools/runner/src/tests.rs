//! The QEMU test suite. To add a test, add a `QemuTest` to `all()`: a name,
//! the board options and kernel command line, the console lines expected in
//! order, lines that must never appear, and the exit status.

use std::time::Duration;

use crate::harness::QemuTest;
use crate::qemu::QemuConfig;

/// Lines that mean the kernel broke when the test did not ask for it.
const UNEXPECTED_FAILURE: &[&str] = &[r"KERNEL FAULT", r"KERNEL PANIC", r"\bWARN\b"];

fn config(append: &[&str]) -> QemuConfig {
    QemuConfig {
        append: append.iter().map(|s| s.to_string()).collect(),
        ..QemuConfig::default()
    }
}

/// Every QEMU test, in the order they run.
pub fn all() -> Vec<QemuTest> {
    let t = Duration::from_secs(60);
    vec![
        QemuTest {
            name: "boot",
            about: "boot banner, memory map from the probe, 3 timer ticks, exit 0",
            config: config(&["ticks=3"]),
            expect: vec![
                r"microkernel .* booting: vexpress-a9, MIDR 0x410fc090, cpu 0",
                r"mmu: kernel table live \(TTBR1, TTBCR\.N=1\)",
                r"physical memory map:",
                r"ram +0x60000000-0x7fffffff +512 MiB +\(size from probe\)",
                r"kernel +0x60100000-",
                r"device +0x10009000-0x10009fff +uart0",
                r"gic: 96 interrupt lines; timer: 100 Hz tick on irq 29",
                r"tick 1$",
                r"tick 2$",
                r"tick 3$",
                r"boot complete: 3 ticks at 100 Hz",
            ],
            forbid: UNEXPECTED_FAILURE.to_vec(),
            exit_code: 0,
            timeout: t,
        },
        QemuTest {
            name: "boot-256m-probe",
            about: "the RAM probe finds a different -m size",
            config: QemuConfig {
                mem: "256M".into(),
                ..config(&["ticks=1"])
            },
            expect: vec![
                r"ram +0x60000000-0x6fffffff +256 MiB +\(size from probe\)",
                r"boot complete",
            ],
            forbid: UNEXPECTED_FAILURE.to_vec(),
            exit_code: 0,
            timeout: t,
        },
        QemuTest {
            name: "boot-mem-param",
            about: "mem= on the command line overrides the probe",
            config: config(&["mem=128M", "ticks=1"]),
            expect: vec![
                r"ram +0x60000000-0x67ffffff +128 MiB +\(size from mem= boot parameter\)",
                r"boot complete",
            ],
            forbid: UNEXPECTED_FAILURE.to_vec(),
            exit_code: 0,
            timeout: t,
        },
        QemuTest {
            name: "boot-smp4-parks-secondaries",
            about: "with -smp 4 every CPU starts at the entry; CPUs 1-3 stay parked",
            config: QemuConfig {
                smp: 4,
                ..config(&["ticks=3"])
            },
            expect: vec![r"booting: .* cpu 0$", r"tick 3$", r"boot complete"],
            forbid: [UNEXPECTED_FAILURE, &[r"cpu [123]$"]].concat(),
            exit_code: 0,
            timeout: t,
        },
        QemuTest {
            name: "boot-icount",
            about: "boots under -icount shift=0 (repeatable cost counting)",
            config: QemuConfig {
                icount: true,
                ..config(&["ticks=3"])
            },
            expect: vec![r"tick 3$", r"boot complete"],
            forbid: UNEXPECTED_FAILURE.to_vec(),
            exit_code: 0,
            timeout: t,
        },
        QemuTest {
            name: "fault-data-abort",
            about: "a kernel read of an unmapped address is reported with its address; exit 3",
            config: config(&["selftest=dabort"]),
            expect: vec![
                r"selftest: DataAbort",
                r"\*\*\* KERNEL FAULT: data abort in svc mode \*\*\*",
                r"pc +0x8[0-9a-f]{7} +cpsr 0x[0-9a-f]{8} \(.* svc\)",
                r"fault: translation fault \(section\) on read at address 0x00001234 \(DFSR 0x00000005, DFAR 0x00001234\)",
                r"r0 +0x",
                r"\*\*\* halting: exit status 3 \*\*\*",
            ],
            forbid: vec![r"did not happen", r"boot complete"],
            exit_code: 3,
            timeout: t,
        },
        QemuTest {
            name: "fault-undefined-instruction",
            about: "an undefined instruction is reported with its encoding; exit 3",
            config: config(&["selftest=undef"]),
            expect: vec![
                r"selftest: Undefined",
                r"\*\*\* KERNEL FAULT: undefined instruction in svc mode \*\*\*",
                r"pc +0x8[0-9a-f]{7}",
                r"instruction 0xe7f004f2",
                r"\*\*\* halting: exit status 3 \*\*\*",
            ],
            forbid: vec![r"returned", r"boot complete"],
            exit_code: 3,
            timeout: t,
        },
        QemuTest {
            name: "fault-prefetch-abort",
            about: "a jump to an unmapped address is reported with that address; exit 3",
            config: config(&["selftest=pabort"]),
            expect: vec![
                r"\*\*\* KERNEL FAULT: prefetch abort in svc mode \*\*\*",
                r"pc +0x00002000",
                r"fault: translation fault \(section\) fetching address 0x00002000",
                r"\*\*\* halting: exit status 3 \*\*\*",
            ],
            forbid: vec![r"returned", r"boot complete"],
            exit_code: 3,
            timeout: t,
        },
        QemuTest {
            name: "panic",
            about: "a kernel panic prints its message and exits 2",
            config: config(&["selftest=panic"]),
            expect: vec![r"\*\*\* KERNEL PANIC: .*selftest panic"],
            forbid: vec![r"boot complete"],
            exit_code: 2,
            timeout: t,
        },
        QemuTest {
            name: "bad-boot-parameters",
            about: "unknown and malformed boot parameters are reported, not fatal",
            config: config(&["colour=blue", "hz=0", "ticks=1"]),
            expect: vec![
                r#"WARN +ignoring unknown boot parameter "colour=blue""#,
                r#"WARN +ignoring bad boot parameter "hz=0""#,
                r"boot complete: 1 ticks at 100 Hz",
            ],
            forbid: vec![r"KERNEL FAULT", r"KERNEL PANIC"],
            exit_code: 0,
            timeout: t,
        },
    ]
}
