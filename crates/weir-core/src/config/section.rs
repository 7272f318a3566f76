//! Reading one config section (`env`, or one plugin block) into its struct.
//!
//! SeaTunnel option names are dotted (`job.retry.times`) and HOCON turns dots into nesting,
//! so a block is first flattened back to dotted names — stopping at object-valued options
//! such as `schema`, which keep their structure. Each entry is then checked against the
//! section's [`SectionSpec`] (unknown names, types, enum values, required options) so errors
//! carry a full path and a line, before serde builds the struct and the struct's own
//! [`Section::validate`] checks what types cannot express.

use std::borrow::Cow;
use std::collections::HashSet;
use std::sync::Arc;

use hocon::HoconValue;
use schemars::JsonSchema;
use serde::de::DeserializeOwned;

use super::error::{ConfigError, Location, quote, suggest};
use super::locate::KeyIndex;
use super::options::{OptionKind, SectionSpec, check_value, describe, section_spec};

/// A config struct that is read from one block of a job file.
pub(crate) trait Section: DeserializeOwned + JsonSchema {
    /// Other spellings accepted for an option, as `(alias, canonical name)`.
    const ALIASES: &'static [(&'static str, &'static str)] = &[];

    /// String options whose value must be written as a quoted string. Elsewhere a number or
    /// a bare word is read as its text, as SeaTunnel does (`topic = 2024`); in these it is a
    /// mistake that would silently become the text (`row_delimiter = 0`, `NaN`, `true`).
    const QUOTED: &'static [&'static str] = &[];

    /// Checks that types cannot express (ranges, combinations of options).
    fn validate(&self) -> Result<(), Violation> {
        Ok(())
    }
}

/// A semantic problem with one option.
#[derive(Debug)]
pub(crate) struct Violation {
    /// The option's name within its section (for maps, down to the offending key:
    /// `kafka.config.group.id`), so the error points at its line.
    pub option: Cow<'static, str>,
    /// Reads after the quoted path: `must be at least 1, found 0`.
    pub message: String,
}

impl Violation {
    pub(crate) fn new(option: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Violation {
            option: option.into(),
            message: message.into(),
        }
    }
}

/// `queue.size` and `queue.max_bytes`, which every source with split queues has.
pub(crate) fn check_queue_bounds(queue_size: u32, queue_max_bytes: u64) -> Result<(), Violation> {
    if queue_size == 0 {
        return Err(Violation::new("queue.size", "must be at least 1, found 0"));
    }
    if queue_max_bytes == 0 {
        return Err(Violation::new(
            "queue.max_bytes",
            "must be at least 1, found 0",
        ));
    }
    Ok(())
}

/// What every section parse needs: where the text came from, where its keys are and which
/// values are bare words.
pub(crate) struct Context<'d> {
    pub origin: Arc<str>,
    pub keys: &'d KeyIndex,
    /// Full dotted paths of values written as bare words (not quoted).
    pub unquoted: &'d HashSet<String>,
}

impl Context<'_> {
    pub(crate) fn at(&self, path: &str) -> Location {
        Location {
            origin: self.origin.clone(),
            line: self.keys.line_of(path),
            column: None,
        }
    }

    pub(crate) fn invalid(&self, path: String, message: impl Into<String>) -> ConfigError {
        ConfigError::InvalidValue {
            at: self.at(&path),
            path,
            message: message.into(),
        }
    }
}

pub(crate) fn join(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Parses the block at `path` (e.g. `source.FakeSource`) into `T`.
pub(crate) fn parse_section<T: Section>(
    block: &HoconValue,
    path: &str,
    ctx: &Context,
) -> Result<T, ConfigError> {
    let spec = section_spec::<T>();
    let Some(entries) = block.as_object() else {
        return Err(ctx.invalid(
            path.to_string(),
            format!("must be a block `{{ ... }}`, found {}", describe(block)),
        ));
    };
    let mut flat: Vec<(String, HoconValue)> = Vec::new();
    for (key, value) in entries {
        flatten(key.clone(), value, &spec, &mut flat);
    }
    let flat = apply_aliases::<T>(flat, path, ctx)?;

    for (name, value) in &flat {
        let option = spec
            .option(name)
            .ok_or_else(|| unknown_option::<T>(&spec, path, name, ctx))?;
        check_value(option, value).map_err(|message| ctx.invalid(join(path, name), message))?;
        if T::QUOTED.contains(&name.as_str()) {
            check_quoted(value, &join(path, name), ctx)?;
        }
    }
    if let Some(missing) = spec
        .options
        .iter()
        .find(|option| option.required && !flat.iter().any(|(name, _)| *name == option.name))
    {
        return Err(ConfigError::MissingOption {
            at: ctx.at(path),
            path: join(path, &missing.name),
        });
    }

    let mut object = HoconValue::Object(Default::default());
    if let HoconValue::Object(map) = &mut object {
        map.extend(flat);
    }
    let section: T = hocon::from_value(&object).map_err(|error| {
        let inner = normalize_hocon_path(&error.path);
        ctx.invalid(join(path, &inner), readable_hocon_message(&error.message))
    })?;
    section
        .validate()
        .map_err(|violation| ctx.invalid(join(path, &violation.option), violation.message))?;
    Ok(section)
}

/// hocon's deserializer says what it found with the value's `Debug` form (`expected array, got
/// Scalar(ScalarValue { raw: "5", value_type: Number })`); a user reads `found number 5`.
fn readable_hocon_message(message: &str) -> String {
    let Some((expected, found)) = message.split_once(", got ") else {
        return message.to_string();
    };
    let described = if let Some(scalar) = found.strip_prefix("Scalar(ScalarValue { raw: ") {
        let kind = scalar
            .rsplit_once("value_type: ")
            .map_or("value", |(_, kind)| kind.trim_end_matches([' ', '}', ')']));
        let raw = scalar
            .rsplit_once(", value_type: ")
            .map_or(scalar, |(raw, _)| raw);
        // Strings keep their quotes; other scalars are shown bare.
        let raw = if kind == "String" {
            raw
        } else {
            raw.trim_matches('"')
        };
        format!("{} {raw}", kind.to_lowercase())
    } else if found.starts_with("Object(") {
        "an object".to_string()
    } else if found.starts_with("Array(") {
        "a list".to_string()
    } else if found.starts_with("Null") {
        "null".to_string()
    } else {
        return message.to_string();
    };
    format!("{expected}, found {described}")
}

/// Appends `value` under dotted `name`, descending into objects unless `name` is itself an
/// object-valued option. Unknown objects are descended too, so an error names the exact leaf.
fn flatten(
    name: String,
    value: &HoconValue,
    spec: &SectionSpec,
    out: &mut Vec<(String, HoconValue)>,
) {
    let keeps_structure = spec
        .option(&name)
        .is_some_and(|option| matches!(option.kind, OptionKind::Object | OptionKind::Any));
    match value.as_object() {
        Some(children) if !keeps_structure && !children.is_empty() => {
            for (child, child_value) in children {
                flatten(join(&name, child), child_value, spec, out);
            }
        }
        // `job { }` sets nothing (e.g. its only key was an unset `${?VAR}`); an empty
        // object under an unknown name is still reported.
        Some(_) if !keeps_structure && is_option_prefix(spec, &name) => {}
        _ => out.push((name, value.clone())),
    }
}

/// Refuses a value of a [`Section::QUOTED`] option that is not a quoted string.
fn check_quoted(value: &HoconValue, path: &str, ctx: &Context) -> Result<(), ConfigError> {
    let found = if value.is_null() {
        return Ok(());
    } else if value.as_str().is_none() {
        describe(value)
    } else if ctx.unquoted.contains(path) {
        format!(
            "the bare word {}",
            quote(value.as_str().unwrap_or_default())
        )
    } else {
        return Ok(());
    };
    Err(ctx.invalid(
        path.to_string(),
        format!("must be a quoted string such as \"\\t\" or \";\", found {found}"),
    ))
}

fn is_option_prefix(spec: &SectionSpec, name: &str) -> bool {
    spec.names().any(|option| {
        option
            .strip_prefix(name)
            .is_some_and(|rest| rest.starts_with('.'))
    })
}

fn apply_aliases<T: Section>(
    flat: Vec<(String, HoconValue)>,
    path: &str,
    ctx: &Context,
) -> Result<Vec<(String, HoconValue)>, ConfigError> {
    let mut renamed: Vec<(String, HoconValue)> = Vec::with_capacity(flat.len());
    for (name, value) in flat {
        let canonical = T::ALIASES
            .iter()
            .find(|(alias, _)| *alias == name)
            .map(|(_, canonical)| canonical.to_string());
        let target = canonical.clone().unwrap_or(name.clone());
        if renamed.iter().any(|(existing, _)| *existing == target) {
            let alias_of = canonical.map(|c| format!("'{c}'")).unwrap_or_default();
            return Err(ctx.invalid(
                join(path, &name),
                format!(
                    "is set twice (once through an alias of {alias_of}); set one spelling only"
                ),
            ));
        }
        renamed.push((target, value));
    }
    Ok(renamed)
}

fn unknown_option<T: Section>(
    spec: &SectionSpec,
    path: &str,
    name: &str,
    ctx: &Context,
) -> ConfigError {
    let full = join(path, name);
    let candidates = spec
        .names()
        .chain(T::ALIASES.iter().map(|(alias, _)| *alias));
    ConfigError::UnknownOption {
        at: ctx.at(&full),
        suggestion: suggest(name, candidates),
        known: spec.names().map(String::from).collect(),
        path: full,
    }
}

/// Turns hocon-parser's error path (`"row.num"`, `schema.fields.id`, `a[0]`) into plain
/// dotted segments.
fn normalize_hocon_path(path: &str) -> String {
    let mut segments = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => in_quotes = !in_quotes,
            '\\' if in_quotes => current.extend(chars.next()),
            '.' if !in_quotes => segments.push(std::mem::take(&mut current)),
            c => current.push(c),
        }
    }
    segments.push(current);
    segments.retain(|segment| !segment.is_empty());
    segments.join(".")
}

#[cfg(test)]
mod tests {
    use super::{normalize_hocon_path, readable_hocon_message};

    #[test]
    fn hocon_debug_forms_become_words() {
        let scalar = r#"expected array, got Scalar(ScalarValue { raw: "5", value_type: Number })"#;
        assert_eq!(
            readable_hocon_message(scalar),
            "expected array, found number 5"
        );
        assert_eq!(
            readable_hocon_message("expected string, got Object({\"a\": Null})"),
            "expected string, found an object"
        );
        assert_eq!(readable_hocon_message("missing field"), "missing field");
    }

    #[test]
    fn hocon_paths_become_plain_dotted_paths() {
        assert_eq!(normalize_hocon_path("\"row.num\""), "row.num");
        assert_eq!(normalize_hocon_path("schema.fields.id"), "schema.fields.id");
        assert_eq!(normalize_hocon_path("\"a\\\"b\".c"), "a\"b.c");
        assert_eq!(normalize_hocon_path(""), "");
    }
}
