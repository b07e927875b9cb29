//! Names guest addresses with the function symbols of the kernel and task
//! ELFs (for the KVM-safety plugin's report). Tasks share one virtual
//! layout, so an address may fall in several images; the instruction
//! encoding the plugin saw picks the image(s) holding those bytes there.

use std::path::{Path, PathBuf};

use object::{Object, ObjectSection, ObjectSymbol, SymbolKind};

/// One image's functions and loaded bytes.
struct Image {
    name: String,
    /// (start, size, demangled name), sorted by start.
    functions: Vec<(u64, u64, String)>,
    /// (address, bytes) of each allocated section with file contents.
    sections: Vec<(u64, Vec<u8>)>,
}

impl Image {
    fn load(path: &Path) -> Result<Image, String> {
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
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(Image {
            name,
            functions,
            sections,
        })
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
        for p in kernels.iter().chain(tasks.iter()) {
            match Image::load(p) {
                Ok(i) => s.images.push(i),
                Err(e) => s.missing.push(e),
            }
        }
        s
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
