//! Safe defaults: a server listens beyond loopback only when it can tell its callers apart
//! (TLS, and for the master also client tokens), or when the operator said `--insecure`.

use std::net::SocketAddr;

use tracing::warn;

use crate::AuthError;

/// What a server has to tell its callers apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Protection {
    /// `master` or `worker`, for messages.
    pub who: &'static str,
    /// What a caller who reaches the server could do, for the `--insecure` warning.
    pub exposes: &'static str,
    pub tls: bool,
    /// Client tokens: `None` where the server has no clients (a worker).
    pub tokens: Option<bool>,
    /// `--insecure`: listen anyway.
    pub insecure: bool,
}

/// The outcome of [`check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exposure {
    /// Loopback, or protected: nothing to say.
    Fine,
    /// Unprotected beyond loopback because of `--insecure`: warn loudly.
    Insecure(String),
}

/// Whether a server may listen on `address`.
pub fn check(address: SocketAddr, protection: Protection) -> Result<Exposure, AuthError> {
    if address.ip().is_loopback() {
        return Ok(Exposure::Fine);
    }
    let missing = match (protection.tls, protection.tokens) {
        (true, None | Some(true)) => return Ok(Exposure::Fine),
        (false, Some(false)) => {
            "TLS (tls.cert, tls.key, tls.ca) and a tokens file (auth.tokens_file)"
        }
        (false, _) => "TLS (tls.cert, tls.key, tls.ca)",
        (true, Some(false)) => "a tokens file (auth.tokens_file)",
    };
    if protection.insecure {
        return Ok(Exposure::Insecure(format!(
            "INSECURE: the {} listens on {address} without {missing} (--insecure): anyone who can \
             reach it can {}. Use this only on a network you trust completely",
            protection.who, protection.exposes
        )));
    }
    Err(AuthError::Exposed {
        who: protection.who,
        address,
        missing,
    })
}

/// [`check`], with the loud warning logged.
pub fn check_and_warn(address: SocketAddr, protection: Protection) -> Result<(), AuthError> {
    if let Exposure::Insecure(message) = check(address, protection)? {
        warn!(target: crate::SECURITY_TARGET, "{message}");
        // Also on stderr without log formatting: a warning that matters this much must not be
        // lost to a log filter.
        eprintln!("WARNING: {message}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master(tls: bool, tokens: bool, insecure: bool) -> Protection {
        Protection {
            who: "master",
            exposes: "submit jobs",
            tls,
            tokens: Some(tokens),
            insecure,
        }
    }

    #[test]
    fn loopback_is_always_fine() {
        for address in ["127.0.0.1:5800", "[::1]:5800", "127.0.0.2:1"] {
            let address: SocketAddr = address.parse().expect("address");
            assert_eq!(
                check(address, master(false, false, false)).expect("fine"),
                Exposure::Fine
            );
        }
    }

    #[test]
    fn beyond_loopback_needs_protection_or_insecure() {
        let any: SocketAddr = "0.0.0.0:5800".parse().expect("address");
        let error = check(any, master(false, false, false)).expect_err("refused");
        let message = error.to_string();
        assert!(message.contains("0.0.0.0:5800") && message.contains("--insecure"));
        assert!(message.contains("TLS") && message.contains("tokens file"));
        let error = check(any, master(true, false, false)).expect_err("no tokens");
        assert!(!error.to_string().contains("tls.cert"), "{error}");
        assert_eq!(
            check(any, master(true, true, false)).expect("ok"),
            Exposure::Fine
        );
        assert!(matches!(
            check(any, master(false, false, true)),
            Ok(Exposure::Insecure(_))
        ));
        let worker = Protection {
            who: "worker",
            exposes: "call the worker",
            tls: true,
            tokens: None,
            insecure: false,
        };
        assert_eq!(check(any, worker).expect("ok"), Exposure::Fine);
        let plain_worker = Protection {
            tls: false,
            ..worker
        };
        assert!(check(any, plain_worker).is_err());
    }
}
