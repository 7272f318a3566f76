//! The file sink touches only its job's directories and recovers only its own files; files
//! of a completed checkpoint moved away downstream do not stop a recovery.

use super::*;
use crate::error::ConnectorError;

/// A sink of `job` / `subtask` of `parallelism` subtasks writing where `fixture`'s do.
fn sink_of(fixture: &Fixture, job: &str, subtask: u32, parallelism: u32, attempt: u32) -> FileSink {
    let info = SubtaskInfo {
        job_id: job.into(),
        subtask_index: subtask,
        parallelism,
        attempt,
    };
    open(&fixture.config, FileSystemKind::Local, &schema(), &info).unwrap()
}

fn outside(fixture: &Fixture) -> PathBuf {
    let dir = fixture.dir.path().join("outside");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn file(pending: impl AsRef<Path>, final_path: impl AsRef<Path>) -> PendingFile {
    PendingFile {
        pending_path: pending.as_ref().display().to_string(),
        final_path: final_path.as_ref().display().to_string(),
    }
}

/// Writes `text` at `path`, creating its directory.
fn plant(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[tokio::test]
async fn a_commit_outside_the_jobs_directories_renames_nothing() {
    let fixture = Fixture::new();
    let victim = outside(&fixture).join("victim.txt");
    plant(&victim, "precious");
    let mut sink = fixture.sink(1);
    write(&mut sink, 0..2).await;
    let listed = sink.prepare_commit(1).await.unwrap();
    let pending = PathBuf::from(&listed[0].pending_path);

    for forged in [
        // Someone else's file into the job's path.
        file(&victim, fixture.out().join("job1_2_1_0.txt")),
        // The job's file over someone else's.
        file(&pending, &victim),
        // The same through `..`.
        file(&pending, fixture.out().join("../outside/victim.txt")),
        file(
            fixture.tmp().join("../outside/victim.txt"),
            fixture.out().join("x.txt"),
        ),
    ] {
        let error = sink.commit(vec![forged.clone()]).await.unwrap_err();
        assert!(
            matches!(error, ConnectorError::OutsideJobPaths { .. }),
            "{forged:?}: {error}"
        );
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(pending.exists());
    assert!(files(&fixture.out()).is_empty());
    // The sink's own commit still works afterwards.
    sink.commit(listed).await.unwrap();
    assert_eq!(files(&fixture.out()), ["job1_2_1_0.txt"]);
}

#[tokio::test]
async fn a_symbolic_link_in_path_does_not_lead_a_commit_out() {
    let fixture = Fixture::new();
    let outside = outside(&fixture);
    std::fs::create_dir_all(fixture.out()).unwrap();
    std::os::unix::fs::symlink(&outside, fixture.out().join("escape")).unwrap();
    let mut sink = fixture.sink(1);
    write(&mut sink, 0..2).await;
    let listed = sink.prepare_commit(1).await.unwrap();
    let through_link = file(
        &listed[0].pending_path,
        fixture.out().join("escape/job1_2_1_0.txt"),
    );
    let error = sink.commit(vec![through_link]).await.unwrap_err();
    assert!(error.to_string().contains("symbolic link"), "{error}");
    assert!(files(&outside).is_empty());
}

#[tokio::test]
async fn recovery_refuses_files_the_subtask_did_not_write() {
    let fixture = Fixture::new();
    let out = fixture.out();
    let tmp = fixture.tmp();
    let victim = outside(&fixture).join("victim.txt");
    plant(&victim, "precious");
    let forged = [
        // Another subtask's pending file (subtask 1 of job1; this is subtask 2).
        (
            file(tmp.join("job1/1/a1-0.pending"), out.join("job1_1_1_0.txt")),
            "subtask 1",
        ),
        // Another job's pending file in the shared tmp_path.
        (
            file(tmp.join("job2/2/a1-0.pending"), out.join("job2_2_1_0.txt")),
            "job 'job2'",
        ),
        // This subtask's pending file, published outside `path`.
        (
            file(tmp.join("job1/2/a1-0.pending"), &victim),
            "not under path",
        ),
        // ... or under `path` by another name.
        (
            file(tmp.join("job1/2/a1-0.pending"), out.join("passwd_0.txt")),
            "file_name_expression",
        ),
        // ... or with another file's sequence number (a committed file overwritten).
        (
            file(tmp.join("job1/2/a1-0.pending"), out.join("job1_2_1_7.txt")),
            "seq",
        ),
        // ... or into a directory below `path` (the sink is not partitioned).
        (
            file(
                tmp.join("job1/2/a1-0.pending"),
                out.join("d/job1_2_1_0.txt"),
            ),
            "directories below path",
        ),
        // `..` anywhere.
        (
            file(
                tmp.join("job1/2/../1/a1-0.pending"),
                out.join("job1_2_1_0.txt"),
            ),
            "'..'",
        ),
        // Not a pending file (an in-progress file of a live attempt).
        (
            file(
                tmp.join("job1/2/a1-0.inprogress"),
                out.join("job1_2_1_0.txt"),
            ),
            "not a pending file",
        ),
        // A file that is not in the job's tmp_path at all.
        (
            file(&victim, out.join("job1_2_1_0.txt")),
            "not under tmp_path",
        ),
    ];
    for (forged, reason) in forged {
        if forged.pending_path.starts_with(&tmp.display().to_string())
            && !forged.pending_path.contains("..")
        {
            plant(Path::new(&forged.pending_path), "someone else's rows");
        }
        let error = fixture
            .sink(2)
            .recover(vec![forged.clone()].into())
            .await
            .unwrap_err();
        assert!(
            matches!(error, ConnectorError::ForeignFile { .. }),
            "{forged:?}: {error}"
        );
        assert!(error.to_string().contains(reason), "{forged:?}: {error}");
        // Refused before anything was renamed or deleted.
        assert!(
            !forged.pending_path.starts_with(&tmp.display().to_string())
                || forged.pending_path.contains("..")
                || Path::new(&forged.pending_path).exists(),
            "{forged:?} was moved"
        );
    }
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "precious");
    assert!(files(&out).is_empty());
}

#[tokio::test]
async fn recovery_takes_files_of_the_job_restored_from_and_of_removed_subtasks() {
    let mut fixture = Fixture::new();
    fixture.config.have_partition = true;
    fixture.config.partition_by = vec!["day".into()];
    fixture.config.file_name_expression = "${job_id}-${now}-s${subtask}-c${checkpoint}".into();
    fixture.config.filename_time_format = "yyyyMMdd".into();

    // `weir submit --restore old`: the old job's files, recovered by the new job's subtask 2.
    let mut old = sink_of(&fixture, "old", 2, 4, 1);
    write(&mut old, 0..4).await;
    let of_old = old.prepare_commit(5).await.unwrap();
    assert_eq!(of_old.len(), 2, "one file per partition: {of_old:?}");
    drop(old);
    let restored = Restored {
        job_id: "old".into(),
        files: of_old.clone(),
        checkpoint: Some(5),
    };
    // Without the restored job's id they are another job's.
    let error = fixture
        .sink(1)
        .recover(of_old.clone().into())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("job 'old'"), "{error}");
    fixture.sink(1).recover(restored).await.unwrap();
    assert_eq!(files(&fixture.out()).len(), 2);

    // Subtask 3 of 4 is gone after a restore with parallelism 2: subtask 0 commits its files,
    // subtask 1 may not.
    let mut removed = sink_of(&fixture, "job1", 3, 4, 1);
    write(&mut removed, 10..12).await;
    let of_removed = removed.prepare_commit(6).await.unwrap();
    drop(removed);
    let error = sink_of(&fixture, "job1", 1, 2, 2)
        .recover(of_removed.clone().into())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("subtask 3"), "{error}");
    sink_of(&fixture, "job1", 0, 2, 2)
        .recover(of_removed.into())
        .await
        .unwrap();
    assert_eq!(files(&fixture.out()).len(), 4);

    // A partitioned sink's final paths must be one partition directory deep.
    let mut sink = fixture.sink(3);
    write(&mut sink, 20..21).await;
    let mut listed = sink.prepare_commit(7).await.unwrap();
    drop(sink);
    let name = listed[0].final_path.rsplit('/').next().unwrap().to_string();
    listed[0].final_path = fixture.out().join(&name).display().to_string();
    let error = fixture.sink(4).recover(listed.into()).await.unwrap_err();
    assert!(
        error
            .to_string()
            .contains("0 directories below path, not 1"),
        "{error}"
    );
}

#[tokio::test]
async fn recovery_counts_files_moved_away_downstream_as_committed() {
    let fixture = Fixture::new();
    let mut first = fixture.sink(1);
    write(&mut first, 0..2).await;
    let completed = first.prepare_commit(1).await.unwrap();
    first.commit(completed.clone()).await.unwrap();
    write(&mut first, 2..4).await;
    first.flush().await.unwrap();
    drop(first); // dies with an in-progress file

    // A downstream job consumes the committed file.
    let consumed = outside(&fixture).join("consumed.txt");
    std::fs::rename(fixture.out().join("job1_2_1_0.txt"), &consumed).unwrap();

    fixture.sink(2).recover(completed.into()).await.unwrap();
    assert!(files(&fixture.out()).is_empty());
    assert!(files(&fixture.tmp()).is_empty(), "leftovers removed");
    assert_eq!(read(&consumed).lines().count(), 2);
}

#[tokio::test]
async fn a_late_commit_finds_files_moved_away_after_the_earlier_one() {
    let fixture = Fixture::new();
    let mut sink = fixture.sink(1);
    write(&mut sink, 0..2).await;
    let first = sink.prepare_commit(1).await.unwrap();
    write(&mut sink, 2..3).await;
    let second = sink.prepare_commit(2).await.unwrap();
    assert_eq!(
        second.len(),
        2,
        "checkpoint 2 lists checkpoint 1's file again"
    );
    sink.commit(first).await.unwrap();
    std::fs::remove_file(fixture.out().join("job1_2_1_0.txt")).unwrap();
    sink.commit(second).await.unwrap();
    assert_eq!(files(&fixture.out()), ["job1_2_2_1.txt"]);
}

#[tokio::test]
async fn a_pending_file_lost_before_its_commit_is_an_error() {
    let fixture = Fixture::new();
    let mut sink = fixture.sink(1);
    write(&mut sink, 0..2).await;
    let listed = sink.prepare_commit(1).await.unwrap();
    std::fs::remove_file(&listed[0].pending_path).unwrap();
    let error = sink.commit(listed.clone()).await.unwrap_err();
    assert!(
        matches!(error, ConnectorError::PendingFileLost { .. }),
        "{error}"
    );
    let message = error.to_string();
    assert!(
        message.contains(&listed[0].pending_path) && message.contains(&listed[0].final_path),
        "{message}"
    );
}
