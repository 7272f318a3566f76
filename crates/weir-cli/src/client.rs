//! Client commands: thin callers of the master's `JobService`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde_json::json;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use weir_core::config::{ClientHost, JobFile, limits};
use weir_core::reservation::format_bytes;
use weir_proto::v1 as pb;
use weir_proto::v1::job_service_client::JobServiceClient;

use crate::output::{self, OutputFormat, job_state, print_json, print_table, task_state};
use crate::security::{BearerToken, ClientAccessArgs};

/// A client of the master's JobService that sends the caller's token with every call.
type Client = JobServiceClient<InterceptedService<Channel, BearerToken>>;

#[derive(Args)]
pub struct ClientArgs {
    /// URL of the master.
    #[arg(long, env = "WEIR_MASTER", default_value = "http://127.0.0.1:5800")]
    master: String,
    /// Output format.
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
    #[command(flatten)]
    access: ClientAccessArgs,
}

#[derive(Args)]
pub struct JobArgs {
    /// The job id, as `weir submit` printed it.
    job_id: String,
    #[command(flatten)]
    client: ClientArgs,
}

/// SeaTunnel's job variables (`seatunnel.sh -i key=value`).
#[derive(Args, Default, Clone)]
pub struct VariableArgs {
    /// A job variable, `key=value` (repeatable): a `${key}` the job file does not define is
    /// `value`, before the environment is looked at, as SeaTunnel's `-i key=value`.
    #[arg(short = 'i', long = "variable", value_name = "KEY=VALUE", value_parser = parse_variable)]
    variables: Vec<(String, String)>,
}

/// `key=value`, split at the first `=`; the key may not be empty.
fn parse_variable(text: &str) -> Result<(String, String), String> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(format!("'{text}' is not key=value"));
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("'{text}' has no key before '='"));
    }
    if weir_core::config::TABLE_PLACEHOLDERS.contains(&key) {
        return Err(format!(
            "'{key}' is the name of a table placeholder that the sink fills from the source's \
             table (as in SeaTunnel, a job variable may not take it)"
        ));
    }
    Ok((key.to_string(), value.to_string()))
}

#[derive(Args)]
pub struct SubmitArgs {
    /// The job file (SeaTunnel-compatible HOCON).
    file: PathBuf,
    #[command(flatten)]
    variables: VariableArgs,
    /// A name for the job [default: the file name].
    #[arg(long)]
    name: Option<String>,
    /// Follow the job until it runs (exit 0) or fails (exit 1).
    #[arg(long)]
    wait: bool,
    /// Resume from the last completed checkpoint of this job (one that was stopped with
    /// `weir stop`, or that failed or finished; not a cancelled one, whose uncommitted files
    /// were discarded): its Kafka offsets, its files.
    #[arg(long, value_name = "JOB_ID")]
    restore: Option<String>,
    #[command(flatten)]
    client: ClientArgs,
}

/// Connects to the master: over TLS for an https:// URL (verified with --tls-ca), plain for
/// http://; the token (WEIR_TOKEN or --token-file) goes with every call.
async fn connect(args: &ClientArgs) -> anyhow::Result<Client> {
    let master = args.master.as_str();
    let token = args.access.token()?;
    let mut endpoint = tonic::transport::Endpoint::from_shared(master.to_string())
        .with_context(|| format!("invalid master address '{master}'"))?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30));
    if let Some(tls) = args.access.tls_for(master)? {
        endpoint = endpoint
            .tls_config(tls)
            .with_context(|| format!("TLS settings for {master}"))?;
    }
    let channel = endpoint.connect().await.with_context(|| {
        format!("cannot reach the master at {master} (is `weir master` running? set --master or WEIR_MASTER)")
    })?;
    Ok(JobServiceClient::with_interceptor(channel, token))
}

fn rpc_error(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{}", status.message())
}

/// A job file read from disk and parsed as the client parses it: `${VAR}` from this process's
/// environment, `include` relative to the file. The one place the CLI reads job files
/// (`weir validate`, `weir submit`, `weir local`).
pub fn load_job_file(file: &Path, variables: &VariableArgs) -> anyhow::Result<JobFile> {
    let text = read_text_file(file, limits::MAX_TEXT_BYTES)
        .with_context(|| format!("cannot read job file {}", file.display()))?;
    let origin = file.display().to_string();
    let host = ClientFiles {
        variables: &variables.variables,
    };
    let job = weir_core::config::parse_job_file(&text, &origin, file, &host)?;
    // What the worker's librdkafka would refuse is refused here, with the master's message.
    if let weir_core::config::SourceConfig::Kafka(kafka) = &job.config.source {
        weir_connectors::kafka::check_client_properties_of_job(kafka, &text, &origin)
            .map_err(|message| anyhow::anyhow!("{message}"))?;
    }
    if job.resolved {
        eprintln!(
            "{origin} uses environment variables or included files: they are resolved on this \
             machine, and a submission sends the master the resolved document"
        );
    }
    Ok(job)
}

/// The client's job variables, environment and files, as the job parser reads them.
struct ClientFiles<'a> {
    /// `-i key=value`, in command-line order (the last of a key wins).
    variables: &'a [(String, String)],
}

impl ClientHost for ClientFiles<'_> {
    fn env_var(&self, name: &str) -> Option<String> {
        self.job_variable(name).or_else(|| std::env::var(name).ok())
    }

    fn job_variable(&self, name: &str) -> Option<String> {
        self.variables
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    }

    fn read_file(&self, path: &Path, max_bytes: u64) -> Result<Option<String>, String> {
        match read_text_file(path, max_bytes) {
            Ok(text) => Ok(Some(text)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error.to_string()),
        }
    }
}

/// The text of the regular file `path`, refused before it is read when it is something else
/// (`/dev/zero`, a FIFO, a directory) or larger than `max_bytes`, and read through a bound
/// anyway (it may grow meanwhile).
fn read_text_file(path: &Path, max_bytes: u64) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind, Read};

    // Checked before opening: opening a FIFO blocks until someone writes to it.
    check_regular(&std::fs::metadata(path)?, max_bytes)?;
    let file = std::fs::File::open(path)?;
    check_regular(&file.metadata()?, max_bytes)?;
    let mut bytes = Vec::new();
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!(
                "it grew past {} while being read (the limit)",
                format_bytes(max_bytes)
            ),
        ));
    }
    String::from_utf8(bytes).map_err(|error| {
        Error::new(
            ErrorKind::InvalidData,
            format!(
                "it is not UTF-8 text (invalid byte at offset {})",
                error.utf8_error().valid_up_to()
            ),
        )
    })
}

fn check_regular(metadata: &std::fs::Metadata, max_bytes: u64) -> std::io::Result<()> {
    use std::io::{Error, ErrorKind};
    use std::os::unix::fs::FileTypeExt;

    let kind = metadata.file_type();
    let what = if kind.is_file() {
        None
    } else if kind.is_dir() {
        Some("a directory")
    } else if kind.is_char_device() || kind.is_block_device() {
        Some("a device")
    } else if kind.is_fifo() {
        Some("a FIFO")
    } else if kind.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    };
    if let Some(what) = what {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("it is {what}; a job file must be a regular file"),
        ));
    }
    if metadata.len() > max_bytes {
        return Err(Error::new(
            ErrorKind::FileTooLarge,
            format!(
                "it is {} bytes, more than the limit of {}",
                metadata.len(),
                format_bytes(max_bytes)
            ),
        ));
    }
    Ok(())
}

/// Options of the job file that are accepted but not applied, one `warning:` line each.
fn print_warnings(config: &weir_core::config::JobConfig) {
    for warning in &config.warnings {
        eprintln!("warning: {warning}");
    }
}

pub fn validate(file: &Path, variables: &VariableArgs) -> anyhow::Result<ExitCode> {
    let origin = file.display().to_string();
    let config = load_job_file(file, variables)?.config;
    print_warnings(&config);
    // A Kafka subtask's partitions share one budget (`buffer.max_bytes`): the reservation is
    // the same for one partition as for a few hundred.
    let reservation = weir_core::reservation::SubtaskReservation::of(&config, 1);
    let per_split =
        weir_core::reservation::subtask_reservation(&config, 2).saturating_sub(reservation.total());
    let per_partition = if per_split > 0 {
        format!(" + {} per partition it reads", format_bytes(per_split))
    } else {
        String::new()
    };
    out!(
        "{origin}: OK — {} → {}, parallelism {}, each subtask reserves {reservation}{per_partition}",
        config.source.plugin_name(),
        config.sink.plugin_name(),
        config.env.parallelism,
    )?;
    Ok(ExitCode::SUCCESS)
}

pub async fn submit(args: SubmitArgs) -> anyhow::Result<ExitCode> {
    // Parsed here first: the master parses it again (without this machine's environment and
    // files), but a local error is quicker and works without a cluster.
    let job = load_job_file(&args.file, &args.variables)?;
    print_warnings(&job.config);
    let origin = args.file.display().to_string();
    let mut client = connect(&args.client).await?;
    let response = client
        .submit_job(pb::SubmitJobRequest {
            config: job.text,
            origin,
            name: args.name.unwrap_or_default(),
            restore_from_job_id: args.restore.unwrap_or_default(),
        })
        .await
        .map_err(rpc_error)?
        .into_inner();
    match args.client.output {
        OutputFormat::Json => print_json(&json!({
            "job_id": response.job_id,
            "state": job_state(response.state),
            "state_reason": response.state_reason,
        }))?,
        OutputFormat::Table => {
            out!("{}", response.job_id)?;
            eprintln!("{}: {}", job_state(response.state), response.state_reason);
        }
    }
    if !args.wait {
        return Ok(ExitCode::SUCCESS);
    }
    follow_until_running(&mut client, &response.job_id).await
}

async fn follow_until_running(client: &mut Client, job_id: &str) -> anyhow::Result<ExitCode> {
    let mut last = String::new();
    loop {
        let detail = client
            .get_job(pb::GetJobRequest {
                job_id: job_id.to_string(),
            })
            .await
            .map_err(rpc_error)?
            .into_inner();
        let summary = detail.summary.unwrap_or_default();
        let state = pb::JobState::try_from(summary.state).unwrap_or(pb::JobState::Unspecified);
        let line = format!("{}: {}", job_state(summary.state), summary.state_reason);
        if line != last {
            eprintln!("{line}");
            last = line;
        }
        match state {
            pb::JobState::Running | pb::JobState::Finished => return Ok(ExitCode::SUCCESS),
            pb::JobState::Failed
            | pb::JobState::Cancelled
            | pb::JobState::Stopped
            | pb::JobState::Stopping => return Ok(ExitCode::FAILURE),
            _ => tokio::time::sleep(FOLLOW_POLL).await,
        }
    }
}

pub async fn jobs(args: ClientArgs) -> anyhow::Result<ExitCode> {
    let mut client = connect(&args).await?;
    let jobs = client
        .list_jobs(pb::ListJobsRequest {})
        .await
        .map_err(rpc_error)?
        .into_inner()
        .jobs;
    match args.output {
        OutputFormat::Json => print_json(&json!({
            "jobs": jobs.iter().map(output::summary_json).collect::<Vec<_>>()
        }))?,
        OutputFormat::Table => {
            let rows: Vec<Vec<String>> = jobs
                .iter()
                .map(|job| {
                    vec![
                        job.job_id.clone(),
                        job.name.clone(),
                        job_state(job.state).to_string(),
                        job.parallelism.to_string(),
                        format_bytes(job.subtask_reservation_bytes),
                        job.rows_read.to_string(),
                        job.rows_written.to_string(),
                        job.state_reason.clone(),
                    ]
                })
                .collect();
            print_table(
                &[
                    "JOB",
                    "NAME",
                    "STATE",
                    "PARALLELISM",
                    "RESERVED/SUBTASK",
                    "ROWS READ",
                    "ROWS WRITTEN",
                    "REASON",
                ],
                &rows,
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn job(args: JobArgs) -> anyhow::Result<ExitCode> {
    let mut client = connect(&args.client).await?;
    let detail = client
        .get_job(pb::GetJobRequest {
            job_id: args.job_id.clone(),
        })
        .await
        .map_err(rpc_error)?
        .into_inner();
    if args.client.output == OutputFormat::Json {
        print_json(&output::detail_json(&detail))?;
        return Ok(ExitCode::SUCCESS);
    }
    let checkpoints = detail.checkpoints.clone().unwrap_or_default();
    let summary = detail.summary.unwrap_or_default();
    out!("job:          {} ({})", summary.job_id, summary.name)?;
    out!("state:        {}", job_state(summary.state))?;
    out!("reason:       {}", summary.state_reason)?;
    out!("parallelism:  {}", summary.parallelism)?;
    out!(
        "reservation:  {} per subtask",
        format_bytes(summary.subtask_reservation_bytes)
    )?;
    out!(
        "rows:         {} read, {} written",
        summary.rows_read,
        summary.rows_written
    )?;
    out!(
        "rate:         {:.0} rows/s, {}/s",
        summary.rows_per_second,
        format_bytes(summary.bytes_per_second as u64)
    )?;
    let lag = if summary.consumer_lag < 0 {
        "unknown".to_string()
    } else {
        summary.consumer_lag.to_string()
    };
    out!(
        "queues:       {} rows, {}; lag {lag}; {} records skipped",
        summary.queue_rows,
        format_bytes(summary.queue_bytes),
        summary.records_skipped
    )?;
    out!(
        "sink buffers: {}",
        output::bytes_of(summary.sink_buffer_bytes, summary.sink_buffer_max_bytes)
    )?;
    out!("checkpoints:  {}", output::checkpoints_line(&checkpoints))?;
    out!()?;
    let rows: Vec<Vec<String>> = detail
        .tasks
        .iter()
        .map(|task| {
            let metrics = task.metrics.clone().unwrap_or_default();
            let reason = if metrics.last_error.is_empty() {
                task.state_reason.clone()
            } else {
                format!("retrying: {}", metrics.last_error)
            };
            vec![
                task.task_id.clone(),
                task.worker_id.clone(),
                task_state(task.state).to_string(),
                metrics.splits.len().to_string(),
                metrics.rows_read.to_string(),
                metrics.rows_written.to_string(),
                format!("{:.0}", metrics.rows_per_second),
                if metrics.consumer_lag < 0 {
                    "-".to_string()
                } else {
                    metrics.consumer_lag.to_string()
                },
                metrics.records_skipped.to_string(),
                output::bytes_of(metrics.queue_bytes, metrics.queue_max_bytes),
                output::bytes_of(metrics.sink_buffer_bytes, metrics.sink_buffer_max_bytes),
                format_bytes(task.reserved_bytes),
                reason,
            ]
        })
        .collect();
    print_table(
        &[
            "TASK",
            "WORKER",
            "STATE",
            "SPLITS",
            "ROWS READ",
            "ROWS WRITTEN",
            "ROWS/S",
            "LAG",
            "SKIPPED",
            "QUEUE",
            "SINK BUFFER",
            "RESERVED",
            "REASON",
        ],
        &rows,
    )?;
    let splits = output::split_rows(&detail.tasks);
    if !splits.is_empty() {
        out!()?;
        print_table(&output::SPLIT_HEADER, &splits)?;
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn cancel(args: JobArgs) -> anyhow::Result<ExitCode> {
    let mut client = connect(&args.client).await?;
    let response = client
        .cancel_job(pb::CancelJobRequest {
            job_id: args.job_id.clone(),
        })
        .await
        .map_err(rpc_error)?
        .into_inner();
    match args.client.output {
        OutputFormat::Json => print_json(&json!({
            "job_id": args.job_id,
            "state": job_state(response.state),
        }))?,
        OutputFormat::Table => out!("{}: {}", args.job_id, job_state(response.state))?,
    }
    Ok(ExitCode::SUCCESS)
}

/// How often a client that follows a job asks the master for its state.
const FOLLOW_POLL: Duration = Duration::from_millis(250);

/// How long `weir stop` waits for the final checkpoint before giving up on the wait (the
/// stop itself goes on).
const STOP_WAIT: Duration = Duration::from_secs(300);

pub async fn stop(args: JobArgs) -> anyhow::Result<ExitCode> {
    let mut client = connect(&args.client).await?;
    client
        .stop_job(pb::StopJobRequest {
            job_id: args.job_id.clone(),
        })
        .await
        .map_err(rpc_error)?;
    let deadline = tokio::time::Instant::now() + STOP_WAIT;
    let detail = loop {
        let detail = client
            .get_job(pb::GetJobRequest {
                job_id: args.job_id.clone(),
            })
            .await
            .map_err(rpc_error)?
            .into_inner();
        let state = detail.summary.as_ref().map_or(0, |summary| summary.state);
        let stopping = state == pb::JobState::Stopping as i32;
        if !stopping || tokio::time::Instant::now() >= deadline {
            break detail;
        }
        tokio::time::sleep(FOLLOW_POLL).await;
    };
    let summary = detail.summary.unwrap_or_default();
    let checkpoint = detail
        .checkpoints
        .as_ref()
        .map_or(0, |checkpoints| checkpoints.last_completed_id);
    let stopped = summary.state == pb::JobState::Stopped as i32;
    match args.client.output {
        OutputFormat::Json => print_json(&json!({
            "job_id": args.job_id,
            "state": job_state(summary.state),
            "state_reason": summary.state_reason,
            "checkpoint_id": checkpoint,
        }))?,
        OutputFormat::Table => {
            out!("{}: {}", args.job_id, job_state(summary.state))?;
            if stopped {
                eprintln!(
                    "final checkpoint {checkpoint} committed; resume with `weir submit JOB.conf --restore {}`",
                    args.job_id
                );
            } else {
                eprintln!("{}", summary.state_reason);
            }
        }
    }
    Ok(if stopped {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub async fn workers(args: ClientArgs) -> anyhow::Result<ExitCode> {
    let mut client = connect(&args).await?;
    let workers = client
        .list_workers(pb::ListWorkersRequest {})
        .await
        .map_err(rpc_error)?
        .into_inner()
        .workers;
    match args.output {
        OutputFormat::Json => print_json(&json!({
            "workers": workers.iter().map(output::worker_json).collect::<Vec<_>>()
        }))?,
        OutputFormat::Table => {
            let rows: Vec<Vec<String>> = workers.iter().map(output::worker_row).collect();
            print_table(
                &[
                    "WORKER",
                    "ADDRESS",
                    "STATE",
                    "RSS",
                    "LIMIT",
                    "RESERVED",
                    "PRESSURE",
                    "TASKS",
                    "LAST HEARTBEAT",
                ],
                &rows,
            )?;
        }
    }
    if workers.is_empty() && args.output == OutputFormat::Table {
        eprintln!("no worker has registered with this master yet");
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use std::io::ErrorKind;

    use super::*;

    #[test]
    fn job_files_are_refused_before_reading_when_not_regular_or_too_large() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("job.conf");
        std::fs::write(&file, "x".repeat(101)).unwrap();
        let error = read_text_file(&file, 100).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::FileTooLarge);
        assert_eq!(
            error.to_string(),
            format!(
                "it is 101 bytes, more than the limit of {}",
                format_bytes(100)
            )
        );
        assert_eq!(read_text_file(&file, 101).unwrap().len(), 101);

        let error = read_text_file(dir.path(), 100).unwrap_err();
        assert!(error.to_string().contains("it is a directory"), "{error}");
        let error = read_text_file(Path::new("/dev/zero"), 100).unwrap_err();
        assert!(error.to_string().contains("it is a device"), "{error}");
        let error = read_text_file(&dir.path().join("missing.conf"), 100).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::NotFound);

        std::fs::write(&file, [b'a', 0xff, b'b']).unwrap();
        let error = read_text_file(&file, 100).unwrap_err();
        assert!(error.to_string().contains("not UTF-8 text"), "{error}");
    }

    #[test]
    fn job_files_resolve_their_includes_and_environment_on_this_machine() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("sink.conf"),
            "sink { Console { log.print_data = false } }\n",
        )
        .unwrap();
        let job = dir.path().join("job.conf");
        std::fs::write(
            &job,
            "include \"sink.conf\"\n\
             source { FakeSource { schema = { fields { id = bigint } } } }\n",
        )
        .unwrap();
        let file = load_job_file(&job, &VariableArgs::default()).unwrap();
        assert!(file.resolved);
        assert_eq!(file.config.sink.plugin_name(), "Console");
        assert!(file.text.contains("\"Console\""), "{}", file.text);

        std::fs::write(&job, "include \"gone.conf\"\n").unwrap();
        let error = load_job_file(&job, &VariableArgs::default())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("gone.conf") && error.contains("not found"),
            "{error}"
        );
    }

    #[test]
    fn job_variables_fill_substitutions_and_malformed_pairs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let job = dir.path().join("job.conf");
        std::fs::write(
            &job,
            "source { FakeSource { row.num = ${rowNum}, schema = { fields { id = bigint } } } }
             sink { Console {} }
",
        )
        .unwrap();
        let variables = VariableArgs {
            variables: vec![
                parse_variable("rowNum=5").unwrap(),
                parse_variable("rowNum=10").unwrap(),
            ],
        };
        let file = load_job_file(&job, &variables).unwrap();
        let weir_core::config::SourceConfig::FakeSource(source) = &file.config.source else {
            panic!("FakeSource expected");
        };
        assert_eq!(source.row_num, Some(10), "the last of a key wins");
        // The master gets the resolved document: it has no variables.
        assert!(file.resolved);
        let error = load_job_file(&job, &VariableArgs::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains("${rowNum}"), "{error}");
        assert_eq!(
            parse_variable("a=b=c").unwrap(),
            ("a".to_string(), "b=c".to_string())
        );
        assert_eq!(
            parse_variable("novalue").unwrap_err(),
            "'novalue' is not key=value"
        );
        assert!(parse_variable("=x").unwrap_err().contains("no key"));
    }
}
