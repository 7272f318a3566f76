//! Values in job text: what kind they are, whether they refer to themselves, and their
//! rewriting (objects within them normalized, substitutions recorded).

use hocon::parser::{AstNode, Pos};

use super::super::error::{ConfigError, elide};
use super::super::limits::{MAX_DEPTH, MAX_SUBSTITUTIONS, MAX_VALUE_NODES};
use super::{
    LIST_ELEMENT, Mount, NObject, Reference, Substitution, ValueStats, Walker, display_path,
};

/// What a value is, as far as duplicate keys are concerned.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// An object: merges with another object.
    Object,
    /// A scalar or a list: replaces what was there.
    Plain,
    /// A substitution alone: could be either until resolved.
    Unknown,
}

pub(super) fn kind_of(node: &AstNode) -> Kind {
    match node {
        AstNode::Object { .. } => Kind::Object,
        AstNode::Scalar { .. } | AstNode::Array { .. } => Kind::Plain,
        AstNode::Concat { nodes, .. } => {
            let mut kind = Kind::Unknown;
            for node in nodes {
                match node {
                    AstNode::Object { .. } => return Kind::Object,
                    AstNode::Scalar {
                        separator: false, ..
                    }
                    | AstNode::Array { .. } => kind = Kind::Plain,
                    _ => {}
                }
            }
            kind
        }
        _ => Kind::Unknown,
    }
}

/// Whether `node` contains a substitution of `path`, an ancestor or a descendant of it: a
/// self-reference (`a = ${a} [x]`, `path = ${path}":/x"`), which builds on the earlier value
/// rather than replacing it.
pub(super) fn refers_to(node: &AstNode, path: &[String]) -> bool {
    match node {
        AstNode::Substitution { segments, .. } => segments
            .iter()
            .zip(path)
            .all(|(segment, key)| segment.text == *key),
        AstNode::Concat { nodes, .. } => nodes.iter().any(|node| refers_to(node, path)),
        AstNode::Array { items, .. } => items.iter().any(|node| refers_to(node, path)),
        AstNode::Object { fields, .. } => fields.iter().any(|field| refers_to(&field.value, path)),
        _ => false,
    }
}

fn node_pos(node: &AstNode) -> &Pos {
    static NOWHERE: Pos = Pos { line: 0, col: 0 };
    match node {
        AstNode::Object { pos, .. }
        | AstNode::Array { pos, .. }
        | AstNode::Scalar { pos, .. }
        | AstNode::Concat { pos, .. }
        | AstNode::Substitution { pos, .. }
        | AstNode::Include { pos, .. } => pos,
        #[allow(unreachable_patterns)]
        _ => &NOWHERE,
    }
}

impl Walker<'_> {
    /// Rewrites a value: objects within it normalized, substitutions recorded (relative to
    /// `mount` in included files), sizes and depth added to `stats`.
    pub(super) fn value(
        &mut self,
        node: AstNode,
        path: &[String],
        depth: usize,
        file: usize,
        mount: Option<&Mount>,
        stats: &mut ValueStats,
    ) -> Result<AstNode, ConfigError> {
        self.nodes += 1;
        if self.nodes > MAX_VALUE_NODES {
            return Err(self.limit(
                file,
                node_pos(&node),
                format!("the job text has more than {MAX_VALUE_NODES} values (the limit)"),
            ));
        }
        if depth > MAX_DEPTH {
            return Err(self.limit(
                file,
                node_pos(&node),
                format!(
                    "a value at '{}' nests more than {MAX_DEPTH} levels deep (the limit)",
                    elide(&display_path(path))
                ),
            ));
        }
        stats.depth = stats.depth.max(depth);
        match node {
            AstNode::Scalar { ref value, .. } => {
                stats.literal_bytes += value.raw.len() as u64 + 2;
                Ok(node)
            }
            AstNode::Array { items, pos } => {
                stats.literal_bytes += 2;
                let mut element_path = path.to_vec();
                element_path.push(LIST_ELEMENT.to_string());
                let mut out = Vec::with_capacity(items.len());
                for item in items {
                    out.push(match item {
                        AstNode::Object { fields, pos } => {
                            stats.depth = stats.depth.max(depth + 1);
                            let mut element = NObject::default();
                            self.add_fields(
                                &mut element,
                                &element_path,
                                depth + 1,
                                fields,
                                file,
                                mount,
                            )?;
                            element.into_ast(pos)
                        }
                        other => self.value(other, &element_path, depth + 1, file, mount, stats)?,
                    });
                }
                Ok(AstNode::Array { items: out, pos })
            }
            // An object within a concatenation (`${base} { x = 1 }`) is merged into the
            // value at `path` itself.
            AstNode::Object { fields, pos } => {
                let mut object = NObject::default();
                self.add_fields(&mut object, path, depth, fields, file, mount)?;
                Ok(object.into_ast(pos))
            }
            AstNode::Concat { nodes, pos } => {
                let mut out = Vec::with_capacity(nodes.len());
                for node in nodes {
                    out.push(self.value(node, path, depth, file, mount, stats)?);
                }
                Ok(AstNode::Concat { nodes: out, pos })
            }
            mut substitution @ AstNode::Substitution { .. } => {
                let AstNode::Substitution {
                    segments,
                    list_suffix,
                    pos,
                    ..
                } = &mut substitution
                else {
                    return Ok(substitution);
                };
                if let Some(mount) = mount {
                    mount.relativize(segments, pos);
                }
                if self.out.substitutions.len() >= MAX_SUBSTITUTIONS {
                    return Err(self.limit(
                        file,
                        pos,
                        format!(
                            "the job text has more than {MAX_SUBSTITUTIONS} substitutions \
                             (the limit)"
                        ),
                    ));
                }
                stats.references.push(Reference {
                    substitution: self.out.substitutions.len(),
                    depth,
                });
                let at = self.at(file, pos);
                self.out.substitutions.push(Substitution {
                    path: segments
                        .iter()
                        .map(|segment| segment.text.clone())
                        .collect(),
                    list: *list_suffix,
                    at,
                });
                Ok(substitution)
            }
            other => Ok(other),
        }
    }
}
