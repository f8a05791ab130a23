//! Redshift Serverless and the Redshift Data API through the real SDK clients, including creating a
//! destination database from an active integration.

mod common;

use std::time::Duration;

use aws_sdk_redshiftdata::types::{Field, StatusString};
use aws_sdk_redshiftserverless::types::{ConfigParameter, WorkgroupStatus};
use common::*;

const BILLING: &str = "arn:aws:rds:us-east-1:111111111111:cluster:billing-aurora-pg";

#[tokio::test]
async fn namespaces_and_workgroups() {
    let sim = sim().await;
    let sls = aws_sdk_redshiftserverless::Client::new(&config(&sim, OPERATOR_KEY).await);
    let ns = sls
        .get_namespace()
        .namespace_name("analytics")
        .send()
        .await
        .expect("namespace");
    let ns = ns.namespace().expect("namespace body");
    assert_eq!(ns.namespace_arn(), Some(ANALYTICS_NS));
    assert_eq!(
        ns.namespace_id(),
        Some("3f1c2a9e-5b7d-4e21-9c3a-1a2b3c4d5e01")
    );
    // The staging role and the two sample consumers' UNLOAD/COPY roles.
    assert_eq!(
        ns.iam_roles(),
        &[
            "arn:aws:iam::111111111111:role/redshift-staging".to_string(),
            "arn:aws:iam::111111111111:role/zeroetl-polytomic".to_string(),
            "arn:aws:iam::111111111111:role/zeroetl-informatica".to_string(),
        ]
    );
    assert!(ns.kms_key_id().is_some());
    let list = sls.list_namespaces().send().await.expect("list");
    assert_eq!(list.namespaces().len(), 1);
    let workgroups = sls.list_workgroups().send().await.expect("list workgroups");
    let names: Vec<_> = workgroups
        .workgroups()
        .iter()
        .filter_map(|w| w.workgroup_name())
        .collect();
    assert_eq!(names, vec!["analytics-wg"]);
    assert_eq!(
        workgroups.workgroups()[0].namespace_name(),
        Some("analytics")
    );
    let bad = sls
        .list_workgroups()
        .max_results(500)
        .send()
        .await
        .expect_err("maxResults over 100");
    assert_eq!(
        bad.into_service_error().meta().code(),
        Some("ValidationException")
    );

    let wg = sls
        .get_workgroup()
        .workgroup_name("analytics-wg")
        .send()
        .await
        .expect("workgroup");
    let wg = wg.workgroup().expect("workgroup body");
    assert_eq!(wg.namespace_name(), Some("analytics"));
    assert_eq!(wg.status(), Some(&WorkgroupStatus::Available));
    let ep = wg.endpoint().expect("endpoint");
    assert_eq!(ep.port(), Some(5439));
    assert!(ep
        .address()
        .unwrap_or_default()
        .starts_with("analytics-wg.111111111111.us-east-1."));
    let case = wg
        .config_parameters()
        .iter()
        .find(|p| p.parameter_key() == Some("enable_case_sensitive_identifier"))
        .expect("listed");
    assert_eq!(case.parameter_value(), Some("false"));

    let err = sls
        .get_workgroup()
        .workgroup_name("nope")
        .send()
        .await
        .expect_err("unknown");
    assert_eq!(code(&err), "ResourceNotFoundException");
    let err = sls
        .update_workgroup()
        .workgroup_name("analytics-wg")
        .config_parameters(
            ConfigParameter::builder()
                .parameter_key("no_such_key")
                .parameter_value("1")
                .build(),
        )
        .send()
        .await
        .expect_err("unknown key");
    assert_eq!(code(&err), "ValidationException");

    let out = sls
        .update_workgroup()
        .workgroup_name("analytics-wg")
        .config_parameters(
            ConfigParameter::builder()
                .parameter_key("enable_case_sensitive_identifier")
                .parameter_value("true")
                .build(),
        )
        .send()
        .await
        .expect("update");
    assert_eq!(
        out.workgroup().and_then(|w| w.status()),
        Some(&WorkgroupStatus::Modifying)
    );
    let err = sls
        .update_workgroup()
        .workgroup_name("analytics-wg")
        .config_parameters(
            ConfigParameter::builder()
                .parameter_key("require_ssl")
                .parameter_value("true")
                .build(),
        )
        .send()
        .await
        .expect_err("busy");
    assert_eq!(code(&err), "ConflictException");
    wait_for(
        "the workgroup to be available",
        Duration::from_secs(5),
        || {
            let sls = sls.clone();
            async move {
                let out = sls
                    .get_workgroup()
                    .workgroup_name("analytics-wg")
                    .send()
                    .await
                    .ok()?;
                (out.workgroup()?.status() == Some(&WorkgroupStatus::Available)).then_some(())
            }
        },
    )
    .await;
    let state = sim.state_json();
    assert_eq!(
        state["accounts"]["111111111111"]["regions"]["us-east-1"]["workgroups"]["analytics-wg"]
            ["configParameters"]["enable_case_sensitive_identifier"],
        "true"
    );
}

#[tokio::test]
async fn serverless_credentials_are_bounded() {
    let sim = sim().await;
    let sls = aws_sdk_redshiftserverless::Client::new(&config(&sim, OPERATOR_KEY).await);
    let out = sls
        .get_credentials()
        .workgroup_name("analytics-wg")
        .db_name("dev")
        .duration_seconds(900)
        .send()
        .await
        .expect("creds");
    assert_eq!(out.db_user(), Some("IAM:zeroetl-operator"));
    assert!(out.db_password().is_some());
    assert!(out.expiration().is_some());
    let err = sls
        .get_credentials()
        .workgroup_name("analytics-wg")
        .duration_seconds(4000)
        .send()
        .await
        .expect_err("too long");
    assert_eq!(code(&err), "ValidationException");
}

async fn run_sql(
    data: &aws_sdk_redshiftdata::Client,
    workgroup: &str,
    sql: &str,
) -> aws_sdk_redshiftdata::operation::describe_statement::DescribeStatementOutput {
    let id = data
        .execute_statement()
        .workgroup_name(workgroup)
        .database("dev")
        .sql(sql)
        .send()
        .await
        .expect("execute")
        .id()
        .expect("statement id")
        .to_string();
    wait_for("the statement to finish", Duration::from_secs(5), || {
        let data = data.clone();
        let id = id.clone();
        async move {
            let d = data.describe_statement().id(id).send().await.ok()?;
            matches!(
                d.status(),
                Some(StatusString::Finished | StatusString::Failed | StatusString::Aborted)
            )
            .then_some(d)
        }
    })
    .await
}

#[tokio::test]
async fn data_api_runs_the_sql_subset() {
    let sim = sim().await;
    let data = aws_sdk_redshiftdata::Client::new(&config(&sim, OPERATOR_KEY).await);
    let first = data
        .execute_statement()
        .workgroup_name("analytics-wg")
        .database("dev")
        .sql("SELECT 1")
        .send()
        .await
        .expect("submit");
    let early = data
        .describe_statement()
        .id(first.id().expect("statement id"))
        .send()
        .await
        .expect("describe while running");
    assert_eq!(early.status(), Some(&StatusString::Submitted));
    let d = run_sql(&data, "analytics-wg", "SELECT 1").await;
    assert_eq!(d.status(), Some(&StatusString::Finished));
    assert_eq!(d.has_result_set(), Some(true));
    let result = data
        .get_statement_result()
        .id(d.id())
        .send()
        .await
        .expect("result");
    assert_eq!(result.records().len(), 1);
    assert!(matches!(result.records()[0][0], Field::LongValue(1)));

    let d = run_sql(&data, "analytics-wg", "CREATE USER looker PASSWORD DISABLE").await;
    assert_eq!(d.status(), Some(&StatusString::Finished));
    let d = run_sql(
        &data,
        "analytics-wg",
        "GRANT USAGE ON SCHEMA public TO looker",
    )
    .await;
    assert_eq!(d.status(), Some(&StatusString::Finished));
    let d = run_sql(&data, "analytics-wg", "DROP TABLE t").await;
    assert_eq!(d.status(), Some(&StatusString::Failed));
    assert!(
        d.error()
            .unwrap_or_default()
            .contains("aws-sim supports only"),
        "{:?}",
        d.error()
    );

    let err = data
        .execute_statement()
        .database("dev")
        .sql("SELECT 1")
        .send()
        .await
        .expect_err("no target");
    assert_eq!(code(&err), "ValidationException");
    let err = data
        .execute_statement()
        .cluster_identifier("warehouse-ra3")
        .database("dev")
        .sql("SELECT 1")
        .send()
        .await
        .expect_err("no db user");
    assert_eq!(code(&err), "ValidationException");
    let ok = data
        .execute_statement()
        .cluster_identifier("warehouse-ra3")
        .db_user("admin")
        .database("dev")
        .sql("SELECT 1")
        .send()
        .await
        .expect("provisioned with DbUser");
    assert_eq!(ok.cluster_identifier(), Some("warehouse-ra3"));
    let err = data
        .describe_statement()
        .id("00000000-0000-0000-0000-000000000000")
        .send()
        .await
        .expect_err("unknown id");
    assert_eq!(code(&err), "ResourceNotFoundException");
}

#[tokio::test]
async fn create_database_from_an_active_integration() {
    let sim = sim().await;
    // Integrations take longer than statements here, so SQL can observe one still creating.
    sim.set_timings(aws_sim::Timings {
        integration_create: Duration::from_millis(700),
        ..aws_sim::Timings::all(STEP)
    });
    let cfg = config(&sim, OPERATOR_KEY).await;
    let rs = aws_sdk_redshift::Client::new(&cfg);
    let rds = aws_sdk_rds::Client::new(&cfg);
    let data = aws_sdk_redshiftdata::Client::new(&cfg);
    rs.put_resource_policy()
        .resource_arn(WAREHOUSE_NS)
        .policy(zero_etl_policy(WAREHOUSE_NS, BILLING, "111111111111"))
        .send()
        .await
        .expect("policy");
    let created = rds
        .create_integration()
        .integration_name("billing")
        .source_arn(BILLING)
        .target_arn(WAREHOUSE_NS)
        .send()
        .await
        .expect("create");
    let id = created
        .integration_arn()
        .and_then(|a| a.rsplit(':').next())
        .expect("id")
        .to_string();

    let run = |sql: String| {
        let data = data.clone();
        async move {
            let sid = data
                .execute_statement()
                .cluster_identifier("warehouse-ra3")
                .db_user("admin")
                .database("dev")
                .sql(sql)
                .send()
                .await
                .expect("execute")
                .id()
                .expect("statement id")
                .to_string();
            wait_for("the statement", Duration::from_secs(5), || {
                let data = data.clone();
                let sid = sid.clone();
                async move {
                    let d = data.describe_statement().id(sid).send().await.ok()?;
                    matches!(
                        d.status(),
                        Some(StatusString::Finished | StatusString::Failed)
                    )
                    .then_some(d)
                }
            })
            .await
        }
    };
    let d = run(format!(
        "CREATE DATABASE billing FROM INTEGRATION '{id}' DATABASE 'billing'"
    ))
    .await;
    assert_eq!(
        d.status(),
        Some(&StatusString::Failed),
        "integration still creating"
    );
    assert!(
        d.error().unwrap_or_default().contains("not active"),
        "{:?}",
        d.error()
    );

    wait_for(
        "the integration to be active",
        Duration::from_secs(5),
        || {
            let rds = rds.clone();
            async move {
                let out = rds
                    .describe_integrations()
                    .integration_identifier("billing")
                    .send()
                    .await
                    .ok()?;
                (out.integrations()[0].status()
                    == Some(&aws_sdk_rds::types::IntegrationStatus::Active))
                .then_some(())
            }
        },
    )
    .await;
    let d = run(format!("CREATE DATABASE billing FROM INTEGRATION '{id}'")).await;
    assert_eq!(
        d.status(),
        Some(&StatusString::Failed),
        "PostgreSQL sources need the DATABASE clause"
    );
    let d = run(format!(
        "CREATE DATABASE billing FROM INTEGRATION '{id}' DATABASE 'billing'"
    ))
    .await;
    assert_eq!(d.status(), Some(&StatusString::Finished), "{:?}", d.error());
    let d = run(format!(
        "CREATE DATABASE billing FROM INTEGRATION '{id}' DATABASE 'billing'"
    ))
    .await;
    assert_eq!(
        d.error(),
        Some("ERROR: database \"billing\" already exists")
    );
    let d =
        run("CREATE DATABASE other FROM INTEGRATION '00000000-0000-0000-0000-000000000000'".into())
            .await;
    assert_eq!(d.status(), Some(&StatusString::Failed));

    let state = sim.state_json();
    assert_eq!(
        state["accounts"]["111111111111"]["regions"]["us-east-1"]["databases"][WAREHOUSE_NS],
        serde_json::json!(["billing"])
    );
}
