//! Transform chains: the `transform { }` blocks of a job checked against the source's schema
//! into a typed plan ([`TransformChain`]), applied to each row between the split queues and
//! the sink (docs/architecture.md, "Transforms").
//!
//! Building the plan resolves every field name to a position and compiles every regular
//! expression, so applying it cannot fail: a row of the input schema always becomes a row of
//! the output schema (or is dropped by `FilterRowKind`).

mod java;

use std::mem;

use regex::{Regex, RegexBuilder};
use serde::{Serialize, Serializer};

use crate::config::{
    CopyConfig, FieldMapperConfig, FilterConfig, FilterRowKindConfig, ReplaceConfig, SplitConfig,
    TransformConfig,
};
use crate::row::{Row, RowKind, Value};
use crate::schema::{DataType, Field, Schema};

/// The most a regular expression of a transform may take compiled (its program); larger
/// ones are refused when the job is parsed.
pub const REGEX_SIZE_LIMIT: usize = 1024 * 1024;

/// The most the lazy DFA cache of a transform's regular expression may hold (per cache; the
/// reservation counts two, see [`TransformChain::reserved_bytes`]).
pub const REGEX_DFA_SIZE_LIMIT: usize = 1024 * 1024;

/// Bytes reserved per compiled regular expression: its program and two DFA caches (the
/// `regex` crate keeps a cache per thread that uses it at once; the drain loop is one task,
/// so one, and one more while it moves between runtime threads).
const REGEX_RESERVED_BYTES: u64 = (REGEX_SIZE_LIMIT + 2 * REGEX_DFA_SIZE_LIMIT) as u64;

/// The longest text of a value `Split` splits other than a string (a decimal of 38 digits,
/// its sign, point and leading zeros; `Double`'s shortest form is shorter).
const NUMBER_TEXT_BYTES: u64 = 96;

/// Bytes of one value slot of a row.
const SLOT_BYTES: u64 = mem::size_of::<Value>() as u64;

/// A transform block that does not fit the schema it reads: the option at fault (within the
/// block) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{option} {message}")]
pub struct PlanError {
    /// Index of the block in the chain.
    pub step: usize,
    /// The option within the block, e.g. `replace_field` or `field_mapper.name`.
    pub option: String,
    /// Reads after the option's path: `names field 'x', which the rows do not have …`.
    pub message: String,
}

/// The transforms of a job, checked against the source schema: what the sink receives.
#[derive(Debug, Clone, Default)]
pub struct TransformChain {
    configs: Vec<TransformConfig>,
    steps: Vec<Step>,
    /// The schema after the last step; `None` without steps (the source's).
    output: Option<Schema>,
}

impl PartialEq for TransformChain {
    /// Two chains are equal when built from equal blocks (the plan follows from them and the
    /// source schema).
    fn eq(&self, other: &Self) -> bool {
        self.configs == other.configs && self.output == other.output
    }
}

impl Serialize for TransformChain {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.configs.serialize(serializer)
    }
}

/// One step of the plan, with every name resolved to a position.
#[derive(Debug, Clone)]
enum Step {
    /// `FieldMapper`, `Filter`: the values at these positions, in this order, moved.
    Project(Vec<usize>),
    /// `Copy`: clones of the values at these positions, appended.
    Copy(Vec<usize>),
    /// `Replace`: rewrite the string at this position.
    Replace { field: usize, how: Replacer },
    /// `Split`: the string at `field` split into `pieces` appended fields.
    Split {
        field: usize,
        separator: Regex,
        pieces: usize,
    },
    /// `FilterRowKind`: whether each kind passes (indexed by [`kind_index`]).
    KeepKinds([bool; 4]),
}

#[derive(Debug, Clone)]
enum Replacer {
    /// `String.replace`: every occurrence of a literal.
    Literal {
        pattern: String,
        replacement: String,
    },
    /// `String.replaceAll` / `replaceFirst`, the replacement in the `regex` crate's syntax.
    Regex {
        regex: Regex,
        replacement: String,
        first: bool,
    },
}

impl TransformChain {
    /// Checks `transforms`, in order, against `input` (the source's schema) and builds the
    /// plan. `warnings` gets a line per option that is accepted but has no effect, as
    /// `(step, option, why)`.
    pub fn plan(
        input: &Schema,
        transforms: Vec<TransformConfig>,
        warnings: &mut Vec<(usize, &'static str, &'static str)>,
    ) -> Result<Self, PlanError> {
        let mut schema = input.clone();
        let mut steps = Vec::with_capacity(transforms.len());
        for (index, config) in transforms.iter().enumerate() {
            let error = |option: &str, message: String| PlanError {
                step: index,
                option: option.to_string(),
                message,
            };
            let (step, output) = match config {
                TransformConfig::FieldMapper(c) => field_mapper(c, &schema),
                TransformConfig::Filter(c) => filter(c, &schema),
                TransformConfig::Copy(c) => copy(c, &schema),
                TransformConfig::Replace(c) => {
                    if c.replace_first && !c.is_regex {
                        warnings.push((
                            index,
                            "replace_first",
                            "it applies only with is_regex = true (SeaTunnel ignores it too); \
                             every occurrence is replaced",
                        ));
                    }
                    replace(c, &schema)
                }
                TransformConfig::Split(c) => split(c, &schema),
                TransformConfig::FilterRowKind(c) => Ok(filter_row_kind(c, &schema)),
            }
            .map_err(|(option, message)| error(&option, message))?;
            steps.push(step);
            schema = output;
        }
        let output = (!steps.is_empty()).then_some(schema);
        Ok(TransformChain {
            configs: transforms,
            steps,
            output,
        })
    }

    /// Whether the chain has no step (rows go to the sink as the source made them).
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    /// The transform blocks, in chain order.
    pub fn configs(&self) -> &[TransformConfig] {
        &self.configs
    }

    /// The schema of the rows the sink receives: the last step's, or `input` (the source's)
    /// when there is no step.
    pub fn output_schema(&self, input: &Schema) -> Schema {
        self.output.clone().unwrap_or_else(|| input.clone())
    }

    /// Applies every step to `row`; `None` when a step drops it.
    pub fn apply(&self, mut row: Row) -> Option<Row> {
        for step in &self.steps {
            row = step.apply(row)?;
        }
        Some(row)
    }

    /// Bytes the chain may hold beyond the row it transforms, for a row of at most
    /// `row_bytes` bytes ([`Row::size_bytes`]): what each allocating step adds (the row grown
    /// by the steps before it is the next one's input) and its compiled regular expressions.
    /// Moves add nothing.
    pub fn reserved_bytes(&self, row_bytes: u64) -> u64 {
        let mut row = row_bytes;
        let mut total = 0_u64;
        for step in &self.steps {
            let (grown, fixed) = step.growth(row);
            row = row.saturating_add(grown);
            total = total.saturating_add(grown).saturating_add(fixed);
        }
        total
    }
}

impl Step {
    fn apply(&self, mut row: Row) -> Option<Row> {
        match self {
            Step::Project(positions) => {
                let mut old = mem::take(&mut row.values);
                row.values = positions.iter().map(|&at| take(&mut old, at)).collect();
            }
            Step::Copy(positions) => {
                row.values.reserve(positions.len());
                for &at in positions {
                    let copy = row.values.get(at).cloned().unwrap_or(Value::Null);
                    row.values.push(copy);
                }
            }
            Step::Replace { field, how } => {
                if let Some(Value::String(text)) = row.values.get_mut(*field)
                    && let Some(replaced) = how.replace(text)
                {
                    *text = replaced;
                }
            }
            Step::Split {
                field,
                separator,
                pieces,
            } => {
                let values = match row.values.get(*field) {
                    Some(Value::String(text)) => java::split(separator, text, *pieces),
                    None | Some(Value::Null) => vec![Value::Null; *pieces],
                    // A number or boolean: split its text, as SeaTunnel splits `toString()`.
                    Some(other) => {
                        let mut text = String::new();
                        crate::value_text::push_text(&mut text, other);
                        java::split(separator, &text, *pieces)
                    }
                };
                row.values.extend(values);
            }
            Step::KeepKinds(keep) => {
                if !keep[kind_index(row.kind)] {
                    return None;
                }
            }
        }
        Some(row)
    }

    /// `(bytes the output row may exceed the input by, bytes the step holds whatever the
    /// row)`, for an input row of at most `row` bytes.
    fn growth(&self, row: u64) -> (u64, u64) {
        match self {
            // The new slot vector; the values are moved.
            Step::Project(positions) => (0, SLOT_BYTES.saturating_mul(positions.len() as u64)),
            // Each copy is at most the whole row.
            Step::Copy(positions) => (
                row.saturating_add(SLOT_BYTES)
                    .saturating_mul(positions.len() as u64),
                0,
            ),
            Step::Replace { how, .. } => how.growth(row),
            // The pieces hold at most the text they come from (a number's text is short).
            Step::Split { pieces, .. } => (
                row.saturating_add(NUMBER_TEXT_BYTES)
                    .saturating_add(SLOT_BYTES.saturating_mul(*pieces as u64)),
                REGEX_RESERVED_BYTES,
            ),
            Step::KeepKinds(_) => (0, 0),
        }
    }
}

impl Replacer {
    /// The new text, or `None` when nothing matches.
    fn replace(&self, text: &str) -> Option<String> {
        match self {
            Replacer::Literal {
                pattern,
                replacement,
            } => text
                .contains(pattern.as_str())
                .then(|| text.replace(pattern.as_str(), replacement)),
            Replacer::Regex {
                regex,
                replacement,
                first,
            } => {
                let limit = if *first { 1 } else { 0 };
                match regex.replacen(text, limit, replacement.as_str()) {
                    std::borrow::Cow::Owned(replaced) => Some(replaced),
                    std::borrow::Cow::Borrowed(_) => None,
                }
            }
        }
    }

    /// A text of `n` bytes has at most `n + 1` matches (all empty), each replaced by at most
    /// the replacement plus the text of the groups it inserts (together at most `n` per
    /// inserted group): `(n + 1) × (replacement + 1)` bytes bounds the new text. The old text
    /// is freed once the new one is in place.
    fn growth(&self, row: u64) -> (u64, u64) {
        let (replacement, fixed) = match self {
            Replacer::Literal { replacement, .. } => (replacement.len() as u64, 0),
            Replacer::Regex { replacement, .. } => (replacement.len() as u64, REGEX_RESERVED_BYTES),
        };
        (
            row.saturating_add(1)
                .saturating_mul(replacement.saturating_add(1)),
            fixed,
        )
    }
}

fn take(values: &mut [Value], at: usize) -> Value {
    values
        .get_mut(at)
        .map(|value| mem::replace(value, Value::Null))
        .unwrap_or(Value::Null)
}

fn kind_index(kind: RowKind) -> usize {
    match kind {
        RowKind::Insert => 0,
        RowKind::UpdateBefore => 1,
        RowKind::UpdateAfter => 2,
        RowKind::Delete => 3,
    }
}

type Planned = Result<(Step, Schema), (String, String)>;

/// Position of field `name` in `schema`, or the error for `option`.
fn position(schema: &Schema, option: &str, name: &str) -> Result<usize, (String, String)> {
    schema
        .fields
        .iter()
        .position(|field| field.name == name)
        .ok_or_else(|| {
            (
                option.to_string(),
                format!(
                    "names field '{name}', which the rows do not have here (fields: {})",
                    field_names(schema)
                ),
            )
        })
}

fn field_names(schema: &Schema) -> String {
    schema
        .fields
        .iter()
        .map(|field| field.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Refuses a new field `name` that the row already has (in `schema` or among `added`).
fn check_new(
    schema: &Schema,
    added: &[Field],
    option: &str,
    name: &str,
) -> Result<(), (String, String)> {
    if schema.fields.iter().chain(added).any(|f| f.name == name) {
        return Err((
            option.to_string(),
            format!("adds field '{name}', which the rows already have: choose another name"),
        ));
    }
    Ok(())
}

fn field_mapper(config: &FieldMapperConfig, schema: &Schema) -> Planned {
    let mut positions = Vec::new();
    let mut fields: Vec<Field> = Vec::new();
    for (input, output) in &config.field_mapper.0 {
        let option = format!("field_mapper.{input}");
        let at = position(schema, &option, input)?;
        if fields.iter().any(|field| field.name == *output) {
            return Err((
                option,
                format!("maps to '{output}', a name another field is already mapped to"),
            ));
        }
        positions.push(at);
        fields.push(Field {
            name: output.clone(),
            data_type: schema.fields[at].data_type.clone(),
        });
    }
    Ok((Step::Project(positions), Schema { fields }))
}

fn filter(config: &FilterConfig, schema: &Schema) -> Planned {
    let positions: Vec<usize> = match (&config.include_fields, &config.exclude_fields) {
        (Some(include), _) => {
            let mut positions = Vec::new();
            for name in include {
                let at = position(schema, "include_fields", name)?;
                if positions.contains(&at) {
                    return Err((
                        "include_fields".into(),
                        format!("lists field '{name}' twice"),
                    ));
                }
                positions.push(at);
            }
            positions
        }
        (None, Some(exclude)) => {
            let mut dropped = Vec::new();
            for name in exclude {
                dropped.push(position(schema, "exclude_fields", name)?);
            }
            (0..schema.fields.len())
                .filter(|at| !dropped.contains(at))
                .collect()
        }
        // Section::validate refuses it; an empty projection would leave no field.
        (None, None) => Vec::new(),
    };
    if positions.is_empty() {
        let option = if config.include_fields.is_some() {
            "include_fields"
        } else {
            "exclude_fields"
        };
        return Err((
            option.into(),
            format!(
                "leaves the rows no field (fields: {}); keep at least one",
                field_names(schema)
            ),
        ));
    }
    let fields = positions
        .iter()
        .map(|&at| schema.fields[at].clone())
        .collect();
    Ok((Step::Project(positions), Schema { fields }))
}

fn copy(config: &CopyConfig, schema: &Schema) -> Planned {
    let legacy = config.fields.is_none();
    let mut positions = Vec::new();
    let mut added: Vec<Field> = Vec::new();
    for (dest, source) in config.pairs() {
        let (source_option, dest_option) = if legacy {
            ("src_field".to_string(), "dest_field".to_string())
        } else {
            let option = format!("fields.{dest}");
            (option.clone(), option)
        };
        let at = position(schema, &source_option, &source)?;
        check_new(schema, &added, &dest_option, &dest)?;
        positions.push(at);
        added.push(Field {
            name: dest,
            data_type: schema.fields[at].data_type.clone(),
        });
    }
    let mut output = schema.clone();
    output.fields.extend(added);
    Ok((Step::Copy(positions), output))
}

/// Position of the string field `name`, for `option`.
fn string_field(schema: &Schema, option: &str, name: &str) -> Result<usize, (String, String)> {
    let at = position(schema, option, name)?;
    let data_type = &schema.fields[at].data_type;
    if *data_type != DataType::String {
        return Err((
            option.to_string(),
            format!(
                "names field '{name}' of type {data_type}: only a string field can be \
                 rewritten (SeaTunnel would put text into a {data_type} column)"
            ),
        ));
    }
    Ok(at)
}

fn compile(option: &str, pattern: &str) -> Result<Regex, (String, String)> {
    RegexBuilder::new(pattern)
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_DFA_SIZE_LIMIT)
        .build()
        .map_err(|error| {
            (
                option.to_string(),
                format!("is not a regular expression Weir can run: {error}"),
            )
        })
}

fn replace(config: &ReplaceConfig, schema: &Schema) -> Planned {
    let field = string_field(schema, "replace_field", &config.replace_field)?;
    let how = if config.is_regex {
        let regex = compile("pattern", &config.pattern)?;
        let replacement = java::replacement(&config.replacement, &regex)
            .map_err(|message| ("replacement".to_string(), message))?;
        Replacer::Regex {
            regex,
            replacement,
            first: config.replace_first,
        }
    } else {
        Replacer::Literal {
            pattern: config.pattern.clone(),
            replacement: config.replacement.clone(),
        }
    };
    Ok((Step::Replace { field, how }, schema.clone()))
}

fn split(config: &SplitConfig, schema: &Schema) -> Planned {
    let field = position(schema, "split_field", &config.split_field)?;
    let data_type = &schema.fields[field].data_type;
    // SeaTunnel splits `toString()` of the value; Weir's text of these types is Java's.
    let splittable = matches!(
        data_type,
        DataType::String
            | DataType::Boolean
            | DataType::Tinyint
            | DataType::Smallint
            | DataType::Int
            | DataType::Bigint
            | DataType::Float
            | DataType::Double
            | DataType::Decimal { .. }
    );
    if !splittable {
        return Err((
            "split_field".into(),
            format!(
                "names field '{}' of type {data_type}: Weir splits string, boolean and number \
                 fields (their text is Java's, as SeaTunnel splits it)",
                config.split_field
            ),
        ));
    }
    let separator = compile("separator", &config.separator)?;
    let mut added: Vec<Field> = Vec::new();
    for name in &config.output_fields {
        check_new(schema, &added, "output_fields", name)?;
        added.push(Field {
            name: name.clone(),
            data_type: DataType::String,
        });
    }
    let mut output = schema.clone();
    output.fields.extend(added);
    let pieces = config.output_fields.len();
    Ok((
        Step::Split {
            field,
            separator,
            pieces,
        },
        output,
    ))
}

fn filter_row_kind(config: &FilterRowKindConfig, schema: &Schema) -> (Step, Schema) {
    let mut keep = [false; 4];
    for kind in [
        RowKind::Insert,
        RowKind::UpdateBefore,
        RowKind::UpdateAfter,
        RowKind::Delete,
    ] {
        keep[kind_index(kind)] = config.keeps(kind);
    }
    (Step::KeepKinds(keep), schema.clone())
}

#[cfg(test)]
mod tests;
