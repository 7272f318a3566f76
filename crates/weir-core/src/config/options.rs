//! The options of a config section, read from the struct's own derives: names and their
//! declaration order from serde, types, defaults and doc comments from schemars. The parser
//! validates against this and the reference generator renders it, so neither can drift from
//! the structs.

use hocon::{HoconValue, ScalarType};
use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::Value as Json;

use super::error::{elide, quote};

/// One option of a section.
#[derive(Debug, Clone)]
pub(crate) struct OptionSpec {
    /// Dotted name as written in job files, e.g. `job.retry.times`.
    pub name: String,
    pub kind: OptionKind,
    pub nullable: bool,
    pub required: bool,
    /// The default, when the struct declares one (never JSON `null`).
    pub default: Option<Json>,
    /// The field's doc comment.
    pub description: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum OptionKind {
    Integer {
        min: Option<i128>,
        max: Option<i128>,
    },
    Number,
    Boolean,
    String,
    Enum(Vec<String>),
    Object,
    Any,
}

impl OptionKind {
    /// The type as the reference documentation names it.
    pub(crate) fn label(&self) -> String {
        match self {
            OptionKind::Integer { .. } => "integer".into(),
            OptionKind::Number => "number".into(),
            OptionKind::Boolean => "boolean".into(),
            OptionKind::String => "string".into(),
            OptionKind::Enum(values) => format!(
                "one of {}",
                values
                    .iter()
                    .map(|v| format!("`{v}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            OptionKind::Object => "object".into(),
            OptionKind::Any => "any".into(),
        }
    }
}

/// A section (a struct): its doc comment and its options in declaration order.
#[derive(Debug, Clone)]
pub(crate) struct SectionSpec {
    pub description: String,
    pub options: Vec<OptionSpec>,
}

impl SectionSpec {
    pub(crate) fn option(&self, name: &str) -> Option<&OptionSpec> {
        self.options.iter().find(|option| option.name == name)
    }

    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.options.iter().map(|option| option.name.as_str())
    }
}

pub(crate) fn section_spec<T: JsonSchema + DeserializeOwned>() -> SectionSpec {
    let schema = schemars::schema_for!(T);
    let root = schema.as_value();
    let defs = root.get("$defs");
    let required: Vec<&str> = root
        .get("required")
        .and_then(Json::as_array)
        .map(|names| names.iter().filter_map(Json::as_str).collect())
        .unwrap_or_default();
    let mut options: Vec<OptionSpec> = root
        .get("properties")
        .and_then(Json::as_object)
        .map(|properties| {
            properties
                .iter()
                .map(|(name, property)| {
                    let (kind, nullable) = kind_of(property, defs);
                    OptionSpec {
                        name: name.clone(),
                        kind,
                        nullable,
                        required: required.contains(&name.as_str()),
                        default: property.get("default").filter(|d| !d.is_null()).cloned(),
                        description: description_of(property, defs),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    // schemars sorts properties by name; documentation and "known options" lists read better
    // in the order the struct declares them.
    let order = serde_field_names::<T>();
    options.sort_by_key(|option| {
        order
            .iter()
            .position(|field| *field == option.name)
            .unwrap_or(usize::MAX)
    });
    SectionSpec {
        description: text_of(root),
        options,
    }
}

fn text_of(schema: &Json) -> String {
    schema
        .get("description")
        .and_then(Json::as_str)
        .unwrap_or_default()
        .to_string()
}

fn resolve<'a>(schema: &'a Json, defs: Option<&'a Json>) -> &'a Json {
    schema
        .get("$ref")
        .and_then(Json::as_str)
        .and_then(|reference| reference.strip_prefix("#/$defs/"))
        .and_then(|name| defs?.get(name))
        .unwrap_or(schema)
}

fn description_of(property: &Json, defs: Option<&Json>) -> String {
    let own = text_of(property);
    if own.is_empty() {
        text_of(resolve(property, defs))
    } else {
        own
    }
}

fn kind_of(property: &Json, defs: Option<&Json>) -> (OptionKind, bool) {
    let schema = resolve(property, defs);
    if let Some(values) = schema.get("enum").and_then(Json::as_array) {
        let nullable = values.iter().any(Json::is_null);
        let names = values.iter().filter_map(Json::as_str).map(String::from);
        return (OptionKind::Enum(names.collect()), nullable);
    }
    for combinator in ["oneOf", "anyOf"] {
        if let Some(branches) = schema.get(combinator).and_then(Json::as_array) {
            return kind_of_branches(branches, defs);
        }
    }
    let types: Vec<&str> = match schema.get("type") {
        Some(Json::String(single)) => vec![single.as_str()],
        Some(Json::Array(many)) => many.iter().filter_map(Json::as_str).collect(),
        _ => Vec::new(),
    };
    let nullable = types.contains(&"null");
    let kind = match types.iter().find(|t| **t != "null").copied() {
        Some("integer") => integer_kind(schema),
        Some("number") => OptionKind::Number,
        Some("boolean") => OptionKind::Boolean,
        Some("string") => OptionKind::String,
        Some("object") => OptionKind::Object,
        _ => OptionKind::Any,
    };
    (kind, nullable)
}

/// `oneOf` of string constants (a documented enum), or `anyOf [T, null]` (an `Option<T>`).
fn kind_of_branches(branches: &[Json], defs: Option<&Json>) -> (OptionKind, bool) {
    let mut nullable = false;
    let mut constants = Vec::new();
    let mut others = Vec::new();
    for branch in branches {
        let branch = resolve(branch, defs);
        if branch.get("type").and_then(Json::as_str) == Some("null") {
            nullable = true;
        } else if let Some(constant) = branch.get("const").and_then(Json::as_str) {
            constants.push(constant.to_string());
        } else {
            others.push(branch);
        }
    }
    match (constants.is_empty(), others.as_slice()) {
        (false, []) => (OptionKind::Enum(constants), nullable),
        (true, [single]) => {
            let (kind, inner_nullable) = kind_of(single, defs);
            (kind, nullable || inner_nullable)
        }
        _ => (OptionKind::Any, nullable),
    }
}

fn integer_kind(schema: &Json) -> OptionKind {
    let (format_min, format_max): (Option<i128>, Option<i128>) =
        match schema.get("format").and_then(Json::as_str) {
            Some("uint8") => (Some(0), Some(u8::MAX.into())),
            Some("uint16") => (Some(0), Some(u16::MAX.into())),
            Some("uint32") => (Some(0), Some(u32::MAX.into())),
            Some("uint64" | "uint") => (Some(0), Some(i64::MAX.into())),
            Some("int8") => (Some(i8::MIN.into()), Some(i8::MAX.into())),
            Some("int16") => (Some(i16::MIN.into()), Some(i16::MAX.into())),
            Some("int32") => (Some(i32::MIN.into()), Some(i32::MAX.into())),
            _ => (None, None),
        };
    let schema_min = schema
        .get("minimum")
        .and_then(Json::as_f64)
        .map(|m| m as i128);
    let schema_max = schema
        .get("maximum")
        .and_then(Json::as_f64)
        .map(|m| m as i128);
    OptionKind::Integer {
        min: schema_min.max(format_min),
        max: match (schema_max, format_max) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        },
    }
}

/// Checks `value` against `option`; the error reads after the quoted path
/// (`'env.parallelism' must be an integer, found string "two"`).
pub(crate) fn check_value(option: &OptionSpec, value: &HoconValue) -> Result<(), String> {
    if value.is_null() {
        return if option.nullable {
            Ok(())
        } else {
            Err(format!("must be {}, found null", expected(&option.kind)))
        };
    }
    let mismatch = || {
        format!(
            "must be {}, found {}",
            expected(&option.kind),
            describe(value)
        )
    };
    match &option.kind {
        OptionKind::Integer { min, max } => {
            let number = i128::from(value.as_i64().ok_or_else(mismatch)?);
            match (min, max) {
                (Some(0), _) if number < 0 => {
                    Err(format!("must be a non-negative integer, found {number}"))
                }
                (Some(min), _) if number < *min => {
                    Err(format!("must be at least {min}, found {number}"))
                }
                (_, Some(max)) if number > *max => {
                    Err(format!("must be at most {max}, found {number}"))
                }
                _ => Ok(()),
            }
        }
        OptionKind::Number => value.as_f64().map(drop).ok_or_else(mismatch),
        OptionKind::Boolean => value.as_bool().map(drop).ok_or_else(mismatch),
        OptionKind::String if value.is_scalar() => Ok(()),
        // Any string goes on to the type's own `Deserialize` (`deserialize_variant`), which
        // names the values it takes, or says why it refuses a known one (`orc`, `lzo`).
        OptionKind::Enum(_) => value.as_str().map(drop).ok_or_else(mismatch),
        OptionKind::Object if value.is_object() => Ok(()),
        OptionKind::String | OptionKind::Object => Err(mismatch()),
        OptionKind::Any => Ok(()),
    }
}

fn expected(kind: &OptionKind) -> String {
    match kind {
        OptionKind::Integer { .. } => "an integer".into(),
        OptionKind::Number => "a number".into(),
        OptionKind::Boolean => "a boolean (true or false)".into(),
        OptionKind::String => "a string".into(),
        OptionKind::Enum(values) => format!("one of {}", values.join(", ")),
        OptionKind::Object => "an object".into(),
        OptionKind::Any => "a value".into(),
    }
}

/// A value as an error message shows it: `string "ten"`, `number 1.5`, `an object`.
pub(crate) fn describe(value: &HoconValue) -> String {
    match value {
        HoconValue::Scalar(scalar) => match scalar.value_type {
            ScalarType::String => format!("string {}", quote(&scalar.raw)),
            ScalarType::Number => format!("number {}", elide(&scalar.raw)),
            ScalarType::Boolean => format!("boolean {}", scalar.raw),
            ScalarType::Null => "null".into(),
            _ => format!("value {}", quote(&scalar.raw)),
        },
        HoconValue::Object(_) => "an object".into(),
        HoconValue::Array(_) => "a list".into(),
        _ => "an unresolved value".into(),
    }
}

/// The serialized field names of `T` in declaration order.
///
/// serde's derived `Deserialize` hands them to `Deserializer::deserialize_struct`; a probe
/// deserializer records them and stops.
fn serde_field_names<T: DeserializeOwned>() -> &'static [&'static str] {
    let mut names: &'static [&'static str] = &[];
    // The probe always errors after recording; the error carries no information.
    let _ = T::deserialize(probe::FieldNameProbe { names: &mut names });
    names
}

mod probe {
    use std::fmt;

    use serde::de::{self, Visitor};

    pub(super) struct FieldNameProbe<'a> {
        pub(super) names: &'a mut &'static [&'static str],
    }

    #[derive(Debug)]
    pub(super) struct Stop;

    impl fmt::Display for Stop {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("field-name probe")
        }
    }

    impl std::error::Error for Stop {}

    impl de::Error for Stop {
        fn custom<T: fmt::Display>(_: T) -> Self {
            Stop
        }
    }

    impl<'de> de::Deserializer<'de> for FieldNameProbe<'_> {
        type Error = Stop;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
            Err(Stop)
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Stop> {
            *self.names = fields;
            Err(Stop)
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes
            byte_buf option unit unit_struct newtype_struct seq tuple tuple_struct map enum
            identifier ignored_any
        }
    }
}
