//! A page-table recorder standing in for the kernel, with frame contents.
//! Shared by the host tests and the `server` fuzz target
//! (`ipc/fuzz/fuzz_targets/server.rs` includes this file by path), so it
//! depends on nothing but `abi` and `memserver`.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use abi::{Pfn, VirtAddr, PAGE_SHIFT, PAGE_SIZE};
use memserver::{MapAttrs, MapError, Mapper, OwnerId, VaRange, VmapConfig};

/// What a frame holds before anything zeroed it, as a client would see
/// it: the kernel's, the server's or another client's data.
pub const STALE: u32 = 0xdead_beef;

/// One recorded PTE.
#[derive(Debug, PartialEq, Eq)]
pub struct Pte {
    pub pfn: u32,
    pub attrs: MapAttrs,
}

/// The kernel's page tables, recorded: PTEs per (owner, virtual page).
/// Checks what the real kernel would refuse (outside the window, mapping
/// over a PTE, unmapping a missing one) plus the server's own promise that
/// a pool frame is mapped in at most one client's space.
#[derive(Debug, Default)]
pub struct FakeMapper {
    pub ptes: BTreeMap<(u32, u32), Pte>,
    /// Pool frame → the (owner, virtual page) slots mapping it.
    pub users: BTreeMap<u32, BTreeSet<(u32, u32)>>,
    pub window: (u32, u32),
    pub pool: (u32, u32),
    pub flushes: u32,
    pub flushed_pages: u64,
    pub zeroed_frames: u64,
    pub map_calls: u32,
    /// Fail the map call with this index (counting `map_calls`)...
    pub fail_map_at: Option<u32>,
    /// ...with this kernel error number (70, one the kernel does not
    /// have, unless set).
    pub fail_map_with: Option<u32>,
    pub violations: Vec<String>,
    /// Frame contents, one word per frame standing for the whole page:
    /// absent means [`STALE`] (whatever was there before the server got
    /// the frame: kernel data, a previous boot's, another client's).
    pub contents: BTreeMap<u32, u32>,
}

impl FakeMapper {
    pub fn new(window: &VmapConfig, pool_first: u32, pool_pages: u32) -> Self {
        Self {
            window: (window.start.0, window.end.0),
            pool: (pool_first, pool_first + pool_pages),
            ..Self::default()
        }
    }

    pub fn pte_count(&self) -> usize {
        self.ptes.len()
    }

    pub fn ptes_of(&self, owner: u32) -> usize {
        self.ptes.range((owner, 0)..(owner + 1, 0)).count()
    }

    pub fn pte(&self, owner: u32, va: u32) -> Option<&Pte> {
        self.ptes.get(&(owner, va >> PAGE_SHIFT))
    }

    fn in_pool(&self, pfn: u32) -> bool {
        (self.pool.0..self.pool.1).contains(&pfn)
    }

    /// The word `owner` reads at `va` (`None`: nothing mapped there).
    pub fn read(&self, owner: u32, va: u32) -> Option<u32> {
        let pte = self.pte(owner, va)?;
        Some(self.contents.get(&pte.pfn).copied().unwrap_or(STALE))
    }

    /// `owner` writes `word` at `va`; false (nothing written) if no
    /// writable PTE is there.
    pub fn write(&mut self, owner: u32, va: u32, word: u32) -> bool {
        match self.pte(owner, va) {
            Some(pte) if pte.attrs.is_writable() => {
                let pfn = pte.pfn;
                self.contents.insert(pfn, word);
                true
            }
            _ => false,
        }
    }
}

impl Mapper for FakeMapper {
    fn map(
        &mut self,
        owner: OwnerId,
        va: VirtAddr,
        pfn: Pfn,
        count: u32,
        attrs: MapAttrs,
    ) -> Result<(), MapError> {
        let call = self.map_calls;
        self.map_calls += 1;
        if self.fail_map_at == Some(call) {
            return Err(MapError(self.fail_map_with.unwrap_or(70)));
        }
        let end = u64::from(va.0) + u64::from(count) * u64::from(PAGE_SIZE);
        if count == 0
            || !va.is_page_aligned()
            || va.0 < self.window.0
            || end > u64::from(self.window.1)
        {
            self.violations
                .push(format!("map outside the window: {va:?} + {count}"));
            return Err(MapError(1));
        }
        let first = va.0 >> PAGE_SHIFT;
        // All or nothing, as the kernel validates before writing.
        for i in 0..count {
            if self.ptes.contains_key(&(owner.0, first + i)) {
                self.violations
                    .push(format!("double map at page {:#x} of {owner:?}", first + i));
                return Err(MapError(8));
            }
            let frame = pfn.0 + i;
            if self.in_pool(frame) {
                if let Some(other) = self
                    .users
                    .get(&frame)
                    .and_then(|u| u.iter().find(|(o, _)| *o != owner.0))
                {
                    self.violations.push(format!(
                        "frame {frame:#x} of {owner:?} already mapped by client {}",
                        other.0
                    ));
                    return Err(MapError(9));
                }
            }
        }
        for i in 0..count {
            let frame = pfn.0 + i;
            self.ptes
                .insert((owner.0, first + i), Pte { pfn: frame, attrs });
            if self.in_pool(frame) {
                self.users
                    .entry(frame)
                    .or_default()
                    .insert((owner.0, first + i));
            }
        }
        Ok(())
    }

    fn unmap(&mut self, owner: OwnerId, va: VirtAddr, count: u32) {
        let first = va.0 >> PAGE_SHIFT;
        for i in 0..count {
            match self.ptes.remove(&(owner.0, first + i)) {
                Some(pte) => {
                    if let Some(u) = self.users.get_mut(&pte.pfn) {
                        u.remove(&(owner.0, first + i));
                        if u.is_empty() {
                            self.users.remove(&pte.pfn);
                        }
                    }
                }
                None => self.violations.push(format!(
                    "unmap of a missing PTE at page {:#x} of {owner:?}",
                    first + i
                )),
            }
        }
    }

    fn flush_tlb(&mut self, ranges: &[VaRange]) {
        self.flushes += 1;
        self.flushed_pages += ranges.iter().map(|r| u64::from(r.pages())).sum::<u64>();
    }

    fn zero_frames(&mut self, pfn: Pfn, count: u32) -> Result<(), MapError> {
        self.zeroed_frames += u64::from(count);
        for frame in pfn.0..pfn.0 + count {
            if !self.in_pool(frame) {
                self.violations
                    .push(format!("zeroing frame {frame:#x} outside the pool"));
            }
            self.contents.insert(frame, 0);
        }
        Ok(())
    }
}
