//! A task's address space: its TTBR0 L1 table (8 KiB, `TTBCR.N = 1`), the
//! L2 tables under it, and its ASID.
//!
//! All page-table memory comes from the kernel pool. L2 tables in the
//! window half (`[1 GiB, 2 GiB)`, where every `map_pages` lands) are
//! charged to the task: they come out of its page-table quota, reserved in
//! the pool when the task was created (kerncore::kmem). A count of valid
//! entries per window table (kept beside the tables, 2 KiB per task) tells
//! an unmap in O(1) that it emptied a table; such a table is only noted,
//! and freed at the next `flush_tlb` of the space (or when a map needs
//! the quota back), after its L1 entry is cleared and the ASID's TLB
//! entries invalidated — until then a walk cache may still hold the L1
//! entry and walk into the table. Tables below 1 GiB (image, stack, IPC
//! buffer) are the loader's and live as long as the space.

use abi::{FrameRun, KernelError, Pfn, PhysAddr};
use kerncore::asid::AsidTag;
use kerncore::kmem::{self, EntryCounts, PendingEmpty, TableQuota, WINDOW_HALF_MIBS};
use kerncore::mmu::{
    self, Attributes, L1Entry, L1Kind, L2Entry, UserMapping, L1_USER_ENTRIES, L2_ENTRIES,
};

use crate::arch::barrier;
use crate::kpool::KernelPool;
use crate::mm;

/// User L1 table size.
const L1_BYTES: u32 = 8192;
/// L2 table size.
const L2_BYTES: u32 = 1024;
/// Emptied tables unhooked per TLB invalidation in `reclaim_empty`.
const RECLAIM_BATCH: usize = 4;
/// Emptied window tables a space keeps for its next maps (see `spare`).
const SPARE_TABLES: usize = 4;
/// Size of the per-window-MiB entry counts (u16 each).
const COUNTS_BYTES: u32 = (WINDOW_HALF_MIBS * 2) as u32;

/// One task's translation tables.
pub struct VSpace {
    l1: PhysAddr,
    /// Valid entries per window-half L2 table (`COUNTS_BYTES` from the
    /// kernel pool).
    counts: PhysAddr,
    /// Window tables held, against the task's quota.
    quota: TableQuota,
    /// Window tables emptied by an unmap, waiting for a TLB flush.
    pending: PendingEmpty,
    /// Reclaimed window tables (unhooked and flushed, all entries zero)
    /// kept for this space's next maps instead of going back to the pool:
    /// the blocks were promised to this task anyway, so keeping a few
    /// changes nothing for anyone else, and saves the next map the
    /// allocation and the 1 KiB zeroing. They count as unused quota.
    spare: [PhysAddr; SPARE_TABLES],
    /// How many of `spare` hold a table.
    spares: usize,
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

fn count_table<'a>(pa: PhysAddr) -> EntryCounts<'a> {
    // SAFETY: `pa` is the 2 KiB counts block `VSpace::new` allocated from
    // the kernel pool (2-byte aligned, zeroed) and owned by that VSpace;
    // callers hold the kernel lock.
    EntryCounts(unsafe { &mut *(mm::pa_to_kva(pa) as *mut [u16; WINDOW_HALF_MIBS]) })
}

/// Why a space could not be made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NewSpaceError {
    /// The pool cannot promise the page-table quota: `free_tables` 1 KiB
    /// blocks are left unpromised.
    CannotReserve {
        /// Unpromised free blocks.
        free_tables: u32,
    },
    /// The pool cannot supply the L1 table or the counts.
    OutOfKernelMemory,
}

impl VSpace {
    /// A space with nothing mapped and a quota of `kmem_tables` window L2
    /// tables, reserved in `pool` now.
    pub fn new(pool: &mut KernelPool, kmem_tables: u32) -> Result<Self, NewSpaceError> {
        if !pool.reserve_tables(kmem_tables) {
            return Err(NewSpaceError::CannotReserve {
                free_tables: pool.unpromised_blocks(),
            });
        }
        let Some(l1) = pool.alloc(L1_BYTES) else {
            pool.release_tables(kmem_tables);
            return Err(NewSpaceError::OutOfKernelMemory);
        };
        let Some(counts) = pool.alloc(COUNTS_BYTES) else {
            pool.free(l1, L1_BYTES);
            pool.release_tables(kmem_tables);
            return Err(NewSpaceError::OutOfKernelMemory);
        };
        Ok(Self {
            l1,
            counts,
            quota: TableQuota::new(kmem_tables),
            pending: PendingEmpty::new(),
            spare: [PhysAddr(0); SPARE_TABLES],
            spares: 0,
            asid: AsidTag::default(),
        })
    }

    /// Window L2 tables held and the quota.
    pub fn tables(&self) -> (u32, u32) {
        (self.quota.used(), self.quota.limit())
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

    /// How many new L2 tables mapping `[va, va + pages)` would need:
    /// (in the window half, charged to the quota; below it, the loader's).
    fn missing_l2(&self, va: u32, pages: u32) -> (u32, u32) {
        let first = mmu::l1_index(va);
        let last = mmu::l1_index(va + (pages - 1) * 4096);
        let l1 = l1_table(self.l1);
        let (mut charged, mut other) = (0, 0);
        for (idx, entry) in l1.iter().enumerate().take(last + 1).skip(first) {
            if entry.is_fault() {
                if kmem::window_mib(idx).is_some() {
                    charged += 1;
                } else {
                    other += 1;
                }
            }
        }
        (charged, other)
    }

    /// Maps the frames of `runs`, one after another, at consecutive pages
    /// from `va`; `pages` is their total (the caller has checked the runs:
    /// none empty, the sum `pages`). All or nothing: if a page is already
    /// mapped (`AlreadyMapped`), the task's page-table quota cannot cover
    /// the window tables needed even after reclaiming its emptied ones
    /// (`KernelQuotaExceeded`) or the pool cannot supply a table below the
    /// window (`OutOfKernelMemory`), nothing changes. `va` must be page
    /// aligned and the range inside the user half. `live_asid` is the
    /// space's ASID if TLB entries tagged with it may exist (for the
    /// reclaim).
    pub fn map_pages(
        &mut self,
        pool: &mut KernelPool,
        va: u32,
        pages: u32,
        attrs: Attributes,
        runs: &[FrameRun],
        live_asid: Option<u8>,
    ) -> Result<(), KernelError> {
        if pages == 0 {
            return Ok(());
        }
        if self.any_mapped(va, pages) {
            return Err(KernelError::AlreadyMapped);
        }
        // Check every table can be had first, so a failure leaves no trace.
        let (mut charged, mut other) = self.missing_l2(va, pages);
        if !self.quota.fits(charged) && !self.pending.is_empty() {
            // Emptied tables count against the quota until freed: free
            // them now (the map may reuse some: count again).
            self.reclaim_empty(pool, live_asid);
            (charged, other) = self.missing_l2(va, pages);
        }
        if !self.quota.fits(charged) {
            return Err(KernelError::KernelQuotaExceeded);
        }
        // Tables below the window come from unpromised 1 KiB blocks (any
        // free block will do; the kernel lock keeps the count true).
        if pool.unpromised_blocks() < other {
            return Err(KernelError::OutOfKernelMemory);
        }
        let template =
            L2Entry::small_page(PhysAddr(0), attrs).map_err(|_| KernelError::Unaligned)?;
        let l1 = l1_table(self.l1);
        let mut counts = count_table(self.counts);
        // Position in the runs: the next frame is `runs[run].pfn + off`.
        let (mut run, mut off) = (0usize, 0u32);
        let mut i = 0;
        while i < pages {
            let page_va = va + i * 4096;
            let idx = mmu::l1_index(page_va);
            let mib = kmem::window_mib(idx);
            let l2 = match l1[idx].table_base() {
                Some(l2) => l2,
                None => {
                    let pa = match mib {
                        Some(_) => {
                            if !self.quota.take() {
                                return Err(KernelError::KernelQuotaExceeded);
                            }
                            if self.spares > 0 {
                                self.spares -= 1;
                                Some(self.spare[self.spares])
                            } else {
                                let pa = pool.alloc_reserved_table();
                                if pa.is_none() {
                                    // Cannot happen (the promise covers the
                                    // quota); keep the books straight anyway.
                                    self.quota.give_back();
                                }
                                pa
                            }
                        }
                        None => pool.alloc(L2_BYTES),
                    };
                    let pa = pa.ok_or(KernelError::OutOfKernelMemory)?;
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
            if let Some(m) = mib {
                counts.add(m, n as u16);
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
    /// mapped. No TLB maintenance: the caller flushes. A window table this
    /// empties is noted for the next flush (`reclaim_empty`).
    pub fn unmap_pages(&mut self, va: u32, pages: u32) -> u32 {
        let mut counts = count_table(self.counts);
        let mut cleared = 0;
        let mut i = 0;
        while i < pages {
            let page_va = va + i * 4096;
            let first = mmu::l2_index(page_va);
            let n = (L2_ENTRIES - first).min((pages - i) as usize);
            if let Some(l2) = self.l2_of(page_va) {
                let mut here = 0u16;
                for e in l2_table(l2)[first..first + n].iter_mut() {
                    if e.is_valid() {
                        *e = L2Entry::FAULT;
                        here += 1;
                    }
                }
                cleared += here as u32;
                if let Some(m) = kmem::window_mib(mmu::l1_index(page_va)) {
                    if counts.remove(m, here) {
                        self.pending.mark(m);
                    }
                }
            }
            i += n as u32;
        }
        barrier::dsb();
        cleared
    }

    /// Whether emptied window tables wait for a flush.
    pub fn has_empty_tables(&self) -> bool {
        !self.pending.is_empty()
    }

    /// Frees the window tables unmaps emptied (those mapped into again
    /// since are kept): clears their L1 entries, invalidates the TLB of
    /// `live_asid` (which also drops walk-cache copies of those entries),
    /// then returns the tables to the task's reservation. Returns
    /// (tables freed, whether the ASID's TLB entries were invalidated).
    pub fn reclaim_empty(&mut self, pool: &mut KernelPool, live_asid: Option<u8>) -> (u32, bool) {
        let l1 = l1_table(self.l1);
        let counts = count_table(self.counts);
        let (mut freed, mut invalidated) = (0, false);
        let mut word = 0;
        while let Some((first_mib, marks)) = self.pending.take_word(&mut word) {
            // A few tables at a time (one bitmap word holds 32 MiBs; usually
            // one is marked): unhook, invalidate, free.
            let mut rest = marks;
            while rest != 0 {
                let mut unhooked = [(0usize, PhysAddr(0)); RECLAIM_BATCH];
                let mut n = 0;
                while rest != 0 && n < RECLAIM_BATCH {
                    let bit = rest.trailing_zeros() as usize;
                    rest &= rest - 1;
                    let mib = first_mib + bit;
                    if counts.get(mib) != 0 {
                        continue; // mapped into again since: kept
                    }
                    let idx = kmem::WINDOW_HALF_FIRST_L1 + mib;
                    if let Some(l2) = l1[idx].table_base() {
                        l1[idx] = L1Entry::FAULT;
                        unhooked[n] = (mib, l2);
                        n += 1;
                    }
                }
                if n == 0 {
                    continue;
                }
                barrier::dsb();
                if let Some(asid) = live_asid {
                    // Walk-cache copies of the cleared L1 entries, tagged
                    // or not, then everything the ASID cached.
                    for &(mib, _) in &unhooked[..n] {
                        barrier::tlb_invalidate_mva_all_asids(
                            ((kmem::WINDOW_HALF_FIRST_L1 + mib) as u32) << 20,
                        );
                    }
                    barrier::tlb_invalidate_asid(asid);
                    invalidated = true;
                }
                for &(_, l2) in &unhooked[..n] {
                    if self.spares < SPARE_TABLES {
                        self.spare[self.spares] = l2;
                        self.spares += 1;
                    } else {
                        pool.free_reserved_table(l2);
                    }
                    self.quota.give_back();
                }
                freed += n as u32;
            }
        }
        (freed, invalidated)
    }

    /// How the page at `va` is mapped, for the task itself
    /// (`mapping_info`); `None` if nothing it can reach is mapped there.
    pub fn describe(&self, va: u32) -> Option<UserMapping> {
        let entry = *l1_table(self.l1).get(mmu::l1_index(va))?;
        match entry.kind() {
            L1Kind::Section { .. } => mmu::describe_section(entry, va),
            L1Kind::Table { l2 } => mmu::describe_page(l2_table(l2)[mmu::l2_index(va)]),
            _ => None,
        }
    }

    /// Frees every table, and every mapped page that belongs to the kernel
    /// pool (image, stack, IPC buffer), and gives back the unused part of
    /// the page-table reservation. Frames from Pool/Device capabilities
    /// belong to the memory server and are left alone. The caller has
    /// invalidated the space's TLB entries.
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
                // Window tables were taken from the promise: freeing them
                // plainly leaves the promise smaller by what was used.
                pool.free(l2, L2_BYTES);
            }
        }
        // Spares are unused quota but hold their blocks: free those, and
        // release the rest of the promise.
        for &l2 in &self.spare[..self.spares] {
            pool.free(l2, L2_BYTES);
        }
        pool.release_tables(self.quota.unused() - self.spares as u32);
        pool.free(self.counts, COUNTS_BYTES);
        pool.free(self.l1, L1_BYTES);
    }
}
