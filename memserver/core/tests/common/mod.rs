//! Test doubles: a page-table fake that checks every edit, and a frame
//! pool that fails at a chosen step.
#![allow(dead_code)]

use abi::{Pfn, VirtAddr, PAGE_SHIFT};
use buddy::{Block, BuddyError, BuddyPool};
use memcore::{FrameAllocator, MapAttrs, MapError, Mapper, OwnerId, VaRange};
use std::collections::BTreeMap;

/// What a frame holds before anything zeroed it: the previous owner's
/// (or the kernel's, or the server's) data, as far as a client can tell.
pub const STALE: u32 = 0xdead_beef;

/// Page tables of every owner, plus fault injection: the `fail_at`-th
/// fallible operation (map or zero, counting from 1) fails with kernel
/// error number `fail_with` (99, an unknown one, unless set). Frame
/// contents are modelled as one word per frame: [`STALE`] until zeroed or
/// written through a mapping.
#[derive(Default)]
pub struct FakeMapper {
    pub ptes: BTreeMap<(u32, u32), (u32, MapAttrs)>,
    pub ops: u64,
    pub fail_at: Option<u64>,
    pub fail_with: Option<u32>,
    pub flushes: u32,
    pub flushed_pages: u64,
    pub zeroed: u64,
    pub violations: Vec<String>,
    /// Frame → the word it holds (absent: [`STALE`]).
    pub contents: BTreeMap<u32, u32>,
}

impl FakeMapper {
    fn step(&mut self) -> Result<(), MapError> {
        self.ops += 1;
        if self.fail_at == Some(self.ops) {
            Err(MapError(self.fail_with.unwrap_or(99)))
        } else {
            Ok(())
        }
    }
    /// What `owner` reads at `va` (`None`: not mapped).
    pub fn read(&self, owner: OwnerId, va: VirtAddr) -> Option<u32> {
        let pfn = self.lookup(owner, va)?;
        Some(self.contents.get(&pfn).copied().unwrap_or(STALE))
    }
    /// `owner` writes `word` at `va`; false if not mapped writable.
    pub fn write(&mut self, owner: OwnerId, va: VirtAddr, word: u32) -> bool {
        match self.ptes.get(&(owner.0, va.0 >> PAGE_SHIFT)) {
            Some(&(pfn, attrs)) if attrs.is_writable() => {
                self.contents.insert(pfn, word);
                true
            }
            _ => false,
        }
    }
    pub fn is_mapped(&self, owner: OwnerId, va: VirtAddr) -> bool {
        self.ptes.contains_key(&(owner.0, va.0 >> PAGE_SHIFT))
    }
    pub fn lookup(&self, owner: OwnerId, va: VirtAddr) -> Option<u32> {
        self.ptes.get(&(owner.0, va.0 >> PAGE_SHIFT)).map(|e| e.0)
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
        self.step()?;
        if count == 0 || !va.is_page_aligned() {
            self.violations.push(format!("bad map {va:?} {count}"));
        }
        for i in 0..count {
            let key = (owner.0, (va.0 >> PAGE_SHIFT) + i);
            if self.ptes.insert(key, (pfn.0 + i, attrs)).is_some() {
                self.violations.push(format!("double map {key:?}"));
            }
        }
        Ok(())
    }
    fn unmap(&mut self, owner: OwnerId, va: VirtAddr, count: u32) {
        for i in 0..count {
            let key = (owner.0, (va.0 >> PAGE_SHIFT) + i);
            if self.ptes.remove(&key).is_none() {
                self.violations.push(format!("unmap of absent PTE {key:?}"));
            }
        }
    }
    fn flush_tlb(&mut self, ranges: &[VaRange]) {
        self.flushes += 1;
        self.flushed_pages += ranges.iter().map(|r| u64::from(r.pages())).sum::<u64>();
    }
    fn zero_frames(&mut self, pfn: Pfn, count: u32) -> Result<(), MapError> {
        self.step()?;
        self.zeroed += u64::from(count);
        for f in pfn.0..pfn.0 + count {
            self.contents.insert(f, 0);
        }
        Ok(())
    }
}

/// A buddy pool whose `fail_at`-th allocation call (counting from 1) fails.
pub struct FailingPool {
    pub pool: BuddyPool,
    pub ops: u64,
    pub fail_at: Option<u64>,
}

impl FailingPool {
    pub fn new(pool: BuddyPool) -> Self {
        Self {
            pool,
            ops: 0,
            fail_at: None,
        }
    }
    fn step(&mut self) -> Result<(), BuddyError> {
        self.ops += 1;
        if self.fail_at == Some(self.ops) {
            Err(BuddyError::OutOfMemory)
        } else {
            Ok(())
        }
    }
}

impl FrameAllocator for FailingPool {
    fn alloc_frames(&mut self, n: u32, out: &mut Vec<Block>) -> Result<(), BuddyError> {
        self.step()?;
        self.pool.alloc_frames(n, out)
    }
    fn free_blocks(&mut self, blocks: &[Block]) -> Result<(), BuddyError> {
        self.pool.free_blocks(blocks)
    }
    fn alloc_exact(&mut self, n: u32) -> Result<Pfn, BuddyError> {
        self.step()?;
        self.pool.alloc_exact(n)
    }
    fn free_exact(&mut self, pfn: Pfn, n: u32) -> Result<(), BuddyError> {
        self.pool.free_exact(pfn, n)
    }
    fn total_frames(&self) -> u32 {
        self.pool.total_frames()
    }
    fn free_frames(&self) -> u32 {
        self.pool.free_frames()
    }
    fn contains(&self, pfn: Pfn) -> bool {
        self.pool.contains(pfn)
    }
    fn is_allocated(&self, pfn: Pfn) -> bool {
        self.pool.is_allocated(pfn)
    }
    fn overlaps(&self, start: Pfn, n: u32) -> bool {
        FrameAllocator::overlaps(&self.pool, start, n)
    }
    fn check_invariants(&self) -> Result<(), &'static str> {
        self.pool.check_invariants()
    }
}

pub const POOL_BASE: u32 = 0x60000;
pub const MAX_ORDER: u8 = 6;

/// A pool of `frames` frames at 0x6000_0000 (frames a multiple of 64).
pub fn pool(frames: u32) -> BuddyPool {
    let mut p = BuddyPool::new(MAX_ORDER).unwrap();
    p.add_range(Pfn(POOL_BASE), frames).unwrap();
    p
}

/// Whether every free frame is back in maximal blocks.
pub fn fully_coalesced(p: &BuddyPool) -> bool {
    p.free_frames() == p.total_frames() && p.nr_free(MAX_ORDER) << MAX_ORDER == p.total_frames()
}
