//! Free-form maps whose keys contain dots: `kafka.config` and `start_mode.offsets`.
//!
//! HOCON reads `kafka.config = { client.id = c }` as `{ client { id = c } }`, and a topic
//! named `my.topic` in `start_mode.offsets = { my.topic-0 = 7 }` the same way. These maps
//! are read back into their dotted keys, whichever way they were written (nested, dotted
//! or quoted), so `client.id` is `client.id` again.

use std::borrow::Cow;
use std::collections::BTreeMap;

use schemars::{JsonSchema, SchemaGenerator};
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value as Json;

/// `kafka.config`: librdkafka properties, every value as the string librdkafka receives.
///
/// Its `Debug` shows secret values (`sasl.password`, ...; see [`crate::secrets`]) redacted, so a
/// `{:?}` of any config holding it never prints a password.
#[derive(Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct KafkaProperties(pub BTreeMap<String, String>);

impl std::fmt::Debug for KafkaProperties {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.0
                    .iter()
                    .map(|(key, value)| (key, crate::secrets::redact_value(key, value))),
            )
            .finish()
    }
}

/// `start_mode.offsets`: `"<topic>-<partition>" = offset`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PartitionOffsets(pub BTreeMap<String, i64>);

impl KafkaProperties {
    /// Whether no property is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The value of `key`, if set.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }
}

impl PartitionOffsets {
    /// Whether no offset is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each entry split into `(topic, partition, offset)`; the first key that is not
    /// `<topic>-<partition>` is the error.
    pub fn entries(&self) -> Result<Vec<(String, i32, i64)>, String> {
        self.0
            .iter()
            .map(|(key, offset)| {
                let (topic, partition) = split_topic_partition(key).ok_or_else(|| key.clone())?;
                Ok((topic.to_string(), partition, *offset))
            })
            .collect()
    }
}

/// `orders-3` → `("orders", 3)`; the partition is the part after the last `-`.
pub(crate) fn split_topic_partition(key: &str) -> Option<(&str, i32)> {
    let (topic, partition) = key.rsplit_once('-')?;
    if topic.is_empty() || partition.is_empty() || !partition.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((topic, partition.parse().ok()?))
}

/// Flattens nested objects into `a.b.c` keys, calling `leaf` for every non-object value.
fn flatten<T>(
    prefix: &str,
    value: Json,
    out: &mut BTreeMap<String, T>,
    leaf: &impl Fn(&str, Json) -> Result<T, String>,
) -> Result<(), String> {
    match value {
        Json::Object(map) => {
            for (key, child) in map {
                let key = if prefix.is_empty() {
                    key
                } else {
                    format!("{prefix}.{key}")
                };
                flatten(&key, child, out, leaf)?;
            }
            Ok(())
        }
        other => {
            let converted = leaf(prefix, other)?;
            out.insert(prefix.to_string(), converted);
            Ok(())
        }
    }
}

fn read_object<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Json, D::Error> {
    let value = Json::deserialize(deserializer)?;
    if value.is_object() {
        Ok(value)
    } else {
        Err(D::Error::custom("must be an object `{ key = value, ... }`"))
    }
}

impl<'de> Deserialize<'de> for KafkaProperties {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut out = BTreeMap::new();
        let leaf = |key: &str, value: Json| match value {
            Json::String(text) => Ok(text),
            Json::Bool(flag) => Ok(flag.to_string()),
            Json::Number(number) => Ok(number.to_string()),
            _ => Err(format!(
                "property '{key}' must be a string, number or boolean"
            )),
        };
        flatten("", read_object(deserializer)?, &mut out, &leaf).map_err(D::Error::custom)?;
        Ok(KafkaProperties(out))
    }
}

impl<'de> Deserialize<'de> for PartitionOffsets {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut out = BTreeMap::new();
        let leaf = |key: &str, value: Json| {
            let offset = match &value {
                Json::Number(number) => number.as_i64(),
                // SeaTunnel users quote numbers; accept that as everywhere else.
                Json::String(text) => text.trim().parse().ok(),
                _ => None,
            };
            offset.ok_or_else(|| format!("offset of '{key}' must be an integer, found {value}"))
        };
        flatten("", read_object(deserializer)?, &mut out, &leaf).map_err(D::Error::custom)?;
        Ok(PartitionOffsets(out))
    }
}

impl JsonSchema for KafkaProperties {
    fn schema_name() -> Cow<'static, str> {
        "KafkaProperties".into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "object",
            "additionalProperties": { "type": ["string", "number", "boolean"] }
        })
    }
}

impl JsonSchema for PartitionOffsets {
    fn schema_name() -> Cow<'static, str> {
        "PartitionOffsets".into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "object",
            "additionalProperties": { "type": "integer" }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_keys_become_dotted_again() {
        let props: KafkaProperties = serde_json::from_str(
            r#"{"client":{"id":"c1"},"fetch.min.bytes":1,"check":{"crcs":true}}"#,
        )
        .unwrap();
        assert_eq!(props.get("client.id"), Some("c1"));
        assert_eq!(props.get("fetch.min.bytes"), Some("1"));
        assert_eq!(props.get("check.crcs"), Some("true"));
        let json = serde_json::to_string(&props).unwrap();
        assert_eq!(
            serde_json::from_str::<KafkaProperties>(&json).unwrap(),
            props
        );
    }

    #[test]
    fn debug_output_redacts_secret_values() {
        let props: KafkaProperties = serde_json::from_str(
            r#"{"sasl":{"username":"alice","password":"hunter2"},"ssl.key.password":"s3cr3t"}"#,
        )
        .unwrap();
        let shown = format!("{props:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cr3t"),
            "{shown}"
        );
        assert!(shown.contains(r#""sasl.username": "alice""#), "{shown}");
        assert!(shown.contains(r#""sasl.password": "******""#), "{shown}");
        // The value itself is kept for librdkafka.
        assert_eq!(props.get("sasl.password"), Some("hunter2"));
    }

    #[test]
    fn offsets_parse_topic_and_partition() {
        let offsets: PartitionOffsets =
            serde_json::from_str(r#"{"my":{"topic-0":7},"t-1":"8"}"#).unwrap();
        assert_eq!(
            offsets.entries().unwrap(),
            vec![("my.topic".to_string(), 0, 7), ("t".to_string(), 1, 8)]
        );
        let bad: PartitionOffsets = serde_json::from_str(r#"{"nopartition":1}"#).unwrap();
        assert_eq!(bad.entries().unwrap_err(), "nopartition");
        assert!(serde_json::from_str::<PartitionOffsets>(r#"{"t-0":[1]}"#).is_err());
        assert_eq!(split_topic_partition("a-b-12"), Some(("a-b", 12)));
        assert_eq!(split_topic_partition("a-x"), None);
        assert_eq!(split_topic_partition("a-+1"), None);
        assert_eq!(split_topic_partition("-1"), None);
    }
}
