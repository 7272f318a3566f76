//! Job text → resolved HOCON document, every limit checked before the expensive step it
//! guards: the text's size and nesting before parsing ([`super::syntax`]), keys, depth,
//! duplicates and includes on the syntax tree ([`super::normalize`]), the size after
//! substitution before substituting ([`super::bound`]). What the text may use besides itself
//! (environment variables, included files) is the [`ParsePolicy`]'s to say.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use hocon::resolver::InternalResolveOptions;
use hocon::{HoconError, HoconValue};

use super::bound::{External, PathTree, check_resolved_bounds};
use super::error::ConfigError;
use super::limits::MAX_KEYS;
use super::locate::KeyIndex;
use super::normalize::{Normalized, normalize};
use super::placeholders::{replace_in_strings, variables};
use super::policy::ParsePolicy;
use super::syntax::{self, SourceText, hocon_error};

/// A job text, parsed and resolved.
pub(crate) struct Document {
    /// The resolved root object.
    pub value: HoconValue,
    /// Lines of the keys of the main text.
    pub keys: KeyIndex,
    /// Paths whose value is written as a bare word.
    pub unquoted: HashSet<String>,
    /// Whether the document used an environment variable or an included file, so that its
    /// text alone does not say what it means.
    pub used_outside: bool,
}

/// Parses and resolves `text` (named `origin` in errors) under `policy`.
pub(crate) fn load(
    text: &str,
    origin: &str,
    policy: &ParsePolicy<'_>,
) -> Result<Document, ConfigError> {
    let origin: Arc<str> = Arc::from(origin);
    let source = SourceText::tokenize(text, origin.clone())?;
    let root = syntax::parse(&source)?;
    let keys = KeyIndex::build(source.tokens());
    let normalized = normalize(&source, root, policy)?;
    let mut environment = HashMap::new();
    let mut used_outside = normalized.includes > 0;
    if !normalized.substitutions.is_empty() {
        let (tree, nodes) = PathTree::build(&normalized);
        let outside = outside(&normalized, &tree, policy)?;
        used_outside |= outside.bounds.iter().any(Option::is_some);
        let external: Vec<External> = outside
            .bounds
            .into_iter()
            .map(Option::unwrap_or_default)
            .collect();
        check_resolved_bounds(&normalized, &tree, &nodes, &external)?;
        environment = outside.environment;
    }
    let Normalized { root, unquoted, .. } = normalized;
    let options = InternalResolveOptions::new(environment);
    let mut value = hocon::resolver::resolve(root, &options)
        .map_err(|error| resolve_error(&origin, error, policy))?;
    // SeaTunnel's placeholders inside strings: job variables on the client, only the written
    // defaults where nothing of the host may be read (they give the master the same result).
    let variables_used = std::cell::Cell::new(false);
    let variable = |name: &str| match policy {
        ParsePolicy::SelfContained => None,
        ParsePolicy::ClientFile { host, .. } => {
            let value = host.job_variable(name);
            variables_used.set(variables_used.get() | value.is_some());
            value
        }
    };
    replace_in_strings(&mut value, &variables(&variable));
    used_outside |= variables_used.get();
    Ok(Document {
        value,
        keys,
        unquoted,
        used_outside,
    })
}

/// What the document's substitutions take from outside it.
struct Outside {
    /// The environment variables they need, from the policy's host.
    environment: HashMap<String, String>,
    /// A bound for each substitution the document does not define (`None` for those it does).
    bounds: Vec<Option<External>>,
}

/// The environment variables the document's substitutions need. Under
/// [`ParsePolicy::SelfContained`] a substitution the document does not define is an error that
/// names it, and this process's environment is never looked at.
fn outside(
    normalized: &Normalized,
    tree: &PathTree,
    policy: &ParsePolicy<'_>,
) -> Result<Outside, ConfigError> {
    let mut environment = HashMap::new();
    let mut external = vec![None; normalized.substitutions.len()];
    for (index, substitution) in normalized.substitutions.iter().enumerate() {
        if tree.defines(&substitution.path) {
            continue;
        }
        let host = match policy {
            ParsePolicy::SelfContained => {
                return Err(ConfigError::Substitution {
                    at: substitution.at.clone(),
                    substitution: substitution.name(),
                    message: NOT_IN_TEXT.into(),
                });
            }
            ParsePolicy::ClientFile { host, .. } => *host,
        };
        let name = substitution.name();
        // Even an unset variable counts as used: the master could not tell `${?UNSET}` from
        // a variable of its own, so the client resolves it.
        let mut bound = External { bytes: 2, depth: 0 };
        if substitution.list {
            for element in 0..MAX_KEYS {
                let key = format!("{name}_{element}");
                let Some(value) = host.env_var(&key) else {
                    break;
                };
                bound.bytes = bound.bytes.saturating_add(value.len() as u64 + 3);
                environment.insert(key, value);
            }
            bound.depth = 1;
        } else if let Some(value) = host.env_var(&name) {
            bound.bytes = bound.bytes.saturating_add(value.len() as u64);
            environment.insert(name, value);
        }
        external[index] = Some(bound);
    }
    Ok(Outside {
        environment,
        bounds: external,
    })
}

/// Why the master refuses a `${VAR}` its job text does not define.
const NOT_IN_TEXT: &str = "the job text does not define it, and the master and the workers \
     read no environment variable: `weir submit`, `weir validate` and `weir local` resolve \
     environment variables on the machine that submits the job";

fn resolve_error(
    origin: &Arc<str>,
    error: hocon::ResolveError,
    policy: &ParsePolicy<'_>,
) -> ConfigError {
    let unresolved = error.message.starts_with("could not resolve substitution");
    match hocon_error(origin, HoconError::Resolve(error)) {
        ConfigError::Substitution {
            at, substitution, ..
        } if unresolved => ConfigError::Substitution {
            at,
            substitution,
            message: match policy {
                ParsePolicy::SelfContained => NOT_IN_TEXT.into(),
                ParsePolicy::ClientFile { .. } => {
                    "the job file does not define it and no environment variable of that \
                     name is set"
                        .into()
                }
            },
        },
        other => other,
    }
}
