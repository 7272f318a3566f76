//! The job: a Kafka → HdfsFile job file of a scenario.

use std::path::PathBuf;

use crate::cluster::{Master, write_file};

use super::scenario::Scenario;
use super::support::{Codec, Format};
use super::{CHECKPOINT_INTERVAL_MS, PARALLELISM};

/// A Kafka → HdfsFile job of a scenario.
pub struct JobFile {
    format: Format,
    pub codec: Codec,
    /// Job-wide `read_limit.rows_per_second`.
    rows_per_second: u64,
    /// `tmp_path`; `None` keeps the sink's default (a hidden sibling of `path`).
    pub tmp_path: Option<String>,
    /// Further `env {}` lines.
    pub env: Vec<String>,
}

impl JobFile {
    pub fn new(format: Format, rows_per_second: u64) -> Self {
        JobFile {
            format,
            codec: Codec::None,
            rows_per_second,
            tmp_path: None,
            env: Vec::new(),
        }
    }

    /// The job file's text for `scenario`.
    pub fn text(&self, scenario: &Scenario) -> String {
        let indent = |lines: &[String], by: &str| {
            lines
                .iter()
                .map(|line| format!("{by}{line}\n"))
                .collect::<String>()
        };
        let tmp_path = self
            .tmp_path
            .as_ref()
            .map(|tmp| format!("    tmp_path = \"{tmp}\"\n"))
            .unwrap_or_default();
        format!(
            r#"env {{
  parallelism = {PARALLELISM}
  job.mode = "STREAMING"
  checkpoint.interval = {CHECKPOINT_INTERVAL_MS}
  read_limit.rows_per_second = {rate}
  job.retry.times = 10
  job.retry.interval.seconds = 2
{env}}}
source {{
  Kafka {{
    bootstrap.servers = "{bootstrap}"
    topic = "{topic}"
    consumer.group = "{group}"
    start_mode = "earliest"
{source}  }}
}}
sink {{
  HdfsFile {{
    fs.defaultFS = "{hdfs}"
    path = "{path}"
{tmp_path}    file_format_type = "{format}"
    compress_codec = "{codec}"
  }}
}}
"#,
            rate = self.rows_per_second,
            env = indent(&self.env, "  "),
            bootstrap = scenario.bootstrap,
            topic = scenario.topic.name(),
            group = crate::unique_name("weir-eo-group"),
            source = indent(&self.format.source_lines(), "    "),
            hdfs = scenario.hdfs,
            path = scenario.path(),
            format = self.format.option(),
            codec = self.codec.option(),
        )
    }

    /// Writes the job file into the master's directory (printing it) and returns its path.
    pub fn write(&self, scenario: &Scenario, master: &Master) -> PathBuf {
        let text = self.text(scenario);
        scenario.say(format!("job file:\n{text}"));
        write_file(master.dir(), &format!("{}.conf", scenario.name), &text)
    }

    /// Writes and submits the job; returns its id.
    pub fn submit(&self, scenario: &Scenario, master: &Master) -> String {
        let path = self.write(scenario, master);
        let job_id = master.submit(&path);
        scenario.say(format!("submitted job {job_id}"));
        job_id
    }
}
