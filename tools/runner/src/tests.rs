//! The QEMU test suite. To add a test, add a `QemuTest` to `all()`: a name,
//! the board options and kernel command line, the console lines expected in
//! order, lines that must never appear, and the exit status.

use std::time::Duration;

use crate::harness::{Boards, QemuTest};

use crate::qemu::{Board, Platform, QemuConfig};

/// Lines that mean the kernel broke when the test did not ask for it.
const UNEXPECTED_FAILURE: &[&str] = &[r"KERNEL FAULT", r"KERNEL PANIC", r"\bWARN\b"];

/// Lines that mean a task or the kernel broke in a system run (a task's
/// `error!`/`warn!` lines, a kernel fault or panic).
const TASK_FAILURE: &[&str] = &[r"KERNEL FAULT", r"KERNEL PANIC", r"\] (ERROR|WARN): "];

fn system(name: &str) -> QemuConfig {
    config(&[&format!("system={name}")])
}

fn system_test(
    name: &'static str,
    about: &'static str,
    sys: &str,
    expect_unordered: Vec<&'static str>,
) -> QemuTest {
    QemuTest {
        name,
        about,
        boards: Boards::All,
        config: system(sys),
        expect: vec![
            r"supervisor: all 8 reports as expected",
            r"system: root task supervisor ended \(exit 0\), shutting down",
        ],
        expect_unordered,
        forbid: TASK_FAILURE.to_vec(),
        exit_code: 0,
        timeout: Duration::from_secs(60),
    }
}

fn config(append: &[&str]) -> QemuConfig {
    QemuConfig {
        append: append.iter().map(|s| s.to_string()).collect(),
        ..QemuConfig::default()
    }
}

/// What the expected lines say differently per board and configuration:
/// addresses, interrupt numbers, counter frequency, what the kernel finds
/// at boot.
#[derive(Clone, Copy, Debug)]
pub struct Facts {
    /// The board.
    pub board: Board,
    /// The GIC version the configuration asks for (`virt`), if any.
    pub gic: Option<u8>,
    /// Whether QEMU gives semihosting.
    pub semihosting: bool,
    /// First byte of RAM.
    pub ram_base: u32,
    /// Physical address of the PL031 RTC (the device every memtools client
    /// is granted).
    pub rtc: u32,
    /// Physical address of virtio-mmio transport 0 (transports are 0x200
    /// apart).
    pub virtio0: u32,
    /// GIC interrupt of virtio-mmio transport 0.
    pub virtio0_irq: u32,
    /// The counter `read_counter` reports, in Hz.
    pub counter_hz: u32,
}

impl Facts {
    /// The facts of a configuration.
    pub fn of(p: &Platform) -> Facts {
        match p.board {
            Board::VexpressA9 => Facts {
                board: p.board,
                gic: p.gic,
                semihosting: p.semihosting,
                ram_base: 0x6000_0000,
                rtc: 0x1001_7000,
                virtio0: 0x1001_3000,
                virtio0_irq: 72,
                counter_hz: 100_000_000,
            },
            Board::Virt => Facts {
                board: p.board,
                gic: p.gic,
                semihosting: p.semihosting,
                ram_base: 0x4000_0000,
                rtc: 0x0901_0000,
                virtio0: 0x0a00_0000,
                virtio0_irq: 48,
                counter_hz: 62_500_000,
            },
        }
    }

    /// The regex of the RAM line for `mib` MiB found `how`.
    fn ram_line(&self, mib: u32, how: &str) -> &'static str {
        leak(format!(
            r"ram +{:#010x}-{:#010x} +{mib} MiB +\({how}\)",
            self.ram_base,
            self.ram_base + mib * 0x10_0000 - 1
        ))
    }

    /// How the kernel learns the RAM size without `mem=`.
    fn ram_source(&self) -> &'static str {
        match self.board {
            Board::VexpressA9 => "size from probe",
            Board::Virt => "size from device tree",
        }
    }

    /// The last RAM address with 512 MiB (the default `-m`), as in the
    /// memory server's pool line.
    fn ram_end_512(&self) -> String {
        format!("{:#010x}", self.ram_base + 0x2000_0000 - 1)
    }
}

/// Every QEMU test, in the order they run, with the expected lines of
/// configuration `platform` where they differ.
pub fn all(platform: &Platform) -> Vec<QemuTest> {
    let f = Facts::of(platform);
    let t = Duration::from_secs(60);
    let mut tests = boot_tests(t, &f);
    tests.extend(task_tests(t, &f));
    tests.extend(memserver_tests(t, &f));
    tests.extend(crate::blk_tests::tests(t, &f));
    tests.extend(isolation_tests(t, &f));
    tests.extend(observability_tests(t));
    tests
}

/// Issue 17: leak reports at exit, named by the console symbolizer.
fn observability_tests(t: Duration) -> Vec<QemuTest> {
    let report = [
        r"\[memserver\] memserver: leak report: client 2 exited holding 3 areas, 16384 bytes:$",
        r"\[memserver\] memserver: +1 areas, 8192 bytes, caller memtools::checks::leaker\+0x[0-9a-f]+/0x[0-9a-f]+ \[memtools\]( \(inlined \S+\))? owner=2$",
        r"\[memserver\] memserver: +2 areas, 8192 bytes, caller memtools::checks::keep_page\+0x[0-9a-f]+/0x[0-9a-f]+ \[memtools\]( \(inlined \S+\))? owner=2$",
    ];
    vec![
        QemuTest {
            name: "leak-report",
            about: "a client exits holding 3 areas: the server's leak report groups them by caller, each named by the console symbolizer",
            boards: Boards::All,
            config: system("leak"),
            expect: [&report[..], &[r"system: root task memserver ended \(exit 0\)"]].concat(),
            expect_unordered: vec![],
            forbid: TASK_FAILURE.to_vec(),
            exit_code: 0,
            timeout: t,
        },
        QemuTest {
            name: "leak-report-strict",
            about: "the same client marked strict: its leftover areas fail the run (exit status 1)",
            boards: Boards::All,
            config: system("leak-strict"),
            expect: [
                &report[..],
                &[
                    r"memserver: client 2 is strict: areas left at exit fail the run",
                    r"system: exit status 1$",
                ],
            ]
            .concat(),
            expect_unordered: vec![],
            forbid: vec![r"KERNEL PANIC"],
            exit_code: 1,
            timeout: t,
        },
    ]
}

/// A pattern built at run time, kept for the life of the runner (the test
/// tables hold `&'static str`; the suite is built once per process).
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// The stress suite's cases (`userland/memtools/src/stress.rs`) and whether
/// each is an expected failure, as in Linux's `test_vmalloc`.
const STRESS_CASES: &[(&str, bool)] = &[
    ("fix_size_alloc_test", false),
    ("full_fit_alloc_test", false),
    ("long_busy_list_alloc_test", false),
    ("random_size_alloc_test", false),
    ("fix_align_alloc_test", false),
    ("random_size_align_alloc_test", false),
    ("align_shift_alloc_test", true),
    ("pcpu_alloc_test", false),
    ("vmap_frames_test", false),
];

/// Every stress case passes (or fails as expected) in each of the three
/// stress tasks.
fn stress_summaries() -> Vec<&'static str> {
    let mut v = Vec::new();
    for task in ["stress1", "stress2", "stress3"] {
        for (case, xfail) in STRESS_CASES {
            let (p, x) = if *xfail { (0, 1) } else { (1, 0) };
            v.push(leak(format!(
                r"^\[ *[0-9.]+\] INFO  \[{task}\] Summary: {case} passed: {p} failed: 0 xfailed: {x} loops: \d+ avg: \d+ ticks$"
            )));
        }
        v.push(leak(format!(
            r"\[{task}\] stress: all 9 test cases passed, \d+ pages written and verified \(seed \d\)$"
        )));
        v.push(leak(format!(
            r"\[{task}\] stress: align_shift: [45] alignments of 128 MiB or more refused \(expected\)"
        )));
    }
    v
}

/// Every bad request of the `evil` client and the exact error it must get
/// (`userland/memtools/src/evil.rs`).
const EVIL_REFUSALS: &[&str] = &[
    "vfree(area + 0x10) (unaligned) -> UnalignedAddress",
    "vfree(area + 1 page) (inside, not the start) -> NotFound",
    "vfree(0x4e000000) (unknown) -> NotFound",
    "vfree(0x00001000) (below the window) -> NotFound",
    "vfree twice (double free) -> NotFound",
    "vfree(foreign area) -> NotOwner",
    "iounmap(foreign area) -> NotOwner",
    "virt_to_phys(foreign area) -> NotOwner",
    "vmap(dma = foreign area) -> NotOwner",
    "vmalloc(0) -> InvalidSize",
    "vmalloc(0xfffff001) (overflows when rounded) -> InvalidSize",
    "vmalloc(1 GiB) (more than RAM) -> TooLarge",
    "vmalloc(align 0) -> BadAlignment",
    "vmalloc(align 3 pages) (not a power of two) -> BadAlignment",
    "vmalloc(align 2 GiB) (larger than the window) -> BadAlignment",
    "vmalloc(65 pages) (quota 64) -> QuotaExceeded",
    "vmalloc(1 page) past the quota -> QuotaExceeded",
    "dma_alloc(0) -> InvalidSize",
    "dma_alloc(1M pages) -> TooLarge",
    "ioremap(RAM: a frame of its own vmalloc area) -> PermissionDenied",
    "ioremap(kernel: the frame of its IPC buffer) -> PermissionDenied",
    "ioremap(console) (not granted) -> PermissionDenied",
    "ioremap(rtc, 2 pages) (grant is 1 page) -> PermissionDenied",
    "ioremap(rtc, size 0) -> InvalidSize",
    "ioremap(0xfffff000, 8 KiB) (past 4 GiB) -> InvalidSize",
    "ioremap(rtc, NormalCached) (a device is never cached) -> PermissionDenied",
    "vfree(ioremap area) -> WrongAreaKind",
    "iounmap(vmalloc area) -> WrongAreaKind",
    "dma_free(vmalloc area) -> WrongAreaKind",
    "vmap(dma = vmalloc area) -> WrongAreaKind",
    "vmap(kernel frame: its IPC buffer's) -> NotOwner",
    "vmap(device frame: the granted rtc) (ioremap it instead) -> NotOwner",
    "vmap(0 runs) -> InvalidSize",
    "vmap(run of 0 frames) -> InvalidSize",
    "vmap(run of 4G-1 frames) -> TooLarge",
    "vmap(own frame + the 4095 after it) -> NotOwner",
    "virt_to_phys(guard page) -> NotFound",
    "empty message -> Malformed",
    "header cut to 6 bytes -> Malformed",
    "truncated payload (len says 9, 5 sent) -> Malformed",
    "truncated payload (len 5) -> Malformed",
    "garbage payload (0xff x 12) -> Malformed",
    "unknown vmalloc flag bits -> Malformed",
    "trailing byte after a ping -> Malformed",
    "protocol version 2 -> UnsupportedVersion",
    "protocol version 0 -> UnsupportedVersion",
    "unknown opcode 99 -> UnknownOpcode",
    "a reply opcode as a request -> UnknownOpcode",
    "the error opcode as a request -> UnknownOpcode",
    "4096-byte message, 4083 trailing bytes -> Malformed",
];

/// A vmallocinfo caller column of the demo's ioremap: `0x00000000` (none
/// recorded) or a return address the console symbolizer named.
const CALLER: &str =
    r"(0x00000000|\S+\+0x[0-9a-f]+/0x[0-9a-f]+ \[memtools\]( \(inlined memtools::\S+\))?)";

/// Lines no hostile-client run may print: a kernel fault or panic, a
/// task's `error!` (a wrong error code, a damaged area, a write into the
/// guard page that did not fault), a server leak.
const EVIL_FAILURE: &[&str] = &[
    r"KERNEL FAULT",
    r"KERNEL PANIC",
    r"\] ERROR: ",
    r"panic:",
    r"LEAK",
];

fn evil_refusals() -> Vec<&'static str> {
    let mut v: Vec<&'static str> = EVIL_REFUSALS
        .iter()
        .map(|r| leak(format!(r"\[evil\] evil: {} ok$", regex::escape(r))))
        .collect();
    v.push(r"\[innocent\] innocent: holding 0x[0-9a-f]{8}-0x[0-9a-f]{8} for evil to try");
    v.push(r"\[evil\] evil: found the innocent client's area at 0x[0-9a-f]{8}");
    v.push(r"\[evil\] evil: quota full after \d+ more 1-page areas");
    v.push(r"\[innocent\] innocent: area intact after evil's attempts; freed");
    v.push(r"\[evil\] evil: info lists only its own areas \(\d+\) ok$");
    v.push(r"\[evil\] evil: ioremap\(rtc, NormalUncached\) maps Normal uncached ok$");
    v
}

/// Tests of the memory server under load and under attack (systems
/// `stress`, `evil`, `evil-oom` and `bench`: `kernel/src/manifest.rs`,
/// `userland/memtools`).
fn memserver_tests(t: Duration, f: &Facts) -> Vec<QemuTest> {
    vec![
    QemuTest {
        name: "memserver-stress",
        about: "three clients run Linux's test_vmalloc cases at once; every page verified; nothing leaked",
        boards: Boards::All,
        config: system("stress"),
        expect: vec![
            r"\[memserver\] memserver: pool .* 3 clients, 0 device grants",
            r"\[memserver\] memserver: client \d exited \(code 0\)",
            r"\[memserver\] memserver: client \d exited \(code 0\)",
            r"\[memserver\] memserver: client \d exited \(code 0\)",
            r"\[memserver\] memserver: all clients gone; buddy free frames (\d+) == boot value \d+: nothing leaked",
            r"system: root task memserver ended \(exit 0\)",
        ],
        expect_unordered: stress_summaries(),
        forbid: [TASK_FAILURE, &[r"\bfailed: [1-9]", r"MISMATCH", r"panic"]].concat(),
        exit_code: 0,
        timeout: t,
    },
    QemuTest {
        name: "memserver-evil",
        about: "a hostile client: every bad request gets its exact error, the server stays alive, a guard-page overrun is reported and the client killed; nothing leaked",
        boards: Boards::All,
        config: system("evil"),
        expect: vec![
            r"\[memserver\] memserver: pool .* 2 clients, 1 device grants",
            leak(format!(
                r"\[evil\] evil: all {} bad requests refused with their exact errors; server alive \(ping answered\)$",
                EVIL_REFUSALS.len()
            )),
            r"\[evil\] evil: writing past the end of 0x[0-9a-f]{8}-0x[0-9a-f]{8} into its guard page",
            // The console symbolizer names the code that overran, with
            // the function it was inlined from (console.rs).
            r"WARN +task evil \(id 2\) faulted: DataAbort at 0x[0-9a-f]{8}, pc task_main\+0x[0-9a-f]+/0x[0-9a-f]+ \[memtools\] \(inlined memtools::evil::run\), status 0x[0-9a-f]+$",
            r"\[memserver\] WARN: memserver: client 2 faulted at 0x[0-9a-f]{8}: overran area 0x[0-9a-f]{8}-0x[0-9a-f]{8} \(8192 bytes, caller 0x0badc0de\)$",
            r"\[memserver\] memserver: client 2 reclaimed: client 2: reclaimed \d+ areas, \d+ pages unmapped, \d+ frames released",
            r"\[memserver\] memserver: all clients gone; buddy free frames (\d+) == boot value \d+: nothing leaked",
            r"system: root task memserver ended \(exit 0\)",
        ],
        expect_unordered: evil_refusals(),
        forbid: EVIL_FAILURE.to_vec(),
        exit_code: 0,
        timeout: t,
    },
    QemuTest {
        name: "memserver-exhaustion",
        about: "with 128 MiB of RAM: a full window gets NoVirtualSpace, an empty pool OutOfMemory; zero frames leaked",
        boards: Boards::All,
        config: QemuConfig {
            mem: "128M".into(),
            ..system("evil-oom")
        },
        expect: vec![
            leak(format!(
                r"\[memserver\] memserver: pool 0x[0-9a-f]{{8}}-{:#010x}",
                f.ram_base + 0x800_0000 - 1
            )),
            r"\[exhaust\] exhaust: window full after \d+ aliases of 4 MiB: vmap -> Server\(NoVirtualSpace\)$",
            r"\[exhaust\] exhaust: vmalloc\(8 MiB\) on a full window -> Err\(Server\(NoVirtualSpace\)\); free frames (\d+) -> (\d+)$",
            r"\[exhaust\] exhaust: RAM full after \d+ areas of 1 MiB \(\d+ frames left\): vmalloc -> Server\(OutOfMemory\)$",
            r"\[exhaust\] exhaust: RAM full after \d+ areas of 1 MiB \(\d+ frames left\): vmalloc -> Server\(OutOfMemory\)$",
            r"\[exhaust\] exhaust: second round \d+ areas / \d+ frames left == first round \d+ / \d+: zero frames leaked",
            r"\[exhaust\] exhaust: NoVirtualSpace and OutOfMemory as expected; zero frames leaked",
            r"\[memserver\] memserver: client 2 exited \(code 0\)",
            r"\[memserver\] memserver: all clients gone; buddy free frames (\d+) == boot value \d+: nothing leaked",
            r"system: root task memserver ended \(exit 0\)",
        ],
        expect_unordered: vec![],
        forbid: TASK_FAILURE.to_vec(),
        exit_code: 0,
        timeout: t,
    },
    QemuTest {
        name: "memserver-bench-icount",
        about: "client vmalloc/vfree/ioremap cost table beside Linux 6.1 under -icount (figures printed, not asserted)",
        boards: Boards::All,
        config: QemuConfig {
            icount: true,
            ..system("bench")
        },
        expect: vec![
            leak(format!(
                r"\[bench\] bench: client-side cost in guest instructions per operation \(counter at {} Hz: 1 tick = {:.2} instructions under -icount shift=0\)$",
                f.counter_hz,
                1e9 / f64::from(f.counter_hz)
            )),
            leak(format!(
                r"\[bench\] bench: the ioremap row maps the granted rtc at {:#010x}$",
                f.rtc
            )),
            r"\[bench\] \| operation +\| loops \| +ours \| Linux 6.1 \| ours/Linux \| goal +\|$",
            r"\[bench\] \| ping \(request round trip, no work\) +\| +\d+ \| +\d+ \| +- \| +- \| - +\|$",
            r"\[bench\] \| vmalloc\+vfree, 1 page +\| +\d+ \| +\d+ \| +4050 \| +\d+\.\d\dx \| <= 0\.75x (MET|NOT MET) +\|$",
            r"\[bench\] \| vmalloc\+vfree, 4 pages +\| .* \| +6979 \| +\d+\.\d\dx \| - +\|$",
            r"\[bench\] \| vmalloc\+vfree, 16 pages +\| .* \| +19150 \| +\d+\.\d\dx \| <= 0\.40x (MET|NOT MET) +\|$",
            r"\[bench\] \| vmalloc\+vfree, 64 pages +\| .* \| +67843 \| +\d+\.\d\dx \| <= 0\.30x (MET|NOT MET) +\|$",
            r"\[bench\] \| vmalloc\+vfree, random 1-100 pages +\| .* \| +53880 \| ",
            r"\[bench\] \| vmalloc\+vfree, 1 page, 5,000 live +\| .* \| +4485 \| ",
            r"\[bench\] \| vmalloc\+vfree, 1 page, into holes \(8,192 live\) +\| .* \| +4830 \| ",
            r"\[bench\] \| vmalloc\+vfree, 1 page, 16-page alignment +\| .* \| +6361 \| ",
            r"\[bench\] \| ioremap\+iounmap, 1 page +\| .* \| +2476 \| ",
            r"\[bench\] bench: [0-3] of 3 goals met$",
            r"\[memserver\] memserver: all clients gone; buddy free frames (\d+) == boot value \d+: nothing leaked",
            r"system: root task memserver ended \(exit 0\)",
        ],
        expect_unordered: vec![],
        forbid: TASK_FAILURE.to_vec(),
        exit_code: 0,
        timeout: t,
    }]
}

/// Tests of user tasks, IPC, capabilities and the memory calls (system
/// `ipc-test`: see `kernel/src/manifest.rs` and `userland/ktest`).
fn task_tests(t: Duration, f: &Facts) -> Vec<QemuTest> {
    let rtc = format!("{:#010x}", f.rtc);
    vec![
        system_test(
            "ipc-ping-pong-badge",
            "100 call/reply_recv round trips with payload and the sender's badge checked",
            "ipc-test",
            vec![
                r"\[pong\] pong: first message from badge 0x77, label 1$",
                r"\[ping\] ping: 100 round trips with payload checked$",
                r"supervisor: report from task 3 \(badge 3\): Some\(Exit\) .* exit code 0$",
            ],
        ),
        system_test(
            "capability-errors",
            "calls with missing, wrong or insufficient capabilities get the documented errors",
            "ipc-test",
            vec![
                r"capcheck: call on empty slot 9 -> InvalidCapability \(3\) ok",
                r"capcheck: recv on slot 99 \(outside the table\) -> InvalidCapability \(3\) ok",
                r"capcheck: call on a Pool capability -> WrongCapabilityType \(4\) ok",
                r"capcheck: call on a receive-only endpoint -> MissingRights \(5\) ok",
                r"capcheck: syscall number 99 -> BadSyscall \(1\) ok \(r1-r3 zeroed\)",
                r"capcheck: log from a kernel address -> BadUserBuffer \(10\) ok",
                r"capcheck: all refusals as documented",
            ],
        ),
        system_test(
            "overlong-message-refused",
            "a message longer than the IPC buffer, or with reserved tag bits or a kernel label, is refused",
            "ipc-test",
            vec![
                r"capcheck: send of 4097 bytes -> MessageTooLong \(11\) ok",
                r"capcheck: send with reserved tag bits -> InvalidArgument \(2\) ok",
                r"capcheck: call with the kernel's fault label -> ReservedLabel \(12\) ok",
            ],
        ),
        system_test(
            "map-refusals",
            "map outside the window, of frames outside the Pool, with wrong attributes or over a mapping is refused",
            "ipc-test",
            vec![
                r"mapcheck: map below the window -> Err\(OutOfWindow\) ok",
                r"mapcheck: map across the window end -> Err\(OutOfWindow\) ok",
                r"mapcheck: map a frame past the pool -> Err\(FrameNotCovered\) ok",
                r"mapcheck: map a frame before the pool -> Err\(FrameNotCovered\) ok",
                r"mapcheck: map pool RAM as device memory -> Err\(AttributesNotAllowed\) ok",
                r"mapcheck: map over a mapped page -> Err\(AlreadyMapped\) ok",
                r"mapcheck: the refused map left the next page free -> Ok\(1\) ok",
            ],
        ),
        system_test(
            "map-unmap-flush",
            "a batched map of two runs is usable memory; unmap and flush work; device frames map as device memory",
            "ipc-test",
            vec![
                r"mapcheck: map 2 runs / 4 pages -> Ok\(4\) ok",
                r"mapcheck: unmap 5 pages -> Ok\(5\) ok",
                r"mapcheck: flush the whole ASID -> Ok\(0\) ok",
                r"mapcheck: rtc identity through the window = 0x00141031",
                r"mapcheck: all map checks passed",
            ],
        ),
        system_test(
            "fault-reported-to-supervisor",
            "a task touching an unmapped address is stopped and reported with that address; the rest carries on",
            "ipc-test",
            vec![
                r"WARN +task faulter \(id 6\) faulted: DataAbort at 0x48000000, pc 0x000[0-9a-f]{5}, status 0x5$",
                r"supervisor: report from task 6 \(badge 6\): Some\(DataAbort\) address 0x48000000 pc 0x000[0-9a-f]{5} status 0x5",
                r"\[ticker\] ticker: round 3",
            ],
        ),
        system_test(
            "mapping-attributes",
            "memory types per frame kind (ioremap_wc, uncached RAM, type 3 refused); mapping_info reports attributes, page and descriptor",
            "ipc-test",
            vec![
                r"mapcheck: map pool RAM with memory type 3 -> Err\(AttributesNotAllowed\) ok",
                r"mapcheck: map device frames with memory type 3 -> Err\(AttributesNotAllowed\) ok",
                r"mapcheck: map device frames as normal cached memory -> Err\(AttributesNotAllowed\) ok",
                r"mapcheck: mapping_info\(the third page\) = NormalCached rw, pa 0x[0-9a-f]{8}, descriptor 0x[0-9a-f]{8} ok",
                r"mapcheck: mapping_info\(an unmapped page\) -> NotMapped \(15\) ok",
                leak(format!(
                    r"mapcheck: mapping_info\(the rtc page\) = Device ro, pa {rtc}, descriptor {}[0-9a-f]{{3}} ok",
                    &rtc[..7]
                )),
                r"mapcheck: map device frames as normal uncached \(ioremap_wc\) -> Ok\(1\) ok",
                leak(format!(
                    r"mapcheck: mapping_info\(the write-combined rtc page\) = NormalUncached ro, pa {rtc}, descriptor {}[0-9a-f]{{3}} ok",
                    &rtc[..7]
                )),
                r"mapcheck: mapping_info\(the uncached RAM page\) = NormalUncached rw, pa 0x[0-9a-f]{8}, descriptor 0x[0-9a-f]{8} ok",
                r"mapcheck: mapping_info\(own stack\) = normal cached rw ok",
                r"mapcheck: mapping_info\(own code\) = normal cached ro ok",
                r"mapcheck: mapping_info\(a kernel address\) -> OutOfWindow \(7\) ok",
                r"mapcheck: cap_info part 1 of a plain VSpace = window 0, no flags ok",
                r"capcheck: cap_info part 1 of an endpoint -> InvalidArgument \(2\) ok",
                r"capcheck: cap_info part 2 -> InvalidArgument \(2\) ok",
                r"\[capcheck\] capcheck: 4096-byte line x{4050} end of the long line$",
                r"capcheck: log of 4096 bytes \(one whole IPC buffer\) -> Ok ok",
            ],
        ),
        system_test(
            "kernel-memory-quota",
            "a task over its page-table quota gets KernelQuotaExceeded with nothing mapped; emptied tables come back at the flush or the next map",
            "ipc-test",
            vec![
                r"kernel pool: \d+ KiB used, \d+ KiB reserved for page tables",
                r"kmemcheck: cap_info part 1 = window 300 pages, OBSERVER ok",
                r"kmemcheck: map in a fifth MiB -> Err\(KernelQuotaExceeded\) ok",
                r"kmemcheck: map 2 pages across MiBs 3 and 4 -> Err\(KernelQuotaExceeded\) ok",
                r"kmemcheck: nothing of the refused maps is mapped -> Ok\(0\) ok",
                r"kmemcheck: map in the fifth MiB after the flush -> Ok\(1\) ok",
                r"kmemcheck: map in a sixth MiB without a flush -> Ok\(1\) ok",
                r"kmemcheck: the page mapped before the flush is still mapped -> Ok\(1\) ok",
                r"kmemcheck: map in a seventh MiB \(tables of MiBs 2-5 held\) -> Err\(KernelQuotaExceeded\) ok",
                r"kmemcheck: all kernel-memory checks passed",
            ],
        ),
        system_test(
            "stack-size-and-overflow",
            "a 1 MiB stack from the manifest is usable; running off a stack is reported as a stack overflow (expected)",
            "ipc-test",
            vec![
                r"task 10 stackhog: image ktest, .*stack 1024 KiB",
                r"\[stackhog\] stackhog: recursed through (8\d\d|9\d\d|10[01]\d) KiB of its 1024 KiB stack",
                r"WARN +stack overflow in task overflow \(fault at 0x3fe[0-9a-f]{5}, stack 0x3feef000-0x3feff000\)",
                r"task overflow failed as expected: stack overflow at 0x3fe[0-9a-f]{5}",
                r"supervisor: report from task 11 \(badge 11\): Some\(StackOverflow\) address 0x3fe[0-9a-f]{5}",
            ],
        ),
        QemuTest {
            name: "unexpected-failure-fails-run",
            about: "a task exiting non-zero fails the run (exit 1) though the root exits 0; an expected fault does not count",
            boards: Boards::All,
            config: system("fail-test"),
            expect: vec![
                r"system: root task ticker ended \(exit 0\), shutting down",
                r"WARN +run failed: 1 task\(s\) failed unexpectedly",
            ],
            expect_unordered: vec![
                r"WARN +task failer failed: exit code 3$",
                r"task faulter failed as expected: data abort at 0x48000000",
            ],
            forbid: vec![r"KERNEL FAULT", r"KERNEL PANIC"],
            exit_code: 1,
            timeout: t,
        },
        system_test(
            "spinning-task-preempted",
            "a task that never yields is preempted by the tick: a same-priority task started after it runs",
            "ipc-test",
            vec![
                r"\[spinner\] spinner: spinning forever without yielding",
                r"\[ticker\] ticker: round 1 \(running beside the spinner\)",
                r"\[ticker\] ticker: round 3 \(running beside the spinner\)",
            ],
        ),
        QemuTest {
            name: "irq-capability",
            about: "a task binds the SP804's interrupt, waits for it, clears the device and acknowledges, three times (vexpress-a9 only: virt has no SP804 or other spare timer device)",
            boards: Boards::Only(Board::VexpressA9),
            config: system("irq-test"),
            expect: vec![
                r"\[irqtest\] irqtest: SP804 at 0x10011000, irq 34 \(from its capabilities\)",
                r"irqtest: irq_wait before irq_bind -> IrqNotBound ok",
                r"irqtest: timer interrupt 1 received and acknowledged",
                r"irqtest: timer interrupt 3 received and acknowledged",
                r"system: root task irqtest ended \(exit 0\)",
                r"^system: exit status 0$",
            ],
            expect_unordered: vec![],
            forbid: TASK_FAILURE.to_vec(),
            exit_code: 0,
            timeout: t,
        },
        QemuTest {
            name: "memserver-demo",
            about: "the default system: vmalloc, vzalloc, a vmalloc-grown heap and ioremap over IPC; nothing leaked",
            boards: Boards::All,
            config: system("demo"),
            expect: vec![
                leak(format!(
                    r"\[memserver\] memserver: pool 0x[0-9a-f]{{8}}-{} \(\d+ MiB, 8192 KiB heap\), \d+ frames for vmalloc, 2 clients, 1 device grants",
                    f.ram_end_512()
                )),
                leak(format!(
                    r"\[memserver\] memserver: RAM {:#010x}-{} \(from the Pool capability\): never ioremapped",
                    f.ram_base,
                    f.ram_end_512()
                )),
                r"\[demo\] demo: memory server answers",
                r"\[demo\] demo: vmalloc\(64 KiB\) -> 0x40000000, 65536 bytes written and verified: ok",
                r"\[demo\] demo: vzalloc\(16 KiB\) -> 0x40011000, all zero: true",
                r"\[demo\] demo: heap Vec of 50000 u32 \(sum 1249975000\), Box of 10000 bytes; heap grew by \d+ KiB",
                leak(format!(
                    r"\[demo\] demo: ioremap rtc \(pl031\) at {rtc} -> 0x4[0-9a-f]{{7}}: RTCDR = [1-9]\d* \(seconds since 1970\)"
                )),
                // The caller column: a return address in the demo (named
                // by the console symbolizer) or 0 (no caller recorded).
                // The console symbolizer names the demo's return address.
                r"\[demo\] 0x40000000-0x40011000 +69632 memtools::demo::run\+0x[0-9a-f]+/0x[0-9a-f]+ \[memtools\] pages=16 vmalloc owner=2$",
                r"\[demo\] 0x40011000-0x40016000 +20480 memtools::demo::run\+0x[0-9a-f]+/0x[0-9a-f]+ \[memtools\] pages=4 vmalloc owner=2$",
                leak(format!(
                    r"\[demo\] 0x4[0-9a-f]{{7}}-0x4[0-9a-f]{{7}} +8192 {CALLER} phys={rtc} ioremap owner=2"
                )),
                r"\[demo\] Node 0, zone +Normal( +\d+){11}$",
                r"\[memserver\] memserver: client 2 exited \(code 0\)",
                r"\[vmallocinfo\] vmallocinfo: 0 areas",
                r"\[memserver\] memserver: all clients gone; buddy free frames \d+ == boot value \d+: nothing leaked",
                r"system: root task memserver ended \(exit 0\)",
            ],
            expect_unordered: vec![],
            forbid: TASK_FAILURE.to_vec(),
            exit_code: 0,
            timeout: t,
        },
        QemuTest {
            name: "bad-task-images-refused",
            about: "malformed ELF images are refused with a message; the kernel and other tasks carry on",
            boards: Boards::All,
            config: system("bad-images"),
            expect: vec![
                r"WARN +task garbage: refused: bad ELF image: BadMagic",
                r"WARN +task truncated: refused: bad ELF image: BadProgramHeaders",
                r"capcheck: all refusals as documented",
                r"system: root task capcheck ended \(exit 0\)",
            ],
            expect_unordered: vec![],
            forbid: vec![r"KERNEL FAULT", r"KERNEL PANIC", r"\] (ERROR|WARN): "],
            exit_code: 0,
            timeout: t,
        },
        QemuTest {
            name: "unknown-system",
            about: "system= naming no manifest entry is reported and ends the run with a failure",
            boards: Boards::All,
            config: system("no-such-system"),
            expect: vec![r#"WARN +unknown system "no-such-system""#, r#"known system "ipc-test""#],
            expect_unordered: vec![],
            forbid: vec![r"KERNEL FAULT", r"KERNEL PANIC"],
            exit_code: 1,
            timeout: t,
        },
        QemuTest {
            name: "kbench-icount",
            about: "IPC round trip and map_pages cost under -icount shift=0 (figures printed)",
            boards: Boards::All,
            config: QemuConfig {
                icount: true,
                ..system("kbench")
            },
            expect: vec![
                r"bench: null call\+reply_recv round trip: [0-9.]+ ticks = [0-9]+ instructions",
                r"bench: map_pages  1 pages: [0-9]+ instructions per call",
                r"bench: map_pages 16 pages: [0-9]+ instructions per call",
                r"bench: map_pages 64 pages: [0-9]+ instructions per call",
                r"system: root task bench ended \(exit 0\)",
            ],
            expect_unordered: vec![],
            forbid: TASK_FAILURE.to_vec(),
            exit_code: 0,
            timeout: t,
        },
    ]
}

/// The boot banner and memory map of a board, up to the tick.
fn boot_lines(f: &Facts) -> Vec<&'static str> {
    let semihosting = if f.semihosting { "on" } else { "off" };
    match f.board {
        Board::VexpressA9 => vec![
            r"microkernel .* booting: vexpress-a9, MIDR 0x410fc090, cpu 0",
            r"entered in Supervisor mode",
            r"mmu: kernel table live \(TTBR1, TTBCR\.N=1\)",
            r"physical memory map",
            f.ram_line(512, f.ram_source()),
            r"kernel +0x60100000-",
            r"device +0x10009000-0x10009fff +uart0",
            r"gic: 96 interrupt lines; timer: 100 Hz tick on irq 29",
            r"board: gic v1 \(cortex-a9 mpcore\), 96 interrupt lines; clock: a9 global timer at 100000000 Hz",
            leak(format!(
                r"boot: board vexpress-a9, MIDR 0x410fc090, gic v1 \(96 lines\), timer 100000000 Hz \(tick 100 Hz on irq 29\), RAM 512 MiB at 0x60000000, semihosting {semihosting}$"
            )),
        ],
        Board::Virt => {
            // QEMU's virt GICv2 has 288 lines, its GICv3 256.
            let (gic, lines) = match f.gic {
                Some(3) => (3, 256),
                _ => (2, 288),
            };
            vec![
                r"microkernel .* booting: virt, MIDR 0x[0-9a-f]{8}, cpu 0",
                r"entered in Supervisor mode",
                r"device tree: 0x40000000, \d+ bytes \(r2 = 0: at the RAM base\)",
                r"mmu: kernel table live \(TTBR1, TTBCR\.N=1\)",
                r"physical memory map",
                f.ram_line(512, f.ram_source()),
                r"kernel +0x40100000-",
                r"reserved +0x40000000-0x400fffff +1024 KiB +\(device tree\)",
                r"device +0x09000000-0x09000fff +uart0 \(pl011\)",
                r"device +0x09010000-0x09010fff +rtc \(pl031\)",
                leak(format!(
                    r"gic: {lines} interrupt lines; timer: 100 Hz tick on irq 27"
                )),
                leak(format!(
                    r"board: gic v{gic}, {lines} interrupt lines; clock: generic timer, virtual counter at 62500000 Hz, tick on the virtual timer \(irq 27\)"
                )),
                r"psci: version \d+\.\d+ over hvc$",
                leak(format!(
                    r"boot: board virt, MIDR 0x[0-9a-f]{{8}}, gic v{gic} \({lines} lines\), timer 62500000 Hz \(tick 100 Hz on irq 27\), RAM 512 MiB at 0x40000000, semihosting {semihosting}$"
                )),
            ]
        }
    }
}

/// Tests of the boot path, the MMU, the timer and the fault reports.
fn boot_tests(t: Duration, f: &Facts) -> Vec<QemuTest> {
    let boot_expect = [
        boot_lines(f),
        vec![
            r"tick 1$",
            r"tick 2$",
            r"tick 3$",
            r"boot complete: 3 ticks at 100 Hz",
            r"^system: exit status 0$",
        ],
    ]
    .concat();
    vec![
        QemuTest {
            name: "boot",
            about: "boot banner, entry mode, memory map (probe or device tree), interrupt controller, timer, PSCI, 3 ticks, exit 0",
            boards: Boards::All,
            config: config(&["ticks=3"]),
            expect: boot_expect,
            expect_unordered: vec![],
            forbid: UNEXPECTED_FAILURE.to_vec(),
            exit_code: 0,
            timeout: t,
        },
        QemuTest {
            name: "boot-hyp-entry",
            about: "entered in HYP (virtualization=on), the kernel leaves it for SVC through eret; PSCI over smc; 3 ticks (virt only: vexpress-a9's Cortex-A9 has no HYP mode)",
            boards: Boards::Only(Board::Virt),
            config: QemuConfig {
                platform: Platform {
                    virtualization: true,
                    ..Platform::default()
                },
                ..config(&["ticks=3"])
            },
            expect: vec![
                r"microkernel .* booting: virt, MIDR 0x[0-9a-f]{8}, cpu 0",
                r"entered in HYP mode: left for SVC through eret \(ELR_hyp, SPSR_hyp\)",
                r"psci: version \d+\.\d+ over smc$",
                r"tick 3$",
                r"boot complete: 3 ticks at 100 Hz",
                r"^system: exit status 0$",
            ],
            expect_unordered: vec![],
            forbid: [UNEXPECTED_FAILURE, &[r"entered in Supervisor mode"]].concat(),
            exit_code: 0,
            timeout: t,
        },
        QemuTest {
            name: "boot-256m-probe",
            about: "a different -m size is found (vexpress-a9: by the RAM probe; virt: in the device tree)",
            boards: Boards::All,
            config: QemuConfig {
                mem: "256M".into(),
                ..config(&["ticks=1"])
            },
            expect: vec![
                f.ram_line(256, f.ram_source()),
                r"boot complete",
            ],
            expect_unordered: vec![],
            forbid: UNEXPECTED_FAILURE.to_vec(),
            exit_code: 0,
            timeout: t,
        },
        QemuTest {
            name: "boot-mem-param",
            about: "mem= on the command line overrides the probe",
            boards: Boards::All,
            config: config(&["mem=128M", "ticks=1"]),
            expect: vec![
                f.ram_line(128, "size from mem= boot parameter"),
                r"boot complete",
            ],
            expect_unordered: vec![],
            forbid: UNEXPECTED_FAILURE.to_vec(),
            exit_code: 0,
            timeout: t,
        },
        QemuTest {
            name: "boot-smp4-parks-secondaries",
            about: "with -smp 4 every CPU starts at the entry; CPUs 1-3 stay parked",
            boards: Boards::All,
            config: QemuConfig {
                smp: 4,
                ..config(&["ticks=3"])
            },
            expect: vec![r"booting: .* cpu 0$", r"tick 3$", r"boot complete"],
            expect_unordered: vec![],
            forbid: [UNEXPECTED_FAILURE, &[r"cpu [123]$"]].concat(),
            exit_code: 0,
            timeout: t,
        },
        QemuTest {
            name: "boot-icount",
            about: "boots under -icount shift=0 (repeatable cost counting)",
            boards: Boards::All,
            config: QemuConfig {
                icount: true,
                ..config(&["ticks=3"])
            },
            expect: vec![r"tick 3$", r"boot complete"],
            expect_unordered: vec![],
            forbid: UNEXPECTED_FAILURE.to_vec(),
            exit_code: 0,
            timeout: t,
        },
        QemuTest {
            name: "fault-data-abort",
            about: "a kernel read of an unmapped address is reported with its address; exit 3",
            boards: Boards::All,
            config: config(&["selftest=dabort"]),
            expect: vec![
                r"selftest: DataAbort",
                r"\*\*\* KERNEL FAULT: data abort in svc mode \*\*\*",
                r"pc +0x8[0-9a-f]{7} +cpsr 0x[0-9a-f]{8} \(.* svc\)",
                r"fault: translation fault \(section\) on read at address 0x00001234 \(DFSR 0x00000005, DFAR 0x00001234\)",
                r"r0 +0x",
                r"^system: exit status 3$",
            ],
            expect_unordered: vec![],
            forbid: vec![r"did not happen", r"boot complete"],
            exit_code: 3,
            timeout: t,
        },
        QemuTest {
            name: "fault-undefined-instruction",
            about: "an undefined instruction is reported with its encoding; exit 3",
            boards: Boards::All,
            config: config(&["selftest=undef"]),
            expect: vec![
                r"selftest: Undefined",
                r"\*\*\* KERNEL FAULT: undefined instruction in svc mode \*\*\*",
                r"pc +0x8[0-9a-f]{7}",
                r"instruction 0xe7f004f2",
                r"^system: exit status 3$",
            ],
            expect_unordered: vec![],
            forbid: vec![r"returned", r"boot complete"],
            exit_code: 3,
            timeout: t,
        },
        QemuTest {
            name: "fault-prefetch-abort",
            about: "a jump to an unmapped address is reported with that address; exit 3",
            boards: Boards::All,
            config: config(&["selftest=pabort"]),
            expect: vec![
                r"\*\*\* KERNEL FAULT: prefetch abort in svc mode \*\*\*",
                r"pc +0x00002000",
                r"fault: translation fault \(section\) fetching address 0x00002000",
                r"^system: exit status 3$",
            ],
            expect_unordered: vec![],
            forbid: vec![r"returned", r"boot complete"],
            exit_code: 3,
            timeout: t,
        },
        QemuTest {
            name: "panic",
            about: "a kernel panic prints its message and exits 2",
            boards: Boards::All,
            config: config(&["selftest=panic"]),
            expect: vec![r"\*\*\* KERNEL PANIC: .*selftest panic", r"^system: exit status 2$"],
            expect_unordered: vec![],
            forbid: vec![r"boot complete"],
            exit_code: 2,
            timeout: t,
        },
        QemuTest {
            name: "bad-boot-parameters",
            about: "unknown and malformed boot parameters are reported, not fatal",
            boards: Boards::All,
            config: config(&["colour=blue", "hz=0", "ticks=1"]),
            expect: vec![
                r#"WARN +ignoring unknown boot parameter "colour=blue""#,
                r#"WARN +ignoring bad boot parameter "hz=0""#,
                r"boot complete: 1 ticks at 100 Hz",
            ],
            expect_unordered: vec![],
            forbid: vec![r"KERNEL FAULT", r"KERNEL PANIC"],
            exit_code: 0,
            timeout: t,
        },
    ]
}

/// The memory server's end of a run in which every client behaved.
const CLEAN_END: &[&str] = &[
    r"\[memserver\] memserver: all clients gone; buddy free frames (\d+) == boot value \d+: nothing leaked",
    r"system: root task memserver ended \(exit 0\)",
];

/// `expect` followed by [`CLEAN_END`].
fn then_clean_end(expect: &[&'static str]) -> Vec<&'static str> {
    [expect, CLEAN_END].concat()
}

/// Issue 10's tests: clients kept apart (data, window, kernel memory),
/// mapping attributes, the run's exit status, stacks, long log lines, and
/// the in-guest fuzzer (systems in `kernel/src/manifest.rs`, roles in
/// `userland/memtools/src/{isolation,checks,fuzz}.rs`).
fn isolation_tests(t: Duration, f: &Facts) -> Vec<QemuTest> {
    let rtc = format!("{:#010x}", f.rtc);
    // Every hog is full before any victim maps.
    let mut kmem_order = vec![
        r"\[hog\d\] kmem: hog \d: stopped by QuotaExceeded after \d+ maps \(one L2 table each\)$";
        4
    ];
    kmem_order.extend([r"\[victim\d\] kmem: innocent \d: all 16 maps succeeded$"; 4]);
    let mut kmem_each = Vec::new();
    for n in 1..=4 {
        kmem_each.push(leak(format!(
            r"\[hog{n}\] kmem: hog {n}: stopped by QuotaExceeded after [1-9]\d* maps"
        )));
        kmem_each.push(leak(format!(
            r"\[victim{n}\] kmem: innocent {n}: all 16 maps succeeded$"
        )));
        kmem_each.push(leak(format!(
            r"\[hog{n}\] kmem: hog {n}: released, [1-9]\d* areas freed$"
        )));
    }
    let mut fuzz_each = Vec::new();
    for seed in 1..=3 {
        fuzz_each.push(leak(format!(
            r"\[fuzz{seed}\] fuzz: seed {seed}: (3[4-9]|[4-9]\d|\d{{3,}})\d{{3}} requests, [1-9]\d* pages verified, [1-9]\d* typed errors, 0 data errors$"
        )));
        fuzz_each.push(leak(format!(
            r"\[fuzz{seed}\] fuzz: seed {seed}: 0 wrong replies, server alive: true"
        )));
        fuzz_each.push(leak(format!(
            r"\[fuzz{seed}\] fuzz: seed {seed}: granted rtc at {rtc}, identity Some\(141031\)$"
        )));
    }
    let failure_or_leak: Vec<&'static str> =
        [TASK_FAILURE, &[r"LEAK", r"panic", r"MISMATCH"]].concat();
    vec![
        QemuTest {
            name: "isolation",
            about: "client A marks 4 MiB, frees it and exits; client B takes the whole pool with plain vmalloc: 0 marker words",
            boards: Boards::All,
            config: QemuConfig {
                mem: "128M".into(),
                ..system("isolation")
            },
            expect: then_clean_end(&[
                r"\[writer\] isolation: writer marked 1048576 words at 0x[0-9a-f]{8} with 0x5ec2e75a, freed them; exiting$",
                r"\[memserver\] memserver: client 2 exited \(code 0\)",
                r"\[scanner\] isolation: scanner holds \d+ areas of 1 MiB \(plain vmalloc\); next vmalloc -> Server\(OutOfMemory\); \d+ pool frames left$",
                r"\[scanner\] isolation: scanned \d+ words in \d+ areas, marker words: 0$",
                r"\[memserver\] memserver: client 3 exited \(code 0\)",
            ]),
            expect_unordered: vec![],
            forbid: failure_or_leak.clone(),
            exit_code: 0,
            timeout: Duration::from_secs(180),
        },
        QemuTest {
            name: "window-hog",
            about: "a 64-page client is stopped by its 256-page window quota on vmap, NO_GUARD vmalloc and ioremap; DuplicateFrame; another client's 1 MiB vmalloc succeeds",
            boards: Boards::All,
            config: system("window-hog"),
            expect: then_clean_end(&[
                r"\[hog\] window-hog: vmap of frame 0x[0-9a-f]+ twice in one request -> DuplicateFrame ok$",
                r"\[hog\] window-hog: vmap repeating a frame after another -> DuplicateFrame ok$",
                r"\[hog\] window-hog: vmap of its 8 frames: stopped by QuotaExceeded after [1-9]\d* areas; window 2[4-5]\d of 256 pages$",
                r"\[hog\] window-hog: vmalloc\(1 page, NO_GUARD\): stopped by QuotaExceeded after [1-9]\d* areas; window 25\d of 256 pages$",
                r"\[hog\] window-hog: ioremap\(rtc\): stopped by QuotaExceeded after [1-9]\d* areas; window 25\d of 256 pages$",
                r"\[hog\] window-hog: holding 25\d of 256 window pages; waiting for the victim$",
                r"\[victim\] window-hog: victim vmalloc\(1 MiB\) -> 0x[0-9a-f]{8} while the hog holds its window: ok, data verified: true$",
                r"\[hog\] window-hog: released everything; window 0 pages$",
                r"\[hog\] window-hog: every path stopped by its window quota$",
            ]),
            expect_unordered: vec![],
            forbid: failure_or_leak.clone(),
            exit_code: 0,
            timeout: t,
        },
        QemuTest {
            name: "kmem-hogs",
            about: "four hogs use up their own page-table quotas (QuotaExceeded); afterwards four victims' maps all succeed",
            boards: Boards::All,
            config: system("kmem"),
            expect: then_clean_end(&kmem_order),
            expect_unordered: kmem_each,
            forbid: failure_or_leak.clone(),
            exit_code: 0,
            timeout: t,
        },
        QemuTest {
            name: "dma-attrs",
            about: "the descriptors the kernel installed: DMA buffer Normal uncached, vmalloc Normal cached, ioremap Device, ioremap_wc uncached",
            boards: Boards::All,
            config: system("dma-attrs"),
            expect: then_clean_end(&[
                r"\[dma-attrs\] dma-attrs: dma buffer at 0x[0-9a-f]{8} -> NormalUncached \(phys 0x[0-9a-f]{8}, descriptor 0x[0-9a-f]{8}\) ok$",
                r"\[dma-attrs\] dma-attrs: vmalloc area at 0x[0-9a-f]{8} -> NormalCached \(phys 0x[0-9a-f]{8}, descriptor 0x[0-9a-f]{8}\) ok$",
                leak(format!(
                    r"\[dma-attrs\] dma-attrs: ioremap at 0x[0-9a-f]{{8}} -> Device \(phys {rtc}, descriptor 0x[0-9a-f]{{8}}\) ok$"
                )),
                leak(format!(
                    r"\[dma-attrs\] dma-attrs: ioremap_wc at 0x[0-9a-f]{{8}} -> NormalUncached \(phys {rtc}, descriptor 0x[0-9a-f]{{8}}\) ok$"
                )),
                r"\[dma-attrs\] dma-attrs: ioremap\(NormalCached\) of a device -> PermissionDenied ok$",
                r"\[dma-attrs\] dma-attrs: guard page -> NotMapped ok$",
                r"\[dma-attrs\] dma-attrs: DMA uncached, vmalloc cached, ioremap device: all as expected$",
            ]),
            expect_unordered: vec![],
            forbid: failure_or_leak.clone(),
            exit_code: 0,
            timeout: t,
        },
        QemuTest {
            name: "exit-status-fault",
            about: "a client faults and the manifest does not expect it: the run ends with status 1",
            boards: Boards::All,
            config: system("exit-fault"),
            expect: vec![
                r"\[faulty\] exit-status: touching an unmapped window address$",
                r"task faulty \(id 2\) faulted: DataAbort at 0x4e000000",
                r"task faulty failed: ",
                r"system: root task memserver ended",
                r"run failed: 1 task\(s\) failed unexpectedly",
            ],
            expect_unordered: vec![],
            forbid: vec![r"KERNEL FAULT", r"KERNEL PANIC", r"instead of faulting"],
            exit_code: 1,
            timeout: t,
        },
        QemuTest {
            name: "exit-status-nonzero",
            about: "a client returns 7 and the manifest does not expect it: the run ends with status 1",
            boards: Boards::All,
            config: system("exit-nonzero"),
            expect: vec![
                r"\[quitter\] exit-status: returning 7$",
                r"task quitter failed: ",
                r"\[memserver\] memserver: client 2 exited \(code 7\)",
                r"system: root task memserver ended",
                r"run failed: 1 task\(s\) failed unexpectedly",
            ],
            expect_unordered: vec![],
            forbid: vec![r"KERNEL FAULT", r"KERNEL PANIC"],
            exit_code: 1,
            timeout: t,
        },
        QemuTest {
            name: "stacks",
            about: "a 1 MiB stack runs a 768 KiB recursion; a default stack that overflows is reported as stack overflow; a 600-byte log line arrives whole",
            boards: Boards::All,
            config: system("stacks"),
            expect: then_clean_end(&[
                r"\[deepstack\] stacks: recursion of 768 levels of 1024 bytes \(over 768 KiB of stack below 0x[0-9a-f]{8}\) -> (0x[0-9a-f]{8}), expected 0x[0-9a-f]{8}$",
                r"\[deepstack\] stacks: long line: w000-xxxx w001-xxxx .* \u{2026}$",
                r"\[deepstack\] \u{2026} .* \u{2026}$",
                r"\[deepstack\] \u{2026} .* w059-xxxx end$",
                r"\[deepstack\] stacks: long line sent in 3 pieces$",
                r"\[overflow\] stacks: recursing without bound on the default stack$",
                r"stack overflow in task overflow \(fault at 0x[0-9a-f]{8}, stack 0x[0-9a-f]{8}-0x[0-9a-f]{8}\)$",
                r"task overflow failed as expected: ",
            ]),
            expect_unordered: vec![],
            forbid: vec![r"KERNEL FAULT", r"KERNEL PANIC", r"LEAK", r"recursion returned"],
            exit_code: 0,
            timeout: t,
        },
        QemuTest {
            name: "fuzz",
            about: "three fuzz instances send over 100,000 valid and hostile requests: only typed errors, data verified, server alive, nothing leaked",
            boards: Boards::All,
            config: system("fuzz"),
            expect: then_clean_end(&[r"\[memserver\] memserver: pool .* 3 clients, 3 device grants"]),
            expect_unordered: fuzz_each,
            forbid: failure_or_leak,
            exit_code: 0,
            timeout: Duration::from_secs(240),
        },
    ]
}

#[cfg(test)]
mod table_tests {
    use super::*;
    use crate::matrix;

    /// Every configuration's table: unique names, regexes that compile,
    /// and a reason in the `about` of every test limited to one board.
    #[test]
    fn every_configuration_has_a_valid_table() {
        for c in matrix::configs() {
            let tests = all(&c.platform);
            let mut names: Vec<_> = tests.iter().map(|t| t.name).collect();
            names.sort();
            names.dedup();
            assert_eq!(
                names.len(),
                tests.len(),
                "duplicate test names in {}",
                c.name
            );
            for t in &tests {
                for p in t.expect.iter().chain(&t.expect_unordered).chain(&t.forbid) {
                    assert!(regex::Regex::new(p).is_ok(), "{}: bad regex {p}", t.name);
                }
                if let Boards::Only(b) = t.boards {
                    assert!(
                        t.about.contains(&format!("({} only: ", b.name())),
                        "{}: the about text must say why only {}",
                        t.name,
                        b.name()
                    );
                }
            }
        }
    }
}
