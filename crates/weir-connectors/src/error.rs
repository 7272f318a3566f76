//! Connector errors.

/// Why a source reader or sink writer failed.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// The subtask stopped consuming while the reader still had rows to hand over.
    #[error("the subtask's queue was closed while the source was still producing")]
    QueueClosed,
    /// Writing to standard output failed (e.g. a closed pipe).
    #[error("console sink could not write to stdout: {0}")]
    Stdout(#[source] std::io::Error),
    /// A background I/O job was lost (its thread panicked or the runtime shut down).
    #[error("{what} was interrupted: {reason}")]
    Interrupted {
        /// The operation that did not complete.
        what: &'static str,
        /// Why, as reported by the runtime.
        reason: String,
    },
}
