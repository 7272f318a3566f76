//! The value types of file sink options: formats, codecs, byte sizes, field name lists,
//! `${variable}` templates and Java-style time formats.

use std::borrow::Cow;

use schemars::{JsonSchema, SchemaGenerator};
use serde::de::{self, IntoDeserializer as _, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::super::env::deserialize_variant;
use crate::bytesize::parse_bytes;

/// How a file sink encodes rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum FileFormat {
    /// Fields joined by `field_delimiter`, written verbatim.
    Text,
    /// RFC 4180 comma-separated values.
    Csv,
    /// One JSON object per line.
    Json,
    /// Apache Parquet: row groups of columns, a footer that makes the file readable.
    Parquet,
}

impl FileFormat {
    /// The extension of committed files (before `.gz`).
    pub fn extension(self) -> &'static str {
        match self {
            FileFormat::Text => "txt",
            FileFormat::Csv => "csv",
            FileFormat::Json => "json",
            FileFormat::Parquet => "parquet",
        }
    }
}

/// Why `file_format_type = "orc"` is refused: the one Rust ORC writer (orc-rust 0.9) was
/// evaluated and cannot write what SeaTunnel's ORC files hold.
pub const ORC_REFUSAL: &str = "cannot be orc: ORC is not supported, as the only Rust ORC writer (orc-rust 0.9) \
     cannot encode decimal, time, array, map or row columns (it aborts on them), its writer \
     cannot move between threads, and it builds a second copy of Apache Arrow; write \
     file_format_type = \"parquet\", which Hive, Spark, Trino and DuckDB read as well";

impl<'de> Deserialize<'de> for FileFormat {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.trim().eq_ignore_ascii_case("orc") {
            return Err(de::Error::custom(ORC_REFUSAL));
        }
        deserialize_variant(
            text.into_deserializer(),
            &[
                ("text", FileFormat::Text),
                ("csv", FileFormat::Csv),
                ("json", FileFormat::Json),
                ("parquet", FileFormat::Parquet),
            ],
        )
    }
}

/// How a file sink compresses files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CompressCodec {
    /// Plain files.
    None,
    /// One gzip stream per file; with Parquet, gzip-compressed pages.
    Gzip,
    /// Parquet only: Snappy-compressed pages.
    Snappy,
    /// Parquet only: Zstandard-compressed pages (level 1).
    Zstd,
    /// Parquet only: LZ4-compressed pages (the `LZ4_RAW` codec of the Parquet format).
    Lz4,
    /// Text, csv and json only: an lzop file of LZO1X blocks, as SeaTunnel writes it.
    Lzo,
}

impl CompressCodec {
    /// Whether only the Parquet format takes this codec.
    pub fn parquet_only(self) -> bool {
        matches!(
            self,
            CompressCodec::Snappy | CompressCodec::Zstd | CompressCodec::Lz4
        )
    }

    /// What SeaTunnel puts before the format's extension, e.g. `.snappy` in `x.snappy.parquet`.
    pub fn infix(self) -> &'static str {
        match self {
            CompressCodec::None => "",
            CompressCodec::Gzip => ".gz",
            CompressCodec::Snappy => ".snappy",
            CompressCodec::Zstd => ".zstd",
            CompressCodec::Lz4 => ".lz4",
            CompressCodec::Lzo => ".lzo",
        }
    }
}

impl<'de> Deserialize<'de> for CompressCodec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        let refusal = match text.trim().to_ascii_lowercase().as_str() {
            "brotli" => Some(
                "cannot be brotli: brotli is not supported (not built into Weir's Parquet writer); use zstd, \
                 which compresses comparably and faster",
            ),
            "zlib" => Some("cannot be zlib: it is SeaTunnel's ORC codec, and ORC is not supported"),
            _ => None,
        };
        if let Some(refusal) = refusal {
            return Err(de::Error::custom(refusal));
        }
        deserialize_variant(
            text.into_deserializer(),
            &[
                ("none", CompressCodec::None),
                ("gzip", CompressCodec::Gzip),
                ("snappy", CompressCodec::Snappy),
                ("zstd", CompressCodec::Zstd),
                ("lz4", CompressCodec::Lz4),
                ("lzo", CompressCodec::Lzo),
            ],
        )
    }
}

/// What a file sink does with `path` when its job starts fresh (`schema_save_mode`, SeaTunnel's
/// `SchemaSaveMode` of its file sinks). "Fresh" is a start from no checkpoint: before the
/// job's first completed checkpoint nothing of it is committed, so nothing it wrote is lost;
/// a recovery from a checkpoint never applies it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SchemaSaveMode {
    /// Create `path` when it does not exist; keep it when it does.
    #[default]
    CreateSchemaWhenNotExist,
    /// Leave `path` alone: the first committed file creates it.
    Ignore,
    /// Delete `path` with everything in it and create it again.
    RecreateSchema,
    /// Fail the job when `path` does not exist.
    ErrorWhenSchemaNotExist,
}

impl<'de> Deserialize<'de> for SchemaSaveMode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_variant(
            deserializer,
            &[
                (
                    "CREATE_SCHEMA_WHEN_NOT_EXIST",
                    SchemaSaveMode::CreateSchemaWhenNotExist,
                ),
                ("IGNORE", SchemaSaveMode::Ignore),
                ("RECREATE_SCHEMA", SchemaSaveMode::RecreateSchema),
                (
                    "ERROR_WHEN_SCHEMA_NOT_EXIST",
                    SchemaSaveMode::ErrorWhenSchemaNotExist,
                ),
            ],
        )
    }
}

/// What a file sink does with the files under `path` when its job starts fresh
/// (`data_save_mode`, SeaTunnel's `DataSaveMode` of its file sinks); see [`SchemaSaveMode`]
/// for what "fresh" means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DataSaveMode {
    /// Keep them and add new files (Weir's names never collide with earlier ones).
    #[default]
    AppendData,
    /// Delete them (and the directories under `path`).
    DropData,
    /// Fail the job when there is any.
    ErrorWhenDataExists,
}

impl<'de> Deserialize<'de> for DataSaveMode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_variant(
            deserializer,
            &[
                ("APPEND_DATA", DataSaveMode::AppendData),
                ("DROP_DATA", DataSaveMode::DropData),
                ("ERROR_WHEN_DATA_EXISTS", DataSaveMode::ErrorWhenDataExists),
            ],
        )
    }
}

/// The character set text, csv and json files are written in (`encoding`): a WHATWG
/// encoding (the character sets of the Encoding Standard, which names the labels each
/// takes: `UTF-8`, `GBK`, `gb18030`, `Big5`, `Shift_JIS`, `EUC-KR`, `windows-1252`, …), or
/// Java's own ISO-8859-1 and US-ASCII.
/// A character the set cannot represent is written as `?`, as Java writes it for SeaTunnel.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    /// A character set of the WHATWG Encoding Standard, written by `encoding_rs`.
    Whatwg(&'static encoding_rs::Encoding),
    /// ISO-8859-1 as Java writes it: U+0000–U+00FF are their own byte. The Encoding Standard
    /// reads this label as windows-1252, which differs in 0x80–0x9F, so a SeaTunnel job that
    /// names it would write different bytes.
    Latin1,
    /// US-ASCII as Java writes it: U+0000–U+007F. The Encoding Standard reads this label as
    /// windows-1252 too.
    Ascii,
}

/// Java's names (aliases included) of ISO-8859-1, compared ignoring case.
const LATIN1_LABELS: &[&str] = &[
    "iso-8859-1",
    "iso8859-1",
    "iso8859_1",
    "iso_8859_1",
    "iso_8859-1",
    "iso_8859-1:1987",
    "iso88591",
    "8859_1",
    "latin1",
    "l1",
    "iso-ir-100",
    "csisolatin1",
    "ibm819",
    "ibm-819",
    "cp819",
    "819",
];

/// Java's names (aliases included) of US-ASCII, compared ignoring case.
const ASCII_LABELS: &[&str] = &[
    "us-ascii",
    "ascii",
    "us",
    "ascii7",
    "646",
    "iso646-us",
    "iso_646.irv:1991",
    "cp367",
    "ibm367",
    "csascii",
    "default",
    "ansi_x3.4-1968",
    "ansi_x3.4-1986",
    "iso-ir-6",
];

impl Charset {
    /// UTF-8, SeaTunnel's and Weir's default.
    pub const UTF_8: Charset = Charset::Whatwg(encoding_rs::UTF_8);

    /// The character set a label names (`"gbk"`, `"utf-8"`, `"ISO-8859-1"`, …), if it is one.
    /// Java's ISO-8859-1 and US-ASCII labels keep Java's meaning (SeaTunnel writes through
    /// Java); every other label is read as the Encoding Standard reads it.
    pub fn for_label(label: &str) -> Option<Charset> {
        let label = label.trim();
        let is = |labels: &[&str]| labels.iter().any(|l| l.eq_ignore_ascii_case(label));
        if is(LATIN1_LABELS) {
            return Some(Charset::Latin1);
        }
        if is(ASCII_LABELS) {
            return Some(Charset::Ascii);
        }
        encoding_rs::Encoding::for_label(label.as_bytes()).map(Charset::Whatwg)
    }

    /// The character set's canonical name.
    pub fn name(&self) -> &'static str {
        match self {
            Charset::Whatwg(encoding) => encoding.name(),
            Charset::Latin1 => "ISO-8859-1",
            Charset::Ascii => "US-ASCII",
        }
    }

    /// Whether rows are written as they are held (UTF-8), without transcoding.
    pub fn is_utf8(&self) -> bool {
        *self == Charset::UTF_8
    }

    /// `text` (UTF-8) in this character set; unrepresentable characters become `?`.
    pub fn encode_into(self, text: &str, out: &mut Vec<u8>) {
        let encoding = match self {
            Charset::Whatwg(encoding) if encoding == encoding_rs::UTF_8 => {
                out.extend_from_slice(text.as_bytes());
                return;
            }
            Charset::Whatwg(encoding) => encoding,
            Charset::Latin1 => return encode_single_byte(text, 0xFF, out),
            Charset::Ascii => return encode_single_byte(text, 0x7F, out),
        };
        let mut encoder = encoding.new_encoder();
        let mut rest = text;
        let mut chunk = [0u8; 1024];
        loop {
            let (result, read, written) =
                encoder.encode_from_utf8_without_replacement(rest, &mut chunk, true);
            out.extend_from_slice(&chunk[..written]);
            rest = &rest[read..];
            match result {
                encoding_rs::EncoderResult::InputEmpty => return,
                encoding_rs::EncoderResult::OutputFull => {}
                encoding_rs::EncoderResult::Unmappable(_) => out.push(b'?'),
            }
        }
    }
}

/// A character set whose code points up to `last` are their own byte (ISO-8859-1, US-ASCII).
fn encode_single_byte(text: &str, last: u32, out: &mut Vec<u8>) {
    out.reserve(text.len());
    // Each char is checked against `last` (at most 0xFF), so the cast keeps its value.
    out.extend(text.chars().map(|c| match u32::from(c) {
        code if code <= last => code as u8,
        _ => b'?',
    }));
}

impl std::fmt::Debug for Charset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Default for Charset {
    fn default() -> Self {
        Charset::UTF_8
    }
}

impl Serialize for Charset {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Charset {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let label = String::deserialize(deserializer)?;
        let Some(charset) = Charset::for_label(&label) else {
            return Err(de::Error::custom(format!(
                "'{label}' is not a character set Weir knows (the labels of the WHATWG \
                 Encoding Standard: UTF-8, GBK, gb18030, Big5, Shift_JIS, EUC-KR, \
                 windows-1252, ISO-8859-2, …, and Java's ISO-8859-1 and US-ASCII)"
            )));
        };
        // UTF-16 and the "replacement" encoding can be read but not written.
        if let Charset::Whatwg(encoding) = charset
            && encoding.output_encoding() != encoding
        {
            return Err(de::Error::custom(format!(
                "cannot be '{label}': Weir cannot write {} (UTF-16 is not supported); use \
                 UTF-8",
                encoding.name()
            )));
        }
        Ok(charset)
    }
}

impl JsonSchema for Charset {
    fn schema_name() -> Cow<'static, str> {
        "Charset".into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string" })
    }
}

/// A byte quantity option: a number of bytes, or a number with a unit (`"128MiB"`, see
/// [`crate::bytesize`]). Written back with the largest binary unit that divides it exactly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let bytes = self.0;
        let unit = [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)]
            .into_iter()
            .find(|(_, shift)| bytes != 0 && bytes.trailing_zeros() >= *shift);
        match unit {
            Some((name, shift)) => serializer.serialize_str(&format!("{}{name}", bytes >> shift)),
            None => serializer.serialize_u64(bytes),
        }
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ByteSizeVisitor;

        impl Visitor<'_> for ByteSizeVisitor {
            type Value = ByteSize;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a number of bytes or a size such as \"128MiB\"")
            }

            fn visit_u64<E: de::Error>(self, bytes: u64) -> Result<ByteSize, E> {
                Ok(ByteSize(bytes))
            }

            fn visit_i64<E: de::Error>(self, bytes: i64) -> Result<ByteSize, E> {
                u64::try_from(bytes)
                    .map(ByteSize)
                    .map_err(|_| E::custom(format!("must be a non-negative size, found {bytes}")))
            }

            fn visit_f64<E: de::Error>(self, bytes: f64) -> Result<ByteSize, E> {
                Err(E::custom(format!(
                    "must be a whole number of bytes or a size such as \"1.5MiB\", found {bytes}"
                )))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<ByteSize, E> {
                parse_bytes(text).map(ByteSize).map_err(E::custom)
            }
        }

        deserializer.deserialize_any(ByteSizeVisitor)
    }
}

impl JsonSchema for ByteSize {
    fn schema_name() -> Cow<'static, str> {
        "ByteSize".into()
    }

    fn json_schema(_generator: &mut SchemaGenerator) -> schemars::Schema {
        // "string" first: the reference calls it a string, and the parser then accepts
        // numbers too (they are scalars); the deserializer reads both.
        schemars::json_schema!({ "type": ["string", "integer"] })
    }
}

/// Field names as a list, or as one comma-separated string.
pub(super) fn deserialize_names<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Names {
        List(Vec<String>),
        Text(String),
    }
    let names = match Names::deserialize(deserializer)
        .map_err(|_| de::Error::custom("must be a list of field names, e.g. [\"id\", \"name\"]"))?
    {
        Names::List(names) => names,
        Names::Text(text) => text.split(',').map(|name| name.to_string()).collect(),
    };
    let names: Vec<String> = names.iter().map(|name| name.trim().to_string()).collect();
    if names.iter().any(String::is_empty) {
        return Err(de::Error::custom("must not contain an empty field name"));
    }
    Ok(names)
}

pub(super) fn deserialize_optional_names<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Vec<String>>, D::Error> {
    deserialize_names(deserializer).map(Some)
}

/// A string with `${name}` variables, such as `file_name_expression`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    parts: Vec<TemplatePart>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TemplatePart {
    Literal(String),
    Variable(String),
}

impl Template {
    /// Splits `text` into literals and `${name}` variables; an unclosed `${` is an error.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            if start > 0 {
                parts.push(TemplatePart::Literal(rest[..start].to_string()));
            }
            let after = &rest[start + 2..];
            let Some(end) = after.find('}') else {
                return Err(format!("has an unclosed '${{' in {text:?}"));
            };
            let name = after[..end].trim();
            if name.is_empty() {
                return Err(format!("has an empty variable '${{}}' in {text:?}"));
            }
            parts.push(TemplatePart::Variable(name.to_string()));
            rest = &after[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(TemplatePart::Literal(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// The names of the variables used, in order.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|part| match part {
            TemplatePart::Variable(name) => Some(name.as_str()),
            TemplatePart::Literal(_) => None,
        })
    }

    /// The text with each variable replaced by `value(name)` (empty when it gives `None`).
    pub fn render(&self, mut value: impl FnMut(&str) -> Option<String>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                TemplatePart::Literal(text) => out.push_str(text),
                TemplatePart::Variable(name) => out.push_str(&value(name).unwrap_or_default()),
            }
        }
        out
    }
}

/// Formats `unix_millis` (UTC) with a Java-style pattern: `yyyy`, `yy`, `MM`, `dd`, `HH`,
/// `mm`, `ss`, `SSS`; other characters are copied, except letters (unknown fields) and `/`.
pub fn format_utc_time(pattern: &str, unix_millis: i64) -> Result<String, String> {
    let days = unix_millis.div_euclid(86_400_000);
    let in_day = unix_millis.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let fields: [(&str, String); 8] = [
        ("yyyy", format!("{year:04}")),
        ("yy", format!("{:02}", year.rem_euclid(100))),
        ("MM", format!("{month:02}")),
        ("dd", format!("{day:02}")),
        ("HH", format!("{:02}", in_day / 3_600_000)),
        ("mm", format!("{:02}", in_day / 60_000 % 60)),
        ("ss", format!("{:02}", in_day / 1000 % 60)),
        ("SSS", format!("{:03}", in_day % 1000)),
    ];
    let mut out = String::new();
    let mut rest = pattern;
    'next: while let Some(c) = rest.chars().next() {
        for (token, value) in &fields {
            if let Some(after) = rest.strip_prefix(token) {
                out.push_str(value);
                rest = after;
                continue 'next;
            }
        }
        if c.is_alphabetic() || c == '/' {
            return Err(format!(
                "has '{c}' in {pattern:?}; use yyyy, yy, MM, dd, HH, mm, ss, SSS and \
                 separators other than '/'"
            ));
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    Ok(out)
}

/// Days since 1970-01-01 → (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}
