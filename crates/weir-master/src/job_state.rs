//! A job's lifecycle: one enum of states, one enum of events, one transition function.
//!
//! Every state change of a job goes through [`JobState::on`]; a transition that the table below
//! does not list is an [`IllegalTransition`] error, so an illegal change cannot be written by
//! accident elsewhere in the master.
//!
//! ```text
//! Submitted ─Placed─▶ Scheduled ─AllRunning─▶ Running ─AllFinished─▶ Finished
//!     │ NoCapacity       ▲  │                  │  │
//!     ▼                  │  └──SubtaskLost─────┴──┴─▶ Recovering ─Placed─▶ Scheduled
//!   Queued ─Placed───────┘                             (NoCapacity keeps it Recovering)
//! any live state ─CancelRequested─▶ Cancelling ─AllTasksEnded─▶ Cancelled
//!   (Submitted/Queued, with nothing deployed, go straight to Cancelled)
//! any live state ─Failed─▶ Failed;  Submitted ─Rejected─▶ Failed
//! Running ─StopRequested─▶ Stopping ─AllFinished─▶ Stopped   (after the final checkpoint)
//!                             └─SubtaskLost─▶ Recovering (the stop is taken again once Running)
//! ```

use serde::{Deserialize, Serialize};

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum JobState {
    /// Accepted by the master; not yet looked at by the scheduler.
    Submitted,
    /// Waiting for a worker whose free memory budget fits its subtasks.
    Queued,
    /// Every subtask is placed and deployed; not all have reported running yet.
    Scheduled,
    /// Every subtask runs.
    Running,
    /// Some subtasks were lost (their worker died, or they failed and are retried) and are being
    /// placed again.
    Recovering,
    /// Cancel requested; waiting for the deployed subtasks to stop.
    Cancelling,
    Cancelled,
    Failed,
    Finished,
    /// `weir stop`: a final checkpoint is being taken; the subtasks end once it is committed.
    Stopping,
    /// Ended after a committed final checkpoint; `weir submit --restore` resumes from it.
    Stopped,
}

/// Something that happened to a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobEvent {
    /// The scheduler placed every subtask that needed a place.
    Placed,
    /// The scheduler found no place for the subtasks that need one.
    NoCapacity,
    /// No place, and the job's `schedule.strategy` is `reject`.
    Rejected,
    /// Every subtask reported running.
    AllRunning,
    /// A subtask was lost or failed with retries left.
    SubtaskLost,
    /// Every subtask finished.
    AllFinished,
    CancelRequested,
    /// Every deployed subtask stopped after a cancel.
    AllTasksEnded,
    /// The job failed for good.
    Failed,
    /// `weir stop`.
    StopRequested,
}

/// A transition the lifecycle does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a {from:?} job cannot take the event {event:?}")]
pub struct IllegalTransition {
    pub from: JobState,
    pub event: JobEvent,
}

impl JobState {
    /// The state after `event`, or an error when the lifecycle forbids it.
    pub fn on(self, event: JobEvent) -> Result<JobState, IllegalTransition> {
        use JobEvent as E;
        use JobState as S;
        let next = match (self, event) {
            (S::Submitted | S::Queued | S::Recovering, E::Placed) => S::Scheduled,
            (S::Submitted | S::Queued, E::NoCapacity) => S::Queued,
            (S::Recovering, E::NoCapacity) => S::Recovering,
            (S::Submitted, E::Rejected) => S::Failed,
            (S::Scheduled, E::AllRunning) => S::Running,
            (S::Scheduled | S::Running | S::Recovering, E::SubtaskLost) => S::Recovering,
            (S::Scheduled | S::Running, E::AllFinished) => S::Finished,
            (S::Running, E::StopRequested) => S::Stopping,
            (S::Stopping, E::AllFinished) => S::Stopped,
            // The stop checkpoint is taken again once the lost subtasks run.
            (S::Stopping, E::SubtaskLost) => S::Recovering,
            (S::Stopping, E::CancelRequested) => S::Cancelling,
            (S::Submitted | S::Queued, E::CancelRequested) => S::Cancelled,
            (S::Scheduled | S::Running | S::Recovering, E::CancelRequested) => S::Cancelling,
            (S::Cancelling, E::AllTasksEnded) => S::Cancelled,
            (state, E::Failed) if !state.is_terminal() => S::Failed,
            (from, event) => return Err(IllegalTransition { from, event }),
        };
        Ok(next)
    }

    /// Cancelled, Failed, Finished and Stopped jobs never change again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Cancelled | Self::Failed | Self::Finished | Self::Stopped
        )
    }

    /// Whether the scheduler has subtasks of this job to place.
    pub fn wants_placement(self) -> bool {
        matches!(self, Self::Submitted | Self::Queued | Self::Recovering)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use JobEvent as E;
    use JobState as S;

    #[test]
    fn happy_path_reaches_finished() {
        let state = S::Submitted
            .on(E::NoCapacity)
            .and_then(|s| s.on(E::Placed))
            .and_then(|s| s.on(E::AllRunning))
            .and_then(|s| s.on(E::AllFinished));
        assert_eq!(state, Ok(S::Finished));
    }

    #[test]
    fn lost_subtasks_recover_through_scheduled() {
        let state = S::Running
            .on(E::SubtaskLost)
            .and_then(|s| s.on(E::NoCapacity))
            .and_then(|s| s.on(E::Placed))
            .and_then(|s| s.on(E::AllRunning));
        assert_eq!(state, Ok(S::Running));
    }

    #[test]
    fn cancel_goes_straight_to_cancelled_when_nothing_is_deployed() {
        assert_eq!(S::Queued.on(E::CancelRequested), Ok(S::Cancelled));
        assert_eq!(S::Running.on(E::CancelRequested), Ok(S::Cancelling));
        assert_eq!(S::Cancelling.on(E::AllTasksEnded), Ok(S::Cancelled));
    }

    #[test]
    fn terminal_states_accept_nothing() {
        let events = [
            E::Placed,
            E::NoCapacity,
            E::Rejected,
            E::AllRunning,
            E::SubtaskLost,
            E::AllFinished,
            E::CancelRequested,
            E::AllTasksEnded,
            E::Failed,
            E::StopRequested,
        ];
        for state in [S::Cancelled, S::Failed, S::Finished, S::Stopped] {
            for event in events {
                assert_eq!(
                    state.on(event),
                    Err(IllegalTransition { from: state, event })
                );
            }
        }
    }

    #[test]
    fn only_a_running_job_stops_and_it_stops_once_its_subtasks_finish() {
        assert_eq!(S::Running.on(E::StopRequested), Ok(S::Stopping));
        assert_eq!(S::Stopping.on(E::AllFinished), Ok(S::Stopped));
        assert_eq!(S::Stopping.on(E::SubtaskLost), Ok(S::Recovering));
        assert_eq!(S::Stopping.on(E::Failed), Ok(S::Failed));
        for state in [S::Submitted, S::Queued, S::Scheduled, S::Recovering] {
            assert!(state.on(E::StopRequested).is_err(), "{state:?}");
        }
    }

    #[test]
    fn only_a_new_job_can_be_rejected() {
        assert_eq!(S::Submitted.on(E::Rejected), Ok(S::Failed));
        assert!(S::Queued.on(E::Rejected).is_err());
        assert!(S::Recovering.on(E::Rejected).is_err());
    }
}
