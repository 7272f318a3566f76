//! The master's conversions from its own types to protocol messages. Those the workers share
//! (splits, offsets, pending files, restore points) are in `weir_proto::convert`.

use weir_core::checkpoint::PendingFile;
use weir_core::split::SplitId;
use weir_proto::convert::{ConvertError, offsets_from_proto};
use weir_proto::v1 as pb;

use crate::checkpoint::CheckpointLog;
use crate::job_state::JobState;
use crate::subtask_state::SubtaskState;

impl From<JobState> for pb::JobState {
    fn from(state: JobState) -> Self {
        match state {
            JobState::Submitted => pb::JobState::Submitted,
            JobState::Queued => pb::JobState::Queued,
            JobState::Scheduled => pb::JobState::Scheduled,
            JobState::Running => pb::JobState::Running,
            JobState::Recovering => pb::JobState::Recovering,
            JobState::Cancelling => pb::JobState::Cancelling,
            JobState::Cancelled => pb::JobState::Cancelled,
            JobState::Failed => pb::JobState::Failed,
            JobState::Finished => pb::JobState::Finished,
            JobState::Stopping => pb::JobState::Stopping,
            JobState::Stopped => pb::JobState::Stopped,
        }
    }
}

impl From<SubtaskState> for pb::TaskState {
    fn from(state: SubtaskState) -> Self {
        match state {
            SubtaskState::Pending => pb::TaskState::Unspecified,
            SubtaskState::Deploying => pb::TaskState::Deploying,
            SubtaskState::Running => pb::TaskState::Running,
            SubtaskState::Finished => pb::TaskState::Finished,
            SubtaskState::Failed => pb::TaskState::Failed,
            SubtaskState::Cancelled => pb::TaskState::Cancelled,
            SubtaskState::Lost => pb::TaskState::Lost,
        }
    }
}

impl From<&CheckpointLog> for pb::CheckpointStats {
    fn from(log: &CheckpointLog) -> Self {
        let last = log.last_completed.as_ref();
        pb::CheckpointStats {
            last_completed_id: last.map_or(0, |checkpoint| checkpoint.checkpoint_id),
            last_completed_at_ms: last.map_or(0, |checkpoint| checkpoint.completed_at_ms),
            last_duration_ms: log.last_duration_ms,
            completed: log.completed,
            failed: log.failed,
            last_failure: log.last_failure.clone(),
            last_completed_path: log.last_completed_path.clone(),
            restored_from_id: log
                .restored_from
                .as_ref()
                .map_or(0, |checkpoint| checkpoint.checkpoint_id),
        }
    }
}

/// A subtask's acknowledgement of a checkpoint: where its splits resume and the files it
/// publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ack {
    pub offsets: Vec<(SplitId, i64)>,
    pub files: Vec<PendingFile>,
}

impl TryFrom<pb::TriggerCheckpointResponse> for Ack {
    type Error = ConvertError;

    fn try_from(answer: pb::TriggerCheckpointResponse) -> Result<Self, ConvertError> {
        Ok(Ack {
            offsets: offsets_from_proto(&answer.offsets)?,
            files: answer
                .pending_files
                .into_iter()
                .map(PendingFile::from)
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lost_and_cancelled_subtasks_look_different_in_weir_job() {
        assert_eq!(pb::TaskState::from(SubtaskState::Lost), pb::TaskState::Lost);
        assert_eq!(
            pb::TaskState::from(SubtaskState::Cancelled),
            pb::TaskState::Cancelled
        );
        assert_eq!(
            pb::JobState::from(JobState::Stopping),
            pb::JobState::Stopping
        );
    }
}
