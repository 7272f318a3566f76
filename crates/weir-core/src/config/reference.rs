//! The configuration reference, rendered from the config structs themselves.

use std::fmt::Write as _;

use serde_json::Value as Json;

use super::options::{OptionSpec, SectionSpec, section_spec};
use super::{
    ConsoleSinkConfig, EnvConfig, FakeSourceConfig, FileSinkConfig, HDFS_ONLY_OPTIONS,
    KafkaSourceConfig, SinkConfig, SourceConfig, TransformConfig,
};
use super::{
    CopyConfig, FieldMapperConfig, FilterConfig, FilterRowKindConfig, ReplaceConfig, SplitConfig,
};

/// Markdown tables of every option of `env`, each source and each sink: the option's dotted
/// name, type, default and description (its doc comment).
///
/// Sections are headed `### env`, `### source: <Plugin>`, `### transform: <Plugin>` and
/// `### sink: <Plugin>`.
pub fn reference_markdown() -> String {
    let mut out = String::new();
    render_section(&mut out, "env", &section_spec::<EnvConfig>());
    for plugin in SourceConfig::PLUGIN_NAMES {
        if let Some(spec) = source_spec(plugin) {
            render_section(&mut out, &format!("source: {plugin}"), &spec);
        }
    }
    for plugin in TransformConfig::PLUGIN_NAMES {
        if let Some(spec) = transform_spec(plugin) {
            render_section(&mut out, &format!("transform: {plugin}"), &spec);
        }
    }
    for plugin in SinkConfig::PLUGIN_NAMES {
        if let Some(spec) = sink_spec(plugin) {
            render_section(&mut out, &format!("sink: {plugin}"), &spec);
        }
    }
    out
}

/// A Markdown table of the options of any settings struct (the master's and worker's settings
/// files use it), rendered like the job options: name, type, default, doc comment.
pub fn settings_markdown<T: schemars::JsonSchema + serde::de::DeserializeOwned>(
    heading: &str,
) -> String {
    let mut out = String::new();
    render_section(&mut out, heading, &section_spec::<T>());
    out
}

fn source_spec(plugin: &str) -> Option<SectionSpec> {
    match plugin {
        "FakeSource" => Some(section_spec::<FakeSourceConfig>()),
        "Kafka" => Some(section_spec::<KafkaSourceConfig>()),
        _ => None,
    }
}

fn transform_spec(plugin: &str) -> Option<SectionSpec> {
    match plugin {
        "FieldMapper" => Some(section_spec::<FieldMapperConfig>()),
        "Filter" => Some(section_spec::<FilterConfig>()),
        "Copy" => Some(section_spec::<CopyConfig>()),
        "Replace" => Some(section_spec::<ReplaceConfig>()),
        "Split" => Some(section_spec::<SplitConfig>()),
        "FilterRowKind" => Some(section_spec::<FilterRowKindConfig>()),
        _ => None,
    }
}

fn sink_spec(plugin: &str) -> Option<SectionSpec> {
    match plugin {
        "Console" => Some(section_spec::<ConsoleSinkConfig>()),
        "HdfsFile" => {
            let mut spec = section_spec::<FileSinkConfig>();
            // Optional in the struct (LocalFile shares it), required by HdfsFile.
            if let Some(option) = spec.options.iter_mut().find(|o| o.name == "fs.defaultFS") {
                option.required = true;
            }
            Some(spec)
        }
        "LocalFile" => {
            let mut spec = section_spec::<FileSinkConfig>();
            spec.options
                .retain(|option| !HDFS_ONLY_OPTIONS.contains(&option.name.as_str()));
            Some(spec)
        }
        _ => None,
    }
}

fn render_section(out: &mut String, heading: &str, spec: &SectionSpec) {
    // Writing to a String cannot fail; the fmt::Results below are always Ok.
    let _ = writeln!(out, "### {heading}\n");
    if !spec.description.is_empty() {
        let _ = writeln!(out, "{}\n", single_paragraph(&spec.description));
    }
    out.push_str("| Option | Type | Default | Description |\n");
    out.push_str("|---|---|---|---|\n");
    for option in &spec.options {
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} |",
            option.name,
            option.kind.label(),
            default_cell(option),
            table_cell(&option.description),
        );
    }
    out.push('\n');
}

fn default_cell(option: &OptionSpec) -> String {
    match &option.default {
        _ if option.required => "**required**".into(),
        None => "—".into(),
        Some(Json::String(text)) => format!("`{}`", escape_controls(text)),
        Some(other) => format!("`{other}`"),
    }
}

/// A default such as `row_delimiter`'s newline, shown as `\n` rather than breaking the table.
fn escape_controls(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Doc comments wrap lines; a table cell must be one line and must not contain a bare `|`.
fn table_cell(text: &str) -> String {
    text.split("\n\n")
        .map(single_paragraph)
        .collect::<Vec<_>>()
        .join("<br><br>")
        .replace('|', "\\|")
}

fn single_paragraph(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_has_each_section_and_dotted_names() {
        let doc = reference_markdown();
        for heading in [
            "### env",
            "### source: FakeSource",
            "### source: Kafka",
            "### sink: Console",
        ] {
            assert!(doc.contains(heading), "missing {heading}:\n{doc}");
        }
        for option in [
            "`parallelism`",
            "`job.mode`",
            "`job.retry.interval.seconds`",
            "`read_limit.rows_per_second`",
            "`row.num`",
            "`queue.max_bytes`",
            "`log.print.data`",
        ] {
            assert!(doc.contains(option), "missing {option}:\n{doc}");
        }
        assert!(doc.contains("log.print_data"), "alias must be documented");
    }

    #[test]
    fn rows_carry_type_default_and_description() {
        let doc = reference_markdown();
        let row = |name: &str| {
            doc.lines()
                .find(|line| line.starts_with(&format!("| `{name}` |")))
                .unwrap_or_else(|| panic!("no row for {name}"))
                .to_string()
        };
        assert!(row("parallelism").contains("| integer | `1` | Number of parallel subtasks"));
        assert!(row("job.mode").contains("one of `BATCH`, `STREAMING` | `BATCH` |"));
        assert!(row("schedule.strategy").contains("one of `wait`, `reject` | `wait` |"));
        assert!(row("schema").contains("| object | **required** |"));
        assert!(row("row.num").contains("| integer | `5` |"));
        assert!(row("rows_per_second").contains("| integer | — |"));
        assert!(row("queue.max_bytes").contains("`8388608`"));
        assert!(row("log.print.data").contains("| boolean | `true` |"));
        // Declaration order, not alphabetical.
        let position = |name: &str| doc.find(&format!("| `{name}` |")).unwrap();
        assert!(position("parallelism") < position("job.mode"));
        assert!(position("job.mode") < position("checkpoint.interval"));
    }

    #[test]
    fn cells_are_single_line_and_escape_pipes() {
        assert_eq!(table_cell("a\nb\n\nc | d"), "a b<br><br>c \\| d");
    }
}

#[cfg(test)]
mod file_sink_tests {
    use super::*;

    #[test]
    fn file_sinks_are_documented_with_their_own_options() {
        let doc = reference_markdown();
        let section = |heading: &str| {
            let start = doc
                .find(heading)
                .unwrap_or_else(|| panic!("missing {heading}"));
            let rest = &doc[start + heading.len()..];
            rest[..rest.find("\n### ").unwrap_or(rest.len())].to_string()
        };
        let hdfs = section("### sink: HdfsFile");
        let local = section("### sink: LocalFile");
        assert!(
            hdfs.contains("| `fs.defaultFS` | string | **required** |"),
            "{hdfs}"
        );
        assert!(
            hdfs.contains("| `rolling.file_size` | string | `128MiB` |"),
            "{hdfs}"
        );
        assert!(hdfs.contains("| `hdfs.config` |"), "{hdfs}");
        for hdfs_only in HDFS_ONLY_OPTIONS {
            assert!(!local.contains(&format!("| `{hdfs_only}` |")), "{local}");
        }
        assert!(
            local.contains("| `path` | string | **required** |"),
            "{local}"
        );
        assert!(
            local.contains("| `max_open_files` | integer | `16` |"),
            "{local}"
        );
    }
}
