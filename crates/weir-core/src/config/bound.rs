//! An upper bound of what substitution costs and makes, computed without substituting.
//!
//! The HOCON library copies the value of every `${path}` it substitutes, and substitutes again
//! inside that value each time (it caches little), so `o1 { l = ${o0}, r = ${o0} }`,
//! `o2 { l = ${o1}, r = ${o1} }`, ... or 22 lines of `a = ${a}${a}` take it time and memory
//! exponential in their length. Here every assignment gets, from the assignments it refers to:
//! - `bytes`: its value's size after substitution — its literal bytes plus the size of each
//!   value it substitutes;
//! - `work`: the bytes the library copies to build it — for each substitution, the value's
//!   size plus the work of building that value again;
//! - `depth`: how deep its value nests after substitution.
//!
//! The value at a path is the last plain (non-object) assignment to it plus the objects merged
//! into it since, and everything set below it; a self-reference (`a = ${a} [x]`,
//! `a = ${a}${a}`) sees the value as it was before, as in HOCON. Substitutions resolve
//! against the whole document, so a reference may point forward: the bounds are refined in
//! rounds over the assignments in document order until they no longer change. Bounds only
//! grow from round to round, so passing [`MAX_SUBSTITUTED_BYTES`] or [`MAX_DEPTH`] is refused
//! at once; a document still changing after [`MAX_BOUND_ROUNDS`] rounds refers in a cycle
//! (an error anyway) or through a long forward chain, and is refused as unboundable.

use std::collections::HashMap;

use super::error::{ConfigError, elide};
use super::limits::{MAX_BOUND_ROUNDS, MAX_DEPTH, MAX_SUBSTITUTED_BYTES, describe_bytes};
use super::normalize::{Assignment, Merge, Normalized, display_path};

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

/// A bound of a value: its size and the work to build it.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
struct Cost {
    bytes: u64,
    work: u64,
}

impl Cost {
    fn plus(self, other: Cost) -> Cost {
        Cost {
            bytes: self.bytes.saturating_add(other.bytes),
            work: self.work.saturating_add(other.work),
        }
    }

    fn minus(self, other: Cost) -> Cost {
        Cost {
            bytes: self.bytes.saturating_sub(other.bytes),
            work: self.work.saturating_sub(other.work),
        }
    }
}

/// The values at every node, as the assignments so far leave them.
#[derive(Clone)]
struct Values {
    /// What is set at exactly the node: its last plain value and the objects merged since.
    own: Vec<Cost>,
    /// `own` of the node and of everything below it.
    total: Vec<Cost>,
    /// Deepest absolute nesting ever set at exactly the node.
    own_deepest: Vec<usize>,
    /// Deepest absolute nesting ever set at the node or below it.
    deepest: Vec<usize>,
}

impl Values {
    fn new(nodes: usize) -> Self {
        Values {
            own: vec![Cost::default(); nodes],
            total: vec![Cost::default(); nodes],
            own_deepest: vec![0; nodes],
            deepest: vec![0; nodes],
        }
    }

    /// Records an assignment at `node`, combined with what the node held as `merge` says.
    fn assign(&mut self, tree: &PathTree, node: usize, cost: Cost, depth: usize, merge: Merge) {
        let old = self.own[node];
        let new = match merge {
            Merge::Replace => cost,
            Merge::Add => old.plus(cost),
            Merge::Key => Cost {
                bytes: old.bytes.max(cost.bytes),
                work: old.work.max(cost.work),
            },
        };
        self.own[node] = new;
        self.own_deepest[node] = self.own_deepest[node].max(depth);
        for above in tree.ancestry(node).chain([ROOT]) {
            self.total[above] = self.total[above].minus(old).plus(new);
            self.deepest[above] = self.deepest[above].max(depth);
        }
    }

    /// The value at a located path, and how deep it nests below the path: what is set there
    /// and below, and what its ancestors hold themselves (their values may contain it).
    fn at(&self, tree: &PathTree, (node, whole): (usize, bool), length: usize) -> (Cost, usize) {
        let (mut cost, mut deepest) = if whole {
            (self.total[node], self.deepest[node])
        } else {
            (self.own[node], self.own_deepest[node])
        };
        for above in tree.ancestry(node).skip(1) {
            cost = cost.plus(self.own[above]);
            deepest = deepest.max(self.own_deepest[above]);
        }
        (cost, deepest.saturating_sub(length))
    }
}

fn too_much_work(assignment: &Assignment) -> ConfigError {
    ConfigError::Limit {
        at: assignment.at.clone(),
        message: format!(
            "with its substitutions, '{}' could take the job text past {} of substituted \
             values (the limit on what substitution may copy, bounded from the sizes of the \
             values substituted)",
            elide(&display_path(&assignment.path)),
            describe_bytes(MAX_SUBSTITUTED_BYTES)
        ),
    }
}

/// A bound given from outside the document for a substitution it does not define (an
/// environment variable): its size, and how many levels it nests.
#[derive(Clone, Copy, Default)]
pub(crate) struct External {
    pub bytes: u64,
    pub depth: usize,
}

/// Refuses `normalized` when substitution could copy more than [`MAX_SUBSTITUTED_BYTES`] or
/// nest its values deeper than [`MAX_DEPTH`]. `external[i]` bounds substitution `i` when the
/// document does not define its path.
pub(crate) fn check_resolved_bounds(
    normalized: &Normalized,
    tree: &PathTree,
    nodes: &[usize],
    external: &[External],
) -> Result<(), ConfigError> {
    if normalized.substitutions.is_empty() {
        // Nothing is copied: the text's own limits bound it.
        return Ok(());
    }
    let located: Vec<(usize, bool)> = normalized
        .substitutions
        .iter()
        .map(|substitution| tree.locate(&substitution.path))
        .collect();
    let assignments = &normalized.assignments;
    let mut costs = vec![Cost::default(); assignments.len()];
    let mut depths = vec![0usize; assignments.len()];
    let mut last_round = Values::new(tree.nodes.len());
    for round in 1..=MAX_BOUND_ROUNDS {
        // The values as the assignments before the one at hand leave them, in this round.
        let mut so_far = Values::new(tree.nodes.len());
        let mut changed = None;
        // The assignment whose value costs the most work, to blame.
        let mut costliest = 0;
        for (index, assignment) in assignments.iter().enumerate() {
            let node = nodes[index];
            let mut cost = Cost {
                bytes: assignment.literal_bytes,
                work: 0,
            };
            let mut depth = assignment.depth;
            for reference in &assignment.references {
                let length = normalized.substitutions[reference.substitution].path.len();
                let location = located[reference.substitution];
                let (value, below) = if location.0 == ROOT {
                    let outside = external
                        .get(reference.substitution)
                        .copied()
                        .unwrap_or_default();
                    let value = Cost {
                        bytes: outside.bytes,
                        work: 0,
                    };
                    (value, outside.depth)
                } else if tree.contains(node, location.0)
                    || (location.1 && tree.contains(location.0, node))
                {
                    // A self-reference: the value as it was before this assignment.
                    so_far.at(tree, location, length)
                } else {
                    // The final value: the last round's, or this round's where it is larger.
                    let (earlier, earlier_below) = last_round.at(tree, location, length);
                    let (now, now_below) = so_far.at(tree, location, length);
                    let value = Cost {
                        bytes: earlier.bytes.max(now.bytes),
                        work: earlier.work.max(now.work),
                    };
                    (value, earlier_below.max(now_below))
                };
                // Copying the value costs its size, on top of building it.
                cost = cost.plus(Cost {
                    bytes: value.bytes,
                    work: value.bytes.saturating_add(value.work),
                });
                depth = depth.max(reference.depth + below);
            }
            so_far.assign(tree, node, cost, depth, assignment.merge);
            if cost != costs[index] || depth != depths[index] {
                costs[index] = cost;
                depths[index] = depth;
                changed.get_or_insert(index);
            }
            if cost.work > costs[costliest].work {
                costliest = index;
            }
            if cost.work > MAX_SUBSTITUTED_BYTES {
                return Err(too_much_work(&assignments[index]));
            }
            if depth > MAX_DEPTH {
                return Err(ConfigError::Limit {
                    at: assignment.at.clone(),
                    message: format!(
                        "with its substitutions, '{}' could nest {depth} levels deep, more \
                         than the limit of {MAX_DEPTH}",
                        elide(&display_path(&assignment.path))
                    ),
                });
            }
        }
        // What the library builds: the values that are left, each once (a replaced value is
        // built only through the values that refer to it, and counted in their work).
        if so_far.total[ROOT].work > MAX_SUBSTITUTED_BYTES {
            return Err(too_much_work(&assignments[costliest]));
        }
        let Some(first_changed) = changed else {
            return Ok(());
        };
        if round == MAX_BOUND_ROUNDS {
            let assignment = &assignments[first_changed];
            return Err(ConfigError::Limit {
                at: assignment.at.clone(),
                message: format!(
                    "the substitutions of '{}' refer to each other in a cycle or through a \
                     chain of more than {MAX_BOUND_ROUNDS} forward references, so what they \
                     make cannot be bounded (the limit)",
                    elide(&display_path(&assignment.path)),
                ),
            });
        }
        last_round = so_far;
    }
    Ok(())
}
