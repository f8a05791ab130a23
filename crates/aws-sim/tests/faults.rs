//! Every fault kind as the real SDK experiences it: retried throttling and 5xx, latency, chosen errors a
//! number of times, and dropped responses whose action still happened.

mod common;

use std::time::{Duration, Instant};

use aws_config::retry::RetryConfig;
use aws_sim::{Fault, FaultKind};
use common::*;

async fn rds(sim: &aws_sim::SimHandle) -> aws_sdk_rds::Client {
    aws_sdk_rds::Client::new(&config(sim, OPERATOR_KEY).await)
}

fn count(sim: &aws_sim::SimHandle, action: &str) -> u64 {
    sim.counts().get(action).copied().unwrap_or(0)
}

#[tokio::test]
async fn throttling_is_retried_by_the_sdk_until_it_clears() {
    let sim = sim().await;
    let rds = rds(&sim).await;
    sim.inject(Fault::new("rds:DescribeDBClusters", FaultKind::Throttle).times(2));
    rds.describe_db_clusters()
        .send()
        .await
        .expect("third attempt succeeds");
    assert_eq!(count(&sim, "rds:DescribeDBClusters"), 3);
    let throttled: Vec<_> = sim
        .calls()
        .into_iter()
        .filter(|c| c.error_code.as_deref() == Some("Throttling"))
        .collect();
    assert_eq!(throttled.len(), 2);
    assert!(throttled.iter().all(|c| c.status == 400));

    sim.inject(Fault::new("rds:*", FaultKind::Throttle));
    let err = rds
        .describe_db_clusters()
        .send()
        .await
        .expect_err("throttled beyond the retry budget");
    assert_eq!(code(&err), "Throttling");
    sim.clear_faults();

    sim.inject(Fault::new(
        "redshift-serverless:GetWorkgroup",
        FaultKind::Throttle,
    ));
    let sls = aws_sdk_redshiftserverless::Client::new(&config(&sim, OPERATOR_KEY).await);
    let err = sls
        .get_workgroup()
        .workgroup_name("analytics-wg")
        .send()
        .await
        .expect_err("json throttling");
    assert_eq!(code(&err), "ThrottlingException");
    assert_eq!(
        count(&sim, "redshift-serverless:GetWorkgroup"),
        3,
        "the SDK retried it as throttling"
    );
}

#[tokio::test]
async fn server_errors_are_retried_and_surface_when_persistent() {
    let sim = sim().await;
    let rds = rds(&sim).await;
    sim.inject(Fault::new("rds:DescribeDBInstances", FaultKind::ServerError).times(1));
    rds.describe_db_instances()
        .send()
        .await
        .expect("retried past one 500");
    assert_eq!(count(&sim, "rds:DescribeDBInstances"), 2);

    sim.inject(Fault {
        status: Some(503),
        ..Fault::new("*", FaultKind::ServerError)
    });
    let err = rds
        .describe_db_instances()
        .send()
        .await
        .expect_err("persistent 503");
    assert_eq!(code(&err), "ServiceUnavailable");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(503));
}

#[tokio::test]
async fn latency_delays_but_does_not_fail() {
    let sim = sim().await;
    let rds = rds(&sim).await;
    sim.inject(
        Fault::new("rds:DescribeDBClusters", FaultKind::Latency)
            .with_latency_ms(300)
            .times(1),
    );
    let started = Instant::now();
    rds.describe_db_clusters()
        .send()
        .await
        .expect("slow but fine");
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "took {:?}",
        started.elapsed()
    );
    let started = Instant::now();
    rds.describe_db_clusters().send().await.expect("fast again");
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[tokio::test]
async fn chosen_errors_fire_exactly_n_times() {
    let sim = sim().await;
    let rds = rds(&sim).await;
    sim.inject(
        Fault {
            message: Some("busy".into()),
            ..Fault::new("rds:DescribeIntegrations", FaultKind::Error)
        }
        .with_code("IntegrationConflictOperationFault", 400)
        .times(2),
    );
    for _ in 0..2 {
        let err = rds
            .describe_integrations()
            .send()
            .await
            .expect_err("injected");
        assert_eq!(code(&err), "IntegrationConflictOperationFault");
        assert_eq!(message(&err), "busy");
    }
    rds.describe_integrations()
        .send()
        .await
        .expect("the fault is used up");
    assert_eq!(
        count(&sim, "rds:DescribeIntegrations"),
        3,
        "a 400 is not retried"
    );
}

#[tokio::test]
async fn probabilistic_faults_hit_roughly_their_rate() {
    let sim = sim().await;
    let base = config(&sim, OPERATOR_KEY).await;
    let rds = aws_sdk_rds::Client::from_conf(
        aws_sdk_rds::config::Builder::from(&base)
            .retry_config(RetryConfig::disabled())
            .build(),
    );
    sim.inject(
        Fault::new("rds:DescribeDBClusters", FaultKind::Error)
            .with_code("Boom", 400)
            .with_rate(0.5),
    );
    let mut failures = 0;
    for _ in 0..200 {
        if rds.describe_db_clusters().send().await.is_err() {
            failures += 1;
        }
    }
    assert!(
        (50..=150).contains(&failures),
        "{failures} of 200 failed at rate 0.5"
    );
}

/// The e2e crash test's tool: the integration is created, but the caller never hears so.
#[tokio::test]
async fn dropped_responses_still_change_state() {
    let sim = sim().await;
    let base = config(&sim, OPERATOR_KEY).await;
    let rds = aws_sdk_rds::Client::from_conf(
        aws_sdk_rds::config::Builder::from(&base)
            .retry_config(RetryConfig::disabled())
            .build(),
    );
    let source = "arn:aws:rds:us-east-1:111111111111:db:inventory-mysql";
    aws_sdk_redshift::Client::new(&base)
        .put_resource_policy()
        .resource_arn(WAREHOUSE_NS)
        .policy(zero_etl_policy(WAREHOUSE_NS, source, "111111111111"))
        .send()
        .await
        .expect("policy");
    sim.inject(Fault::new("rds:CreateIntegration", FaultKind::DropResponse).times(1));
    let err = rds
        .create_integration()
        .integration_name("inventory")
        .source_arn(source)
        .target_arn(WAREHOUSE_NS)
        .send()
        .await
        .expect_err("dropped");
    assert_eq!(code(&err), "InternalFailure");
    let found = rds
        .describe_integrations()
        .integration_identifier("inventory")
        .send()
        .await
        .expect("it exists anyway");
    assert_eq!(found.integrations().len(), 1);
    assert_eq!(
        sim.mutating_calls(),
        2,
        "PutResourcePolicy and CreateIntegration"
    );
}

#[tokio::test]
async fn control_plane_over_http() {
    let sim = sim().await;
    let rds = rds(&sim).await;
    rds.describe_db_clusters().send().await.expect("one call");

    let (status, body) = http(&sim, "GET", "/_sim/counts", "").await;
    assert_eq!(status, 200);
    let counts: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(counts["rds:DescribeDBClusters"], 1);
    assert_eq!(counts["mutating"], 0);

    let (status, body) = http(&sim, "GET", "/_sim/calls", "").await;
    assert_eq!(status, 200);
    let calls: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(calls[0]["action"], "DescribeDBClusters");
    assert_eq!(calls[0]["accessKeyId"], OPERATOR_KEY.0);
    assert_eq!(calls[0]["account"], "111111111111");

    let (status, _) = http(
        &sim,
        "POST",
        "/_sim/faults",
        r#"{"action":"rds:*","kind":"error","code":"Nope","status":400,"count":1}"#,
    )
    .await;
    assert_eq!(status, 200);
    let err = rds
        .describe_db_clusters()
        .send()
        .await
        .expect_err("fault from HTTP");
    assert_eq!(code(&err), "Nope");
    let (status, _) = http(
        &sim,
        "POST",
        "/_sim/faults",
        r#"{"action":"rds:*","kind":"throttle"}"#,
    )
    .await;
    assert_eq!(status, 200);
    let (status, _) = http(&sim, "DELETE", "/_sim/faults", "").await;
    assert_eq!(status, 200);
    rds.describe_db_clusters()
        .send()
        .await
        .expect("faults cleared");
    let (status, _) = http(
        &sim,
        "POST",
        "/_sim/faults",
        r#"{"action":"rds:*","kind":"explode"}"#,
    )
    .await;
    assert_eq!(status, 400, "unknown kinds are refused");

    let (status, _) = http(
        &sim,
        "POST",
        "/_sim/timings",
        r#"{"integrationCreateMs": 5000}"#,
    )
    .await;
    assert_eq!(status, 200);

    let (status, body) = http(&sim, "GET", "/_sim/state", "").await;
    assert_eq!(status, 200);
    let state: serde_json::Value = serde_json::from_str(&body).expect("json");
    let region = &state["accounts"]["111111111111"]["regions"]["us-east-1"];
    for key in [
        "dbInstances",
        "dbClusters",
        "dbParameterGroups",
        "dbClusterParameterGroups",
        "integrations",
        "redshiftClusters",
        "clusterParameterGroups",
        "serverlessNamespaces",
        "workgroups",
        "resourcePolicies",
        "databases",
        "buckets",
    ] {
        assert!(region.get(key).is_some(), "state has {key}");
    }
    assert_eq!(
        region["dbClusters"]["orders-aurora"]["parameterGroup"],
        "default.aurora-mysql8.0"
    );
    assert!(state["accounts"]["111111111111"]["roles"]["redshift-staging"].is_object());
    assert!(
        !body.contains("operator-demo-secret"),
        "secrets never leave the simulator"
    );

    // Seed a tiny estate with one integration, steer it, then reset back to it.
    let estate = serde_json::json!({"accounts": [{"id": "333333333333", "name": "t",
        "accessKeys": [{"accessKeyId": "AKIATHREE00000000001", "secretAccessKey": "s"}],
        "regions": {"us-east-1": {"integrations": [{"name": "seeded", "sourceArn": "arn:aws:rds:us-east-1:333333333333:db:x",
            "targetArn": PARTNER_NS}]}}}]});
    let (status, _) = http(&sim, "POST", "/_sim/seed", &estate.to_string()).await;
    assert_eq!(status, 200);
    let (status, _) = http(
        &sim,
        "POST",
        "/_sim/integrations/seeded/status",
        r#"{"status":"failed","errors":[{"code":"X","message":"y"}]}"#,
    )
    .await;
    assert_eq!(status, 200);
    let state = sim.state_json();
    let integrations = state["accounts"]["333333333333"]["regions"]["us-east-1"]["integrations"]
        .as_object()
        .expect("map")
        .clone();
    let only = integrations.values().next().expect("one integration");
    assert_eq!(only["Status"], "failed");
    assert_eq!(only["Errors"][0]["ErrorCode"], "X");
    assert_eq!(only["status"], "failed", "camelCase spelling too");
    assert_eq!(only["errors"][0]["errorMessage"], "y");
    assert_eq!(only["integrationName"], "seeded");
    let (status, _) = http(
        &sim,
        "POST",
        "/_sim/integrations/unknown/status",
        r#"{"status":"failed"}"#,
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = http(&sim, "POST", "/_sim/reset", "").await;
    assert_eq!(status, 200);
    let state = sim.state_json();
    let integrations = state["accounts"]["333333333333"]["regions"]["us-east-1"]["integrations"]
        .as_object()
        .expect("map")
        .clone();
    assert_eq!(
        integrations.values().next().expect("back")["Status"],
        "active"
    );
    assert!(sim.calls().is_empty(), "reset clears the call log");
}
