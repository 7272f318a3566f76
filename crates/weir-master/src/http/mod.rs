//! The master's HTTP server: `/metrics`, `/healthz`, `/readyz`, the web console at `/` and
//! its JSON API under `/api/v1/`. See docs/observability.md.

mod api;
mod console;
pub(crate) mod metrics;
mod views;

use std::sync::Arc;

use prometheus_client::registry::Registry;
use weir_http::{Endpoints, HttpError, HttpSecurity, HttpServer, HttpSettings};

use crate::service::Master;

/// Starts the HTTP server on `settings.listen`, unless it is `off`. Called once the job store
/// is open and its jobs restored, right before the gRPC server starts serving: from then on
/// the master is ready.
pub async fn start(
    settings: HttpSettings,
    security: HttpSecurity,
    master: Arc<Master>,
) -> Result<Option<HttpServer>, HttpError> {
    let mut registry = Registry::default();
    metrics::register(&mut registry, Arc::clone(&master));
    weir_http::metrics::register_security(&mut registry);
    let endpoints = Endpoints {
        registry: Arc::new(registry),
        // Reaching this point means the job store opened and the jobs were restored; the gRPC
        // server starts right after.
        ready: Arc::new(|| Ok(())),
        tokens: security.tokens,
    };
    let app = weir_http::router(
        endpoints,
        api::routes(Arc::clone(&master)),
        console::routes(),
    );
    HttpServer::start(settings.listen, app, security.tls).await
}
