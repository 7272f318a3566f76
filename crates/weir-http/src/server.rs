//! Binding and running the HTTP server, and stopping it with the process.

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use std::sync::Arc;

use crate::HttpListen;
use crate::security::TlsListener;

/// The HTTP server could not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// `http.listen` names an address that cannot be bound.
    #[error("cannot listen for HTTP on {address} (http.listen): {source}")]
    Bind {
        /// The address of `http.listen`.
        address: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
}

/// A running HTTP server; [`HttpServer::stop`] ends it.
#[derive(Debug)]
pub struct HttpServer {
    address: SocketAddr,
    stop: CancellationToken,
    task: JoinHandle<()>,
    /// The HTTPS accept loop and its handshakes (empty for plain HTTP).
    tls_tasks: TaskTracker,
}

impl HttpServer {
    /// Binds `listen` and serves `app` on the current runtime, over HTTPS when `tls` is given;
    /// `None` when `listen` is `off`.
    pub async fn start(
        listen: HttpListen,
        app: Router,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Result<Option<Self>, HttpError> {
        let Some(address) = listen.address() else {
            info!("HTTP server off (http.listen = off)");
            return Ok(None);
        };
        let listener = TcpListener::bind(address)
            .await
            .map_err(|source| HttpError::Bind { address, source })?;
        Ok(Some(Self::serve(listener, app, tls)))
    }

    /// Serves `app` on an already bound listener, over HTTPS when `tls` is given.
    pub fn serve(
        listener: TcpListener,
        app: Router,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Self {
        let address = listener.local_addr().unwrap_or_else(|_| {
            // Only a closed socket has no address; report the unspecified one.
            SocketAddr::from(([0, 0, 0, 0], 0))
        });
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let scheme = if tls.is_some() { "https" } else { "http" };
        info!(%address, scheme, "HTTP listening (/metrics, /healthz, /readyz)");
        let tls_tasks = TaskTracker::new();
        let tls_spawner = tls_tasks.clone();
        let task = tokio::spawn(async move {
            let shutdown = {
                let stopped = stopped.clone();
                async move { stopped.cancelled().await }
            };
            let served = match tls {
                None => {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(shutdown)
                        .await
                }
                Some(config) => {
                    axum::serve(
                        TlsListener::start(listener, config, stopped, tls_spawner),
                        app,
                    )
                    .with_graceful_shutdown(shutdown)
                    .await
                }
            };
            if let Err(error) = served {
                warn!(%error, "the HTTP server stopped with an error");
            }
        });
        Self {
            address,
            stop,
            task,
            tls_tasks,
        }
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting, lets requests in flight finish (at most `grace`), and ends, with the
    /// HTTPS accept loop and its handshakes.
    pub async fn stop(self, grace: std::time::Duration) {
        self.stop.cancel();
        self.tls_tasks.close();
        let mut task = self.task;
        let tls_tasks = self.tls_tasks;
        let ended = async {
            let _ = (&mut task).await;
            tls_tasks.wait().await;
        };
        if tokio::time::timeout(grace, ended).await.is_err() {
            // A client holding a connection open must not hold the process. The TLS tasks
            // watch the cancelled token, so they end at their next await without help.
            task.abort();
        }
    }

    /// The tracker of the HTTPS accept loop and handshakes, to count them in tests.
    #[cfg(test)]
    pub(crate) fn tls_tasks(&self) -> TaskTracker {
        self.tls_tasks.clone()
    }
}
