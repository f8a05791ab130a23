//! Reading an object's status the way the ownership tests ask about it: a condition's status, reason and
//! message, and status fields as text.

use kube::api::DynamicObject;
use serde_json::Value;

use crate::wait::{condition, condition_field};

/// Condition `type_` has `status` (`"True"`, `"False"`, `"Unknown"`).
pub fn is(object: &DynamicObject, type_: &str, status: &str) -> bool {
    condition(object, type_).is_some_and(|c| condition_field(&c, "status") == status)
}

/// Condition `type_` has `status` and `reason`.
pub fn is_because(object: &DynamicObject, type_: &str, status: &str, reason: &str) -> bool {
    condition(object, type_).is_some_and(|c| {
        condition_field(&c, "status") == status && condition_field(&c, "reason") == reason
    })
}

/// The reason of condition `type_` ("" when absent).
pub fn reason(object: &DynamicObject, type_: &str) -> String {
    condition(object, type_)
        .map(|c| condition_field(&c, "reason"))
        .unwrap_or_default()
}

/// The message of condition `type_` ("" when absent).
pub fn message(object: &DynamicObject, type_: &str) -> String {
    condition(object, type_)
        .map(|c| condition_field(&c, "message"))
        .unwrap_or_default()
}

/// A string at a JSON pointer of the object ("" when absent), e.g. `/status/integrationArn`.
pub fn text(object: &DynamicObject, pointer: &str) -> String {
    object
        .data
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// `status.observedGeneration` equals `metadata.generation`: the status describes the current spec.
pub fn current(object: &DynamicObject) -> bool {
    object
        .data
        .pointer("/status/observedGeneration")
        .and_then(Value::as_i64)
        == object.metadata.generation
}

/// Ready=True for the current spec.
pub fn ready(object: &DynamicObject) -> bool {
    current(object) && is(object, "Ready", "True")
}

/// The object's uid ("" when absent).
pub fn uid(object: &DynamicObject) -> String {
    object.metadata.uid.clone().unwrap_or_default()
}
