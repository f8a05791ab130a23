//! Redshift (provisioned) through the real aws-sdk-redshift client.

mod common;

use std::time::Duration;

use aws_sdk_redshift::types::Parameter;
use aws_sdk_redshift::Client;
use common::*;

const INVENTORY: &str = "arn:aws:rds:us-east-1:111111111111:db:inventory-mysql";

async fn client(sim: &aws_sim::SimHandle) -> Client {
    Client::new(&config(sim, OPERATOR_KEY).await)
}

#[tokio::test]
async fn describe_clusters_reports_what_connections_need() {
    let sim = sim().await;
    let rs = client(&sim).await;
    let out = rs
        .describe_clusters()
        .cluster_identifier("warehouse-ra3")
        .send()
        .await
        .expect("describe");
    let c = &out.clusters()[0];
    assert_eq!(c.cluster_namespace_arn(), Some(WAREHOUSE_NS));
    assert_eq!(c.node_type(), Some("ra3.xlplus"));
    assert_eq!(c.number_of_nodes(), Some(2));
    assert_eq!(c.encrypted(), Some(true));
    assert_eq!(c.cluster_status(), Some("available"));
    assert_eq!(c.db_name(), Some("dev"));
    let ep = c.endpoint().expect("endpoint");
    assert!(ep
        .address()
        .unwrap_or_default()
        .starts_with("warehouse-ra3."));
    assert_eq!(ep.port(), Some(5439));
    assert_eq!(
        c.iam_roles()[0].iam_role_arn(),
        Some("arn:aws:iam::111111111111:role/redshift-staging")
    );
    let pg = &c.cluster_parameter_groups()[0];
    assert_eq!(pg.parameter_group_name(), Some("warehouse-zeroetl"));
    assert_eq!(pg.parameter_apply_status(), Some("in-sync"));
    let err = rs
        .describe_clusters()
        .cluster_identifier("nope")
        .send()
        .await
        .expect_err("unknown");
    assert_eq!(code(&err), "ClusterNotFound");
}

#[tokio::test]
async fn cluster_parameter_groups_change_through_reboot() {
    let sim = sim().await;
    let rs = client(&sim).await;
    let params = rs
        .describe_cluster_parameters()
        .parameter_group_name("warehouse-zeroetl")
        .send()
        .await
        .expect("params");
    let p = params
        .parameters()
        .iter()
        .find(|p| p.parameter_name() == Some("enable_case_sensitive_identifier"))
        .expect("listed");
    assert_eq!(p.parameter_value(), Some("true"));
    assert_eq!(p.source(), Some("user"));

    let err = rs
        .modify_cluster_parameter_group()
        .parameter_group_name("default.redshift-2.0")
        .parameters(
            Parameter::builder()
                .parameter_name("require_ssl")
                .parameter_value("true")
                .build(),
        )
        .send()
        .await
        .expect_err("default group");
    assert_eq!(code(&err), "InvalidClusterParameterGroupState");

    rs.create_cluster_parameter_group()
        .parameter_group_name("strict")
        .parameter_group_family("redshift-2.0")
        .description("ssl")
        .send()
        .await
        .expect("create");
    let err = rs
        .create_cluster_parameter_group()
        .parameter_group_name("strict")
        .parameter_group_family("redshift-2.0")
        .description("ssl")
        .send()
        .await
        .expect_err("duplicate");
    assert_eq!(code(&err), "ClusterParameterGroupAlreadyExists");
    let out = rs
        .modify_cluster_parameter_group()
        .parameter_group_name("strict")
        .parameters(
            Parameter::builder()
                .parameter_name("enable_case_sensitive_identifier")
                .parameter_value("true")
                .build(),
        )
        .send()
        .await
        .expect("modify");
    assert_eq!(out.parameter_group_name(), Some("strict"));
    let groups = rs
        .describe_cluster_parameter_groups()
        .send()
        .await
        .expect("groups");
    assert!(groups
        .parameter_groups()
        .iter()
        .any(|g| g.parameter_group_name() == Some("strict")));
    let err = rs
        .describe_cluster_parameter_groups()
        .parameter_group_name("nope")
        .send()
        .await
        .expect_err("unknown");
    assert_eq!(code(&err), "ClusterParameterGroupNotFound");

    let out = rs
        .modify_cluster()
        .cluster_identifier("warehouse-ra3")
        .cluster_parameter_group_name("strict")
        .send()
        .await
        .expect("attach");
    assert_eq!(
        out.cluster().expect("cluster").cluster_parameter_groups()[0].parameter_apply_status(),
        Some("pending-reboot")
    );
    let out = rs
        .reboot_cluster()
        .cluster_identifier("warehouse-ra3")
        .send()
        .await
        .expect("reboot");
    assert_eq!(
        out.cluster().and_then(|c| c.cluster_status()),
        Some("rebooting")
    );
    let err = rs
        .reboot_cluster()
        .cluster_identifier("warehouse-ra3")
        .send()
        .await
        .expect_err("busy");
    assert_eq!(code(&err), "InvalidClusterState");
    wait_for("the cluster back in-sync", Duration::from_secs(5), || {
        let rs = rs.clone();
        async move {
            let out = rs
                .describe_clusters()
                .cluster_identifier("warehouse-ra3")
                .send()
                .await
                .ok()?;
            let c = &out.clusters()[0];
            (c.cluster_status() == Some("available")
                && c.cluster_parameter_groups()[0].parameter_apply_status() == Some("in-sync"))
            .then_some(())
        }
    })
    .await;
}

#[tokio::test]
async fn resource_policies_and_inbound_integrations() {
    let sim = sim().await;
    let rs = client(&sim).await;
    let err = rs
        .get_resource_policy()
        .resource_arn(WAREHOUSE_NS)
        .send()
        .await
        .expect_err("no policy yet");
    assert_eq!(code(&err), "ResourceNotFoundFault");
    let err = rs
        .put_resource_policy()
        .resource_arn(WAREHOUSE_NS)
        .policy("not json")
        .send()
        .await
        .expect_err("bad json");
    assert_eq!(code(&err), "InvalidPolicyFault");
    let err = rs
        .put_resource_policy()
        .resource_arn("arn:aws:redshift:us-east-1:111111111111:namespace:00000000-0000-0000-0000-000000000000")
        .policy("{}")
        .send()
        .await
        .expect_err("unknown namespace");
    assert_eq!(code(&err), "ResourceNotFoundFault");

    let policy = zero_etl_policy(WAREHOUSE_NS, INVENTORY, "111111111111");
    let out = rs
        .put_resource_policy()
        .resource_arn(WAREHOUSE_NS)
        .policy(&policy)
        .send()
        .await
        .expect("put");
    assert_eq!(
        out.resource_policy().and_then(|p| p.policy()),
        Some(policy.as_str())
    );
    let got = rs
        .get_resource_policy()
        .resource_arn(WAREHOUSE_NS)
        .send()
        .await
        .expect("get");
    assert_eq!(
        got.resource_policy().and_then(|p| p.resource_arn()),
        Some(WAREHOUSE_NS)
    );

    let rds = aws_sdk_rds::Client::new(&config(&sim, OPERATOR_KEY).await);
    let created = rds
        .create_integration()
        .integration_name("inventory")
        .source_arn(INVENTORY)
        .target_arn(WAREHOUSE_NS)
        .send()
        .await
        .expect("integration");
    let inbound = rs
        .describe_inbound_integrations()
        .target_arn(WAREHOUSE_NS)
        .send()
        .await
        .expect("inbound");
    let i = &inbound.inbound_integrations()[0];
    assert_eq!(i.integration_arn(), created.integration_arn());
    assert_eq!(i.source_arn(), Some(INVENTORY));
    let err = rs
        .describe_inbound_integrations()
        .integration_arn(
            "arn:aws:rds:us-east-1:111111111111:integration:00000000-0000-0000-0000-000000000000",
        )
        .send()
        .await
        .expect_err("unknown integration");
    assert_eq!(code(&err), "IntegrationNotFoundFault");

    rs.delete_resource_policy()
        .resource_arn(WAREHOUSE_NS)
        .send()
        .await
        .expect("delete");
    let err = rs
        .get_resource_policy()
        .resource_arn(WAREHOUSE_NS)
        .send()
        .await
        .expect_err("deleted");
    assert_eq!(code(&err), "ResourceNotFoundFault");
}

#[tokio::test]
async fn cluster_credentials_are_temporary_and_bounded() {
    let sim = sim().await;
    let rs = client(&sim).await;
    let out = rs
        .get_cluster_credentials()
        .cluster_identifier("warehouse-ra3")
        .db_user("etl")
        .db_name("dev")
        .duration_seconds(900)
        .send()
        .await
        .expect("credentials");
    assert_eq!(out.db_user(), Some("IAM:etl"));
    assert!(out.db_password().is_some_and(|p| !p.is_empty()));
    assert!(out.expiration().is_some());
    for bad in [899, 3601] {
        let err = rs
            .get_cluster_credentials()
            .cluster_identifier("warehouse-ra3")
            .db_user("etl")
            .duration_seconds(bad)
            .send()
            .await
            .expect_err("out of range");
        assert_eq!(code(&err), "InvalidParameterValue");
    }
    let err = rs
        .get_cluster_credentials()
        .cluster_identifier("nope")
        .db_user("etl")
        .send()
        .await
        .expect_err("unknown");
    assert_eq!(code(&err), "ClusterNotFound");
}
