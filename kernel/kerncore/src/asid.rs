//! 8-bit ASID allocation with generations (the Linux ARM scheme).
//!
//! A task's ASID is valid while its generation equals the allocator's. When
//! the 255 usable ASIDs (0 is kept for "no task") run out, the generation
//! advances, the caller flushes the whole TLB once, and every task picks up
//! a fresh ASID the next time it is switched to. No TLB entry tagged with a
//! recycled ASID can survive, because the flush happens before any reuse.

/// Usable ASIDs: 1..=255.
pub const ASID_COUNT: u32 = 256;

/// A task's view: which generation its ASID belongs to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AsidTag {
    /// The ASID (0 = never assigned).
    pub asid: u8,
    /// The generation it was assigned in.
    pub generation: u32,
}

/// The allocator.
#[derive(Clone, Debug)]
pub struct AsidAllocator {
    generation: u32,
    next: u32,
}

impl Default for AsidAllocator {
    fn default() -> Self {
        Self::new()
    }
}

/// What `ensure` did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsidOutcome {
    /// The tag was still valid.
    Unchanged,
    /// A new ASID was taken from the current generation.
    Assigned,
    /// A rollover happened: the caller must invalidate the entire TLB
    /// before running with the new ASID.
    RolledOver,
}

impl AsidAllocator {
    /// A fresh allocator (generation 1, so a zeroed tag is stale).
    pub const fn new() -> Self {
        Self {
            generation: 1,
            next: 1,
        }
    }

    /// The current generation.
    pub const fn generation(&self) -> u32 {
        self.generation
    }

    /// Makes `tag` valid, assigning a new ASID if needed.
    #[inline(always)]
    pub fn ensure(&mut self, tag: &mut AsidTag) -> AsidOutcome {
        if tag.generation == self.generation && tag.asid != 0 {
            return AsidOutcome::Unchanged;
        }
        self.assign(tag)
    }

    /// The slow part of `ensure`, out of line.
    #[inline(never)]
    fn assign(&mut self, tag: &mut AsidTag) -> AsidOutcome {
        let mut outcome = AsidOutcome::Assigned;
        if self.next >= ASID_COUNT {
            self.generation = self.generation.wrapping_add(1).max(1);
            self.next = 1;
            outcome = AsidOutcome::RolledOver;
        }
        tag.asid = self.next as u8;
        tag.generation = self.generation;
        self.next += 1;
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    extern crate alloc;
    use alloc::vec::Vec;

    #[test]
    fn assigns_unique_until_rollover() {
        let mut a = AsidAllocator::new();
        let mut tags: Vec<AsidTag> = (0..255).map(|_| AsidTag::default()).collect();
        for t in tags.iter_mut() {
            assert_eq!(a.ensure(t), AsidOutcome::Assigned);
        }
        let mut seen: Vec<u8> = tags.iter().map(|t| t.asid).collect();
        seen.sort();
        seen.dedup();
        assert_eq!(seen.len(), 255);
        assert!(!seen.contains(&0));
        // Still valid: no change.
        assert_eq!(a.ensure(&mut tags[7]), AsidOutcome::Unchanged);
        // The 256th task forces a rollover.
        let mut late = AsidTag::default();
        assert_eq!(a.ensure(&mut late), AsidOutcome::RolledOver);
        assert_eq!(late.asid, 1);
        // Old tags are now stale and get new ASIDs distinct from `late`'s.
        assert_eq!(a.ensure(&mut tags[0]), AsidOutcome::Assigned);
        assert_eq!(tags[0].asid, 2);
    }
}
