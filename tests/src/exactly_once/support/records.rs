//! The records the tests produce: their payloads, partitions and how a committed line maps back
//! to one of them.

use std::ops::Range;

use crate::kafka::Record;
use serde_json::Value;

/// Partitions of every test topic.
pub const PARTITIONS: u64 = 4;
/// Length of each record's pseudo-random payload.
const PAD_LEN: usize = 24;

/// The sink's `file_format_type` (and how the source decodes the record, so that a committed
/// line maps back to exactly one record).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Kafka value `ID,PAD` read with `format = "text"`, `field_delimiter = ","` into
    /// `{id: bigint, pad: string}`; the text sink writes `ID\u{1}PAD` (its default delimiter).
    Text,
    /// Kafka value `{"id":ID,"pad":"PAD"}` read with `format = "json"`; the json sink writes
    /// one such object per line.
    Json,
    /// Kafka value as for `Json`; the parquet sink writes columns `id` (INT64) and `pad`
    /// (UTF8), read back with pyarrow and DuckDB (crate::readers).
    Parquet,
}

impl Format {
    /// The value of `file_format_type`.
    pub fn option(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Parquet => "parquet",
        }
    }

    /// Extension of a committed file without compression.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Text => ".txt",
            Format::Json => ".json",
            Format::Parquet => ".parquet",
        }
    }

    /// The end of a committed file's name: `.txt.gz`, but `.snappy.parquet` (SeaTunnel's
    /// names: the codec of a Parquet file is inside it).
    pub fn suffix(self, codec: Codec) -> String {
        match self {
            Format::Parquet => format!("{}{}", codec.suffix(), self.extension()),
            _ => format!("{}{}", self.extension(), codec.suffix()),
        }
    }

    /// The Kafka source lines that decode this test's records.
    pub fn source_lines(self) -> Vec<String> {
        let schema = r#"schema = { fields { id = "bigint", pad = "string" } }"#.to_string();
        match self {
            Format::Text => vec![
                r#"format = "text""#.to_string(),
                r#"field_delimiter = ",""#.to_string(),
                schema,
            ],
            Format::Json | Format::Parquet => vec![r#"format = "json""#.to_string(), schema],
        }
    }

    /// The Kafka value of record `id`.
    pub fn payload(self, id: u64) -> Vec<u8> {
        match self {
            Format::Text => format!("{id},{}", pad(id)).into_bytes(),
            Format::Json | Format::Parquet => {
                format!(r#"{{"id":{id},"pad":"{}"}}"#, pad(id)).into_bytes()
            }
        }
    }

    /// The Kafka value of record `id`, grown to at least `size` bytes by a `fill` field that
    /// the job's schema does not read (so the committed line is the same as for
    /// [`payload`](Self::payload)). JSON records only: a text record has no field to ignore.
    pub fn payload_of_size(self, id: u64, size: usize) -> Vec<u8> {
        let plain = self.payload(id);
        match self {
            Format::Text => plain,
            Format::Json | Format::Parquet => {
                let fill = size.saturating_sub(plain.len() + 10);
                format!(
                    r#"{{"id":{id},"pad":"{}","fill":"{}"}}"#,
                    pad(id),
                    "f".repeat(fill)
                )
                .into_bytes()
            }
        }
    }

    /// The id a committed line holds; an error if the line is not exactly what the sink should
    /// write for some produced record.
    pub(super) fn parse_line(self, line: &str) -> Result<u64, String> {
        let (id, pad_seen) = match self {
            Format::Text => {
                let fields: Vec<&str> = line.split('\u{1}').collect();
                if fields.len() != 2 {
                    return Err(format!(
                        "expected 2 fields separated by \\u0001 (the text sink's default field_delimiter), found {}",
                        fields.len()
                    ));
                }
                let id: u64 = fields[0].parse().map_err(|error| {
                    format!("the id field {:?} is not a number: {error}", fields[0])
                })?;
                (id, fields[1].to_string())
            }
            // Parquet rows arrive as `[id, pad]` JSON arrays (committed.rs).
            Format::Parquet => {
                let value: Value = serde_json::from_str(line)
                    .map_err(|error| format!("not a JSON row: {error}"))?;
                let id = value[0]
                    .as_u64()
                    .ok_or_else(|| format!("column id is not an unsigned integer: {value}"))?;
                let pad_seen = value[1]
                    .as_str()
                    .ok_or_else(|| format!("column pad is not a string: {value}"))?
                    .to_string();
                (id, pad_seen)
            }
            Format::Json => {
                let value: Value = serde_json::from_str(line)
                    .map_err(|error| format!("not a JSON object: {error}"))?;
                let id = value["id"]
                    .as_u64()
                    .ok_or_else(|| "no unsigned integer `id`".to_string())?;
                let pad_seen = value["pad"]
                    .as_str()
                    .ok_or_else(|| "no string `pad`".to_string())?
                    .to_string();
                (id, pad_seen)
            }
        };
        if pad_seen != pad(id) {
            return Err(format!(
                "id {id} carries pad {pad_seen:?}, but record {id} was produced with {:?}",
                pad(id)
            ));
        }
        Ok(id)
    }
}

/// The `compress_codec` of the sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// `none`.
    None,
    /// `gzip`: committed files end `.gz`; FsShell `-text` decompresses them.
    Gzip,
    /// `snappy` (Parquet only).
    Snappy,
    /// `zstd` (Parquet only).
    Zstd,
    /// `lz4` (Parquet only).
    Lz4,
}

impl Codec {
    /// The value of `compress_codec`.
    pub fn option(self) -> &'static str {
        match self {
            Codec::None => "none",
            Codec::Gzip => "gzip",
            Codec::Snappy => "snappy",
            Codec::Zstd => "zstd",
            Codec::Lz4 => "lz4",
        }
    }

    /// The codec's part of a committed file's name (SeaTunnel's).
    pub(super) fn suffix(self) -> &'static str {
        match self {
            Codec::None => "",
            Codec::Gzip => ".gz",
            Codec::Snappy => ".snappy",
            Codec::Zstd => ".zstd",
            Codec::Lz4 => ".lz4",
        }
    }

    /// The codec as pyarrow names it in a file's metadata (what the readers report).
    pub fn parquet_name(self) -> &'static str {
        match self {
            Codec::None => "UNCOMPRESSED",
            Codec::Gzip => "GZIP",
            Codec::Snappy => "SNAPPY",
            Codec::Zstd => "ZSTD",
            // The file holds LZ4_RAW (DuckDB's parquet_metadata says so); pyarrow's
            // `compression` calls that codec LZ4.
            Codec::Lz4 => "LZ4",
        }
    }
}

/// A deterministic pseudo-random lowercase payload for `id` (so a line whose id survived but
/// whose content was mangled or swapped is caught).
pub fn pad(id: u64) -> String {
    let mut state = id ^ 0x9E37_79B9_7F4A_7C15;
    let mut out = String::with_capacity(PAD_LEN);
    while out.len() < PAD_LEN {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let mut draw = state;
        for _ in 0..13.min(PAD_LEN - out.len()) {
            out.push((b'a' + (draw % 26) as u8) as char);
            draw /= 26;
        }
    }
    out
}

/// The partition record `id` goes to.
pub fn partition_of(id: u64) -> u64 {
    id % PARTITIONS
}

/// Records for `ids`, each to partition `id % PARTITIONS`, in id order.
pub fn records(format: Format, ids: Range<u64>) -> Vec<Record> {
    ids.map(|id| Record::new(partition_of(id) as i32, format.payload(id)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_round_trip_and_mangled_lines_fail() {
        for format in [Format::Text, Format::Json, Format::Parquet] {
            let line = match format {
                Format::Text => format!("17\u{1}{}", pad(17)),
                Format::Json => String::from_utf8(format.payload(17)).unwrap(),
                // What committed.rs makes of a row read back by the Parquet readers.
                Format::Parquet => format!(r#"[17,"{}"]"#, pad(17)),
            };
            assert_eq!(format.parse_line(&line), Ok(17));
        }
        assert!(Format::Text.parse_line(&format!("17,{}", pad(17))).is_err());
        assert!(
            Format::Text
                .parse_line(&format!("17\u{1}{}", pad(18)))
                .is_err()
        );
        assert!(Format::Json.parse_line(r#"{"id":17}"#).is_err());
        assert!(Format::Parquet.parse_line("[17]").is_err());
        assert!(
            Format::Parquet
                .parse_line(&format!(r#"[17,"{}"]"#, pad(18)))
                .is_err()
        );
    }
}
