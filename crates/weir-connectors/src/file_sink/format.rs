//! Rows → bytes (text, csv, json) and the bounded, optionally gzip-compressed buffer of an
//! open file (or, for Parquet, the columnar writer in front of it: `parquet.rs`).

use std::io::{self, Write};
use std::sync::Arc;

use flate2::Compression;
use flate2::write::GzEncoder;
use weir_core::config::{Charset, CompressCodec, FileFormat};
use weir_core::row::{Row, Value};
use weir_core::schema::Schema;

use super::lzop::LzopEncoder;
use super::parquet::{ParquetFile, ParquetLayout, ParquetWriteError};
use super::writer::SCRATCH_KEEP_BYTES;
use crate::context::SinkBufferStats;

/// Why a file's content could not take rows or end.
#[derive(Debug, thiserror::Error)]
pub(super) enum ContentError {
    /// The gzip or lzo encoder failed.
    #[error(transparent)]
    Compress(#[from] io::Error),
    /// The Parquet encoder failed.
    #[error(transparent)]
    Parquet(#[from] ParquetWriteError),
}

/// A value as text, as the text and csv formats and partition directories write it.
pub(super) use weir_core::row::push_text;

/// Encodes the written columns of a row in the sink's format, row delimiter included.
pub(super) struct RowEncoder {
    format: FileFormat,
    field_delimiter: String,
    row_delimiter: String,
    /// Positions in the row of the written columns, in output order (unique).
    columns: Vec<usize>,
    /// Whether `columns` is every position in order (no projection needed).
    all_columns: bool,
    /// Names of the written columns (json keys).
    schema: Schema,
    /// The character set of the file (`encoding`); rows are built in UTF-8 and transcoded.
    charset: Charset,
    /// A row in UTF-8 on its way to `charset` (reused between rows; unused for UTF-8 files).
    utf8: Vec<u8>,
    /// A row's text (json, text) or one field's (csv) while it is rendered (reused between
    /// rows: no allocation, and no growth from empty, per row).
    text: String,
}

impl RowEncoder {
    pub(super) fn new(
        format: FileFormat,
        field_delimiter: &str,
        row_delimiter: &str,
        columns: Vec<usize>,
        input: &Schema,
    ) -> Self {
        let all_columns = columns.len() == input.fields.len()
            && columns.iter().enumerate().all(|(at, column)| at == *column);
        let schema = Schema {
            fields: columns
                .iter()
                .filter_map(|column| input.fields.get(*column).cloned())
                .collect(),
        };
        RowEncoder {
            format,
            field_delimiter: field_delimiter.to_string(),
            row_delimiter: row_delimiter.to_string(),
            columns,
            all_columns,
            schema,
            charset: Charset::UTF_8,
            utf8: Vec::new(),
            text: String::new(),
        }
    }

    /// Writes files in `charset` instead of UTF-8.
    pub(super) fn with_charset(mut self, charset: Charset) -> Self {
        self.charset = charset;
        self
    }

    /// `utf8` (built by this encoder, so valid UTF-8) in the file's character set.
    fn transcode(&self, utf8: &[u8], out: &mut Vec<u8>) {
        match std::str::from_utf8(utf8) {
            Ok(text) => self.charset.encode_into(text, out),
            Err(_) => out.extend_from_slice(utf8),
        }
    }

    /// The written columns (names and types), in output order.
    pub(super) fn written_schema(&self) -> &Schema {
        &self.schema
    }

    /// The written columns of `row`, in output order.
    pub(super) fn project(&self, row: Row) -> Row {
        if self.all_columns {
            return row;
        }
        // Moves the written values out of the row: no clones per row.
        let kind = row.kind;
        let mut values = row.values;
        Row::with_kind(
            self.columns
                .iter()
                .map(|column| {
                    values
                        .get_mut(*column)
                        .map_or(Value::Null, |value| std::mem::replace(value, Value::Null))
                })
                .collect(),
            kind,
        )
    }

    /// The header line of a text or csv file, as SeaTunnel writes it: the written columns'
    /// names joined by the field delimiter (csv-quoted for csv), then the row delimiter.
    pub(super) fn header(&self) -> Vec<u8> {
        let utf8 = self.header_utf8();
        if self.charset.is_utf8() {
            return utf8;
        }
        let mut out = Vec::with_capacity(utf8.len());
        self.transcode(&utf8, &mut out);
        out
    }

    fn header_utf8(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (position, field) in self.schema.fields.iter().enumerate() {
            if position > 0 {
                out.extend_from_slice(self.field_delimiter.as_bytes());
            }
            match self.format {
                FileFormat::Csv => self.push_csv_field(&mut out, &field.name, &Value::Null),
                _ => out.extend_from_slice(field.name.as_bytes()),
            }
        }
        out.extend_from_slice(self.row_delimiter.as_bytes());
        out
    }

    /// Appends `row`'s encoding to `out` (text, csv and json; Parquet files take rows).
    pub(super) fn encode(&mut self, row: Row, out: &mut Vec<u8>) {
        if self.charset.is_utf8() {
            return self.encode_utf8(row, out);
        }
        let mut utf8 = std::mem::take(&mut self.utf8);
        utf8.clear();
        self.encode_utf8(row, &mut utf8);
        self.transcode(&utf8, out);
        // An unusually large row would otherwise keep its allocation for the whole run.
        if utf8.capacity() <= SCRATCH_KEEP_BYTES {
            self.utf8 = utf8;
        }
    }

    fn encode_utf8(&mut self, row: Row, out: &mut Vec<u8>) {
        let row = self.project(row);
        let mut text = std::mem::take(&mut self.text);
        text.clear();
        match self.format {
            // Never reached: the writer hands Parquet rows to the file's `Content::Parquet`.
            FileFormat::Parquet => {}
            // The Console sink's rendering, so every sink shows a row the same way.
            FileFormat::Json => {
                row.push_json(&self.schema, &mut text);
                out.extend_from_slice(text.as_bytes());
            }
            FileFormat::Text => {
                for (position, value) in row.values.iter().enumerate() {
                    if position > 0 {
                        text.push_str(&self.field_delimiter);
                    }
                    push_text(&mut text, value);
                }
                out.extend_from_slice(text.as_bytes());
            }
            FileFormat::Csv => {
                for (position, value) in row.values.iter().enumerate() {
                    if position > 0 {
                        out.extend_from_slice(self.field_delimiter.as_bytes());
                    }
                    text.clear();
                    push_text(&mut text, value);
                    self.push_csv_field(out, &text, value);
                }
            }
        }
        out.extend_from_slice(self.row_delimiter.as_bytes());
        // An unusually large row would otherwise keep its allocation for the whole run.
        if text.capacity() <= SCRATCH_KEEP_BYTES {
            self.text = text;
        }
    }

    /// RFC 4180: a field holding the delimiter, a quote or a line break is quoted, quotes
    /// doubled. An empty string is `""` so that it differs from null (nothing).
    fn push_csv_field(&self, out: &mut Vec<u8>, field: &str, value: &Value) {
        let quote = matches!(value, Value::String(text) if text.is_empty())
            || field.contains(['"', '\r', '\n'])
            || field.contains(self.field_delimiter.as_str())
            || field.contains(self.row_delimiter.as_str());
        if !quote {
            out.extend_from_slice(field.as_bytes());
            return;
        }
        out.push(b'"');
        out.extend_from_slice(field.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    }
}

/// Output bytes of one open file not written out yet. Its allocation grows by doubling but
/// never past `cap` (unless one write alone is larger), so the buffer's memory stays within
/// `write.buffer_bytes`. Every byte it holds is counted in the sink's [`SinkBufferStats`],
/// from the write that adds it until it is taken, finished or dropped with the buffer.
pub(super) struct Output {
    bytes: Vec<u8>,
    cap: usize,
    stats: Arc<SinkBufferStats>,
}

impl Drop for Output {
    fn drop(&mut self) {
        self.stats.sub(self.bytes.len() as u64);
    }
}

impl Output {
    /// Where this buffer's bytes are counted.
    pub(super) fn stats(&self) -> &Arc<SinkBufferStats> {
        &self.stats
    }

    fn reserve(&mut self, additional: usize) {
        let needed = self.bytes.len() + additional;
        if needed <= self.bytes.capacity() {
            return;
        }
        let target = needed.max((self.bytes.capacity() * 2).min(self.cap));
        self.bytes.reserve_exact(target - self.bytes.len());
    }
}

impl Write for Output {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.reserve(data.len());
        self.bytes.extend_from_slice(data);
        self.stats.add(data.len() as u64);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The bytes of one open file on their way out: plain, through a gzip or lzop encoder, or
/// produced by a Parquet writer from rows.
pub(super) enum Content {
    Plain(Output),
    Gzip(GzEncoder<Output>),
    Lzop(LzopEncoder),
    Parquet(Box<ParquetFile>),
}

impl Content {
    /// An empty content whose output buffer is bounded by `cap` and counted in `stats`;
    /// a Parquet file when `parquet` is given (its header is written at once).
    pub(super) fn new(
        codec: CompressCodec,
        parquet: Option<&Arc<ParquetLayout>>,
        cap: usize,
        stats: Arc<SinkBufferStats>,
    ) -> Result<Self, ContentError> {
        let output = Output {
            bytes: Vec::new(),
            cap,
            stats: Arc::clone(&stats),
        };
        Ok(match (parquet, codec) {
            (Some(layout), _) => Content::Parquet(Box::new(ParquetFile::new(
                Arc::clone(layout),
                output,
                stats,
            )?)),
            (None, CompressCodec::Gzip) => {
                Content::Gzip(GzEncoder::new(output, Compression::default()))
            }
            (None, CompressCodec::Lzo) => Content::Lzop(LzopEncoder::new(output)?),
            // Configuration refuses the Parquet-only codecs for row formats.
            (None, _) => Content::Plain(output),
        })
    }

    /// Adds encoded rows (text, csv, json).
    pub(super) fn append(&mut self, data: &[u8]) -> Result<(), ContentError> {
        match self {
            Content::Plain(output) => output.write_all(data)?,
            Content::Gzip(encoder) => encoder.write_all(data)?,
            Content::Lzop(encoder) => encoder.write_all(data)?,
            Content::Parquet(_) => return Err(ParquetWriteError::RowExpected.into()),
        }
        Ok(())
    }

    /// Adds a row of the written columns (Parquet).
    pub(super) fn append_row(&mut self, row: Row) -> Result<(), ContentError> {
        match self {
            Content::Parquet(file) => Ok(file.append(row)?),
            Content::Plain(_) | Content::Gzip(_) | Content::Lzop(_) => {
                Err(ParquetWriteError::NotParquet.into())
            }
        }
    }

    /// Output bytes held (compressed, for gzip and lzo; the encoder's own state, and the lzo
    /// block not compressed yet, are not counted).
    pub(super) fn buffered(&self) -> usize {
        self.output().bytes.len()
    }

    /// The encoded size of what is neither written out nor in the output buffer yet (a
    /// Parquet row group in progress), for rolling by file size.
    pub(super) fn unwritten_estimate(&self) -> usize {
        match self {
            Content::Parquet(file) => file.unwritten_estimate(),
            // At most one block, written out within LZOP_BLOCK_BYTES.
            Content::Lzop(encoder) => encoder.pending(),
            Content::Plain(_) | Content::Gzip(_) => 0,
        }
    }

    fn output(&self) -> &Output {
        match self {
            Content::Plain(output) => output,
            Content::Gzip(encoder) => encoder.get_ref(),
            Content::Lzop(encoder) => encoder.get_ref(),
            Content::Parquet(file) => file.output(),
        }
    }

    /// Takes the output bytes held so far, leaving an empty buffer (sized like the last one:
    /// a buffer that filled up once will likely fill up again).
    pub(super) fn take(&mut self) -> Vec<u8> {
        let output = match self {
            Content::Plain(output) => output,
            Content::Gzip(encoder) => encoder.get_mut(),
            Content::Lzop(encoder) => encoder.get_mut(),
            Content::Parquet(file) => file.output_mut(),
        };
        let next = Vec::with_capacity(output.bytes.len().min(output.cap));
        let mut taken = std::mem::replace(&mut output.bytes, next);
        output.stats.sub(taken.len() as u64);
        // The file system client may keep the buffer until the data is acknowledged; a
        // mostly empty allocation would be held for nothing.
        taken.shrink_to_fit();
        taken
    }

    /// Ends the content (gzip: its final block and trailer; Parquet: the last row group and
    /// the footer) and returns what remains.
    pub(super) fn finish(self) -> Result<Vec<u8>, ContentError> {
        let mut output = match self {
            Content::Plain(output) => output,
            Content::Gzip(encoder) => encoder.finish()?,
            Content::Lzop(encoder) => encoder.finish()?,
            Content::Parquet(file) => file.finish()?,
        };
        let mut rest = std::mem::take(&mut output.bytes);
        output.stats.sub(rest.len() as u64);
        rest.shrink_to_fit();
        Ok(rest)
    }
}
