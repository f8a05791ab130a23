//! kstatus (what Flux and other generic tools read) against the real operator: every state a sample
//! integration and connection pass through, recorded from a watch, computes to InProgress until Ready and to
//! Current from then on; a spec change is InProgress until the operator has observed the new generation; an
//! invalid spec computes to Failed. Argo CD's health scripts are run on the same states and must agree.
//! Also: the GitOps examples under config/samples/gitops parse and point at things that exist.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use futures::StreamExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::runtime::watcher;
use serde_json::{json, Value};
use zeroetl_e2e::argocd_health::{self, require_lua};
use zeroetl_e2e::kstatus::{compute, ready_describes_current_generation, KStatus};
use zeroetl_e2e::kubectl::kubectl_binary;
use zeroetl_e2e::manifests::{apply, load_manifests, parse_manifests};
use zeroetl_e2e::operator::Operator;
use zeroetl_e2e::paths::workspace_root;
use zeroetl_e2e::sim::start_sample_sim;
use zeroetl_e2e::test_env::TestEnv;

const READY_TIMEOUT: Duration = Duration::from_secs(180);
const OPERATOR_READY_TIMEOUT: Duration = Duration::from_secs(60);
const STALLED_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a state the API server already returned may take to arrive through the watch.
const WATCH_LAG_TIMEOUT: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(100);

const INTEGRATION: &str = "orders-to-analytics";
const CONNECTION: &str = "analytics";

/// Every distinct state (by resourceVersion) of the objects of one kind in one namespace, in watch order.
struct Recorder {
    states: Arc<Mutex<Vec<Value>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Recorder {
    fn start(api: Api<DynamicObject>) -> Recorder {
        let states = Arc::new(Mutex::new(Vec::<Value>::new()));
        let sink = states.clone();
        let task = tokio::spawn(async move {
            let mut seen = BTreeSet::new();
            let mut events = watcher(api, watcher::Config::default()).boxed();
            while let Some(event) = events.next().await {
                let object = match event {
                    Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => o,
                    _ => continue,
                };
                let version = object.metadata.resource_version.clone().unwrap_or_default();
                if seen.insert(version) {
                    if let Ok(value) = serde_json::to_value(&object) {
                        sink.lock().expect("recorder lock").push(value);
                    }
                }
            }
        });
        Recorder { states, task }
    }

    fn states_of(&self, name: &str) -> Vec<Value> {
        self.states
            .lock()
            .expect("recorder lock")
            .iter()
            .filter(|s| s.pointer("/metadata/name") == Some(&json!(name)))
            .cloned()
            .collect()
    }

    /// Waits until a recorded state of `name` satisfies `accept`.
    async fn wait_for(
        &self,
        name: &str,
        what: &str,
        timeout: Duration,
        accept: impl Fn(&Value) -> bool,
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            let states = self.states_of(name);
            if states.iter().any(&accept) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{name}: no recorded state is {what} after {timeout:?}; states:\n{}",
                    describe(&states)
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One line per state: generation, observedGeneration, kstatus and the summary conditions.
fn describe(states: &[Value]) -> String {
    states
        .iter()
        .map(|s| {
            let conditions: Vec<String> = s
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|c| {
                    ["Ready", "Reconciling", "Stalled"].contains(&c["type"].as_str().unwrap_or(""))
                })
                .map(|c| {
                    format!(
                        "{}={}({}) og={}",
                        c["type"], c["status"], c["reason"], c["observedGeneration"]
                    )
                })
                .collect();
            format!(
                "  gen={} observed={} → {:?}: {}",
                s["metadata"]["generation"],
                s.pointer("/status/observedGeneration")
                    .unwrap_or(&Value::Null),
                compute(s).status,
                conditions.join(" ")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_current(state: &Value) -> bool {
    compute(state).status == KStatus::Current && ready_describes_current_generation(state)
}

fn generation(state: &Value) -> Option<i64> {
    state
        .pointer("/metadata/generation")
        .and_then(Value::as_i64)
}

/// The Argo CD health that matches a kstatus result for our kinds; states without any status are
/// Progressing for Argo CD (its script waits for the operator), while kstatus calls them Current.
fn argo_health_for(state: &Value) -> &'static str {
    if state.get("status").is_none() {
        return "Progressing";
    }
    match compute(state).status {
        KStatus::Current => "Healthy",
        KStatus::InProgress | KStatus::Terminating => "Progressing",
        KStatus::Failed => "Degraded",
    }
}

/// Checks the states of one object from creation to its first Current: states before the operator's first
/// status write (no status: kstatus's fallback rule calls them Current, see docs/gitops.md), then only
/// InProgress until the first Current, then only Current. Returns how many InProgress states there were.
fn check_until_ready(kind: &str, states: &[Value]) -> Result<usize> {
    let first_reported = states
        .iter()
        .position(|s| s.get("status").is_some())
        .with_context(|| {
            format!(
                "{kind}: the operator never wrote a status:\n{}",
                describe(states)
            )
        })?;
    ensure!(
        states[first_reported..]
            .iter()
            .all(|s| s.get("status").is_some()),
        "{kind}: the status disappeared again:\n{}",
        describe(states)
    );
    let first_current = states
        .iter()
        .skip(first_reported)
        .position(is_current)
        .map(|n| n + first_reported)
        .with_context(|| format!("{kind}: never Current:\n{}", describe(states)))?;
    let mut in_progress = 0;
    for state in &states[first_reported..first_current] {
        ensure!(
            compute(state).status == KStatus::InProgress,
            "{kind}: a state before Ready computes to {:?}, not InProgress:\n{}",
            compute(state),
            describe(states)
        );
        in_progress += 1;
    }
    for state in &states[first_current..] {
        ensure!(
            is_current(state),
            "{kind}: after Ready a state computes to {:?} (or Ready lacks the generation):\n{}",
            compute(state),
            describe(states)
        );
    }
    check_argo_agrees(kind, states)?;
    Ok(in_progress)
}

/// Argo CD's health script gives the health that matches kstatus on every recorded state.
fn check_argo_agrees(kind: &str, states: &[Value]) -> Result<()> {
    for state in states {
        let health = argocd_health::evaluate(kind, state)?;
        ensure!(
            health.status == argo_health_for(state),
            "{kind}: Argo CD says {health:?} where kstatus says {:?}:\n{}",
            compute(state),
            describe(std::slice::from_ref(state))
        );
    }
    Ok(())
}

async fn start_operator(env: &TestEnv, sim: &aws_sim::SimHandle) -> Result<Operator> {
    let mut operator = Operator::start(&env.operator_options(Some(&sim.endpoint()))?)?;
    operator.wait_ready(OPERATOR_READY_TIMEOUT).await?;
    Ok(operator)
}

async fn wait_current(
    recorder: &Recorder,
    api: &Api<DynamicObject>,
    name: &str,
    generation_wanted: i64,
) -> Result<()> {
    let what = format!("Current at generation {generation_wanted}");
    zeroetl_e2e::wait::wait_for(api, name, &what, READY_TIMEOUT, |o| {
        serde_json::to_value(o)
            .is_ok_and(|v| is_current(&v) && generation(&v) == Some(generation_wanted))
    })
    .await?;
    recorder
        .wait_for(name, &what, WATCH_LAG_TIMEOUT, |v| {
            is_current(v) && generation(v) == Some(generation_wanted)
        })
        .await
}

#[tokio::test]
async fn samples_are_in_progress_until_ready_and_a_spec_change_until_observed() -> Result<()> {
    require_lua()?;
    let env = TestEnv::new("kstatus").await?;
    let sim = start_sample_sim().await?;
    let _operator = start_operator(&env, &sim).await?;
    let (integrations, connections) = (env.integrations(), env.connections());
    let integration_states = Recorder::start(integrations.clone());
    let connection_states = Recorder::start(connections.clone());

    let samples = workspace_root().join("config/samples");
    for file in [
        "zeroetl_v1alpha1_redshiftconnection.yaml",
        "zeroetl_v1alpha1_zeroetlintegration.yaml",
    ] {
        for object in load_manifests(&samples.join(file))? {
            apply(&env.client, &object, Some(&env.namespace)).await?;
        }
    }
    wait_current(&connection_states, &connections, CONNECTION, 1).await?;
    wait_current(&integration_states, &integrations, INTEGRATION, 1).await?;

    let connection_in_progress = check_until_ready(
        "RedshiftConnection",
        &connection_states.states_of(CONNECTION),
    )?;
    let integration_in_progress = check_until_ready(
        "ZeroEtlIntegration",
        &integration_states.states_of(INTEGRATION),
    )?;
    eprintln!(
        "InProgress states before Current: connection {connection_in_progress}, integration {integration_in_progress}\n\
         connection:\n{}\nintegration:\n{}",
        describe(&connection_states.states_of(CONNECTION)),
        describe(&integration_states.states_of(INTEGRATION))
    );
    ensure!(
        integration_in_progress > 0,
        "the integration was never reported InProgress on its way to Ready:\n{}",
        describe(&integration_states.states_of(INTEGRATION))
    );

    // A spec change: InProgress from the moment the generation moves until the operator has observed it.
    let params = PatchParams::default();
    integrations
        .patch(
            INTEGRATION,
            &params,
            &Patch::Merge(json!({"spec": {"description": "Orders, edited"}})),
        )
        .await?;
    connections
        .patch(
            CONNECTION,
            &params,
            &Patch::Merge(json!({"spec": {"ssl": "verifyFull"}})),
        )
        .await?;
    wait_current(&connection_states, &connections, CONNECTION, 2).await?;
    wait_current(&integration_states, &integrations, INTEGRATION, 2).await?;
    for (kind, states) in [
        (
            "RedshiftConnection",
            connection_states.states_of(CONNECTION),
        ),
        (
            "ZeroEtlIntegration",
            integration_states.states_of(INTEGRATION),
        ),
    ] {
        let edited: Vec<Value> = states
            .into_iter()
            .filter(|s| generation(s) == Some(2))
            .collect();
        let unobserved = edited
            .iter()
            .filter(|s| s.pointer("/status/observedGeneration") != Some(&json!(2)))
            .count();
        ensure!(
            unobserved > 0,
            "{kind}: no state showed generation 2 before the operator observed it:\n{}",
            describe(&edited)
        );
        let in_progress = check_until_ready(kind, &edited)?;
        ensure!(
            in_progress >= unobserved,
            "{kind}: an unobserved generation computed to something else than InProgress:\n{}",
            describe(&edited)
        );
    }
    Ok(())
}

#[tokio::test]
async fn invalid_specs_compute_to_failed() -> Result<()> {
    require_lua()?;
    let env = TestEnv::new("kstatus-invalid").await?;
    let sim = start_sample_sim().await?;
    let _operator = start_operator(&env, &sim).await?;
    let (integrations, connections) = (env.integrations(), env.connections());
    let integration_states = Recorder::start(integrations.clone());
    let connection_states = Recorder::start(connections.clone());

    // Both pass the schema of a 1.20 API server, which drops CEL rules; the operator refuses them.
    let invalid = parse_manifests(
        r#"
apiVersion: zeroetl.dev/v1alpha1
kind: ZeroEtlIntegration
metadata: {name: context-without-key}
spec:
  source: {dbClusterIdentifier: orders-aurora}
  target: {connectionRef: {name: warehouse}}
  additionalEncryptionContext: {team: data}
---
apiVersion: zeroetl.dev/v1alpha1
kind: RedshiftConnection
metadata: {name: warehouse}
spec:
  region: us-east-1
  provisioned: {clusterIdentifier: warehouse--ra3}
  database: dev
"#,
    )?;
    for object in &invalid {
        apply(&env.client, object, Some(&env.namespace)).await?;
    }
    for (kind, recorder, name, field) in [
        (
            "ZeroEtlIntegration",
            &integration_states,
            "context-without-key",
            "spec.additionalEncryptionContext",
        ),
        (
            "RedshiftConnection",
            &connection_states,
            "warehouse",
            "spec.provisioned.clusterIdentifier",
        ),
    ] {
        recorder
            .wait_for(name, "Failed", STALLED_TIMEOUT, |s| {
                compute(s).status == KStatus::Failed
            })
            .await?;
        let states = recorder.states_of(name);
        for state in &states {
            let status = compute(state).status;
            ensure!(
                status != KStatus::Current || state.get("status").is_none(),
                "{kind} {name}: an invalid object computed to Current:\n{}",
                describe(&states)
            );
        }
        let failed = states
            .iter()
            .find(|s| compute(s).status == KStatus::Failed)
            .expect("waited for it");
        let computed = compute(failed);
        ensure!(
            computed.message.contains(field),
            "{kind} {name}: the Failed message does not name {field}: {}",
            computed.message
        );
        let stalled = failed["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "Stalled")
            .context("no Stalled condition")?;
        ensure!(
            stalled["reason"] == "InvalidSpec",
            "Stalled reason {}",
            stalled["reason"]
        );
        check_argo_agrees(kind, &states)?;
    }
    ensure!(
        sim.mutating_calls() == 0,
        "invalid objects changed AWS: {:?}",
        sim.calls()
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// The GitOps examples (no Argo CD or Flux here): they parse, and everything they name exists.
// ---------------------------------------------------------------------------------------------------------

fn gitops_objects() -> Result<BTreeMap<String, Vec<Value>>> {
    let dir = workspace_root().join("config/samples/gitops");
    let mut files = Vec::new();
    let mut pending = vec![dir.clone()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                files.push(path);
            }
        }
    }
    let mut objects = BTreeMap::new();
    for file in files {
        let name = file.strip_prefix(&dir)?.display().to_string();
        let parsed = load_manifests(&file)?;
        let values: Vec<Value> = parsed
            .iter()
            .map(serde_json::to_value)
            .collect::<Result<_, _>>()?;
        ensure!(!values.is_empty(), "{name} holds no object");
        objects.insert(name, values);
    }
    Ok(objects)
}

fn find<'a>(
    objects: &'a BTreeMap<String, Vec<Value>>,
    kind: &str,
    name: &str,
) -> Result<&'a Value> {
    objects
        .values()
        .flatten()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .with_context(|| format!("no {kind} {name} in config/samples/gitops"))
}

fn existing_dir(path: &str) -> Result<std::path::PathBuf> {
    let dir = workspace_root().join(path.trim_start_matches("./"));
    ensure!(dir.is_dir(), "{path} is not a folder of the repository");
    Ok(dir)
}

fn chart_name(dir: &Path) -> Result<String> {
    let chart: Value = serde_yaml::from_str(&std::fs::read_to_string(dir.join("Chart.yaml"))?)?;
    chart["name"]
        .as_str()
        .map(str::to_string)
        .context("Chart.yaml has no name")
}

fn sync_wave(app: &Value) -> Result<i64> {
    app.pointer("/metadata/annotations/argocd.argoproj.io~1sync-wave")
        .and_then(Value::as_str)
        .context("no sync-wave annotation")?
        .parse()
        .context("sync-wave is not a number")
}

/// The objects `kubectl kustomize` builds from `dir` the way Flux's kustomize-controller does.
fn kustomize_like_flux(dir: &Path) -> Result<Vec<Value>> {
    let out = std::process::Command::new(kubectl_binary()?)
        .args(["kustomize", "--load-restrictor=LoadRestrictionsNone"])
        .arg(dir)
        .output()?;
    ensure!(
        out.status.success(),
        "kubectl kustomize {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    parse_manifests(&String::from_utf8(out.stdout)?)?
        .iter()
        .map(|o| Ok(serde_json::to_value(o)?))
        .collect()
}

#[test]
fn argocd_examples_install_the_chart_before_the_team_objects() -> Result<()> {
    let objects = gitops_objects()?;
    let root = find(&objects, "Application", "zeroetl")?;
    existing_dir(
        root["spec"]["source"]["path"]
            .as_str()
            .context("root path")?,
    )?;

    let operator = find(&objects, "Application", "zeroetl-operator")?;
    let chart_dir = existing_dir(
        operator["spec"]["source"]["path"]
            .as_str()
            .context("path")?,
    )?;
    ensure!(chart_name(&chart_dir)? == "zeroetl-operator");
    ensure!(
        operator.pointer("/spec/source/helm").is_some(),
        "the operator Application is not a Helm source"
    );

    let team = find(&objects, "Application", "zeroetl-team-integrations")?;
    let team_dir = existing_dir(team["spec"]["source"]["path"].as_str().context("path")?)?;
    let include = team
        .pointer("/spec/source/directory/include")
        .and_then(Value::as_str)
        .context("the team Application has no directory.include")?;
    let (prefix, suffix) = include.split_once('*').context("include is not a * glob")?;
    let mut kinds = BTreeSet::new();
    for entry in std::fs::read_dir(&team_dir)? {
        let file = entry?.file_name().to_string_lossy().to_string();
        if file.starts_with(prefix) && file.ends_with(suffix) {
            for object in load_manifests(&team_dir.join(&file))? {
                let types = object.types.context("no apiVersion")?;
                ensure!(
                    types.api_version == "zeroetl.dev/v1alpha1",
                    "{file} is a {}",
                    types.api_version
                );
                kinds.insert(types.kind);
            }
        }
    }
    ensure!(
        kinds
            == BTreeSet::from([
                "RedshiftConnection".to_string(),
                "RedshiftConsumer".to_string(),
                "ZeroEtlIntegration".to_string()
            ]),
        "the team Application includes {kinds:?}"
    );
    ensure!(
        sync_wave(operator)? < sync_wave(team)?,
        "the operator must sync in an earlier wave"
    );
    // The two children live in the folder the root Application syncs.
    for (file, values) in &objects {
        if values
            .iter()
            .any(|o| o["metadata"]["name"] == "zeroetl-operator" && o["kind"] == "Application")
        {
            ensure!(
                file.starts_with("argocd/apps/"),
                "{file} is outside the root Application's path"
            );
        }
    }
    Ok(())
}

#[test]
fn flux_examples_replace_crds_and_check_our_kinds() -> Result<()> {
    let objects = gitops_objects()?;
    let source = find(&objects, "GitRepository", "zeroetl-operator")?;
    ensure!(source["apiVersion"] == "source.toolkit.fluxcd.io/v1");

    let release = find(&objects, "HelmRelease", "zeroetl-operator")?;
    let chart = &release["spec"]["chart"]["spec"];
    ensure!(
        chart_name(&existing_dir(chart["chart"].as_str().context("chart")?)?)?
            == "zeroetl-operator"
    );
    ensure!(
        chart["sourceRef"]["name"] == source["metadata"]["name"]
            && chart["sourceRef"]["kind"] == "GitRepository"
    );
    for phase in ["install", "upgrade"] {
        ensure!(
            release["spec"][phase]["crds"] == "CreateReplace",
            "{phase}.crds is not CreateReplace"
        );
    }

    let operator = find(&objects, "Kustomization", "zeroetl-operator")?;
    let operator_dir = existing_dir(operator["spec"]["path"].as_str().context("path")?)?;
    ensure!(
        operator["spec"]["wait"] == true,
        "the operator Kustomization does not wait for the release"
    );
    ensure!(
        load_manifests(&operator_dir.join("helmrelease.yaml"))?.len() == 1,
        "the operator Kustomization's folder does not hold the HelmRelease"
    );

    let team = find(&objects, "Kustomization", "zeroetl-team-integrations")?;
    ensure!(
        team["spec"]["dependsOn"][0]["name"] == operator["metadata"]["name"],
        "the team does not wait for the operator"
    );
    for kustomization in [operator, team] {
        ensure!(kustomization["spec"]["sourceRef"]["name"] == source["metadata"]["name"]);
    }
    let built = kustomize_like_flux(&existing_dir(
        team["spec"]["path"].as_str().context("path")?,
    )?)?;
    let built_names: BTreeSet<(String, String)> = built
        .iter()
        .map(|o| {
            (
                o["kind"].as_str().unwrap_or("").to_string(),
                o["metadata"]["name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let checked: BTreeSet<(String, String)> = team["spec"]["healthChecks"]
        .as_array()
        .context("no healthChecks")?
        .iter()
        .map(|c| {
            (
                c["kind"].as_str().unwrap_or("").to_string(),
                c["name"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    ensure!(
        checked == built_names,
        "healthChecks {checked:?} are not the objects the team folder builds {built_names:?}"
    );
    for check in team["spec"]["healthChecks"]
        .as_array()
        .into_iter()
        .flatten()
    {
        ensure!(
            check["apiVersion"] == "zeroetl.dev/v1alpha1"
                && check["namespace"] == team["spec"]["targetNamespace"]
        );
    }
    let expression_kinds: BTreeSet<&str> = team["spec"]["healthCheckExprs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["kind"].as_str())
        .collect();
    ensure!(
        expression_kinds
            == BTreeSet::from([
                "RedshiftConnection",
                "RedshiftConsumer",
                "ZeroEtlIntegration"
            ])
    );
    Ok(())
}
