//! The fleet benchmark's run: control plane, aws-sim and the release operator up; connections, then the
//! integration ramp, then a steady-state window; the report; everything stopped.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, PostParams};
use kube::Client;
use zeroetl_e2e::control_plane::{self, ControlPlane, ControlPlaneOptions, DEFAULT_READY_TIMEOUT};
use zeroetl_e2e::crds::{install_crd_files, project_crd_files};
use zeroetl_e2e::operator::{Operator, OperatorOptions};
use zeroetl_e2e::paths::{cache_dir, target_dir};
use zeroetl_e2e::process::{self, Lifetime};
use zeroetl_e2e::test_env::{connection_resource, integration_resource};

use super::analysis::{self, Measured, RampTimes, Restart};
use super::estate::{self, FleetShape, NAMESPACE};
use super::fleet::{self, Moment, ReadyWatch};
use super::probes::{self, SimClient};
use super::sim_process::SimProcess;
use super::snapshot::{Phase, Snapshot, Watched};
use super::stats::Counters;
use super::OperatorArgs;
use crate::system;

/// Logs, the generated estate and the (removed on exit) control plane live here.
fn bench_dir() -> PathBuf {
    cache_dir().join("bench")
}

/// The bench's control plane, etcd's data included, lives in memory when the machine has /dev/shm: etcd
/// syncs every write to disk, and on a shared disk that latency moved apply → Ready p50 from 4.0 to 6.0 s
/// between runs of one binary. The bench measures the operator, not the disk.
fn control_plane_dir() -> PathBuf {
    let shm = Path::new("/dev/shm");
    if shm.is_dir() {
        shm.join("zeroetl-bench-control-plane")
    } else {
        bench_dir().join("control-plane")
    }
}

/// The environment marker of the operator and aws-sim started by the bench.
fn owner() -> String {
    format!("bench:{}", bench_dir().display())
}

fn release_binary(name: &str, package: &str) -> Result<PathBuf> {
    let path = target_dir().join("release").join(name);
    if !path.is_file() {
        bail!(
            "{} does not exist: build it with `cargo build --release -p {package}` (or drop --no-build)",
            path.display()
        );
    }
    Ok(path)
}

/// Fails when a process started by a bench is still running.
pub fn check_no_leftovers() -> Result<()> {
    let mut left = process::processes_with_env(process::OWNER_ENV, &owner());
    left.extend(process::processes_with_env(
        process::OWNER_ENV,
        &control_plane::owner_marker(&control_plane_dir()),
    ));
    if !left.is_empty() {
        let list: Vec<String> = left
            .iter()
            .map(|p| format!("{} {}", p.pid, p.command_line))
            .collect();
        bail!("processes left running: {}", list.join("; "));
    }
    Ok(())
}

pub async fn run(args: &OperatorArgs) -> Result<()> {
    let shape = FleetShape {
        integrations: args.n,
        connections: args.connections,
    };
    let dir = bench_dir();
    fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
    // The processes append to their logs; one run's logs only, or repeated runs at 5,000 pile up gigabytes.
    for log in ["operator.log", "aws-sim.log"] {
        match fs::remove_file(dir.join(log)) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("remove the last run's {log}"));
            }
            _ => {}
        }
    }
    system::ensure_packages()?;
    let binaries = system::ensure_kube_binaries()?;
    let operator_binary = match &args.operator_binary {
        Some(path) if path.is_file() => path.clone(),
        Some(path) => bail!("--operator-binary {} does not exist", path.display()),
        None => release_binary("zeroetl-operator", "zeroetl-controller")?,
    };
    let sim_binary = release_binary("aws-sim", "zeroetl-aws-sim")?;
    let load_before = probes::load_average();

    // Declared in start order, so that a failure or Ctrl-C drops (stops) them in reverse.
    let mut plane = ControlPlane::start(
        &binaries,
        ControlPlaneOptions {
            dir: control_plane_dir(),
            lifetime: Lifetime::Attached,
            remove_dir_on_stop: true,
            ready_timeout: DEFAULT_READY_TIMEOUT,
        },
    )
    .await?;
    eprintln!("control plane up at {}", plane.server());

    let estate_file = dir.join("aws-estate.yaml");
    fs::write(
        &estate_file,
        serde_yaml::to_string(&estate::aws_estate(&shape))?,
    )?;
    let sim = SimProcess::start(
        &sim_binary,
        &estate_file,
        &[
            "--integration-create-ms".to_owned(),
            args.create_ms.to_string(),
        ],
        &dir.join("aws-sim.log"),
        &owner(),
    )
    .await?;
    let sim_client = SimClient::new(&sim.endpoint)?;
    eprintln!(
        "aws-sim listening on {} (log {})",
        sim.endpoint,
        dir.join("aws-sim.log").display()
    );
    let transitions_served = sim_client.transitions().await?.is_some();
    if !transitions_served {
        eprintln!(
            "WARNING: this aws-sim has no GET /_sim/integrations/transitions: AWS-active → Ready cannot be \
             measured and the bench will fail at the end"
        );
    }

    let client = plane.client().await?;
    install_crd_files(&client, &project_crd_files()?).await?;
    create_namespace(&client).await?;

    let mut options = OperatorOptions::new(
        operator_binary.clone(),
        plane.kubeconfig_path().to_path_buf(),
        dir.join("operator.log"),
    );
    options.namespaces = vec![NAMESPACE.to_owned()];
    options.aws_endpoint = Some(sim.endpoint.clone());
    options.owner = owner();
    options.extra_args = args.operator_args.clone();
    let mut operator = Operator::start(&options)?;
    operator.wait_ready(Duration::from_secs(120)).await?;
    eprintln!("operator ready (log {})", operator.log_file().display());

    let mut processes = vec![
        (
            "operator".to_owned(),
            operator.pid().context("operator pid")?,
        ),
        ("aws-sim".to_owned(), sim.pid),
    ];
    for found in process::processes_with_env(
        process::OWNER_ENV,
        &control_plane::owner_marker(plane.dir()),
    ) {
        let program = found.command_line.split_whitespace().next().unwrap_or("?");
        let name = program.rsplit('/').next().unwrap_or(program).to_owned();
        processes.push((name, found.pid));
    }
    let watched = Watched {
        operator_pid: operator.pid().context("operator pid")?,
        operator_metrics_url: operator.probe_url("/metrics"),
        processes,
    };
    let watch = ReadyWatch::start(
        &client,
        NAMESPACE,
        &[
            ("ZeroEtlIntegration", integration_resource()),
            ("RedshiftConnection", connection_resource()),
        ],
    )
    .await?;
    let deadline = Duration::from_secs(args.timeout);

    let connections = if shape.connections > 0 {
        eprintln!("\n=== applying {} RedshiftConnections", shape.connections);
        let manifests = (0..shape.connections)
            .map(estate::connection_manifest)
            .collect();
        let before = Snapshot::take(&sim_client, &client, &watched).await?;
        let accepted = fleet::create_all(
            &client,
            NAMESPACE,
            &connection_resource(),
            manifests,
            args.apply_concurrency,
        )
        .await?;
        let keys: Vec<String> = accepted.iter().map(|a| a.key.clone()).collect();
        watch.wait_all_ready(&keys, deadline).await?;
        let after = Snapshot::take(&sim_client, &client, &watched).await?;
        let creates = bench_creates("redshiftconnections", shape.connections);
        Some((
            Phase::between(&before, &after, &creates),
            apply_to_ready(&watch, &accepted),
        ))
    } else {
        None
    };

    eprintln!(
        "\n=== ramp: applying {} ZeroEtlIntegrations, {} creates in flight",
        shape.integrations, args.apply_concurrency
    );
    let manifests = (0..shape.integrations)
        .map(|i| estate::integration_manifest(&shape, i))
        .collect();
    let before = Snapshot::take(&sim_client, &client, &watched).await?;
    let first_create = Moment::now();
    let accepted = fleet::create_all(
        &client,
        NAMESPACE,
        &integration_resource(),
        manifests,
        args.apply_concurrency,
    )
    .await?;
    let last_accept = accepted
        .iter()
        .map(|a| a.at)
        .max_by_key(|m| m.instant)
        .context("no integration was created")?;
    eprintln!(
        "  applied in {:.1} s; waiting for Ready (timeout {}s)",
        last_accept
            .instant
            .duration_since(first_create.instant)
            .as_secs_f64(),
        args.timeout
    );
    let keys: Vec<String> = accepted.iter().map(|a| a.key.clone()).collect();
    let all_ready = watch.wait_all_ready(&keys, deadline).await?;
    let after_ramp = Snapshot::take(&sim_client, &client, &watched).await?;
    let ramp = Phase::between(
        &before,
        &after_ramp,
        &bench_creates("zeroetlintegrations", shape.integrations),
    );
    let transitions = sim_client.transitions().await?;
    let aws_errors = aws_errors_between(
        &sim_client,
        before.aws_calls_total(),
        after_ramp.aws_calls_total(),
    )
    .await;
    eprintln!(
        "  all Ready after {:.1} s",
        all_ready
            .instant
            .duration_since(first_create.instant)
            .as_secs_f64()
    );

    eprintln!(
        "\n=== steady state: observing {} s with nothing changing",
        args.steady_seconds
    );
    let left_ready_before = watch.left_ready();
    // A measurement window, not a wait for a condition: whatever the operator does in it is the result.
    tokio::time::sleep(Duration::from_secs(args.steady_seconds)).await;
    let after_steady = Snapshot::take(&sim_client, &client, &watched).await?;
    let steady = Phase::between(&after_ramp, &after_steady, &Counters::new());
    let after_steady_left_ready = watch.left_ready();
    let sim_memory = probes::sample_process(sim.pid)?;

    let restart = if args.restart {
        Some(
            restart(
                &mut operator,
                &options,
                &watched,
                &sim_client,
                &client,
                &watch,
                args,
            )
            .await?,
        )
    } else {
        None
    };

    let measured = Measured {
        shape,
        args: args.clone(),
        operator_binary,
        load_before,
        connections,
        ramp,
        times: RampTimes {
            first_create,
            last_accept,
            all_ready,
        },
        apply_to_ready: apply_to_ready(&watch, &accepted),
        accept_to_create: analysis::accept_to_create(&accepted, transitions.as_deref()),
        active_to_ready: analysis::active_to_ready(
            |key| watch.first_ready(key),
            transitions.as_deref(),
        ),
        aws_errors,
        steady,
        left_ready: after_steady_left_ready - left_ready_before,
        restart,
        operator_peak_rss: after_steady.operator.peak_rss_bytes,
        operator_idle_rss: after_steady.operator.rss_bytes,
        operator_idle_anon_rss: after_steady.operator.rss_anon_bytes,
        sim_peak_rss: sim_memory.peak_rss_bytes,
        operator_cpu_total: after_steady.operator.cpu_seconds,
        sim_cpu_total: sim_memory.cpu_seconds,
        watch_errors: watch.watch_errors(),
    };
    let (text, outcome) = analysis::report(&measured);
    println!("{text}");

    drop(watch);
    let (took, status) = operator
        .sigterm_and_wait(Duration::from_secs(30))
        .await
        .context("stop the operator")?;
    eprintln!("operator stopped in {took:?} ({status})");
    drop(sim);
    plane.stop()?;
    outcome.map_err(|missing| anyhow::anyhow!("figures missing: {missing}"))
}

/// Stops the operator and starts it again over the Ready fleet, then waits until the new process has passed
/// over every integration once (its `zeroetl_reconciles_total`). Everything from the stop on counts: the new
/// process starts from zero, so its AWS calls and writes are all the restart's.
async fn restart(
    operator: &mut Operator,
    options: &OperatorOptions,
    watched: &Watched,
    sim: &SimClient,
    client: &Client,
    watch: &ReadyWatch,
    args: &OperatorArgs,
) -> Result<Restart> {
    eprintln!("\n=== restart: stopping the operator and starting it again");
    operator
        .sigterm_and_wait(Duration::from_secs(30))
        .await
        .context("stop the operator for the restart")?;
    let left_ready_before = watch.left_ready();
    // No operator in it: the new process's CPU, calls and counters count from its own start.
    let before = Snapshot::without_operator(sim, client, watched).await?;
    *operator = Operator::start(options)?;
    operator.wait_ready(Duration::from_secs(120)).await?;
    let pid = operator.pid().context("operator pid")?;
    let watched = Watched {
        operator_pid: pid,
        operator_metrics_url: operator.probe_url("/metrics"),
        processes: watched
            .processes
            .iter()
            .map(|(name, old)| (name.clone(), if name == "operator" { pid } else { *old }))
            .collect(),
    };
    let started = before.at;
    let integrations = args.n as f64;
    let deadline = Duration::from_secs(args.timeout);
    let passed = loop {
        let counters =
            probes::operator_counters(&probes::http_metrics(&watched.operator_metrics_url).await?);
        let passes: f64 = counters
            .iter()
            .filter(|(series, _)| {
                series.starts_with("zeroetl_reconciles_total{")
                    && series.contains("kind=\"ZeroEtlIntegration\"")
            })
            .map(|(_, n)| n)
            .sum();
        if passes >= integrations {
            break Moment::now();
        }
        if started.instant.elapsed() > deadline {
            bail!(
                "the restarted operator passed {passes:.0} times over {} integrations in {deadline:?}",
                args.n
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let after = Snapshot::take(sim, client, &watched).await?;
    Ok(Restart {
        phase: Phase::between(&before, &after, &Counters::new()),
        every_object_passed: passed.instant.duration_since(started.instant),
        left_ready: watch.left_ready() - left_ready_before,
    })
}

async fn create_namespace(client: &Client) -> Result<()> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let object: Namespace = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": NAMESPACE},
    }))?;
    namespaces
        .create(&PostParams::default(), &object)
        .await
        .with_context(|| format!("create namespace {NAMESPACE}"))?;
    Ok(())
}

/// The bench's own creates of `resource` in the project's group, as the API server's write counters
/// key them, so that they are not taken for the operator's.
fn bench_creates(resource: &str, count: usize) -> Counters {
    [(format!("POST zeroetl.dev/{resource}"), count as f64)].into()
}

fn apply_to_ready(watch: &ReadyWatch, accepted: &[fleet::Accepted]) -> Vec<Duration> {
    accepted
        .iter()
        .filter_map(|a| {
            watch
                .first_ready(&a.key)
                .map(|ready| ready.instant.saturating_duration_since(a.at.instant))
        })
        .collect()
}

/// Failed AWS calls (`service:Action Code` → count) with sequence numbers in `(first, last]`; `Err` says
/// why they cannot be listed.
async fn aws_errors_between(
    sim: &SimClient,
    first: u64,
    last: u64,
) -> Result<BTreeMap<String, u64>, String> {
    let calls = sim.calls().await.map_err(|e| format!("{e:#}"))?;
    if calls.first().is_some_and(|c| c.seq > first + 1) {
        return Err("aws-sim's call log no longer holds the start of the ramp".to_owned());
    }
    let mut errors = BTreeMap::new();
    for call in calls
        .iter()
        .filter(|c| c.seq > first && c.seq <= last && c.status >= 400)
    {
        let code = call
            .error_code
            .clone()
            .unwrap_or_else(|| call.status.to_string());
        *errors
            .entry(format!("{}:{} {code}", call.service, call.action))
            .or_default() += 1;
    }
    Ok(errors)
}
