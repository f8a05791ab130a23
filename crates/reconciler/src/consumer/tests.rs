//! The middle test layer for consumers: whole reconciles through `kube::Client` against the in-memory API
//! server and aws-sim — finalizer, status, events, Secrets, the steady state, deletion, adoption, rotation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sim::SimHandle;
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::controller::Action;
use serde_json::{json, Value};
use zeroetl_api::conditions::{find, is_true, READY, RECONCILING, STALLED};
use zeroetl_api::RedshiftConsumer;

use super::{reconcile, FINALIZER};
use crate::testing::fake_api::{path_of, FakeApi};
use crate::testing::{context, operator_clients, sample_sim};
use crate::Context;

const NAMESPACE: &str = "team-a";
const NS_ARN: &str = "arn:aws:redshift-serverless:us-east-1:111111111111:namespace/3f1c2a9e-5b7d-4e21-9c3a-1a2b3c4d5e01";
const ROLE: &str = "zeroetl-team-a-polytomic";
const USER: &str = "IAMR:zeroetl-team-a-polytomic";
const DEADLINE: Duration = Duration::from_secs(60);

fn consumer_path(name: &str) -> String {
    path_of("zeroetl.dev/v1alpha1", "redshiftconsumers", NAMESPACE, name)
}

fn secret_path(name: &str) -> String {
    path_of("v1", "secrets", NAMESPACE, name)
}

/// A connection the way a Ready one looks (the consumer only reads its spec and Ready).
fn ready_connection() -> Value {
    json!({
        "apiVersion": "zeroetl.dev/v1alpha1", "kind": "RedshiftConnection",
        "metadata": {"name": "analytics", "namespace": NAMESPACE, "generation": 1},
        "spec": {"region": "us-east-1", "serverless": {"workgroupName": "analytics-wg"}, "database": "dev"},
        "status": {"observedGeneration": 1, "namespaceArn": NS_ARN, "conditions": [
            {"type": "Ready", "status": "True", "reason": "Reconciled", "message": "",
             "lastTransitionTime": "2026-12-01T00:00:00Z"}]},
    })
}

fn consumer(name: &str, spec: Value) -> Value {
    json!({
        "apiVersion": "zeroetl.dev/v1alpha1", "kind": "RedshiftConsumer",
        "metadata": {"name": name, "namespace": NAMESPACE, "generation": 1},
        "spec": spec,
    })
}

fn polytomic(deletion_policy: &str) -> Value {
    consumer(
        "polytomic",
        json!({"connectionRef": {"name": "analytics"},
               "role": {"trustedPrincipal": "568237466542", "permissions": {"dataApi": true}},
               "databaseUser": {"grants": [{"type": "SchemaUsage", "schema": "public"}, {"type": "DatabaseTemporary"}]},
               "deletionPolicy": deletion_policy}),
    )
}

async fn setup(objects: &[Value]) -> (SimHandle, FakeApi, Arc<Context>) {
    let sim = sample_sim().await;
    let api = FakeApi::default();
    let ctx = context(&api, &sim);
    api.put(
        &path_of(
            "zeroetl.dev/v1alpha1",
            "redshiftconnections",
            NAMESPACE,
            "analytics",
        ),
        &ready_connection(),
    );
    for o in objects {
        api.put(&consumer_path(o["metadata"]["name"].as_str().unwrap()), o);
    }
    (sim, api, ctx)
}

async fn once(api: &FakeApi, ctx: &Arc<Context>, name: &str) -> Option<Action> {
    let obj: RedshiftConsumer = api.get(&consumer_path(name))?;
    Some(
        reconcile(Arc::new(obj), ctx.clone())
            .await
            .expect("the pass ends without a controller error"),
    )
}

async fn until(
    api: &FakeApi,
    ctx: &Arc<Context>,
    name: &str,
    what: &str,
    done: impl Fn(Option<&RedshiftConsumer>) -> bool,
) {
    let started = Instant::now();
    loop {
        once(api, ctx, name).await;
        let stored: Option<RedshiftConsumer> = api.get(&consumer_path(name));
        if done(stored.as_ref()) {
            return;
        }
        assert!(
            started.elapsed() < DEADLINE,
            "{what} not reached: {:#?}",
            stored.and_then(|o| o.status)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn condition_is(obj: Option<&RedshiftConsumer>, type_: &str, status: &str, reason: &str) -> bool {
    obj.and_then(|o| o.status.as_ref())
        .and_then(|s| find(&s.conditions, type_))
        .is_some_and(|c| c.status == status && c.reason == reason)
}

fn ready(obj: Option<&RedshiftConsumer>) -> bool {
    obj.and_then(|o| o.status.as_ref())
        .is_some_and(|s| is_true(&s.conditions, READY))
}

fn roles(sim: &SimHandle) -> Value {
    sim.state_json()["accounts"]["111111111111"]["roles"].clone()
}

fn users(sim: &SimHandle) -> Value {
    sim.state_json()["accounts"]["111111111111"]["regions"]["us-east-1"]["warehouses"][NS_ARN]
        ["users"]
        .clone()
}

#[tokio::test]
async fn a_consumer_gets_its_finalizer_reaches_ready_and_then_costs_nothing() {
    let (sim, api, ctx) = setup(&[polytomic("Delete")]).await;
    once(&api, &ctx, "polytomic").await;
    let first_write = api
        .requests()
        .into_iter()
        .find(|r| !r.starts_with("GET"))
        .unwrap();
    assert!(
        first_write.starts_with("PATCH") && first_write.ends_with("/polytomic"),
        "{first_write}"
    );
    let stored: RedshiftConsumer = api.get(&consumer_path("polytomic")).unwrap();
    assert_eq!(
        stored.metadata.finalizers,
        Some(vec![FINALIZER.to_string()])
    );

    until(&api, &ctx, "polytomic", "Ready", ready).await;
    let events = api.event_reasons();
    assert!(
        !events.iter().any(|e| e == "Ready"),
        "becoming Ready the first time is no event: {events:?}"
    );
    for expected in ["CreatedRole", "CreatedDatabaseUser", "Granted"] {
        assert!(
            events.iter().any(|e| e == expected),
            "{expected} missing from {events:?}"
        );
    }
    assert_eq!(
        events.iter().filter(|e| *e == "Granted").count(),
        2,
        "{events:?}"
    );
    let status = api
        .get::<RedshiftConsumer>(&consumer_path("polytomic"))
        .unwrap()
        .status
        .unwrap();
    assert_eq!(
        status.role_arn.as_deref(),
        Some("arn:aws:iam::111111111111:role/zeroetl-team-a-polytomic")
    );
    assert_eq!(status.database_user.map(|u| u.name).as_deref(), Some(USER));
    let secret: Secret = api
        .get(&secret_path("polytomic-access"))
        .expect("published");
    let data = secret.data.unwrap();
    assert_eq!(
        String::from_utf8_lossy(&data["externalId"].0),
        status.external_id.unwrap()
    );

    // Steady state: reads only, no AWS call.
    api.clear_requests();
    let calls = sim.calls().len();
    once(&api, &ctx, "polytomic").await;
    let requests = api.requests();
    assert!(
        requests.iter().all(|r| r.starts_with("GET")),
        "a steady pass only reads: {requests:?}"
    );
    assert_eq!(sim.calls().len(), calls);
}

#[tokio::test]
async fn a_missing_connection_is_waited_for_without_aws() {
    let (sim, api, ctx) = setup(&[]).await;
    api.remove(&path_of(
        "zeroetl.dev/v1alpha1",
        "redshiftconnections",
        NAMESPACE,
        "analytics",
    ));
    api.put(&consumer_path("polytomic"), &polytomic("Delete"));
    let action = once(&api, &ctx, "polytomic").await.unwrap();
    assert_eq!(action, Action::requeue(crate::timing::CONNECTION_RECHECK));
    let stored: RedshiftConsumer = api.get(&consumer_path("polytomic")).unwrap();
    assert!(condition_is(
        Some(&stored),
        RECONCILING,
        "True",
        "ConnectionNotFound"
    ));
    assert!(stored.metadata.finalizers.is_none());
    assert_eq!(sim.calls().len(), 0);
}

#[tokio::test]
async fn bad_input_is_refused_with_its_field_path_and_no_aws_or_sql_call() {
    let bad = consumer(
        "bad",
        json!({"connectionRef": {"name": "analytics"},
               "role": {"trustedPrincipal": "not-an-account", "externalId": "has spaces"},
               "databaseUser": {"name": "u", "grants": [{"type": "SchemaUsage", "schema": "pub\"lic"}]}}),
    );
    let (sim, api, ctx) = setup(&[bad]).await;
    assert_eq!(once(&api, &ctx, "bad").await, Some(Action::await_change()));
    let stored: RedshiftConsumer = api.get(&consumer_path("bad")).unwrap();
    let stalled = find(&stored.status.as_ref().unwrap().conditions, STALLED)
        .unwrap()
        .clone();
    assert_eq!(
        (stalled.status.as_str(), stalled.reason.as_str()),
        ("True", "InvalidSpec")
    );
    for path in [
        "spec.role.trustedPrincipal",
        "spec.role.externalId",
        "spec.databaseUser.grants[0].schema",
    ] {
        assert!(
            stalled.message.contains(path),
            "{path} missing from {}",
            stalled.message
        );
    }
    assert!(
        !stalled.message.contains("has spaces"),
        "the external id is not echoed"
    );
    assert_eq!(sim.calls().len(), 0);
}

#[tokio::test]
async fn deleting_with_delete_drops_the_user_and_deletes_the_role() {
    let (sim, api, ctx) = setup(&[polytomic("Delete")]).await;
    until(&api, &ctx, "polytomic", "Ready", ready).await;
    assert!(roles(&sim)[ROLE].is_object() && users(&sim)[USER].is_object());
    api.mark_deleted(&consumer_path("polytomic"));
    until(&api, &ctx, "polytomic", "released", |o| o.is_none()).await;
    assert!(roles(&sim)[ROLE].is_null(), "the role is gone");
    assert!(users(&sim)[USER].is_null(), "the user is gone");
    let counts = sim.counts();
    assert_eq!(counts.get("iam:DeleteRole"), Some(&1));
    assert_eq!(counts.get("iam:DeleteRolePolicy"), Some(&2));
    let events = api.event_reasons();
    for expected in ["Revoked", "DroppedDatabaseUser", "DeletedRole", "Deleted"] {
        assert!(
            events.iter().any(|e| e == expected),
            "{expected} missing from {events:?}"
        );
    }
}

#[tokio::test]
async fn retain_lets_go_at_once_and_leaves_role_and_user() {
    let (sim, api, ctx) = setup(&[polytomic("Retain")]).await;
    until(&api, &ctx, "polytomic", "Ready", ready).await;
    let calls = sim.calls().len();
    api.mark_deleted(&consumer_path("polytomic"));
    once(&api, &ctx, "polytomic").await;
    assert!(api
        .get::<RedshiftConsumer>(&consumer_path("polytomic"))
        .is_none());
    assert_eq!(sim.calls().len(), calls, "no AWS call");
    assert!(roles(&sim)[ROLE].is_object() && users(&sim)[USER].is_object());
    assert!(api.event_reasons().iter().any(|e| e == "Retained"));
}

#[tokio::test]
async fn an_existing_role_is_taken_over_only_with_the_adopt_annotation() {
    let (sim, api, ctx) = setup(&[]).await;
    let trust = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::111111111111:root"}, "Action": "sts:AssumeRole"}]});
    operator_clients(&sim)
        .await
        .iam
        .create_role()
        .role_name(ROLE)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .unwrap();
    api.put(&consumer_path("polytomic"), &polytomic("Delete"));
    until(&api, &ctx, "polytomic", "Stalled on RoleExists", |o| {
        condition_is(o, STALLED, "True", "RoleExists")
    })
    .await;
    let untouched = roles(&sim)[ROLE].clone();
    assert!(
        untouched["tags"].as_object().is_none_or(|t| t.is_empty()),
        "{untouched}"
    );

    let mut adopted: Value = serde_json::to_value(
        api.get::<RedshiftConsumer>(&consumer_path("polytomic"))
            .unwrap(),
    )
    .unwrap();
    adopted["metadata"]["annotations"] = json!({"zeroetl.dev/adopt": "true"});
    api.put(&consumer_path("polytomic"), &adopted);
    until(&api, &ctx, "polytomic", "Ready", ready).await;
    assert_eq!(roles(&sim)[ROLE]["tags"]["zeroetl.dev/name"], "polytomic");
    assert!(api.event_reasons().iter().any(|e| e == "AdoptedRole"));
}

#[tokio::test]
async fn the_rotate_annotation_replaces_the_password_once_per_value() {
    let tonic = consumer(
        "tonic",
        json!({"connectionRef": {"name": "analytics"},
               "databaseUser": {"name": "tonic_user", "authentication": "Password",
                                "grants": [{"type": "SelectSystemView", "view": "svv_table_info"}]}}),
    );
    let (_sim, api, ctx) = setup(&[tonic]).await;
    until(&api, &ctx, "tonic", "Ready", ready).await;
    let password = |api: &FakeApi| {
        let s: Secret = api
            .get(&secret_path("tonic-password"))
            .expect("password Secret");
        s.data.unwrap()["password"].0.clone()
    };
    let first = password(&api);

    let mut rotate: Value = serde_json::to_value(
        api.get::<RedshiftConsumer>(&consumer_path("tonic"))
            .unwrap(),
    )
    .unwrap();
    rotate["metadata"]["annotations"] = json!({"zeroetl.dev/rotate-password": "2026-12-01"});
    api.put(&consumer_path("tonic"), &rotate);
    until(&api, &ctx, "tonic", "rotation recorded", |o| {
        o.and_then(|o| o.status.as_ref())
            .and_then(|s| s.password_rotation.as_deref())
            == Some("2026-12-01")
    })
    .await;
    let second = password(&api);
    assert_ne!(first, second);
    assert_eq!(
        api.event_reasons()
            .iter()
            .filter(|e| *e == "RotatedPassword")
            .count(),
        1
    );
    until(&api, &ctx, "tonic", "Ready", ready).await;
    once(&api, &ctx, "tonic").await;
    assert_eq!(
        password(&api),
        second,
        "the same annotation value rotates once"
    );
    let access: Secret = api.get(&secret_path("tonic-access")).expect("coordinates");
    let data = access.data.unwrap();
    assert!(!data.contains_key("password") && data.values().all(|v| v.0 != second));
}
