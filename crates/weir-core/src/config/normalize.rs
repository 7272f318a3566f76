//! The first pass over a job text's syntax tree, before the HOCON library resolves it.
//!
//! It checks the structural limits ([`super::limits`]) and rewrites the tree into the form the
//! library handles in linear time: dotted keys become nested objects (`a.b = 1` is
//! `a { b = 1 }`, as HOCON defines it) and an object literal set again at the same key is
//! merged into the first (`a { x = 1 }` then `a { y = 2 }` is `a { x = 1, y = 2 }`, HOCON's
//! merge), so the library never merges copies of deep objects — which it does in time
//! exponential in the number of keys sharing a prefix. On the way it
//! - refuses a key set twice to values that do not merge (a scalar or a list, in one file);
//! - inlines `include` files read through the [`super::ClientHost`], or refuses `include`;
//! - records every assignment and substitution for the size bound ([`super::bound`]);
//! - records which options are written as bare words (`row_delimiter = NaN`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hocon::parser::{AstField, AstNode, Pos};
use hocon::{ScalarType, Token, TokenKind};

use super::compat::FOREIGN_ENV_PREFIXES;
use super::error::{ConfigError, Location, elide};
use super::limits::{MAX_DEPTH, MAX_KEYS};
use super::policy::ParsePolicy;
use super::syntax::SourceText;

mod include;
mod value;

use self::include::Mount;
use self::value::{Kind, kind_of, refers_to};

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

/// Sections whose entries are plugin blocks.
const PLUGIN_SECTIONS: [&str; 3] = ["source", "transform", "sink"];

/// A key being added to an object: its last segment, where it is written, its full path and
/// the nesting of its value.
struct Field {
    head: String,
    pos: Pos,
    file: usize,
    path: Vec<String>,
    depth: usize,
    /// Whether the key was written dotted (`LocalFile.path = …`), which only adds to an
    /// object, never starts a block of its own.
    dotted: bool,
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
        let dotted = key.len() > 1;
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
        let field = Field {
            head,
            pos,
            file,
            path: child_path,
            depth: depth + 1,
            dotted,
        };
        match value {
            AstNode::Object { fields, .. } if !append => {
                self.add_object(object, field, fields, mount)
            }
            value => self.add_value(object, field, value, append, mount),
        }
    }

    /// Adds the object literal `fields` at `field`, merged into an earlier object literal at
    /// the same key.
    fn add_object(
        &mut self,
        object: &mut NObject,
        field: Field,
        fields: Vec<AstField>,
        mount: Option<&Mount>,
    ) -> Result<(), ConfigError> {
        let Field {
            mut head,
            pos,
            file,
            mut path,
            depth,
            dotted,
        } = field;
        // A transform block repeated on another line is a transform of its own, as SeaTunnel
        // runs each block: the second `Replace` is `Replace#2`, as the key index names it.
        if let [section, _plugin] = path.as_slice()
            && section == "transform"
            && !dotted
            && let Some(index) = object.last.get(&head).copied()
            && matches!(object.fields[index].value, NValue::Object(_))
            && object.fields[index].file == file
            && object.fields[index].pos.line != pos.line
        {
            head = repeated_block_name(&head, |name| object.last.contains_key(name));
            if let Some(last) = path.last_mut() {
                *last = head.clone();
            }
        }
        self.record(&path, file, &pos, ValueStats::object(head.len(), depth));
        if let Some(index) = object.last.get(&head).copied() {
            let earlier = &mut object.fields[index];
            if let NValue::Object(target) = &mut earlier.value {
                // `sink { LocalFile { } LocalFile { } }` is two sinks to SeaTunnel, not one.
                if let [section, _plugin] = path.as_slice()
                    && PLUGIN_SECTIONS.contains(&section.as_str())
                    && !dotted
                    && earlier.file == file
                    && earlier.pos.line != pos.line
                {
                    return Err(ConfigError::RepeatedPlugin {
                        at: self.at(file, &pos),
                        section: section.clone(),
                        path: display_path(&path),
                        first_line: u32::try_from(earlier.pos.line).unwrap_or(u32::MAX),
                    });
                }
                return self.add_fields(target, &path, depth, fields, file, mount);
            }
            self.check_duplicate(earlier, Kind::Object, None, &path, file, &pos)?;
        }
        let mut nested = NObject::default();
        self.add_fields(&mut nested, &path, depth, fields, file, mount)?;
        object.last.insert(head.clone(), object.fields.len());
        object.fields.push(NField {
            key: head,
            value: NValue::Object(nested),
            append: false,
            pos,
            file,
        });
        Ok(())
    }

    /// Adds any other value at `field`.
    fn add_value(
        &mut self,
        object: &mut NObject,
        field: Field,
        value: AstNode,
        append: bool,
        mount: Option<&Mount>,
    ) -> Result<(), ConfigError> {
        let Field {
            head,
            pos,
            file,
            path: child_path,
            depth,
            ..
        } = field;
        let kind = if append { Kind::Plain } else { kind_of(&value) };
        let previous = object.last.get(&head).copied();
        if let Some(index) = previous
            && !append
            && !refers_to(&value, &child_path)
        {
            self.check_duplicate(
                &object.fields[index],
                kind,
                Some(&value),
                &child_path,
                file,
                &pos,
            )?;
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
            depth,
            references: Vec::new(),
            merge: if kind == Kind::Plain || refers_to(&value, &child_path) {
                Merge::Replace
            } else {
                Merge::Add
            },
        };
        let value = self.value(value, &child_path, depth, file, mount, &mut stats)?;
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

    /// Refuses `earlier` and a new value of `kind` (`value`, when it is not an object) at the
    /// same key when they do not merge and the second would silently replace the first.
    fn check_duplicate(
        &self,
        earlier: &NField,
        kind: Kind,
        value: Option<&AstNode>,
        path: &[String],
        file: usize,
        pos: &Pos,
    ) -> Result<(), ConfigError> {
        // Overriding what an included file set is what includes are for.
        if earlier.file != file {
            return Ok(());
        }
        // The same value twice replaces nothing (SeaTunnel's own files repeat `job.mode`).
        if let (
            NValue::Other(AstNode::Scalar { value: first, .. }),
            Some(AstNode::Scalar { value: second, .. }),
        ) = (&earlier.value, value)
            && !earlier.append
            && first.value_type == second.value_type
            && first.raw == second.raw
        {
            return Ok(());
        }
        // Settings of other engines are dropped with a warning whatever their value
        // (`compat::strip_foreign_env`), so which one wins makes no difference.
        if let [section, prefix, _, ..] = path
            && section == "env"
            && FOREIGN_ENV_PREFIXES
                .iter()
                .any(|(foreign, _)| foreign == prefix)
        {
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

    fn limit(&self, file: usize, pos: &Pos, message: String) -> ConfigError {
        ConfigError::Limit {
            at: self.at(file, pos),
            message,
        }
    }
}

/// The name of a repeated block of `plugin`: `plugin#2`, or the next number `taken` does not
/// hold (the key index names them the same way, see `locate`).
pub(crate) fn repeated_block_name(plugin: &str, taken: impl Fn(&str) -> bool) -> String {
    let mut n = 2u32;
    loop {
        let name = format!("{plugin}#{n}");
        if !taken(&name) {
            return name;
        }
        n = n.saturating_add(1);
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
