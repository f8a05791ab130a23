//! Who owns what in AWS (issue #9), end to end: teams in two namespaces of one cluster share one operator and
//! one AWS account. An integration belongs to the object whose owner tags it carries; another object that
//! finds it (by name, or through a copied manifest with a typo) changes nothing, an untagged one is adopted
//! only on request, twenty objects writing one resource policy at once lose nobody's statement, Plan mode
//! changes nothing, and drift is put back (Fix) or reported (Verify).
//!
//! Calls are counted in aws-sim's call log between two moments ([`CallWindow`]); a person's hand edits use
//! their own access key, so they never count as the operator's.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use futures::future::try_join_all;
use serde_json::{json, Value};
use zeroetl_e2e::aws_calls::CallWindow;
use zeroetl_e2e::by_hand;
use zeroetl_e2e::estates::{
    add_aurora_mysql_sources, analytics_case_sensitive, foreign_statement, policy_document,
    start_sim, with_person, ANALYTICS_NAMESPACE_ARN, BILLING_CLUSTER_ARN, INVENTORY_INSTANCE_ARN,
};
use zeroetl_e2e::object_status::{current, is, is_because, message, ready, reason, text, uid};
use zeroetl_e2e::sim_state::{
    account_grants, authorized_sources, cluster_parameter_group, db_cluster, integration,
    integration_named, integrations, resource_policy, statements, tags,
};
use zeroetl_e2e::tenants::{
    apply_integration, apply_kind, default_cluster_name, delete_and_wait, events_about, eventually,
    merge_patch, start_operator, teams,
};
use zeroetl_e2e::wait::{describe_conditions, wait_for};

/// Creating an integration (200 ms in aws-sim) and everything before it, on a busy two-core machine.
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// One or two passes after an apply or a patch.
const PASS_TIMEOUT: Duration = Duration::from_secs(30);
/// Seconds between full re-checks of a Ready object in the drift test (`--drift-interval`).
const DRIFT_INTERVAL_SECS: u64 = 2;

/// An integration named `aws_name` from billing-aurora-pg (zero-ETL ready) into the analytics namespace.
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

fn names(calls: &[aws_sim::CallRecord]) -> Vec<String> {
    calls
        .iter()
        .map(|c| format!("{}:{}", c.service, c.action))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn two_namespaces_declaring_the_same_integration_one_is_ready_the_other_owned_by_another(
) -> Result<()> {
    let teams = teams("own-same", 2).await?;
    let (a, b) = (&teams[0], &teams[1]);
    let sim = start_sim(with_person()?).await?;
    let _operator = start_operator(&[a, b], &sim, &[]).await?;
    let spec = billing_into_analytics(Some("orders"));

    apply_integration(a, "orders", spec.clone()).await?;
    let owner = wait_for(&a.integrations(), "orders", "Ready", READY_TIMEOUT, ready).await?;
    let arn = text(&owner, "/status/integrationArn");
    ensure!(!arn.is_empty(), "team A's object records its integration");

    // Team B declares the very same integration: name, source and target.
    let window = CallWindow::open(&sim);
    apply_integration(b, "orders", spec).await?;
    let refused = wait_for(
        &b.integrations(),
        "orders",
        "Stalled/OwnedByAnother",
        PASS_TIMEOUT,
        |o| current(o) && is_because(o, "Stalled", "True", "OwnedByAnother"),
    )
    .await?;
    let why = message(&refused, "IntegrationActive");
    ensure!(
        is_because(&refused, "IntegrationActive", "False", "OwnedByAnother")
            && why.contains(&format!("{}/orders", a.namespace))
            && why.contains(&uid(&owner)),
        "the message must name the owner ({}/orders, uid {}):\n  {}",
        a.namespace,
        uid(&owner),
        describe_conditions(&refused)
    );
    ensure!(
        text(&refused, "/status/integrationArn").is_empty(),
        "team B must not record team A's integration: {}",
        refused.data["status"]
    );
    let mutating = window.operator_mutating(&sim);
    let seen = names(&window.operator_calls(&sim));
    ensure!(
        mutating.is_empty(),
        "team B's object made mutating calls: {mutating:?}"
    );
    ensure!(
        seen.iter().all(|c| c == "rds:DescribeIntegrations"),
        "team B's object looked beyond the integration (source or target): {seen:?}"
    );
    eprintln!(
        "team B refused: {} calls, all DescribeIntegrations, 0 mutating",
        seen.len()
    );

    // Deleting team B's object leaves team A's integration.
    let window = CallWindow::open(&sim);
    let took = delete_and_wait(&b.integrations(), "orders", PASS_TIMEOUT).await?;
    let mutating = window.operator_mutating(&sim);
    ensure!(
        mutating.is_empty(),
        "deleting team B's object changed AWS: {mutating:?}"
    );
    let kept = integration(&sim, &arn).context("team A's integration must stay in AWS")?;
    ensure!(
        kept["status"] == "active" && tags(&kept)["zeroetl.dev/namespace"] == a.namespace,
        "team A's integration changed: {kept}"
    );
    let owner = a.integrations().get("orders").await?;
    ensure!(ready(&owner), "{}", describe_conditions(&owner));
    eprintln!(
        "team B deleted in {took:?} with {} calls, 0 mutating; team A's integration active and Ready",
        window.operator_calls(&sim).len()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_typod_source_under_another_objects_integration_name_touches_nothing() -> Result<()> {
    let teams = teams("own-typo", 2).await?;
    let (a, b) = (&teams[0], &teams[1]);
    let sim = start_sim(with_person()?).await?;
    let _operator = start_operator(&[a, b], &sim, &[]).await?;
    apply_integration(a, "billing", billing_into_analytics(Some("billing"))).await?;
    let owner = wait_for(&a.integrations(), "billing", "Ready", READY_TIMEOUT, ready).await?;
    let arn = text(&owner, "/status/integrationArn");

    // Team B copied team A's manifest and typed the wrong source: orders-aurora, another team's database,
    // with every permission to fix its parameters and reboot it.
    let window = CallWindow::open(&sim);
    apply_integration(
        b,
        "billing",
        json!({
            "integrationName": "billing",
            "source": {"dbClusterIdentifier": "orders-aurora"},
            "target": {"namespaceArn": ANALYTICS_NAMESPACE_ARN},
            "prerequisites": {"source": "Fix", "allowSourceReboot": true, "target": "Fix"},
        }),
    )
    .await?;
    let refused = wait_for(
        &b.integrations(),
        "billing",
        "Stalled/OwnedByAnother",
        PASS_TIMEOUT,
        |o| current(o) && is_because(o, "Stalled", "True", "OwnedByAnother"),
    )
    .await?;
    ensure!(
        message(&refused, "IntegrationActive").contains(&format!("{}/billing", a.namespace)),
        "{}",
        describe_conditions(&refused)
    );
    let seen = names(&window.operator_calls(&sim));
    ensure!(
        window.operator_mutating(&sim).is_empty(),
        "mutating calls: {seen:?}"
    );
    ensure!(
        seen.iter().all(|c| c == "rds:DescribeIntegrations"),
        "the typo'd source or the target was looked at: {seen:?}"
    );
    let orders = db_cluster(&sim, "orders-aurora");
    ensure!(
        orders["parameterGroup"] == "default.aurora-mysql8.0"
            && orders["status"] == "available"
            && cluster_parameter_group(&sim, "orders-aurora-zeroetl").is_none(),
        "orders-aurora was changed: {orders}"
    );
    let kept = integration(&sim, &arn).context("team A's integration")?;
    ensure!(kept["sourceArn"] == BILLING_CLUSTER_ARN && kept["status"] == "active");
    eprintln!(
        "typo'd source refused: {} calls (DescribeIntegrations), 0 mutating, orders-aurora untouched",
        seen.len()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn create_answering_already_exists_never_stores_a_foreign_arn() -> Result<()> {
    let teams = teams("own-exists", 2).await?;
    let (a, b) = (&teams[0], &teams[1]);
    let sim = start_sim(with_person()?).await?;
    let _operator = start_operator(&[a, b], &sim, &[]).await?;
    // Default names: <namespace>-orders, different for each team; the same source and target.
    apply_integration(a, "orders", billing_into_analytics(None)).await?;
    let owner = wait_for(&a.integrations(), "orders", "Ready", READY_TIMEOUT, ready).await?;
    let arn = text(&owner, "/status/integrationArn");
    let before = integration(&sim, &arn).context("team A's integration")?;

    // AWS allows one integration per source and target: team B's CreateIntegration answers
    // IntegrationAlreadyExistsFault, and the integration it finds is not B's to record.
    let window = CallWindow::open(&sim);
    apply_integration(b, "orders", billing_into_analytics(None)).await?;
    let recorded = Mutex::new(Vec::<String>::new());
    let refused = wait_for(
        &b.integrations(),
        "orders",
        "IntegrationActive=False after CreateIntegration was refused",
        READY_TIMEOUT,
        |o| {
            let stored = text(o, "/status/integrationArn");
            if !stored.is_empty() {
                recorded.lock().expect("not poisoned").push(stored);
            }
            window.count(&sim, "rds:CreateIntegration") >= 1
                && is(o, "IntegrationActive", "False")
                && !["Creating", "WaitingForPrerequisites"]
                    .contains(&reason(o, "IntegrationActive").as_str())
        },
    )
    .await?;
    let recorded = recorded.into_inner().expect("not poisoned");
    ensure!(
        recorded.is_empty() && text(&refused, "/status/integrationArn").is_empty(),
        "team B recorded an integration ARN: {recorded:?}"
    );
    ensure!(!is(&refused, "Ready", "True"));
    ensure!(
        integrations(&sim).len() == 1,
        "AWS holds {} integrations",
        integrations(&sim).len()
    );
    let after = integration(&sim, &arn).context("team A's integration")?;
    ensure!(
        tags(&after) == tags(&before),
        "team A's tags changed: {after}"
    );
    let attempts = window.count(&sim, "rds:CreateIntegration");
    let writes = window.operator_writes(&sim);
    ensure!(
        writes.iter().all(|w| w == "rds:CreateIntegration"),
        "team B changed something besides attempting CreateIntegration: {writes:?}"
    );
    eprintln!(
        "team B: IntegrationActive=False {}: {}; {attempts} refused CreateIntegration attempt(s), no ARN recorded",
        reason(&refused, "IntegrationActive"),
        message(&refused, "IntegrationActive")
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_untagged_integration_made_by_hand_is_left_alone_until_adopted() -> Result<()> {
    let mut estate = with_person()?;
    analytics_case_sensitive(&mut estate)?;
    let sim = start_sim(estate).await?;
    // By hand, as Terraform would: the grants (with a partner's statement beside them), then the integration.
    let hand_statements = vec![
        foreign_statement(ANALYTICS_NAMESPACE_ARN),
        json!({"Sid": "HandAuthorizeBilling", "Effect": "Allow",
               "Principal": {"Service": "redshift.amazonaws.com"},
               "Action": "redshift:AuthorizeInboundIntegration", "Resource": ANALYTICS_NAMESPACE_ARN,
               "Condition": {"StringEquals": {"aws:SourceArn": BILLING_CLUSTER_ARN}}}),
        json!({"Sid": "HandCreateInbound", "Effect": "Allow",
               "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
               "Action": "redshift:CreateInboundIntegration", "Resource": ANALYTICS_NAMESPACE_ARN}),
    ];
    by_hand::put_resource_policy(
        &sim,
        ANALYTICS_NAMESPACE_ARN,
        &policy_document(hand_statements.clone()),
    )
    .await?;
    let arn = by_hand::create_integration(
        &sim,
        "legacy-billing",
        BILLING_CLUSTER_ARN,
        ANALYTICS_NAMESPACE_ARN,
        &[("managed-by", "terraform")],
    )
    .await?;
    let (sim_ref, hand_arn) = (&sim, arn.as_str());
    eventually(
        "the hand-made integration active",
        READY_TIMEOUT,
        move || async move {
            let i = integration(sim_ref, hand_arn).unwrap_or_default();
            Ok((i["status"] == "active").then_some(()).ok_or(i.to_string()))
        },
    )
    .await?;

    let teams = teams("own-adopt", 2).await?;
    let (a, b) = (&teams[0], &teams[1]);
    let _operator = start_operator(&[a, b], &sim, &[]).await?;
    let window = CallWindow::open(&sim);
    apply_integration(a, "billing", billing_into_analytics(Some("legacy-billing"))).await?;
    let waiting = wait_for(
        &a.integrations(),
        "billing",
        "Stalled/AdoptionRequired",
        PASS_TIMEOUT,
        |o| current(o) && is_because(o, "Stalled", "True", "AdoptionRequired"),
    )
    .await?;
    ensure!(
        message(&waiting, "IntegrationActive").contains("zeroetl.dev/adopt=true"),
        "the message must say how to adopt:\n  {}",
        describe_conditions(&waiting)
    );
    let mutating = window.operator_mutating(&sim);
    ensure!(
        mutating.is_empty(),
        "mutating calls before adoption: {mutating:?}"
    );
    ensure!(
        tags(&integration(&sim, &arn).context("the integration")?)
            == BTreeMap::from([("managed-by".to_string(), "terraform".to_string())]),
        "the integration was tagged before adoption"
    );
    let untouched_calls = window.operator_calls(&sim).len();

    // The user asks for adoption.
    let window = CallWindow::open(&sim);
    merge_patch(
        &a.integrations(),
        "billing",
        json!({"metadata": {"annotations": {"zeroetl.dev/adopt": "true"}}}),
    )
    .await?;
    let adopted = wait_for(
        &a.integrations(),
        "billing",
        "Ready after adoption",
        READY_TIMEOUT,
        ready,
    )
    .await?;
    ensure!(
        text(&adopted, "/status/integrationArn") == arn,
        "status.integrationArn {} is not the hand-made {arn}",
        text(&adopted, "/status/integrationArn")
    );
    let now = tags(&integration(&sim, &arn).context("the integration")?);
    let cluster = default_cluster_name(a).await?;
    let object_uid = uid(&adopted);
    let expected = [
        ("managed-by", "terraform"),
        ("zeroetl.dev/cluster", cluster.as_str()),
        ("zeroetl.dev/kind", "ZeroEtlIntegration"),
        ("zeroetl.dev/namespace", a.namespace.as_str()),
        ("zeroetl.dev/name", "billing"),
        ("zeroetl.dev/uid", object_uid.as_str()),
    ];
    for (key, value) in expected {
        ensure!(
            now.get(key).map(String::as_str) == Some(value),
            "tag {key} should be {value}: {now:?}"
        );
    }
    let writes = window.operator_writes(&sim);
    ensure!(
        writes == ["rds:AddTagsToResource"],
        "adoption should only tag the integration (the grants were there): {writes:?}"
    );
    ensure!(
        sim.counts().get("rds:CreateIntegration") == Some(&1),
        "only the hand-made CreateIntegration"
    );
    let policy = resource_policy(&sim, ANALYTICS_NAMESPACE_ARN)?;
    ensure!(
        statements(policy.as_ref()) == hand_statements,
        "the hand-written policy changed: {policy:?}"
    );

    // The adopt annotation never takes an integration tagged for another object.
    let window = CallWindow::open(&sim);
    apply_kind(
        b,
        "ZeroEtlIntegration",
        "billing",
        json!({"zeroetl.dev/adopt": "true"}),
        billing_into_analytics(Some("legacy-billing")),
    )
    .await?;
    wait_for(
        &b.integrations(),
        "billing",
        "Stalled/OwnedByAnother",
        PASS_TIMEOUT,
        |o| current(o) && is_because(o, "Stalled", "True", "OwnedByAnother"),
    )
    .await?;
    let mutating = window.operator_mutating(&sim);
    ensure!(
        mutating.is_empty(),
        "team B's adopt annotation changed AWS: {mutating:?}"
    );
    ensure!(tags(&integration(&sim, &arn).context("the integration")?) == now);
    eprintln!(
        "untagged: {untouched_calls} calls, 0 mutating before the annotation; adopted with {writes:?}; \
         team B's adopt annotation refused with 0 mutating calls"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn twenty_objects_fixing_one_target_concurrently_keep_every_statement() -> Result<()> {
    const OBJECTS: usize = 20;
    let mut estate = with_person()?;
    let sources = add_aurora_mysql_sources(&mut estate, "fleet", OBJECTS)?;
    let sim = start_sim(estate).await?;
    let foreign = foreign_statement(ANALYTICS_NAMESPACE_ARN);
    by_hand::put_resource_policy(
        &sim,
        ANALYTICS_NAMESPACE_ARN,
        &policy_document(vec![foreign.clone()]),
    )
    .await?;

    let teams = teams("own-twenty", 2).await?;
    let _operator = start_operator(
        &[&teams[0], &teams[1]],
        &sim,
        &["--concurrency=10".to_string()],
    )
    .await?;
    let started = Instant::now();
    let window = CallWindow::open(&sim);
    let names: Vec<String> = (0..OBJECTS).map(|i| format!("fleet-{i:02}")).collect();
    try_join_all(names.iter().enumerate().map(|(i, name)| {
        apply_integration(
            &teams[i % 2],
            name,
            json!({
                "source": {"dbClusterIdentifier": name},
                "target": {"namespaceArn": ANALYTICS_NAMESPACE_ARN},
                "prerequisites": {"target": "Fix"},
            }),
        )
    }))
    .await?;
    for i in 0..OBJECTS {
        let team = &teams[i % 2];
        let name = format!("fleet-{i:02}");
        let left = (READY_TIMEOUT * 2).saturating_sub(started.elapsed());
        wait_for(&team.integrations(), &name, "Ready", left, ready).await?;
    }
    let took = started.elapsed();

    let policy = resource_policy(&sim, ANALYTICS_NAMESPACE_ARN)?;
    let list = statements(policy.as_ref());
    let mut authorized = authorized_sources(&list);
    authorized.sort();
    let mut wanted = sources.clone();
    wanted.sort();
    ensure!(
        authorized == wanted,
        "the policy authorizes {} sources, want the {OBJECTS}: {authorized:?}",
        authorized.len()
    );
    ensure!(
        list.contains(&foreign),
        "the foreign statement was lost: {policy:?}"
    );
    ensure!(
        account_grants(&list) == 1 && list.len() == OBJECTS + 2,
        "{} statements: {policy:?}",
        list.len()
    );
    let in_aws = integrations(&sim);
    ensure!(
        in_aws.len() == OBJECTS,
        "{} integrations in AWS",
        in_aws.len()
    );
    for i in 0..OBJECTS {
        let found = integration_named(&sim, &format!("{}-fleet-{i:02}", teams[i % 2].namespace))
            .with_context(|| format!("no integration for fleet-{i:02}"))?;
        ensure!(tags(&found)["zeroetl.dev/name"] == format!("fleet-{i:02}"));
    }
    eprintln!(
        "{OBJECTS} objects Ready in {took:?}; policy: {} statements ({OBJECTS} sources, 1 account grant, \
         1 foreign); {} PutResourcePolicy, {} GetResourcePolicy, {} CreateIntegration calls",
        list.len(),
        window.count(&sim, "redshift:PutResourcePolicy"),
        window.count(&sim, "redshift:GetResourcePolicy"),
        window.count(&sim, "rds:CreateIntegration"),
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn plan_mode_lists_the_actions_and_changes_nothing() -> Result<()> {
    let teams = teams("own-plan", 2).await?;
    let (a, b) = (&teams[0], &teams[1]);
    let sim = start_sim(with_person()?).await?;
    let _operator = start_operator(&[a, b], &sim, &[]).await?;
    // Team B already integrates billing into analytics.
    apply_integration(b, "billing", billing_into_analytics(None)).await?;
    wait_for(&b.integrations(), "billing", "Ready", READY_TIMEOUT, ready).await?;
    let policy_before = resource_policy(&sim, ANALYTICS_NAMESPACE_ARN)?;

    let window = CallWindow::open(&sim);
    let spec = json!({
        "source": {"dbClusterIdentifier": "orders-aurora"},
        "target": {"namespaceArn": ANALYTICS_NAMESPACE_ARN},
        "prerequisites": {"source": "Fix", "allowSourceReboot": true, "target": "Fix"},
        "managementPolicy": "Plan",
    });
    apply_integration(a, "orders", spec).await?;
    let planned = wait_for(
        &a.integrations(),
        "orders",
        "Stalled/PlanOnly with planned actions",
        PASS_TIMEOUT,
        |o| current(o) && is_because(o, "Stalled", "True", "PlanOnly"),
    )
    .await?;
    let actions: Vec<String> = planned.data["status"]["plannedActions"]
        .as_array()
        .map(|l| {
            l.iter()
                .map(|a| a.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    for wanted in [
        "create parameter group orders-aurora-zeroetl",
        "binlog_format=ROW",
        "attach parameter group orders-aurora-zeroetl",
    ] {
        ensure!(
            actions.iter().any(|a| a.contains(wanted)),
            "no planned action mentions {wanted:?}: {actions:?}"
        );
    }
    let mutating = window.operator_mutating(&sim);
    ensure!(mutating.is_empty(), "Plan mode changed AWS: {mutating:?}");
    ensure!(
        db_cluster(&sim, "orders-aurora")["parameterGroup"] == "default.aurora-mysql8.0"
            && cluster_parameter_group(&sim, "orders-aurora-zeroetl").is_none()
            && resource_policy(&sim, ANALYTICS_NAMESPACE_ARN)? == policy_before
            && integrations(&sim).len() == 1,
        "AWS changed under Plan mode"
    );
    let plan_calls = window.operator_calls(&sim).len();

    // Switching to Manage does what was planned, and more once the source is ready.
    merge_patch(
        &a.integrations(),
        "orders",
        json!({"spec": {"managementPolicy": "Manage"}}),
    )
    .await?;
    let managed = wait_for(
        &a.integrations(),
        "orders",
        "Ready under Manage",
        READY_TIMEOUT,
        ready,
    )
    .await?;
    ensure!(
        managed.data["status"].get("plannedActions").is_none(),
        "plannedActions stays after Manage: {}",
        managed.data["status"]
    );
    ensure!(db_cluster(&sim, "orders-aurora")["parameterGroup"] == "orders-aurora-zeroetl");
    eprintln!(
        "Plan: {} planned actions ({actions:?}) with {plan_calls} calls, 0 mutating; Manage then Ready",
        actions.len()
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn drift_is_put_back_in_fix_mode_and_reported_in_verify_mode() -> Result<()> {
    let teams = teams("own-drift", 2).await?;
    let (a, b) = (&teams[0], &teams[1]);
    let sim = start_sim(with_person()?).await?;
    let _operator = start_operator(
        &[a, b],
        &sim,
        &[format!("--drift-interval={DRIFT_INTERVAL_SECS}")],
    )
    .await?;
    apply_integration(a, "billing", billing_into_analytics(None)).await?;
    apply_integration(
        b,
        "inventory",
        json!({"source": {"dbInstanceIdentifier": "inventory-mysql"},
               "target": {"namespaceArn": ANALYTICS_NAMESPACE_ARN}}),
    )
    .await?;
    wait_for(&a.integrations(), "billing", "Ready", READY_TIMEOUT, ready).await?;
    wait_for(
        &b.integrations(),
        "inventory",
        "Ready",
        READY_TIMEOUT,
        ready,
    )
    .await?;

    // By hand: the policy is replaced with a partner's statement alone.
    let foreign = foreign_statement(ANALYTICS_NAMESPACE_ARN);
    let (sim_ref, foreign_ref) = (&sim, &foreign);
    let edited = Instant::now();
    by_hand::put_resource_policy(
        &sim,
        ANALYTICS_NAMESPACE_ARN,
        &policy_document(vec![foreign.clone()]),
    )
    .await?;
    let restored = eventually(
        "both grants and the partner's statement in the policy",
        PASS_TIMEOUT,
        move || async move {
            let list = statements(resource_policy(sim_ref, ANALYTICS_NAMESPACE_ARN)?.as_ref());
            let mut sources = authorized_sources(&list);
            sources.sort();
            let whole = sources == [BILLING_CLUSTER_ARN, INVENTORY_INSTANCE_ARN]
                && account_grants(&list) == 1
                && list.contains(foreign_ref);
            Ok(whole.then_some(list.len()).ok_or(format!("{list:?}")))
        },
    )
    .await?;
    let put_back_in = edited.elapsed();
    let events = eventually("a DriftCorrected event", PASS_TIMEOUT, move || async move {
        let events = events_about(a, "billing").await?;
        let drift = events.iter().any(|(r, _)| r == "DriftCorrected");
        Ok(drift.then_some(events.clone()).ok_or(format!("{events:?}")))
    })
    .await?;
    eprintln!(
        "policy put back within {put_back_in:?} ({restored} statements); events: {:?}",
        events.iter().map(|(r, _)| r).collect::<Vec<_>>()
    );

    // Verify: the drift is reported, not put back.
    merge_patch(
        &a.integrations(),
        "billing",
        json!({"spec": {"prerequisites": {"target": "Verify"}}}),
    )
    .await?;
    wait_for(
        &a.integrations(),
        "billing",
        "Ready under Verify",
        PASS_TIMEOUT,
        ready,
    )
    .await?;
    let billing_statement = |list: &[Value]| {
        authorized_sources(list)
            .iter()
            .any(|s| s == BILLING_CLUSTER_ARN)
    };
    let list = statements(resource_policy(&sim, ANALYTICS_NAMESPACE_ARN)?.as_ref());
    let without_billing: Vec<Value> = list
        .into_iter()
        .filter(|s| !billing_statement(std::slice::from_ref(s)))
        .collect();
    by_hand::put_resource_policy(
        &sim,
        ANALYTICS_NAMESPACE_ARN,
        &policy_document(without_billing),
    )
    .await?;
    let reported = wait_for(
        &a.integrations(),
        "billing",
        "TargetReady=False/AuthorizationMissing",
        PASS_TIMEOUT,
        |o| is_because(o, "TargetReady", "False", "AuthorizationMissing"),
    )
    .await?;
    ensure!(
        message(&reported, "TargetReady").contains(BILLING_CLUSTER_ARN)
            && is(&reported, "Ready", "False"),
        "{}",
        describe_conditions(&reported)
    );
    // Team B (Fix) keeps its own grants; nobody puts billing's back.
    let list = statements(resource_policy(&sim, ANALYTICS_NAMESPACE_ARN)?.as_ref());
    ensure!(
        !billing_statement(&list) && list.contains(&foreign),
        "billing's grant came back under Verify: {list:?}"
    );
    ensure!(ready(&b.integrations().get("inventory").await?));
    Ok(())
}
