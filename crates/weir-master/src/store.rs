//! The master's job store: every job's record in an embedded `redb` database, so a restarted
//! master lists its jobs and resumes the ones that were live.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::job_state::JobState;

const JOBS: TableDefinition<&str, &[u8]> = TableDefinition::new("jobs");

/// What survives a master restart of a job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: String,
    pub name: String,
    /// The job file's text, as submitted.
    pub config: String,
    /// Where the text came from, for error messages.
    pub origin: String,
    pub state: JobState,
    pub reason: String,
    pub submitted_at_ms: i64,
    pub state_changed_at_ms: i64,
    /// The latest attempt number of each subtask. Kept so that after a master restart new
    /// attempts get new task ids, and late reports about the old ones are recognised as stale.
    #[serde(default)]
    pub attempts: Vec<u32>,
    /// The job's checkpoints: the last completed one is what its subtasks resume from.
    #[serde(default)]
    pub checkpoints: crate::checkpoint::CheckpointLog,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the master's data directory {path}: {source}")]
    CreateDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot open the job store {path}: {source}")]
    Open {
        path: String,
        source: Box<redb::DatabaseError>,
    },
    #[error("job store: {0}")]
    Database(String),
    #[error("job store holds an unreadable record for job {id}: {source}")]
    Corrupt {
        id: String,
        source: serde_json::Error,
    },
}

fn database_error(error: impl std::fmt::Display) -> StoreError {
    StoreError::Database(error.to_string())
}

/// Jobs kept in `<data_dir>/jobs.redb`.
pub struct JobStore {
    db: Database,
}

impl JobStore {
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::CreateDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        let path = data_dir.join("jobs.redb");
        let db = Database::create(&path).map_err(|source| StoreError::Open {
            path: path.display().to_string(),
            source: Box::new(source),
        })?;
        let txn = db.begin_write().map_err(database_error)?;
        txn.open_table(JOBS).map_err(database_error)?;
        txn.commit().map_err(database_error)?;
        Ok(Self { db })
    }

    /// Writes (or replaces) a job's record durably.
    pub fn put(&self, record: &JobRecord) -> Result<(), StoreError> {
        let started = std::time::Instant::now();
        let written = self.write(record);
        crate::http::metrics::store_written(started.elapsed());
        written
    }

    fn write(&self, record: &JobRecord) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(record).map_err(database_error)?;
        let txn = self.db.begin_write().map_err(database_error)?;
        {
            let mut table = txn.open_table(JOBS).map_err(database_error)?;
            table
                .insert(record.id.as_str(), bytes.as_slice())
                .map_err(database_error)?;
        }
        txn.commit().map_err(database_error)
    }

    /// Every stored job, oldest submission first.
    pub fn load_all(&self) -> Result<Vec<JobRecord>, StoreError> {
        let txn = self.db.begin_read().map_err(database_error)?;
        let table = txn.open_table(JOBS).map_err(database_error)?;
        let mut records = Vec::new();
        for entry in table.iter().map_err(database_error)? {
            let (key, value) = entry.map_err(database_error)?;
            let record: JobRecord =
                serde_json::from_slice(value.value()).map_err(|source| StoreError::Corrupt {
                    id: key.value().to_string(),
                    source,
                })?;
            records.push(record);
        }
        records.sort_by_key(|record| (record.submitted_at_ms, record.id.clone()));
        Ok(records)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, submitted_at_ms: i64) -> JobRecord {
        JobRecord {
            id: id.to_string(),
            name: format!("name of {id}"),
            config: "env {}".to_string(),
            origin: "job.conf".to_string(),
            state: JobState::Queued,
            reason: "waiting".to_string(),
            submitted_at_ms,
            state_changed_at_ms: submitted_at_ms,
            attempts: vec![2, 0],
            checkpoints: Default::default(),
        }
    }

    #[test]
    fn records_survive_reopening_in_submission_order() {
        let dir = std::env::temp_dir().join(format!("weir-store-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        {
            let store = JobStore::open(&dir).unwrap();
            store.put(&record("j-b", 2)).unwrap();
            store.put(&record("j-a", 1)).unwrap();
            let mut updated = record("j-b", 2);
            updated.state = JobState::Running;
            store.put(&updated).unwrap();
        }
        let store = JobStore::open(&dir).unwrap();
        let loaded = store.load_all().unwrap();
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded[0], record("j-a", 1));
        assert_eq!(loaded[1].id, "j-b");
        assert_eq!(loaded[1].state, JobState::Running);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
