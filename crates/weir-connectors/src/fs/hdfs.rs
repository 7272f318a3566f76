//! HDFS through hdfs-native (a pure Rust client speaking the NameNode and DataNode protocols).

use bytes::Bytes;
use hdfs_native::{Client, ClientBuilder, HdfsError, WriteOptions};

use super::{FileStatus, FileSystem, FileWriter, FsErrorKind, FsOptions, split_parent};
use crate::context::BoxFuture;
use crate::error::ConnectorError;

/// Permission of the directories Weir creates (files get hdfs-native's 0644).
const DIR_PERMISSION: u32 = 0o755;

/// One HDFS (a NameNode or an HA name service), e.g. `hdfs://nn:9000`.
#[derive(Clone)]
pub struct HdfsFs {
    client: Client,
    /// `hdfs://<authority>`, without a trailing slash.
    base: String,
}

impl std::fmt::Debug for HdfsFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HdfsFs").field("base", &self.base).finish()
    }
}

impl HdfsFs {
    /// A client of `hdfs://<authority>`: `host:port`, or a name service defined in
    /// `options.hdfs_config` (`dfs.nameservices`, `dfs.ha.namenodes.<ns>`, ...). Connections
    /// are made on first use.
    pub fn connect(authority: &str, options: &FsOptions) -> Result<Self, ConnectorError> {
        let base = format!("hdfs://{}", authority.trim_end_matches('/'));
        let mut builder = ClientBuilder::new()
            .with_url(base.as_str())
            .with_config(options.hdfs_config.clone());
        if let Some(user) = &options.remote_user {
            builder = builder.with_user(user.as_str());
        }
        let client = builder
            .build()
            .map_err(|cause| ConnectorError::FileSystem {
                fs: format!("HDFS {base}"),
                action: "connecting to",
                path: base.clone(),
                cause: cause_of(&cause),
                kind: FsErrorKind::Other,
            })?;
        Ok(HdfsFs { client, base })
    }

    /// `path` within this file system: a full URL of it loses its `hdfs://<authority>`.
    fn within<'a>(&self, path: &'a str) -> &'a str {
        match path.strip_prefix(self.base.as_str()) {
            Some("") => "/",
            Some(rest) if rest.starts_with('/') => rest,
            _ => path,
        }
    }

    fn error(&self, action: &'static str, path: &str, cause: &HdfsError) -> ConnectorError {
        hdfs_error(&self.base, action, path, cause)
    }

    async fn create_parent(&self, path: &str) -> Result<(), ConnectorError> {
        let (parent, _) = split_parent(path);
        if parent.is_empty() {
            return Ok(());
        }
        self.client
            .mkdirs(parent, DIR_PERMISSION, true)
            .await
            .map_err(|cause| self.error("creating directory", parent, &cause))
    }

    async fn rename_to(&self, from: &str, to: &str, overwrite: bool) -> Result<(), ConnectorError> {
        let (from, to) = (self.within(from), self.within(to));
        self.create_parent(to).await?;
        let action = if overwrite { "replacing" } else { "renaming" };
        self.client
            .rename(from, to, overwrite)
            .await
            .map_err(|cause| self.error(action, &format!("{from} -> {to}"), &cause))
    }
}

fn hdfs_error(base: &str, action: &'static str, path: &str, cause: &HdfsError) -> ConnectorError {
    ConnectorError::FileSystem {
        fs: format!("HDFS {base}"),
        action,
        path: path.to_string(),
        cause: cause_of(cause),
        kind: kind_of(cause),
    }
}

fn kind_of(error: &HdfsError) -> FsErrorKind {
    match error {
        HdfsError::FileNotFound(_) => FsErrorKind::NotFound,
        HdfsError::AlreadyExists(_) => FsErrorKind::AlreadyExists,
        HdfsError::RPCError(class, _) if class.ends_with("FileNotFoundException") => {
            FsErrorKind::NotFound
        }
        HdfsError::RPCError(class, _) if class.ends_with("FileAlreadyExistsException") => {
            FsErrorKind::AlreadyExists
        }
        _ => FsErrorKind::Other,
    }
}

/// The client's description, shortened: an I/O error as the OS words it (`Connection refused
/// (os error 111)`), an RPC error as the Java exception's first line.
fn cause_of(error: &HdfsError) -> String {
    match error {
        HdfsError::IOError(io) => io.to_string(),
        HdfsError::RPCError(class, message) | HdfsError::FatalRPCError(class, message) => {
            let first = message.lines().next().unwrap_or_default();
            let short = class.rsplit('.').next().unwrap_or(class);
            format!("{short}: {first}")
        }
        other => other.to_string(),
    }
}

impl FileSystem for HdfsFs {
    fn describe(&self) -> String {
        format!("HDFS {}", self.base)
    }

    fn url_of(&self, path: &str) -> String {
        format!("{}{}", self.base, self.within(path))
    }

    fn create<'a>(
        &'a self,
        path: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn FileWriter>, ConnectorError>> {
        Box::pin(async move {
            let path = self.within(path);
            let options = WriteOptions::default().overwrite(false).create_parent(true);
            let writer = self
                .client
                .create(path, options)
                .await
                .map_err(|cause| self.error("creating", path, &cause))?;
            Ok(Box::new(HdfsFileWriter {
                writer,
                base: self.base.clone(),
                path: path.to_string(),
            }) as Box<dyn FileWriter>)
        })
    }

    fn rename<'a>(
        &'a self,
        from: &'a str,
        to: &'a str,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(self.rename_to(from, to, false))
    }

    fn replace<'a>(
        &'a self,
        from: &'a str,
        to: &'a str,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(self.rename_to(from, to, true))
    }

    fn delete<'a>(
        &'a self,
        path: &'a str,
        recursive: bool,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            let path = self.within(path);
            // `false` means there was nothing to delete, which is fine.
            match self.client.delete(path, recursive).await {
                Ok(_) => Ok(()),
                Err(cause) if kind_of(&cause) == FsErrorKind::NotFound => Ok(()),
                Err(cause) => Err(self.error("deleting", path, &cause)),
            }
        })
    }

    fn list<'a>(&'a self, dir: &'a str) -> BoxFuture<'a, Result<Vec<FileStatus>, ConnectorError>> {
        Box::pin(async move {
            let dir = self.within(dir);
            let statuses = match self.client.list_status(dir, false).await {
                Ok(statuses) => statuses,
                Err(cause) if kind_of(&cause) == FsErrorKind::NotFound => return Ok(Vec::new()),
                Err(cause) => return Err(self.error("listing", dir, &cause)),
            };
            let mut listing: Vec<FileStatus> = statuses
                .into_iter()
                .map(|status| FileStatus {
                    path: status.path,
                    is_dir: status.isdir,
                    len: status.length as u64,
                })
                .collect();
            listing.sort_by(|a, b| a.path.cmp(&b.path));
            Ok(listing)
        })
    }

    fn mkdirs<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            let path = self.within(path);
            self.client
                .mkdirs(path, DIR_PERMISSION, true)
                .await
                .map_err(|cause| self.error("creating directory", path, &cause))
        })
    }

    fn exists<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<bool, ConnectorError>> {
        Box::pin(async move {
            let path = self.within(path);
            match self.client.get_file_info(path).await {
                Ok(_) => Ok(true),
                Err(cause) if kind_of(&cause) == FsErrorKind::NotFound => Ok(false),
                Err(cause) => Err(self.error("checking", path, &cause)),
            }
        })
    }

    fn read<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Vec<u8>, ConnectorError>> {
        Box::pin(async move {
            let path = self.within(path);
            let mut reader = self
                .client
                .read(path)
                .await
                .map_err(|cause| self.error("opening", path, &cause))?;
            let bytes = reader
                .read_bytes(reader.file_length())
                .await
                .map_err(|cause| self.error("reading", path, &cause))?;
            Ok(Vec::from(bytes))
        })
    }
}

/// An HDFS file being written.
struct HdfsFileWriter {
    writer: hdfs_native::file::FileWriter,
    base: String,
    path: String,
}

impl FileWriter for HdfsFileWriter {
    fn write(&mut self, data: Bytes) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(async move {
            self.writer
                .write_bytes(data)
                .await
                .map(drop)
                .map_err(|cause| hdfs_error(&self.base, "writing", &self.path, &cause))
        })
    }

    fn settle(&mut self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(async move {
            self.writer
                .hsync()
                .await
                .map_err(|cause| hdfs_error(&self.base, "syncing", &self.path, &cause))
        })
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, Result<(), ConnectorError>> {
        let HdfsFileWriter {
            mut writer,
            base,
            path,
        } = *self;
        Box::pin(async move {
            // Waits for every packet's acknowledgement and completes the file at the
            // NameNode: its data is then replicated and durable.
            writer
                .close()
                .await
                .map_err(|cause| hdfs_error(&base, "closing", &path, &cause))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::open_filesystem;
    use super::*;

    #[tokio::test]
    async fn errors_name_the_file_system_the_path_and_the_cause() {
        // Nothing listens on port 1: the connection is refused at once. The client's retries
        // (15 by default, up to 15 s apart) are cut short through `hdfs.config`.
        let options = FsOptions {
            hdfs_config: [
                ("dfs.client.failover.max.attempts", "1"),
                ("dfs.client.failover.sleep.base.millis", "10"),
                ("dfs.client.failover.sleep.max.millis", "10"),
            ]
            .into_iter()
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect(),
            remote_user: Some("weir".into()),
        };
        let (fs, path) = open_filesystem("hdfs://127.0.0.1:1/x", &options).unwrap();
        assert_eq!(path, "/x");
        assert_eq!(fs.url_of("/x/y"), "hdfs://127.0.0.1:1/x/y");
        assert_eq!(
            fs.url_of("hdfs://127.0.0.1:1/x/y"),
            "hdfs://127.0.0.1:1/x/y"
        );
        let started = std::time::Instant::now();
        let error = fs.create("/x/y").await.err().unwrap();
        let message = error.to_string();
        assert!(
            message.starts_with("HDFS hdfs://127.0.0.1:1: ")
                && message.to_lowercase().contains("connection refused")
                && message.ends_with("while creating /x/y"),
            "{message} (after {:?})",
            started.elapsed()
        );
    }
}
