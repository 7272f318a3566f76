//! Intervals as master and worker settings write them: whole milliseconds in options named
//! `…_ms` (`heartbeat_timeout_ms = 5000`), held as [`Duration`] from the moment they are read.
//!
//! One parser, [`parse_millis`], serves every way a setting arrives: clap uses it for flags and
//! `WEIR_*` variables (`value_parser = weir_core::duration::parse_millis`), and [`millis`]
//! (for `#[serde(with = "weir_core::duration::millis")]`) uses it for TOML strings, so a value
//! means the same wherever it is written.

use std::time::Duration;

/// An interval that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{text}' is not a number of milliseconds: write a whole number such as 5000")]
pub struct InvalidMillis {
    /// The text given.
    pub text: String,
}

/// Whole milliseconds, e.g. `"5000"` → 5 s (surrounding spaces are ignored).
pub fn parse_millis(text: &str) -> Result<Duration, InvalidMillis> {
    let trimmed = text.trim();
    if trimmed.is_empty() || !trimmed.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(InvalidMillis {
            text: text.to_string(),
        });
    }
    trimmed
        .parse::<u64>()
        .map(Duration::from_millis)
        .map_err(|_| InvalidMillis {
            text: text.to_string(),
        })
}

/// Whole milliseconds of `duration`, saturating (for writing settings back and for protocol
/// fields in milliseconds).
pub fn as_millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// serde for a [`Duration`] written as whole milliseconds: a non-negative integer, or a string
/// [`parse_millis`] accepts.
pub mod millis {
    use std::time::Duration;

    use serde::de::{self, Visitor};
    use serde::{Deserializer, Serializer};

    /// Writes whole milliseconds.
    pub fn serialize<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(super::as_millis(*duration))
    }

    /// Reads whole milliseconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        struct MillisVisitor;

        impl Visitor<'_> for MillisVisitor {
            type Value = Duration;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a whole number of milliseconds such as 5000")
            }

            fn visit_u64<E: de::Error>(self, millis: u64) -> Result<Duration, E> {
                Ok(Duration::from_millis(millis))
            }

            fn visit_i64<E: de::Error>(self, millis: i64) -> Result<Duration, E> {
                u64::try_from(millis)
                    .map(Duration::from_millis)
                    .map_err(|_| E::custom(format!("must not be negative, found {millis}")))
            }

            fn visit_f64<E: de::Error>(self, millis: f64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "must be a whole number of milliseconds, found {millis}"
                )))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Duration, E> {
                super::parse_millis(text).map_err(E::custom)
            }
        }

        deserializer.deserialize_any(MillisVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize, serde::Serialize)]
    struct Settings {
        #[serde(with = "millis")]
        interval: Duration,
    }

    fn from_json(text: &str) -> Result<Duration, String> {
        serde_json::from_str::<Settings>(text)
            .map(|settings| settings.interval)
            .map_err(|error| error.to_string())
    }

    #[test]
    fn flags_and_files_read_the_same_milliseconds() {
        assert_eq!(parse_millis("5000"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_millis(" 250 "), Ok(Duration::from_millis(250)));
        assert_eq!(
            from_json(r#"{"interval": 5000}"#),
            Ok(Duration::from_secs(5))
        );
        assert_eq!(
            from_json(r#"{"interval": "5000"}"#),
            Ok(Duration::from_secs(5))
        );
        let written = serde_json::to_string(&Settings {
            interval: Duration::from_millis(1500),
        })
        .unwrap();
        assert_eq!(written, r#"{"interval":1500}"#);
    }

    #[test]
    fn anything_but_whole_milliseconds_is_refused() {
        for text in ["", "5s", "-1", "1.5", "+5", "99999999999999999999999"] {
            let error = parse_millis(text).unwrap_err();
            assert!(error.to_string().contains("5000"), "{text}: {error}");
        }
        for json in [
            r#"{"interval": -1}"#,
            r#"{"interval": 1.5}"#,
            r#"{"interval": "2s"}"#,
            r#"{"interval": true}"#,
        ] {
            assert!(from_json(json).is_err(), "{json}");
        }
    }
}
