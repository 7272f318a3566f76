//! Reading `transform { }` into a [`TransformChain`]: each block into its config struct, the
//! blocks ordered along their `plugin_input` / `plugin_output` names (which must form one path
//! from the source to the sink), then the chain checked against the source's schema.

use hocon::HoconValue;

use super::error::{ConfigError, suggest};
use super::section::{Context, join, parse_section};
use super::{SinkConfig, SourceConfig, TransformConfig};
use crate::transform::TransformChain;

/// Why `Sql` is refused.
pub(crate) const SQL_REFUSAL: &str = "the Sql transform is not supported yet: it comes with \
     jobs of several sources and sinks";

/// SeaTunnel transforms Weir does not run, with why.
const REFUSED_TRANSFORMS: &[(&str, &str)] = &[("Sql", SQL_REFUSAL)];

/// The transform blocks of `section` (absent or empty: none), in document order, each with
/// its path (`transform.Replace`).
pub(crate) fn parse_transforms(
    section: Option<&HoconValue>,
    ctx: &Context,
) -> Result<Vec<(String, TransformConfig)>, ConfigError> {
    let Some(section) = section else {
        return Ok(Vec::new());
    };
    let Some(plugins) = section.as_object() else {
        return Err(ctx.invalid(
            "transform".to_string(),
            "must be a block `transform { }` of transform plugins",
        ));
    };
    let mut transforms = Vec::with_capacity(plugins.len());
    for (name, block) in plugins {
        let path = join("transform", name);
        // Plugin names are case-insensitive in SeaTunnel (its factories compare them with
        // equalsIgnoreCase): `sql` is `Sql`.
        // `Replace#2`: the second `Replace` block (see `normalize::repeated_block_name`).
        let plugin = name
            .split_once('#')
            .map_or(name.as_str(), |(plugin, _)| plugin);
        let config = match canonical_name(plugin, TransformConfig::PLUGIN_NAMES) {
            "FieldMapper" => TransformConfig::FieldMapper(parse_section(block, &path, ctx)?),
            "Filter" => TransformConfig::Filter(parse_section(block, &path, ctx)?),
            "Copy" => TransformConfig::Copy(parse_section(block, &path, ctx)?),
            "Replace" => TransformConfig::Replace(parse_section(block, &path, ctx)?),
            "Split" => TransformConfig::Split(parse_section(block, &path, ctx)?),
            "FilterRowKind" => TransformConfig::FilterRowKind(parse_section(block, &path, ctx)?),
            _ => return Err(refused(plugin, &path, ctx)),
        };
        transforms.push((path, config));
    }
    Ok(transforms)
}

/// The name of `known` that `name` is, ignoring case, or `name` itself.
pub(crate) fn canonical_name<'a>(name: &'a str, known: &[&'static str]) -> &'a str {
    known
        .iter()
        .find(|known| known.eq_ignore_ascii_case(name))
        .copied()
        .unwrap_or(name)
}

fn refused(name: &str, path: &str, ctx: &Context) -> ConfigError {
    let message = match REFUSED_TRANSFORMS
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
    {
        Some((_, why)) => why.to_string(),
        None => {
            let hint = suggest(name, TransformConfig::PLUGIN_NAMES.iter().copied())
                .map(|similar| format!("did you mean '{similar}'? "))
                .unwrap_or_default();
            format!(
                "'{name}' is not a transform Weir runs; {hint}Weir runs {}; remove the block \
                 and transform the rows before or after the job",
                TransformConfig::PLUGIN_NAMES.join(", ")
            )
        }
    };
    ConfigError::Unsupported {
        at: ctx.at(path),
        path: path.to_string(),
        message,
    }
}

/// Orders `transforms` along their stream names from `source` to `sink`, checks them against
/// the source's schema and builds the chain; `warnings` gets a line per option accepted
/// without effect.
pub(crate) fn build_chain(
    source: &SourceConfig,
    transforms: Vec<(String, TransformConfig)>,
    sink: &SinkConfig,
    ctx: &Context,
    warnings: &mut Vec<String>,
) -> Result<TransformChain, ConfigError> {
    let (source_path, sink_path) = (
        format!("source.{}", source.plugin_name()),
        format!("sink.{}", sink.plugin_name()),
    );
    let mut nodes = vec![Node {
        path: source_path,
        input: None,
        output: source_output(source),
    }];
    for (path, config) in &transforms {
        let (input, output) = config.stream_names();
        nodes.push(Node {
            path: path.clone(),
            input,
            output,
        });
    }
    nodes.push(Node {
        path: sink_path,
        input: sink_input(sink),
        output: None,
    });
    let order = chain_order(&nodes, ctx)?;
    let mut slots: Vec<Option<(String, TransformConfig)>> =
        transforms.into_iter().map(Some).collect();
    let ordered: Vec<(String, TransformConfig)> = order
        .into_iter()
        .filter_map(|node| slots.get_mut(node - 1).and_then(Option::take))
        .collect();
    let paths: Vec<String> = ordered.iter().map(|(path, _)| path.clone()).collect();
    let configs = ordered.into_iter().map(|(_, config)| config).collect();
    let mut ignored = Vec::new();
    let chain =
        TransformChain::plan(&source.output_schema(), configs, &mut ignored).map_err(|error| {
            let path = paths.get(error.step).cloned().unwrap_or_default();
            ctx.invalid(join(&path, &error.option), error.message)
        })?;
    for (step, option, why) in ignored {
        let path = join(paths.get(step).map(String::as_str).unwrap_or(""), option);
        warnings.push(format!("{}: '{path}' is ignored: {why}", ctx.at(&path)));
    }
    Ok(chain)
}

/// A plugin as the chain check sees it.
struct Node<'a> {
    path: String,
    input: Option<&'a str>,
    output: Option<&'a str>,
}

fn source_output(source: &SourceConfig) -> Option<&str> {
    match source {
        SourceConfig::FakeSource(fake) => fake.plugin_output.as_deref(),
        SourceConfig::Kafka(kafka) => kafka.plugin_output.as_deref(),
    }
}

fn sink_input(sink: &SinkConfig) -> Option<&str> {
    match sink {
        SinkConfig::Console(console) => console.plugin_input.as_deref(),
        SinkConfig::HdfsFile(file) | SinkConfig::LocalFile(file) => file.plugin_input.as_deref(),
    }
}

/// The transforms (node indexes 1..) in the order rows pass them: every plugin reads the one
/// before it in the file unless its `plugin_input` names another's `plugin_output`; the
/// result must be one path from the source (node 0) through every transform to the sink (the
/// last node).
fn chain_order(nodes: &[Node], ctx: &Context) -> Result<Vec<usize>, ConfigError> {
    let sink = nodes.len() - 1;
    // Where an option of a node is written, for errors.
    let option_path = |node: usize, option: &str, alias: &str| {
        let path = &nodes[node].path;
        let (canonical, alias) = (join(path, option), join(path, alias));
        if ctx.keys.is_written(&alias) {
            alias
        } else {
            canonical
        }
    };
    for (node, later) in nodes.iter().enumerate() {
        let Some(name) = later.output else { continue };
        if let Some(first) = nodes[..node].iter().find(|n| n.output == Some(name)) {
            return Err(ctx.invalid(
                option_path(node, "plugin_output", "result_table_name"),
                format!(
                    "names '{name}', as '{}' does: each plugin_output must be unique",
                    first.path
                ),
            ));
        }
    }
    let mut readers: Vec<Option<usize>> = vec![None; nodes.len()];
    for reader in 1..nodes.len() {
        let read = match nodes[reader].input {
            None => reader - 1,
            Some(name) => {
                // Outputs are unique (checked above).
                match (0..sink).find(|&node| nodes[node].output == Some(name)) {
                    Some(producer) => producer,
                    None => {
                        let known: Vec<&str> =
                            nodes.iter().filter_map(|node| node.output).collect();
                        return Err(ctx.invalid(
                            option_path(reader, "plugin_input", "source_table_name"),
                            format!(
                                "reads '{name}', which no plugin produces (plugin_output \
                                 names in this job: {})",
                                if known.is_empty() {
                                    "none".to_string()
                                } else {
                                    known.join(", ")
                                }
                            ),
                        ));
                    }
                }
            }
        };
        if read == reader {
            return Err(ctx.invalid(
                option_path(reader, "plugin_input", "source_table_name"),
                "reads the plugin's own output",
            ));
        }
        if let Some(other) = readers[read] {
            return Err(ctx.invalid(
                option_path(reader, "plugin_input", "source_table_name"),
                format!(
                    "reads the output of '{}', which '{}' reads too: a Weir job runs one \
                     chain from its source through its transforms to its sink (several \
                     readers of one stream need several sinks, which come later)",
                    nodes[read].path, nodes[other].path
                ),
            ));
        }
        readers[read] = Some(reader);
    }
    let mut order = Vec::with_capacity(nodes.len().saturating_sub(2));
    let mut at = 0;
    while let Some(next) = readers[at] {
        if next == sink {
            break;
        }
        order.push(next);
        at = next;
    }
    if let Some(left_out) = (1..sink).find(|node| !order.contains(node)) {
        let path = &nodes[left_out].path;
        return Err(ctx.invalid(
            path.clone(),
            format!(
                "is not on the path from the source to the sink (follow their plugin_input \
                 and plugin_output names): a Weir job runs one chain from '{}' through every \
                 transform to '{}'",
                nodes[0].path, nodes[sink].path
            ),
        ));
    }
    Ok(order)
}
