//! Job files on the client: read from disk within bounds, parsed with this machine's
//! environment, job variables (`-i key=value`) and files, and checked as the master and the
//! workers would check them. The one place the CLI reads job files (`weir validate`,
//! `weir submit`, `weir local`).

use std::path::Path;

use anyhow::Context;
use clap::Args;
use weir_core::config::{ClientHost, JobFile, limits};
use weir_core::reservation::format_bytes;

/// SeaTunnel's job variables (`seatunnel.sh -i key=value`).
#[derive(Args, Default, Clone)]
pub struct VariableArgs {
    /// A job variable, `key=value` (repeatable): a `${key}` the job file does not define is
    /// `value`, before the environment is looked at, as SeaTunnel's `-i key=value`.
    #[arg(short = 'i', long = "variable", value_name = "KEY=VALUE", value_parser = parse_variable)]
    variables: Vec<(String, String)>,
}

/// `key=value`, split at the first `=`; the key may not be empty.
fn parse_variable(text: &str) -> Result<(String, String), String> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(format!("'{text}' is not key=value"));
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("'{text}' has no key before '='"));
    }
    if weir_core::config::TABLE_PLACEHOLDERS.contains(&key) {
        return Err(format!(
            "'{key}' is the name of a table placeholder that the sink fills from the source's \
             table (as in SeaTunnel, a job variable may not take it)"
        ));
    }
    Ok((key.to_string(), value.to_string()))
}

/// A job file read from disk and parsed as the client parses it: `${VAR}` from this process's
/// environment, `include` relative to the file. The one place the CLI reads job files
/// (`weir validate`, `weir submit`, `weir local`).
pub fn load_job_file(file: &Path, variables: &VariableArgs) -> anyhow::Result<JobFile> {
    let text = read_text_file(file, limits::MAX_TEXT_BYTES)
        .with_context(|| format!("cannot read job file {}", file.display()))?;
    let origin = file.display().to_string();
    let host = ClientFiles {
        variables: &variables.variables,
    };
    let job = weir_core::config::parse_job_file(&text, &origin, file, &host)?;
    // What the worker's librdkafka would refuse is refused here, with the master's message.
    if let weir_core::config::SourceConfig::Kafka(kafka) = &job.config.source {
        weir_connectors::kafka::check_client_properties_of_job(kafka, &text, &origin)
            .map_err(|message| anyhow::anyhow!("{message}"))?;
    }
    if job.resolved {
        eprintln!(
            "{origin} uses environment variables, job variables, included files or an \
             hdfs_site_path: they are resolved on this machine, and a submission sends the \
             master the resolved document"
        );
    }
    Ok(job)
}

/// The client's job variables, environment and files, as the job parser reads them.
struct ClientFiles<'a> {
    /// `-i key=value`, in command-line order (the last of a key wins).
    variables: &'a [(String, String)],
}

impl ClientHost for ClientFiles<'_> {
    fn env_var(&self, name: &str) -> Option<String> {
        self.job_variable(name).or_else(|| std::env::var(name).ok())
    }

    fn job_variable(&self, name: &str) -> Option<String> {
        self.variables
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    }

    fn read_file(&self, path: &Path, max_bytes: u64) -> Result<Option<String>, String> {
        match read_text_file(path, max_bytes) {
            Ok(text) => Ok(Some(text)),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error.to_string()),
        }
    }
}

/// The text of the regular file `path`, refused before it is read when it is something else
/// (`/dev/zero`, a FIFO, a directory) or larger than `max_bytes`, and read through a bound
/// anyway (it may grow meanwhile).
fn read_text_file(path: &Path, max_bytes: u64) -> std::io::Result<String> {
    use std::io::{Error, ErrorKind, Read};

    // Checked before opening: opening a FIFO blocks until someone writes to it.
    check_regular(&std::fs::metadata(path)?, max_bytes)?;
    let file = std::fs::File::open(path)?;
    check_regular(&file.metadata()?, max_bytes)?;
    let mut bytes = Vec::new();
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(Error::new(
            ErrorKind::InvalidData,
            format!(
                "it grew past {} while being read (the limit)",
                format_bytes(max_bytes)
            ),
        ));
    }
    String::from_utf8(bytes).map_err(|error| {
        Error::new(
            ErrorKind::InvalidData,
            format!(
                "it is not UTF-8 text (invalid byte at offset {})",
                error.utf8_error().valid_up_to()
            ),
        )
    })
}

fn check_regular(metadata: &std::fs::Metadata, max_bytes: u64) -> std::io::Result<()> {
    use std::io::{Error, ErrorKind};
    use std::os::unix::fs::FileTypeExt;

    let kind = metadata.file_type();
    let what = if kind.is_file() {
        None
    } else if kind.is_dir() {
        Some("a directory")
    } else if kind.is_char_device() || kind.is_block_device() {
        Some("a device")
    } else if kind.is_fifo() {
        Some("a FIFO")
    } else if kind.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    };
    if let Some(what) = what {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("it is {what}; a job file must be a regular file"),
        ));
    }
    if metadata.len() > max_bytes {
        return Err(Error::new(
            ErrorKind::FileTooLarge,
            format!(
                "it is {} bytes, more than the limit of {}",
                metadata.len(),
                format_bytes(max_bytes)
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::io::ErrorKind;

    use super::*;

    #[test]
    fn job_files_are_refused_before_reading_when_not_regular_or_too_large() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("job.conf");
        std::fs::write(&file, "x".repeat(101)).unwrap();
        let error = read_text_file(&file, 100).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::FileTooLarge);
        assert_eq!(
            error.to_string(),
            format!(
                "it is 101 bytes, more than the limit of {}",
                format_bytes(100)
            )
        );
        assert_eq!(read_text_file(&file, 101).unwrap().len(), 101);

        let error = read_text_file(dir.path(), 100).unwrap_err();
        assert!(error.to_string().contains("it is a directory"), "{error}");
        let error = read_text_file(Path::new("/dev/zero"), 100).unwrap_err();
        assert!(error.to_string().contains("it is a device"), "{error}");
        let error = read_text_file(&dir.path().join("missing.conf"), 100).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::NotFound);

        std::fs::write(&file, [b'a', 0xff, b'b']).unwrap();
        let error = read_text_file(&file, 100).unwrap_err();
        assert!(error.to_string().contains("not UTF-8 text"), "{error}");
    }

    #[test]
    fn job_files_resolve_their_includes_and_environment_on_this_machine() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("sink.conf"),
            "sink { Console { log.print_data = false } }\n",
        )
        .unwrap();
        let job = dir.path().join("job.conf");
        std::fs::write(
            &job,
            "include \"sink.conf\"\n\
             source { FakeSource { schema = { fields { id = bigint } } } }\n",
        )
        .unwrap();
        let file = load_job_file(&job, &VariableArgs::default()).unwrap();
        assert!(file.resolved);
        assert_eq!(file.config.sink.plugin_name(), "Console");
        assert!(file.text.contains("\"Console\""), "{}", file.text);

        std::fs::write(&job, "include \"gone.conf\"\n").unwrap();
        let error = load_job_file(&job, &VariableArgs::default())
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("gone.conf") && error.contains("not found"),
            "{error}"
        );
    }

    #[test]
    fn job_variables_fill_substitutions_and_malformed_pairs_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let job = dir.path().join("job.conf");
        std::fs::write(
            &job,
            "source { FakeSource { row.num = ${rowNum}, schema = { fields { id = bigint } } } }
             sink { Console {} }
",
        )
        .unwrap();
        let variables = VariableArgs {
            variables: vec![
                parse_variable("rowNum=5").unwrap(),
                parse_variable("rowNum=10").unwrap(),
            ],
        };
        let file = load_job_file(&job, &variables).unwrap();
        let weir_core::config::SourceConfig::FakeSource(source) = &file.config.source else {
            panic!("FakeSource expected");
        };
        assert_eq!(source.row_num, Some(10), "the last of a key wins");
        // The master gets the resolved document: it has no variables.
        assert!(file.resolved);
        let error = load_job_file(&job, &VariableArgs::default())
            .unwrap_err()
            .to_string();
        assert!(error.contains("${rowNum}"), "{error}");
        assert_eq!(
            parse_variable("a=b=c").unwrap(),
            ("a".to_string(), "b=c".to_string())
        );
        assert_eq!(
            parse_variable("novalue").unwrap_err(),
            "'novalue' is not key=value"
        );
        assert!(parse_variable("=x").unwrap_err().contains("no key"));
    }
}
