//! Record values → rows: `json`, delimited `text`, `raw`, the change events of
//! `canal_json` and `debezium_json` (see `changes.rs`), `avro` (see `avro.rs`), or the
//! whole value as `content` without a schema.
//!
//! Conversions follow SeaTunnel's JSON and text deserializers where they are lenient (a
//! number written as a string is still a number; a `string` field takes any JSON value, as
//! its JSON text), and are otherwise strict: a value that does not fit its field's type is
//! a format error, handled by `format_error_handle_way`.

use serde_json::Value as Json;
use weir_core::config::{KafkaSourceConfig, MessageFormat};
use weir_core::row::{Row, Value};
use weir_core::schema::DataType;

use super::avro::AvroReader;
use super::changes;
use crate::codec::{from_json, from_text};

/// Decodes the values of one source's records.
#[derive(Debug)]
pub(crate) struct Decoder {
    kind: Kind,
    fields: Vec<(String, DataType)>,
    delimiter: Delimiter,
}

#[derive(Debug)]
enum Kind {
    /// No schema: the whole value as one string.
    Content,
    Json,
    Text,
    /// The whole value as the schema's one field: bytes (`true`) or UTF-8 text.
    Raw {
        bytes: bool,
    },
    Canal,
    Debezium {
        include_schema: bool,
    },
    Avro(AvroReader),
}

/// The rows of one record.
#[derive(Debug, PartialEq)]
pub(crate) enum Decoded {
    /// One row, what every format but the change-event ones gives.
    One(Row),
    /// Any number of rows (none for a DDL event or a tombstone), each with its row kind.
    Many(Vec<Row>),
}

impl Decoder {
    pub(crate) fn new(config: &KafkaSourceConfig) -> Self {
        let fields: Vec<(String, DataType)> = config
            .output_schema()
            .fields
            .into_iter()
            .map(|field| (field.name, field.data_type))
            .collect();
        let kind = match (&config.schema, config.format) {
            (None, _) => Kind::Content,
            (Some(_), MessageFormat::Json) => Kind::Json,
            (Some(_), MessageFormat::Text) => Kind::Text,
            (Some(_), MessageFormat::Raw) => Kind::Raw {
                bytes: fields
                    .first()
                    .is_some_and(|(_, data_type)| *data_type == DataType::Bytes),
            },
            (Some(_), MessageFormat::CanalJson) => Kind::Canal,
            (Some(_), MessageFormat::DebeziumJson) => Kind::Debezium {
                // SeaTunnel's default: Kafka Connect's JSON converter wraps every event.
                include_schema: config.debezium_record_include_schema.unwrap_or(true),
            },
            (Some(_), MessageFormat::Avro) => Kind::Avro(AvroReader::new(&fields)),
        };
        Decoder {
            kind,
            fields,
            delimiter: Delimiter::of(&config.field_delimiter),
        }
    }

    /// The rows of a record whose value is `payload` (`None`: a tombstone), or why not.
    ///
    /// A value of zero bytes is a valid record wherever text is read: without a schema it is
    /// one empty `content`, with `format = text` one empty first field (null for every other
    /// field, as a missing text field is), with `format = raw` an empty field. A tombstone
    /// (no value at all) reads like an empty value there, and gives no row with the
    /// change-event formats (Debezium sends one after each delete). `format = json` needs an
    /// object and `avro` a record, so both are format errors there, handled by
    /// `format_error_handle_way` like any other.
    pub(crate) fn decode(&self, payload: Option<&[u8]>) -> Result<Decoded, String> {
        let row = match &self.kind {
            Kind::Content => {
                let text = utf8(payload.unwrap_or_default())?;
                Row::new(vec![Value::String(text.to_string())])
            }
            Kind::Json => match payload {
                None => {
                    return Err("the record has no value (a tombstone), not a JSON object".into());
                }
                Some([]) => return Err("the value is empty (zero bytes), not a JSON object".into()),
                Some(payload) => self.decode_json(payload)?,
            },
            Kind::Text => self.decode_text(utf8(payload.unwrap_or_default())?)?,
            Kind::Raw { bytes: true } => {
                Row::new(vec![Value::Bytes(payload.unwrap_or_default().to_vec())])
            }
            Kind::Raw { bytes: false } => {
                let text = utf8(payload.unwrap_or_default())?;
                Row::new(vec![Value::String(text.to_string())])
            }
            Kind::Canal => return changes::canal(&self.fields, payload).map(Decoded::Many),
            Kind::Debezium { include_schema } => {
                return changes::debezium(&self.fields, *include_schema, payload)
                    .map(Decoded::Many);
            }
            Kind::Avro(reader) => match payload {
                None => {
                    return Err("the record has no value (a tombstone), not an Avro record".into());
                }
                Some(payload) => Row::new(reader.read(payload)?),
            },
        };
        Ok(Decoded::One(row))
    }

    fn decode_json(&self, payload: &[u8]) -> Result<Row, String> {
        let mut slots = SchemaSlots {
            fields: &self.fields,
            values: Vec::new(),
        };
        let mut parser = serde_json::Deserializer::from_slice(payload);
        serde::de::DeserializeSeed::deserialize(&mut slots, &mut parser)
            .and_then(|()| parser.end())
            .map_err(|error| format!("not a JSON object: {error}"))?;
        self.fields
            .iter()
            .zip(slots.values)
            .map(|((name, data_type), value)| match value {
                None | Some(Json::Null) => Ok(Value::Null),
                Some(value) => from_json(value, data_type)
                    .map_err(|found| format!("field '{name}' must be {data_type}, found {found}")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Row::new)
    }

    fn decode_text(&self, text: &str) -> Result<Row, String> {
        // One pass over the parts, no list of them per record: a part beyond the schema's
        // fields is an error, a field beyond the parts is null (a missing text field).
        let mut parts = self.delimiter.split(text);
        let mut values = Vec::with_capacity(self.fields.len());
        for (name, data_type) in &self.fields {
            values.push(match parts.next() {
                None => Value::Null,
                Some(part) => from_text(part, data_type)
                    .map_err(|()| format!("field '{name}' must be {data_type}, found {part:?}"))?,
            });
        }
        if parts.next().is_some() {
            return Err(format!(
                "found {} fields separated by {:?}, the schema has {}",
                self.delimiter.split(text).count(),
                self.delimiter.as_str(),
                self.fields.len()
            ));
        }
        Ok(Row::new(values))
    }
}

/// A text format's `field_delimiter`, in the form its search takes, chosen once per decoder. A
/// delimiter of one character (the usual case: `,`, `#`, `\u0001`) is found by a byte search
/// (`str::split(char)`), several times faster than the substring search a `&str` pattern runs
/// on 1 KiB records.
#[derive(Debug)]
enum Delimiter {
    Char(char, String),
    Str(String),
}

impl Delimiter {
    fn of(delimiter: &str) -> Self {
        let mut chars = delimiter.chars();
        match (chars.next(), chars.next()) {
            (Some(one), None) => Delimiter::Char(one, delimiter.to_string()),
            _ => Delimiter::Str(delimiter.to_string()),
        }
    }

    fn as_str(&self) -> &str {
        match self {
            Delimiter::Char(_, text) | Delimiter::Str(text) => text,
        }
    }

    /// The fields of `text`.
    fn split<'t>(&'t self, text: &'t str) -> TextFields<'t> {
        match self {
            Delimiter::Char(one, _) => TextFields::Char(text.split(*one)),
            Delimiter::Str(delimiter) => TextFields::Str(text.split(delimiter.as_str())),
        }
    }
}

/// The fields of a text record, split at each delimiter.
enum TextFields<'t> {
    Char(std::str::Split<'t, char>),
    Str(std::str::Split<'t, &'t str>),
}

impl<'t> Iterator for TextFields<'t> {
    type Item = &'t str;

    fn next(&mut self) -> Option<&'t str> {
        match self {
            TextFields::Char(split) => split.next(),
            TextFields::Str(split) => split.next(),
        }
    }
}

/// A JSON object read into one slot per schema field, in the schema's order: the value of
/// each member whose name is a field's, the last one if a name repeats (as a map keeps it);
/// other members are skipped unparsed into values. Equivalent to reading the object into a
/// map and taking the fields out, without the map: no key is copied, no tree is built
/// (measured: the map was ~10 % of the worker's CPU at full speed, docs/benchmarks.md).
struct SchemaSlots<'f> {
    fields: &'f [(String, DataType)],
    values: Vec<Option<Json>>,
}

impl<'de> serde::de::DeserializeSeed<'de> for &mut SchemaSlots<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for &mut SchemaSlots<'_> {
    type Value = ();

    fn expecting(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // What serde_json says for a map, so messages read as before.
        formatter.write_str("a map")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut members: A) -> Result<(), A::Error> {
        self.values.resize_with(self.fields.len(), || None);
        while let Some(name) = members.next_key::<std::borrow::Cow<'de, str>>()? {
            match self.fields.iter().position(|(field, _)| *field == *name) {
                Some(index) => {
                    let value = members.next_value::<Json>()?;
                    if let Some(slot) = self.values.get_mut(index) {
                        *slot = Some(value);
                    }
                }
                None => {
                    members.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

fn utf8(payload: &[u8]) -> Result<&str, String> {
    std::str::from_utf8(payload).map_err(|error| format!("the value is not UTF-8 text: {error}"))
}

#[cfg(test)]
mod tests {
    use weir_core::config::FormatErrorHandleWay;
    use weir_core::schema::Schema;

    use super::*;

    impl Decoded {
        fn one(self) -> Row {
            match self {
                Decoded::One(row) => row,
                Decoded::Many(rows) => panic!("one row expected, found {rows:?}"),
            }
        }
    }

    fn decoder(format: MessageFormat, schema: Option<Schema>) -> Decoder {
        let mut config = KafkaSourceConfig::new("k:9092", "t");
        config.format = format;
        config.schema = schema;
        config.format_error_handle_way = FormatErrorHandleWay::Skip;
        Decoder::new(&config)
    }

    fn schema() -> Schema {
        Schema::new([
            ("id", DataType::Bigint),
            ("name", DataType::String),
            ("ok", DataType::Boolean),
            ("score", DataType::Double),
            ("n", DataType::Int),
            ("raw", DataType::Bytes),
        ])
    }

    #[test]
    fn json_members_not_in_the_schema_are_skipped_and_a_repeated_name_keeps_its_last_value() {
        let json = decoder(MessageFormat::Json, Some(schema()));
        let row = json
            .decode(Some(
                br#"{"extra":{"deep":[1,{"x":null}]},"id":1,"na\u006de":"a","id":2,"n":null}"#,
            ))
            .unwrap()
            .one();
        assert_eq!(row.values[0], Value::Bigint(2), "the last 'id' counts");
        assert_eq!(
            row.values[1],
            Value::String("a".into()),
            "an escaped name matches"
        );
        assert_eq!(row.values[4], Value::Null);
        // A member outside the schema is still JSON that must parse.
        assert!(
            json.decode(Some(br#"{"extra":[1,}"#))
                .unwrap_err()
                .starts_with("not a JSON object")
        );
        let array = json.decode(Some(b"[1,2]")).unwrap_err();
        assert!(
            array.starts_with("not a JSON object: invalid type: sequence, expected a map"),
            "{array}"
        );
        assert!(
            json.decode(Some(br#"{"id":1} x"#)).is_err(),
            "trailing characters"
        );
    }

    #[test]
    fn json_fields_by_name_missing_is_null() {
        let json = decoder(MessageFormat::Json, Some(schema()));
        let row = json
            .decode(Some(
                br#"{"name":"a","id":"7","ok":true,"extra":1,"score":1.5,"raw":"aGk="}"#,
            ))
            .unwrap()
            .one();
        assert_eq!(
            row.values,
            vec![
                Value::Bigint(7),
                Value::String("a".into()),
                Value::Boolean(true),
                Value::Double(1.5),
                Value::Null,
                Value::Bytes(b"hi".to_vec()),
            ]
        );
        let row = json.decode(Some(br#"{"name":{"x":[1]}}"#)).unwrap().one();
        assert_eq!(row.values[1], Value::String(r#"{"x":[1]}"#.into()));
    }

    #[test]
    fn json_errors_say_what_is_wrong() {
        let json = decoder(MessageFormat::Json, Some(schema()));
        assert_eq!(
            json.decode(Some(br#"{"id":"seven"}"#)).unwrap_err(),
            "field 'id' must be bigint, found string \"seven\""
        );
        assert_eq!(
            json.decode(Some(br#"{"n":3000000000}"#)).unwrap_err(),
            "field 'n' must be int, found number 3000000000"
        );
        assert!(
            json.decode(Some(b"{not json"))
                .unwrap_err()
                .starts_with("not a JSON object")
        );
        assert!(json.decode(Some(b"[1,2]")).is_err());
        assert_eq!(
            json.decode(None).unwrap_err(),
            "the record has no value (a tombstone), not a JSON object"
        );
        assert_eq!(
            json.decode(Some(b"")).unwrap_err(),
            "the value is empty (zero bytes), not a JSON object"
        );
    }

    #[test]
    fn zero_byte_and_missing_values_are_rows_in_text() {
        let text = decoder(MessageFormat::Text, Some(schema()));
        // An empty first field of a non-string type is null, like every missing field.
        for payload in [Some(&b""[..]), None] {
            assert_eq!(
                text.decode(payload).unwrap().one().values,
                vec![Value::Null; 6],
                "{payload:?}"
            );
        }
        let strings = decoder(
            MessageFormat::Text,
            Some(Schema::new([("s", DataType::String), ("n", DataType::Int)])),
        );
        for payload in [Some(&b""[..]), None] {
            assert_eq!(
                strings.decode(payload).unwrap().one().values,
                vec![Value::String(String::new()), Value::Null],
                "{payload:?}"
            );
        }
    }

    #[test]
    fn text_delimiters_of_one_and_of_several_characters_split_alike() {
        let fields = Schema::new([
            ("a", DataType::String),
            ("b", DataType::String),
            ("c", DataType::String),
        ]);
        for delimiter in ["#", "\u{1}", "é", "||", "<->"] {
            let mut config = KafkaSourceConfig::new("k:9092", "t");
            config.format = MessageFormat::Text;
            config.schema = Some(fields.clone());
            config.field_delimiter = delimiter.to_string();
            let decoder = Decoder::new(&config);
            let text = ["x", "", "y|z"].join(delimiter);
            assert_eq!(
                decoder.decode(Some(text.as_bytes())).unwrap().one().values,
                vec![
                    Value::String("x".into()),
                    Value::String(String::new()),
                    Value::String("y|z".into()),
                ],
                "{delimiter:?}"
            );
            let extra = format!("{text}{delimiter}w");
            let error = decoder.decode(Some(extra.as_bytes())).unwrap_err();
            assert!(error.contains("found 4 fields"), "{delimiter:?}: {error}");
        }
    }

    #[test]
    fn text_splits_by_delimiter_in_schema_order() {
        let text = decoder(MessageFormat::Text, Some(schema()));
        let row = text.decode(Some(b"1,x,TRUE,,2")).unwrap().one();
        assert_eq!(
            row.values,
            vec![
                Value::Bigint(1),
                Value::String("x".into()),
                Value::Boolean(true),
                Value::Null,
                Value::Int(2),
                Value::Null,
            ]
        );
        assert!(text.decode(Some(b"1,x,true,1,2,b,extra")).is_err());
        // Fields that all fit, one too many: the count is the error.
        let extra = text.decode(Some(b"1,x,true,,2,,extra")).unwrap_err();
        assert!(
            extra.contains("found 7 fields separated by \",\", the schema has 6"),
            "{extra}"
        );
        assert!(
            text.decode(Some(b"x"))
                .unwrap_err()
                .contains("'id' must be bigint")
        );
        assert!(
            text.decode(Some(&[0xff, 0xfe]))
                .unwrap_err()
                .contains("not UTF-8")
        );
    }

    #[test]
    fn without_schema_the_value_is_content() {
        let raw = decoder(MessageFormat::Json, None);
        let row = raw.decode(Some(b"{not json at all")).unwrap().one();
        assert_eq!(row.values, vec![Value::String("{not json at all".into())]);
        for payload in [Some(&b""[..]), None] {
            assert_eq!(
                raw.decode(payload).unwrap().one().values,
                vec![Value::String(String::new())],
                "{payload:?}"
            );
        }
    }

    #[test]
    fn raw_is_the_whole_value_as_its_one_field() {
        let bytes = decoder(
            MessageFormat::Raw,
            Some(Schema::new([("payload", DataType::Bytes)])),
        );
        assert_eq!(
            bytes.decode(Some(&[0xff, 0, b'{'])).unwrap().one().values,
            vec![Value::Bytes(vec![0xff, 0, b'{'])]
        );
        let text = decoder(
            MessageFormat::Raw,
            Some(Schema::new([("line", DataType::String)])),
        );
        assert_eq!(
            text.decode(Some(b"a,b {not json")).unwrap().one().values,
            vec![Value::String("a,b {not json".into())]
        );
        assert!(
            text.decode(Some(&[0xff]))
                .unwrap_err()
                .contains("not UTF-8")
        );
        for payload in [Some(&b""[..]), None] {
            assert_eq!(
                bytes.decode(payload).unwrap().one().values,
                vec![Value::Bytes(Vec::new())]
            );
            assert_eq!(
                text.decode(payload).unwrap().one().values,
                vec![Value::String(String::new())]
            );
        }
    }

    #[test]
    fn change_formats_give_many_rows_and_avro_one() {
        let schema = Schema::new([("id", DataType::Int)]);
        let canal = decoder(MessageFormat::CanalJson, Some(schema.clone()));
        let Decoded::Many(rows) = canal
            .decode(Some(br#"{"type":"INSERT","data":[{"id":"1"},{"id":"2"}]}"#))
            .unwrap()
        else {
            panic!("many rows expected")
        };
        assert_eq!(rows.len(), 2);
        let debezium = decoder(MessageFormat::DebeziumJson, Some(schema.clone()));
        // SeaTunnel's default: the schema envelope.
        assert!(
            debezium
                .decode(Some(br#"{"after":{"id":1},"op":"c"}"#))
                .unwrap_err()
                .contains("no 'payload'")
        );
        let avro = decoder(MessageFormat::Avro, Some(schema));
        // Avro's zig-zag varint of 3 is 6.
        assert_eq!(
            avro.decode(Some(&[6])).unwrap().one().values,
            vec![Value::Int(3)]
        );
        assert!(avro.decode(None).unwrap_err().contains("tombstone"));
    }
}
