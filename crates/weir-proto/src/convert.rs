//! Conversions between the protocol's messages and the internal types they carry, in one place
//! for master and workers alike: splits ([`SplitId`]), split offsets, pending files
//! ([`PendingFile`]) and restore points ([`RestorePoint`]).
//!
//! Internal → protocol is infallible (`From`). Protocol → internal is `TryFrom` where a message
//! can lack a part the internal type needs (a `SplitOffset` without its `split`): such a message
//! comes from another process and is refused with a [`ConvertError`] naming the missing part,
//! never silently dropped.

use weir_core::checkpoint::{PendingFile, RestorePoint};
use weir_core::split::SplitId;

use crate::v1 as pb;

/// A message lacks a part its internal form needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed {message}: it has no {field}")]
pub struct ConvertError {
    /// The message type, e.g. `SplitOffset`.
    pub message: &'static str,
    /// The missing field, e.g. `split`.
    pub field: &'static str,
}

impl From<&SplitId> for pb::Split {
    fn from(split: &SplitId) -> Self {
        pb::Split {
            topic: split.topic.clone(),
            partition: split.partition,
        }
    }
}

impl From<&pb::Split> for SplitId {
    fn from(split: &pb::Split) -> Self {
        SplitId::new(split.topic.clone(), split.partition)
    }
}

impl From<&(SplitId, i64)> for pb::SplitOffset {
    fn from((split, offset): &(SplitId, i64)) -> Self {
        pb::SplitOffset {
            split: Some(split.into()),
            offset: *offset,
        }
    }
}

impl TryFrom<&pb::SplitOffset> for (SplitId, i64) {
    type Error = ConvertError;

    fn try_from(offset: &pb::SplitOffset) -> Result<Self, ConvertError> {
        let split = offset.split.as_ref().ok_or(ConvertError {
            message: "SplitOffset",
            field: "split",
        })?;
        Ok((split.into(), offset.offset))
    }
}

/// Every offset of `offsets`, or the first malformed one's error.
pub fn offsets_from_proto(
    offsets: &[pb::SplitOffset],
) -> Result<Vec<(SplitId, i64)>, ConvertError> {
    offsets.iter().map(<(SplitId, i64)>::try_from).collect()
}

impl From<&PendingFile> for pb::PendingFile {
    fn from(file: &PendingFile) -> Self {
        pb::PendingFile {
            pending_path: file.pending_path.clone(),
            final_path: file.final_path.clone(),
        }
    }
}

impl From<PendingFile> for pb::PendingFile {
    fn from(file: PendingFile) -> Self {
        pb::PendingFile {
            pending_path: file.pending_path,
            final_path: file.final_path,
        }
    }
}

impl From<pb::PendingFile> for PendingFile {
    fn from(file: pb::PendingFile) -> Self {
        PendingFile {
            pending_path: file.pending_path,
            final_path: file.final_path,
        }
    }
}

impl From<&RestorePoint> for pb::RestorePoint {
    fn from(point: &RestorePoint) -> Self {
        pb::RestorePoint {
            checkpoint_id: point.checkpoint_id,
            job_id: point.job_id.clone(),
            offsets: point.offsets.iter().map(pb::SplitOffset::from).collect(),
            pending_files: point
                .pending_files
                .iter()
                .map(pb::PendingFile::from)
                .collect(),
        }
    }
}

impl TryFrom<&pb::RestorePoint> for RestorePoint {
    type Error = ConvertError;

    fn try_from(point: &pb::RestorePoint) -> Result<Self, ConvertError> {
        Ok(RestorePoint {
            checkpoint_id: point.checkpoint_id,
            job_id: point.job_id.clone(),
            offsets: offsets_from_proto(&point.offsets)?,
            pending_files: point
                .pending_files
                .iter()
                .cloned()
                .map(PendingFile::from)
                .collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_restore_point_survives_the_round_trip() {
        let point = RestorePoint {
            checkpoint_id: 7,
            job_id: "j-1".into(),
            offsets: vec![(SplitId::new("t", 0), 10), (SplitId::new("u", 3), 0)],
            pending_files: vec![PendingFile {
                pending_path: "/tmp/.weir-tmp/a".into(),
                final_path: "/out/a.json".into(),
            }],
        };
        let proto = pb::RestorePoint::from(&point);
        assert_eq!(proto.offsets[1].split.as_ref().unwrap().topic, "u");
        assert_eq!(RestorePoint::try_from(&proto), Ok(point));
    }

    #[test]
    fn an_offset_without_its_split_is_refused_with_the_missing_part() {
        let proto = pb::RestorePoint {
            checkpoint_id: 1,
            job_id: String::new(),
            offsets: vec![pb::SplitOffset {
                split: None,
                offset: 5,
            }],
            pending_files: Vec::new(),
        };
        let error = RestorePoint::try_from(&proto).unwrap_err();
        assert_eq!(error.to_string(), "malformed SplitOffset: it has no split");
    }
}
