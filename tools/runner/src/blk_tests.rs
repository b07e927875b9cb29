//! QEMU tests of the virtio-blk driver (`userland/blkdrv`, systems `blk*` in
//! `kernel/src/manifest.rs`). The harness writes a disk image with a known
//! pattern before the boot and checks it after QEMU exits.

use std::path::Path;
use std::time::Duration;

use crate::harness::{Boards, QemuTest};
use crate::qemu::{QemuConfig, TestDisk};
use crate::tests::Facts;

/// Lines that mean a task or the kernel broke.
const FAILURE: &[&str] = &[
    r"KERNEL FAULT",
    r"KERNEL PANIC",
    r"\] (ERROR|WARN): ",
    r"panic",
];

const SECTOR: usize = 512;
/// 8 MiB: room for the 4 MiB benchmark.
const DISK_SECTORS: u32 = 16384;
/// Sectors the guest writes (`userland/blkdrv/src/proto.rs`).
const WRITE_FIRST: u32 = 1000;
const WRITE_COUNT: u32 = 16;

/// Byte `i` of sector `sector` in the host's pattern (the guest's
/// `proto::host_byte`).
fn host_byte(sector: u32, i: usize) -> u8 {
    if i < 4 {
        (sector >> (8 * i)) as u8
    } else {
        (sector.wrapping_mul(31).wrapping_add(i as u32 * 7) ^ 0xa5) as u8
    }
}

/// What the guest writes (`proto::written_byte`).
fn written_byte(sector: u32, i: usize) -> u8 {
    !host_byte(sector, i) ^ 0x3c
}

fn written(sector: u32) -> bool {
    (WRITE_FIRST..WRITE_FIRST + WRITE_COUNT).contains(&sector)
}

fn pattern_image() -> Vec<u8> {
    let mut img = Vec::with_capacity(DISK_SECTORS as usize * SECTOR);
    for s in 0..DISK_SECTORS {
        img.extend((0..SECTOR).map(|i| host_byte(s, i)));
    }
    img
}

fn write_pattern(path: &Path) -> Result<(), String> {
    std::fs::write(path, pattern_image()).map_err(|e| format!("{}: {e}", path.display()))
}

/// Checks the whole image: the written sectors hold the guest's pattern
/// when `expect_written`, every other sector the host's.
fn check_image(path: &Path, expect_written: bool) -> Result<(), String> {
    let img = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if img.len() != DISK_SECTORS as usize * SECTOR {
        return Err(format!(
            "image is {} bytes, expected {}",
            img.len(),
            DISK_SECTORS as usize * SECTOR
        ));
    }
    let mut bad = Vec::new();
    for (s, sec) in img.chunks(SECTOR).enumerate() {
        let s = s as u32;
        let byte = if expect_written && written(s) {
            written_byte
        } else {
            host_byte
        };
        if sec.iter().enumerate().any(|(i, &b)| b != byte(s, i)) {
            bad.push(s);
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} sectors differ from the expected contents (first: {:?})",
            bad.len(),
            &bad[..bad.len().min(8)]
        ))
    }
}

fn verify_written(path: &Path) -> Result<(), String> {
    check_image(path, true)
}

fn verify_untouched(path: &Path) -> Result<(), String> {
    check_image(path, false)
}

/// The second boot needs the image the first boot left.
fn require_first_boot(path: &Path) -> Result<(), String> {
    check_image(path, true).map_err(|e| {
        format!("{e}: run blk-write-host-verify first (`runner test blk` runs both in order)")
    })
}

fn blk_config(system: &str, disk: Option<TestDisk>) -> QemuConfig {
    QemuConfig {
        append: vec![format!("system={system}")],
        disk,
        ..QemuConfig::default()
    }
}

/// A pattern built at run time (see `tests::leak`).
fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

/// The virtio-blk tests, in the order they must run, with the transport
/// addresses, interrupts and counter frequency of the configuration `f`.
pub fn tests(t: Duration, f: &Facts) -> Vec<QemuTest> {
    let transport = |i: u32| format!("{:#010x}", f.virtio0 + 0x200 * i);
    let first_disk = TestDisk {
        image: "blk-boot.img",
        prepare: Some(write_pattern),
        verify: Some(verify_written),
    };
    vec![
        QemuTest {
            name: "blk-read-sector",
            about: "the driver probes the four transports, maps one through ioremap, reads sector 0 on its interrupt",
            boards: Boards::All,
            config: blk_config(
                "blk",
                Some(TestDisk {
                    image: "blk-demo.img",
                    prepare: Some(write_pattern),
                    verify: Some(verify_untouched),
                }),
            ),
            expect: vec![
                r"\[memserver\] memserver: .* 2 clients, 4 device grants",
                leak(format!(
                    r"\[blkdrv\] blkdrv: transport 0 at {}: magic 0x74726976 version 1 device id 2 \(block\)",
                    transport(0)
                )),
                leak(format!(
                    r"\[blkdrv\] blkdrv: transport 1 at {}: magic 0x74726976 version 1 device id 0 \(empty\)",
                    transport(1)
                )),
                leak(format!(
                    r"\[blkdrv\] blkdrv: transport 3 at {}: magic 0x74726976 version 1 device id 0 \(empty\)",
                    transport(3)
                )),
                leak(format!(
                    r"\[blkdrv\] blkdrv: transport 0: virtio-blk, mmio Legacy, irq {}: interrupt-driven completion",
                    f.virtio0_irq
                )),
                r"\[blkdrv\] blkdrv: capacity 16384 sectors \(8192 KiB\)",
                r"\[blkdrv\] blkdrv: sector 0: \[00, 00, 00, 00, b9, 86, 8f, 94,",
                r"\[blkclient\] blkclient: sector 0 starts \[00, 00, 00, 00, b9,",
                r"\[blkclient\] blkclient: read 64 KiB from sector 0, checksum 0x[0-9a-f]{8}",
                r"\[blkdrv\] blkdrv: shutdown: \d+ requests, [1-9]\d* interrupts; shares: \d+ direct, [1-9]\d* bounced",
                r"\[memserver\] memserver: all clients gone; buddy free frames \d+ == boot value \d+: nothing leaked",
                r"system: root task memserver ended \(exit 0\)",
            ],
            expect_unordered: vec![],
            forbid: FAILURE.to_vec(),
            exit_code: 0,
            timeout: t,
        },
        QemuTest {
            name: "blk-write-host-verify",
            about: "the guest verifies the host's pattern, writes 16 sectors through the block service; the host checks the image",
            boards: Boards::All,
            config: blk_config("blk-test", Some(first_disk)),
            expect: vec![
                r"\[blkclient\] blkclient: disk of 16384 sectors",
                r"\[blkclient\] blkclient: 72 sectors of the host pattern verified",
                r"\[blkclient\] blkclient: wrote sectors 1000\.\.1016 in 3 calls",
                r"\[blkclient\] blkclient: 16 written sectors read back: ok",
                r"\[blkclient\] blkclient: read past the end -> OutOfRange ok",
                r"\[blkclient\] blkclient: read of 9 sectors -> TooLarge ok",
                r"\[blkclient\] blkclient: first boot checks passed",
                r"\[blkdrv\] blkdrv: shutdown: \d+ requests, [1-9]\d* interrupts",
                r"system: root task memserver ended \(exit 0\)",
            ],
            expect_unordered: vec![],
            forbid: FAILURE.to_vec(),
            exit_code: 0,
            timeout: t,
        },
        QemuTest {
            name: "blk-second-boot",
            about: "a second boot on the same image reads back what the first boot wrote",
            boards: Boards::All,
            config: blk_config(
                "blk-test2",
                Some(TestDisk {
                    prepare: Some(require_first_boot),
                    ..first_disk
                }),
            ),
            expect: vec![
                r"\[blkclient\] blkclient: second boot: sectors 1000\.\.1016 hold what the first boot wrote: ok",
                r"system: root task memserver ended \(exit 0\)",
            ],
            expect_unordered: vec![],
            forbid: FAILURE.to_vec(),
            exit_code: 0,
            timeout: t,
        },
        QemuTest {
            name: "blk-ioremap-refused",
            about: "a driver whose client has no device grant asks to ioremap the virtio transports: PermissionDenied",
            boards: Boards::All,
            config: blk_config("blk-nogrant", None),
            expect: vec![
                r"\[memserver\] memserver: .* 1 clients, 0 device grants",
                leak(format!(
                    r"\[blkdrv\] blkdrv: ioremap\({}, 4096\) without a device grant -> PermissionDenied: refused ok",
                    transport(0)
                )),
                r"\[memserver\] memserver: client 2 exited \(code 0\)",
                r"system: root task memserver ended \(exit 0\)",
            ],
            expect_unordered: vec![],
            forbid: FAILURE.to_vec(),
            exit_code: 0,
            timeout: t,
        },
        QemuTest {
            name: "blk-polling-configured",
            about: "without an IRQ capability the driver completes requests by polling",
            boards: Boards::All,
            config: blk_config(
                "blk-poll",
                Some(TestDisk {
                    image: "blk-poll.img",
                    prepare: Some(write_pattern),
                    verify: Some(verify_untouched),
                }),
            ),
            expect: vec![
                r"\[blkdrv\] blkdrv: transport 0: virtio-blk, mmio Legacy, no IRQ capability: polling",
                r"\[blkclient\] blkclient: read 64 KiB from sector 0",
                r"\[blkdrv\] blkdrv: shutdown: \d+ requests, 0 interrupts",
                r"system: root task memserver ended \(exit 0\)",
            ],
            expect_unordered: vec![],
            forbid: FAILURE.to_vec(),
            exit_code: 0,
            timeout: t,
        },
        QemuTest {
            name: "blk-bench-icount",
            about: "sequential read of 4 MiB under -icount shift=0: guest instructions per KiB (figures printed)",
            boards: Boards::All,
            config: QemuConfig {
                icount: true,
                ..blk_config(
                    "blk-bench",
                    Some(TestDisk {
                        image: "blk-bench.img",
                        prepare: Some(write_pattern),
                        verify: Some(verify_untouched),
                    }),
                )
            },
            expect: vec![
                leak(format!(
                    r"blkdrv: bench: read 4096 KiB, 4 KiB/request: \d+ ticks \({} Hz\) = \d+ instr elapsed \(\d+/KiB\); outside irq_wait \d+ instr, \d+ instructions per KiB; 1024 interrupts$",
                    f.counter_hz
                )),
                r"blkdrv: bench: read 4096 KiB, 64 KiB/request: .* \d+ instructions per KiB; 64 interrupts$",
                r"blkclient: bench: read 4096 KiB via the block service, 4 KiB/call: .* \d+ instructions per KiB; 1024 interrupts$",
                r"system: root task memserver ended \(exit 0\)",
            ],
            expect_unordered: vec![],
            forbid: FAILURE.to_vec(),
            exit_code: 0,
            timeout: Duration::from_secs(120),
        },
    ]
}
