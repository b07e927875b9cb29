//! A validating reader for the ELF32 little-endian ARM executables the
//! kernel loads as boot tasks.
//!
//! Every header field the loader uses is checked before it is used: magic,
//! class, data encoding, version, type, machine, entry, program-header
//! table bounds and entry size, and for each `PT_LOAD` segment the file
//! range, `filesz <= memsz`, the address range (inside the task's image
//! area, no wrap-around, no overlap with another segment) and the flags. A
//! bad image is an [`ElfError`], never a panic or an out-of-bounds read.

/// `PT_LOAD`.
pub const PT_LOAD: u32 = 1;
/// Segment flag: executable.
pub const PF_X: u32 = 1;
/// Segment flag: writable.
pub const PF_W: u32 = 2;
/// Segment flag: readable.
pub const PF_R: u32 = 4;

const EHDR_SIZE: usize = 52;
const PHDR_SIZE: usize = 32;
const EM_ARM: u16 = 40;
const ET_EXEC: u16 = 2;
/// The most `PT_LOAD` segments a task image may have.
pub const MAX_SEGMENTS: usize = 8;

/// Why an image was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ElfError {
    /// Shorter than the ELF header.
    TooShort,
    /// Not `\x7fELF`.
    BadMagic,
    /// Not ELFCLASS32 / little-endian / version 1.
    WrongFormat,
    /// Not an ARM executable (`ET_EXEC`, `EM_ARM`).
    WrongMachineOrType,
    /// Program-header table outside the file or wrong entry size.
    BadProgramHeaders,
    /// More than [`MAX_SEGMENTS`] loadable segments.
    TooManySegments,
    /// A segment's file range lies outside the file.
    SegmentOutsideFile,
    /// `filesz > memsz`.
    FileSizeAboveMemSize,
    /// A segment's address range wraps or leaves the allowed area.
    SegmentOutsideArea,
    /// Two segments share a page.
    SegmentsOverlap,
    /// Writable and executable at once.
    WritableAndExecutable,
    /// The entry point is not inside an executable segment.
    BadEntry,
    /// No loadable segment at all.
    NoSegments,
}

/// One loadable segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Segment {
    /// Virtual address of the first byte.
    pub vaddr: u32,
    /// Bytes in memory (the tail past `filesz` is zero).
    pub memsz: u32,
    /// Offset of the contents in the file.
    pub offset: u32,
    /// Bytes present in the file.
    pub filesz: u32,
    /// Writable.
    pub writable: bool,
    /// Executable.
    pub executable: bool,
}

impl Segment {
    /// First page-aligned address the segment touches.
    pub const fn page_start(&self) -> u32 {
        self.vaddr & !0xfff
    }
    /// One past the last page-aligned address it touches.
    pub const fn page_end(&self) -> u32 {
        // Cannot overflow: validated against the area's end.
        (self.vaddr + self.memsz + 0xfff) & !0xfff
    }
}

/// A validated image.
#[derive(Clone, Copy, Debug)]
pub struct Image {
    /// Entry point.
    pub entry: u32,
    /// Loadable segments, sorted by address.
    pub segments: [Segment; MAX_SEGMENTS],
    /// How many of `segments` are used.
    pub count: usize,
}

impl Image {
    /// The used segments.
    pub fn segments(&self) -> &[Segment] {
        &self.segments[..self.count]
    }
}

fn u16_at(b: &[u8], off: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(off..off + 2)?.try_into().ok()?))
}

fn u32_at(b: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(off..off + 4)?.try_into().ok()?))
}

/// Validates `file` as a task image whose segments must lie in
/// `[area_start, area_end)`.
pub fn parse(file: &[u8], area_start: u32, area_end: u32) -> Result<Image, ElfError> {
    if file.len() < EHDR_SIZE {
        return Err(ElfError::TooShort);
    }
    if file.get(0..4) != Some(b"\x7fELF".as_slice()) {
        return Err(ElfError::BadMagic);
    }
    // EI_CLASS = 1 (32-bit), EI_DATA = 1 (little-endian), EI_VERSION = 1.
    if file.get(4..7) != Some([1u8, 1, 1].as_slice()) {
        return Err(ElfError::WrongFormat);
    }
    let short = ElfError::TooShort;
    let e_type = u16_at(file, 16).ok_or(short)?;
    let e_machine = u16_at(file, 18).ok_or(short)?;
    let e_version = u32_at(file, 20).ok_or(short)?;
    if e_type != ET_EXEC || e_machine != EM_ARM {
        return Err(ElfError::WrongMachineOrType);
    }
    if e_version != 1 {
        return Err(ElfError::WrongFormat);
    }
    let entry = u32_at(file, 24).ok_or(short)?;
    let phoff = u32_at(file, 28).ok_or(short)? as usize;
    let phentsize = u16_at(file, 42).ok_or(short)? as usize;
    let phnum = u16_at(file, 44).ok_or(short)? as usize;
    if phentsize != PHDR_SIZE {
        return Err(ElfError::BadProgramHeaders);
    }
    let table_end = phnum
        .checked_mul(PHDR_SIZE)
        .and_then(|n| n.checked_add(phoff))
        .ok_or(ElfError::BadProgramHeaders)?;
    if table_end > file.len() {
        return Err(ElfError::BadProgramHeaders);
    }

    let mut image = Image {
        entry,
        segments: [Segment::default(); MAX_SEGMENTS],
        count: 0,
    };
    for i in 0..phnum {
        let ph = phoff + i * PHDR_SIZE;
        let bad = ElfError::BadProgramHeaders;
        if u32_at(file, ph).ok_or(bad)? != PT_LOAD {
            continue;
        }
        let offset = u32_at(file, ph + 4).ok_or(bad)?;
        let vaddr = u32_at(file, ph + 8).ok_or(bad)?;
        let filesz = u32_at(file, ph + 16).ok_or(bad)?;
        let memsz = u32_at(file, ph + 20).ok_or(bad)?;
        let flags = u32_at(file, ph + 24).ok_or(bad)?;
        if memsz == 0 {
            continue;
        }
        let file_end = offset
            .checked_add(filesz)
            .ok_or(ElfError::SegmentOutsideFile)?;
        if file_end as usize > file.len() {
            return Err(ElfError::SegmentOutsideFile);
        }
        if filesz > memsz {
            return Err(ElfError::FileSizeAboveMemSize);
        }
        let end = vaddr
            .checked_add(memsz)
            .and_then(|e| e.checked_add(0xfff))
            .ok_or(ElfError::SegmentOutsideArea)?;
        if vaddr < area_start || end & !0xfff > area_end {
            return Err(ElfError::SegmentOutsideArea);
        }
        let seg = Segment {
            vaddr,
            memsz,
            offset,
            filesz,
            writable: flags & PF_W != 0,
            executable: flags & PF_X != 0,
        };
        if seg.writable && seg.executable {
            return Err(ElfError::WritableAndExecutable);
        }
        if image.count == MAX_SEGMENTS {
            return Err(ElfError::TooManySegments);
        }
        image.segments[image.count] = seg;
        image.count += 1;
    }
    if image.count == 0 {
        return Err(ElfError::NoSegments);
    }
    image.segments[..image.count].sort_unstable_by_key(|s| s.vaddr);
    for pair in image.segments[..image.count].windows(2) {
        if pair[0].page_end() > pair[1].page_start() {
            return Err(ElfError::SegmentsOverlap);
        }
    }
    let entry_ok = image
        .segments()
        .iter()
        .any(|s| s.executable && entry >= s.vaddr && entry - s.vaddr < s.memsz);
    if !entry_ok {
        return Err(ElfError::BadEntry);
    }
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate alloc;
    use alloc::vec;
    use alloc::vec::Vec;

    /// Builds a minimal ELF with the given (vaddr, filesz, memsz, flags).
    fn build(entry: u32, segs: &[(u32, u32, u32, u32)]) -> Vec<u8> {
        let phoff = EHDR_SIZE;
        let data_off = phoff + segs.len() * PHDR_SIZE;
        let mut f = vec![0u8; data_off];
        f[0..4].copy_from_slice(b"\x7fELF");
        f[4] = 1;
        f[5] = 1;
        f[6] = 1;
        f[16..18].copy_from_slice(&ET_EXEC.to_le_bytes());
        f[18..20].copy_from_slice(&EM_ARM.to_le_bytes());
        f[20..24].copy_from_slice(&1u32.to_le_bytes());
        f[24..28].copy_from_slice(&entry.to_le_bytes());
        f[28..32].copy_from_slice(&(phoff as u32).to_le_bytes());
        f[42..44].copy_from_slice(&(PHDR_SIZE as u16).to_le_bytes());
        f[44..46].copy_from_slice(&(segs.len() as u16).to_le_bytes());
        let mut off = data_off as u32;
        for (i, &(vaddr, filesz, memsz, flags)) in segs.iter().enumerate() {
            let ph = phoff + i * PHDR_SIZE;
            f[ph..ph + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
            f[ph + 4..ph + 8].copy_from_slice(&off.to_le_bytes());
            f[ph + 8..ph + 12].copy_from_slice(&vaddr.to_le_bytes());
            f[ph + 16..ph + 20].copy_from_slice(&filesz.to_le_bytes());
            f[ph + 20..ph + 24].copy_from_slice(&memsz.to_le_bytes());
            f[ph + 24..ph + 28].copy_from_slice(&flags.to_le_bytes());
            off += filesz;
        }
        f.resize(off as usize, 0xaa);
        f
    }

    const AREA: (u32, u32) = (0x1_0000, 0x100_0000);

    fn parse_area(f: &[u8]) -> Result<Image, ElfError> {
        parse(f, AREA.0, AREA.1)
    }

    #[test]
    fn accepts_text_and_data() {
        let f = build(
            0x1_0010,
            &[
                (0x2_0000, 0x100, 0x2000, PF_R | PF_W),
                (0x1_0000, 0x800, 0x800, PF_R | PF_X),
            ],
        );
        let img = parse_area(&f).unwrap();
        assert_eq!(img.count, 2);
        assert_eq!(img.segments()[0].vaddr, 0x1_0000, "sorted");
        assert!(img.segments()[0].executable);
        assert_eq!(img.segments()[1].page_end(), 0x2_2000);
    }

    #[test]
    fn refuses_every_bad_field() {
        let good = build(0x1_0000, &[(0x1_0000, 0x10, 0x10, PF_R | PF_X)]);
        assert!(parse_area(&good).is_ok());
        assert_eq!(parse_area(&good[..40]).unwrap_err(), ElfError::TooShort);
        let mut f = good.clone();
        f[1] = b'X';
        assert_eq!(parse_area(&f).unwrap_err(), ElfError::BadMagic);
        let mut f = good.clone();
        f[4] = 2;
        assert_eq!(parse_area(&f).unwrap_err(), ElfError::WrongFormat);
        let mut f = good.clone();
        f[18] = 62;
        assert_eq!(parse_area(&f).unwrap_err(), ElfError::WrongMachineOrType);
        let mut f = good.clone();
        f[42] = 40;
        assert_eq!(parse_area(&f).unwrap_err(), ElfError::BadProgramHeaders);
        let mut f = good.clone();
        f[44] = 0xff;
        assert_eq!(parse_area(&f).unwrap_err(), ElfError::BadProgramHeaders);
        let mut f = good.clone();
        f[28..32].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(parse_area(&f).unwrap_err(), ElfError::BadProgramHeaders);
    }

    #[test]
    fn refuses_bad_segments() {
        let e = |entry, segs: &[(u32, u32, u32, u32)]| parse_area(&build(entry, segs)).unwrap_err();
        assert_eq!(
            e(0x1_0000, &[(0x1_0000, 0x20, 0x10, PF_X)]),
            ElfError::FileSizeAboveMemSize
        );
        assert_eq!(
            e(0x1_0000, &[(0x8000, 0x10, 0x10, PF_X)]),
            ElfError::SegmentOutsideArea
        );
        assert_eq!(
            e(0x1_0000, &[(0xffff_f000, 0x10, 0x2000, PF_X)]),
            ElfError::SegmentOutsideArea
        );
        assert_eq!(
            e(0x1_0000, &[(0x1_0000, 0x10, 0x10, PF_X | PF_W)]),
            ElfError::WritableAndExecutable
        );
        assert_eq!(
            e(
                0x1_0000,
                &[(0x1_0000, 0x10, 0x1800, PF_X), (0x1_1000, 0x10, 0x10, PF_W)]
            ),
            ElfError::SegmentsOverlap
        );
        assert_eq!(
            e(0x5_0000, &[(0x1_0000, 0x10, 0x10, PF_X)]),
            ElfError::BadEntry
        );
        assert_eq!(
            e(0x1_0000, &[(0x1_0000, 0x10, 0x10, PF_W)]),
            ElfError::BadEntry
        );
        assert_eq!(e(0x1_0000, &[]), ElfError::NoSegments);
        // File range past the end.
        let mut f = build(0x1_0000, &[(0x1_0000, 0x10, 0x10, PF_X)]);
        f.truncate(f.len() - 1);
        assert_eq!(parse_area(&f).unwrap_err(), ElfError::SegmentOutsideFile);
    }

    /// Arbitrary bytes never panic the parser.
    #[test]
    fn fuzz_like_truncations_and_flips() {
        let good = build(
            0x1_0000,
            &[(0x1_0000, 0x40, 0x40, PF_X), (0x2_0000, 0x10, 0x100, PF_W)],
        );
        for len in 0..good.len() {
            let _ = parse_area(&good[..len]);
        }
        let mut seed = 0x1234_5678u32;
        for _ in 0..20_000 {
            let mut f = good.clone();
            for _ in 0..4 {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                let i = seed as usize % f.len();
                f[i] = (seed >> 8) as u8;
            }
            let _ = parse_area(&f);
        }
    }
}
