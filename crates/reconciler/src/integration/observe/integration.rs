//! The integration itself: by the stored ARN first, then by name.

use aws_sdk_rds::types::{Integration, IntegrationStatus};
use chrono::{DateTime, Utc};
use zeroetl_api::integration::IntegrationError;

use crate::aws::{sdk_error, AwsErrorKind, Clients, Tags};
use crate::error::Result;
use crate::integration::observed::AwsIntegration;

/// The integration: by the stored ARN first, then by name (a crash between CreateIntegration and the status
/// write leaves only the name to go by).
pub async fn find_integration(
    c: &Clients,
    stored_arn: Option<&str>,
    name: &str,
) -> Result<Option<AwsIntegration>> {
    if let Some(arn) = stored_arn {
        if let Some(found) = describe_integration(c, arn).await? {
            return Ok(Some(found));
        }
    }
    Ok(describe_integration(c, name)
        .await?
        .filter(|i| i.name == name))
}

async fn describe_integration(c: &Clients, identifier: &str) -> Result<Option<AwsIntegration>> {
    match c
        .rds
        .describe_integrations()
        .integration_identifier(identifier)
        .send()
        .await
    {
        Ok(out) => Ok(out.integrations().first().map(aws_integration)),
        Err(e) => match sdk_error("rds", "DescribeIntegrations", e) {
            e if e.is_aws(AwsErrorKind::NotFound) => Ok(None),
            e => Err(e),
        },
    }
}

pub fn aws_integration(i: &Integration) -> AwsIntegration {
    AwsIntegration {
        arn: i.integration_arn().unwrap_or_default().to_string(),
        name: i.integration_name().unwrap_or_default().to_string(),
        source_arn: i.source_arn().unwrap_or_default().to_string(),
        target_arn: i.target_arn().unwrap_or_default().into(),
        status: i
            .status()
            .cloned()
            .unwrap_or_else(|| IntegrationStatus::from("unknown")),
        data_filter: i.data_filter().map(Into::into),
        description: i.description().map(Into::into),
        tags: tags(i.tags()),
        errors: i
            .errors()
            .iter()
            .map(|e| IntegrationError {
                code: e.error_code().unwrap_or_default().to_string(),
                message: e.error_message().unwrap_or_default().to_string(),
            })
            .collect(),
        create_time: i
            .create_time()
            .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos())),
    }
}

pub fn tags(list: &[aws_sdk_rds::types::Tag]) -> Tags {
    list.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}
