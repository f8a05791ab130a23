//! What every packaging of the operator Deployment must hold (kustomize, the Helm chart with any values),
//! judged against what the binary reads: crates/controller/src/cli.rs.

use std::collections::BTreeSet;

use anyhow::{anyhow, ensure, Context, Result};
use serde_json::{json, Value};

use crate::objects::{args_of, env_value, text_at};
use crate::paths::workspace_root;

/// Flags the chart passes only when their value is set, which the operator is gaining now. Remove each once
/// crates/controller/src/cli.rs declares it (then `operator_flags` finds it there).
pub const FLAGS_BEING_ADDED: &[&str] = &["--selector", "--log-level", "--cluster-name"];

fn cli_source() -> Result<String> {
    let path = workspace_root().join("crates/controller/src/cli.rs");
    std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))
}

/// The `--flags` of `zeroetl-operator run`: every `#[arg(long …)]` field of cli.rs, named by its
/// `long = "…"` or its field name in kebab case.
pub fn operator_flags() -> Result<BTreeSet<String>> {
    let text = cli_source()?;
    let mut flags = BTreeSet::new();
    for attribute in text.split("#[arg(").skip(1) {
        let Some((attribute, rest)) = attribute.split_once("pub ") else {
            continue;
        };
        if !attribute.contains("long") {
            continue;
        }
        let field = rest.split(':').next().unwrap_or_default().trim();
        let name = match attribute.split_once("long = \"") {
            Some((_, named)) => named.split('"').next().unwrap_or_default().to_owned(),
            None => field.replace('_', "-"),
        };
        flags.insert(format!("--{name}"));
    }
    ensure!(
        flags.contains("--region")
            && flags.contains("--namespace")
            && flags.contains("--lease-name"),
        "found too few flags in crates/controller/src/cli.rs: {flags:?}"
    );
    Ok(flags)
}

/// The environment variables `zeroetl-operator run` reads (the `env = "..."` of crates/controller/src/cli.rs),
/// plus POD_NAME (the leader identity).
pub fn operator_env_names() -> Result<BTreeSet<String>> {
    let text = cli_source()?;
    let mut names: BTreeSet<String> = text
        .split("env = \"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect();
    ensure!(
        names.contains("AWS_REGION") && names.contains("POD_NAMESPACE"),
        "found no env names in crates/controller/src/cli.rs: {names:?}"
    );
    names.insert("POD_NAME".to_owned());
    Ok(names)
}

/// What every packaging of the operator Deployment must hold: the binary's `run` command, probes on the
/// probe port, the downward API, leader election on, a non-root read-only container without capabilities,
/// and only env vars the binary reads (extra ones allowed when listed in `extra_env`).
pub fn check_operator_deployment(
    deployment: &Value,
    service_account: &str,
    extra_env: &[&str],
) -> Result<()> {
    let pod = deployment
        .pointer("/spec/template/spec")
        .ok_or_else(|| anyhow!("Deployment has no pod spec"))?;
    assert_eq!(
        text_at(pod, "/serviceAccountName"),
        service_account,
        "serviceAccountName"
    );
    let containers = pod
        .get("containers")
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("no containers"))?;
    assert_eq!(containers.len(), 1, "one container: {containers:?}");
    let container = &containers[0];
    // `run`, then only flags the binary knows, each as one `--flag=value` word.
    let args = args_of(container);
    assert_eq!(
        args.first().map(String::as_str),
        Some("run"),
        "args: {args:?}"
    );
    let flags = operator_flags()?;
    for arg in &args[1..] {
        let flag = arg.split('=').next().unwrap_or_default();
        assert!(
            flags.contains(flag) || FLAGS_BEING_ADDED.contains(&flag),
            "argument {arg} is not a flag of `zeroetl-operator run` (cli.rs knows {flags:?})"
        );
    }
    assert!(
        !text_at(container, "/image").is_empty(),
        "the container has no image"
    );

    // Probes: /healthz for liveness, /readyz for readiness, on the port the binary listens on.
    let probe_addr = env_value(container, "ZEROETL_PROBE_ADDR").unwrap_or_default();
    let probe_port: u64 = probe_addr
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| anyhow!("ZEROETL_PROBE_ADDR {probe_addr:?} has no port"))?;
    let ports = container
        .get("ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let port_named = |name: &str| {
        ports
            .iter()
            .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
            .and_then(|p| p.get("containerPort"))
            .and_then(Value::as_u64)
    };
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let http = container
            .pointer(&format!("/{probe}/httpGet"))
            .ok_or_else(|| anyhow!("{probe} is not an httpGet probe: {container}"))?;
        assert_eq!(text_at(http, "/path"), path, "{probe} path");
        let port = match http.get("port") {
            Some(Value::String(name)) => port_named(name),
            Some(Value::Number(n)) => n.as_u64(),
            _ => None,
        };
        assert_eq!(port, Some(probe_port), "{probe} port vs {probe_addr}");
    }

    // The downward API and leader election.
    assert_eq!(
        env_value(container, "POD_NAME").as_deref(),
        Some("fieldRef:metadata.name")
    );
    assert_eq!(
        env_value(container, "POD_NAMESPACE").as_deref(),
        Some("fieldRef:metadata.namespace")
    );
    let replicas = deployment
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    if replicas > 1 {
        assert_eq!(
            env_value(container, "ZEROETL_LEADER_ELECTION").as_deref(),
            Some("true"),
            "{replicas} replicas need leader election"
        );
    }
    let known = operator_env_names()?;
    for var in container
        .get("env")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let name = text_at(var, "/name");
        assert!(
            known.contains(name) || extra_env.contains(&name),
            "env {name} is not read by zeroetl-operator (cli.rs knows {known:?})"
        );
    }

    // Non-root, read-only root filesystem, no capabilities, no privilege escalation.
    let pod_security = pod.get("securityContext").cloned().unwrap_or(Value::Null);
    let security = container
        .get("securityContext")
        .ok_or_else(|| anyhow!("the container has no securityContext"))?;
    let non_root = |ctx: &Value| ctx.get("runAsNonRoot") == Some(&json!(true));
    assert!(
        non_root(security) || non_root(&pod_security),
        "runAsNonRoot is not set"
    );
    let uid = security
        .get("runAsUser")
        .or_else(|| pod_security.get("runAsUser"))
        .and_then(Value::as_i64);
    assert!(
        uid.is_some_and(|u| u > 0),
        "runAsUser must be a non-zero uid (the image's USER is a name, which runAsNonRoot cannot verify): {uid:?}"
    );
    assert_eq!(
        security.get("readOnlyRootFilesystem"),
        Some(&json!(true)),
        "readOnlyRootFilesystem"
    );
    assert_eq!(
        security.get("allowPrivilegeEscalation"),
        Some(&json!(false)),
        "allowPrivilegeEscalation"
    );
    assert_eq!(
        security.pointer("/capabilities/drop"),
        Some(&json!(["ALL"])),
        "capabilities.drop"
    );
    assert!(
        security.pointer("/capabilities/add").is_none(),
        "capabilities.add must be empty"
    );
    Ok(())
}
