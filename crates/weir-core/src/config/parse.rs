//! [`parse_job`]: text → [`JobConfig`].

use std::sync::Arc;

use hocon::{HoconError, HoconValue};

use super::dotted_keys::quote_scalar_prefixed_keys;
use super::error::{ConfigError, Location, suggest};
use super::file_sink::parse_file_sink;
use super::locate::KeyIndex;
use super::section::{Context, parse_section};
use super::{EnvConfig, FileSystemKind, JobConfig, SinkConfig, SourceConfig};

const SECTIONS: [&str; 3] = ["env", "source", "sink"];

/// Parses a SeaTunnel-style job file. `origin` names the text in errors (usually its path).
///
/// `${VAR}` substitutions are resolved from the process environment. Errors never show the
/// value of a secret option (see `redact`).
pub fn parse_job(text: &str, origin: &str) -> Result<JobConfig, ConfigError> {
    parse_job_text(text, origin).map_err(|error| super::redact::without_secrets(error, text))
}

fn parse_job_text(text: &str, origin: &str) -> Result<JobConfig, ConfigError> {
    let tokenize =
        |text: &str| hocon::tokenize(text).map_err(|error| hocon_error(origin, error.into()));
    let mut tokens = tokenize(text)?;
    let text = quote_scalar_prefixed_keys(text, &tokens);
    if matches!(text, std::borrow::Cow::Owned(_)) {
        tokens = tokenize(&text)?;
    }
    let document = hocon::parse(&text).map_err(|error| hocon_error(origin, error))?;
    let ctx = Context {
        origin: Arc::from(origin),
        keys: KeyIndex::build(&tokens),
    };

    if let Some(unknown) = document
        .keys()
        .into_iter()
        .find(|key| !SECTIONS.contains(key))
    {
        return Err(ConfigError::UnknownOption {
            at: ctx.at(unknown),
            path: unknown.to_string(),
            suggestion: suggest(unknown, SECTIONS),
            known: SECTIONS.map(String::from).to_vec(),
        });
    }

    let env = match document.get("env") {
        Some(block) => parse_section::<EnvConfig>(block, "env", &ctx)?,
        None => parse_section::<EnvConfig>(&HoconValue::Object(Default::default()), "env", &ctx)?,
    };
    let (name, block) = plugin_block(document.get("source"), "source", &ctx)?;
    let source = match name {
        "FakeSource" => SourceConfig::FakeSource(parse_section(block, "source.FakeSource", &ctx)?),
        "Kafka" => SourceConfig::Kafka(parse_section(block, "source.Kafka", &ctx)?),
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
    let sink = match name {
        "Console" => SinkConfig::Console(parse_section(block, "sink.Console", &ctx)?),
        "HdfsFile" => SinkConfig::HdfsFile(parse_file_sink(
            block,
            "sink.HdfsFile",
            FileSystemKind::Hdfs,
            &ctx,
        )?),
        "LocalFile" => SinkConfig::LocalFile(parse_file_sink(
            block,
            "sink.LocalFile",
            FileSystemKind::Local,
            &ctx,
        )?),
        _ => return Err(unknown_plugin("sink", name, SinkConfig::PLUGIN_NAMES, &ctx)),
    };
    Ok(JobConfig { env, source, sink })
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

fn hocon_error(origin: &str, error: HoconError) -> ConfigError {
    let at = |line: usize, column: usize| Location {
        origin: Arc::from(origin),
        line: u32::try_from(line).ok(),
        column: u32::try_from(column).ok(),
    };
    match error {
        HoconError::Parse(parse) => ConfigError::Syntax {
            at: at(parse.line, parse.col),
            message: parse.message,
        },
        HoconError::Resolve(resolve) => ConfigError::Substitution {
            at: at(resolve.line, resolve.col),
            substitution: resolve.path,
            message: resolve.message,
        },
        other => ConfigError::Syntax {
            at: Location {
                origin: Arc::from(origin),
                line: None,
                column: None,
            },
            message: other.to_string(),
        },
    }
}
