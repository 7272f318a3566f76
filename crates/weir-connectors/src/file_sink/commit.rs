//! The commit side of [`FileSink`]: a checkpoint's barrier closes the open files and lists
//! them (`prepare`), the checkpoint's completion renames them (`commit_files`), a restart
//! commits what the restored checkpoint listed and removes the rest (`recover_files`), and an
//! abort deletes what no checkpoint may still commit (`abort_files`).

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use futures::StreamExt as _;

use super::closing::{close_to_pending, commit_one};
use super::writer::{CONCURRENT_FILE_OPERATIONS, FileSink};
use crate::context::{Discard, PendingFile, Restored};
use crate::error::ConnectorError;
use crate::fs::FileSystem as _;

impl FileSink {
    pub(super) async fn prepare(
        &mut self,
        checkpoint: u64,
    ) -> Result<Vec<PendingFile>, ConnectorError> {
        self.finish_closing().await?;
        let fs = self.fs.clone();
        let (naming, attempt) = (&self.naming, self.attempt);
        let closing: Vec<_> = self
            .open
            .drain()
            .map(|(partition, file)| close_to_pending(fs.clone(), naming, attempt, partition, file))
            .collect();
        let results: Vec<_> = futures::stream::iter(closing)
            .buffer_unordered(CONCURRENT_FILE_OPERATIONS)
            .collect()
            .await;
        self.in_flight = 0;
        self.stats.set_in_flight(0);
        self.stats.set_open_files(self.open.len());
        let mut first_error = None;
        for result in results {
            match result {
                Ok(pending) => self.pending.push(pending),
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        if let Some(error) = first_error {
            return Err(error);
        }
        self.pending.sort_by_key(|pending| pending.seq);
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |since| since.as_millis() as i64);
        Ok(self
            .pending
            .iter_mut()
            .map(|pending| {
                let final_path = pending.final_path.get_or_insert_with(|| {
                    fs.url_of(&naming.final_path(&pending.partition, pending.seq, checkpoint, now))
                });
                PendingFile {
                    pending_path: fs.url_of(&pending.path),
                    final_path: final_path.clone(),
                }
            })
            .collect())
    }

    pub(super) async fn commit_files(
        &mut self,
        files: Vec<PendingFile>,
    ) -> Result<(), ConnectorError> {
        let fs = self.fs.clone();
        // Files this attempt closed and has not published: if one is gone, it was lost.
        let uncommitted: HashSet<String> = self
            .pending
            .iter()
            .map(|pending| fs.url_of(&pending.path))
            .collect();
        let results: Vec<_> = futures::stream::iter(files)
            .map(|file| {
                let lost_if_gone = uncommitted.contains(&file.pending_path);
                commit_one(fs.clone(), file, lost_if_gone)
            })
            .buffer_unordered(CONCURRENT_FILE_OPERATIONS)
            .collect()
            .await;
        let mut committed = HashSet::new();
        let mut first_error = None;
        for result in results {
            match result {
                Ok(pending_path) => {
                    committed.insert(pending_path);
                }
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        self.pending
            .retain(|pending| !committed.contains(&fs.url_of(&pending.path)));
        first_error.map_or(Ok(()), Err)
    }

    pub(super) async fn recover_files(&mut self, restored: Restored) -> Result<(), ConnectorError> {
        let Restored {
            job_id,
            files,
            checkpoint,
        } = restored;
        if checkpoint.is_none() {
            self.apply_save_modes().await?;
        }
        // The restore point comes from the master's record of what the subtasks acknowledged;
        // a file this sink could not have written for that job and this subtask is refused
        // before anything is renamed.
        for file in &files {
            self.check_restored(&job_id, file)?;
        }
        let count = files.len();
        self.commit_files(files).await?;
        // Whatever is left in the subtask's directory was never part of a completed
        // checkpoint: in-progress files, and pending files of checkpoints that failed.
        let dir = self.naming.subtask_dir().to_string();
        let leftovers = self.fs.list(&dir).await?;
        self.fs.delete(&dir, true).await?;
        self.pending.clear();
        self.closing = None;
        tracing::info!(
            committed = count,
            removed = leftovers.len(),
            dir = %self.fs.url_of(&dir),
            "file sink recovered"
        );
        Ok(())
    }

    /// Refuses (as a security event) a restored file that is not one of this sink's own.
    pub(super) fn check_restored(
        &self,
        job_id: &str,
        file: &PendingFile,
    ) -> Result<(), ConnectorError> {
        let normalise = |path: &str| self.fs.normalise(path);
        let checked = normalise(&file.pending_path).and_then(|pending| {
            let final_path = normalise(&file.final_path)?;
            self.naming.check_restored(job_id, &pending, &final_path)
        });
        checked.map_err(|reason| {
            tracing::warn!(
                target: weir_core::SECURITY_TARGET,
                pending = %file.pending_path,
                final_path = %file.final_path,
                restored_job = %job_id,
                %reason,
                "refused to recover a file this subtask did not write"
            );
            ConnectorError::ForeignFile {
                pending: file.pending_path.clone(),
                final_path: file.final_path.clone(),
                reason,
            }
        })
    }

    /// Removes the subtask's temporary directory, and the job's when it is the last, if
    /// nothing is left in them (non-recursive deletes fail on anything left).
    pub(super) async fn remove_empty_dirs(&mut self) -> Result<(), ConnectorError> {
        if !self.open.is_empty() || !self.pending.is_empty() || self.closing.is_some() {
            return Ok(());
        }
        let dir = self.naming.subtask_dir().to_string();
        self.fs.delete(&dir, false).await?;
        if let Some((job_dir, _)) = dir.trim_end_matches('/').rsplit_once('/') {
            // Other subtasks of the job may still be using it; then it stays.
            let _ = self.fs.delete(job_dir, false).await;
        }
        Ok(())
    }

    pub(super) async fn abort_files(&mut self, discard: Discard) -> Result<(), ConnectorError> {
        let mut doomed: Vec<String> = Vec::new();
        self.stats.set_open_files(0);
        self.in_flight = 0;
        self.stats.set_in_flight(0);
        for (_, file) in self.open.drain() {
            // Dropped, not closed: its data does not matter, and closing would wait for a
            // file system that may be the reason for the abort. HDFS lets the NameNode delete
            // a file still being written (the client gives up its lease on drop).
            doomed.push(file.path);
        }
        if let Some(mut closing) = self.closing.take() {
            // Stopped wherever it was, and waited for, so that no rename lands after the
            // deletes: the file is at one of its two names (a missing path is not an error
            // to delete).
            closing.task.abort();
            let _ = (&mut closing.task).await;
            doomed.extend(closing.paths.iter().cloned());
        }
        // Unless the job was cancelled, files a checkpoint has listed stay: that checkpoint
        // may have completed, and the recovery that follows commits them (or deletes them if
        // it did not complete).
        let (listed, unlisted): (Vec<_>, Vec<_>) = self
            .pending
            .drain(..)
            .partition(|pending| discard == Discard::Unlisted && pending.final_path.is_some());
        self.pending = listed;
        doomed.extend(unlisted.into_iter().map(|pending| pending.path));
        let mut first_error = None;
        for path in doomed {
            if let Err(error) = self.fs.delete(&path, false).await {
                tracing::warn!(%error, "could not delete an aborted file");
                first_error.get_or_insert(error);
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}
