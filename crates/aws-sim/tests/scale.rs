//! What the benchmark relies on: indexed integration lookups stay correct with many integrations (by name,
//! id and ARN, through renames and deletes), `/_sim/integrations/transitions` reports when each became
//! active, and `/_sim/stats` counts requests and CPU. Throughput itself is measured by the
//! `bench_describe` example, not here.

mod common;

use std::time::Duration;

use aws_sdk_rds::types::{Filter, IntegrationStatus};
use common::*;
use serde_json::Value;

const SOURCE_PREFIX: &str = "arn:aws:rds:us-east-1:111111111111:db:bench-source-";

fn estate_with(n: usize) -> aws_sim::Estate {
    let mut estate = sample_estate();
    estate.accounts[0].integration_quota = Some(n + 10);
    let region = estate.accounts[0]
        .regions
        .get_mut("us-east-1")
        .expect("us-east-1");
    for k in 0..n {
        region.integrations.push(aws_sim::estate::IntegrationSeed {
            name: format!("many-{k:04}"),
            source_arn: format!("{SOURCE_PREFIX}{k:04}"),
            target_arn: ANALYTICS_NS.to_string(),
            ..Default::default()
        });
    }
    estate
}

async fn rds(sim: &aws_sim::SimHandle) -> aws_sdk_rds::Client {
    aws_sdk_rds::Client::new(&config(sim, OPERATOR_KEY).await)
}

async fn one(
    rds: &aws_sdk_rds::Client,
    identifier: &str,
) -> Option<aws_sdk_rds::types::Integration> {
    match rds
        .describe_integrations()
        .integration_identifier(identifier)
        .send()
        .await
    {
        Ok(out) => {
            assert_eq!(out.integrations().len(), 1, "{identifier}");
            Some(out.integrations()[0].clone())
        }
        Err(e) => {
            assert_eq!(code(&e), "IntegrationNotFoundFault", "{identifier}");
            None
        }
    }
}

#[tokio::test]
async fn lookups_by_name_id_and_arn_follow_renames_and_deletes_among_many() {
    let sim = sim_with(estate_with(1500)).await;
    let rds = rds(&sim).await;
    let by_name = one(&rds, "many-1234").await.expect("by name");
    let arn = by_name.integration_arn().expect("arn").to_string();
    let id = arn.rsplit(':').next().expect("id").to_string();
    assert_eq!(
        by_name.source_arn(),
        Some(format!("{SOURCE_PREFIX}1234").as_str())
    );
    assert_eq!(
        one(&rds, &id)
            .await
            .and_then(|i| i.integration_name().map(str::to_string)),
        Some("many-1234".to_string())
    );
    assert_eq!(
        one(&rds, &arn)
            .await
            .and_then(|i| i.integration_name().map(str::to_string)),
        Some("many-1234".to_string())
    );

    // Filters resolve each value and page over the matches in ARN order.
    let filter = |values: &[&str]| {
        let mut f = Filter::builder().name("integration-identifier");
        for v in values {
            f = f.values(*v);
        }
        f.build()
    };
    let wanted: Vec<String> = (0..25).map(|k| format!("many-{:04}", k * 7)).collect();
    let wanted_refs: Vec<&str> = wanted.iter().map(String::as_str).collect();
    let first = rds
        .describe_integrations()
        .filters(filter(&wanted_refs))
        .max_records(20)
        .send()
        .await
        .expect("first filtered page");
    assert_eq!(first.integrations().len(), 20);
    let second = rds
        .describe_integrations()
        .filters(filter(&wanted_refs))
        .max_records(20)
        .marker(first.marker().expect("more than one page"))
        .send()
        .await
        .expect("second filtered page");
    assert_eq!(second.integrations().len(), 5);
    assert!(second.marker().is_none());
    let mut names: Vec<String> = first
        .integrations()
        .iter()
        .chain(second.integrations())
        .filter_map(|i| i.integration_name().map(str::to_string))
        .collect();
    names.sort();
    assert_eq!(names, wanted);
    let none = rds
        .describe_integrations()
        .filters(filter(&["no-such-integration"]))
        .send()
        .await
        .expect("a filter without matches is an empty list");
    assert!(none.integrations().is_empty());

    rds.modify_integration()
        .integration_identifier("many-1234")
        .integration_name("renamed-1234")
        .send()
        .await
        .expect("rename");
    assert!(
        one(&rds, "many-1234").await.is_none(),
        "the old name is free"
    );
    assert_eq!(
        one(&rds, "renamed-1234")
            .await
            .and_then(|i| i.integration_arn().map(str::to_string)),
        Some(arn.clone())
    );
    let err = rds
        .modify_integration()
        .integration_identifier("many-0001")
        .integration_name("renamed-1234")
        .send()
        .await
        .expect_err("the new name is taken");
    assert_eq!(code(&err), "IntegrationAlreadyExistsFault");

    rds.delete_integration()
        .integration_identifier(&id)
        .send()
        .await
        .expect("delete");
    wait_for("the deletion to finish", Duration::from_secs(5), || {
        let rds = rds.clone();
        async move { one(&rds, "renamed-1234").await.is_none().then_some(()) }
    })
    .await;
    assert!(one(&rds, &arn).await.is_none());
    assert!(one(&rds, &id).await.is_none());
    let state = sim.state_json();
    let remaining = state["accounts"]["111111111111"]["regions"]["us-east-1"]["integrations"]
        .as_object()
        .expect("integrations")
        .len();
    assert_eq!(remaining, 1499);
}

#[tokio::test]
async fn transitions_report_creation_and_activation() {
    let sim = sim_with(estate_with(3)).await;
    let rds = rds(&sim).await;
    let redshift = aws_sdk_redshift::Client::new(&config(&sim, OPERATOR_KEY).await);
    let source = "arn:aws:rds:us-east-1:111111111111:db:inventory-mysql";
    redshift
        .put_resource_policy()
        .resource_arn(WAREHOUSE_NS)
        .policy(zero_etl_policy(WAREHOUSE_NS, source, "111111111111"))
        .send()
        .await
        .expect("authorize the warehouse");
    let created = rds
        .create_integration()
        .integration_name("fresh")
        .source_arn(source)
        .target_arn(WAREHOUSE_NS)
        .send()
        .await
        .expect("create");
    let arn = created.integration_arn().expect("arn").to_string();

    let transitions = || async {
        let (status, body) = http(&sim, "GET", "/_sim/integrations/transitions", "").await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str::<Value>(&body).expect("JSON")
    };
    let before = transitions().await;
    let entry = |all: &Value, arn: &str| {
        all.as_array()
            .expect("a list")
            .iter()
            .find(|t| t["arn"] == arn)
            .cloned()
            .unwrap_or_else(|| panic!("{arn} listed in {all}"))
    };
    let fresh = entry(&before, &arn);
    assert_eq!(fresh["name"], "fresh");
    assert_eq!(fresh["status"], "creating");
    assert!(fresh["createdAt"].is_string());
    assert!(fresh["activeAt"].is_null(), "{fresh}");
    assert_eq!(before.as_array().map(Vec::len), Some(4));
    let seeded = before
        .as_array()
        .expect("list")
        .iter()
        .find(|t| t["name"] == "many-0000")
        .expect("seeded integration listed");
    assert_eq!(seeded["status"], "active");
    assert!(seeded["activeAt"].is_string(), "seeded active: {seeded}");

    wait_for(
        "the integration to become active",
        Duration::from_secs(5),
        || {
            let rds = rds.clone();
            let arn = arn.clone();
            async move {
                let i = one(&rds, &arn).await?;
                (i.status() == Some(&IntegrationStatus::Active)).then_some(())
            }
        },
    )
    .await;
    let after = entry(&transitions().await, &arn);
    let created_at =
        chrono::DateTime::parse_from_rfc3339(after["createdAt"].as_str().expect("str"))
            .expect("createdAt is RFC 3339");
    let active_at = chrono::DateTime::parse_from_rfc3339(after["activeAt"].as_str().expect("str"))
        .expect("activeAt is RFC 3339");
    // The sim's creation takes STEP: activeAt is the modelled activation time, not the time we looked.
    assert_eq!(
        (active_at - created_at).num_milliseconds(),
        STEP.as_millis() as i64
    );
}

#[tokio::test]
async fn stats_count_requests_and_cpu() {
    let sim = sim().await;
    let (_, body) = http(&sim, "GET", "/_sim/stats", "").await;
    let start: Value = serde_json::from_str(&body).expect("JSON");
    let rds = rds(&sim).await;
    for _ in 0..5 {
        rds.describe_db_clusters().send().await.expect("describe");
    }
    let (status, body) = http(&sim, "GET", "/_sim/stats", "").await;
    assert_eq!(status, 200);
    let end: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        end["requests"].as_u64().expect("requests") - start["requests"].as_u64().expect("requests"),
        5,
        "control-plane requests are not counted"
    );
    let cpu = end["cpuSeconds"].as_f64().expect("cpuSeconds on Linux");
    assert!(cpu > 0.0 && cpu >= start["cpuSeconds"].as_f64().expect("number"));
}
