//! The guard in front of every gRPC server: decides, from the called method, the caller's
//! verified certificate and its bearer token, whether a call may go on.
//!
//! | Server | Service          | Who may call                                                  |
//! |--------|------------------|---------------------------------------------------------------|
//! | master | `JobService`     | with a tokens file: a token whose role allows the method ([`required_role`]); without: anyone |
//! | master | `ClusterService` | with TLS: a certificate of role `worker` signed by the cluster CA; without: anyone |
//! | worker | `WorkerService`  | with TLS: the certificate named `master` of role `master`; without: anyone |
//! | either | anything else    | nobody                                                        |
//!
//! The decision ([`Policy::admit`]) is a pure function; [`GuardLayer`] does the I/O around it:
//! it reads the peer certificate and the `authorization` header, answers a refused call with
//! its gRPC status, logs the refusal as a security event (target [`crate::SECURITY_TARGET`],
//! naming the peer, never a token) and hands an admitted call its [`Caller`] in the request's
//! extensions. Methods that take a worker id check it against the caller with
//! [`check_claimed_worker`].

use crate::refusals::{self, LogDecision, Surface};
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::Status;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tracing::warn;

use crate::peer::{CertRole, PeerIdentity, identity_of};
use crate::tls::MASTER_NAME;
use crate::tokens::{Role, TokenTable};

const JOB_SERVICE: &str = "weir.v1.JobService";
const CLUSTER_SERVICE: &str = "weir.v1.ClusterService";
const WORKER_SERVICE: &str = "weir.v1.WorkerService";

/// How to pass a token, for the message of a call without one.
const HOW_TO_PASS_A_TOKEN: &str = "this master requires a client token: set WEIR_TOKEN=<token> or pass --token-file FILE (an admin makes one with `weir token new`; see docs/security.md)";

/// The role a `JobService` method needs. Unknown methods need the highest.
pub fn required_role(method: &str) -> Role {
    match method {
        "ListJobs" | "GetJob" | "ListWorkers" => Role::Viewer,
        // SubmitJob (also --restore), CancelJob, StopJob and anything added later.
        _ => Role::Admin,
    }
}

/// Which server a policy guards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Server {
    Master,
    Worker,
}

/// Who may call a server.
#[derive(Debug, Clone)]
pub struct Policy {
    pub server: Server,
    /// Peers present certificates verified against the cluster CA (the server runs TLS).
    pub certificates: bool,
    /// Client tokens (the master's `auth.tokens_file`); `None`: clients are not authenticated.
    pub tokens: Option<TokenTable>,
}

/// Who made an admitted call, in the request's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// Nothing was required of the caller (no TLS, or no tokens file).
    Anyone,
    /// A client with a valid token.
    Client { name: String, role: Role },
    /// A peer with a verified certificate.
    Peer(PeerIdentity),
}

impl fmt::Display for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Anyone => f.write_str("an unauthenticated caller"),
            Self::Client { name, role } => write!(f, "client '{name}' ({role})"),
            Self::Peer(peer) => write!(f, "{peer}"),
        }
    }
}

/// Why a call was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The caller did not say who it is (no token, no certificate) or said it wrongly.
    Unauthenticated(String),
    /// The caller is known but may not do this.
    PermissionDenied(String),
}

impl Refusal {
    pub fn into_status(self) -> Status {
        match self {
            Self::Unauthenticated(message) => Status::unauthenticated(message),
            Self::PermissionDenied(message) => Status::permission_denied(message),
        }
    }
}

/// What the guard knows of a caller's certificate.
#[derive(Debug, Clone)]
pub enum PeerCertificate {
    None,
    Verified(PeerIdentity),
    /// Verified by the CA but without a Weir identity (not made by `weir cert`).
    Unidentified(String),
}

impl Policy {
    /// Decides whether a call to `path` (`/package.Service/Method`) may go on.
    pub fn admit(
        &self,
        path: &str,
        peer: &PeerCertificate,
        authorization: Option<&str>,
    ) -> Result<Caller, Refusal> {
        let (service, method) = path
            .strip_prefix('/')
            .and_then(|rest| rest.split_once('/'))
            .unwrap_or(("", ""));
        match (self.server, service) {
            (Server::Master, JOB_SERVICE) => self.admit_client(method, authorization),
            (Server::Master, CLUSTER_SERVICE) => {
                self.admit_peer(peer, "ClusterService", |identity| {
                    identity.role == CertRole::Worker
                })
            }
            (Server::Worker, WORKER_SERVICE) => {
                self.admit_peer(peer, "WorkerService", |identity| {
                    identity.role == CertRole::Master && identity.name == MASTER_NAME
                })
            }
            _ => Err(Refusal::PermissionDenied(format!(
                "no such service here: {path}"
            ))),
        }
    }

    fn admit_client(&self, method: &str, authorization: Option<&str>) -> Result<Caller, Refusal> {
        let Some(tokens) = &self.tokens else {
            return Ok(Caller::Anyone);
        };
        let Some(header) = authorization else {
            return Err(Refusal::Unauthenticated(HOW_TO_PASS_A_TOKEN.into()));
        };
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                Refusal::Unauthenticated(format!(
                    "the authorization metadata must be `Bearer <token>`; {HOW_TO_PASS_A_TOKEN}"
                ))
            })?;
        let (name, role) = tokens.verify(token).ok_or_else(|| {
            Refusal::Unauthenticated(
                "the token is not valid for this master (not in its tokens file)".into(),
            )
        })?;
        let needed = required_role(method);
        if !role.allows(needed) {
            return Err(Refusal::PermissionDenied(format!(
                "{method} needs the {needed} role; the token '{name}' has the {role} role"
            )));
        }
        Ok(Caller::Client {
            name: name.to_string(),
            role,
        })
    }

    fn admit_peer(
        &self,
        peer: &PeerCertificate,
        service: &str,
        allowed: impl Fn(&PeerIdentity) -> bool,
    ) -> Result<Caller, Refusal> {
        if !self.certificates {
            return Ok(Caller::Anyone);
        }
        let who = match self.server {
            Server::Master => "a worker certificate",
            Server::Worker => "the master's certificate",
        };
        match peer {
            PeerCertificate::None => Err(Refusal::Unauthenticated(format!(
                "{service} needs {who} signed by the cluster CA; the caller presented none"
            ))),
            PeerCertificate::Unidentified(problem) => Err(Refusal::PermissionDenied(format!(
                "{service} needs {who}; the caller's certificate {problem}"
            ))),
            PeerCertificate::Verified(identity) if allowed(identity) => {
                Ok(Caller::Peer(identity.clone()))
            }
            PeerCertificate::Verified(identity) => Err(Refusal::PermissionDenied(format!(
                "{service} needs {who}; the caller's certificate is for the {identity}"
            ))),
        }
    }
}

/// Refuses a request whose claimed worker id is not the worker its certificate names (with
/// TLS); logs the attempt as a security event. Without TLS there is nothing to compare with.
pub fn check_claimed_worker(
    extensions: &tonic::Extensions,
    claimed: &str,
    what: &str,
) -> Result<(), Status> {
    let Some(Caller::Peer(identity)) = extensions.get::<Caller>() else {
        return Ok(());
    };
    if identity.name == claimed {
        return Ok(());
    }
    let remote = extensions.get::<RemoteAddress>().map(|remote| remote.0);
    warn!(target: crate::SECURITY_TARGET, peer = %identity, remote = ?remote, claimed, what, "refused: a worker spoke for another worker");
    Err(Status::permission_denied(format!(
        "{what} for worker '{claimed}' refused: the caller's certificate is for the {identity}"
    )))
}

/// The caller's socket address, in the request's extensions, for security logs.
#[derive(Debug, Clone, Copy)]
pub struct RemoteAddress(pub SocketAddr);

/// The tower layer that puts a [`Policy`] in front of a tonic server.
#[derive(Debug, Clone)]
pub struct GuardLayer {
    policy: Arc<Policy>,
}

impl GuardLayer {
    pub fn new(policy: Policy) -> Self {
        Self {
            policy: Arc::new(policy),
        }
    }
}

impl<S> tower::Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Guard<S> {
        Guard {
            inner,
            policy: Arc::clone(&self.policy),
        }
    }
}

/// See [`GuardLayer`].
#[derive(Debug, Clone)]
pub struct Guard<S> {
    inner: S,
    policy: Arc<Policy>,
}

fn peer_of<B>(request: &http::Request<B>) -> (PeerCertificate, Option<SocketAddr>) {
    let extensions = request.extensions();
    if let Some(tls) = extensions.get::<TlsConnectInfo<TcpConnectInfo>>() {
        let remote = tls.get_ref().remote_addr();
        let peer = match tls.peer_certs().as_deref().and_then(|certs| certs.first()) {
            None => PeerCertificate::None,
            Some(der) => match identity_of(der) {
                Ok(identity) => PeerCertificate::Verified(identity),
                Err(error) => PeerCertificate::Unidentified(match error {
                    crate::AuthError::Certificate { problem, .. } => problem,
                    other => other.to_string(),
                }),
            },
        };
        return (peer, remote);
    }
    let remote = extensions
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr);
    (PeerCertificate::None, remote)
}

impl<S, B> tower::Service<http::Request<B>> for Guard<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let (peer, remote) = peer_of(&request);
        let authorization = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|value| value.to_str().ok());
        let path = request.uri().path().to_string();
        match self.policy.admit(&path, &peer, authorization) {
            Ok(caller) => {
                request.extensions_mut().insert(caller);
                if let Some(remote) = remote {
                    request.extensions_mut().insert(RemoteAddress(remote));
                }
                // The clone that was polled ready serves this call; the fresh clone waits for
                // the next poll_ready (tower's contract for cloned services).
                let clone = self.inner.clone();
                let mut ready = std::mem::replace(&mut self.inner, clone);
                Box::pin(ready.call(request))
            }
            Err(refusal) => {
                if let LogDecision::Log { left_out } = refusals::refused(Surface::Grpc) {
                    let peer = match &peer {
                        PeerCertificate::None => "no certificate".to_string(),
                        PeerCertificate::Verified(identity) => identity.to_string(),
                        PeerCertificate::Unidentified(problem) => {
                            format!("a certificate that {problem}")
                        }
                    };
                    let reason = match &refusal {
                        Refusal::Unauthenticated(message) | Refusal::PermissionDenied(message) => {
                            message.as_str()
                        }
                    };
                    warn!(target: crate::SECURITY_TARGET, method = %path, remote = ?remote, %peer, %reason, refused_before_not_logged = left_out, "refused a call");
                }
                let response = refusal.into_status().into_http();
                Box::pin(async move { Ok(response) })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tokens::{new_token, tokens_file_line};

    fn identity(name: &str, role: CertRole) -> PeerCertificate {
        PeerCertificate::Verified(PeerIdentity {
            name: name.into(),
            role,
        })
    }

    #[test]
    fn the_role_table() {
        for method in ["ListJobs", "GetJob", "ListWorkers"] {
            assert_eq!(required_role(method), Role::Viewer, "{method}");
        }
        for method in ["SubmitJob", "CancelJob", "StopJob", "SomethingNew"] {
            assert_eq!(required_role(method), Role::Admin, "{method}");
        }
    }

    #[test]
    fn clients_need_a_token_with_the_role_of_the_method() {
        let admin = new_token().expect("token");
        let viewer = new_token().expect("token");
        let tokens = TokenTable::parse(&format!(
            "{}\n{}",
            tokens_file_line("alice", Role::Admin, &admin),
            tokens_file_line("bob", Role::Viewer, &viewer)
        ))
        .expect("tokens");
        let policy = Policy {
            server: Server::Master,
            certificates: true,
            tokens: Some(tokens),
        };
        let none = PeerCertificate::None;
        let bearer = |token: &str| format!("Bearer {token}");
        let list = "/weir.v1.JobService/ListJobs";
        let cancel = "/weir.v1.JobService/CancelJob";

        let Err(Refusal::Unauthenticated(message)) = policy.admit(list, &none, None) else {
            panic!("a call without a token passed");
        };
        assert!(message.contains("WEIR_TOKEN") && message.contains("--token-file"));
        assert!(matches!(
            policy.admit(list, &none, Some("Bearer weir_wrong")),
            Err(Refusal::Unauthenticated(_))
        ));
        assert!(matches!(
            policy.admit(list, &none, Some(&admin)),
            Err(Refusal::Unauthenticated(_))
        ));
        assert_eq!(
            policy.admit(list, &none, Some(&bearer(&viewer))),
            Ok(Caller::Client {
                name: "bob".into(),
                role: Role::Viewer
            })
        );
        let Err(Refusal::PermissionDenied(message)) =
            policy.admit(cancel, &none, Some(&bearer(&viewer)))
        else {
            panic!("a viewer could cancel");
        };
        assert!(message.contains("needs the admin role"), "{message}");
        assert!(!message.contains(&viewer), "the token was echoed");
        assert!(policy.admit(cancel, &none, Some(&bearer(&admin))).is_ok());
    }

    #[test]
    fn without_a_tokens_file_clients_are_anyone() {
        let policy = Policy {
            server: Server::Master,
            certificates: false,
            tokens: None,
        };
        assert_eq!(
            policy.admit(
                "/weir.v1.JobService/CancelJob",
                &PeerCertificate::None,
                None
            ),
            Ok(Caller::Anyone)
        );
    }

    #[test]
    fn cluster_service_needs_a_worker_certificate_with_tls() {
        let policy = Policy {
            server: Server::Master,
            certificates: true,
            tokens: None,
        };
        let path = "/weir.v1.ClusterService/RegisterWorker";
        assert!(matches!(
            policy.admit(path, &PeerCertificate::None, None),
            Err(Refusal::Unauthenticated(_))
        ));
        assert!(matches!(
            policy.admit(path, &identity("client", CertRole::Client), None),
            Err(Refusal::PermissionDenied(_))
        ));
        assert!(matches!(
            policy.admit(
                path,
                &PeerCertificate::Unidentified("has no OU".into()),
                None
            ),
            Err(Refusal::PermissionDenied(_))
        ));
        assert_eq!(
            policy.admit(path, &identity("w-1", CertRole::Worker), None),
            Ok(Caller::Peer(PeerIdentity {
                name: "w-1".into(),
                role: CertRole::Worker
            }))
        );
        // Without TLS the master cannot tell who calls.
        let plain = Policy {
            certificates: false,
            ..policy
        };
        assert_eq!(
            plain.admit(path, &PeerCertificate::None, None),
            Ok(Caller::Anyone)
        );
    }

    #[test]
    fn worker_service_needs_the_masters_certificate_with_tls() {
        let policy = Policy {
            server: Server::Worker,
            certificates: true,
            tokens: None,
        };
        let path = "/weir.v1.WorkerService/CommitCheckpoint";
        assert!(policy.admit(path, &PeerCertificate::None, None).is_err());
        assert!(
            policy
                .admit(path, &identity("w-2", CertRole::Worker), None)
                .is_err()
        );
        // The name alone is not enough: a worker certificate named `master` is still a worker's.
        assert!(
            policy
                .admit(path, &identity("master", CertRole::Worker), None)
                .is_err()
        );
        assert!(
            policy
                .admit(path, &identity("master", CertRole::Master), None)
                .is_ok()
        );
    }

    #[test]
    fn unknown_services_are_refused() {
        let policy = Policy {
            server: Server::Worker,
            certificates: false,
            tokens: None,
        };
        for path in [
            "/weir.v1.JobService/ListJobs",
            "/weir.v1.ClusterService/RegisterWorker",
            "/grpc.reflection.v1.ServerReflection/X",
            "garbage",
        ] {
            assert!(
                matches!(
                    policy.admit(path, &PeerCertificate::None, None),
                    Err(Refusal::PermissionDenied(_))
                ),
                "{path}"
            );
        }
    }

    #[test]
    fn a_worker_may_speak_only_for_itself() {
        let mut extensions = tonic::Extensions::new();
        assert!(check_claimed_worker(&extensions, "anyone", "RegisterWorker").is_ok());
        extensions.insert(Caller::Peer(PeerIdentity {
            name: "worker-x".into(),
            role: CertRole::Worker,
        }));
        assert!(check_claimed_worker(&extensions, "worker-x", "RegisterWorker").is_ok());
        let status =
            check_claimed_worker(&extensions, "worker-y", "RegisterWorker").expect_err("spoof");
        assert_eq!(status.code(), tonic::Code::PermissionDenied);
        assert!(
            status.message().contains("worker-x"),
            "{}",
            status.message()
        );
    }
}
