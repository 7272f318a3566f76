//! The HTTP side of a Weir master or worker: one axum server on the process's tokio runtime,
//! serving `/metrics` (Prometheus text exposition from a `prometheus-client` registry),
//! `/healthz`, `/readyz`, and whatever routes the process adds (the master's console and JSON
//! API).
//!
//! Every route goes through [`router`], the one place where the bearer-token check is applied
//! (see [`security`]).

mod listen;
pub mod metrics;
pub mod security;
mod server;

pub use listen::{HttpListen, HttpSettings, InvalidListen};
pub use security::{HttpSecurity, ServerRole};
pub use server::{HttpError, HttpServer};

use std::sync::Arc;

use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;

/// Whether the process is ready for work: `Err` says why not (`/readyz` answers 503 with it).
pub type Readiness = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// What the endpoints every Weir process serves read.
#[derive(Clone)]
pub struct Endpoints {
    /// Rendered by `/metrics` on every scrape; its collectors read live state then.
    pub registry: Arc<Registry>,
    /// Asked by `/readyz`.
    pub ready: Readiness,
    /// When set, `/metrics` and the `data` routes need one of these bearer tokens.
    pub tokens: Option<Arc<weir_auth::TokenTable>>,
}

/// The whole HTTP application: `/metrics`, `/healthz`, `/readyz`, the process's `data` routes
/// (behind the token check when there are tokens) and its `open` routes (pages without data).
pub fn router(endpoints: Endpoints, data: Router, open: Router) -> Router {
    let Endpoints {
        registry,
        ready,
        tokens,
    } = endpoints;
    let mut data = Router::new()
        .route(
            "/metrics",
            get(move |headers: axum::http::HeaderMap| {
                let registry = Arc::clone(&registry);
                async move {
                    let accept = headers
                        .get(header::ACCEPT)
                        .and_then(|value| value.to_str().ok());
                    metrics::render(&registry, accept)
                }
            }),
        )
        .merge(data);
    if let Some(tokens) = tokens {
        data = data.layer(axum::middleware::from_fn_with_state(
            tokens,
            security::require_token,
        ));
    }
    let probes = Router::new()
        .route("/healthz", get(|| async { text(StatusCode::OK, "ok\n") }))
        .route(
            "/readyz",
            get(move || {
                let ready = Arc::clone(&ready);
                async move {
                    match ready() {
                        Ok(()) => text(StatusCode::OK, "ready\n"),
                        Err(why) => text(
                            StatusCode::SERVICE_UNAVAILABLE,
                            format!("not ready: {why}\n"),
                        ),
                    }
                }
            }),
        );
    data.merge(probes).merge(open)
}

/// A plain-text answer.
pub fn text(status: StatusCode, body: impl Into<String>) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        body.into(),
    )
        .into_response()
}

#[cfg(test)]
mod tests;
