//! FakeSource: generated rows, paced and bounded, for demos, tests and benchmarks.

mod generator;

use std::collections::VecDeque;

use weir_core::config::FakeSourceConfig;
use weir_core::queue::{HAND_OVER_BYTES, HAND_OVER_ROWS, QueueSender};

use self::generator::{RowGenerator, Sizes};
use crate::context::{BoxFuture, SourceContext, SourceReader, SourceRecord, SubtaskInfo};
use crate::error::ConnectorError;
use crate::limiter::ReadLimiter;

/// Generates `row.num` rows (or endlessly) for one subtask into its queue. A row's position
/// is its index in the subtask's stream.
///
/// Per row, in order: wait while intake is paused; pace to `rows_per_second`; take the row
/// and its bytes from the job's read limit; wait for room in the queue. Cancellation is
/// honoured at every one of those waits.
pub struct FakeSourceReader {
    config: FakeSourceConfig,
    subtask: SubtaskInfo,
}

impl FakeSourceReader {
    /// A reader for `subtask`.
    pub fn new(config: FakeSourceConfig, subtask: SubtaskInfo) -> Self {
        FakeSourceReader { config, subtask }
    }

    async fn generate(
        self,
        out: QueueSender<SourceRecord>,
        mut ctx: SourceContext,
    ) -> Result<(), ConnectorError> {
        let mut generator = RowGenerator::new(
            &self.config.schema,
            Sizes::of(&self.config),
            self.subtask.subtask_index,
            self.subtask.parallelism,
        );
        // Literal `rows` are emitted once per job, as SeaTunnel's single split emits them: by
        // subtask 0.
        let mut literal = self.config.rows.clone().map(|rows| {
            if self.subtask.subtask_index == 0 {
                rows.into_iter()
            } else {
                Vec::new().into_iter()
            }
        });
        let limit = match &literal {
            Some(rows) => Some(rows.len() as u64),
            None => self.config.row_num,
        };
        let pace = ReadLimiter::new(self.config.rows_per_second.map(|r| r as f64), None);
        let mut produced: u64 = 0;
        let mut batch = VecDeque::new();
        while limit.is_none_or(|limit| produced < limit) {
            if !ctx.wait_while_paused().await {
                tracing::debug!(rows = produced, "FakeSource cancelled");
                return Ok(());
            }
            // Rows go to the queue in batches while nothing paces them; under a rate each row
            // takes its tokens alone, so that the rate paces rows, not batches.
            let batch_rows = if pace.is_unlimited() && ctx.read_limit.is_unlimited() {
                HAND_OVER_ROWS
            } else {
                1
            };
            let mut bytes = 0u64;
            while batch.len() < batch_rows
                && bytes < HAND_OVER_BYTES
                && limit.is_none_or(|limit| produced < limit)
            {
                let row = match literal.as_mut() {
                    Some(rows) => match rows.next() {
                        Some(row) => row,
                        None => break,
                    },
                    None => generator.next_row(),
                };
                let size = row.size_bytes();
                let record = SourceRecord {
                    row,
                    position: i64::try_from(produced).unwrap_or(i64::MAX),
                    more_at_position: false,
                };
                batch.push_back((record, size));
                bytes += size;
                produced += 1;
            }
            if batch.is_empty() {
                break;
            }
            let rows = batch.len() as u64;
            let admitted = async {
                pace.acquire(rows, 0).await;
                ctx.read_limit.acquire(rows, bytes).await;
                out.send_batch(&mut batch).await
            };
            tokio::select! {
                biased;
                () = ctx.cancel.cancelled() => {
                    tracing::debug!(rows = produced, "FakeSource cancelled");
                    return Ok(());
                }
                sent = admitted => sent.map_err(|_| ConnectorError::QueueClosed)?,
            }
            // A queue with room never makes `send_batch` yield; without this, an endless
            // generator would monopolise its runtime thread.
            tokio::task::consume_budget().await;
        }
        tracing::debug!(rows = produced, "FakeSource finished");
        Ok(())
    }
}

impl SourceReader for FakeSourceReader {
    fn run(
        self: Box<Self>,
        out: QueueSender<SourceRecord>,
        ctx: SourceContext,
    ) -> BoxFuture<'static, Result<(), ConnectorError>> {
        Box::pin((*self).generate(out, ctx))
    }
}

#[cfg(test)]
mod tests;
