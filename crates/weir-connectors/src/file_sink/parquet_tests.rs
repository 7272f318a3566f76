//! Parquet file sink tests on the local file system. Files are read back with the `parquet`
//! crate's Arrow reader (the end-to-end tests read them with pyarrow and DuckDB instead).

use std::path::Path;

use arrow_array::cast::AsArray as _;
use arrow_array::types::Int64Type;
use arrow_array::{Array as _, RecordBatch};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Compression;
use weir_core::bytesize::ByteSize;
use weir_core::config::{CompressCodec, FileFormat, FileSinkConfig, FileSystemKind};
use weir_core::row::{Row, Value};
use weir_core::schema::{DataType, Schema};

use super::*;
use crate::context::SinkWriter;

fn schema() -> Schema {
    Schema::new([
        ("id", DataType::Bigint),
        ("name", DataType::String),
        ("day", DataType::String),
        ("ok", DataType::Boolean),
        ("n", DataType::Int),
        ("f", DataType::Float),
        ("d", DataType::Double),
        ("b", DataType::Bytes),
    ])
}

fn row(id: i64) -> Row {
    // Every third row holds nulls, so every column has some.
    let null = id % 3 == 2;
    let or_null = |value: Value| if null { Value::Null } else { value };
    Row::new(vec![
        Value::Bigint(id),
        or_null(Value::String(format!("name-{id}"))),
        Value::String(format!("d{}", id % 2)),
        or_null(Value::Boolean(id % 2 == 0)),
        or_null(Value::Int(id as i32 * 7)),
        or_null(Value::Float(id as f32 / 2.0)),
        or_null(Value::Double(id as f64 / 4.0)),
        or_null(Value::Bytes(vec![id as u8, 0, 255])),
    ])
}

fn sink(config: &FileSinkConfig) -> FileSink {
    let subtask = SubtaskInfo {
        job_id: "job1".into(),
        subtask_index: 0,
        parallelism: 1,
        attempt: 1,
    };
    open(config, FileSystemKind::Local, &schema(), &subtask).unwrap()
}

fn config(dir: &Path, codec: CompressCodec) -> FileSinkConfig {
    let mut config = FileSinkConfig::new(dir.join("out").to_string_lossy().to_string());
    config.file_format_type = FileFormat::Parquet;
    config.compress_codec = codec;
    config
}

/// Every committed file under `dir` (recursively), sorted.
fn committed(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The batches of a Parquet file, its row groups and the codec of its first column chunk.
fn read(path: &Path) -> (Vec<RecordBatch>, usize, Compression) {
    let file = std::fs::File::open(path).unwrap();
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let metadata = builder.metadata().clone();
    let batches = builder
        .build()
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    (
        batches,
        metadata.num_row_groups(),
        metadata.row_group(0).column(0).compression(),
    )
}

fn ids(batches: &[RecordBatch]) -> Vec<i64> {
    batches
        .iter()
        .flat_map(|batch| {
            batch
                .column(0)
                .as_primitive::<Int64Type>()
                .values()
                .to_vec()
        })
        .collect()
}

#[tokio::test]
async fn each_codec_writes_complete_readable_files() {
    for (codec, expected, suffix) in [
        (CompressCodec::None, Compression::UNCOMPRESSED, ".parquet"),
        (
            CompressCodec::Snappy,
            Compression::SNAPPY,
            ".snappy.parquet",
        ),
        (CompressCodec::Lz4, Compression::LZ4_RAW, ".lz4.parquet"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), codec);
        let mut sink = sink(&config);
        for id in 0..1000 {
            sink.write(row(id)).await.unwrap();
        }
        let files = sink.prepare_commit(1).await.unwrap();
        sink.commit(files).await.unwrap();
        let written = committed(&dir.path().join("out"));
        assert_eq!(written.len(), 1, "{written:?}");
        assert!(
            written[0].to_string_lossy().ends_with(suffix),
            "{written:?} should end {suffix}"
        );
        let (batches, _, compression) = read(&written[0]);
        assert_eq!(compression, expected, "{codec:?}");
        assert_eq!(ids(&batches), (0..1000).collect::<Vec<_>>());
        let batch = &batches[0];
        assert_eq!(batch.num_columns(), 8);
        let names = batch.column(1).as_string::<i32>();
        assert_eq!(names.value(0), "name-0");
        assert!(names.is_null(2), "row 2 holds nulls");
        let bytes = batch.column(7).as_binary::<i32>();
        assert_eq!(bytes.value(1), &[1, 0, 255]);
        assert_eq!(
            sink.buffer_stats().bytes(),
            0,
            "nothing held once committed"
        );
    }
}

#[tokio::test]
async fn zstd_and_gzip_pages_are_compressed() {
    for (codec, suffix) in [
        (CompressCodec::Zstd, ".zstd.parquet"),
        (CompressCodec::Gzip, ".gz.parquet"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let config = config(dir.path(), codec);
        let mut sink = sink(&config);
        for id in 0..100 {
            sink.write(row(id)).await.unwrap();
        }
        let files = sink.prepare_commit(1).await.unwrap();
        sink.commit(files).await.unwrap();
        let written = committed(&dir.path().join("out"));
        assert!(
            written[0].to_string_lossy().ends_with(suffix),
            "{written:?}"
        );
        let (batches, _, compression) = read(&written[0]);
        assert!(
            matches!(
                (codec, compression),
                (CompressCodec::Zstd, Compression::ZSTD(_))
                    | (CompressCodec::Gzip, Compression::GZIP(_))
            ),
            "{codec:?} wrote {compression:?}"
        );
        assert_eq!(ids(&batches), (0..100).collect::<Vec<_>>());
    }
}

/// With a 64 KiB row-group bound, what the sink holds stays within the bound it reports (the
/// metric's maximum), and the file has many row groups.
#[tokio::test]
async fn row_groups_and_held_bytes_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), CompressCodec::Snappy);
    config.parquet_row_group_bytes = Some(ByteSize(64 << 10));
    config.write_buffer_bytes = ByteSize(16 << 10);
    let mut sink = sink(&config);
    let stats = sink.buffer_stats();
    assert_eq!(
        stats.max_bytes(),
        config.writer_bytes_per_file(),
        "one open file"
    );
    let mut peak = 0;
    for id in 0..50_000 {
        sink.write(row(id)).await.unwrap();
        peak = peak.max(stats.bytes());
    }
    assert!(peak > 0, "the held bytes are counted");
    assert!(
        peak <= stats.max_bytes(),
        "held {peak} bytes, over the bound {}",
        stats.max_bytes()
    );
    let files = sink.prepare_commit(1).await.unwrap();
    sink.commit(files).await.unwrap();
    assert_eq!(stats.bytes(), 0);
    let written = committed(&dir.path().join("out"));
    let (batches, row_groups, _) = read(&written[0]);
    assert!(row_groups > 3, "only {row_groups} row groups");
    assert_eq!(ids(&batches), (0..50_000).collect::<Vec<_>>());
}

/// Rolling by size counts the row group in progress: small files, each complete.
#[tokio::test]
async fn rolling_by_size_closes_complete_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), CompressCodec::None);
    config.rolling_file_size = ByteSize(32 << 10);
    config.parquet_row_group_bytes = Some(ByteSize(16 << 10));
    config.write_buffer_bytes = ByteSize(4 << 10);
    let mut sink = sink(&config);
    for id in 0..20_000 {
        sink.write(row(id)).await.unwrap();
    }
    let files = sink.prepare_commit(1).await.unwrap();
    sink.commit(files).await.unwrap();
    let written = committed(&dir.path().join("out"));
    assert!(written.len() > 3, "{} files", written.len());
    let mut all: Vec<i64> = written.iter().flat_map(|file| ids(&read(file).0)).collect();
    all.sort_unstable();
    assert_eq!(all, (0..20_000).collect::<Vec<_>>());
}

/// Partitioned output: one file per directory, the partition column left out of the files.
#[tokio::test]
async fn partitioned_files_leave_out_the_partition_column() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), CompressCodec::Snappy);
    config.have_partition = true;
    config.partition_by = vec!["day".into()];
    let mut sink = sink(&config);
    for id in 0..100 {
        sink.write(row(id)).await.unwrap();
    }
    let files = sink.prepare_commit(1).await.unwrap();
    sink.commit(files).await.unwrap();
    let written = committed(&dir.path().join("out"));
    assert_eq!(written.len(), 2, "{written:?}");
    for (file, parity) in written.iter().zip([0, 1]) {
        assert!(
            file.parent().unwrap().ends_with(format!("day=d{parity}")),
            "{file:?}"
        );
        let (batches, _, _) = read(file);
        assert_eq!(batches[0].num_columns(), 7, "day is not written");
        assert!(ids(&batches).iter().all(|id| id % 2 == parity));
    }
}

/// An aborted attempt leaves no file and nothing counted.
#[tokio::test]
async fn abort_releases_everything() {
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), CompressCodec::Snappy);
    let mut sink = sink(&config);
    for id in 0..100 {
        sink.write(row(id)).await.unwrap();
    }
    assert!(sink.buffer_stats().bytes() > 0);
    sink.abort(crate::context::Discard::All).await.unwrap();
    assert_eq!(sink.buffer_stats().bytes(), 0);
    assert!(committed(&dir.path().join("out")).is_empty());
}
