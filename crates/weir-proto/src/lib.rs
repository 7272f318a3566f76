//! Weir's gRPC control plane, generated from `proto/weir/v1`:
//! `JobService` (clients → master), `ClusterService` (workers → master) and `WorkerService`
//! (master → workers).

/// Version 1 of the protocol.
pub mod v1 {
    tonic::include_proto!("weir.v1");
}

/// The gRPC metadata key naming the worker session a master → worker call is addressed to (see
/// `WorkerService` in `proto/weir/v1/worker_service.proto`).
pub const SESSION_METADATA: &str = "weir-session";
pub mod convert;
