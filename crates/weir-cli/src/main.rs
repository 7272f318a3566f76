//! `weir`: the one binary of Weir — cluster processes (`master`, `worker`) and the client
//! commands that talk to a master over gRPC.

/// `println!` that returns the write error instead of panicking, so `weir jobs | head` ends
/// quietly when the reader goes away.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($arg)*)
    }};
}

mod allocator;
mod client;
mod demo;
#[cfg(test)]
mod docs;
mod job_file;
mod local;
mod output;
mod security;
mod servers;
mod signals;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

/// `weir --version`: the crate version and the commit it was built from (crates/weir-cli/build.rs;
/// `unknown` when built without git metadata, e.g. from a tarball).
const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("WEIR_COMMIT"),
    ")"
);

#[derive(Parser)]
#[command(
    name = "weir",
    version = VERSION,
    about = "Kafka → HDFS streaming in bounded memory, exactly once"
)]
struct Cli {
    /// Log line format (logs go to stderr; RUST_LOG filters them).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "WEIR_LOG_FORMAT")]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Run a master: schedules jobs onto workers (gRPC on 127.0.0.1:5800 by default).
    Master(servers::MasterArgs),
    /// Run a worker that registers with a master and runs the subtasks it is given.
    Worker(servers::WorkerArgs),
    /// Submit a job file; prints the job id.
    Submit(client::SubmitArgs),
    /// List jobs.
    Jobs(client::ClientArgs),
    /// Show one job: state, reason, placement and per-subtask metrics.
    Job(client::JobArgs),
    /// Cancel a job: its subtasks stop at once; files not yet committed are discarded.
    Cancel(client::JobArgs),
    /// Stop a job after a final checkpoint (committed files and Kafka offsets); resume it
    /// later with `weir submit JOB.conf --restore ID`.
    Stop(client::JobArgs),
    /// List workers with their live memory.
    Workers(client::ClientArgs),
    /// Parse and check a job file without a cluster.
    Validate {
        /// The job file (SeaTunnel-compatible HOCON).
        file: PathBuf,
        #[command(flatten)]
        variables: job_file::VariableArgs,
    },
    /// Run a job with a master and a worker in this process, until it ends or Ctrl-C or SIGTERM
    /// (which stop it with a final checkpoint).
    Local(local::LocalArgs),
    /// Kafka → files with no external service: an in-process Kafka with a backlog, read
    /// under a rate limit into JSON files under ./weir-demo/out, exactly once.
    Demo(demo::DemoArgs),
    /// Make a cluster CA and certificates for the master, workers and clients (mutual TLS;
    /// see docs/security.md).
    Cert(security::CertArgs),
    /// Make client tokens for the master's tokens file.
    Token(security::TokenArgs),
}

fn init_logging(format: LogFormat, default_level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

fn main() -> ExitCode {
    allocator::bound_allocator_slack();
    let cli = Cli::parse();
    let is_server = matches!(cli.command, Command::Master(_) | Command::Worker(_));
    let embeds_cluster = matches!(cli.command, Command::Local(_) | Command::Demo(_));
    let default_filter = if is_server {
        "info"
    } else if embeds_cluster {
        // The embedded worker goes away with the process; the master's "worker is DEAD"
        // warning at shutdown says nothing to the user.
        "warn,weir_master::cluster=error"
    } else {
        "warn"
    };
    init_logging(cli.log_format, default_filter);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Master(args) => servers::run_master(args).await,
            Command::Worker(args) => servers::run_worker(args).await,
            Command::Submit(args) => client::submit(args).await,
            Command::Jobs(args) => client::jobs(args).await,
            Command::Job(args) => client::job(args).await,
            Command::Cancel(args) => client::cancel(args).await,
            Command::Stop(args) => client::stop(args).await,
            Command::Workers(args) => client::workers(args).await,
            Command::Validate { file, variables } => client::validate(&file, &variables),
            Command::Local(args) => local::run(args).await,
            Command::Demo(args) => demo::run(args).await,
            Command::Cert(args) => security::cert(args),
            Command::Token(args) => security::token(args),
        }
    });
    // Blocking lookups (Kafka metadata, bounded by their own timeouts) must not hold the
    // process after its work is done.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(code) => code,
        Err(error) if is_broken_pipe(&error) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<std::io::Error>()
        .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
}
