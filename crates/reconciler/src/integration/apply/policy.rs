//! The target's resource policy, changed one writer at a time per namespace: under the lock, read the
//! document as it is now (another object, or a person, may have written it since we observed it), merge our
//! statements in (or take ours out), write it, and read it back to be sure the grant holds.

use super::Applied;
use crate::aws::{sdk_error, AwsErrorKind, Clients};
use crate::error::{Error, Result};
use crate::integration::observe::target::resource_policy;
use crate::integration::plan::{reasons, TargetAction};
use crate::integration::target_policy::{gaps, merged, without, Grant};
use crate::k8s::Notice;
use crate::locks::KeyedLocks;

pub(super) async fn change(
    c: &Clients,
    locks: &KeyedLocks,
    action: &TargetAction,
    applied: &mut Applied,
) -> Result<()> {
    match action {
        TargetAction::AuthorizeSource {
            namespace_arn,
            source_arn,
            account,
            scope,
        } => {
            let grant = Grant {
                source_arn,
                account,
                scope,
            };
            let _held = locks.lock(namespace_arn).await;
            let current = resource_policy(c, namespace_arn).await?;
            let Some(policy) = merged(current.as_deref(), namespace_arn, &grant)
                .map_err(|why| invalid_policy(namespace_arn, &why))?
            else {
                return Ok(());
            };
            put(c, namespace_arn, &policy).await?;
            let written = resource_policy(c, namespace_arn).await?;
            if !gaps(written.as_deref(), &grant).complete() {
                return Err(Error::Aws {
                    service: "redshift",
                    action: "PutResourcePolicy",
                    code: "PolicyNotApplied".into(),
                    message: format!(
                        "the resource policy of {namespace_arn} read back without the grants for {source_arn}; trying again"
                    ),
                    kind: AwsErrorKind::Unknown,
                });
            }
            applied.changes.push(Notice::normal(
                "AuthorizedSource",
                format!("merged the zero-ETL statements for {source_arn} into the resource policy of {namespace_arn}"),
            ));
        }
        TargetAction::Deauthorize {
            namespace_arn,
            source_arn,
            account,
            scope,
            keep_account,
        } => {
            let grant = Grant {
                source_arn,
                account,
                scope,
            };
            let _held = locks.lock(namespace_arn).await;
            let current = resource_policy(c, namespace_arn).await?;
            let Some(policy) = without(current.as_deref(), &grant, *keep_account)
                .map_err(|why| invalid_policy(namespace_arn, &why))?
            else {
                return Ok(());
            };
            put(c, namespace_arn, &policy).await?;
            applied.changes.push(Notice::normal(
                "RemovedAuthorization",
                format!("removed the zero-ETL statements for {source_arn} from the resource policy of {namespace_arn}: no object needs them any more"),
            ));
        }
        TargetAction::EnableCaseSensitivity => {}
    }
    Ok(())
}

async fn put(c: &Clients, namespace_arn: &str, policy: &str) -> Result<()> {
    c.redshift
        .put_resource_policy()
        .resource_arn(namespace_arn)
        .policy(policy)
        .send()
        .await
        .map_err(|e| sdk_error("redshift", "PutResourcePolicy", e))?;
    Ok(())
}

fn invalid_policy(namespace_arn: &str, why: &str) -> Error {
    Error::terminal(
        reasons::INVALID_RESOURCE_POLICY,
        format!("{namespace_arn}: {why}; fix or delete the policy"),
    )
}
