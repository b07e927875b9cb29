//! The flattened device tree (DTB) the `virt` board is described by,
//! reduced to the facts the kernel needs: RAM, `/chosen/bootargs`, the
//! interrupt controller, the console UART, the RTC, the generic-timer PPIs,
//! the PSCI conduit, the virtio-mmio transports and the CPUs.
//!
//! Parsing goes through the `fdt` crate, whose 0.1 parser trusts its input:
//! on a malformed structure block it indexes out of bounds, `unwrap`s and
//! `assert!`s. A blob is therefore first checked here, token by token
//! ([`check_structure`]): every block inside `totalsize`, every token
//! known, every name NUL-terminated UTF-8 inside its block, nodes balanced
//! and at most [`MAX_DEPTH`] deep, properties before child nodes, no
//! `FDT_NOP` (the crate mishandles NOPs between properties). Only a blob
//! that passes is handed to `fdt`, and only through the calls that are
//! panic-free on such a blob (`all_nodes`, `children`, `properties`); every
//! property value is decoded here with checked lengths. So no input makes
//! [`parse`] panic (the tests feed it truncated and bit-flipped QEMU blobs).
//!
//! A structurally broken blob is a [`DtbError`]; a well-formed blob that
//! lacks a device, or describes it in a way this code does not understand
//! (an `interrupts` value of the wrong size, a `reg` behind a non-identity
//! `ranges`), just leaves that field `None`: the board then falls back to
//! its built-in default or refuses the role.

use fdt::node::FdtNode;
use fdt::Fdt;

/// Bytes of the FDT header (version 17).
pub const HEADER_SIZE: usize = 40;
/// Memory ranges kept from `/memory` nodes.
pub const MAX_MEMORY_REGIONS: usize = 4;
/// GICv3 redistributor regions kept.
pub const MAX_REDIST_REGIONS: usize = 4;
/// virtio-mmio transports kept (QEMU `virt` has 32).
pub const MAX_VIRTIO: usize = 32;
/// CPUs kept from `/cpus`.
pub const MAX_CPUS: usize = 8;
/// Deepest node nesting accepted (root = 1; QEMU's deepest is 5).
pub const MAX_DEPTH: usize = 16;

const FDT_MAGIC: u32 = 0xd00d_feed;
const FDT_BEGIN_NODE: u32 = 1;
const FDT_END_NODE: u32 = 2;
const FDT_PROP: u32 = 3;
const FDT_NOP: u32 = 4;
const FDT_END: u32 = 9;

/// GIC interrupt specifier type cell: shared peripheral interrupt.
const GIC_SPI: u32 = 0;
/// GIC interrupt specifier type cell: private peripheral interrupt.
const GIC_PPI: u32 = 1;
/// First INTID of the PPIs and of the SPIs.
const PPI_BASE: u32 = 16;
const SPI_BASE: u32 = 32;
/// SPIs are INTIDs 32..1019.
const SPI_COUNT: u32 = 988;
const PPI_COUNT: u32 = 16;

/// Why a blob was rejected. The numbers are stable (they are printed).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DtbError {
    /// Fewer bytes than the header, or than the header's `totalsize`.
    TooShort = 1,
    /// The first word is not `0xd00dfeed`: there is no device tree here.
    BadMagic = 2,
    /// Version below 17, or not backwards compatible with 17.
    BadVersion = 3,
    /// The structure or strings block lies outside `totalsize`, or the
    /// structure block's size is not a multiple of 4.
    BadLayout = 4,
    /// An unknown token, or a token or property value cut off by the end
    /// of the structure block.
    BadToken = 5,
    /// A node or property name that is not NUL-terminated UTF-8 inside its
    /// block, or a property name offset outside the strings block.
    BadName = 6,
    /// `FDT_END_NODE` without a node, a missing `FDT_END_NODE` / `FDT_END`,
    /// nesting deeper than [`MAX_DEPTH`], a property after a child node, or
    /// a second top-level node.
    BadNesting = 7,
    /// `FDT_NOP` tokens: valid FDT, but the `fdt` 0.1 parser mishandles them.
    UnsupportedNop = 8,
}

impl DtbError {
    /// A short description for the boot log.
    pub fn describe(self) -> &'static str {
        match self {
            DtbError::TooShort => "blob shorter than its header or totalsize",
            DtbError::BadMagic => "no FDT magic",
            DtbError::BadVersion => "FDT version older than 17",
            DtbError::BadLayout => "FDT block outside the blob",
            DtbError::BadToken => "bad or truncated FDT token",
            DtbError::BadName => "bad node or property name",
            DtbError::BadNesting => "unbalanced or too deep FDT nodes",
            DtbError::UnsupportedNop => "FDT_NOP tokens (unsupported)",
        }
    }
}

impl core::fmt::Display for DtbError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} (dtb error {})", self.describe(), *self as u8)
    }
}

/// A list of at most `N` items without allocation. Items past `N` are not
/// stored but counted, so a caller can say that some were ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedVec<T: Copy + Default, const N: usize> {
    items: [T; N],
    len: usize,
    dropped: usize,
}

impl<T: Copy + Default, const N: usize> Default for FixedVec<T, N> {
    fn default() -> Self {
        Self {
            items: [T::default(); N],
            len: 0,
            dropped: 0,
        }
    }
}

impl<T: Copy + Default, const N: usize> FixedVec<T, N> {
    /// Appends `item`; returns false (and counts it) when full.
    pub fn push(&mut self, item: T) -> bool {
        match self.items.get_mut(self.len) {
            Some(slot) => {
                *slot = item;
                self.len += 1;
                true
            }
            None => {
                self.dropped += 1;
                false
            }
        }
    }

    /// The stored items.
    pub fn as_slice(&self) -> &[T] {
        &self.items[..self.len]
    }

    fn as_mut_slice(&mut self) -> &mut [T] {
        &mut self.items[..self.len]
    }

    /// Number of stored items.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of items that did not fit.
    pub fn dropped(&self) -> usize {
        self.dropped
    }
}

/// A physical address range. 64-bit because `virt` describes everything
/// with two address cells; the board decides what it can reach.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Region {
    /// First byte.
    pub base: u64,
    /// Length in bytes (0 when the parent has `#size-cells = <0>`).
    pub size: u64,
}

/// A memory-mapped device and its first interrupt.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Device {
    /// Its first `reg` range.
    pub reg: Region,
    /// GIC interrupt ID (PPI n -> 16 + n, SPI n -> 32 + n), if it has one
    /// this code could decode.
    pub irq: Option<u32>,
}

/// The interrupt controller, by architecture version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GicInfo {
    /// GICv1/v2 (`arm,cortex-a15-gic`, `arm,gic-400`, `arm,cortex-a9-gic`, ...).
    V2 {
        /// Distributor registers.
        dist: Region,
        /// Memory-mapped CPU interface.
        cpu: Region,
    },
    /// GICv3 (`arm,gic-v3`): the CPU interface is system registers.
    V3 {
        /// Distributor registers (64 KiB).
        dist: Region,
        /// Redistributor regions (128 KiB per CPU inside each).
        redist: FixedVec<Region, MAX_REDIST_REGIONS>,
    },
}

/// The generic-timer interrupts, as GIC interrupt IDs, in the order the
/// `arm,armv7-timer` binding lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TimerIrqs {
    /// Secure physical timer (PPI 13 -> 29 on `virt`).
    pub secure_phys: u32,
    /// Non-secure physical timer (PPI 14 -> 30).
    pub nonsecure_phys: u32,
    /// Virtual timer (PPI 11 -> 27): the one a KVM guest uses.
    pub virt: u32,
    /// Hypervisor timer (PPI 10 -> 26).
    pub hyp: u32,
}

/// How PSCI calls reach the firmware or hypervisor (`/psci/method`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PsciConduit {
    /// `hvc #0` (QEMU `virt`, KVM).
    Hvc,
    /// `smc #0` (QEMU `virt,virtualization=on`).
    Smc,
}

/// The `/psci` node.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PsciInfo {
    /// The conduit.
    pub conduit: PsciConduit,
    /// `arm,psci-0.2` or later: the standard function IDs apply and
    /// PSCI_VERSION exists.
    pub v0_2: bool,
    /// PSCI 0.1 `cpu_on` function ID, if the node gives one.
    pub cpu_on: Option<u32>,
    /// PSCI 0.1 `cpu_off` function ID, if the node gives one.
    pub cpu_off: Option<u32>,
}

/// Everything the kernel takes from a device tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BoardInfo<'a> {
    /// The header's `totalsize`: bytes to reserve at the blob's address.
    pub blob_size: usize,
    /// RAM ranges from the `/memory` node(s), in tree order.
    pub memory: FixedVec<Region, MAX_MEMORY_REGIONS>,
    /// `/chosen/bootargs` without its NUL (borrowed from the blob).
    pub bootargs: Option<&'a str>,
    /// The interrupt controller.
    pub gic: Option<GicInfo>,
    /// The lowest-addressed `arm,pl011` UART.
    pub uart: Option<Device>,
    /// The lowest-addressed `arm,pl031` RTC.
    pub rtc: Option<Device>,
    /// The `arm,armv7-timer` / `arm,armv8-timer` interrupts.
    pub timer: Option<TimerIrqs>,
    /// The `/psci` node, if it names a known conduit.
    pub psci: Option<PsciInfo>,
    /// `virtio,mmio` transports in ascending address order.
    pub virtio: FixedVec<Device, MAX_VIRTIO>,
    /// `reg` of each `/cpus/cpu@N` in tree order: the MPIDR affinity
    /// fields (bits 23..0), without MPIDR's bit 31.
    pub cpu_mpidrs: FixedVec<u32, MAX_CPUS>,
}

fn be32(bytes: &[u8], offset: usize) -> Option<u32> {
    let end = offset.checked_add(4)?;
    let word: [u8; 4] = bytes.get(offset..end)?.try_into().ok()?;
    Some(u32::from_be_bytes(word))
}

/// Offset of the first byte past the NUL-terminated UTF-8 string starting
/// at `offset` in `bytes`.
fn check_cstr(bytes: &[u8], offset: usize) -> Result<usize, DtbError> {
    let rest = bytes.get(offset..).ok_or(DtbError::BadName)?;
    let len = rest.iter().position(|&b| b == 0).ok_or(DtbError::BadName)?;
    core::str::from_utf8(&rest[..len]).map_err(|_| DtbError::BadName)?;
    Ok(offset + len + 1)
}

fn align4(n: usize) -> Option<usize> {
    Some(n.checked_add(3)? & !3)
}

/// Reads the header at the start of `header` (at least [`HEADER_SIZE`]
/// bytes) and returns `totalsize`, so that a caller holding only a pointer
/// knows how many bytes to map and pass to [`parse`].
pub fn blob_size(header: &[u8]) -> Result<usize, DtbError> {
    let word = |index: usize| be32(header, index * 4).ok_or(DtbError::TooShort);
    if header.len() < HEADER_SIZE {
        return Err(DtbError::TooShort);
    }
    if word(0)? != FDT_MAGIC {
        return Err(DtbError::BadMagic);
    }
    let version = word(5)?;
    let last_compatible = word(6)?;
    if version < 17 || last_compatible > 17 {
        return Err(DtbError::BadVersion);
    }
    let total = word(1)? as usize;
    if total < HEADER_SIZE {
        return Err(DtbError::BadLayout);
    }
    Ok(total)
}

/// Checks that `blob` (exactly `totalsize` bytes) is a device tree the
/// `fdt` crate can walk without panicking; see the module documentation.
pub fn check_structure(blob: &[u8]) -> Result<(), DtbError> {
    let total = blob_size(blob)?;
    if blob.len() < total {
        return Err(DtbError::TooShort);
    }
    let blob = &blob[..total];
    let header = |index: usize| be32(blob, index * 4).map(|w| w as usize);
    let (Some(struct_off), Some(strings_off), Some(strings_size), Some(struct_size)) =
        (header(2), header(3), header(8), header(9))
    else {
        return Err(DtbError::TooShort);
    };
    let block = |off: usize, size: usize| {
        off.checked_add(size)
            .and_then(|end| blob.get(off..end))
            .ok_or(DtbError::BadLayout)
    };
    let structure = block(struct_off, struct_size)?;
    let strings = block(strings_off, strings_size)?;
    if !struct_size.is_multiple_of(4) || struct_off < HEADER_SIZE || strings_off < HEADER_SIZE {
        return Err(DtbError::BadLayout);
    }

    let mut pos = 0;
    let mut depth = 0usize;
    // Bit d set: the open node at depth d already has a child node, so a
    // property there would come after it (the crate cannot skip that).
    let mut has_child: u32 = 0;
    let mut root_done = false;
    loop {
        let token = be32(structure, pos).ok_or(DtbError::BadToken)?;
        pos += 4;
        match token {
            FDT_BEGIN_NODE => {
                if root_done {
                    return Err(DtbError::BadNesting);
                }
                let name_end = check_cstr(structure, pos)?;
                if depth == 0 && name_end != pos + 1 {
                    // The root's name is empty.
                    return Err(DtbError::BadName);
                }
                pos = align4(name_end).ok_or(DtbError::BadToken)?;
                if depth > 0 {
                    has_child |= 1 << (depth - 1);
                }
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(DtbError::BadNesting);
                }
                has_child &= !(1 << (depth - 1));
            }
            FDT_END_NODE => {
                if depth == 0 {
                    return Err(DtbError::BadNesting);
                }
                depth -= 1;
                if depth == 0 {
                    root_done = true;
                }
            }
            FDT_PROP => {
                if depth == 0 || has_child & (1 << (depth - 1)) != 0 {
                    return Err(DtbError::BadNesting);
                }
                let len = be32(structure, pos).ok_or(DtbError::BadToken)? as usize;
                let name_off = be32(structure, pos + 4).ok_or(DtbError::BadToken)? as usize;
                if name_off >= strings.len() {
                    return Err(DtbError::BadName);
                }
                check_cstr(strings, name_off)?;
                let value_end = (pos + 8).checked_add(len).ok_or(DtbError::BadToken)?;
                if value_end > structure.len() {
                    return Err(DtbError::BadToken);
                }
                pos = align4(value_end).ok_or(DtbError::BadToken)?;
            }
            FDT_NOP => return Err(DtbError::UnsupportedNop),
            FDT_END => {
                return if root_done && depth == 0 {
                    Ok(())
                } else {
                    Err(DtbError::BadNesting)
                };
            }
            _ => return Err(DtbError::BadToken),
        }
    }
}

/// Parses a whole blob (at least `totalsize` bytes; more is ignored).
/// Never panics, whatever the bytes.
pub fn parse(blob: &[u8]) -> Result<BoardInfo<'_>, DtbError> {
    check_structure(blob)?;
    let total = blob_size(blob)?;
    let blob = &blob[..total];
    let fdt = Fdt::new(blob).map_err(|_| DtbError::TooShort)?;
    let root = fdt
        .all_nodes()
        .next()
        .filter(|n| n.name == "/")
        .ok_or(DtbError::BadNesting)?;

    let gic = find_gic(root);
    let mut info = BoardInfo {
        blob_size: total,
        memory: FixedVec::default(),
        bootargs: None,
        gic: gic.map(|gic| gic.info),
        uart: None,
        rtc: None,
        timer: None,
        psci: None,
        virtio: FixedVec::default(),
        cpu_mpidrs: FixedVec::default(),
    };
    let root_scope = Scope {
        cells: cell_sizes(root),
        interrupt_parent: u32_property(root, "interrupt-parent"),
    };
    walk(root, root_scope, gic, 1, &mut info);
    info.virtio
        .as_mut_slice()
        .sort_unstable_by_key(|d| d.reg.base);
    Ok(info)
}

/// `#address-cells` / `#size-cells` a node gives its children.
#[derive(Clone, Copy)]
struct Cells {
    address: usize,
    size: usize,
}

/// What a node inherits from its ancestors.
#[derive(Clone, Copy)]
struct Scope {
    /// The node's parent's cell sizes (how to read its `reg`).
    cells: Cells,
    /// The phandle of the nearest `interrupt-parent`.
    interrupt_parent: Option<u32>,
}

/// The GIC as found before the walk, so device interrupts can be decoded.
#[derive(Clone, Copy)]
struct Gic {
    info: GicInfo,
    phandle: Option<u32>,
    interrupt_cells: u32,
}

fn property<'a>(node: FdtNode<'_, 'a>, name: &str) -> Option<&'a [u8]> {
    node.properties().find(|p| p.name == name).map(|p| p.value)
}

fn u32_property(node: FdtNode<'_, '_>, name: &str) -> Option<u32> {
    property(node, name)
        .filter(|v| v.len() == 4)
        .and_then(|v| be32(v, 0))
}

/// The NUL-separated strings of a string-list property.
fn strings(value: &[u8]) -> impl Iterator<Item = &str> {
    value
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .filter_map(|s| core::str::from_utf8(s).ok())
}

fn is_compatible(node: FdtNode<'_, '_>, any_of: &[&str]) -> bool {
    property(node, "compatible").is_some_and(|v| strings(v).any(|c| any_of.contains(&c)))
}

fn string_property<'a>(node: FdtNode<'_, 'a>, name: &str) -> Option<&'a str> {
    let value = property(node, name)?;
    let value = value.strip_suffix(&[0]).unwrap_or(value);
    core::str::from_utf8(value).ok()
}

fn cell_sizes(node: FdtNode<'_, '_>) -> Cells {
    // Devicetree spec defaults when the properties are absent.
    Cells {
        address: u32_property(node, "#address-cells").map_or(2, |n| n as usize),
        size: u32_property(node, "#size-cells").map_or(1, |n| n as usize),
    }
}

/// Reads a 1- or 2-cell number.
fn read_cells(value: &[u8], offset: usize, cells: usize) -> Option<u64> {
    match cells {
        0 => Some(0),
        1 => be32(value, offset).map(u64::from),
        2 => Some(u64::from(be32(value, offset)?) << 32 | u64::from(be32(value, offset + 4)?)),
        _ => None,
    }
}

/// The `index`th `(address, size)` pair of a node's `reg`.
fn reg(node: FdtNode<'_, '_>, cells: Cells, index: usize) -> Option<Region> {
    if cells.address == 0 || cells.address > 2 || cells.size > 2 {
        return None;
    }
    let value = property(node, "reg")?;
    let entry = (cells.address + cells.size) * 4;
    let start = index.checked_mul(entry)?;
    if start.checked_add(entry)? > value.len() {
        return None;
    }
    Some(Region {
        base: read_cells(value, start, cells.address)?,
        size: read_cells(value, start + cells.address * 4, cells.size)?,
    })
}

/// Decodes the `index`th GIC interrupt specifier of a node's `interrupts`
/// into a GIC interrupt ID.
fn gic_irq(node: FdtNode<'_, '_>, scope: Scope, gic: Option<Gic>, index: usize) -> Option<u32> {
    let gic = gic?;
    let parent = u32_property(node, "interrupt-parent").or(scope.interrupt_parent);
    // An explicit parent must be the GIC; none at all means the GIC too
    // when it is the only controller we know.
    if parent.is_some() && gic.phandle.is_some() && parent != gic.phandle {
        return None;
    }
    if gic.interrupt_cells < 2 {
        return None;
    }
    let cells = gic.interrupt_cells as usize;
    let value = property(node, "interrupts")?;
    let start = index.checked_mul(cells * 4)?;
    if start.checked_add(cells * 4)? > value.len() {
        return None;
    }
    let kind = be32(value, start)?;
    let number = be32(value, start + 4)?;
    match kind {
        GIC_SPI if number < SPI_COUNT => Some(SPI_BASE + number),
        GIC_PPI if number < PPI_COUNT => Some(PPI_BASE + number),
        _ => None,
    }
}

const GICV2_COMPATIBLE: &[&str] = &[
    "arm,cortex-a15-gic",
    "arm,cortex-a9-gic",
    "arm,cortex-a7-gic",
    "arm,gic-400",
    "arm,arm11mp-gic",
    "arm,pl390",
];
const GICV3_COMPATIBLE: &[&str] = &["arm,gic-v3"];

/// Finds the first interrupt controller node with a GIC `compatible`
/// (before the walk, because device nodes may precede it).
fn find_gic(root: FdtNode<'_, '_>) -> Option<Gic> {
    find_gic_under(root, cell_sizes(root), 1)
}

fn find_gic_under(parent: FdtNode<'_, '_>, cells: Cells, depth: usize) -> Option<Gic> {
    if depth > MAX_DEPTH {
        return None;
    }
    for node in parent.children() {
        if property(node, "interrupt-controller").is_some() {
            let info = if is_compatible(node, GICV3_COMPATIBLE) {
                let dist = reg(node, cells, 0)?;
                let count = u32_property(node, "#redistributor-regions").unwrap_or(1) as usize;
                let mut redist = FixedVec::default();
                for index in 0..count.min(MAX_REDIST_REGIONS) {
                    redist.push(reg(node, cells, 1 + index)?);
                }
                Some(GicInfo::V3 { dist, redist })
            } else if is_compatible(node, GICV2_COMPATIBLE) {
                Some(GicInfo::V2 {
                    dist: reg(node, cells, 0)?,
                    cpu: reg(node, cells, 1)?,
                })
            } else {
                None
            };
            if let Some(info) = info {
                return Some(Gic {
                    info,
                    phandle: u32_property(node, "phandle"),
                    interrupt_cells: u32_property(node, "#interrupt-cells").unwrap_or(0),
                });
            }
        }
        if is_identity_bus(node) {
            if let Some(gic) = find_gic_under(node, cell_sizes(node), depth + 1) {
                return Some(gic);
            }
        }
    }
    None
}

/// A bus whose children's addresses are CPU physical addresses: it has an
/// empty `ranges`. (Translating through a non-empty `ranges` is not needed
/// on `virt`; such subtrees are skipped.)
fn is_identity_bus(node: FdtNode<'_, '_>) -> bool {
    property(node, "ranges").is_some_and(|r| r.is_empty())
}

fn base_name<'a>(node: FdtNode<'_, 'a>) -> &'a str {
    node.name.split('@').next().unwrap_or(node.name)
}

/// Keeps the lower-addressed of two devices of the same kind.
fn keep_lowest(slot: &mut Option<Device>, found: Device) {
    if slot.is_none_or(|d| found.reg.base < d.reg.base) {
        *slot = Some(found);
    }
}

fn walk<'a>(
    parent: FdtNode<'_, 'a>,
    scope: Scope,
    gic: Option<Gic>,
    depth: usize,
    info: &mut BoardInfo<'a>,
) {
    if depth > MAX_DEPTH {
        return;
    }
    for node in parent.children() {
        let device = |index| -> Option<Device> {
            Some(Device {
                reg: reg(node, scope.cells, index)?,
                irq: gic_irq(node, scope, gic, 0),
            })
        };
        let name = base_name(node);
        if depth == 1 && name == "chosen" {
            info.bootargs = string_property(node, "bootargs");
        } else if depth == 1 && name == "cpus" {
            read_cpus(node, info);
        } else if (depth == 1 && name == "psci") || is_compatible(node, &["arm,psci"]) {
            info.psci = read_psci(node).or(info.psci);
        } else if name == "memory" || string_property(node, "device_type") == Some("memory") {
            let mut index = 0;
            while let Some(region) = reg(node, scope.cells, index) {
                if region.size > 0 {
                    info.memory.push(region);
                }
                index += 1;
            }
        } else if is_compatible(node, &["arm,pl011"]) {
            if let Some(d) = device(0) {
                keep_lowest(&mut info.uart, d);
            }
        } else if is_compatible(node, &["arm,pl031"]) {
            if let Some(d) = device(0) {
                keep_lowest(&mut info.rtc, d);
            }
        } else if is_compatible(node, &["virtio,mmio"]) {
            if let Some(d) = device(0) {
                info.virtio.push(d);
            }
        } else if is_compatible(node, &["arm,armv7-timer", "arm,armv8-timer"]) {
            let irq = |index| gic_irq(node, scope, gic, index);
            if let (Some(secure_phys), Some(nonsecure_phys), Some(virt), Some(hyp)) =
                (irq(0), irq(1), irq(2), irq(3))
            {
                info.timer = Some(TimerIrqs {
                    secure_phys,
                    nonsecure_phys,
                    virt,
                    hyp,
                });
            }
        } else if is_identity_bus(node) && property(node, "interrupt-controller").is_none() {
            let inner = Scope {
                cells: cell_sizes(node),
                interrupt_parent: u32_property(node, "interrupt-parent").or(scope.interrupt_parent),
            };
            walk(node, inner, gic, depth + 1, info);
        }
    }
}

fn read_psci(node: FdtNode<'_, '_>) -> Option<PsciInfo> {
    let conduit = match string_property(node, "method")? {
        "hvc" => PsciConduit::Hvc,
        "smc" => PsciConduit::Smc,
        _ => return None,
    };
    Some(PsciInfo {
        conduit,
        v0_2: is_compatible(node, &["arm,psci-0.2", "arm,psci-1.0"]),
        cpu_on: u32_property(node, "cpu_on"),
        cpu_off: u32_property(node, "cpu_off"),
    })
}

fn read_cpus(cpus: FdtNode<'_, '_>, info: &mut BoardInfo<'_>) {
    let cells = cell_sizes(cpus);
    if cells.address == 0 || cells.address > 2 {
        return;
    }
    for cpu in cpus.children() {
        let is_cpu = string_property(cpu, "device_type") == Some("cpu") || base_name(cpu) == "cpu";
        if !is_cpu {
            continue;
        }
        let Some(value) = property(cpu, "reg") else {
            continue;
        };
        // With two cells the low word holds Aff2..Aff0 (Aff3 is AArch64 only).
        if let Some(mpidr) = be32(value, (cells.address - 1) * 4) {
            info.cpu_mpidrs.push(mpidr & 0x00ff_ffff);
        }
    }
}
