//! Shared helpers for Weir's end-to-end tests.
//!
//! The tests run against the real Kafka and HDFS that `deploy/local/stack up` starts. Their
//! addresses come from the environment (`eval "$(deploy/local/stack env)"`); when a variable is
//! missing the test fails and says how to start the stack: a silent skip would hide a run that
//! tested nothing.

pub mod cluster;
pub mod job_json;
pub mod kafka;
pub mod stack;

use std::time::{SystemTime, UNIX_EPOCH};

/// Environment variable holding the Kafka bootstrap servers of the test stack.
pub const KAFKA_ENV: &str = "WEIR_TEST_KAFKA";
/// Environment variable holding the `hdfs://` URL of the test stack's NameNode.
pub const HDFS_ENV: &str = "WEIR_TEST_HDFS";

const HOW_TO_START: &str = "start the real Kafka and HDFS with `deploy/local/stack up && eval \"$(deploy/local/stack env)\"`, \
     or run the whole suite with `./tests/run`, which does both";

/// A required test service is not configured.
#[derive(Debug, thiserror::Error)]
#[error("{variable} is not set, so the end-to-end tests cannot reach {service}: {HOW_TO_START}")]
pub struct MissingService {
    /// The environment variable that was not set.
    pub variable: &'static str,
    /// What the variable points at.
    pub service: &'static str,
}

fn required(variable: &'static str, service: &'static str) -> Result<String, MissingService> {
    match std::env::var(variable) {
        Ok(value) if !value.trim().is_empty() => Ok(value),
        _ => Err(MissingService { variable, service }),
    }
}

/// Bootstrap servers of the test Kafka, or an error naming the command that starts it.
pub fn kafka_bootstrap() -> Result<String, MissingService> {
    required(KAFKA_ENV, "Kafka")
}

/// `hdfs://` URL of the test HDFS, or an error naming the command that starts it.
pub fn hdfs_url() -> Result<String, MissingService> {
    required(HDFS_ENV, "HDFS")
}

/// A name no earlier run has used, so tests never see each other's topics or files.
pub fn unique_name(prefix: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_nanos())
        .unwrap_or_default();
    format!("{prefix}-{}-{nanos}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_service_names_the_variable_and_the_command() {
        let message = MissingService {
            variable: KAFKA_ENV,
            service: "Kafka",
        }
        .to_string();
        assert!(message.contains("WEIR_TEST_KAFKA is not set"), "{message}");
        assert!(message.contains("deploy/local/stack up"), "{message}");
        assert!(message.contains("./tests/run"), "{message}");
    }

    #[test]
    fn unique_names_differ() {
        assert_ne!(unique_name("t"), unique_name("t"));
    }
}
