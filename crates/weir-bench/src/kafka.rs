//! Kafka for the benchmarks: backlogs produced fast and **uncompressed** (compression would
//! change what the broker, librdkafka's prefetch and Weir hold in memory), a producer at a
//! steady rate, and the raw-consumption ceiling.
//!
//! Every record is a JSON object `{"p":P,"seq":N,"pad":"…"}` of an exact size; in a fresh topic
//! record `seq` of partition `p` lands at offset `seq` (idempotent producers, one per
//! partition set), so "which (p, seq) were committed" can be checked against the watermarks.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rdkafka::ClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message as _;
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::{Offset, TopicPartitionList};

use crate::util::{self, human_bytes};

/// Producer threads for backlogs (each owns the partitions `p % THREADS == thread`).
const PRODUCER_THREADS: usize = 2;

/// A topic deleted when dropped (backlogs of GiBs must not pile up on the disk).
pub struct Topic {
    pub bootstrap: String,
    pub name: String,
    pub partitions: i32,
    /// Records produced so far to each partition (the next `seq`).
    pub counts: Vec<u64>,
    /// Payload bytes produced so far.
    pub bytes: u64,
    /// Size of each record.
    pub record_size: usize,
    /// What the records hold.
    pub shape: Shape,
    /// For watermarks, created on first use.
    metadata: std::sync::OnceLock<BaseConsumer>,
}

impl Topic {
    /// Creates `weir-bench-<prefix>-…` with `partitions` partitions, allowing records up to
    /// 8 MiB.
    pub fn create(bootstrap: &str, prefix: &str, partitions: i32) -> anyhow::Result<Self> {
        let name = weir_e2e::unique_name(&format!("weir-bench-{prefix}"));
        let bootstrap_owned = bootstrap.to_string();
        let topic_name = name.clone();
        std::panic::catch_unwind(move || {
            weir_e2e::kafka::create_topic_with(
                &bootstrap_owned,
                &topic_name,
                partitions,
                &[("max.message.bytes", "8388608")],
            )
        })
        .map_err(|panic| anyhow::anyhow!("creating topic {name}: {}", panic_text(&panic)))?;
        Ok(Topic {
            bootstrap: bootstrap.to_string(),
            name,
            partitions,
            counts: vec![0; partitions as usize],
            bytes: 0,
            record_size: 0,
            shape: Shape::Padded,
            metadata: std::sync::OnceLock::new(),
        })
    }

    /// Total records produced.
    pub fn records(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// Produces `records` more records of `size` bytes, spread evenly over the partitions, as
    /// fast as the broker takes them; progress every 5 s on stderr.
    pub fn produce(
        &mut self,
        scenario: &str,
        records: u64,
        size: usize,
    ) -> anyhow::Result<Produced> {
        self.produce_shaped(scenario, records, size, Shape::Padded)
    }

    /// [`Topic::produce`] with records of `shape`.
    pub fn produce_shaped(
        &mut self,
        scenario: &str,
        records: u64,
        size: usize,
        shape: Shape,
    ) -> anyhow::Result<Produced> {
        let started = Instant::now();
        let partitions = self.partitions as u64;
        let per_partition: Vec<u64> = (0..partitions)
            .map(|p| records / partitions + u64::from(p < records % partitions))
            .collect();
        let pool = Arc::new(letter_pool((4 * util::MIB as usize).max(2 * size + 64)));
        let done_records = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicBool::new(false));
        let mut handles = Vec::new();
        for thread in 0..PRODUCER_THREADS {
            let mine: Vec<(i32, u64, u64)> = (0..self.partitions)
                .filter(|p| *p as usize % PRODUCER_THREADS == thread)
                .map(|p| {
                    let start = self.counts[p as usize];
                    (p, start, start + per_partition[p as usize])
                })
                .collect();
            if mine.is_empty() {
                continue;
            }
            let (bootstrap, topic) = (self.bootstrap.clone(), self.name.clone());
            let (pool, done, failed) = (pool.clone(), done_records.clone(), failed.clone());
            handles.push(std::thread::spawn(move || {
                produce_partitions(
                    &bootstrap, &topic, &mine, size, shape, &pool, &done, &failed,
                )
            }));
        }
        let total_bytes = records * size as u64;
        let mut last_report = Instant::now();
        while handles.iter().any(|handle| !handle.is_finished()) {
            std::thread::sleep(Duration::from_millis(200));
            if last_report.elapsed() >= Duration::from_secs(5) {
                last_report = Instant::now();
                let done = done_records.load(Ordering::Relaxed);
                let seconds = started.elapsed().as_secs_f64();
                util::progress(
                    scenario,
                    format!(
                        "producing to {}: {done}/{records} records ({:.0}%), {:.1} MiB/s",
                        self.name,
                        100.0 * done as f64 / records.max(1) as f64,
                        util::mib(done * size as u64) / seconds
                    ),
                );
            }
        }
        let mut first_error = None;
        for handle in handles {
            match handle.join() {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    first_error.get_or_insert(error);
                }
                Err(panic) => {
                    first_error.get_or_insert(anyhow::anyhow!(
                        "a producer thread panicked: {}",
                        panic_text(&panic)
                    ));
                }
            }
        }
        if let Some(error) = first_error {
            return Err(error);
        }
        for (count, extra) in self.counts.iter_mut().zip(&per_partition) {
            *count += extra;
        }
        self.bytes += total_bytes;
        self.record_size = size;
        self.shape = shape;
        let elapsed = started.elapsed().as_secs_f64();
        let produced = Produced {
            records,
            bytes: total_bytes,
            seconds: elapsed,
        };
        util::progress(
            scenario,
            format!(
                "produced {records} × {} = {} to {} in {elapsed:.1} s ({:.1} MiB/s)",
                human_bytes(size as u64),
                human_bytes(total_bytes),
                self.name,
                produced.mib_per_second()
            ),
        );
        Ok(produced)
    }

    /// `(low, high)` watermarks per partition, as the broker has them now.
    pub fn watermarks(&self) -> anyhow::Result<Vec<(i64, i64)>> {
        if self.metadata.get().is_none() {
            let _ = self.metadata.set(metadata_consumer(&self.bootstrap)?);
        }
        let consumer = self.metadata.get().context("metadata consumer")?;
        (0..self.partitions)
            .map(|p| {
                consumer
                    .fetch_watermarks(&self.name, p, Duration::from_secs(10))
                    .with_context(|| format!("watermarks of {}-{p}", self.name))
            })
            .collect()
    }
}

impl Drop for Topic {
    fn drop(&mut self) {
        weir_e2e::kafka::delete_topics(&self.bootstrap, &[self.name.as_str()]);
    }
}

pub fn panic_text(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "(no message)".to_string())
}

/// What one [`Topic::produce`] did.
#[derive(Debug, Clone, Copy)]
pub struct Produced {
    pub records: u64,
    pub bytes: u64,
    pub seconds: f64,
}

impl Produced {
    pub fn mib_per_second(&self) -> f64 {
        util::mib(self.bytes) / self.seconds.max(1e-9)
    }
}

/// Pseudo-random lowercase letters (so the bytes are not trivially compressible anywhere).
fn letter_pool(len: usize) -> Vec<u8> {
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            b'a' + (state % 26) as u8
        })
        .collect()
}

/// What the benchmark's records hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// `{"p":P,"seq":N,"pad":"…"}` ([`record_into`]): schema `p int, seq bigint, pad string`.
    Padded,
    /// Six typed fields, as a new user's first job has them ([`six_fields_into`]): bigint,
    /// string, double, boolean, bigint, string.
    SixFields,
}

impl Shape {
    /// The `schema` line of a Kafka source reading these records.
    pub fn schema(self) -> &'static str {
        match self {
            Shape::Padded => r#"schema = { fields { p = "int", seq = "bigint", pad = "string" } }"#,
            Shape::SixFields => {
                r#"schema = { fields { id = "bigint", user = "string", amount = "double", active = "boolean", ts = "bigint", note = "string" } }"#
            }
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Shape::Padded => "3 fields (p, seq, pad)",
            Shape::SixFields => "6 typed fields",
        }
    }

    fn write(self, out: &mut Vec<u8>, partition: i32, seq: u64, size: usize, pool: &[u8]) {
        match self {
            Shape::Padded => record_into(out, partition, seq, size, pool),
            Shape::SixFields => six_fields_into(out, partition, seq, size, pool),
        }
    }
}

/// Writes `{"id":N,"user":"…","amount":D,"active":B,"ts":N,"note":"…"}` of exactly `size`
/// bytes (longer if `size` is too small for the fields) into `out`.
pub fn six_fields_into(out: &mut Vec<u8>, partition: i32, seq: u64, size: usize, pool: &[u8]) {
    use std::io::Write as _;
    out.clear();
    let mix = seq.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (partition as u64) << 40;
    let user_at = (mix as usize) % (pool.len() - 16);
    let _ = write!(out, r#"{{"id":{seq},"user":""#);
    out.extend_from_slice(&pool[user_at..user_at + 16]);
    let _ = write!(
        out,
        r#"","amount":{}.{:02},"active":{},"ts":{},"note":""#,
        mix % 100_000,
        (mix >> 20) % 100,
        mix & 1 == 1,
        1_700_000_000_000u64 + seq
    );
    let pad = size.saturating_sub(out.len() + 2);
    let offset = ((mix >> 8) as usize) % (pool.len() - pad).max(1);
    out.extend_from_slice(&pool[offset..offset + pad]);
    out.extend_from_slice(b"\"}");
}

/// Writes `{"p":P,"seq":N,"pad":"…"}` of exactly `size` bytes into `out` (at least the fields:
/// a `size` too small for them gives a slightly longer record).
pub fn record_into(out: &mut Vec<u8>, partition: i32, seq: u64, size: usize, pool: &[u8]) {
    use std::io::Write as _;
    out.clear();
    let _ = write!(out, r#"{{"p":{partition},"seq":{seq},"pad":""#);
    let pad = size.saturating_sub(out.len() + 2);
    let offset =
        ((seq.wrapping_mul(7919) ^ (partition as u64) << 20) as usize) % (pool.len() - pad).max(1);
    out.extend_from_slice(&pool[offset..offset + pad]);
    out.extend_from_slice(b"\"}");
}

#[derive(Default)]
struct DeliveryCounter {
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

struct CountingContext(Arc<DeliveryCounter>);

impl ClientContext for CountingContext {}

impl ProducerContext for CountingContext {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.0.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, _)) => {
                self.0.failed.fetch_add(1, Ordering::Relaxed);
                self.0
                    .first_error
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get_or_insert_with(|| error.to_string());
            }
        }
    }
}

fn producer(
    bootstrap: &str,
    counter: Arc<DeliveryCounter>,
) -> anyhow::Result<BaseProducer<CountingContext>> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        // Per-partition order and no duplicates on retries: offset == seq in a fresh topic.
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("compression.type", "none")
        .set("linger.ms", "50")
        .set("batch.size", "4194304")
        .set("batch.num.messages", "100000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "262144")
        .set("message.max.bytes", "8388608")
        .set("message.timeout.ms", "300000")
        .create_with_context(CountingContext(counter))
        .context("Kafka producer")
}

#[allow(clippy::too_many_arguments)]
fn produce_partitions(
    bootstrap: &str,
    topic: &str,
    partitions: &[(i32, u64, u64)],
    size: usize,
    shape: Shape,
    pool: &[u8],
    done: &AtomicU64,
    failed: &AtomicBool,
) -> anyhow::Result<()> {
    let counter = Arc::new(DeliveryCounter::default());
    let producer = producer(bootstrap, counter.clone())?;
    let mut next: Vec<u64> = partitions.iter().map(|(_, start, _)| *start).collect();
    let mut buffer = Vec::with_capacity(size + 64);
    let mut reported = 0u64;
    loop {
        let mut progressed = false;
        for (index, (partition, _, end)) in partitions.iter().enumerate() {
            // Round-robin in runs of 64, so partitions fill evenly.
            for _ in 0..64 {
                if next[index] >= *end {
                    break;
                }
                if failed.load(Ordering::Relaxed) {
                    bail!("another producer thread failed");
                }
                shape.write(&mut buffer, *partition, next[index], size, pool);
                loop {
                    let record = BaseRecord::<(), [u8]>::to(topic)
                        .partition(*partition)
                        .payload(buffer.as_slice());
                    match producer.send(record) {
                        Ok(()) => break,
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                            producer.poll(Duration::from_millis(20));
                        }
                        Err((error, _)) => {
                            failed.store(true, Ordering::Relaxed);
                            bail!("producing to {topic}-{partition}: {error}");
                        }
                    }
                }
                next[index] += 1;
                progressed = true;
            }
        }
        producer.poll(Duration::ZERO);
        let delivered = counter.delivered.load(Ordering::Relaxed);
        done.fetch_add(delivered - reported, Ordering::Relaxed);
        reported = delivered;
        if counter.failed.load(Ordering::Relaxed) > 0 {
            failed.store(true, Ordering::Relaxed);
            break;
        }
        if !progressed {
            break;
        }
    }
    producer
        .flush(Duration::from_secs(300))
        .with_context(|| format!("flushing the producer of {topic}"))?;
    let delivered = counter.delivered.load(Ordering::Relaxed);
    done.fetch_add(delivered - reported, Ordering::Relaxed);
    let failures = counter.failed.load(Ordering::Relaxed);
    if failures > 0 {
        failed.store(true, Ordering::Relaxed);
        bail!(
            "{failures} records to {topic} were not delivered; first error: {}",
            counter
                .first_error
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone()
                .unwrap_or_default()
        );
    }
    Ok(())
}

/// Produces to `topic` at `rows_per_second` (spread over its partitions, continuing each
/// partition's `seq` from `counts`) on a thread until stopped.
pub struct SteadyProducer {
    stop: Arc<AtomicBool>,
    handle: Option<std::thread::JoinHandle<anyhow::Result<Vec<u64>>>>,
}

impl SteadyProducer {
    pub fn start(topic: &Topic, rows_per_second: u64, size: usize) -> anyhow::Result<Self> {
        let counter = Arc::new(DeliveryCounter::default());
        let producer = producer(&topic.bootstrap, counter.clone())?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let (name, partitions) = (topic.name.clone(), topic.partitions);
        let mut next = topic.counts.clone();
        let handle = std::thread::spawn(move || {
            let pool = letter_pool(util::MIB as usize);
            let mut buffer = Vec::with_capacity(size + 64);
            let started = Instant::now();
            let mut sent = 0u64;
            let tick = Duration::from_millis(10);
            while !stopping.load(Ordering::Relaxed) {
                let due = (started.elapsed().as_secs_f64() * rows_per_second as f64) as u64;
                while sent < due {
                    let partition = (sent % partitions as u64) as i32;
                    let seq = next[partition as usize];
                    record_into(&mut buffer, partition, seq, size, &pool);
                    loop {
                        let record = BaseRecord::<(), [u8]>::to(&name)
                            .partition(partition)
                            .payload(buffer.as_slice());
                        match producer.send(record) {
                            Ok(()) => break,
                            Err((
                                KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                                _,
                            )) => producer.poll(Duration::from_millis(5)),
                            Err((error, _)) => bail!("producing to {name}-{partition}: {error}"),
                        }
                    }
                    next[partition as usize] += 1;
                    sent += 1;
                }
                producer.poll(tick);
            }
            producer
                .flush(Duration::from_secs(60))
                .context("flushing the steady producer")?;
            let failures = counter.failed.load(Ordering::Relaxed);
            if failures > 0 {
                bail!(
                    "{failures} records were not delivered; first error: {}",
                    counter
                        .first_error
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone()
                        .unwrap_or_default()
                );
            }
            Ok(next)
        });
        Ok(SteadyProducer {
            stop,
            handle: Some(handle),
        })
    }

    /// Stops, flushes and returns the new per-partition counts.
    pub fn finish(mut self) -> anyhow::Result<Vec<u64>> {
        self.stop.store(true, Ordering::Relaxed);
        match self.handle.take().map(std::thread::JoinHandle::join) {
            Some(Ok(result)) => result,
            Some(Err(panic)) => bail!("the steady producer panicked: {}", panic_text(&panic)),
            None => bail!("the steady producer was already finished"),
        }
    }
}

impl Drop for SteadyProducer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn metadata_consumer(bootstrap: &str) -> anyhow::Result<BaseConsumer> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", weir_e2e::unique_name("weir-bench-metadata"))
        .set("enable.auto.commit", "false")
        .create()
        .context("Kafka metadata consumer")
}

/// What the raw consumer read.
#[derive(Debug, Clone, Copy)]
pub struct RawRead {
    pub records: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub cpu_seconds: f64,
}

/// The ceiling: librdkafka (default settings) assigned every partition from the beginning,
/// consuming to the end offsets taken before it starts, counting records and value bytes and
/// doing nothing else. Time runs from creating the consumer to the last record.
pub fn raw_consume(topic: &Topic) -> anyhow::Result<RawRead> {
    let ends: BTreeMap<i32, i64> = topic
        .watermarks()?
        .into_iter()
        .enumerate()
        .map(|(p, (_, high))| (p as i32, high))
        .collect();
    let cpu_before = self_cpu_seconds();
    let started = Instant::now();
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &topic.bootstrap)
        .set("group.id", weir_e2e::unique_name("weir-bench-raw"))
        .set("enable.auto.commit", "false")
        .set("enable.partition.eof", "false")
        .create()
        .context("raw consumer")?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..topic.partitions {
        assignment
            .add_partition_offset(&topic.name, partition, Offset::Beginning)
            .context("assignment")?;
    }
    consumer.assign(&assignment).context("assign")?;
    let mut remaining: BTreeMap<i32, i64> = ends.into_iter().filter(|(_, end)| *end > 0).collect();
    let (mut records, mut bytes) = (0u64, 0u64);
    let mut last_progress = Instant::now();
    while !remaining.is_empty() {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(message)) => {
                records += 1;
                bytes += message.payload_len() as u64;
                let partition = message.partition();
                if let Some(end) = remaining.get(&partition)
                    && message.offset() + 1 >= *end
                {
                    remaining.remove(&partition);
                }
                last_progress = Instant::now();
            }
            Some(Err(error)) => bail!("raw consumer: {error}"),
            None => {
                if last_progress.elapsed() > Duration::from_secs(60) {
                    bail!("the raw consumer read nothing for 60 s; partitions left: {remaining:?}");
                }
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    Ok(RawRead {
        records,
        bytes,
        seconds,
        cpu_seconds: self_cpu_seconds() - cpu_before,
    })
}

fn self_cpu_seconds() -> f64 {
    util::proc_cpu_seconds(std::process::id()).unwrap_or_default()
}
