//! Binding and running the HTTP server, and stopping it with the process.

use std::net::SocketAddr;

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
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
                    axum::serve(TlsListener::start(listener, config, stopped), app)
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
        }
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// Stops accepting, lets requests in flight finish (at most `grace`), and ends.
    pub async fn stop(self, grace: std::time::Duration) {
        self.stop.cancel();
        let mut task = self.task;
        if tokio::time::timeout(grace, &mut task).await.is_err() {
            // A client holding a connection open must not hold the process.
            task.abort();
        }
    }
}
