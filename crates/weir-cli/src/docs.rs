//! `docs/configuration.md`, generated from the settings structs, the job config structs and the
//! command-line definitions, so the reference cannot drift from the code. A test fails when the
//! file is stale; `WEIR_BLESS=1 cargo test -p weir-cli` rewrites it.

use std::fmt::Write as _;

use clap::CommandFactory;
use weir_core::config::{reference_markdown, settings_markdown};
use weir_master::MasterConfig;
use weir_worker::WorkerConfig;

use crate::Cli;

const INTRO: &str = "\
# Configuration reference

<!-- Generated from the code by `WEIR_BLESS=1 cargo test -p weir-cli`; do not edit by hand. -->

Weir reads three kinds of configuration:

- **master settings**: a TOML file given with `weir master --config FILE`, overridden by flags
  and `WEIR_*` environment variables;
- **worker settings**: likewise, `weir worker --config FILE`;
- **job files**: SeaTunnel-compatible HOCON (`env { }`, `source { Plugin { } }`,
  `sink { Plugin { } }`), given to `weir submit` and `weir validate`. Dotted option names are
  HOCON paths (`job.mode = \"STREAMING\"` and `job { mode = \"STREAMING\" }` are the same).
  An unknown option, a missing required one or a value of the wrong type is an error that names
  the option and its line; nothing is silently ignored.

Client commands (`submit`, `jobs`, `job`, `stop`, `cancel`, `workers`) find the master with `--master`
or `WEIR_MASTER` (default `http://127.0.0.1:5800`). An `https://` master is verified with the
cluster CA given as `--tls-ca` / `WEIR_TLS_CA`; a master with a tokens file needs the client's
token in `WEIR_TOKEN` or in a file named by `--token-file` / `WEIR_TOKEN_FILE`
([security.md](security.md)). Logs go to stderr, filtered by `RUST_LOG`
(default `info` for master and worker, `warn` for client commands); `--log-format json` (or
`WEIR_LOG_FORMAT=json`) makes them JSON lines.
";

/// The bounds on job text, from the constants the parser checks.
fn job_text_limits() -> String {
    use weir_core::config::limits::*;
    let mib = |bytes: u64| format!("{} MiB", bytes >> 20);
    let rows = [
        (
            "Text size (the job file and the files it includes, together)".to_string(),
            mib(MAX_TEXT_BYTES),
        ),
        (
            "Tokens (estimated before tokenizing)".into(),
            MAX_TOKENS.to_string(),
        ),
        (
            "Nesting: objects, lists and dotted-key segments counted together, also after \
             substitution"
                .into(),
            MAX_DEPTH.to_string(),
        ),
        (
            "Keys (each segment of a dotted key counts)".into(),
            MAX_KEYS.to_string(),
        ),
        (
            "Values (syntax-tree nodes)".into(),
            MAX_VALUE_NODES.to_string(),
        ),
        (
            "`${...}` substitutions".into(),
            MAX_SUBSTITUTIONS.to_string(),
        ),
        (
            "Bytes substitution may copy, bounded before substituting".into(),
            mib(MAX_SUBSTITUTED_BYTES),
        ),
        ("Included files".into(), MAX_INCLUDES.to_string()),
        (
            "Parse time on the master (a backstop: the bounds above keep parses far shorter)"
                .into(),
            format!("{} s", PARSE_TIME_LIMIT.as_secs()),
        ),
    ];
    let mut out = String::from(
        "\n## Job text limits\n\n\
         Job text reaches the master from anyone who can submit, so it is checked against these \
         bounds before the HOCON library resolves it; a refusal names the limit and its value.\n\n\
         | Limit | Value |\n|---|---|\n",
    );
    for (limit, value) in rows {
        let _ = writeln!(out, "| {limit} | {value} |");
    }
    out.push_str(
        "\n`weir validate`, `weir submit` and `weir local` resolve a `${VAR}` the job file does not \
         define from their own environment, and `include \"file\"` relative to the job file; when \
         a file uses either, the master receives the resolved document (as JSON), otherwise the \
         file as written. The master and the workers read no environment variable and no file for \
         a job: there, such a `${VAR}` and any `include` are errors. A key set twice is an error \
         unless both values are objects (which merge); an `include` of a missing file is an error; \
         `field_delimiter` and `row_delimiter` must be quoted strings; errors quote at most 80 \
         characters of a value.\n",
    );
    out
}

/// The whole reference.
pub fn configuration_reference() -> String {
    let mut out = String::from(INTRO);
    out.push_str(&job_text_limits());
    let command = Cli::command();
    for (title, subcommand, settings) in [
        (
            "Master settings",
            "master",
            settings_markdown::<MasterConfig>("`weir master --config` (TOML)"),
        ),
        (
            "Worker settings",
            "worker",
            settings_markdown::<WorkerConfig>("`weir worker --config` (TOML)"),
        ),
    ] {
        // Writing to a String cannot fail.
        let _ = writeln!(out, "\n## {title}\n\n{settings}");
        if let Some(subcommand) = command.find_subcommand(subcommand) {
            let _ = writeln!(out, "{}", flags_table(subcommand));
        }
    }
    let _ = writeln!(out, "## Job files\n\n{}", reference_markdown().trim_end());
    out
}

/// Flags of a subcommand with their environment variables, from its clap definition.
fn flags_table(command: &clap::Command) -> String {
    let mut out = format!(
        "Flags of `weir {}` (each overrides the settings file):\n\n| Flag | Environment | Description |\n|---|---|---|\n",
        command.get_name()
    );
    for arg in command.get_arguments() {
        let Some(long) = arg.get_long() else {
            continue;
        };
        if long == "help" || long == "log-format" {
            continue;
        }
        let env = arg
            .get_env()
            .map(|env| format!("`{}`", env.to_string_lossy()))
            .unwrap_or_else(|| "—".into());
        let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
        let _ = writeln!(out, "| `--{long}` | {env} | {} |", help.replace('|', "\\|"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_reference_is_up_to_date() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/configuration.md");
        let generated = configuration_reference();
        if std::env::var_os("WEIR_BLESS").is_some() {
            std::fs::write(path, &generated).expect("write docs/configuration.md");
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/configuration.md is stale: regenerate it with `WEIR_BLESS=1 cargo test -p weir-cli`"
        );
    }

    #[test]
    fn reference_covers_every_kind_of_configuration() {
        let doc = configuration_reference();
        for needle in [
            "| `listen` |",
            "| `heartbeat_timeout_ms` |",
            "| `memory_limit` |",
            "`WEIR_MEMORY_LIMIT`",
            "| `--master` | `WEIR_MASTER` |",
            "### env",
            "### source: FakeSource",
            "### sink: Console",
        ] {
            assert!(doc.contains(needle), "missing {needle}");
        }
    }

    #[test]
    fn example_files_are_valid() {
        let dir = std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../deploy/examples"
        ));
        let read = |name: &str| {
            std::fs::read_to_string(dir.join(name))
                .unwrap_or_else(|error| panic!("{name}: {error}"))
        };
        for job in [
            "kafka-to-hdfs.conf",
            "kafka-to-console.conf",
            "fake-to-console.conf",
        ] {
            weir_core::config::parse_job(
                &read(job),
                job,
                &weir_core::config::ParsePolicy::SelfContained,
            )
            .unwrap_or_else(|error| panic!("{error}"));
        }
        let master: MasterConfig = toml::from_str(&read("master.toml")).expect("master.toml");
        master.validate().expect("master.toml settings");
        let worker: WorkerConfig = toml::from_str(&read("worker.toml")).expect("worker.toml");
        worker.validate().expect("worker.toml settings");
        assert_eq!(master.http.listen.to_string(), "127.0.0.1:5880");
        assert_eq!(worker.http.listen.to_string(), "127.0.0.1:5881");
    }

    #[test]
    fn http_listen_is_an_address_or_off() {
        let off: WorkerConfig = toml::from_str("[http]\nlisten = \"off\"").expect("off");
        assert_eq!(off.http.listen, weir_http::HttpListen::Off);
        let defaulted: MasterConfig = toml::from_str("").expect("empty settings");
        assert_eq!(defaulted.http.listen.to_string(), "127.0.0.1:5880");
        let error = toml::from_str::<MasterConfig>("http.listen = \"localhost\"")
            .expect_err("not an address")
            .to_string();
        assert!(error.contains("'localhost' is not an address"), "{error}");
        let error = toml::from_str::<MasterConfig>("http.port = 1")
            .expect_err("unknown key")
            .to_string();
        assert!(error.contains("unknown field `port`"), "{error}");
    }
}
