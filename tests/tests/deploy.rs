//! Packaging e2e: the kustomize config renders, applies to a real control plane and grants the operator's
//! ServiceAccount exactly what the operator does with the API; the Helm chart lints, renders through Helm
//! itself (helm-sdkpy) and matches the kustomize config; the Dockerfile is a well-formed multi-stage,
//! non-root, distroless build.

use std::collections::BTreeSet;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use futures::FutureExt;
use serde_json::{json, Value};
use zeroetl_e2e::crds::{install_crds, parse_crds, project_crd_files};
use zeroetl_e2e::kubectl::{kubectl, kubectl_binary};
use zeroetl_e2e::paths::workspace_root;
use zeroetl_e2e::test_env::TestEnv;

/// Where config/default puts everything namespaced.
const SYSTEM_NAMESPACE: &str = "zeroetl-system";
/// The kustomize config's ServiceAccount, ClusterRole and Deployment.
const KUSTOMIZE_SERVICE_ACCOUNT: &str = "zeroetl-operator";
const KUSTOMIZE_CLUSTER_ROLE: &str = "zeroetl-operator-manager-role";
const KUSTOMIZE_DEPLOYMENT: &str = "zeroetl-operator";
const CRD_NAMES: [&str; 2] = [
    "redshiftconnections.zeroetl.dev",
    "zeroetlintegrations.zeroetl.dev",
];

/// A kubectl or Python run that takes longer than this is stuck.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// How long RBAC changes may take to reach the API server's authorizer cache.
const RBAC_PROPAGATION_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a pending permission is asked again.
const RBAC_POLL_INTERVAL: Duration = Duration::from_millis(200);

const HELM_INSTALL_HINT: &str = "pip install --ignore-requires-python helm-sdkpy";

// ---------------------------------------------------------------------------------------------------------
// What the operator does with the Kubernetes API: the single source the RBAC of both packagings is judged by.
// ---------------------------------------------------------------------------------------------------------

/// (API group, resource[/subresource], verbs) the operator needs cluster-wide.
const CLUSTER_PERMISSIONS: &[(&str, &str, &[&str])] = &[
    (
        "zeroetl.dev",
        "zeroetlintegrations",
        &["get", "list", "watch", "patch", "update"],
    ),
    (
        "zeroetl.dev",
        "redshiftconnections",
        &["get", "list", "watch", "patch", "update"],
    ),
    (
        "zeroetl.dev",
        "zeroetlintegrations/status",
        &["get", "patch", "update"],
    ),
    (
        "zeroetl.dev",
        "redshiftconnections/status",
        &["get", "patch", "update"],
    ),
    ("zeroetl.dev", "zeroetlintegrations/finalizers", &["update"]),
    ("zeroetl.dev", "redshiftconnections/finalizers", &["update"]),
    (
        "",
        "secrets",
        &[
            "get", "list", "watch", "create", "update", "patch", "delete",
        ],
    ),
    ("", "events", &["create", "patch"]),
    ("events.k8s.io", "events", &["create", "patch"]),
];

/// What leader election needs, in the operator's own namespace only.
const LEASE_PERMISSIONS: &[(&str, &str, &[&str])] = &[(
    "coordination.k8s.io",
    "leases",
    &["get", "create", "update"],
)];

/// (verb, resource, subresource, namespace) the operator must NOT be allowed. `None` namespace: cluster
/// scope; `Some("")`: the operator's own namespace.
const FORBIDDEN: &[(&str, &str, Option<&str>, Option<&str>)] = &[
    (
        "delete",
        "customresourcedefinitions.apiextensions.k8s.io",
        None,
        None,
    ),
    (
        "create",
        "customresourcedefinitions.apiextensions.k8s.io",
        None,
        None,
    ),
    ("get", "nodes", None, None),
    ("list", "namespaces", None, None),
    (
        "create",
        "clusterroles.rbac.authorization.k8s.io",
        None,
        None,
    ),
    (
        "create",
        "clusterrolebindings.rbac.authorization.k8s.io",
        None,
        None,
    ),
    (
        "create",
        "roles.rbac.authorization.k8s.io",
        None,
        Some("team-a"),
    ),
    ("impersonate", "serviceaccounts", None, Some("team-a")),
    ("create", "pods", None, Some("team-a")),
    ("get", "configmaps", None, Some("team-a")),
    ("deletecollection", "secrets", None, Some("team-a")),
    (
        "create",
        "zeroetlintegrations.zeroetl.dev",
        None,
        Some("team-a"),
    ),
    (
        "delete",
        "zeroetlintegrations.zeroetl.dev",
        None,
        Some("team-a"),
    ),
    (
        "create",
        "redshiftconnections.zeroetl.dev",
        None,
        Some("team-a"),
    ),
    (
        "delete",
        "redshiftconnections.zeroetl.dev",
        None,
        Some("team-a"),
    ),
    (
        "delete",
        "zeroetlintegrations.zeroetl.dev",
        Some("status"),
        Some("team-a"),
    ),
    (
        "patch",
        "redshiftconnections.zeroetl.dev",
        Some("finalizers"),
        Some("team-a"),
    ),
    ("delete", "events", None, Some("team-a")),
    // Leases: only get/create/update, and only in the operator's namespace.
    ("list", "leases.coordination.k8s.io", None, Some("")),
    ("delete", "leases.coordination.k8s.io", None, Some("")),
    ("create", "leases.coordination.k8s.io", None, Some("team-a")),
    (
        "get",
        "leases.coordination.k8s.io",
        None,
        Some("kube-system"),
    ),
    ("update", "leases.coordination.k8s.io", None, Some("team-a")),
];

/// Every (group, resource, verb) the permission table grants.
fn permission_triples(table: &[(&str, &str, &[&str])]) -> BTreeSet<(String, String, String)> {
    let mut triples = BTreeSet::new();
    for (group, resource, verbs) in table {
        for verb in *verbs {
            triples.insert((group.to_string(), resource.to_string(), verb.to_string()));
        }
    }
    triples
}

/// Every (group, resource, verb) a list of RBAC rules grants; fails on wildcards, resourceNames and
/// nonResourceURLs (the operator needs none).
fn rule_triples(rules: &Value) -> Result<BTreeSet<(String, String, String)>> {
    let rules = rules
        .as_array()
        .ok_or_else(|| anyhow!("rules is not a list: {rules}"))?;
    let strings = |rule: &Value, key: &str| -> Result<Vec<String>> {
        Ok(rule
            .get(key)
            .and_then(Value::as_array)
            .ok_or_else(|| anyhow!("rule without {key}: {rule}"))?
            .iter()
            .map(|v| v.as_str().unwrap_or_default().to_owned())
            .collect())
    };
    let mut triples = BTreeSet::new();
    for rule in rules {
        ensure!(
            rule.get("resourceNames").is_none() && rule.get("nonResourceURLs").is_none(),
            "unexpected resourceNames/nonResourceURLs in {rule}"
        );
        for group in strings(rule, "apiGroups")? {
            for resource in strings(rule, "resources")? {
                for verb in strings(rule, "verbs")? {
                    ensure!(
                        group != "*" && resource != "*" && verb != "*",
                        "wildcard in rule {rule}"
                    );
                    triples.insert((group.clone(), resource.clone(), verb));
                }
            }
        }
    }
    Ok(triples)
}

// ---------------------------------------------------------------------------------------------------------
// Commands with deadlines, YAML documents.
// ---------------------------------------------------------------------------------------------------------

struct CommandOutput {
    success: bool,
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

/// Runs `program args` in the workspace root, killed after `COMMAND_TIMEOUT`.
async fn run_command(program: &Path, args: &[&str]) -> Result<CommandOutput> {
    let shown = format!("{} {}", program.display(), args.join(" "));
    let child = tokio::process::Command::new(program)
        .args(args)
        .current_dir(workspace_root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("start `{shown}`"))?;
    let output = tokio::time::timeout(COMMAND_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| anyhow!("`{shown}` did not finish within {COMMAND_TIMEOUT:?}"))?
        .with_context(|| format!("run `{shown}`"))?;
    Ok(CommandOutput {
        success: output.status.success(),
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

/// Runs kubectl with `args` (no cluster needed for kustomize); fails with its stderr.
async fn kubectl_local(args: &[&str]) -> Result<String> {
    let output = run_command(&kubectl_binary()?, args).await?;
    if !output.success {
        bail!(
            "kubectl {} failed ({:?}): {}",
            args.join(" "),
            output.code,
            output.stderr
        );
    }
    Ok(output.stdout)
}

/// The documents of a multi-document YAML stream, as JSON values (empty documents skipped).
fn yaml_documents(text: &str) -> Result<Vec<Value>> {
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

fn kind_of(object: &Value) -> &str {
    object.get("kind").and_then(Value::as_str).unwrap_or("")
}

fn name_of(object: &Value) -> &str {
    object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn namespace_of(object: &Value) -> Option<&str> {
    object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
}

/// The one object of `kind` (named `name` when given).
fn find<'a>(objects: &'a [Value], kind: &str, name: Option<&str>) -> Result<&'a Value> {
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

fn text_at<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Runs `body`, then `cleanup` whatever `body` did (error or panic); `body`'s failure is reported first.
async fn with_cleanup(
    body: impl Future<Output = Result<()>>,
    cleanup: impl Future<Output = Result<()>>,
) -> Result<()> {
    let outcome = AssertUnwindSafe(body).catch_unwind().await;
    let cleaned = cleanup.await;
    match outcome {
        Err(panic) => std::panic::resume_unwind(panic),
        Ok(result) => result.and(cleaned),
    }
}

/// `kubectl kustomize config/default`, parsed.
async fn render_kustomize() -> Result<Vec<Value>> {
    let dir = workspace_root().join("config").join("default");
    let text = kubectl_local(&["kustomize", &dir.display().to_string()]).await?;
    yaml_documents(&text).context("parse the kustomize output")
}

// ---------------------------------------------------------------------------------------------------------
// The Deployment, however it was packaged.
// ---------------------------------------------------------------------------------------------------------

/// The environment variables `zeroetl-operator run` reads (the `env = "..."` of crates/controller/src/cli.rs),
/// plus POD_NAME (the leader identity).
fn operator_env_names() -> Result<BTreeSet<String>> {
    let path = workspace_root().join("crates/controller/src/cli.rs");
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    let mut names: BTreeSet<String> = text
        .split("env = \"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .map(str::to_owned)
        .collect();
    ensure!(
        names.contains("AWS_REGION") && names.contains("POD_NAMESPACE"),
        "found no env names in {}: {names:?}",
        path.display()
    );
    names.insert("POD_NAME".to_owned());
    Ok(names)
}

/// The value of env var `name` of `container` (its `value`, or `fieldRef:<path>` for the downward API).
fn env_value(container: &Value, name: &str) -> Option<String> {
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

/// What every packaging of the operator Deployment must hold: the binary's `run` command, probes on the
/// probe port, the downward API, leader election on, a non-root read-only container without capabilities,
/// and only env vars the binary reads (extra ones allowed when listed in `extra_env`).
fn check_operator_deployment(
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
    assert_eq!(container.get("args"), Some(&json!(["run"])), "args");
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

// ---------------------------------------------------------------------------------------------------------
// kubectl auth can-i.
// ---------------------------------------------------------------------------------------------------------

/// Who a ServiceAccount is to the authorizer: its user and groups.
fn service_account_identity(namespace: &str, name: &str) -> Vec<String> {
    vec![
        format!("--as=system:serviceaccount:{namespace}:{name}"),
        "--as-group=system:serviceaccounts".to_owned(),
        format!("--as-group=system:serviceaccounts:{namespace}"),
        "--as-group=system:authenticated".to_owned(),
    ]
}

/// `kubectl auth can-i verb resource [--subresource] [-n ns | -A]` as `identity`: Ok(true) for yes, Ok(false)
/// for no, Err for anything else.
async fn can_i(
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

/// Checks that the ServiceAccount `sa_namespace/sa_name` may do everything the operator does — cluster-wide,
/// and with Leases in `sa_namespace` — and none of [`FORBIDDEN`]. Waits (with a deadline) for the bindings
/// to reach the authorizer first.
async fn check_operator_permissions(
    kubeconfig: &Path,
    sa_namespace: &str,
    sa_name: &str,
) -> Result<()> {
    let identity = service_account_identity(sa_namespace, sa_name);
    // RBAC objects reach the authorizer through an informer: wait until the first grant shows.
    let deadline = Instant::now() + RBAC_PROPAGATION_TIMEOUT;
    loop {
        let cluster = can_i(
            kubeconfig,
            &identity,
            "watch",
            "zeroetlintegrations.zeroetl.dev",
            None,
            None,
        )
        .await?;
        let lease = can_i(
            kubeconfig,
            &identity,
            "update",
            "leases.coordination.k8s.io",
            None,
            Some(sa_namespace),
        )
        .await?;
        if cluster && lease {
            break;
        }
        if Instant::now() >= deadline {
            bail!(
                "{sa_namespace}/{sa_name}: the RBAC bindings did not take effect within \
                 {RBAC_PROPAGATION_TIMEOUT:?} (watch zeroetlintegrations: {cluster}, update leases: {lease})"
            );
        }
        tokio::time::sleep(RBAC_POLL_INTERVAL).await;
    }

    let mut failures = Vec::new();
    let mut checked = 0;
    let grants = CLUSTER_PERMISSIONS
        .iter()
        .map(|p| (p, None))
        .chain(LEASE_PERMISSIONS.iter().map(|p| (p, Some(sa_namespace))));
    for ((group, resource, verbs), lease_namespace) in grants {
        let (base, subresource) = match resource.split_once('/') {
            Some((base, sub)) => (base, Some(sub)),
            None => (*resource, None),
        };
        let qualified = if group.is_empty() {
            base.to_owned()
        } else {
            format!("{base}.{group}")
        };
        for verb in *verbs {
            // Cluster-wide grants are asked both across all namespaces and in one namespace the operator
            // has never heard of.
            let namespaces: Vec<Option<&str>> = match lease_namespace {
                Some(ns) => vec![Some(ns)],
                None => vec![None, Some("team-a")],
            };
            for namespace in namespaces {
                checked += 1;
                if !can_i(
                    kubeconfig,
                    &identity,
                    verb,
                    &qualified,
                    subresource,
                    namespace,
                )
                .await?
                {
                    failures.push(format!(
                        "denied: {verb} {qualified}{} in {}",
                        subresource.map(|s| format!("/{s}")).unwrap_or_default(),
                        namespace.unwrap_or("all namespaces")
                    ));
                }
            }
        }
    }
    for (verb, resource, subresource, namespace) in FORBIDDEN {
        let namespace = namespace.map(|ns| if ns.is_empty() { sa_namespace } else { ns });
        checked += 1;
        if can_i(
            kubeconfig,
            &identity,
            verb,
            resource,
            *subresource,
            namespace,
        )
        .await?
        {
            failures.push(format!(
                "allowed but must not be: {verb} {resource}{} in {}",
                subresource.map(|s| format!("/{s}")).unwrap_or_default(),
                namespace.unwrap_or("all namespaces")
            ));
        }
    }
    ensure!(
        failures.is_empty(),
        "{sa_namespace}/{sa_name}: {} of {checked} permission checks failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// (a) kustomize renders.
// ---------------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn kustomize_renders_crds_rbac_and_deployment() -> Result<()> {
    let objects = render_kustomize().await?;

    // The two generated CRDs, unchanged.
    let mut committed = Vec::new();
    for file in project_crd_files()? {
        let documents = yaml_documents(&std::fs::read_to_string(&file)?)?;
        // The harness installs, and `cargo xtask crd` prunes, every config/crd/*.yaml as a CRD: the
        // kustomization there is named `Kustomization` for that reason.
        assert!(
            documents
                .iter()
                .all(|d| kind_of(d) == "CustomResourceDefinition"),
            "{} holds something other than CRDs",
            file.display()
        );
        committed.extend(documents);
    }
    for name in CRD_NAMES {
        let rendered = find(&objects, "CustomResourceDefinition", Some(name))?;
        let original = find(&committed, "CustomResourceDefinition", Some(name))?;
        assert_eq!(
            rendered, original,
            "kustomize changed CRD {name} (config/crd is generated: never patch it)"
        );
        assert!(
            namespace_of(rendered).is_none(),
            "CRD {name} got a namespace"
        );
    }

    // RBAC: exactly the operator's permissions, bound to the operator's ServiceAccount.
    let service_account = find(&objects, "ServiceAccount", Some(KUSTOMIZE_SERVICE_ACCOUNT))?;
    assert_eq!(namespace_of(service_account), Some(SYSTEM_NAMESPACE));
    let cluster_role = find(&objects, "ClusterRole", Some(KUSTOMIZE_CLUSTER_ROLE))?;
    assert_eq!(
        rule_triples(&cluster_role["rules"])?,
        permission_triples(CLUSTER_PERMISSIONS),
        "the ClusterRole must grant exactly what the operator does"
    );
    let binding = find(&objects, "ClusterRoleBinding", None)?;
    assert_eq!(text_at(binding, "/roleRef/kind"), "ClusterRole");
    assert_eq!(text_at(binding, "/roleRef/name"), KUSTOMIZE_CLUSTER_ROLE);
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": KUSTOMIZE_SERVICE_ACCOUNT, "namespace": SYSTEM_NAMESPACE}])
    );
    let lease_role = find(&objects, "Role", None)?;
    assert_eq!(namespace_of(lease_role), Some(SYSTEM_NAMESPACE));
    assert_eq!(
        rule_triples(&lease_role["rules"])?,
        permission_triples(LEASE_PERMISSIONS),
        "the leader-election Role must grant exactly Lease get/create/update"
    );
    let lease_binding = find(&objects, "RoleBinding", None)?;
    assert_eq!(namespace_of(lease_binding), Some(SYSTEM_NAMESPACE));
    assert_eq!(text_at(lease_binding, "/roleRef/kind"), "Role");
    assert_eq!(text_at(lease_binding, "/roleRef/name"), name_of(lease_role));
    assert_eq!(
        lease_binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": KUSTOMIZE_SERVICE_ACCOUNT, "namespace": SYSTEM_NAMESPACE}])
    );
    for kind in ["ClusterRole", "Role"] {
        assert_eq!(
            objects.iter().filter(|o| kind_of(o) == kind).count(),
            1,
            "one {kind} only"
        );
    }

    // The namespace, and everything namespaced in it.
    find(&objects, "Namespace", Some(SYSTEM_NAMESPACE))?;
    for object in &objects {
        let cluster_scoped = matches!(
            kind_of(object),
            "Namespace" | "CustomResourceDefinition" | "ClusterRole" | "ClusterRoleBinding"
        );
        if !cluster_scoped {
            assert_eq!(
                namespace_of(object),
                Some(SYSTEM_NAMESPACE),
                "{}/{} is not in {SYSTEM_NAMESPACE}",
                kind_of(object),
                name_of(object)
            );
        }
    }

    // The Deployment.
    let deployment = find(&objects, "Deployment", Some(KUSTOMIZE_DEPLOYMENT))?;
    check_operator_deployment(deployment, KUSTOMIZE_SERVICE_ACCOUNT, &[])?;
    assert_eq!(deployment.pointer("/spec/replicas"), Some(&json!(2)));
    let image = text_at(deployment, "/spec/template/spec/containers/0/image");
    assert!(
        image.contains("zeroetl-operator:"),
        "the image has no tag: {image}"
    );
    let service = find(&objects, "Service", None)?;
    assert_eq!(
        service.pointer("/spec/selector"),
        deployment.pointer("/spec/selector/matchLabels"),
        "the metrics Service must select the operator pods"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// (b) kustomize applies to a real control plane; the ServiceAccount can do exactly what the operator needs.
// ---------------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn kustomize_applies_and_grants_exactly_the_operator_permissions() -> Result<()> {
    let env = TestEnv::new("deploy-kustomize").await?;
    let objects = render_kustomize().await?;

    // CRDs: create/replace through the kube client (a 1.20 server cannot take CEL-carrying CRDs through
    // kubectl's validation or server-side apply), from the rendered output.
    let crd_text = objects
        .iter()
        .filter(|o| kind_of(o) == "CustomResourceDefinition")
        .map(serde_yaml::to_string)
        .collect::<Result<Vec<_>, _>>()?
        .join("---\n");
    let crds = parse_crds(&crd_text)?;
    let mut installed = install_crds(&env.client, &crds).await?;
    installed.sort();
    assert_eq!(installed, CRD_NAMES);

    // Everything else: kubectl apply --server-side, as a user would.
    let rest: Vec<&Value> = objects
        .iter()
        .filter(|o| kind_of(o) != "CustomResourceDefinition")
        .collect();
    let rest_text = rest
        .iter()
        .map(serde_yaml::to_string)
        .collect::<Result<Vec<_>, _>>()?
        .join("---\n");
    let rest_file = env.dir().join("config-default-without-crds.yaml");
    std::fs::write(&rest_file, rest_text)?;
    let rest_path = rest_file.display().to_string();

    let checks = async {
        let applied = kubectl(
            env.kubeconfig(),
            &[
                "apply",
                "--server-side",
                "--field-manager=zeroetl-e2e",
                "-f",
                &rest_path,
            ],
        )?;
        for object in &rest {
            // e.g. `role.rbac.authorization.k8s.io/NAME serverside-applied`
            let kind = kind_of(object).to_lowercase();
            let name = format!("/{} serverside-applied", name_of(object));
            assert!(
                applied
                    .lines()
                    .any(|l| l.starts_with(&kind) && l.ends_with(&name)),
                "kubectl apply did not apply {kind}{name}:\n{applied}"
            );
        }
        // What the server stored is what was rendered.
        let stored = kubectl(
            env.kubeconfig(),
            &[
                "get",
                "-n",
                SYSTEM_NAMESPACE,
                "deployment",
                KUSTOMIZE_DEPLOYMENT,
                "-o",
                "json",
            ],
        )?;
        let stored: Value = serde_json::from_str(&stored)?;
        check_operator_deployment(&stored, KUSTOMIZE_SERVICE_ACCOUNT, &[])?;

        check_operator_permissions(
            env.kubeconfig(),
            SYSTEM_NAMESPACE,
            KUSTOMIZE_SERVICE_ACCOUNT,
        )
        .await
    };
    // Leave the cluster as found (the CRDs stay: other tests share them).
    let cleanup = async {
        kubectl(
            env.kubeconfig(),
            &[
                "delete",
                "--ignore-not-found",
                "--wait=false",
                "-f",
                &rest_path,
            ],
        )
        .map(drop)
    };
    with_cleanup(checks, cleanup).await
}

// ---------------------------------------------------------------------------------------------------------
// (c) Helm.
// ---------------------------------------------------------------------------------------------------------

fn chart_dir() -> PathBuf {
    workspace_root().join("charts").join("zeroetl-operator")
}

/// What tests/deploy/helm_check.py reports.
struct HelmRun {
    report: Value,
    objects: Vec<Value>,
}

/// Runs tests/deploy/helm_check.py: lint, then a real install (helm-sdkpy has no dry-run) of `release` into
/// `namespace` with `values`; uninstalled again unless `keep`. Err carries the script's stderr.
async fn helm_check(
    env: &TestEnv,
    release: &str,
    values: &Value,
    extra: &[&str],
) -> Result<HelmRun> {
    let script = workspace_root().join("tests/deploy/helm_check.py");
    let chart = chart_dir().display().to_string();
    let kubeconfig = env.kubeconfig().display().to_string();
    let values = values.to_string();
    let mut args = vec![
        script.to_str().context("script path is not UTF-8")?,
        "--chart",
        &chart,
        "--kubeconfig",
        &kubeconfig,
        "--namespace",
        &env.namespace,
        "--release",
        release,
        "--values",
        &values,
    ];
    args.extend_from_slice(extra);
    let output = run_command(Path::new("python3"), &args).await?;
    match output.code {
        Some(0) => {}
        Some(3) => bail!(
            "helm-sdkpy (Helm as a Python library) is not installed: install it with `{HELM_INSTALL_HINT}` \
             (`cargo xtask test` does this). {}",
            output.stderr.trim()
        ),
        code => bail!(
            "tests/deploy/helm_check.py failed ({code:?}): {}\nstdout: {}",
            output.stderr.trim(),
            output.stdout.trim()
        ),
    }
    let report: Value = serde_json::from_str(output.stdout.trim())
        .with_context(|| format!("helm_check.py printed no JSON: {}", output.stdout))?;
    let objects = yaml_documents(report["manifest"].as_str().unwrap_or_default())
        .context("parse the rendered chart")?;
    Ok(HelmRun { report, objects })
}

/// Asserts that Helm's lint found nothing worse than INFO (the chart has no icon).
fn check_lint(run: &HelmRun) {
    let lint = &run.report["lint"];
    assert_eq!(lint["errors"], json!(0), "helm lint errors: {lint}");
    let bad: Vec<&Value> = lint["messages"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["severity"] != json!("INFO"))
        .collect();
    assert!(bad.is_empty(), "helm lint warnings/errors: {bad:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn helm_chart_lints_renders_and_matches_kustomize() -> Result<()> {
    let env = TestEnv::new("deploy-helm").await?;

    // The chart's metadata and CRDs.
    let chart: Value =
        serde_yaml::from_str(&std::fs::read_to_string(chart_dir().join("Chart.yaml"))?)?;
    assert_eq!(chart["apiVersion"], json!("v2"));
    assert_eq!(chart["name"], json!("zeroetl-operator"));
    assert_eq!(chart["appVersion"], json!("0.1.0"));
    for file in project_crd_files()? {
        let name = file.file_name().context("CRD file name")?;
        let in_chart = chart_dir().join("crds").join(name);
        assert_eq!(
            std::fs::read_to_string(&in_chart)
                .with_context(|| format!("read {}", in_chart.display()))?,
            std::fs::read_to_string(&file)?,
            "{} differs from {}",
            in_chart.display(),
            file.display()
        );
    }

    // Default values: lint, render (installed for real), compare with kustomize, check the RBAC live.
    let release = env.namespace.clone();
    let defaults = helm_check(&env, &release, &json!({}), &["--keep"]).await?;
    let checks = async {
        check_lint(&defaults);
        assert_eq!(defaults.report["status"], json!("deployed"));
        let objects = &defaults.objects;
        let fullname = format!("{release}-zeroetl-operator");

        let deployment = find(objects, "Deployment", Some(&fullname))?;
        assert_eq!(namespace_of(deployment), Some(env.namespace.as_str()));
        check_operator_deployment(deployment, &fullname, &[])?;
        assert_eq!(deployment.pointer("/spec/replicas"), Some(&json!(2)));
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            container["image"],
            json!("ghcr.io/zeroetl/zeroetl-operator:0.1.0")
        );
        assert_eq!(
            env_value(container, "ZEROETL_LEASE_NAME").as_deref(),
            Some(fullname.as_str())
        );
        assert!(
            env_value(container, "ZEROETL_NAMESPACES").is_none(),
            "no watchNamespaces: watch all"
        );

        // RBAC equal to the kustomize config's.
        let kustomized = render_kustomize().await?;
        let kustomize_role = find(&kustomized, "ClusterRole", Some(KUSTOMIZE_CLUSTER_ROLE))?;
        let chart_role = find(objects, "ClusterRole", Some(&fullname))?;
        assert_eq!(
            chart_role["rules"], kustomize_role["rules"],
            "the chart's ClusterRole rules differ from config/rbac/role.yaml"
        );
        assert_eq!(
            rule_triples(&chart_role["rules"])?,
            permission_triples(CLUSTER_PERMISSIONS)
        );
        let chart_lease_role = find(objects, "Role", None)?;
        assert_eq!(
            chart_lease_role["rules"],
            find(&kustomized, "Role", None)?["rules"],
            "the chart's leader-election Role differs from config/rbac/leader_election_role.yaml"
        );
        assert_eq!(namespace_of(chart_lease_role), Some(env.namespace.as_str()));
        let subject =
            json!([{"kind": "ServiceAccount", "name": fullname, "namespace": env.namespace}]);
        assert_eq!(
            find(objects, "ClusterRoleBinding", Some(&fullname))?["subjects"],
            subject
        );
        assert_eq!(find(objects, "RoleBinding", None)?["subjects"], subject);
        find(objects, "ServiceAccount", Some(&fullname))?;

        // The metrics Service points at the probe port of the operator pods.
        let service = find(objects, "Service", Some(&format!("{fullname}-metrics")))?;
        assert_eq!(
            service.pointer("/spec/selector"),
            deployment.pointer("/spec/selector/matchLabels")
        );
        assert_eq!(
            service.pointer("/spec/ports/0/targetPort"),
            Some(&json!("http"))
        );
        assert_eq!(
            service.pointer("/spec/ports/0/name"),
            Some(&json!("metrics"))
        );

        let notes = defaults.report["notes"].as_str().unwrap_or_default();
        assert!(notes.contains(&fullname), "NOTES.txt: {notes}");

        // The installed RBAC, as the chart's ServiceAccount sees it.
        check_operator_permissions(env.kubeconfig(), &env.namespace, &fullname).await
    };
    let uninstall = async {
        helm_check(&env, &release, &json!({}), &["--action", "uninstall"])
            .await
            .map(drop)
    };
    with_cleanup(checks, uninstall).await?;

    // Every knob reaches the Deployment.
    let custom_release = format!("{release}-custom");
    let values = json!({
        "replicaCount": 1,
        "leaderElection": {"enabled": false},
        "region": "eu-west-1",
        "awsEndpointUrl": "http://aws-sim.test:4566",
        "watchNamespaces": ["team-a", "team-b"],
        "concurrency": 8,
        "connectionReverifyInterval": 60,
        "logFormat": "text",
        "image": {"repository": "registry.example/zeroetl", "tag": "dev", "pullPolicy": "Always"},
        "serviceAccount": {"annotations": {"eks.amazonaws.com/role-arn": "arn:aws:iam::111111111111:role/zeroetl"}},
        "metrics": {"service": {"enabled": false}},
        "extraEnv": [{"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional"}],
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "ops", "effect": "NoSchedule"}],
    });
    let custom = helm_check(&env, &custom_release, &values, &[]).await?;
    check_lint(&custom);
    assert_eq!(custom.report["uninstalled"], json!(true));
    let fullname = format!("{custom_release}-zeroetl-operator");
    let deployment = find(&custom.objects, "Deployment", Some(&fullname))?;
    check_operator_deployment(deployment, &fullname, &["AWS_STS_REGIONAL_ENDPOINTS"])?;
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    for (name, value) in [
        ("AWS_REGION", "eu-west-1"),
        ("ZEROETL_AWS_ENDPOINT_URL", "http://aws-sim.test:4566"),
        ("ZEROETL_NAMESPACES", "team-a,team-b"),
        ("ZEROETL_CONCURRENCY", "8"),
        ("ZEROETL_CONNECTION_REVERIFY_INTERVAL", "60"),
        ("ZEROETL_LOG_FORMAT", "text"),
        ("ZEROETL_LEADER_ELECTION", "false"),
        ("AWS_STS_REGIONAL_ENDPOINTS", "regional"),
    ] {
        assert_eq!(
            env_value(container, name).as_deref(),
            Some(value),
            "env {name}"
        );
    }
    assert_eq!(container["image"], json!("registry.example/zeroetl:dev"));
    assert_eq!(container["imagePullPolicy"], json!("Always"));
    assert_eq!(deployment.pointer("/spec/replicas"), Some(&json!(1)));
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["nodeSelector"], values["nodeSelector"]);
    assert_eq!(pod["tolerations"], values["tolerations"]);
    assert_eq!(
        find(&custom.objects, "ServiceAccount", Some(&fullname))?
            .pointer("/metadata/annotations/eks.amazonaws.com~1role-arn"),
        Some(&json!("arn:aws:iam::111111111111:role/zeroetl"))
    );
    assert!(
        custom.objects.iter().all(|o| kind_of(o) != "Service"),
        "metrics.service.enabled=false still renders a Service"
    );

    // Two replicas without the Lease would both reconcile: the chart refuses.
    let refused = helm_check(
        &env,
        &format!("{release}-bad"),
        &json!({"replicaCount": 2, "leaderElection": {"enabled": false}}),
        &[],
    )
    .await;
    let err = match refused {
        Ok(_) => bail!("the chart installed 2 replicas without leader election"),
        Err(err) => format!("{err:#}"),
    };
    assert!(
        err.contains("leaderElection.enabled"),
        "unexpected refusal: {err}"
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// (d) Dockerfile (no Docker engine and no installable linter here: a structural check).
// ---------------------------------------------------------------------------------------------------------

/// One Dockerfile instruction: keyword (upper case) and its arguments, continuation lines joined.
#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
}

fn parse_dockerfile(text: &str) -> Result<Vec<Instruction>> {
    const KEYWORDS: &[&str] = &[
        "FROM",
        "RUN",
        "CMD",
        "LABEL",
        "EXPOSE",
        "ENV",
        "ADD",
        "COPY",
        "ENTRYPOINT",
        "VOLUME",
        "USER",
        "WORKDIR",
        "ARG",
        "ONBUILD",
        "STOPSIGNAL",
        "HEALTHCHECK",
        "SHELL",
    ];
    let mut instructions = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if pending.is_empty() && (trimmed.is_empty() || trimmed.starts_with('#')) {
            continue;
        }
        if !pending.is_empty() && trimmed.starts_with('#') {
            continue; // comments inside a continued instruction
        }
        if let Some(body) = trimmed.strip_suffix('\\') {
            pending.push_str(body);
            pending.push(' ');
            continue;
        }
        pending.push_str(trimmed);
        let (keyword, args) = pending
            .split_once(char::is_whitespace)
            .ok_or_else(|| anyhow!("instruction without arguments: {pending}"))?;
        let keyword = keyword.to_uppercase();
        ensure!(
            KEYWORDS.contains(&keyword.as_str()),
            "unknown Dockerfile instruction {keyword}"
        );
        instructions.push(Instruction {
            keyword,
            args: args.split_whitespace().collect::<Vec<_>>().join(" "),
        });
        pending.clear();
    }
    ensure!(
        pending.is_empty(),
        "the Dockerfile ends inside a continued line"
    );
    Ok(instructions)
}

#[test]
fn dockerfile_is_multi_stage_non_root_and_distroless() -> Result<()> {
    let root = workspace_root();
    let instructions = parse_dockerfile(&std::fs::read_to_string(root.join("Dockerfile"))?)?;

    // Stages: a Rust bookworm build stage, then distroless cc nonroot.
    let stage_starts: Vec<usize> = instructions
        .iter()
        .enumerate()
        .filter(|(_, i)| i.keyword == "FROM")
        .map(|(n, _)| n)
        .collect();
    ensure!(
        stage_starts.len() >= 2,
        "not a multi-stage build: {} FROM",
        stage_starts.len()
    );
    assert!(
        instructions[..stage_starts[0]]
            .iter()
            .all(|i| i.keyword == "ARG"),
        "only ARG may precede the first FROM"
    );
    let stages: Vec<&[Instruction]> = stage_starts
        .iter()
        .enumerate()
        .map(|(n, &start)| {
            let end = stage_starts
                .get(n + 1)
                .copied()
                .unwrap_or(instructions.len());
            &instructions[start..end]
        })
        .collect();
    let build = stages[0];
    let runtime = *stages.last().expect("two stages");

    let from: Vec<&str> = build[0].args.split(' ').collect();
    let (image, alias) = match from.as_slice() {
        [image, as_, alias] if as_.eq_ignore_ascii_case("as") => (*image, *alias),
        _ => bail!("the build stage has no name: FROM {}", build[0].args),
    };
    assert!(
        image.starts_with("rust:") && image.ends_with("-bookworm"),
        "build stage image {image}"
    );
    // The Rust version it builds with is the workspace's rust-version.
    let manifest = std::fs::read_to_string(root.join("Cargo.toml"))?;
    let rust_version = manifest
        .lines()
        .find_map(|l| l.trim().strip_prefix("rust-version = "))
        .map(|v| v.trim_matches('"'))
        .context("no rust-version in Cargo.toml")?;
    if image.contains("${RUST_VERSION}") {
        let arg = instructions
            .iter()
            .find(|i| i.keyword == "ARG" && i.args.starts_with("RUST_VERSION="))
            .context("FROM uses ${RUST_VERSION} but no ARG declares it")?;
        assert_eq!(arg.args, format!("RUST_VERSION={rust_version}"));
    } else {
        assert!(
            image.starts_with(&format!("rust:{rust_version}")),
            "{image} vs rust-version {rust_version}"
        );
    }
    let cargo_build = build
        .iter()
        .find(|i| i.keyword == "RUN" && i.args.contains("cargo build"))
        .context("the build stage runs no cargo build")?;
    for needed in ["--release", "-p zeroetl-controller", "--locked"] {
        assert!(
            cargo_build.args.contains(needed),
            "cargo build lacks {needed}: {}",
            cargo_build.args
        );
    }
    // The binary name is the controller crate's [[bin]].
    let controller = std::fs::read_to_string(root.join("crates/controller/Cargo.toml"))?;
    assert!(
        controller.contains("name = \"zeroetl-operator\""),
        "crates/controller builds no zeroetl-operator binary"
    );

    assert_eq!(
        runtime[0].args, "gcr.io/distroless/cc-debian12:nonroot",
        "runtime image"
    );
    let copy = runtime
        .iter()
        .find(|i| i.keyword == "COPY")
        .context("the runtime stage copies nothing")?;
    assert!(
        copy.args.starts_with(&format!("--from={alias} "))
            && copy.args.ends_with(" /zeroetl-operator"),
        "the runtime stage must copy /zeroetl-operator from the {alias} stage: COPY {}",
        copy.args
    );
    let last = |keyword: &str| {
        runtime
            .iter()
            .rev()
            .find(|i| i.keyword == keyword)
            .map(|i| i.args.as_str())
    };
    assert_eq!(last("USER"), Some("nonroot"), "USER");
    let entrypoint: Value = serde_json::from_str(last("ENTRYPOINT").context("no ENTRYPOINT")?)
        .context("ENTRYPOINT is not in exec (JSON) form")?;
    assert_eq!(entrypoint, json!(["/zeroetl-operator"]));
    let cmd: Value = serde_json::from_str(last("CMD").context("no CMD")?)
        .context("CMD is not in exec (JSON) form")?;
    assert_eq!(cmd, json!(["run"]));
    assert!(
        runtime.iter().all(|i| i.keyword != "RUN"),
        "distroless has no shell: the runtime stage cannot RUN"
    );

    // The build context leaves out the target dir and the git history.
    let ignore = std::fs::read_to_string(root.join(".dockerignore"))?;
    let entries: Vec<&str> = ignore.lines().map(str::trim).collect();
    for needed in ["target/", ".git"] {
        assert!(
            entries.contains(&needed),
            ".dockerignore lacks {needed}: {entries:?}"
        );
    }
    Ok(())
}
