//! Generates the control-plane code from `proto/weir/v1` with a vendored `protoc`, so building
//! Weir needs no system protobuf compiler.

use std::path::PathBuf;

const PROTOS: &[&str] = &[
    "weir/v1/common.proto",
    "weir/v1/job_service.proto",
    "weir/v1/cluster_service.proto",
    "weir/v1/worker_service.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let proto_root = manifest_dir.join("../../proto");
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: a build script runs on one thread here, so nothing reads the environment while we
    // write it; tonic-prost-build finds protoc only through `PROTOC`.
    unsafe { std::env::set_var("PROTOC", protoc) };

    let files: Vec<PathBuf> = PROTOS.iter().map(|file| proto_root.join(file)).collect();
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
    }
    tonic_prost_build::configure().compile_protos(&files, &[proto_root])?;
    Ok(())
}
