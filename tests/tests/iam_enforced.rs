//! The shipped IAM policy, enforced: aws-sim gives the operator's access key exactly
//! `config/iam/operator-policy.json` (everything else denied) and every sample — connection, integration and
//! the three consumers — reaches Ready without one denied call. The same run with one statement taken out is
//! denied and says so, which shows the enforcement is real.

use std::time::Duration;

use anyhow::{ensure, Context, Result};
use aws_sim::{Estate, SimConfig, SimHandle, Timings};
use kube::api::{Api, DynamicObject};
use serde_json::Value;
use zeroetl_e2e::manifests::{apply, load_manifests};
use zeroetl_e2e::operator::ESTATE_ACCESS_KEY_ID;
use zeroetl_e2e::paths::workspace_root;
use zeroetl_e2e::sim::sample_estate_file;
use zeroetl_e2e::tenants::{start_operator, teams};
use zeroetl_e2e::test_env::project_resource;
use zeroetl_e2e::wait::{condition, condition_field, describe_conditions, wait_for};

const READY_TIMEOUT: Duration = Duration::from_secs(180);
const DENIED_TIMEOUT: Duration = Duration::from_secs(60);
const SAMPLES: [&str; 5] = [
    "zeroetl_v1alpha1_redshiftconnection.yaml",
    "zeroetl_v1alpha1_zeroetlintegration.yaml",
    "zeroetl_v1alpha1_redshiftconsumer_connector.yaml",
    "zeroetl_v1alpha1_redshiftconsumer_masking_tool.yaml",
    "zeroetl_v1alpha1_redshiftconsumer_unload_vendor.yaml",
];

fn shipped_policy() -> Result<Value> {
    let path = workspace_root().join("config/iam/operator-policy.json");
    serde_json::from_str(&std::fs::read_to_string(&path)?)
        .with_context(|| format!("parse {}", path.display()))
}

/// aws-sim with the sample estate, the operator's access key limited to `policy`.
async fn enforced_sim(policy: &Value) -> Result<SimHandle> {
    let mut estate: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(sample_estate_file())?)?;
    let keys = estate["accounts"][0]["accessKeys"]
        .as_sequence_mut()
        .context("the platform account has access keys")?;
    let operator = keys
        .iter_mut()
        .find(|k| k["accessKeyId"].as_str() == Some(ESTATE_ACCESS_KEY_ID))
        .context("the estate has the operator's access key")?;
    operator["policy"] = serde_yaml::to_value(policy)?;
    aws_sim::spawn(SimConfig {
        port: 0,
        seed: Some(Estate::from_yaml_str(&serde_yaml::to_string(&estate)?)?),
        timings: Timings::all(Duration::from_millis(200)),
    })
    .await
    .context("start aws-sim")
}

/// The operator's own calls (its access key) that aws-sim denied, as `service:Action code`.
fn denied_operator_calls(sim: &SimHandle) -> Vec<String> {
    sim.calls()
        .into_iter()
        .filter(|c| c.access_key_id == ESTATE_ACCESS_KEY_ID)
        .filter(|c| {
            c.error_code
                .as_deref()
                .is_some_and(|e| e.contains("AccessDenied") || e.contains("UnauthorizedOperation"))
        })
        .map(|c| {
            format!(
                "{}:{} {}",
                c.service,
                c.action,
                c.error_code.unwrap_or_default()
            )
        })
        .collect()
}

fn ready(o: &DynamicObject) -> bool {
    condition(o, "Ready").is_some_and(|c| condition_field(&c, "status") == "True")
        && o.data
            .pointer("/status/observedGeneration")
            .and_then(Value::as_i64)
            == o.metadata.generation
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sample_reaches_ready_with_only_the_shipped_policy() -> Result<()> {
    let policy = shipped_policy()?;
    let sim = enforced_sim(&policy).await?;
    let teams = teams("iam-enforced", 1).await?;
    let team = &teams[0];
    let _operator = start_operator(&[team], &sim, &[]).await?;

    let samples = workspace_root().join("config/samples");
    let mut objects = Vec::new();
    for file in SAMPLES {
        for object in load_manifests(&samples.join(file))? {
            apply(&team.client, &object, Some(&team.namespace)).await?;
            objects.push(object);
        }
    }
    for object in &objects {
        let kind = &object.types.as_ref().context("no kind")?.kind;
        let name = object.metadata.name.as_deref().unwrap_or_default();
        let api: Api<DynamicObject> = Api::namespaced_with(
            team.client.clone(),
            &team.namespace,
            &project_resource(kind).context("a project kind")?,
        );
        let done = wait_for(
            &api,
            name,
            "Ready under the shipped policy",
            READY_TIMEOUT,
            ready,
        )
        .await
        .with_context(|| format!("{kind} {name}; denied: {:?}", denied_operator_calls(&sim)))?;
        eprintln!(
            "{kind} {name}: Ready ({})",
            condition_field(&condition(&done, "Ready").unwrap_or_default(), "message")
        );
    }
    let operator_calls = sim
        .calls()
        .iter()
        .filter(|c| c.access_key_id == ESTATE_ACCESS_KEY_ID)
        .count();
    let denied = denied_operator_calls(&sim);
    eprintln!(
        "{operator_calls} calls by the operator's key, {} denied",
        denied.len()
    );
    ensure!(operator_calls > 0, "the operator made no call with its key");
    ensure!(denied.is_empty(), "the shipped policy lacks: {denied:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_policy_without_the_integration_statement_is_denied_and_says_so() -> Result<()> {
    let mut policy = shipped_policy()?;
    let statements = policy["Statement"]
        .as_array_mut()
        .context("the policy has statements")?;
    let before = statements.len();
    statements.retain(|s| s["Sid"] != "ManageIntegrations");
    ensure!(
        statements.len() + 1 == before,
        "the policy has one ManageIntegrations statement"
    );
    let sim = enforced_sim(&policy).await?;
    let teams = teams("iam-denied", 1).await?;
    let team = &teams[0];
    let _operator = start_operator(&[team], &sim, &[]).await?;

    let samples = workspace_root().join("config/samples");
    for file in &SAMPLES[..2] {
        for object in load_manifests(&samples.join(file))? {
            apply(&team.client, &object, Some(&team.namespace)).await?;
        }
    }
    let integration = "orders-to-analytics";
    let denied = wait_for(
        &team.integrations(),
        integration,
        "AccessDenied on CreateIntegration",
        DENIED_TIMEOUT,
        |o| {
            condition(o, "Ready").is_some_and(|c| {
                condition_field(&c, "status") == "False"
                    && condition_field(&c, "message").contains("CreateIntegration")
            })
        },
    )
    .await?;
    let calls = denied_operator_calls(&sim);
    ensure!(
        calls.iter().all(|c| c.starts_with("rds:CreateIntegration")) && !calls.is_empty(),
        "only CreateIntegration should be denied: {calls:?}\n  {}",
        describe_conditions(&denied)
    );
    ensure!(
        sim.state_json()["accounts"]["111111111111"]["regions"]["us-east-1"]["integrations"]
            .as_object()
            .is_none_or(|m| m.is_empty()),
        "no integration may exist"
    );
    Ok(())
}
