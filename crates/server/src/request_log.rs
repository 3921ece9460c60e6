//! Per-request span and log line with a request ID, route pattern, status and latency, plus the
//! request metrics. Records the route, never the path's values, query strings, headers or bodies.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{web, Error};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;
use tracing::Instrument;

use crate::routes::RoutePattern;
use crate::AppState;

/// `<process prefix>-<counter>`: unique across replicas (random prefix per process) without
/// asking the kernel for randomness on every request.
fn next_request_id() -> String {
    static PREFIX: OnceLock<String> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = PREFIX.get_or_init(|| uuid::Uuid::new_v4().simple().to_string()[..12].to_owned());
    format!("{prefix}-{:x}", COUNTER.fetch_add(1, Ordering::Relaxed))
}

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let request_id = next_request_id();
    // Only standard methods become labels, so clients cannot grow the metric series at will.
    let method = match req.method().as_str() {
        m @ ("GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS") => m,
        _ => "other",
    }
    .to_owned();
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.metrics.clone());
    // The credential a call signs with is recorded here by its handler, so that anything
    // logged during the call names it without a span per layer. The route is known only at
    // the end, so it goes on the last line rather than the span (each field recorded on a
    // span is formatted again: a per-request cost).
    let span = tracing::info_span!(
        "http_request",
        %request_id,
        %method,
        credential_id = tracing::field::Empty
    );
    let result = next.call(req).instrument(span.clone()).await;
    let route = match &result {
        Ok(res) => res.request().app_data::<RoutePattern>().map(|p| p.0),
        Err(_) => None,
    }
    .unwrap_or("unmatched");
    let elapsed = started.elapsed();
    let status = match &result {
        Ok(res) => res.status().as_u16(),
        Err(err) => err.as_response_error().status_code().as_u16(),
    };
    span.in_scope(|| {
        tracing::info!(
            route,
            status,
            elapsed_ms = elapsed.as_secs_f64() * 1000.0,
            "request finished"
        );
    });
    if let Some(metrics) = metrics {
        metrics.observe(&method, route, status, elapsed.as_secs_f64());
    }
    let mut res = result?;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        res.headers_mut()
            .insert(HeaderName::from_static("x-request-id"), value);
    }
    // Console pages say how long the server took to build them (a browser's developer tools
    // show it; the page budget's benchmark reads it). The API's answers do not carry it.
    if res.request().path().starts_with("/console") {
        let timing = format!("app;dur={:.3}", elapsed.as_secs_f64() * 1000.0);
        if let Ok(value) = HeaderValue::from_str(&timing) {
            res.headers_mut()
                .insert(HeaderName::from_static("server-timing"), value);
        }
    }
    Ok(res)
}
