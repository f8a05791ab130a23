//! RDS through the real aws-sdk-rds client: instances, clusters, parameter groups, reboots, integrations
//! (validation, lifecycle, pagination) and tags.

mod common;

use std::time::Duration;

use aws_sdk_rds::types::{ApplyMethod, Filter, Parameter, Tag};
use aws_sdk_rds::Client;
use common::*;

const ORDERS: &str = "arn:aws:rds:us-east-1:111111111111:cluster:orders-aurora";
const BILLING: &str = "arn:aws:rds:us-east-1:111111111111:cluster:billing-aurora-pg";
const INVENTORY: &str = "arn:aws:rds:us-east-1:111111111111:db:inventory-mysql";

async fn rds(sim: &aws_sim::SimHandle) -> Client {
    Client::new(&config(sim, OPERATOR_KEY).await)
}

async fn redshift(sim: &aws_sim::SimHandle) -> aws_sdk_redshift::Client {
    aws_sdk_redshift::Client::new(&config(sim, OPERATOR_KEY).await)
}

/// Make the provisioned warehouse accept integrations from `source`.
async fn authorize_warehouse(sim: &aws_sim::SimHandle, source: &str) {
    redshift(sim)
        .await
        .put_resource_policy()
        .resource_arn(WAREHOUSE_NS)
        .policy(zero_etl_policy(WAREHOUSE_NS, source, "111111111111"))
        .send()
        .await
        .expect("policy accepted");
}

#[tokio::test]
async fn describes_instances_and_clusters_from_the_sample_estate() {
    let sim = sim().await;
    let rds = rds(&sim).await;
    let out = rds
        .describe_db_instances()
        .send()
        .await
        .expect("describe instances");
    let ids: Vec<&str> = out
        .db_instances()
        .iter()
        .filter_map(|i| i.db_instance_identifier())
        .collect();
    assert_eq!(
        ids,
        vec![
            "accounts-postgres",
            "billing-aurora-pg-1",
            "inventory-mysql",
            "orders-aurora-1"
        ]
    );
    let inv = rds
        .describe_db_instances()
        .db_instance_identifier("inventory-mysql")
        .send()
        .await
        .expect("one instance");
    let inv = &inv.db_instances()[0];
    assert_eq!(inv.engine(), Some("mysql"));
    assert_eq!(inv.engine_version(), Some("8.0.39"));
    assert_eq!(inv.backup_retention_period(), Some(7));
    assert_eq!(inv.db_instance_arn(), Some(INVENTORY));
    assert_eq!(
        inv.db_parameter_groups()[0].db_parameter_group_name(),
        Some("inventory-zeroetl")
    );
    assert_eq!(
        inv.db_parameter_groups()[0].parameter_apply_status(),
        Some("in-sync")
    );

    let c = rds
        .describe_db_clusters()
        .db_cluster_identifier("orders-aurora")
        .send()
        .await
        .expect("cluster");
    let c = &c.db_clusters()[0];
    assert_eq!(c.engine(), Some("aurora-mysql"));
    assert_eq!(
        c.db_cluster_parameter_group(),
        Some("default.aurora-mysql8.0")
    );
    assert_eq!(c.db_cluster_arn(), Some(ORDERS));
    let member = &c.db_cluster_members()[0];
    assert_eq!(member.db_instance_identifier(), Some("orders-aurora-1"));
    assert_eq!(member.is_cluster_writer(), Some(true));

    let err = rds
        .describe_db_instances()
        .db_instance_identifier("nope")
        .send()
        .await
        .expect_err("unknown instance");
    assert_eq!(code(&err), "DBInstanceNotFound");
    let err = rds
        .describe_db_clusters()
        .db_cluster_identifier("nope")
        .send()
        .await
        .expect_err("unknown cluster");
    assert_eq!(code(&err), "DBClusterNotFoundFault");
}

#[tokio::test]
async fn parameter_groups_are_described_created_and_modified() {
    let sim = sim().await;
    let rds = rds(&sim).await;
    let params = rds
        .describe_db_cluster_parameters()
        .db_cluster_parameter_group_name("default.aurora-mysql8.0")
        .send()
        .await
        .expect("default cluster parameters");
    let binlog = params
        .parameters()
        .iter()
        .find(|p| p.parameter_name() == Some("binlog_format"))
        .expect("binlog_format listed");
    assert_eq!(binlog.parameter_value(), Some("OFF"));
    assert_eq!(binlog.apply_type(), Some("static"));

    let user = rds
        .describe_db_parameters()
        .db_parameter_group_name("accounts-zeroetl")
        .source("user")
        .send()
        .await
        .expect("user parameters");
    assert_eq!(
        user.parameters().len(),
        6,
        "only the six values the estate set"
    );

    let err = rds
        .modify_db_cluster_parameter_group()
        .db_cluster_parameter_group_name("default.aurora-mysql8.0")
        .parameters(
            Parameter::builder()
                .parameter_name("binlog_format")
                .parameter_value("ROW")
                .apply_method(ApplyMethod::PendingReboot)
                .build(),
        )
        .send()
        .await
        .expect_err("default groups are read-only");
    assert_eq!(code(&err), "InvalidDBParameterGroupState");

    let created = rds
        .create_db_cluster_parameter_group()
        .db_cluster_parameter_group_name("orders-zeroetl")
        .db_parameter_group_family("aurora-mysql8.0")
        .description("zero-ETL")
        .send()
        .await
        .expect("create group");
    let g = created
        .db_cluster_parameter_group()
        .expect("group returned");
    assert_eq!(g.db_parameter_group_family(), Some("aurora-mysql8.0"));
    let err = rds
        .create_db_cluster_parameter_group()
        .db_cluster_parameter_group_name("orders-zeroetl")
        .db_parameter_group_family("aurora-mysql8.0")
        .description("again")
        .send()
        .await
        .expect_err("duplicate");
    assert_eq!(code(&err), "DBParameterGroupAlreadyExists");

    let err = rds
        .modify_db_cluster_parameter_group()
        .db_cluster_parameter_group_name("orders-zeroetl")
        .parameters(
            Parameter::builder()
                .parameter_name("binlog_format")
                .parameter_value("ROW")
                .apply_method(ApplyMethod::Immediate)
                .build(),
        )
        .send()
        .await
        .expect_err("static parameters cannot apply immediately");
    assert_eq!(code(&err), "InvalidParameterCombination");

    let mut req = rds
        .modify_db_cluster_parameter_group()
        .db_cluster_parameter_group_name("orders-zeroetl");
    for (k, v) in [
        ("aurora_enhanced_binlog", "1"),
        ("binlog_backup", "0"),
        ("binlog_format", "ROW"),
        ("binlog_replication_globaldb", "0"),
        ("binlog_row_image", "full"),
        ("binlog_row_metadata", "full"),
    ] {
        req = req.parameters(
            Parameter::builder()
                .parameter_name(k)
                .parameter_value(v)
                .apply_method(ApplyMethod::PendingReboot)
                .build(),
        );
    }
    let out = req.send().await.expect("modify custom group");
    assert_eq!(
        out.db_cluster_parameter_group_name(),
        Some("orders-zeroetl")
    );
    let groups = rds
        .describe_db_cluster_parameter_groups()
        .send()
        .await
        .expect("list groups");
    assert!(groups
        .db_cluster_parameter_groups()
        .iter()
        .any(|g| g.db_cluster_parameter_group_name() == Some("orders-zeroetl")));
    let state = sim.state_json();
    let stored = &state["accounts"]["111111111111"]["regions"]["us-east-1"]
        ["dbClusterParameterGroups"]["orders-zeroetl"];
    assert_eq!(stored["parameters"]["binlog_format"], "ROW");
    assert_eq!(stored["family"], "aurora-mysql8.0");
}

/// Attaching a fixed group leaves the cluster pending-reboot; CreateIntegration still sees the old values
/// until the writer reboots, then accepts the source.
#[tokio::test]
async fn attached_group_takes_effect_only_after_reboot() {
    let sim = sim().await;
    let rds = rds(&sim).await;
    authorize_warehouse(&sim, ORDERS).await;

    let err = rds
        .create_integration()
        .integration_name("orders")
        .source_arn(ORDERS)
        .target_arn(WAREHOUSE_NS)
        .send()
        .await
        .expect_err("default binlog settings are refused");
    assert_eq!(code(&err), "InvalidDBClusterStateFault");
    assert!(
        message(&err).contains("binlog_format must be ROW"),
        "{}",
        message(&err)
    );

    rds.create_db_cluster_parameter_group()
        .db_cluster_parameter_group_name("orders-zeroetl")
        .db_parameter_group_family("aurora-mysql8.0")
        .description("zero-ETL")
        .send()
        .await
        .expect("create group");
    let mut req = rds
        .modify_db_cluster_parameter_group()
        .db_cluster_parameter_group_name("orders-zeroetl");
    for (k, v) in [
        ("aurora_enhanced_binlog", "1"),
        ("binlog_backup", "0"),
        ("binlog_format", "ROW"),
        ("binlog_replication_globaldb", "0"),
        ("binlog_row_metadata", "full"),
    ] {
        req = req.parameters(
            Parameter::builder()
                .parameter_name(k)
                .parameter_value(v)
                .apply_method(ApplyMethod::PendingReboot)
                .build(),
        );
    }
    req.send().await.expect("modify");
    let out = rds
        .modify_db_cluster()
        .db_cluster_identifier("orders-aurora")
        .db_cluster_parameter_group_name("orders-zeroetl")
        .send()
        .await
        .expect("attach");
    let c = out.db_cluster().expect("cluster");
    assert_eq!(c.db_cluster_parameter_group(), Some("orders-zeroetl"));
    assert_eq!(
        c.db_cluster_members()[0].db_cluster_parameter_group_status(),
        Some("pending-reboot")
    );

    let err = rds
        .create_integration()
        .integration_name("orders")
        .source_arn(ORDERS)
        .target_arn(WAREHOUSE_NS)
        .send()
        .await
        .expect_err("pending-reboot values do not count yet");
    assert_eq!(code(&err), "InvalidDBClusterStateFault");

    let out = rds
        .reboot_db_instance()
        .db_instance_identifier("orders-aurora-1")
        .send()
        .await
        .expect("reboot writer");
    assert_eq!(
        out.db_instance().and_then(|i| i.db_instance_status()),
        Some("rebooting")
    );
    let err = rds
        .reboot_db_instance()
        .db_instance_identifier("orders-aurora-1")
        .send()
        .await
        .expect_err("already rebooting");
    assert_eq!(code(&err), "InvalidDBInstanceState");
    wait_for("the cluster to be in-sync", Duration::from_secs(5), || {
        let rds = rds.clone();
        async move {
            let c = rds
                .describe_db_clusters()
                .db_cluster_identifier("orders-aurora")
                .send()
                .await
                .ok()?;
            let status = c.db_clusters()[0].db_cluster_members()[0]
                .db_cluster_parameter_group_status()?
                .to_string();
            let inst = rds
                .describe_db_instances()
                .db_instance_identifier("orders-aurora-1")
                .send()
                .await
                .ok()?;
            let available = inst.db_instances()[0].db_instance_status() == Some("available");
            (status == "in-sync" && available).then_some(())
        }
    })
    .await;
    let created = rds
        .create_integration()
        .integration_name("orders")
        .source_arn(ORDERS)
        .target_arn(WAREHOUSE_NS)
        .send()
        .await
        .expect("accepted after the reboot");
    assert_eq!(
        created.status(),
        Some(&aws_sdk_rds::types::IntegrationStatus::Creating)
    );
}

#[tokio::test]
async fn instance_parameter_group_change_and_reboot_cluster() {
    let sim = sim().await;
    let rds = rds(&sim).await;
    rds.create_db_parameter_group()
        .db_parameter_group_name("inventory-v2")
        .db_parameter_group_family("mysql8.0")
        .description("v2")
        .send()
        .await
        .expect("create");
    let out = rds
        .modify_db_instance()
        .db_instance_identifier("inventory-mysql")
        .db_parameter_group_name("inventory-v2")
        .send()
        .await
        .expect("attach");
    let pg = &out.db_instance().expect("instance").db_parameter_groups()[0];
    assert_eq!(pg.db_parameter_group_name(), Some("inventory-v2"));
    assert_eq!(pg.parameter_apply_status(), Some("pending-reboot"));
    let err = rds
        .modify_db_instance()
        .db_instance_identifier("inventory-mysql")
        .db_parameter_group_name("missing")
        .send()
        .await
        .expect_err("unknown group");
    assert_eq!(code(&err), "DBParameterGroupNotFound");

    let groups = rds
        .describe_db_parameter_groups()
        .db_parameter_group_name("inventory-v2")
        .send()
        .await
        .expect("describe group");
    assert_eq!(
        groups.db_parameter_groups()[0].db_parameter_group_family(),
        Some("mysql8.0")
    );
    let err = rds
        .describe_db_parameter_groups()
        .db_parameter_group_name("missing")
        .send()
        .await
        .expect_err("unknown");
    assert_eq!(code(&err), "DBParameterGroupNotFound");

    // A dynamic parameter applied immediately reaches the attached, in-sync instance at once.
    let out = rds
        .modify_db_parameter_group()
        .db_parameter_group_name("accounts-zeroetl")
        .parameters(
            Parameter::builder()
                .parameter_name("wal_sender_timeout")
                .parameter_value("20000")
                .apply_method(ApplyMethod::Immediate)
                .build(),
        )
        .send()
        .await
        .expect("modify instance group");
    assert_eq!(out.db_parameter_group_name(), Some("accounts-zeroetl"));
    let state = sim.state_json();
    let accounts = &state["accounts"]["111111111111"]["regions"]["us-east-1"]["dbInstances"]
        ["accounts-postgres"];
    assert_eq!(
        accounts["effectiveParameters"]["wal_sender_timeout"],
        "20000"
    );
    assert_eq!(accounts["parameterApplyStatus"], "in-sync");

    let out = rds
        .reboot_db_cluster()
        .db_cluster_identifier("billing-aurora-pg")
        .send()
        .await
        .expect("reboot cluster");
    assert_eq!(out.db_cluster().and_then(|c| c.status()), Some("rebooting"));
    wait_for(
        "billing-aurora-pg available",
        Duration::from_secs(5),
        || {
            let rds = rds.clone();
            async move {
                let c = rds
                    .describe_db_clusters()
                    .db_cluster_identifier("billing-aurora-pg")
                    .send()
                    .await
                    .ok()?;
                (c.db_clusters()[0].status() == Some("available")).then_some(())
            }
        },
    )
    .await;
}

#[tokio::test]
async fn integration_validations_use_real_error_codes() {
    let sim = sim().await;
    let rds = rds(&sim).await;
    let create = |name: &str, source: &str, target: &str| {
        rds.create_integration()
            .integration_name(name)
            .source_arn(source)
            .target_arn(target)
    };
    let err = create("bad--name", INVENTORY, WAREHOUSE_NS)
        .send()
        .await
        .expect_err("name pattern");
    assert_eq!(code(&err), "InvalidParameterValue");
    let err = create(
        "x",
        INVENTORY,
        "arn:aws:redshift:us-east-1:111111111111:cluster:warehouse-ra3",
    )
    .send()
    .await
    .expect_err("target must be a namespace");
    assert_eq!(code(&err), "InvalidParameterValue");
    let err = create(
        "x",
        "arn:aws:rds:us-east-1:111111111111:cluster:missing",
        WAREHOUSE_NS,
    )
    .send()
    .await
    .expect_err("source");
    assert_eq!(code(&err), "DBClusterNotFoundFault");
    let err = create(
        "x",
        "arn:aws:rds:us-east-1:111111111111:db:missing",
        WAREHOUSE_NS,
    )
    .send()
    .await
    .expect_err("source");
    assert_eq!(code(&err), "DBInstanceNotFound");
    let err = create("x", INVENTORY, WAREHOUSE_NS)
        .data_filter("exclude: a.b")
        .send()
        .await
        .expect_err("filter without include");
    assert_eq!(
        message(&err),
        "Your data filter must contain at least one include statement"
    );
    let err = create("x", INVENTORY, WAREHOUSE_NS)
        .send()
        .await
        .expect_err("no resource policy yet");
    assert_eq!(code(&err), "InvalidParameterValue");
    assert!(
        message(&err).contains("redshift:AuthorizeInboundIntegration"),
        "{}",
        message(&err)
    );
    let err = create("x", INVENTORY, WAREHOUSE_NS)
        .kms_key_id("alias/missing")
        .send()
        .await
        .expect_err("unknown key");
    assert_eq!(code(&err), "KMSKeyNotAccessibleFault");

    // Serverless target: policy present but case sensitivity off.
    redshift(&sim)
        .await
        .put_resource_policy()
        .resource_arn(ANALYTICS_NS)
        .policy(zero_etl_policy(ANALYTICS_NS, INVENTORY, "111111111111"))
        .send()
        .await
        .expect("policy");
    let err = create("x", INVENTORY, ANALYTICS_NS)
        .send()
        .await
        .expect_err("case sensitivity off");
    assert!(
        message(&err).contains("enable_case_sensitive_identifier"),
        "{}",
        message(&err)
    );

    authorize_warehouse(&sim, INVENTORY).await;
    let ok = create("inventory", INVENTORY, WAREHOUSE_NS)
        .kms_key_id("alias/zeroetl")
        .send()
        .await
        .expect("valid integration");
    assert!(ok
        .kms_key_id()
        .unwrap_or_default()
        .ends_with("0b7e5c1a-2d4f-4e6a-9b8c-7d6e5f4a3b21"));
    let err = create("inventory", INVENTORY, WAREHOUSE_NS)
        .send()
        .await
        .expect_err("same name");
    assert_eq!(code(&err), "IntegrationAlreadyExistsFault");
}

#[tokio::test]
async fn integration_lifecycle_modify_delete_and_tags() {
    let sim = sim().await;
    // Long enough that the "still creating" call below lands before activation even on a loaded machine.
    sim.set_timings(aws_sim::Timings {
        integration_create: Duration::from_millis(1500),
        ..aws_sim::Timings::all(STEP)
    });
    let rds = rds(&sim).await;
    authorize_warehouse(&sim, INVENTORY).await;
    let created = rds
        .create_integration()
        .integration_name("inventory")
        .source_arn(INVENTORY)
        .target_arn(WAREHOUSE_NS)
        .description("first")
        .tags(Tag::builder().key("team").value("data").build())
        .send()
        .await
        .expect("create");
    let arn = created.integration_arn().expect("arn").to_string();
    assert!(arn.starts_with("arn:aws:rds:us-east-1:111111111111:integration:"));
    assert_eq!(
        created.data_filter(),
        Some("include: *.*"),
        "AWS fills in the default filter"
    );
    assert!(created.kms_key_id().is_some(), "AWS fills in its own key");
    assert!(created.create_time().is_some());

    let err = rds
        .modify_integration()
        .integration_identifier(&arn)
        .description("x")
        .send()
        .await
        .expect_err("still creating");
    assert_eq!(code(&err), "InvalidIntegrationStateFault");

    wait_for(
        "the integration to become active",
        Duration::from_secs(5),
        || {
            let rds = rds.clone();
            async move {
                let out = rds
                    .describe_integrations()
                    .integration_identifier("inventory")
                    .send()
                    .await
                    .ok()?;
                (out.integrations()[0].status()
                    == Some(&aws_sdk_rds::types::IntegrationStatus::Active))
                .then_some(())
            }
        },
    )
    .await;

    let modified = rds
        .modify_integration()
        .integration_identifier("inventory")
        .data_filter("include: shop.*")
        .description("second")
        .send()
        .await
        .expect("modify");
    assert_eq!(
        modified.status(),
        Some(&aws_sdk_rds::types::IntegrationStatus::Modifying)
    );
    assert_eq!(modified.description(), Some("second"));
    wait_for("modify to finish", Duration::from_secs(5), || {
        let rds = rds.clone();
        async move {
            let out = rds
                .describe_integrations()
                .integration_identifier("inventory")
                .send()
                .await
                .ok()?;
            (out.integrations()[0].status() == Some(&aws_sdk_rds::types::IntegrationStatus::Active))
                .then_some(())
        }
    })
    .await;

    rds.add_tags_to_resource()
        .resource_name(&arn)
        .tags(Tag::builder().key("env").value("dev").build())
        .send()
        .await
        .expect("tag");
    rds.remove_tags_from_resource()
        .resource_name(&arn)
        .tag_keys("team")
        .send()
        .await
        .expect("untag");
    let tags = rds
        .list_tags_for_resource()
        .resource_name(&arn)
        .send()
        .await
        .expect("list tags");
    let keys: Vec<&str> = tags.tag_list().iter().filter_map(|t| t.key()).collect();
    assert_eq!(keys, vec!["env"]);

    sim.set_integration_status(
        "inventory",
        "needs_attention",
        vec![(
            "SourceParameterChanged".into(),
            "binlog_format changed".into(),
        )],
    )
    .expect("steer");
    let out = rds
        .describe_integrations()
        .integration_identifier(&arn)
        .send()
        .await
        .expect("describe");
    let i = &out.integrations()[0];
    assert_eq!(
        i.status(),
        Some(&aws_sdk_rds::types::IntegrationStatus::NeedsAttention)
    );
    assert_eq!(i.errors()[0].error_code(), Some("SourceParameterChanged"));

    let deleted = rds
        .delete_integration()
        .integration_identifier(&arn)
        .send()
        .await
        .expect("delete");
    assert_eq!(
        deleted.status(),
        Some(&aws_sdk_rds::types::IntegrationStatus::Deleting)
    );
    let err = rds
        .delete_integration()
        .integration_identifier(&arn)
        .send()
        .await
        .expect_err("already deleting");
    assert_eq!(code(&err), "InvalidIntegrationStateFault");
    wait_for(
        "the integration to disappear",
        Duration::from_secs(5),
        || {
            let rds = rds.clone();
            let arn = arn.clone();
            async move {
                let err = rds
                    .describe_integrations()
                    .integration_identifier(&arn)
                    .send()
                    .await
                    .err()?;
                (code(&err) == "IntegrationNotFoundFault").then_some(())
            }
        },
    )
    .await;
    let err = rds
        .modify_integration()
        .integration_identifier("inventory")
        .description("x")
        .send()
        .await
        .expect_err("gone");
    assert_eq!(code(&err), "IntegrationNotFoundFault");
}

fn estate_with_integrations(n: usize, quota: Option<usize>) -> aws_sim::Estate {
    let mut estate = sample_estate();
    estate.accounts[0].integration_quota = quota;
    let region = estate.accounts[0]
        .regions
        .get_mut("us-east-1")
        .expect("us-east-1");
    for k in 0..n {
        region.integrations.push(aws_sim::estate::IntegrationSeed {
            name: format!("seeded-{k:04}"),
            source_arn: INVENTORY.to_string(),
            target_arn: WAREHOUSE_NS.to_string(),
            ..Default::default()
        });
    }
    estate
}

#[tokio::test]
async fn describe_integrations_paginates_and_filters() {
    let sim = sim_with(estate_with_integrations(45, None)).await;
    let rds = rds(&sim).await;
    let mut marker: Option<String> = None;
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let out = rds
            .describe_integrations()
            .max_records(20)
            .set_marker(marker.clone())
            .send()
            .await
            .expect("page");
        pages += 1;
        seen.extend(
            out.integrations()
                .iter()
                .filter_map(|i| i.integration_name().map(str::to_string)),
        );
        marker = out.marker().map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    assert_eq!(pages, 3);
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 45, "every integration exactly once");

    let err = rds
        .describe_integrations()
        .max_records(10)
        .send()
        .await
        .expect_err("MaxRecords below 20");
    assert_eq!(code(&err), "InvalidParameterValue");
    let err = rds
        .describe_integrations()
        .max_records(101)
        .send()
        .await
        .expect_err("MaxRecords above 100");
    assert_eq!(code(&err), "InvalidParameterValue");

    let filtered = rds
        .describe_integrations()
        .filters(
            Filter::builder()
                .name("integration-identifier")
                .values("seeded-0007")
                .values("seeded-0011")
                .build(),
        )
        .send()
        .await
        .expect("filtered");
    let names: Vec<&str> = filtered
        .integrations()
        .iter()
        .filter_map(|i| i.integration_name())
        .collect();
    assert_eq!(names.len(), 2, "{names:?}");
    let err = rds
        .describe_integrations()
        .integration_identifier("unknown")
        .send()
        .await
        .expect_err("unknown id");
    assert_eq!(code(&err), "IntegrationNotFoundFault");
}

#[tokio::test]
async fn integration_quota_is_enforced() {
    let sim = sim_with(estate_with_integrations(2, Some(2))).await;
    let rds = rds(&sim).await;
    let err = rds
        .create_integration()
        .integration_name("third")
        .source_arn(BILLING)
        .target_arn(WAREHOUSE_NS)
        .send()
        .await
        .expect_err("quota of two reached");
    assert_eq!(code(&err), "IntegrationQuotaExceededFault");
}
