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
    app_with_tokens(ready, None)
}

fn app_with_tokens(ready: Arc<AtomicBool>, tokens: Option<weir_auth::TokenTable>) -> Router {
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
            tokens: tokens.map(Arc::new),
        },
        Router::new().route("/extra", get(|| async { "extra" })),
        Router::new().route("/page", get(|| async { "page" })),
    )
}

async fn get_text(app: Router, path: &str, accept: Option<&str>) -> (StatusCode, String, String) {
    get_with(app, path, accept.map(|accept| (header::ACCEPT, accept))).await
}

async fn get_with(
    app: Router,
    path: &str,
    extra: Option<(header::HeaderName, &str)>,
) -> (StatusCode, String, String) {
    let mut request = Request::builder().uri(path);
    if let Some((name, value)) = extra {
        request = request.header(name, value);
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
        HttpServer::start(HttpListen::Off, Router::new(), None)
            .await
            .unwrap()
            .is_none()
    );
    let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = taken.local_addr().unwrap();
    let error = HttpServer::start(HttpListen::On(address), Router::new(), None)
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
    let server = HttpServer::serve(listener, app(Arc::new(AtomicBool::new(true))), None);
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

const TOKEN: &str = "weir_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn tokens() -> weir_auth::TokenTable {
    let line = weir_auth::tokens::tokens_file_line("prometheus", weir_auth::Role::Viewer, TOKEN);
    weir_auth::TokenTable::parse(&line).unwrap()
}

#[tokio::test]
async fn with_tokens_data_routes_need_one_and_probes_and_pages_do_not() {
    let app = || app_with_tokens(Arc::new(AtomicBool::new(true)), Some(tokens()));
    for path in ["/metrics", "/extra"] {
        let (status, _, body) = get_text(app(), path, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
        assert!(body.contains("Authorization: Bearer"), "{body}");
        let (status, _, body) = get_with(
            app(),
            path,
            Some((header::AUTHORIZATION, "Bearer weir_not-a-token")),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
        assert!(body.contains("not valid"), "{body}");
        let bearer = format!("Bearer {TOKEN}");
        let (status, _, _) = get_with(app(), path, Some((header::AUTHORIZATION, &bearer))).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    for path in ["/healthz", "/readyz", "/page"] {
        let (status, _, _) = get_text(app(), path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
}

#[tokio::test]
async fn https_serves_with_the_process_certificate_and_plain_http_gets_no_answer() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    weir_auth::certs::create_ca(dir.path()).unwrap();
    weir_auth::certs::issue(
        dir.path(),
        "master",
        weir_auth::CertRole::Master,
        &["127.0.0.1".to_string()],
        dir.path(),
    )
    .unwrap();
    let settings = weir_auth::TlsConfig {
        cert: Some(dir.path().join("master.pem")),
        key: Some(dir.path().join("master-key.pem")),
        ca: Some(dir.path().join("ca.pem")),
    };
    let loaded = weir_auth::LoadedTls::for_server(&settings)
        .unwrap()
        .unwrap();
    let config = loaded.https_config().unwrap().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let server = HttpServer::serve(listener, app(Arc::new(AtomicBool::new(true))), Some(config));
    let address = server.address();

    // A TLS client that trusts the cluster CA reaches the server as `master`.
    let mut roots = rustls::RootCertStore::empty();
    let ca = std::fs::read(dir.path().join("ca.pem")).unwrap();
    use rustls::pki_types::pem::PemObject as _;
    for cert in rustls::pki_types::CertificateDer::pem_slice_iter(&ca) {
        roots.add(cert.unwrap()).unwrap();
    }
    let client = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("master").unwrap();
    let mut tls = connector.connect(name, tcp).await.unwrap();
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    // A server may close without a TLS close_notify; what was read before counts.
    let _ = tls.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");

    // Plain HTTP on the HTTPS port is not served.
    let mut plain = tokio::net::TcpStream::connect(address).await.unwrap();
    plain
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = plain.read_to_end(&mut answer).await;
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));

    // A client that connects and says nothing holds a handshake task; stopping the server
    // ends it with the accept loop, well before the handshake would time out.
    let silent = tokio::net::TcpStream::connect(address).await.unwrap();
    let tasks = server.tls_tasks();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while tasks.len() != 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not just the accept loop and the silent client's handshake: {} tasks",
            tasks.len()
        );
        tokio::task::yield_now().await;
    }
    let stopping = tokio::time::Instant::now();
    server.stop(std::time::Duration::from_secs(5)).await;
    assert!(
        tasks.is_empty(),
        "{} TLS tasks left after stop",
        tasks.len()
    );
    assert!(
        stopping.elapsed() < weir_auth::tls::HANDSHAKE_TIMEOUT,
        "stop waited {:?} for the silent handshake",
        stopping.elapsed()
    );
    drop(silent);
}
