//! Physical memory discovery and the kernel's own translation tables.
//!
//! RAM size: the `mem=` boot parameter if given, else what the board's
//! firmware says (the `virt` device tree), else a probe that finds the
//! first MiB where the bus answers with an external abort or drops writes
//! (the vexpress-a9 board passes no device tree to an ELF kernel, so there
//! is nothing better to ask).
//!
//! The kernel half (TTBR1, `TTBCR.N = 1`), the same on every board:
//! ```text
//!  0x8000_0000 ┬ RAM direct map (RAM base + the board's offset), 1 MiB
//!              │   sections, RW, XN; the MiBs holding the kernel image in
//!              │   4 KiB pages: text RX · rodata R · data/bss RW XN ·
//!              │   stack guards unmapped
//!  0x8000_0000 + RAM size (at most 1 GiB)
//!  0xf000_0000   the board's device windows, 1 MiB sections (device, XN)
//! ```
//! TTBR0 (`[0, 2 GiB)`) belongs to the running task; with no task it points
//! at an all-fault table, so a stray low address faults.

use abi::PhysAddr;
use kerncore::bootargs::BootArgs;
use kerncore::mmu::{
    self, Attributes, L1Entry, L2Entry, L1_ENTRIES, L1_USER_ENTRIES, L2_ENTRIES, SECTION_SIZE,
};
use log::info;
use spin::Mutex;

use crate::arch::{barrier, cp15, trap};
use crate::board;

extern "C" {
    static __image_start: u8;
    static __text_start: u8;
    static __text_end: u8;
    static __rodata_start: u8;
    static __rodata_end: u8;
    static __stacks_start: u8;
    static __image_end: u8;
}

/// Kernel virtual address bounds of the image parts, from the linker.
#[derive(Clone, Copy, Debug)]
pub struct ImageLayout {
    /// First byte of the image's kernel-half part.
    pub start: u32,
    /// Code.
    pub text: (u32, u32),
    /// Read-only data.
    pub rodata: (u32, u32),
    /// Per-CPU stacks (guard page + SVC stack each).
    pub stacks: u32,
    /// End of the image (page aligned).
    pub end: u32,
}

/// Reads the linker's symbols.
pub fn image_layout() -> ImageLayout {
    ImageLayout {
        start: (&raw const __image_start) as u32,
        text: (
            (&raw const __text_start) as u32,
            (&raw const __text_end) as u32,
        ),
        rodata: (
            (&raw const __rodata_start) as u32,
            (&raw const __rodata_end) as u32,
        ),
        stacks: (&raw const __stacks_start) as u32,
        end: (&raw const __image_end) as u32,
    }
}

/// Kernel virtual → physical for the direct map and the image.
pub const fn kva_to_pa(va: u32) -> PhysAddr {
    PhysAddr(va - board::layout::KERNEL_VIRT_OFFSET)
}

/// Physical → kernel virtual (direct map).
pub const fn pa_to_kva(pa: PhysAddr) -> u32 {
    pa.0 + board::layout::KERNEL_VIRT_OFFSET
}

/// What RAM the board has and how we know.
#[derive(Clone, Copy, Debug)]
pub struct Ram {
    /// First byte.
    pub base: PhysAddr,
    /// Size in bytes (a multiple of 1 MiB).
    pub size: u32,
    /// How the size was found.
    pub source: &'static str,
}

/// The board's RAM base.
const RAM_BASE: PhysAddr = PhysAddr(board::layout::RAM_BASE);

/// Finds the RAM size (see the module docs).
pub fn discover_ram(args: &BootArgs) -> Ram {
    if let Some(bytes) = args.mem_bytes {
        return Ram {
            base: RAM_BASE,
            size: (bytes & !(SECTION_SIZE - 1)).min(board::RAM_MAX),
            source: "mem= boot parameter",
        };
    }
    if let Some((base, bytes)) = board::firmware_ram() {
        if bytes > board::RAM_MAX {
            log::info!(
                "RAM beyond the first {} MiB is not used (the kernel's direct map holds {} MiB)",
                board::RAM_MAX >> 20,
                board::RAM_MAX >> 20
            );
        }
        if base == RAM_BASE && bytes >= 16 << 20 {
            return Ram {
                base,
                size: (bytes & !(SECTION_SIZE - 1)).min(board::RAM_MAX),
                source: "device tree",
            };
        }
        log::warn!(
            "device-tree memory {:#010x}+{:#x} is not usable (RAM must start at {:#010x}, 16 MiB or more): probing",
            base.0,
            bytes,
            RAM_BASE.0
        );
    }
    // The boot map covers the whole 1 GiB window, so every probe address is
    // mapped; only the bus decides. RAM is one block from its base, so
    // "RAM answers at MiB k" holds exactly for k < size: binary search for
    // the first MiB that does not answer (10 probes; probing every MiB
    // would make QEMU's host allocate all of guest RAM at boot).
    let (mut lo, mut hi) = (16u32, board::RAM_MAX >> 20);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let va = pa_to_kva(PhysAddr(RAM_BASE.0 + (mid << 20)));
        // SAFETY: `va` is mapped by the boot table as normal memory at or
        // above 16 MiB into RAM, far above the kernel image and its stacks,
        // so nothing live is stored there; the probe restores the word.
        if unsafe { ram_answers(va as usize, mid) } {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    let mib = lo;
    Ram {
        base: RAM_BASE,
        size: mib << 20,
        source: "probe",
    }
}

/// Whether RAM answers at `va`: the load must not abort (real buses, and
/// QEMU boards that report decode errors) and a written pattern must read
/// back (QEMU's vexpress-a9 silently reads zero and drops writes where no
/// RAM is).
///
/// # Safety
/// `va` must be mapped normal memory that holds nothing live.
unsafe fn ram_answers(va: usize, salt: u32) -> bool {
    // SAFETY: forwarded: `va` is mapped; an abort is fixed up.
    let Some(saved) = (unsafe { trap::probe_read(va) }) else {
        return false;
    };
    let pattern = 0x5a5a_0000 ^ salt.rotate_left(13) ^ !saved;
    let p = va as *mut u32;
    // SAFETY: the load above did not abort, so the address decodes; the
    // caller guarantees nothing live is stored there.
    unsafe { core::ptr::write_volatile(p, pattern) };
    // SAFETY: as above.
    let back = unsafe { core::ptr::read_volatile(p) };
    // SAFETY: as above; put the old contents back.
    unsafe { core::ptr::write_volatile(p, saved) };
    back == pattern
}

#[repr(C, align(16384))]
struct KernelL1([L1Entry; L1_ENTRIES]);

#[repr(C, align(8192))]
struct UserL1([L1Entry; L1_USER_ENTRIES]);

#[repr(C, align(1024))]
#[derive(Clone, Copy)]
struct L2Table([L2Entry; L2_ENTRIES]);

/// The most 1 MiB slices the image may span (also asserted in `link.ld`).
const IMAGE_MAX_MIB: usize = 9;

static KERNEL_L1: Mutex<KernelL1> = Mutex::new(KernelL1([L1Entry::FAULT; L1_ENTRIES]));
static IMAGE_L2: Mutex<[L2Table; IMAGE_MAX_MIB]> =
    Mutex::new([L2Table([L2Entry::FAULT; L2_ENTRIES]); IMAGE_MAX_MIB]);
/// TTBR0 while no task runs: every low address faults.
static EMPTY_USER_L1: UserL1 = UserL1([L1Entry::FAULT; L1_USER_ENTRIES]);

fn entry_or_halt<T>(r: Result<T, mmu::DescriptorError>) -> T {
    match r {
        Ok(e) => e,
        // Only reachable through a linker-script or platform-table bug.
        Err(e) => panic!("bad kernel descriptor: {e:?}"),
    }
}

/// The attributes of one kernel-image page, or `None` for a guard page.
fn image_page_attrs(layout: &ImageLayout, va: u32) -> Option<Attributes> {
    use crate::arch::boot::SVC_STACK_SIZE;
    if va >= layout.text.0 && va < layout.text.1 {
        return Some(Attributes::KERNEL_TEXT);
    }
    if va >= layout.rodata.0 && va < layout.rodata.1 {
        return Some(Attributes::KERNEL_RODATA);
    }
    let per_cpu = 4096 + SVC_STACK_SIZE;
    if va >= layout.stacks
        && va < layout.stacks + 4 * per_cpu
        && (va - layout.stacks).is_multiple_of(per_cpu)
    {
        return None;
    }
    Some(Attributes::KERNEL_DATA)
}

/// Builds the kernel table for `ram` and switches to it: TTBR1 = kernel
/// half, TTBR0 = the all-fault table, `TTBCR.N = 1`. The boot identity
/// map is gone afterwards.
pub fn init_kernel_tables(ram: &Ram) {
    let layout = image_layout();
    let image_first_mib = layout.start & !(SECTION_SIZE - 1);
    let image_last_mib = (layout.end - 1) & !(SECTION_SIZE - 1);
    let mut l1 = KERNEL_L1.lock();
    let mut l2s = IMAGE_L2.lock();

    let mut next_l2 = 0usize;
    let mut pa = ram.base.0;
    let ram_end = ram.base.0 + ram.size;
    while pa < ram_end {
        let va = pa_to_kva(PhysAddr(pa));
        let entry = if va >= image_first_mib && va <= image_last_mib {
            let Some(table) = l2s.get_mut(next_l2) else {
                panic!("kernel image spans more than {IMAGE_MAX_MIB} MiB");
            };
            next_l2 += 1;
            for (i, slot) in table.0.iter_mut().enumerate() {
                let page_va = va + (i as u32) * 4096;
                *slot = match image_page_attrs(&layout, page_va) {
                    Some(a) => entry_or_halt(L2Entry::small_page(kva_to_pa(page_va), a)),
                    None => L2Entry::FAULT,
                };
            }
            entry_or_halt(L1Entry::table(kva_to_pa(table as *const L2Table as u32)))
        } else {
            entry_or_halt(L1Entry::section(PhysAddr(pa), Attributes::KERNEL_DATA))
        };
        l1.0[mmu::l1_index(va)] = entry;
        pa += SECTION_SIZE;
    }
    for w in board::windows() {
        for i in 0..w.sections {
            let pa = PhysAddr(w.phys.0 + (i << 20));
            l1.0[mmu::l1_index(w.virt + (i << 20))] =
                entry_or_halt(L1Entry::section(pa, Attributes::KERNEL_DEVICE));
        }
    }

    let l1_pa = kva_to_pa(l1.0.as_ptr() as u32);
    let user_pa = kva_to_pa(EMPTY_USER_L1.0.as_ptr() as u32);
    barrier::dsb();
    // SAFETY: the new TTBR1 table maps everything the kernel touches from
    // here on (its image, stacks, the direct map and both device windows),
    // with the same addresses the boot table used; only the identity map
    // and low addresses disappear, and nothing kernel-side uses them.
    unsafe {
        cp15::Ttbr1::write(mmu::ttbr(l1_pa));
        cp15::Ttbcr::write(1);
        cp15::Ttbr0::write(mmu::ttbr(user_pa));
        cp15::Contextidr::write(0);
        barrier::tlb_invalidate_all();
    }
}

/// Adds the board's device windows to the boot table (the boot assembly
/// maps only RAM: on `virt` the windows come from the device tree). Called
/// once, early in `kmain`, before any device is touched.
pub fn map_boot_windows() {
    let boot_l1 = &raw mut crate::arch::boot::BOOT_L1;
    for w in board::windows() {
        if w.virt < board::DEVICE_VIRT_BASE || w.virt + (w.sections << 20) > board::DEVICE_VIRT_END
        {
            panic!("device window {} outside the device range", w.name);
        }
        for i in 0..w.sections {
            let pa = PhysAddr(w.phys.0 + (i << 20));
            let entry = entry_or_halt(L1Entry::section(pa, Attributes::KERNEL_DEVICE));
            let index = mmu::l1_index(w.virt + (i << 20));
            // SAFETY: BOOT_L1 is the live boot table; this CPU is the only
            // one running, the entries written are in the device range,
            // which held fault entries (never cached in the TLB), and no
            // Rust reference to the table exists.
            unsafe { (*boot_l1).0[index] = entry };
        }
    }
    barrier::dsb();
    // SAFETY: only fault entries became valid; invalidating the TLB drops
    // nothing the kernel relies on.
    unsafe { barrier::tlb_invalidate_all() };
}

/// Switches TTBR0 to a task's table with its ASID (Linux's order for
/// ARMv7 without LPAE: CONTEXTIDR, isb, TTBR0, isb).
pub fn load_user_table(ttbr0: u32, asid: u8) {
    // SAFETY: `ttbr0` names a live task L1 table (owned by its VSpace) that
    // maps only user addresses; the kernel half is in TTBR1 and unaffected.
    unsafe {
        cp15::Contextidr::write(asid as u32);
        barrier::isb();
        cp15::Ttbr0::write(ttbr0);
        barrier::isb();
    }
}

/// Points TTBR0 at the all-fault table (before a task's tables are freed).
pub fn load_empty_user_table() {
    let pa = kva_to_pa(EMPTY_USER_L1.0.as_ptr() as u32);
    // SAFETY: the empty table is a static that lives forever and maps
    // nothing; ASID 0 is never given to a task.
    unsafe {
        cp15::Contextidr::write(0);
        barrier::isb();
        cp15::Ttbr0::write(mmu::ttbr(pa));
        barrier::isb();
    }
}

/// The top of CPU `cpu`'s SVC stack (see `link.ld`).
pub fn svc_stack_top(cpu: u32) -> u32 {
    use crate::arch::boot::SVC_STACK_SIZE;
    image_layout().stacks + cpu * (4096 + SVC_STACK_SIZE) + 4096 + SVC_STACK_SIZE
}

/// The RAM this kernel found (set once by `kmain`).
pub static RAM: spin::Once<Ram> = spin::Once::new();

/// Copies `out.len()` bytes from user address `ptr` of `vs` into `out`:
/// every page must be mapped user-readable normal RAM (the user pointer is
/// turned into checked physical pages before any byte is read).
pub fn copy_from_user(
    vs: &crate::vspace::VSpace,
    ptr: u32,
    out: &mut [u8],
) -> Result<(), abi::KernelError> {
    let len = out.len() as u32;
    let end = ptr
        .checked_add(len)
        .ok_or(abi::KernelError::BadUserBuffer)?;
    if end > 0x8000_0000 {
        return Err(abi::KernelError::BadUserBuffer);
    }
    let Some(ram) = RAM.get() else {
        return Err(abi::KernelError::BadUserBuffer);
    };
    let mut done = 0u32;
    while done < len {
        let va = ptr + done;
        let (page, attrs) = vs.translate(va).ok_or(abi::KernelError::BadUserBuffer)?;
        if !attrs.access.user_readable() || !attrs.mem.is_normal() {
            return Err(abi::KernelError::BadUserBuffer);
        }
        if page.0 < ram.base.0 || page.0 - ram.base.0 >= ram.size {
            return Err(abi::KernelError::BadUserBuffer);
        }
        let off = va & 0xfff;
        let n = (4096 - off).min(len - done);
        let src = (pa_to_kva(page) + off) as *const u8;
        let dst = &mut out[done as usize..(done + n) as usize];
        // SAFETY: `page` is RAM (checked above), mapped by the direct map;
        // the range stays inside that page; reading user data that the
        // user may change concurrently is fine (single CPU, and bytes have
        // no invalid values).
        unsafe { core::ptr::copy_nonoverlapping(src, dst.as_mut_ptr(), n as usize) };
        done += n;
    }
    Ok(())
}

/// Prints the physical memory map and the kernel's virtual layout.
pub fn print_memory_map(ram: &Ram) {
    let l = image_layout();
    let kernel_start = board::layout::KERNEL_LOAD;
    let kernel_end = kva_to_pa(l.end).0;
    let ram_end = ram.base.0 + ram.size;
    info!("physical memory map:");
    info!(
        "  ram        {:#010x}-{:#010x} {:5} MiB  (size from {})",
        ram.base.0,
        ram_end - 1,
        ram.size >> 20,
        ram.source
    );
    info!(
        "  kernel     {:#010x}-{:#010x} {:5} KiB  (text {} KiB, rodata {} KiB, data+bss+stacks {} KiB)",
        kernel_start,
        kernel_end - 1,
        (kernel_end - kernel_start) >> 10,
        (l.text.1 - l.text.0) >> 10,
        (l.rodata.1 - l.rodata.0) >> 10,
        (l.end - l.rodata.1) >> 10
    );
    // Below the kernel: unused, except for a device tree at the RAM base.
    let low_free = match board::reserved() {
        Some((base, size)) if base == ram.base => (base.0 + size).min(kernel_start),
        _ => ram.base.0,
    };
    // The device tree may fill the whole first MiB (virt): then nothing
    // is free below the kernel and only the range above it is shown.
    if low_free < kernel_start {
        info!(
            "  free ram   {:#010x}-{:#010x} {:5} KiB, {:#010x}-{:#010x} {:5} MiB",
            low_free,
            kernel_start - 1,
            (kernel_start - low_free) >> 10,
            kernel_end,
            ram_end - 1,
            (ram_end - kernel_end) >> 20
        );
    } else {
        info!(
            "  free ram   {:#010x}-{:#010x} {:5} MiB",
            kernel_end,
            ram_end - 1,
            (ram_end - kernel_end) >> 20
        );
    }
    if let Some((base, size)) = board::reserved() {
        info!(
            "  reserved   {:#010x}-{:#010x} {:5} KiB  (device tree)",
            base.0,
            base.0 + size - 1,
            size.div_ceil(1024)
        );
    }
    for (name, base, size) in board::devices() {
        info!(
            "  device     {:#010x}-{:#010x}            {}",
            base.0,
            base.0 + size - 1,
            name
        );
    }
    info!("kernel virtual layout (TTBR1, TTBCR.N=1):");
    info!(
        "  {:#010x}-{:#010x}  ram direct map (image in 4 KiB pages, W^X)",
        pa_to_kva(ram.base),
        pa_to_kva(ram.base) + (ram.size - 1)
    );
    for w in board::windows() {
        info!(
            "  {:#010x}-{:#010x}  {} ({:#010x})",
            w.virt,
            w.virt + (w.sections << 20) - 1,
            w.name,
            w.phys.0
        );
    }
}
