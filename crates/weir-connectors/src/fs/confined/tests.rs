//! [`Confined`] on the local file system, in a temporary directory: what it lets through and
//! what it refuses, with nothing outside the roots touched.

use std::path::Path;

use super::*;
use crate::fs::LocalFs;

/// A temporary directory with `out` and `tmp` as the roots and `outside` beside them.
struct Dirs {
    dir: tempfile::TempDir,
}

impl Dirs {
    fn new() -> Self {
        let dirs = Dirs {
            dir: tempfile::tempdir().unwrap(),
        };
        for name in ["out", "tmp", "outside"] {
            std::fs::create_dir_all(dirs.path(name)).unwrap();
        }
        dirs
    }

    fn path(&self, relative: &str) -> String {
        self.dir.path().join(relative).display().to_string()
    }

    fn confined(&self) -> Confined {
        Confined::new(
            Arc::new(LocalFs),
            &[&self.path("out"), &self.path("tmp")],
            true,
            "job j subtask 0 attempt 1".into(),
        )
        .unwrap()
    }
}

fn refused<T>(result: Result<T, ConnectorError>, reason: &str) {
    match result {
        Err(ConnectorError::OutsideJobPaths { reason: actual, .. }) => assert!(
            actual.contains(reason),
            "refused for {actual:?}, not {reason:?}"
        ),
        Err(other) => panic!("failed otherwise than refused ({reason}): {other}"),
        Ok(_) => panic!("not refused ({reason})"),
    }
}

async fn write(fs: &Confined, path: &str, text: &str) {
    let mut writer = fs.create(path).await.unwrap();
    writer
        .write(bytes::Bytes::from(text.to_string()))
        .await
        .unwrap();
    writer.close().await.unwrap();
}

#[tokio::test]
async fn files_below_the_roots_can_be_written_renamed_and_deleted() {
    let dirs = Dirs::new();
    let fs = dirs.confined();
    let pending = dirs.path("tmp/j/0/a1-0.pending");
    let committed = format!("file://{}", dirs.path("out/day=1/j_0_1_0.txt"));
    write(&fs, &pending, "row\n").await;
    fs.rename(&pending, &committed).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(dirs.path("out/day=1/j_0_1_0.txt")).unwrap(),
        "row\n"
    );
    assert!(fs.exists(&committed).await.unwrap());
    // `.` and doubled slashes are normalised away.
    assert!(
        fs.exists(&dirs.path("out/./day=1//j_0_1_0.txt"))
            .await
            .unwrap()
    );
    assert_eq!(fs.list(&dirs.path("out")).await.unwrap().len(), 1);
    fs.delete(&dirs.path("tmp/j"), true).await.unwrap();
    assert!(!Path::new(&dirs.path("tmp/j")).exists());
}

#[tokio::test]
async fn paths_outside_the_roots_are_refused_and_left_alone() {
    let dirs = Dirs::new();
    let fs = dirs.confined();
    let victim = dirs.path("outside/victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    let pending = dirs.path("tmp/j/0/a1-0.pending");
    write(&fs, &pending, "row\n").await;

    refused(fs.rename(&victim, &dirs.path("out/x.txt")).await, "outside");
    refused(fs.rename(&pending, &victim).await, "outside");
    refused(fs.delete(&victim, false).await, "outside");
    refused(fs.create(&dirs.path("outside/new.txt")).await, "outside");
    refused(fs.read(&victim).await, "outside");
    refused(fs.exists("/etc/passwd").await, "outside");
    // A sibling whose name starts like a root is not below it.
    refused(fs.create(&dirs.path("out-evil/x")).await, "outside");
    // The roots themselves cannot be replaced or deleted, only looked at.
    refused(fs.delete(&dirs.path("out"), true).await, "outside");
    assert!(fs.exists(&dirs.path("out")).await.unwrap());
    // Relative paths and other file systems.
    refused(fs.create("out/x").await, "not an absolute path");
    refused(
        fs.create("hdfs://nn:9000/out/x").await,
        "not on this file system",
    );

    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(Path::new(&pending).exists());
    assert!(!Path::new(&dirs.path("outside/new.txt")).exists());
}

#[tokio::test]
async fn dot_dot_is_refused_even_when_it_would_stay_inside() {
    let dirs = Dirs::new();
    let fs = dirs.confined();
    let victim = dirs.path("outside/victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    let pending = dirs.path("tmp/j/0/a1-0.pending");
    write(&fs, &pending, "row\n").await;

    let escape = dirs.path("out/../outside/victim.txt");
    refused(fs.rename(&pending, &escape).await, "'..'");
    refused(fs.delete(&escape, false).await, "'..'");
    refused(
        fs.rename(&pending, &dirs.path("out/a/../b.txt")).await,
        "'..'",
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(Path::new(&pending).exists());
}

#[tokio::test]
async fn a_symbolic_link_out_of_a_root_is_not_followed() {
    let dirs = Dirs::new();
    let fs = dirs.confined();
    let victim = dirs.path("outside/victim.txt");
    std::fs::write(&victim, "precious").unwrap();
    // A directory link and a file link inside the roots, both pointing outside.
    std::os::unix::fs::symlink(dirs.path("outside"), dirs.path("out/escape")).unwrap();
    std::os::unix::fs::symlink(&victim, dirs.path("tmp/link.pending")).unwrap();
    let pending = dirs.path("tmp/j/0/a1-0.pending");
    write(&fs, &pending, "row\n").await;

    refused(
        fs.rename(&pending, &dirs.path("out/escape/victim.txt"))
            .await,
        "symbolic link",
    );
    refused(
        fs.create(&dirs.path("out/escape/new/file.txt")).await,
        "symbolic link",
    );
    refused(
        fs.rename(&dirs.path("tmp/link.pending"), &dirs.path("out/stolen.txt"))
            .await,
        "symbolic link",
    );
    refused(
        fs.delete(&dirs.path("out/escape/victim.txt"), false).await,
        "symbolic link",
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(!Path::new(&dirs.path("outside/new")).exists());
    assert!(!Path::new(&dirs.path("out/stolen.txt")).exists());

    // A link between the roots' own directories is fine: it stays inside.
    std::fs::create_dir_all(dirs.path("out/real")).unwrap();
    std::os::unix::fs::symlink(dirs.path("out/real"), dirs.path("out/alias")).unwrap();
    fs.rename(&pending, &dirs.path("out/alias/j_0_1_0.txt"))
        .await
        .unwrap();
    assert!(Path::new(&dirs.path("out/real/j_0_1_0.txt")).exists());
}

#[tokio::test]
async fn a_root_that_is_itself_a_link_is_its_target() {
    let dirs = Dirs::new();
    std::os::unix::fs::symlink(dirs.path("outside"), dirs.path("linked-out")).unwrap();
    let fs = Confined::new(
        Arc::new(LocalFs),
        &[&dirs.path("linked-out"), &dirs.path("tmp")],
        true,
        "job j subtask 0 attempt 1".into(),
    )
    .unwrap();
    write(&fs, &dirs.path("linked-out/x.txt"), "x").await;
    assert!(Path::new(&dirs.path("outside/x.txt")).exists());
}

#[test]
fn hdfs_paths_are_normalised_as_strings() {
    #[derive(Debug)]
    struct FakeHdfs;
    impl FileSystem for FakeHdfs {
        fn describe(&self) -> String {
            "HDFS hdfs://nn:9000".into()
        }
        fn url_of(&self, path: &str) -> String {
            format!(
                "hdfs://nn:9000{}",
                path.strip_prefix("hdfs://nn:9000").unwrap_or(path)
            )
        }
        fn create<'a>(
            &'a self,
            _: &'a str,
        ) -> BoxFuture<'a, Result<Box<dyn FileWriter>, ConnectorError>> {
            unreachable!("the confinement tests do not call this")
        }
        fn rename<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
        ) -> BoxFuture<'a, Result<(), ConnectorError>> {
            unreachable!("the confinement tests do not call this")
        }
        fn replace<'a>(
            &'a self,
            _: &'a str,
            _: &'a str,
        ) -> BoxFuture<'a, Result<(), ConnectorError>> {
            unreachable!("the confinement tests do not call this")
        }
        fn delete<'a>(&'a self, _: &'a str, _: bool) -> BoxFuture<'a, Result<(), ConnectorError>> {
            unreachable!("the confinement tests do not call this")
        }
        fn list<'a>(
            &'a self,
            _: &'a str,
        ) -> BoxFuture<'a, Result<Vec<FileStatus>, ConnectorError>> {
            unreachable!("the confinement tests do not call this")
        }
        fn mkdirs<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<(), ConnectorError>> {
            unreachable!("the confinement tests do not call this")
        }
        fn exists<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<bool, ConnectorError>> {
            unreachable!("the confinement tests do not call this")
        }
        fn read<'a>(&'a self, _: &'a str) -> BoxFuture<'a, Result<Vec<u8>, ConnectorError>> {
            unreachable!("the confinement tests do not call this")
        }
    }
    let fs = Confined::new(
        Arc::new(FakeHdfs),
        &["/data/out/", "hdfs://nn:9000/data/.weir-tmp"],
        false,
        "job j subtask 0 attempt 1".into(),
    )
    .unwrap();
    assert_eq!(fs.roots(), ["/data/out", "/data/.weir-tmp"]);
    assert_eq!(
        fs.normalise("hdfs://nn:9000//data/out/./x").unwrap(),
        "/data/out/x"
    );
    assert!(fs.normalise("hdfs://other:9000/data/out/x").is_err());
    assert!(fs.normalise("hdfs://nn:90000/data/out/x").is_err());
    assert!(fs.normalise("file:///data/out/x").is_err());
    assert!(fs.normalise("/data/out/../../etc").is_err());
    assert!(fs.normalise("data/out/x").is_err());
    let error = Confined::new(Arc::new(FakeHdfs), &["/data/../x"], false, "t".into()).unwrap_err();
    assert!(error.to_string().contains("'..'"), "{error}");
}
