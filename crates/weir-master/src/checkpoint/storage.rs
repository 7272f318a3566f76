//! `checkpoint.storage`: where the master persists completed checkpoints, one JSON file each
//! (`<storage>/<job>/chk-<id>.json`), keeping the last `checkpoint_retained` per job; a local
//! directory or an HDFS URL. A checkpoint is written here first and then to the job store,
//! whose write is the commit point: a master that crashes between the two resumes from the
//! previous checkpoint, whose files are the ones published (commits follow the job store
//! write), so the newer file here is only a record and nothing is published twice.

use std::sync::Arc;

use bytes::Bytes;
use weir_connectors::fs::{FileSystem, FsOptions, open_filesystem, write_atomically};

use crate::checkpoint::CompletedCheckpoint;

/// Why a checkpoint could not be stored.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointStoreError {
    #[error("checkpoint storage {storage}: {source}")]
    FileSystem {
        storage: String,
        source: weir_connectors::ConnectorError,
    },
    #[error("checkpoint {checkpoint_id} of job {job_id} cannot be encoded: {source}")]
    Encode {
        job_id: String,
        checkpoint_id: u64,
        source: serde_json::Error,
    },
}

/// The place completed checkpoints are written to.
#[derive(Debug)]
pub struct CheckpointStorage {
    fs: Arc<dyn FileSystem>,
    root: String,
    retained: usize,
}

impl CheckpointStorage {
    /// Opens `storage` (a local directory, `file://` or `hdfs://` URL). Must be called within
    /// a tokio runtime.
    pub fn open(storage: &str, retained: usize) -> Result<Self, CheckpointStoreError> {
        let (fs, root) = open_filesystem(storage, &FsOptions::default()).map_err(|source| {
            CheckpointStoreError::FileSystem {
                storage: storage.to_string(),
                source,
            }
        })?;
        Ok(CheckpointStorage {
            fs,
            root,
            retained: retained.max(1),
        })
    }

    fn job_dir(&self, job_id: &str) -> String {
        format!("{}/{job_id}", self.root.trim_end_matches('/'))
    }

    /// Writes `checkpoint` atomically, then deletes the job's checkpoints older than the last
    /// `retained`. Returns where it was written.
    pub async fn save(
        &self,
        checkpoint: &CompletedCheckpoint,
    ) -> Result<String, CheckpointStoreError> {
        let encoded = serde_json::to_vec_pretty(checkpoint).map_err(|source| {
            CheckpointStoreError::Encode {
                job_id: checkpoint.job_id.clone(),
                checkpoint_id: checkpoint.checkpoint_id,
                source,
            }
        })?;
        let dir = self.job_dir(&checkpoint.job_id);
        let path = format!("{dir}/chk-{:020}.json", checkpoint.checkpoint_id);
        let fs_error = |source| CheckpointStoreError::FileSystem {
            storage: self.fs.describe(),
            source,
        };
        write_atomically(self.fs.as_ref(), &path, Bytes::from(encoded))
            .await
            .map_err(fs_error)?;
        // Old checkpoints are only a record; failing to prune them must not fail this one.
        if let Err(error) = self.prune(&dir).await {
            tracing::warn!(%error, dir = %dir, "could not delete old checkpoints");
        }
        Ok(self.fs.url_of(&path))
    }

    /// Keeps the last `retained` checkpoint files of a job directory (zero-padded ids sort).
    async fn prune(&self, dir: &str) -> Result<(), weir_connectors::ConnectorError> {
        let mut files: Vec<String> = self
            .fs
            .list(dir)
            .await?
            .into_iter()
            .filter(|status| !status.is_dir)
            .map(|status| status.path)
            .filter(|path| {
                let name = path.rsplit('/').next().unwrap_or_default();
                name.starts_with("chk-") && name.ends_with(".json")
            })
            .collect();
        files.sort();
        let excess = files.len().saturating_sub(self.retained);
        for path in files.into_iter().take(excess) {
            self.fs.delete(&path, false).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use weir_core::split::SplitId;

    use super::*;

    fn checkpoint(id: u64) -> CompletedCheckpoint {
        CompletedCheckpoint {
            job_id: "j-1".into(),
            checkpoint_id: id,
            completed_at_ms: 1,
            stop: false,
            offsets: vec![(SplitId::new("t", 0), 42)],
            files: BTreeMap::new(),
        }
    }

    #[tokio::test]
    async fn keeps_the_last_few() {
        let dir = tempfile::tempdir().unwrap();
        let storage = CheckpointStorage::open(&dir.path().display().to_string(), 2).unwrap();
        for id in [1, 2, 3, 10] {
            storage.save(&checkpoint(id)).await.unwrap();
        }
        let mut names: Vec<String> = std::fs::read_dir(dir.path().join("j-1"))
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "chk-00000000000000000003.json",
                "chk-00000000000000000010.json"
            ]
        );
        let latest = std::fs::read(dir.path().join("j-1/chk-00000000000000000010.json")).unwrap();
        let latest: CompletedCheckpoint = serde_json::from_slice(&latest).unwrap();
        assert_eq!(latest, checkpoint(10));
    }
}
