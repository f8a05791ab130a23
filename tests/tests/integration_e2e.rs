//! ZeroEtlIntegration end to end (issue #4): the real operator against the shared control plane and aws-sim
//! seeded with the sample estate. Each test has its own namespace, simulator and operator.

use std::time::Duration;

use anyhow::{bail, Result};
use aws_sim::SimHandle;
use kube::api::DeleteParams;
use kube::api::DynamicObject;
use serde_json::{json, Value};
use zeroetl_e2e::manifests::apply;
use zeroetl_e2e::operator::Operator;
use zeroetl_e2e::sim::start_sample_sim;
use zeroetl_e2e::test_env::TestEnv;
use zeroetl_e2e::wait::{condition, condition_field, wait_for_condition};

const READY_TIMEOUT: Duration = Duration::from_secs(120);
const OPERATOR_READY_TIMEOUT: Duration = Duration::from_secs(60);
const ANALYTICS_NS: &str = "arn:aws:redshift-serverless:us-east-1:111111111111:namespace/3f1c2a9e-5b7d-4e21-9c3a-1a2b3c4d5e01";

async fn start_operator(env: &TestEnv, sim: &SimHandle) -> Result<Operator> {
    let mut operator = Operator::start(&env.operator_options(Some(&sim.endpoint()))?)?;
    operator.wait_ready(OPERATOR_READY_TIMEOUT).await?;
    Ok(operator)
}

async fn apply_kind(env: &TestEnv, kind: &str, name: &str, spec: Value) -> Result<DynamicObject> {
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "zeroetl.dev/v1alpha1", "kind": kind, "metadata": {"name": name}, "spec": spec,
    }))?;
    apply(&env.client, &object, Some(&env.namespace)).await
}

fn analytics_connection() -> Value {
    json!({"region": "us-east-1", "serverless": {"workgroupName": "analytics-wg"}, "database": "dev", "caseSensitiveIdentifiers": "Fix"})
}

fn orders_integration(source_mode: &str) -> Value {
    json!({
        "source": {"dbClusterIdentifier": "orders-aurora"},
        "target": {"connectionRef": {"name": "analytics"}},
        "dataFilter": "include: orders.*",
        "prerequisites": {"source": source_mode, "allowSourceReboot": true, "target": "Fix"},
        "destinationDatabase": {"name": "orders"},
    })
}

fn region_state(sim: &SimHandle) -> Value {
    sim.state_json()["accounts"]["111111111111"]["regions"]["us-east-1"].clone()
}

#[tokio::test]
async fn fix_mode_reaches_ready_and_delete_removes_the_integration() -> Result<()> {
    let env = TestEnv::new("zei-fix").await?;
    let sim = start_sample_sim().await?;
    let _operator = start_operator(&env, &sim).await?;
    apply_kind(
        &env,
        "RedshiftConnection",
        "analytics",
        analytics_connection(),
    )
    .await?;
    apply_kind(
        &env,
        "ZeroEtlIntegration",
        "orders-to-analytics",
        orders_integration("Fix"),
    )
    .await?;
    let api = env.integrations();
    let ready =
        wait_for_condition(&api, "orders-to-analytics", "Ready", "True", READY_TIMEOUT).await?;

    let r = region_state(&sim);
    assert_eq!(
        r["dbClusters"]["orders-aurora"]["parameterGroup"],
        "orders-aurora-zeroetl"
    );
    assert!(r["resourcePolicies"][ANALYTICS_NS].is_string());
    assert_eq!(
        r["workgroups"]["analytics-wg"]["configParameters"]["enable_case_sensitive_identifier"],
        "true"
    );
    assert_eq!(r["integrations"].as_object().map(|m| m.len()), Some(1));
    assert_eq!(r["databases"][ANALYTICS_NS], json!(["orders"]));
    assert_eq!(
        ready.data.pointer("/status/destinationDatabase"),
        Some(&json!("orders"))
    );

    api.delete("orders-to-analytics", &DeleteParams::default())
        .await?;
    let deadline = std::time::Instant::now() + READY_TIMEOUT;
    while api.get_opt("orders-to-analytics").await?.is_some() {
        if std::time::Instant::now() >= deadline {
            bail!("orders-to-analytics was not released within {READY_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        region_state(&sim)["integrations"]
            .as_object()
            .map(|m| m.len()),
        Some(0)
    );
    Ok(())
}

#[tokio::test]
async fn verify_mode_stops_at_source_ready_false_without_mutating_calls() -> Result<()> {
    let env = TestEnv::new("zei-verify").await?;
    let sim = start_sample_sim().await?;
    let _operator = start_operator(&env, &sim).await?;
    apply_kind(&env, "ZeroEtlIntegration", "orders-verify", {
        let mut spec = orders_integration("Verify");
        spec["target"] = json!({"namespaceArn": ANALYTICS_NS});
        spec
    })
    .await?;
    let stalled = wait_for_condition(
        &env.integrations(),
        "orders-verify",
        "SourceReady",
        "False",
        READY_TIMEOUT,
    )
    .await?;
    let source = condition(&stalled, "SourceReady").expect("SourceReady");
    assert_eq!(condition_field(&source, "reason"), "ParameterValuesWrong");
    let message = condition_field(&source, "message");
    for wrong in [
        "aurora_enhanced_binlog",
        "binlog_backup",
        "binlog_format",
        "binlog_replication_globaldb",
        "binlog_row_metadata",
    ] {
        assert!(message.contains(wrong), "{wrong} missing from {message}");
    }
    assert_eq!(sim.mutating_calls(), 0, "{:?}", sim.calls());
    Ok(())
}
