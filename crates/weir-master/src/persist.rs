//! The master's writes to its job store, at the edge of the cluster model: the model decides
//! under its lock what must be written ([`Cluster::take_writes`]), the lock is released, the
//! records are written on a blocking thread (redb fsyncs), the outcomes go back to the model, and
//! only then does the caller send what the change decided (deployments, cancels, commits). So a
//! slow disk never stalls the lock or the async runtime, and nothing leaves the master on the
//! strength of a change the store does not hold.

use std::sync::Arc;
use std::time::Instant;

use crate::cluster::{Cluster, WriteOutcome};
use crate::service::Master;
use crate::store::{JobRecord, JobStore};

impl Master {
    /// Runs `change` on the cluster model, writes the records it changed (and any earlier
    /// failed ones) with the lock released, and returns `change`'s result once the writes are
    /// done. A write that fails is logged and retried with the next change; callers that must
    /// not go on without a durable record (the checkpoint id, the commit point, a submission)
    /// look at the outcome themselves ([`Master::update_with_outcomes`]).
    pub(crate) async fn update<T>(&self, change: impl FnOnce(&mut Cluster) -> T) -> T {
        self.update_with_outcomes(change).await.0
    }

    /// [`Master::update`], also returning how each write went.
    pub(crate) async fn update_with_outcomes<T>(
        &self,
        change: impl FnOnce(&mut Cluster) -> T,
    ) -> (T, Vec<WriteOutcome>) {
        let (value, writes) = {
            let mut cluster = self.cluster();
            let value = change(&mut cluster);
            (value, cluster.take_writes())
        };
        let outcomes = self.write_records(writes).await;
        (value, outcomes)
    }

    /// Writes `records` on a blocking thread and reports the outcomes to the model.
    pub(crate) async fn write_records(&self, records: Vec<JobRecord>) -> Vec<WriteOutcome> {
        if records.is_empty() {
            return Vec::new();
        }
        let outcomes = write_blocking(Arc::clone(&self.store), records).await;
        self.cluster().writes_done(&outcomes);
        outcomes
    }
}

/// Writes `records` one after another on a blocking thread.
pub(crate) async fn write_blocking(
    store: Arc<dyn JobStore>,
    records: Vec<JobRecord>,
) -> Vec<WriteOutcome> {
    let keys: Vec<(String, u64)> = records
        .iter()
        .map(|record| (record.id.clone(), record.revision))
        .collect();
    let written = tokio::task::spawn_blocking(move || {
        records
            .iter()
            .map(|record| {
                let started = Instant::now();
                let error = store.put(record).err().map(|error| error.to_string());
                WriteOutcome {
                    job_id: record.id.clone(),
                    revision: record.revision,
                    error,
                    duration: started.elapsed(),
                }
            })
            .collect::<Vec<_>>()
    })
    .await;
    written.unwrap_or_else(|error| {
        // The blocking task panicked or the runtime is shutting down: nothing is known to be
        // written.
        let error = format!("the job store write did not finish: {error}");
        keys.into_iter()
            .map(|(job_id, revision)| WriteOutcome {
                job_id,
                revision,
                error: Some(error.clone()),
                duration: std::time::Duration::ZERO,
            })
            .collect()
    })
}

impl Master {
    /// Writes a job's first record, before the job joins the model: a submission is accepted
    /// only once it survives a restart. Returns the store's error otherwise.
    pub(crate) async fn write_new_job(&self, record: &JobRecord) -> Result<(), String> {
        let outcomes = write_blocking(Arc::clone(&self.store), vec![record.clone()]).await;
        match outcomes.into_iter().next() {
            Some(outcome) => outcome.error.map_or(Ok(()), Err),
            None => Err("the job store wrote nothing".to_string()),
        }
    }
}
