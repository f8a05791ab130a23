//! The middle test layer: whole reconciles of both kinds through the real `kube::Client` against an
//! in-memory API server (`testing::fake_api`) and aws-sim, so a change to status, events, finalizer,
//! deletion or backoff logic fails in seconds rather than in the end-to-end suite.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::runtime::controller::Action;
use serde_json::{json, Value};
use zeroetl_api::conditions::{find, is_true, READY, STALLED};
use zeroetl_api::{RedshiftConnection, ZeroEtlIntegration};

use crate::backoff;
use crate::integration::source_params;
use crate::testing::fake_api::{path_of, FakeApi};
use crate::testing::{context, sample_sim, sim_with};
use crate::{connection, integration, Context};

const NAMESPACE: &str = "team-a";
const ANALYTICS_NS: &str = "arn:aws:redshift-serverless:us-east-1:111111111111:namespace/3f1c2a9e-5b7d-4e21-9c3a-1a2b3c4d5e01";
const DEADLINE: Duration = Duration::from_secs(60);

fn integration_path(name: &str) -> String {
    path_of(
        "zeroetl.dev/v1alpha1",
        "zeroetlintegrations",
        NAMESPACE,
        name,
    )
}

fn connection_path(name: &str) -> String {
    path_of(
        "zeroetl.dev/v1alpha1",
        "redshiftconnections",
        NAMESPACE,
        name,
    )
}

fn secret_path(name: &str) -> String {
    path_of("v1", "secrets", NAMESPACE, name)
}

fn integration_object(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "zeroetl.dev/v1alpha1", "kind": "ZeroEtlIntegration",
        "metadata": {"name": name, "namespace": NAMESPACE, "generation": 1},
        "spec": spec,
    })
}

/// Orders from the sample Aurora MySQL cluster into the analytics namespace, everything fixed by the operator.
fn orders(deletion_policy: &str) -> Value {
    integration_object(
        "orders",
        json!({
            "source": {"dbClusterIdentifier": "orders-aurora"},
            "target": {"namespaceArn": ANALYTICS_NS},
            "prerequisites": {"source": "Fix", "allowSourceReboot": true, "target": "Fix"},
            "deletionPolicy": deletion_policy,
        }),
    )
}

fn analytics_connection() -> Value {
    json!({
        "apiVersion": "zeroetl.dev/v1alpha1", "kind": "RedshiftConnection",
        "metadata": {"name": "analytics", "namespace": NAMESPACE, "generation": 1},
        "spec": {"region": "us-east-1", "serverless": {"workgroupName": "analytics-wg"}, "database": "dev",
                 "caseSensitiveIdentifiers": "Fix", "connectionSecret": {"name": "analytics-connection"}},
    })
}

async fn reconcile_integration(api: &FakeApi, ctx: &Arc<Context>, name: &str) -> Option<Action> {
    let obj: ZeroEtlIntegration = api.get(&integration_path(name))?;
    Some(
        integration::reconcile(Arc::new(obj), ctx.clone())
            .await
            .expect("the pass ends without a controller error"),
    )
}

async fn reconcile_connection(api: &FakeApi, ctx: &Arc<Context>, name: &str) -> Action {
    let obj: RedshiftConnection = api.get(&connection_path(name)).expect("stored");
    connection::reconcile(Arc::new(obj), ctx.clone())
        .await
        .expect("the pass ends without a controller error")
}

/// Reconciles the integration as the controller would until `done` holds for the stored object (or it is
/// gone, `None`).
async fn integration_until(
    api: &FakeApi,
    ctx: &Arc<Context>,
    name: &str,
    what: &str,
    done: impl Fn(Option<&ZeroEtlIntegration>) -> bool,
) {
    let started = Instant::now();
    loop {
        reconcile_integration(api, ctx, name).await;
        let stored: Option<ZeroEtlIntegration> = api.get(&integration_path(name));
        if done(stored.as_ref()) {
            return;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{what} not reached: {:#?}",
            stored.and_then(|o| o.status).map(|s| s.conditions)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn ready(obj: Option<&ZeroEtlIntegration>) -> bool {
    obj.and_then(|o| o.status.as_ref())
        .is_some_and(|s| is_true(&s.conditions, READY))
}

fn status_writes(api: &FakeApi) -> usize {
    api.requests()
        .iter()
        .filter(|r| r.starts_with("PATCH") && r.ends_with("/status"))
        .count()
}

#[tokio::test]
async fn an_integration_gets_its_finalizer_first_reaches_ready_then_costs_no_write() {
    let sim = sample_sim().await;
    let api = FakeApi::default();
    let ctx = context(&api, &sim);
    api.put(&integration_path("orders"), &orders("Delete"));

    reconcile_integration(&api, &ctx, "orders").await;
    let first = api.requests();
    assert!(
        first[0].starts_with("PATCH") && !first[0].ends_with("/status"),
        "the finalizer is the first write: {first:?}"
    );
    let stored: ZeroEtlIntegration = api.get(&integration_path("orders")).unwrap();
    assert_eq!(
        stored.metadata.finalizers.as_deref(),
        Some(&[integration::FINALIZER.to_string()][..])
    );

    integration_until(&api, &ctx, "orders", "Ready", ready).await;
    let events = api.event_reasons();
    assert!(
        !events.iter().any(|e| e == "Ready"),
        "becoming Ready the first time is no event: {events:?}"
    );
    // Changes to shared AWS resources are Events; the integration's creation shows in its status.
    for expected in ["CreatedParameterGroup", "AuthorizedSource"] {
        assert!(
            events.iter().any(|e| e == expected),
            "{expected} missing from {events:?}"
        );
    }
    assert!(
        !events.iter().any(|e| e == "CreatedIntegration"),
        "the status records the creation; no Event: {events:?}"
    );
    let stored: ZeroEtlIntegration = api.get(&integration_path("orders")).unwrap();
    let status = stored.status.unwrap();
    assert!(status.integration_arn.is_some() && status.created_with.is_some());
    assert_eq!(status.observed_generation, Some(1));

    // Steady state: a pass writes nothing and publishes nothing.
    api.clear_requests();
    let action = reconcile_integration(&api, &ctx, "orders").await.unwrap();
    assert_eq!(action, Action::requeue(crate::timing::READY_RECHECK));
    let requests = api.requests();
    assert!(
        requests.iter().all(|r| r.starts_with("GET")),
        "a steady pass only reads: {requests:?}"
    );
}

#[tokio::test]
async fn deletion_goes_through_apply_and_releases_the_object_once_aws_is_done() {
    let sim = sample_sim().await;
    let api = FakeApi::default();
    let ctx = context(&api, &sim);
    api.put(&integration_path("orders"), &orders("Delete"));
    integration_until(&api, &ctx, "orders", "Ready", ready).await;

    api.mark_deleted(&integration_path("orders"));
    integration_until(&api, &ctx, "orders", "released", |o| o.is_none()).await;
    assert_eq!(sim.counts().get("rds:DeleteIntegration"), Some(&1));
    let events = api.event_reasons();
    assert!(
        events.iter().any(|e| e == "DeletingIntegration"),
        "{events:?}"
    );
    assert!(events.iter().any(|e| e == "Deleted"), "{events:?}");
}

/// With every prerequisite already in place, an integration costs its finalizer, one status write while AWS
/// creates it and one when it is Ready; the creation pass already says what the next observation will.
#[tokio::test]
async fn an_integration_whose_prerequisites_hold_costs_one_finalizer_and_two_status_writes() {
    let sim = sample_sim().await;
    let api = FakeApi::default();
    let ctx = context(&api, &sim);
    // A first object puts the prerequisites in place, and is retired with its integration.
    api.put(&integration_path("orders"), &orders("Delete"));
    integration_until(&api, &ctx, "orders", "Ready", ready).await;
    api.mark_deleted(&integration_path("orders"));
    integration_until(&api, &ctx, "orders", "released", |o| o.is_none()).await;

    // Long enough for several passes to see the integration `creating`.
    sim.set_timings(aws_sim::Timings::all(Duration::from_millis(600)));
    api.clear_requests();
    let mut again = orders("Delete");
    again["metadata"]["name"] = json!("orders-again");
    api.put(&integration_path("orders-again"), &again);
    integration_until(&api, &ctx, "orders-again", "Ready", ready).await;
    let writes: Vec<String> = api
        .requests()
        .into_iter()
        .filter(|r| !r.starts_with("GET") && !r.contains("/events"))
        .collect();
    assert_eq!(
        writes.len(),
        3,
        "finalizer, creating, Ready: {writes:#?}\nevents: {:?}",
        api.event_reasons()
    );
    assert_eq!(status_writes(&api), 2);
}

#[tokio::test]
async fn retain_releases_at_once_and_never_deletes_in_aws() {
    let sim = sample_sim().await;
    let api = FakeApi::default();
    let ctx = context(&api, &sim);
    api.put(&integration_path("orders"), &orders("Retain"));
    integration_until(&api, &ctx, "orders", "Ready", ready).await;

    api.mark_deleted(&integration_path("orders"));
    reconcile_integration(&api, &ctx, "orders").await;
    assert!(api
        .get::<ZeroEtlIntegration>(&integration_path("orders"))
        .is_none());
    assert_eq!(sim.counts().get("rds:DeleteIntegration"), None);
    assert!(api.event_reasons().iter().any(|e| e == "Retained"));
}

#[tokio::test]
async fn a_refused_status_write_leaves_an_honest_status_and_is_counted() {
    let sim = sample_sim().await;
    let api = FakeApi::default();
    let ctx = context(&api, &sim);
    let mut stale = orders("Delete");
    stale["status"] = json!({
        "integrationArn": "arn:aws:rds:us-east-1:111111111111:integration:00000000-0000-0000-0000-000000000000",
        "state": "active",
        "conditions": [],
    });
    api.put(&integration_path("orders"), &stale);
    api.refuse_status_writes(1);
    reconcile_integration(&api, &ctx, "orders").await;
    let stored: ZeroEtlIntegration = api.get(&integration_path("orders")).unwrap();
    let status = stored.status.unwrap();
    let ready = find(&status.conditions, READY).expect("Ready");
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "StatusRejected")
    );
    assert_eq!(status.integration_arn, None, "the stale ARN is gone");
    assert_eq!(status.state, None);
    let rejected = ctx
        .metrics
        .status_write_rejections
        .get_or_create(&crate::metrics::KindLabels {
            kind: "ZeroEtlIntegration",
        })
        .get();
    assert_eq!(rejected, 1);
}

#[tokio::test]
async fn an_invalid_spec_stalls_without_aws_and_waits_for_a_change() {
    let sim = sample_sim().await;
    let api = FakeApi::default();
    let ctx = context(&api, &sim);
    let bad = integration_object(
        "bad",
        json!({"source": {}, "target": {"namespaceArn": ANALYTICS_NS}}),
    );
    api.put(&integration_path("bad"), &bad);
    let action = reconcile_integration(&api, &ctx, "bad").await.unwrap();
    assert_eq!(action, Action::await_change());
    let stored: ZeroEtlIntegration = api.get(&integration_path("bad")).unwrap();
    let stalled = find(&stored.status.unwrap().conditions, STALLED)
        .cloned()
        .unwrap();
    assert_eq!(
        (stalled.status.as_str(), stalled.reason.as_str()),
        ("True", "InvalidSpec")
    );
    assert!(
        stored.metadata.finalizers.is_none(),
        "no finalizer for an invalid spec"
    );
    assert_eq!(sim.calls().len(), 0);
}

#[tokio::test]
async fn a_paused_object_costs_nothing() {
    let sim = sample_sim().await;
    let api = FakeApi::default();
    let ctx = context(&api, &sim);
    let mut paused = orders("Delete");
    paused["metadata"]["annotations"] = json!({"zeroetl.dev/paused": "true"});
    api.put(&integration_path("orders"), &paused);
    let action = reconcile_integration(&api, &ctx, "orders").await.unwrap();
    assert_eq!(action, Action::await_change());
    assert_eq!(api.requests(), Vec::<String>::new());
    assert_eq!(sim.calls().len(), 0);
}

#[tokio::test]
async fn a_connections_success_does_not_reset_an_integrations_backoff_of_the_same_name() {
    // The bug this pins: backoff keys were `ns/name` for integrations, and any kind's success reset them.
    let sim = sample_sim().await;
    let api = FakeApi::default();
    let ctx = context(&api, &sim);
    let integration_key = backoff::key("ZeroEtlIntegration", NAMESPACE, "analytics");
    for _ in 0..3 {
        ctx.backoff
            .next(&integration_key, crate::error::Category::Retryable);
    }
    api.put(&connection_path("analytics"), &analytics_connection());
    let started = Instant::now();
    loop {
        reconcile_connection(&api, &ctx, "analytics").await;
        let stored: RedshiftConnection = api.get(&connection_path("analytics")).unwrap();
        if stored
            .status
            .as_ref()
            .is_some_and(|s| is_true(&s.conditions, READY))
        {
            break;
        }
        assert!(started.elapsed() < DEADLINE, "{:#?}", stored.status);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(ctx.backoff.attempts(&integration_key), 3);
    assert_eq!(
        ctx.backoff
            .attempts(&backoff::key("RedshiftConnection", NAMESPACE, "analytics")),
        0
    );
}

#[tokio::test]
async fn a_deleted_connection_secret_is_put_back_without_aws() {
    let sim = sample_sim().await;
    let api = FakeApi::default();
    let ctx = context(&api, &sim);
    api.put(&connection_path("analytics"), &analytics_connection());
    let started = Instant::now();
    while api
        .get::<RedshiftConnection>(&connection_path("analytics"))
        .and_then(|c| c.status)
        .is_none_or(|s| !is_true(&s.conditions, READY))
    {
        reconcile_connection(&api, &ctx, "analytics").await;
        assert!(started.elapsed() < DEADLINE);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let published: Value = api
        .get(&secret_path("analytics-connection"))
        .expect("published");
    assert!(published["data"]["jdbcUrl"].is_string());

    api.remove(&secret_path("analytics-connection"));
    let calls = sim.calls().len();
    let writes = status_writes(&api);
    reconcile_connection(&api, &ctx, "analytics").await;
    let restored: Value = api
        .get(&secret_path("analytics-connection"))
        .expect("restored");
    assert_eq!(restored["data"], published["data"]);
    assert_eq!(
        sim.calls().len(),
        calls,
        "restored from status, no AWS call"
    );
    assert_eq!(status_writes(&api), writes, "and no status write");
}

/// The sample estate plus one Aurora MySQL source per tenant, both on one zero-ETL-ready parameter group,
/// and the analytics namespace already case sensitive and authorizing every `fleet-` source: what a fleet
/// of integrations into one warehouse shares.
fn fleet_estate(tenants: &[&str]) -> aws_sim::Estate {
    let mut estate = crate::testing::sample_estate();
    let region = estate.accounts[0]
        .regions
        .get_mut("us-east-1")
        .expect("the sample region");
    // Ready by the operator's own definition: every value it would set when fixing the group.
    let ready = source_params::requirements(source_params::Engine::AuroraMysql);
    region
        .db_cluster_parameter_groups
        .push(aws_sim::estate::ParameterGroupSeed {
            name: "fleet-zeroetl".into(),
            family: "aurora-mysql8.0".into(),
            parameters: ready
                .iter()
                .map(|r| (r.name.to_string(), r.fix_value.to_string()))
                .collect(),
            ..Default::default()
        });
    for tenant in tenants {
        region.db_clusters.push(aws_sim::estate::DbClusterSeed {
            id: format!("fleet-{tenant}"),
            engine: "aurora-mysql".into(),
            engine_version: "8.0.mysql_aurora.3.05.2".into(),
            parameter_group: Some("fleet-zeroetl".into()),
            backup_retention_period: Some(7),
            ..Default::default()
        });
        region.db_instances.push(aws_sim::estate::DbInstanceSeed {
            id: format!("fleet-{tenant}-1"),
            cluster: Some(format!("fleet-{tenant}")),
            instance_class: Some("db.r6g.large".into()),
            ..Default::default()
        });
    }
    for workgroup in region
        .workgroups
        .iter_mut()
        .filter(|w| w.namespace == "analytics")
    {
        workgroup
            .config_parameters
            .insert("enable_case_sensitive_identifier".into(), "true".into());
    }
    region.resource_policies.insert(
        "analytics".into(),
        json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "redshift.amazonaws.com"},
             "Action": "redshift:AuthorizeInboundIntegration", "Resource": ANALYTICS_NS,
             "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:rds:us-east-1:111111111111:cluster:fleet-*"}}},
            {"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
             "Action": "redshift:CreateInboundIntegration", "Resource": ANALYTICS_NS}
        ]}),
    );
    estate
}

/// Where a tenant's "orders" integration of the fleet estate is stored.
fn fleet_integration_path(tenant: &str) -> String {
    path_of(
        "zeroetl.dev/v1alpha1",
        "zeroetlintegrations",
        tenant,
        "orders",
    )
}

/// A tenant's "orders" integration from its own fleet source into the shared analytics namespace.
fn put_fleet_integration(api: &FakeApi, tenant: &str) {
    api.put(
        &fleet_integration_path(tenant),
        &json!({
            "apiVersion": "zeroetl.dev/v1alpha1", "kind": "ZeroEtlIntegration",
            "metadata": {"name": "orders", "namespace": tenant, "generation": 1},
            "spec": {"source": {"dbClusterIdentifier": format!("fleet-{tenant}")},
                     "target": {"namespaceArn": ANALYTICS_NS}},
        }),
    );
}

#[tokio::test]
async fn a_second_tenants_integration_takes_the_shared_group_target_and_policy_from_the_first_read()
{
    let sim = sim_with(fleet_estate(&["team-a", "team-b"])).await;
    let api = FakeApi::default();
    let ctx = context(&api, &sim);
    let path = fleet_integration_path;
    for tenant in ["team-a", "team-b"] {
        put_fleet_integration(&api, tenant);
    }
    let until_ready = |tenant: &'static str| {
        let (api, ctx) = (&api, &ctx);
        async move {
            let started = Instant::now();
            loop {
                let obj: ZeroEtlIntegration = api.get(&path(tenant)).expect("stored");
                if ready(Some(&obj)) {
                    return;
                }
                integration::reconcile(Arc::new(obj), ctx.clone())
                    .await
                    .expect("the pass ends without a controller error");
                assert!(started.elapsed() < DEADLINE, "{tenant} never Ready");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    until_ready("team-a").await;
    let first = sim.counts();
    until_ready("team-b").await;
    let second: std::collections::BTreeMap<String, u64> = sim
        .counts()
        .into_iter()
        .map(|(op, n)| {
            let before = first.get(&op).copied().unwrap_or(0);
            (op, n - before)
        })
        .filter(|(_, n)| *n > 0)
        .collect();
    for shared in [
        "rds:DescribeDBClusterParameterGroups",
        "rds:DescribeDBClusterParameters",
        "redshift-serverless:ListNamespaces",
        "redshift-serverless:ListWorkgroups",
        "redshift:GetResourcePolicy",
    ] {
        assert_eq!(
            first.get(shared),
            Some(&1),
            "the first tenant reads {shared} once: {first:?}"
        );
        assert_eq!(
            second.get(shared),
            None,
            "team-b's integration reads {shared} from the cache, the first tenant's create did not clear it: {second:?}"
        );
    }
    assert_eq!(second.get("rds:CreateIntegration"), Some(&1));
    assert_eq!(
        second.get("rds:DescribeDBClusters"),
        Some(&1),
        "its own source"
    );
    assert_eq!(sim.mutating_calls(), 2, "two creates, nothing else to fix");
}

/// An operator restart (a rollout, a new leader) over two teams' Ready integrations: each object's first pass
/// in the new process takes its integration from one shared read, checks nothing else yet (the full checks
/// are spread over the drift interval) and writes nothing. Before, every object described its integration
/// itself and re-read its source, parameter group, target and policy past every cache.
#[tokio::test]
async fn a_restarted_operator_reads_two_teams_ready_integrations_from_one_page_and_writes_nothing()
{
    let sim = sim_with(fleet_estate(&["team-a", "team-b"])).await;
    let api = FakeApi::default();
    let path = fleet_integration_path;
    let pass = |ctx: &Arc<Context>, tenant: &str| {
        let obj: ZeroEtlIntegration = api.get(&path(tenant)).expect("stored");
        integration::reconcile(Arc::new(obj), ctx.clone())
    };
    let first_process = context(&api, &sim);
    for tenant in ["team-a", "team-b"] {
        put_fleet_integration(&api, tenant);
        let started = Instant::now();
        while !ready(api.get(&path(tenant)).as_ref()) {
            pass(&first_process, tenant)
                .await
                .expect("the pass ends without a controller error");
            assert!(started.elapsed() < DEADLINE, "{tenant} never Ready");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // The restarted process: new memory, its integration snapshot wired as the controller wires it.
    let restarted = context(&api, &sim);
    let (waker, _woken) = tokio::sync::mpsc::unbounded_channel();
    restarted.shared.snapshots.connect(
        None,
        waker,
        &restarted.config.cluster_name,
        integration::snapshots::Refresh::default(),
        restarted.metrics.clone(),
    );
    let before = sim.counts();
    api.clear_requests();
    for tenant in ["team-a", "team-b"] {
        pass(&restarted, tenant)
            .await
            .expect("the pass ends without a controller error");
        assert!(
            ready(api.get(&path(tenant)).as_ref()),
            "{tenant} still Ready"
        );
    }
    let calls: std::collections::BTreeMap<String, u64> = sim
        .counts()
        .into_iter()
        .map(|(op, n)| (op.clone(), n - before.get(&op).copied().unwrap_or(0)))
        .filter(|(_, n)| *n > 0)
        .collect();
    assert_eq!(
        calls,
        [("rds:DescribeIntegrations".to_string(), 1)].into(),
        "one page for both teams, nothing else"
    );
    let writes: Vec<String> = api
        .requests()
        .into_iter()
        .filter(|r| !r.starts_with("GET"))
        .collect();
    assert!(writes.is_empty(), "no write and no event: {writes:#?}");
}

/// Becoming Ready the first time is no event (the Ready condition says it); becoming Ready after a warning
/// is, so that `kubectl describe` shows the trouble ending as well as starting.
#[tokio::test]
async fn ready_is_an_event_only_when_it_ends_a_warning() {
    let sim = sample_sim().await;
    let api = FakeApi::default();
    let ctx = context(&api, &sim);
    let mut broken = orders("Delete");
    broken["spec"]["source"] = json!({});
    api.put(&integration_path("orders"), &broken);
    integration_until(&api, &ctx, "orders", "Stalled", |o| {
        o.and_then(|o| o.status.as_ref())
            .is_some_and(|s| is_true(&s.conditions, STALLED))
    })
    .await;
    let stalled_events = api.event_reasons();
    assert!(
        stalled_events.iter().any(|e| e == "InvalidSpec"),
        "{stalled_events:?}"
    );

    let mut fixed = serde_json::to_value(
        api.get::<ZeroEtlIntegration>(&integration_path("orders"))
            .expect("stored"),
    )
    .expect("serializable");
    fixed["spec"]["source"] = json!({"dbClusterIdentifier": "orders-aurora"});
    fixed["metadata"]["generation"] = json!(2);
    api.put(&integration_path("orders"), &fixed);
    integration_until(&api, &ctx, "orders", "Ready", ready).await;
    let events = api.event_reasons();
    assert_eq!(
        events.iter().filter(|e| *e == "Ready").count(),
        1,
        "the stall's end is announced once: {events:?}"
    );
}
