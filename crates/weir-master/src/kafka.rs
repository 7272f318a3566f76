//! Listing a Kafka source's partitions, for split assignment and partition discovery.

use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use weir_core::config::{JobConfig, KafkaSourceConfig, SourceConfig};
use weir_core::split::SplitId;

use crate::cluster::{ListSplitsError, SplitLister};

/// The lister of a job's source, if the source has splits.
pub fn lister_for(config: &JobConfig) -> Option<Arc<dyn SplitLister>> {
    match &config.source {
        SourceConfig::Kafka(kafka) => Some(Arc::new(KafkaPartitions(Arc::new(kafka.clone())))),
        _ => None,
    }
}

struct KafkaPartitions(Arc<KafkaSourceConfig>);

impl SplitLister for KafkaPartitions {
    fn list(&self) -> BoxFuture<'static, Result<Vec<SplitId>, ListSplitsError>> {
        let config = Arc::clone(&self.0);
        Box::pin(async move {
            weir_connectors::kafka::list_partitions(&config)
                .await
                .map_err(|error| ListSplitsError {
                    retryable: error.is_retryable(),
                    message: error.to_string(),
                })
        })
    }

    fn discovery_interval(&self) -> Option<Duration> {
        self.0.partition_discovery_interval()
    }

    fn describe(&self) -> String {
        let kind = if self.0.pattern {
            "topics matching"
        } else {
            "topic"
        };
        format!(
            "Kafka {kind} {} at {}",
            self.0.topic, self.0.bootstrap_servers
        )
    }
}
