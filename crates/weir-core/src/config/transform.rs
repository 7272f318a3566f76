//! `transform { <Plugin> { } ... }`: the config structs of SeaTunnel's simple transforms, as
//! its documentation (`docs/en/transform-v2/*.md`) describes them. What they mean for rows is
//! in [`crate::transform`], which checks them against the schema.

use std::fmt;

use schemars::{JsonSchema, SchemaGenerator};
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::section::{Section, Violation};
use crate::row::RowKind;

/// One transform block, keyed by its SeaTunnel plugin name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TransformConfig {
    /// Renames, reorders and drops fields.
    FieldMapper(FieldMapperConfig),
    /// Keeps or drops fields by name.
    Filter(FilterConfig),
    /// Appends copies of fields.
    Copy(CopyConfig),
    /// Replaces text in a string field.
    Replace(ReplaceConfig),
    /// Splits a string field into new string fields.
    Split(SplitConfig),
    /// Keeps or drops rows by their row kind.
    FilterRowKind(FilterRowKindConfig),
}

impl TransformConfig {
    /// Names accepted in `transform { }`, in documentation order.
    pub const PLUGIN_NAMES: &'static [&'static str] = &[
        "FieldMapper",
        "Filter",
        "Copy",
        "Replace",
        "Split",
        "FilterRowKind",
    ];

    /// The plugin name as written in job files.
    pub fn plugin_name(&self) -> &'static str {
        match self {
            TransformConfig::FieldMapper(_) => "FieldMapper",
            TransformConfig::Filter(_) => "Filter",
            TransformConfig::Copy(_) => "Copy",
            TransformConfig::Replace(_) => "Replace",
            TransformConfig::Split(_) => "Split",
            TransformConfig::FilterRowKind(_) => "FilterRowKind",
        }
    }

    /// `(plugin_input, plugin_output)`: the stream names the block reads and writes.
    pub fn stream_names(&self) -> (Option<&str>, Option<&str>) {
        let (input, output) = match self {
            TransformConfig::FieldMapper(c) => (&c.plugin_input, &c.plugin_output),
            TransformConfig::Filter(c) => (&c.plugin_input, &c.plugin_output),
            TransformConfig::Copy(c) => (&c.plugin_input, &c.plugin_output),
            TransformConfig::Replace(c) => (&c.plugin_input, &c.plugin_output),
            TransformConfig::Split(c) => (&c.plugin_input, &c.plugin_output),
            TransformConfig::FilterRowKind(c) => (&c.plugin_input, &c.plugin_output),
        };
        (input.as_deref(), output.as_deref())
    }
}

/// The stream-name aliases every transform accepts (SeaTunnel's names before 2.3.9).
const STREAM_ALIASES: &[(&str, &str)] = &[
    ("source_table_name", "plugin_input"),
    ("result_table_name", "plugin_output"),
];

/// `FieldMapper`: the output row has exactly the fields of `field_mapper`, in its order, each
/// renamed (SeaTunnel's `docs/en/transform-v2/field-mapper.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldMapperConfig {
    /// `{ input_field = output_name, ... }`: the fields to keep, in output order, each with
    /// its new name (the same name keeps it). Fields not listed are dropped.
    pub field_mapper: FieldPairs,
    /// Name of the stream this transform reads (alias: `source_table_name`); without it,
    /// the plugin written before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_input: Option<String>,
    /// Name of the stream this transform produces (alias: `result_table_name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_output: Option<String>,
}

impl Section for FieldMapperConfig {
    const ALIASES: &'static [(&'static str, &'static str)] = STREAM_ALIASES;

    fn validate(&self) -> Result<(), Violation> {
        if self.field_mapper.0.is_empty() {
            return Err(Violation::new(
                "field_mapper",
                "maps no field: list at least one `input_field = output_name`",
            ));
        }
        Ok(())
    }
}

/// `Filter`: keeps the fields of `include_fields` (in its order) or drops those of
/// `exclude_fields` (SeaTunnel's `docs/en/transform-v2/filter.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterConfig {
    /// The fields to keep, in output order (alias: `fields`, SeaTunnel's older name). Set
    /// this or `exclude_fields`, not both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub include_fields: Option<Vec<String>>,
    /// The fields to drop; the others keep their order. Set this or `include_fields`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exclude_fields: Option<Vec<String>>,
    /// Name of the stream this transform reads (alias: `source_table_name`); without it,
    /// the plugin written before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_input: Option<String>,
    /// Name of the stream this transform produces (alias: `result_table_name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_output: Option<String>,
}

impl Section for FilterConfig {
    const ALIASES: &'static [(&'static str, &'static str)] = &[
        ("fields", "include_fields"),
        ("source_table_name", "plugin_input"),
        ("result_table_name", "plugin_output"),
    ];

    fn validate(&self) -> Result<(), Violation> {
        match (&self.include_fields, &self.exclude_fields) {
            (Some(_), Some(_)) => Err(Violation::new(
                "exclude_fields",
                "cannot be set with include_fields: set one of them (as in SeaTunnel)",
            )),
            (None, None) => Err(Violation::new(
                "include_fields",
                "is missing: set include_fields (the fields to keep) or exclude_fields (the \
                 fields to drop)",
            )),
            _ => Ok(()),
        }
    }
}

/// `Copy`: appends a copy of a field under a new name, for each entry of `fields`
/// (SeaTunnel's `docs/en/transform-v2/copy.md`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CopyConfig {
    /// `{ new_field = input_field, ... }`: the fields to append, in order, each a copy of an
    /// input field (same type and value).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<FieldPairs>,
    /// SeaTunnel's older form of one copy: the field to copy (with `dest_field`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src_field: Option<String>,
    /// SeaTunnel's older form of one copy: the name of the copy (with `src_field`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dest_field: Option<String>,
    /// Name of the stream this transform reads (alias: `source_table_name`); without it,
    /// the plugin written before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_input: Option<String>,
    /// Name of the stream this transform produces (alias: `result_table_name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_output: Option<String>,
}

impl CopyConfig {
    /// `(new_field, input_field)` pairs, in order, from `fields` or the older form.
    pub fn pairs(&self) -> Vec<(String, String)> {
        match (&self.fields, &self.src_field, &self.dest_field) {
            (Some(fields), _, _) => fields.0.clone(),
            (None, Some(source), Some(dest)) => vec![(dest.clone(), source.clone())],
            _ => Vec::new(),
        }
    }
}

impl Section for CopyConfig {
    const ALIASES: &'static [(&'static str, &'static str)] = STREAM_ALIASES;

    fn validate(&self) -> Result<(), Violation> {
        match (&self.fields, &self.src_field, &self.dest_field) {
            (Some(_), Some(_), _) => Err(Violation::new(
                "src_field",
                "cannot be set with fields: write the copy as `fields { dest = src }`",
            )),
            (Some(_), None, Some(_)) => Err(Violation::new(
                "dest_field",
                "cannot be set with fields: write the copy as `fields { dest = src }`",
            )),
            (Some(fields), None, None) if fields.0.is_empty() => Err(Violation::new(
                "fields",
                "copies no field: list at least one `new_field = input_field`",
            )),
            (None, Some(_), None) => Err(Violation::new(
                "dest_field",
                "is missing: src_field needs dest_field, the name of the copy",
            )),
            (None, None, Some(_)) => Err(Violation::new(
                "src_field",
                "is missing: dest_field needs src_field, the field to copy",
            )),
            (None, None, None) => Err(Violation::new(
                "fields",
                "is missing: list the copies as `fields { new_field = input_field }`",
            )),
            _ => Ok(()),
        }
    }
}

/// `Replace`: replaces, in one string field, the text that matches `pattern` with
/// `replacement` (SeaTunnel's `docs/en/transform-v2/replace.md`). A null stays null.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplaceConfig {
    /// The field to rewrite; it must be a `string` field.
    pub replace_field: String,
    /// The text to replace, or with `is_regex = true` a regular expression (the syntax of
    /// Rust's `regex` crate, which for common patterns is Java's; look-around and
    /// back-references are refused).
    pub pattern: String,
    /// What replaces each match. With `is_regex = true`, `$1` / `${name}` insert a group and
    /// `\$` a dollar sign, as in Java's `String.replaceAll`.
    pub replacement: String,
    /// Read `pattern` as a regular expression.
    #[serde(default)]
    pub is_regex: bool,
    /// Replace only the first match (with `is_regex = true`; SeaTunnel ignores it otherwise,
    /// and Weir warns that it does).
    #[serde(default)]
    pub replace_first: bool,
    /// Name of the stream this transform reads (alias: `source_table_name`); without it,
    /// the plugin written before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_input: Option<String>,
    /// Name of the stream this transform produces (alias: `result_table_name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_output: Option<String>,
}

impl Section for ReplaceConfig {
    const ALIASES: &'static [(&'static str, &'static str)] = STREAM_ALIASES;
}

/// `Split`: splits a string field at each match of `separator` and appends the pieces as new
/// string fields (SeaTunnel's `docs/en/transform-v2/split.md`). Like Java's
/// `String.split(separator, n)`, the last field takes the rest of the text, missing pieces
/// are null, and a null splits into nulls.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SplitConfig {
    /// Where to split: a regular expression, as in SeaTunnel (`" "`, `","`; write `"\\|"` or
    /// `"[|]"` for a literal `|`).
    pub separator: String,
    /// The field to split: a `string` field, or a boolean or number one, split as its text
    /// (as SeaTunnel splits `toString()`).
    pub split_field: String,
    /// The names of the new fields, in order; each is a `string`.
    pub output_fields: Vec<String>,
    /// Name of the stream this transform reads (alias: `source_table_name`); without it,
    /// the plugin written before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_input: Option<String>,
    /// Name of the stream this transform produces (alias: `result_table_name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_output: Option<String>,
}

impl Section for SplitConfig {
    const ALIASES: &'static [(&'static str, &'static str)] = STREAM_ALIASES;

    fn validate(&self) -> Result<(), Violation> {
        if self.output_fields.is_empty() {
            return Err(Violation::new(
                "output_fields",
                "lists no field: name at least one field for the pieces",
            ));
        }
        Ok(())
    }
}

/// `FilterRowKind`: keeps the rows whose kind is in `include_kinds`, or drops those whose
/// kind is in `exclude_kinds` (SeaTunnel's `docs/en/transform-v2/filter-rowkind.md`). Kinds:
/// `INSERT`, `UPDATE_BEFORE`, `UPDATE_AFTER`, `DELETE`; every source but the change-data
/// formats (`canal_json`, `debezium_json`) produces `INSERT` rows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterRowKindConfig {
    /// The row kinds to keep. Set this or `exclude_kinds`, not both.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include_kinds: Vec<String>,
    /// The row kinds to drop. Set this or `include_kinds`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude_kinds: Vec<String>,
    /// Name of the stream this transform reads (alias: `source_table_name`); without it,
    /// the plugin written before it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_input: Option<String>,
    /// Name of the stream this transform produces (alias: `result_table_name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin_output: Option<String>,
}

impl FilterRowKindConfig {
    /// Whether rows of `kind` pass (the options are checked by [`Section::validate`]).
    pub fn keeps(&self, kind: RowKind) -> bool {
        let named = |names: &[String]| names.iter().any(|name| parse_kind(name) == Some(kind));
        if self.include_kinds.is_empty() {
            !named(&self.exclude_kinds)
        } else {
            named(&self.include_kinds)
        }
    }
}

/// SeaTunnel's `RowKind` enum names, case-insensitively (its short names `+I` … too).
fn parse_kind(name: &str) -> Option<RowKind> {
    let name = name.trim();
    [
        RowKind::Insert,
        RowKind::UpdateBefore,
        RowKind::UpdateAfter,
        RowKind::Delete,
    ]
    .into_iter()
    .find(|kind| kind.name().eq_ignore_ascii_case(name) || kind.short_name() == name)
}

impl Section for FilterRowKindConfig {
    const ALIASES: &'static [(&'static str, &'static str)] = STREAM_ALIASES;

    fn validate(&self) -> Result<(), Violation> {
        for (option, names) in [
            ("include_kinds", &self.include_kinds),
            ("exclude_kinds", &self.exclude_kinds),
        ] {
            if let Some(unknown) = names.iter().find(|name| parse_kind(name).is_none()) {
                return Err(Violation::new(
                    option,
                    format!(
                        "names the row kind \"{unknown}\", which does not exist (kinds: \
                         INSERT, UPDATE_BEFORE, UPDATE_AFTER, DELETE)"
                    ),
                ));
            }
        }
        match (self.include_kinds.is_empty(), self.exclude_kinds.is_empty()) {
            (false, false) => Err(Violation::new(
                "exclude_kinds",
                "cannot be set with include_kinds: set one of them (as in SeaTunnel)",
            )),
            (true, true) => Err(Violation::new(
                "include_kinds",
                "is missing: set include_kinds (the row kinds to keep) or exclude_kinds (the \
                 row kinds to drop), with at least one kind",
            )),
            _ => Ok(()),
        }
    }
}

/// `{ key = "value", ... }` with string values, in the order written (serde maps would lose
/// it): FieldMapper's `field_mapper` and Copy's `fields`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FieldPairs(pub Vec<(String, String)>);

impl Serialize for FieldPairs {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for FieldPairs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor;
        impl<'de> Visitor<'de> for PairsVisitor {
            type Value = FieldPairs;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of field names `{ a = b, ... }`")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FieldPairs, A::Error> {
                let mut pairs: Vec<(String, String)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    let value = map.next_value::<String>()?;
                    if pairs.iter().any(|(existing, _)| *existing == key) {
                        return Err(de::Error::custom(format!("'{key}' is listed twice")));
                    }
                    pairs.push((key, value));
                }
                Ok(FieldPairs(pairs))
            }
        }
        deserializer.deserialize_map(PairsVisitor)
    }
}

impl JsonSchema for FieldPairs {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "FieldPairs".into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "object",
            "additionalProperties": { "type": "string" }
        })
    }
}
