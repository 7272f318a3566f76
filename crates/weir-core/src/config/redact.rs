//! Job-file errors without secrets.
//!
//! An error about a secret option (`kafka.config.sasl.password`, anything
//! [`crate::secrets::is_secret_key`] names) must not show its value: such errors reach the
//! client that submitted the job, the master's and workers' logs and `weir job`. The HOCON
//! parser quotes the offending piece of a value (`reserved character '+' in "hunter2+x"`), and
//! value checks say what they found (`found string "…"`); both are redacted here, for errors
//! whose option path is secret or whose line holds a secret option.

use super::error::ConfigError;
use crate::secrets::{REDACTED, is_secret_key, redact_message, secret_value_of_line};

/// `error` with the secret value of its line (or of its option) removed from its message.
pub(crate) fn without_secrets(error: ConfigError, text: &str) -> ConfigError {
    let line = error
        .line()
        .and_then(|line| text.lines().nth(line.checked_sub(1)?));
    let line_secret = line.and_then(secret_value_of_line);
    let secret_path = error.path().is_some_and(is_secret_key);
    if line_secret.is_none() && !secret_path {
        return error;
    }
    let redact = |message: String| redact_message(&message, line_secret.unwrap_or(REDACTED));
    match error {
        ConfigError::Syntax { at, message } => ConfigError::Syntax {
            at,
            message: redact(message),
        },
        ConfigError::Substitution {
            at,
            substitution,
            message,
        } => ConfigError::Substitution {
            at,
            substitution,
            message: redact(message),
        },
        ConfigError::InvalidValue { at, path, message } => ConfigError::InvalidValue {
            at,
            path,
            message: redact(message),
        },
        ConfigError::Unsupported { at, path, message } => ConfigError::Unsupported {
            at,
            path,
            message: redact(message),
        },
        ConfigError::Limit { at, message } => ConfigError::Limit {
            at,
            message: redact(message),
        },
        ConfigError::Include { at, message } => ConfigError::Include {
            at,
            message: redact(message),
        },
        ConfigError::Internal { at, message } => ConfigError::Internal {
            at,
            message: redact(message),
        },
        // These name options and plugins, never values.
        other @ (ConfigError::UnknownOption { .. }
        | ConfigError::DuplicateKey { .. }
        | ConfigError::RepeatedPlugin { .. }
        | ConfigError::MissingOption { .. }
        | ConfigError::UnknownPlugin { .. }
        | ConfigError::PluginCount { .. }) => other,
    }
}

#[cfg(test)]
mod tests {
    use crate::config::{ParsePolicy, parse_job};

    const PASSWORD: &str = "hunter2";

    fn job(kafka_config: &str) -> String {
        format!(
            "env {{ job.mode = BATCH }}\n\
             source {{ Kafka {{\n  bootstrap.servers = \"127.0.0.1:9092\"\n  topic = t\n  \
             kafka.config = {{\n    sasl.username = alice\n    {kafka_config}\n  }}\n}} }}\n\
             sink {{ Console {{}} }}\n"
        )
    }

    fn error_of(kafka_config: &str) -> String {
        let text = job(kafka_config);
        let error =
            parse_job(&text, "job.conf", &ParsePolicy::SelfContained).expect_err(kafka_config);
        let message = error.to_string();
        assert!(
            !message.contains(PASSWORD),
            "the error for `{kafka_config}` shows the password: {message}"
        );
        message
    }

    #[test]
    fn syntax_errors_on_a_secret_line_do_not_quote_the_value() {
        let message = error_of("sasl.password = hunter2+x");
        assert!(message.starts_with("job.conf:7:"), "{message}");
        assert!(message.contains("syntax error"), "{message}");
        let message = error_of("ssl.key.password = hunter2$x");
        assert!(message.contains("syntax error"), "{message}");
        let message = error_of("sasl.password = \"hunter2");
        assert!(message.contains("unterminated"), "{message}");
    }

    #[test]
    fn type_errors_of_secret_properties_do_not_show_the_value() {
        let message = error_of("sasl.password = [hunter2]");
        assert!(
            message.contains("'sasl.password' must be a string, number or boolean"),
            "{message}"
        );
        let message = error_of("sasl.password = { x = hunter2 }, sasl.password.y = [1]");
        assert!(message.contains("sasl.password"), "{message}");
    }

    #[test]
    fn errors_elsewhere_keep_their_values() {
        let text = job("sasl.password = hunter2").replace("topic = t", "topic = \"a,,b\"");
        let message = parse_job(&text, "job.conf", &ParsePolicy::SelfContained)
            .unwrap_err()
            .to_string();
        assert!(message.contains("\"a,,b\""), "{message}");
        assert!(!message.contains(PASSWORD), "{message}");
    }

    #[test]
    fn a_valid_secret_reaches_the_config_but_not_its_debug_output() {
        let text = job("sasl.password = \"hunter2\"");
        let config = parse_job(&text, "job.conf", &ParsePolicy::SelfContained).unwrap();
        let crate::config::SourceConfig::Kafka(kafka) = &config.source else {
            panic!("a Kafka source: {config:?}");
        };
        assert_eq!(kafka.kafka_config.get("sasl.password"), Some(PASSWORD));
        let shown = format!("{config:?}");
        assert!(!shown.contains(PASSWORD), "{shown}");
        assert!(shown.contains("alice"), "{shown}");
    }
}
