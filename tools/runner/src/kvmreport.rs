//! The KVM-safety plugin's report (`tools/kvmcheck`, format in
//! `doc/kvmcheck.md`): its counts, and a line per flagged instruction.

use std::path::Path;

use crate::symbols::Symbolizer;

/// One instruction the plugin flagged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flagged {
    /// Guest virtual address of the instruction.
    pub pc: u64,
    /// Its encoding (A32 word, or the Thumb halfword(s) as one number).
    pub insn: u32,
    /// 2 or 4.
    pub size: u32,
    /// Thumb (T16/T32) rather than A32.
    pub thumb: bool,
    /// Why KVM cannot emulate it (`writeback`, `load/store multiple`, ...).
    pub kind: String,
    /// The physical I/O address of its first flagged access.
    pub io: u64,
    /// How many of its I/O accesses were flagged.
    pub count: u64,
    /// QEMU's disassembly.
    pub disas: String,
}

/// A whole report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KvmReport {
    /// Executed guest accesses that landed on an I/O region.
    pub checked: u64,
    /// Those made by an instruction KVM could not emulate.
    pub flagged: u64,
    /// The flagged instructions.
    pub entries: Vec<Flagged>,
}

/// Reads and parses the report at `path`.
pub fn read(path: &Path) -> Result<KvmReport, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "no report at {} ({e}): the plugin did not run to QEMU's exit",
            path.display()
        )
    })?;
    parse(&text)
}

fn number(s: &str) -> Result<u64, String> {
    let r = match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => s.parse(),
    };
    r.map_err(|_| format!("bad number '{s}'"))
}

/// Parses a report: a summary line
/// `kvmcheck: N I/O accesses checked, M flagged`, then one line per
/// flagged instruction:
/// `flagged pc=0x.. insn=0x.. size=4 thumb=0 io=0x.. count=N kind=K; disas=TEXT`.
pub fn parse(text: &str) -> Result<KvmReport, String> {
    let mut report = None::<KvmReport>;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("kvmcheck: ") {
            let words: Vec<&str> = rest.split_whitespace().collect();
            let (Some(checked), Some(flagged)) = (words.first(), words.get(4)) else {
                return Err(format!("bad summary line: {line}"));
            };
            report = Some(KvmReport {
                checked: number(checked)?,
                flagged: number(flagged.trim_end_matches(','))?,
                entries: Vec::new(),
            });
        } else if let Some(rest) = line.strip_prefix("flagged ") {
            let r = report
                .as_mut()
                .ok_or("a flagged line before the summary line")?;
            let (fields, disas) = rest.split_once("; disas=").unwrap_or((rest, ""));
            let (fields, kind) = fields
                .split_once(" kind=")
                .ok_or_else(|| format!("no kind in: {line}"))?;
            let mut f = Flagged {
                pc: 0,
                insn: 0,
                size: 4,
                thumb: false,
                kind: kind.to_string(),
                io: 0,
                count: 0,
                disas: disas.to_string(),
            };
            for kv in fields.split_whitespace() {
                let (k, v) = kv
                    .split_once('=')
                    .ok_or_else(|| format!("bad field '{kv}' in: {line}"))?;
                let n = number(v)?;
                match k {
                    "pc" => f.pc = n,
                    "insn" => f.insn = n as u32,
                    "size" => f.size = n as u32,
                    "thumb" => f.thumb = n != 0,
                    "io" => f.io = n,
                    "count" => f.count = n,
                    _ => return Err(format!("unknown field '{k}' in: {line}")),
                }
            }
            r.entries.push(f);
        } else if !line.trim().is_empty() {
            return Err(format!("unexpected line in the report: {line}"));
        }
    }
    report.ok_or_else(|| "the report has no summary line".into())
}

impl KvmReport {
    /// One problem per flagged instruction, named with its symbol.
    pub fn problems(&self, symbols: &Symbolizer) -> Vec<String> {
        let mut v: Vec<String> = self
            .entries
            .iter()
            .map(|f| {
                format!(
                    "kvmcheck: {} at pc {:#010x} ({}): {:0w$x} `{}` on I/O {:#010x}, {} access(es)",
                    f.kind,
                    f.pc,
                    symbols.describe(f.pc, f.insn, f.size),
                    f.insn,
                    f.disas,
                    f.io,
                    f.count,
                    w = f.size as usize * 2
                )
            })
            .collect();
        if self.flagged > 0 && v.is_empty() {
            v.push(format!(
                "kvmcheck: {} accesses flagged (no instruction listed)",
                self.flagged
            ));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_parses() {
        let text = "kvmcheck: 1234 I/O accesses checked, 3 flagged\n\
                    flagged pc=0x80012340 insn=0xe8bd000f size=4 thumb=0 io=0x9000000 count=3 kind=load/store multiple; disas=pop {r0, r1, r2, r3}\n";
        let r = parse(text).unwrap();
        assert_eq!(r.checked, 1234);
        assert_eq!(r.flagged, 3);
        assert_eq!(r.entries.len(), 1);
        let f = &r.entries[0];
        assert_eq!(
            (f.pc, f.insn, f.size, f.thumb, f.io, f.count),
            (0x8001_2340, 0xe8bd_000f, 4, false, 0x900_0000, 3)
        );
        assert_eq!(f.kind, "load/store multiple");
        assert_eq!(f.disas, "pop {r0, r1, r2, r3}");
    }

    #[test]
    fn a_report_without_summary_or_with_junk_is_refused() {
        assert!(parse("").is_err());
        assert!(parse("kvmcheck: 1 I/O accesses checked, 0 flagged\nnonsense\n").is_err());
        assert!(parse("flagged pc=0x1 kind=x; disas=y\n").is_err());
    }
}
