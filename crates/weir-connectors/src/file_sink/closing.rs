//! How a file sink's files end: closed to a pending name, in the background after a roll
//! ([`Closing`]) or in line at a checkpoint ([`close_to_pending`]), and renamed to their final
//! name when a checkpoint commits them ([`commit_one`]).

use std::sync::Arc;

use bytes::Bytes;

use super::naming::Naming;
use super::writer::{OpenFile, Pending, content_error};
use crate::context::PendingFile;
use crate::error::ConnectorError;
use crate::fs::{FileSystem, FileWriter};

/// A rolled file closing in the background: its last bytes written, its blocks acknowledged
/// and completed, and its rename to the pending name, while the next file takes rows. A
/// checkpoint waits for it before it lists the pending files, so it is in the checkpoint
/// like a file closed in line.
pub(super) struct Closing {
    pub(super) task: tokio::task::JoinHandle<Result<Pending, ConnectorError>>,
    /// The in-progress name and the pending name: an abort deletes whichever exists.
    pub(super) paths: [String; 2],
}

impl Drop for Closing {
    fn drop(&mut self) {
        // A sink dropped mid-close leaves the file as an abort would (recovery removes it).
        self.task.abort();
    }
}

/// Writes out and closes `file` (durably), then renames it to its pending name.
pub(super) async fn close_to_pending(
    fs: Arc<dyn FileSystem>,
    naming: &Naming,
    attempt: u32,
    partition: String,
    file: OpenFile,
) -> Result<Pending, ConnectorError> {
    Ending::of(&*fs, naming, attempt, file)?
        .close(&*fs, partition)
        .await
}

/// A file whose content has ended (everything still buffered, with the end of the gzip
/// stream or the Parquet footer), to be written, closed and renamed to its pending name.
pub(super) struct Ending {
    seq: u64,
    /// The in-progress name.
    pub(super) path: String,
    /// The pending name.
    pub(super) pending: String,
    writer: Box<dyn FileWriter>,
    rest: Vec<u8>,
}

impl Ending {
    pub(super) fn of(
        fs: &dyn FileSystem,
        naming: &Naming,
        attempt: u32,
        file: OpenFile,
    ) -> Result<Ending, ConnectorError> {
        let OpenFile {
            seq,
            path,
            writer,
            content,
            ..
        } = file;
        let rest = content
            .finish()
            .map_err(|cause| content_error(fs, &path, cause))?;
        Ok(Ending {
            seq,
            pending: naming.pending(attempt, seq),
            path,
            writer,
            rest,
        })
    }

    /// Writes the rest, closes the file durably and renames it to its pending name.
    pub(super) async fn close(
        self,
        fs: &dyn FileSystem,
        partition: String,
    ) -> Result<Pending, ConnectorError> {
        let Ending {
            seq,
            path,
            pending,
            mut writer,
            rest,
        } = self;
        if !rest.is_empty() {
            writer.write(Bytes::from(rest)).await?;
        }
        writer.close().await?;
        fs.rename(&path, &pending).await?;
        Ok(Pending {
            seq,
            partition,
            path: pending,
            final_path: None,
        })
    }
}

/// Renames one pending file to its final path; returns its pending path. Idempotent: a file
/// already renamed (pending gone, final there) is committed. A file at neither path is lost
/// if `lost_if_gone` (this attempt held it uncommitted); otherwise it belongs to a completed
/// checkpoint that was published before, and a downstream consumer has moved it out of
/// `path` since: a warning, so that recovery goes on.
pub(super) async fn commit_one(
    fs: Arc<dyn FileSystem>,
    file: PendingFile,
    lost_if_gone: bool,
) -> Result<String, ConnectorError> {
    let PendingFile {
        pending_path,
        final_path,
    } = file;
    if let Err(error) = fs.rename(&pending_path, &final_path).await {
        if fs.exists(&pending_path).await? {
            return Err(error);
        }
        if fs.exists(&final_path).await? {
            tracing::debug!(file = %final_path, "already committed");
        } else if lost_if_gone {
            return Err(ConnectorError::PendingFileLost {
                pending: pending_path,
                final_path,
            });
        } else {
            tracing::warn!(
                pending = %pending_path,
                final_path = %final_path,
                "committed earlier and moved away downstream: neither the pending file nor its \
                 final path exists; its checkpoint completed, so it counts as committed"
            );
        }
    }
    Ok(pending_path)
}
