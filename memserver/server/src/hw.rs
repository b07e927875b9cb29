//! The [`Mapper`] the core sees: the task's (or the test's) mapper, plus a
//! read-only override.
//!
//! Why: `MemCore::vmap` always maps writable and takes no attributes, but
//! the protocol's `Vmap` has a `READ_ONLY` flag. Rather than edit memcore,
//! the server arms this override around the one `vmap` call, so every PTE
//! that call installs loses its write permission.

use abi::{Pfn, VirtAddr};
use memcore::{MapAttrs, MapError, Mapper, OwnerId, VaRange};

pub(crate) struct Hw<M> {
    pub(crate) inner: M,
    /// Set only for the duration of one `vmap`.
    pub(crate) read_only: bool,
}

impl<M: Mapper> Mapper for Hw<M> {
    fn map(
        &mut self,
        owner: OwnerId,
        va: VirtAddr,
        pfn: Pfn,
        count: u32,
        mut attrs: MapAttrs,
    ) -> Result<(), MapError> {
        if self.read_only {
            attrs.writable = false;
        }
        self.inner.map(owner, va, pfn, count, attrs)
    }

    fn unmap(&mut self, owner: OwnerId, va: VirtAddr, count: u32) {
        self.inner.unmap(owner, va, count);
    }

    fn flush_tlb(&mut self, ranges: &[VaRange]) {
        self.inner.flush_tlb(ranges);
    }

    fn zero_frames(&mut self, pfn: Pfn, count: u32) -> Result<(), MapError> {
        self.inner.zero_frames(pfn, count)
    }
}
