//! Fixed-priority run queue: one FIFO per priority and a bitmap of
//! non-empty priorities, so picking the next task is O(1) (`trailing_zeros`)
//! and round-robin within a priority is push-back / pop-front.
//!
//! Tasks are small integers (indices into the kernel's task table); each
//! task is in at most one queue, tracked with intrusive `next` links.

/// Number of priorities; 0 is the most urgent.
pub const PRIORITIES: usize = 8;
/// The most tasks the queue tracks.
pub const MAX_TASKS: usize = 32;

const NONE: u8 = u8::MAX;

/// The queue.
#[derive(Clone, Debug)]
pub struct RunQueue {
    head: [u8; PRIORITIES],
    tail: [u8; PRIORITIES],
    next: [u8; MAX_TASKS],
    queued: u32,
    nonempty: u8,
}

impl Default for RunQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl RunQueue {
    /// An empty queue.
    pub const fn new() -> Self {
        Self {
            head: [NONE; PRIORITIES],
            tail: [NONE; PRIORITIES],
            next: [NONE; MAX_TASKS],
            queued: 0,
            nonempty: 0,
        }
    }

    /// Whether `task` is queued.
    pub fn contains(&self, task: usize) -> bool {
        task < MAX_TASKS && self.queued & (1 << task) != 0
    }

    /// Appends `task` at `prio` (no-op if already queued or out of range).
    pub fn push_back(&mut self, task: usize, prio: usize) {
        if task >= MAX_TASKS || prio >= PRIORITIES || self.contains(task) {
            return;
        }
        self.next[task] = NONE;
        match self.tail[prio] {
            NONE => self.head[prio] = task as u8,
            t => self.next[t as usize] = task as u8,
        }
        self.tail[prio] = task as u8;
        self.queued |= 1 << task;
        self.nonempty |= 1 << prio;
    }

    /// The most urgent priority with a queued task.
    pub fn highest(&self) -> Option<usize> {
        (self.nonempty != 0).then(|| self.nonempty.trailing_zeros() as usize)
    }

    /// Removes and returns the first task of the most urgent priority.
    pub fn pop(&mut self) -> Option<usize> {
        let prio = self.highest()?;
        let task = self.head[prio] as usize;
        self.head[prio] = self.next[task];
        if self.head[prio] == NONE {
            self.tail[prio] = NONE;
            self.nonempty &= !(1 << prio);
        }
        self.next[task] = NONE;
        self.queued &= !(1 << task);
        Some(task)
    }

    /// Removes `task` from priority `prio`'s queue if it is there.
    pub fn remove(&mut self, task: usize, prio: usize) {
        if !self.contains(task) || prio >= PRIORITIES {
            return;
        }
        let mut prev = NONE;
        let mut cur = self.head[prio];
        while cur != NONE {
            if cur as usize == task {
                let after = self.next[task];
                match prev {
                    NONE => self.head[prio] = after,
                    p => self.next[p as usize] = after,
                }
                if self.tail[prio] == cur {
                    self.tail[prio] = prev;
                }
                if self.head[prio] == NONE {
                    self.nonempty &= !(1 << prio);
                }
                self.next[task] = NONE;
                self.queued &= !(1 << task);
                return;
            }
            prev = cur;
            cur = self.next[cur as usize];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priority_then_fifo() {
        let mut q = RunQueue::new();
        q.push_back(3, 2);
        q.push_back(1, 2);
        q.push_back(7, 0);
        q.push_back(3, 2); // already queued: ignored
        assert_eq!(q.highest(), Some(0));
        assert_eq!(q.pop(), Some(7));
        assert_eq!(q.pop(), Some(3));
        q.push_back(3, 2);
        assert_eq!(q.pop(), Some(1), "round robin");
        assert_eq!(q.pop(), Some(3));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn remove_anywhere() {
        let mut q = RunQueue::new();
        for t in 0..5 {
            q.push_back(t, 4);
        }
        q.remove(2, 4);
        q.remove(4, 4);
        q.remove(0, 4);
        q.remove(9, 4);
        assert!(!q.contains(2));
        assert_eq!(q.pop(), Some(1));
        assert_eq!(q.pop(), Some(3));
        assert_eq!(q.pop(), None);
        q.push_back(4, 4);
        assert_eq!(q.pop(), Some(4), "tail was fixed up");
        q.push_back(40, 1);
        q.push_back(1, 9);
        assert_eq!(q.pop(), None, "out-of-range pushes ignored");
    }
}
