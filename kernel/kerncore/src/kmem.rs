//! Kernel-memory accounting for page tables: the kernel pool's reservation
//! book, each task's page-table quota, the count of valid entries in each
//! window L2 table and the set of tables that became empty and wait for a
//! TLB flush before they can be freed.
//!
//! The rule the kernel keeps (doc/kernel.md, "Kernel memory"): every task
//! reserves its page-table quota from the kernel pool when it is created,
//! and a general allocation may never eat into what is reserved. So the
//! sum of the reservations never overcommits the pool, and no task's
//! `map_pages` can fail for lack of kernel memory because another task used
//! the pool: it fails only on its own quota (`KernelQuotaExceeded`).

/// MiBs of the window half of the user address space, `[1 GiB, 2 GiB)`: the
/// vmalloc window starts at 1 GiB and may grow up to 2 GiB
/// (`abi::layout`). Page tables there are charged to the task.
pub const WINDOW_HALF_MIBS: usize = 1024;
/// First L1 index of the window half.
pub const WINDOW_HALF_FIRST_L1: usize = 1024;
/// Entries in one L2 table (a full table holds this many valid entries).
const TABLE_ENTRIES: u16 = 256;

/// The pool's promise book, in allocation blocks: how many of the free
/// blocks are promised to tasks' page-table quotas.
///
/// Invariant (kept by every method given the pool's true free count):
/// `reserved <= free`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reservations {
    reserved: u32,
}

impl Reservations {
    /// Nothing promised.
    pub const fn new() -> Self {
        Self { reserved: 0 }
    }

    /// Blocks promised and not yet allocated.
    pub const fn reserved(&self) -> u32 {
        self.reserved
    }

    /// Free blocks nobody was promised, out of `free`.
    pub const fn unpromised(&self, free: u32) -> u32 {
        free.saturating_sub(self.reserved)
    }

    /// Whether a general (unreserved) allocation of `n` blocks may go
    /// ahead when `free` blocks are free: only from unpromised blocks.
    pub const fn may_allocate(&self, free: u32, n: u32) -> bool {
        n <= self.unpromised(free)
    }

    /// Promises `n` more blocks; `false` (nothing changes) if fewer than
    /// `n` free blocks are unpromised.
    pub fn reserve(&mut self, free: u32, n: u32) -> bool {
        if n > self.unpromised(free) {
            return false;
        }
        self.reserved += n;
        true
    }

    /// Takes back a promise of `n` blocks that were never allocated (a
    /// task ends with part of its quota unused).
    pub fn release(&mut self, n: u32) {
        self.reserved = self.reserved.saturating_sub(n);
    }

    /// One promised block is being allocated: it leaves the book (the
    /// pool's free count drops by one at the same time). `false` if no
    /// block was promised (the caller must not allocate).
    pub fn consume(&mut self) -> bool {
        if self.reserved == 0 {
            return false;
        }
        self.reserved -= 1;
        true
    }

    /// A block allocated from a promise is freed back to its owner's
    /// promise (the pool's free count rises by one at the same time).
    pub fn restore(&mut self) {
        self.reserved += 1;
    }
}

/// A task's page-table quota: how many window L2 tables it may hold at
/// once (`TaskSpec::kmem_tables`), and how many it holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableQuota {
    limit: u32,
    used: u32,
}

impl TableQuota {
    /// A quota of `limit` tables, none used.
    pub const fn new(limit: u32) -> Self {
        Self { limit, used: 0 }
    }
    /// The quota.
    pub const fn limit(&self) -> u32 {
        self.limit
    }
    /// Tables held.
    pub const fn used(&self) -> u32 {
        self.used
    }
    /// Tables it may still take.
    pub const fn unused(&self) -> u32 {
        self.limit - self.used
    }
    /// Whether `n` more tables fit.
    pub const fn fits(&self, n: u32) -> bool {
        n <= self.unused()
    }
    /// Takes one table; `false` (nothing changes) if the quota is full.
    pub fn take(&mut self) -> bool {
        if self.used >= self.limit {
            return false;
        }
        self.used += 1;
        true
    }
    /// Gives one table back.
    pub fn give_back(&mut self) {
        self.used = self.used.saturating_sub(1);
    }
}

/// Valid entries of each window L2 table, by window-half MiB, kept beside
/// the tables so an unmap knows in O(1) per MiB whether it emptied a table
/// (no 256-entry scan).
pub struct EntryCounts<'a>(pub &'a mut [u16]);

impl EntryCounts<'_> {
    /// The count of MiB `mib` (0 for an index out of range).
    pub fn get(&self, mib: usize) -> u16 {
        self.0.get(mib).copied().unwrap_or(0)
    }
    /// `n` entries of MiB `mib`'s table became valid (at most a full table).
    pub fn add(&mut self, mib: usize, n: u16) {
        if let Some(c) = self.0.get_mut(mib) {
            *c = c.saturating_add(n).min(TABLE_ENTRIES);
        }
    }
    /// `n` valid entries of MiB `mib`'s table were cleared; returns whether
    /// the table is now empty (and had entries before).
    pub fn remove(&mut self, mib: usize, n: u16) -> bool {
        match self.0.get_mut(mib) {
            Some(c) if *c > 0 && n > 0 => {
                *c = c.saturating_sub(n);
                *c == 0
            }
            _ => false,
        }
    }
    /// Forgets MiB `mib`'s table (freed).
    pub fn clear(&mut self, mib: usize) {
        if let Some(c) = self.0.get_mut(mib) {
            *c = 0;
        }
    }
}

/// Window-half MiBs whose table became empty since the last reclaim: they
/// are freed only after their L1 entry is cleared and the TLB invalidated
/// (a walk cache may still hold the L1 entry pointing at the table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PendingEmpty {
    bits: [u32; WINDOW_HALF_MIBS / 32],
    count: u32,
    /// Every marked word lies in `[lo, hi)` (so a take looks at those
    /// words only: usually one).
    lo: usize,
    hi: usize,
}

impl Default for PendingEmpty {
    fn default() -> Self {
        Self::new()
    }
}

impl PendingEmpty {
    /// Nothing pending.
    pub const fn new() -> Self {
        Self {
            bits: [0; WINDOW_HALF_MIBS / 32],
            count: 0,
            lo: WINDOW_HALF_MIBS / 32,
            hi: 0,
        }
    }
    /// Notes that MiB `mib`'s table became empty.
    pub fn mark(&mut self, mib: usize) {
        let i = mib / 32;
        if let Some(w) = self.bits.get_mut(i) {
            let bit = 1 << (mib % 32);
            if *w & bit == 0 {
                *w |= bit;
                self.count += 1;
                self.lo = self.lo.min(i);
                self.hi = self.hi.max(i + 1);
            }
        }
    }
    /// Whether any table waits.
    pub const fn is_empty(&self) -> bool {
        self.count == 0
    }
    /// How many MiBs are marked.
    pub const fn len(&self) -> u32 {
        self.count
    }
    /// Takes the marks of one bitmap word (32 MiBs) at a time: `word` is
    /// the index of the next word to look at; returns the first MiB of the
    /// word and its marks, and clears them. `None` once none is left.
    pub fn take_word(&mut self, word: &mut usize) -> Option<(usize, u32)> {
        *word = (*word).max(self.lo);
        while *word < self.hi {
            let i = *word;
            *word += 1;
            let marks = core::mem::take(&mut self.bits[i]);
            if marks != 0 {
                self.count -= marks.count_ones();
                if self.count == 0 {
                    (self.lo, self.hi) = (self.bits.len(), 0);
                }
                return Some((i * 32, marks));
            }
        }
        None
    }
}

/// The window-half MiB of L1 index `l1`, if it is in the window half.
pub const fn window_mib(l1: usize) -> Option<usize> {
    if l1 >= WINDOW_HALF_FIRST_L1 && l1 < WINDOW_HALF_FIRST_L1 + WINDOW_HALF_MIBS {
        Some(l1 - WINDOW_HALF_FIRST_L1)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_never_overcommit() {
        let mut free = 100u32;
        let mut r = Reservations::new();
        assert!(r.reserve(free, 60));
        assert!(!r.reserve(free, 41), "only 40 unpromised");
        assert_eq!(r.reserved(), 60);
        assert!(r.reserve(free, 40));
        assert!(!r.may_allocate(free, 1), "everything promised");
        // An owner allocates 10 promised blocks.
        for _ in 0..10 {
            assert!(r.consume());
            free -= 1;
        }
        assert_eq!((free, r.reserved()), (90, 90));
        // It frees 5 of them back to its promise.
        for _ in 0..5 {
            r.restore();
            free += 1;
        }
        assert_eq!((free, r.reserved()), (95, 95));
        // The owner ends holding 5 blocks with 55 of its 60 still
        // promised: the unused promise is released, its 5 blocks freed.
        r.release(55);
        free += 5;
        assert_eq!(r.reserved(), 40);
        assert!(r.may_allocate(free, 60));
        assert!(!r.may_allocate(free, 61));
        assert!(r.reserved() <= free);
    }

    #[test]
    fn consume_needs_a_promise() {
        let mut r = Reservations::new();
        assert!(!r.consume());
        assert_eq!(r.unpromised(3), 3);
        r.release(5);
        assert_eq!(r.reserved(), 0);
    }

    #[test]
    fn quota() {
        let mut q = TableQuota::new(2);
        assert!(q.fits(2) && !q.fits(3));
        assert!(q.take() && q.take());
        assert!(!q.take(), "over quota");
        assert_eq!((q.used(), q.unused()), (2, 0));
        q.give_back();
        assert!(q.fits(1));
        assert_eq!(q.limit(), 2);
    }

    #[test]
    fn counts_report_emptied_tables() {
        let mut store = [0u16; 4];
        let mut c = EntryCounts(&mut store);
        c.add(1, 3);
        assert!(!c.remove(1, 2));
        assert!(c.remove(1, 1), "last entry gone");
        assert!(!c.remove(1, 1), "already empty: not reported twice");
        c.add(2, 300);
        assert_eq!(c.get(2), 256, "a table holds 256 entries");
        assert!(c.remove(2, 256));
        c.add(9, 1); // out of range: ignored
        assert_eq!(c.get(9), 0);
        c.add(3, 5);
        c.clear(3);
        assert_eq!(c.get(3), 0);
    }

    #[test]
    fn pending_marks_are_taken_once() {
        let mut p = PendingEmpty::new();
        assert!(p.is_empty());
        p.mark(3);
        p.mark(3);
        p.mark(40);
        p.mark(1023);
        p.mark(5000); // out of range: ignored
        assert_eq!(p.len(), 3);
        let mut word = 0;
        assert_eq!(p.take_word(&mut word), Some((0, 1 << 3)));
        assert_eq!(p.take_word(&mut word), Some((32, 1 << 8)));
        assert_eq!(p.take_word(&mut word), Some((992, 1 << 31)));
        assert_eq!(p.take_word(&mut word), None);
        assert!(p.is_empty());
        let mut word = 0;
        assert_eq!(p.take_word(&mut word), None);
        // Marks after a full take are found again.
        p.mark(100);
        let mut word = 0;
        assert_eq!(p.take_word(&mut word), Some((96, 1 << 4)));
        assert!(p.is_empty());
    }

    #[test]
    fn window_half() {
        assert_eq!(window_mib(1023), None);
        assert_eq!(window_mib(1024), Some(0));
        assert_eq!(window_mib(2047), Some(1023));
        assert_eq!(window_mib(2048), None);
    }
}
