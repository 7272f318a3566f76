//! The master's job store: every job's record, so a restarted master lists its jobs and resumes
//! the ones that were live. Its write of a completed checkpoint is the commit point of
//! exactly-once (`docs/architecture.md`).
//!
//! [`JobStore`] is what the master needs of it; [`RedbStore`] keeps records in an embedded
//! `redb` database, [`MemoryStore`] in memory (for tests, with writes that fail on demand). The
//! methods block (fsync): the master calls them off the async runtime and never under its
//! `Cluster` lock (`crate::persist`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

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
    /// Raised with every change of the record. Writes of a record run concurrently, off the
    /// master's lock; the store keeps the highest revision it was given, so an older snapshot
    /// that arrives late never overwrites a newer one.
    #[serde(default)]
    pub revision: u64,
}

/// Only the revision of a stored record, read before replacing it.
#[derive(Deserialize)]
struct StoredRevision {
    #[serde(default)]
    revision: u64,
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
    #[error("job store {path}: {source}")]
    Database {
        path: String,
        source: Box<redb::Error>,
    },
    #[error("job store: cannot encode the record of job {id}: {source}")]
    Encode {
        id: String,
        source: serde_json::Error,
    },
    /// The job store file exists but cannot be a job store: starting empty would silently
    /// forget every job, so the master refuses to start.
    #[error(
        "the job store {path} {problem}; move it away to start with no jobs, or put back a \
         good copy"
    )]
    Unusable { path: String, problem: String },
    #[error("job store holds an unreadable record for job {id}: {source}")]
    Corrupt {
        id: String,
        source: serde_json::Error,
    },
    /// [`MemoryStore::fail_writes`] is on.
    #[error("job store: writes fail on purpose (test store)")]
    Injected,
}

/// Where the master keeps job records.
pub trait JobStore: Send + Sync + 'static {
    /// Writes `record` durably, unless the store holds a record of the job with the same or a
    /// higher [`JobRecord::revision`] already. `Ok` means: the store now durably holds this
    /// revision of the job or a newer one.
    fn put(&self, record: &JobRecord) -> Result<(), StoreError>;

    /// Every stored job, oldest submission first.
    fn load_all(&self) -> Result<Vec<JobRecord>, StoreError>;
}

fn sort_records(records: &mut [JobRecord]) {
    records.sort_by_key(|record| (record.submitted_at_ms, record.id.clone()));
}

/// Jobs kept in `<data_dir>/jobs.redb`.
///
/// After an I/O error (a full disk, say) redb refuses every later operation on the same
/// `Database` (`PreviousIo`); the store then drops it and opens the file again on the next
/// call, so writes succeed again once the cause is gone.
pub struct RedbStore {
    path: PathBuf,
    /// Opens (or creates) the database.
    open: Opener,
    /// The open database; `None` after an I/O error until reopened. The lock is held only to
    /// take or swap the handle, never across a read or write of the file.
    db: Mutex<Option<Arc<Database>>>,
}

type Opener = Box<dyn Fn() -> Result<Database, redb::DatabaseError> + Send + Sync>;

impl RedbStore {
    pub fn open(data_dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::CreateDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        let path = data_dir.join("jobs.redb");
        let unusable = |problem: String| StoreError::Unusable {
            path: path.display().to_string(),
            problem,
        };
        // A new data directory starts an empty store; an existing file must be a store.
        match std::fs::metadata(&path) {
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(unusable(format!("cannot be inspected: {error}"))),
            Ok(metadata) if !metadata.is_file() => {
                return Err(unusable("is not a regular file".into()));
            }
            Ok(metadata) if metadata.len() == 0 => {
                return Err(unusable("is empty (0 bytes), not a job store".into()));
            }
            Ok(_) => {
                // Opened once to prove it is a redb database (create would not refuse one
                // that is not); the handle is dropped, `with_opener` opens it for good.
                Database::open(&path).map_err(|source| StoreError::Open {
                    path: path.display().to_string(),
                    source: Box::new(source),
                })?;
            }
        }
        let file = path.clone();
        Self::with_opener(path, Box::new(move || Database::create(&file)))
    }

    /// A store whose database `open` opens; `path` names it in errors.
    fn with_opener(path: PathBuf, open: Opener) -> Result<Self, StoreError> {
        let store = Self {
            path,
            open,
            db: Mutex::new(None),
        };
        store.database()?;
        Ok(store)
    }

    fn error(&self, source: impl Into<redb::Error>) -> StoreError {
        StoreError::Database {
            path: self.path.display().to_string(),
            source: Box::new(source.into()),
        }
    }

    /// The open database, opened (and its table created) if there is none.
    fn database(&self) -> Result<Arc<Database>, StoreError> {
        if let Some(db) = self
            .db
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            return Ok(Arc::clone(db));
        }
        let db = (self.open)().map_err(|source| StoreError::Open {
            path: self.path.display().to_string(),
            source: Box::new(source),
        })?;
        let txn = db.begin_write().map_err(|error| self.error(error))?;
        txn.open_table(JOBS).map_err(|error| self.error(error))?;
        txn.commit().map_err(|error| self.error(error))?;
        let db = Arc::new(db);
        let mut slot = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        Ok(Arc::clone(slot.get_or_insert(db)))
    }

    /// Forgets `failed` after an error, so the next call opens the file again (redb's
    /// `Database` stays failed after an I/O error).
    fn discard(&self, failed: &Arc<Database>) {
        let mut slot = self.db.lock().unwrap_or_else(PoisonError::into_inner);
        if slot.as_ref().is_some_and(|db| Arc::ptr_eq(db, failed)) {
            *slot = None;
        }
    }

    fn write(&self, db: &Database, record: &JobRecord, bytes: &[u8]) -> Result<(), StoreError> {
        let txn = db.begin_write().map_err(|error| self.error(error))?;
        {
            let mut table = txn.open_table(JOBS).map_err(|error| self.error(error))?;
            let stored = table
                .get(record.id.as_str())
                .map_err(|error| self.error(error))?
                .and_then(|value| serde_json::from_slice::<StoredRevision>(value.value()).ok())
                .map(|stored| stored.revision);
            if stored.is_some_and(|stored| stored >= record.revision) {
                // A newer snapshot is durable already; the transaction is dropped unchanged.
                return Ok(());
            }
            table
                .insert(record.id.as_str(), bytes)
                .map_err(|error| self.error(error))?;
        }
        txn.commit().map_err(|error| self.error(error))
    }
}

impl JobStore for RedbStore {
    fn put(&self, record: &JobRecord) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(record).map_err(|source| StoreError::Encode {
            id: record.id.clone(),
            source,
        })?;
        let started = std::time::Instant::now();
        let db = self.database()?;
        let result = self.write(&db, record, &bytes);
        crate::http::metrics::store_written(started.elapsed());
        if result.is_err() {
            self.discard(&db);
        }
        result
    }

    fn load_all(&self) -> Result<Vec<JobRecord>, StoreError> {
        let db = self.database()?;
        let txn = db.begin_read().map_err(|error| self.error(error))?;
        let table = txn.open_table(JOBS).map_err(|error| self.error(error))?;
        let mut records = Vec::new();
        for entry in table.iter().map_err(|error| self.error(error))? {
            let (key, value) = entry.map_err(|error| self.error(error))?;
            let record: JobRecord =
                serde_json::from_slice(value.value()).map_err(|source| StoreError::Corrupt {
                    id: key.value().to_string(),
                    source,
                })?;
            records.push(record);
        }
        sort_records(&mut records);
        Ok(records)
    }
}

/// Job records in memory, for tests: the same revision rule as [`RedbStore`], and writes that
/// fail on demand ([`MemoryStore::fail_writes`]).
#[derive(Debug, Default)]
pub struct MemoryStore {
    records: Mutex<BTreeMap<String, JobRecord>>,
    failing: AtomicBool,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// From now on every [`JobStore::put`] fails (`true`) or works again (`false`).
    pub fn fail_writes(&self, fail: bool) {
        self.failing.store(fail, Ordering::SeqCst);
    }

    /// The stored record of a job.
    pub fn get(&self, job_id: &str) -> Option<JobRecord> {
        self.records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(job_id)
            .cloned()
    }
}

impl JobStore for MemoryStore {
    fn put(&self, record: &JobRecord) -> Result<(), StoreError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(StoreError::Injected);
        }
        let mut records = self.records.lock().unwrap_or_else(PoisonError::into_inner);
        let newer = records
            .get(&record.id)
            .is_some_and(|stored| stored.revision >= record.revision);
        if !newer {
            records.insert(record.id.clone(), record.clone());
        }
        Ok(())
    }

    fn load_all(&self) -> Result<Vec<JobRecord>, StoreError> {
        let mut records: Vec<JobRecord> = self
            .records
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .cloned()
            .collect();
        sort_records(&mut records);
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
            revision: 1,
        }
    }

    #[test]
    fn records_survive_reopening_in_submission_order() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = RedbStore::open(dir.path()).unwrap();
            store.put(&record("j-b", 2)).unwrap();
            store.put(&record("j-a", 1)).unwrap();
            let mut updated = record("j-b", 2);
            updated.state = JobState::Running;
            updated.revision = 2;
            store.put(&updated).unwrap();
        }
        let store = RedbStore::open(dir.path()).unwrap();
        let loaded = store.load_all().unwrap();
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded[0], record("j-a", 1));
        assert_eq!(loaded[1].id, "j-b");
        assert_eq!(loaded[1].state, JobState::Running);
    }

    /// Both stores: an older revision arriving after a newer one changes nothing.
    fn keeps_the_newest_revision(store: &dyn JobStore) {
        let mut newer = record("j-a", 1);
        newer.revision = 5;
        newer.state = JobState::Running;
        store.put(&newer).unwrap();
        let mut older = record("j-a", 1);
        older.revision = 4;
        store.put(&older).unwrap();
        store.put(&newer).unwrap();
        assert_eq!(store.load_all().unwrap(), [newer]);
    }

    #[test]
    fn a_late_older_snapshot_never_overwrites_a_newer_one() {
        let dir = tempfile::tempdir().unwrap();
        keeps_the_newest_revision(&RedbStore::open(dir.path()).unwrap());
        keeps_the_newest_revision(&MemoryStore::new());
    }

    /// Storage in memory, shared by every database opened on it, whose writes fail on demand
    /// (as on a full disk).
    #[derive(Debug, Clone, Default)]
    struct FlakyMemory {
        bytes: Arc<Mutex<Vec<u8>>>,
        failing: Arc<AtomicBool>,
    }

    impl FlakyMemory {
        fn check(&self) -> std::io::Result<()> {
            if self.failing.load(Ordering::SeqCst) {
                return Err(std::io::Error::from_raw_os_error(28));
            }
            Ok(())
        }

        fn bytes(&self) -> std::sync::MutexGuard<'_, Vec<u8>> {
            self.bytes.lock().unwrap_or_else(PoisonError::into_inner)
        }
    }

    impl redb::StorageBackend for FlakyMemory {
        fn len(&self) -> std::io::Result<u64> {
            Ok(self.bytes().len() as u64)
        }

        fn read(&self, offset: u64, out: &mut [u8]) -> std::io::Result<()> {
            let bytes = self.bytes();
            let start = offset as usize;
            let source = bytes
                .get(start..start + out.len())
                .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
            out.copy_from_slice(source);
            Ok(())
        }

        fn set_len(&self, len: u64) -> std::io::Result<()> {
            self.check()?;
            self.bytes().resize(len as usize, 0);
            Ok(())
        }

        fn sync_data(&self) -> std::io::Result<()> {
            self.check()
        }

        fn write(&self, offset: u64, data: &[u8]) -> std::io::Result<()> {
            self.check()?;
            let mut bytes = self.bytes();
            let start = offset as usize;
            if bytes.len() < start + data.len() {
                bytes.resize(start + data.len(), 0);
            }
            bytes[start..start + data.len()].copy_from_slice(data);
            Ok(())
        }
    }

    #[test]
    fn a_redb_store_writes_again_once_the_disk_is_no_longer_full() {
        let memory = FlakyMemory::default();
        let backend = memory.clone();
        let store = RedbStore::with_opener(
            PathBuf::from("memory.redb"),
            Box::new(move || Database::builder().create_with_backend(backend.clone())),
        )
        .unwrap();
        let mut job = record("j-a", 1);
        store.put(&job).unwrap();

        memory.failing.store(true, Ordering::SeqCst);
        job.revision = 2;
        job.state = JobState::Running;
        let error = store.put(&job).unwrap_err();
        assert!(
            error.to_string().contains("No space left on device"),
            "{error}"
        );
        job.revision = 3;
        assert!(store.put(&job).is_err(), "still full");

        // redb refuses every operation of a database that saw an I/O error; the store opens
        // it again, and the record written last before the failure is what it holds.
        memory.failing.store(false, Ordering::SeqCst);
        assert_eq!(store.load_all().unwrap(), [record("j-a", 1)]);
        store.put(&job).unwrap();
        assert_eq!(store.load_all().unwrap(), [job]);
    }

    #[test]
    fn the_memory_store_fails_writes_on_demand() {
        let store = MemoryStore::new();
        store.fail_writes(true);
        assert!(matches!(
            store.put(&record("j-a", 1)),
            Err(StoreError::Injected)
        ));
        assert!(store.get("j-a").is_none());
        store.fail_writes(false);
        store.put(&record("j-a", 1)).unwrap();
        assert_eq!(store.get("j-a"), Some(record("j-a", 1)));
    }

    #[test]
    fn an_existing_file_that_is_not_a_store_is_refused_naming_it() {
        let dir = std::env::temp_dir().join(format!("weir-store-bad-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("jobs.redb");
        let shown = path.display().to_string();
        let refusal = |expected: &str| {
            let error = RedbStore::open(&dir).err().expect("refused").to_string();
            assert!(
                error.contains(&shown) && error.contains(expected),
                "{expected}: {error}"
            );
        };

        std::fs::write(&path, b"").unwrap();
        refusal("empty (0 bytes)");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0, "left as it was");
        std::fs::write(&path, b"these are not the jobs you are looking for").unwrap();
        refusal("cannot open the job store");
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        refusal("not a regular file");
        std::fs::remove_dir(&path).unwrap();
        // Gone altogether: a new, empty store.
        assert!(
            RedbStore::open(&dir)
                .unwrap()
                .load_all()
                .unwrap()
                .is_empty()
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
