//! Every optional status field of both kinds can be set and then cleared through the operator's one status
//! writer, on the real API server the suite runs (1.20, whose server-side apply could not remove nested
//! fields: the status stayed stale forever).

use anyhow::{ensure, Result};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use serde_json::{json, Value};
use zeroetl_api::conditions::Condition;
use zeroetl_api::connection::{Endpoint, WarehouseKindName};
use zeroetl_api::integration::{
    FailedTable, ImmutableSpec, IntegrationError, IntegrationSource, IntegrationTarget,
    ReplicationStatus,
};
use zeroetl_api::{
    RedshiftConnection, RedshiftConnectionStatus, ZeroEtlIntegration, ZeroEtlIntegrationStatus,
};
use zeroetl_e2e::test_env::TestEnv;
use zeroetl_reconciler::k8s::status::{write, ObjectStatus};

const NS_ARN: &str = "arn:aws:redshift-serverless:us-east-1:111111111111:namespace/3f1c2a9e-5b7d-4e21-9c3a-1a2b3c4d5e01";
const INTEGRATION_ARN: &str =
    "arn:aws:rds:us-east-1:111111111111:integration:5b9f0c1e-0000-4000-8000-000000000001";

fn ready() -> Vec<Condition> {
    vec![Condition {
        type_: "Ready".into(),
        status: "True".into(),
        reason: "Reconciled".into(),
        message: "ok".into(),
        last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
            Timestamp::from_second(1_800_000_000).unwrap(),
        ),
        observed_generation: Some(1),
    }]
}

fn full_integration_status() -> ZeroEtlIntegrationStatus {
    ZeroEtlIntegrationStatus {
        observed_generation: Some(1),
        integration_arn: Some(INTEGRATION_ARN.into()),
        integration_id: Some("5b9f0c1e-0000-4000-8000-000000000001".into()),
        state: Some("active".into()),
        source_arn: Some("arn:aws:rds:us-east-1:111111111111:cluster:orders-aurora".into()),
        target_arn: Some(NS_ARN.into()),
        errors: vec![IntegrationError {
            code: "IntegrationSourceUnavailable".into(),
            message: "gone".into(),
        }],
        destination_database: Some("orders".into()),
        created_with: Some(ImmutableSpec {
            source: IntegrationSource {
                db_cluster_identifier: Some("orders-aurora".into()),
                ..Default::default()
            },
            target: IntegrationTarget {
                namespace_arn: Some(NS_ARN.into()),
                ..Default::default()
            },
            kms_key_id: Some("alias/zeroetl".into()),
            additional_encryption_context: Some([("team".to_string(), "a".to_string())].into()),
        }),
        planned_actions: vec!["create integration orders".into()],
        replication: Some(ReplicationStatus {
            state: Some("CdcRefreshState".into()),
            lag_ms: Some(1200),
            tables_replicated: Some(3),
            tables_failed: Some(1),
            failed_tables: vec![FailedTable {
                table: "orders.audit".into(),
                reason: "unsupported type".into(),
            }],
            checked_at: Some("2027-01-15T08:00:00Z".into()),
        }),
        conditions: ready(),
    }
}

fn full_connection_status() -> RedshiftConnectionStatus {
    RedshiftConnectionStatus {
        observed_generation: Some(1),
        kind: Some(WarehouseKindName::Serverless),
        endpoint: Some(Endpoint {
            address: "analytics-wg.example".into(),
            port: 5439,
        }),
        namespace_arn: Some(NS_ARN.into()),
        jdbc_url: Some("jdbc:redshift://analytics-wg.example:5439/dev".into()),
        case_sensitive: Some(true),
        last_verified_time: Some("2027-01-15T08:00:00Z".into()),
        planned_actions: vec!["turn on enable_case_sensitive_identifier".into()],
        conditions: ready(),
    }
}

/// Each optional field of a status (as its JSON key) and the status with that field cleared.
fn without_each<S: ObjectStatus>(full: &S) -> Result<Vec<(String, S)>> {
    let value = serde_json::to_value(full)?;
    let mut out = Vec::new();
    for key in value.as_object().into_iter().flatten().map(|(k, _)| k) {
        if key == "conditions" || key == "observedGeneration" {
            continue;
        }
        let mut cleared = value.clone();
        cleared.as_object_mut().expect("object").remove(key);
        out.push((key.clone(), serde_json::from_value(cleared)?));
    }
    Ok(out)
}

/// Sets every field, clears one, and checks what the API server stored, for every field; then clears all.
async fn set_and_clear_each<K, S>(
    api: &Api<K>,
    name: &str,
    full: S,
    status_of: fn(&K) -> Option<&S>,
) -> Result<()>
where
    K: kube::Resource<DynamicType = ()> + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
    S: ObjectStatus + std::fmt::Debug,
{
    let cases = without_each(&full)?;
    ensure!(cases.len() >= 6, "too few optional fields: {}", cases.len());
    let stored = |obj: &K| -> Result<Value> { Ok(serde_json::to_value(status_of(obj))?) };
    for (key, cleared) in &cases {
        let before = api.get(name).await?;
        write(api, name, status_of(&before), &full).await?;
        let set = api.get(name).await?;
        ensure!(stored(&set)?.get(key).is_some(), "{key} was not stored");
        ensure!(
            write(api, name, status_of(&set), cleared).await?,
            "no write for {key}"
        );
        let after = api.get(name).await?;
        let value = stored(&after)?;
        ensure!(value.get(key).is_none(), "{key} was not cleared: {value}");
        ensure!(
            status_of(&after) == Some(cleared),
            "stored status differs from the written one after clearing {key}: {value}"
        );
    }
    let before = api.get(name).await?;
    let mut bare = S::default();
    bare.set_observed_generation(Some(1));
    bare.set_conditions(ready());
    write(api, name, status_of(&before), &bare).await?;
    let after = api.get(name).await?;
    ensure!(status_of(&after) == Some(&bare), "{:?}", status_of(&after));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn every_optional_status_field_can_be_set_and_cleared() -> Result<()> {
    let env = TestEnv::new("status-table").await?;
    let integrations: Api<ZeroEtlIntegration> = Api::namespaced(env.client.clone(), &env.namespace);
    let integration: ZeroEtlIntegration = serde_json::from_value(json!({
        "apiVersion": "zeroetl.dev/v1alpha1", "kind": "ZeroEtlIntegration",
        "metadata": {"name": "orders"},
        "spec": {"source": {"dbClusterIdentifier": "orders-aurora"}, "target": {"namespaceArn": NS_ARN}},
    }))?;
    integrations
        .create(&PostParams::default(), &integration)
        .await?;
    set_and_clear_each(&integrations, "orders", full_integration_status(), |o| {
        o.status.as_ref()
    })
    .await?;

    let connections: Api<RedshiftConnection> = Api::namespaced(env.client.clone(), &env.namespace);
    let connection: RedshiftConnection = serde_json::from_value(json!({
        "apiVersion": "zeroetl.dev/v1alpha1", "kind": "RedshiftConnection",
        "metadata": {"name": "analytics"},
        "spec": {"serverless": {"workgroupName": "analytics-wg"}, "database": "dev"},
    }))?;
    connections
        .create(&PostParams::default(), &connection)
        .await?;
    set_and_clear_each(&connections, "analytics", full_connection_status(), |o| {
        o.status.as_ref()
    })
    .await?;
    Ok(())
}
