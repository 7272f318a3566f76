//! Parquet file sink tests on the local file system. Files are read back with the `parquet`
//! crate's Arrow reader (the end-to-end tests read them with pyarrow and DuckDB instead).

use std::path::Path;

use ::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use ::parquet::basic::Compression;
use arrow_array::cast::AsArray as _;
use arrow_array::types::Int64Type;
use arrow_array::{Array as _, RecordBatch};
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
    // No file anywhere: nothing committed, the in-progress file deleted.
    let left = committed(dir.path());
    assert!(left.is_empty(), "{left:?}");
}

/// Every SeaTunnel type, nulls included, read back with its Parquet logical type and value.
#[tokio::test]
async fn every_type_round_trips() {
    use arrow_schema::{DataType as ArrowType, TimeUnit};
    use chrono::{NaiveDate, NaiveTime};
    use weir_core::schema::Field;

    let nested = vec![
        Field {
            name: "x".into(),
            data_type: DataType::Int,
        },
        Field {
            name: "y".into(),
            data_type: DataType::String,
        },
    ];
    let schema = Schema::new([
        ("t", DataType::Tinyint),
        ("s", DataType::Smallint),
        (
            "dec",
            DataType::Decimal {
                precision: 10,
                scale: 2,
            },
        ),
        (
            "wide",
            DataType::Decimal {
                precision: 38,
                scale: 10,
            },
        ),
        ("day", DataType::Date),
        ("time", DataType::Time),
        ("ts", DataType::Timestamp),
        ("nothing", DataType::Null),
        ("list", DataType::Array(Box::new(DataType::Bigint))),
        (
            "map",
            DataType::Map(Box::new(DataType::String), Box::new(DataType::Double)),
        ),
        ("row", DataType::Row(nested)),
    ]);
    let date = NaiveDate::from_ymd_opt(2026, 12, 3).unwrap();
    let time = NaiveTime::from_hms_micro_opt(7, 8, 9, 123_456).unwrap();
    let full = Row::new(vec![
        Value::Tinyint(-8),
        Value::Smallint(1600),
        Value::Decimal {
            unscaled: 12345,
            scale: 2,
        },
        Value::Decimal {
            unscaled: -(10i128.pow(37)) + 1,
            scale: 10,
        },
        Value::Date(date),
        Value::Time(time),
        Value::Timestamp(date.and_time(time)),
        Value::Null,
        Value::Array(vec![Value::Bigint(1), Value::Null, Value::Bigint(3)]),
        Value::Map(vec![
            (Value::String("a".into()), Value::Double(1.5)),
            (Value::String("b".into()), Value::Null),
        ]),
        Value::Row(vec![Value::Int(7), Value::Null]),
    ]);
    let nulls = Row::new(vec![Value::Null; 11]);
    let dir = tempfile::tempdir().unwrap();
    let config = config(dir.path(), CompressCodec::Snappy);
    let subtask = SubtaskInfo {
        job_id: "job1".into(),
        subtask_index: 0,
        parallelism: 1,
        attempt: 1,
    };
    let mut sink = open(&config, FileSystemKind::Local, &schema, &subtask).unwrap();
    sink.write(full).await.unwrap();
    sink.write(nulls).await.unwrap();
    let files = sink.prepare_commit(1).await.unwrap();
    sink.commit(files).await.unwrap();
    let written = committed(&dir.path().join("out"));
    let (batches, _, _) = read(&written[0]);
    let batch = &batches[0];
    let types: Vec<ArrowType> = batch
        .schema()
        .fields()
        .iter()
        .map(|field| field.data_type().clone())
        .collect();
    assert_eq!(types[0], ArrowType::Int8);
    assert_eq!(types[1], ArrowType::Int16);
    assert_eq!(types[2], ArrowType::Decimal128(10, 2));
    assert_eq!(types[4], ArrowType::Date32);
    assert_eq!(types[5], ArrowType::Time64(TimeUnit::Microsecond));
    assert_eq!(types[6], ArrowType::Timestamp(TimeUnit::Microsecond, None));
    assert_eq!(types[7], ArrowType::Null);
    assert_eq!(batch.num_rows(), 2);
    let dec = batch
        .column(2)
        .as_primitive::<arrow_array::types::Decimal128Type>();
    assert_eq!(dec.value(0), 12345);
    assert!(dec.is_null(1));
    let ts = batch
        .column(6)
        .as_primitive::<arrow_array::types::TimestampMicrosecondType>();
    assert_eq!(
        ts.value(0),
        date.and_time(time).and_utc().timestamp_micros()
    );
    let list = batch.column(8).as_list::<i32>();
    assert_eq!(list.value(0).len(), 3);
    assert!(list.is_null(1));
    let map = batch.column(9).as_map();
    assert_eq!(map.value(0).len(), 2);
    let row = batch.column(10).as_struct();
    assert_eq!(
        row.column(0)
            .as_primitive::<arrow_array::types::Int32Type>()
            .value(0),
        7
    );
    assert!(row.is_null(1));
}

/// A value that does not fit its decimal, and a null map key, are errors naming the column.
#[tokio::test]
async fn unfit_values_are_errors_naming_the_column() {
    let schema = Schema::new([
        (
            "dec",
            DataType::Decimal {
                precision: 4,
                scale: 2,
            },
        ),
        (
            "map",
            DataType::Map(Box::new(DataType::String), Box::new(DataType::Int)),
        ),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), CompressCodec::None);
    config.write_buffer_bytes = ByteSize(1);
    let subtask = SubtaskInfo {
        job_id: "job1".into(),
        subtask_index: 0,
        parallelism: 1,
        attempt: 1,
    };
    let mut sink = open(&config, FileSystemKind::Local, &schema, &subtask).unwrap();
    let error = sink
        .write(Row::new(vec![
            Value::Decimal {
                unscaled: 123_456,
                scale: 2,
            },
            Value::Null,
        ]))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("column 'dec'"), "{error}");
    // A failed write fails the task; its next attempt opens new files.
    let subtask = SubtaskInfo {
        attempt: 2,
        ..subtask
    };
    let mut sink = open(&config, FileSystemKind::Local, &schema, &subtask).unwrap();
    let error = sink
        .write(Row::new(vec![
            Value::Null,
            Value::Map(vec![(Value::Null, Value::Int(1))]),
        ]))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("null key"), "{error}");
}

/// More partition directories than open files: the least recently used Parquet file is closed
/// (with its footer) to make room, and every row still lands once.
#[tokio::test]
async fn evicted_parquet_files_are_closed_complete() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config(dir.path(), CompressCodec::Snappy);
    config.have_partition = true;
    config.partition_by = vec!["day".into()];
    config.max_open_files = 1;
    let mut sink = sink(&config);
    for id in 0..100 {
        tokio::time::timeout(std::time::Duration::from_secs(10), sink.write(row(id)))
            .await
            .expect("a write that evicts a Parquet file hung")
            .unwrap();
    }
    let files = sink.prepare_commit(1).await.unwrap();
    sink.commit(files).await.unwrap();
    let written = committed(&dir.path().join("out"));
    let mut all: Vec<i64> = written.iter().flat_map(|file| ids(&read(file).0)).collect();
    all.sort_unstable();
    assert_eq!(all, (0..100).collect::<Vec<_>>());
}
