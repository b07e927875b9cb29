//! Baseline: Linux 3.0's `alloc_vmap_area` / `free_vmap_area` with lazy
//! purge, plus the `vmlist` of `vm_struct`s that 3.0's `vmalloc`/`vfree`
//! maintain, transcribed from mm/vmalloc.c (v3.0).
//!
//! * Busy areas only, in an address-ordered tree (a `BTreeMap` stands in
//!   for the rb-tree: same O(log n) lookup, amortised O(1) in-order
//!   successor, and if anything faster than a pointer-linked rb-tree). The
//!   search starts at `free_vmap_cache` (the last allocated node) unless the
//!   request is "more permissive" than the cached one (smaller than the
//!   largest hole seen below the cache, lower `vstart`, smaller alignment),
//!   in which case it walks the busy areas from `vstart` one by one
//!   (`cached_hole_size` / `cached_vstart` / `cached_align`). Lazily freed
//!   areas stay in the tree (`VM_LAZY_FREE`) until a purge, which walks the
//!   whole area list; `__free_vmap_area` applies 3.0's cache reset rules.
//! * `vmlist`: every successful `__get_vm_area_node` links the new
//!   `vm_struct` into the address-sorted, singly linked `vmlist` by a
//!   linear walk from the head (3.0: `insert_vmalloc_vm`, which 3.1 split
//!   into `setup_vmalloc_vm` + `insert_vmalloc_vmlist`: `for (p = &vmlist;
//!   (tmp = *p) != NULL; p = &tmp->next) if (tmp->addr >= vm->addr)
//!   break;`), and every `vfree` → `remove_vm_area` unlinks it by a linear
//!   walk (`for (p = &vmlist; (tmp = *p) != vm; p = &tmp->next);`) before
//!   the vmap area goes lazy. The `vm_struct`s live in a slab-like arena
//!   (32-bit-sized records, `u32` links), which is kinder to the cache than
//!   kmalloc'd nodes, so the baseline is if anything fast.
//!
//! Assumed rather than verified against the v3.0 source (the stored
//! mm/vmalloc.c is a newer one): the exact 3.0 function names of the list
//! walk, and that `find_vmap_area` in `remove_vm_area` is one rb-tree
//! lookup (modelled by the `BTreeMap` lookup in [`Linux30::free`]).
//!
//! Set-up mode ([`Linux30::set_setup`]): the benchmark fills the window
//! with up to 200k areas before measuring; walking `vmlist` for each would
//! cost O(n²) (minutes) without changing the state reached, so in set-up
//! mode the list position comes from the tree (predecessor lookup) and a
//! back link. Measured operations always walk the list as 3.0 does.

use std::collections::BTreeMap;
use std::ops::Bound::{Excluded, Unbounded};

#[derive(Clone, Copy)]
struct Va {
    end: u32,
    lazy: bool,
    /// The `vm_struct` (arena index) while the area is on `vmlist`.
    vm: u32,
}

const NIL: u32 = u32::MAX;

/// 3.0's `struct vm_struct` (32 bytes on a 32-bit kernel), plus the
/// set-up-only back link.
#[derive(Clone, Copy, Default)]
#[allow(dead_code)]
struct VmStruct {
    next: u32,
    addr: u32,
    size: u32,
    flags: u32,
    pages: u32,
    nr_pages: u32,
    phys_addr: u32,
    caller: u32,
    /// Not in Linux: used only in set-up mode for O(1) unlinking.
    prev: u32,
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
    /// `vmlist` head and the `vm_struct` arena (free slots chained by
    /// `next`).
    vmlist: u32,
    vms: Vec<VmStruct>,
    free_vm: u32,
    setup: bool,
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
            vmlist: NIL,
            vms: Vec::new(),
            free_vm: NIL,
            setup: false,
        }
    }

    /// Set-up mode on or off (see the module documentation).
    pub fn set_setup(&mut self, on: bool) {
        self.setup = on;
    }

    /// Live `vm_struct`s on `vmlist` (for the self-check).
    pub fn vmlist_len(&self) -> usize {
        let mut n = 0;
        let mut at = self.vmlist;
        let mut last = 0;
        while at != NIL {
            let vm = self.vms[at as usize];
            assert!(n == 0 || vm.addr > last, "vmlist out of order");
            last = vm.addr;
            n += 1;
            at = vm.next;
        }
        n
    }

    fn vm_alloc(&mut self, addr: u32, size: u32) -> u32 {
        let vm = VmStruct {
            next: NIL,
            addr,
            size,
            flags: 0x2, // VM_ALLOC
            prev: NIL,
            ..VmStruct::default()
        };
        if self.free_vm != NIL {
            let i = self.free_vm;
            self.free_vm = self.vms[i as usize].next;
            self.vms[i as usize] = vm;
            i
        } else {
            self.vms.push(vm);
            (self.vms.len() - 1) as u32
        }
    }

    /// `insert_vmalloc_vm`: link `vm` into the address-sorted `vmlist`.
    fn insert_vmlist(&mut self, vm: u32) {
        let addr = self.vms[vm as usize].addr;
        let prev = if self.setup {
            // The live predecessor, found through the tree.
            self.tree
                .range(..addr)
                .rev()
                .find(|(_, v)| !v.lazy)
                .map_or(NIL, |(_, v)| v.vm)
        } else {
            // for (p = &vmlist; (tmp = *p) != NULL; p = &tmp->next)
            //         if (tmp->addr >= vm->addr) break;
            let mut prev = NIL;
            let mut tmp = self.vmlist;
            while tmp != NIL {
                let t = &self.vms[tmp as usize];
                if t.addr >= addr {
                    break;
                }
                prev = tmp;
                tmp = t.next;
            }
            prev
        };
        let next = if prev == NIL {
            self.vmlist
        } else {
            self.vms[prev as usize].next
        };
        // vm->next = *p; *p = vm;
        self.vms[vm as usize].next = next;
        self.vms[vm as usize].prev = prev;
        if next != NIL {
            self.vms[next as usize].prev = vm;
        }
        if prev == NIL {
            self.vmlist = vm;
        } else {
            self.vms[prev as usize].next = vm;
        }
    }

    /// `remove_vm_area`'s unlink.
    fn remove_vmlist(&mut self, vm: u32) {
        let prev = if self.setup {
            self.vms[vm as usize].prev
        } else {
            // for (p = &vmlist; (tmp = *p) != vm; p = &tmp->next) ;
            let mut prev = NIL;
            let mut tmp = self.vmlist;
            while tmp != vm {
                prev = tmp;
                tmp = self.vms[tmp as usize].next;
            }
            prev
        };
        // *p = tmp->next;
        let next = self.vms[vm as usize].next;
        if prev == NIL {
            self.vmlist = next;
        } else {
            self.vms[prev as usize].next = next;
        }
        if next != NIL {
            self.vms[next as usize].prev = prev;
        }
        self.vms[vm as usize].next = self.free_vm;
        self.free_vm = vm;
    }

    /// `__get_vm_area_node(size, align, ...)`: `alloc_vmap_area` then the
    /// `vmlist` insert; `None` is -EBUSY.
    pub fn alloc(&mut self, size: u32, align: u32) -> Option<u32> {
        let a = self.alloc_vmap_area(size, align)?;
        let vm = self.vm_alloc(a, size);
        self.tree.get_mut(&a).expect("just inserted").vm = vm;
        self.insert_vmlist(vm);
        Some(a)
    }

    /// `alloc_vmap_area(size, align, vstart, vend)`.
    fn alloc_vmap_area(&mut self, size: u32, align: u32) -> Option<u32> {
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
                        vm: NIL,
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

    /// `vfree` → `remove_vm_area` (rb-tree lookup, `vmlist` unlink) →
    /// `free_unmap_vmap_area` (mark lazy, purge past the threshold).
    pub fn free(&mut self, start: u32) {
        let mut unlink = NIL;
        if let Some(va) = self.tree.get_mut(&start) {
            if !va.lazy {
                va.lazy = true;
                self.lazy_nr += (va.end - start) >> 12;
                unlink = va.vm;
                va.vm = NIL;
            }
        }
        if unlink != NIL {
            self.remove_vmlist(unlink);
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
