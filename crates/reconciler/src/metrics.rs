//! Prometheus metrics of the reconcilers, all under `zeroetl_`: reconciles by result, their duration, AWS
//! calls, errors and throttles, and status writes (and the writes the API server refused, always a bug of
//! ours). Per-object condition gauges are collected from the watch caches by the controller crate.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus_client::encoding::{EncodeLabelSet, EncodeLabelValue};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The kinds the operator reconciles, as the `kind` label spells them.
pub const KINDS: [&str; 3] = [
    "ZeroEtlIntegration",
    "RedshiftConnection",
    "RedshiftConsumer",
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

/// How a reconcile ended.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq, EncodeLabelValue)]
#[allow(non_camel_case_types)] // label values are lower case
pub enum ReconcileResult {
    /// Ready, nothing to do until the next recheck.
    success,
    /// Work under way: looked at again soon.
    requeue,
    /// A transient failure: backing off.
    error,
    /// Stalled: the spec or the world must change.
    stalled,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ResultLabels {
    pub kind: &'static str,
    pub result: ReconcileResult,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AwsCallLabels {
    pub service: String,
    pub operation: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct AwsErrorLabels {
    pub service: String,
    pub operation: String,
    pub code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServiceLabels {
    pub service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RegionLabels {
    pub region: String,
}

#[derive(Debug)]
pub struct Metrics {
    pub reconciles: Family<ResultLabels, Counter>,
    pub duration: Family<KindLabels, Histogram>,
    pub aws_calls: Family<AwsCallLabels, Counter>,
    pub aws_errors: Family<AwsErrorLabels, Counter>,
    pub aws_throttled: Family<ServiceLabels, Counter>,
    pub status_writes: Family<KindLabels, Counter>,
    pub status_write_rejections: Family<KindLabels, Counter>,
    /// Fleet-wide refreshes of the integration snapshot (one paged DescribeIntegrations per identity and region).
    pub refreshes: Family<RegionLabels, Counter>,
    /// 1 while this replica holds the Lease (or runs without leader election).
    pub leader: Gauge,
    aws_calls_total: AtomicU64,
}

impl Metrics {
    /// Creates the metrics and registers them under `zeroetl_`.
    pub fn new(registry: &mut Registry) -> Metrics {
        let m = Metrics {
            reconciles: Family::default(),
            duration: Family::new_with_constructor(|| {
                Histogram::new([0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0])
            }),
            aws_calls: Family::default(),
            aws_errors: Family::default(),
            aws_throttled: Family::default(),
            status_writes: Family::default(),
            status_write_rejections: Family::default(),
            refreshes: Family::default(),
            leader: Gauge::default(),
            aws_calls_total: AtomicU64::new(0),
        };
        // A refused status write is rare (always a bug): start its series at zero so that alerts on its rate see
        // the first one, and dashboards show a zero rather than no data.
        for kind in KINDS {
            let _ = m
                .status_write_rejections
                .get_or_create(&KindLabels { kind });
        }
        let r = registry.sub_registry_with_prefix("zeroetl");
        r.register(
            "reconciles",
            "Reconciles by kind and result (success, requeue, error, stalled)",
            m.reconciles.clone(),
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
            "aws_errors",
            "AWS API errors by service, operation and error code",
            m.aws_errors.clone(),
        );
        r.register(
            "aws_throttled",
            "AWS API calls that were throttled, by service",
            m.aws_throttled.clone(),
        );
        r.register(
            "status_writes",
            "Status writes sent (unchanged statuses are skipped)",
            m.status_writes.clone(),
        );
        r.register(
            "status_write_rejections",
            "Status writes the API server refused (always an operator bug)",
            m.status_write_rejections.clone(),
        );
        r.register(
            "refreshes",
            "Refreshes of the shared integration snapshot, by region",
            m.refreshes.clone(),
        );
        r.register(
            "leader",
            "1 while this replica holds the leader Lease",
            m.leader.clone(),
        );
        m
    }

    pub fn reconciled(&self, kind: &'static str, result: ReconcileResult, took: Duration) {
        self.reconciles
            .get_or_create(&ResultLabels { kind, result })
            .inc();
        self.duration
            .get_or_create(&KindLabels { kind })
            .observe(took.as_secs_f64());
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

    pub fn aws_error(&self, service: &str, operation: &str, code: &str, throttled: bool) {
        self.aws_errors
            .get_or_create(&AwsErrorLabels {
                service: service.to_string(),
                operation: operation.to_string(),
                code: code.to_string(),
            })
            .inc();
        if throttled {
            self.aws_throttled
                .get_or_create(&ServiceLabels {
                    service: service.to_string(),
                })
                .inc();
        }
    }

    pub fn status_written(&self, kind: &'static str) {
        self.status_writes.get_or_create(&KindLabels { kind }).inc();
    }

    pub fn status_rejected(&self, kind: &'static str) {
        self.status_write_rejections
            .get_or_create(&KindLabels { kind })
            .inc();
    }

    pub fn refreshed(&self, region: &str) {
        self.refreshes
            .get_or_create(&RegionLabels {
                region: region.to_string(),
            })
            .inc();
    }

    /// Total AWS call attempts so far (all services), for the shutdown log line.
    pub fn aws_calls_total(&self) -> u64 {
        self.aws_calls_total.load(Ordering::Relaxed)
    }
}
