//! ZeroEtlIntegration over its life, against the real operator binary (issue #4): in-place edits keep the
//! ARN, an immutable edit stalls without touching AWS, Retain leaves the integration in AWS, a failed
//! integration shows the AWS code, and an operator killed right after CreateIntegration never makes two.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use aws_sim::{Fault, FaultKind, SimHandle};
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams};
use serde_json::{json, Value};
use zeroetl_e2e::manifests::apply;
use zeroetl_e2e::operator::Operator;
use zeroetl_e2e::sim::start_sample_sim;
use zeroetl_e2e::test_env::TestEnv;
use zeroetl_e2e::wait::{condition, condition_field, wait_for, wait_for_condition};

const READY_TIMEOUT: Duration = Duration::from_secs(120);
const OPERATOR_READY_TIMEOUT: Duration = Duration::from_secs(60);
const NAME: &str = "orders-to-analytics";

async fn start_operator(env: &TestEnv, sim: &SimHandle, log: &str) -> Result<Operator> {
    let mut options = env.operator_options(Some(&sim.endpoint()))?;
    options.log_file = env.dir().join(log);
    let mut operator = Operator::start(&options)?;
    operator.wait_ready(OPERATOR_READY_TIMEOUT).await?;
    Ok(operator)
}

async fn apply_kind(env: &TestEnv, kind: &str, name: &str, spec: Value) -> Result<DynamicObject> {
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "zeroetl.dev/v1alpha1", "kind": kind, "metadata": {"name": name}, "spec": spec,
    }))?;
    apply(&env.client, &object, Some(&env.namespace)).await
}

/// The sample connection and an integration into it, applied.
async fn apply_pair(env: &TestEnv, deletion_policy: &str) -> Result<()> {
    let connection = json!({"region": "us-east-1", "serverless": {"workgroupName": "analytics-wg"}, "database": "dev", "caseSensitiveIdentifiers": "Fix"});
    apply_kind(env, "RedshiftConnection", "analytics", connection).await?;
    let integration = json!({
        "source": {"dbClusterIdentifier": "orders-aurora"},
        "target": {"connectionRef": {"name": "analytics"}},
        "dataFilter": "include: orders.*",
        "prerequisites": {"source": "Fix", "allowSourceReboot": true, "target": "Fix"},
        "destinationDatabase": {"name": "orders"},
        "deletionPolicy": deletion_policy,
    });
    apply_kind(env, "ZeroEtlIntegration", NAME, integration).await?;
    Ok(())
}

fn integrations_in_aws(sim: &SimHandle) -> Vec<Value> {
    let r = &sim.state_json()["accounts"]["111111111111"]["regions"]["us-east-1"]["integrations"];
    r.as_object()
        .map(|m| m.values().cloned().collect())
        .unwrap_or_default()
}

fn field(v: &Value, camel: &str) -> String {
    v[camel].as_str().unwrap_or_default().to_string()
}

fn status_arn(obj: &DynamicObject) -> String {
    obj.data
        .pointer("/status/integrationArn")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

async fn merge_patch(env: &TestEnv, patch: Value) -> Result<()> {
    env.integrations()
        .patch(NAME, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn edits_in_place_refuses_immutable_changes_and_retain_keeps_the_integration() -> Result<()> {
    let env = TestEnv::new("zei-life").await?;
    let sim = start_sample_sim().await?;
    let _operator = start_operator(&env, &sim, "operator.log").await?;
    apply_pair(&env, "Retain").await?;
    let api = env.integrations();
    let ready = wait_for_condition(&api, NAME, "Ready", "True", READY_TIMEOUT).await?;
    let arn = status_arn(&ready);
    ensure!(!arn.is_empty(), "status.integrationArn is set");

    // A data-filter edit is applied in place: ModifyIntegration, same ARN, still one integration.
    merge_patch(
        &env,
        json!({"spec": {"dataFilter": "include: orders.orders"}}),
    )
    .await?;
    let edited = wait_for(
        &api,
        NAME,
        "the filter edit applied and Ready",
        READY_TIMEOUT,
        |o| {
            o.data
                .pointer("/status/observedGeneration")
                .and_then(Value::as_i64)
                == o.metadata.generation
                && condition(o, "Ready").is_some_and(|c| condition_field(&c, "status") == "True")
        },
    )
    .await?;
    ensure!(
        status_arn(&edited) == arn,
        "the ARN changed after an in-place edit"
    );
    let in_aws = integrations_in_aws(&sim);
    ensure!(
        in_aws.len() == 1,
        "expected one integration, found {}",
        in_aws.len()
    );
    ensure!(
        field(&in_aws[0], "dataFilter") == "include: orders.orders",
        "filter in AWS: {}",
        in_aws[0]
    );
    ensure!(
        sim.counts()
            .get("rds:ModifyIntegration")
            .copied()
            .unwrap_or(0)
            >= 1,
        "no ModifyIntegration call"
    );

    // A source edit asks for another integration: Stalled, and nothing changes in AWS.
    let mutating_before = sim.mutating_calls();
    merge_patch(
        &env,
        json!({"spec": {"source": {"dbClusterIdentifier": "billing-aurora-pg"}}}),
    )
    .await?;
    let stalled = wait_for_condition(&api, NAME, "Stalled", "True", READY_TIMEOUT).await?;
    let reason = condition(&stalled, "Stalled")
        .map(|c| condition_field(&c, "reason"))
        .unwrap_or_default();
    ensure!(reason == "ImmutableFieldChanged", "Stalled reason {reason}");
    ensure!(
        sim.mutating_calls() == mutating_before,
        "an immutable edit caused a mutating AWS call"
    );

    // Retain: the object goes, the integration stays.
    api.delete(NAME, &DeleteParams::default()).await?;
    let deadline = Instant::now() + READY_TIMEOUT;
    while api.get_opt(NAME).await?.is_some() {
        ensure!(Instant::now() < deadline, "the object was not released");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    ensure!(
        integrations_in_aws(&sim).len() == 1,
        "Retain must leave the integration in AWS"
    );
    ensure!(
        !sim.counts().contains_key("rds:DeleteIntegration"),
        "Retain must not call DeleteIntegration"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_integration_is_not_ready_with_the_aws_error_code() -> Result<()> {
    let env = TestEnv::new("zei-failed").await?;
    let sim = start_sample_sim().await?;
    let _operator = start_operator(&env, &sim, "operator.log").await?;
    apply_pair(&env, "Delete").await?;
    let api = env.integrations();
    let ready = wait_for_condition(&api, NAME, "Ready", "True", READY_TIMEOUT).await?;
    sim.set_integration_status(
        &status_arn(&ready),
        "failed",
        vec![(
            "IntegrationSourceUnavailable".into(),
            "the source cluster is unreachable".into(),
        )],
    )?;
    // A Ready integration is rechecked every few minutes; an annotation makes the operator look now.
    merge_patch(
        &env,
        json!({"metadata": {"annotations": {"e2e/poke": "1"}}}),
    )
    .await?;
    let failed = wait_for_condition(&api, NAME, "Ready", "False", READY_TIMEOUT).await?;
    let reason = condition(&failed, "Ready")
        .map(|c| condition_field(&c, "reason"))
        .unwrap_or_default();
    ensure!(
        reason == "IntegrationSourceUnavailable",
        "Ready reason {reason}"
    );
    let state = failed
        .data
        .pointer("/status/state")
        .and_then(Value::as_str)
        .unwrap_or_default();
    ensure!(state == "failed", "status.state {state}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_operator_killed_after_create_integration_never_makes_a_second_one() -> Result<()> {
    let env = TestEnv::new("zei-crash").await?;
    let sim = start_sample_sim().await?;
    // AWS creates the integration but the operator never hears back; then the operator dies (kill -9).
    sim.inject(Fault::new("rds:CreateIntegration", FaultKind::DropResponse).times(1));
    let first = start_operator(&env, &sim, "first.log").await?;
    apply_pair(&env, "Delete").await?;
    let deadline = Instant::now() + READY_TIMEOUT;
    while sim
        .counts()
        .get("rds:CreateIntegration")
        .copied()
        .unwrap_or(0)
        == 0
    {
        if Instant::now() >= deadline {
            bail!("CreateIntegration was never called:\n{}", first.logs());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pid = first.pid().context("the first operator runs")?;
    let killed = std::process::Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()?;
    ensure!(killed.success(), "kill -9 failed");
    drop(first);

    let _second = start_operator(&env, &sim, "second.log").await?;
    wait_for_condition(&env.integrations(), NAME, "Ready", "True", READY_TIMEOUT).await?;
    let in_aws = integrations_in_aws(&sim);
    ensure!(
        in_aws.len() == 1,
        "expected exactly one integration after the crash, found {}",
        in_aws.len()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn rds_postgresql_into_a_provisioned_connection_creates_the_database_from_the_source_database(
) -> Result<()> {
    const WAREHOUSE_NS: &str =
        "arn:aws:redshift:us-east-1:111111111111:namespace:8d2e4f6a-0b1c-4d3e-8f5a-6b7c8d9e0f02";
    let env = TestEnv::new("zei-pg").await?;
    let sim = start_sample_sim().await?;
    let _operator = start_operator(&env, &sim, "operator.log").await?;
    let connection = json!({"region": "us-east-1", "provisioned": {"clusterIdentifier": "warehouse-ra3"}, "database": "dev", "auth": {"dbUser": "zeroetl"}});
    apply_kind(&env, "RedshiftConnection", "warehouse", connection).await?;
    let integration = json!({
        "source": {"dbInstanceIdentifier": "accounts-postgres"},
        "target": {"connectionRef": {"name": "warehouse"}},
        "dataFilter": "include: accounts.public.*",
        "destinationDatabase": {"name": "accounts", "sourceDatabase": "accounts"},
    });
    apply_kind(
        &env,
        "ZeroEtlIntegration",
        "accounts-to-warehouse",
        integration,
    )
    .await?;
    let ready = wait_for_condition(
        &env.integrations(),
        "accounts-to-warehouse",
        "Ready",
        "True",
        READY_TIMEOUT,
    )
    .await?;
    let target = ready
        .data
        .pointer("/status/targetArn")
        .and_then(Value::as_str)
        .unwrap_or_default();
    ensure!(target == WAREHOUSE_NS, "status.targetArn {target}");
    let r = &sim.state_json()["accounts"]["111111111111"]["regions"]["us-east-1"];
    ensure!(
        r["databases"][WAREHOUSE_NS] == json!(["accounts"]),
        "databases: {}",
        r["databases"]
    );
    ensure!(integrations_in_aws(&sim).len() == 1, "one integration");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn half_of_all_aws_calls_throttled_still_reaches_ready() -> Result<()> {
    let env = TestEnv::new("zei-throttle").await?;
    let sim = start_sample_sim().await?;
    sim.inject(Fault::new("*", FaultKind::Throttle).with_rate(0.5));
    let _operator = start_operator(&env, &sim, "operator.log").await?;
    let started = Instant::now();
    apply_pair(&env, "Delete").await?;
    // Generous: throttled calls back off, and this runs beside the rest of the suite on two cores.
    wait_for_condition(
        &env.integrations(),
        NAME,
        "Ready",
        "True",
        Duration::from_secs(240),
    )
    .await?;
    let throttled = sim
        .calls()
        .iter()
        .filter(|c| {
            c.error_code
                .as_deref()
                .is_some_and(|c| c.starts_with("Throttling"))
        })
        .count();
    eprintln!(
        "Ready after {:?} with {throttled} throttled calls",
        started.elapsed()
    );
    ensure!(throttled > 0, "the fault was injected");
    ensure!(
        integrations_in_aws(&sim).len() == 1,
        "exactly one integration"
    );
    Ok(())
}
