//! SeaTunnel's save modes of the file sinks (`schema_save_mode`, `data_save_mode`), applied
//! by [`FileSink::recover`] at a start from no checkpoint.

use weir_core::config::{DataSaveMode, SchemaSaveMode};

use super::writer::FileSink;
use crate::error::ConnectorError;
use crate::fs::{Confined, FileSystem};

impl FileSink {
    /// SeaTunnel's save modes, at a start from no checkpoint: nothing of the job is committed
    /// yet (commits follow completed checkpoints, and every subtask has been through here
    /// before the first completes), so what they delete is never the job's own output. Each
    /// subtask applies them on its worker's file system; concurrent deletes of the same
    /// entries are harmless (a missing entry is no error).
    pub(super) async fn apply_save_modes(&mut self) -> Result<(), ConnectorError> {
        let root = self.naming.root().to_string();
        let url = self.fs.url_of(&root);
        let (schema, data) = self.save_modes;
        match schema {
            // The first committed file creates `path`, as every commit creates its directory.
            SchemaSaveMode::CreateSchemaWhenNotExist | SchemaSaveMode::Ignore => {}
            SchemaSaveMode::RecreateSchema => {
                // `path` itself stays (a sink may change only what is below its roots): what
                // is in it goes, which leaves the same empty directory.
                let removed = empty_dir(&self.fs, &root).await?;
                self.fs.mkdirs(&root).await?;
                tracing::info!(%url, removed, "schema_save_mode = RECREATE_SCHEMA: path recreated");
            }
            SchemaSaveMode::ErrorWhenSchemaNotExist => {
                if !self.fs.exists(&root).await? {
                    return Err(ConnectorError::SaveMode {
                        option: "schema_save_mode",
                        mode: "ERROR_WHEN_SCHEMA_NOT_EXIST",
                        found: format!("{url} does not exist"),
                    });
                }
            }
        }
        match data {
            DataSaveMode::AppendData => {}
            DataSaveMode::DropData => {
                let removed = empty_dir(&self.fs, &root).await?;
                tracing::info!(%url, removed, "data_save_mode = DROP_DATA: data removed");
            }
            DataSaveMode::ErrorWhenDataExists => {
                let entries = self.fs.list(&root).await?;
                if !entries.is_empty() {
                    return Err(ConnectorError::SaveMode {
                        option: "data_save_mode",
                        mode: "ERROR_WHEN_DATA_EXISTS",
                        found: format!("{url} holds {} entries", entries.len()),
                    });
                }
            }
        }
        Ok(())
    }
}

/// Deletes everything below `dir`; how many entries it held.
async fn empty_dir(fs: &Confined, dir: &str) -> Result<usize, ConnectorError> {
    let entries = fs.list(dir).await?;
    for entry in &entries {
        fs.delete(&entry.path, true).await?;
    }
    Ok(entries.len())
}
