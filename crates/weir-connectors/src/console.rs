//! Console sink: rows to standard output as JSON lines, or only counted.

use std::io::Write as _;
use std::sync::Arc;
use std::time::Duration;

use weir_core::config::ConsoleSinkConfig;
use weir_core::row::Row;
use weir_core::schema::Schema;

use crate::context::{BoxFuture, SinkBufferStats, SinkWriter, SubtaskInfo};
use crate::error::ConnectorError;

/// Writes `subtaskIndex=<i> rowIndex=<n>: <row as JSON>` lines (SeaTunnel's prefix) to stdout.
///
/// Lines are collected in a buffer of at most `write.buffer_bytes` and written with stdout
/// locked, on a blocking thread: whole lines from parallel subtasks never interleave, and a
/// slow terminal or pipe slows this sink (backpressure) without stalling a runtime thread. A
/// line that would take the buffer past its bound is preceded by a write-out; a line longer
/// than the whole buffer is written on its own, never buffered.
pub struct ConsoleSink {
    print_data: bool,
    print_delay: Duration,
    subtask_index: u32,
    schema: Schema,
    /// Whole lines not written out yet; never longer than `buffer_cap`.
    buffer: Vec<u8>,
    buffer_cap: usize,
    stats: Arc<SinkBufferStats>,
    rows_written: u64,
    output: Output,
}

enum Output {
    Stdout,
    #[cfg(test)]
    Memory(std::sync::Arc<std::sync::Mutex<Vec<u8>>>),
}

impl ConsoleSink {
    /// A writer for `subtask`, rendering rows with `schema`'s field names.
    pub fn new(config: &ConsoleSinkConfig, schema: Schema, subtask: &SubtaskInfo) -> Self {
        let bound = config.write_buffer_bytes.0;
        ConsoleSink {
            print_data: config.print_data,
            print_delay: Duration::from_millis(config.print_delay_ms),
            subtask_index: subtask.subtask_index,
            schema,
            buffer: Vec::new(),
            buffer_cap: usize::try_from(bound).unwrap_or(usize::MAX),
            stats: Arc::new(SinkBufferStats::new(bound)),
            rows_written: 0,
            output: Output::Stdout,
        }
    }

    /// Rows taken so far.
    pub fn rows_written(&self) -> u64 {
        self.rows_written
    }

    async fn write_row(&mut self, row: Row) -> Result<(), ConnectorError> {
        self.rows_written += 1;
        if self.print_data {
            let json = row.to_json(&self.schema);
            let line_len = prefix_len(self.subtask_index, self.rows_written) + json.len() + 1;
            if self.buffer.len() + line_len > self.buffer_cap {
                self.write_out().await?;
            }
            if line_len > self.buffer_cap {
                // Larger than the whole buffer: straight out, so the buffer keeps its bound.
                let mut line = Vec::with_capacity(line_len);
                push_line(&mut line, self.subtask_index, self.rows_written, &json);
                self.emit(line).await?;
            } else {
                if self.buffer.capacity() == 0 {
                    // Allocated once, at its bound, so it never grows by doubling past it.
                    self.buffer.reserve_exact(self.buffer_cap);
                }
                push_line(
                    &mut self.buffer,
                    self.subtask_index,
                    self.rows_written,
                    &json,
                );
                self.stats.set(self.buffer.len() as u64);
            }
        }
        if !self.print_delay.is_zero() {
            tokio::time::sleep(self.print_delay).await;
        }
        Ok(())
    }

    /// Writes the buffered lines out and empties the buffer (keeping its allocation).
    async fn write_out(&mut self) -> Result<(), ConnectorError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let lines = std::mem::take(&mut self.buffer);
        let mut lines = self.emit(lines).await?;
        lines.clear();
        self.buffer = lines;
        self.stats.set(0);
        Ok(())
    }

    /// Writes `bytes` to the output in one locked write; hands the allocation back.
    async fn emit(&self, bytes: Vec<u8>) -> Result<Vec<u8>, ConnectorError> {
        match &self.output {
            Output::Stdout => tokio::task::spawn_blocking(move || {
                let mut stdout = std::io::stdout().lock();
                stdout.write_all(&bytes)?;
                stdout.flush()?;
                Ok::<_, std::io::Error>(bytes)
            })
            .await
            .map_err(|join| ConnectorError::Interrupted {
                what: "console write",
                reason: join.to_string(),
            })?
            .map_err(ConnectorError::Stdout),
            #[cfg(test)]
            Output::Memory(sink) => {
                sink.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend_from_slice(&bytes);
                Ok(bytes)
            }
        }
    }

    async fn finish(&mut self) -> Result<(), ConnectorError> {
        self.write_out().await?;
        tracing::info!(rows = self.rows_written, "console sink flushed");
        Ok(())
    }
}

/// Length of `subtaskIndex=<subtask> rowIndex=<row>: `, worked out rather than formatted so
/// that a row costs no allocation beyond its JSON.
fn prefix_len(subtask: u32, row: u64) -> usize {
    let digits = |n: u64| n.checked_ilog10().unwrap_or(0) as usize + 1;
    "subtaskIndex= rowIndex=: ".len() + digits(u64::from(subtask)) + digits(row)
}

/// Appends one printed line: the prefix, the row's JSON and a newline.
fn push_line(out: &mut Vec<u8>, subtask: u32, row: u64, json: &str) {
    // Writing into a Vec cannot fail.
    let _ = write!(out, "subtaskIndex={subtask} rowIndex={row}: ");
    out.extend_from_slice(json.as_bytes());
    out.push(b'\n');
}

impl SinkWriter for ConsoleSink {
    fn write(&mut self, row: Row) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(self.write_row(row))
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(self.finish())
    }

    fn buffer_stats(&self) -> Arc<SinkBufferStats> {
        Arc::clone(&self.stats)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use weir_core::row::Value;
    use weir_core::schema::DataType;

    use super::*;

    fn sink(print_data: bool) -> (ConsoleSink, Arc<Mutex<Vec<u8>>>) {
        sink_with(ConsoleSinkConfig {
            print_data,
            ..ConsoleSinkConfig::default()
        })
    }

    fn sink_with(config: ConsoleSinkConfig) -> (ConsoleSink, Arc<Mutex<Vec<u8>>>) {
        let subtask = SubtaskInfo {
            job_id: "job".into(),
            subtask_index: 3,
            parallelism: 4,
            attempt: 1,
        };
        let schema = Schema::new([("id", DataType::Bigint), ("name", DataType::String)]);
        let mut sink = ConsoleSink::new(&config, schema, &subtask);
        let captured = Arc::new(Mutex::new(Vec::new()));
        sink.output = Output::Memory(captured.clone());
        (sink, captured)
    }

    #[test]
    fn prefix_length_matches_the_printed_prefix() {
        for (subtask, row) in [
            (0, 1),
            (3, 9),
            (3, 10),
            (12, 999),
            (7, 1000),
            (u32::MAX, u64::MAX),
        ] {
            let printed = format!("subtaskIndex={subtask} rowIndex={row}: ");
            assert_eq!(prefix_len(subtask, row), printed.len(), "{printed}");
        }
    }

    fn with_buffer(bytes: u64) -> ConsoleSinkConfig {
        ConsoleSinkConfig {
            write_buffer_bytes: weir_core::config::ByteSize(bytes),
            ..ConsoleSinkConfig::default()
        }
    }

    fn row(id: i64) -> Row {
        Row::new(vec![Value::Bigint(id), Value::String(format!("n{id}"))])
    }

    fn text(captured: &Arc<Mutex<Vec<u8>>>) -> String {
        String::from_utf8(captured.lock().unwrap().clone()).unwrap()
    }

    #[tokio::test]
    async fn prints_json_lines_with_subtask_prefix_after_flush() {
        let (mut sink, captured) = sink(true);
        sink.write(row(1)).await.unwrap();
        sink.write(row(2)).await.unwrap();
        assert_eq!(
            text(&captured),
            "",
            "small output stays buffered until flush"
        );
        sink.flush().await.unwrap();
        assert_eq!(
            text(&captured),
            "subtaskIndex=3 rowIndex=1: {\"id\":1,\"name\":\"n1\"}\n\
             subtaskIndex=3 rowIndex=2: {\"id\":2,\"name\":\"n2\"}\n"
        );
    }

    #[tokio::test]
    async fn buffer_never_exceeds_its_bound_and_reports_its_level() {
        const BOUND: u64 = 1000;
        let (mut sink, captured) = sink_with(with_buffer(BOUND));
        let stats = sink.buffer_stats();
        assert_eq!((stats.bytes(), stats.max_bytes()), (0, BOUND));
        let mut expected = String::new();
        let mut write_outs = 0;
        let mut printed_before = 0;
        for id in 0..500 {
            let line = format!(
                "subtaskIndex=3 rowIndex={}: {{\"id\":{id},\"name\":\"n{id}\"}}\n",
                id + 1
            );
            expected.push_str(&line);
            sink.write(row(id)).await.unwrap();
            let buffered = sink.buffer.len() as u64;
            assert!(buffered <= BOUND, "row {id}: {buffered} bytes buffered");
            assert!(
                sink.buffer.capacity() as u64 <= BOUND,
                "allocation past the bound"
            );
            assert_eq!(stats.bytes(), buffered, "row {id}: reported level");
            let printed = captured.lock().unwrap().len();
            if printed > printed_before {
                write_outs += 1;
                // A write-out happens only when the next line would not have fitted.
                assert!(printed - printed_before + line.len() > BOUND as usize);
                printed_before = printed;
            }
            // Nothing lost, nothing reordered: printed + buffered is every line so far.
            let mut seen = text(&captured);
            seen.push_str(std::str::from_utf8(&sink.buffer).unwrap());
            assert_eq!(seen, expected, "row {id}");
        }
        assert!(
            write_outs >= 20,
            "{write_outs} write-outs of ~20 lines each"
        );
        sink.flush().await.unwrap();
        assert_eq!(stats.bytes(), 0, "flushed: nothing held");
        assert_eq!(text(&captured), expected);
    }

    #[tokio::test]
    async fn a_line_longer_than_the_buffer_is_written_on_its_own() {
        let (mut sink, captured) = sink_with(with_buffer(100));
        let stats = sink.buffer_stats();
        sink.write(row(1)).await.unwrap();
        let short = stats.bytes();
        assert!(short > 0 && short <= 100, "{short}");
        let long = Row::new(vec![Value::Bigint(2), Value::String("x".repeat(500))]);
        sink.write(long).await.unwrap();
        let printed = text(&captured);
        assert!(
            printed.starts_with("subtaskIndex=3 rowIndex=1: "),
            "{printed}"
        );
        assert!(printed.contains(&format!(
            "rowIndex=2: {{\"id\":2,\"name\":\"{}\"}}\n",
            "x".repeat(500)
        )));
        assert!(sink.buffer.is_empty());
        assert_eq!(stats.bytes(), 0);
        assert!(sink.buffer.capacity() <= 100);
        sink.write(row(3)).await.unwrap();
        assert_eq!(stats.bytes(), sink.buffer.len() as u64);
        sink.flush().await.unwrap();
        assert!(text(&captured).ends_with("rowIndex=3: {\"id\":3,\"name\":\"n3\"}\n"));
    }

    #[tokio::test]
    async fn counting_mode_prints_nothing() {
        let (mut sink, captured) = sink(false);
        for id in 0..100 {
            sink.write(row(id)).await.unwrap();
        }
        sink.flush().await.unwrap();
        assert_eq!(sink.rows_written(), 100);
        assert_eq!(text(&captured), "");
    }
}
