//! Prometheus metrics of outgoing calls: counts by outcome and upstream latency.

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};

/// Latency buckets, in seconds, of every Keyway histogram: from half a millisecond (a hop on
/// loopback) to past the 16 s call limit.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 16.0,
    20.0,
];

#[derive(Debug, Clone)]
pub struct DispatchMetrics {
    calls: IntCounterVec,
    upstream_latency: HistogramVec,
}

impl DispatchMetrics {
    pub fn register(registry: &Registry) -> Result<Self, prometheus::Error> {
        let calls = IntCounterVec::new(
            Opts::new(
                "keyway_dispatch_calls_total",
                "Outgoing calls by outcome (answered, or the error code) and credential kind",
            ),
            &["outcome", "kind"],
        )?;
        let upstream_latency = HistogramVec::new(
            HistogramOpts::new(
                "keyway_dispatch_upstream_seconds",
                "Time from sending a call to the end of the upstream's answer",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["kind"],
        )?;
        registry.register(Box::new(calls.clone()))?;
        registry.register(Box::new(upstream_latency.clone()))?;
        Ok(Self {
            calls,
            upstream_latency,
        })
    }

    pub fn observe(&self, outcome: &str, kind: &str, upstream_seconds: Option<f64>) {
        self.calls.with_label_values(&[outcome, kind]).inc();
        if let Some(s) = upstream_seconds {
            self.upstream_latency.with_label_values(&[kind]).observe(s);
        }
    }
}
