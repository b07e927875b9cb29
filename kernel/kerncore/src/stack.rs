//! User stacks and their guard page: whether a data abort was a stack
//! overflow.
//!
//! Every task's stack `[bottom, top)` has one unmapped guard page below it,
//! and below that nothing is mapped down to the image (which ends far
//! lower). A push that runs off the bottom faults in the guard page; a
//! function whose frame is larger than a page moves `sp` past the guard
//! first and faults on its first store somewhere in `[sp, bottom)`. Both
//! are overflows; a stray pointer elsewhere is not.

/// Size of the guard page.
pub const GUARD_BYTES: u32 = 4096;
/// The largest stack frame recognised as overflowing past the guard page
/// (`sp` further below the stack than this is a wild `sp`, not a frame).
pub const MAX_FRAME_BYTES: u32 = 1 << 20;
/// Slack below `sp`: a store-multiple with writeback faults before `sp`
/// is updated, at up to 16 registers below it.
const PUSH_SLACK: u32 = 64;

/// A task's stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct UserStack {
    /// Lowest byte of the stack (its guard page is just below).
    pub bottom: u32,
    /// One past its highest byte (the initial `sp`).
    pub top: u32,
}

impl UserStack {
    /// The stack of `pages` 4 KiB pages ending at `top`; `None` if it would
    /// not fit above its guard page.
    pub const fn below(top: u32, pages: u32) -> Option<Self> {
        let Some(bytes) = pages.checked_mul(4096) else {
            return None;
        };
        match top.checked_sub(bytes) {
            Some(bottom) if bottom >= GUARD_BYTES => Some(Self { bottom, top }),
            _ => None,
        }
    }

    /// The guard page: `[start, end)`.
    pub const fn guard(&self) -> (u32, u32) {
        (self.bottom - GUARD_BYTES, self.bottom)
    }

    /// Whether a data abort at `addr`, taken with the task's stack pointer
    /// at `sp`, is a stack overflow.
    pub const fn is_overflow(&self, addr: u32, sp: u32) -> bool {
        if addr >= self.bottom {
            return false;
        }
        if addr >= self.bottom - GUARD_BYTES {
            return true;
        }
        // A frame larger than the guard page: sp was moved below the stack
        // (not wildly) and the access lies between it and the stack.
        sp <= self.bottom
            && sp >= self.bottom.saturating_sub(MAX_FRAME_BYTES)
            && addr >= sp.saturating_sub(PUSH_SLACK)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOP: u32 = 0x3fef_f000;

    #[test]
    fn layout() {
        let s = UserStack::below(TOP, 16).unwrap();
        assert_eq!(s.bottom, TOP - 0x1_0000);
        assert_eq!(s.guard(), (s.bottom - 4096, s.bottom));
        assert_eq!(UserStack::below(0x2000, 2), None, "no room for the guard");
        assert_eq!(UserStack::below(TOP, u32::MAX), None);
        assert!(UserStack::below(TOP, 256).is_some(), "1 MiB stack");
    }

    #[test]
    fn guard_page_faults_are_overflows() {
        let s = UserStack::below(TOP, 16).unwrap();
        // A push off the bottom: sp still at the bottom.
        assert!(s.is_overflow(s.bottom - 4, s.bottom));
        assert!(s.is_overflow(s.bottom - 4096, 0));
        // Inside the stack or above it: not an overflow.
        assert!(!s.is_overflow(s.bottom, s.bottom));
        assert!(!s.is_overflow(TOP + 8, s.bottom + 64));
    }

    #[test]
    fn large_frames_skip_the_guard() {
        let s = UserStack::below(TOP, 16).unwrap();
        let sp = s.bottom - 0x3000; // a 12 KiB frame from near the bottom
        assert!(s.is_overflow(sp + 0x10, sp));
        assert!(s.is_overflow(sp - 8, sp), "store-multiple below sp");
        // Below sp by more than a push: a stray pointer.
        assert!(!s.is_overflow(sp - 0x1000, sp));
    }

    #[test]
    fn wild_pointers_are_not_overflows() {
        let s = UserStack::below(TOP, 16).unwrap();
        // sp inside the stack, address far below it.
        assert!(!s.is_overflow(0x4800_0000 - 0x1000_0000, s.bottom + 0x100));
        assert!(!s.is_overflow(0x10, s.top - 16));
        // sp wildly low (0): not taken as a huge frame.
        assert!(!s.is_overflow(0x100, 0));
    }
}
