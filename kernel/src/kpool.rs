//! Kernel object memory: a fixed physical range reserved at boot, right
//! after the kernel image, from which the kernel takes what its objects
//! need — task L1 tables (8 KiB), L2 tables (1 KiB), task image, stack and
//! IPC-buffer pages. It is never handed to the memory server, so no user
//! action can make the kernel touch a frame a task still maps.
//!
//! Allocation is a bitmap at 1 KiB granularity with natural alignment;
//! everything it hands out is zeroed. L2 tables for the vmalloc window come
//! from here too (see doc/syscalls.md, `map_pages`), which bounds them by
//! the pool size: exhaustion is `OutOfKernelMemory`, never a panic.

use abi::PhysAddr;
use spin::Mutex;

use crate::mm;

/// Size of the pool.
pub const KPOOL_SIZE: u32 = 4 << 20;
const BLOCK: u32 = 1024;
const BLOCKS: usize = (KPOOL_SIZE / BLOCK) as usize;
const WORDS: usize = BLOCKS / 32;

/// The pool.
pub struct KernelPool {
    base: PhysAddr,
    used: [u32; WORDS],
    used_blocks: usize,
}

/// The one kernel pool, set up by `init`.
pub static KPOOL: Mutex<KernelPool> = Mutex::new(KernelPool {
    base: PhysAddr(0),
    used: [u32::MAX; WORDS],
    used_blocks: BLOCKS,
});

/// Puts the pool at `base` (1 MiB aligned, inside the RAM direct map).
pub fn init(base: PhysAddr) {
    let mut p = KPOOL.lock();
    p.base = base;
    p.used = [0; WORDS];
    p.used_blocks = 0;
}

impl KernelPool {
    /// Whether `pa` lies in the pool.
    pub fn contains(&self, pa: PhysAddr) -> bool {
        pa.0 >= self.base.0 && pa.0 - self.base.0 < KPOOL_SIZE
    }

    /// Free 1 KiB blocks.
    pub fn free_blocks(&self) -> usize {
        BLOCKS - self.used_blocks
    }

    /// Bytes in use.
    pub fn used_bytes(&self) -> u32 {
        self.used_blocks as u32 * BLOCK
    }

    fn is_used(&self, b: usize) -> bool {
        self.used[b / 32] & (1 << (b % 32)) != 0
    }

    fn set(&mut self, b: usize, used: bool) {
        if used {
            self.used[b / 32] |= 1 << (b % 32);
        } else {
            self.used[b / 32] &= !(1 << (b % 32));
        }
    }

    /// Allocates `bytes` (a multiple of 1 KiB, ≤ 8 KiB) aligned to its own
    /// size, zeroed. `None` when the pool is exhausted.
    pub fn alloc(&mut self, bytes: u32) -> Option<PhysAddr> {
        let n = (bytes / BLOCK) as usize;
        if n == 0 || !n.is_power_of_two() || n > 8 {
            return None;
        }
        let mut b = 0;
        while b + n <= BLOCKS {
            if (b..b + n).all(|i| !self.is_used(i)) {
                for i in b..b + n {
                    self.set(i, true);
                }
                self.used_blocks += n;
                let pa = PhysAddr(self.base.0 + b as u32 * BLOCK);
                zero(pa, bytes);
                return Some(pa);
            }
            b += n;
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
        for b in first..(first + (bytes / BLOCK) as usize).min(BLOCKS) {
            if self.is_used(b) {
                self.set(b, false);
                self.used_blocks -= 1;
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
