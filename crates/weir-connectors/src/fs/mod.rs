//! The file systems Weir writes to: the file sinks' output and the master's checkpoints.
//!
//! [`FileSystem`] is a small, object-safe async interface with two implementations:
//! [`LocalFs`] (tokio and std on the local file system) and [`HdfsFs`] (hdfs-native).
//! [`open_filesystem`] picks one from a URL. Paths given to a file system are either paths
//! within it (`/data/x`) or full URLs of it (`hdfs://nn:9000/data/x`); the paths it returns
//! are paths within it, and [`FileSystem::url_of`] turns them into full URLs. [`Confined`]
//! wraps either so that its user touches nothing outside given directories (a file sink: its
//! job's `path` and `tmp_path`).

mod confined;
mod hdfs;
mod local;

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

pub use self::confined::Confined;
pub use self::hdfs::HdfsFs;
pub use self::local::LocalFs;
use crate::context::BoxFuture;
use crate::error::ConnectorError;

/// What kind of failure a [`ConnectorError::FileSystem`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsErrorKind {
    /// The path (or, for a rename, its source) does not exist.
    NotFound,
    /// The path (or, for a rename, its target) already exists.
    AlreadyExists,
    /// Anything else: connection, permissions, a full disk, ...
    Other,
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStatus {
    /// The entry's path within the file system.
    pub path: String,
    /// Whether it is a directory.
    pub is_dir: bool,
    /// Its length in bytes (0 for directories).
    pub len: u64,
}

/// A file being written. Dropping it without [`FileWriter::close`] leaves the file
/// incomplete (HDFS: its lease is given up; the NameNode closes it later).
pub trait FileWriter: Send {
    /// Appends `data`. The writer may hand `data` to the file system's client without
    /// copying it (hdfs-native keeps slices of it until the DataNodes acknowledge them).
    fn write(&mut self, data: Bytes) -> BoxFuture<'_, Result<(), ConnectorError>>;

    /// Waits until the file system's client holds none of what was written so far: HDFS
    /// syncs the file (`hsync`: every packet acknowledged by the DataNodes); a local write
    /// is with the OS once it returns, so there is nothing to wait for.
    fn settle(&mut self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(async { Ok(()) })
    }

    /// Completes the file and makes it durable: local files are fsynced, HDFS files have all
    /// their blocks acknowledged and are completed at the NameNode.
    fn close(self: Box<Self>) -> BoxFuture<'static, Result<(), ConnectorError>>;
}

/// A file system: HDFS or the local one.
pub trait FileSystem: Send + Sync + std::fmt::Debug {
    /// How errors name this file system: `HDFS hdfs://nn:9000`, `local file system`.
    fn describe(&self) -> String;

    /// The full form of `path` (a path within this file system, or already a URL of it):
    /// `hdfs://nn:9000/data/x` for HDFS, the path itself for the local file system.
    fn url_of(&self, path: &str) -> String;

    /// Creates a new file at `path` and its missing parent directories. Fails
    /// ([`FsErrorKind::AlreadyExists`]) if the file exists.
    fn create<'a>(
        &'a self,
        path: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn FileWriter>, ConnectorError>>;

    /// Renames `from` to `to`, creating the parent of `to`. Fails if `to` exists
    /// ([`FsErrorKind::AlreadyExists`]) or `from` does not ([`FsErrorKind::NotFound`]).
    fn rename<'a>(
        &'a self,
        from: &'a str,
        to: &'a str,
    ) -> BoxFuture<'a, Result<(), ConnectorError>>;

    /// Renames `from` to `to`, replacing `to` if it exists (atomically: readers of `to` see
    /// the old file or the new one), creating the parent of `to`.
    fn replace<'a>(
        &'a self,
        from: &'a str,
        to: &'a str,
    ) -> BoxFuture<'a, Result<(), ConnectorError>>;

    /// Deletes the file or directory at `path` (a non-empty directory only with
    /// `recursive`). A missing path is not an error.
    fn delete<'a>(
        &'a self,
        path: &'a str,
        recursive: bool,
    ) -> BoxFuture<'a, Result<(), ConnectorError>>;

    /// The entries of directory `dir`, sorted by path; a missing directory has none.
    fn list<'a>(&'a self, dir: &'a str) -> BoxFuture<'a, Result<Vec<FileStatus>, ConnectorError>>;

    /// Creates directory `path` and its missing parents; an existing directory is fine.
    fn mkdirs<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<(), ConnectorError>>;

    /// Whether a file or directory exists at `path`.
    fn exists<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<bool, ConnectorError>>;

    /// The whole content of the file at `path` (for small files: checkpoint metadata).
    fn read<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Vec<u8>, ConnectorError>>;
}

/// Settings of the file system clients, from a sink's options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FsOptions {
    /// Hadoop client settings (`hdfs.config`): name services, HA NameNodes, ... Ignored by
    /// the local file system.
    pub hdfs_config: BTreeMap<String, String>,
    /// The HDFS user to act as (`remote_user`); absent: `HADOOP_USER_NAME` or the process's
    /// user.
    pub remote_user: Option<String>,
}

/// Opens the file system of `url_or_path` and returns it with the path within it:
/// `hdfs://host:port/dir` (or `hdfs://<nameservice>/dir` with the name service in
/// `options.hdfs_config`) → HDFS and `/dir`; `file:///dir` and plain paths → the local file
/// system. Must be called within a tokio runtime (the HDFS client spawns its tasks there).
pub fn open_filesystem(
    url_or_path: &str,
    options: &FsOptions,
) -> Result<(Arc<dyn FileSystem>, String), ConnectorError> {
    if let Some(rest) = url_or_path.strip_prefix("hdfs://") {
        let (authority, path) = match rest.find('/') {
            Some(slash) => (&rest[..slash], &rest[slash..]),
            None => (rest, "/"),
        };
        let fs = HdfsFs::connect(authority, options)?;
        return Ok((Arc::new(fs), path.to_string()));
    }
    if let Some(path) = url_or_path.strip_prefix("file://") {
        return Ok((Arc::new(LocalFs), path.to_string()));
    }
    match url_or_path.split_once("://") {
        Some((scheme, _)) => Err(ConnectorError::FileSystem {
            fs: format!("{scheme}://"),
            action: "opening",
            path: url_or_path.to_string(),
            cause: "unsupported file system (Weir writes to hdfs://, file:// and local paths)"
                .to_string(),
            kind: FsErrorKind::Other,
        }),
        None => Ok((Arc::new(LocalFs), url_or_path.to_string())),
    }
}

/// Writes `bytes` to `path` as a whole: to a hidden temporary sibling first, closed
/// (durable), then renamed over `path`. Readers see the old content or the new, never a
/// part. For small files (checkpoint metadata).
pub async fn write_atomically(
    fs: &dyn FileSystem,
    path: &str,
    bytes: Bytes,
) -> Result<(), ConnectorError> {
    let (parent, name) = split_parent(path);
    let temp = format!("{parent}/.{name}.weir-tmp");
    // A temporary file left by a crash between create and rename would make create fail.
    fs.delete(&temp, false).await?;
    let mut writer = fs.create(&temp).await?;
    writer.write(bytes).await?;
    writer.close().await?;
    fs.replace(&temp, path).await
}

/// `/a/b/c` → (`/a/b`, `c`); `/c` → (``, `c`).
pub(crate) fn split_parent(path: &str) -> (&str, &str) {
    let path = path.trim_end_matches('/');
    path.rsplit_once('/').unwrap_or(("", path))
}

/// `dir` joined with `name` by exactly one `/`.
pub(crate) fn join_path(dir: &str, name: &str) -> String {
    let dir = dir.trim_end_matches('/');
    let name = name.trim_start_matches('/');
    format!("{dir}/{name}")
}
