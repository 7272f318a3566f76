//! Who a certificate speaks for: its subject's common name (the master's name `master`, a
//! worker's id, a client's name) and its role, the subject's organizational unit, which
//! `weir cert issue` writes. The role keeps a client certificate from registering as a worker
//! and a worker certificate from calling workers as the master.

use std::fmt;

use crate::AuthError;

/// What a certificate may be used as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertRole {
    /// The master: serves clients and workers, calls workers.
    Master,
    /// A worker: registers with the master, serves the master's calls.
    Worker,
    /// A client of the master's JobService (which authorizes it by token, not certificate).
    Client,
}

impl CertRole {
    /// The organizational unit a certificate of this role carries.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Master => "master",
            Self::Worker => "worker",
            Self::Client => "client",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "master" => Some(Self::Master),
            "worker" => Some(Self::Worker),
            "client" => Some(Self::Client),
            _ => None,
        }
    }

    /// The role `weir cert issue --name NAME` gives by default: `master` for the name
    /// `master`, `client` for `client` and `client-…`, `worker` for every other name.
    pub fn default_for(name: &str) -> Self {
        if name == "master" {
            Self::Master
        } else if name == "client" || name.starts_with("client-") {
            Self::Client
        } else {
            Self::Worker
        }
    }
}

impl fmt::Display for CertRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name and role a verified certificate carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PeerIdentity {
    pub name: String,
    pub role: CertRole,
}

impl fmt::Display for PeerIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} '{}'", self.role, self.name)
    }
}

/// The identity in a DER certificate: its subject's single common name and single
/// organizational unit naming a role. A certificate without them (not made by `weir cert`)
/// identifies nobody.
pub fn identity_of(der: &[u8]) -> Result<PeerIdentity, AuthError> {
    let problem = |problem: String| AuthError::Certificate {
        what: "of the peer".into(),
        problem,
    };
    let (_, certificate) = x509_parser::parse_x509_certificate(der)
        .map_err(|error| problem(format!("does not parse: {error}")))?;
    let subject = certificate.subject();
    let single = |mut values: Vec<&str>, what: &str| match values.len() {
        1 => Ok(values.remove(0).to_string()),
        0 => Err(problem(format!("its subject has no {what}"))),
        _ => Err(problem(format!("its subject has more than one {what}"))),
    };
    let names: Vec<&str> = subject
        .iter_common_name()
        .filter_map(|value| value.as_str().ok())
        .collect();
    let units: Vec<&str> = subject
        .iter_organizational_unit()
        .filter_map(|value| value.as_str().ok())
        .collect();
    let name = single(names, "common name (CN)")?;
    let unit = single(units, "organizational unit (OU) naming its Weir role")?;
    let role = CertRole::parse(&unit).ok_or_else(|| {
        problem(format!(
            "its organizational unit '{unit}' is not a Weir role (master, worker or client)"
        ))
    })?;
    if name.is_empty() {
        return Err(problem("its common name is empty".into()));
    }
    Ok(PeerIdentity { name, role })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_roles_follow_the_name() {
        assert_eq!(CertRole::default_for("master"), CertRole::Master);
        assert_eq!(CertRole::default_for("client"), CertRole::Client);
        assert_eq!(CertRole::default_for("client-alice"), CertRole::Client);
        assert_eq!(CertRole::default_for("worker-1"), CertRole::Worker);
        assert_eq!(CertRole::default_for("masters"), CertRole::Worker);
    }

    #[test]
    fn garbage_is_no_identity() {
        let error = identity_of(b"not a certificate").expect_err("garbage");
        assert!(error.to_string().contains("does not parse"), "{error}");
    }
}
