//! The checkpoint protocol end to end against the in-memory job store: the real coordinator
//! (`Master::start_due_checkpoints` and the rounds it spawns) drives a fake worker that serves
//! `WorkerService` over gRPC on loopback and records every barrier and commit it gets. The
//! store fails writes on demand — from the worker's side at the moment a barrier arrives, so
//! the failure hits the completed checkpoint's write, the commit point.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};
use weir_proto::v1 as pb;
use weir_proto::v1::worker_service_server::{WorkerService, WorkerServiceServer};

use crate::checkpoint::coordinator::CheckpointOutcome;
use crate::checkpoint::storage::CheckpointStorage;
use crate::cluster::{Cluster, ClusterSettings};
use crate::service::Master;
use crate::store::{JobStore, MemoryStore};

const GIB: u64 = 1024 * 1024 * 1024;

/// What the fake worker was asked.
#[derive(Default)]
struct Seen {
    /// `(task, checkpoint)` of every barrier.
    triggers: Vec<(String, u64)>,
    commits: Vec<pb::CommitCheckpointRequest>,
}

struct FakeWorker {
    seen: Mutex<Seen>,
    store: Arc<MemoryStore>,
    /// The barrier of this checkpoint turns the store's write failures on.
    break_store_at: Mutex<Option<u64>>,
}

impl FakeWorker {
    fn seen<T>(&self, read: impl FnOnce(&Seen) -> T) -> T {
        read(&self.seen.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn triggered_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self.seen(|seen| seen.triggers.iter().map(|(_, id)| *id).collect());
        ids.dedup();
        ids
    }

    fn committed_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> =
            self.seen(|seen| seen.commits.iter().map(|c| c.checkpoint_id).collect());
        ids.dedup();
        ids
    }
}

struct FakeApi(Arc<FakeWorker>);

#[tonic::async_trait]
impl WorkerService for FakeApi {
    async fn deploy_task(
        &self,
        _request: Request<pb::DeployTaskRequest>,
    ) -> Result<Response<pb::DeployTaskResponse>, Status> {
        Ok(Response::new(pb::DeployTaskResponse {}))
    }

    async fn cancel_task(
        &self,
        _request: Request<pb::CancelTaskRequest>,
    ) -> Result<Response<pb::CancelTaskResponse>, Status> {
        Ok(Response::new(pb::CancelTaskResponse::default()))
    }

    async fn add_splits(
        &self,
        _request: Request<pb::AddSplitsRequest>,
    ) -> Result<Response<pb::AddSplitsResponse>, Status> {
        Ok(Response::new(pb::AddSplitsResponse {}))
    }

    /// Acknowledges with one file named after the task and the checkpoint, and an offset of
    /// partition `<subtask index>`.
    async fn trigger_checkpoint(
        &self,
        request: Request<pb::TriggerCheckpointRequest>,
    ) -> Result<Response<pb::TriggerCheckpointResponse>, Status> {
        let request = request.into_inner();
        let id = request.checkpoint_id;
        let (_, index, _) = crate::cluster::parse_task_id(&request.task_id)
            .ok_or_else(|| Status::invalid_argument("not a task id"))?;
        if *self
            .0
            .break_store_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            == Some(id)
        {
            self.0.store.fail_writes(true);
        }
        self.0
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .triggers
            .push((request.task_id.clone(), id));
        Ok(Response::new(pb::TriggerCheckpointResponse {
            offsets: vec![pb::SplitOffset {
                split: Some(pb::Split {
                    topic: "t".into(),
                    partition: index as i32,
                }),
                offset: 100 * id as i64,
            }],
            pending_files: vec![pb::PendingFile {
                pending_path: format!("/tmp/.weir-tmp/{}-{id}", request.task_id),
                final_path: format!("/out/{}_{id}.json", request.task_id),
            }],
        }))
    }

    async fn commit_checkpoint(
        &self,
        request: Request<pb::CommitCheckpointRequest>,
    ) -> Result<Response<pb::CommitCheckpointResponse>, Status> {
        self.0
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .commits
            .push(request.into_inner());
        Ok(Response::new(pb::CommitCheckpointResponse {}))
    }
}

/// A fake worker serving on loopback; returns it and its `http://` address.
async fn fake_worker(store: &Arc<MemoryStore>) -> (Arc<FakeWorker>, String) {
    let worker = Arc::new(FakeWorker {
        seen: Mutex::new(Seen::default()),
        store: Arc::clone(store),
        break_store_at: Mutex::new(None),
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = format!("http://{}", listener.local_addr().unwrap());
    let server = tonic::transport::Server::builder()
        .add_service(WorkerServiceServer::new(FakeApi(Arc::clone(&worker))))
        .serve_with_incoming(TcpListenerStream::new(listener));
    tokio::spawn(server);
    (worker, address)
}

fn job_text(parallelism: u32) -> String {
    format!(
        r#"env {{
  parallelism = {parallelism}
  job.mode = "STREAMING"
  checkpoint.interval = 1
}}
source {{ FakeSource {{ unbounded = true, rows_per_second = 1, schema = {{ fields {{ id = "bigint" }} }} }} }}
sink {{ Console {{ log.print.data = false }} }}
"#
    )
}

/// A master on `store` (restored from what it holds, as after a restart) with the fake worker
/// registered; its checkpoint storage is `dir`.
async fn master(
    store: &Arc<MemoryStore>,
    address: &str,
    dir: &std::path::Path,
) -> (Arc<Master>, Arc<CheckpointStorage>) {
    let settings = ClusterSettings {
        heartbeat_timeout: Duration::from_secs(60),
        heartbeat_interval: Duration::from_secs(1),
        high_watermark: 0.9,
    };
    let mut cluster = Cluster::new(settings);
    for record in store.load_all().unwrap() {
        cluster.restore_record(record);
    }
    let master = Master::new(cluster, Arc::clone(store) as Arc<dyn JobStore>, None);
    let request = pb::RegisterWorkerRequest {
        worker_id: "w-1".into(),
        address: address.to_string(),
        cores: 2,
        memory_limit_bytes: 8 * GIB,
        memory: Some(pb::MemoryReport::default()),
    };
    master
        .update(|cluster| cluster.register_worker(&request))
        .await;
    let storage = CheckpointStorage::open(&dir.display().to_string(), 3).unwrap();
    (master, Arc::new(storage))
}

/// Submits a FakeSource → Console job of `parallelism` subtasks; returns its id.
async fn submit(master: &Master, parallelism: u32) -> String {
    let text = job_text(parallelism);
    let config = weir_core::config::parse_job(
        &text,
        "test.conf",
        &weir_core::config::ParsePolicy::SelfContained,
    )
    .unwrap();
    let record = Cluster::new_record("test".into(), text, "test.conf".into());
    let job_id = record.id.clone();
    master.write_new_job(&record).await.unwrap();
    master
        .cluster()
        .submit(record, crate::plan::plan_for(&config));
    job_id
}

/// Places the job's subtasks and reports them running; returns the deployments.
async fn place_and_run(master: &Master) -> Vec<pb::DeployTaskRequest> {
    let deployments = master
        .update(|cluster| cluster.schedule(Instant::now()))
        .await;
    for deployment in &deployments {
        let task = deployment.request.task_id.clone();
        master
            .update(|cluster| cluster.task_status("w-1", &task, pb::TaskState::Running, ""))
            .await;
    }
    deployments.into_iter().map(|d| d.request).collect()
}

/// Runs the next checkpoint round to its end (polling until one is due: the interval is 1 ms).
async fn next_round(master: &Arc<Master>, storage: &Arc<CheckpointStorage>) -> CheckpointOutcome {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut started = master.start_due_checkpoints(storage).await;
        if let Some(round) = started.pop() {
            assert!(started.is_empty(), "one job, one round");
            return round.await.unwrap();
        }
        assert!(Instant::now() < deadline, "no checkpoint became due");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn stats(master: &Master, job_id: &str) -> pb::CheckpointStats {
    master
        .cluster()
        .job_detail(job_id)
        .and_then(|detail| detail.checkpoints)
        .unwrap()
}

fn failed_because(outcome: &CheckpointOutcome, cause: &str) -> bool {
    matches!(outcome, CheckpointOutcome::Failed { reason } if reason.contains(cause))
}

#[tokio::test]
async fn a_failed_store_write_sends_no_commit_and_fails_the_checkpoint_until_the_store_works() {
    let store = Arc::new(MemoryStore::new());
    let dir = tempfile::tempdir().unwrap();
    let (worker, address) = fake_worker(&store).await;
    let (master, storage) = master(&store, &address, dir.path()).await;
    let job = submit(&master, 1).await;
    place_and_run(&master).await;

    let outcome = next_round(&master, &storage).await;
    assert!(
        matches!(outcome, CheckpointOutcome::Completed { files: 1, .. }),
        "{outcome:?}"
    );
    assert_eq!(worker.committed_ids(), [1]);

    // The store breaks while checkpoint 2's barrier is out: its completion is not written.
    *worker.break_store_at.lock().unwrap() = Some(2);
    let outcome = next_round(&master, &storage).await;
    assert!(
        failed_because(&outcome, "could not be recorded in the job store"),
        "{outcome:?}"
    );
    assert_eq!(worker.triggered_ids(), [1, 2]);
    assert_eq!(worker.committed_ids(), [1], "no commit without the record");
    let after = stats(&master, &job);
    assert_eq!(
        (after.last_completed_id, after.completed, after.failed),
        (1, 1, 1)
    );
    assert_eq!(
        after.last_failure,
        "checkpoint 2: could not be recorded in the job store: job store: writes fail on purpose (test store)"
    );

    // Still broken: the next id cannot be recorded, so no barrier goes out at all.
    let outcome = next_round(&master, &storage).await;
    assert!(
        failed_because(&outcome, "its id could not be recorded"),
        "{outcome:?}"
    );
    assert_eq!(worker.triggered_ids(), [1, 2]);

    // Repaired: the next checkpoint completes and is committed; the store holds it and the
    // failures written meanwhile.
    store.fail_writes(false);
    let outcome = next_round(&master, &storage).await;
    assert!(
        matches!(outcome, CheckpointOutcome::Completed { .. }),
        "{outcome:?}"
    );
    assert_eq!(worker.committed_ids(), [1, 4]);
    let after = stats(&master, &job);
    assert_eq!(
        (after.last_completed_id, after.completed, after.failed),
        (4, 2, 2)
    );
    let stored = store.get(&job).unwrap().checkpoints;
    assert_eq!(stored.last_completed.map(|c| c.checkpoint_id), Some(4));
    assert_eq!((stored.last_id, stored.failed), (4, 2));
}

#[tokio::test]
async fn checkpoint_ids_never_repeat_after_a_restart_that_follows_failed_writes() {
    let store = Arc::new(MemoryStore::new());
    let dir = tempfile::tempdir().unwrap();
    let (worker, address) = fake_worker(&store).await;
    let (first, storage) = master(&store, &address, dir.path()).await;
    let job = submit(&first, 1).await;
    place_and_run(&first).await;
    next_round(&first, &storage).await;
    // Checkpoint 2: barrier out, files named with 2, completion not written; then the master
    // dies (the store still failing, so not even the failure is recorded).
    *worker.break_store_at.lock().unwrap() = Some(2);
    let outcome = next_round(&first, &storage).await;
    assert!(matches!(outcome, CheckpointOutcome::Failed { .. }));
    drop(first);
    store.fail_writes(false);

    let (second, storage) = master(&store, &address, dir.path()).await;
    let deployments = place_and_run(&second).await;
    let restore = deployments[0].restore.as_ref().expect("a restore point");
    assert_eq!(
        restore.checkpoint_id, 1,
        "resumes from the last recorded checkpoint"
    );
    assert_eq!(
        restore.pending_files[0].final_path,
        "/out/".to_string() + &format!("{job}.0.1_1.json")
    );
    let outcome = next_round(&second, &storage).await;
    assert!(
        matches!(outcome, CheckpointOutcome::Completed { .. }),
        "{outcome:?}"
    );
    assert_eq!(
        worker.triggered_ids(),
        [1, 2, 3],
        "2 was issued before the crash, so it is never issued again"
    );

    // A failed id write before any barrier: after a restart that id may be issued — no
    // worker ever saw it.
    store.fail_writes(true);
    let outcome = next_round(&second, &storage).await;
    assert!(
        failed_because(&outcome, "its id could not be recorded"),
        "{outcome:?}"
    );
    drop(second);
    store.fail_writes(false);
    let (third, storage) = master(&store, &address, dir.path()).await;
    place_and_run(&third).await;
    next_round(&third, &storage).await;
    let triggered = worker.triggered_ids();
    assert_eq!(triggered, [1, 2, 3, 4]);
    let distinct: BTreeSet<u64> = triggered.iter().copied().collect();
    assert_eq!(
        distinct.len(),
        triggered.len(),
        "no id reached a worker twice"
    );
}

#[tokio::test]
async fn the_checkpoint_protocol_end_to_end_against_the_in_memory_store() {
    let store = Arc::new(MemoryStore::new());
    let dir = tempfile::tempdir().unwrap();
    let (worker, address) = fake_worker(&store).await;
    let (master, storage) = master(&store, &address, dir.path()).await;
    let job = submit(&master, 2).await;
    let deployments = place_and_run(&master).await;
    assert_eq!(deployments.len(), 2);

    let outcome = next_round(&master, &storage).await;
    assert!(
        matches!(outcome, CheckpointOutcome::Completed { files: 2, .. }),
        "{outcome:?}"
    );
    // Every subtask got the barrier, then its own commit: its own file, the offsets of its
    // splits (FakeSource has none).
    let (triggers, commits) = worker.seen(|seen| (seen.triggers.clone(), seen.commits.clone()));
    assert_eq!(triggers.len(), 2);
    assert_eq!(commits.len(), 2);
    for commit in &commits {
        assert_eq!(commit.checkpoint_id, 1);
        assert_eq!(commit.pending_files.len(), 1);
        assert_eq!(
            commit.pending_files[0].final_path,
            format!("/out/{}_1.json", commit.task_id)
        );
        assert!(commit.offsets.is_empty());
    }
    // The job store holds it (the commit point), checkpoint storage has its file.
    let stored = store.get(&job).unwrap().checkpoints;
    let checkpoint = stored.last_completed.expect("recorded");
    assert_eq!((checkpoint.checkpoint_id, checkpoint.file_count()), (1, 2));
    assert_eq!(
        checkpoint.offsets,
        [
            (weir_core::split::SplitId::new("t", 0), 100),
            (weir_core::split::SplitId::new("t", 1), 100)
        ]
    );
    assert!(
        stored
            .last_completed_path
            .ends_with("chk-00000000000000000001.json")
    );
    assert!(
        dir.path()
            .join(&job)
            .join("chk-00000000000000000001.json")
            .is_file()
    );
    let detail = stats(&master, &job);
    assert_eq!((detail.last_completed_id, detail.completed), (1, 1));
}
