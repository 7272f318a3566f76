//! The worker's HTTP server: `/metrics`, `/healthz`, and `/readyz` (ready while registered
//! with a master). See docs/observability.md.

pub(crate) mod metrics;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use prometheus_client::registry::Registry;
use weir_http::{Endpoints, HttpError, HttpSecurity, HttpServer, HttpSettings};

use crate::governor::{MemoryState, Watermarks};
use crate::task_table::TaskTable;

/// Whether the worker is registered with a master now; the link sets it.
#[derive(Debug, Clone, Default)]
pub struct Registration(Arc<AtomicBool>);

impl Registration {
    pub fn set(&self, registered: bool) {
        self.0.store(registered, Ordering::Release);
    }

    pub fn registered(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

/// What the worker's endpoints read.
#[derive(Clone)]
pub struct WorkerView {
    pub memory: MemoryState,
    pub memory_limit: u64,
    pub watermarks: Watermarks,
    pub tasks: TaskTable,
    pub registration: Registration,
}

/// Starts the HTTP server on `settings.listen`, unless it is `off`.
pub async fn start(
    settings: HttpSettings,
    security: HttpSecurity,
    view: WorkerView,
) -> Result<Option<HttpServer>, HttpError> {
    let registration = view.registration.clone();
    let mut registry = Registry::default();
    metrics::register(&mut registry, view);
    weir_http::metrics::register_security(&mut registry);
    let endpoints = Endpoints {
        registry: Arc::new(registry),
        ready: Arc::new(move || {
            if registration.registered() {
                Ok(())
            } else {
                Err("not registered with a master".to_string())
            }
        }),
        tokens: security.tokens,
    };
    let app = weir_http::router(endpoints, axum::Router::new(), axum::Router::new());
    HttpServer::start(settings.listen, app, security.tls).await
}
