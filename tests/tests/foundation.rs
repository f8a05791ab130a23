//! Foundation e2e: the CRDs install and document themselves, the samples get a status from the real
//! operator, and the operator process behaves (readiness, SIGTERM).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject};
use serde_json::Value;
use zeroetl_e2e::crds::{is_established, project_crd_files};
use zeroetl_e2e::kubectl::kubectl;
use zeroetl_e2e::manifests::{apply_file, gvk_of};
use zeroetl_e2e::paths::workspace_root;
use zeroetl_e2e::sim::{sample_estate_file, start_sample_sim};
use zeroetl_e2e::test_env::TestEnv;
use zeroetl_e2e::wait::{condition, wait_for};

/// How long the operator may take to write the first status of a sample.
const FIRST_STATUS_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the operator may take to become ready.
const OPERATOR_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// config/samples/*.yaml that are Kubernetes manifests (the estate file seeds aws-sim instead).
fn sample_manifests() -> Result<Vec<PathBuf>> {
    let dir = workspace_root().join("config").join("samples");
    let estate = sample_estate_file();
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml") && *p != estate)
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no samples in {}", dir.display());
    Ok(files)
}

/// Names of the printer columns kubectl shows by default (priority 0), upper-cased as in its header.
fn default_printer_columns() -> Result<Vec<String>> {
    let mut columns = Vec::new();
    for file in project_crd_files()? {
        let crd: Value = serde_yaml::from_str(&std::fs::read_to_string(&file)?)?;
        for version in crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for column in version
                .get("additionalPrinterColumns")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if column.get("priority").and_then(Value::as_i64).unwrap_or(0) == 0 {
                    let name = column
                        .get("name")
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    columns.push(name.to_uppercase());
                }
            }
        }
    }
    Ok(columns)
}

#[tokio::test(flavor = "multi_thread")]
async fn crds_are_established_explained_and_printed() -> Result<()> {
    let env = TestEnv::new("crds").await?;
    let crds: Api<CustomResourceDefinition> = Api::all(env.client.clone());
    for name in [
        "zeroetlintegrations.zeroetl.dev",
        "redshiftconnections.zeroetl.dev",
        "redshiftconsumers.zeroetl.dev",
    ] {
        let crd = crds
            .get(name)
            .await
            .with_context(|| format!("read CRD {name}"))?;
        assert!(is_established(&crd), "CRD {name} is not Established");
    }

    // The API server publishes CRD schemas to /openapi/v2 asynchronously: retry until explain knows the kind.
    let deadline = Instant::now() + Duration::from_secs(60);
    let explained = loop {
        match kubectl(
            env.kubeconfig(),
            &["explain", "zeroetlintegration.spec.source"],
        ) {
            Ok(text) if text.contains("dbClusterIdentifier") => break text,
            result if Instant::now() >= deadline => {
                panic!("kubectl explain never showed spec.source's fields: {result:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    };
    for field in ["arn", "dbClusterIdentifier", "dbInstanceIdentifier"] {
        assert!(
            explained.contains(field),
            "explain lacks {field}:\n{explained}"
        );
    }
    assert!(
        explained.contains("DESCRIPTION"),
        "explain has no description:\n{explained}"
    );
    assert!(
        !explained.contains("<empty>"),
        "spec.source or a field is undocumented:\n{explained}"
    );

    // Printer columns need at least one object of each kind to show a header.
    for file in sample_manifests()? {
        apply_file(&env.client, &file, Some(&env.namespace)).await?;
    }
    let table = kubectl(env.kubeconfig(), &["get", "zei,rsc,rscon", "-A"])?;
    let headers: Vec<&str> = table
        .lines()
        .filter(|l| l.starts_with("NAMESPACE"))
        .collect();
    assert_eq!(headers.len(), 3, "expected one table per kind:\n{table}");
    for column in default_printer_columns()? {
        assert!(
            headers
                .iter()
                .any(|h| h.split_whitespace().any(|c| c == column)),
            "printer column {column} missing from:\n{table}"
        );
    }
    assert!(
        table.contains(&env.namespace),
        "the samples are not listed:\n{table}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn samples_get_observed_generation_and_conditions() -> Result<()> {
    let env = TestEnv::new("samples").await?;
    let sim = start_sample_sim().await?;
    let mut operator = env.start_operator(Some(&sim.endpoint()))?;
    operator.wait_ready(OPERATOR_READY_TIMEOUT).await?;

    let mut applied = Vec::new();
    for file in sample_manifests()? {
        applied.extend(apply_file(&env.client, &file, Some(&env.namespace)).await?);
    }
    let mut checked = 0;
    for object in &applied {
        let kind = gvk_of(object)?.kind;
        let api: Api<DynamicObject> = match kind.as_str() {
            "ZeroEtlIntegration" => env.integrations(),
            "RedshiftConnection" => env.connections(),
            _ => continue,
        };
        let name = object
            .metadata
            .name
            .clone()
            .expect("applied objects have names");
        let seen = wait_for(
            &api,
            &name,
            "status.observedGeneration = generation and Ready/Reconciling/Stalled conditions",
            FIRST_STATUS_TIMEOUT,
            |o| {
                let observed = o
                    .data
                    .pointer("/status/observedGeneration")
                    .and_then(Value::as_i64);
                observed.is_some()
                    && observed == o.metadata.generation
                    && ["Ready", "Reconciling", "Stalled"]
                        .iter()
                        .all(|t| condition(o, t).is_some())
            },
        )
        .await?;
        eprintln!(
            "{kind} {name}: {}",
            zeroetl_e2e::wait::describe_conditions(&seen)
        );
        checked += 1;
    }
    assert!(
        checked >= 2,
        "expected at least one sample of each kind, checked {checked}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_answers_readyz_and_healthz() -> Result<()> {
    let env = TestEnv::new("probes").await?;
    let sim = start_sample_sim().await?;
    let mut operator = env.start_operator(Some(&sim.endpoint()))?;
    operator.wait_ready(OPERATOR_READY_TIMEOUT).await?;
    let http = reqwest::Client::new();
    for path in ["/readyz", "/healthz"] {
        let response = http.get(operator.probe_url(path)).send().await?;
        assert_eq!(response.status(), reqwest::StatusCode::OK, "{path}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn operator_exits_cleanly_within_5s_of_sigterm() -> Result<()> {
    let env = TestEnv::new("sigterm").await?;
    let sim = start_sample_sim().await?;
    let mut operator = env.start_operator(Some(&sim.endpoint()))?;
    operator.wait_ready(OPERATOR_READY_TIMEOUT).await?;
    // Give it work in flight so shutdown has something to interrupt.
    for file in sample_manifests()? {
        apply_file(&env.client, &file, Some(&env.namespace)).await?;
    }
    let (took, status) = operator.sigterm_and_wait(Duration::from_secs(10)).await?;
    eprintln!("operator exited {took:?} after SIGTERM with {status}");
    assert!(took < Duration::from_secs(5), "took {took:?} to stop");
    assert_eq!(status.code(), Some(0), "exit status {status}");
    Ok(())
}
