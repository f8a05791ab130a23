//! Packaging e2e: the kustomize config renders, applies to a real control plane and grants the operator's
//! ServiceAccount exactly what the operator does with the API; the Helm chart lints, renders through Helm
//! itself (helm-sdkpy) and matches the kustomize config, and in namespace scope grants nothing outside the
//! watched namespaces; the Dockerfile is a well-formed multi-stage, non-root, distroless build.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use serde_json::{json, Value};
use zeroetl_e2e::command::{kubectl_local, with_cleanup};
use zeroetl_e2e::crds::{install_crds, parse_crds, project_crd_files};
use zeroetl_e2e::helm::{chart_dir, check_lint, helm_check, helm_uninstall};
use zeroetl_e2e::kubectl::kubectl;
use zeroetl_e2e::objects::yaml_documents;
use zeroetl_e2e::objects::{all_of, env_value, find, kind_of, name_of, namespace_of, text_at};
use zeroetl_e2e::operator_deployment::check_operator_deployment;
use zeroetl_e2e::paths::workspace_root;
use zeroetl_e2e::rbac::{can_i, rule_grants, service_account_identity, table_grants, Grant};
use zeroetl_e2e::test_env::TestEnv;

/// Where config/default puts everything namespaced.
const SYSTEM_NAMESPACE: &str = "zeroetl-system";
/// The kustomize config's ServiceAccount, ClusterRole and Deployment.
const KUSTOMIZE_SERVICE_ACCOUNT: &str = "zeroetl-operator";
const KUSTOMIZE_CLUSTER_ROLE: &str = "zeroetl-operator-manager-role";
const KUSTOMIZE_DEPLOYMENT: &str = "zeroetl-operator";
const CRD_NAMES: [&str; 3] = [
    "redshiftconnections.zeroetl.dev",
    "redshiftconsumers.zeroetl.dev",
    "zeroetlintegrations.zeroetl.dev",
];

/// How long RBAC changes may take to reach the API server's authorizer cache.
const RBAC_PROPAGATION_TIMEOUT: Duration = Duration::from_secs(30);
/// How often a pending permission is asked again.
const RBAC_POLL_INTERVAL: Duration = Duration::from_millis(200);

// ---------------------------------------------------------------------------------------------------------
// What the operator does with the Kubernetes API: the single source the RBAC of both packagings is judged by.
// ---------------------------------------------------------------------------------------------------------

/// (API group, resource[/subresource], verbs) the operator needs in every namespace it watches: cluster-wide
/// when it watches all of them.
const NAMESPACED_PERMISSIONS: &[(&str, &str, &[&str])] = &[
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
        "redshiftconsumers",
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
    (
        "zeroetl.dev",
        "redshiftconsumers/status",
        &["get", "patch", "update"],
    ),
    ("zeroetl.dev", "zeroetlintegrations/finalizers", &["update"]),
    ("zeroetl.dev", "redshiftconnections/finalizers", &["update"]),
    ("zeroetl.dev", "redshiftconsumers/finalizers", &["update"]),
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

/// (API group, resource, resource names, verbs) the operator needs cluster-wide whatever it watches: the
/// kube-system Namespace, from which it derives its default cluster name.
const CLUSTER_SCOPED_PERMISSIONS: &[(&str, &str, &[&str], &[&str])] =
    &[("", "namespaces", &["kube-system"], &["get"])];

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
    // Only the kube-system Namespace may be read.
    ("get", "namespaces/default", None, None),
    ("watch", "namespaces", None, None),
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

/// The grants of a namespaced permission table (any resource name).
fn namespaced_grants(table: &[(&str, &str, &[&str])]) -> BTreeSet<Grant> {
    let with_names: Vec<(&str, &str, &[&str], &[&str])> = table
        .iter()
        .map(|(group, resource, verbs)| (*group, *resource, &[] as &[&str], *verbs))
        .collect();
    table_grants(&with_names)
}

/// What the operator's ClusterRole grants when it watches every namespace.
fn cluster_scope_grants() -> BTreeSet<Grant> {
    let mut grants = namespaced_grants(NAMESPACED_PERMISSIONS);
    grants.extend(table_grants(CLUSTER_SCOPED_PERMISSIONS));
    grants
}

/// `resource.group` as kubectl names it, and the subresource.
fn qualified(group: &str, resource: &str) -> (String, Option<String>) {
    let (base, subresource) = match resource.split_once('/') {
        Some((base, sub)) => (base, Some(sub.to_owned())),
        None => (resource, None),
    };
    let name = if group.is_empty() {
        base.to_owned()
    } else {
        format!("{base}.{group}")
    };
    (name, subresource)
}

// ---------------------------------------------------------------------------------------------------------
// kubectl auth can-i.
// ---------------------------------------------------------------------------------------------------------

/// Where the operator is granted its namespaced permissions.
enum Scope<'a> {
    /// Everywhere, through the ClusterRole.
    Cluster,
    /// Only in these namespaces, through a Role in each.
    Namespaces(&'a [String]),
}

/// Asks every check and collects the answers that differ from the expected one.
struct CanIChecks<'a> {
    kubeconfig: &'a Path,
    identity: Vec<String>,
    checked: usize,
    failures: Vec<String>,
}

impl CanIChecks<'_> {
    async fn expect(
        &mut self,
        allowed: bool,
        verb: &str,
        resource: &str,
        subresource: Option<&str>,
        namespace: Option<&str>,
    ) -> Result<()> {
        self.checked += 1;
        let answer = can_i(
            self.kubeconfig,
            &self.identity,
            verb,
            resource,
            subresource,
            namespace,
        )
        .await?;
        if answer != allowed {
            self.failures.push(format!(
                "{}: {verb} {resource}{} in {}",
                if allowed {
                    "denied"
                } else {
                    "allowed but must not be"
                },
                subresource.map(|s| format!("/{s}")).unwrap_or_default(),
                namespace.unwrap_or("all namespaces")
            ));
        }
        Ok(())
    }
}

/// Checks that the ServiceAccount `sa_namespace/sa_name` may do everything the operator does — in `scope`,
/// the cluster-scoped reads, and Leases in `sa_namespace` — and none of [`FORBIDDEN`]. In namespace scope,
/// also that it can do none of its namespaced work (Secrets above all) outside the watched namespaces, nor
/// across all namespaces. Waits (with a deadline) for the bindings to reach the authorizer first.
async fn check_operator_permissions(
    kubeconfig: &Path,
    sa_namespace: &str,
    sa_name: &str,
    scope: Scope<'_>,
) -> Result<()> {
    let identity = service_account_identity(sa_namespace, sa_name);
    // Where the namespaced grants must hold (None: across all namespaces), and must not.
    let (granted_in, denied_in): (Vec<Option<&str>>, Vec<Option<&str>>) = match &scope {
        // Cluster-wide grants are asked both across all namespaces and in one the operator never heard of.
        Scope::Cluster => (vec![None, Some("team-a")], vec![]),
        Scope::Namespaces(watched) => {
            let mut denied = vec![None, Some("team-a")];
            if !watched.iter().any(|ns| ns == sa_namespace) {
                denied.push(Some(sa_namespace));
            }
            (watched.iter().map(|ns| Some(ns.as_str())).collect(), denied)
        }
    };

    // RBAC objects reach the authorizer through an informer: wait until the first grants show.
    let deadline = Instant::now() + RBAC_PROPAGATION_TIMEOUT;
    loop {
        let mut propagated = true;
        for namespace in &granted_in {
            propagated &= can_i(
                kubeconfig,
                &identity,
                "watch",
                "zeroetlintegrations.zeroetl.dev",
                None,
                *namespace,
            )
            .await?;
        }
        propagated &= can_i(
            kubeconfig,
            &identity,
            "update",
            "leases.coordination.k8s.io",
            None,
            Some(sa_namespace),
        )
        .await?;
        if propagated {
            break;
        }
        if Instant::now() >= deadline {
            bail!(
                "{sa_namespace}/{sa_name}: the RBAC bindings did not take effect within \
                 {RBAC_PROPAGATION_TIMEOUT:?} (watch zeroetlintegrations in {granted_in:?}, update leases)"
            );
        }
        tokio::time::sleep(RBAC_POLL_INTERVAL).await;
    }

    let mut checks = CanIChecks {
        kubeconfig,
        identity,
        checked: 0,
        failures: Vec::new(),
    };
    for (group, resource, verbs) in NAMESPACED_PERMISSIONS {
        let (resource, subresource) = qualified(group, resource);
        for verb in *verbs {
            for namespace in &granted_in {
                checks
                    .expect(true, verb, &resource, subresource.as_deref(), *namespace)
                    .await?;
            }
            for namespace in &denied_in {
                checks
                    .expect(false, verb, &resource, subresource.as_deref(), *namespace)
                    .await?;
            }
        }
    }
    for (group, resource, names, verbs) in CLUSTER_SCOPED_PERMISSIONS {
        let (resource, subresource) = qualified(group, resource);
        for name in *names {
            for verb in *verbs {
                checks
                    .expect(
                        true,
                        verb,
                        &format!("{resource}/{name}"),
                        subresource.as_deref(),
                        None,
                    )
                    .await?;
            }
        }
    }
    for (group, resource, verbs) in LEASE_PERMISSIONS {
        let (resource, subresource) = qualified(group, resource);
        for verb in *verbs {
            checks
                .expect(
                    true,
                    verb,
                    &resource,
                    subresource.as_deref(),
                    Some(sa_namespace),
                )
                .await?;
        }
    }
    for (verb, resource, subresource, namespace) in FORBIDDEN {
        let namespace = namespace.map(|ns| if ns.is_empty() { sa_namespace } else { ns });
        checks
            .expect(false, verb, resource, *subresource, namespace)
            .await?;
    }
    ensure!(
        checks.failures.is_empty(),
        "{sa_namespace}/{sa_name}: {} of {} permission checks failed:\n  {}",
        checks.failures.len(),
        checks.checked,
        checks.failures.join("\n  ")
    );
    Ok(())
}

/// `kubectl kustomize config/default`, parsed.
async fn render_kustomize() -> Result<Vec<Value>> {
    let dir = workspace_root().join("config").join("default");
    let text = kubectl_local(&["kustomize", &dir.display().to_string()]).await?;
    yaml_documents(&text).context("parse the kustomize output")
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
        rule_grants(&cluster_role["rules"])?,
        cluster_scope_grants(),
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
        rule_grants(&lease_role["rules"])?,
        namespaced_grants(LEASE_PERMISSIONS),
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
            Scope::Cluster,
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
        // With the default values the chart passes no flag, so any operator version runs it.
        assert_eq!(container["args"], json!(["run"]), "default args");
        assert_eq!(
            container["image"],
            json!("ghcr.io/zeroetl/zeroetl-operator:0.1.0")
        );
        // Two replicas: spread over nodes, and a budget that never drains both at once.
        let pod_labels = deployment.pointer("/spec/selector/matchLabels").cloned();
        assert_eq!(
            deployment.pointer("/spec/template/spec/topologySpreadConstraints"),
            Some(&json!([{
                "labelSelector": {"matchLabels": pod_labels},
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "ScheduleAnyway",
            }]))
        );
        let budget = find(objects, "PodDisruptionBudget", Some(&fullname))?;
        // A 1.20 server has no policy/v1.
        assert_eq!(budget["apiVersion"], json!("policy/v1beta1"));
        assert_eq!(budget.pointer("/spec/maxUnavailable"), Some(&json!(1)));
        assert_eq!(
            budget.pointer("/spec/selector/matchLabels"),
            deployment.pointer("/spec/selector/matchLabels")
        );
        // Nothing optional is on by default.
        for kind in [
            "NetworkPolicy",
            "ServiceMonitor",
            "PodMonitor",
            "PrometheusRule",
            "ConfigMap",
        ] {
            assert!(
                all_of(objects, kind).is_empty(),
                "{kind} rendered by default"
            );
        }
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
        assert_eq!(rule_grants(&chart_role["rules"])?, cluster_scope_grants());
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
        check_operator_permissions(env.kubeconfig(), &env.namespace, &fullname, Scope::Cluster)
            .await
    };
    let uninstall = helm_uninstall(&env, &release);
    with_cleanup(checks, uninstall).await?;

    // Every knob reaches the Deployment.
    let custom_release = format!("{release}-custom");
    // Namespace scope installs a Role in each watched namespace, so they must exist.
    let watched = [
        TestEnv::bare("deploy-helm-watched").await?.namespace,
        TestEnv::bare("deploy-helm-watched").await?.namespace,
    ];
    let watched_env = watched.join(",");
    let values = json!({
        "replicaCount": 1,
        "leaderElection": {"enabled": false},
        "region": "eu-west-1",
        "awsEndpointUrl": "http://aws-sim.test:4566",
        "watchNamespaces": watched,
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
        ("ZEROETL_NAMESPACES", watched_env.as_str()),
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

#[tokio::test(flavor = "multi_thread")]
async fn helm_namespace_scope_grants_nothing_outside_the_watched_namespaces() -> Result<()> {
    let env = TestEnv::new("deploy-scope").await?;
    // Two namespaces to watch; the release namespace itself is not one of them.
    let watched = vec![
        TestEnv::bare("deploy-scope-watched").await?.namespace,
        TestEnv::bare("deploy-scope-watched").await?.namespace,
    ];
    let release = env.namespace.clone();
    let fullname = format!("{release}-zeroetl-operator");
    let installed = helm_check(
        &env,
        &release,
        &json!({"watchNamespaces": watched}),
        &["--keep"],
    )
    .await?;
    let checks = async {
        check_lint(&installed);
        let objects = &installed.objects;

        // A Role and RoleBinding in each watched namespace with the namespaced grants...
        let mut role_namespaces = BTreeSet::new();
        for role in all_of(objects, "Role") {
            if name_of(role) == fullname {
                assert_eq!(
                    rule_grants(&role["rules"])?,
                    namespaced_grants(NAMESPACED_PERMISSIONS)
                );
                role_namespaces.insert(namespace_of(role).unwrap_or_default().to_owned());
            }
        }
        assert_eq!(role_namespaces, watched.iter().cloned().collect());
        for binding in all_of(objects, "RoleBinding") {
            if name_of(binding) == fullname {
                assert_eq!(
                    binding["subjects"],
                    json!([{"kind": "ServiceAccount", "name": fullname, "namespace": release}])
                );
                assert_eq!(text_at(binding, "/roleRef/kind"), "Role");
            }
        }
        // ...and a ClusterRole with the cluster-scoped read only.
        let cluster_role = find(objects, "ClusterRole", Some(&fullname))?;
        assert_eq!(
            rule_grants(&cluster_role["rules"])?,
            table_grants(CLUSTER_SCOPED_PERMISSIONS)
        );
        let deployment = find(objects, "Deployment", Some(&fullname))?;
        check_operator_deployment(deployment, &fullname, &[])?;
        assert_eq!(
            env_value(
                &deployment["spec"]["template"]["spec"]["containers"][0],
                "ZEROETL_NAMESPACES"
            ),
            Some(watched.join(","))
        );

        check_operator_permissions(
            env.kubeconfig(),
            &release,
            &fullname,
            Scope::Namespaces(&watched),
        )
        .await
    };
    with_cleanup(checks, helm_uninstall(&env, &release)).await
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
