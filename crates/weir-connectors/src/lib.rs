//! Weir's sources and sinks, and the traits the task runtime drives them through.
//!
//! A subtask runs one [`SourceReader`] per split, each feeding its own bounded queue
//! ([`weir_core::queue`]), and one [`SinkWriter`] draining them. FakeSource has one split per
//! subtask; Kafka will have one per assigned partition.

mod console;
mod context;
mod error;
mod fake;
mod limiter;

use weir_core::config::{SinkConfig, SourceConfig};
use weir_core::schema::Schema;

pub use self::console::ConsoleSink;
pub use self::context::{BoxFuture, SinkWriter, SourceContext, SourceReader, SubtaskInfo};
pub use self::error::ConnectorError;
pub use self::fake::FakeSourceReader;
pub use self::limiter::ReadLimiter;

/// Opens the source readers of one subtask: one per split, each to be given its own queue
/// bounded by [`SourceConfig::queue_bounds`].
pub fn open_source(
    config: &SourceConfig,
    subtask: &SubtaskInfo,
) -> Result<Vec<Box<dyn SourceReader>>, ConnectorError> {
    match config {
        SourceConfig::FakeSource(fake) => Ok(vec![Box::new(FakeSourceReader::new(
            fake.clone(),
            subtask.clone(),
        ))]),
    }
}

/// Opens the sink writer of one subtask, for rows of `schema`.
pub fn open_sink(
    config: &SinkConfig,
    schema: &Schema,
    subtask: &SubtaskInfo,
) -> Result<Box<dyn SinkWriter>, ConnectorError> {
    match config {
        SinkConfig::Console(console) => {
            Ok(Box::new(ConsoleSink::new(console, schema.clone(), subtask)))
        }
    }
}
