//! Rendered Kubernetes objects as JSON values: parsing multi-document YAML, and the fields tests look at.

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// The documents of a multi-document YAML stream, as JSON values (empty documents skipped).
pub fn yaml_documents(text: &str) -> Result<Vec<Value>> {
    let mut documents = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value: Value =
            serde::Deserialize::deserialize(document).context("parse a YAML document")?;
        if !value.is_null() {
            documents.push(value);
        }
    }
    Ok(documents)
}

pub fn kind_of(object: &Value) -> &str {
    object.get("kind").and_then(Value::as_str).unwrap_or("")
}

pub fn name_of(object: &Value) -> &str {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

pub fn namespace_of(object: &Value) -> Option<&str> {
    object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
}

/// Every object of `kind`.
pub fn all_of<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| kind_of(o) == kind).collect()
}

/// The one object of `kind` (named `name` when given).
pub fn find<'a>(objects: &'a [Value], kind: &str, name: Option<&str>) -> Result<&'a Value> {
    let matches: Vec<&Value> = objects
        .iter()
        .filter(|o| kind_of(o) == kind && name.is_none_or(|n| name_of(o) == n))
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        _ => bail!(
            "expected one {kind}{} among the rendered objects, found {}: {:?}",
            name.map(|n| format!(" {n}")).unwrap_or_default(),
            matches.len(),
            objects
                .iter()
                .map(|o| format!("{}/{}", kind_of(o), name_of(o)))
                .collect::<Vec<_>>()
        ),
    }
}

pub fn text_at<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// The value of env var `name` of `container` (its `value`, or `fieldRef:<path>` for the downward API).
pub fn env_value(container: &Value, name: &str) -> Option<String> {
    let var = container
        .get("env")?
        .as_array()?
        .iter()
        .find(|v| v.get("name").and_then(Value::as_str) == Some(name))?;
    if let Some(value) = var.get("value") {
        return Some(
            value
                .as_str()
                .map_or_else(|| value.to_string(), str::to_owned),
        );
    }
    var.pointer("/valueFrom/fieldRef/fieldPath")
        .and_then(Value::as_str)
        .map(|path| format!("fieldRef:{path}"))
}

/// The arguments of `container` (its `args`), as strings.
pub fn args_of(container: &Value) -> Vec<String> {
    container
        .get("args")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|a| a.as_str().map_or_else(|| a.to_string(), str::to_owned))
        .collect()
}
