//! The QEMU side: classify at translation, check executed accesses, write
//! the report at exit.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use qemu_plugin::install::{Args, Info};
use qemu_plugin::plugin::{HasCallbacks, Register};
use qemu_plugin::{
    qemu_plugin_register_atexit_cb, register, MemRW, MemoryInfo, PluginId, Result,
    TranslationBlock, VCPUIndex,
};

use crate::decode::{Class, Insn, Unsafe};

/// A flagged instruction as found at translation time.
struct Suspect {
    pc: u64,
    insn: Insn,
    size: usize,
    kind: Unsafe,
    disas: String,
}

/// What the report lists per flagged instruction.
struct FlaggedEntry {
    suspect: Arc<Suspect>,
    first_io: u64,
    count: u64,
}

/// Counters shared by every vCPU thread's callbacks.
struct Totals {
    checked: AtomicU64,
    flagged: AtomicU64,
    /// Keyed by pc and encoding (a pc may hold different code over time).
    entries: Mutex<BTreeMap<(u64, u32), FlaggedEntry>>,
}

static TOTALS: Totals = Totals {
    checked: AtomicU64::new(0),
    flagged: AtomicU64::new(0),
    entries: Mutex::new(BTreeMap::new()),
};

impl Totals {
    fn flag(&self, s: &Arc<Suspect>, io: u64) {
        self.flagged.fetch_add(1, Ordering::Relaxed);
        let Ok(mut map) = self.entries.lock() else {
            return;
        };
        map.entry((s.pc, s.insn.encoding()))
            .or_insert_with(|| FlaggedEntry {
                suspect: Arc::clone(s),
                first_io: io,
                count: 0,
            })
            .count += 1;
    }

    fn report(&self) -> String {
        let mut out = format!(
            "kvmcheck: {} I/O accesses checked, {} flagged\n",
            self.checked.load(Ordering::Relaxed),
            self.flagged.load(Ordering::Relaxed)
        );
        if let Ok(map) = self.entries.lock() {
            for e in map.values() {
                let s = &e.suspect;
                let _ = writeln!(
                    out,
                    "flagged pc={:#x} insn={:#x} size={} thumb={} io={:#x} count={} kind={}; disas={}",
                    s.pc,
                    s.insn.encoding(),
                    s.size,
                    u8::from(!matches!(s.insn, Insn::A32(_))),
                    e.first_io,
                    e.count,
                    s.kind.describe(),
                    s.disas.replace('\n', " ")
                );
            }
        }
        out
    }
}

/// The physical address of an access if it landed on an I/O region.
fn io_address(info: &MemoryInfo<'_>, vaddr: u64) -> Option<u64> {
    let hw = info.hwaddr(vaddr)?;
    hw.is_io().then(|| hw.hwaddr())
}

struct KvmCheck;

impl Register for KvmCheck {
    fn register(&mut self, id: PluginId, args: &Args, _info: &Info) -> Result<()> {
        let out: Option<PathBuf> = args
            .raw
            .iter()
            .find_map(|a| a.strip_prefix("out="))
            .map(PathBuf::from);
        qemu_plugin_register_atexit_cb(id, move |_| {
            let report = TOTALS.report();
            match &out {
                Some(path) => {
                    if let Err(e) = std::fs::write(path, &report) {
                        eprintln!("kvmcheck: cannot write {}: {e}", path.display());
                    }
                }
                None => eprint!("{report}"),
            }
        })
    }
}

impl HasCallbacks for KvmCheck {
    fn on_translation_block_translate(
        &mut self,
        _id: PluginId,
        tb: TranslationBlock,
    ) -> Result<()> {
        // A block is in one state; Thumb shows as a 2-byte instruction or
        // a halfword-aligned one. (The kernel and tasks are A32.)
        let thumb = tb
            .instructions()
            .any(|i| i.size() == 2 || i.vaddr() & 2 != 0);
        for insn in tb.instructions() {
            let bytes = insn.data();
            let decoded = Insn::from_bytes(&bytes, thumb);
            let class = decoded.map_or(Class::Unsafe(Unsafe::Unrecognised), Insn::classify);
            let pc = insn.vaddr();
            match class {
                Class::NoAccess => {}
                Class::Emulable => insn.register_memory_access_callback(
                    |_: VCPUIndex, info: MemoryInfo<'_>, vaddr: u64| {
                        if io_address(&info, vaddr).is_some() {
                            TOTALS.checked.fetch_add(1, Ordering::Relaxed);
                        }
                    },
                    MemRW::QEMU_PLUGIN_MEM_RW,
                ),
                Class::Unsafe(kind) => {
                    let suspect = Arc::new(Suspect {
                        pc,
                        insn: decoded.unwrap_or(Insn::A32(
                            bytes.iter().rev().fold(0u32, |w, &b| w << 8 | u32::from(b)),
                        )),
                        size: bytes.len(),
                        kind,
                        disas: insn.disas().unwrap_or_else(|_| "?".into()),
                    });
                    insn.register_memory_access_callback(
                        move |_: VCPUIndex, info: MemoryInfo<'_>, vaddr: u64| {
                            if let Some(io) = io_address(&info, vaddr) {
                                TOTALS.checked.fetch_add(1, Ordering::Relaxed);
                                TOTALS.flag(&suspect, io);
                            }
                        },
                        MemRW::QEMU_PLUGIN_MEM_RW,
                    );
                }
            }
        }
        Ok(())
    }
}

register!(KvmCheck);
