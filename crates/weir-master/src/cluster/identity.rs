//! Which worker may speak for what, without cryptography: a registration does not evict a
//! worker whose heartbeat stream is up, and a task status report must come from the current
//! session of the worker its task was placed on. The session id is random and known only to
//! the worker that registered it, so another process cannot report for that worker's tasks.
//! With TLS the certificate also binds the worker id (`weir_auth::check_claimed_worker`).

use super::Cluster;

/// Why a task status report was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReportRefused {
    #[error("worker '{worker}' has no live registration with this session")]
    NotCurrentSession { worker: String },
    #[error("task {task} is placed on worker '{owner}', not on '{worker}'")]
    OtherWorkersTask {
        task: String,
        worker: String,
        owner: String,
    },
}

impl Cluster {
    /// Whether `worker_id` is registered, alive and heartbeating on its stream: a new
    /// registration under its id would be a takeover. A worker that crashed has its stream
    /// closed (DEAD) and may register again.
    pub fn has_live_stream(&self, worker_id: &str) -> bool {
        self.workers
            .get(worker_id)
            .is_some_and(|worker| worker.alive && worker.streaming)
    }

    /// Checks that a report about `task_id` comes from the current session of `worker_id`, and
    /// that the task's current attempt, if it is one, was placed on that worker. Reports about
    /// older attempts pass (and change nothing): a worker reports the end of tasks it was told
    /// to stop.
    pub fn check_report(
        &self,
        worker_id: &str,
        session_id: &str,
        task_id: &str,
    ) -> Result<(), ReportRefused> {
        let registered = self.workers.get(worker_id).is_some_and(|worker| {
            worker.alive && !session_id.is_empty() && worker.session_id == session_id
        });
        if !registered {
            return Err(ReportRefused::NotCurrentSession {
                worker: worker_id.to_string(),
            });
        }
        let Some((job_id, index, attempt)) = super::parse_task_id(task_id) else {
            return Ok(());
        };
        let placed_on = self
            .jobs
            .get(job_id)
            .and_then(|job| job.subtasks.get(index as usize))
            .filter(|subtask| subtask.attempt == attempt)
            .map(|subtask| subtask.worker_id.as_deref());
        match placed_on {
            Some(owner) if owner != Some(worker_id) => Err(ReportRefused::OtherWorkersTask {
                task: task_id.to_string(),
                worker: worker_id.to_string(),
                owner: owner.unwrap_or("no worker").to_string(),
            }),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use weir_proto::v1 as pb;

    use super::super::tests::{cluster, register, run_all, submit};
    use super::*;

    fn beat(
        worker_id: &str,
        session_id: &str,
        tasks: Vec<pb::TaskMetrics>,
    ) -> pb::HeartbeatRequest {
        pb::HeartbeatRequest {
            worker_id: worker_id.into(),
            session_id: session_id.into(),
            memory: None,
            tasks,
            sequence: 0,
        }
    }

    #[test]
    fn reports_need_the_current_session_and_the_placed_worker() {
        let mut cluster = cluster();
        let mut sessions = std::collections::HashMap::new();
        for id in ["w-1", "w-2"] {
            sessions.insert(id, register(&mut cluster, id, 1024));
        }
        submit(&mut cluster, 1, 100, false);
        let deployments = cluster.schedule(Instant::now());
        run_all(&mut cluster, &deployments);
        let task = deployments[0].request.task_id.clone();
        let owner = deployments[0].worker_id.clone();
        let other = if owner == "w-1" { "w-2" } else { "w-1" };

        assert_eq!(
            cluster.check_report(&owner, &sessions[owner.as_str()], &task),
            Ok(())
        );
        for session in ["", "guessed", sessions[other].as_str()] {
            assert_eq!(
                cluster.check_report(&owner, session, &task),
                Err(ReportRefused::NotCurrentSession {
                    worker: owner.clone()
                }),
                "session {session:?}"
            );
        }
        assert!(matches!(
            cluster.check_report(other, &sessions[other], &task),
            Err(ReportRefused::OtherWorkersTask { .. })
        ));
        // An older attempt of the subtask changes nothing either way: it passes.
        let (job, index, _) = crate::cluster::parse_task_id(&task).expect("task id");
        let old = crate::cluster::task_id(job, index, u32::MAX);
        assert_eq!(cluster.check_report(other, &sessions[other], &old), Ok(()));
        // A worker that re-registered has a new session; the old one is refused.
        let stale = sessions[owner.as_str()].clone();
        cluster.worker_lost(&owner, &stale, "test");
        register(&mut cluster, &owner, 1024);
        assert!(cluster.check_report(&owner, &stale, &task).is_err());
    }

    #[test]
    fn a_live_stream_blocks_a_takeover_until_the_worker_is_dead() {
        let mut cluster = cluster();
        let session = register(&mut cluster, "w-1", 1024);
        assert!(
            !cluster.has_live_stream("w-1"),
            "registered but not heartbeating yet: a restart may take over"
        );
        cluster
            .heartbeat(&beat("w-1", &session, Vec::new()))
            .expect("beat");
        assert!(cluster.has_live_stream("w-1"));
        assert!(!cluster.has_live_stream("w-2"));
        cluster.worker_lost("w-1", &session, "its heartbeat stream ended");
        assert!(
            !cluster.has_live_stream("w-1"),
            "a dead worker may register again"
        );
    }

    #[test]
    fn heartbeat_metrics_apply_only_to_the_workers_own_tasks() {
        let mut cluster = cluster();
        let one = register(&mut cluster, "w-1", 1024);
        let two = register(&mut cluster, "w-2", 1024);
        submit(&mut cluster, 1, 100, false);
        let deployments = cluster.schedule(Instant::now());
        run_all(&mut cluster, &deployments);
        let task = deployments[0].request.task_id.clone();
        let (owner, owner_session, other, other_session) = if deployments[0].worker_id == "w-1" {
            ("w-1", &one, "w-2", &two)
        } else {
            ("w-2", &two, "w-1", &one)
        };
        let metrics = |rows| pb::TaskMetrics {
            task_id: task.clone(),
            rows_read: rows,
            ..Default::default()
        };
        cluster
            .heartbeat(&beat(other, other_session, vec![metrics(666)]))
            .expect("beat");
        let rows = |cluster: &Cluster| {
            cluster.jobs.values().next().expect("job").subtasks[0]
                .metrics
                .rows_read
        };
        assert_eq!(
            rows(&cluster),
            0,
            "another worker's heartbeat changed the task"
        );
        cluster
            .heartbeat(&beat(owner, owner_session, vec![metrics(7)]))
            .expect("beat");
        assert_eq!(rows(&cluster), 7);
    }
}
