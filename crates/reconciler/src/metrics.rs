//! Prometheus metrics: reconciles, their errors by category, their duration, and AWS calls by operation.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ErrorLabels {
    pub kind: &'static str,
    pub error: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AwsCallLabels {
    pub service: String,
    pub operation: String,
}

#[derive(Debug)]
pub struct Metrics {
    pub reconciles: Family<KindLabels, Counter>,
    pub failures: Family<ErrorLabels, Counter>,
    pub duration: Family<KindLabels, Histogram>,
    pub aws_calls: Family<AwsCallLabels, Counter>,
    pub status_writes: Family<KindLabels, Counter>,
    aws_calls_total: AtomicU64,
}

impl Metrics {
    /// Creates the metrics and registers them under `zeroetl_`.
    pub fn new(registry: &mut Registry) -> Metrics {
        let m = Metrics {
            reconciles: Family::default(),
            failures: Family::default(),
            duration: Family::new_with_constructor(|| {
                Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
            }),
            aws_calls: Family::default(),
            status_writes: Family::default(),
            aws_calls_total: AtomicU64::new(0),
        };
        let r = registry.sub_registry_with_prefix("zeroetl");
        r.register("reconciles", "Reconciles by kind", m.reconciles.clone());
        r.register(
            "reconcile_failures",
            "Failed reconciles by kind and error category",
            m.failures.clone(),
        );
        r.register(
            "reconcile_duration_seconds",
            "Reconcile duration by kind",
            m.duration.clone(),
        );
        r.register(
            "aws_calls",
            "AWS API call attempts by service and operation",
            m.aws_calls.clone(),
        );
        r.register(
            "status_writes",
            "Status patches sent (unchanged statuses are skipped)",
            m.status_writes.clone(),
        );
        m
    }

    pub fn reconciled(&self, kind: &'static str, took: Duration) {
        self.reconciles.get_or_create(&KindLabels { kind }).inc();
        self.duration
            .get_or_create(&KindLabels { kind })
            .observe(took.as_secs_f64());
    }

    pub fn failed(&self, kind: &'static str, error: &'static str) {
        self.failures
            .get_or_create(&ErrorLabels { kind, error })
            .inc();
    }

    pub fn aws_call(&self, service: &str, operation: &str) {
        self.aws_calls_total.fetch_add(1, Ordering::Relaxed);
        self.aws_calls
            .get_or_create(&AwsCallLabels {
                service: service.to_string(),
                operation: operation.to_string(),
            })
            .inc();
    }

    /// Total AWS call attempts so far (all services), for the shutdown log line.
    pub fn aws_calls_total(&self) -> u64 {
        self.aws_calls_total.load(Ordering::Relaxed)
    }
}
