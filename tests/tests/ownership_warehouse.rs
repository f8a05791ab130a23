//! The destination database and replication health (issue #9), end to end: a database counts as created only
//! when Redshift says this integration feeds it, a name held by another database stalls with
//! DatabaseNameTaken and that database is left alone, a recreated integration gets its database again, and
//! Redshift's replication health shows in status.replication and the Replicating condition. Two teams share
//! the analytics warehouse in every test.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use serde_json::{json, Value};
use zeroetl_e2e::aws_calls::CallWindow;
use zeroetl_e2e::by_hand;
use zeroetl_e2e::estates::{analytics_database, start_sim, with_person, ANALYTICS_NAMESPACE_ARN};
use zeroetl_e2e::object_status::{current, is, is_because, message, ready, text};
use zeroetl_e2e::sim_state::{integration, steer_replication, warehouse_database};
use zeroetl_e2e::tenants::{apply_integration, eventually, start_operator, teams};
use zeroetl_e2e::wait::{describe_conditions, wait_for};

const READY_TIMEOUT: Duration = Duration::from_secs(120);
const PASS_TIMEOUT: Duration = Duration::from_secs(30);
/// Seconds between full re-checks (replication health is read then) of a Ready object.
const DRIFT_INTERVAL_SECS: u64 = 2;

/// billing-aurora-pg (Aurora PostgreSQL, database `billing`) into a Redshift database `billing`.
fn billing_with_database() -> Value {
    json!({
        "source": {"dbClusterIdentifier": "billing-aurora-pg"},
        "target": {"namespaceArn": ANALYTICS_NAMESPACE_ARN},
        "destinationDatabase": {"name": "billing", "sourceDatabase": "billing"},
    })
}

/// inventory-mysql (RDS MySQL) into a Redshift database `inventory`.
fn inventory_with_database() -> Value {
    json!({
        "source": {"dbInstanceIdentifier": "inventory-mysql"},
        "target": {"namespaceArn": ANALYTICS_NAMESPACE_ARN},
        "destinationDatabase": {"name": "inventory"},
    })
}

fn bound_to(database: Option<Value>) -> String {
    database
        .map(|d| d["integrationId"].as_str().unwrap_or_default().to_string())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_destination_database_name_held_by_a_plain_database_stalls() -> Result<()> {
    let mut estate = with_person()?;
    // Someone made a plain database named billing in the warehouse before.
    analytics_database(&mut estate, "billing", &["legacy_invoices"])?;
    let sim = start_sim(estate).await?;
    let teams = teams("own-dbtaken", 2).await?;
    let (a, b) = (&teams[0], &teams[1]);
    let _operator = start_operator(&[a, b], &sim, &[]).await?;
    apply_integration(b, "inventory", inventory_with_database()).await?;
    let theirs = wait_for(
        &b.integrations(),
        "inventory",
        "Ready",
        READY_TIMEOUT,
        ready,
    )
    .await?;
    ensure!(
        bound_to(warehouse_database(
            &sim,
            ANALYTICS_NAMESPACE_ARN,
            "inventory"
        )) == text(&theirs, "/status/integrationId"),
        "team B's database is fed by its integration"
    );

    let window = CallWindow::open(&sim);
    apply_integration(a, "billing", billing_with_database()).await?;
    let stalled = wait_for(
        &a.integrations(),
        "billing",
        "Stalled/DatabaseNameTaken",
        READY_TIMEOUT,
        |o| current(o) && is_because(o, "Stalled", "True", "DatabaseNameTaken"),
    )
    .await?;
    ensure!(
        is_because(
            &stalled,
            "DestinationDatabaseReady",
            "False",
            "DatabaseNameTaken"
        ) && message(&stalled, "DestinationDatabaseReady").contains("billing"),
        "{}",
        describe_conditions(&stalled)
    );
    ensure!(
        stalled.data["status"].get("destinationDatabase").is_none(),
        "status claims the database: {}",
        stalled.data["status"]
    );
    let plain = warehouse_database(&sim, ANALYTICS_NAMESPACE_ARN, "billing")
        .context("the plain database must stay")?;
    ensure!(
        plain["integrationId"].is_null()
            && plain["schemas"]["public"]["tables"] == json!(["legacy_invoices"]),
        "the plain database changed: {plain}"
    );
    let sql_writes = window.sql_writes(&sim);
    ensure!(
        sql_writes.iter().all(|sql| !sql.contains("billing")),
        "statements about the taken name: {sql_writes:?}"
    );
    eprintln!("DatabaseNameTaken; SQL since: {:?}", window.sql(&sim));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_recreated_integration_gets_its_database_again() -> Result<()> {
    let sim = start_sim(with_person()?).await?;
    let teams = teams("own-dbagain", 2).await?;
    let (a, b) = (&teams[0], &teams[1]);
    let _operator = start_operator(
        &[a, b],
        &sim,
        // A deletion by hand is seen at the next snapshot refresh.
        &[
            format!("--drift-interval={DRIFT_INTERVAL_SECS}"),
            format!("--aws-refresh-interval={DRIFT_INTERVAL_SECS}"),
        ],
    )
    .await?;
    apply_integration(a, "billing", billing_with_database()).await?;
    apply_integration(b, "inventory", inventory_with_database()).await?;
    let first = wait_for(&a.integrations(), "billing", "Ready", READY_TIMEOUT, ready).await?;
    let theirs = wait_for(
        &b.integrations(),
        "inventory",
        "Ready",
        READY_TIMEOUT,
        ready,
    )
    .await?;
    let (old_arn, old_id) = (
        text(&first, "/status/integrationArn"),
        text(&first, "/status/integrationId"),
    );
    ensure!(bound_to(warehouse_database(&sim, ANALYTICS_NAMESPACE_ARN, "billing")) == old_id);
    let their_db = warehouse_database(&sim, ANALYTICS_NAMESPACE_ARN, "inventory");

    // By hand, the integration is deleted; the operator sees it at its next snapshot refresh and makes it again.
    let window = CallWindow::open(&sim);
    by_hand::delete_integration(&sim, &old_arn).await?;
    let again = wait_for(
        &a.integrations(),
        "billing",
        "Ready with a new integration",
        READY_TIMEOUT,
        |o| {
            let arn = text(o, "/status/integrationArn");
            ready(o) && !arn.is_empty() && arn != old_arn
        },
    )
    .await?;
    let new_id = text(&again, "/status/integrationId");
    let (sim_ref, stale_id) = (&sim, old_id.as_str());
    let bound = eventually(
        "the billing database fed by the new integration",
        PASS_TIMEOUT,
        move || async move {
            let id = bound_to(warehouse_database(
                sim_ref,
                ANALYTICS_NAMESPACE_ARN,
                "billing",
            ));
            Ok((!id.is_empty() && id != stale_id)
                .then_some(id.clone())
                .ok_or(id))
        },
    )
    .await?;
    ensure!(bound == new_id, "billing is fed by {bound}, not {new_id}");
    let sql = window.sql(&sim);
    ensure!(
        sql.iter()
            .any(|s| s.starts_with("DROP DATABASE \"billing\""))
            && sql
                .iter()
                .any(|s| s.contains(&format!("FROM INTEGRATION '{new_id}'"))),
        "the stale database should be dropped and made again: {sql:?}"
    );
    ensure!(
        warehouse_database(&sim, ANALYTICS_NAMESPACE_ARN, "inventory") == their_db,
        "team B's database changed"
    );
    ensure!(
        integration(&sim, &text(&theirs, "/status/integrationArn"))
            .is_some_and(|i| i["status"] == "active"),
        "team B's integration"
    );
    eprintln!(
        "recreated {old_arn} as {}; writes {:?}; SQL {:?}",
        text(&again, "/status/integrationArn"),
        window.operator_writes(&sim),
        window.sql_writes(&sim)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn replication_health_is_shown_in_status() -> Result<()> {
    let sim = start_sim(with_person()?).await?;
    let teams = teams("own-health", 2).await?;
    let (a, b) = (&teams[0], &teams[1]);
    let _operator = start_operator(
        &[a, b],
        &sim,
        &[format!("--drift-interval={DRIFT_INTERVAL_SECS}")],
    )
    .await?;
    apply_integration(a, "billing", billing_with_database()).await?;
    apply_integration(b, "inventory", inventory_with_database()).await?;
    let object = wait_for(&a.integrations(), "billing", "Ready", READY_TIMEOUT, ready).await?;
    wait_for(
        &b.integrations(),
        "inventory",
        "Ready",
        READY_TIMEOUT,
        ready,
    )
    .await?;
    wait_for(
        &a.integrations(),
        "billing",
        "Replicating=True",
        PASS_TIMEOUT,
        |o| is_because(o, "Replicating", "True", "Replicating"),
    )
    .await?;

    let id = text(&object, "/status/integrationId");
    steer_replication(
        &sim,
        &id,
        &json!({"state": "CdcRefreshState", "currentLagMs": 4321, "tablesReplicated": 12,
                "tables": [{"schema": "public", "table": "invoices", "state": "Failed",
                            "reason": "unsupported data type money"}]}),
    )
    .await?;
    let unhealthy = wait_for(
        &a.integrations(),
        "billing",
        "Replicating=False/TablesFailed with the lag",
        PASS_TIMEOUT,
        |o| {
            is_because(o, "Replicating", "False", "TablesFailed")
                && o.data["status"]["replication"]["lagMs"] == 4321
        },
    )
    .await?;
    let replication = &unhealthy.data["status"]["replication"];
    ensure!(
        replication["tablesFailed"] == 1
            && replication["tablesReplicated"] == 12
            && replication["state"] == "CdcRefreshState"
            && replication["failedTables"]
                == json!([{"table": "public.invoices", "reason": "unsupported data type money"}])
            && !text(&unhealthy, "/status/replication/checkedAt").is_empty(),
        "status.replication: {replication}"
    );
    ensure!(message(&unhealthy, "Replicating").contains("public.invoices"));
    let theirs = b.integrations().get("inventory").await?;
    ensure!(
        is(&theirs, "Replicating", "True") && theirs.data["status"]["replication"]["lagMs"] != 4321,
        "team B's health is its own: {}",
        theirs.data["status"]
    );

    // The table recovers.
    steer_replication(
        &sim,
        &id,
        &json!({"currentLagMs": 15, "tables": [{"schema": "public", "table": "invoices", "state": "Synced"}]}),
    )
    .await?;
    let healthy = wait_for(
        &a.integrations(),
        "billing",
        "Replicating=True again",
        PASS_TIMEOUT,
        |o| is_because(o, "Replicating", "True", "Replicating"),
    )
    .await?;
    ensure!(
        healthy.data["status"]["replication"]["lagMs"] == 15
            && healthy.data["status"]["replication"]
                .get("failedTables")
                .is_none(),
        "{}",
        healthy.data["status"]
    );
    eprintln!(
        "replication shown: {replication}; healthy again: {}",
        healthy.data["status"]["replication"]
    );
    Ok(())
}
