//! `sink { Console { } }`: rows to standard output, or just counted.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::section::Section;

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

impl Default for ConsoleSinkConfig {
    fn default() -> Self {
        ConsoleSinkConfig {
            print_data: default_print_data(),
            print_delay_ms: default_print_delay_ms(),
            plugin_input: None,
        }
    }
}

impl Section for ConsoleSinkConfig {
    const ALIASES: &'static [(&'static str, &'static str)] = &[
        ("log.print_data", "log.print.data"),
        ("source_table_name", "plugin_input"),
    ];
}
