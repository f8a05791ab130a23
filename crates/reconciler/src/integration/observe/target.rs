//! The target warehouse (by the connection's workgroup or cluster when there is one, which is cheaper than
//! searching by namespace ARN) and its namespace resource policy.

use zeroetl_api::RedshiftConnectionSpec;

use crate::aws::{sdk_error, AwsErrorKind, Clients};
use crate::error::Result;
use crate::integration::observed::{Observed, TargetState};
use crate::warehouse::{self, Warehouse};

/// The warehouse behind the target (by the connection's workgroup or cluster when there is one, which is
/// cheaper than searching by ARN) and its resource policy.
pub async fn observe_target(
    c: &Clients,
    namespace_arn: &str,
    connection: Option<&RedshiftConnectionSpec>,
) -> Result<Observed<TargetState>> {
    let found = match connection {
        Some(spec) => warehouse::of_connection(c, spec).await,
        None => warehouse::by_namespace_arn(c, namespace_arn).await,
    };
    let warehouse: Warehouse = match found {
        Ok(w) => w,
        Err(e) if e.is_aws(AwsErrorKind::NotFound) => {
            return Ok(Observed::NotFound(format!(
                "no Redshift warehouse for namespace {namespace_arn}: {e}"
            )))
        }
        Err(e) => return Err(e),
    };
    if warehouse.namespace_arn != namespace_arn {
        return Ok(Observed::NotFound(format!(
            "the connection's warehouse has namespace {}, not {namespace_arn}; wait for the RedshiftConnection to catch up",
            warehouse.namespace_arn
        )));
    }
    let policy = resource_policy(c, namespace_arn).await?;
    Ok(Observed::Seen(TargetState { warehouse, policy }))
}

/// The namespace's resource policy document, if it has one.
pub async fn resource_policy(c: &Clients, namespace_arn: &str) -> Result<Option<String>> {
    match c
        .redshift
        .get_resource_policy()
        .resource_arn(namespace_arn)
        .send()
        .await
    {
        Ok(out) => Ok(out
            .resource_policy()
            .and_then(|p| p.policy())
            .map(str::to_string)
            .filter(|p| !p.trim().is_empty())),
        Err(e) => match sdk_error("redshift", "GetResourcePolicy", e) {
            e if e.is_aws(AwsErrorKind::NotFound) => Ok(None),
            e => Err(e),
        },
    }
}
