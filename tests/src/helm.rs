//! The Helm chart through Helm itself: tests/deploy/helm_check.py (helm-sdkpy, Helm as a Python library)
//! lints it and installs it for real into a test namespace, as helm-sdkpy has no dry-run.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

use crate::command::{run_command, CommandOutput};
use crate::objects::yaml_documents;
use crate::paths::workspace_root;
use crate::test_env::TestEnv;

pub const HELM_INSTALL_HINT: &str = "pip install --ignore-requires-python helm-sdkpy";

/// helm_check.py's exit code when helm-sdkpy cannot be imported.
const EXIT_HELM_MISSING: i32 = 3;

pub fn chart_dir() -> PathBuf {
    workspace_root().join("charts").join("zeroetl-operator")
}

/// What tests/deploy/helm_check.py reports.
pub struct HelmRun {
    pub report: Value,
    pub objects: Vec<Value>,
}

/// Runs tests/deploy/helm_check.py on `chart` for `release` in the test's namespace with `values` and
/// `extra` arguments, and returns its output whatever it was, except that a missing helm-sdkpy fails
/// with how to install it.
pub async fn run_helm_check(
    env: &TestEnv,
    chart: &Path,
    release: &str,
    values: &Value,
    extra: &[&str],
) -> Result<CommandOutput> {
    let script = workspace_root().join("tests/deploy/helm_check.py");
    let chart = chart.display().to_string();
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
    if output.code == Some(EXIT_HELM_MISSING) {
        bail!(
            "helm-sdkpy (Helm as a Python library) is not installed: install it with `{HELM_INSTALL_HINT}` \
             (`cargo xtask test` does this). {}",
            output.stderr.trim()
        );
    }
    Ok(output)
}

/// Lint, then a real install of the project's chart as `release` into the test's namespace with `values`;
/// uninstalled again unless `extra` holds `--keep`. Err carries the script's stderr.
pub async fn helm_check(
    env: &TestEnv,
    release: &str,
    values: &Value,
    extra: &[&str],
) -> Result<HelmRun> {
    let output = run_helm_check(env, &chart_dir(), release, values, extra).await?;
    if output.code != Some(0) {
        bail!(
            "tests/deploy/helm_check.py failed ({:?}): {}\nstdout: {}",
            output.code,
            output.stderr.trim(),
            output.stdout.trim()
        );
    }
    let report: Value = serde_json::from_str(output.stdout.trim())
        .with_context(|| format!("helm_check.py printed no JSON: {}", output.stdout))?;
    let objects = yaml_documents(report["manifest"].as_str().unwrap_or_default())
        .context("parse the rendered chart")?;
    Ok(HelmRun { report, objects })
}

/// Uninstalls `release` (left by a `--keep` run).
pub async fn helm_uninstall(env: &TestEnv, release: &str) -> Result<()> {
    helm_check(env, release, &json!({}), &["--action", "uninstall"])
        .await
        .map(drop)
}

/// Asserts that Helm's lint found nothing worse than INFO (the chart has no icon).
pub fn check_lint(run: &HelmRun) {
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
