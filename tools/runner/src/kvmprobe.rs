//! A self-test of the KVM-safety plugin: a 14-instruction guest that makes
//! MMIO accesses KVM can and cannot emulate on `virt`'s PL011, run under
//! the plugin before the matrix. It proves the check can fail: every
//! unsafe instruction must be flagged and the safe ones must not.

use std::path::Path;
use std::time::Duration;

use crate::kvmreport;
use crate::qemu::{self, Board, Platform, PluginRun, QemuConfig};

/// Where the probe is loaded (virt RAM, above the device tree's MiB).
const LOAD: u32 = 0x4010_0000;

/// The probe's code (encodings from `llvm-mc -triple=armv7a`), with what
/// the plugin must say about each instruction that touches the UART.
const CODE: &[(u32, Option<&str>)] = &[
    (0xe300_0000, None),                          // movw r0, #0
    (0xe340_0900, None),                          // movt r0, #0x0900 (PL011)
    (0xe590_1018, None),                          // ldr r1, [r0, #0x18]: emulable
    (0xe5d0_1018, None),                          // ldrb r1, [r0, #0x18]: emulable
    (0xe5b0_1018, Some("writeback addressing")),  // ldr r1, [r0, #0x18]!
    (0xe240_0018, None),                          // sub r0, r0, #0x18
    (0xe890_0006, Some("load/store multiple")),   // ldm r0, {r1, r2}
    (0xe1c0_21d8, Some("load/store doubleword")), // ldrd r2, r3, [r0, #0x18]
    (0xe490_1000, Some("writeback addressing")),  // ldr r1, [r0], #0
    (0xe300_0008, None),                          // movw r0, #8
    (0xe348_0400, None),                          // movt r0, #0x8400: PSCI SYSTEM_OFF
    (0xe140_0070, None),                          // hvc #0
    (0xeaff_fffe, None),                          // b .
];

/// A minimal ELF32 (ARM, little-endian) with `code` loaded and entered at
/// [`LOAD`].
fn elf(code: &[u32]) -> Vec<u8> {
    const CODE_OFFSET: u32 = 0x100;
    let text: Vec<u8> = code.iter().flat_map(|w| w.to_le_bytes()).collect();
    let mut e = Vec::new();
    let h = |e: &mut Vec<u8>, v: u16| e.extend(v.to_le_bytes());
    let w = |e: &mut Vec<u8>, v: u32| e.extend(v.to_le_bytes());
    e.extend([0x7f, b'E', b'L', b'F', 1, 1, 1, 0]);
    e.extend([0; 8]);
    h(&mut e, 2); // ET_EXEC
    h(&mut e, 40); // EM_ARM
    w(&mut e, 1); // EV_CURRENT
    w(&mut e, LOAD); // e_entry
    w(&mut e, 52); // e_phoff
    w(&mut e, 0); // e_shoff
    w(&mut e, 0x0500_0000); // e_flags: EABI version 5
    h(&mut e, 52); // e_ehsize
    h(&mut e, 32); // e_phentsize
    h(&mut e, 1); // e_phnum
    h(&mut e, 40); // e_shentsize
    h(&mut e, 0); // e_shnum
    h(&mut e, 0); // e_shstrndx
    w(&mut e, 1); // PT_LOAD
    w(&mut e, CODE_OFFSET);
    w(&mut e, LOAD); // p_vaddr
    w(&mut e, LOAD); // p_paddr
    w(&mut e, text.len() as u32); // p_filesz
    w(&mut e, text.len() as u32); // p_memsz
    w(&mut e, 5); // PF_R | PF_X
    w(&mut e, 4); // p_align
    e.resize(CODE_OFFSET as usize, 0);
    e.extend(text);
    e
}

/// Runs the probe under the plugin `library`; returns a one-line summary,
/// or why the plugin failed its self-test.
pub fn self_test(library: &Path, dir: &Path) -> Result<String, String> {
    let elf_path = dir.join("kvmcheck-probe.elf");
    let report = dir.join("kvmcheck-probe.kvmcheck");
    let words: Vec<u32> = CODE.iter().map(|(w, _)| *w).collect();
    std::fs::write(&elf_path, elf(&words))
        .map_err(|e| format!("write {}: {e}", elf_path.display()))?;
    let _ = std::fs::remove_file(&report);
    let cfg = QemuConfig {
        platform: Platform {
            board: Board::Virt,
            semihosting: false,
            ..Platform::default()
        },
        mem: "64M".into(),
        plugin: Some(PluginRun {
            library: library.to_path_buf(),
            report: report.clone(),
        }),
        ..QemuConfig::default()
    };
    let mut cmd = qemu::command(&elf_path, &cfg);
    let out = crate::harness::run_quiet(&mut cmd, Duration::from_secs(30))?;
    if out != Some(0) {
        return Err(format!(
            "the probe guest did not power off cleanly (QEMU status {out:?}): {}",
            qemu::describe(&cmd)
        ));
    }
    let r = kvmreport::read(&report)?;
    let mut problems = Vec::new();
    for (i, (word, expected)) in CODE.iter().enumerate() {
        let pc = u64::from(LOAD) + 4 * i as u64;
        let found = r.entries.iter().find(|f| f.pc == pc);
        match (expected, found) {
            (Some(kind), Some(f)) if f.kind == *kind && f.insn == *word => {}
            (Some(kind), found) => problems.push(format!(
                "{word:#010x} at {pc:#x} should be flagged as {kind}, got {:?}",
                found.map(|f| &f.kind)
            )),
            (None, Some(f)) => problems.push(format!(
                "{word:#010x} at {pc:#x} flagged as {} but KVM emulates it",
                f.kind
            )),
            (None, None) => {}
        }
    }
    let unsafe_count = CODE.iter().filter(|(_, k)| k.is_some()).count();
    // Two emulable loads, plus every access of the flagged ones.
    if r.checked < 2 + r.flagged || r.flagged < unsafe_count as u64 {
        problems.push(format!(
            "counts {} checked / {} flagged: expected at least 2 more checked than flagged, and {unsafe_count} flagged",
            r.checked, r.flagged
        ));
    }
    if problems.is_empty() {
        Ok(format!(
            "kvmcheck self-test: {} of {unsafe_count} unsafe MMIO instructions flagged (writeback, ldm, ldrd), 2 safe ones not; {} I/O accesses checked, {} flagged",
            r.entries.len(),
            r.checked,
            r.flagged
        ))
    } else {
        Err(format!(
            "kvmcheck self-test failed: {}",
            problems.join("; ")
        ))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_probe_elf_has_one_load_segment_at_the_entry() {
        let e = super::elf(&[0xeaff_fffe]);
        assert_eq!(&e[..4], b"\x7fELF");
        assert_eq!(
            u32::from_le_bytes(e[24..28].try_into().unwrap()),
            super::LOAD
        );
        assert_eq!(&e[0x100..0x104], &0xeaff_fffeu32.to_le_bytes());
    }
}
