//! AWS estates for tests that need more than the sample: the sample estate (config/samples/aws-estate.yaml)
//! as JSON, a person's access key beside the operator's, and what a test adds to it (more sources, a
//! case-sensitive analytics workgroup, a database already in the warehouse).

use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use aws_sim::{Estate, SimConfig, SimHandle, Timings};
use serde_json::{json, Value};

use crate::by_hand::{PERSON_ACCESS_KEY_ID, PERSON_SECRET_ACCESS_KEY, PERSON_USER_NAME};
use crate::sim::sample_estate_file;

/// The sample estate's platform account (sources, the analytics and warehouse-ra3 targets, the operator).
pub const PLATFORM_ACCOUNT: &str = "111111111111";
pub const REGION: &str = "us-east-1";
/// The serverless analytics namespace of the sample estate.
pub const ANALYTICS_NAMESPACE_ARN: &str = "arn:aws:redshift-serverless:us-east-1:111111111111:namespace/3f1c2a9e-5b7d-4e21-9c3a-1a2b3c4d5e01";
/// The partner account's serverless namespace.
pub const PARTNER_NAMESPACE_ARN: &str = "arn:aws:redshift-serverless:us-east-1:222222222222:namespace/c4a7e1d2-9f3b-4a6c-8e5d-2f1a0b9c8d03";
/// The partner's role the platform account may assume (with [`PARTNER_EXTERNAL_ID`]).
pub const PARTNER_ROLE_ARN: &str = "arn:aws:iam::222222222222:role/zeroetl-connector";
pub const PARTNER_EXTERNAL_ID: &str = "zeroetl-demo-external-id";
/// A zero-ETL-ready Aurora PostgreSQL cluster, an RDS MySQL instance and a not-ready Aurora MySQL cluster.
pub const BILLING_CLUSTER_ARN: &str =
    "arn:aws:rds:us-east-1:111111111111:cluster:billing-aurora-pg";
pub const INVENTORY_INSTANCE_ARN: &str = "arn:aws:rds:us-east-1:111111111111:db:inventory-mysql";
pub const ORDERS_CLUSTER_ARN: &str = "arn:aws:rds:us-east-1:111111111111:cluster:orders-aurora";
/// The cluster parameter group the fleet sources of [`add_aurora_mysql_sources`] share.
pub const FLEET_PARAMETER_GROUP: &str = "fleet-zeroetl";

/// The sample estate as JSON, with the person's key in the platform account.
pub fn with_person() -> Result<Value> {
    let path = sample_estate_file();
    let estate =
        Estate::from_yaml_file(&path).with_context(|| format!("load {}", path.display()))?;
    let mut value = serde_json::to_value(estate)?;
    let keys = platform(&mut value)?
        .get_mut("accessKeys")
        .and_then(Value::as_array_mut)
        .ok_or_else(|| anyhow!("the platform account has no accessKeys"))?;
    keys.push(json!({
        "accessKeyId": PERSON_ACCESS_KEY_ID,
        "secretAccessKey": PERSON_SECRET_ACCESS_KEY,
        "userName": PERSON_USER_NAME,
    }));
    Ok(value)
}

fn platform(estate: &mut Value) -> Result<&mut Value> {
    estate["accounts"]
        .as_array_mut()
        .and_then(|a| {
            a.iter_mut()
                .find(|acct| acct["id"] == json!(PLATFORM_ACCOUNT))
        })
        .ok_or_else(|| anyhow!("no account {PLATFORM_ACCOUNT} in the estate"))
}

fn platform_region(estate: &mut Value) -> Result<&mut serde_json::Map<String, Value>> {
    platform(estate)?["regions"][REGION]
        .as_object_mut()
        .ok_or_else(|| anyhow!("no region {REGION} in the platform account"))
}

fn list<'a>(
    region: &'a mut serde_json::Map<String, Value>,
    key: &str,
) -> Result<&'a mut Vec<Value>> {
    region
        .entry(key)
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .ok_or_else(|| anyhow!("{key} is not a list"))
}

/// Adds `count` Aurora MySQL clusters `<prefix>-NN` (each with a writer) on one zero-ETL-ready cluster
/// parameter group, [`FLEET_PARAMETER_GROUP`]; returns their ARNs.
pub fn add_aurora_mysql_sources(
    estate: &mut Value,
    prefix: &str,
    count: usize,
) -> Result<Vec<String>> {
    let region = platform_region(estate)?;
    list(region, "dbClusterParameterGroups")?.push(json!({
        "name": FLEET_PARAMETER_GROUP,
        "family": "aurora-mysql8.0",
        "description": "Zero-ETL ready parameters for the fleet sources",
        "parameters": {
            "aurora_enhanced_binlog": "1",
            "binlog_backup": "0",
            "binlog_format": "ROW",
            "binlog_replication_globaldb": "0",
            "binlog_row_image": "full",
            "binlog_row_metadata": "full"
        }
    }));
    let mut arns = Vec::new();
    for i in 0..count {
        let id = format!("{prefix}-{i:02}");
        list(region, "dbClusters")?.push(json!({
            "id": id,
            "engine": "aurora-mysql",
            "engineVersion": "8.0.mysql_aurora.3.05.2",
            "parameterGroup": FLEET_PARAMETER_GROUP,
            "backupRetentionPeriod": 7
        }));
        list(region, "dbInstances")?.push(json!({
            "id": format!("{id}-1"),
            "cluster": id,
            "instanceClass": "db.r6g.large"
        }));
        arns.push(format!(
            "arn:aws:rds:{REGION}:{PLATFORM_ACCOUNT}:cluster:{id}"
        ));
    }
    Ok(arns)
}

/// Turns case-sensitive identifiers on in the analytics workgroup (what the operator's target Fix would do).
pub fn analytics_case_sensitive(estate: &mut Value) -> Result<()> {
    let region = platform_region(estate)?;
    let workgroup = list(region, "workgroups")?
        .iter_mut()
        .find(|w| w["name"] == json!("analytics-wg"))
        .ok_or_else(|| anyhow!("no analytics-wg workgroup"))?;
    workgroup["configParameters"]["enable_case_sensitive_identifier"] = json!("true");
    Ok(())
}

/// A database `name` already in the analytics warehouse, with `tables` in its public schema, made by
/// someone else (it is fed by no integration).
pub fn analytics_database(estate: &mut Value, name: &str, tables: &[&str]) -> Result<()> {
    let region = platform_region(estate)?;
    let namespace = list(region, "serverlessNamespaces")?
        .iter_mut()
        .find(|n| n["name"] == json!("analytics"))
        .ok_or_else(|| anyhow!("no analytics namespace"))?;
    namespace["databases"][name] = json!({"schemas": {"public": tables}});
    Ok(())
}

/// aws-sim on a free loopback port seeded with `estate`, with AWS transitions of 200 ms.
pub async fn start_sim(estate: Value) -> Result<SimHandle> {
    let estate: Estate = serde_json::from_value(estate).context("the estate does not parse")?;
    aws_sim::spawn(SimConfig {
        port: 0,
        seed: Some(estate),
        timings: Timings::all(Duration::from_millis(200)),
    })
    .await
    .context("start aws-sim")
}

/// A statement of a third party in a resource policy: the partner account may list the namespace's inbound
/// integrations. The operator must keep it, verbatim, whatever it adds or removes.
pub fn foreign_statement(namespace_arn: &str) -> Value {
    json!({
        "Sid": "PartnerListsInboundIntegrations",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::222222222222:root"},
        "Action": "redshift:DescribeInboundIntegrations",
        "Resource": namespace_arn
    })
}

/// A whole policy document made of `statements`.
pub fn policy_document(statements: Vec<Value>) -> Value {
    json!({"Version": "2012-10-17", "Statement": statements})
}
