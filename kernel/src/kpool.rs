//! Kernel object memory: a fixed physical range reserved at boot, right
//! after the kernel image, from which the kernel takes what its objects
//! need — task L1 tables (8 KiB), the per-task table of window entry counts
//! (2 KiB), L2 tables (1 KiB), task image, stack and IPC-buffer pages. It
//! is never handed to the memory server, so no user action can make the
//! kernel touch a frame a task still maps.
//!
//! Allocation is a bitmap at 1 KiB granularity with natural alignment;
//! everything it hands out is zeroed. Each task's page-table quota is
//! *reserved* here when the task is created (kerncore::kmem): a general
//! allocation may only use blocks nobody was promised, and the window L2
//! tables a task's `map_pages` needs come out of its own promise. So the
//! pool is never overcommitted: a `map_pages` fails for lack of page
//! tables only when the target task's quota is used up
//! (`KernelQuotaExceeded`), never because another task used the pool.

use abi::PhysAddr;
use kerncore::kmem::Reservations;
use spin::Mutex;

use crate::mm;

/// Size of the pool: room for 16 tasks with their images, 64 KiB stacks
/// and default page-table reservations several times over, a few 1 MiB
/// stacks and large client quotas (doc/memory-map.md).
pub const KPOOL_SIZE: u32 = 16 << 20;
const BLOCK: u32 = 1024;
const BLOCKS: usize = (KPOOL_SIZE / BLOCK) as usize;
const WORDS: usize = BLOCKS / 32;

/// The pool.
pub struct KernelPool {
    base: PhysAddr,
    /// Blocks the pool has: `BLOCKS`, or fewer when RAM ends sooner (the
    /// bits of the missing blocks stay set, so they are never handed out).
    blocks: usize,
    used: [u32; WORDS],
    used_blocks: usize,
    /// No bitmap word below this one has a free block (a scan hint).
    first_free_word: usize,
    /// Blocks promised to tasks' page-table quotas.
    book: Reservations,
}

/// The one kernel pool, set up by `init`.
pub static KPOOL: Mutex<KernelPool> = Mutex::new(KernelPool {
    base: PhysAddr(0),
    blocks: 0,
    used: [u32::MAX; WORDS],
    used_blocks: 0,
    first_free_word: WORDS,
    book: Reservations::new(),
});

/// Puts the pool at `base` (1 MiB aligned, inside the RAM direct map),
/// `KPOOL_SIZE` long or up to `ram_end` if that comes first; returns its
/// size in bytes.
pub fn init(base: PhysAddr, ram_end: u32) -> u32 {
    let bytes = ram_end.saturating_sub(base.0).min(KPOOL_SIZE);
    let blocks = (bytes / BLOCK) as usize;
    let mut p = KPOOL.lock();
    p.base = base;
    p.blocks = blocks;
    p.used = [u32::MAX; WORDS];
    for b in 0..blocks {
        p.used[b / 32] &= !(1 << (b % 32));
    }
    p.used_blocks = 0;
    p.first_free_word = 0;
    p.book = Reservations::new();
    bytes
}

impl KernelPool {
    /// Whether `pa` lies in the pool.
    pub fn contains(&self, pa: PhysAddr) -> bool {
        pa.0 >= self.base.0 && ((pa.0 - self.base.0) / BLOCK) < self.blocks as u32
    }

    /// The pool's size in bytes.
    pub fn size_bytes(&self) -> u32 {
        self.blocks as u32 * BLOCK
    }

    /// Free 1 KiB blocks (promised or not).
    pub fn free_blocks(&self) -> usize {
        self.blocks - self.used_blocks
    }

    /// Free blocks nobody was promised: what general allocations may use.
    pub fn unpromised_blocks(&self) -> u32 {
        self.book.unpromised(self.free_blocks() as u32)
    }

    /// Blocks promised to page-table quotas and not yet allocated.
    pub fn reserved_blocks(&self) -> u32 {
        self.book.reserved()
    }

    /// Bytes in use.
    pub fn used_bytes(&self) -> u32 {
        self.used_blocks as u32 * BLOCK
    }

    /// Promises `tables` 1 KiB L2 tables to one task's quota; `false`
    /// (nothing changes) if the unpromised free blocks are fewer.
    pub fn reserve_tables(&mut self, tables: u32) -> bool {
        let free = self.free_blocks() as u32;
        self.book.reserve(free, tables)
    }

    /// Takes back the unused part of a task's promise (it ended).
    pub fn release_tables(&mut self, tables: u32) {
        self.book.release(tables);
    }

    /// Allocates one zeroed 1 KiB L2 table out of a promise. `None` only
    /// if nothing is promised (the caller's quota check prevents it).
    pub fn alloc_reserved_table(&mut self) -> Option<PhysAddr> {
        if !self.book.consume() {
            return None;
        }
        // A promised block is always free (reserved <= free), and any
        // free block will do for a 1 KiB table.
        match self.take(1) {
            Some(pa) => Some(pa),
            None => {
                self.book.restore();
                None
            }
        }
    }

    /// Frees a table allocated by `alloc_reserved_table` back to the same
    /// promise (its task keeps its quota).
    pub fn free_reserved_table(&mut self, pa: PhysAddr) {
        if self.contains(pa) {
            self.free(pa, BLOCK);
            self.book.restore();
        }
    }

    fn set_word_bits(&mut self, word: usize, mask: u32, used: bool) {
        if used {
            self.used[word] |= mask;
        } else {
            self.used[word] &= !mask;
        }
    }

    /// Allocates `bytes` (a multiple of 1 KiB, ≤ 8 KiB) aligned to its own
    /// size, zeroed, from blocks nobody was promised. `None` when those
    /// are exhausted.
    pub fn alloc(&mut self, bytes: u32) -> Option<PhysAddr> {
        let n = (bytes / BLOCK) as usize;
        if n == 0 || !n.is_power_of_two() || n > 8 {
            return None;
        }
        if !self.book.may_allocate(self.free_blocks() as u32, n as u32) {
            return None;
        }
        self.take(n)
    }

    /// Finds, marks and zeroes `n` (1, 2, 4 or 8) naturally aligned free
    /// blocks. An aligned group never straddles a 32-block bitmap word, so
    /// the scan skips full words whole.
    fn take(&mut self, n: usize) -> Option<PhysAddr> {
        let mask: u32 = if n >= 32 { u32::MAX } else { (1u32 << n) - 1 };
        for w in self.first_free_word..WORDS {
            let word = self.used[w];
            if word == u32::MAX {
                if w == self.first_free_word {
                    self.first_free_word = w + 1;
                }
                continue;
            }
            let mut pos = 0;
            while pos < 32 {
                if word & (mask << pos) == 0 {
                    self.set_word_bits(w, mask << pos, true);
                    self.used_blocks += n;
                    let b = w * 32 + pos;
                    let pa = PhysAddr(self.base.0 + b as u32 * BLOCK);
                    zero(pa, n as u32 * BLOCK);
                    return Some(pa);
                }
                pos += n;
            }
        }
        None
    }

    /// Returns `bytes` at `pa` to the pool. Addresses outside it are ignored
    /// (the caller only frees what `alloc` gave it).
    pub fn free(&mut self, pa: PhysAddr, bytes: u32) {
        if !self.contains(pa) {
            return;
        }
        let first = ((pa.0 - self.base.0) / BLOCK) as usize;
        for b in first..(first + (bytes / BLOCK) as usize).min(self.blocks) {
            let (w, bit) = (b / 32, 1u32 << (b % 32));
            if self.used[w] & bit != 0 {
                self.set_word_bits(w, bit, false);
                self.used_blocks -= 1;
                self.first_free_word = self.first_free_word.min(w);
            }
        }
    }
}

/// Zeroes `len` bytes of RAM at `pa` through the direct map.
fn zero(pa: PhysAddr, len: u32) {
    let va = mm::pa_to_kva(pa) as *mut u8;
    // SAFETY: `pa..pa+len` lies in the kernel pool, which is RAM mapped
    // read/write by the direct map and owned by whoever just allocated it.
    unsafe { core::ptr::write_bytes(va, 0, len as usize) };
}

/// A kernel-pool page viewed as bytes.
///
/// # Safety
/// `pa` must be a 4 KiB page of RAM (pool or direct-mapped RAM) that no
/// other live reference aliases for the lifetime chosen by the caller.
pub unsafe fn page_bytes<'a>(pa: PhysAddr) -> &'a mut [u8; 4096] {
    // SAFETY: forwarded from the caller; the direct map covers all RAM.
    unsafe { &mut *(mm::pa_to_kva(pa) as *mut [u8; 4096]) }
}
