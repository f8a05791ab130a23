//! /metrics during an e2e run with two tenants: every family the chart's alerts and dashboard read is served,
//! and the per-object condition gauge names each object of both tenants (team A's samples Ready, team B's
//! copy of team A's integration Stalled/OwnedByAnother) with exactly one series per object and condition.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use aws_sim::{Fault, FaultKind};
use kube::api::{Api, DynamicObject, ListParams};
use serde_json::Value;
use zeroetl_e2e::consumer_tool::start_sim_with_attached_roles;
use zeroetl_e2e::manifests::{apply, load_manifests};
use zeroetl_e2e::operator::Operator;
use zeroetl_e2e::paths::workspace_root;
use zeroetl_e2e::tenants::{apply_kind, start_operator, teams};
use zeroetl_e2e::test_env::{project_resource, TestEnv};
use zeroetl_e2e::wait::{condition, condition_field, describe_conditions, wait_for};

const READY_TIMEOUT: Duration = Duration::from_secs(180);
const SAMPLES: [&str; 5] = [
    "zeroetl_v1alpha1_redshiftconnection.yaml",
    "zeroetl_v1alpha1_zeroetlintegration.yaml",
    "zeroetl_v1alpha1_redshiftconsumer_connector.yaml",
    "zeroetl_v1alpha1_redshiftconsumer_masking_tool.yaml",
    "zeroetl_v1alpha1_redshiftconsumer_unload_vendor.yaml",
];
const KINDS: [&str; 3] = [
    "ZeroEtlIntegration",
    "RedshiftConnection",
    "RedshiftConsumer",
];

/// Every series a dashboard or alert of ours may read, by the name of its sample lines.
const SERIES: [&str; 19] = [
    "zeroetl_status_write_rejections_total",
    "zeroetl_reconciles_total",
    "zeroetl_reconcile_duration_seconds_bucket",
    "zeroetl_reconcile_duration_seconds_sum",
    "zeroetl_reconcile_duration_seconds_count",
    "zeroetl_aws_calls_total",
    "zeroetl_aws_errors_total",
    "zeroetl_aws_throttled_total",
    "zeroetl_status_writes_total",
    "zeroetl_refreshes_total",
    "zeroetl_leader",
    "zeroetl_object_condition",
    "process_cpu_seconds_total",
    "process_resident_memory_bytes",
    "process_virtual_memory_bytes",
    "process_start_time_seconds",
    "process_threads",
    "process_open_fds",
    "process_max_fds",
];
/// Series that must be served at zero (a refused status write is always a bug: normally none).
const ZERO: [&str; 1] = ["zeroetl_status_write_rejections_total"];

/// One sample line: its name, labels and value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: f64,
}

impl Sample {
    fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// The samples of an OpenMetrics text. Label values of ours hold no `"` or `,`.
fn parse(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or((line, "NaN"));
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => {
                let labels = rest
                    .trim_end_matches('}')
                    .split(',')
                    .filter_map(|pair| pair.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
                    .collect();
                (name, labels)
            }
            None => (series, Vec::new()),
        };
        samples.push(Sample {
            name: name.to_string(),
            labels,
            value: value.parse().unwrap_or(f64::NAN),
        });
    }
    samples
}

async fn scrape(operator: &Operator) -> Result<Vec<Sample>> {
    Ok(parse(&operator.metrics().await?))
}

fn ready(o: &DynamicObject) -> bool {
    condition(o, "Ready").is_some_and(|c| condition_field(&c, "status") == "True")
        && o.data
            .pointer("/status/observedGeneration")
            .and_then(Value::as_i64)
            == o.metadata.generation
}

/// Every object of our kinds in the team's namespace.
async fn objects_of(team: &TestEnv) -> Result<Vec<(String, DynamicObject)>> {
    let mut all = Vec::new();
    for kind in KINDS {
        let resource = project_resource(kind).context("a project kind")?;
        let api: Api<DynamicObject> =
            Api::namespaced_with(team.client.clone(), &team.namespace, &resource);
        for o in api.list(&ListParams::default()).await? {
            all.push((kind.to_string(), o));
        }
    }
    Ok(all)
}

/// The metric names a PromQL text reads: `zeroetl_…` and `process_…` words.
fn metric_names(promql: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut word = String::new();
    for c in promql.chars().chain(std::iter::once(' ')) {
        if c.is_ascii_alphanumeric() || c == '_' {
            word.push(c);
        } else {
            if word.starts_with("zeroetl_") || word.starts_with("process_") {
                names.insert(std::mem::take(&mut word));
            }
            word.clear();
        }
    }
    names
}

#[tokio::test(flavor = "multi_thread")]
async fn every_family_is_served_and_each_objects_conditions_are_gauged() -> Result<()> {
    let teams = teams("metrics", 2).await?;
    let (a, b) = (&teams[0], &teams[1]);
    let sim = start_sim_with_attached_roles(&[]).await?;
    // Two throttled answers, so the error and throttle families have a series.
    sim.inject(Fault::new("rds:DescribeIntegrations", FaultKind::Throttle).times(2));
    let operator = start_operator(&[a, b], &sim, &[]).await?;

    let samples = workspace_root().join("config/samples");
    let mut names = Vec::new();
    for file in SAMPLES {
        for object in load_manifests(&samples.join(file))? {
            names.push((
                gvk_kind(&object)?,
                object.metadata.name.clone().unwrap_or_default(),
            ));
            apply(&a.client, &object, Some(&a.namespace)).await?;
        }
    }
    for (kind, name) in &names {
        let resource = project_resource(kind).context("a project kind")?;
        let api = Api::namespaced_with(a.client.clone(), &a.namespace, &resource);
        wait_for(&api, name, "Ready", READY_TIMEOUT, ready).await?;
    }

    // Team B declares team A's integration under its AWS name: Stalled, OwnedByAnother.
    let integration = load_manifests(&samples.join(SAMPLES[1]))?.remove(0);
    let mut spec = integration.data["spec"].clone();
    spec["integrationName"] = Value::from(format!("{}-orders-to-analytics", a.namespace));
    spec["target"] = serde_json::json!({"namespaceArn":
        "arn:aws:redshift-serverless:us-east-1:111111111111:namespace/3f1c2a9e-5b7d-4e21-9c3a-1a2b3c4d5e01"});
    apply_kind(
        b,
        "ZeroEtlIntegration",
        "orders-to-analytics",
        Value::Null,
        spec,
    )
    .await?;
    let stalled = wait_for(
        &b.integrations(),
        "orders-to-analytics",
        "Stalled",
        READY_TIMEOUT,
        |o| condition(o, "Stalled").is_some_and(|c| condition_field(&c, "status") == "True"),
    )
    .await?;
    ensure!(
        condition(&stalled, "Stalled")
            .is_some_and(|c| condition_field(&c, "reason") == "OwnedByAnother"),
        "team B's copy should be OwnedByAnother:\n  {}",
        describe_conditions(&stalled)
    );

    // The gauge is read from the watch caches, which see the last status write a moment later.
    let mut expected = BTreeSet::new();
    for team in [a, b] {
        for (kind, o) in objects_of(team).await? {
            let name = o.metadata.name.clone().unwrap_or_default();
            for c in zeroetl_e2e::wait::conditions(&o) {
                expected.insert((
                    kind.clone(),
                    team.namespace.clone(),
                    name.clone(),
                    condition_field(&c, "type"),
                    condition_field(&c, "status"),
                ));
            }
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let samples = loop {
        let samples = scrape(&operator).await?;
        let gauged: BTreeSet<_> = samples
            .iter()
            .filter(|s| s.name == "zeroetl_object_condition")
            .map(|s| {
                let l = |k| s.label(k).unwrap_or_default().to_string();
                (l("kind"), l("namespace"), l("name"), l("type"), l("status"))
            })
            .collect();
        if gauged == expected {
            break samples;
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "zeroetl_object_condition does not match the objects:\n  only gauged: {:?}\n  not gauged: {:?}",
            gauged.difference(&expected).collect::<Vec<_>>(),
            expected.difference(&gauged).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    let conditions: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == "zeroetl_object_condition")
        .collect();
    ensure!(
        conditions.len() == expected.len() && conditions.iter().all(|s| s.value == 1.0),
        "one series of value 1 per object and condition: {} series for {} conditions",
        conditions.len(),
        expected.len()
    );
    ensure!(expected.contains(&(
        "ZeroEtlIntegration".into(),
        b.namespace.clone(),
        "orders-to-analytics".into(),
        "Stalled".into(),
        "True".into()
    )));

    // Every family, printed so the run shows what is served.
    let served: BTreeSet<&str> = samples.iter().map(|s| s.name.as_str()).collect();
    for series in SERIES {
        let count = samples.iter().filter(|s| s.name == series).count();
        eprintln!("{series}: {count} series");
        ensure!(count > 0, "/metrics has no {series}");
    }
    for series in ZERO {
        for kind in KINDS {
            ensure!(
                samples
                    .iter()
                    .any(|s| s.name == series && s.label("kind") == Some(kind) && s.value == 0.0),
                "{series} for {kind} is not served at zero"
            );
        }
    }
    for kind in KINDS {
        ensure!(
            samples.iter().any(|s| s.name == "zeroetl_reconciles_total"
                && s.label("kind") == Some(kind)
                && s.label("result") == Some("success")),
            "no successful reconcile counted for {kind}"
        );
    }
    ensure!(samples
        .iter()
        .any(|s| s.name == "zeroetl_reconciles_total" && s.label("result") == Some("stalled")));
    ensure!(
        samples.iter().any(|s| s.name == "zeroetl_aws_errors_total"
            && s.label("service") == Some("RDS")
            && s.label("operation") == Some("DescribeIntegrations")
            && s.label("code").is_some_and(|c| c.contains("Throttl"))),
        "the throttled DescribeIntegrations is not counted by service, operation and code: {:?}",
        samples
            .iter()
            .filter(|s| s.name == "zeroetl_aws_errors_total")
            .collect::<Vec<_>>()
    );
    ensure!(samples
        .iter()
        .any(|s| s.name == "zeroetl_leader" && s.value == 1.0));

    // What the chart's alerts and dashboard query exists.
    let chart_files = workspace_root().join("charts/zeroetl-operator/files");
    for file in ["prometheus-rules.yaml", "grafana-dashboard.json"] {
        let text = std::fs::read_to_string(chart_files.join(file))?;
        for name in metric_names(&text) {
            ensure!(
                served.contains(name.as_str()),
                "{file} reads {name}, which /metrics does not serve"
            );
        }
    }
    Ok(())
}

fn gvk_kind(object: &DynamicObject) -> Result<String> {
    Ok(object.types.as_ref().context("no kind")?.kind.clone())
}
