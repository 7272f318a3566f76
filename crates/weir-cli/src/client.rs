//! Client commands: thin callers of the master's `JobService`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use serde_json::json;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use weir_core::reservation::format_bytes;
use weir_proto::v1 as pb;
use weir_proto::v1::job_service_client::JobServiceClient;

use crate::job_file::{VariableArgs, load_job_file};
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
