//! Job files (SeaTunnel HOCON) for the benchmarks.

use std::fmt::Write as _;

/// The source of a job.
#[derive(Debug, Clone)]
pub enum Source {
    /// The benchmark's records `{"p","seq","pad"}` from a topic, decoded as JSON, from the
    /// earliest offset, with its own consumer group; extra `Kafka {}` lines.
    Kafka {
        bootstrap: String,
        topic: String,
        extra: Vec<String>,
    },
    /// FakeSource: `rows` per subtask with one bigint and one string of `string_length`.
    Fake { rows: u64, string_length: u64 },
}

/// The sink of a job.
#[derive(Debug, Clone)]
pub enum Sink {
    /// HdfsFile writing JSON lines under `path`.
    Hdfs { url: String, path: String },
    /// HdfsFile writing Parquet files (snappy) under `path`.
    HdfsParquet { url: String, path: String },
    /// LocalFile writing JSON lines under `path`.
    Local { path: String },
    /// Console; `print` prints every row (one line each) to the worker's stdout.
    Console { print: bool },
}

#[derive(Debug, Clone)]
pub struct Job {
    pub name: String,
    pub parallelism: u32,
    pub streaming: bool,
    pub checkpoint_interval_ms: u64,
    pub rows_per_second: Option<u64>,
    pub bytes_per_second: Option<u64>,
    pub source: Source,
    pub sink: Sink,
}

impl Job {
    pub fn new(name: &str, source: Source, sink: Sink) -> Self {
        Job {
            name: name.to_string(),
            parallelism: 2,
            streaming: true,
            checkpoint_interval_ms: 10_000,
            rows_per_second: None,
            bytes_per_second: None,
            source,
            sink,
        }
    }

    pub fn text(&self) -> String {
        let mut text = String::new();
        let _ = writeln!(text, "# weir-bench: {}", self.name);
        let _ = writeln!(text, "env {{");
        let _ = writeln!(text, "  job.name = \"{}\"", self.name);
        let _ = writeln!(text, "  parallelism = {}", self.parallelism);
        let _ = writeln!(
            text,
            "  job.mode = \"{}\"",
            if self.streaming { "STREAMING" } else { "BATCH" }
        );
        let _ = writeln!(
            text,
            "  checkpoint.interval = {}",
            self.checkpoint_interval_ms
        );
        if let Some(rows) = self.rows_per_second {
            let _ = writeln!(text, "  read_limit.rows_per_second = {rows}");
        }
        if let Some(bytes) = self.bytes_per_second {
            let _ = writeln!(text, "  read_limit.bytes_per_second = {bytes}");
        }
        let _ = writeln!(text, "}}\nsource {{");
        match &self.source {
            Source::Kafka {
                bootstrap,
                topic,
                extra,
            } => {
                let _ = writeln!(text, "  Kafka {{");
                let _ = writeln!(text, "    bootstrap.servers = \"{bootstrap}\"");
                let _ = writeln!(text, "    topic = \"{topic}\"");
                let _ = writeln!(
                    text,
                    "    consumer.group = \"{}\"",
                    weir_e2e::unique_name("weir-bench")
                );
                let _ = writeln!(text, "    start_mode = \"earliest\"");
                let _ = writeln!(text, "    format = \"json\"");
                // A `schema` line among the extra ones replaces the default (Shape::Padded).
                if !extra
                    .iter()
                    .any(|line| line.trim_start().starts_with("schema"))
                {
                    let _ = writeln!(text, "    {}", crate::kafka::Shape::Padded.schema());
                }
                for line in extra {
                    let _ = writeln!(text, "    {line}");
                }
                let _ = writeln!(text, "  }}");
            }
            Source::Fake {
                rows,
                string_length,
            } => {
                let _ = writeln!(text, "  FakeSource {{");
                let _ = writeln!(text, "    row.num = {rows}");
                let _ = writeln!(text, "    string.length = {string_length}");
                let _ = writeln!(
                    text,
                    "    schema = {{ fields {{ seq = \"bigint\", pad = \"string\" }} }}"
                );
                let _ = writeln!(text, "  }}");
            }
        }
        let _ = writeln!(text, "}}\nsink {{");
        match &self.sink {
            Sink::Hdfs { url, path } => {
                let _ = writeln!(text, "  HdfsFile {{");
                let _ = writeln!(text, "    fs.defaultFS = \"{url}\"");
                let _ = writeln!(text, "    path = \"{path}\"");
                let _ = writeln!(text, "    file_format_type = \"json\"");
                let _ = writeln!(text, "  }}");
            }
            Sink::HdfsParquet { url, path } => {
                let _ = writeln!(text, "  HdfsFile {{");
                let _ = writeln!(text, "    fs.defaultFS = \"{url}\"");
                let _ = writeln!(text, "    path = \"{path}\"");
                let _ = writeln!(text, "    file_format_type = \"parquet\"");
                let _ = writeln!(text, "    compress_codec = \"snappy\"");
                let _ = writeln!(text, "  }}");
            }
            Sink::Local { path } => {
                let _ = writeln!(text, "  LocalFile {{");
                let _ = writeln!(text, "    path = \"{path}\"");
                let _ = writeln!(text, "    file_format_type = \"json\"");
                let _ = writeln!(text, "  }}");
            }
            Sink::Console { print } => {
                let _ = writeln!(text, "  Console {{ log.print.data = {print} }}");
            }
        }
        let _ = writeln!(text, "}}");
        text
    }
}
