//! The warehouse module against aws-sim (real SDK clients, real wire protocols), seeded with the sample
//! estate plus a cluster on a default parameter group.

use std::time::Duration;

use aws_sim::SimHandle;
use tokio::time::Instant;

use super::*;
use crate::testing;

const ANALYTICS_ARN: &str = "arn:aws:redshift-serverless:us-east-1:111111111111:namespace/3f1c2a9e-5b7d-4e21-9c3a-1a2b3c4d5e01";
const RA3_ARN: &str =
    "arn:aws:redshift:us-east-1:111111111111:namespace:8d2e4f6a-0b1c-4d3e-8f5a-6b7c8d9e0f02";
const STAGING_ROLE: &str = "arn:aws:iam::111111111111:role/redshift-staging";

/// The sample estate with more clusters: `plain-ra3`, left on `default.redshift-2.0`, and `shared-a` and
/// `shared-b` sharing the custom group `shared-group` with case sensitivity off.
async fn sim() -> SimHandle {
    let mut yaml: serde_json::Value =
        serde_json::to_value(testing::sample_estate()).expect("estate as JSON");
    let clusters = yaml
        .pointer_mut("/accounts/0/regions/us-east-1/redshiftClusters")
        .and_then(serde_json::Value::as_array_mut)
        .expect("the sample estate has provisioned clusters");
    clusters.push(serde_json::json!({"id": "plain-ra3", "nodeType": "ra3.xlplus", "numberOfNodes": 2, "encrypted": true, "port": 5439}));
    for id in ["shared-a", "shared-b"] {
        clusters.push(serde_json::json!({"id": id, "nodeType": "ra3.xlplus", "numberOfNodes": 2, "encrypted": true, "port": 5439, "parameterGroup": "shared-group"}));
    }
    yaml.pointer_mut("/accounts/0/regions/us-east-1/clusterParameterGroups")
        .and_then(serde_json::Value::as_array_mut)
        .expect("the sample estate has cluster parameter groups")
        .push(serde_json::json!({"name": "shared-group", "family": "redshift-2.0", "description": "two clusters",
            "parameters": {"enable_case_sensitive_identifier": "false"}}));
    testing::sim_with(serde_json::from_value(yaml).expect("estate")).await
}

/// Polls `probe` until it returns true, failing after `within`.
async fn eventually<F, Fut>(what: &str, within: Duration, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !probe().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn resolves_a_serverless_workgroup_and_its_namespace() {
    let sim = sim().await;
    let c = testing::operator_clients(&sim).await;
    let w = by_workgroup(&c, "analytics-wg")
        .await
        .expect("analytics-wg resolves");
    assert_eq!(w.kind, WarehouseKind::Serverless);
    assert_eq!(w.namespace_arn, ANALYTICS_ARN);
    assert_eq!(
        (w.account.as_str(), w.region.as_str()),
        ("111111111111", "us-east-1")
    );
    assert_eq!(w.namespace_name.as_deref(), Some("analytics"));
    assert_eq!(w.endpoint.as_ref().map(|e| e.port), Some(5439));
    assert!(w.endpoint.as_ref().is_some_and(|e| !e.address.is_empty()));
    assert!(!w.case_sensitive && w.encrypted && w.is_available());
    // The sample estate attaches the staging role and the roles of the two sample consumers that UNLOAD/COPY.
    assert_eq!(
        w.iam_roles,
        [
            STAGING_ROLE,
            "arn:aws:iam::111111111111:role/zeroetl-polytomic",
            "arn:aws:iam::111111111111:role/zeroetl-informatica"
        ]
    );

    let missing = by_workgroup(&c, "nope-wg")
        .await
        .expect_err("unknown workgroup");
    assert_eq!(missing.reason(), "ResourceNotFoundException");
    assert!(missing.is_aws(crate::aws::AwsErrorKind::NotFound));
}

#[tokio::test]
async fn resolves_a_provisioned_cluster() {
    let sim = sim().await;
    let c = testing::operator_clients(&sim).await;
    let w = by_cluster(&c, "warehouse-ra3")
        .await
        .expect("warehouse-ra3 resolves");
    assert_eq!(w.kind, WarehouseKind::Provisioned);
    assert_eq!(w.namespace_arn, RA3_ARN);
    assert_eq!(w.cluster_identifier.as_deref(), Some("warehouse-ra3"));
    assert!(w.case_sensitive && !w.case_sensitivity_pending_reboot && w.encrypted);
    assert_eq!(w.iam_roles, vec![STAGING_ROLE.to_string()]);
    assert_eq!(w.endpoint.as_ref().map(|e| e.port), Some(5439));

    let missing = by_cluster(&c, "nope").await.expect_err("unknown cluster");
    assert_eq!(missing.reason(), "ClusterNotFound");
    assert!(missing.is_aws(crate::aws::AwsErrorKind::NotFound));
}

#[tokio::test]
async fn resolves_a_provisioned_namespace_arn_to_its_cluster() {
    let sim = sim().await;
    let c = testing::operator_clients(&sim).await;
    let w = by_namespace_arn(&c, RA3_ARN)
        .await
        .expect("provisioned namespace resolves");
    assert_eq!(w.cluster_identifier.as_deref(), Some("warehouse-ra3"));
    let unknown =
        "arn:aws:redshift:us-east-1:111111111111:namespace:00000000-0000-0000-0000-000000000000";
    assert!(
        matches!(by_namespace_arn(&c, unknown).await, Err(ref e) if e.reason() == "NamespaceNotFound" && e.is_aws(crate::aws::AwsErrorKind::NotFound))
    );
}

#[tokio::test]
async fn resolves_a_serverless_namespace_arn_to_its_workgroup() {
    let sim = sim().await;
    let c = testing::operator_clients(&sim).await;
    let w = by_namespace_arn(&c, ANALYTICS_ARN)
        .await
        .expect("serverless namespace resolves");
    assert_eq!(w.workgroup_name.as_deref(), Some("analytics-wg"));
    assert_eq!(w.namespace_name.as_deref(), Some("analytics"));
    assert!(w.endpoint.is_some());
}

#[tokio::test]
async fn serverless_case_sensitivity_is_turned_on_without_a_reboot() {
    let sim = sim().await;
    let c = testing::operator_clients(&sim).await;
    let w = by_workgroup(&c, "analytics-wg").await.expect("resolves");
    assert_eq!(
        enable_case_sensitivity(&c, &w, false)
            .await
            .expect("update"),
        CaseSensitivityChange::Applied
    );
    eventually(
        "the workgroup to apply the parameter",
        Duration::from_secs(10),
        || async {
            by_workgroup(&c, "analytics-wg")
                .await
                .is_ok_and(|w| w.case_sensitive && w.is_available())
        },
    )
    .await;
    let w = by_workgroup(&c, "analytics-wg").await.expect("resolves");
    assert_eq!(
        enable_case_sensitivity(&c, &w, false).await.expect("no-op"),
        CaseSensitivityChange::AlreadyOn
    );
    assert_eq!(
        sim.counts().get("redshift-serverless:UpdateWorkgroup"),
        Some(&1)
    );
}

#[tokio::test]
async fn a_cluster_on_a_default_group_gets_its_own_group_and_waits_for_a_reboot() {
    let sim = sim().await;
    let c = testing::operator_clients(&sim).await;
    let w = by_cluster(&c, "plain-ra3").await.expect("resolves");
    assert!(!w.case_sensitive && !w.case_sensitivity_pending_reboot);

    // Without permission to reboot: the parameter is staged and the caller is told.
    assert_eq!(
        enable_case_sensitivity(&c, &w, false).await.expect("stage"),
        CaseSensitivityChange::RebootRequired
    );
    let staged = by_cluster(&c, "plain-ra3").await.expect("resolves");
    assert!(!staged.case_sensitive && staged.case_sensitivity_pending_reboot);
    // Idempotent: a second call finds the staged group and changes nothing.
    assert_eq!(
        enable_case_sensitivity(&c, &staged, false)
            .await
            .expect("again"),
        CaseSensitivityChange::RebootRequired
    );
    assert_eq!(
        sim.counts().get("redshift:CreateClusterParameterGroup"),
        Some(&1)
    );
    assert_eq!(sim.counts().get("redshift:ModifyCluster"), Some(&1));

    // With permission: one reboot, after which the parameter is in effect.
    assert_eq!(
        enable_case_sensitivity(&c, &staged, true)
            .await
            .expect("reboot"),
        CaseSensitivityChange::Rebooting
    );
    eventually(
        "the reboot to apply the parameter",
        Duration::from_secs(10),
        || async {
            by_cluster(&c, "plain-ra3")
                .await
                .is_ok_and(|w| w.case_sensitive && w.is_available())
        },
    )
    .await;
    assert_eq!(sim.counts().get("redshift:RebootCluster"), Some(&1));
}

#[tokio::test]
async fn a_parameter_group_other_clusters_use_is_never_changed() {
    let sim = sim().await;
    let c = testing::operator_clients(&sim).await;
    let w = by_cluster(&c, "shared-a").await.expect("resolves");
    assert!(!w.case_sensitive);
    let refused = enable_case_sensitivity(&c, &w, false)
        .await
        .expect_err("the group is shared");
    assert_eq!(refused.reason(), "ParameterGroupShared");
    assert!(
        refused.to_string().contains("cluster shared-b"),
        "{refused}"
    );
    assert_eq!(
        sim.counts().get("redshift:ModifyClusterParameterGroup"),
        None,
        "the shared group is left as it is"
    );
}
