//! The `http.listen` setting: an address, or `off`.

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where the HTTP server listens: `host:port`, or `off` for no HTTP server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpListen {
    /// No HTTP server.
    Off,
    /// Listen on this address.
    On(SocketAddr),
}

impl HttpListen {
    /// The address, unless `off`.
    pub fn address(self) -> Option<SocketAddr> {
        match self {
            HttpListen::Off => None,
            HttpListen::On(address) => Some(address),
        }
    }
}

/// An `http.listen` value that is neither an address nor `off`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("'{value}' is not an address (host:port, e.g. 127.0.0.1:5880) nor 'off'")]
pub struct InvalidListen {
    /// The value given.
    pub value: String,
}

impl FromStr for HttpListen {
    type Err = InvalidListen;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let trimmed = value.trim();
        if trimmed.eq_ignore_ascii_case("off") {
            return Ok(HttpListen::Off);
        }
        trimmed
            .parse()
            .map(HttpListen::On)
            .map_err(|_| InvalidListen {
                value: value.to_string(),
            })
    }
}

impl fmt::Display for HttpListen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpListen::Off => f.write_str("off"),
            HttpListen::On(address) => write!(f, "{address}"),
        }
    }
}

impl Serialize for HttpListen {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HttpListen {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The `[http]` table of master and worker settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Address of the HTTP server (`/metrics`, `/healthz`, `/readyz`; on the master also the
    /// web console at `/` and its JSON API under `/api/v1/`), or `off`.
    pub listen: HttpListen,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_off_parse() {
        assert_eq!("off".parse(), Ok(HttpListen::Off));
        assert_eq!(" OFF ".parse(), Ok(HttpListen::Off));
        let on: HttpListen = "127.0.0.1:5880".parse().unwrap();
        assert_eq!(on.address(), Some(SocketAddr::from(([127, 0, 0, 1], 5880))));
        assert_eq!(on.to_string(), "127.0.0.1:5880");
        let error = "localhost".parse::<HttpListen>().unwrap_err();
        assert!(error.to_string().contains("'localhost' is not an address"));
    }
}
