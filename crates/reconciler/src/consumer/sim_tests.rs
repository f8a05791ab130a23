//! Consumer passes against aws-sim (real SDK clients and wire protocols; enforced policies for the roles the
//! operator creates), with the Secrets in the in-memory API server: observe → plan → apply → verify.

use std::sync::Arc;
use std::time::Duration;

use aws_sim::SimHandle;
use serde_json::{json, Value};
use zeroetl_api::conditions::{is_true, Status, VERIFIED};
use zeroetl_api::{RedshiftConnection, RedshiftConsumer};

use super::plan::Step;
use super::{provision, reasons, verify, ConsumerOutcome};
use crate::aws::data_api::{execute_and_wait, DataApiTarget, StatementEnd};
use crate::aws::Identity;
use crate::pipeline;
use crate::testing::fake_api::{path_of, FakeApi};
use crate::testing::{context, operator_clients, sample_sim, REGION};
use crate::Context;

const NS_ARN: &str = "arn:aws:redshift-serverless:us-east-1:111111111111:namespace/3f1c2a9e-5b7d-4e21-9c3a-1a2b3c4d5e01";
const ROLE: &str = "zeroetl-team-a-polytomic";
const ROLE_ARN: &str = "arn:aws:iam::111111111111:role/zeroetl-team-a-polytomic";
const USER: &str = "IAMR:zeroetl-team-a-polytomic";
const KEY_ARN: &str = "arn:aws:kms:us-east-1:111111111111:key/0b7e5c1a-2d4f-4e6a-9b8c-7d6e5f4a3b21";

fn connection() -> RedshiftConnection {
    serde_json::from_value(json!({
        "apiVersion": "zeroetl.dev/v1alpha1", "kind": "RedshiftConnection",
        "metadata": {"name": "analytics", "namespace": "team-a", "uid": "conn-uid"},
        "spec": {"region": "us-east-1", "serverless": {"workgroupName": "analytics-wg"}, "database": "dev"},
    }))
    .unwrap()
}

fn consumer(spec: Value) -> RedshiftConsumer {
    serde_json::from_value(json!({
        "apiVersion": "zeroetl.dev/v1alpha1", "kind": "RedshiftConsumer",
        "metadata": {"name": "polytomic", "namespace": "team-a", "uid": "uid-1", "generation": 1},
        "spec": spec,
    }))
    .unwrap()
}

/// Seed 002's vendor: Data API access, staging with its key, an IAM user with schema usage and SELECT.
fn polytomic() -> Value {
    json!({
        "connectionRef": {"name": "analytics"},
        "role": {"trustedPrincipal": "568237466542",
                 "permissions": {"dataApi": true,
                                 "staging": {"bucket": "zeroetl-staging-use1", "prefix": "unload/polytomic/", "kmsKeyArn": KEY_ARN}}},
        "databaseUser": {"grants": [
            {"type": "SchemaUsage", "schema": "public"},
            {"type": "SelectAllTables", "schema": "public"},
            {"type": "DatabaseTemporary"}]},
    })
}

async fn setup() -> (SimHandle, FakeApi, Arc<Context>) {
    let sim = sample_sim().await;
    let api = FakeApi::default();
    let ctx = context(&api, &sim);
    for table in ["orders", "customers"] {
        operator_sql(&sim, &format!("CREATE TABLE public.{table} (id int)")).await;
    }
    (sim, api, ctx)
}

async fn operator_sql(sim: &SimHandle, sql: &str) {
    let c = operator_clients(sim).await;
    let target = DataApiTarget {
        workgroup_name: Some("analytics-wg".into()),
        cluster_identifier: None,
        database: "dev".into(),
        db_user: None,
        secret_arn: None,
    };
    let end = execute_and_wait(&c, &target, sql, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(end, StatementEnd::Finished, "{sql}");
}

/// One pass; the object gets the status the pipeline would write.
async fn pass(ctx: &Context, obj: &mut RedshiftConsumer) -> ConsumerOutcome {
    let outcome = provision(obj, ctx, &connection()).await.expect("a pass");
    obj.status = Some(pipeline::next_status(
        obj.status.as_ref(),
        obj.metadata.generation,
        &outcome,
        &pipeline::now(),
    ));
    outcome
}

/// Passes until Ready (at most a few: create, then verify).
async fn until_ready(ctx: &Context, obj: &mut RedshiftConsumer) -> usize {
    for passes in 1..=4 {
        let outcome = pass(ctx, obj).await;
        if outcome.progress.is_ready() {
            return passes;
        }
    }
    panic!("not Ready: {:#?}", obj.status);
}

fn counts(sim: &SimHandle, prefix: &str) -> u64 {
    sim.counts()
        .iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .map(|(_, v)| v)
        .sum()
}

fn role_state(sim: &SimHandle) -> Value {
    sim.state_json()["accounts"]["111111111111"]["roles"][ROLE].clone()
}

fn warehouse_state(sim: &SimHandle) -> Value {
    sim.state_json()["accounts"]["111111111111"]["regions"]["us-east-1"]["warehouses"][NS_ARN]
        .clone()
}

fn privileges(sim: &SimHandle, user: &str) -> Vec<String> {
    let w = warehouse_state(sim);
    let mut out = Vec::new();
    for (db, d) in w["databases"].as_object().unwrap() {
        for p in d["privileges"][user].as_array().into_iter().flatten() {
            out.push(format!("{p} ON DATABASE {db}"));
        }
        for (schema, s) in d["schemas"].as_object().unwrap() {
            for p in s["privileges"][user].as_array().into_iter().flatten() {
                out.push(format!("{p} ON SCHEMA {db}.{schema}"));
            }
            for p in s["defaultPrivileges"][user]
                .as_array()
                .into_iter()
                .flatten()
            {
                out.push(format!("DEFAULT {p} IN {db}.{schema}"));
            }
            for (table, t) in s["tablePrivileges"].as_object().into_iter().flatten() {
                for p in t[user].as_array().into_iter().flatten() {
                    out.push(format!("{p} ON {db}.{schema}.{table}"));
                }
            }
        }
    }
    out.into_iter().map(|s| s.replace('"', "")).collect()
}

#[tokio::test]
async fn provisioning_makes_exactly_the_declared_role_user_and_grants_and_verifies_them() {
    let (sim, api, ctx) = setup().await;
    let mut obj = consumer(polytomic());
    let passes = until_ready(&ctx, &mut obj).await;
    assert_eq!(passes, 2, "one pass provisions, the next verifies");

    let role = role_state(&sim);
    let trust: Value = serde_json::from_str(role["trustPolicy"].as_str().unwrap()).unwrap();
    let principals: Vec<&Value> = trust["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| &s["Principal"]["AWS"])
        .collect();
    assert_eq!(
        principals,
        [
            &json!("arn:aws:iam::568237466542:root"),
            &json!("arn:aws:iam::111111111111:user/zeroetl-operator")
        ]
    );
    let external_id = obj.status.as_ref().unwrap().external_id.clone().unwrap();
    assert_eq!(external_id.len(), 32);
    assert_eq!(
        trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"],
        json!(external_id)
    );
    let policies: Vec<&String> = role["inlinePolicies"].as_object().unwrap().keys().collect();
    assert_eq!(
        policies,
        [
            "zeroetl-data-api",
            "zeroetl-staging",
            "zeroetl-staging-kms",
            "zeroetl-temporary-credentials"
        ]
    );
    assert_eq!(role["tags"]["zeroetl.dev/uid"], "uid-1");

    let users = &warehouse_state(&sim)["users"];
    assert_eq!(users[USER]["passwordDisabled"], true);
    assert_eq!(
        privileges(&sim, USER),
        [
            "TEMP ON DATABASE dev",
            "USAGE ON SCHEMA dev.public",
            "SELECT ON dev.public.customers",
            "SELECT ON dev.public.orders"
        ]
    );
    let secret: Value = api
        .get(&path_of("v1", "secrets", "team-a", "polytomic-access"))
        .expect("published");
    let keys: Vec<&String> = secret["data"].as_object().unwrap().keys().collect();
    assert!(keys.iter().any(|k| *k == "externalId") && keys.iter().any(|k| *k == "roleArn"));
    assert!(!keys.iter().any(|k| k.contains("password")));

    // The verification ran as the role: its session described, got credentials, queried and read the bucket.
    let as_role: Vec<String> = sim
        .calls()
        .iter()
        .filter(|c| c.access_key_id.starts_with("ASIA"))
        .map(|c| format!("{}:{}", c.service, c.action))
        .collect();
    for expected in [
        "redshift-serverless:GetCredentials",
        "redshift-data:ExecuteStatement",
        "s3:GetBucketLocation",
        "kms:DescribeKey",
    ] {
        assert!(
            as_role.iter().any(|c| c == expected),
            "{expected} not called as the role: {as_role:?}"
        );
    }

    // A steady pass changes nothing in IAM and runs no GRANT.
    let (iam_writes, executes) = (
        counts(&sim, "iam:") - counts(&sim, "iam:Get") - counts(&sim, "iam:List"),
        sim.calls().len(),
    );
    let outcome = pass(&ctx, &mut obj).await;
    assert!(
        outcome.progress.is_ready() && outcome.changes.is_empty(),
        "{:?}",
        outcome.changes
    );
    assert_eq!(
        counts(&sim, "iam:") - counts(&sim, "iam:Get") - counts(&sim, "iam:List"),
        iam_writes
    );
    assert!(sim.calls().len() > executes, "it did look");
}

#[tokio::test]
async fn a_role_that_lost_its_data_api_policy_is_denied_and_the_next_pass_puts_it_back() {
    let (sim, _api, ctx) = setup().await;
    let mut obj = consumer(polytomic());
    until_ready(&ctx, &mut obj).await;
    let operator = operator_clients(&sim).await;
    operator
        .iam
        .delete_role_policy()
        .role_name(ROLE)
        .policy_name("zeroetl-data-api")
        .send()
        .await
        .unwrap();

    let external_id = obj.status.as_ref().unwrap().external_id.clone().unwrap();
    let conn = connection();
    let facts = super::observe::facts(&operator, &conn.spec).await.unwrap();
    let subject = verify::Subject {
        obj: &obj,
        facts: &facts,
        connection: &conn.spec,
        region: REGION,
        role_arn: ROLE_ARN,
        external_id: &external_id,
        user: Some(USER),
    };
    let denied = verify::verify(&ctx, &subject, chrono::Utc::now()).await;
    assert!(
        matches!(&denied, Step::Failed { reason, message } if reason == "AccessDenied" && message.contains("redshift-data:ExecuteStatement")),
        "{denied:?}"
    );

    let outcome = pass(&ctx, &mut obj).await;
    assert!(
        outcome
            .changes
            .iter()
            .any(|n| n.note.contains("zeroetl-data-api")),
        "{:?}",
        outcome.changes
    );
    assert_eq!(until_ready(&ctx, &mut obj).await, 1);
}

#[tokio::test]
async fn a_wrong_external_id_cannot_assume_the_role() {
    let (sim, _api, ctx) = setup().await;
    let mut obj = consumer(polytomic());
    until_ready(&ctx, &mut obj).await;
    let external_id = obj.status.as_ref().unwrap().external_id.clone().unwrap();
    let aws = crate::testing::aws_clients(&sim);
    let wrong = Identity::AssumeRole {
        role_arn: ROLE_ARN.into(),
        external_id: Some("wrong-external-id".into()),
        session_name: "zeroetl-team-a-polytomic".into(),
    };
    let e = aws.clients(REGION, &wrong).await.expect_err("refused");
    assert_eq!(e.reason(), "AccessDenied");
    let none = Identity::AssumeRole {
        role_arn: ROLE_ARN.into(),
        external_id: None,
        session_name: "zeroetl-team-a-polytomic".into(),
    };
    assert!(aws.clients(REGION, &none).await.is_err());
    let right = Identity::AssumeRole {
        role_arn: ROLE_ARN.into(),
        external_id: Some(external_id),
        session_name: "zeroetl-team-a-polytomic".into(),
    };
    assert!(aws.clients(REGION, &right).await.is_ok());
}

#[tokio::test]
async fn a_grant_removed_from_the_spec_is_revoked_and_a_hand_edit_is_put_back() {
    let (sim, _api, ctx) = setup().await;
    let mut obj = consumer(polytomic());
    until_ready(&ctx, &mut obj).await;
    // By hand: a trust policy that lets anyone with the id in, and an extra privilege.
    let operator = operator_clients(&sim).await;
    let open = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]});
    operator
        .iam
        .update_assume_role_policy()
        .role_name(ROLE)
        .policy_document(open.to_string())
        .send()
        .await
        .unwrap();
    operator_sql(
        &sim,
        &format!("GRANT CREATE ON SCHEMA public TO \"{USER}\""),
    )
    .await;

    obj.spec
        .database_user
        .as_mut()
        .unwrap()
        .grants
        .retain(|g| g.type_ != zeroetl_api::consumer::GrantType::SelectAllTables);
    obj.metadata.generation = Some(2);
    let outcome = pass(&ctx, &mut obj).await;
    let revoked: Vec<&str> = outcome
        .changes
        .iter()
        .filter(|n| n.reason == reasons::REVOKED_EVENT)
        .map(|n| n.note.as_str())
        .collect();
    assert_eq!(revoked.len(), 2, "{revoked:?}");
    assert!(outcome
        .changes
        .iter()
        .any(|n| n.note.contains("trust policy")));
    assert_eq!(
        privileges(&sim, USER),
        ["TEMP ON DATABASE dev", "USAGE ON SCHEMA dev.public"]
    );
    let trust: Value =
        serde_json::from_str(role_state(&sim)["trustPolicy"].as_str().unwrap()).unwrap();
    assert_eq!(
        trust["Statement"][0]["Principal"]["AWS"],
        "arn:aws:iam::568237466542:root"
    );
    until_ready(&ctx, &mut obj).await;
}

#[tokio::test]
async fn a_password_user_gets_a_working_md5_password_that_never_reaches_status_or_events() {
    let (sim, api, ctx) = setup().await;
    let mut obj = consumer(json!({
        "connectionRef": {"name": "analytics"},
        "databaseUser": {"name": "tonic_user", "authentication": "Password", "grants": [
            {"type": "SchemaUsage", "schema": "public"},
            {"type": "SelectAllTables", "schema": "public"},
            {"type": "SelectSystemView", "view": "svv_table_info"},
            {"type": "DatabaseCreate"}]},
    }));
    let first = pass(&ctx, &mut obj).await;
    assert!(
        first.progress.is_ready(),
        "no role: nothing to verify as, Ready at once: {:?}",
        first.progress
    );
    assert!(is_true(&obj.status.as_ref().unwrap().conditions, VERIFIED));
    let secret: k8s_openapi::api::core::v1::Secret = api
        .get(&path_of("v1", "secrets", "team-a", "polytomic-password"))
        .expect("password Secret");
    let password = String::from_utf8(secret.data.unwrap()["password"].0.clone()).unwrap();
    assert_eq!(password.len(), 32);
    assert_eq!(
        warehouse_state(&sim)["users"]["tonic_user"]["passwordDisabled"],
        false
    );
    assert!(privileges(&sim, "tonic_user")
        .contains(&"SELECT ON dev.pg_catalog.svv_table_info".to_string()));
    let status = serde_json::to_string(&obj.status).unwrap();
    let events = format!("{:?}", first.changes);
    let dump = sim.state_json().to_string();
    let md5 = super::password::Password::from_secret(password.clone()).md5_for("tonic_user");
    for (what, text) in [
        ("status", &status),
        ("events", &events),
        ("aws-sim state", &dump),
    ] {
        assert!(
            !text.contains(&password) && !text.contains(&md5),
            "the password is in {what}"
        );
    }
    let verified = obj
        .status
        .as_ref()
        .unwrap()
        .conditions
        .iter()
        .find(|c| c.type_ == VERIFIED)
        .unwrap();
    assert_eq!(
        (verified.status.as_str(), verified.reason.as_str()),
        (Status::True.as_str(), reasons::NOT_APPLICABLE)
    );
}
