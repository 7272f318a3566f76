//! Listing the partitions (splits) of a Kafka source, for the master's split assignment and
//! partition discovery.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::config::{FromClientConfigAndContext, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer as _, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::metadata::Metadata;
use rdkafka::types::RDKafkaErrorCode;
use regex::Regex;
use weir_core::config::KafkaSourceConfig;
use weir_core::split::SplitId;

use super::client::client_config;

/// How long one metadata request may take before the brokers count as unreachable.
pub const METADATA_TIMEOUT: Duration = Duration::from_secs(10);

/// Kafka's own topics; a pattern never matches them (like Java's `exclude.internal.topics`).
const INTERNAL_TOPICS: &[&str] = &[
    "__consumer_offsets",
    "__transaction_state",
    "__share_group_state",
];

/// Why the partitions of a Kafka source could not be listed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ListPartitionsError {
    /// A topic named in `topic` does not exist.
    #[error("topic '{topic}' does not exist")]
    TopicNotFound {
        /// The topic's name.
        topic: String,
    },
    /// `pattern = true` and no topic matches it.
    #[error("no topic matches the pattern '{pattern}'")]
    NoMatchingTopic {
        /// The regular expression.
        pattern: String,
    },
    /// The brokers did not answer in time.
    #[error("cannot reach Kafka at {bootstrap}: {detail}")]
    Unreachable {
        /// `bootstrap.servers`.
        bootstrap: String,
        /// librdkafka's description.
        detail: String,
    },
    /// The brokers refused the client's credentials (`sasl.*` in `kafka.config`). Retried like
    /// unreachable brokers: credentials can be fixed on the broker side while the job waits.
    #[error(
        "Kafka at {bootstrap} refused the client's credentials (check sasl.username, sasl.password and sasl.mechanisms in kafka.config): {detail}"
    )]
    AuthenticationFailed {
        /// `bootstrap.servers`.
        bootstrap: String,
        /// librdkafka's description.
        detail: String,
    },
    /// `pattern = true` and `topic` is not a valid regular expression.
    #[error("topic pattern '{pattern}' is not a valid regular expression: {detail}")]
    InvalidPattern {
        /// The pattern as written.
        pattern: String,
        /// Why.
        detail: String,
    },
    /// librdkafka rejected the client configuration (`kafka.config`).
    #[error("invalid Kafka client configuration: {detail}")]
    InvalidConfig {
        /// librdkafka's description.
        detail: String,
    },
    /// Anything else librdkafka reported.
    #[error("listing Kafka partitions failed: {0}")]
    Kafka(String),
}

impl ListPartitionsError {
    /// Whether asking again later may succeed: brokers unreachable or another transient
    /// Kafka error. A missing topic, a bad pattern or a bad configuration are final.
    pub fn is_retryable(&self) -> bool {
        match self {
            ListPartitionsError::Unreachable { .. }
            | ListPartitionsError::AuthenticationFailed { .. }
            | ListPartitionsError::Kafka(_) => true,
            ListPartitionsError::TopicNotFound { .. }
            | ListPartitionsError::NoMatchingTopic { .. }
            | ListPartitionsError::InvalidPattern { .. }
            | ListPartitionsError::InvalidConfig { .. } => false,
        }
    }
}

/// The partitions of the source's topics, sorted: those of the comma-separated `topic`
/// list, or of every topic matching `topic` when `pattern = true`. Runs the metadata
/// requests on a blocking thread, each bounded by [`METADATA_TIMEOUT`].
pub async fn list_partitions(
    config: &KafkaSourceConfig,
) -> Result<Vec<SplitId>, ListPartitionsError> {
    list_partitions_within(config, METADATA_TIMEOUT).await
}

/// [`list_partitions`] with another per-request timeout.
pub async fn list_partitions_within(
    config: &KafkaSourceConfig,
    timeout: Duration,
) -> Result<Vec<SplitId>, ListPartitionsError> {
    let config = config.clone();
    tokio::task::spawn_blocking(move || list_blocking(&config, timeout))
        .await
        .map_err(|error| {
            ListPartitionsError::Kafka(format!("the lookup was interrupted: {error}"))
        })?
}

fn list_blocking(
    config: &KafkaSourceConfig,
    timeout: Duration,
) -> Result<Vec<SplitId>, ListPartitionsError> {
    let pattern = config
        .pattern
        .then(|| {
            // Java's `Pattern.matches` semantics, as SeaTunnel uses: the whole name matches.
            Regex::new(&format!("^(?:{})$", config.topic)).map_err(|error| {
                ListPartitionsError::InvalidPattern {
                    pattern: config.topic.clone(),
                    detail: error.to_string(),
                }
            })
        })
        .transpose()?;
    let consumer = BaseConsumer::from_config_and_context(
        &client_config(config, "weir-metadata"),
        MetadataContext::default(),
    )
    .map_err(|error| ListPartitionsError::InvalidConfig {
        detail: error.to_string(),
    })?;
    let unreachable = |error: KafkaError| MetadataContext::explain(&consumer, error, config);
    let mut splits = Vec::new();
    match pattern {
        Some(pattern) => {
            let metadata = consumer
                .fetch_metadata(None, timeout)
                .map_err(unreachable)?;
            for topic in metadata.topics() {
                let name = topic.name();
                if INTERNAL_TOPICS.contains(&name) || !pattern.is_match(name) {
                    continue;
                }
                splits.extend(partitions_of(&metadata, name)?);
            }
            if splits.is_empty() {
                return Err(ListPartitionsError::NoMatchingTopic {
                    pattern: config.topic.clone(),
                });
            }
        }
        None => {
            for name in config.topics() {
                let metadata = consumer
                    .fetch_metadata(Some(&name), timeout)
                    .map_err(unreachable)?;
                splits.extend(partitions_of(&metadata, &name)?);
            }
        }
    }
    splits.sort();
    splits.dedup();
    Ok(splits)
}

/// How long a failed listing waits for librdkafka's reports of why it failed.
const REPORTS_WAIT: Duration = Duration::from_millis(300);

/// Keeps what librdkafka last reported as an error: a failed metadata request only says
/// "broker transport failure", the error events and the error log say why (TLS handshake,
/// SASL login, ...). Both arrive as events of the client's queue, served by polling it.
#[derive(Default)]
struct MetadataContext {
    last_error: Mutex<Option<(Option<RDKafkaErrorCode>, String)>>,
}

impl MetadataContext {
    fn remember(&self, code: Option<RDKafkaErrorCode>, message: &str) {
        let mut last = self
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        // A specific failure (refused credentials, a failed TLS handshake) stays the
        // explanation over the vaguer reports that follow it ("1/1 brokers are down").
        let vaguer = match &*last {
            None => false,
            Some((Some(RDKafkaErrorCode::Authentication), _)) => true,
            Some(_) => code == Some(RDKafkaErrorCode::AllBrokersDown),
        };
        if !vaguer {
            *last = Some((code, without_thread_prefix(message).to_string()));
        }
    }

    /// The error of a failed metadata request of `consumer`, with the brokers' last reported
    /// problem.
    fn explain(
        consumer: &BaseConsumer<MetadataContext>,
        error: KafkaError,
        config: &KafkaSourceConfig,
    ) -> ListPartitionsError {
        // Serve the queued reports (this client reads no partition: polling yields nothing
        // else); they may trail the failed request by a moment.
        let deadline = std::time::Instant::now() + REPORTS_WAIT;
        while let Some(left) = deadline.checked_duration_since(std::time::Instant::now()) {
            if consumer.poll(left.min(Duration::from_millis(50))).is_none()
                && consumer.context().has_report()
            {
                break;
            }
        }
        let bootstrap = config.bootstrap_servers.clone();
        let last = consumer
            .context()
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match last {
            Some((code, reason))
                if code == Some(RDKafkaErrorCode::Authentication)
                    || is_authentication_failure(&reason) =>
            {
                ListPartitionsError::AuthenticationFailed {
                    bootstrap,
                    detail: reason,
                }
            }
            Some((_, reason)) => ListPartitionsError::Unreachable {
                bootstrap,
                detail: format!("{error}; last broker error: {reason}"),
            },
            None => ListPartitionsError::Unreachable {
                bootstrap,
                detail: error.to_string(),
            },
        }
    }

    fn has_report(&self) -> bool {
        self.last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }
}

/// Whether a librdkafka error log line reports refused credentials. librdkafka reports them
/// as a broker failure whose text (`rdkafka_sasl*.c`) is the only place that says so: the
/// metadata request itself fails with a transport error.
fn is_authentication_failure(logged: &str) -> bool {
    logged.contains("SASL authentication error") || logged.contains("Authentication failed")
}

/// `[thrd:sasl_ssl://host:port/bootstrap]: sasl_ssl://host:port/bootstrap: WHAT` → the part
/// from the broker name on (the thread name repeats it).
fn without_thread_prefix(message: &str) -> &str {
    match message.strip_prefix("[thrd:") {
        Some(rest) => rest.split_once("]: ").map_or(message, |(_, after)| after),
        None => message,
    }
}

impl ClientContext for MetadataContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        tracing::debug!(target: "librdkafka", facility, "{message}");
        if matches!(
            level,
            RDKafkaLogLevel::Emerg
                | RDKafkaLogLevel::Alert
                | RDKafkaLogLevel::Critical
                | RDKafkaLogLevel::Error
        ) {
            self.remember(None, message);
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(target: "librdkafka", %error, "{reason}");
        self.remember(error.rdkafka_error_code(), reason);
    }
}

impl ConsumerContext for MetadataContext {}

fn partitions_of(metadata: &Metadata, name: &str) -> Result<Vec<SplitId>, ListPartitionsError> {
    let not_found = || ListPartitionsError::TopicNotFound {
        topic: name.to_string(),
    };
    let topic = metadata
        .topics()
        .iter()
        .find(|topic| topic.name() == name)
        .ok_or_else(not_found)?;
    match topic.error().map(RDKafkaErrorCode::from) {
        None => {}
        Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => {
            return Err(not_found());
        }
        Some(code) => {
            return Err(ListPartitionsError::Kafka(format!(
                "metadata of topic '{name}': {code}"
            )));
        }
    }
    if topic.partitions().is_empty() {
        return Err(not_found());
    }
    Ok(topic
        .partitions()
        .iter()
        .map(|partition| SplitId::new(name, partition.id()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SASL_FAILURE: &str = "[thrd:sasl_ssl://127.0.0.1:9094/bootstrap]: sasl_ssl://127.0.0.1:9094/bootstrap: SASL authentication error: Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-512 (after 5ms in state AUTH_REQ)";

    fn explained(context: &MetadataContext) -> Option<(Option<RDKafkaErrorCode>, String)> {
        context
            .last_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    #[test]
    fn refused_credentials_are_recognised_and_kept_over_later_reports() {
        let context = MetadataContext::default();
        context.remember(Some(RDKafkaErrorCode::Authentication), SASL_FAILURE);
        context.remember(
            Some(RDKafkaErrorCode::AllBrokersDown),
            "1/1 brokers are down",
        );
        let (code, reason) = explained(&context).expect("a report");
        assert_eq!(code, Some(RDKafkaErrorCode::Authentication));
        assert!(
            reason.starts_with("sasl_ssl://127.0.0.1:9094/bootstrap: SASL authentication error"),
            "{reason}"
        );
        assert!(is_authentication_failure(&reason));
        assert!(!is_authentication_failure(
            "ssl://b:9093/bootstrap: SSL handshake failed"
        ));
    }

    #[test]
    fn a_specific_failure_is_kept_over_all_brokers_down() {
        let context = MetadataContext::default();
        context.remember(
            Some(RDKafkaErrorCode::SSL),
            "[thrd:ssl://b:9093/bootstrap]: ssl://b:9093/bootstrap: SSL handshake failed",
        );
        context.remember(
            Some(RDKafkaErrorCode::AllBrokersDown),
            "1/1 brokers are down",
        );
        assert_eq!(
            explained(&context).map(|(_, reason)| reason).as_deref(),
            Some("ssl://b:9093/bootstrap: SSL handshake failed")
        );
        // Without a specific report, "all brokers down" is the explanation.
        let context = MetadataContext::default();
        context.remember(
            Some(RDKafkaErrorCode::AllBrokersDown),
            "1/1 brokers are down",
        );
        assert_eq!(
            explained(&context).map(|(_, reason)| reason).as_deref(),
            Some("1/1 brokers are down")
        );
    }

    #[test]
    fn authentication_failures_are_retried_and_name_the_options_to_check() {
        let error = ListPartitionsError::AuthenticationFailed {
            bootstrap: "127.0.0.1:9094".into(),
            detail: "SASL authentication error".into(),
        };
        assert!(error.is_retryable());
        let message = error.to_string();
        assert!(
            message.starts_with("Kafka at 127.0.0.1:9094 refused the client's credentials"),
            "{message}"
        );
        assert!(message.contains("sasl.password"), "{message}");
    }

    #[test]
    fn thread_prefixes_are_dropped() {
        assert_eq!(
            without_thread_prefix("[thrd:main]: 1/1 brokers are down"),
            "1/1 brokers are down"
        );
        assert_eq!(without_thread_prefix("plain"), "plain");
        assert_eq!(without_thread_prefix("[thrd:unclosed"), "[thrd:unclosed");
    }
}
