//! An arena-backed AVL tree keyed by `u32`, optionally augmented.
//!
//! Why an arena: nodes live in one `Vec` and link by `u32` index, so a node
//! costs 13 bytes of links instead of three pointers, the tree needs no
//! `unsafe`, and freed slots are recycled through a free-slot list (linked
//! through `left`) so the steady state allocates nothing.
//!
//! Why recursion without parent pointers: every operation is a root-to-node
//! descent, and rebalancing / augmentation happen on the way back up. The
//! depth of an AVL tree is below 1.45·log2(n+2), i.e. under 47 even for 2^32
//! nodes, so the stack use is bounded and small.
//!
//! Augmentation: [`Item::set_aug`] receives the larger of the children's
//! [`Item::aug`] values; the free tree uses it to keep each subtree's largest
//! free size (Linux's `subtree_max_size`).

use alloc::vec::Vec;

/// "No node".
pub(crate) const NIL: u32 = u32::MAX;

/// What a tree stores.
pub(crate) trait Item: Default {
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

#[derive(Default)]
pub(crate) struct Node<I> {
    pub(crate) item: I,
    pub(crate) left: u32,
    pub(crate) right: u32,
    pub(crate) height: u8,
}

pub(crate) struct Avl<I> {
    pub(crate) nodes: Vec<Node<I>>,
    pub(crate) root: u32,
    free_slot: u32,
    len: u32,
}

impl<I: Item> Avl<I> {
    pub(crate) const fn new() -> Self {
        Self {
            nodes: Vec::new(),
            root: NIL,
            free_slot: NIL,
            len: 0,
        }
    }

    #[inline]
    pub(crate) fn len(&self) -> u32 {
        self.len
    }

    /// Arena slots allocated (live + recycled): the metadata footprint.
    pub(crate) fn capacity(&self) -> usize {
        self.nodes.capacity()
    }

    #[inline]
    pub(crate) fn node(&self, n: u32) -> &Node<I> {
        &self.nodes[n as usize]
    }

    #[inline]
    pub(crate) fn item(&self, n: u32) -> &I {
        &self.nodes[n as usize].item
    }

    #[inline]
    pub(crate) fn item_mut(&mut self, n: u32) -> &mut I {
        &mut self.nodes[n as usize].item
    }

    #[inline]
    fn height(&self, n: u32) -> u8 {
        if n == NIL {
            0
        } else {
            self.nodes[n as usize].height
        }
    }

    #[inline]
    pub(crate) fn aug(&self, n: u32) -> u32 {
        if n == NIL {
            0
        } else {
            self.nodes[n as usize].item.aug()
        }
    }

    /// Recompute height and augmented value of `n` from its children.
    #[inline]
    fn update(&mut self, n: u32) {
        let (l, r) = {
            let node = &self.nodes[n as usize];
            (node.left, node.right)
        };
        let h = 1 + self.height(l).max(self.height(r));
        let a = self.aug(l).max(self.aug(r));
        let node = &mut self.nodes[n as usize];
        node.height = h;
        node.item.set_aug(a);
    }

    fn rotate_right(&mut self, n: u32) -> u32 {
        let l = self.nodes[n as usize].left;
        self.nodes[n as usize].left = self.nodes[l as usize].right;
        self.nodes[l as usize].right = n;
        self.update(n);
        self.update(l);
        l
    }

    fn rotate_left(&mut self, n: u32) -> u32 {
        let r = self.nodes[n as usize].right;
        self.nodes[n as usize].right = self.nodes[r as usize].left;
        self.nodes[r as usize].left = n;
        self.update(n);
        self.update(r);
        r
    }

    /// Restore the AVL balance at `n` (children already balanced) and
    /// return the subtree's new root.
    fn rebalance(&mut self, n: u32) -> u32 {
        let (l, r) = {
            let node = &self.nodes[n as usize];
            (node.left, node.right)
        };
        let hl = self.height(l);
        let hr = self.height(r);
        if hl > hr + 1 {
            let (ll, lr) = {
                let ln = &self.nodes[l as usize];
                (ln.left, ln.right)
            };
            if self.height(ll) < self.height(lr) {
                let nl = self.rotate_left(l);
                self.nodes[n as usize].left = nl;
            }
            self.rotate_right(n)
        } else if hr > hl + 1 {
            let (rl, rr) = {
                let rn = &self.nodes[r as usize];
                (rn.left, rn.right)
            };
            if self.height(rr) < self.height(rl) {
                let nr = self.rotate_right(r);
                self.nodes[n as usize].right = nr;
            }
            self.rotate_left(n)
        } else {
            self.update(n);
            n
        }
    }

    fn alloc_node(&mut self, item: I) -> u32 {
        self.len += 1;
        if self.free_slot != NIL {
            let n = self.free_slot;
            let node = &mut self.nodes[n as usize];
            self.free_slot = node.left;
            node.item = item;
            node.left = NIL;
            node.right = NIL;
            node.height = 1;
            n
        } else {
            let n = self.nodes.len() as u32;
            self.nodes.push(Node {
                item,
                left: NIL,
                right: NIL,
                height: 1,
            });
            n
        }
    }

    fn release_node(&mut self, n: u32) -> I {
        self.len -= 1;
        let free_slot = self.free_slot;
        let node = &mut self.nodes[n as usize];
        node.left = free_slot;
        node.right = NIL;
        node.height = 0;
        self.free_slot = n;
        core::mem::take(&mut node.item)
    }

    /// Inserts `item`; its key must not be present. Returns its node index.
    pub(crate) fn insert(&mut self, item: I) -> u32 {
        let n = self.alloc_node(item);
        self.item_mut(n).set_aug(0);
        let key = self.item(n).key();
        self.root = self.insert_at(self.root, n, key);
        n
    }

    fn insert_at(&mut self, at: u32, n: u32, key: u32) -> u32 {
        if at == NIL {
            return n;
        }
        if key < self.item(at).key() {
            let l = self.insert_at(self.nodes[at as usize].left, n, key);
            self.nodes[at as usize].left = l;
        } else {
            let r = self.insert_at(self.nodes[at as usize].right, n, key);
            self.nodes[at as usize].right = r;
        }
        self.rebalance(at)
    }

    /// Removes the node with `key`, returning its item.
    pub(crate) fn remove(&mut self, key: u32) -> Option<I> {
        let mut removed = NIL;
        self.root = self.remove_at(self.root, key, &mut removed);
        if removed == NIL {
            None
        } else {
            Some(self.release_node(removed))
        }
    }

    fn remove_at(&mut self, at: u32, key: u32, removed: &mut u32) -> u32 {
        if at == NIL {
            return NIL;
        }
        let k = self.item(at).key();
        if key < k {
            let l = self.remove_at(self.nodes[at as usize].left, key, removed);
            self.nodes[at as usize].left = l;
        } else if key > k {
            let r = self.remove_at(self.nodes[at as usize].right, key, removed);
            self.nodes[at as usize].right = r;
        } else {
            *removed = at;
            let (l, r) = {
                let node = &self.nodes[at as usize];
                (node.left, node.right)
            };
            if l == NIL {
                return r;
            }
            if r == NIL {
                return l;
            }
            // Relink the in-order successor in place of `at` (never copy
            // items: node indices held by callers must stay valid).
            let mut m = NIL;
            let nr = self.remove_min(r, &mut m);
            self.nodes[m as usize].left = l;
            self.nodes[m as usize].right = nr;
            return self.rebalance(m);
        }
        self.rebalance(at)
    }

    fn remove_min(&mut self, at: u32, min: &mut u32) -> u32 {
        let l = self.nodes[at as usize].left;
        if l == NIL {
            *min = at;
            return self.nodes[at as usize].right;
        }
        let nl = self.remove_min(l, min);
        self.nodes[at as usize].left = nl;
        self.rebalance(at)
    }

    /// Recomputes the augmented values on the path to `key` after the item
    /// with that key changed in place (its key may have moved, but not past
    /// a neighbour).
    pub(crate) fn fix_path(&mut self, key: u32) {
        self.fix_path_at(self.root, key);
    }

    fn fix_path_at(&mut self, at: u32, key: u32) {
        if at == NIL {
            return;
        }
        let k = self.item(at).key();
        if key < k {
            self.fix_path_at(self.nodes[at as usize].left, key);
        } else if key > k {
            self.fix_path_at(self.nodes[at as usize].right, key);
        }
        self.update(at);
    }

    /// The node with the largest key `<= key`.
    pub(crate) fn floor(&self, key: u32) -> u32 {
        let mut at = self.root;
        let mut best = NIL;
        while at != NIL {
            let node = self.node(at);
            if node.item.key() <= key {
                best = at;
                at = node.right;
            } else {
                at = node.left;
            }
        }
        best
    }

    /// The node with the smallest key `>= key`.
    pub(crate) fn ceil(&self, key: u32) -> u32 {
        let mut at = self.root;
        let mut best = NIL;
        while at != NIL {
            let node = self.node(at);
            if node.item.key() >= key {
                best = at;
                at = node.left;
            } else {
                at = node.right;
            }
        }
        best
    }

    /// In-order iteration.
    pub(crate) fn iter(&self) -> Iter<'_, I> {
        let mut it = Iter {
            tree: self,
            stack: [NIL; 64],
            depth: 0,
        };
        it.push_left(self.root);
        it
    }

    /// Checks order, balance, heights, augmentation and the node count.
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
            if free as usize > self.nodes.len() {
                return Err("avl: free-slot list loops");
            }
            s = self.node(s).left;
        }
        if (free + count) as usize != self.nodes.len() {
            return Err("avl: arena slots leaked");
        }
        Ok(())
    }

    fn check_at(
        &self,
        n: u32,
        lo: Option<u32>,
        hi: Option<u32>,
        count: &mut u32,
    ) -> Result<u8, &'static str> {
        if n == NIL {
            return Ok(0);
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
        let hl = self.check_at(node.left, lo, Some(k), count)?;
        let hr = self.check_at(node.right, Some(k), hi, count)?;
        if hl.abs_diff(hr) > 1 {
            return Err("avl: unbalanced");
        }
        if node.height != 1 + hl.max(hr) {
            return Err("avl: stale height");
        }
        Ok(node.height)
    }
}

/// In-order iterator over node indices.
pub(crate) struct Iter<'a, I> {
    tree: &'a Avl<I>,
    stack: [u32; 64],
    depth: usize,
}

impl<I: Item> Iter<'_, I> {
    fn push_left(&mut self, mut n: u32) {
        while n != NIL && self.depth < self.stack.len() {
            self.stack[self.depth] = n;
            self.depth += 1;
            n = self.tree.node(n).left;
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
        self.push_left(self.tree.node(n).right);
        Some(n)
    }
}
