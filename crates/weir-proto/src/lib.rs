//! Weir's gRPC control plane, generated from `proto/weir/v1`:
//! `JobService` (clients → master), `ClusterService` (workers → master) and `WorkerService`
//! (master → workers).

/// Version 1 of the protocol.
pub mod v1 {
    tonic::include_proto!("weir.v1");
}

pub mod convert;
