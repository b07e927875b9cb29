//! The console symbolizer: every console line the runner shows passes
//! through [`ConsoleSymbolizer::line`], which turns the addresses of a
//! known task into `function+0xoff/0xsize [image]` (the form of Linux's
//! `/proc/vmallocinfo` and oopses). It learns which image each task runs
//! from the kernel's boot lines, `task ID NAME: image IMAGE, ...`.
//!
//! Rewritten (doc/observability.md):
//! - vmallocinfo lines (`start-end size CALLER ... owner=ID`): the caller
//!   column, when it lies in the text of task ID's image (an explicit tag
//!   such as `0x68656170`, "heap", stays hex);
//! - `caller 0x...` in a line naming its client (`owner=ID` or `client ID`);
//! - `pc 0x...` / `lr 0x...` in a line naming its task (`task NAME (id ID)`,
//!   `task ID`, `task NAME`), and any such address in the kernel's text.
//!
//! The raw line is kept by the callers (`--raw`, the `.raw.log` files).

use std::collections::HashMap;

use regex::{Captures, Regex};

use crate::symbols::Symbolizer;

/// Rewrites console lines, learning the task map as they pass.
pub struct ConsoleSymbolizer<'a> {
    symbols: &'a Symbolizer,
    /// Task id -> image name.
    images: HashMap<u32, String>,
    /// Task name -> task id.
    ids: HashMap<String, u32>,
    task_line: Regex,
    vmallocinfo: Regex,
    caller: Regex,
    owner: Regex,
    pc: Regex,
    task_id: Regex,
    task_name: Regex,
}

impl<'a> ConsoleSymbolizer<'a> {
    /// A symbolizer that knows no task yet.
    pub fn new(symbols: &'a Symbolizer) -> ConsoleSymbolizer<'a> {
        let re = |p: &str| Regex::new(p).expect("console symbolizer regex");
        ConsoleSymbolizer {
            symbols,
            images: HashMap::new(),
            ids: HashMap::new(),
            task_line: re(r"\btask (\d+) (\S+): image (\w+)"),
            vmallocinfo: re(
                r"(0x[0-9a-f]{8}-0x[0-9a-f]{8} +\d+ )0x([0-9a-f]{8})( .*\bowner=(\d+)\b.*)$",
            ),
            caller: re(r"\bcaller 0x([0-9a-f]{8})\b"),
            owner: re(r"\b(?:owner=|client )(\d+)\b"),
            pc: re(r"\b(pc|lr) 0x([0-9a-f]{8})\b"),
            task_id: re(r"\btask (?:\S+ \(id (\d+)\)|(\d+)\b)"),
            task_name: re(r"\btask (\S+)"),
        }
    }

    /// The image task `id` runs, if a boot line named it.
    pub fn image_of(&self, id: u32) -> Option<&str> {
        self.images.get(&id).map(String::as_str)
    }

    /// `addr` named in task `id`'s image, or in the kernel.
    fn name(&self, id: Option<u32>, addr: u64) -> Option<String> {
        if let Some(k) = self.symbols.name_in_kernel(addr) {
            return Some(k);
        }
        self.symbols.name_in(self.image_of(id?)?, addr)
    }

    /// The task a fault/report line is about.
    fn task_of(&self, line: &str) -> Option<u32> {
        if let Some(c) = self.task_id.captures(line) {
            let id = c.get(1).or(c.get(2))?;
            return id.as_str().parse().ok();
        }
        let name = self.task_name.captures(line)?;
        self.ids.get(&name[1]).copied()
    }

    /// `line` with the addresses it can name symbolized.
    pub fn line(&mut self, line: &str) -> String {
        if let Some(c) = self.task_line.captures(line) {
            if let Ok(id) = c[1].parse::<u32>() {
                self.images.insert(id, c[3].to_string());
                self.ids.insert(c[2].to_string(), id);
            }
            return line.to_string();
        }
        if let Some(c) = self.vmallocinfo.captures(line) {
            let owner = c[4].parse().ok();
            let addr = u64::from_str_radix(&c[2], 16).unwrap_or(0);
            return match owner.and_then(|o| self.symbols.name_in(self.image_of(o)?, addr)) {
                Some(name) => {
                    let whole = c.get(0).expect("group 0");
                    format!("{}{}{name}{}", &line[..whole.start()], &c[1], &c[3])
                }
                None => line.to_string(),
            };
        }
        let mut out = line.to_string();
        if self.caller.is_match(&out) {
            let owner = self
                .owner
                .captures(line)
                .and_then(|c| c[1].parse::<u32>().ok());
            out = self
                .caller
                .replace_all(&out, |c: &Captures| {
                    let addr = u64::from_str_radix(&c[1], 16).unwrap_or(0);
                    match self.name(owner, addr) {
                        Some(n) => format!("caller {n}"),
                        None => c[0].to_string(),
                    }
                })
                .into_owned();
        }
        if self.pc.is_match(&out) {
            let task = self.task_of(line);
            out = self
                .pc
                .replace_all(&out, |c: &Captures| {
                    let addr = u64::from_str_radix(&c[2], 16).unwrap_or(0);
                    match self.name(task, addr) {
                        Some(n) => format!("{} {n}", &c[1]),
                        None => c[0].to_string(),
                    }
                })
                .into_owned();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use object::{Object, ObjectSymbol, SymbolKind};

    use super::*;
    use crate::qemu;

    /// The memtools ELF of the build (built first if absent) and the
    /// address, size and name of its function `task_main`, read here
    /// independently of the symbolizer.
    fn memtools() -> (PathBuf, u64, u64) {
        let elf = qemu::target_dir().join("armv7a-none-eabi/release/memtools");
        if !elf.is_file() || !qemu::kernel_elf(qemu::Board::DEFAULT).is_file() {
            qemu::build_kernel(qemu::Board::DEFAULT).expect("build the task images");
        }
        let data = std::fs::read(&elf).expect("read memtools");
        let file = object::File::parse(&*data).expect("parse memtools");
        let main = file
            .symbols()
            .find(|s| s.kind() == SymbolKind::Text && s.name() == Ok("task_main"))
            .expect("memtools has task_main");
        (elf, main.address() & !1, main.size())
    }

    fn symbolizer() -> (Symbolizer, u64, u64) {
        let (elf, start, size) = memtools();
        assert!(size > 0x100, "task_main is the inlined program");
        let s = Symbolizer::load(
            vec![qemu::kernel_elf(qemu::Board::DEFAULT)],
            vec![elf, PathBuf::from("/nonexistent/memsrv")],
        );
        (s, start, size)
    }

    const BOOT: &str = "[    0.05] INFO  task 2 demo: image memtools, prio 2 arg 1 (2 caps, 200 KiB, stack 64 KiB, 64 page tables reserved)";

    #[test]
    fn vmallocinfo_callers_in_the_owners_text_are_named() {
        let (symbols, start, size) = symbolizer();
        let mut c = ConsoleSymbolizer::new(&symbols);
        assert_eq!(c.line(BOOT), BOOT, "boot lines pass unchanged");
        assert_eq!(c.image_of(2), Some("memtools"));
        let addr = start + 0x40;
        let line = format!(
            "[    0.13] INFO  [demo] 0x40000000-0x40011000   69632 {addr:#010x} pages=16 vmalloc owner=2"
        );
        let named = c.line(&line);
        let want = format!(
            "[    0.13] INFO  [demo] 0x40000000-0x40011000   69632 task_main+0x40/{size:#x} [memtools]"
        );
        assert!(named.starts_with(&want), "{named}");
        assert!(named.ends_with(" pages=16 vmalloc owner=2"), "{named}");

        // A tag outside the text, and an owner without a boot line, stay.
        let tag = "[demo] 0x40016000-0x40048000  204800 0x68656170 pages=49 vmalloc owner=2";
        assert_eq!(c.line(tag), tag);
        let stranger = line.replace("owner=2", "owner=7");
        assert_eq!(c.line(&stranger), stranger);
    }

    #[test]
    fn fault_pcs_and_callers_name_the_task_they_belong_to() {
        let (symbols, start, size) = symbolizer();
        let mut c = ConsoleSymbolizer::new(&symbols);
        c.line(BOOT);
        let pc = start + 0x10;
        let sym = format!("task_main+0x10/{size:#x} [memtools]");
        let fault = format!(
            "WARN  task demo (id 2) faulted: DataAbort at 0x40085000, pc {pc:#010x}, status 0x807"
        );
        assert!(
            c.line(&fault).contains(&format!(", pc {sym}")),
            "{}",
            c.line(&fault)
        );
        let by_name =
            format!("task demo failed as expected: data abort (pc {pc:#010x}, status 0x807)");
        assert!(c.line(&by_name).contains(&format!("(pc {sym}")));
        let leak = format!("memserver:   2 areas, 12288 bytes, caller {pc:#010x} owner=2");
        assert!(c.line(&leak).contains(&format!("caller {sym}")));
        let overrun =
            format!("memserver: client 2 faulted: overran area (8192 bytes, caller {pc:#010x})");
        assert!(c.line(&overrun).contains(&format!("caller {sym}")));
        // Another task's pc is not looked up in memtools.
        let other = fault.replace("(id 2)", "(id 3)");
        assert_eq!(c.line(&other), other);
    }

    #[test]
    fn kernel_pcs_are_named_from_the_kernel_elf() {
        let (symbols, _, _) = symbolizer();
        let kernel = std::fs::read(qemu::kernel_elf(qemu::Board::DEFAULT)).expect("kernel ELF");
        let file = object::File::parse(&*kernel).expect("parse kernel");
        let kmain = file
            .symbols()
            .find(|s| s.name() == Ok("kmain"))
            .expect("kernel has kmain");
        let pc = (kmain.address() & !1) + 4;
        let mut c = ConsoleSymbolizer::new(&symbols);
        let named = c.line(&format!("kernel fault: pc {pc:#010x}"));
        assert!(
            named.starts_with("kernel fault: pc kmain+0x4/0x"),
            "{named}"
        );
        assert!(named.contains(" [kernel]"), "{named}");
        assert_eq!(
            c.line("a 0x00001000"),
            "a 0x00001000",
            "unknown addresses stay"
        );
    }
}
