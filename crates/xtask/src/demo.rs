//! `cargo xtask demo [--detach]` / `cargo xtask demo down`: a control plane, aws-sim seeded with the
//! sample estate and the operator, with config/samples applied and awaited until Ready.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use kube::api::{Api, DynamicObject};
use kube::Client;
use zeroetl_e2e::control_plane::{self, ControlPlane, ControlPlaneOptions, DEFAULT_READY_TIMEOUT};
use zeroetl_e2e::crds::{install_crd_files, project_crd_files};
use zeroetl_e2e::kubectl::kubectl;
use zeroetl_e2e::manifests::{apply_file, gvk_of};
use zeroetl_e2e::operator::{Operator, OperatorOptions};
use zeroetl_e2e::paths::{cache_dir, workspace_binary, workspace_root};
use zeroetl_e2e::process::{self, Lifetime, STOP_GRACE};
use zeroetl_e2e::test_env::project_resource;
use zeroetl_e2e::wait::{condition, condition_field, describe_conditions};

use crate::system;
use crate::util::{cargo, run_checked};

/// The sample file that seeds aws-sim; not a Kubernetes manifest.
const ESTATE_FILE: &str = "aws-estate.yaml";

fn demo_dir() -> PathBuf {
    cache_dir().join("demo")
}

fn owner(dir: &Path) -> String {
    format!("demo:{}", dir.display())
}

/// aws-sim as a child process.
struct SimProcess {
    child: Option<Child>,
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = process::stop_child(&mut child, STOP_GRACE);
        }
    }
}

pub async fn run(detach: bool, timeout: Duration) -> Result<()> {
    let dir = demo_dir();
    if !stop_everything(&dir)?.is_empty() {
        eprintln!("stopped the previous demo");
    }
    fs::create_dir_all(&dir)?;
    system::ensure_packages()?;
    let binaries = system::ensure_kube_binaries()?;
    run_checked(cargo().args(["build", "--workspace", "--bins"]))?;

    let lifetime = if detach {
        Lifetime::Detached
    } else {
        Lifetime::Attached
    };
    // Declared first so that, on any failure below, the operator and aws-sim stop before the control plane.
    let mut plane = ControlPlane::start(
        &binaries,
        ControlPlaneOptions {
            dir: dir.join("control-plane"),
            lifetime,
            remove_dir_on_stop: false,
            ready_timeout: DEFAULT_READY_TIMEOUT,
        },
    )
    .await?;
    eprintln!("control plane up at {}", plane.server());
    let (sim, endpoint) = start_sim(&dir, lifetime).await?;
    eprintln!("aws-sim listening on {endpoint}");

    let client = plane.client().await?;
    install_crd_files(&client, &project_crd_files()?).await?;
    let mut options = OperatorOptions::new(
        workspace_binary("zeroetl-operator"),
        plane.kubeconfig_path().to_path_buf(),
        dir.join("operator.log"),
    );
    options.aws_endpoint = Some(endpoint.clone());
    options.lifetime = lifetime;
    options.owner = owner(&dir);
    let mut operator = Operator::start(&options)?;
    if detach {
        process::record_detached(&dir, "zeroetl-operator", operator.pid().unwrap_or_default())?;
    }
    operator.wait_ready(Duration::from_secs(60)).await?;
    eprintln!("operator ready (log: {})", operator.log_file().display());

    let applied = apply_samples(&client).await?;
    wait_all_ready(&client, &applied, timeout).await?;

    println!(
        "{}",
        kubectl(plane.kubeconfig_path(), &["get", "zei,rsc,rscon", "-A"])?
    );
    println!("export KUBECONFIG={}", plane.kubeconfig_path().display());

    if detach {
        operator.detach();
        std::mem::forget(sim);
        plane.detach();
        eprintln!("demo running in the background; stop it with: cargo xtask demo down");
        return Ok(());
    }
    eprintln!("demo running; press Ctrl-C to stop it");
    tokio::signal::ctrl_c().await.context("wait for Ctrl-C")?;
    eprintln!("stopping the demo");
    let (took, status) = operator.sigterm_and_wait(Duration::from_secs(10)).await?;
    eprintln!("operator stopped in {took:?} ({status})");
    drop(sim);
    plane.stop()?;
    eprintln!("demo stopped; no process left");
    Ok(())
}

pub fn down() -> Result<()> {
    let stopped = stop_everything(&demo_dir())?;
    if stopped.is_empty() {
        eprintln!("no demo was running");
    } else {
        eprintln!("stopped {}; no process left", stopped.join(", "));
    }
    Ok(())
}

/// Stops the operator and aws-sim, then the control plane, of a detached demo.
fn stop_everything(dir: &Path) -> Result<Vec<String>> {
    let mut stopped = process::stop_detached(dir, &owner(dir))?;
    stopped.extend(control_plane::stop_detached(&dir.join("control-plane"))?);
    Ok(stopped)
}

/// Starts the aws-sim binary seeded with the sample estate on a free port and waits for its
/// "listening" line.
async fn start_sim(dir: &Path, lifetime: Lifetime) -> Result<(SimProcess, String)> {
    let estate = workspace_root()
        .join("config")
        .join("samples")
        .join(ESTATE_FILE);
    let port = process::free_ports(1)?[0];
    let log = dir.join("aws-sim.log");
    let _ = fs::remove_file(&log);
    let mut command = Command::new(workspace_binary("aws-sim"));
    command
        .arg("--seed")
        .arg(&estate)
        .arg("--port")
        .arg(port.to_string());
    let child = process::spawn_logged(command, &log, &owner(dir), lifetime)?;
    if lifetime == Lifetime::Detached {
        process::record_detached(dir, "aws-sim", child.id())?;
    }
    let mut sim = SimProcess { child: Some(child) };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = fs::read_to_string(&log).unwrap_or_default();
        if let Some(line) = text.lines().find(|l| l.contains("aws-sim listening on")) {
            let endpoint = line
                .split_whitespace()
                .last()
                .unwrap_or_default()
                .to_owned();
            return Ok((sim, endpoint));
        }
        if let Some(status) = sim.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
            bail!(
                "aws-sim exited ({status}):\n{}",
                process::log_tail(&log, 30)
            );
        }
        if Instant::now() >= deadline {
            bail!(
                "aws-sim did not start listening within 30 s:\n{}",
                process::log_tail(&log, 30)
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// An applied sample: kind, namespace, name.
struct Applied {
    kind: String,
    namespace: String,
    name: String,
}

/// Applies config/samples/*.yaml (sorted; the estate file excluded) and returns the project objects.
async fn apply_samples(client: &Client) -> Result<Vec<Applied>> {
    let samples = workspace_root().join("config").join("samples");
    let mut files: Vec<PathBuf> = fs::read_dir(&samples)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml") && !p.ends_with(ESTATE_FILE))
        .collect();
    files.sort();
    let mut applied = Vec::new();
    for file in files {
        for object in apply_file(client, &file, None).await? {
            let kind = gvk_of(&object)?.kind;
            let namespace = object.metadata.namespace.clone().unwrap_or_default();
            let name = object.metadata.name.clone().unwrap_or_default();
            eprintln!("applied {kind} {namespace}/{name}");
            if project_resource(&kind).is_some() {
                applied.push(Applied {
                    kind,
                    namespace,
                    name,
                });
            }
        }
    }
    Ok(applied)
}

/// Waits until every applied sample has Ready=True, printing progress; on timeout prints the conditions of
/// those that are not and fails.
async fn wait_all_ready(client: &Client, applied: &[Applied], timeout: Duration) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut last_report = Instant::now();
    loop {
        let mut not_ready = Vec::new();
        for sample in applied {
            let resource = project_resource(&sample.kind)
                .ok_or_else(|| anyhow::anyhow!("{} is not a project kind", sample.kind))?;
            let api: Api<DynamicObject> =
                Api::namespaced_with(client.clone(), &sample.namespace, &resource);
            let object = api.get_opt(&sample.name).await?;
            let ready = object
                .as_ref()
                .and_then(|o| condition(o, "Ready"))
                .is_some_and(|c| condition_field(&c, "status") == "True");
            if !ready {
                not_ready.push((sample, object));
            }
        }
        if not_ready.is_empty() {
            eprintln!("all {} samples Ready", applied.len());
            return Ok(());
        }
        if Instant::now() >= deadline {
            for (sample, object) in &not_ready {
                let conditions = object
                    .as_ref()
                    .map_or_else(|| "not found".to_owned(), describe_conditions);
                eprintln!(
                    "{} {}/{}:\n  {conditions}",
                    sample.kind, sample.namespace, sample.name
                );
            }
            bail!(
                "{} of {} samples not Ready after {timeout:?}",
                not_ready.len(),
                applied.len()
            );
        }
        if last_report.elapsed() >= Duration::from_secs(5) {
            last_report = Instant::now();
            let waiting: Vec<String> = not_ready
                .iter()
                .map(|(s, o)| {
                    let reason = o
                        .as_ref()
                        .and_then(|o| condition(o, "Ready"))
                        .map(|c| condition_field(&c, "reason"))
                        .unwrap_or_else(|| "no status yet".to_owned());
                    format!("{}/{} ({reason})", s.kind, s.name)
                })
                .collect();
            eprintln!(
                "{}/{} Ready; waiting for {}",
                applied.len() - not_ready.len(),
                applied.len(),
                waiting.join(", ")
            );
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
