//! Verification steps and identities against aws-sim (real SDK clients and wire protocols, no Kubernetes).

use std::time::Duration;

use aws_sim::{Fault, FaultKind, SimHandle};
use serde_json::json;
use zeroetl_api::RedshiftConnectionSpec;

use super::plan::{self, reasons, Step, Steps};
use super::{apply, observe};
use crate::aws::{AwsClients, Clients, Identity};
use crate::testing::{self, operator_key};

const PARTNER_ROLE: &str = "arn:aws:iam::222222222222:role/zeroetl-connector";

async fn sim() -> SimHandle {
    testing::sample_sim().await
}

fn factory(sim: &SimHandle) -> AwsClients {
    testing::aws_clients(sim)
}

fn spec(value: serde_json::Value) -> RedshiftConnectionSpec {
    serde_json::from_value(value).expect("valid spec")
}

/// Observe → plan → the AWS actions (the Secret needs Kubernetes and is left out) → the steps.
async fn verify(c: &Clients, spec: &RedshiftConnectionSpec) -> Steps {
    let seen = observe::observe(c, spec).await;
    let (mut steps, actions) = plan::plan(spec, &seen);
    if let Ok(w) = &seen.described {
        for action in &actions {
            if *action == plan::Action::EnableCaseSensitivity {
                if let Err(e) = apply::enable_case_sensitivity(c, w).await {
                    steps.set(action.condition_type(), Step::from_error(&e));
                }
            }
        }
    }
    steps
}

fn reason(step: &Step) -> &str {
    match step {
        Step::Passed { reason, .. }
        | Step::Failed { reason, .. }
        | Step::Retrying { reason, .. }
        | Step::Waiting { reason, .. }
        | Step::Informational { reason, .. } => reason,
        Step::NotChecked => reasons::NOT_CHECKED,
    }
}

#[tokio::test]
async fn a_serverless_connection_passes_every_step() {
    let sim = sim().await;
    let c = factory(&sim)
        .clients("us-east-1", &operator_key())
        .await
        .expect("clients");
    let s = spec(json!({
        "serverless": {"workgroupName": "analytics-wg"}, "database": "dev", "caseSensitiveIdentifiers": "Ignore",
        "staging": {"bucket": "zeroetl-staging-use1", "iamRoleArn": "arn:aws:iam::111111111111:role/redshift-staging"},
    }));
    let steps = verify(&c, &s).await;
    assert_eq!(reason(&steps.authenticated), reasons::DESCRIBED);
    assert_eq!(reason(&steps.credentials), reasons::ISSUED);
    assert_eq!(reason(&steps.reachable), reasons::QUERY_SUCCEEDED);
    assert_eq!(reason(&steps.staging), reasons::STAGING_VERIFIED);
    // Case sensitivity is off on analytics-wg; Ignore reports it without deciding Ready.
    assert!(
        matches!(steps.case_sensitive, Step::Informational { ref reason, .. } if reason == reasons::DISABLED)
    );
    let counts = sim.counts();
    for action in [
        "redshift-serverless:GetCredentials",
        "redshift-data:ExecuteStatement",
        "s3:GetBucketLocation",
    ] {
        assert_eq!(counts.get(action), Some(&1), "{action}: {counts:?}");
    }
    assert_eq!(
        sim.mutating_calls(),
        1,
        "only the Data API statement: {counts:?}"
    );
}

#[tokio::test]
async fn a_provisioned_connection_uses_cluster_credentials_for_its_db_user() {
    let sim = sim().await;
    let c = factory(&sim)
        .clients("us-east-1", &operator_key())
        .await
        .expect("clients");
    let s = spec(
        json!({"provisioned": {"clusterIdentifier": "warehouse-ra3"}, "database": "dev", "auth": {"dbUser": "etl"}}),
    );
    let steps = verify(&c, &s).await;
    for step in [
        &steps.authenticated,
        &steps.credentials,
        &steps.reachable,
        &steps.staging,
        &steps.case_sensitive,
    ] {
        assert!(step.is_passed(), "{step:?}");
    }
    assert_eq!(sim.counts().get("redshift:GetClusterCredentials"), Some(&1));
}

#[tokio::test]
async fn a_staging_bucket_in_another_region_is_reported_with_both_regions() {
    let sim = sim().await;
    let c = factory(&sim)
        .clients("us-east-1", &operator_key())
        .await
        .expect("clients");
    let s = spec(json!({
        "serverless": {"workgroupName": "analytics-wg"}, "database": "dev",
        "staging": {"bucket": "zeroetl-staging-euw1", "iamRoleArn": "arn:aws:iam::111111111111:role/redshift-staging"},
    }));
    match verify(&c, &s).await.staging {
        Step::Failed { reason, message } => {
            assert_eq!(reason, reasons::BUCKET_REGION_MISMATCH);
            assert!(
                message.contains("eu-west-1") && message.contains("us-east-1"),
                "{message}"
            );
        }
        other => panic!("expected BucketRegionMismatch, got {other:?}"),
    }
}

#[tokio::test]
async fn a_failing_data_api_makes_the_connection_unreachable() {
    let sim = sim().await;
    let c = factory(&sim)
        .clients("us-east-1", &operator_key())
        .await
        .expect("clients");
    sim.inject(
        Fault::new("redshift-data:ExecuteStatement", FaultKind::Error)
            .with_code("AccessDeniedException", 400),
    );
    let steps = verify(
        &c,
        &spec(json!({"serverless": {"workgroupName": "analytics-wg"}, "database": "dev"})),
    )
    .await;
    assert!(steps.authenticated.is_passed() && steps.credentials.is_passed());
    assert!(
        matches!(steps.reachable, Step::Failed { ref reason, .. } if reason == reasons::ACCESS_DENIED),
        "{:?}",
        steps.reachable
    );
}

#[tokio::test]
async fn the_right_external_id_reaches_the_partner_warehouse() {
    let sim = sim().await;
    let aws = factory(&sim);
    let role = Identity::AssumeRole {
        session_name: "zeroetl-sim-partner".into(),
        role_arn: PARTNER_ROLE.into(),
        external_id: Some("zeroetl-demo-external-id".into()),
    };
    let c = aws
        .clients("us-east-1", &role)
        .await
        .expect("the role is assumed");
    let steps = verify(
        &c,
        &spec(json!({"serverless": {"workgroupName": "partner-wg"}, "database": "dev"})),
    )
    .await;
    assert!(
        steps.authenticated.is_passed()
            && steps.reachable.is_passed()
            && steps.case_sensitive.is_passed(),
        "{steps:?}"
    );
    // Cached: more clients and calls for the same identity assume the role once.
    aws.clients("us-east-1", &role).await.expect("cached");
    assert_eq!(sim.counts().get("sts:AssumeRole"), Some(&1));
    let partner_calls = sim
        .calls()
        .into_iter()
        .filter(|r| r.service != "sts" && r.account.as_deref() == Some("222222222222"))
        .count();
    assert!(
        partner_calls >= 4,
        "the warehouse calls ran as the partner account"
    );
}

#[tokio::test]
async fn a_wrong_external_id_is_access_denied_before_any_other_call() {
    let sim = sim().await;
    let wrong = Identity::AssumeRole {
        session_name: "zeroetl-sim-partner".into(),
        role_arn: PARTNER_ROLE.into(),
        external_id: Some("not-the-external-id".into()),
    };
    let err = factory(&sim)
        .clients("us-east-1", &wrong)
        .await
        .expect_err("the trust policy refuses");
    let step = Step::from_error(&err);
    assert!(
        matches!(step, Step::Failed { ref reason, .. } if reason == reasons::ACCESS_DENIED),
        "{step:?}"
    );
    let decision = plan::decide(
        &Steps {
            authenticated: step,
            ..Steps::default()
        },
        "",
        Duration::from_secs(60),
    );
    assert!(matches!(
        decision.progress,
        crate::progress::Progress::Stalled { .. }
    ));
    let services: Vec<String> = sim
        .calls()
        .into_iter()
        .map(|r| format!("{}:{}", r.service, r.action))
        .collect();
    assert_eq!(services, vec!["sts:AssumeRole".to_string()]);
    assert!(
        !err.to_string().contains("not-the-external-id"),
        "the external id is not echoed: {err}"
    );
}

#[tokio::test]
async fn an_unknown_access_key_fails_authentication() {
    let sim = sim().await;
    let bogus = Identity::AccessKey {
        access_key_id: "AKIAUNKNOWNKEY000000".into(),
        secret_access_key: "nope".into(),
    };
    let c = factory(&sim)
        .clients("us-east-1", &bogus)
        .await
        .expect("building clients makes no call");
    let steps = verify(
        &c,
        &spec(json!({"serverless": {"workgroupName": "analytics-wg"}, "database": "dev"})),
    )
    .await;
    assert!(
        matches!(steps.authenticated, Step::Failed { ref reason, .. } if reason == "InvalidClientTokenId"),
        "{:?}",
        steps.authenticated
    );
    assert_eq!(steps.credentials, Step::NotChecked);
    assert_eq!(sim.calls().len(), 1, "nothing after the refused describe");
}

#[tokio::test]
async fn a_secrets_manager_secret_replaces_temporary_credentials() {
    let sim = sim().await;
    let c = factory(&sim)
        .clients("us-east-1", &operator_key())
        .await
        .expect("clients");
    let s = spec(json!({
        "provisioned": {"clusterIdentifier": "warehouse-ra3"}, "database": "dev",
        "auth": {"secretArn": "arn:aws:secretsmanager:us-east-1:111111111111:secret:warehouse-admin-AbCdEf"},
    }));
    let steps = verify(&c, &s).await;
    assert_eq!(reason(&steps.credentials), reasons::NOT_NEEDED);
    assert!(steps.reachable.is_passed(), "{:?}", steps.reachable);
    assert_eq!(sim.counts().get("redshift:GetClusterCredentials"), None);
}
