//! zeroetl-operator: `crd` prints the CRDs, `run` runs the controllers.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use futures::future::join_all;
use prometheus_client::registry::Registry;
use tokio::sync::watch;
use tracing::{error, info, warn};
use zeroetl_reconciler::aws::{AwsClients, AwsSettings};
use zeroetl_reconciler::k8s::Events;
use zeroetl_reconciler::leadership::Leadership;
use zeroetl_reconciler::metrics::Metrics;
use zeroetl_reconciler::timing::LEASE_RENEW_DEADLINE;
use zeroetl_reconciler::{Config, Context};

mod cli;
mod collectors;
mod connection_wakes;
mod controllers;
mod crd;
mod leader;
mod memory;
mod probes;
mod shutdown;
mod telemetry;

use cli::{Cli, RunArgs};

#[cfg(feature = "mimalloc")]
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// How long in-flight reconciles may run after SIGTERM before the process exits anyway (Kubernetes waits 30 s
/// by default; we promise well under that).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(4);

fn main() -> anyhow::Result<()> {
    match Cli::parse() {
        Cli::Crd => {
            print!("{}", crd::render());
            Ok(())
        }
        Cli::Run(args) => {
            memory::use_one_arena();
            tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?
                .block_on(run(*args))
        }
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    telemetry::init(args.log_format, args.log_level.as_deref())?;
    // ring is the one TLS provider; a build that also links aws-lc-rs (when the workspace's test code is
    // built with it) leaves rustls unable to pick, so it is named here.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(shutdown::on_signal(stop_tx));
    let stopped = move || shutdown::stopped(stop_rx.clone());

    let client = kube::Client::try_default().await?;
    let mut registry = Registry::default();
    let metrics = Arc::new(Metrics::new(&mut registry));
    let stores = Arc::new(zeroetl_reconciler::stores::Stores::default());
    registry.register_collector(Box::new(collectors::ObjectConditions {
        stores: stores.clone(),
    }));
    registry.register_collector(Box::new(collectors::ProcessMetrics));
    let probes = probes::Probes {
        ready: Default::default(),
        registry: Arc::new(registry),
    };
    let server = tokio::spawn(probes::serve(args.probe_addr, probes.clone(), stopped()));
    info!(
        region = %args.region,
        aws_endpoint = args.aws_endpoint_url.as_deref().unwrap_or("default"),
        namespaces = ?args.namespaces,
        probe_addr = %args.probe_addr,
        leader_election = args.leader_election,
        "starting zeroetl-operator"
    );

    let leadership = if args.leader_election {
        Leadership::elected(LEASE_RENEW_DEADLINE)
    } else {
        Leadership::always()
    };
    let elector = args.leader_election.then(|| {
        Arc::new(leader::LeaderElector::new(
            client.clone(),
            &args.lease_namespace,
            &args.lease_name,
            leadership.clone(),
        ))
    });
    let mut holding = None;
    if let Some(e) = &elector {
        // A standby is healthy and ready: were it not, a rolling update would wait forever for new pods that
        // cannot become leader while the old one runs. The leader is ready once its caches have synced.
        probes.ready.store(true, Ordering::Relaxed);
        info!(identity = e.identity(), "standing by for leadership");
        let acquired = tokio::select! {
            acquired = e.acquire() => acquired,
            _ = stopped() => return finish(server).await,
        };
        probes.ready.store(false, Ordering::Relaxed);
        // Renewals start at once: nothing below (cache sync, API calls) may delay them past the deadline.
        let e = e.clone();
        holding = Some(tokio::spawn(async move { e.hold(acquired).await }));
    }
    metrics.leader.set(1);

    let ctx = Arc::new(Context {
        client: client.clone(),
        aws: AwsClients::new(
            AwsSettings {
                endpoint_url: args.aws_endpoint_url.clone(),
            },
            metrics.clone(),
        ),
        config: Config {
            default_region: args.region.clone(),
            connection_reverify_interval: args.connection_reverify_interval(),
            cluster_name: cluster_name(&client, &args.cluster_name).await?,
            drift_interval: Duration::from_secs(args.drift_interval.max(1)),
            guardrails: zeroetl_reconciler::guardrails::Guardrails {
                allowed_assume_role_arns: args.allowed_assume_role_arns.clone(),
                allowed_account_ids: args.allowed_account_ids.clone(),
                forbid_source_reboot: args.forbid_source_reboot,
            },
        },
        metrics: metrics.clone(),
        events: Events::new(client.clone(), "zeroetl-operator"),
        backoff: Default::default(),
        leadership,
        shared: Arc::new(zeroetl_reconciler::shared::Shared::for_drift_interval(
            Duration::from_secs(args.drift_interval.max(1)),
        )),
        stores,
        rechecks: Default::default(),
        own_writes: Default::default(),
    });

    tokio::spawn(memory::return_freed_heap(ctx.clone(), stopped()));

    let namespaces: Vec<Option<&str>> = if args.namespaces.is_empty() {
        vec![None]
    } else {
        args.namespaces.iter().map(|n| Some(n.as_str())).collect()
    };
    let mut runs = Vec::new();
    let mut ready = Vec::new();
    let refresh = zeroetl_reconciler::integration::snapshots::Refresh {
        slow: Duration::from_secs(args.aws_refresh_interval.max(1)),
        ..Default::default()
    };
    for ns in namespaces {
        let scope = controllers::Scope {
            namespace: ns.map(str::to_string),
            selector: args.selector.clone(),
            concurrency: args.concurrency,
        };
        for running in [
            controllers::integrations(&client, &scope, ctx.clone(), refresh, stopped()),
            controllers::connections(&client, &scope, ctx.clone(), stopped()),
            controllers::consumers(&client, &scope, ctx.clone(), stopped()),
        ] {
            runs.push(running.run);
            ready.push(running.ready);
        }
    }
    let ready_flag = probes.ready.clone();
    tokio::spawn(async move {
        join_all(ready).await;
        ready_flag.store(true, Ordering::Relaxed);
        info!("watch caches synced; ready");
    });

    let lost_leadership = async {
        match holding.as_mut() {
            Some(hold) => hold.await,
            None => std::future::pending().await,
        }
    };
    let controllers = join_all(runs);
    tokio::pin!(controllers);
    tokio::select! {
        _ = &mut controllers => {}
        end = lost_leadership => {
            // hold() has recorded the loss (and a renewal task that died cannot renew): nothing acts from here.
            ctx.leadership.lost();
            metrics.leader.set(0);
            let reason = end.map_or_else(|e| format!("the renewal task failed: {e}"), |end| end.to_string());
            error!(%reason, "lost leadership; exiting so that a fresh process can campaign again");
            std::process::exit(1);
        }
        _ = stopped() => {
            // The controllers drain in-flight reconciles on the same signal; bound how long that may take.
            if tokio::time::timeout(SHUTDOWN_GRACE, &mut controllers).await.is_err() {
                warn!("in-flight reconciles did not finish within {SHUTDOWN_GRACE:?}; exiting anyway");
            }
        }
    }
    if let Some(e) = &elector {
        // Renewals stop before the release, or they would take the released Lease back.
        if let Some(hold) = &holding {
            hold.abort();
        }
        e.release().await;
        metrics.leader.set(0);
    }
    info!(aws_calls = metrics.aws_calls_total(), "stopped");
    finish(server).await
}

/// `--cluster-name`, or the kube-system namespace's uid: stable for the cluster's life, unique across clusters.
async fn cluster_name(client: &kube::Client, flag: &str) -> anyhow::Result<String> {
    if !flag.is_empty() {
        return Ok(flag.to_string());
    }
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(client.clone());
    let system = namespaces.get("kube-system").await.map_err(|e| {
        anyhow::anyhow!("reading the kube-system namespace for the default --cluster-name: {e}; set --cluster-name")
    })?;
    system
        .metadata
        .uid
        .ok_or_else(|| anyhow::anyhow!("the kube-system namespace has no uid; set --cluster-name"))
}

async fn finish(server: tokio::task::JoinHandle<anyhow::Result<()>>) -> anyhow::Result<()> {
    match tokio::time::timeout(Duration::from_secs(1), server).await {
        Ok(Ok(r)) => r,
        _ => Ok(()),
    }
}
