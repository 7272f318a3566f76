//! Row schemas in SeaTunnel's `schema = { fields { name = "type" } }` form.
//!
//! Field order is the order of the job file: rows are positional, so `Row::values[i]` belongs
//! to `Schema::fields[i]`.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, SchemaGenerator};
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The column types Weir supports, named as SeaTunnel names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    /// UTF-8 text (`string`).
    String,
    /// `true` / `false` (`boolean`).
    Boolean,
    /// 32-bit signed integer (`int`).
    Int,
    /// 64-bit signed integer (`bigint`).
    Bigint,
    /// 32-bit float (`float`).
    Float,
    /// 64-bit float (`double`).
    Double,
    /// Raw bytes (`bytes`).
    Bytes,
}

impl DataType {
    /// Every supported type, in the order the documentation lists them.
    pub const ALL: [DataType; 7] = [
        DataType::String,
        DataType::Boolean,
        DataType::Int,
        DataType::Bigint,
        DataType::Float,
        DataType::Double,
        DataType::Bytes,
    ];

    /// The SeaTunnel spelling of this type.
    pub fn name(self) -> &'static str {
        match self {
            DataType::String => "string",
            DataType::Boolean => "boolean",
            DataType::Int => "int",
            DataType::Bigint => "bigint",
            DataType::Float => "float",
            DataType::Double => "double",
            DataType::Bytes => "bytes",
        }
    }

    fn supported_list() -> String {
        Self::ALL.map(DataType::name).join(", ")
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A type name that is not (yet) supported, e.g. `decimal(10,2)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unsupported data type \"{name}\" (supported: {supported})", supported = DataType::supported_list())]
pub struct UnsupportedDataType {
    /// The type name as written.
    pub name: String,
}

impl FromStr for DataType {
    type Err = UnsupportedDataType;

    /// Case-insensitive, like SeaTunnel's own type parser.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let wanted = text.trim();
        Self::ALL
            .into_iter()
            .find(|data_type| data_type.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| UnsupportedDataType {
                name: text.to_string(),
            })
    }
}

impl Serialize for DataType {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for DataType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(de::Error::custom)
    }
}

/// One named, typed column.
#[derive(Debug, Clone, PartialEq, Eq)]
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
        struct Fields<'a>(&'a [Field]);
        impl Serialize for Fields<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(self.0.len()))?;
                for field in self.0 {
                    map.serialize_entry(&field.name, &field.data_type)?;
                }
                map.end()
            }
        }
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry("fields", &Fields(&self.fields))?;
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
            if key != "fields" {
                return Err(de::Error::custom(format!(
                    "unknown key '{key}' in schema (Weir reads only `schema.fields`)"
                )));
            }
            fields = Some(map.next_value::<FieldList>()?.0);
        }
        let fields = fields.ok_or_else(|| de::Error::custom("schema has no `fields` block"))?;
        if fields.is_empty() {
            return Err(de::Error::custom("schema.fields declares no fields"));
        }
        Ok(Schema { fields })
    }
}

/// `fields { ... }` read in document order (serde maps would lose it).
struct FieldList(Vec<Field>);

impl<'de> Deserialize<'de> for FieldList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
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
        deserializer.deserialize_map(FieldListVisitor)
    }
}

impl JsonSchema for Schema {
    fn schema_name() -> Cow<'static, str> {
        "Schema".into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> schemars::Schema {
        let type_names: Vec<&str> = DataType::ALL.iter().map(|t| t.name()).collect();
        schemars::json_schema!({
            "type": "object",
            "properties": {
                "fields": {
                    "type": "object",
                    "additionalProperties": { "type": "string", "enum": type_names }
                }
            },
            "required": ["fields"],
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
    fn unsupported_type_lists_supported_ones() {
        let err = "decimal(10,2)".parse::<DataType>().unwrap_err();
        let text = err.to_string();
        assert!(text.contains("\"decimal(10,2)\""), "{text}");
        assert!(text.contains("bigint"), "{text}");
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
        assert!(
            columns.to_string().contains("unknown key 'columns'"),
            "{columns}"
        );
    }
}
