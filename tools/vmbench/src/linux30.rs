//! Baseline: Linux 3.0's `alloc_vmap_area` / `free_vmap_area` with lazy
//! purge, transcribed from mm/vmalloc.c (v3.0).
//!
//! Busy areas only, in an address-ordered tree (a `BTreeMap` stands in for
//! the rb-tree: same O(log n) lookup, amortised O(1) in-order successor).
//! The search starts at `free_vmap_cache` (the last allocated node) unless
//! the request is "more permissive" than the cached one (smaller than the
//! largest hole seen below the cache, lower `vstart`, smaller alignment),
//! in which case it walks the busy areas from `vstart` one by one. Lazily
//! freed areas stay in the tree (`VM_LAZY_FREE`) until a purge, which walks
//! the whole area list. Not modelled: 3.0's `vmlist` insert/remove (another
//! linear walk per vmalloc/vfree), so the baseline is if anything fast.

use std::collections::BTreeMap;
use std::ops::Bound::{Excluded, Unbounded};

#[derive(Clone, Copy)]
struct Va {
    end: u32,
    lazy: bool,
}

pub struct Linux30 {
    tree: BTreeMap<u32, Va>,
    free_vmap_cache: Option<u32>,
    cached_hole_size: u32,
    cached_vstart: u32,
    cached_align: u32,
    vstart: u32,
    vend: u32,
    lazy_nr: u32,
    lazy_max: u32,
}

fn align_up(x: u64, a: u64) -> u64 {
    (x + a - 1) & !(a - 1)
}

impl Linux30 {
    pub fn new(vstart: u32, vend: u32, lazy_max: u32) -> Self {
        Self {
            tree: BTreeMap::new(),
            free_vmap_cache: None,
            cached_hole_size: 0,
            cached_vstart: 0,
            cached_align: 0,
            vstart,
            vend,
            lazy_nr: 0,
            lazy_max,
        }
    }

    /// `alloc_vmap_area(size, align, vstart, vend)`; `None` is -EBUSY.
    pub fn alloc(&mut self, size: u32, align: u32) -> Option<u32> {
        let (size, align) = (u64::from(size), u64::from(align));
        let (vstart, vend) = (u64::from(self.vstart), u64::from(self.vend));
        let mut purged = false;
        'retry: loop {
            let mut nocache = self.free_vmap_cache.is_none()
                || size < u64::from(self.cached_hole_size)
                || vstart < u64::from(self.cached_vstart)
                || align < u64::from(self.cached_align);
            loop {
                if nocache {
                    self.cached_hole_size = 0;
                    self.free_vmap_cache = None;
                }
                self.cached_vstart = vstart as u32;
                self.cached_align = align as u32;
                let mut addr;
                let first: Option<u32>;
                if let Some(c) = self.free_vmap_cache {
                    addr = align_up(u64::from(self.tree[&c].end), align);
                    if addr < vstart {
                        nocache = true;
                        continue;
                    }
                    first = Some(c);
                } else {
                    addr = align_up(vstart, align);
                    // The rb-tree descent: the area holding addr, else the
                    // lowest one ending at or above it.
                    let a = addr as u32;
                    first = match self.tree.range(..=a).next_back() {
                        Some((&s, v)) if u64::from(v.end) >= addr => Some(s),
                        _ => self
                            .tree
                            .range((Excluded(a), Unbounded))
                            .next()
                            .map(|(&s, _)| s),
                    };
                }
                if addr + size - 1 > u64::from(u32::MAX) {
                    break;
                }
                if let Some(f) = first {
                    // Walk areas from the starting point until a hole fits.
                    let mut it = self.tree.range(f..);
                    let mut cur = it.next();
                    while let Some((&s, v)) = cur {
                        if !(addr + size > u64::from(s) && addr + size <= vend) {
                            break;
                        }
                        if addr + u64::from(self.cached_hole_size) < u64::from(s) {
                            self.cached_hole_size = (u64::from(s) - addr) as u32;
                        }
                        addr = align_up(u64::from(v.end), align);
                        if addr + size - 1 > u64::from(u32::MAX) {
                            break;
                        }
                        cur = it.next();
                    }
                }
                // found:
                if addr + size > vend {
                    break;
                }
                let a = addr as u32;
                self.tree.insert(
                    a,
                    Va {
                        end: (addr + size) as u32,
                        lazy: false,
                    },
                );
                self.free_vmap_cache = Some(a);
                return Some(a);
            }
            // overflow:
            if !purged {
                self.purge();
                purged = true;
                continue 'retry;
            }
            return None;
        }
    }

    fn free_vmap_area(&mut self, start: u32) {
        let Some(&va) = self.tree.get(&start) else {
            return;
        };
        if let Some(c) = self.free_vmap_cache {
            if va.end < self.cached_vstart {
                self.free_vmap_cache = None;
            } else if start <= c {
                self.free_vmap_cache = self.tree.range(..start).next_back().map(|(&s, _)| s);
            }
        }
        self.tree.remove(&start);
    }

    /// `free_vmap_area_noflush`: mark lazy, purge past the threshold.
    pub fn free(&mut self, start: u32) {
        if let Some(va) = self.tree.get_mut(&start) {
            va.lazy = true;
            self.lazy_nr += (va.end - start) >> 12;
        }
        if self.lazy_nr > self.lazy_max {
            self.purge();
        }
    }

    /// `__purge_vmap_area_lazy`: walk every area, free the lazy ones.
    pub fn purge(&mut self) {
        let lazy: Vec<u32> = self
            .tree
            .iter()
            .filter(|(_, v)| v.lazy)
            .map(|(&s, _)| s)
            .collect();
        for s in lazy {
            self.free_vmap_area(s);
        }
        self.lazy_nr = 0;
    }
}
