//! Row schemas in SeaTunnel's `schema = { fields { name = "type" } }` form.
//!
//! Field order is the order of the job file: rows are positional, so `Row::values[i]` belongs
//! to `Schema::fields[i]`.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, SchemaGenerator};
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod type_name;

/// SeaTunnel's column types, named as SeaTunnel names them (see docs/seatunnel.md).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DataType {
    /// UTF-8 text (`string`).
    String,
    /// `true` / `false` (`boolean`).
    Boolean,
    /// 8-bit signed integer (`tinyint`, alias `byte`).
    Tinyint,
    /// 16-bit signed integer (`smallint`, alias `short`).
    Smallint,
    /// 32-bit signed integer (`int`).
    Int,
    /// 64-bit signed integer (`bigint`, alias `long`).
    Bigint,
    /// 32-bit float (`float`).
    Float,
    /// 64-bit float (`double`).
    Double,
    /// Exact decimal `decimal(precision, scale)`: at most 38 digits, `scale` of them after
    /// the point.
    Decimal {
        /// Total digits, 1 to 38.
        precision: u8,
        /// Digits after the point, at most `precision`.
        scale: u8,
    },
    /// Raw bytes (`bytes`).
    Bytes,
    /// A calendar date without time zone (`date`).
    Date,
    /// A time of day without time zone (`time`).
    Time,
    /// A date and time without time zone (`timestamp`).
    Timestamp,
    /// The type whose only value is null (`"null"`).
    Null,
    /// `array<T>`: elements of one type.
    Array(Box<DataType>),
    /// `map<K, V>`: key/value pairs.
    Map(Box<DataType>, Box<DataType>),
    /// A nested row `{ a = int, b = string }`: named, typed fields in order.
    Row(Vec<Field>),
}

impl DataType {
    /// The types without parameters, in the order the documentation lists them.
    pub const ALL: [DataType; 13] = [
        DataType::String,
        DataType::Boolean,
        DataType::Tinyint,
        DataType::Smallint,
        DataType::Int,
        DataType::Bigint,
        DataType::Float,
        DataType::Double,
        DataType::Bytes,
        DataType::Date,
        DataType::Time,
        DataType::Timestamp,
        DataType::Null,
    ];

    /// The SeaTunnel keyword of this type (`decimal`, `array`, `map`, `row` for those with
    /// parameters; [`fmt::Display`] writes the parameters too).
    pub fn name(&self) -> &'static str {
        match self {
            DataType::String => "string",
            DataType::Boolean => "boolean",
            DataType::Tinyint => "tinyint",
            DataType::Smallint => "smallint",
            DataType::Int => "int",
            DataType::Bigint => "bigint",
            DataType::Float => "float",
            DataType::Double => "double",
            DataType::Decimal { .. } => "decimal",
            DataType::Bytes => "bytes",
            DataType::Date => "date",
            DataType::Time => "time",
            DataType::Timestamp => "timestamp",
            DataType::Null => "null",
            DataType::Array(_) => "array",
            DataType::Map(..) => "map",
            DataType::Row(_) => "row",
        }
    }

    /// Whether this type has no parameters and no nested types.
    pub fn is_basic(&self) -> bool {
        !matches!(
            self,
            DataType::Decimal { .. } | DataType::Array(_) | DataType::Map(..) | DataType::Row(_)
        )
    }

    fn supported_list() -> String {
        let mut names: Vec<&str> = Self::ALL.iter().map(DataType::name).collect();
        names.extend(["decimal(p, s)", "array<T>", "map<K, V>", "{ nested = row }"]);
        names.join(", ")
    }
}

impl fmt::Display for DataType {
    /// The declaration SeaTunnel reads back: `decimal(10, 2)`, `array<int>`,
    /// `map<string, {a = int}>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataType::Decimal { precision, scale } => write!(f, "decimal({precision}, {scale})"),
            DataType::Array(element) => write!(f, "array<{element}>"),
            DataType::Map(key, value) => write!(f, "map<{key}, {value}>"),
            DataType::Row(fields) => {
                f.write_str("{")?;
                for (position, field) in fields.iter().enumerate() {
                    if position > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{} = \"{}\"", field.name, field.data_type)?;
                }
                f.write_str("}")
            }
            basic => f.write_str(basic.name()),
        }
    }
}

/// A type declaration that is not supported, e.g. `decimal(50, 2)` or `varchar`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported data type \"{name}\": {reason} (supported: {supported})", supported = DataType::supported_list())]
pub struct UnsupportedDataType {
    /// The type name as written.
    pub name: String,
    /// Why it is not supported.
    pub reason: String,
}

impl FromStr for DataType {
    type Err = UnsupportedDataType;

    /// Case-insensitive, like SeaTunnel's own type parser.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        type_name::parse(text).map_err(|reason| UnsupportedDataType {
            name: text.to_string(),
            reason,
        })
    }
}

impl Serialize for DataType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            // A nested row is an object, as it is written in job files.
            DataType::Row(fields) => FieldsRef(fields).serialize(serializer),
            other => serializer.collect_str(other),
        }
    }
}

impl<'de> Deserialize<'de> for DataType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TypeVisitor;
        impl<'de> Visitor<'de> for TypeVisitor {
            type Value = DataType;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a type name such as \"bigint\" or a nested row `{ a = int }`")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<DataType, E> {
                text.parse().map_err(E::custom)
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<DataType, A::Error> {
                let fields = FieldListVisitor.visit_map(map)?.0;
                if fields.is_empty() {
                    return Err(de::Error::custom("a nested row declares no fields"));
                }
                Ok(DataType::Row(fields))
            }
        }
        deserializer.deserialize_any(TypeVisitor)
    }
}

/// One named, typed column.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Field {
    /// Column name as written in `schema.fields`.
    pub name: String,
    /// Column type.
    pub data_type: DataType,
}

/// An ordered list of columns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schema {
    /// Columns in job-file order.
    pub fields: Vec<Field>,
}

impl Schema {
    /// Builds a schema from `(name, type)` pairs, keeping their order.
    pub fn new(fields: impl IntoIterator<Item = (impl Into<String>, DataType)>) -> Self {
        Schema {
            fields: fields
                .into_iter()
                .map(|(name, data_type)| Field {
                    name: name.into(),
                    data_type,
                })
                .collect(),
        }
    }
}

impl Serialize for Schema {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("fields", &FieldsRef(&self.fields))?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for Schema {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(SchemaVisitor)
    }
}

struct SchemaVisitor;

impl<'de> Visitor<'de> for SchemaVisitor {
    type Value = Schema;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object `{ fields { name = \"type\", ... } }`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Schema, A::Error> {
        let mut fields = None;
        while let Some(key) = map.next_key::<String>()? {
            let read = match key.as_str() {
                "fields" => map.next_value::<FieldList>()?.0,
                "columns" => map.next_value::<ColumnList>()?.0,
                _ => {
                    return Err(de::Error::custom(format!(
                        "unknown key '{key}' in schema (Weir reads `schema.fields` or \
                         `schema.columns`)"
                    )));
                }
            };
            if fields.replace(read).is_some() {
                return Err(de::Error::custom(
                    "schema declares both `fields` and `columns`: keep one",
                ));
            }
        }
        let fields =
            fields.ok_or_else(|| de::Error::custom("schema has no `fields` or `columns` block"))?;
        if fields.is_empty() {
            return Err(de::Error::custom("schema.fields declares no fields"));
        }
        Ok(Schema { fields })
    }
}

/// Fields written as `{ name = "type", ... }`, in order.
struct FieldsRef<'a>(&'a [Field]);

impl Serialize for FieldsRef<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for field in self.0 {
            map.serialize_entry(&field.name, &field.data_type)?;
        }
        map.end()
    }
}

/// `fields { ... }` read in document order (serde maps would lose it).
struct FieldList(Vec<Field>);

impl<'de> Deserialize<'de> for FieldList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(FieldListVisitor)
    }
}

struct FieldListVisitor;

impl<'de> Visitor<'de> for FieldListVisitor {
    type Value = FieldList;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object mapping field names to type names")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FieldList, A::Error> {
        let mut fields: Vec<Field> = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            let data_type = map.next_value::<DataType>()?;
            if fields.iter().any(|field| field.name == name) {
                return Err(de::Error::custom(format!("duplicate field '{name}'")));
            }
            fields.push(Field { name, data_type });
        }
        Ok(FieldList(fields))
    }
}

/// SeaTunnel's newer form, `columns = [ { name = id, type = bigint }, ... ]`, in order.
struct ColumnList(Vec<Field>);

impl<'de> Deserialize<'de> for ColumnList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_seq(ColumnListVisitor)
    }
}

struct ColumnListVisitor;

impl<'de> Visitor<'de> for ColumnListVisitor {
    type Value = ColumnList;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of columns `[ { name = id, type = bigint }, ... ]`")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ColumnList, A::Error> {
        let mut fields: Vec<Field> = Vec::new();
        while let Some(column) = seq.next_element::<Column>()? {
            let name = column.name;
            if fields.iter().any(|field| field.name == name) {
                return Err(de::Error::custom(format!("duplicate column '{name}'")));
            }
            fields.push(Field {
                name,
                data_type: column.data_type,
            });
        }
        Ok(ColumnList(fields))
    }
}

/// One entry of `schema.columns`, as SeaTunnel's `ReadonlyConfigParser` reads it; the keys
/// Weir would not apply (`defaultValue`, `columnLength`, `columnScale`) are refused as
/// unknown.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Column {
    /// The column's name.
    name: String,
    /// Its type, as in `schema.fields`.
    #[serde(rename = "type")]
    data_type: DataType,
    /// Accepted: Weir's values may be null whatever it says, as SeaTunnel's Kafka source and
    /// file sinks do not check it either.
    #[serde(default)]
    #[expect(dead_code, reason = "accepted, not applied (see the doc comment)")]
    nullable: Option<bool>,
    /// A description; not written anywhere.
    #[serde(default)]
    #[expect(dead_code, reason = "accepted, not applied (see the doc comment)")]
    comment: Option<String>,
}

impl JsonSchema for Schema {
    fn schema_name() -> Cow<'static, str> {
        "Schema".into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> schemars::Schema {
        // Type names with parameters (`decimal(10, 2)`, `array<int>`) and nested rows (objects)
        // are checked by the parser, not by an enumeration.
        schemars::json_schema!({
            "type": "object",
            "properties": {
                "fields": {
                    "type": "object",
                    "additionalProperties": { "type": ["string", "object"] }
                },
                "columns": {
                    "type": "array",
                    "items": { "type": "object" }
                }
            },
            "additionalProperties": false
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_parse_case_insensitively() {
        assert_eq!("BigInt".parse::<DataType>(), Ok(DataType::Bigint));
        assert_eq!(" string ".parse::<DataType>(), Ok(DataType::String));
        for data_type in DataType::ALL {
            assert_eq!(data_type.name().parse::<DataType>(), Ok(data_type));
        }
    }

    #[test]
    fn nested_rows_are_objects_in_json_and_keep_their_order() {
        let json = r#"{"fields":{"id":"bigint","r":{"z":"int","a":{"m":"map<string, decimal(10, 2)>"}},"l":"array<int>"}}"#;
        let schema: Schema = serde_json::from_str(json).unwrap();
        assert_eq!(
            schema.fields[1].data_type,
            DataType::Row(vec![
                Field {
                    name: "z".into(),
                    data_type: DataType::Int
                },
                Field {
                    name: "a".into(),
                    data_type: DataType::Row(vec![Field {
                        name: "m".into(),
                        data_type: DataType::Map(
                            Box::new(DataType::String),
                            Box::new(DataType::Decimal {
                                precision: 10,
                                scale: 2
                            })
                        )
                    }])
                },
            ])
        );
        assert_eq!(serde_json::to_string(&schema).unwrap(), json);
        let empty = serde_json::from_str::<Schema>(r#"{"fields":{"r":{}}}"#).unwrap_err();
        assert!(empty.to_string().contains("no fields"), "{empty}");
    }

    #[test]
    fn unsupported_type_lists_supported_ones() {
        let err = "varchar(10)".parse::<DataType>().unwrap_err();
        let text = err.to_string();
        assert!(text.contains("\"varchar(10)\""), "{text}");
        assert!(text.contains("bigint"), "{text}");
        assert!(text.contains("decimal(p, s)"), "{text}");
    }

    #[test]
    fn json_round_trip_keeps_field_order() {
        let schema = Schema::new([
            ("z", DataType::Int),
            ("a", DataType::String),
            ("m", DataType::Double),
        ]);
        let json = serde_json::to_string(&schema).unwrap();
        assert_eq!(json, r#"{"fields":{"z":"int","a":"string","m":"double"}}"#);
        let back: Schema = serde_json::from_str(&json).unwrap();
        assert_eq!(back, schema);
    }

    #[test]
    fn empty_and_duplicate_fields_are_rejected() {
        let empty = serde_json::from_str::<Schema>(r#"{"fields":{}}"#).unwrap_err();
        assert!(empty.to_string().contains("no fields"), "{empty}");
        let dup = serde_json::from_str::<Schema>(r#"{"fields":{"a":"int","a":"int"}}"#);
        assert!(dup.unwrap_err().to_string().contains("duplicate field 'a'"));
        let columns = serde_json::from_str::<Schema>(r#"{"columns":[]}"#).unwrap_err();
        assert!(columns.to_string().contains("no fields"), "{columns}");
    }
}
