//! Weir's core model, shared by the master, the workers and the connectors.
//!
//! This crate performs no I/O and starts no runtime (it uses only `tokio::sync`). It holds:
//! - [`config`]: the SeaTunnel-compatible HOCON job model, its parser and its reference docs;
//! - [`schema`] and [`row`]: the typed rows that flow from sources to sinks, and
//!   [`value_text`]: their values written as SeaTunnel writes them;
//! - [`queue`]: the bounded split queue, bounded in rows *and* bytes — the centre of Weir's
//!   memory model — and [`budget`], the one byte budget all split queues of a subtask share;
//! - [`rate`]: token-bucket arithmetic for read limits and generator pacing;
//! - [`reservation`]: the admission arithmetic a master uses to decide whether a subtask fits;
//! - [`bytesize`]: byte quantities as written in settings (`"512MiB"`);
//! - [`checkpoint`]: the pending files and restore points checkpoints carry;
//! - [`duration`]: intervals as written in settings (whole milliseconds);
//! - [`secrets`]: which option values are secrets, and their redaction.

pub mod budget;
pub mod bytesize;
pub mod checkpoint;
pub mod config;
pub mod duration;
pub mod queue;
pub mod rate;
pub mod reservation;
pub mod row;
pub mod schema;
pub mod secrets;
pub mod split;
pub mod transform;
pub mod value_text;
pub mod wait;

/// The tracing target of security events (refused calls and requests, spoofing attempts, file
/// operations outside a job's directories, forged commits), so operators can route or alert on
/// them: `RUST_LOG=info,weir_security=warn`. Every crate logs them under this one name.
pub const SECURITY_TARGET: &str = "weir_security";
