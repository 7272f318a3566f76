//! The local file system: std's blocking calls on tokio's blocking pool.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;

use super::{FileStatus, FileSystem, FileWriter, FsErrorKind, split_parent};
use crate::context::BoxFuture;
use crate::error::ConnectorError;

/// The local file system. Paths are plain paths; `file://` URLs are accepted too.
#[derive(Debug, Clone, Copy, Default)]
pub struct LocalFs;

const DESCRIBE: &str = "local file system";

fn local(path: &str) -> &str {
    path.strip_prefix("file://").unwrap_or(path)
}

fn error(action: &'static str, path: &str, cause: &io::Error) -> ConnectorError {
    let kind = match cause.kind() {
        io::ErrorKind::NotFound => FsErrorKind::NotFound,
        io::ErrorKind::AlreadyExists => FsErrorKind::AlreadyExists,
        _ => FsErrorKind::Other,
    };
    ConnectorError::FileSystem {
        fs: DESCRIBE.to_string(),
        action,
        path: path.to_string(),
        cause: cause.to_string(),
        kind,
    }
}

/// Runs blocking file system work on tokio's blocking pool; `action` and `path` name it in
/// errors.
async fn blocking<T: Send + 'static>(
    action: &'static str,
    path: String,
    work: impl FnOnce(&str) -> io::Result<T> + Send + 'static,
) -> Result<T, ConnectorError> {
    let shown = path.clone();
    tokio::task::spawn_blocking(move || work(&path).map_err(|cause| error(action, &path, &cause)))
        .await
        .map_err(|join| ConnectorError::Interrupted {
            what: "local file system call",
            reason: format!("{action} {shown}: {join}"),
        })?
}

/// fsync of a directory makes the creation, removal or renaming of its entries durable.
fn sync_dir(dir: &str) -> io::Result<()> {
    let dir = if dir.is_empty() { "/" } else { dir };
    File::open(dir)?.sync_all()
}

fn create_parent(path: &str) -> io::Result<()> {
    let (parent, _) = split_parent(path);
    if parent.is_empty() {
        return Ok(());
    }
    std::fs::create_dir_all(parent)
}

/// Makes the file at `from` durable, then renames it (`replace`: over an existing `to`).
fn rename_durably(from: &str, to: &str, replace: bool) -> io::Result<()> {
    File::open(from)?.sync_all()?;
    if !replace && Path::new(to).exists() {
        // POSIX rename replaces silently; the check makes an existing target an error. Only
        // one writer ever renames to a given name, so the check cannot race another rename.
        return Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("{to} already exists"),
        ));
    }
    create_parent(to)?;
    std::fs::rename(from, to)?;
    let (parent, _) = split_parent(to);
    sync_dir(parent)
}

impl FileSystem for LocalFs {
    fn describe(&self) -> String {
        DESCRIBE.to_string()
    }

    fn url_of(&self, path: &str) -> String {
        local(path).to_string()
    }

    fn create<'a>(
        &'a self,
        path: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn FileWriter>, ConnectorError>> {
        let path = local(path).to_string();
        Box::pin(async move {
            let file = blocking("creating", path.clone(), |path| {
                create_parent(path)?;
                OpenOptions::new().write(true).create_new(true).open(path)
            })
            .await?;
            Ok(Box::new(LocalFileWriter {
                file: Arc::new(file),
                path,
            }) as Box<dyn FileWriter>)
        })
    }

    fn rename<'a>(
        &'a self,
        from: &'a str,
        to: &'a str,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        let (from, to) = (local(from).to_string(), local(to).to_string());
        Box::pin(blocking("renaming", format!("{from} -> {to}"), move |_| {
            rename_durably(&from, &to, false)
        }))
    }

    fn replace<'a>(
        &'a self,
        from: &'a str,
        to: &'a str,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        let (from, to) = (local(from).to_string(), local(to).to_string());
        Box::pin(blocking(
            "replacing",
            format!("{from} -> {to}"),
            move |_| rename_durably(&from, &to, true),
        ))
    }

    fn delete<'a>(
        &'a self,
        path: &'a str,
        recursive: bool,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        let path = local(path).to_string();
        Box::pin(blocking("deleting", path, move |path| {
            let result = match std::fs::symlink_metadata(path) {
                Ok(meta) if meta.is_dir() && recursive => std::fs::remove_dir_all(path),
                Ok(meta) if meta.is_dir() => std::fs::remove_dir(path),
                Ok(_) => std::fs::remove_file(path),
                Err(error) => Err(error),
            };
            match result {
                Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(()),
                other => other,
            }
        }))
    }

    fn list<'a>(&'a self, dir: &'a str) -> BoxFuture<'a, Result<Vec<FileStatus>, ConnectorError>> {
        let dir = local(dir).to_string();
        Box::pin(blocking("listing", dir, |dir| {
            let entries = match std::fs::read_dir(dir) {
                Ok(entries) => entries,
                Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(error) => return Err(error),
            };
            let mut statuses = Vec::new();
            for entry in entries {
                let entry = entry?;
                let meta = entry.metadata()?;
                statuses.push(FileStatus {
                    path: super::join_path(dir, &entry.file_name().to_string_lossy()),
                    is_dir: meta.is_dir(),
                    len: if meta.is_dir() { 0 } else { meta.len() },
                });
            }
            statuses.sort_by(|a, b| a.path.cmp(&b.path));
            Ok(statuses)
        }))
    }

    fn mkdirs<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<(), ConnectorError>> {
        let path = local(path).to_string();
        Box::pin(blocking("creating directory", path, |path| {
            std::fs::create_dir_all(path)
        }))
    }

    fn exists<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<bool, ConnectorError>> {
        let path = local(path).to_string();
        Box::pin(blocking("checking", path, |path| {
            Path::new(path).try_exists()
        }))
    }

    fn read<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Vec<u8>, ConnectorError>> {
        let path = local(path).to_string();
        Box::pin(blocking("reading", path, |path| std::fs::read(path)))
    }
}

/// A local file being written. Writes run on the blocking pool with the caller's buffer
/// (no copy into a second buffer), one at a time.
struct LocalFileWriter {
    file: Arc<File>,
    path: String,
}

impl FileWriter for LocalFileWriter {
    fn write(&mut self, data: Bytes) -> BoxFuture<'_, Result<(), ConnectorError>> {
        let file = self.file.clone();
        Box::pin(blocking("writing", self.path.clone(), move |_| {
            (&*file).write_all(&data)
        }))
    }

    fn close(self: Box<Self>) -> BoxFuture<'static, Result<(), ConnectorError>> {
        let LocalFileWriter { file, path } = *self;
        Box::pin(blocking("closing", path, move |_| file.sync_all()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{FileSystem, FsErrorKind, open_filesystem, write_atomically};
    use super::*;

    fn kind(error: &ConnectorError) -> Option<FsErrorKind> {
        match error {
            ConnectorError::FileSystem { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    #[tokio::test]
    async fn operations_follow_the_file_system_contract() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_string_lossy().to_string();
        let (fs, base) = open_filesystem(&format!("file://{root}"), &Default::default()).unwrap();
        assert_eq!(base, root);
        let a = format!("{root}/x/a");
        let b = format!("{root}/y/z/b");

        let mut writer = fs.create(&a).await.unwrap();
        writer.write(Bytes::from_static(b"hello ")).await.unwrap();
        writer.write(Bytes::from_static(b"world")).await.unwrap();
        writer.close().await.unwrap();
        let again = fs.create(&a).await.err().unwrap();
        assert_eq!(kind(&again), Some(FsErrorKind::AlreadyExists));

        fs.rename(&a, &b).await.unwrap();
        assert!(!fs.exists(&a).await.unwrap());
        assert_eq!(fs.read(&b).await.unwrap(), b"hello world");
        let missing = fs.rename(&a, &b).await.unwrap_err();
        assert_eq!(kind(&missing), Some(FsErrorKind::NotFound));
        assert!(
            missing.to_string().starts_with("local file system: "),
            "{missing}"
        );
        assert!(missing.to_string().contains("while renaming"), "{missing}");

        fs.create(&a).await.unwrap().close().await.unwrap();
        let taken = fs.rename(&a, &b).await.unwrap_err();
        assert_eq!(kind(&taken), Some(FsErrorKind::AlreadyExists));
        fs.replace(&a, &b).await.unwrap();
        assert_eq!(fs.read(&b).await.unwrap(), b"");

        let listing = fs.list(&format!("{root}/y/z")).await.unwrap();
        assert_eq!(listing.len(), 1);
        assert_eq!(
            (listing[0].path.as_str(), listing[0].is_dir),
            (b.as_str(), false)
        );
        assert!(fs.list(&format!("{root}/nope")).await.unwrap().is_empty());
        fs.delete(&format!("{root}/nope"), false).await.unwrap();
        fs.mkdirs(&format!("{root}/m/n")).await.unwrap();
        assert!(fs.exists(&format!("{root}/m/n")).await.unwrap());
        fs.delete(&format!("{root}/y"), true).await.unwrap();
        assert!(!fs.exists(&b).await.unwrap());
    }

    #[tokio::test]
    async fn write_atomically_replaces_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = format!("{}/meta/checkpoint", dir.path().display());
        write_atomically(&LocalFs, &path, Bytes::from_static(b"one"))
            .await
            .unwrap();
        write_atomically(&LocalFs, &path, Bytes::from_static(b"two"))
            .await
            .unwrap();
        assert_eq!(LocalFs.read(&path).await.unwrap(), b"two");
        let names: Vec<String> = LocalFs
            .list(&format!("{}/meta", dir.path().display()))
            .await
            .unwrap()
            .into_iter()
            .map(|status| status.path)
            .collect();
        assert_eq!(names, [path]);
    }

    #[test]
    fn unsupported_schemes_are_named() {
        let error = open_filesystem("s3a://bucket/x", &Default::default()).unwrap_err();
        assert!(
            error.to_string().contains("unsupported file system"),
            "{error}"
        );
    }
}
