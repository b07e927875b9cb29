//! The task heap: a `talc` allocator whose out-of-memory handler asks the
//! memory server for more (vmalloc), so `Vec` and `Box` work in every task.
//!
//! The heap grows in chunks of at least [`GROW_CHUNK`]; chunks are never
//! returned (the server reclaims them when the task exits). Growth happens
//! inside the allocator's lock, so the request path (`memclient` encoding
//! into the IPC buffer, `call`) must not allocate — it does not: both are
//! `no_std` without `alloc`.

use core::alloc::Layout;

use abi::CapSlot;
use ipc::VmallocFlags;
use talc::{OomHandler, Span, Talc, Talck};

use crate::mem;

/// Smallest growth step.
pub const GROW_CHUNK: u32 = 64 * 1024;

/// Asks the memory server for memory when the heap runs out.
pub struct VmallocOnOom {
    ep: Option<CapSlot>,
    /// Bytes obtained from the server so far.
    pub grown: u32,
}

impl OomHandler for VmallocOnOom {
    fn handle_oom(talc: &mut Talc<Self>, layout: Layout) -> Result<(), ()> {
        let Some(ep) = talc.oom_handler.ep else {
            return Err(());
        };
        // Room for the request plus the allocator's own headers.
        let want = (layout.size() + layout.align() + 256) as u32;
        let size = want
            .max(GROW_CHUNK)
            .checked_next_multiple_of(abi::PAGE_SIZE)
            .ok_or(())?;
        let client = mem::client(ep);
        let area = client
            .vmalloc_with(
                size,
                abi::PAGE_SIZE,
                VmallocFlags::NONE,
                ipc::HEAP_CALLER_TAG,
            )
            .map_err(|_| ())?;
        let (addr, size) = area.into_raw();
        let base = addr.0 as usize as *mut u8;
        // SAFETY: the server just mapped `size` bytes read-write at `addr`
        // for this task alone, and `into_raw` gave up the handle, so the
        // memory stays mapped and belongs to the heap from now on.
        unsafe { talc.claim(Span::from_base_size(base, size as usize))? };
        talc.oom_handler.grown += size;
        Ok(())
    }
}

/// A heap that grows through vmalloc. A task declares it as its global
/// allocator (a library cannot: the memory server has its own):
///
/// ```ignore
/// #[global_allocator]
/// static HEAP: userlib::heap::VmallocHeap = userlib::heap::VmallocHeap::new();
/// ```
pub struct VmallocHeap(Talck<spin::Mutex<()>, VmallocOnOom>);

impl VmallocHeap {
    /// An empty heap; it grows once `init` names the server.
    pub const fn new() -> Self {
        Self(Talc::new(VmallocOnOom { ep: None, grown: 0 }).lock())
    }

    /// Lets the heap grow through the memory server on endpoint `ep`.
    /// Allocations before this fail.
    pub fn init(&self, ep: CapSlot) {
        self.0.lock().oom_handler.ep = Some(ep);
    }

    /// Bytes the heap has obtained from the memory server.
    pub fn grown(&self) -> u32 {
        self.0.lock().oom_handler.grown
    }
}

impl Default for VmallocHeap {
    fn default() -> Self {
        Self::new()
    }
}

// SAFETY: forwards every call unchanged to `Talck`, which implements
// `GlobalAlloc` correctly (it is the allocator's own locked front end).
unsafe impl core::alloc::GlobalAlloc for VmallocHeap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { self.0.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { self.0.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { self.0.realloc(ptr, layout, new_size) }
    }
}
