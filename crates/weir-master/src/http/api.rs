//! `/api/v1/`: read-only JSON views of the cluster for the console and for scripts; each is
//! what the matching `JobService` call answers (see docs/observability.md).

use std::sync::Arc;
use std::time::Instant;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use super::views::{ClusterView, JobDetail, JobSummary, Worker, WorkerDetail, WorkerTask};
use crate::cluster::parse_task_id;
use crate::service::Master;

pub(super) fn routes(master: Arc<Master>) -> Router {
    Router::new()
        .route("/api/v1/cluster", get(cluster))
        .route("/api/v1/jobs", get(jobs))
        .route("/api/v1/jobs/{job_id}", get(job))
        .route("/api/v1/workers", get(workers))
        .route("/api/v1/workers/{worker_id}", get(worker))
        .route("/api/v1/{*rest}", get(not_found))
        .with_state(master)
}

#[derive(Serialize)]
struct ApiError {
    error: String,
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(ApiError { error: message })).into_response()
}

async fn not_found(uri: axum::http::Uri) -> Response {
    error(
        StatusCode::NOT_FOUND,
        format!("no such endpoint: {}", uri.path()),
    )
}

async fn cluster(State(master): State<Arc<Master>>) -> Json<ClusterView> {
    let (workers, jobs) = {
        let cluster = master.cluster();
        (
            cluster.worker_summaries(Instant::now()),
            cluster.job_summaries(),
        )
    };
    Json(ClusterView {
        now_ms: crate::cluster::now_ms(),
        workers: workers.iter().map(Worker::from).collect(),
        jobs: jobs.iter().map(JobSummary::from).collect(),
    })
}

#[derive(Serialize)]
struct Jobs {
    jobs: Vec<JobSummary>,
}

async fn jobs(State(master): State<Arc<Master>>) -> Json<Jobs> {
    let jobs = master.cluster().job_summaries();
    Json(Jobs {
        jobs: jobs.iter().map(JobSummary::from).collect(),
    })
}

async fn job(State(master): State<Arc<Master>>, Path(job_id): Path<String>) -> Response {
    let detail = master.cluster().job_detail(&job_id);
    match detail {
        // Parsing the job file (for its limits) happens outside the cluster's lock.
        Some(detail) => Json(JobDetail::from(&detail)).into_response(),
        None => error(StatusCode::NOT_FOUND, format!("no job with id {job_id}")),
    }
}

#[derive(Serialize)]
struct Workers {
    workers: Vec<Worker>,
}

async fn workers(State(master): State<Arc<Master>>) -> Json<Workers> {
    let workers = master.cluster().worker_summaries(Instant::now());
    Json(Workers {
        workers: workers.iter().map(Worker::from).collect(),
    })
}

async fn worker(State(master): State<Arc<Master>>, Path(worker_id): Path<String>) -> Response {
    let (summary, details) = {
        let cluster = master.cluster();
        let Some(summary) = cluster
            .worker_summaries(Instant::now())
            .into_iter()
            .find(|worker| worker.worker_id == worker_id)
        else {
            drop(cluster);
            return error(
                StatusCode::NOT_FOUND,
                format!("no worker with id {worker_id}"),
            );
        };
        let details: Vec<_> = summary
            .task_ids
            .iter()
            .filter_map(|task_id| {
                let (job_id, _, _) = parse_task_id(task_id)?;
                let detail = cluster.job_detail(job_id)?;
                Some((task_id.clone(), detail))
            })
            .collect();
        (summary, details)
    };
    let tasks = details
        .into_iter()
        .filter_map(|(task_id, detail)| {
            let summary = detail.summary.unwrap_or_default();
            let task = detail.tasks.iter().find(|task| task.task_id == task_id)?;
            Some(WorkerTask {
                job_id: summary.job_id,
                job_name: summary.name,
                task: task.into(),
            })
        })
        .collect();
    Json(WorkerDetail {
        worker: Worker::from(&summary),
        tasks,
    })
    .into_response()
}
