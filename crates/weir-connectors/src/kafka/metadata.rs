//! Listing the partitions (splits) of a Kafka source, for the master's split assignment and
//! partition discovery.

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer as _};
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
            ListPartitionsError::Unreachable { .. } | ListPartitionsError::Kafka(_) => true,
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
    let consumer: BaseConsumer =
        client_config(config, "weir-metadata")
            .create()
            .map_err(|error| ListPartitionsError::InvalidConfig {
                detail: error.to_string(),
            })?;
    let unreachable = |error: KafkaError| ListPartitionsError::Unreachable {
        bootstrap: config.bootstrap_servers.clone(),
        detail: error.to_string(),
    };
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
