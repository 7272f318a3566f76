//! Who may read what over HTTP: bearer tokens on everything but the probes and the console's
//! static page, and HTTPS with the process's own certificate.
//!
//! The same tokens file that guards the master's gRPC API guards its HTTP side, so one
//! credential opens the console, the JSON API and `/metrics` (Prometheus sends it with
//! `authorization: { credentials_file: … }`). Every HTTP route is read-only, so any role may
//! read it. `/healthz` and `/readyz` stay open: orchestrators probe without credentials and the
//! answers say nothing about jobs. The console's page, script and style are open too — they hold
//! no data, and the page must load to ask for a token.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, warn};
use weir_auth::TokenTable;
use weir_auth::refusals::{self, LogDecision, Surface};

/// How the HTTP server tells its callers apart.
#[derive(Clone, Default)]
pub struct HttpSecurity {
    /// Serve HTTPS with this configuration (the process's own certificate); plain HTTP when
    /// `None`.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Ask every caller of a data route for one of these tokens; nobody is asked when `None`.
    pub tokens: Option<Arc<TokenTable>>,
}

impl std::fmt::Debug for HttpSecurity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpSecurity")
            .field("tls", &self.tls.is_some())
            .field("tokens", &self.tokens.as_ref().map(|tokens| tokens.len()))
            .finish()
    }
}

/// Who runs an HTTP server, for [`HttpSecurity::for_server`]'s messages.
#[derive(Debug, Clone, Copy)]
pub struct ServerRole {
    /// `master's HTTP server`, `worker's HTTP server`.
    pub who: &'static str,
    /// What a caller could do through it, for the `--insecure` warning.
    pub exposes: &'static str,
}

impl HttpSecurity {
    /// The HTTP server's security from the process's TLS and tokens: HTTPS with its certificate
    /// when it has one, tokens when it has them. Refuses, as gRPC does, an address beyond
    /// loopback without both, unless `insecure` (then warns loudly).
    pub fn for_server(
        role: ServerRole,
        listen: crate::HttpListen,
        tls: Option<&weir_auth::LoadedTls>,
        tokens: Option<TokenTable>,
        insecure: bool,
    ) -> Result<Self, weir_auth::AuthError> {
        let security = Self {
            tls: match tls {
                Some(tls) => tls.https_config()?,
                None => None,
            },
            tokens: tokens.map(Arc::new),
        };
        if let Some(address) = listen.address() {
            weir_auth::exposure::check_and_warn(
                address,
                weir_auth::exposure::Protection {
                    who: role.who,
                    exposes: role.exposes,
                    tls: security.tls.is_some(),
                    tokens: Some(security.tokens.is_some()),
                    insecure,
                },
            )?;
        }
        Ok(security)
    }
}

/// The middleware in front of data routes: a valid `Authorization: Bearer <token>` or 401.
pub(crate) async fn require_token(
    State(tokens): State<Arc<TokenTable>>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    let refusal = match presented {
        None => {
            "this server needs a client token: send `Authorization: Bearer <token>` (see docs/security.md)"
        }
        Some(token) => match tokens.verify(token) {
            Some(_) => return next.run(request).await,
            None => "the token is not valid for this server",
        },
    };
    if let LogDecision::Log { left_out } = refusals::refused(Surface::Http) {
        warn!(target: weir_auth::SECURITY_TARGET, path = %request.uri().path(), refused = refusal, refused_before_not_logged = left_out, "refused an HTTP request");
    }
    let mut response = (StatusCode::UNAUTHORIZED, format!("{refusal}\n")).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"weir\""),
    );
    response
}

/// TLS handshakes in progress at once; a connection beyond them is closed at once, so a flood
/// of silent sockets costs at most this many tasks for [`weir_auth::tls::HANDSHAKE_TIMEOUT`].
const MAX_HANDSHAKES: usize = 64;

/// A listener that hands axum connections whose TLS handshake is done. Handshakes run in their
/// own tasks, so a client that connects and says nothing delays no other client. The accepting
/// task and the handshakes are spawned on the server's tracker and end when `stop` is
/// cancelled, so stopping the server waits for them.
pub(crate) struct TlsListener {
    handshaken: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    address: SocketAddr,
}

impl TlsListener {
    /// Accepts on `listener` until `stop` is cancelled, its tasks spawned on `tasks`.
    pub(crate) fn start(
        listener: TcpListener,
        config: Arc<rustls::ServerConfig>,
        stop: CancellationToken,
        tasks: TaskTracker,
    ) -> Self {
        let address = listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
        let (sender, handshaken) = mpsc::channel(MAX_HANDSHAKES);
        let acceptor = TlsAcceptor::from(config);
        let handshakes = Arc::new(Semaphore::new(MAX_HANDSHAKES));
        let spawner = tasks.clone();
        tasks.spawn(async move {
            loop {
                let (tcp, peer) = tokio::select! {
                    () = stop.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok(accepted) => accepted,
                        Err(error) => {
                            // Out of file descriptors and the like: pause rather than spin.
                            warn!(%error, "cannot accept an HTTPS connection");
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                            continue;
                        }
                    },
                };
                let Ok(permit) = Arc::clone(&handshakes).try_acquire_owned() else {
                    debug!(%peer, "too many TLS handshakes in progress; connection closed");
                    continue;
                };
                let acceptor = acceptor.clone();
                let sender = sender.clone();
                let stop = stop.clone();
                spawner.spawn(async move {
                    let handshake = tokio::time::timeout(
                        weir_auth::tls::HANDSHAKE_TIMEOUT,
                        acceptor.accept(tcp),
                    );
                    let stream = tokio::select! {
                        () = stop.cancelled() => return,
                        done = handshake => match done {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(error)) => {
                                debug!(%peer, %error, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                debug!(%peer, "TLS handshake timed out");
                                return;
                            }
                        },
                    };
                    drop(permit);
                    // A closed receiver means the server stopped: the connection just closes.
                    tokio::select! {
                        () = stop.cancelled() => {}
                        _ = sender.send((stream, peer)) => {}
                    }
                });
            }
        });
        Self {
            handshaken,
            address,
        }
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.handshaken.recv().await {
            Some(connection) => connection,
            // The accepting task ended, which happens only once the server is stopping: wait
            // for axum's graceful shutdown to drop this listener.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.address)
    }
}
