//! `file_format_type = "parquet"`: rows → Arrow columns → Parquet row groups, bounded in bytes.
//!
//! Rows stay rows in the data path (docs/architecture.md, "The data path"); only here do they
//! become columns. An open file collects written rows until they hold `write.buffer_bytes`,
//! turns them into one Arrow record batch and hands it to the Parquet `ArrowWriter`, which
//! encodes (and compresses) it into the row group in progress. When that row group's memory
//! reaches `parquet_row_group_bytes` it is written to the file's output buffer and from there
//! to the file system; closing the file writes the footer, so every closed file is complete.
//! Everything held — rows waiting, the row group being encoded, the output — is counted in the
//! sink's [`SinkBufferStats`].

use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{Field as ArrowField, Schema as ArrowSchema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, GzipLevel, ZstdLevel};
use parquet::errors::ParquetError;
use parquet::file::properties::{WriterProperties, WriterVersion};
use weir_core::config::CompressCodec;
use weir_core::row::Row;
use weir_core::schema::Schema;

use super::format::Output;
use super::parquet_columns::{arrow_type, column};
use crate::context::SinkBufferStats;

/// Rows per record batch at most (fewer when they reach `write.buffer_bytes` first): large
/// enough for the encoders to work on runs of values, small enough to keep arrays cache-sized.
const BATCH_ROWS: usize = 8192;

/// What goes wrong while encoding Parquet (never the file system: that is the writer's).
#[derive(Debug, thiserror::Error)]
pub enum ParquetWriteError {
    /// The Parquet or Arrow library refused a batch or failed to encode it.
    #[error(transparent)]
    Parquet(#[from] ParquetError),
    /// The Arrow arrays built from the rows did not form a record batch.
    #[error(transparent)]
    Arrow(#[from] arrow_schema::ArrowError),
    /// A value does not have its column's type (a decoder bug, never user input).
    #[error("column '{column}' is {expected}, but a row holds {found}")]
    Mismatch {
        /// The column (dotted path for nested fields).
        column: String,
        /// The column's type.
        expected: String,
        /// The value found, as Debug text (truncated).
        found: String,
    },
    /// Encoded bytes were given to a Parquet file (a bug: Parquet files take rows).
    #[error("a Parquet file takes rows, not encoded bytes")]
    RowExpected,
    /// A row was given to a file of a row format (a bug: those take encoded bytes).
    #[error("rows are written as Parquet only by a Parquet sink")]
    NotParquet,
    /// `compress_codec = lzo` reached the Parquet writer (a bug: configuration refuses it).
    #[error("the Parquet writer cannot write LZO pages")]
    LzoCodec,
    /// A column type Parquet (or this writer) cannot hold.
    #[error("column '{column}' cannot be written as Parquet: {reason}")]
    Unsupported {
        /// The column (dotted path for nested fields).
        column: String,
        /// Why.
        reason: String,
    },
    /// Parquet map keys cannot be null.
    #[error("column '{column}' is a map with a null key, which Parquet cannot store")]
    NullMapKey {
        /// The column (dotted path for nested fields).
        column: String,
    },
}

/// What every Parquet file of a sink shares: the written columns, their Arrow schema and the
/// writer properties.
pub(super) struct ParquetLayout {
    schema: Schema,
    arrow: Arc<ArrowSchema>,
    properties: WriterProperties,
    /// `parquet_row_group_bytes`.
    row_group_bytes: usize,
    /// `write.buffer_bytes`: rows collected before they become a record batch.
    batch_bytes: usize,
}

impl ParquetLayout {
    /// The layout for files of the written columns `schema`; an error names a column Parquet
    /// cannot hold.
    pub(super) fn new(
        schema: Schema,
        codec: CompressCodec,
        row_group_bytes: usize,
        batch_bytes: usize,
    ) -> Result<Self, ParquetWriteError> {
        let fields: Vec<ArrowField> = schema
            .fields
            .iter()
            .map(|field| {
                Ok(ArrowField::new(
                    &field.name,
                    arrow_type(&field.name, &field.data_type)?,
                    true,
                ))
            })
            .collect::<Result<_, ParquetWriteError>>()?;
        let compression = match codec {
            CompressCodec::None => Compression::UNCOMPRESSED,
            CompressCodec::Snappy => Compression::SNAPPY,
            CompressCodec::Gzip => Compression::GZIP(GzipLevel::default()),
            // Level 1 (the library's default): zstd's cheapest regular level.
            CompressCodec::Zstd => Compression::ZSTD(ZstdLevel::default()),
            // The framed `LZ4` codec is deprecated in the format; `LZ4_RAW` is what current
            // readers (pyarrow, DuckDB, Spark 3.4+, Trino) expect.
            CompressCodec::Lz4 => Compression::LZ4_RAW,
            // Configuration refuses it; kept as an error, not a silent fallback.
            CompressCodec::Lzo => return Err(ParquetWriteError::LzoCodec),
        };
        let properties = WriterProperties::builder()
            .set_compression(compression)
            // Version 1 data pages, as SeaTunnel writes them: read by every Parquet reader.
            .set_writer_version(WriterVersion::PARQUET_1_0)
            .set_created_by(format!("weir {}", env!("CARGO_PKG_VERSION")))
            // Row groups end by bytes (below); no row count limit of the library's own.
            .set_max_row_group_row_count(None)
            .build();
        Ok(ParquetLayout {
            schema,
            arrow: Arc::new(ArrowSchema::new(fields)),
            properties,
            row_group_bytes: row_group_bytes.max(1),
            batch_bytes: batch_bytes.max(1),
        })
    }
}

/// One open Parquet file: rows waiting, the row group in progress, and the output buffer.
pub(super) struct ParquetFile {
    layout: Arc<ParquetLayout>,
    writer: ArrowWriter<Output>,
    rows: Vec<Row>,
    /// [`Row::size_bytes`] of `rows`.
    rows_bytes: usize,
    /// What this file holds besides its output buffer (which counts itself).
    counted: Counted,
}

/// Bytes added to the sink's stats, taken out again when dropped.
struct Counted {
    bytes: u64,
    stats: Arc<SinkBufferStats>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.stats.sub(self.bytes);
    }
}

impl Counted {
    fn set(&mut self, bytes: u64) {
        if bytes > self.bytes {
            self.stats.add(bytes - self.bytes);
        } else {
            self.stats.sub(self.bytes - bytes);
        }
        self.bytes = bytes;
    }
}

impl ParquetFile {
    /// Starts a file writing to `output` (the header is written at once).
    pub(super) fn new(
        layout: Arc<ParquetLayout>,
        output: Output,
        stats: Arc<SinkBufferStats>,
    ) -> Result<Self, ParquetWriteError> {
        let writer = ArrowWriter::try_new(
            output,
            Arc::clone(&layout.arrow),
            Some(layout.properties.clone()),
        )?;
        Ok(ParquetFile {
            layout,
            writer,
            rows: Vec::new(),
            rows_bytes: 0,
            counted: Counted { bytes: 0, stats },
        })
    }

    /// Adds a row of the written columns; encodes the rows collected so far once they hold
    /// `write.buffer_bytes`, and ends the row group once it holds `parquet_row_group_bytes`.
    pub(super) fn append(&mut self, row: Row) -> Result<(), ParquetWriteError> {
        self.rows_bytes = self
            .rows_bytes
            .saturating_add(usize::try_from(row.size_bytes()).unwrap_or(usize::MAX));
        self.rows.push(row);
        if self.rows_bytes >= self.layout.batch_bytes || self.rows.len() >= BATCH_ROWS {
            self.encode_rows()?;
            if self.writer.memory_size() >= self.layout.row_group_bytes {
                self.writer.flush()?;
            }
        }
        self.recount();
        Ok(())
    }

    /// Output bytes ready for the file system.
    pub(super) fn output(&self) -> &Output {
        self.writer.inner()
    }

    /// The output buffer, to take its bytes.
    pub(super) fn output_mut(&mut self) -> &mut Output {
        self.writer.inner_mut()
    }

    /// The encoded size of what is not in the output yet (the row group in progress), for
    /// rolling by file size.
    pub(super) fn unwritten_estimate(&self) -> usize {
        self.writer.in_progress_size()
    }

    /// Encodes what is left, ends the last row group and writes the footer; returns the
    /// output buffer holding the rest of the file.
    pub(super) fn finish(mut self) -> Result<Output, ParquetWriteError> {
        self.encode_rows()?;
        let ParquetFile {
            writer, counted, ..
        } = self;
        let output = writer.into_inner()?;
        drop(counted);
        Ok(output)
    }

    /// Turns the collected rows into one record batch and encodes it.
    fn encode_rows(&mut self) -> Result<(), ParquetWriteError> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.rows);
        self.rows_bytes = 0;
        let columns = self
            .layout
            .schema
            .fields
            .iter()
            .enumerate()
            .map(|(position, field)| {
                column(
                    &field.name,
                    &field.data_type,
                    &rows
                        .iter()
                        .map(|row| row.values.get(position))
                        .collect::<Vec<_>>(),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        drop(rows);
        let batch = RecordBatch::try_new(Arc::clone(&self.layout.arrow), columns)?;
        self.writer.write(&batch)?;
        Ok(())
    }

    /// Brings `stats` up to date with the rows waiting and the row group's memory.
    fn recount(&mut self) {
        let now = self.rows_bytes.saturating_add(self.writer.memory_size());
        self.counted.set(now as u64);
    }
}
