//! What aws-sim holds, read from its state dump (no API call, so the call log stays the operator's), and
//! the control-plane requests that steer it.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use aws_sim::SimHandle;
use serde_json::Value;

use crate::estates::{PLATFORM_ACCOUNT, REGION};

/// The platform account's us-east-1 region of the state dump.
pub fn platform_region(sim: &SimHandle) -> Value {
    sim.state_json()["accounts"][PLATFORM_ACCOUNT]["regions"][REGION].clone()
}

/// Every integration of the platform account, as dumped.
pub fn integrations(sim: &SimHandle) -> Vec<Value> {
    platform_region(sim)["integrations"]
        .as_object()
        .map(|m| m.values().cloned().collect())
        .unwrap_or_default()
}

/// The integration with this ARN, if AWS still has it.
pub fn integration(sim: &SimHandle, arn: &str) -> Option<Value> {
    let found = platform_region(sim)["integrations"][arn].clone();
    (!found.is_null()).then_some(found)
}

/// The integration named `name`, if any.
pub fn integration_named(sim: &SimHandle, name: &str) -> Option<Value> {
    integrations(sim)
        .into_iter()
        .find(|i| i["integrationName"].as_str() == Some(name))
}

/// A dumped resource's `tags` (or `Tags`) map.
pub fn tags(resource: &Value) -> BTreeMap<String, String> {
    let map = resource
        .get("tags")
        .or_else(|| resource.get("Tags"))
        .and_then(Value::as_object);
    map.map(|m| {
        m.iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect()
    })
    .unwrap_or_default()
}

/// A field of a dumped resource as text ("" when absent).
pub fn text(resource: &Value, field: &str) -> String {
    resource[field].as_str().unwrap_or_default().to_string()
}

/// The resource policy of a namespace of the platform account, parsed; `None` when it has none.
pub fn resource_policy(sim: &SimHandle, namespace_arn: &str) -> Result<Option<Value>> {
    match platform_region(sim)["resourcePolicies"][namespace_arn].as_str() {
        None => Ok(None),
        Some(text) => Ok(Some(
            serde_json::from_str(text).with_context(|| format!("policy of {namespace_arn}"))?,
        )),
    }
}

/// The statements of a policy document (a single statement object counts as a list of one).
pub fn statements(policy: Option<&Value>) -> Vec<Value> {
    match policy.and_then(|p| p.get("Statement")) {
        Some(Value::Array(list)) => list.clone(),
        Some(single @ Value::Object(_)) => vec![single.clone()],
        _ => Vec::new(),
    }
}

/// The source ARNs the statements let `redshift.amazonaws.com` authorize (`aws:SourceArn` conditions of
/// `redshift:AuthorizeInboundIntegration` statements), one entry per statement.
pub fn authorized_sources(statements: &[Value]) -> Vec<String> {
    statements
        .iter()
        .filter(|s| s["Action"] == "redshift:AuthorizeInboundIntegration")
        .filter_map(|s| {
            s["Condition"]
                .as_object()?
                .values()
                .find_map(|keys| keys["aws:SourceArn"].as_str().map(str::to_string))
        })
        .collect()
}

/// How many statements let an account create inbound integrations.
pub fn account_grants(statements: &[Value]) -> usize {
    statements
        .iter()
        .filter(|s| s["Action"] == "redshift:CreateInboundIntegration")
        .count()
}

/// A DB cluster of the platform account.
pub fn db_cluster(sim: &SimHandle, id: &str) -> Value {
    platform_region(sim)["dbClusters"][id].clone()
}

/// A DB cluster parameter group of the platform account, if it exists.
pub fn cluster_parameter_group(sim: &SimHandle, name: &str) -> Option<Value> {
    let found = platform_region(sim)["dbClusterParameterGroups"][name].clone();
    (!found.is_null()).then_some(found)
}

/// A database of a warehouse in the platform account (`integrationId`, `schemas`, …), if it exists.
pub fn warehouse_database(sim: &SimHandle, namespace_arn: &str, database: &str) -> Option<Value> {
    let found = platform_region(sim)["warehouses"][namespace_arn]["databases"][database].clone();
    (!found.is_null()).then_some(found)
}

/// Steers Redshift's view of an integration's replication (`POST /_sim/integrations/{key}/replication`):
/// `state`, `currentLagMs`, `tablesReplicated`, `tables` (see crates/aws-sim/README.md).
pub async fn steer_replication(sim: &SimHandle, integration: &str, body: &Value) -> Result<()> {
    crate::install_crypto_provider();
    let url = format!(
        "{}/_sim/integrations/{integration}/replication",
        sim.endpoint()
    );
    let response = reqwest::Client::new().post(&url).json(body).send().await?;
    if !response.status().is_success() {
        bail!(
            "POST {url}: HTTP {}: {}",
            response.status(),
            response.text().await.unwrap_or_default()
        );
    }
    Ok(())
}
