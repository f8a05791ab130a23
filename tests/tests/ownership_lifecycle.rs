//! Ownership over an object's life (issue #9), end to end: the owner tags on what the operator creates and
//! a user's tag edits around them, ObserveOnly, deletion that touches only what the object owns (and at most
//! one read when it never created anything), the Retain switch on a terminating object whose delete AWS
//! refuses, grants taken back when the last object needing them goes, and a source ARN of another account.
//! Two teams, or a foreign AWS object, in every test.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use aws_sim::{Fault, FaultKind};
use kube::api::DeleteParams;
use serde_json::{json, Value};
use zeroetl_e2e::aws_calls::CallWindow;
use zeroetl_e2e::by_hand;
use zeroetl_e2e::estates::{
    foreign_statement, policy_document, start_sim, with_person, ANALYTICS_NAMESPACE_ARN,
    BILLING_CLUSTER_ARN, INVENTORY_INSTANCE_ARN,
};
use zeroetl_e2e::object_status::{current, is, is_because, message, ready, reason, text, uid};
use zeroetl_e2e::sim_state::{
    account_grants, authorized_sources, cluster_parameter_group, db_cluster, integration,
    integrations, resource_policy, statements, tags,
};
use zeroetl_e2e::tenants::{
    apply_integration, default_cluster_name, delete_and_wait, eventually, merge_patch,
    start_operator, teams, wait_gone,
};
use zeroetl_e2e::test_env::TestEnv;
use zeroetl_e2e::wait::{describe_conditions, wait_for};

const READY_TIMEOUT: Duration = Duration::from_secs(120);
const PASS_TIMEOUT: Duration = Duration::from_secs(30);

fn billing_into_analytics(aws_name: Option<&str>) -> Value {
    let mut spec = json!({
        "source": {"dbClusterIdentifier": "billing-aurora-pg"},
        "target": {"namespaceArn": ANALYTICS_NAMESPACE_ARN},
    });
    if let Some(name) = aws_name {
        spec["integrationName"] = json!(name);
    }
    spec
}

fn inventory_into_analytics() -> Value {
    json!({
        "source": {"dbInstanceIdentifier": "inventory-mysql"},
        "target": {"namespaceArn": ANALYTICS_NAMESPACE_ARN},
    })
}

/// orders-aurora (parameters wrong), fixed by the operator with a derived group and a reboot.
fn orders_fixed_into_analytics() -> Value {
    json!({
        "source": {"dbClusterIdentifier": "orders-aurora"},
        "target": {"namespaceArn": ANALYTICS_NAMESPACE_ARN},
        "prerequisites": {"source": "Fix", "allowSourceReboot": true, "target": "Fix"},
    })
}

/// The five owner tags that name `name` in the team's namespace, with its uid, in `cluster`.
fn owner_tags(
    team: &TestEnv,
    name: &str,
    object_uid: &str,
    cluster: &str,
) -> Vec<(String, String)> {
    [
        ("zeroetl.dev/cluster", cluster),
        ("zeroetl.dev/kind", "ZeroEtlIntegration"),
        ("zeroetl.dev/namespace", team.namespace.as_str()),
        ("zeroetl.dev/name", name),
        ("zeroetl.dev/uid", object_uid),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn missing(tags: &BTreeMap<String, String>, wanted: &[(String, String)]) -> Vec<String> {
    wanted
        .iter()
        .filter(|(k, v)| tags.get(k) != Some(v))
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn owner_tags_on_the_integration_survive_user_tag_edits() -> Result<()> {
    let teams = teams("own-tags", 2).await?;
    let (a, b) = (&teams[0], &teams[1]);
    let sim = start_sim(with_person()?).await?;
    let _operator = start_operator(&[a, b], &sim, &[]).await?;
    let mut spec = billing_into_analytics(None);
    spec["tags"] = json!({"team": "billing", "cost-center": "42"});
    apply_integration(a, "billing", spec.clone()).await?;
    let mut other = inventory_into_analytics();
    other["tags"] = json!({"team": "inventory"});
    apply_integration(b, "inventory", other).await?;
    let object = wait_for(&a.integrations(), "billing", "Ready", READY_TIMEOUT, ready).await?;
    let theirs = wait_for(
        &b.integrations(),
        "inventory",
        "Ready",
        READY_TIMEOUT,
        ready,
    )
    .await?;
    let arn = text(&object, "/status/integrationArn");
    let their_arn = text(&theirs, "/status/integrationArn");
    let their_tags = tags(&integration(&sim, &their_arn).context("team B's integration")?);

    let cluster = default_cluster_name(a).await?;
    let owner = owner_tags(a, "billing", &uid(&object), &cluster);
    let now = tags(&integration(&sim, &arn).context("the integration")?);
    let gaps = missing(&now, &owner);
    ensure!(gaps.is_empty(), "owner tags missing: {gaps:?} in {now:?}");
    ensure!(
        now["team"] == "billing" && now["cost-center"] == "42",
        "{now:?}"
    );

    // The user edits spec.tags: one changed, one removed, one added. Owner tags stay.
    merge_patch(
        &a.integrations(),
        "billing",
        json!({"spec": {"tags": {"team": "payments", "cost-center": null, "tier": "gold"}}}),
    )
    .await?;
    wait_for(
        &a.integrations(),
        "billing",
        "Ready after the tag edit",
        PASS_TIMEOUT,
        ready,
    )
    .await?;
    let mut expected: BTreeMap<String, String> = owner.iter().cloned().collect();
    expected.insert("team".into(), "payments".into());
    expected.insert("tier".into(), "gold".into());
    let (sim_ref, arn_ref, expected_ref) = (&sim, arn.as_str(), &expected);
    eventually("the edited tags in AWS", PASS_TIMEOUT, move || async move {
        let now = tags(&integration(sim_ref, arn_ref).unwrap_or_default());
        Ok((now == *expected_ref)
            .then_some(())
            .ok_or(format!("{now:?}")))
    })
    .await?;

    // Removing every user tag (spec.tags stays, empty) keeps the owner tags.
    merge_patch(
        &a.integrations(),
        "billing",
        json!({"spec": {"tags": {"team": null, "tier": null}}}),
    )
    .await?;
    let owner_only: BTreeMap<String, String> = owner.iter().cloned().collect();
    let owner_ref = &owner_only;
    eventually(
        "only the owner tags in AWS",
        PASS_TIMEOUT,
        move || async move {
            let now = tags(&integration(sim_ref, arn_ref).unwrap_or_default());
            Ok((now == *owner_ref).then_some(()).ok_or(format!("{now:?}")))
        },
    )
    .await?;
    // That pass has finished (its status is written) before the next edit is counted.
    wait_for(&a.integrations(), "billing", "Ready", PASS_TIMEOUT, ready).await?;

    // A user tag in the operator's prefix is refused, and nothing changes in AWS.
    let window = CallWindow::open(&sim);
    merge_patch(
        &a.integrations(),
        "billing",
        json!({"spec": {"tags": {"zeroetl.dev/namespace": "team-b"}}}),
    )
    .await?;
    let refused = wait_for(
        &a.integrations(),
        "billing",
        "Stalled/InvalidSpec",
        PASS_TIMEOUT,
        |o| current(o) && is_because(o, "Stalled", "True", "InvalidSpec"),
    )
    .await?;
    ensure!(
        message(&refused, "Stalled").contains("zeroetl.dev/"),
        "{}",
        describe_conditions(&refused)
    );
    ensure!(
        window.calls_outside_the_snapshot(&sim).is_empty(),
        "an invalid spec reached AWS"
    );
    ensure!(tags(&integration(&sim, &arn).context("the integration")?) == owner_only);
    ensure!(
        tags(&integration(&sim, &their_arn).context("team B's integration")?) == their_tags,
        "team B's tags changed"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_derived_parameter_group_carries_owner_tags() -> Result<()> {
    let teams = teams("own-pgtags", 2).await?;
    let (a, b) = (&teams[0], &teams[1]);
    let sim = start_sim(with_person()?).await?;
    let _operator = start_operator(&[a, b], &sim, &[]).await?;
    apply_integration(a, "orders", orders_fixed_into_analytics()).await?;
    apply_integration(b, "billing", billing_into_analytics(None)).await?;
    let object = wait_for(&a.integrations(), "orders", "Ready", READY_TIMEOUT, ready).await?;
    wait_for(&b.integrations(), "billing", "Ready", READY_TIMEOUT, ready).await?;
    ensure!(db_cluster(&sim, "orders-aurora")["parameterGroup"] == "orders-aurora-zeroetl");
    let cluster = default_cluster_name(a).await?;
    let owner = owner_tags(a, "orders", &uid(&object), &cluster);
    let integration_tags = tags(
        &integration(&sim, &text(&object, "/status/integrationArn")).context("the integration")?,
    );
    ensure!(
        missing(&integration_tags, &owner).is_empty(),
        "integration tags {integration_tags:?}"
    );
    let group = cluster_parameter_group(&sim, "orders-aurora-zeroetl")
        .context("the derived parameter group")?;
    let group_tags = tags(&group);
    let gaps = missing(&group_tags, &owner);
    ensure!(
        gaps.is_empty(),
        "the derived parameter group orders-aurora-zeroetl lacks owner tags {gaps:?} (has {group_tags:?})"
    );
    // Team B's source group is the estate's own, and untagged by the operator.
    let billing_group =
        cluster_parameter_group(&sim, "billing-zeroetl").context("billing group")?;
    ensure!(tags(&billing_group)
        .keys()
        .all(|k| !k.starts_with("zeroetl.dev/")));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn observe_only_never_changes_aws_and_reports_drift() -> Result<()> {
    let teams = teams("own-observe", 2).await?;
    let (a, b) = (&teams[0], &teams[1]);
    let sim = start_sim(with_person()?).await?;
    let _operator = start_operator(&[a, b], &sim, &[]).await?;
    apply_integration(a, "billing", billing_into_analytics(Some("billing"))).await?;
    let owner = wait_for(&a.integrations(), "billing", "Ready", READY_TIMEOUT, ready).await?;
    let arn = text(&owner, "/status/integrationArn");
    let before = integration(&sim, &arn).context("team A's integration")?;
    let policy_before = resource_policy(&sim, ANALYTICS_NAMESPACE_ARN)?;

    // Team B watches team A's integration, with a spec that differs from it.
    let window = CallWindow::open(&sim);
    let mut spec = billing_into_analytics(Some("billing"));
    spec["managementPolicy"] = json!("ObserveOnly");
    spec["dataFilter"] = json!("include: billing.public.invoices");
    spec["description"] = json!("what team B would like");
    spec["tags"] = json!({"team": "b"});
    apply_integration(b, "billing", spec).await?;
    let observed = wait_for(
        &b.integrations(),
        "billing",
        "IntegrationActive=True/ActiveWithDrift",
        PASS_TIMEOUT,
        |o| current(o) && is_because(o, "IntegrationActive", "True", "ActiveWithDrift"),
    )
    .await?;
    let drift = message(&observed, "IntegrationActive");
    ensure!(
        drift.contains("include: billing.public.invoices") && drift.contains("description"),
        "the drift message must say what differs: {drift}"
    );
    ensure!(text(&observed, "/status/integrationArn") == arn);
    let writes = window.operator_writes(&sim);
    let sql_writes = window.sql_writes(&sim);
    ensure!(
        writes.is_empty() && sql_writes.is_empty(),
        "ObserveOnly changed AWS: {writes:?} {sql_writes:?}"
    );
    let after = integration(&sim, &arn).context("team A's integration")?;
    for field in ["dataFilter", "description", "tags", "status"] {
        ensure!(
            after[field] == before[field],
            "{field} changed: {} -> {}",
            before[field],
            after[field]
        );
    }
    ensure!(resource_policy(&sim, ANALYTICS_NAMESPACE_ARN)? == policy_before);
    let reads = window.operator_calls(&sim).len();
    let selects = window.sql(&sim).len();

    // Deleting it makes no AWS call at all.
    let window = CallWindow::open(&sim);
    delete_and_wait(&b.integrations(), "billing", PASS_TIMEOUT).await?;
    let calls = window.calls_outside_the_snapshot(&sim);
    ensure!(
        calls.is_empty(),
        "deleting an ObserveOnly object called AWS: {calls:?}"
    );
    ensure!(integration(&sim, &arn).is_some_and(|i| i["status"] == "active"));
    eprintln!(
        "ObserveOnly: {reads} calls ({selects} SELECT statements on Redshift's views), 0 writes; deleted with 0 calls"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_an_object_that_never_created_anything_makes_at_most_one_read() -> Result<()> {
    let teams = teams("own-never", 2).await?;
    let (a, b) = (&teams[0], &teams[1]);
    let sim = start_sim(with_person()?).await?;
    let _operator = start_operator(&[a, b], &sim, &[]).await?;
    apply_integration(b, "billing", billing_into_analytics(None)).await?;
    let theirs = wait_for(&b.integrations(), "billing", "Ready", READY_TIMEOUT, ready).await?;
    // Team A's source has wrong parameters and Verify: nothing is ever created.
    let mut spec = json!({
        "source": {"dbClusterIdentifier": "orders-aurora"},
        "target": {"namespaceArn": ANALYTICS_NAMESPACE_ARN},
    });
    apply_integration(a, "orders", spec.clone()).await?;
    spec["deletionPolicy"] = json!("Retain");
    apply_integration(a, "orders-retained", spec).await?;
    for name in ["orders", "orders-retained"] {
        wait_for(
            &a.integrations(),
            name,
            "Stalled/ParameterValuesWrong",
            PASS_TIMEOUT,
            |o| current(o) && is_because(o, "Stalled", "True", "ParameterValuesWrong"),
        )
        .await?;
    }

    let window = CallWindow::open(&sim);
    let took = delete_and_wait(&a.integrations(), "orders", PASS_TIMEOUT).await?;
    // The fleet's snapshot poller pages on its own clock; its reads are not the deletion's.
    let calls = window.calls_outside_the_snapshot(&sim);
    ensure!(
        calls.len() <= 1 && calls.iter().all(|c| !c.mutating),
        "deleting a never-created object: {calls:?}"
    );
    let window = CallWindow::open(&sim);
    delete_and_wait(&a.integrations(), "orders-retained", PASS_TIMEOUT).await?;
    let retained_calls = window.calls_outside_the_snapshot(&sim);
    ensure!(
        retained_calls.is_empty(),
        "Retain called AWS: {retained_calls:?}"
    );
    ensure!(
        integration(&sim, &text(&theirs, "/status/integrationArn"))
            .is_some_and(|i| i["status"] == "active"),
        "team B's integration must stay"
    );
    eprintln!(
        "never created: deleted in {took:?} with {} call(s) {:?}; Retain: 0 calls",
        calls.len(),
        calls.iter().map(|c| &c.action).collect::<Vec<_>>()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn retain_releases_a_terminating_object_whose_delete_is_denied() -> Result<()> {
    let teams = teams("own-denied", 2).await?;
    let (a, b) = (&teams[0], &teams[1]);
    let sim = start_sim(with_person()?).await?;
    let _operator = start_operator(&[a, b], &sim, &[]).await?;
    apply_integration(a, "billing", billing_into_analytics(None)).await?;
    apply_integration(b, "inventory", inventory_into_analytics()).await?;
    let object = wait_for(&a.integrations(), "billing", "Ready", READY_TIMEOUT, ready).await?;
    wait_for(
        &b.integrations(),
        "inventory",
        "Ready",
        READY_TIMEOUT,
        ready,
    )
    .await?;
    let arn = text(&object, "/status/integrationArn");
    let policy_before = resource_policy(&sim, ANALYTICS_NAMESPACE_ARN)?;
    sim.inject(
        Fault::new("rds:DeleteIntegration", FaultKind::Error).with_code("AccessDenied", 403),
    );

    let window = CallWindow::open(&sim);
    a.integrations()
        .delete("billing", &DeleteParams::default())
        .await?;
    let stuck = wait_for(
        &a.integrations(),
        "billing",
        "Stalled/AccessDenied while terminating",
        PASS_TIMEOUT,
        |o| {
            o.metadata.deletion_timestamp.is_some()
                && is_because(o, "Stalled", "True", "AccessDenied")
        },
    )
    .await?;
    ensure!(
        message(&stuck, "Stalled").contains("DeleteIntegration"),
        "the message must name the refused call:\n  {}",
        describe_conditions(&stuck)
    );
    ensure!(integration(&sim, &arn).is_some_and(|i| i["status"] == "active"));
    let denied = window.count(&sim, "rds:DeleteIntegration");
    ensure!(denied >= 1);

    // The user gives up on deleting it in AWS.
    let window = CallWindow::open(&sim);
    merge_patch(
        &a.integrations(),
        "billing",
        json!({"spec": {"deletionPolicy": "Retain"}}),
    )
    .await?;
    let took = wait_gone(&a.integrations(), "billing", PASS_TIMEOUT).await?;
    // The denied delete kicked the fleet's snapshot poller, which pages on its own clock (every 0.5 s right
    // after a change); its reads are not the switch's.
    let calls = window.calls_outside_the_snapshot(&sim);
    ensure!(calls.is_empty(), "the Retain switch called AWS: {calls:?}");
    ensure!(
        integration(&sim, &arn).is_some_and(|i| i["status"] == "active"),
        "Retain must leave the integration"
    );
    ensure!(
        resource_policy(&sim, ANALYTICS_NAMESPACE_ARN)? == policy_before,
        "the grants of a retained integration must stay"
    );
    ensure!(ready(&b.integrations().get("inventory").await?));
    eprintln!(
        "denied DeleteIntegration {denied} time(s) ({}); released {took:?} after the Retain switch with 0 calls",
        reason(&stuck, "Stalled")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn grants_are_taken_back_when_the_last_object_needing_them_goes() -> Result<()> {
    let teams = teams("own-grants", 2).await?;
    let (a, b) = (&teams[0], &teams[1]);
    let sim = start_sim(with_person()?).await?;
    let foreign = foreign_statement(ANALYTICS_NAMESPACE_ARN);
    by_hand::put_resource_policy(
        &sim,
        ANALYTICS_NAMESPACE_ARN,
        &policy_document(vec![foreign.clone()]),
    )
    .await?;
    let _operator = start_operator(&[a, b], &sim, &[]).await?;
    apply_integration(a, "billing", billing_into_analytics(None)).await?;
    apply_integration(b, "inventory", inventory_into_analytics()).await?;
    wait_for(&a.integrations(), "billing", "Ready", READY_TIMEOUT, ready).await?;
    wait_for(
        &b.integrations(),
        "inventory",
        "Ready",
        READY_TIMEOUT,
        ready,
    )
    .await?;
    let policy = |sim: &aws_sim::SimHandle| -> Result<Vec<Value>> {
        Ok(statements(
            resource_policy(sim, ANALYTICS_NAMESPACE_ARN)?.as_ref(),
        ))
    };
    let list = policy(&sim)?;
    ensure!(list.len() == 4 && list.contains(&foreign), "{list:?}");

    // Team A goes: its source's grant goes, the account grant stays for team B.
    delete_and_wait(&a.integrations(), "billing", READY_TIMEOUT).await?;
    let list = policy(&sim)?;
    ensure!(
        authorized_sources(&list) == [INVENTORY_INSTANCE_ARN]
            && account_grants(&list) == 1
            && list.contains(&foreign)
            && list.len() == 3,
        "after team A left: {list:?}"
    );
    ensure!(ready(&b.integrations().get("inventory").await?));

    // Team B goes too: only the partner's statement is left.
    delete_and_wait(&b.integrations(), "inventory", READY_TIMEOUT).await?;
    let list = policy(&sim)?;
    ensure!(list == [foreign.clone()], "after both left: {list:?}");
    ensure!(integrations(&sim).is_empty(), "both integrations deleted");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_source_arn_of_another_account_is_not_resolved_here() -> Result<()> {
    let teams = teams("own-xacct", 2).await?;
    let (a, b) = (&teams[0], &teams[1]);
    let sim = start_sim(with_person()?).await?;
    let _operator = start_operator(&[a, b], &sim, &[]).await?;
    // The platform account has an orders-aurora; the ARN names the partner account's.
    let elsewhere = "arn:aws:rds:us-east-1:222222222222:cluster:orders-aurora";
    let window = CallWindow::open(&sim);
    apply_integration(
        a,
        "orders",
        json!({
            "source": {"arn": elsewhere},
            "target": {"namespaceArn": ANALYTICS_NAMESPACE_ARN},
            "prerequisites": {"source": "Fix", "allowSourceReboot": true, "target": "Fix"},
        }),
    )
    .await?;
    let refused = wait_for(
        &a.integrations(),
        "orders",
        "SourceReady=False/SourceNotFound",
        PASS_TIMEOUT,
        |o| current(o) && is_because(o, "SourceReady", "False", "SourceNotFound"),
    )
    .await?;
    ensure!(
        message(&refused, "SourceReady").contains(elsewhere),
        "{}",
        describe_conditions(&refused)
    );
    let mutating = window.operator_mutating(&sim);
    ensure!(mutating.is_empty(), "mutating calls: {mutating:?}");
    ensure!(
        db_cluster(&sim, "orders-aurora")["parameterGroup"] == "default.aurora-mysql8.0"
            && cluster_parameter_group(&sim, "orders-aurora-zeroetl").is_none(),
        "the platform account's orders-aurora was changed"
    );
    ensure!(
        text(&refused, "/status/sourceArn")
            != "arn:aws:rds:us-east-1:111111111111:cluster:orders-aurora"
    );

    // Team B names a source of the operator's account by ARN: that one is used.
    apply_integration(
        b,
        "billing",
        json!({"source": {"arn": BILLING_CLUSTER_ARN}, "target": {"namespaceArn": ANALYTICS_NAMESPACE_ARN}}),
    )
    .await?;
    let theirs = wait_for(&b.integrations(), "billing", "Ready", READY_TIMEOUT, ready).await?;
    ensure!(text(&theirs, "/status/sourceArn") == BILLING_CLUSTER_ARN);
    ensure!(!is(&a.integrations().get("orders").await?, "Ready", "True"));
    Ok(())
}
