//! One attempt of a subtask: one enum of states, one enum of events, one transition function,
//! like a job's (`crate::job_state`).
//!
//! Every state change of a subtask goes through [`SubtaskState::on`]; a transition the table
//! below does not list is an [`IllegalSubtaskTransition`] error.
//!
//! ```text
//! Pending ─Placed─▶ Deploying ─Started─▶ Running
//!    ▲                 │  │                 │   Finished ─▶ Finished
//!    │                 │  └─DeployFailed─▶ Lost   (either of Deploying/Running:
//!    │                 │                    ▲     Failed    ─▶ Failed
//!    │                 │                    │     Cancelled ─▶ Cancelled
//!    │                 └────────────────────┴──── Lost      ─▶ Lost)
//!    └──Retry── Failed              Lost ─Placed─▶ Deploying
//! Pending / Lost / Failed ─JobCancelled─▶ Cancelled   (nothing runs, the job is cancelled)
//! ```
//!
//! `Lost` (its worker died or reported it lost; it will be placed again) stays distinct from
//! `Cancelled` (stopped on purpose) in `weir job`.

/// Where one attempt of a subtask is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubtaskState {
    /// Needs a worker (new, or failed with retries left).
    Pending,
    /// Sent to a worker, which has not reported it running yet.
    Deploying,
    Running,
    Finished,
    Failed,
    /// Stopped on purpose (the job was cancelled).
    Cancelled,
    /// Its worker died, refused the deployment or reported it lost; needs a worker again.
    Lost,
}

/// Something that happened to a subtask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubtaskEvent {
    /// The scheduler placed it on a worker (a new attempt).
    Placed,
    /// The worker did not take the deployment.
    DeployFailed,
    /// Its worker reported it running.
    Started,
    /// Its worker reported it finished.
    Finished,
    /// Its worker reported it failed.
    Failed,
    /// Its worker reported it cancelled.
    Cancelled,
    /// Its worker was declared dead, or reported it lost.
    Lost,
    /// A failed subtask with retries left waits for a place again.
    Retry,
    /// Its job was cancelled while it held no worker.
    JobCancelled,
}

/// A transition the subtask lifecycle does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {from:?} subtask cannot take the event {event:?}")]
pub struct IllegalSubtaskTransition {
    pub from: SubtaskState,
    pub event: SubtaskEvent,
}

impl SubtaskState {
    /// The state after `event`, or an error when the lifecycle forbids it.
    pub fn on(self, event: SubtaskEvent) -> Result<SubtaskState, IllegalSubtaskTransition> {
        use SubtaskEvent as E;
        use SubtaskState as S;
        let next = match (self, event) {
            (S::Pending | S::Lost, E::Placed) => S::Deploying,
            (S::Deploying, E::DeployFailed) => S::Lost,
            (S::Deploying | S::Running, E::Started) => S::Running,
            (S::Deploying | S::Running, E::Finished) => S::Finished,
            (S::Deploying | S::Running, E::Failed) => S::Failed,
            (S::Deploying | S::Running, E::Cancelled) => S::Cancelled,
            (S::Deploying | S::Running, E::Lost) => S::Lost,
            (S::Failed, E::Retry) => S::Pending,
            (S::Pending | S::Lost | S::Failed, E::JobCancelled) => S::Cancelled,
            (from, event) => return Err(IllegalSubtaskTransition { from, event }),
        };
        Ok(next)
    }

    /// Whether the subtask holds memory on a worker.
    pub fn holds_reservation(self) -> bool {
        matches!(self, Self::Deploying | Self::Running)
    }

    /// Whether the scheduler has to find it a worker.
    pub fn wants_placement(self) -> bool {
        matches!(self, Self::Pending | Self::Lost)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use SubtaskEvent as E;
    use SubtaskState as S;

    const STATES: [S; 7] = [
        S::Pending,
        S::Deploying,
        S::Running,
        S::Finished,
        S::Failed,
        S::Cancelled,
        S::Lost,
    ];
    const EVENTS: [E; 9] = [
        E::Placed,
        E::DeployFailed,
        E::Started,
        E::Finished,
        E::Failed,
        E::Cancelled,
        E::Lost,
        E::Retry,
        E::JobCancelled,
    ];

    #[test]
    fn a_lost_subtask_is_lost_not_cancelled_and_is_placed_again() {
        assert_eq!(S::Running.on(E::Lost), Ok(S::Lost));
        assert_eq!(S::Deploying.on(E::Lost), Ok(S::Lost));
        assert_eq!(S::Lost.on(E::Placed), Ok(S::Deploying));
        assert!(S::Lost.wants_placement());
        assert!(!S::Cancelled.wants_placement());
    }

    #[test]
    fn a_failed_subtask_is_retried_through_pending() {
        let state = S::Pending
            .on(E::Placed)
            .and_then(|s| s.on(E::Started))
            .and_then(|s| s.on(E::Failed))
            .and_then(|s| s.on(E::Retry))
            .and_then(|s| s.on(E::Placed));
        assert_eq!(state, Ok(S::Deploying));
    }

    #[test]
    fn ended_subtasks_take_nothing_but_a_cancel_of_what_holds_no_worker() {
        for event in EVENTS {
            assert!(S::Finished.on(event).is_err(), "Finished + {event:?}");
            assert!(S::Cancelled.on(event).is_err(), "Cancelled + {event:?}");
        }
        for state in STATES {
            let cancelled = state.on(E::JobCancelled);
            assert_eq!(
                cancelled.is_ok(),
                matches!(state, S::Pending | S::Lost | S::Failed),
                "{state:?}"
            );
        }
    }

    #[test]
    fn only_a_deployed_subtask_takes_its_worker_s_reports() {
        for event in [E::Started, E::Finished, E::Failed, E::Cancelled, E::Lost] {
            for state in STATES {
                assert_eq!(
                    state.on(event).is_ok(),
                    state.holds_reservation(),
                    "{state:?} + {event:?}"
                );
            }
        }
        assert!(S::Running.on(E::DeployFailed).is_err());
        assert!(S::Running.on(E::Placed).is_err());
    }
}
