//! `file_format_type = "parquet"` and its options; `orc` and the codecs Weir cannot write;
//! the codecs of the row formats.

use super::tests::{FAKE, parse};
use super::*;

const HDFS: &str = "    fs.defaultFS = \"hdfs://nn:9000\"\n    path = /data/orders";

fn hdfs_file(options: &str) -> Result<FileSinkConfig, ConfigError> {
    let job = parse(&format!(
        "{FAKE}\nsink {{\n  HdfsFile {{\n{HDFS}\n{options}\n  }}\n}}"
    ))?;
    match job.sink {
        SinkConfig::HdfsFile(config) => Ok(config),
        other => panic!("HdfsFile expected, parsed {other:?}"),
    }
}

fn refused(options: &str) -> String {
    match hdfs_file(options) {
        Ok(config) => panic!("expected an error for {options:?}, parsed {config:?}"),
        Err(error) => error.to_string(),
    }
}

#[test]
fn parquet_takes_seatunnel_codecs_and_names_files_as_seatunnel() {
    for (codec, expected, extension) in [
        ("none", CompressCodec::None, ".parquet"),
        ("snappy", CompressCodec::Snappy, ".snappy.parquet"),
        ("gzip", CompressCodec::Gzip, ".gz.parquet"),
        ("zstd", CompressCodec::Zstd, ".zstd.parquet"),
        ("LZ4", CompressCodec::Lz4, ".lz4.parquet"),
    ] {
        let config = hdfs_file(&format!(
            "    file_format_type = \"parquet\"\n    compress_codec = \"{codec}\""
        ))
        .unwrap();
        assert_eq!(config.file_format_type, FileFormat::Parquet);
        assert_eq!(config.compress_codec, expected);
        assert_eq!(config.file_extension(), extension);
    }
    let text = hdfs_file("    compress_codec = gzip").unwrap();
    assert_eq!(text.file_extension(), ".txt.gz");
}

/// `lzo` for the row formats: SeaTunnel's `x.lzo.txt` names, and the reservation counts one
/// pending block per open file and one block being compressed.
#[test]
fn lzo_text_is_named_as_seatunnel_names_it_and_reserves_its_blocks() {
    for (format, extension) in [
        ("text", ".lzo.txt"),
        ("csv", ".lzo.csv"),
        ("json", ".lzo.json"),
    ] {
        let config = hdfs_file(&format!(
            "    file_format_type = {format}\n    compress_codec = LZO"
        ))
        .unwrap();
        assert_eq!(config.compress_codec, CompressCodec::Lzo);
        assert_eq!(config.file_extension(), extension);
    }
    let mut config = FileSinkConfig::new("/data/x");
    let plain = config.buffer_bytes(FileSystemKind::Local);
    config.compress_codec = CompressCodec::Lzo;
    assert_eq!(
        config.buffer_bytes(FileSystemKind::Local),
        plain + LZO_BLOCK_BYTES + LZO_COMPRESSOR_BYTES
    );
}

#[test]
fn orc_and_unwritable_codecs_are_refused_with_the_reason() {
    let orc = refused("    file_format_type = \"orc\"");
    assert!(orc.contains("orc-rust") && orc.contains("decimal"), "{orc}");
    let lzo = refused("    file_format_type = parquet\n    compress_codec = lzo");
    assert!(
        lzo.contains("cannot be lzo with file_format_type = parquet"),
        "{lzo}"
    );
    let brotli = refused("    file_format_type = parquet\n    compress_codec = brotli");
    assert!(brotli.contains("brotli is not supported"), "{brotli}");
    let snappy_text = refused("    file_format_type = text\n    compress_codec = snappy");
    assert!(
        snappy_text.contains("only used with file_format_type = parquet"),
        "{snappy_text}"
    );
}

#[test]
fn parquet_options_are_checked() {
    let config = hdfs_file(
        "    file_format_type = parquet\n    parquet_row_group_bytes = 4MiB\n    \
         parquet_avro_write_timestamp_as_int96 = false\n    \
         parquet_avro_write_fixed_as_int96 = []",
    )
    .unwrap();
    assert_eq!(config.parquet_row_group_bytes(), 4 << 20);
    let int96 =
        refused("    file_format_type = parquet\n    parquet_avro_write_timestamp_as_int96 = true");
    assert!(int96.contains("INT96"), "{int96}");
    let fixed =
        refused("    file_format_type = parquet\n    parquet_avro_write_fixed_as_int96 = [b]");
    assert!(fixed.contains("must be empty"), "{fixed}");
    let not_parquet = refused("    parquet_row_group_bytes = 4MiB");
    assert!(
        not_parquet.contains("only used with file_format_type = parquet"),
        "{not_parquet}"
    );
    let delimiter = refused("    file_format_type = parquet\n    field_delimiter = \",\"");
    assert!(delimiter.contains("field_delimiter"), "{delimiter}");
}

/// A Parquet file's reservation: its output (a row group at most), the row group being
/// encoded, rows waiting and their columns; on HDFS the pipeline and one more output.
#[test]
fn parquet_reservation_counts_the_row_group_twice() {
    let mut config = FileSinkConfig::new("/data/x");
    config.file_format_type = FileFormat::Parquet;
    config.compress_codec = CompressCodec::Snappy;
    let (row_group, buffer) = (DEFAULT_PARQUET_ROW_GROUP_BYTES, 96 << 10);
    assert_eq!(config.writer_bytes_per_file(), 2 * row_group + 2 * buffer);
    let hdfs = config.buffer_bytes(FileSystemKind::Hdfs);
    // The open file's pipeline and the closing rolled file's, each with a row group.
    let pipeline = HDFS_WRITE_PIPELINE_BYTES + row_group;
    assert_eq!(hdfs, 2 * row_group + 2 * buffer + 2 * pipeline);
    assert!(
        (20 << 20..80 << 20).contains(&hdfs),
        "tens of MiB by default, found {hdfs}"
    );
    config.have_partition = true;
    config.partition_by = vec!["day".into()];
    // 16 open files' row groups; the HDFS client holds at most write.max_in_flight_bytes.
    assert_eq!(
        config.buffer_bytes(FileSystemKind::Hdfs),
        16 * (2 * row_group + 2 * buffer) + DEFAULT_HDFS_IN_FLIGHT_BYTES + pipeline
    );
}
