//! Acting as a data tool against aws-sim, for the RedshiftConsumer e2e tests: an access key or an assumed
//! consumer role (with its external id), SQL through the Data API as that identity, and the sample estate
//! with consumer roles attached to the analytics namespace (what the warehouse owner does once, by hand).

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_sdk_redshiftdata::types::StatusString;
use aws_sim::{Estate, SimConfig, SimHandle, Timings};

use crate::sim::sample_estate_file;

/// The sample estate's platform account key, the operator's identity in the e2e tests.
pub const OPERATOR_KEY: (&str, &str) = ("AKIAZEROETLOPERATOR1", "operator-demo-secret");
/// The sample estate's data tool vendor (account 333333333333).
pub const VENDOR_KEY: (&str, &str) = ("AKIAZEROETLVENDOR001", "vendor-demo-secret");
const REGION: &str = "us-east-1";
/// Statements answer within the simulator's statement time; this is the bound, not the expectation.
const STATEMENT_DEADLINE: Duration = Duration::from_secs(20);

/// aws-sim with the sample estate and `roles` attached to the analytics namespace (so that Redshift may
/// assume them for UNLOAD/COPY), short AWS transitions.
pub async fn start_sim_with_attached_roles(roles: &[&str]) -> Result<SimHandle> {
    let path = sample_estate_file();
    let mut estate: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&path)?)?;
    let namespaces = estate["accounts"][0]["regions"]["us-east-1"]["serverlessNamespaces"]
        .as_sequence_mut()
        .context("the sample estate has serverless namespaces")?;
    let analytics = namespaces
        .iter_mut()
        .find(|n| n["name"].as_str() == Some("analytics"))
        .context("the sample estate has the analytics namespace")?;
    let attached = analytics["iamRoles"]
        .as_sequence_mut()
        .context("analytics has iamRoles")?;
    for role in roles {
        let role = serde_yaml::Value::from(*role);
        if !attached.contains(&role) {
            attached.push(role);
        }
    }
    aws_sim::spawn(SimConfig {
        port: 0,
        seed: Some(Estate::from_yaml_str(&serde_yaml::to_string(&estate)?)?),
        timings: Timings::all(Duration::from_millis(200)),
    })
    .await
    .context("start aws-sim")
}

/// An SDK configuration for `sim` as these credentials.
pub async fn config(sim: &SimHandle, credentials: Credentials) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(sim.endpoint())
        .credentials_provider(credentials)
        .load()
        .await
}

pub async fn key_config(sim: &SimHandle, (id, secret): (&str, &str)) -> SdkConfig {
    config(sim, Credentials::new(id, secret, None, None, "e2e")).await
}

/// Assumes `role_arn` from `by` with `external_id`; the error is AWS's refusal, if any.
pub async fn assume(
    sim: &SimHandle,
    by: &SdkConfig,
    role_arn: &str,
    external_id: Option<&str>,
) -> Result<SdkConfig> {
    let out = aws_sdk_sts::Client::new(by)
        .assume_role()
        .role_arn(role_arn)
        .role_session_name("consumer-tool")
        .set_external_id(external_id.map(str::to_owned))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", aws_sdk_sts::error::DisplayErrorContext(e)))?;
    let c = out
        .credentials()
        .context("AssumeRole returned no credentials")?;
    Ok(config(
        sim,
        Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_owned()),
            None,
            "sts",
        ),
    )
    .await)
}

/// Runs `sql` on the analytics workgroup as `config`'s identity; Ok when it FINISHED, the error text when not.
pub async fn run_sql(config: &SdkConfig, database: &str, sql: &str) -> Result<()> {
    let data = aws_sdk_redshiftdata::Client::new(config);
    let id = data
        .execute_statement()
        .workgroup_name("analytics-wg")
        .database(database)
        .sql(sql)
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("{}", aws_sdk_redshiftdata::error::DisplayErrorContext(e)))?
        .id()
        .unwrap_or_default()
        .to_owned();
    let deadline = Instant::now() + STATEMENT_DEADLINE;
    loop {
        let described = data
            .describe_statement()
            .id(&id)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!("{}", aws_sdk_redshiftdata::error::DisplayErrorContext(e))
            })?;
        match described.status() {
            Some(StatusString::Finished) => return Ok(()),
            Some(StatusString::Failed | StatusString::Aborted) => {
                bail!("{sql}: {}", described.error().unwrap_or("failed"))
            }
            _ if Instant::now() >= deadline => {
                bail!("{sql}: still running after {STATEMENT_DEADLINE:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
