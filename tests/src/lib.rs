//! Shared helpers for Weir's end-to-end tests.
//!
//! The tests run against the real Kafka and HDFS that `deploy/local/stack up` starts. Their
//! addresses come from the environment (`eval "$(deploy/local/stack env)"`); when a variable is
//! missing the test fails and says how to start the stack: a silent skip would hide a run that
//! tested nothing.

pub mod chromium;
pub mod cluster;
pub mod deploy;
pub mod exactly_once;
pub mod grafana;
pub mod http;
pub mod job_json;
pub mod kafka;
pub mod local_files;
pub mod prometheus;
pub mod proxy;
pub mod readers;
pub mod stack;

use std::net::{TcpStream, ToSocketAddrs};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Environment variable holding the Kafka bootstrap servers of the test stack.
pub const KAFKA_ENV: &str = "WEIR_TEST_KAFKA";
/// Environment variable holding the `hdfs://` URL of the test stack's NameNode.
pub const HDFS_ENV: &str = "WEIR_TEST_HDFS";

const HOW_TO_START: &str = "start the real Kafka and HDFS with `deploy/local/stack up && eval \"$(deploy/local/stack env)\"`, \
     or run the whole suite with `./tests/run`, which does both";

/// A required test service is not configured, or does not answer where it is configured.
#[derive(Debug, thiserror::Error)]
pub enum MissingService {
    /// The environment variable is not set.
    #[error(
        "{variable} is not set, so the end-to-end tests cannot reach {service}: {HOW_TO_START}"
    )]
    Unset {
        /// The environment variable that was not set.
        variable: &'static str,
        /// What the variable points at.
        service: &'static str,
    },
    /// The variable is set (often left over from an earlier `eval`), but nothing listens there.
    #[error(
        "{variable}={value} is set, but {service} does not answer at {endpoint} ({reason}); \
         is the stack down? {HOW_TO_START}"
    )]
    Unreachable {
        /// The environment variable that was set.
        variable: &'static str,
        /// What the variable points at.
        service: &'static str,
        /// The variable's value.
        value: String,
        /// The `host:port` that refused or timed out.
        endpoint: String,
        /// Why the connection failed.
        reason: String,
    },
}

/// How long the first contact with a test service may take before the tests give up on it.
const REACHABILITY_TIMEOUT: Duration = Duration::from_secs(3);

/// Reads `variable` and, once per test process, checks that `endpoint_of(value)` accepts a TCP
/// connection, so a stale variable fails with the start command rather than a client timeout.
/// Only the first call checks: tests that stop a service on purpose call this again later.
fn required(
    variable: &'static str,
    service: &'static str,
    checked: &'static OnceLock<Result<(), Unanswered>>,
    endpoint_of: fn(&str) -> String,
) -> Result<String, MissingService> {
    let value = match std::env::var(variable) {
        Ok(value) if !value.trim().is_empty() => value,
        _ => return Err(MissingService::Unset { variable, service }),
    };
    match checked.get_or_init(|| answers(endpoint_of(&value))) {
        Ok(()) => Ok(value),
        Err(Unanswered { endpoint, reason }) => Err(MissingService::Unreachable {
            variable,
            service,
            value,
            endpoint: endpoint.clone(),
            reason: reason.clone(),
        }),
    }
}

/// A `host:port` that did not accept a connection, and why.
#[derive(Debug)]
struct Unanswered {
    endpoint: String,
    reason: String,
}

fn answers(endpoint: String) -> Result<(), Unanswered> {
    let address = match endpoint.to_socket_addrs().map(|mut all| all.next()) {
        Ok(Some(address)) => address,
        Ok(None) => {
            let reason = "the name resolves to no address".to_owned();
            return Err(Unanswered { endpoint, reason });
        }
        Err(error) => {
            let reason = error.to_string();
            return Err(Unanswered { endpoint, reason });
        }
    };
    TcpStream::connect_timeout(&address, REACHABILITY_TIMEOUT)
        .map(drop)
        .map_err(|error| Unanswered {
            endpoint,
            reason: error.to_string(),
        })
}

/// The first `host:port` of a Kafka bootstrap list.
fn kafka_endpoint(bootstrap: &str) -> String {
    let first = bootstrap.split(',').next().unwrap_or_default().trim();
    first.to_owned()
}

/// The `host:port` of an `hdfs://host:port[/path]` URL (port 8020 when none is given).
fn hdfs_endpoint(url: &str) -> String {
    let authority = url
        .trim()
        .trim_start_matches("hdfs://")
        .split('/')
        .next()
        .unwrap_or_default();
    if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:8020")
    }
}

/// Bootstrap servers of the test Kafka, or an error naming the command that starts it.
pub fn kafka_bootstrap() -> Result<String, MissingService> {
    static CHECKED: OnceLock<Result<(), Unanswered>> = OnceLock::new();
    required(KAFKA_ENV, "Kafka", &CHECKED, kafka_endpoint)
}

/// `hdfs://` URL of the test HDFS, or an error naming the command that starts it.
pub fn hdfs_url() -> Result<String, MissingService> {
    static CHECKED: OnceLock<Result<(), Unanswered>> = OnceLock::new();
    required(HDFS_ENV, "HDFS", &CHECKED, hdfs_endpoint)
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
        let message = MissingService::Unset {
            variable: KAFKA_ENV,
            service: "Kafka",
        }
        .to_string();
        assert!(message.contains("WEIR_TEST_KAFKA is not set"), "{message}");
        assert!(message.contains("deploy/local/stack up"), "{message}");
        assert!(message.contains("./tests/run"), "{message}");
    }

    #[test]
    fn a_set_variable_with_nothing_listening_names_the_address_and_the_command() {
        static CHECKED: OnceLock<Result<(), Unanswered>> = OnceLock::new();
        // Port 1 (tcpmux) is privileged and unused on test machines: the connection is refused.
        let variable = "WEIR_TEST_UNREACHABLE_SERVICE";
        // SAFETY: no other test reads or writes this variable.
        unsafe { std::env::set_var(variable, "127.0.0.1:1") };
        let error = required(variable, "Kafka", &CHECKED, kafka_endpoint)
            .expect_err("nothing listens on port 1");
        let message = error.to_string();
        assert!(
            message.contains("does not answer at 127.0.0.1:1"),
            "{message}"
        );
        assert!(message.contains("deploy/local/stack up"), "{message}");
    }

    #[test]
    fn endpoints_are_taken_from_the_variables() {
        assert_eq!(kafka_endpoint("k1:9092, k2:9092"), "k1:9092");
        assert_eq!(
            hdfs_endpoint("hdfs://127.0.0.1:9000/weir"),
            "127.0.0.1:9000"
        );
        assert_eq!(hdfs_endpoint("hdfs://namenode"), "namenode:8020");
    }

    #[test]
    fn unique_names_differ() {
        assert_ne!(unique_name("t"), unique_name("t"));
    }
}
