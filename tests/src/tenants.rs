//! Teams sharing one cluster, one operator and one AWS account, as the ownership tests need them: each team
//! a namespace (a [`TestEnv`]), one operator watching every team's namespace, objects applied, patched and
//! deleted as a team would, and the Events the operator published about them.

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_sim::SimHandle;
use k8s_openapi::api::core::v1::{Event, Namespace};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use serde_json::{json, Value};

use crate::manifests::apply;
use crate::operator::Operator;
use crate::test_env::TestEnv;

/// How long the operator may take to serve /readyz.
const OPERATOR_READY_TIMEOUT: Duration = Duration::from_secs(60);
/// How often [`eventually`] and [`wait_gone`] look again.
const POLL: Duration = Duration::from_millis(200);

/// `count` teams, each with its own namespace `<prefix>-<pid>-<n>`.
pub async fn teams(prefix: &str, count: usize) -> Result<Vec<TestEnv>> {
    let mut envs = Vec::with_capacity(count);
    for _ in 0..count {
        envs.push(TestEnv::new(prefix).await?);
    }
    Ok(envs)
}

/// One operator watching every team's namespace, against `sim`, with `extra_args` (flags), logging into
/// the first team's folder; returns once it serves /readyz.
pub async fn start_operator(
    teams: &[&TestEnv],
    sim: &SimHandle,
    extra_args: &[String],
) -> Result<Operator> {
    let first = teams.first().context("at least one team")?;
    let mut options = first.operator_options(Some(&sim.endpoint()))?;
    options.namespaces = teams.iter().map(|t| t.namespace.clone()).collect();
    options.extra_args = extra_args.to_vec();
    let mut operator = Operator::start(&options)?;
    operator.wait_ready(OPERATOR_READY_TIMEOUT).await?;
    Ok(operator)
}

/// Applies a `kind` of the project named `name` in the team's namespace, with `annotations` (a JSON object,
/// or null).
pub async fn apply_kind(
    team: &TestEnv,
    kind: &str,
    name: &str,
    annotations: Value,
    spec: Value,
) -> Result<DynamicObject> {
    let mut metadata = json!({"name": name});
    if !annotations.is_null() {
        metadata["annotations"] = annotations;
    }
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "zeroetl.dev/v1alpha1", "kind": kind, "metadata": metadata, "spec": spec,
    }))?;
    apply(&team.client, &object, Some(&team.namespace)).await
}

pub async fn apply_integration(team: &TestEnv, name: &str, spec: Value) -> Result<DynamicObject> {
    apply_kind(team, "ZeroEtlIntegration", name, Value::Null, spec).await
}

pub async fn apply_connection(team: &TestEnv, name: &str, spec: Value) -> Result<DynamicObject> {
    apply_kind(team, "RedshiftConnection", name, Value::Null, spec).await
}

/// A JSON merge patch of an object (spec or metadata), as `kubectl patch --type merge` would send.
pub async fn merge_patch(api: &Api<DynamicObject>, name: &str, patch: Value) -> Result<()> {
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .with_context(|| format!("patch {name} with {patch}"))?;
    Ok(())
}

/// Waits until `name` no longer exists; returns how long that took.
pub async fn wait_gone(
    api: &Api<DynamicObject>,
    name: &str,
    timeout: Duration,
) -> Result<Duration> {
    let started = Instant::now();
    loop {
        let Some(object) = api.get_opt(name).await? else {
            return Ok(started.elapsed());
        };
        if started.elapsed() >= timeout {
            bail!(
                "{name} still exists after {timeout:?} (finalizers {:?}); conditions:\n  {}",
                object.metadata.finalizers,
                crate::wait::describe_conditions(&object)
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Deletes `name` and waits until it is gone; returns how long that took.
pub async fn delete_and_wait(
    api: &Api<DynamicObject>,
    name: &str,
    timeout: Duration,
) -> Result<Duration> {
    api.delete(name, &DeleteParams::default()).await?;
    wait_gone(api, name, timeout).await
}

/// Polls `probe` until it returns `Some`, or fails after `timeout` naming `what` and the last thing seen.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<std::result::Result<T, String>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        let last = match probe().await? {
            Ok(value) => return Ok(value),
            Err(last) => last,
        };
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}; last seen: {last}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The owner tags' cluster name the operator uses by default: the kube-system namespace's uid.
pub async fn default_cluster_name(team: &TestEnv) -> Result<String> {
    let namespaces: Api<Namespace> = Api::all(team.client.clone());
    let kube_system = namespaces.get("kube-system").await?;
    kube_system.metadata.uid.context("kube-system has no uid")
}

/// The Events about object `name` in the team's namespace, as `(reason, note)`.
pub async fn events_about(team: &TestEnv, name: &str) -> Result<Vec<(String, String)>> {
    let events: Api<Event> = Api::namespaced(team.client.clone(), &team.namespace);
    Ok(events
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter(|e| e.involved_object.name.as_deref() == Some(name))
        .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
        .collect())
}
