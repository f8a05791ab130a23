//! RBAC as the API server sees it: `kubectl auth can-i` as a ServiceAccount, and the grants of rule lists.

use std::collections::BTreeSet;
use std::path::Path;

use anyhow::{anyhow, bail, ensure, Result};
use serde_json::Value;

use crate::command::run_command;
use crate::kubectl::kubectl_binary;

/// One grant: (API group, resource[/subresource], resource name or "" for any, verb).
pub type Grant = (String, String, String, String);

/// Every grant of a permission table: (group, resource, resource names (empty: any), verbs).
pub fn table_grants(table: &[(&str, &str, &[&str], &[&str])]) -> BTreeSet<Grant> {
    let mut grants = BTreeSet::new();
    for (group, resource, names, verbs) in table {
        let names: Vec<&str> = if names.is_empty() {
            vec![""]
        } else {
            names.to_vec()
        };
        for name in names {
            for verb in *verbs {
                grants.insert((
                    group.to_string(),
                    resource.to_string(),
                    name.to_owned(),
                    verb.to_string(),
                ));
            }
        }
    }
    grants
}

/// Every grant a list of RBAC rules makes; fails on wildcards and nonResourceURLs (the operator needs none).
pub fn rule_grants(rules: &Value) -> Result<BTreeSet<Grant>> {
    let rules = rules
        .as_array()
        .ok_or_else(|| anyhow!("rules is not a list: {rules}"))?;
    let strings = |rule: &Value, key: &str, required: bool| -> Result<Vec<String>> {
        match rule.get(key) {
            None if !required => Ok(Vec::new()),
            value => Ok(value
                .and_then(Value::as_array)
                .ok_or_else(|| anyhow!("rule without {key}: {rule}"))?
                .iter()
                .map(|v| v.as_str().unwrap_or_default().to_owned())
                .collect()),
        }
    };
    let mut grants = BTreeSet::new();
    for rule in rules {
        ensure!(
            rule.get("nonResourceURLs").is_none(),
            "unexpected nonResourceURLs in {rule}"
        );
        let mut names = strings(rule, "resourceNames", false)?;
        if names.is_empty() {
            names.push(String::new());
        }
        for group in strings(rule, "apiGroups", true)? {
            for resource in strings(rule, "resources", true)? {
                for verb in strings(rule, "verbs", true)? {
                    ensure!(
                        group != "*" && resource != "*" && verb != "*",
                        "wildcard in rule {rule}"
                    );
                    for name in &names {
                        grants.insert((
                            group.clone(),
                            resource.clone(),
                            name.clone(),
                            verb.clone(),
                        ));
                    }
                }
            }
        }
    }
    Ok(grants)
}

/// Who a ServiceAccount is to the authorizer: its user and groups.
pub fn service_account_identity(namespace: &str, name: &str) -> Vec<String> {
    vec![
        format!("--as=system:serviceaccount:{namespace}:{name}"),
        "--as-group=system:serviceaccounts".to_owned(),
        format!("--as-group=system:serviceaccounts:{namespace}"),
        "--as-group=system:authenticated".to_owned(),
    ]
}

/// `kubectl auth can-i verb resource [--subresource] [-n ns | -A]` as `identity`: Ok(true) for yes, Ok(false)
/// for no, Err for anything else.
pub async fn can_i(
    kubeconfig: &Path,
    identity: &[String],
    verb: &str,
    resource: &str,
    subresource: Option<&str>,
    namespace: Option<&str>,
) -> Result<bool> {
    let mut args = vec![
        format!("--kubeconfig={}", kubeconfig.display()),
        "auth".to_owned(),
        "can-i".to_owned(),
        verb.to_owned(),
        resource.to_owned(),
    ];
    if let Some(sub) = subresource {
        args.push(format!("--subresource={sub}"));
    }
    match namespace {
        Some(ns) => args.push(format!("--namespace={ns}")),
        None => args.push("--all-namespaces".to_owned()),
    }
    args.extend(identity.iter().cloned());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let output = run_command(&kubectl_binary()?, &args).await?;
    match (output.stdout.trim(), output.code) {
        ("yes", Some(0)) => Ok(true),
        ("no", Some(1)) => Ok(false),
        (answer, code) => bail!(
            "kubectl {} answered {answer:?} ({code:?}): {}",
            args.join(" "),
            output.stderr
        ),
    }
}
