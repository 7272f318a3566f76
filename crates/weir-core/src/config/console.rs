//! `sink { Console { } }`: rows to standard output, or just counted.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ByteSize;
use super::section::{Section, Violation};

/// Writes each row to standard output as one JSON line prefixed with the subtask and row
/// index, or only counts rows when `log.print.data = false`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConsoleSinkConfig {
    /// Print every row (alias: `log.print_data`). `false` only counts rows, which is what
    /// throughput benchmarks want.
    #[serde(rename = "log.print.data", default = "default_print_data")]
    pub print_data: bool,
    /// Milliseconds to pause after each row, to slow a demo down (SeaTunnel's option).
    #[serde(rename = "log.print.delay.ms", default = "default_print_delay_ms")]
    pub print_delay_ms: u64,
    /// Bytes of printed lines a subtask collects before it writes them to standard output in
    /// one locked write (whole lines, so parallel subtasks never interleave), e.g. `64KiB`.
    /// The buffer never holds more: a line that would not fit is preceded by a write-out,
    /// and a line longer than the whole buffer is written on its own. Counted in the
    /// subtask's memory reservation; its level is the task metric `sink_buffer_bytes`.
    #[serde(rename = "write.buffer_bytes", default = "default_write_buffer_bytes")]
    pub write_buffer_bytes: ByteSize,
    /// Name of the stream this sink consumes (alias: `source_table_name`). Accepted for
    /// SeaTunnel compatibility; a Weir job has one source and one sink, so it is only a label.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin_input: Option<String>,
}

fn default_print_data() -> bool {
    true
}
fn default_print_delay_ms() -> u64 {
    0
}
fn default_write_buffer_bytes() -> ByteSize {
    ByteSize(CONSOLE_WRITE_BUFFER_BYTES)
}

/// The default of Console's `write.buffer_bytes`.
pub const CONSOLE_WRITE_BUFFER_BYTES: u64 = 64 * 1024;

/// The largest Console `write.buffer_bytes`: standard output gains nothing from bigger
/// writes, and a bigger buffer only delays output and takes memory from the worker's budget.
pub const CONSOLE_WRITE_BUFFER_MAX_BYTES: u64 = 64 * 1024 * 1024;

impl Default for ConsoleSinkConfig {
    fn default() -> Self {
        ConsoleSinkConfig {
            print_data: default_print_data(),
            print_delay_ms: default_print_delay_ms(),
            write_buffer_bytes: default_write_buffer_bytes(),
            plugin_input: None,
        }
    }
}

impl Section for ConsoleSinkConfig {
    const ALIASES: &'static [(&'static str, &'static str)] = &[
        ("log.print_data", "log.print.data"),
        ("source_table_name", "plugin_input"),
    ];

    fn validate(&self) -> Result<(), Violation> {
        let bytes = self.write_buffer_bytes.0;
        if bytes == 0 {
            return Err(Violation::new(
                "write.buffer_bytes",
                "must be at least 1, found 0",
            ));
        }
        if bytes > CONSOLE_WRITE_BUFFER_MAX_BYTES {
            return Err(Violation::new(
                "write.buffer_bytes",
                format!(
                    "must be at most 64MiB ({CONSOLE_WRITE_BUFFER_MAX_BYTES}), found {bytes}: \
                     a larger console buffer only delays output and takes memory"
                ),
            ));
        }
        Ok(())
    }
}
