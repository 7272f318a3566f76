//! [`Confined`]: a [`FileSystem`] that only lets its user touch files under given roots.
//!
//! A file sink wraps its file system in one, with the job's `path` and `tmp_path` as roots, so
//! every file it creates, renames, deletes, lists or reads — whether the name came from its own
//! naming or from a request (a checkpoint's commit, a restore point) — passes one check:
//!
//! - the path is normalised: it must be absolute, `.` and empty segments are dropped, and a
//!   `..` segment is refused outright (never resolved);
//! - a full URL must be one of this file system (`hdfs://<the same authority>/…`; `file://`
//!   for the local one);
//! - the normalised path must lie below a root (a mutation: strictly below; a lookup: the root
//!   itself too);
//! - on the local file system, symbolic links are resolved as the kernel would: the path's
//!   deepest existing ancestor (the path itself when it exists) is canonicalised, and the
//!   result must still lie below the canonicalised root. A link inside the job's directories
//!   pointing elsewhere is refused, not followed.
//!
//! A refusal is an error ([`ConnectorError::OutsideJobPaths`]) and a security event, logged at
//! `warn` on the `weir::security` target with the task that attempted it. The check and the
//! operation are separate system calls: someone who can replace a directory of the job with a
//! link between the two could still race it, but that needs write access to the job's
//! directories, which the worker's own user already guards.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::{FileStatus, FileSystem, FileWriter};
use crate::context::BoxFuture;
use crate::error::ConnectorError;

/// Whether an operation changes the file system (then only paths strictly below a root are
/// allowed) or only looks (the root itself is fine too).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Access {
    Change,
    Look,
}

/// A [`FileSystem`] restricted to the directories below `roots`. See the module docs.
#[derive(Debug)]
pub struct Confined {
    inner: Arc<dyn FileSystem>,
    /// Normalised, within the file system.
    roots: Vec<String>,
    /// Resolve symbolic links before checking (the local file system).
    resolve_links: bool,
    /// The prefix of full URLs of `inner` (`hdfs://nn:9000`), empty for the local file system.
    url_base: String,
    /// Who uses it, for security log lines: `job J subtask S attempt A`.
    owner: String,
}

impl Confined {
    /// Confines `inner` to `roots` (paths within it, or URLs of it). `resolve_links` must be
    /// set for the local file system. A root that is not an absolute path without `..` is an
    /// error: the job's options were checked when it was parsed, so this only guards against
    /// a caller's mistake.
    pub fn new(
        inner: Arc<dyn FileSystem>,
        roots: &[&str],
        resolve_links: bool,
        owner: String,
    ) -> Result<Self, ConnectorError> {
        let url_base = if resolve_links {
            String::new()
        } else {
            inner.url_of("/").trim_end_matches('/').to_string()
        };
        let mut confined = Confined {
            inner,
            roots: Vec::new(),
            resolve_links,
            url_base,
            owner,
        };
        for root in roots {
            let normalised = confined
                .normalise(root)
                .map_err(|reason| confined.refusal("confining to", root, &reason))?;
            confined.roots.push(normalised);
        }
        Ok(confined)
    }

    /// The roots, normalised.
    pub fn roots(&self) -> &[String] {
        &self.roots
    }

    /// `path` (a path within the file system or a URL of it) as a normalised absolute path
    /// within it, or why it is not acceptable. No root check.
    pub fn normalise(&self, path: &str) -> Result<String, String> {
        let mut within = path;
        if self.resolve_links {
            within = within.strip_prefix("file://").unwrap_or(within);
        }
        if within.contains("://") {
            let rest = within
                .strip_prefix(self.url_base.as_str())
                .filter(|rest| {
                    !self.url_base.is_empty() && (rest.is_empty() || rest.starts_with('/'))
                })
                .ok_or_else(|| format!("is not on this file system ({})", self.inner.describe()))?;
            within = if rest.is_empty() { "/" } else { rest };
        }
        normalise_absolute(within)
    }

    /// The checked form of `path` for `action`, or the refusal (logged as a security event).
    async fn check(
        &self,
        action: &'static str,
        path: &str,
        access: Access,
    ) -> Result<String, ConnectorError> {
        let normalised = self
            .normalise(path)
            .map_err(|reason| self.refusal(action, path, &reason))?;
        let Some(root) = self
            .roots
            .iter()
            .find(|root| is_below(&normalised, root, access))
        else {
            return Err(self.refusal(action, path, "is outside the job's directories"));
        };
        if self.resolve_links {
            let (target, root) = (normalised.clone(), root.clone());
            let resolved = tokio::task::spawn_blocking(move || {
                Ok::<_, std::io::Error>((resolve(Path::new(&target))?, resolve(Path::new(&root))?))
            })
            .await
            .map_err(|join| ConnectorError::Interrupted {
                what: "resolving a path",
                reason: format!("{action} {path}: {join}"),
            })?;
            let (resolved, resolved_root) =
                resolved.map_err(|cause| ConnectorError::FileSystem {
                    fs: self.inner.describe(),
                    action: "resolving",
                    path: normalised.clone(),
                    cause: cause.to_string(),
                    kind: super::FsErrorKind::Other,
                })?;
            let below = resolved
                .strip_prefix(&resolved_root)
                .is_ok_and(|rest| access == Access::Look || rest.components().next().is_some());
            if !below {
                return Err(self.refusal(
                    action,
                    path,
                    &format!(
                        "resolves through a symbolic link to {}, outside the job's directories",
                        resolved.display()
                    ),
                ));
            }
        }
        Ok(normalised)
    }

    /// The error for a refused operation, logged as a security event.
    fn refusal(&self, action: &'static str, path: &str, reason: &str) -> ConnectorError {
        let roots = self.roots.join(", ");
        tracing::warn!(
            target: weir_core::SECURITY_TARGET,
            owner = %self.owner,
            action,
            path,
            reason,
            roots = %roots,
            "refused a file operation outside the job's directories"
        );
        ConnectorError::OutsideJobPaths {
            action,
            path: path.to_string(),
            reason: reason.to_string(),
            roots: if roots.is_empty() {
                "(none)".to_string()
            } else {
                roots
            },
        }
    }
}

/// `path` made absolute-and-clean: `.` and empty segments dropped; not absolute, a `..`
/// segment or a NUL byte is refused.
fn normalise_absolute(path: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err("is not an absolute path".to_string());
    }
    if path.contains('\0') {
        return Err("contains a NUL byte".to_string());
    }
    let mut out = String::with_capacity(path.len());
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => return Err("contains a '..' segment".to_string()),
            segment => {
                out.push('/');
                out.push_str(segment);
            }
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// Whether normalised `path` is below normalised `root` (or `root` itself, when looking).
fn is_below(path: &str, root: &str, access: Access) -> bool {
    if path == root {
        return access == Access::Look;
    }
    root == "/"
        || path
            .strip_prefix(root)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// `path` with every symbolic link resolved: its deepest existing ancestor canonicalised, the
/// rest (which does not exist yet, so holds no link) appended. `path` is normalised (no `..`).
fn resolve(path: &Path) -> std::io::Result<PathBuf> {
    let mut existing = path;
    let mut missing = Vec::new();
    loop {
        match std::fs::canonicalize(existing) {
            Ok(mut resolved) => {
                resolved.extend(missing.iter().rev());
                return Ok(resolved);
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                let (Some(parent), Some(name)) = (existing.parent(), existing.file_name()) else {
                    return Err(error);
                };
                missing.push(name);
                existing = parent;
            }
            Err(error) => return Err(error),
        }
    }
}

impl FileSystem for Confined {
    fn describe(&self) -> String {
        self.inner.describe()
    }

    fn url_of(&self, path: &str) -> String {
        self.inner.url_of(path)
    }

    fn create<'a>(
        &'a self,
        path: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn FileWriter>, ConnectorError>> {
        Box::pin(async move {
            let path = self.check("creating", path, Access::Change).await?;
            self.inner.create(&path).await
        })
    }

    fn rename<'a>(
        &'a self,
        from: &'a str,
        to: &'a str,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            let from = self.check("renaming", from, Access::Change).await?;
            let to = self.check("renaming to", to, Access::Change).await?;
            self.inner.rename(&from, &to).await
        })
    }

    fn replace<'a>(
        &'a self,
        from: &'a str,
        to: &'a str,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            let from = self.check("replacing", from, Access::Change).await?;
            let to = self.check("replacing", to, Access::Change).await?;
            self.inner.replace(&from, &to).await
        })
    }

    fn delete<'a>(
        &'a self,
        path: &'a str,
        recursive: bool,
    ) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            let path = self.check("deleting", path, Access::Change).await?;
            self.inner.delete(&path, recursive).await
        })
    }

    fn list<'a>(&'a self, dir: &'a str) -> BoxFuture<'a, Result<Vec<FileStatus>, ConnectorError>> {
        Box::pin(async move {
            let dir = self.check("listing", dir, Access::Look).await?;
            self.inner.list(&dir).await
        })
    }

    fn mkdirs<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<(), ConnectorError>> {
        Box::pin(async move {
            let path = self.check("creating directory", path, Access::Look).await?;
            self.inner.mkdirs(&path).await
        })
    }

    fn exists<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<bool, ConnectorError>> {
        Box::pin(async move {
            let path = self.check("looking up", path, Access::Look).await?;
            self.inner.exists(&path).await
        })
    }

    fn read<'a>(&'a self, path: &'a str) -> BoxFuture<'a, Result<Vec<u8>, ConnectorError>> {
        Box::pin(async move {
            let path = self.check("reading", path, Access::Look).await?;
            self.inner.read(&path).await
        })
    }
}

#[cfg(test)]
mod tests;
