//! A status that must shrink is written (issue: 422 on clearing `status.createdWith`): an integration with
//! `prerequisites.target: Verify` is Ready; then, by hand in AWS, the target's resource policy is removed and
//! the integration deleted. The operator may not put the grant back (Verify), so it cannot recreate the
//! integration, and its next pass must say exactly that: IntegrationActive=False, TargetReady=False naming
//! the missing grant, no integration ARN — and not one status write refused by the API server.

use std::time::Duration;

use anyhow::{ensure, Result};
use aws_sim::SimHandle;
use kube::api::{DynamicObject, Patch, PatchParams};
use serde_json::{json, Value};
use zeroetl_e2e::by_hand;
use zeroetl_e2e::manifests::apply;
use zeroetl_e2e::operator::Operator;
use zeroetl_e2e::sim::start_sample_sim;
use zeroetl_e2e::test_env::TestEnv;
use zeroetl_e2e::wait::{condition, condition_field, describe_conditions, wait_for};

const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// One pass, triggered by a touch of the object: it takes well under a second; leave room for a busy machine.
const ONE_PASS: Duration = Duration::from_secs(20);
const NAME: &str = "arn-source";
const ANALYTICS_NS: &str = "arn:aws:redshift-serverless:us-east-1:111111111111:namespace/3f1c2a9e-5b7d-4e21-9c3a-1a2b3c4d5e01";

async fn start_operator(env: &TestEnv, sim: &SimHandle) -> Result<Operator> {
    let mut operator = Operator::start(&env.operator_options(Some(&sim.endpoint()))?)?;
    operator.wait_ready(Duration::from_secs(60)).await?;
    Ok(operator)
}

fn is(obj: &DynamicObject, type_: &str, status: &str) -> bool {
    condition(obj, type_).is_some_and(|c| condition_field(&c, "status") == status)
}

fn current(obj: &DynamicObject) -> bool {
    obj.data
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64)
        == obj.metadata.generation
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vanished_integration_with_its_grant_removed_ends_in_an_honest_status() -> Result<()> {
    let env = TestEnv::new("honest").await?;
    let sim = start_sample_sim().await?;
    let operator = start_operator(&env, &sim).await?;
    let api = env.integrations();
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "zeroetl.dev/v1alpha1", "kind": "ZeroEtlIntegration", "metadata": {"name": NAME},
        "spec": {
            "source": {"arn": "arn:aws:rds:us-east-1:111111111111:cluster:billing-aurora-pg"},
            "target": {"namespaceArn": ANALYTICS_NS},
            "prerequisites": {"source": "Verify", "target": "Fix"},
        },
    }))?;
    apply(&env.client, &object, Some(&env.namespace)).await?;
    wait_for(&api, NAME, "Ready", READY_TIMEOUT, |o| {
        is(o, "Ready", "True")
    })
    .await?;

    // Verify from now on: the grant the operator added stays, but it may not add it again.
    api.patch(
        NAME,
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"prerequisites": {"target": "Verify"}}})),
    )
    .await?;
    let ready = wait_for(&api, NAME, "Ready under Verify", READY_TIMEOUT, |o| {
        current(o) && is(o, "Ready", "True")
    })
    .await?;
    let arn = ready.data["status"]["integrationArn"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    ensure!(!arn.is_empty() && ready.data["status"]["createdWith"].is_object());

    // By hand: the grant goes, then the integration.
    by_hand::redshift(&sim)
        .await
        .delete_resource_policy()
        .resource_arn(ANALYTICS_NS)
        .send()
        .await?;
    by_hand::rds(&sim)
        .await
        .delete_integration()
        .integration_identifier(&arn)
        .send()
        .await?;
    let gone = || {
        sim.state_json()["accounts"]["111111111111"]["regions"]["us-east-1"]["integrations"]
            .as_object()
            .is_none_or(|m| m.is_empty())
    };
    let until = std::time::Instant::now() + READY_TIMEOUT;
    while !gone() {
        ensure!(
            std::time::Instant::now() < until,
            "AWS never finished deleting {arn}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mutating_before = sim.mutating_calls();

    // One pass, nudged by an annotation (the Ready recheck would come only after minutes).
    api.patch(
        NAME,
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"annotations": {"e2e.zeroetl.dev/nudge": "1"}}})),
    )
    .await?;
    let honest = wait_for(
        &api,
        NAME,
        "IntegrationActive=False, TargetReady=False",
        ONE_PASS,
        |o| is(o, "IntegrationActive", "False") && is(o, "TargetReady", "False"),
    )
    .await?;
    let status = &honest.data["status"];
    let target = condition(&honest, "TargetReady").expect("TargetReady");
    ensure!(
        condition_field(&target, "reason") == "AuthorizationMissing"
            && condition_field(&target, "message").contains("redshift:AuthorizeInboundIntegration"),
        "TargetReady must name the missing grant:\n  {}",
        describe_conditions(&honest)
    );
    ensure!(
        is(&honest, "Ready", "False") && is(&honest, "Stalled", "True"),
        "{}",
        describe_conditions(&honest)
    );
    for gone_field in [
        "integrationArn",
        "integrationId",
        "state",
        "createdWith",
        "errors",
    ] {
        ensure!(
            status.get(gone_field).is_none(),
            "status.{gone_field} is stale: {status}"
        );
    }
    ensure!(
        sim.mutating_calls() == mutating_before,
        "Verify must not put the grant back or create anything"
    );
    let metrics = operator.metrics().await?;
    ensure!(
        !metrics
            .lines()
            .filter(|l| l.starts_with("zeroetl_status_write_rejections_total{"))
            .any(|l| !l.ends_with(" 0")),
        "a status write was refused:\n{metrics}"
    );
    Ok(())
}
