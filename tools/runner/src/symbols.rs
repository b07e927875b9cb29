//! Names guest addresses with the function symbols of the kernel and task
//! ELFs: for the KVM-safety plugin's report (tasks share one virtual
//! layout, so an address may fall in several images; the instruction
//! encoding the plugin saw picks the image(s) holding those bytes there)
//! and for the console symbolizer (`console.rs`), which knows the image.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use object::{Object, ObjectSection, ObjectSymbol, SectionKind, SymbolKind};

/// One image's functions and loaded bytes.
struct Image {
    name: String,
    /// The ELF (for the inline frames, read by `llvm-addr2line`).
    path: PathBuf,
    /// (start, size, demangled name), sorted by start.
    functions: Vec<(u64, u64, String)>,
    /// (address, bytes) of each allocated section with file contents.
    sections: Vec<(u64, Vec<u8>)>,
    /// [start, end) of each executable section.
    text: Vec<(u64, u64)>,
    /// Whether this is a kernel ELF (named `kernel` in symbolized lines).
    kernel: bool,
    /// [`Image::inlined_function`]'s answers (it runs a tool per address;
    /// consoles repeat the same callers).
    inlined: Mutex<HashMap<u64, Option<String>>>,
}

impl Image {
    fn load(path: &Path, kernel: bool) -> Result<Image, String> {
        let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let file = object::File::parse(&*data).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut functions: Vec<(u64, u64, String)> = file
            .symbols()
            .filter(|s| s.kind() == SymbolKind::Text && s.address() != 0)
            .filter_map(|s| {
                let name = s.name().ok()?;
                // Thumb functions have bit 0 set in their symbol value.
                Some((
                    s.address() & !1,
                    s.size(),
                    // `{:#}`: without the hash suffix.
                    format!("{:#}", rustc_demangle::demangle(name)),
                ))
            })
            .collect();
        functions.sort();
        let sections = file
            .sections()
            .filter(|s| s.size() > 0)
            .filter_map(|s| Some((s.address(), s.data().ok()?.to_vec())))
            .filter(|(_, d)| !d.is_empty())
            .collect();
        let text = file
            .sections()
            .filter(|s| s.kind() == SectionKind::Text && s.size() > 0)
            .map(|s| (s.address(), s.address() + s.size()))
            .collect();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Image {
            name,
            path: path.to_path_buf(),
            functions,
            sections,
            text,
            kernel,
            inlined: Mutex::new(HashMap::new()),
        })
    }

    /// Whether `addr` lies in one of the image's executable sections.
    fn in_text(&self, addr: u64) -> bool {
        self.text
            .iter()
            .any(|&(start, end)| (start..end).contains(&addr))
    }

    /// `function+0xoff/0xsize [label]` for `addr` in this image's text.
    fn linux_name(&self, addr: u64) -> Option<String> {
        if !self.in_text(addr) {
            return None;
        }
        let i = self.functions.partition_point(|f| f.0 <= addr);
        let (start, size, name) = self.functions.get(i.checked_sub(1)?)?;
        let label = if self.kernel { "kernel" } else { &self.name };
        // A symbol without a size (an assembly label) still names the
        // code after it: the offset says how far.
        if *size != 0 && addr >= start + size {
            return None;
        }
        let mut named = format!("{name}+{:#x}/{size:#x} [{label}]", addr - start);
        if let Some(inlined) = self.inlined_function(addr).filter(|f| f != name) {
            named.push_str(&format!(" (inlined {inlined})"));
        }
        Some(named)
    }

    /// The image's own function that the code at `addr` was inlined from
    /// (release builds inline a task's whole program into `task_main`),
    /// from the DWARF line tables through `llvm-addr2line -i`; `None`
    /// without the tool or debug info. The innermost frame of the image's
    /// own crate names it: library frames (`core::ptr::write_volatile`)
    /// say less than the code that called them.
    fn inlined_function(&self, addr: u64) -> Option<String> {
        let mut cache = self.inlined.lock().unwrap_or_else(|e| e.into_inner());
        cache
            .entry(addr)
            .or_insert_with(|| self.read_inlined_function(addr))
            .clone()
    }

    fn read_inlined_function(&self, addr: u64) -> Option<String> {
        let out = ["llvm-addr2line", "addr2line"].iter().find_map(|tool| {
            std::process::Command::new(tool)
                .args(["-f", "-i", "-e"])
                .arg(&self.path)
                .arg(format!("{addr:#x}"))
                .stderr(std::process::Stdio::null())
                .output()
                .ok()
                .filter(|o| o.status.success())
        })?;
        let text = String::from_utf8_lossy(&out.stdout);
        // Pairs of lines, innermost frame first: function, file:line.
        let frames: Vec<String> = text
            .lines()
            .step_by(2)
            .filter(|f| !f.starts_with("??"))
            .map(|f| format!("{:#}", rustc_demangle::demangle(f.trim())))
            .collect();
        let own = format!("{}::", if self.kernel { "kernel" } else { &self.name });
        frames.iter().find(|f| f.starts_with(&own)).cloned()
    }

    /// The function holding `addr` and the offset into it.
    fn function_at(&self, addr: u64) -> Option<(&str, u64)> {
        let i = self.functions.partition_point(|f| f.0 <= addr);
        let (start, size, name) = self.functions.get(i.checked_sub(1)?)?;
        (addr < start + (*size).max(1)).then(|| (name.as_str(), addr - start))
    }

    /// Whether the image holds the `size`-byte little-endian value `insn`
    /// at `addr`.
    fn holds(&self, addr: u64, insn: u32, size: u32) -> bool {
        let n = size as usize;
        self.sections.iter().any(|(base, bytes)| {
            addr >= *base
                && addr + n as u64 <= base + bytes.len() as u64
                && bytes[(addr - base) as usize..][..n] == insn.to_le_bytes()[..n]
        })
    }
}

/// The symbol tables of a run's images.
pub struct Symbolizer {
    images: Vec<Image>,
    /// Images that could not be read, with why.
    missing: Vec<String>,
}

impl Symbolizer {
    /// Loads the kernel ELFs and the task ELFs; unreadable ones are noted.
    pub fn load(kernels: Vec<PathBuf>, tasks: Vec<PathBuf>) -> Symbolizer {
        let mut s = Symbolizer {
            images: Vec::new(),
            missing: Vec::new(),
        };
        let all = kernels
            .iter()
            .map(|p| (p, true))
            .chain(tasks.iter().map(|p| (p, false)));
        for (p, kernel) in all {
            match Image::load(p, kernel) {
                Ok(i) => s.images.push(i),
                Err(e) => s.missing.push(e),
            }
        }
        s
    }

    /// `function+0xoff/0xsize [image]` for `addr` in the text of the task
    /// image named `image` (its ELF's file name: `memtools`, ...).
    pub fn name_in(&self, image: &str, addr: u64) -> Option<String> {
        self.images
            .iter()
            .find(|i| !i.kernel && i.name == image)?
            .linux_name(addr)
    }

    /// `function+0xoff/0xsize [kernel]` for `addr` in the (first) kernel's
    /// text.
    pub fn name_in_kernel(&self, addr: u64) -> Option<String> {
        self.images.iter().find(|i| i.kernel)?.linux_name(addr)
    }

    /// `image: function+0xoff` for each image holding `insn` at `pc` (all
    /// images with a function there if none matches the bytes).
    pub fn describe(&self, pc: u64, insn: u32, size: u32) -> String {
        self.describe_matching(pc, Some((insn, size)))
    }

    /// `image: function+0xoff` for each image holding the instruction
    /// `insn` (encoding, size) at `pc`, or for each image with a function
    /// there when `insn` is `None` or no image holds those bytes.
    pub fn describe_matching(&self, pc: u64, insn: Option<(u32, u32)>) -> String {
        let named = |want_bytes: bool| -> Vec<String> {
            self.images
                .iter()
                .filter(|i| match (want_bytes, insn) {
                    (true, Some((word, size))) => i.holds(pc, word, size),
                    _ => true,
                })
                .filter_map(|i| {
                    let (f, off) = i.function_at(pc)?;
                    Some(format!("{}: {f}+{off:#x}", i.name))
                })
                .collect()
        };
        let mut names = named(true);
        if names.is_empty() {
            names = named(false);
        }
        if names.is_empty() {
            let mut s = "no symbol".to_string();
            if !self.missing.is_empty() {
                s.push_str(&format!(" (unread: {})", self.missing.join("; ")));
            }
            s
        } else {
            names.join(" or ")
        }
    }
}
