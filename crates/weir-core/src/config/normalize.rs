//! The first pass over a job text's syntax tree, before the HOCON library resolves it.
//!
//! It checks the structural limits ([`super::limits`]) and rewrites the tree into the form the
//! library handles in linear time: dotted keys become nested objects (`a.b = 1` is
//! `a { b = 1 }`, as HOCON defines it) and an object literal set again at the same key is
//! merged into the first (`a { x = 1 }` then `a { y = 2 }` is `a { x = 1, y = 2 }`, HOCON's
//! merge), so the library never merges copies of deep objects — which it does in time
//! exponential in the number of keys sharing a prefix. On the way it
//! - refuses a key set twice to values that do not merge (a scalar or a list, in one file);
//! - inlines `include` files read through the [`ClientHost`], or refuses `include`;
//! - records every assignment and substitution for the size bound ([`super::bound`]);
//! - records which options are written as bare words (`row_delimiter = NaN`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hocon::parser::{AstField, AstNode, Pos};
use hocon::{ScalarType, Segment, Token, TokenKind};

use super::error::{ConfigError, Location, elide};
use super::limits::{
    MAX_DEPTH, MAX_INCLUDES, MAX_KEYS, MAX_SUBSTITUTIONS, MAX_TEXT_BYTES, MAX_VALUE_NODES,
    describe_bytes,
};
use super::policy::ParsePolicy;
use super::syntax::{self, SourceText};

/// The path segment standing for "an element of the list at this path" in [`Assignment`]
/// paths. No key written in a job file contains a NUL character in practice; one that does
/// only makes the size bound coarser.
pub(crate) const LIST_ELEMENT: &str = "\0[]";

/// A job text's tree, checked and rewritten, with what the later checks need.
pub(crate) struct Normalized {
    /// The root object, for the HOCON library's resolver.
    pub root: AstNode,
    /// Every key set, in document order (included files where they are included).
    pub assignments: Vec<Assignment>,
    /// Every `${...}`, in document order.
    pub substitutions: Vec<Substitution>,
    /// Dotted paths whose value is written as a bare word (`NaN`, `tab`): not a quoted string.
    pub unquoted: HashSet<String>,
    /// How many files were included.
    pub includes: usize,
}

/// One key set to a value: what the size bound needs of it.
pub(crate) struct Assignment {
    /// The key's full path ([`LIST_ELEMENT`] for list elements).
    pub path: Vec<String>,
    /// Where it is set.
    pub at: Location,
    /// Bytes of the key and its value as written, substitutions aside.
    pub literal_bytes: u64,
    /// The deepest nesting the value reaches as written (its path's length at least).
    pub depth: usize,
    /// The substitutions in the value (not in objects within it, which are assignments of
    /// their own).
    pub references: Vec<Reference>,
    /// How the value combines with what was set at the path before.
    pub merge: Merge,
}

/// How an assignment's value combines with the value already at its path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Merge {
    /// It replaces it: a scalar, a list, or a value built on the earlier one (`a = ${a} [x]`).
    Replace,
    /// It may merge into it: a substitution that may be an object (`a = ${b}`).
    Add,
    /// An object literal's key (`a { ... }`): written once however often the block repeats;
    /// its fields are assignments of their own.
    Key,
}

/// A substitution inside an assignment's value.
pub(crate) struct Reference {
    /// Index into [`Normalized::substitutions`].
    pub substitution: usize,
    /// The nesting at which the substituted value is placed.
    pub depth: usize,
}

/// A `${path}` or `${?path}` of the text.
pub(crate) struct Substitution {
    /// The path's segments.
    pub path: Vec<String>,
    /// `${X[]}`: a list from the environment variables `X_0`, `X_1`, ...
    pub list: bool,
    /// Where it is written.
    pub at: Location,
}

impl Substitution {
    /// The path as written between `${` and `}`, and as the environment variable it names.
    pub(crate) fn name(&self) -> String {
        self.path.join(".")
    }
}

/// Walks `source`'s tree under `policy`.
pub(crate) fn normalize(
    source: &SourceText,
    root: AstNode,
    policy: &ParsePolicy<'_>,
) -> Result<Normalized, ConfigError> {
    let mut walker = Walker {
        policy,
        files: Vec::new(),
        include_stack: Vec::new(),
        text_bytes: source.text_len() as u64,
        keys: 0,
        nodes: 0,
        out: Normalized {
            root: AstNode::Object {
                fields: Vec::new(),
                pos: Pos { line: 1, col: 1 },
            },
            assignments: Vec::new(),
            substitutions: Vec::new(),
            unquoted: HashSet::new(),
            includes: 0,
        },
    };
    let main_dir = match policy {
        ParsePolicy::ClientFile { path, .. } => Some(parent_dir(path)),
        ParsePolicy::SelfContained => None,
    };
    let file = walker.add_file(source.origin.clone(), main_dir, source.tokens());
    let mut object = NObject::default();
    let fields = root_fields(root, &walker.files[file].origin)?;
    walker.add_fields(&mut object, &[], 0, fields, file, None)?;
    walker.out.root = object.into_ast(Pos { line: 1, col: 1 });
    Ok(walker.out)
}

fn parent_dir(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The fields of a document's root, which must be an object.
fn root_fields(root: AstNode, origin: &Arc<str>) -> Result<Vec<AstField>, ConfigError> {
    match root {
        AstNode::Object { fields, .. } => Ok(fields),
        _ => Err(ConfigError::Syntax {
            at: Location {
                origin: origin.clone(),
                line: Some(1),
                column: None,
            },
            message: "a job file is an object of sections (`env { }`, `source { }`, \
                      `sink { }`), not a list"
                .into(),
        }),
    }
}

/// A file of the document: the job text or one it includes.
struct File {
    origin: Arc<str>,
    /// Directory bare includes are relative to (client files only).
    dir: Option<PathBuf>,
    /// Positions `(line, column)` of the file's bare-word tokens.
    bare_words: HashSet<(usize, usize)>,
}

/// An object being rebuilt: its fields in order, and the last field of each key.
#[derive(Default)]
struct NObject {
    fields: Vec<NField>,
    last: HashMap<String, usize>,
}

struct NField {
    key: String,
    value: NValue,
    append: bool,
    pos: Pos,
    file: usize,
}

enum NValue {
    /// An object literal; later object literals at the same key merge into it.
    Object(NObject),
    /// Anything else, already rewritten.
    Other(AstNode),
}

impl NObject {
    fn into_ast(self, pos: Pos) -> AstNode {
        AstNode::Object {
            fields: self
                .fields
                .into_iter()
                .map(|field| AstField {
                    key: vec![field.key],
                    value: match field.value {
                        NValue::Object(object) => object.into_ast(field.pos.clone()),
                        NValue::Other(node) => node,
                    },
                    append: field.append,
                    pos: field.pos,
                })
                .collect(),
            pos,
        }
    }
}

/// What a value is, as far as duplicate keys are concerned.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// An object: merges with another object.
    Object,
    /// A scalar or a list: replaces what was there.
    Plain,
    /// A substitution alone: could be either until resolved.
    Unknown,
}

fn kind_of(node: &AstNode) -> Kind {
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

/// Accumulates one assignment's value.
struct ValueStats {
    literal_bytes: u64,
    depth: usize,
    references: Vec<Reference>,
    merge: Merge,
}

impl ValueStats {
    /// An object literal at a key of `key_bytes`: its fields are assignments of their own.
    fn object(key_bytes: usize, depth: usize) -> Self {
        ValueStats {
            literal_bytes: key_bytes as u64 + 2,
            depth,
            references: Vec::new(),
            merge: Merge::Key,
        }
    }
}

struct Walker<'p> {
    policy: &'p ParsePolicy<'p>,
    files: Vec<File>,
    /// Paths of the files being included, innermost last.
    include_stack: Vec<PathBuf>,
    /// Bytes of every file read so far.
    text_bytes: u64,
    keys: usize,
    nodes: usize,
    out: Normalized,
}

impl Walker<'_> {
    fn add_file(&mut self, origin: Arc<str>, dir: Option<PathBuf>, tokens: &[Token]) -> usize {
        let bare_words = tokens
            .iter()
            .filter(|token| token.kind == TokenKind::Unquoted)
            .map(|token| (token.line, token.col))
            .collect();
        self.files.push(File {
            origin,
            dir,
            bare_words,
        });
        self.files.len() - 1
    }

    fn at(&self, file: usize, pos: &Pos) -> Location {
        Location {
            origin: self.files[file].origin.clone(),
            line: u32::try_from(pos.line).ok(),
            column: None,
        }
    }

    /// Adds `fields` (of file `file`) to `object`, the object at `path` and nesting `depth`.
    /// `mount` is the path an included file's substitutions are relative to.
    fn add_fields(
        &mut self,
        object: &mut NObject,
        path: &[String],
        depth: usize,
        fields: Vec<AstField>,
        file: usize,
        mount: Option<&Mount>,
    ) -> Result<(), ConfigError> {
        for field in fields {
            self.add_field(object, path, depth, field, file, mount)?;
        }
        Ok(())
    }

    fn add_field(
        &mut self,
        object: &mut NObject,
        path: &[String],
        depth: usize,
        field: AstField,
        file: usize,
        mount: Option<&Mount>,
    ) -> Result<(), ConfigError> {
        let AstField {
            mut key,
            value,
            append,
            pos,
        } = field;
        if key.is_empty() {
            return match value {
                AstNode::Include {
                    path: target,
                    is_file,
                    pos,
                    ..
                } => self.include(object, path, depth, &target, is_file, file, &pos),
                // The parser gives key-less fields only to includes.
                _ => Ok(()),
            };
        }
        // One call per key segment: `a.b.c` comes back here as `a`, then `b.c`, then `c`.
        self.keys += 1;
        if self.keys > MAX_KEYS {
            return Err(self.limit(
                file,
                &pos,
                format!("the job text has more than {MAX_KEYS} keys (the limit)"),
            ));
        }
        let field_depth = depth + key.len();
        if field_depth > MAX_DEPTH {
            let full: Vec<String> = path.iter().chain(&key).cloned().collect();
            return Err(self.limit(
                file,
                &pos,
                format!(
                    "'{}' nests {field_depth} levels deep, more than the limit of {MAX_DEPTH} \
                     (objects, lists and the parts of dotted keys count together)",
                    elide(&display_path(&full))
                ),
            ));
        }
        // `a.b.c = v` is `a { b.c = v }`.
        let (head, value, append) = if key.len() > 1 {
            let rest = key.split_off(1);
            let inner = AstNode::Object {
                fields: vec![AstField {
                    key: rest,
                    value,
                    append,
                    pos: pos.clone(),
                }],
                pos: pos.clone(),
            };
            (key.remove(0), inner, false)
        } else {
            (key.remove(0), value, append)
        };
        let mut child_path = path.to_vec();
        child_path.push(head.clone());
        let kind = if append { Kind::Plain } else { kind_of(&value) };
        let previous = object.last.get(&head).copied();

        if let (AstNode::Object { .. }, false) = (&value, append) {
            let AstNode::Object { fields, .. } = value else {
                return Ok(());
            };
            self.record(
                &child_path,
                file,
                &pos,
                ValueStats::object(head.len(), depth + 1),
            );
            if let Some(index) = previous {
                let earlier = &mut object.fields[index];
                if let NValue::Object(target) = &mut earlier.value {
                    return self.add_fields(target, &child_path, depth + 1, fields, file, mount);
                }
                self.check_duplicate(earlier, Kind::Object, &child_path, file, &pos)?;
            }
            let mut nested = NObject::default();
            self.add_fields(&mut nested, &child_path, depth + 1, fields, file, mount)?;
            object.last.insert(head.clone(), object.fields.len());
            object.fields.push(NField {
                key: head,
                value: NValue::Object(nested),
                append,
                pos,
                file,
            });
            return Ok(());
        }

        if let Some(index) = previous
            && !append
            && !refers_to(&value, &child_path)
        {
            self.check_duplicate(&object.fields[index], kind, &child_path, file, &pos)?;
        }
        let joined = child_path.join(".");
        match &value {
            AstNode::Scalar {
                value: scalar,
                pos: at,
                ..
            } if scalar.value_type == ScalarType::String
                && self.files[file].bare_words.contains(&(at.line, at.col)) =>
            {
                self.out.unquoted.insert(joined);
            }
            _ => {
                self.out.unquoted.remove(&joined);
            }
        }
        let mut stats = ValueStats {
            literal_bytes: head.len() as u64 + 2,
            depth: depth + 1,
            references: Vec::new(),
            merge: if kind == Kind::Plain || refers_to(&value, &child_path) {
                Merge::Replace
            } else {
                Merge::Add
            },
        };
        let value = self.value(value, &child_path, depth + 1, file, mount, &mut stats)?;
        self.record(&child_path, file, &pos, stats);
        object.last.insert(head.clone(), object.fields.len());
        object.fields.push(NField {
            key: head,
            value: NValue::Other(value),
            append,
            pos,
            file,
        });
        Ok(())
    }

    fn record(&mut self, path: &[String], file: usize, pos: &Pos, stats: ValueStats) {
        self.out.assignments.push(Assignment {
            path: path.to_vec(),
            at: self.at(file, pos),
            literal_bytes: stats.literal_bytes,
            depth: stats.depth,
            references: stats.references,
            merge: stats.merge,
        });
    }

    /// Refuses `earlier` and a new value of `kind` at the same key when they do not merge.
    fn check_duplicate(
        &self,
        earlier: &NField,
        kind: Kind,
        path: &[String],
        file: usize,
        pos: &Pos,
    ) -> Result<(), ConfigError> {
        // Overriding what an included file set is what includes are for.
        if earlier.file != file {
            return Ok(());
        }
        let earlier_kind = match &earlier.value {
            NValue::Object(_) => Kind::Object,
            NValue::Other(_) if earlier.append => Kind::Plain,
            NValue::Other(node) => kind_of(node),
        };
        let merges = earlier_kind == Kind::Object && kind == Kind::Object;
        if merges || earlier_kind == Kind::Unknown || kind == Kind::Unknown {
            return Ok(());
        }
        Err(ConfigError::DuplicateKey {
            at: self.at(file, pos),
            path: display_path(path),
            first_line: u32::try_from(earlier.pos.line).unwrap_or(u32::MAX),
        })
    }

    /// Rewrites a value: objects within it normalized, substitutions recorded (relative to
    /// `mount` in included files), sizes and depth added to `stats`.
    fn value(
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
                if let Some(mount) = mount
                    && mount.defines(segments)
                {
                    let prefix = mount.prefix.iter().map(|text| Segment {
                        text: text.clone(),
                        line: pos.line,
                        col: pos.col,
                    });
                    segments.splice(0..0, prefix);
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

    /// Inlines the file an `include` names into `object`, or refuses it.
    #[allow(clippy::too_many_arguments)]
    fn include(
        &mut self,
        object: &mut NObject,
        path: &[String],
        depth: usize,
        target: &str,
        is_file: bool,
        file: usize,
        pos: &Pos,
    ) -> Result<(), ConfigError> {
        let at = self.at(file, pos);
        let ParsePolicy::ClientFile { host, .. } = *self.policy else {
            return Err(ConfigError::Include {
                at,
                message: format!(
                    "`include {}` is refused: job text sent to the master must be \
                     self-contained, and the master reads no file for it. `weir submit`, \
                     `weir validate` and `weir local` inline included files on the machine \
                     that submits the job",
                    super::error::quote(target)
                ),
            });
        };
        self.out.includes += 1;
        if self.out.includes > MAX_INCLUDES {
            return Err(ConfigError::Limit {
                at,
                message: format!(
                    "the job file includes more than {MAX_INCLUDES} files (the limit)"
                ),
            });
        }
        // `file("x")` is relative to the working directory, a bare `"x"` to the including
        // file's directory (as the HOCON library does).
        let base = if is_file || Path::new(target).is_absolute() {
            PathBuf::from(target)
        } else {
            self.files[file]
                .dir
                .clone()
                .unwrap_or_default()
                .join(target)
        };
        let candidates: Vec<PathBuf> = if base.extension().is_some() {
            vec![base.clone()]
        } else {
            ["json", "conf"]
                .iter()
                .map(|extension| base.with_extension(extension))
                .collect()
        };
        let mut found = false;
        for candidate in candidates.iter() {
            if candidate.extension().is_some_and(|e| e == "properties") {
                return Err(ConfigError::Include {
                    at,
                    message: format!(
                        "cannot include {}: .properties files are not supported; write it as \
                         HOCON (.conf)",
                        candidate.display()
                    ),
                });
            }
            if self.include_stack.contains(candidate) {
                return Err(ConfigError::Include {
                    at,
                    message: format!("{} includes itself", candidate.display()),
                });
            }
            let budget = MAX_TEXT_BYTES.saturating_sub(self.text_bytes);
            let text =
                host.read_file(candidate, budget)
                    .map_err(|message| ConfigError::Include {
                        at: at.clone(),
                        message: format!("cannot include {}: {message}", candidate.display()),
                    })?;
            let Some(text) = text else { continue };
            found = true;
            self.text_bytes += text.len() as u64;
            if self.text_bytes > MAX_TEXT_BYTES {
                return Err(ConfigError::Limit {
                    at,
                    message: format!(
                        "the job file and the files it includes are more than {} together \
                         (the limit)",
                        describe_bytes(MAX_TEXT_BYTES)
                    ),
                });
            }
            self.inline(object, path, depth, candidate, &text)?;
        }
        if !found {
            let tried: Vec<String> = candidates
                .iter()
                .map(|candidate| candidate.display().to_string())
                .collect();
            return Err(ConfigError::Include {
                at,
                message: format!("included file not found: {}", tried.join(" or ")),
            });
        }
        Ok(())
    }

    fn inline(
        &mut self,
        object: &mut NObject,
        path: &[String],
        depth: usize,
        included: &Path,
        text: &str,
    ) -> Result<(), ConfigError> {
        let origin: Arc<str> = Arc::from(included.display().to_string());
        let source = SourceText::tokenize(text, origin.clone())?;
        let root = syntax::parse(&source)?;
        let fields = root_fields(root, &origin)?;
        let mount = (!path.is_empty()).then(|| Mount::new(path, &fields));
        let file = self.add_file(origin, Some(parent_dir(included)), source.tokens());
        self.include_stack.push(included.to_path_buf());
        let result = self.add_fields(object, path, depth, fields, file, mount.as_ref());
        self.include_stack.pop();
        result
    }

    fn limit(&self, file: usize, pos: &Pos, message: String) -> ConfigError {
        ConfigError::Limit {
            at: self.at(file, pos),
            message,
        }
    }
}

/// An included file's place in the including document: its substitutions of keys it sets
/// itself are relative to `prefix`, the others are resolved from the document's root.
struct Mount {
    prefix: Vec<String>,
    /// First segments of the keys the included file sets.
    defined: HashSet<String>,
}

impl Mount {
    fn new(prefix: &[String], fields: &[AstField]) -> Self {
        Mount {
            prefix: prefix.to_vec(),
            defined: fields
                .iter()
                .filter_map(|field| field.key.first().cloned())
                .collect(),
        }
    }

    fn defines(&self, segments: &[Segment]) -> bool {
        segments
            .first()
            .is_some_and(|first| self.defined.contains(&first.text))
    }
}

/// Whether `node` contains a substitution of `path`, an ancestor or a descendant of it: a
/// self-reference (`a = ${a} [x]`, `path = ${path}":/x"`), which builds on the earlier value
/// rather than replacing it.
fn refers_to(node: &AstNode, path: &[String]) -> bool {
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

/// A path as the errors show it: its segments joined by dots, list elements as `[]`.
pub(crate) fn display_path(path: &[String]) -> String {
    path.iter()
        .map(|segment| {
            if segment == LIST_ELEMENT {
                "[]"
            } else {
                segment.as_str()
            }
        })
        .collect::<Vec<_>>()
        .join(".")
}
