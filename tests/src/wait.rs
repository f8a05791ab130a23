//! Waiting on objects with deadlines. A timeout error shows what was last seen, so a failing test says
//! why without rerunning it.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use kube::api::{Api, DynamicObject};
use serde_json::Value;

/// How often objects are polled while waiting.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// The `status.conditions` of an object (empty when it has none).
pub fn conditions(object: &DynamicObject) -> Vec<Value> {
    object
        .data
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

/// The condition of type `type_`, if present.
pub fn condition(object: &DynamicObject, type_: &str) -> Option<Value> {
    conditions(object)
        .into_iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(type_))
}

/// A field of a condition as text ("" when absent).
pub fn condition_field(condition: &Value, field: &str) -> String {
    condition
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// One line per condition: `Type=Status reason: message`.
pub fn describe_conditions(object: &DynamicObject) -> String {
    let conditions = conditions(object);
    if conditions.is_empty() {
        return "no conditions".to_owned();
    }
    conditions
        .iter()
        .map(|c| {
            format!(
                "{}={} {}: {}",
                condition_field(c, "type"),
                condition_field(c, "status"),
                condition_field(c, "reason"),
                condition_field(c, "message")
            )
        })
        .collect::<Vec<_>>()
        .join("\n  ")
}

/// Polls `name` until `accept` holds, or fails after `timeout` describing the last state seen.
pub async fn wait_for(
    api: &Api<DynamicObject>,
    name: &str,
    what: &str,
    timeout: Duration,
    accept: impl Fn(&DynamicObject) -> bool,
) -> Result<DynamicObject> {
    let deadline = Instant::now() + timeout;
    let mut last_seen: String;
    loop {
        match api.get_opt(name).await {
            Ok(Some(object)) => {
                if accept(&object) {
                    return Ok(object);
                }
                last_seen = format!(
                    "observedGeneration {:?} (generation {:?}), conditions:\n  {}",
                    object.data.pointer("/status/observedGeneration"),
                    object.metadata.generation,
                    describe_conditions(&object)
                );
            }
            Ok(None) => last_seen = "not found".to_owned(),
            Err(err) => last_seen = format!("read failed: {err}"),
        }
        if Instant::now() >= deadline {
            bail!("{name}: timed out after {timeout:?} waiting for {what}; last seen: {last_seen}");
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Waits until condition `type_` of `name` has status `status` (`"True"`, `"False"`, `"Unknown"`).
pub async fn wait_for_condition(
    api: &Api<DynamicObject>,
    name: &str,
    type_: &str,
    status: &str,
    timeout: Duration,
) -> Result<DynamicObject> {
    wait_for(api, name, &format!("{type_}={status}"), timeout, |object| {
        condition(object, type_).is_some_and(|c| condition_field(&c, "status") == status)
    })
    .await
}

/// Waits until the object has a `status.observedGeneration` equal to its `metadata.generation`.
pub async fn wait_for_observed_generation(
    api: &Api<DynamicObject>,
    name: &str,
    timeout: Duration,
) -> Result<DynamicObject> {
    wait_for(
        api,
        name,
        "status.observedGeneration = metadata.generation",
        timeout,
        |object| {
            let observed = object
                .data
                .pointer("/status/observedGeneration")
                .and_then(Value::as_i64);
            observed.is_some() && observed == object.metadata.generation
        },
    )
    .await
}
