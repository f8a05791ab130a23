//! Shared test harness: a simulator seeded with the sample estate, real SDK configs pointed at it, and a
//! deadline-bounded wait.
#![allow(dead_code)]

use std::future::Future;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::{BehaviorVersion, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_rds::error::{ProvideErrorMetadata, SdkError};
use aws_sim::{Estate, SimConfig, SimHandle, Timings};

pub const OPERATOR_KEY: (&str, &str) = ("AKIAZEROETLOPERATOR1", "operator-demo-secret");
pub const PARTNER_KEY: (&str, &str) = ("AKIAZEROETLPARTNER01", "partner-demo-secret");
pub const ANALYTICS_NS: &str = "arn:aws:redshift-serverless:us-east-1:111111111111:namespace/3f1c2a9e-5b7d-4e21-9c3a-1a2b3c4d5e01";
pub const WAREHOUSE_NS: &str =
    "arn:aws:redshift:us-east-1:111111111111:namespace:8d2e4f6a-0b1c-4d3e-8f5a-6b7c8d9e0f02";
pub const PARTNER_NS: &str = "arn:aws:redshift-serverless:us-east-1:222222222222:namespace/c4a7e1d2-9f3b-4a6c-8e5d-2f1a0b9c8d03";

pub fn sample_estate() -> Estate {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/samples/aws-estate.yaml"
    );
    Estate::from_yaml_file(path).expect("config/samples/aws-estate.yaml parses")
}

/// Transitions in tests take this long, so lifecycles are observable but fast.
pub const STEP: Duration = Duration::from_millis(60);

pub async fn sim() -> SimHandle {
    sim_with(sample_estate()).await
}

pub async fn sim_with(estate: Estate) -> SimHandle {
    aws_sim::spawn(SimConfig {
        port: 0,
        seed: Some(estate),
        timings: Timings::all(STEP),
    })
    .await
    .expect("aws-sim starts")
}

pub async fn config(sim: &SimHandle, key: (&str, &str)) -> SdkConfig {
    config_in(sim, key, "us-east-1").await
}

pub async fn config_in(sim: &SimHandle, key: (&str, &str), region: &'static str) -> SdkConfig {
    config_with_credentials(
        sim,
        Credentials::new(key.0, key.1, None, None, "test"),
        region,
    )
    .await
}

pub async fn config_with_credentials(
    sim: &SimHandle,
    creds: Credentials,
    region: &'static str,
) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .endpoint_url(sim.endpoint())
        .credentials_provider(creds)
        // Short backoff so retry tests stay fast; three attempts as the SDK default.
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(5)),
        )
        .load()
        .await
}

/// The service error code of a failed SDK call.
pub fn code<E: ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
    err: &SdkError<E, R>,
) -> String {
    err.as_service_error()
        .and_then(|e| e.code())
        .map(str::to_string)
        .unwrap_or_else(|| format!("no service error: {err:?}"))
}

pub fn message<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> String {
    err.as_service_error()
        .and_then(|e| e.message())
        .unwrap_or_default()
        .to_string()
}

/// Poll `check` until it yields `Some`, failing the test after `within`.
pub async fn wait_for<T, F, Fut>(what: &str, within: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A minimal HTTP/1.1 client for the `/_sim/` control plane.
pub async fn http(sim: &SimHandle, method: &str, path: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", sim.port()))
        .await
        .expect("connects");
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).await.expect("writes");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("reads");
    let text = String::from_utf8_lossy(&raw).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status line");
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// A policy that authorizes zero-ETL from `source_arn` into `namespace_arn` for `account`.
pub fn zero_etl_policy(namespace_arn: &str, source_arn: &str, account: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Principal": {"Service": "redshift.amazonaws.com"},
             "Action": "redshift:AuthorizeInboundIntegration", "Resource": namespace_arn,
             "Condition": {"StringEquals": {"aws:SourceArn": source_arn}}},
            {"Effect": "Allow", "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
             "Action": "redshift:CreateInboundIntegration", "Resource": namespace_arn}
        ]
    })
    .to_string()
}

/// Run `sql` through the Data API on a serverless workgroup and wait until it finishes or fails.
pub async fn run_sql_on(
    data: &aws_sdk_redshiftdata::Client,
    workgroup: &str,
    database: &str,
    sql: &str,
) -> aws_sdk_redshiftdata::operation::describe_statement::DescribeStatementOutput {
    use aws_sdk_redshiftdata::types::StatusString;
    let id = data
        .execute_statement()
        .workgroup_name(workgroup)
        .database(database)
        .sql(sql)
        .send()
        .await
        .unwrap_or_else(|e| panic!("execute {sql}: {e:?}"))
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

/// Run `sql` and expect it to finish; panics with the statement's error otherwise.
pub async fn sql_ok(
    data: &aws_sdk_redshiftdata::Client,
    workgroup: &str,
    database: &str,
    sql: &str,
) {
    let d = run_sql_on(data, workgroup, database, sql).await;
    assert_eq!(
        d.status(),
        Some(&aws_sdk_redshiftdata::types::StatusString::Finished),
        "{sql}: {:?}",
        d.error()
    );
}

/// Run `sql`, expect it to fail, and return its error text.
pub async fn sql_err(
    data: &aws_sdk_redshiftdata::Client,
    workgroup: &str,
    database: &str,
    sql: &str,
) -> String {
    let d = run_sql_on(data, workgroup, database, sql).await;
    assert_eq!(
        d.status(),
        Some(&aws_sdk_redshiftdata::types::StatusString::Failed),
        "{sql} should fail"
    );
    d.error().unwrap_or_default().to_string()
}

/// A query's rows as JSON values (`stringValue` → string, `longValue` → number, `booleanValue` → bool,
/// `isNull` → null) keyed by column name, plus the column type names.
pub async fn query(
    data: &aws_sdk_redshiftdata::Client,
    workgroup: &str,
    database: &str,
    sql: &str,
) -> (Vec<serde_json::Map<String, serde_json::Value>>, Vec<String>) {
    use aws_sdk_redshiftdata::types::Field;
    let d = run_sql_on(data, workgroup, database, sql).await;
    assert_eq!(
        d.status(),
        Some(&aws_sdk_redshiftdata::types::StatusString::Finished),
        "{sql}: {:?}",
        d.error()
    );
    let out = data
        .get_statement_result()
        .id(d.id())
        .send()
        .await
        .expect("statement result");
    let columns = out.column_metadata();
    let types = columns
        .iter()
        .map(|c| c.type_name().unwrap_or_default().to_string())
        .collect();
    let rows = out
        .records()
        .iter()
        .map(|r| {
            columns
                .iter()
                .zip(r)
                .map(|(c, f)| {
                    let v = match f {
                        Field::StringValue(s) => serde_json::json!(s),
                        Field::LongValue(n) => serde_json::json!(n),
                        Field::BooleanValue(b) => serde_json::json!(b),
                        Field::IsNull(true) => serde_json::Value::Null,
                        other => panic!("unexpected field {other:?}"),
                    };
                    (c.name().unwrap_or_default().to_string(), v)
                })
                .collect()
        })
        .collect();
    (rows, types)
}
