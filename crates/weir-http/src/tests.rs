use std::sync::atomic::{AtomicBool, Ordering};

use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use prometheus_client::collector::Collector;
use prometheus_client::metrics::histogram::Histogram;
use tower::ServiceExt;

use super::*;

#[derive(Debug)]
struct Live;

impl Collector for Live {
    fn encode(
        &self,
        mut encoder: prometheus_client::encoding::DescriptorEncoder,
    ) -> std::fmt::Result {
        metrics::gauge(
            &mut encoder,
            "weir_test_level_bytes",
            "A level.",
            [(vec![("split", "t-0".to_string())], 42u64)],
        )?;
        metrics::counter(
            &mut encoder,
            "weir_test_rows",
            "Rows.",
            [(Vec::new(), 7u64)],
        )
    }
}

fn app(ready: Arc<AtomicBool>) -> Router {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Live));
    let histogram = Histogram::new(metrics::duration_buckets());
    histogram.observe(0.02);
    registry.register("weir_test_duration_seconds", "A duration.", histogram);
    router(
        Endpoints {
            registry: Arc::new(registry),
            ready: Arc::new(move || {
                if ready.load(Ordering::Relaxed) {
                    Ok(())
                } else {
                    Err("not registered".into())
                }
            }),
        },
        Router::new().route("/extra", get(|| async { "extra" })),
    )
}

async fn get_text(app: Router, path: &str, accept: Option<&str>) -> (StatusCode, String, String) {
    let mut request = Request::builder().uri(path);
    if let Some(accept) = accept {
        request = request.header(header::ACCEPT, accept);
    }
    let response = app
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .map(|value| value.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        content_type,
        String::from_utf8(body.to_vec()).unwrap(),
    )
}

#[tokio::test]
async fn metrics_render_as_prometheus_text_unless_openmetrics_is_asked_for() {
    let ready = Arc::new(AtomicBool::new(true));
    let (status, content_type, body) = get_text(app(ready.clone()), "/metrics", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    assert!(
        body.contains("weir_test_level_bytes{split=\"t-0\"} 42\n"),
        "{body}"
    );
    assert!(
        body.contains("# TYPE weir_test_rows_total counter\nweir_test_rows_total 7\n"),
        "{body}"
    );
    assert!(
        body.contains("weir_test_duration_seconds_bucket{le=\"0.025\"} 1"),
        "{body}"
    );
    assert!(!body.contains("# EOF"), "{body}");

    let (_, content_type, body) = get_text(
        app(ready),
        "/metrics",
        Some("application/openmetrics-text;version=1.0.0,text/plain;q=0.5"),
    )
    .await;
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
}

#[tokio::test]
async fn health_and_readiness() {
    let ready = Arc::new(AtomicBool::new(false));
    let (status, _, body) = get_text(app(ready.clone()), "/healthz", None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "ok\n"));
    let (status, _, body) = get_text(app(ready.clone()), "/readyz", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(body, "not ready: not registered\n");
    ready.store(true, Ordering::Relaxed);
    let (status, _, _) = get_text(app(ready.clone()), "/readyz", None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, body) = get_text(app(ready), "/extra", None).await;
    assert_eq!((status, body.as_str()), (StatusCode::OK, "extra"));
}

#[tokio::test]
async fn a_busy_address_is_a_clear_error_and_off_starts_nothing() {
    assert!(
        HttpServer::start(HttpListen::Off, Router::new())
            .await
            .unwrap()
            .is_none()
    );
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = taken.local_addr().unwrap();
    let error = HttpServer::start(HttpListen::On(address), Router::new())
        .await
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains(&format!(
            "cannot listen for HTTP on {address} (http.listen)"
        )),
        "{message}"
    );
}

#[tokio::test]
async fn a_started_server_answers_and_stops() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = HttpServer::serve(listener, app(Arc::new(AtomicBool::new(true))));
    let address = server.address();
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("ok\n"), "{answer}");
    server.stop(std::time::Duration::from_secs(5)).await;
    assert!(
        tokio::net::TcpStream::connect(address).await.is_err(),
        "stopped"
    );
}
