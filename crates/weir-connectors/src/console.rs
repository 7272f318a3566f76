//! Console sink: rows to standard output as JSON lines, or only counted.

use std::io::Write as _;
use std::time::Duration;

use weir_core::config::{CONSOLE_WRITE_BUFFER_BYTES, ConsoleSinkConfig};
use weir_core::row::Row;
use weir_core::schema::Schema;

use crate::context::{BoxFuture, SinkWriter, SubtaskInfo};
use crate::error::ConnectorError;

/// Writes `subtaskIndex=<i> rowIndex=<n>: <row as JSON>` lines (SeaTunnel's prefix) to stdout.
///
/// Lines are collected in a buffer of [`CONSOLE_WRITE_BUFFER_BYTES`] and written with stdout
/// locked, on a blocking thread: whole lines from parallel subtasks never interleave, and a
/// slow terminal or pipe slows this sink (backpressure) without stalling a runtime thread.
pub struct ConsoleSink {
    print_data: bool,
    print_delay: Duration,
    subtask_index: u32,
    schema: Schema,
    buffer: Vec<u8>,
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
        ConsoleSink {
            print_data: config.print_data,
            print_delay: Duration::from_millis(config.print_delay_ms),
            subtask_index: subtask.subtask_index,
            schema,
            buffer: Vec::new(),
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
            // Writing into a Vec cannot fail.
            let _ = writeln!(
                self.buffer,
                "subtaskIndex={} rowIndex={}: {}",
                self.subtask_index,
                self.rows_written,
                row.to_json(&self.schema)
            );
            if self.buffer.len() as u64 >= CONSOLE_WRITE_BUFFER_BYTES {
                self.write_out().await?;
            }
        }
        if !self.print_delay.is_zero() {
            tokio::time::sleep(self.print_delay).await;
        }
        Ok(())
    }

    async fn write_out(&mut self) -> Result<(), ConnectorError> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let lines = std::mem::take(&mut self.buffer);
        let mut lines = match &self.output {
            Output::Stdout => tokio::task::spawn_blocking(move || {
                let mut stdout = std::io::stdout().lock();
                stdout.write_all(&lines)?;
                stdout.flush()?;
                Ok::<_, std::io::Error>(lines)
            })
            .await
            .map_err(|join| ConnectorError::Interrupted {
                what: "console write",
                reason: join.to_string(),
            })?
            .map_err(ConnectorError::Stdout)?,
            #[cfg(test)]
            Output::Memory(sink) => {
                sink.lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .extend_from_slice(&lines);
                lines
            }
        };
        // Reuse the allocation for the next batch of lines.
        lines.clear();
        self.buffer = lines;
        Ok(())
    }

    async fn finish(&mut self) -> Result<(), ConnectorError> {
        self.write_out().await?;
        tracing::info!(rows = self.rows_written, "console sink flushed");
        Ok(())
    }
}

impl SinkWriter for ConsoleSink {
    fn write(&mut self, row: Row) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(self.write_row(row))
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<(), ConnectorError>> {
        Box::pin(self.finish())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use weir_core::row::Value;
    use weir_core::schema::DataType;

    use super::*;

    fn sink(print_data: bool) -> (ConsoleSink, Arc<Mutex<Vec<u8>>>) {
        let config = ConsoleSinkConfig {
            print_data,
            ..ConsoleSinkConfig::default()
        };
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
    async fn buffer_is_written_out_when_full() {
        let (mut sink, captured) = sink(true);
        let mut rows = 0;
        while captured.lock().unwrap().is_empty() {
            sink.write(row(rows)).await.unwrap();
            rows += 1;
            assert!(rows < 10_000, "buffer never flushed");
        }
        let written = captured.lock().unwrap().len() as u64;
        assert!(written >= CONSOLE_WRITE_BUFFER_BYTES);
        assert!(sink.buffer.is_empty());
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
