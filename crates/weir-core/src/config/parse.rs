//! [`parse_job`]: text → [`JobConfig`], and [`parse_job_file`] for the client.

use std::path::Path;
use std::sync::Arc;

use hocon::HoconValue;

use super::compat::{
    JobParallelism, check_plugin_parallelism, strip_fake_source_splits, strip_foreign_env,
    strip_java_kafka_config, strip_unused_partition_options, take_plugin_parallelism,
};
use super::compat_kafka::translate_java_kafka_config;
use super::compat_sink::{fill_table_placeholders, strip_file_options, strip_legacy_save_mode};
use super::document::{Document, load};
use super::error::{ConfigError, Location, suggest};
use super::fake_rows::{take_rows, typed_rows};
use super::file_sink::parse_file_sink;
use super::limits::PARSE_STACK_BYTES;
use super::policy::{ClientHost, ParsePolicy};
use super::render::render_json;
use super::section::{Context, parse_section};
use super::transform_parse::{build_chain, canonical_name, parse_transforms};
use super::{EnvConfig, FakeSourceConfig, FileSystemKind, JobConfig, SinkConfig, SourceConfig};

const SECTIONS: [&str; 4] = ["env", "source", "transform", "sink"];

/// Parses a SeaTunnel-style job text. `origin` names the text in errors (usually its path);
/// `policy` says whether anything besides the text may be read (see [`ParsePolicy`]).
///
/// Every bound of [`super::limits`] is checked before the step it guards, and the parse runs
/// on a thread of its own with a [`PARSE_STACK_BYTES`] stack, so no text, however hostile,
/// overflows the caller's stack; a panic of the HOCON library is returned as
/// [`ConfigError::Internal`].
pub fn parse_job(
    text: &str,
    origin: &str,
    policy: &ParsePolicy<'_>,
) -> Result<JobConfig, ConfigError> {
    on_parser_thread(origin, || {
        let document = load(text, origin, policy)?;
        job_config(&document, origin)
    })
    // Errors never show the value of a secret option (see `redact`).
    .map_err(|error| super::redact::without_secrets(error, text))
}

/// A job file as the client submits it.
#[derive(Debug, Clone)]
pub struct JobFile {
    /// The job.
    pub config: JobConfig,
    /// The text to send to the master: the file's own text when it uses nothing besides
    /// itself (so the master's errors name the file's lines), else the resolved document
    /// written as JSON, with its environment variables and included files in place.
    pub text: String,
    /// Whether [`Self::text`] is the resolved document rather than the file's text.
    pub resolved: bool,
}

/// Parses the job file at `path` (its text already read) the way the client does:
/// `${VAR}` the file does not define from `host`'s environment, `include` through `host`.
pub fn parse_job_file(
    text: &str,
    origin: &str,
    path: &Path,
    host: &dyn ClientHost,
) -> Result<JobFile, ConfigError> {
    let policy = ParsePolicy::ClientFile { path, host };
    let (config, rendered) = on_parser_thread(origin, || {
        let mut document = load(text, origin, &policy)?;
        let read_hdfs_site = super::hdfs_site::apply(&mut document, path, host, origin)?;
        let config = job_config(&document, origin)?;
        let rendered = (document.used_outside || read_hdfs_site).then(|| {
            render_json(
                &document.value,
                &format!(
                    "{origin}, with its environment variables and included files resolved by \
                     the weir client"
                ),
            )
        });
        Ok((config, rendered))
    })
    .map_err(|error| super::redact::without_secrets(error, text))?;
    match rendered {
        None => Ok(JobFile {
            config,
            text: text.to_string(),
            resolved: false,
        }),
        Some(rendered) => {
            // What the master will do with it; a resolved document past the master's limits
            // is better refused here.
            parse_job(&rendered, origin, &ParsePolicy::SelfContained)?;
            Ok(JobFile {
                config,
                text: rendered,
                resolved: true,
            })
        }
    }
}

/// Runs `parse` on a thread with a [`PARSE_STACK_BYTES`] stack and returns its result; a
/// panic becomes [`ConfigError::Internal`].
fn on_parser_thread<T: Send>(
    origin: &str,
    parse: impl FnOnce() -> Result<T, ConfigError> + Send,
) -> Result<T, ConfigError> {
    let internal = |message: String| ConfigError::Internal {
        at: Location {
            origin: Arc::from(origin),
            line: None,
            column: None,
        },
        message,
    };
    std::thread::scope(|scope| {
        let spawned = std::thread::Builder::new()
            .name("weir-job-parser".into())
            .stack_size(PARSE_STACK_BYTES)
            .spawn_scoped(scope, parse);
        match spawned {
            Ok(parser) => parser.join().unwrap_or_else(|panic| {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|text| text.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                Err(internal(format!("the parser panicked (a bug): {what}")))
            }),
            Err(error) => Err(internal(format!("cannot start the parser thread: {error}"))),
        }
    })
}

/// The job of a resolved document.
fn job_config(document: &Document, origin: &str) -> Result<JobConfig, ConfigError> {
    let ctx = Context {
        origin: Arc::from(origin),
        keys: &document.keys,
        unquoted: &document.unquoted,
    };
    let empty = Default::default();
    let document = document.value.as_object().unwrap_or(&empty);

    if let Some(unknown) = document
        .keys()
        .find(|key| !SECTIONS.contains(&key.as_str()))
    {
        return Err(ConfigError::UnknownOption {
            at: ctx.at(unknown),
            path: unknown.to_string(),
            suggestion: suggest(unknown, SECTIONS),
            known: SECTIONS.map(String::from).to_vec(),
        });
    }

    let mut warnings = Vec::new();
    let env_block = document.get("env").and_then(HoconValue::as_object);
    let env_sets_parallelism = env_block.is_some_and(|env| env.contains_key("parallelism"));
    let mut env = match document.get("env") {
        Some(block) => {
            let block = strip_foreign_env(block, &ctx, &mut warnings);
            parse_section::<EnvConfig>(&block, "env", &ctx)?
        }
        None => parse_section::<EnvConfig>(&HoconValue::Object(Default::default()), "env", &ctx)?,
    };
    let transforms = parse_transforms(document.get("transform"), &ctx)?;
    let (name, block) = plugin_block(document.get("source"), "source", &ctx)?;
    let (block, source_parallelism) = take_plugin_parallelism(block, &format!("source.{name}"));
    let mut parallelism = JobParallelism {
        value: env.parallelism,
        set_by: env_sets_parallelism.then(|| "env.parallelism".to_string()),
    };
    check_plugin_parallelism(source_parallelism, &mut parallelism, &ctx)?;
    let block = &block;
    let source_path = format!("source.{name}");
    let source = match canonical_name(name, SourceConfig::PLUGIN_NAMES) {
        "FakeSource" => {
            let block = strip_fake_source_splits(block, &source_path, &ctx, &mut warnings)?;
            let (block, rows) = take_rows(&block);
            let mut config: FakeSourceConfig = parse_section(&block, &source_path, &ctx)?;
            // A row.num left out is SeaTunnel's default, so that its job files generate what
            // they generate there; rows without end are Weir's own `unbounded`.
            if !config.unbounded && config.row_num.is_none() && rows.is_none() {
                config.row_num = Some(super::fake_source::DEFAULT_ROW_NUM);
            }
            if let Some(rows) = rows {
                if config.unbounded {
                    return Err(ctx.invalid(
                        format!("{source_path}.unbounded"),
                        "cannot be set together with rows: literal rows are emitted once"
                            .to_string(),
                    ));
                }
                config.rows = Some(typed_rows(&rows, &config.schema, &source_path, &ctx)?);
            }
            SourceConfig::FakeSource(config)
        }
        "Kafka" => {
            let block = translate_java_kafka_config(block, &source_path, &ctx, &mut warnings)?;
            let block = strip_java_kafka_config(&block, &source_path, &ctx, &mut warnings);
            SourceConfig::Kafka(parse_section(&block, &source_path, &ctx)?)
        }
        _ => {
            return Err(unknown_plugin(
                "source",
                name,
                SourceConfig::PLUGIN_NAMES,
                &ctx,
            ));
        }
    };
    let (name, block) = plugin_block(document.get("sink"), "sink", &ctx)?;
    let (block, sink_parallelism) = take_plugin_parallelism(block, &format!("sink.{name}"));
    check_plugin_parallelism(sink_parallelism, &mut parallelism, &ctx)?;
    env.parallelism = parallelism.value;
    let block = &block;
    let sink_path = format!("sink.{name}");
    let plugin = canonical_name(name, SinkConfig::PLUGIN_NAMES);
    let sink = match plugin {
        "Console" => SinkConfig::Console(parse_section(block, &sink_path, &ctx)?),
        "HdfsFile" | "LocalFile" => {
            let path = sink_path;
            let block = fill_table_placeholders(block, &source, &path, &ctx)?;
            let block = strip_unused_partition_options(&block, &path, &ctx, &mut warnings);
            let block = strip_legacy_save_mode(&block, &path, &ctx, &mut warnings)?;
            let block = strip_file_options(&block, &path, &ctx)?;
            if plugin == "HdfsFile" {
                SinkConfig::HdfsFile(parse_file_sink(&block, &path, FileSystemKind::Hdfs, &ctx)?)
            } else {
                SinkConfig::LocalFile(parse_file_sink(&block, &path, FileSystemKind::Local, &ctx)?)
            }
        }
        _ => return Err(unknown_plugin("sink", name, SinkConfig::PLUGIN_NAMES, &ctx)),
    };
    let transform = build_chain(&source, transforms, &sink, &ctx, &mut warnings)?;
    Ok(JobConfig {
        env,
        source,
        sink,
        transform,
        warnings,
    })
}

/// The single `<Plugin> { ... }` entry of `source { }` or `sink { }`.
fn plugin_block<'a>(
    section: Option<&'a HoconValue>,
    name: &'static str,
    ctx: &Context,
) -> Result<(&'a str, &'a HoconValue), ConfigError> {
    let Some(section) = section else {
        return Err(ConfigError::MissingOption {
            at: ctx.at(name),
            path: name.to_string(),
        });
    };
    let Some(plugins) = section.as_object() else {
        return Err(ctx.invalid(
            name.to_string(),
            format!("must be a block holding one plugin, e.g. `{name} {{ Plugin {{ ... }} }}`"),
        ));
    };
    match plugins.iter().next() {
        Some((plugin, block)) if plugins.len() == 1 => Ok((plugin.as_str(), block)),
        _ => Err(ConfigError::PluginCount {
            at: ctx.at(name),
            section: name,
            found: plugins.keys().cloned().collect(),
        }),
    }
}

fn unknown_plugin(section: &'static str, name: &str, known: &[&str], ctx: &Context) -> ConfigError {
    ConfigError::UnknownPlugin {
        at: ctx.at(&format!("{section}.{name}")),
        section,
        name: name.to_string(),
        suggestion: suggest(name, known.iter().copied()),
        known: known.iter().map(|k| k.to_string()).collect(),
    }
}
