//! `virtio_drivers::Hal` over the memory server.
//!
//! - `dma_alloc` → `DmaAlloc`: physically contiguous, zeroed frames mapped
//!   into this task; each allocation is recorded in [`DmaTable`] so that
//!   `share` of a buffer inside one is a table look-up, no IPC.
//! - `dma_dealloc` → `DmaFree`.
//! - `mmio_phys_to_virt` → a transport page this driver ioremapped (or a
//!   new ioremap; only the PCI transport calls it).
//! - `share`/`unshare`: a buffer inside one of our DMA allocations is handed
//!   to the device as it is. Any other buffer (stack, heap, IPC buffer) is
//!   bounced: copied into a DMA bounce slot on `share` when the device reads
//!   it, copied back on `unshare` when the device writes it. A heap buffer
//!   that `virt_to_phys` shows to be physically contiguous is shared
//!   directly instead.

use core::ptr::NonNull;

use abi::PAGE_SIZE;
use memclient::{MemType, PhysAddr as MemPhys, VirtAddr as MemVirt};
use spin::Mutex;
use virtio_drivers::{BufferDirection, Hal, PhysAddr};

use crate::MEMSERVER;

/// The vmalloc window: only addresses here can be in a memory-server area.
const WINDOW: core::ops::Range<u32> = abi::VMALLOC_START_DEFAULT.0..abi::VMALLOC_END_DEFAULT.0;

/// DMA allocations (and bounce slots) tracked at once.
const MAX_DMA: usize = 24;
/// Bounce slots kept for reuse.
const MAX_BOUNCE: usize = 6;

#[derive(Clone, Copy, Debug)]
struct DmaRec {
    vaddr: u32,
    paddr: u32,
    size: u32,
}

#[derive(Clone, Copy, Debug)]
struct Bounce {
    rec: DmaRec,
    /// Shared out now: the physical address handed to the device.
    busy: bool,
}

/// What the HAL holds.
#[derive(Debug)]
pub struct DmaTable {
    dma: [Option<DmaRec>; MAX_DMA],
    bounce: [Option<Bounce>; MAX_BOUNCE],
    /// Counters for the log.
    pub stats: HalStats,
}

/// Counters of the HAL's work.
#[derive(Clone, Copy, Debug, Default)]
pub struct HalStats {
    /// `share` calls served from a DMA allocation.
    pub direct: u32,
    /// `share` calls bounced.
    pub bounced: u32,
    /// Heap buffers found physically contiguous and shared as they are.
    pub contiguous: u32,
    /// DMA allocations made.
    pub dma_allocs: u32,
}

static TABLE: Mutex<DmaTable> = Mutex::new(DmaTable {
    dma: [None; MAX_DMA],
    bounce: [None; MAX_BOUNCE],
    stats: HalStats {
        direct: 0,
        bounced: 0,
        contiguous: 0,
        dma_allocs: 0,
    },
});

/// Transport pages mapped at once (virt packs 8 transports in a page).
const MAX_MMIO_PAGES: usize = 8;

/// The ioremapped transport pages: (physical page, virtual address).
static MMIO: Mutex<[Option<(u32, u32)>; MAX_MMIO_PAGES]> = Mutex::new([None; MAX_MMIO_PAGES]);

/// The virtual address of the transport page `phys_page`, ioremapped on
/// first use (several transports share a page: one mapping serves them
/// all).
pub fn map_mmio_page(phys_page: u32) -> Result<u32, memclient::ClientError> {
    if let Some(virt) = mmio_page(phys_page) {
        return Ok(virt);
    }
    let virt = ioremap(phys_page, PAGE_SIZE)?;
    let mut pages = MMIO.lock();
    match pages.iter_mut().find(|p| p.is_none()) {
        Some(slot) => *slot = Some((phys_page, virt)),
        // Not recorded: `mmio_phys_to_virt` would map it again, which only
        // the PCI transport (not used here) asks for.
        None => log::warn!("blkdrv: more than {MAX_MMIO_PAGES} transport pages mapped"),
    }
    Ok(virt)
}

/// The virtual address of an already mapped transport page.
fn mmio_page(phys_page: u32) -> Option<u32> {
    MMIO.lock()
        .iter()
        .flatten()
        .find(|(page, _)| *page == phys_page)
        .map(|&(_, virt)| virt)
}

/// A snapshot of the counters.
pub fn stats() -> HalStats {
    TABLE.lock().stats
}

/// The HAL (no state of its own: the trait's functions are associated).
#[derive(Debug)]
pub struct MemHal;

fn client() -> crate::Client {
    userlib::mem::client(MEMSERVER)
}

/// A DMA allocation of `pages` pages: (physical, virtual, size), recorded.
pub fn alloc_dma(pages: u32) -> Option<(u32, u32, u32)> {
    let c = client();
    let buf = c.dma_alloc(pages).ok()?;
    let phys = buf.phys();
    let (addr, size) = buf.into_raw();
    let rec = DmaRec {
        vaddr: addr.0,
        paddr: phys.0,
        size,
    };
    let mut t = TABLE.lock();
    t.stats.dma_allocs += 1;
    match t.dma.iter_mut().find(|s| s.is_none()) {
        Some(slot) => *slot = Some(rec),
        None => {
            drop(t);
            let _ = c.dma_free_addr(addr);
            return None;
        }
    }
    Some((rec.paddr, rec.vaddr, rec.size))
}

/// Frees the DMA allocation at `vaddr`; `false` if it is not ours or the
/// server refused.
pub fn free_dma(vaddr: u32) -> bool {
    let mut t = TABLE.lock();
    let Some(slot) = t
        .dma
        .iter_mut()
        .find(|s| s.is_some_and(|r| r.vaddr == vaddr))
    else {
        return false;
    };
    *slot = None;
    drop(t);
    client().dma_free_addr(MemVirt(vaddr)).is_ok()
}

/// The physical address of `[va, va + len)` if it lies inside one DMA
/// allocation.
fn dma_lookup(t: &DmaTable, va: u32, len: u32) -> Option<u32> {
    t.dma.iter().flatten().find_map(|r| {
        let off = va.checked_sub(r.vaddr)?;
        (off.checked_add(len)? <= r.size).then(|| r.paddr + off)
    })
}

/// The physical address of a heap (vmalloc) buffer if its pages are
/// physically contiguous (one `virt_to_phys` per page).
fn contiguous_phys(va: u32, len: u32) -> Option<u32> {
    let end = va.checked_add(len)?;
    if !WINDOW.contains(&va) || end > WINDOW.end {
        return None;
    }
    let c = client();
    let first = c.virt_to_phys(MemVirt(va)).ok()?.0;
    let mut page = (va & !(PAGE_SIZE - 1)) + PAGE_SIZE;
    while page < end {
        let p = c.virt_to_phys(MemVirt(page)).ok()?.0;
        if p != first + (page - va) {
            return None;
        }
        page += PAGE_SIZE;
    }
    Some(first)
}

/// Takes a free bounce slot of at least `len` bytes (allocating one if
/// needed); returns the slot's record.
fn take_bounce(len: u32) -> Option<DmaRec> {
    {
        let mut t = TABLE.lock();
        if let Some(b) = t
            .bounce
            .iter_mut()
            .flatten()
            .find(|b| !b.busy && b.rec.size >= len)
        {
            b.busy = true;
            return Some(b.rec);
        }
    }
    let pages = len.div_ceil(PAGE_SIZE).max(1);
    let (paddr, vaddr, size) = alloc_dma(pages)?;
    let rec = DmaRec { vaddr, paddr, size };
    let mut t = TABLE.lock();
    if let Some(slot) = t.bounce.iter_mut().find(|s| s.is_none()) {
        *slot = Some(Bounce { rec, busy: true });
    } else {
        // No room to keep it: it stays a plain DMA allocation, freed on
        // unshare (found there by address).
    }
    Some(rec)
}

/// Releases the bounce slot at physical `paddr`; returns its record.
fn give_back_bounce(paddr: u32) -> Option<DmaRec> {
    let mut t = TABLE.lock();
    if let Some(b) = t
        .bounce
        .iter_mut()
        .flatten()
        .find(|b| b.busy && b.rec.paddr == paddr)
    {
        b.busy = false;
        return Some(b.rec);
    }
    // An overflow bounce: a DMA allocation not kept as a slot.
    t.dma.iter().flatten().find(|r| r.paddr == paddr).copied()
}

fn is_kept_bounce(paddr: u32) -> bool {
    TABLE
        .lock()
        .bounce
        .iter()
        .flatten()
        .any(|b| b.rec.paddr == paddr)
}

/// Maps `size` bytes of device memory at `phys` (XN device memory).
pub fn ioremap(phys: u32, size: u32) -> Result<u32, memclient::ClientError> {
    let c = client();
    let m = c.ioremap(MemPhys(phys), size, MemType::Device)?;
    Ok(m.into_raw().0 .0)
}

// SAFETY: `dma_alloc` returns frames the server mapped zeroed, page aligned
// and for this task alone; they are not reused until `dma_dealloc`.
// `mmio_phys_to_virt` returns a device mapping of the requested region.
// `share` returns a physical address whose bytes equal the buffer's
// (directly, or through a bounce slot copied in), valid until `unshare`.
unsafe impl Hal for MemHal {
    fn dma_alloc(pages: usize, _direction: BufferDirection) -> (PhysAddr, NonNull<u8>) {
        let Ok(pages) = u32::try_from(pages) else {
            return (0, NonNull::dangling());
        };
        match alloc_dma(pages) {
            Some((paddr, vaddr, _)) => match NonNull::new(vaddr as usize as *mut u8) {
                Some(p) => (u64::from(paddr), p),
                None => (0, NonNull::dangling()),
            },
            None => (0, NonNull::dangling()),
        }
    }

    unsafe fn dma_dealloc(_paddr: PhysAddr, vaddr: NonNull<u8>, _pages: usize) -> i32 {
        if free_dma(vaddr.as_ptr() as usize as u32) {
            0
        } else {
            -1
        }
    }

    unsafe fn mmio_phys_to_virt(paddr: PhysAddr, size: usize) -> NonNull<u8> {
        let pa = paddr as u32;
        let off = pa & (PAGE_SIZE - 1);
        if u64::from(pa) == paddr && (off as usize).saturating_add(size) <= PAGE_SIZE as usize {
            if let Some(virt) = mmio_page(pa - off) {
                if let Some(p) = NonNull::new((virt + off) as usize as *mut u8) {
                    return p;
                }
            }
        }
        // Only the PCI transport asks for other regions; this driver uses
        // virtio-mmio, so reaching here is a driver bug: stop the task (the
        // server reclaims what it held).
        match ioremap(pa, size as u32)
            .ok()
            .and_then(|v| NonNull::new(v as usize as *mut u8))
        {
            Some(p) => p,
            None => {
                log::error!("blkdrv: mmio_phys_to_virt({paddr:#x}, {size}): ioremap refused");
                userlib::sys::exit(3)
            }
        }
    }

    unsafe fn share(buffer: NonNull<[u8]>, direction: BufferDirection) -> PhysAddr {
        let va = buffer.as_ptr().cast::<u8>() as usize as u32;
        let len = buffer.len() as u32;
        {
            let mut t = TABLE.lock();
            if let Some(p) = dma_lookup(&t, va, len) {
                t.stats.direct += 1;
                return u64::from(p);
            }
        }
        if WINDOW.contains(&va) {
            if let Some(p) = contiguous_phys(va, len) {
                TABLE.lock().stats.contiguous += 1;
                return u64::from(p);
            }
        }
        let Some(rec) = take_bounce(len) else {
            // No DMA memory: the device gets physical 0, which is no RAM on
            // vexpress-a9; the request then fails with an I/O error.
            log::error!("blkdrv: no DMA memory for a {len}-byte bounce buffer");
            return 0;
        };
        TABLE.lock().stats.bounced += 1;
        if direction != BufferDirection::DeviceToDriver {
            // SAFETY: the caller guarantees `buffer` is valid for reads of
            // `len` bytes; the bounce slot is ours, at least `len` bytes, and
            // not shared with the device yet.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    buffer.as_ptr().cast::<u8>(),
                    rec.vaddr as usize as *mut u8,
                    len as usize,
                );
            }
        }
        u64::from(rec.paddr)
    }

    unsafe fn unshare(paddr: PhysAddr, buffer: NonNull<[u8]>, direction: BufferDirection) {
        let va = buffer.as_ptr().cast::<u8>() as usize as u32;
        let len = buffer.len() as u32;
        let p = paddr as u32;
        {
            let t = TABLE.lock();
            if dma_lookup(&t, va, len) == Some(p)
                && !t.bounce.iter().flatten().any(|b| b.rec.paddr == p)
            {
                return; // shared directly
            }
        }
        let Some(rec) = give_back_bounce(p) else {
            return; // a contiguous heap buffer, shared directly
        };
        if direction != BufferDirection::DriverToDevice {
            // SAFETY: the device is done with the slot (the request
            // completed); the caller guarantees `buffer` is valid for writes
            // of `len` bytes, and the slot holds at least `len` bytes.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    rec.vaddr as usize as *const u8,
                    buffer.as_ptr().cast::<u8>(),
                    len as usize,
                );
            }
        }
        if !is_kept_bounce(p) {
            free_dma(rec.vaddr);
        }
    }
}
