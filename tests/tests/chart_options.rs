//! The Helm chart's options: the values schema rejects unknown keys, every option renders what it promises,
//! all of them at once install on a real control plane (1.20, with minimal prometheus-operator CRDs), and the
//! monitoring artifacts (alert rules, dashboard) use only metric families the operator exports.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{bail, ensure, Context, Result};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use serde_json::{json, Value};
use zeroetl_e2e::command::with_cleanup;
use zeroetl_e2e::crds::install_crds;
use zeroetl_e2e::helm::{
    chart_dir, check_lint, helm_check, helm_uninstall, run_helm_check, HelmRun,
};
use zeroetl_e2e::kubectl::kubectl;
use zeroetl_e2e::objects::{all_of, args_of, env_value, find, name_of, namespace_of};
use zeroetl_e2e::operator_deployment::check_operator_deployment;
use zeroetl_e2e::paths::workspace_root;
use zeroetl_e2e::test_env::TestEnv;

/// The metric families the operator exports (prometheus-client naming: counters end in `_total`).
const METRIC_FAMILIES: &[&str] = &[
    "zeroetl_object_condition",
    "zeroetl_reconciles_total",
    "zeroetl_reconcile_duration_seconds",
    "zeroetl_aws_calls_total",
    "zeroetl_aws_errors_total",
    "zeroetl_aws_throttled_total",
    "zeroetl_status_writes_total",
    "zeroetl_status_write_rejections_total",
    "zeroetl_leader",
    "process_resident_memory_bytes",
    "process_cpu_seconds_total",
    "process_start_time_seconds",
    "process_open_fds",
];
/// Families that are histograms, queried through their `_bucket`, `_sum` and `_count` series.
const HISTOGRAMS: &[&str] = &["zeroetl_reconcile_duration_seconds"];
const EXPECTED_ALERTS: &[&str] = &[
    "ZeroEtlObjectStalled",
    "ZeroEtlAwsThrottled",
    "ZeroEtlReconcileErrorsRising",
    "ZeroEtlNoLeader",
    "ZeroEtlStatusWriteRejected",
];

const RULES_IN_CHART: &str = "charts/zeroetl-operator/files/prometheus-rules.yaml";
const RULE_IN_CONFIG: &str = "config/monitoring/prometheus-rule.yaml";
const DASHBOARD_IN_CHART: &str = "charts/zeroetl-operator/files/grafana-dashboard.json";
const DASHBOARD_IN_CONFIG: &str = "config/monitoring/grafana-dashboard.json";

/// A digest of the right shape (no registry is asked).
const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

fn read(relative: &str) -> Result<String> {
    let path = workspace_root().join(relative);
    std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))
}

fn container(deployment: &Value) -> &Value {
    &deployment["spec"]["template"]["spec"]["containers"][0]
}

// ---------------------------------------------------------------------------------------------------------
// The values schema.
// ---------------------------------------------------------------------------------------------------------

/// Every object schema that lists properties must refuse others; every key of values.yaml (at any depth the
/// schema describes) must be described.
fn check_schema_covers(schema: &Value, values: &Value, path: &str, problems: &mut Vec<String>) {
    let Some(properties) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    if schema.get("additionalProperties") != Some(&json!(false)) {
        problems.push(format!("{path}: additionalProperties is not false"));
    }
    if let Some(values) = values.as_object() {
        for (key, value) in values {
            match properties.get(key) {
                None => problems.push(format!("{path}.{key}: in values.yaml, not in the schema")),
                Some(child) => {
                    check_schema_covers(child, value, &format!("{path}.{key}"), problems)
                }
            }
        }
    }
    for (key, child) in properties {
        if values.get(key).is_none() {
            check_schema_covers(child, &Value::Null, &format!("{path}.{key}"), problems);
        }
        if let Some(items) = child.get("items") {
            check_schema_covers(items, &Value::Null, &format!("{path}.{key}[]"), problems);
        }
    }
}

#[test]
fn values_schema_is_draft_07_and_closed_at_every_level() -> Result<()> {
    let schema: Value = serde_json::from_str(&read("charts/zeroetl-operator/values.schema.json")?)?;
    let values: Value = serde_yaml::from_str(&read("charts/zeroetl-operator/values.yaml")?)?;
    assert_eq!(
        schema["$schema"],
        json!("http://json-schema.org/draft-07/schema#")
    );
    let mut problems = Vec::new();
    check_schema_covers(&schema, &values, "values", &mut problems);
    ensure!(
        problems.is_empty(),
        "values.schema.json:\n  {}",
        problems.join("\n  ")
    );
    Ok(())
}

/// Copies the chart into `dir` with `edit` applied to its values.yaml.
fn chart_copy_with_values(dir: &Path, edit: impl Fn(&str) -> String) -> Result<()> {
    let source = chart_dir();
    let mut pending = vec![source.clone()];
    while let Some(folder) = pending.pop() {
        let target = dir.join(folder.strip_prefix(&source)?);
        std::fs::create_dir_all(&target)?;
        for entry in std::fs::read_dir(&folder)? {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else {
                std::fs::copy(&path, target.join(path.file_name().context("file name")?))?;
            }
        }
    }
    let values = dir.join("values.yaml");
    let edited = edit(&std::fs::read_to_string(&values)?);
    std::fs::write(values, edited)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_typo_in_values_fails_lint_and_install() -> Result<()> {
    let env = TestEnv::new("chart-schema").await?;

    // Lint reads the chart's own values.yaml: a copy with a misspelt key fails it.
    let copy = env.dir().join("chart-with-typo");
    chart_copy_with_values(&copy, |text| {
        text.replace("\nconcurrency: ", "\nconcurency: ")
    })?;
    assert!(
        !read("charts/zeroetl-operator/values.yaml")?.contains("concurency"),
        "the original values.yaml must stay correct"
    );
    let release = |name: &str| format!("{}-{name}", env.namespace);
    let output = run_helm_check(&env, &copy, &release("typo-lint"), &json!({}), &[]).await?;
    ensure!(
        output.code != Some(0),
        "a chart whose values.yaml has an unknown key installed: {}",
        output.stdout
    );
    let report: Value = serde_json::from_str(output.stdout.trim())
        .with_context(|| format!("no JSON report: {} {}", output.stdout, output.stderr))?;
    assert!(
        report["lint"]["errors"].as_u64().unwrap_or(0) > 0,
        "lint found no error in a values.yaml with an unknown key: {report}"
    );
    assert!(
        output.stderr.contains("concurency"),
        "the install did not name the unknown key: {}",
        output.stderr
    );

    // Install: a misspelt key at the top and deep down is refused, naming it.
    for (values, key) in [
        (json!({"replicaCont": 3}), "replicaCont"),
        (
            json!({"metrics": {"serviceMonitor": {"enabld": true}}}),
            "enabld",
        ),
        (
            json!({"shards": [{"name": "a", "selecter": "x=y"}]}),
            "selecter",
        ),
    ] {
        let output = run_helm_check(&env, &chart_dir(), &release("typo"), &values, &[]).await?;
        ensure!(output.code != Some(0), "{values} installed");
        assert!(
            output.stderr.contains(key) && output.stderr.contains("schema"),
            "{values}: the refusal does not name {key}: {}",
            output.stderr
        );
    }
    // The chart as shipped lints clean and installs (the values that fail above are the only change).
    let clean = helm_check(&env, &release("clean"), &json!({}), &[]).await?;
    check_lint(&clean);
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// Every option at once, on a real control plane.
// ---------------------------------------------------------------------------------------------------------

/// A CRD for a prometheus-operator kind that accepts any spec: enough for Helm to apply the chart's
/// monitoring objects where the real operator is not installed.
fn minimal_monitoring_crd(kind: &str, plural: &str) -> Result<CustomResourceDefinition> {
    Ok(serde_json::from_value(json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.monitoring.coreos.com")},
        "spec": {
            "group": "monitoring.coreos.com",
            "scope": "Namespaced",
            "names": {"kind": kind, "plural": plural, "singular": kind.to_lowercase(), "listKind": format!("{kind}List")},
            "versions": [{
                "name": "v1",
                "served": true,
                "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
            }],
        },
    }))?)
}

async fn install_monitoring_crds(env: &TestEnv) -> Result<()> {
    let crds = [
        minimal_monitoring_crd("ServiceMonitor", "servicemonitors")?,
        minimal_monitoring_crd("PodMonitor", "podmonitors")?,
        minimal_monitoring_crd("PrometheusRule", "prometheusrules")?,
    ];
    install_crds(&env.client, &crds).await.map(drop)
}

#[tokio::test(flavor = "multi_thread")]
async fn every_option_on_installs_and_renders_what_it_promises() -> Result<()> {
    let env = TestEnv::new("chart-all").await?;
    install_monitoring_crds(&env).await?;
    let team_a = TestEnv::bare("chart-all-team").await?.namespace;
    let team_b = TestEnv::bare("chart-all-team").await?.namespace;
    let release = env.namespace.clone();
    let fullname = format!("{release}-zeroetl-operator");
    let values = json!({
        "replicaCount": 3,
        "image": {"repository": "registry.example/zeroetl", "tag": "ignored", "digest": DIGEST},
        "watchNamespaces": [team_a, team_b],
        "shards": [
            {"name": "a", "selector": "zeroetl.dev/shard=a", "namespaces": [team_a]},
            {"name": "b", "selector": "zeroetl.dev/shard!=a"},
        ],
        "logLevel": "debug",
        "clusterName": "prod-eu-1",
        "extraArgs": ["--concurrency=9"],
        "extraEnv": [{"name": "AWS_STS_REGIONAL_ENDPOINTS", "value": "regional"}],
        "priorityClassName": "system-cluster-critical",
        "podDisruptionBudget": {"enabled": true, "maxUnavailable": 1},
        "networkPolicy": {
            "enabled": true,
            "apiServerPorts": [443, 6443],
            "metricsFrom": [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}],
            "extraEgress": [{"ports": [{"protocol": "TCP", "port": 4566}]}],
        },
        "metrics": {
            "serviceMonitor": {
                "enabled": true,
                "labels": {"release": "prom"},
                "interval": "15s",
                "relabelings": [{"targetLabel": "cluster", "replacement": "prod-eu-1"}],
            },
            "podMonitor": {"enabled": true, "labels": {"release": "prom"}},
            "prometheusRule": {"enabled": true, "labels": {"release": "prom"}},
            "grafanaDashboard": {"enabled": true},
        },
    });
    let run = helm_check(&env, &release, &values, &["--keep"]).await?;
    let checks = async {
        check_lint(&run);
        assert_eq!(run.report["status"], json!("deployed"));
        check_all_options(&run, &fullname, &release, &team_a, &team_b)?;
        // What Helm applied is on the server.
        for (kind, name, namespace) in [
            ("deployment", format!("{fullname}-a"), release.as_str()),
            ("deployment", format!("{fullname}-b"), release.as_str()),
            (
                "poddisruptionbudget",
                format!("{fullname}-a"),
                release.as_str(),
            ),
            (
                "poddisruptionbudget",
                format!("{fullname}-b"),
                release.as_str(),
            ),
            ("networkpolicy", fullname.clone(), release.as_str()),
            (
                "servicemonitors.monitoring.coreos.com",
                fullname.clone(),
                release.as_str(),
            ),
            (
                "podmonitors.monitoring.coreos.com",
                fullname.clone(),
                release.as_str(),
            ),
            (
                "prometheusrules.monitoring.coreos.com",
                fullname.clone(),
                release.as_str(),
            ),
            (
                "configmap",
                format!("{fullname}-dashboard"),
                release.as_str(),
            ),
            ("role", fullname.clone(), team_a.as_str()),
            ("role", fullname.clone(), team_b.as_str()),
        ] {
            kubectl(
                env.kubeconfig(),
                &["get", "-n", namespace, kind, &name, "-o", "name"],
            )
            .with_context(|| format!("{kind} {namespace}/{name} is not on the server"))?;
        }
        Ok(())
    };
    with_cleanup(checks, helm_uninstall(&env, &release)).await
}

/// The render of [`every_option_on_installs_and_renders_what_it_promises`], option by option.
fn check_all_options(
    run: &HelmRun,
    fullname: &str,
    release: &str,
    team_a: &str,
    team_b: &str,
) -> Result<()> {
    let objects = &run.objects;
    // Shards: one Deployment each, no unsharded one.
    let deployments: BTreeSet<&str> = all_of(objects, "Deployment")
        .into_iter()
        .map(name_of)
        .collect();
    assert_eq!(
        deployments,
        BTreeSet::from([
            format!("{fullname}-a").as_str(),
            format!("{fullname}-b").as_str()
        ])
    );
    let image = format!("registry.example/zeroetl@{DIGEST}");
    for (shard, expected_args, namespaces_env) in [
        (
            "a",
            vec![
                format!("--lease-name={fullname}-a"),
                format!("--namespace={team_a}"),
                "--selector=zeroetl.dev/shard=a".to_owned(),
            ],
            None,
        ),
        (
            "b",
            vec![
                format!("--lease-name={fullname}-b"),
                "--selector=zeroetl.dev/shard!=a".to_owned(),
            ],
            Some(format!("{team_a},{team_b}")),
        ),
    ] {
        let deployment = find(objects, "Deployment", Some(&format!("{fullname}-{shard}")))?;
        check_operator_deployment(deployment, fullname, &["AWS_STS_REGIONAL_ENDPOINTS"])?;
        let container = container(deployment);
        let mut expected = vec!["run".to_owned()];
        expected.extend(expected_args);
        // The chart's flags, then extraArgs last (the last occurrence of a flag wins).
        expected.extend([
            "--log-level=debug".to_owned(),
            "--cluster-name=prod-eu-1".to_owned(),
            "--concurrency=9".to_owned(),
        ]);
        assert_eq!(args_of(container), expected, "shard {shard} args");
        assert_eq!(
            env_value(container, "ZEROETL_NAMESPACES"),
            namespaces_env,
            "shard {shard}"
        );
        assert_eq!(
            env_value(container, "ZEROETL_LEASE_NAME"),
            None,
            "shard {shard}: the flag names the Lease"
        );
        assert_eq!(container["image"], json!(image), "digest wins over the tag");
        assert_eq!(
            env_value(container, "AWS_STS_REGIONAL_ENDPOINTS").as_deref(),
            Some("regional")
        );
        let pod = &deployment["spec"]["template"]["spec"];
        assert_eq!(pod["priorityClassName"], json!("system-cluster-critical"));
        let selector = &deployment["spec"]["selector"]["matchLabels"];
        assert_eq!(selector["zeroetl.dev/operator-shard"], json!(shard));
        assert_eq!(
            pod["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"], *selector,
            "the spread counts this shard's pods only"
        );
        let budget = find(
            objects,
            "PodDisruptionBudget",
            Some(&format!("{fullname}-{shard}")),
        )?;
        assert_eq!(budget["spec"]["selector"]["matchLabels"], *selector);
        assert_eq!(budget["spec"]["maxUnavailable"], json!(1));
    }

    // Scope: every shard watches a list, so the grants are Roles in team-a and team-b.
    let role_namespaces: BTreeSet<&str> = all_of(objects, "Role")
        .into_iter()
        .filter(|r| name_of(r) == fullname)
        .filter_map(namespace_of)
        .collect();
    assert_eq!(role_namespaces, BTreeSet::from([team_a, team_b]));
    let cluster_role = find(objects, "ClusterRole", Some(fullname))?;
    assert_eq!(
        cluster_role["rules"],
        json!([{"apiGroups": [""], "resources": ["namespaces"], "resourceNames": ["kube-system"], "verbs": ["get"]}])
    );

    // Monitors: the operator pods' metrics port, the object namespaces kept, the shard label added.
    let service = find(objects, "Service", Some(&format!("{fullname}-metrics")))?;
    let service_monitor = find(objects, "ServiceMonitor", Some(fullname))?;
    assert_eq!(
        service_monitor["metadata"]["labels"]["release"],
        json!("prom")
    );
    assert_eq!(
        service_monitor["spec"]["selector"]["matchLabels"], service["spec"]["selector"],
        "the ServiceMonitor selects the metrics Service by the labels it carries"
    );
    let endpoint = &service_monitor["spec"]["endpoints"][0];
    assert_eq!(endpoint["port"], service["spec"]["ports"][0]["name"]);
    assert_eq!(endpoint["interval"], json!("15s"));
    check_scrape_labels(endpoint, 2)?;
    assert_eq!(endpoint["relabelings"][1]["targetLabel"], json!("cluster"));
    let pod_monitor = find(objects, "PodMonitor", Some(fullname))?;
    let endpoint = &pod_monitor["spec"]["podMetricsEndpoints"][0];
    assert_eq!(endpoint["port"], json!("http"), "the container's port name");
    check_scrape_labels(endpoint, 1)?;
    for monitor in [service_monitor, pod_monitor] {
        assert_eq!(
            monitor["spec"]["namespaceSelector"]["matchNames"],
            json!([release])
        );
    }

    // The rule and the dashboard are the shipped files.
    let rule = find(objects, "PrometheusRule", Some(fullname))?;
    let shipped: Value = serde_yaml::from_str(&read(RULES_IN_CHART)?)?;
    assert_eq!(rule["spec"], shipped);
    assert_eq!(rule["metadata"]["labels"]["release"], json!("prom"));
    let dashboard = find(objects, "ConfigMap", Some(&format!("{fullname}-dashboard")))?;
    assert_eq!(
        dashboard["metadata"]["labels"]["grafana_dashboard"],
        json!("1")
    );
    let json_text = dashboard["data"]["zeroetl-operator.json"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(
        serde_json::from_str::<Value>(json_text)?,
        serde_json::from_str::<Value>(&read(DASHBOARD_IN_CHART)?)?
    );

    // NetworkPolicy: HTTPS and the API server's ports once each, DNS, the extra rule; ingress on the
    // probe port from the given peers only.
    let policy = find(objects, "NetworkPolicy", Some(fullname))?;
    assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress", "Egress"]));
    assert_eq!(
        policy["spec"]["ingress"],
        json!([{
            "ports": [{"protocol": "TCP", "port": 8080}],
            "from": [{"namespaceSelector": {"matchLabels": {"name": "monitoring"}}}],
        }])
    );
    assert_eq!(
        policy["spec"]["egress"],
        json!([
            {"ports": [{"protocol": "TCP", "port": 443}, {"protocol": "TCP", "port": 6443}]},
            {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]},
            {"ports": [{"protocol": "TCP", "port": 4566}]},
        ])
    );
    assert_eq!(
        policy["spec"]["podSelector"]["matchLabels"], service["spec"]["selector"],
        "the policy covers every shard's pods"
    );
    let notes = run.report["notes"].as_str().unwrap_or_default();
    for needed in [
        format!("{fullname}-a"),
        format!("{fullname}-b"),
        team_a.to_owned(),
    ] {
        assert!(notes.contains(&needed), "NOTES.txt lacks {needed}: {notes}");
    }
    Ok(())
}

/// honorLabels, and the shard relabeling first of `count` relabelings.
fn check_scrape_labels(endpoint: &Value, count: usize) -> Result<()> {
    assert_eq!(endpoint["honorLabels"], json!(true), "{endpoint}");
    let relabelings = endpoint["relabelings"]
        .as_array()
        .context("no relabelings")?;
    assert_eq!(relabelings.len(), count, "{endpoint}");
    assert_eq!(
        relabelings[0],
        json!({"sourceLabels": ["__meta_kubernetes_pod_label_zeroetl_dev_operator_shard"], "targetLabel": "shard"})
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// Options one at a time.
// ---------------------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn each_option_alone_renders_only_its_part() -> Result<()> {
    let env = TestEnv::new("chart-each").await?;
    // Release names carry the test's namespace: ClusterRoles are cluster-wide, and the cluster is shared.
    let render = |name: &'static str, values: Value| {
        let env = &env;
        async move {
            let release = format!("{}-{name}", env.namespace);
            helm_check(env, &release, &values, &[])
                .await
                .with_context(|| format!("render {name} with {values}"))
        }
    };

    // One replica: no budget (it would block every drain).
    let single = render(
        "single",
        json!({"replicaCount": 1, "leaderElection": {"enabled": false}}),
    )
    .await?;
    assert!(all_of(&single.objects, "PodDisruptionBudget").is_empty());

    // minAvailable wins over maxUnavailable; spread constraints can be turned off.
    let budget = render(
        "budget",
        json!({"podDisruptionBudget": {"minAvailable": "50%"}, "topologySpreadConstraints": []}),
    )
    .await?;
    let pdb = find(&budget.objects, "PodDisruptionBudget", None)?;
    assert_eq!(
        pdb["spec"],
        json!({"minAvailable": "50%", "selector": pdb["spec"]["selector"]})
    );
    let deployment = find(&budget.objects, "Deployment", None)?;
    assert!(deployment["spec"]["template"]["spec"]["topologySpreadConstraints"].is_null());

    // A digest alone pins the image; a tag alone is used as before.
    let pinned = render("pinned", json!({"image": {"digest": DIGEST}})).await?;
    assert_eq!(
        container(find(&pinned.objects, "Deployment", None)?)["image"],
        json!(format!("ghcr.io/zeroetl/zeroetl-operator@{DIGEST}"))
    );

    // Shards that all name their namespaces scope the grants without watchNamespaces; one shard watching
    // everything puts them back in the ClusterRole.
    let team_x = TestEnv::bare("chart-each-team").await?.namespace;
    let team_y = TestEnv::bare("chart-each-team").await?.namespace;
    let scoped = render(
        "scoped",
        json!({"shards": [{"name": "x", "namespaces": [team_x]}, {"name": "y", "namespaces": [team_y]}]}),
    )
    .await?;
    let scoped_roles: BTreeSet<&str> = all_of(&scoped.objects, "Role")
        .into_iter()
        .filter(|r| !name_of(r).ends_with("-leader-election"))
        .filter_map(namespace_of)
        .collect();
    assert_eq!(
        scoped_roles,
        BTreeSet::from([team_x.as_str(), team_y.as_str()])
    );
    let scoped_role = find(&scoped.objects, "ClusterRole", None)?;
    assert!(
        !scoped_role["rules"].to_string().contains("secrets"),
        "Secrets in the ClusterRole although every shard watches a list: {scoped_role}"
    );
    let mixed = render(
        "mixed",
        json!({"shards": [{"name": "x", "namespaces": [team_x]}, {"name": "y", "selector": "tier=2"}]}),
    )
    .await?;
    let mixed_role = find(&mixed.objects, "ClusterRole", None)?;
    assert!(
        mixed_role["rules"].to_string().contains("secrets"),
        "a shard watching all namespaces needs the cluster-wide grants: {mixed_role}"
    );
    assert_eq!(
        all_of(&mixed.objects, "Role").len(),
        1,
        "only the leader-election Role"
    );
    let y = all_of(&mixed.objects, "Deployment")
        .into_iter()
        .find(|d| name_of(d).ends_with("-y"))
        .context("no Deployment for shard y")?;
    assert!(
        env_value(container(y), "ZEROETL_NAMESPACES").is_none(),
        "shard y watches all"
    );
    // The shard's Lease is named like its Deployment: <fullname>-<shard>.
    assert_eq!(
        args_of(container(y)),
        [
            "run".to_owned(),
            format!("--lease-name={}", name_of(y)),
            "--selector=tier=2".to_owned()
        ]
    );

    // Refusals, each naming what to fix.
    for (values, says) in [
        (
            json!({"metrics": {"serviceMonitor": {"enabled": true}, "service": {"enabled": false}}}),
            "metrics.service.enabled",
        ),
        (
            json!({"shards": [{"name": "a"}, {"name": "a"}]}),
            "appears twice",
        ),
        (json!({"shards": [{"name": "Not_A_Label"}]}), "shards"),
        (json!({"image": {"digest": "latest"}}), "digest"),
    ] {
        match helm_check(&env, &format!("{}-refused", env.namespace), &values, &[]).await {
            Ok(_) => bail!("the chart installed {values}"),
            Err(err) => {
                let err = format!("{err:#}");
                assert!(
                    err.contains(says),
                    "{values}: expected a refusal naming {says}: {err}"
                );
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// Monitoring artifacts.
// ---------------------------------------------------------------------------------------------------------

/// Every metric name in a PromQL expression: identifiers that start like the operator's or the process
/// collector's families.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut current = String::new();
    for c in expr.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            current.push(c);
        } else {
            if current.starts_with("zeroetl_") || current.starts_with("process_") {
                names.insert(current.clone());
            }
            current.clear();
        }
    }
    names
}

/// The family a series name belongs to, if it is one of [`METRIC_FAMILIES`].
fn family_of(series: &str) -> Option<&'static str> {
    if let Some(family) = METRIC_FAMILIES.iter().find(|f| **f == series) {
        return Some(family);
    }
    HISTOGRAMS.iter().copied().find(|h| {
        ["_bucket", "_sum", "_count"]
            .iter()
            .any(|suffix| series.strip_suffix(suffix) == Some(*h))
    })
}

/// Checks that each (where, expression) uses at least one metric and only exported families; returns the
/// families used.
fn check_expressions(expressions: &[(String, String)]) -> Result<BTreeSet<&'static str>> {
    let mut used = BTreeSet::new();
    let mut unknown = BTreeMap::new();
    for (place, expr) in expressions {
        let names = metric_names(expr);
        ensure!(
            !names.is_empty(),
            "{place} queries no operator metric: {expr}"
        );
        for name in names {
            match family_of(&name) {
                Some(family) => {
                    used.insert(family);
                }
                None => {
                    unknown.insert(name, place.clone());
                }
            }
        }
    }
    ensure!(
        unknown.is_empty(),
        "metrics the operator does not export (renamed?): {unknown:?}; it exports {METRIC_FAMILIES:?}"
    );
    Ok(used)
}

#[test]
fn alert_rules_use_only_exported_metrics_and_the_copies_agree() -> Result<()> {
    let groups: Value = serde_yaml::from_str(&read(RULES_IN_CHART)?)
        .with_context(|| format!("{RULES_IN_CHART} is not YAML"))?;
    let config: Value = serde_yaml::from_str(&read(RULE_IN_CONFIG)?)
        .with_context(|| format!("{RULE_IN_CONFIG} is not YAML"))?;
    assert_eq!(config["kind"], json!("PrometheusRule"));
    assert_eq!(config["apiVersion"], json!("monitoring.coreos.com/v1"));
    assert_eq!(
        config["spec"], groups,
        "{RULE_IN_CONFIG} and {RULES_IN_CHART} differ"
    );

    let mut alerts = Vec::new();
    let mut expressions = Vec::new();
    let operations = read("docs/operations.md")?.to_lowercase();
    for rule in groups["groups"]
        .as_array()
        .context("no groups")?
        .iter()
        .flat_map(|g| g["rules"].as_array().cloned().unwrap_or_default())
    {
        let alert = rule["alert"]
            .as_str()
            .context("a rule without alert")?
            .to_owned();
        for annotation in ["summary", "description", "runbook"] {
            ensure!(
                rule["annotations"][annotation]
                    .as_str()
                    .is_some_and(|t| !t.is_empty()),
                "{alert} has no {annotation}"
            );
        }
        let anchor = format!("docs/operations.md#{}", alert.to_lowercase());
        assert_eq!(rule["annotations"]["runbook"], json!(anchor));
        ensure!(
            operations.contains(&format!("### {}", alert.to_lowercase())),
            "docs/operations.md has no runbook section `### {alert}`"
        );
        ensure!(
            rule["labels"]["severity"].is_string(),
            "{alert} has no severity"
        );
        expressions.push((
            alert.clone(),
            rule["expr"].as_str().unwrap_or_default().to_owned(),
        ));
        alerts.push(alert);
    }
    assert_eq!(alerts, EXPECTED_ALERTS);
    check_expressions(&expressions)?;
    Ok(())
}

#[test]
fn dashboard_uses_only_exported_metrics_and_shows_every_family() -> Result<()> {
    let config: Value = serde_json::from_str(&read(DASHBOARD_IN_CONFIG)?)?;
    let chart: Value = serde_json::from_str(&read(DASHBOARD_IN_CHART)?)?;
    assert_eq!(
        config, chart,
        "{DASHBOARD_IN_CONFIG} and {DASHBOARD_IN_CHART} differ"
    );

    let mut expressions = Vec::new();
    let mut pending: Vec<&Value> = config["panels"]
        .as_array()
        .context("no panels")?
        .iter()
        .collect();
    while let Some(panel) = pending.pop() {
        if let Some(nested) = panel["panels"].as_array() {
            pending.extend(nested);
        }
        for target in panel["targets"].as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or("?");
            expressions.push((
                format!("panel {title:?}"),
                target["expr"].as_str().unwrap_or_default().to_owned(),
            ));
        }
    }
    for variable in config["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        if let Some(query) = variable["definition"].as_str() {
            expressions.push((format!("variable {}", variable["name"]), query.to_owned()));
        }
    }
    let used = check_expressions(&expressions)?;
    let missing: Vec<&&str> = METRIC_FAMILIES
        .iter()
        .filter(|f| !used.contains(**f))
        .collect();
    ensure!(
        missing.is_empty(),
        "the dashboard shows nothing of {missing:?}"
    );
    Ok(())
}

#[test]
fn metric_name_scanner_finds_series_and_skips_labels_and_functions() {
    let names = metric_names(
        r#"histogram_quantile(0.9, sum by (le) (rate(zeroetl_reconcile_duration_seconds_bucket{kind="x"}[5m]))) / process_open_fds"#,
    );
    assert_eq!(
        names,
        BTreeSet::from([
            "process_open_fds".to_owned(),
            "zeroetl_reconcile_duration_seconds_bucket".to_owned()
        ])
    );
    assert_eq!(
        family_of("zeroetl_reconcile_duration_seconds_count"),
        Some("zeroetl_reconcile_duration_seconds")
    );
    assert_eq!(family_of("zeroetl_reconciles_total_bucket"), None);
    assert_eq!(family_of("zeroetl_reconcile_errors_total"), None);
}
