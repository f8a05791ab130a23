//! AWS edited by hand, as a person with the console or the CLI would: real SDK clients against aws-sim,
//! acting as the sample estate's platform account (the same account the operator uses).
//!
//! Two identities: the operator's own key ([`rds`], [`redshift`]), and a person's key in the same account
//! ([`person_rds`], [`person_redshift`]) for estates built with `crate::estates::with_person`, so that the
//! call log tells a person's calls from the operator's.

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_sim::SimHandle;
use serde_json::Value;

/// The sample estate's platform-account key.
const ACCESS_KEY_ID: &str = "AKIAZEROETLOPERATOR1";
const SECRET_ACCESS_KEY: &str = "operator-demo-secret";

/// A platform admin's key in the same account (present only in estates built with `estates::with_person`).
pub const PERSON_ACCESS_KEY_ID: &str = "AKIAZEROETLPERSON001";
pub const PERSON_SECRET_ACCESS_KEY: &str = "person-demo-secret";
pub const PERSON_USER_NAME: &str = "platform-admin";

async fn config_as(sim: &SimHandle, key: &str, secret: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(sim.endpoint())
        .credentials_provider(Credentials::new(key, secret, None, None, "by-hand"))
        .load()
        .await
}

async fn config(sim: &SimHandle) -> aws_config::SdkConfig {
    config_as(sim, ACCESS_KEY_ID, SECRET_ACCESS_KEY).await
}

pub async fn rds(sim: &SimHandle) -> aws_sdk_rds::Client {
    aws_sdk_rds::Client::new(&config(sim).await)
}

pub async fn redshift(sim: &SimHandle) -> aws_sdk_redshift::Client {
    aws_sdk_redshift::Client::new(&config(sim).await)
}

/// RDS as the person (see [`PERSON_ACCESS_KEY_ID`]).
pub async fn person_rds(sim: &SimHandle) -> aws_sdk_rds::Client {
    aws_sdk_rds::Client::new(&config_as(sim, PERSON_ACCESS_KEY_ID, PERSON_SECRET_ACCESS_KEY).await)
}

/// Redshift as the person (see [`PERSON_ACCESS_KEY_ID`]).
pub async fn person_redshift(sim: &SimHandle) -> aws_sdk_redshift::Client {
    aws_sdk_redshift::Client::new(
        &config_as(sim, PERSON_ACCESS_KEY_ID, PERSON_SECRET_ACCESS_KEY).await,
    )
}

/// The person replaces a namespace's resource policy with `policy`.
pub async fn put_resource_policy(
    sim: &SimHandle,
    namespace_arn: &str,
    policy: &Value,
) -> anyhow::Result<()> {
    person_redshift(sim)
        .await
        .put_resource_policy()
        .resource_arn(namespace_arn)
        .policy(policy.to_string())
        .send()
        .await?;
    Ok(())
}

/// The person creates an integration outside the operator (as Terraform or the console would), with
/// `tags` and nothing else optional; returns its ARN.
pub async fn create_integration(
    sim: &SimHandle,
    name: &str,
    source_arn: &str,
    target_arn: &str,
    tags: &[(&str, &str)],
) -> anyhow::Result<String> {
    let tags = tags
        .iter()
        .map(|(k, v)| aws_sdk_rds::types::Tag::builder().key(*k).value(*v).build())
        .collect();
    let created = person_rds(sim)
        .await
        .create_integration()
        .integration_name(name)
        .source_arn(source_arn)
        .target_arn(target_arn)
        .set_tags(Some(tags))
        .send()
        .await?;
    Ok(created.integration_arn().unwrap_or_default().to_string())
}

/// The person deletes an integration (by name, id or ARN).
pub async fn delete_integration(sim: &SimHandle, identifier: &str) -> anyhow::Result<()> {
    person_rds(sim)
        .await
        .delete_integration()
        .integration_identifier(identifier)
        .send()
        .await?;
    Ok(())
}
