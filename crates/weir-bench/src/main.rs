//! `weir-bench`: Weir's benchmarks against the local stack (`deploy/local/stack`), with real
//! `weir master` / `weir worker` processes.
//!
//! Each scenario prints progress on stderr and one JSON object (one line) on stdout, writes the
//! same object with its time series to `--out`/SCENARIO.json, and draws its PNG plots there.
//! Targets are printed beside the figures and never asserted: the exit code is non-zero only
//! when a scenario could not run.

mod cluster;
mod files;
mod flamegraph;
mod hdfs_write;
mod jobs;
mod kafka;
mod plot;
mod report;
mod scenarios;
mod scrape;
mod util;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand};
use serde_json::Value;

use crate::cluster::Weir;

#[derive(Parser)]
#[command(
    name = "weir-bench",
    about = "Benchmarks of Weir on the local Kafka + HDFS stack (deploy/local/stack up)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The SeaTunnel OOM case: a large backlog read at 1 row/s into HDFS; worker RSS over
    /// time at 1× and 4× the backlog.
    OomCase(Common),
    /// Kafka → HdfsFile against the real ceiling (the slower of raw librdkafka consumption
    /// and a raw hdfs-native write of the same bytes) at parallelism 1, 2 and 4, for 1 KiB
    /// and ~500 B six-field records; at `--parallelism` also unscraped (the scrape cost),
    /// Kafka → LocalFile and FakeSource → HdfsFile. `--flamegraph OUT.svg` profiles the worker.
    Throughput(Common),
    /// Achieved vs configured read limits: 10, 1 000 and 50 000 rows/s and a bytes/s limit.
    Rate(Common),
    /// kill -9 of the worker at steady state: detection, running again, caught up, and
    /// exactly-once output.
    Recovery(Common),
    /// Peak worker RSS with 100 B, 10 KiB and 1 MiB records behind a stalled sink.
    MessageSize(Common),
    /// Memory against the partition count (4, 128, 1 000): the OOM case at 1 row/s and a
    /// stalled sink, with idle and peak RSS and the reservation; a plot of peak RSS against
    /// partitions (`partitions-rss.svg`). Not part of `all`.
    Partitions(Common),
    /// Every scenario, in the order throughput, oom-case (on the same topic), rate,
    /// recovery, message-size.
    All(Common),
    /// Produces a backlog to a scratch topic and deletes it: how fast this machine's Kafka
    /// takes uncompressed records (to size the scenarios).
    #[command(hide = true)]
    Produce {
        #[command(flatten)]
        common: Common,
        /// MiB to produce.
        #[arg(long, default_value_t = 1024)]
        mib: u64,
        /// Record size in bytes.
        #[arg(long, default_value_t = 1024)]
        size: usize,
    },
    /// Writes the markdown tables (and plots) again from the JSON files of an earlier run.
    Report {
        /// Directory holding the SCENARIO.json files.
        #[arg(long, default_value = "target/bench")]
        out: PathBuf,
        /// Markdown file to write (stdout when absent).
        #[arg(long)]
        markdown: Option<PathBuf>,
    },
}

/// Options shared by every scenario.
#[derive(Args, Clone, Debug)]
pub struct Common {
    /// Multiplies backlog sizes and durations (1.0 = the documented benchmark, under 30 min
    /// for `all` on 2 cores; 0.02 for a quick check).
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Directory for the JSON figures and the PNG plots.
    #[arg(long, default_value = "target/bench")]
    pub out: PathBuf,
    /// Also write the markdown tables of the scenarios run to this file.
    #[arg(long)]
    pub markdown: Option<PathBuf>,
    /// The weir binary [default: `weir` next to weir-bench].
    #[arg(long, env = "WEIR_BENCH_WEIR")]
    pub weir: Option<PathBuf>,
    /// Kafka bootstrap servers of the stack.
    #[arg(long, env = "WEIR_TEST_KAFKA", default_value = "127.0.0.1:9092")]
    pub kafka: String,
    /// HDFS URL of the stack.
    #[arg(long, env = "WEIR_TEST_HDFS", default_value = "hdfs://127.0.0.1:9000")]
    pub hdfs: String,
    /// Partitions of every benchmark topic.
    #[arg(long, default_value_t = 4)]
    pub partitions: i32,
    /// `env.parallelism` of the benchmark jobs.
    #[arg(long, default_value_t = 2)]
    pub parallelism: u32,
    /// `--memory-limit` of the workers.
    #[arg(long, default_value = "2GiB")]
    pub worker_memory: String,
    /// oom-case: the first backlog in GiB at scale 1 (1 KiB records).
    #[arg(long, default_value_t = 2.0)]
    pub oom_backlog_gib: f64,
    /// oom-case: the second backlog is this many times the first.
    #[arg(long, default_value_t = 4)]
    pub oom_multiplier: u64,
    /// oom-case: minutes of RSS sampling per backlog at scale 1.
    #[arg(long, default_value_t = 5.0)]
    pub oom_minutes: f64,
    /// throughput: GiB of 1 KiB records at scale 1 (under `all`, oom-case then tops the same
    /// topic up to its own backlog instead of producing a new one).
    #[arg(long, default_value_t = 1.0)]
    pub throughput_gib: f64,
    /// rate: seconds of each measured window at scale 1.
    #[arg(long, default_value_t = 30.0)]
    pub rate_window_secs: f64,
    /// rate: the bytes/s limit measured beside the rows/s ones.
    #[arg(long, default_value_t = 4 << 20)]
    pub rate_bytes_per_second: u64,
    /// recovery: rows/s produced while the job runs (its steady state).
    #[arg(long, default_value_t = 5000)]
    pub recovery_rows_per_second: u64,
    /// Keep the work directory (master data, job files, logs) even when everything worked.
    #[arg(long)]
    pub keep: bool,
    /// Run the clusters with mutual TLS between master and workers and a client token
    /// (docs/security.md), to measure what the secured control plane costs.
    #[arg(long)]
    pub tls: bool,
    /// throughput: record the worker with `perf` during Kafka → HdfsFile and write a flame
    /// graph of it to this SVG (folded stacks beside it, `.folded`); that pipeline's own
    /// figures then include perf's overhead.
    #[arg(long, value_name = "OUT.svg")]
    pub flamegraph: Option<PathBuf>,
}

/// What a scenario measured.
pub struct Report {
    pub name: &'static str,
    /// The figures, printed as one JSON line.
    pub summary: Value,
    /// Time series for plots (only in the file).
    pub series: Value,
}

impl Report {
    fn file_value(&self) -> Value {
        let mut value = self.summary.clone();
        value["series"] = self.series.clone();
        value
    }
}

/// Everything a scenario needs.
pub struct Ctx {
    pub common: Common,
    pub weir: Weir,
    /// Scratch directory of this run (master data, job files, logs, LocalFile output).
    pub work: PathBuf,
}

impl Ctx {
    pub fn scale(&self) -> f64 {
        self.common.scale
    }

    /// A fresh directory under the work directory.
    pub fn dir(&self, name: &str) -> anyhow::Result<PathBuf> {
        let dir = self.work.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(dir)
    }

    /// An HDFS directory for one job's output (`path`; the sink's `.weir-tmp` lands beside it,
    /// inside the same per-run directory).
    pub fn hdfs_dir(&self, name: &str) -> String {
        format!("/weir-bench/{}/{name}", weir_e2e::unique_name("run"))
    }
}

fn main() -> ExitCode {
    util::init_clock();
    let cli = Cli::parse();
    match cli.command {
        Command::Report { out, markdown } => match report::from_files(&out, markdown.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("error: {error:#}");
                ExitCode::FAILURE
            }
        },
        Command::Produce { common, mib, size } => {
            let result = kafka::Topic::create(&common.kafka, "produce", common.partitions)
                .and_then(|mut topic| {
                    topic.produce("produce", mib * util::MIB / size as u64, size)
                });
            match result {
                Ok(produced) => {
                    println!(
                        "{}",
                        serde_json::json!({
                            "records": produced.records,
                            "bytes": produced.bytes,
                            "seconds": util::round(produced.seconds, 2),
                            "mib_per_second": util::round(produced.mib_per_second(), 1),
                        })
                    );
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    eprintln!("error: {error:#}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::OomCase(common) => run(common, &["oom-case"]),
        Command::Throughput(common) => run(common, &["throughput"]),
        Command::Rate(common) => run(common, &["rate"]),
        Command::Recovery(common) => run(common, &["recovery"]),
        Command::MessageSize(common) => run(common, &["message-size"]),
        Command::Partitions(common) => run(common, &["partitions"]),
        Command::All(common) => run(
            common,
            &["throughput", "oom-case", "rate", "recovery", "message-size"],
        ),
    }
}

fn run(common: Common, names: &[&str]) -> ExitCode {
    let weir = match Weir::locate(common.weir.as_deref()) {
        Ok(weir) => weir,
        Err(error) => {
            eprintln!("error: {error:#}");
            return ExitCode::FAILURE;
        }
    };
    let work = std::env::temp_dir().join(format!("weir-bench-{}", std::process::id()));
    if let Err(error) = std::fs::create_dir_all(&common.out).and(std::fs::create_dir_all(&work)) {
        eprintln!(
            "error: cannot create {} / {}: {error}",
            common.out.display(),
            work.display()
        );
        return ExitCode::FAILURE;
    }
    let ctx = Ctx {
        common: common.clone(),
        weir,
        work,
    };
    util::progress(
        "bench",
        format!(
            "scale {}, weir {}, Kafka {}, HDFS {}, out {}, work {}",
            common.scale,
            ctx.weir.bin.display(),
            common.kafka,
            common.hdfs,
            common.out.display(),
            ctx.work.display()
        ),
    );
    let mut reports: Vec<Value> = Vec::new();
    let mut failed = 0;
    let mut shared = scenarios::Shared::default();
    for name in names {
        util::progress(name, "starting");
        let started = std::time::Instant::now();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            scenarios::run(name, &ctx, &mut shared)
        }))
        .unwrap_or_else(|panic| Err(anyhow::anyhow!("panicked: {}", kafka::panic_text(&panic))));
        let seconds = started.elapsed().as_secs_f64();
        let value = match result {
            Ok(mut report) => {
                report.summary["wall_seconds"] = util::round(seconds, 1).into();
                if let Err(error) = plot::draw(&report, &common.out) {
                    util::progress(name, format!("cannot draw its plots: {error:#}"));
                }
                let path = common.out.join(format!("{name}.json"));
                if let Err(error) = std::fs::write(
                    &path,
                    serde_json::to_string_pretty(&report.file_value()).unwrap_or_default(),
                ) {
                    util::progress(name, format!("cannot write {}: {error}", path.display()));
                }
                for line in report::target_lines(&report.summary) {
                    util::progress(name, line);
                }
                report.summary
            }
            Err(error) => {
                failed += 1;
                util::progress(name, format!("FAILED: {error:#}"));
                serde_json::json!({
                    "scenario": name,
                    "error": format!("{error:#}"),
                    "wall_seconds": util::round(seconds, 1),
                })
            }
        };
        println!("{}", serde_json::to_string(&value).unwrap_or_default());
        util::progress(name, format!("done in {seconds:.0} s"));
        reports.push(value);
    }
    drop(shared);
    if let Some(markdown) = &common.markdown {
        match report::write_markdown(&reports, &common, markdown) {
            Ok(()) => util::progress(
                "bench",
                format!("markdown tables in {}", markdown.display()),
            ),
            Err(error) => {
                failed += 1;
                util::progress(
                    "bench",
                    format!("cannot write {}: {error:#}", markdown.display()),
                );
            }
        }
    }
    finish_work_dir(&ctx.work, common.keep || failed > 0);
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn finish_work_dir(work: &Path, keep: bool) {
    if keep {
        util::progress(
            "bench",
            format!(
                "work directory (logs, job files) kept in {}",
                work.display()
            ),
        );
    } else {
        let _ = std::fs::remove_dir_all(work);
    }
}
