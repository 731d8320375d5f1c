//! Logical key hierarchy (Wong, Gouda and Lam; RFC 2627) with batch rekeying: members sit
//! at the leaves of a d-ary key tree and hold the keys on their path to the root, whose key
//! is the group key. One rekey per period replaces the key of every node above a leaf that
//! changed, each new key wrapped under the keys of its occupied children: O(changes x log n)
//! wrapped keys instead of flat rekeying's O(n).

use std::collections::{HashMap, HashSet};

use rand::CryptoRng;

use crate::key::NodeKey;
use crate::message::{RekeyMessage, VehicleId, Welcome, WrappedKey};
use crate::scheme::{GroupKeyScheme, Rekey, RekeyError, check_changes};

/// Children per node by default.
pub const DEFAULT_ARITY: usize = 4;

#[derive(Debug, Clone)]
struct Node {
    parent: Option<u32>,
    /// Child node ids by position; empty for leaves.
    children: Vec<Option<u32>>,
    key: NodeKey,
    /// Occupied leaves below (a leaf counts itself).
    members: u32,
    /// Distance from the leaves (leaves are 0), stable when the tree grows at the top.
    level: u32,
}

/// A logical key hierarchy.
#[derive(Debug, Clone)]
pub struct Lkh {
    arity: usize,
    nodes: Vec<Node>,
    root: u32,
    height: u32,
    next_leaf: u64,
    free_leaves: Vec<u32>,
    leaves: HashMap<VehicleId, u32>,
    epoch: u64,
}

impl Lkh {
    /// An empty tree of the given arity (at least 2).
    pub fn new<R: CryptoRng + ?Sized>(arity: usize, rng: &mut R) -> Self {
        let arity = arity.max(2);
        Self {
            arity,
            nodes: vec![Node {
                parent: None,
                children: vec![None; arity],
                key: NodeKey::random(rng),
                members: 0,
                level: 1,
            }],
            root: 0,
            height: 1,
            next_leaf: 0,
            free_leaves: Vec::new(),
            leaves: HashMap::new(),
            epoch: 0,
        }
    }

    /// The tree's arity.
    pub fn arity(&self) -> usize {
        self.arity
    }

    /// Levels from the root to the leaves.
    pub fn height(&self) -> u32 {
        self.height
    }

    fn push(&mut self, node: Node) -> u32 {
        self.nodes.push(node);
        (self.nodes.len() - 1) as u32
    }

    fn capacity(&self) -> u64 {
        (self.arity as u64).saturating_pow(self.height)
    }

    fn grow<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) {
        let mut children = vec![None; self.arity];
        children[0] = Some(self.root);
        let old = self.root as usize;
        let members = self.nodes[old].members;
        self.height += 1;
        let root = self.push(Node {
            parent: None,
            children,
            key: NodeKey::random(rng),
            members,
            level: self.height,
        });
        self.nodes[old].parent = Some(root);
        self.root = root;
    }

    fn allocate_leaf<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) -> u32 {
        if let Some(leaf) = self.free_leaves.pop() {
            return leaf;
        }
        if self.next_leaf >= self.capacity() {
            self.grow(rng);
        }
        let index = self.next_leaf;
        self.next_leaf += 1;
        let mut node = self.root;
        for level in (1..=self.height).rev() {
            let digit = ((index / (self.arity as u64).pow(level - 1)) % self.arity as u64) as usize;
            node = match self.nodes[node as usize].children[digit] {
                Some(child) => child,
                None => {
                    let child = self.push(Node {
                        parent: Some(node),
                        children: if level > 1 {
                            vec![None; self.arity]
                        } else {
                            Vec::new()
                        },
                        key: NodeKey::random(rng),
                        members: 0,
                        level: level - 1,
                    });
                    self.nodes[node as usize].children[digit] = Some(child);
                    child
                }
            };
        }
        node
    }

    /// Adds `delta` to the member counts from `leaf` up, marking the ancestors changed.
    fn update_path(&mut self, leaf: u32, delta: i64, changed: &mut HashSet<u32>) {
        let mut cursor = Some(leaf);
        while let Some(id) = cursor {
            let node = &mut self.nodes[id as usize];
            node.members = (i64::from(node.members) + delta).max(0) as u32;
            if id != leaf {
                changed.insert(id);
            }
            cursor = node.parent;
        }
    }
}

impl GroupKeyScheme for Lkh {
    fn rekey<R: CryptoRng + ?Sized>(
        &mut self,
        joins: &[VehicleId],
        leaves: &[VehicleId],
        rng: &mut R,
    ) -> Result<Rekey, RekeyError> {
        check_changes(|v| self.leaves.contains_key(v), joins, leaves)?;
        let mut changed = HashSet::new();
        for v in leaves {
            if let Some(leaf) = self.leaves.remove(v) {
                self.update_path(leaf, -1, &mut changed);
                self.free_leaves.push(leaf);
            }
        }
        let mut welcomes = Vec::with_capacity(joins.len());
        for v in joins {
            let leaf = self.allocate_leaf(rng);
            let key = NodeKey::random(rng);
            self.nodes[leaf as usize].key = key.clone();
            self.leaves.insert(*v, leaf);
            self.update_path(leaf, 1, &mut changed);
            welcomes.push(Welcome {
                vehicle: *v,
                node: leaf,
                key,
            });
        }
        changed.insert(self.root);

        // Deepest first, so children hold their new keys before their parents wrap.
        let mut order: Vec<u32> = changed.into_iter().collect();
        order.sort_unstable_by_key(|id| (self.nodes[*id as usize].level, *id));
        let mut keys = Vec::new();
        for id in order {
            let key = NodeKey::random(rng);
            for slot in 0..self.arity {
                let Some(child) = self.nodes[id as usize]
                    .children
                    .get(slot)
                    .copied()
                    .flatten()
                else {
                    continue;
                };
                let child_node = &self.nodes[child as usize];
                if child_node.members > 0 {
                    keys.push(WrappedKey {
                        node: id,
                        under: child,
                        wrapped: child_node.key.wrap(&key),
                    });
                }
            }
            self.nodes[id as usize].key = key;
        }
        self.epoch += 1;
        Ok(Rekey {
            message: RekeyMessage {
                epoch: self.epoch,
                root: self.root,
                keys,
            },
            welcomes,
        })
    }

    fn group_key(&self) -> &NodeKey {
        &self.nodes[self.root as usize].key
    }

    fn epoch(&self) -> u64 {
        self.epoch
    }

    fn members(&self) -> usize {
        self.leaves.len()
    }
}
