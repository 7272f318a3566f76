//! The librdkafka consumer of one subtask: its configuration, its context (errors, logs,
//! statistics) and a handle that never closes it on an async thread.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::{Arc, Mutex, PoisonError};

use rdkafka::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::statistics::Statistics;
use weir_core::config::KafkaSourceConfig;
use weir_core::split::SplitId;

use crate::error::ConnectorError;
use crate::source::{SourceStatus, SplitState};

/// How often librdkafka reports statistics (for the per-split prefetch gauge), unless
/// `kafka.config` sets `statistics.interval.ms`.
const STATISTICS_INTERVAL_MS: &str = "5000";

/// The splits a consumer reads, by topic and partition, for its statistics callback.
#[derive(Debug, Default)]
pub(crate) struct SplitRegistry(Mutex<HashMap<SplitId, Arc<SplitState>>>);

impl SplitRegistry {
    pub(crate) fn insert(&self, split: SplitId, state: Arc<SplitState>) {
        // Only map inserts and lookups run under this lock.
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(split, state);
    }
}

/// The consumer type every Kafka subtask uses.
pub(crate) type Consumer = StreamConsumer<KafkaContext>;

/// Receives librdkafka's callbacks for one consumer.
pub(crate) struct KafkaContext {
    pub(crate) status: Arc<SourceStatus>,
    pub(crate) splits: Arc<SplitRegistry>,
}

impl ClientContext for KafkaContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        match level {
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error
            | RDKafkaLogLevel::Warning => {
                tracing::warn!(target: "librdkafka", facility, "{message}");
            }
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", facility, "{message}");
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", facility, "{message}"),
        }
    }

    /// librdkafka reports what it is retrying (brokers down, connection refused, ...) here;
    /// it keeps retrying itself, with backoff. The task shows it as `last_error`.
    fn error(&self, error: KafkaError, reason: &str) {
        self.status.set_error(format!("{reason} ({error})"));
    }

    /// Per-partition prefetch levels: what `prefetch.max_bytes` bounds, made visible.
    fn stats(&self, statistics: Statistics) {
        let splits = self.splits.0.lock().unwrap_or_else(PoisonError::into_inner);
        for (name, topic) in &statistics.topics {
            for (partition, stats) in &topic.partitions {
                if let Some(state) = splits.get(&SplitId::new(name.as_str(), *partition)) {
                    state.set_prefetch_bytes(stats.fetchq_size);
                }
            }
        }
    }
}

/// The reading consumer never commits (see `committer`) and never joins the group, so it
/// has no commit results or rebalances to handle.
impl ConsumerContext for KafkaContext {}

/// Properties every Weir Kafka client shares: brokers, a client id, the job's
/// `kafka.config` (which may override the client id and `auto.offset.reset`).
pub(crate) fn client_config(config: &KafkaSourceConfig, client_id: &str) -> ClientConfig {
    let mut client = ClientConfig::new();
    client
        .set("bootstrap.servers", config.bootstrap_servers.trim())
        .set("client.id", client_id)
        // A start position outside the retained log: start at the earliest retained record
        // rather than skip to the end (no silent loss). `kafka.config` may override.
        .set("auto.offset.reset", "earliest");
    for (key, value) in &config.kafka_config.0 {
        client.set(key, value);
    }
    client
}

/// The consumer properties of a subtask: [`client_config`] plus the properties Weir owns
/// (validation rejects them in `kafka.config`): the group used only for commits, no automatic
/// commits, no EOF events, and the per-partition prefetch bound.
///
/// The prefetch cap is the prefetch part of `buffer.max_bytes` divided among the subtask's
/// fetch slots: the same for any partition count, so partitions added by discovery fit too.
pub(crate) fn consumer_config(config: &KafkaSourceConfig, client_id: &str) -> ClientConfig {
    let mut client = client_config(config, client_id);
    client
        .set("group.id", &config.consumer_group)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("enable.partition.eof", "false");
    for (key, value) in config.prefetch().librdkafka_properties() {
        client.set(key, value);
    }
    if config.kafka_config.get("statistics.interval.ms").is_none() {
        client.set("statistics.interval.ms", STATISTICS_INTERVAL_MS);
    }
    client
}

/// [`check_client_properties`] of the Kafka source of the job `text` (named `origin`), its
/// refusal as `origin:line: message`, the line of the refused property in `text`: the one
/// message `weir validate`, `weir submit` and the master's `SubmitJob` give.
pub fn check_client_properties_of_job(
    config: &KafkaSourceConfig,
    text: &str,
    origin: &str,
) -> Result<(), String> {
    check_client_properties(config).map_err(|error| {
        let line = match &error {
            ConnectorError::KafkaProperty { option, .. } => {
                weir_core::config::line_of_option(text, &format!("source.Kafka.{option}"))
            }
            _ => None,
        };
        match line {
            Some(line) => format!("{origin}:{line}: {error}"),
            None => format!("{origin}: {error}"),
        }
    })
}

/// Hands the consumer properties of a subtask ([`consumer_config`]) to librdkafka without
/// creating a client: a property librdkafka does not know, or a value it refuses, is the error
/// it would be when the worker starts the subtask. `weir validate`, `weir submit` and the
/// master's `SubmitJob` call it, so such a job is refused before it is scheduled. The value is
/// not repeated in the message (it may be a password).
pub fn check_client_properties(config: &KafkaSourceConfig) -> Result<(), ConnectorError> {
    match consumer_config(config, "weir-check").create_native_config() {
        Ok(_) => Ok(()),
        Err(KafkaError::ClientConfig(_, message, key, _)) => {
            let option = if config.kafka_config.get(&key).is_some() {
                format!("kafka.config.{key}")
            } else {
                key
            };
            Err(ConnectorError::KafkaProperty { option, message })
        }
        Err(other) => Err(ConnectorError::KafkaProperty {
            option: "kafka.config".to_string(),
            message: other.to_string(),
        }),
    }
}

/// A shared consumer whose last release happens on a blocking thread.
///
/// Dropping the last reference closes the consumer, which waits for librdkafka (outstanding
/// commits, the group coordinator) — possibly seconds when brokers are down. Every holder of
/// the consumer (partition readers too, after their partition queue) holds one of these, so
/// that wait never blocks an async worker thread.
pub(crate) struct ConsumerRef(Option<Arc<Consumer>>);

impl ConsumerRef {
    pub(crate) fn new(consumer: Consumer) -> Self {
        ConsumerRef(Some(Arc::new(consumer)))
    }
}

impl Deref for ConsumerRef {
    type Target = Arc<Consumer>;

    fn deref(&self) -> &Arc<Consumer> {
        // Infallible: the option is `Some` from construction until `drop` takes it, and
        // nothing can deref a value that is being dropped.
        self.0.as_ref().expect("consumer taken only in drop")
    }
}

impl Clone for ConsumerRef {
    fn clone(&self) -> Self {
        ConsumerRef(self.0.clone())
    }
}

impl Drop for ConsumerRef {
    fn drop(&mut self) {
        let Some(consumer) = self.0.take() else {
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn_blocking(move || drop(consumer));
            }
            Err(_) => drop(consumer),
        }
    }
}

#[cfg(test)]
mod check_tests {
    use weir_core::config::KafkaSourceConfig;

    use super::{check_client_properties, check_client_properties_of_job};
    use crate::error::ConnectorError;

    fn with(key: &str, value: &str) -> KafkaSourceConfig {
        let mut config = KafkaSourceConfig::new("127.0.0.1:9092", "t");
        config
            .kafka_config
            .0
            .insert(key.to_string(), value.to_string());
        config
    }

    #[test]
    fn librdkafka_refuses_what_it_does_not_know_without_repeating_the_value() {
        assert!(check_client_properties(&with("fetch.wait.max.ms", "50")).is_ok());
        // The Java consumer's name for fetch.wait.max.ms.
        let error = check_client_properties(&with("fetch.max.wait.ms", "50")).unwrap_err();
        assert!(
            matches!(&error, ConnectorError::KafkaProperty { option, .. } if option == "kafka.config.fetch.max.wait.ms"),
            "{error:?}"
        );
        assert!(
            error.to_string().contains("No such configuration property"),
            "{error}"
        );
        let error = check_client_properties(&with("socket.timeout.ms", "s3cret")).unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with(
                "'source.Kafka.kafka.config.socket.timeout.ms' is refused by librdkafka"
            ) && !message.contains("s3cret"),
            "{message}"
        );
    }

    #[test]
    fn a_refused_property_is_named_with_its_line() {
        let config = with("fetch.max.wait.ms", "50");
        let text = "source {\n  Kafka {\n    kafka.config = {\n      fetch.max.wait.ms = 50\n    }\n  }\n}";
        let message = check_client_properties_of_job(&config, text, "job.conf").unwrap_err();
        assert!(
            message.starts_with("job.conf:4: 'source.Kafka.kafka.config.fetch.max.wait.ms'"),
            "{message}"
        );
        // A text that does not write it (a resolved one, say): no line.
        let message = check_client_properties_of_job(&config, "{}", "job.conf").unwrap_err();
        assert!(message.starts_with("job.conf: 'source"), "{message}");
    }
}
