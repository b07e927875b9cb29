//! A task's address space: its TTBR0 L1 table (8 KiB, `TTBCR.N = 1`), the
//! L2 tables under it, and its ASID.
//!
//! All page-table memory comes from the kernel pool. L2 tables are kept
//! until the space is destroyed (freeing one on the last unmap would need a
//! TLB walk-cache flush first; they are 1 KiB each and bounded by the
//! window size).

use abi::{FrameRun, KernelError, Pfn, PhysAddr};
use kerncore::asid::AsidTag;
use kerncore::mmu::{self, Attributes, L1Entry, L1Kind, L2Entry, L1_USER_ENTRIES, L2_ENTRIES};

use crate::arch::barrier;
use crate::kpool::KernelPool;
use crate::mm;

/// User L1 table size.
const L1_BYTES: u32 = 8192;
/// L2 table size.
const L2_BYTES: u32 = 1024;

/// One task's translation tables.
pub struct VSpace {
    l1: PhysAddr,
    /// Its ASID and generation.
    pub asid: AsidTag,
}

fn l1_table<'a>(pa: PhysAddr) -> &'a mut [L1Entry; L1_USER_ENTRIES] {
    // SAFETY: `pa` is an 8 KiB L1 table allocated from the kernel pool by
    // `VSpace::new` and owned by that VSpace; callers hold the kernel lock,
    // so no other reference to it is live.
    unsafe { &mut *(mm::pa_to_kva(pa) as *mut [L1Entry; L1_USER_ENTRIES]) }
}

fn l2_table<'a>(pa: PhysAddr) -> &'a mut [L2Entry; L2_ENTRIES] {
    // SAFETY: `pa` comes from an L1 table entry this module wrote, pointing
    // at a 1 KiB L2 table from the kernel pool owned by the same VSpace;
    // callers hold the kernel lock.
    unsafe { &mut *(mm::pa_to_kva(pa) as *mut [L2Entry; L2_ENTRIES]) }
}

impl VSpace {
    /// A space with nothing mapped.
    pub fn new(pool: &mut KernelPool) -> Result<Self, KernelError> {
        let l1 = pool.alloc(L1_BYTES).ok_or(KernelError::OutOfKernelMemory)?;
        Ok(Self {
            l1,
            asid: AsidTag::default(),
        })
    }

    /// The value for TTBR0.
    pub fn ttbr0(&self) -> u32 {
        mmu::ttbr(self.l1)
    }

    #[inline(always)]
    fn l2_of(&self, va: u32) -> Option<PhysAddr> {
        l1_table(self.l1).get(mmu::l1_index(va))?.table_base()
    }

    /// The entry mapping `va`, if any: (physical page, attributes).
    pub fn translate(&self, va: u32) -> Option<(PhysAddr, Attributes)> {
        let idx = mmu::l1_index(va);
        match l1_table(self.l1).get(idx)?.kind() {
            L1Kind::Section { base, attrs } => Some((PhysAddr(base.0 | (va & 0x000f_f000)), attrs)),
            L1Kind::Table { l2 } => match l2_table(l2)[mmu::l2_index(va)].kind() {
                mmu::L2Kind::SmallPage { base, attrs } => Some((base, attrs)),
                _ => None,
            },
            _ => None,
        }
    }

    /// Whether any page in `[va, va + pages * 4 KiB)` is mapped. Walks a
    /// MiB at a time: an empty L1 entry clears its whole MiB at once.
    pub fn any_mapped(&self, va: u32, pages: u32) -> bool {
        let l1 = l1_table(self.l1);
        let end = va as u64 + ((pages as u64) << 12);
        let mut cur = va as u64;
        while cur < end {
            let mib_end = ((cur >> 20) + 1) << 20;
            let chunk_end = mib_end.min(end);
            let Some(entry) = l1.get(mmu::l1_index(cur as u32)) else {
                return false;
            };
            if let Some(l2) = entry.table_base() {
                let table = l2_table(l2);
                let first = mmu::l2_index(cur as u32);
                let n = ((chunk_end - cur) >> 12) as usize;
                if table[first..first + n].iter().any(|e| e.is_valid()) {
                    return true;
                }
            } else if !entry.is_fault() {
                return true; // a section
            }
            cur = chunk_end;
        }
        false
    }

    /// How many new L2 tables mapping `[va, va + pages)` would need.
    fn missing_l2(&self, va: u32, pages: u32) -> u32 {
        let first = mmu::l1_index(va);
        let last = mmu::l1_index(va + (pages - 1) * 4096);
        l1_table(self.l1)[first..=last]
            .iter()
            .filter(|e| e.is_fault())
            .count() as u32
    }

    /// Maps the frames of `runs`, one after another, at consecutive pages
    /// from `va`; `pages` is their total (the caller has checked the runs:
    /// none empty, the sum `pages`). All or nothing: if a page is already
    /// mapped (`AlreadyMapped`) or an L2 table cannot be had
    /// (`OutOfKernelMemory`), nothing changes. `va` must be page aligned and
    /// the range inside the user half.
    pub fn map_pages(
        &mut self,
        pool: &mut KernelPool,
        va: u32,
        pages: u32,
        attrs: Attributes,
        runs: &[FrameRun],
    ) -> Result<(), KernelError> {
        if pages == 0 {
            return Ok(());
        }
        if self.any_mapped(va, pages) {
            return Err(KernelError::AlreadyMapped);
        }
        // Check the pool can supply every L2 table first, so a failure
        // leaves no trace (1 KiB tables: any free block will do, and the
        // kernel lock keeps the count true until they are taken).
        if pool.free_blocks() < self.missing_l2(va, pages) as usize {
            return Err(KernelError::OutOfKernelMemory);
        }
        let template =
            L2Entry::small_page(PhysAddr(0), attrs).map_err(|_| KernelError::Unaligned)?;
        let l1 = l1_table(self.l1);
        // Position in the runs: the next frame is `runs[run].pfn + off`.
        let (mut run, mut off) = (0usize, 0u32);
        let mut i = 0;
        while i < pages {
            let page_va = va + i * 4096;
            let idx = mmu::l1_index(page_va);
            let l2 = match l1[idx].table_base() {
                Some(l2) => l2,
                None => {
                    let pa = pool.alloc(L2_BYTES).ok_or(KernelError::OutOfKernelMemory)?;
                    l1[idx] = L1Entry::table(pa).map_err(|_| KernelError::OutOfKernelMemory)?;
                    pa
                }
            };
            // Fill this MiB's part of the request in one go.
            let table = l2_table(l2);
            let first = mmu::l2_index(page_va);
            let n = (L2_ENTRIES - first).min((pages - i) as usize);
            for slot in table[first..first + n].iter_mut() {
                let r = runs.get(run).ok_or(KernelError::InvalidArgument)?;
                *slot = template
                    .with_base(Pfn(r.pfn.wrapping_add(off)).addr())
                    .map_err(|_| KernelError::Unaligned)?;
                off += 1;
                if off >= r.count {
                    run += 1;
                    off = 0;
                }
            }
            i += n as u32;
        }
        // Make the new entries visible to the table walker.
        barrier::dsb();
        Ok(())
    }

    /// Maps 1 MiB sections (the memory server's linear map of its pool).
    pub fn map_sections(&mut self, va: u32, pa: PhysAddr, count: u32, attrs: Attributes) {
        let l1 = l1_table(self.l1);
        for i in 0..count {
            let idx = mmu::l1_index(va) + i as usize;
            if let (Some(slot), Ok(e)) = (
                l1.get_mut(idx),
                L1Entry::section(PhysAddr(pa.0 + (i << 20)), attrs),
            ) {
                *slot = e;
            }
        }
        barrier::dsb();
    }

    /// Clears the entries of `pages` pages at `va`; returns how many were
    /// mapped. No TLB maintenance: the caller flushes.
    pub fn unmap_pages(&mut self, va: u32, pages: u32) -> u32 {
        let mut cleared = 0;
        let mut i = 0;
        while i < pages {
            let page_va = va + i * 4096;
            let first = mmu::l2_index(page_va);
            let n = (L2_ENTRIES - first).min((pages - i) as usize);
            if let Some(l2) = self.l2_of(page_va) {
                for e in l2_table(l2)[first..first + n].iter_mut() {
                    if e.is_valid() {
                        *e = L2Entry::FAULT;
                        cleared += 1;
                    }
                }
            }
            i += n as u32;
        }
        barrier::dsb();
        cleared
    }

    /// Frees every table, and every mapped page that belongs to the kernel
    /// pool (image, stack, IPC buffer). Frames from Pool/Device
    /// capabilities belong to the memory server and are left alone.
    pub fn destroy(self, pool: &mut KernelPool) {
        let l1 = l1_table(self.l1);
        for entry in l1.iter() {
            if let L1Kind::Table { l2 } = entry.kind() {
                for e in l2_table(l2).iter() {
                    if let mmu::L2Kind::SmallPage { base, .. } = e.kind() {
                        if pool.contains(base) {
                            pool.free(base, 4096);
                        }
                    }
                }
                pool.free(l2, L2_BYTES);
            }
        }
        pool.free(self.l1, L1_BYTES);
    }
}
