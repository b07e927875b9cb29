//! ARMv7-A short-descriptor translation-table entries (ARM ARM B3.5).
//!
//! Every descriptor the kernel writes is built here, from typed fields: the
//! bit positions live in this one module and nowhere else. TEX remap and the
//! access flag are disabled (`SCTLR.TRE = 0`, `SCTLR.AFE = 0`), so memory
//! types are encoded directly in TEX/C/B and permissions in AP[2:0].
//!
//! ```text
//!  L1 section        31      20 19 18 17 16  15  14 12 11 10 9  8   5 4  3 2 1 0
//!                   | base PA  |NS| 0|nG| S|AP2| TEX  | AP  |  | dom |XN|C|B|1|0|
//!  L1 page table     31                 10 9 8   5 4 3 2 1 0
//!                   | L2 table PA         |  | dom |0|NS| |0|1|
//!  L2 small page     31          12 11 10  9  8 6 5 4 3 2 1 0
//!                   | base PA      |nG| S|AP2|TEX|AP |C|B|1|XN|
//! ```

use abi::PhysAddr;

/// Bytes mapped by one L1 section.
pub const SECTION_SIZE: u32 = 1 << 20;
/// Entries in a full (TTBR1 / `TTBCR.N = 0`) L1 table: 16 KiB.
pub const L1_ENTRIES: usize = 4096;
/// Entries in one L2 table: 1 KiB, maps 1 MiB.
pub const L2_ENTRIES: usize = 256;
/// With `TTBCR.N = 1`, TTBR0 translates `[0, 2 GiB)` and its table has
/// 2048 entries (8 KiB, 8 KiB-aligned).
pub const L1_USER_ENTRIES: usize = 2048;

/// Memory type and cacheability (TEX/C/B with TEX remap disabled).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemType {
    /// Normal memory, inner and outer write-back write-allocate: RAM.
    NormalWriteBack,
    /// Normal memory, non-cacheable (DMA buffers shared with a device
    /// that does not snoop).
    NormalUncached,
    /// Shareable device memory: MMIO registers.
    Device,
    /// Strongly-ordered: accesses complete in program order, unbuffered.
    StronglyOrdered,
}

impl MemType {
    /// `(tex, c, b)` for this type.
    const fn tex_c_b(self) -> (u32, u32, u32) {
        match self {
            MemType::NormalWriteBack => (0b001, 1, 1),
            MemType::NormalUncached => (0b001, 0, 0),
            MemType::Device => (0b000, 0, 1),
            MemType::StronglyOrdered => (0b000, 0, 0),
        }
    }

    /// Whether memory of this type is Normal (may be executable, cached).
    pub const fn is_normal(self) -> bool {
        matches!(self, MemType::NormalWriteBack | MemType::NormalUncached)
    }
}

/// Access permissions for PL1 (kernel) and PL0 (user), AP[2:0] with
/// `SCTLR.AFE = 0`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Kernel read/write, user none (AP = 0b001).
    KernelRw,
    /// Kernel read-only, user none (AP = 0b101).
    KernelRo,
    /// Kernel and user read/write (AP = 0b011).
    UserRw,
    /// Kernel and user read-only (AP = 0b111).
    UserRo,
}

impl Access {
    /// `(ap2, ap10)`.
    const fn ap(self) -> (u32, u32) {
        match self {
            Access::KernelRw => (0, 0b01),
            Access::KernelRo => (1, 0b01),
            Access::UserRw => (0, 0b11),
            Access::UserRo => (1, 0b11),
        }
    }

    /// Whether user mode may read.
    pub const fn user_readable(self) -> bool {
        matches!(self, Access::UserRw | Access::UserRo)
    }

    /// Whether the kernel may write.
    pub const fn writable(self) -> bool {
        matches!(self, Access::KernelRw | Access::UserRw)
    }
}

/// Everything about a mapping except where it points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attributes {
    /// Memory type.
    pub mem: MemType,
    /// Permissions.
    pub access: Access,
    /// Execute-never. Forced on for device and strongly-ordered memory,
    /// where speculative instruction fetches could touch registers.
    pub execute_never: bool,
    /// Not-global: the TLB entry is tagged with the current ASID. Set for
    /// every per-task (TTBR0) mapping, clear for the kernel half.
    pub not_global: bool,
    /// Shareable: coherent between CPUs (set for all normal memory so SMP
    /// needs no change).
    pub shareable: bool,
}

impl Attributes {
    /// Kernel RAM: normal write-back, kernel read/write, never executable.
    pub const KERNEL_DATA: Self = Self {
        mem: MemType::NormalWriteBack,
        access: Access::KernelRw,
        execute_never: true,
        not_global: false,
        shareable: true,
    };
    /// Kernel code: normal write-back, kernel read-only, executable.
    pub const KERNEL_TEXT: Self = Self {
        mem: MemType::NormalWriteBack,
        access: Access::KernelRo,
        execute_never: false,
        not_global: false,
        shareable: true,
    };
    /// Kernel read-only data.
    pub const KERNEL_RODATA: Self = Self {
        mem: MemType::NormalWriteBack,
        access: Access::KernelRo,
        execute_never: true,
        not_global: false,
        shareable: true,
    };
    /// Kernel MMIO: device memory, kernel read/write, execute-never.
    pub const KERNEL_DEVICE: Self = Self {
        mem: MemType::Device,
        access: Access::KernelRw,
        execute_never: true,
        not_global: false,
        shareable: true,
    };
    /// The boot identity/high map: RAM, kernel read/write, executable.
    pub const KERNEL_BOOT: Self = Self {
        mem: MemType::NormalWriteBack,
        access: Access::KernelRw,
        execute_never: false,
        not_global: false,
        shareable: true,
    };

    /// A vmalloc-window page mapped with `attrs` (the `map_pages` ABI):
    /// user-accessible, not-global, shareable, execute-never; the memory
    /// type from `attrs` (Normal uncached is TEX=001 C=0 B=0).
    pub const fn user_window(attrs: abi::MapAttrs) -> Self {
        Self {
            mem: match attrs.mem_type() {
                abi::MemType::NormalCached => MemType::NormalWriteBack,
                abi::MemType::NormalUncached => MemType::NormalUncached,
                abi::MemType::Device => MemType::Device,
            },
            access: if attrs.is_writable() {
                Access::UserRw
            } else {
                Access::UserRo
            },
            execute_never: true,
            not_global: true,
            shareable: true,
        }
    }

    /// The ABI attributes of a mapping a task can reach (`mapping_info`):
    /// memory type and writability. `None` for one the task cannot access
    /// or whose type the ABI cannot name (strongly-ordered): the kernel
    /// never gives a task either.
    pub const fn user_map_attrs(self) -> Option<abi::MapAttrs> {
        let mem = match self.mem {
            MemType::NormalWriteBack => abi::MemType::NormalCached,
            MemType::NormalUncached => abi::MemType::NormalUncached,
            MemType::Device => abi::MemType::Device,
            MemType::StronglyOrdered => return None,
        };
        match self.access {
            Access::UserRw => Some(abi::MapAttrs::new(mem, true)),
            Access::UserRo => Some(abi::MapAttrs::new(mem, false)),
            Access::KernelRw | Access::KernelRo => None,
        }
    }

    /// The effective execute-never bit: device memory is never executable.
    const fn xn(self) -> u32 {
        (self.execute_never || !self.mem.is_normal()) as u32
    }
}

/// Kernel mappings all use domain 0, set to "client" in DACR so the AP bits
/// are checked.
pub const DOMAIN_KERNEL: u32 = 0;

/// A level-1 descriptor.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(transparent)]
pub struct L1Entry(pub u32);

/// What an L1 entry decodes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L1Kind {
    /// No translation.
    Fault,
    /// Points at an L2 table.
    Table { l2: PhysAddr },
    /// Maps 1 MiB.
    Section { base: PhysAddr, attrs: Attributes },
    /// Something this kernel never writes (supersection, reserved).
    Other,
}

/// Why a descriptor could not be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DescriptorError {
    /// The physical address is not aligned to the descriptor's size.
    Misaligned,
}

impl L1Entry {
    /// The invalid entry.
    pub const FAULT: Self = Self(0);

    /// A 1 MiB section mapping `base`.
    pub const fn section(base: PhysAddr, attrs: Attributes) -> Result<Self, DescriptorError> {
        if base.0 & (SECTION_SIZE - 1) != 0 {
            return Err(DescriptorError::Misaligned);
        }
        let (tex, c, b) = attrs.mem.tex_c_b();
        let (ap2, ap) = attrs.access.ap();
        Ok(Self(
            base.0
                | (attrs.not_global as u32) << 17
                | (attrs.shareable as u32) << 16
                | ap2 << 15
                | tex << 12
                | ap << 10
                | DOMAIN_KERNEL << 5
                | attrs.xn() << 4
                | c << 3
                | b << 2
                | 0b10,
        ))
    }

    /// A pointer to an L2 table (1 KiB aligned).
    pub const fn table(l2: PhysAddr) -> Result<Self, DescriptorError> {
        if l2.0 & 0x3ff != 0 {
            return Err(DescriptorError::Misaligned);
        }
        Ok(Self(l2.0 | DOMAIN_KERNEL << 5 | 0b01))
    }

    /// Whether the entry translates nothing.
    #[inline(always)]
    pub const fn is_fault(self) -> bool {
        self.0 & 0b11 == 0
    }

    /// The L2 table this entry points at, if it is a page-table entry (the
    /// cheap test the hot paths use; `kind` decodes everything).
    #[inline(always)]
    pub const fn table_base(self) -> Option<PhysAddr> {
        if self.0 & 0b11 == 0b01 {
            Some(PhysAddr(self.0 & !0x3ff))
        } else {
            None
        }
    }

    /// Decodes the entry (used by tests and by the fault dump).
    pub const fn kind(self) -> L1Kind {
        let v = self.0;
        match v & 0b11 {
            0b00 => L1Kind::Fault,
            0b01 => L1Kind::Table {
                l2: PhysAddr(v & !0x3ff),
            },
            0b10 if v & (1 << 18) == 0 => L1Kind::Section {
                base: PhysAddr(v & !(SECTION_SIZE - 1)),
                attrs: decode_attrs(
                    (v >> 12) & 0b111,
                    (v >> 3) & 1,
                    (v >> 2) & 1,
                    (v >> 15) & 1,
                    (v >> 10) & 0b11,
                    (v >> 4) & 1,
                    (v >> 17) & 1,
                    (v >> 16) & 1,
                ),
            },
            _ => L1Kind::Other,
        }
    }
}

/// A level-2 descriptor.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[repr(transparent)]
pub struct L2Entry(pub u32);

/// What an L2 entry decodes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L2Kind {
    /// No translation.
    Fault,
    /// Maps 4 KiB.
    SmallPage { base: PhysAddr, attrs: Attributes },
    /// Maps 64 KiB (never written by this kernel).
    LargePage,
}

impl L2Entry {
    /// The invalid entry.
    pub const FAULT: Self = Self(0);

    /// A 4 KiB small page mapping `base`.
    pub const fn small_page(base: PhysAddr, attrs: Attributes) -> Result<Self, DescriptorError> {
        if !base.is_page_aligned() {
            return Err(DescriptorError::Misaligned);
        }
        let (tex, c, b) = attrs.mem.tex_c_b();
        let (ap2, ap) = attrs.access.ap();
        Ok(Self(
            base.0
                | (attrs.not_global as u32) << 11
                | (attrs.shareable as u32) << 10
                | ap2 << 9
                | tex << 6
                | ap << 4
                | c << 3
                | b << 2
                | 0b10
                | attrs.xn(),
        ))
    }

    /// The same descriptor for another page: `self` built once with base 0
    /// serves as a template for a run of pages with equal attributes.
    #[inline(always)]
    pub const fn with_base(self, base: PhysAddr) -> Result<Self, DescriptorError> {
        if !base.is_page_aligned() || self.0 & 0xffff_f000 != 0 {
            return Err(DescriptorError::Misaligned);
        }
        Ok(Self(self.0 | base.0))
    }

    /// Whether the entry translates.
    #[inline(always)]
    pub const fn is_valid(self) -> bool {
        self.0 & 0b11 != 0
    }

    /// Decodes the entry.
    pub const fn kind(self) -> L2Kind {
        let v = self.0;
        if v & 0b10 != 0 {
            L2Kind::SmallPage {
                base: PhysAddr(v & !0xfff),
                attrs: decode_attrs(
                    (v >> 6) & 0b111,
                    (v >> 3) & 1,
                    (v >> 2) & 1,
                    (v >> 9) & 1,
                    (v >> 4) & 0b11,
                    v & 1,
                    (v >> 11) & 1,
                    (v >> 10) & 1,
                ),
            }
        } else if v & 0b01 != 0 {
            L2Kind::LargePage
        } else {
            L2Kind::Fault
        }
    }
}

#[allow(clippy::too_many_arguments)]
const fn decode_attrs(
    tex: u32,
    c: u32,
    b: u32,
    ap2: u32,
    ap: u32,
    xn: u32,
    ng: u32,
    s: u32,
) -> Attributes {
    let mem = match (tex, c, b) {
        (0b001, 1, 1) => MemType::NormalWriteBack,
        (0b001, 0, 0) => MemType::NormalUncached,
        (0b000, 0, 1) => MemType::Device,
        _ => MemType::StronglyOrdered,
    };
    let access = match (ap2, ap) {
        (0, 0b01) => Access::KernelRw,
        (1, 0b01) => Access::KernelRo,
        (0, 0b11) => Access::UserRw,
        _ => Access::UserRo,
    };
    Attributes {
        mem,
        access,
        execute_never: xn != 0,
        not_global: ng != 0,
        shareable: s != 0,
    }
}

/// What a user mapping is, decoded from the descriptor that maps `va`
/// (`mapping_info`): attributes, physical address of the 4 KiB page and
/// the raw descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserMapping {
    /// Memory type and writability.
    pub attrs: abi::MapAttrs,
    /// Physical address of the page holding `va`.
    pub page: PhysAddr,
    /// The descriptor (L2 small page, or L1 section).
    pub raw: u32,
}

/// Decodes the L1 `section` entry for `va` (its `kind` must be a section).
pub const fn describe_section(entry: L1Entry, va: u32) -> Option<UserMapping> {
    match entry.kind() {
        L1Kind::Section { base, attrs } => match attrs.user_map_attrs() {
            Some(a) => Some(UserMapping {
                attrs: a,
                page: PhysAddr(base.0 | (va & (SECTION_SIZE - 1) & !0xfff)),
                raw: entry.0,
            }),
            None => None,
        },
        _ => None,
    }
}

/// Decodes an L2 entry as a user page; `None` if it maps nothing a task
/// can access.
pub const fn describe_page(entry: L2Entry) -> Option<UserMapping> {
    match entry.kind() {
        L2Kind::SmallPage { base, attrs } => match attrs.user_map_attrs() {
            Some(a) => Some(UserMapping {
                attrs: a,
                page: base,
                raw: entry.0,
            }),
            None => None,
        },
        _ => None,
    }
}

/// The L1 index (1 MiB granule) of a virtual address.
pub const fn l1_index(va: u32) -> usize {
    (va >> 20) as usize
}

/// The L2 index (4 KiB granule inside its 1 MiB) of a virtual address.
pub const fn l2_index(va: u32) -> usize {
    ((va >> 12) & 0xff) as usize
}

/// Translation-table walk attributes for TTBR0/TTBR1 with the
/// multiprocessing extensions: inner and outer write-back write-allocate,
/// shareable, inner-shareable (`NOS = 0` would be outer; Linux's
/// `TTB_FLAGS_SMP`).
pub const TTBR_WALK_WBWA_SHARED: u32 = (1 << 6) | (1 << 5) | (0b01 << 3) | (1 << 1);

/// A TTBR value: table base plus walk attributes.
pub const fn ttbr(table: PhysAddr) -> u32 {
    table.0 | TTBR_WALK_WBWA_SHARED
}

/// DACR value: domain 0 = client (permissions checked), all others no access.
pub const DACR_KERNEL: u32 = 0b01;

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_MEM: [MemType; 4] = [
        MemType::NormalWriteBack,
        MemType::NormalUncached,
        MemType::Device,
        MemType::StronglyOrdered,
    ];
    const ALL_ACCESS: [Access; 4] = [
        Access::KernelRw,
        Access::KernelRo,
        Access::UserRw,
        Access::UserRo,
    ];

    #[test]
    fn section_kernel_data_bits() {
        let e = L1Entry::section(PhysAddr(0x6010_0000), Attributes::KERNEL_DATA).unwrap();
        // base | S | TEX=001 | AP=01 | XN | C | B | section
        assert_eq!(
            e.0,
            0x6010_0000 | 1 << 16 | 0b001 << 12 | 0b01 << 10 | 1 << 4 | 1 << 3 | 1 << 2 | 0b10
        );
    }

    #[test]
    fn section_device_is_always_xn() {
        let mut a = Attributes::KERNEL_DEVICE;
        a.execute_never = false;
        let e = L1Entry::section(PhysAddr(0x1000_0000), a).unwrap();
        assert_eq!(e.0 & (1 << 4), 1 << 4, "device section must be XN");
        assert_eq!((e.0 >> 12) & 7, 0, "TEX=000");
        assert_eq!((e.0 >> 2) & 3, 0b01, "C=0 B=1: shareable device");
    }

    #[test]
    fn section_rejects_misaligned_base() {
        assert_eq!(
            L1Entry::section(PhysAddr(0x6010_1000), Attributes::KERNEL_DATA),
            Err(DescriptorError::Misaligned)
        );
    }

    #[test]
    fn page_table_pointer() {
        let e = L1Entry::table(PhysAddr(0x6020_0400)).unwrap();
        assert_eq!(e.0, 0x6020_0401);
        assert_eq!(
            e.kind(),
            L1Kind::Table {
                l2: PhysAddr(0x6020_0400)
            }
        );
        assert_eq!(
            L1Entry::table(PhysAddr(0x6020_0200)),
            Err(DescriptorError::Misaligned)
        );
    }

    #[test]
    fn small_page_user_rw_not_global() {
        let a = Attributes {
            mem: MemType::NormalWriteBack,
            access: Access::UserRw,
            execute_never: true,
            not_global: true,
            shareable: true,
        };
        let e = L2Entry::small_page(PhysAddr(0x6123_4000), a).unwrap();
        assert_eq!(
            e.0,
            0x6123_4000 | 1 << 11 | 1 << 10 | 0b001 << 6 | 0b11 << 4 | 1 << 3 | 1 << 2 | 0b10 | 1
        );
        assert!(e.is_valid());
    }

    #[test]
    fn small_page_rejects_misaligned() {
        assert_eq!(
            L2Entry::small_page(PhysAddr(0x6000_0800), Attributes::KERNEL_DATA),
            Err(DescriptorError::Misaligned)
        );
    }

    #[test]
    fn fault_entries() {
        assert_eq!(L1Entry::FAULT.kind(), L1Kind::Fault);
        assert_eq!(L2Entry::FAULT.kind(), L2Kind::Fault);
        assert!(!L2Entry::FAULT.is_valid());
        assert_eq!(L2Entry(0x1234_0001).kind(), L2Kind::LargePage);
        assert_eq!(L1Entry(0x0004_0002).kind(), L1Kind::Other, "supersection");
    }

    /// Every combination of type, permission and flags survives an
    /// encode/decode round trip, for both descriptor kinds.
    #[test]
    fn round_trip_every_attribute_combination() {
        for mem in ALL_MEM {
            for access in ALL_ACCESS {
                for bits in 0..8u32 {
                    let attrs = Attributes {
                        mem,
                        access,
                        execute_never: bits & 1 != 0,
                        not_global: bits & 2 != 0,
                        shareable: bits & 4 != 0,
                    };
                    let mut expect = attrs;
                    expect.execute_never = attrs.execute_never || !mem.is_normal();
                    let s = L1Entry::section(PhysAddr(0x7ff0_0000), attrs).unwrap();
                    assert_eq!(
                        s.kind(),
                        L1Kind::Section {
                            base: PhysAddr(0x7ff0_0000),
                            attrs: expect
                        }
                    );
                    let p = L2Entry::small_page(PhysAddr(0x1000_9000), attrs).unwrap();
                    assert_eq!(
                        p.kind(),
                        L2Kind::SmallPage {
                            base: PhysAddr(0x1000_9000),
                            attrs: expect
                        }
                    );
                }
            }
        }
    }

    /// Every ABI attribute value maps to the descriptor bits doc/syscalls.md
    /// gives and decodes back to itself through the installed descriptor.
    #[test]
    fn window_attributes_round_trip_through_descriptors() {
        for raw in 0..8u32 {
            let Some(a) = abi::MapAttrs::from_raw(raw) else {
                assert_eq!(raw >> 1, 3, "only memory type 3 is refused");
                continue;
            };
            let attrs = Attributes::user_window(a);
            let e = L2Entry::small_page(PhysAddr(0x6543_2000), attrs).unwrap();
            let (tex, c, b) = ((e.0 >> 6) & 7, (e.0 >> 3) & 1, (e.0 >> 2) & 1);
            let want = match a.mem_type() {
                abi::MemType::NormalCached => (0b001, 1, 1),
                abi::MemType::NormalUncached => (0b001, 0, 0),
                abi::MemType::Device => (0b000, 0, 1),
            };
            assert_eq!((tex, c, b), want, "{a:?}");
            assert_eq!(e.0 & 1, 1, "execute-never");
            assert_ne!(e.0 & (1 << 11), 0, "not-global");
            assert_eq!((e.0 >> 4) & 3, 0b11, "user-accessible");
            assert_eq!((e.0 >> 9) & 1, !a.is_writable() as u32, "AP2 = read-only");
            let m = describe_page(e).unwrap();
            assert_eq!(m.attrs, a);
            assert_eq!(m.page, PhysAddr(0x6543_2000));
            assert_eq!(m.raw, e.0);
        }
    }

    #[test]
    fn describe_refuses_what_a_task_cannot_reach() {
        assert_eq!(describe_page(L2Entry::FAULT), None);
        assert_eq!(describe_page(L2Entry(0x1234_0001)), None, "large page");
        let k = L2Entry::small_page(PhysAddr(0x6000_0000), Attributes::KERNEL_DATA).unwrap();
        assert_eq!(describe_page(k), None, "kernel-only");
        let mut so = Attributes::user_window(abi::MapAttrs::DEVICE_RW);
        so.mem = MemType::StronglyOrdered;
        let e = L2Entry::small_page(PhysAddr(0x1000_0000), so).unwrap();
        assert_eq!(describe_page(e), None, "strongly-ordered has no ABI name");
    }

    #[test]
    fn describe_section_gives_the_page_inside() {
        let mut a = Attributes::user_window(abi::MapAttrs::NORMAL_RW);
        a.execute_never = true;
        let s = L1Entry::section(PhysAddr(0x6100_0000), a).unwrap();
        let m = describe_section(s, 0x5003_4567).unwrap();
        assert_eq!(m.page, PhysAddr(0x6103_4000));
        assert_eq!(m.attrs, abi::MapAttrs::NORMAL_RW);
        assert_eq!(m.raw, s.0);
        assert_eq!(describe_section(L1Entry::FAULT, 0), None);
    }

    #[test]
    fn indices() {
        assert_eq!(l1_index(0x8010_0000), 0x801);
        assert_eq!(l2_index(0x4003_4567), 0x34);
        assert_eq!(ttbr(PhysAddr(0x6040_0000)), 0x6040_006a);
    }

    #[test]
    fn cheap_accessors_agree_with_kind() {
        let t = L1Entry::table(PhysAddr(0x6020_0400)).unwrap();
        assert_eq!(t.table_base(), Some(PhysAddr(0x6020_0400)));
        assert!(!t.is_fault());
        let sec = L1Entry::section(PhysAddr(0x6010_0000), Attributes::KERNEL_DATA).unwrap();
        assert_eq!(sec.table_base(), None);
        assert!(L1Entry::FAULT.is_fault());
        let template = L2Entry::small_page(PhysAddr(0), Attributes::KERNEL_DATA).unwrap();
        assert_eq!(
            template.with_base(PhysAddr(0x6123_4000)),
            L2Entry::small_page(PhysAddr(0x6123_4000), Attributes::KERNEL_DATA)
        );
        assert_eq!(
            template.with_base(PhysAddr(0x6123_4800)),
            Err(DescriptorError::Misaligned)
        );
    }
}
