//! `/metrics`: rendering a registry, and helpers for collectors that build metric families
//! from live state at scrape time (the worker's task snapshots, the master's cluster model), so
//! nothing is counted twice on the hot path.

use std::fmt;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeMetric,
};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// `Content-Type` of the OpenMetrics text format, served to scrapers that ask for it.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Renders `registry` in the format `accept` prefers: OpenMetrics when it names
/// `application/openmetrics-text` (Prometheus asks for it), else the Prometheus text format
/// 0.0.4, which every tool reads (`curl`, `promtool check metrics`).
pub fn render(registry: &Registry, accept: Option<&str>) -> Response {
    let openmetrics = accept.is_some_and(|accept| accept.contains("application/openmetrics-text"));
    let mut body = String::new();
    let (encoded, content_type) = if openmetrics {
        (
            prometheus_client::encoding::text::encode(&mut body, registry),
            OPENMETRICS_CONTENT_TYPE,
        )
    } else {
        (
            prometheus_client::encoding::prometheus_text::encode(&mut body, registry),
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        )
    };
    match encoded {
        Ok(()) => ([(header::CONTENT_TYPE, content_type)], body).into_response(),
        Err(error) => crate::text(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("cannot encode the metrics: {error}\n"),
        ),
    }
}

/// The labels of one sample, in order.
pub type Labels = Vec<(&'static str, String)>;

/// Writes a gauge family: `name` with `help`, one sample per `(labels, value)`.
pub fn gauge<V: EncodeGaugeValue + fmt::Debug + Send + Sync + 'static>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (Labels, V)>,
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in samples {
        ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Writes a counter family. `name` is without `_total`, which the encoder appends; the values
/// must only grow for as long as their label set exists.
pub fn counter<V: EncodeCounterValue + fmt::Debug + Send + Sync + 'static>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (Labels, V)>,
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in samples {
        ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Registers `weir_security_refusals_total`: the requests this process refused, by surface
/// (`grpc`, `http`), counted whether the throttled log showed them or not
/// (`weir_auth::refusals`). Master and worker both export it.
pub fn register_security(registry: &mut Registry) {
    registry.register_collector(Box::new(RefusalCollector));
}

#[derive(Debug)]
struct RefusalCollector;

impl prometheus_client::collector::Collector for RefusalCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        use weir_auth::refusals::{LOG_BURST, LOG_WINDOW};
        let help = format!(
            "Requests refused for their credentials or permissions, by surface (grpc, http); \
             the log shows the first {LOG_BURST} of every {} s per surface",
            LOG_WINDOW.as_secs()
        );
        counter(
            &mut encoder,
            "weir_security_refusals",
            &help,
            weir_auth::refusals::Surface::ALL.map(|surface| {
                (
                    vec![("surface", surface.label().to_string())],
                    weir_auth::refusals::refusals_total(surface),
                )
            }),
        )
    }
}

/// Bucket bounds (seconds) for durations from a millisecond to a minute: checkpoint phases,
/// job store writes.
pub fn duration_buckets() -> impl Iterator<Item = f64> {
    [
        0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    ]
    .into_iter()
}
