//! An upper bound of a document's size and depth after substitution, computed without
//! substituting anything.
//!
//! Each assignment's value is at most its literal bytes plus, for each `${path}` in it, the
//! bound of everything set at `path` (at it, below it, and at its ancestors, whose values may
//! hold it). Substitutions resolve against the whole document, so a reference may point
//! forward; the bounds are therefore refined in rounds over the assignments in document
//! order until they no longer change. A self-reference (`a = ${a}${a}`) sees only the
//! assignments before it, as in HOCON. Values only grow from round to round, so a bound over
//! [`MAX_RESOLVED_BYTES`] or [`MAX_DEPTH`] is refused at once; a document still changing
//! after [`MAX_BOUND_ROUNDS`] rounds refers in a cycle (an error anyway) or through a very
//! long forward chain, and is refused as unboundable. `a = ${a}${a}` 22 times, which made
//! the HOCON library allocate gigabytes, is refused at its 19th line.

use std::collections::HashMap;

use super::error::{ConfigError, elide};
use super::limits::{MAX_BOUND_ROUNDS, MAX_DEPTH, MAX_RESOLVED_BYTES, describe_bytes};
use super::normalize::{Normalized, display_path};

const ROOT: usize = 0;

/// The paths a document sets, as a tree.
pub(crate) struct PathTree {
    nodes: Vec<TreeNode>,
}

struct TreeNode {
    parent: usize,
    depth: usize,
    children: HashMap<String, usize>,
}

impl PathTree {
    /// The tree of every assignment's path, and each assignment's node.
    pub(crate) fn build(normalized: &Normalized) -> (Self, Vec<usize>) {
        let mut tree = PathTree {
            nodes: vec![TreeNode {
                parent: ROOT,
                depth: 0,
                children: HashMap::new(),
            }],
        };
        let nodes = normalized
            .assignments
            .iter()
            .map(|assignment| tree.insert(&assignment.path))
            .collect();
        (tree, nodes)
    }

    fn insert(&mut self, path: &[String]) -> usize {
        let mut node = ROOT;
        for segment in path {
            node = match self.nodes[node].children.get(segment) {
                Some(child) => *child,
                None => {
                    let child = self.nodes.len();
                    let depth = self.nodes[node].depth + 1;
                    self.nodes.push(TreeNode {
                        parent: node,
                        depth,
                        children: HashMap::new(),
                    });
                    self.nodes[node].children.insert(segment.clone(), child);
                    child
                }
            };
        }
        node
    }

    /// The deepest node on `path`, and whether it is `path` itself.
    fn locate(&self, path: &[String]) -> (usize, bool) {
        let mut node = ROOT;
        for segment in path {
            match self.nodes[node].children.get(segment) {
                Some(child) => node = *child,
                None => return (node, false),
            }
        }
        (node, true)
    }

    /// Whether the document sets `path`, a key above it or a key below it — so that a
    /// substitution of `path` is resolved from the document, not from the environment.
    pub(crate) fn defines(&self, path: &[String]) -> bool {
        self.locate(path).0 != ROOT
    }

    /// `node` and its ancestors up to (not including) the root.
    fn ancestry(&self, mut node: usize) -> impl Iterator<Item = usize> + '_ {
        std::iter::from_fn(move || {
            (node != ROOT).then(|| {
                let current = node;
                node = self.nodes[node].parent;
                current
            })
        })
    }

    /// Whether `ancestor` is `node` or above it.
    fn contains(&self, ancestor: usize, node: usize) -> bool {
        let target = self.nodes[ancestor].depth;
        let mut node = node;
        while self.nodes[node].depth > target {
            node = self.nodes[node].parent;
        }
        node == ancestor
    }
}

/// Bounds of the values set at and below each node.
#[derive(Clone)]
struct Sums {
    /// Bytes of everything set at the node or below it.
    total: Vec<u64>,
    /// Bytes of what is set at exactly the node.
    own: Vec<u64>,
    /// Deepest absolute nesting of everything set at the node or below it.
    deepest: Vec<usize>,
    /// Deepest absolute nesting of what is set at exactly the node.
    own_deepest: Vec<usize>,
}

impl Sums {
    fn new(nodes: usize) -> Self {
        Sums {
            total: vec![0; nodes],
            own: vec![0; nodes],
            deepest: vec![0; nodes],
            own_deepest: vec![0; nodes],
        }
    }

    fn add(&mut self, tree: &PathTree, node: usize, bytes: u64, depth: usize) {
        self.own[node] = self.own[node].saturating_add(bytes);
        self.own_deepest[node] = self.own_deepest[node].max(depth);
        for above in tree.ancestry(node) {
            self.total[above] = self.total[above].saturating_add(bytes);
            self.deepest[above] = self.deepest[above].max(depth);
        }
        self.total[ROOT] = self.total[ROOT].saturating_add(bytes);
    }

    /// Bound of the value at a located path: bytes, and how deep it nests below the path.
    fn value_at(
        &self,
        tree: &PathTree,
        (node, whole): (usize, bool),
        length: usize,
    ) -> (u64, usize) {
        let (mut bytes, mut deepest) = if whole {
            (self.total[node], self.deepest[node])
        } else {
            (self.own[node], self.own_deepest[node])
        };
        for above in tree.ancestry(node).skip(1) {
            bytes = bytes.saturating_add(self.own[above]);
            deepest = deepest.max(self.own_deepest[above]);
        }
        (bytes, deepest.saturating_sub(length))
    }
}

/// Refuses `normalized` when its size after substitution could pass [`MAX_RESOLVED_BYTES`]
/// or its nesting [`MAX_DEPTH`]. `external[i]` bounds substitution `i` when the document does
/// not define its path (an environment variable's size, and 1 level for a list).
pub(crate) fn check_resolved_bounds(
    normalized: &Normalized,
    tree: &PathTree,
    nodes: &[usize],
    external: &[(u64, usize)],
) -> Result<(), ConfigError> {
    if normalized.substitutions.is_empty() {
        // Nothing grows: the text's own limits bound it.
        return Ok(());
    }
    let located: Vec<(usize, bool)> = normalized
        .substitutions
        .iter()
        .map(|substitution| tree.locate(&substitution.path))
        .collect();
    let count = tree.nodes.len();
    let mut bytes = vec![0u64; normalized.assignments.len()];
    let mut depths = vec![0usize; normalized.assignments.len()];
    let mut current = Sums::new(count);
    for round in 1..=MAX_BOUND_ROUNDS {
        // What the assignments before the one at hand gave in this round.
        let mut earlier = Sums::new(count);
        let mut changed = None;
        for (index, assignment) in normalized.assignments.iter().enumerate() {
            let node = nodes[index];
            let mut size = assignment.literal_bytes;
            let mut depth = assignment.depth;
            for reference in &assignment.references {
                let substitution = &normalized.substitutions[reference.substitution];
                let location = located[reference.substitution];
                let (value_bytes, below) = if location.0 == ROOT {
                    external
                        .get(reference.substitution)
                        .copied()
                        .unwrap_or((0, 0))
                } else {
                    let self_reference = tree.contains(node, location.0)
                        || (location.1 && tree.contains(location.0, node));
                    let sums = if self_reference { &earlier } else { &current };
                    sums.value_at(tree, location, substitution.path.len())
                };
                size = size.saturating_add(value_bytes);
                depth = depth.max(reference.depth + below);
            }
            earlier.add(tree, node, size, depth);
            if size != bytes[index] || depth != depths[index] {
                current.add(tree, node, size.saturating_sub(bytes[index]), depth);
                bytes[index] = size;
                depths[index] = depth;
                changed.get_or_insert(index);
            }
            if current.total[ROOT] > MAX_RESOLVED_BYTES {
                return Err(ConfigError::Limit {
                    at: assignment.at.clone(),
                    message: format!(
                        "with its substitutions, '{}' could make the job text larger than {} \
                         (the limit on the size after substitution, bounded from the sizes of \
                         the values substituted)",
                        elide(&display_path(&assignment.path)),
                        describe_bytes(MAX_RESOLVED_BYTES)
                    ),
                });
            }
            if depth > MAX_DEPTH {
                return Err(ConfigError::Limit {
                    at: assignment.at.clone(),
                    message: format!(
                        "with its substitutions, '{}' could nest {depth} levels deep, more \
                         than the limit of {MAX_DEPTH}",
                        elide(&display_path(&assignment.path)),
                    ),
                });
            }
        }
        let Some(first_changed) = changed else {
            return Ok(());
        };
        if round == MAX_BOUND_ROUNDS {
            let assignment = &normalized.assignments[first_changed];
            return Err(ConfigError::Limit {
                at: assignment.at.clone(),
                message: format!(
                    "the substitutions of '{}' refer to each other in a cycle or through a \
                     chain of more than {MAX_BOUND_ROUNDS} forward references, so their size \
                     cannot be bounded (the limit)",
                    elide(&display_path(&assignment.path)),
                ),
            });
        }
    }
    Ok(())
}
