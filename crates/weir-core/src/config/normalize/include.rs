//! `include` in job text: inlined from files read through the client's [`ClientHost`], or
//! refused ([`ParsePolicy::SelfContained`]).
//!
//! [`ClientHost`]: super::super::ClientHost

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use hocon::Segment;
use hocon::parser::{AstField, Pos};

use super::super::error::{ConfigError, quote};
use super::super::limits::{MAX_INCLUDES, MAX_TEXT_BYTES, describe_bytes};
use super::super::policy::ParsePolicy;
use super::super::syntax::{self, SourceText};
use super::{NObject, Walker, parent_dir, root_fields};

impl Walker<'_> {
    /// Inlines the file an `include` names into `object`, or refuses it.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn include(
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
                    quote(target)
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
}

/// An included file's place in the including document: its substitutions of keys it sets
/// itself are relative to `prefix`, the others are resolved from the document's root.
pub(super) struct Mount {
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

    /// Makes `segments` relative to the mount when they name a key the included file sets.
    pub(super) fn relativize(&self, segments: &mut Vec<Segment>, pos: &Pos) {
        let own = segments
            .first()
            .is_some_and(|first| self.defined.contains(&first.text));
        if own {
            let prefix = self.prefix.iter().map(|text| Segment {
                text: text.clone(),
                line: pos.line,
                col: pos.col,
            });
            segments.splice(0..0, prefix);
        }
    }
}
