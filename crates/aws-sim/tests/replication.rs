//! Ownership and replication health through the real SDK clients: tags on parameter groups and
//! integrations, destination databases bound to integrations, the SVV_INTEGRATION views steered through
//! the control plane, and who made each call.

mod common;

use aws_sdk_rds::types::Tag;
use common::*;
use serde_json::{json, Value};

const BILLING: &str = "arn:aws:rds:us-east-1:111111111111:cluster:billing-aurora-pg";
const BILLING_ID: &str = "5b9f0c1e-0000-4000-8000-0000000000b1";
const WG: &str = "analytics-wg";

fn estate() -> aws_sim::Estate {
    let mut estate = sample_estate();
    let region = estate.accounts[0]
        .regions
        .get_mut("us-east-1")
        .expect("us-east-1");
    let billing = region
        .db_clusters
        .iter_mut()
        .find(|c| c.id == "billing-aurora-pg")
        .expect("billing cluster");
    billing.tables = vec!["public.invoices".into(), "public.payments".into()];
    region.integrations.push(aws_sim::estate::IntegrationSeed {
        name: "billing-to-analytics".into(),
        id: Some(BILLING_ID.into()),
        source_arn: BILLING.into(),
        target_arn: ANALYTICS_NS.into(),
        ..Default::default()
    });
    estate
}

fn tag_pairs(tags: &[Tag]) -> Vec<(String, String)> {
    tags.iter()
        .map(|t| {
            (
                t.key().unwrap_or_default().to_string(),
                t.value().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn parameter_groups_and_integrations_carry_tags() {
    let sim = sim_with(estate()).await;
    let rds = aws_sdk_rds::Client::new(&config(&sim, OPERATOR_KEY).await);
    let owner = Tag::builder()
        .key("zeroetl.dev/owner")
        .value("default/orders")
        .build();
    rds.create_db_cluster_parameter_group()
        .db_cluster_parameter_group_name("orders-zeroetl")
        .db_parameter_group_family("aurora-mysql8.0")
        .description("derived")
        .tags(owner.clone())
        .send()
        .await
        .expect("cluster group");
    rds.create_db_parameter_group()
        .db_parameter_group_name("inventory-derived")
        .db_parameter_group_family("mysql8.0")
        .description("derived")
        .tags(owner.clone())
        .send()
        .await
        .expect("instance group");
    let cluster_pg = "arn:aws:rds:us-east-1:111111111111:cluster-pg:orders-zeroetl";
    let pg = "arn:aws:rds:us-east-1:111111111111:pg:inventory-derived";
    for arn in [cluster_pg, pg] {
        let listed = rds
            .list_tags_for_resource()
            .resource_name(arn)
            .send()
            .await
            .expect("list");
        assert_eq!(
            tag_pairs(listed.tag_list()),
            pairs(&[("zeroetl.dev/owner", "default/orders")]),
            "{arn}"
        );
    }
    rds.add_tags_to_resource()
        .resource_name(cluster_pg)
        .tags(Tag::builder().key("team").value("data").build())
        .tags(
            Tag::builder()
                .key("zeroetl.dev/owner")
                .value("default/other")
                .build(),
        )
        .send()
        .await
        .expect("add");
    rds.remove_tags_from_resource()
        .resource_name(cluster_pg)
        .tag_keys("team")
        .send()
        .await
        .expect("remove");
    let listed = rds
        .list_tags_for_resource()
        .resource_name(cluster_pg)
        .send()
        .await
        .expect("list");
    assert_eq!(
        tag_pairs(listed.tag_list()),
        pairs(&[("zeroetl.dev/owner", "default/other")]),
        "adding an existing key replaces its value"
    );
    let err = rds
        .list_tags_for_resource()
        .resource_name("arn:aws:rds:us-east-1:111111111111:cluster-pg:missing")
        .send()
        .await
        .expect_err("unknown group");
    assert_eq!(code(&err), "DBParameterGroupNotFound");
    let seeded = rds
        .list_tags_for_resource()
        .resource_name("arn:aws:rds:us-east-1:111111111111:pg:inventory-zeroetl")
        .send()
        .await
        .expect("seeded group");
    assert!(seeded.tag_list().is_empty());

    // Integration tags: created, described, changed and listed agree.
    let integration = format!("arn:aws:rds:us-east-1:111111111111:integration:{BILLING_ID}");
    rds.add_tags_to_resource()
        .resource_name(&integration)
        .tags(owner)
        .send()
        .await
        .expect("tag integration");
    let described = rds
        .describe_integrations()
        .integration_identifier("billing-to-analytics")
        .send()
        .await
        .expect("describe");
    assert_eq!(
        tag_pairs(described.integrations()[0].tags()),
        pairs(&[("zeroetl.dev/owner", "default/orders")])
    );
    rds.remove_tags_from_resource()
        .resource_name(&integration)
        .tag_keys("zeroetl.dev/owner")
        .send()
        .await
        .expect("untag integration");
    let listed = rds
        .list_tags_for_resource()
        .resource_name(&integration)
        .send()
        .await
        .expect("list");
    assert!(listed.tag_list().is_empty());
    let state = sim.state_json();
    assert_eq!(
        state["accounts"]["111111111111"]["regions"]["us-east-1"]["dbClusterParameterGroups"]
            ["orders-zeroetl"]["tags"],
        json!({"zeroetl.dev/owner": "default/other"})
    );
}

#[tokio::test]
async fn integration_views_follow_binding_and_the_control_plane() {
    let sim = sim_with(estate()).await;
    let data = aws_sdk_redshiftdata::Client::new(&config(&sim, OPERATOR_KEY).await);
    let svv = "SELECT integration_id, target_database, source, state, current_lag, total_tables_replicated, total_tables_failed, source_database FROM svv_integration";
    let (rows, types) = query(&data, WG, "dev", svv).await;
    assert_eq!(
        rows,
        vec![
            json!({"integration_id": BILLING_ID, "target_database": null, "source": "PostgreSQL",
            "state": "PendingDbConnectState", "current_lag": 0, "total_tables_replicated": 2,
            "total_tables_failed": 0, "source_database": null})
            .as_object()
            .cloned()
            .expect("object")
        ]
    );
    assert_eq!(
        types,
        ["bpchar", "varchar", "varchar", "varchar", "int8", "int4", "int4", "varchar"]
    );

    // A database of that name that does not come from the integration.
    let by_name = "SELECT datname FROM pg_database WHERE datname = 'billing'";
    assert!(query(&data, WG, "dev", by_name).await.0.is_empty());
    sql_ok(&data, WG, "dev", "CREATE DATABASE billing").await;
    assert_eq!(query(&data, WG, "dev", by_name).await.0.len(), 1);
    let pending = query(
        &data,
        WG,
        "dev",
        &format!("{svv} WHERE integration_id = '{BILLING_ID}'"),
    )
    .await
    .0;
    assert_eq!(pending[0]["state"], "PendingDbConnectState");
    assert_eq!(
        sql_err(
            &data,
            WG,
            "dev",
            &format!("CREATE DATABASE billing FROM INTEGRATION '{BILLING_ID}' DATABASE billing")
        )
        .await,
        "ERROR: database \"billing\" already exists"
    );

    sql_ok(&data, WG, "dev", &format!("create database \"Billing_Replica\" from integration '{BILLING_ID}' database 'billing';")).await;
    let bound = query(
        &data,
        WG,
        "dev",
        &format!("{svv}  where INTEGRATION_ID = '{BILLING_ID}'"),
    )
    .await
    .0;
    assert_eq!(bound[0]["target_database"], "Billing_Replica");
    assert_eq!(bound[0]["state"], "CdcRefreshState");
    assert_eq!(bound[0]["source_database"], "billing");
    assert!(sql_err(
        &data,
        WG,
        "dev",
        &format!("CREATE DATABASE again FROM INTEGRATION '{BILLING_ID}' DATABASE billing")
    )
    .await
    .contains("already has the destination database \"Billing_Replica\""),);
    let (tables, _) = query(
        &data,
        WG,
        "Billing_Replica",
        "SELECT schemaname, tablename FROM pg_tables WHERE schemaname = 'public'",
    )
    .await;
    assert_eq!(
        tables,
        vec![
            json!({"schemaname": "public", "tablename": "invoices"})
                .as_object()
                .cloned()
                .expect("object"),
            json!({"schemaname": "public", "tablename": "payments"})
                .as_object()
                .cloned()
                .expect("object"),
        ]
    );

    let (status, body) = http(&sim, "POST", "/_sim/integrations/billing-to-analytics/replication",
        r#"{"currentLagMs": 1500, "tables": [{"schema": "public", "table": "payments", "state": "Failed", "reason": "unsupported data type"}, {"schema": "audit", "table": "log", "state": "ResyncRequired"}]}"#).await;
    assert_eq!(status, 200, "{body}");
    let steered = query(&data, WG, "dev", svv).await.0;
    assert_eq!(steered[0]["current_lag"], 1500);
    assert_eq!(steered[0]["total_tables_failed"], 1);
    assert_eq!(steered[0]["total_tables_replicated"], 2);
    let table_state = format!("SELECT integration_id, target_database, schema_name, table_name, table_state, reason FROM svv_integration_table_state WHERE integration_id = '{BILLING_ID}'");
    assert_eq!(query(&data, WG, "dev", &table_state).await.0.len(), 3);
    let (failed, _) = query(
        &data,
        WG,
        "dev",
        &format!("{table_state} AND table_state = 'Failed'"),
    )
    .await;
    assert_eq!(
        failed,
        vec![json!({"integration_id": BILLING_ID, "target_database": "Billing_Replica", "schema_name": "public",
            "table_name": "payments", "table_state": "Failed", "reason": "unsupported data type"})
        .as_object()
        .cloned()
        .expect("object")]
    );
    let (status, _) = http(&sim, "POST", &format!("/_sim/integrations/{BILLING_ID}/replication"),
        r#"{"tablesReplicated": 7, "tables": [{"schema": "public", "table": "payments", "state": "Synced"}]}"#).await;
    assert_eq!(status, 200);
    let healed = query(&data, WG, "dev", svv).await.0;
    assert_eq!(
        (
            healed[0]["total_tables_failed"].clone(),
            healed[0]["total_tables_replicated"].clone()
        ),
        (json!(0), json!(7))
    );

    sim.set_integration_status(BILLING_ID, "failed", vec![])
        .expect("steer");
    assert_eq!(
        query(&data, WG, "dev", svv).await.0[0]["state"],
        "ErrorState"
    );
    let (status, _) = http(
        &sim,
        "POST",
        "/_sim/integrations/billing-to-analytics/replication",
        r#"{"state": "SchemaDiscoveryState"}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        query(&data, WG, "dev", svv).await.0[0]["state"],
        "SchemaDiscoveryState"
    );

    for (path, body) in [
        (
            "/_sim/integrations/nope/replication",
            r#"{"currentLagMs": 1}"#,
        ),
        (
            "/_sim/integrations/billing-to-analytics/replication",
            r#"{"state": "Fine"}"#,
        ),
        (
            "/_sim/integrations/billing-to-analytics/replication",
            r#"{"lag": 1}"#,
        ),
        (
            "/_sim/integrations/billing-to-analytics/replication",
            r#"{"tables": [{"schema": "s", "table": "t", "state": "Broken"}]}"#,
        ),
    ] {
        let (status, _) = http(&sim, "POST", path, body).await;
        assert!(status == 400 || status == 404, "{path} {body}: {status}");
    }
    assert!(query(
        &data,
        WG,
        "dev",
        &format!("{svv} WHERE integration_id = 'other'")
    )
    .await
    .0
    .is_empty());
    let partner = aws_sdk_redshiftdata::Client::new(&config(&sim, PARTNER_KEY).await);
    assert!(
        query(&partner, "partner-wg", "dev", svv).await.0.is_empty(),
        "not an integration of the partner's warehouse"
    );
    assert_eq!(
        sql_err(&data, WG, "dev", "SELECT nope FROM svv_integration").await,
        "ERROR: column \"nope\" does not exist"
    );

    let state = sim.state_json();
    let warehouse =
        &state["accounts"]["111111111111"]["regions"]["us-east-1"]["warehouses"][ANALYTICS_NS];
    assert_eq!(
        warehouse["databases"]["Billing_Replica"]["integrationId"],
        BILLING_ID
    );
    assert_eq!(
        warehouse["databases"]["billing"]["integrationId"],
        Value::Null
    );
    assert_eq!(
        state["accounts"]["111111111111"]["regions"]["us-east-1"]["databases"][ANALYTICS_NS],
        json!(["billing", "Billing_Replica"])
    );
}

#[tokio::test]
async fn calls_name_their_principal_and_session() {
    let sim = sim().await;
    let sts = aws_sdk_sts::Client::new(&config(&sim, OPERATOR_KEY).await);
    let connector = "arn:aws:iam::222222222222:role/zeroetl-connector";
    for bad in ["a", "has space", &"x".repeat(65)] {
        let err = sts
            .assume_role()
            .role_arn(connector)
            .role_session_name(bad)
            .external_id("zeroetl-demo-external-id")
            .send()
            .await
            .expect_err("invalid session name");
        assert_eq!(code(&err), "ValidationError", "{bad:?}");
    }
    let out = sts
        .assume_role()
        .role_arn(connector)
        .role_session_name("orders@team=data,x.y-z_1+")
        .external_id("zeroetl-demo-external-id")
        .send()
        .await
        .expect("assume");
    let creds = out.credentials().expect("credentials");
    let temp = aws_credential_types::Credentials::new(
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token().to_string()),
        None,
        "sts",
    );
    let partner = aws_sdk_sts::Client::new(&config_with_credentials(&sim, temp, "us-east-1").await);
    partner.get_caller_identity().send().await.expect("who");

    let (_, body) = http(&sim, "GET", "/_sim/calls", "").await;
    let calls: Vec<Value> = serde_json::from_str(&body).expect("JSON");
    let assumed: Vec<&Value> = calls
        .iter()
        .filter(|c| c["action"] == "AssumeRole" && c["status"] == 200)
        .collect();
    assert_eq!(assumed.len(), 1);
    assert_eq!(
        assumed[0]["caller"],
        "arn:aws:iam::111111111111:user/zeroetl-operator"
    );
    assert_eq!(assumed[0]["roleSessionName"], "orders@team=data,x.y-z_1+");
    let who = calls.last().expect("a call");
    assert_eq!(who["action"], "GetCallerIdentity");
    assert_eq!(
        who["caller"],
        "arn:aws:sts::222222222222:assumed-role/zeroetl-connector/orders@team=data,x.y-z_1+"
    );
    assert!(
        who.get("roleSessionName").is_none(),
        "only AssumeRole records it"
    );
    assert!(sim.calls().iter().all(|c| c.caller.is_some()));
}

#[tokio::test]
async fn a_second_integration_for_the_same_source_and_target_is_refused() {
    let sim = sim().await;
    let inventory = "arn:aws:rds:us-east-1:111111111111:db:inventory-mysql";
    aws_sdk_redshift::Client::new(&config(&sim, OPERATOR_KEY).await)
        .put_resource_policy()
        .resource_arn(WAREHOUSE_NS)
        .policy(zero_etl_policy(WAREHOUSE_NS, inventory, "111111111111"))
        .send()
        .await
        .expect("authorize");
    let rds = aws_sdk_rds::Client::new(&config(&sim, OPERATOR_KEY).await);
    let create = |name: &str| {
        rds.create_integration()
            .integration_name(name)
            .source_arn(inventory)
            .target_arn(WAREHOUSE_NS)
            .send()
    };
    create("first").await.expect("first");
    let err = create("second").await.expect_err("same pair");
    assert_eq!(code(&err), "IntegrationAlreadyExistsFault");
    assert!(message(&err).contains(inventory), "{}", message(&err));
}
