//! An arena-backed weak-AVL (WAVL) tree keyed by `u32`, optionally
//! augmented.
//!
//! Why WAVL (Haeupler, Sen, Tarjan, "Rank-balanced trees", 2015): each node
//! has a rank, every rank difference parent − child is 1 or 2 (a missing
//! child has rank −1) and leaves have rank 0. Built by insertions only it is
//! exactly an AVL tree (height ≤ 1.44·log2 n); with deletions its height
//! stays ≤ 2·log2 n, and rebalancing — promotions, demotions, at most two
//! rotations — is O(1) amortised for *any* mix of insertions and deletions.
//! A plain AVL tree is not: an insert and a delete at the same place (what
//! an allocator does all day) can both rebalance all the way to the root,
//! every time. The busy tree sees exactly that pattern.
//!
//! Why an arena: nodes live in one `Vec` and link by `u32` index, so the
//! tree needs no `unsafe`, and freed slots are recycled through a free-slot
//! list (linked through `right`), so the steady state allocates nothing.
//! The arena grows by 1/16 (not by doubling) once it holds a few hundred
//! nodes, so its unused tail stays below 1/16 of its size.
//!
//! Node layout: the item, then two `u32` words — the left link with the
//! rank packed in its top 6 bits, and the right link. The link overhead is
//! 8 bytes on every target (no pointer-sized field, no padding byte).
//!
//! Why iterative with an explicit path: every operation is a root-to-node
//! descent that records the nodes it passed (at most [`MAX_DEPTH`]), and
//! the augmented values and ranks are fixed walking that path back up,
//! stopping as soon as nothing changes. No recursion, no parent links.
//!
//! Augmentation: [`Item::set_aug`] receives the larger of the children's
//! [`Item::aug`] values; the free tree uses it to keep each subtree's largest
//! free size (Linux's `subtree_max_size`). Rotations keep a subtree's item
//! set, so they only recompute the rotated nodes.

use alloc::vec::Vec;

/// Bits of a node index; the top `32 - IDX_BITS` bits of `left_h` hold the
/// rank.
pub(crate) const IDX_BITS: u32 = 26;
pub(crate) const IDX_MASK: u32 = (1 << IDX_BITS) - 1;
/// "No node".
pub(crate) const NIL: u32 = IDX_MASK;
/// Deepest possible path. A tree of the vmalloc window never holds more
/// than 2^20 + 1 nodes (every busy area spans at least one page of a
/// 32-bit address space, and free ranges are never adjacent), and a WAVL
/// tree of n nodes is at most 2·log2(n + 1) < 42 high.
pub(crate) const MAX_DEPTH: usize = 48;
/// Smallest arena growth step once the arena holds this many nodes
/// (below it the `Vec` doubles).
const GROW_STEP: usize = 256;

/// What a tree stores.
pub(crate) trait Item: Default {
    /// Whether [`Item::aug`] means anything (a plain tree skips every
    /// augmented-value update).
    const AUGMENTED: bool = false;
    /// The search key (a start address); unique within one tree.
    fn key(&self) -> u32;
    /// The augmented value of the subtree rooted here (0 when not augmented).
    #[inline]
    fn aug(&self) -> u32 {
        0
    }
    /// Recompute the augmented value from the children's largest one.
    #[inline]
    fn set_aug(&mut self, _children: u32) {}
}

pub(crate) struct Node<I> {
    pub(crate) item: I,
    /// Left child (low [`IDX_BITS`] bits) and rank (high bits).
    left_h: u32,
    right: u32,
}

impl<I> Node<I> {
    #[inline]
    pub(crate) fn left(&self) -> u32 {
        self.left_h & IDX_MASK
    }
    #[inline]
    pub(crate) fn right(&self) -> u32 {
        self.right
    }
    #[inline]
    fn rank(&self) -> u32 {
        self.left_h >> IDX_BITS
    }
    #[inline]
    fn set_left(&mut self, l: u32) {
        self.left_h = (self.left_h & !IDX_MASK) | l;
    }
    #[inline]
    fn set_rank(&mut self, r: u32) {
        self.left_h = (self.left_h & IDX_MASK) | (r << IDX_BITS);
    }
}

pub(crate) struct Avl<I> {
    nodes: Vec<Node<I>>,
    slots: u32,
    pub(crate) root: u32,
    free_slot: u32,
    len: u32,
}

impl<I: Item> Avl<I> {
    pub(crate) const fn new() -> Self {
        Self {
            nodes: Vec::new(),
            slots: 0,
            root: NIL,
            free_slot: NIL,
            len: 0,
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> u32 {
        self.len
    }

    /// Arena slots allocated (live + recycled + chunk tails): the metadata
    /// footprint in nodes.
    pub(crate) fn capacity(&self) -> usize {
        self.nodes.capacity()
    }

    #[inline]
    pub(crate) fn node(&self, n: u32) -> &Node<I> {
        &self.nodes[n as usize]
    }

    #[inline]
    fn node_mut(&mut self, n: u32) -> &mut Node<I> {
        &mut self.nodes[n as usize]
    }

    #[inline]
    pub(crate) fn item(&self, n: u32) -> &I {
        &self.node(n).item
    }

    #[inline]
    pub(crate) fn item_mut(&mut self, n: u32) -> &mut I {
        &mut self.node_mut(n).item
    }

    /// Rank of `n`; −1 for a missing node.
    #[inline]
    fn rk(&self, n: u32) -> i32 {
        if n == NIL {
            -1
        } else {
            self.node(n).rank() as i32
        }
    }

    #[inline]
    fn add_rank(&mut self, n: u32, delta: i32) {
        let node = self.node_mut(n);
        let r = node.rank() as i32 + delta;
        debug_assert!((0..64).contains(&r));
        node.set_rank(r as u32);
    }

    #[inline]
    pub(crate) fn aug(&self, n: u32) -> u32 {
        if n == NIL {
            0
        } else {
            self.node(n).item.aug()
        }
    }

    /// Recomputes the augmented value of `n` from its children.
    #[inline]
    fn update_aug(&mut self, n: u32) {
        if !I::AUGMENTED {
            return;
        }
        let (l, r) = {
            let node = self.node(n);
            (node.left(), node.right())
        };
        let a = self.aug(l).max(self.aug(r));
        self.node_mut(n).item.set_aug(a);
    }

    #[inline]
    fn children(&self, n: u32) -> (u32, u32) {
        let node = self.node(n);
        (node.left(), node.right())
    }

    /// Rotates `n`'s left child up; returns the new subtree root. Ranks are
    /// the caller's; augmented values are recomputed.
    fn rotate_right(&mut self, n: u32) -> u32 {
        let l = self.node(n).left();
        let lr = self.node(l).right();
        self.node_mut(n).set_left(lr);
        self.node_mut(l).right = n;
        self.update_aug(n);
        self.update_aug(l);
        l
    }

    /// Rotates `n`'s right child up; returns the new subtree root.
    fn rotate_left(&mut self, n: u32) -> u32 {
        let r = self.node(n).right();
        let rl = self.node(r).left();
        self.node_mut(n).right = rl;
        self.node_mut(r).set_left(n);
        self.update_aug(n);
        self.update_aug(r);
        r
    }

    /// Points `parent`'s link to `old` (or the root) at `new`.
    #[inline]
    fn replace_child(&mut self, parent: u32, old: u32, new: u32) {
        if parent == NIL {
            self.root = new;
        } else if self.node(parent).left() == old {
            self.node_mut(parent).set_left(new);
        } else {
            self.node_mut(parent).right = new;
        }
    }

    /// Recomputes the augmented values of `path[..=i]` bottom-up (entries'
    /// low [`IDX_BITS`] bits are node indices). Entries at positions
    /// `>= force` are always recomputed; above them the walk stops at the
    /// first unchanged value (nothing above can change then).
    fn fix_aug(&mut self, path: &[u32], i: usize, force: usize) {
        if !I::AUGMENTED {
            return;
        }
        let mut i = i + 1;
        while i > 0 {
            i -= 1;
            let n = path[i] & IDX_MASK;
            let old = self.node(n).item.aug();
            self.update_aug(n);
            if i < force && self.node(n).item.aug() == old {
                return;
            }
        }
    }

    /// WAVL insertion rebalancing: `x` was just attached as a leaf below
    /// `path[i - 1]`.
    fn rebalance_insert(&mut self, path: &[u32], mut i: usize, mut x: u32) {
        while i > 0 {
            let p = path[i - 1];
            if self.rk(p) != self.rk(x) {
                return; // x is a 1-child: done.
            }
            // x is a 0-child.
            let (l, r) = self.children(p);
            let x_left = l == x;
            let s = if x_left { r } else { l };
            if self.rk(p) - self.rk(s) == 1 {
                // 0,1 node: promote and look higher.
                self.add_rank(p, 1);
                x = p;
                i -= 1;
                continue;
            }
            // 0,2 node: one or two rotations end the rebalancing.
            let z = p;
            let (xl, xr) = self.children(x);
            let y = if x_left { xr } else { xl };
            let top = if y == NIL || self.rk(x) - self.rk(y) == 2 {
                self.add_rank(z, -1);
                if x_left {
                    self.rotate_right(z)
                } else {
                    self.rotate_left(z)
                }
            } else {
                if x_left {
                    let nl = self.rotate_left(x);
                    self.node_mut(z).set_left(nl);
                } else {
                    let nr = self.rotate_right(x);
                    self.node_mut(z).right = nr;
                }
                self.add_rank(y, 1);
                self.add_rank(x, -1);
                self.add_rank(z, -1);
                if x_left {
                    self.rotate_right(z)
                } else {
                    self.rotate_left(z)
                }
            };
            let parent = if i >= 2 { path[i - 2] } else { NIL };
            self.replace_child(parent, z, top);
            return;
        }
    }

    /// WAVL deletion rebalancing: the child slot (`x_left`: the left one)
    /// of `path[i]` lost a node and now holds `x` (possibly none).
    fn rebalance_delete(&mut self, path: &[u32], mut i: usize, mut x: u32, mut x_left: bool) {
        loop {
            let p = path[i];
            let (l, r) = self.children(p);
            // Every branch that does not return demoted p: look higher.
            if l == NIL && r == NIL && self.rk(p) == 1 {
                // A 2,2 leaf: demote to rank 0.
                self.add_rank(p, -1);
            } else if self.rk(p) - self.rk(x) <= 2 {
                return; // x is a 1- or 2-child: done.
            } else {
                // x is a 3-child; its sibling y exists (p has rank >= 2).
                let y = if x_left { r } else { l };
                if self.rk(p) - self.rk(y) == 2 {
                    self.add_rank(p, -1);
                } else {
                    let (yl, yr) = self.children(y);
                    let ry = self.rk(y);
                    if ry - self.rk(yl) == 2 && ry - self.rk(yr) == 2 {
                        // y is a 2,2 node: demote both.
                        self.add_rank(p, -1);
                        self.add_rank(y, -1);
                    } else {
                        self.rotate_delete(path, i, x_left, y, yl, yr);
                        return;
                    }
                }
            }
            if i == 0 {
                return;
            }
            x = p;
            x_left = self.node(path[i - 1]).left() == p;
            i -= 1;
        }
    }

    /// The rotation case of deletion: `z = path[i]` has a 3-child on the
    /// `x_left` side and a 1-child `y` (children `yl`, `yr`) that is not a
    /// 2,2 node.
    fn rotate_delete(&mut self, path: &[u32], i: usize, x_left: bool, y: u32, yl: u32, yr: u32) {
        let z = path[i];
        let (v, w) = if x_left { (yl, yr) } else { (yr, yl) };
        let top = if self.rk(y) - self.rk(w) == 1 {
            // Single rotation: y up.
            let top = if x_left {
                self.rotate_left(z)
            } else {
                self.rotate_right(z)
            };
            self.add_rank(y, 1);
            self.add_rank(z, -1);
            let (zl, zr) = self.children(z);
            if zl == NIL && zr == NIL {
                self.add_rank(z, -1); // z became a 2,2 leaf
            }
            top
        } else {
            // Double rotation: v (a 1-child of y) up.
            if x_left {
                let nr = self.rotate_right(y);
                self.node_mut(z).right = nr;
            } else {
                let nl = self.rotate_left(y);
                self.node_mut(z).set_left(nl);
            }
            self.add_rank(v, 2);
            self.add_rank(y, -1);
            self.add_rank(z, -2);
            if x_left {
                self.rotate_left(z)
            } else {
                self.rotate_right(z)
            }
        };
        let parent = if i >= 1 { path[i - 1] } else { NIL };
        self.replace_child(parent, z, top);
    }

    fn alloc_node(&mut self, item: I) -> u32 {
        self.len += 1;
        let fresh = Node {
            item,
            left_h: NIL, // rank 0
            right: NIL,
        };
        if self.free_slot != NIL {
            let n = self.free_slot;
            let node = self.node_mut(n);
            let next = node.right;
            *node = fresh;
            self.free_slot = next;
            n
        } else {
            // At most 2^20 + 1 live nodes (see MAX_DEPTH), far below the
            // 2^26 indices a link can hold.
            debug_assert!(self.slots < NIL, "avl: arena index space exhausted");
            let n = self.slots;
            if self.nodes.len() == self.nodes.capacity() && self.nodes.len() >= GROW_STEP {
                // Grow by 1/16 (at least GROW_STEP nodes) instead of
                // doubling: the unused tail stays below 1/16 of the arena
                // (each node is copied about 16 times over the arena's
                // growth: amortised O(1)).
                self.nodes
                    .reserve_exact((self.nodes.len() / 16).max(GROW_STEP));
            }
            self.nodes.push(fresh);
            self.slots += 1;
            n
        }
    }

    fn release_node(&mut self, n: u32) -> I {
        self.len -= 1;
        let free_slot = self.free_slot;
        self.free_slot = n;
        let node = self.node_mut(n);
        node.left_h = NIL;
        node.right = free_slot;
        core::mem::take(&mut node.item)
    }

    /// Inserts `item`; its key must not be present. Returns its node index.
    pub(crate) fn insert(&mut self, item: I) -> u32 {
        self.insert_with(item, &mut [NIL; MAX_DEPTH])
    }

    /// [`Avl::insert`] with a caller-provided path buffer (its contents
    /// are overwritten before being read: a reused buffer saves the
    /// initialisation of a fresh one).
    #[inline]
    pub(crate) fn insert_with(&mut self, item: I, path: &mut [u32; MAX_DEPTH]) -> u32 {
        let (d, _, _) = self.search_gap(item.key(), path);
        self.insert_at_gap(item, path, d)
    }

    /// Descends towards `key` (which must not be in the tree), recording
    /// the nodes passed in `path`. Returns the depth and the path positions
    /// of `key`'s in-order predecessor and successor (`usize::MAX`: none):
    /// both lie on the search path of an absent key.
    pub(crate) fn search_gap(
        &self,
        key: u32,
        path: &mut [u32; MAX_DEPTH],
    ) -> (usize, usize, usize) {
        let (mut pred, mut succ) = (usize::MAX, usize::MAX);
        let mut d = 0;
        let mut at = self.root;
        while at != NIL {
            path[d] = at;
            let node = self.node(at);
            if key < node.item.key() {
                succ = d;
                at = node.left();
            } else {
                pred = d;
                at = node.right();
            }
            d += 1;
        }
        (d, pred, succ)
    }

    /// Inserts `item` at the end of `path[..d]`, the result of
    /// [`Avl::search_gap`] for its key with the tree unchanged since.
    pub(crate) fn insert_at_gap(&mut self, item: I, path: &[u32; MAX_DEPTH], d: usize) -> u32 {
        let key = item.key();
        let n = self.alloc_node(item);
        self.item_mut(n).set_aug(0);
        if d == 0 {
            self.root = n;
            return n;
        }
        let p = path[d - 1];
        if key < self.item(p).key() {
            self.node_mut(p).set_left(n);
        } else {
            self.node_mut(p).right = n;
        }
        self.fix_aug(path, d - 1, d);
        self.rebalance_insert(path, d, n);
        n
    }

    /// After the item of `path[i]` changed in place (its key may have
    /// moved, but not past a neighbour), recomputes the augmented values
    /// from it up to the root along `path` (low [`IDX_BITS`] bits of each
    /// entry), stopping as soon as a value is unchanged.
    pub(crate) fn fix_up(&mut self, path: &[u32], i: usize) {
        self.fix_aug(path, i, i + 1);
    }

    /// Removes the node with `key`, returning its item.
    pub(crate) fn remove(&mut self, key: u32) -> Option<I> {
        self.remove_with(key, &mut [NIL; MAX_DEPTH])
    }

    /// [`Avl::remove`] with a caller-provided path buffer (see
    /// [`Avl::insert_with`]).
    pub(crate) fn remove_with(&mut self, key: u32, path: &mut [u32; MAX_DEPTH]) -> Option<I> {
        let mut d = 0;
        let mut at = self.root;
        while at != NIL {
            let node = self.node(at);
            let k = node.item.key();
            if key == k {
                break;
            }
            path[d] = at;
            d += 1;
            at = if key < k { node.left() } else { node.right() };
        }
        if at == NIL {
            return None;
        }
        Some(self.remove_at(path, d, at))
    }

    /// Removes `target`, whose root path is `path[..d]` (plain indices,
    /// `target` itself not included), returning its item.
    pub(crate) fn remove_at(
        &mut self,
        path: &mut [u32; MAX_DEPTH],
        mut d: usize,
        target: u32,
    ) -> I {
        let parent = if d == 0 { NIL } else { path[d - 1] };
        let (l, r) = self.children(target);
        if l == NIL || r == NIL {
            let child = if l == NIL { r } else { l };
            let x_left = parent != NIL && self.node(parent).left() == target;
            self.replace_child(parent, target, child);
            if d > 0 {
                self.fix_aug(&path[..], d - 1, d);
                self.rebalance_delete(&path[..], d - 1, child, x_left);
            }
        } else {
            // Relink the in-order successor `m` in place of `target` (never
            // copy items: node indices held by callers must stay valid); it
            // takes over target's rank, and the slot it leaves is where a
            // node was lost.
            let ti = d;
            d += 1;
            let mut m = r;
            loop {
                let ml = self.node(m).left();
                if ml == NIL {
                    break;
                }
                path[d] = m;
                d += 1;
                m = ml;
            }
            let mright = self.node(m).right();
            let rank = self.node(target).rank();
            let (lost_at, x_left) = if d - 1 == ti {
                // m is target's right child: it keeps its right subtree,
                // which now hangs where m was.
                self.node_mut(m).set_left(l);
                (ti, false)
            } else {
                self.node_mut(path[d - 1]).set_left(mright);
                let mn = self.node_mut(m);
                mn.set_left(l);
                mn.right = r;
                (d - 1, true)
            };
            self.node_mut(m).set_rank(rank);
            path[ti] = m;
            self.replace_child(parent, target, m);
            // Everything from the lost slot up to m's new place changed.
            self.fix_aug(&path[..], d - 1, ti);
            self.rebalance_delete(&path[..], lost_at, mright, x_left);
        }
        self.release_node(target)
    }

    /// Recomputes the augmented values on the path to `key` after the item
    /// with that key changed in place (its key may have moved, but not past
    /// a neighbour). Stops as soon as a subtree's value is unchanged.
    pub(crate) fn fix_path(&mut self, key: u32) {
        let mut path = [NIL; MAX_DEPTH];
        let mut d = 0;
        let mut at = self.root;
        while at != NIL {
            path[d] = at;
            d += 1;
            let node = self.node(at);
            let k = node.item.key();
            if key == k {
                break;
            }
            at = if key < k { node.left() } else { node.right() };
        }
        if d > 0 {
            self.fix_up(&path[..d], d - 1);
        }
    }

    /// The node with exactly `key`.
    #[inline]
    pub(crate) fn get(&self, key: u32) -> u32 {
        let mut at = self.root;
        while at != NIL {
            let node = self.node(at);
            let k = node.item.key();
            if key == k {
                return at;
            }
            at = if key < k { node.left() } else { node.right() };
        }
        NIL
    }

    /// The node with the largest key `<= key`.
    pub(crate) fn floor(&self, key: u32) -> u32 {
        let mut at = self.root;
        let mut best = NIL;
        while at != NIL {
            let node = self.node(at);
            if node.item.key() <= key {
                best = at;
                at = node.right();
            } else {
                at = node.left();
            }
        }
        best
    }

    /// In-order iteration.
    pub(crate) fn iter(&self) -> Iter<'_, I> {
        let mut it = Iter {
            tree: self,
            stack: [NIL; MAX_DEPTH],
            depth: 0,
        };
        it.push_left(self.root);
        it
    }

    /// Checks order, the WAVL rank rules, the depth bound, the node count
    /// and the free-slot list (not the augmentation: the owner checks its
    /// meaning).
    pub(crate) fn check(&self) -> Result<(), &'static str> {
        let mut count = 0u32;
        self.check_at(self.root, None, None, &mut count)?;
        if count != self.len {
            return Err("avl: node count mismatch");
        }
        let mut free = 0u32;
        let mut s = self.free_slot;
        while s != NIL {
            free += 1;
            if free > self.slots {
                return Err("avl: free-slot list loops");
            }
            s = self.node(s).right();
        }
        if free + count != self.slots {
            return Err("avl: arena slots leaked");
        }
        Ok(())
    }

    /// Returns the subtree's rank (−1 when empty) and height.
    fn check_at(
        &self,
        n: u32,
        lo: Option<u32>,
        hi: Option<u32>,
        count: &mut u32,
    ) -> Result<(i32, usize), &'static str> {
        if n == NIL {
            return Ok((-1, 0));
        }
        *count += 1;
        if *count > self.len {
            return Err("avl: more reachable nodes than len");
        }
        let node = self.node(n);
        let k = node.item.key();
        if lo.is_some_and(|lo| k <= lo) || hi.is_some_and(|hi| k >= hi) {
            return Err("avl: keys out of order");
        }
        let (rl, hl) = self.check_at(node.left(), lo, Some(k), count)?;
        let (rr, hr) = self.check_at(node.right(), Some(k), hi, count)?;
        let rank = node.rank() as i32;
        if !(1..=2).contains(&(rank - rl)) || !(1..=2).contains(&(rank - rr)) {
            return Err("avl: rank difference not 1 or 2");
        }
        if node.left() == NIL && node.right() == NIL && rank != 0 {
            return Err("avl: leaf rank not 0");
        }
        let h = 1 + hl.max(hr);
        if h > MAX_DEPTH {
            return Err("avl: deeper than MAX_DEPTH");
        }
        Ok((rank, h))
    }
}

/// In-order iterator over node indices.
pub(crate) struct Iter<'a, I> {
    tree: &'a Avl<I>,
    stack: [u32; MAX_DEPTH],
    depth: usize,
}

impl<I: Item> Iter<'_, I> {
    fn push_left(&mut self, mut n: u32) {
        while n != NIL && self.depth < self.stack.len() {
            self.stack[self.depth] = n;
            self.depth += 1;
            n = self.tree.node(n).left();
        }
    }
}

impl<I: Item> Iterator for Iter<'_, I> {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        if self.depth == 0 {
            return None;
        }
        self.depth -= 1;
        let n = self.stack[self.depth];
        self.push_left(self.tree.node(n).right());
        Some(n)
    }
}
