//! Everything the bench counts, read at one moment, and what changed between two such moments (a phase).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, Result};
use kube::Client;

use super::budget::Writes;
use super::fleet::Moment;
use super::probes::{
    apiserver_metrics, apiserver_writes, http_metrics, operator_counters, sample_process,
    ProcessSample, SimClient,
};
use super::stats::{count_increases, increases, Counters};

/// The counter an operator may export to say how many fleet refreshes it made; without it a phase is
/// judged as one refresh (ramp) or as its share of `--refresh-seconds` (steady state).
pub const REFRESH_COUNTER: &str = "zeroetl_refreshes_total";
/// The operator's count of AWS call attempts, shown beside aws-sim's.
pub const AWS_CALLS_COUNTER: &str = "zeroetl_aws_calls_total";

/// The processes whose CPU is measured, by display name.
pub struct Watched {
    pub operator_pid: u32,
    pub operator_metrics_url: String,
    pub processes: Vec<(String, u32)>,
}

pub struct Snapshot {
    pub at: Moment,
    pub aws_calls: BTreeMap<String, u64>,
    pub operator_metrics: Counters,
    pub k8s_writes: Counters,
    pub cpu_seconds: BTreeMap<String, f64>,
    pub operator: ProcessSample,
    pub sim_requests: Option<u64>,
}

impl Snapshot {
    pub async fn take(sim: &SimClient, client: &Client, watched: &Watched) -> Result<Snapshot> {
        let at = Moment::now();
        let aws_calls = sim.counts().await?;
        // Right after the counts, so that both describe the same moment.
        let sim_requests = sim.requests_served().await?;
        let operator_metrics = operator_counters(
            &http_metrics(&watched.operator_metrics_url)
                .await
                .context("read the operator's /metrics")?,
        );
        let k8s_writes = apiserver_writes(&apiserver_metrics(client).await?);
        Ok(Snapshot {
            at,
            aws_calls,
            operator_metrics,
            k8s_writes,
            cpu_seconds: cpu_seconds(watched.processes.iter())?,
            operator: sample_process(watched.operator_pid)?,
            sim_requests,
        })
    }

    /// The counts while no operator runs (between a stop and a start): its metrics are those of a process
    /// about to start, none.
    pub async fn without_operator(
        sim: &SimClient,
        client: &Client,
        watched: &Watched,
    ) -> Result<Snapshot> {
        let at = Moment::now();
        let aws_calls = sim.counts().await?;
        let sim_requests = sim.requests_served().await?;
        let k8s_writes = apiserver_writes(&apiserver_metrics(client).await?);
        Ok(Snapshot {
            at,
            aws_calls,
            operator_metrics: Counters::new(),
            k8s_writes,
            cpu_seconds: cpu_seconds(
                watched
                    .processes
                    .iter()
                    .filter(|(name, _)| name != "operator"),
            )?,
            operator: ProcessSample::default(),
            sim_requests,
        })
    }

    /// Every AWS call the sim logged so far (its call sequence numbers count from 1).
    pub fn aws_calls_total(&self) -> u64 {
        self.aws_calls
            .iter()
            .filter(|(k, _)| k.as_str() != "mutating")
            .map(|(_, v)| v)
            .sum()
    }
}

/// CPU seconds so far of each of `processes` and of the bench itself.
fn cpu_seconds<'a>(
    processes: impl Iterator<Item = &'a (String, u32)>,
) -> Result<BTreeMap<String, f64>> {
    let mut cpu = BTreeMap::new();
    for (name, pid) in processes {
        let sample = sample_process(*pid).with_context(|| format!("sample {name}"))?;
        cpu.insert(name.clone(), sample.cpu_seconds);
    }
    let bench = sample_process(std::process::id())?;
    cpu.insert("bench (this process)".to_owned(), bench.cpu_seconds);
    Ok(cpu)
}

/// What happened between two snapshots.
pub struct Phase {
    pub wall: Duration,
    pub aws_calls: BTreeMap<String, u64>,
    pub operator_metrics: Counters,
    pub writes: Writes,
    pub cpu_seconds: BTreeMap<String, f64>,
    pub sim_requests: Option<u64>,
    /// The operator's own refresh count, when it exports one.
    pub refreshes: Option<f64>,
    /// Whether the operator exports `zeroetl_aws_calls_total` at all (it may just not have moved).
    pub exports_aws_calls: bool,
}

impl Phase {
    /// `bench_creates`: writes the bench itself made in the phase (`verb group/resource` → count).
    pub fn between(before: &Snapshot, after: &Snapshot, bench_creates: &Counters) -> Phase {
        let operator_metrics = increases(&before.operator_metrics, &after.operator_metrics);
        let exports_refreshes = after
            .operator_metrics
            .keys()
            .any(|k| k.starts_with(REFRESH_COUNTER));
        let refreshes = exports_refreshes.then(|| {
            operator_metrics
                .iter()
                .filter(|(k, _)| k.starts_with(REFRESH_COUNTER))
                .map(|(_, v)| v)
                .sum()
        });
        Phase {
            wall: after.at.instant.duration_since(before.at.instant),
            aws_calls: count_increases(&before.aws_calls, &after.aws_calls),
            operator_metrics,
            writes: Writes::split(
                &increases(&before.k8s_writes, &after.k8s_writes),
                bench_creates,
            ),
            cpu_seconds: after
                .cpu_seconds
                .iter()
                .map(|(name, cpu)| {
                    let start = before.cpu_seconds.get(name).copied().unwrap_or(0.0);
                    (name.clone(), (cpu - start).max(0.0))
                })
                .collect(),
            sim_requests: before
                .sim_requests
                .zip(after.sim_requests)
                .map(|(b, a)| a.saturating_sub(b)),
            refreshes,
            exports_aws_calls: after
                .operator_metrics
                .keys()
                .any(|k| k.starts_with(AWS_CALLS_COUNTER)),
        }
    }

    /// AWS call attempts in the phase, all operations.
    pub fn aws_total(&self) -> u64 {
        self.aws_calls
            .iter()
            .filter(|(k, _)| k.as_str() != "mutating")
            .map(|(_, v)| v)
            .sum()
    }

    /// The operator's own count of AWS call attempts (`zeroetl_aws_calls_total`), if it exports one.
    pub fn operator_aws_total(&self) -> Option<f64> {
        self.exports_aws_calls.then(|| {
            self.operator_metrics
                .iter()
                .filter(|(k, _)| k.starts_with(AWS_CALLS_COUNTER))
                .map(|(_, v)| v)
                .sum()
        })
    }
}
