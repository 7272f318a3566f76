//! Kafka source tests against librdkafka's MockCluster (in-process brokers: fetch, offsets,
//! groups; no admin API, no timestamp lookups, 5 MiB of log per partition).

mod caught_up;
mod empty_values;
mod faults;
mod reading;

use std::sync::Arc;
use std::time::Duration;

use super::mock::MockKafka;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use weir_core::config::{EnvConfig, JobMode, KafkaSourceConfig, StartMode};
use weir_core::queue::{QueueReceiver, bounded_queue};
use weir_core::split::SplitId;

use crate::context::{SourceContext, SourceRecord, SubtaskInfo};
use crate::error::ConnectorError;
use crate::limiter::ReadLimiter;
use crate::source::{SourceStatus, SplitOpener, SplitReader, SplitState};

/// How long any awaited condition may take before the test fails.
const PATIENCE: Duration = Duration::from_secs(30);

/// An in-process Kafka cluster with one broker (id 1).
pub(super) struct Cluster {
    pub mock: MockKafka,
    pub bootstrap: String,
}

impl Cluster {
    pub fn new(topics: &[(&str, i32)]) -> Self {
        // Logs only with RUST_LOG set; a second init in the same process is a no-op.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let mock = MockKafka::new(1).unwrap();
        for (topic, partitions) in topics {
            mock.create_topic(topic, *partitions).unwrap();
        }
        let bootstrap = mock.bootstrap_servers().to_string();
        Cluster { mock, bootstrap }
    }

    /// A source config reading `topic` from this cluster, from the earliest offset.
    pub fn source(&self, topic: &str) -> KafkaSourceConfig {
        let mut config = KafkaSourceConfig::new(self.bootstrap.clone(), topic);
        config.start_mode = StartMode::Earliest;
        if let Ok(debug) = std::env::var("WEIR_KAFKA_DEBUG") {
            config.kafka_config.0.insert("debug".into(), debug);
        }
        config
    }
}

/// Produces `payloads` to one partition and waits until all are acknowledged.
pub(super) fn produce(bootstrap: &str, topic: &str, partition: i32, payloads: &[Vec<u8>]) {
    produce_at(bootstrap, topic, partition, payloads, None);
}

pub(super) fn produce_at(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    payloads: &[Vec<u8>],
    timestamp: Option<i64>,
) {
    super::mock::produce(bootstrap, topic, partition, payloads, timestamp).unwrap();
}

/// Produces `values` to one partition, `None` as a record without a value (a tombstone), and
/// waits until all are acknowledged.
pub(super) fn produce_values(
    bootstrap: &str,
    topic: &str,
    partition: i32,
    values: &[Option<&[u8]>],
) {
    use rdkafka::config::ClientConfig;
    use rdkafka::producer::{BaseProducer, BaseRecord, Producer as _};
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    for value in values {
        let record = BaseRecord::<(), [u8]>::to(topic).partition(partition);
        let record = match value {
            Some(value) => record.payload(*value),
            None => record,
        };
        producer.send(record).map_err(|(error, _)| error).unwrap();
    }
    producer.flush(PATIENCE).unwrap();
}

/// `{"id": <id>, "p": <partition>}`.
pub(super) fn json(id: i64, partition: i32) -> Vec<u8> {
    format!(r#"{{"id":{id},"p":{partition}}}"#).into_bytes()
}

/// The schema of [`json`] records.
pub(super) fn id_schema() -> weir_core::schema::Schema {
    use weir_core::schema::{DataType, Schema};
    Schema::new([("id", DataType::Bigint), ("p", DataType::Int)])
}

pub(super) fn split(topic: &str, partition: i32) -> SplitId {
    SplitId::new(topic, partition)
}

fn subtask() -> SubtaskInfo {
    SubtaskInfo {
        job_id: "job-1".into(),
        subtask_index: 0,
        parallelism: 1,
        attempt: 1,
    }
}

/// A Kafka source running in the test: its readers and driver spawned, its queues left to
/// the test to drain (or not).
pub(super) struct Running {
    pub queues: Vec<QueueReceiver<SourceRecord>>,
    pub states: Vec<Arc<SplitState>>,
    pub status: Arc<SourceStatus>,
    /// `None` once the test has taken the reader's result.
    readers: Vec<Option<JoinHandle<Result<(), ConnectorError>>>>,
    driver: Option<JoinHandle<Result<(), ConnectorError>>>,
    cancel: CancellationToken,
    stop: CancellationToken,
    opener: Option<Box<dyn SplitOpener>>,
    ctx: SourceContext,
    bounds: (usize, u64),
    pub pause: watch::Sender<bool>,
}

/// Options of [`start`] besides the source config.
pub(super) struct Setup {
    pub queue_rows: usize,
    pub queue_bytes: u64,
    pub limiter: ReadLimiter,
    pub mode: JobMode,
    pub commit_interval_ms: u64,
}

impl Default for Setup {
    fn default() -> Self {
        Setup {
            queue_rows: 10_000,
            queue_bytes: 64 << 20,
            limiter: ReadLimiter::unlimited(),
            mode: JobMode::Streaming,
            commit_interval_ms: 3_600_000,
        }
    }
}

pub(super) fn start(config: &KafkaSourceConfig, splits: &[SplitId], setup: Setup) -> Running {
    let env = EnvConfig {
        job_mode: setup.mode,
        checkpoint_interval_ms: setup.commit_interval_ms,
        ..EnvConfig::default()
    };
    let opened = super::open(config, &env, &subtask(), splits, &[]).unwrap();
    let cancel = CancellationToken::new();
    let stop = CancellationToken::new();
    let (pause, paused) = watch::channel(false);
    let ctx = SourceContext {
        cancel: cancel.clone(),
        paused,
        read_limit: setup.limiter,
    };
    let mut running = Running {
        queues: Vec::new(),
        states: Vec::new(),
        status: opened.status,
        readers: Vec::new(),
        driver: opened
            .driver
            .map(|driver| tokio::spawn(driver.run(stop.clone()))),
        cancel,
        stop,
        opener: opened.opener,
        ctx,
        bounds: (setup.queue_rows, setup.queue_bytes),
        pause,
    };
    for split in opened.readers {
        running.spawn(split);
    }
    running
}

impl Running {
    fn spawn(&mut self, split: SplitReader) {
        let (sender, receiver) = bounded_queue(self.bounds.0, self.bounds.1);
        self.queues.push(receiver);
        self.states.push(split.state);
        self.readers.push(Some(tokio::spawn(
            split.reader.run(sender, self.ctx.clone()),
        )));
    }

    /// Adds splits to the running source (partition discovery); returns how many started.
    pub fn add(&mut self, splits: Vec<SplitId>) -> usize {
        let opener = self.opener.as_mut().expect("kafka has an opener");
        let readers = opener.open_splits(splits).unwrap();
        let started = readers.len();
        for reader in readers {
            self.spawn(reader);
        }
        started
    }

    /// The next record of split `index`, recording it as taken by the "sink".
    pub async fn next(&mut self, index: usize) -> SourceRecord {
        let record = tokio::time::timeout(PATIENCE, self.queues[index].recv())
            .await
            .unwrap_or_else(|_| panic!("no record from split {index} in {PATIENCE:?}"))
            .unwrap_or_else(|| panic!("split {index} ended"));
        self.states[index].set_position(record.position + 1);
        record
    }

    /// The offsets of the next `count` records of split `index`.
    pub async fn offsets(&mut self, index: usize, count: usize) -> Vec<i64> {
        let mut offsets = Vec::with_capacity(count);
        for _ in 0..count {
            offsets.push(self.next(index).await.position);
        }
        offsets
    }

    /// The result of split `index`'s reader, which must end within [`PATIENCE`].
    pub async fn reader_result(&mut self, index: usize) -> Result<(), ConnectorError> {
        let reader = self.readers[index].take().expect("result already taken");
        tokio::time::timeout(PATIENCE, reader)
            .await
            .expect("reader did not end")
            .expect("reader panicked")
    }

    /// Stops the readers, then the driver (which commits the final positions).
    pub async fn stop(mut self) -> Result<(), ConnectorError> {
        self.cancel.cancel();
        for reader in self.readers.drain(..).flatten() {
            let _ = reader.await;
        }
        self.stop.cancel();
        match self.driver.take() {
            Some(driver) => driver.await.expect("driver panicked"),
            None => Ok(()),
        }
    }
}

/// Waits until `condition` holds, checking every 10 ms, for at most [`PATIENCE`].
pub(super) async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never happened: {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
