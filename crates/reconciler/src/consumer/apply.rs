//! Acting on a consumer's plan, the only place it changes anything: IAM calls as the connection's identity,
//! statements through the Data API as the connection's database identity, and the Secrets. Actions run in
//! plan order; a failure stops the rest of its step and of the steps that depend on it (no grants without
//! the user), not the others. Logs and events show statements by their summary, never a password hash.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_iam::types::Tag;
use zeroetl_api::RedshiftConsumer;

use super::observe::Admin;
use super::plan::{reasons, Action};
use super::secret;
use crate::aws::{sdk_error, AwsErrorKind};
use crate::error::{Error, Result};
use crate::k8s::Notice;
use crate::{timing, Context};

/// What running the actions did.
#[derive(Debug, Default)]
pub struct Applied {
    pub changes: Vec<Notice>,
    pub failures: Vec<(Action, Error)>,
    /// Whether any action changed AWS (then verification waits for the next pass).
    pub changed_aws: bool,
}

pub async fn run(
    ctx: &Context,
    obj: &RedshiftConsumer,
    admin: &Admin,
    actions: &[Action],
) -> Applied {
    let mut applied = Applied::default();
    let mut blocked: BTreeSet<&'static str> = BTreeSet::new();
    for action in actions {
        if blocked.contains(action.condition_type()) {
            continue;
        }
        if action.changes_aws() {
            if let Err(e) = ctx.leadership.ensure() {
                applied.failures.push((action.clone(), e));
                return applied;
            }
        }
        match one(ctx, obj, admin, action).await {
            Ok(notice) => {
                applied.changed_aws |= action.changes_aws();
                applied.changes.extend(notice);
            }
            Err(e) => {
                tracing::warn!(step = action.condition_type(), error = %e, "consumer action failed");
                blocked.extend(action.blocks());
                applied.failures.push((action.clone(), e));
            }
        }
    }
    applied
}

fn tags(map: &BTreeMap<String, String>) -> Result<Vec<Tag>> {
    map.iter()
        .map(|(k, v)| {
            Tag::builder()
                .key(k)
                .value(v)
                .build()
                .map_err(|e| Error::terminal("InvalidTag", e.to_string()))
        })
        .collect()
}

async fn one(
    ctx: &Context,
    obj: &RedshiftConsumer,
    admin: &Admin,
    action: &Action,
) -> Result<Option<Notice>> {
    let iam = &admin.clients.iam;
    let notice = |reason: &str, note: String| {
        tracing::info!(reason, note = %note, "consumer change");
        Some(Notice::normal(reason, note))
    };
    Ok(match action {
        Action::CreateRole {
            name,
            trust,
            max_session_seconds,
            description,
            tags: owner_tags,
        } => {
            let created = iam
                .create_role()
                .role_name(name)
                .assume_role_policy_document(trust.to_string())
                .max_session_duration(*max_session_seconds)
                .description(description)
                .set_tags(Some(tags(owner_tags)?))
                .send()
                .await
                .map_err(|e| sdk_error("iam", "CreateRole", e));
            match created {
                // Someone (or a pass that lost its answer) created it meanwhile: the next pass looks at it.
                Err(e) if e.is_aws(AwsErrorKind::AlreadyExists) => {
                    return Err(Error::waiting(
                        reasons::ROLE_EXISTS,
                        e.to_string(),
                        timing::AFTER_ACTION,
                    ))
                }
                other => other?,
            };
            notice(
                reasons::CREATED_ROLE_EVENT,
                format!("created IAM role {name}"),
            )
        }
        Action::TagRole {
            name,
            tags: owner_tags,
        } => {
            iam.tag_role()
                .role_name(name)
                .set_tags(Some(tags(owner_tags)?))
                .send()
                .await
                .map_err(|e| sdk_error("iam", "TagRole", e))?;
            notice(
                reasons::ADOPTED_ROLE_EVENT,
                format!("tagged IAM role {name} as this object's"),
            )
        }
        Action::UpdateTrust { name, trust } => {
            iam.update_assume_role_policy()
                .role_name(name)
                .policy_document(trust.to_string())
                .send()
                .await
                .map_err(|e| sdk_error("iam", "UpdateAssumeRolePolicy", e))?;
            notice(
                reasons::UPDATED_ROLE_EVENT,
                format!("updated the trust policy of IAM role {name}"),
            )
        }
        Action::UpdateMaxSession { name, seconds } => {
            iam.update_role()
                .role_name(name)
                .max_session_duration(*seconds)
                .send()
                .await
                .map_err(|e| sdk_error("iam", "UpdateRole", e))?;
            notice(
                reasons::UPDATED_ROLE_EVENT,
                format!("set the maximum session duration of IAM role {name} to {seconds} s"),
            )
        }
        Action::PutPolicy {
            role,
            policy,
            document,
        } => {
            iam.put_role_policy()
                .role_name(role)
                .policy_name(policy)
                .policy_document(document.to_string())
                .send()
                .await
                .map_err(|e| sdk_error("iam", "PutRolePolicy", e))?;
            notice(
                reasons::UPDATED_ROLE_EVENT,
                format!("put inline policy {policy} on IAM role {role}"),
            )
        }
        Action::DeletePolicy { role, policy } => {
            let deleted = iam
                .delete_role_policy()
                .role_name(role)
                .policy_name(policy)
                .send()
                .await
                .map_err(|e| sdk_error("iam", "DeleteRolePolicy", e));
            match deleted {
                Err(e) if e.is_aws(AwsErrorKind::NotFound) => None,
                other => {
                    other?;
                    notice(
                        reasons::UPDATED_ROLE_EVENT,
                        format!("deleted inline policy {policy} from IAM role {role}"),
                    )
                }
            }
        }
        Action::DeleteRole { name } => {
            let deleted = iam
                .delete_role()
                .role_name(name)
                .send()
                .await
                .map_err(|e| sdk_error("iam", "DeleteRole", e));
            match deleted {
                Err(e) if e.is_aws(AwsErrorKind::NotFound) => None,
                other => {
                    other?;
                    notice(
                        reasons::DELETED_ROLE_EVENT,
                        format!("deleted IAM role {name}"),
                    )
                }
            }
        }
        Action::Sql { event, sql, .. } => {
            admin.execute(sql).await?;
            notice(
                event,
                format!("{} (in database {})", sql.summary, sql.database),
            )
        }
        Action::WritePasswordSecret {
            name,
            user,
            password,
        } => {
            secret::write_password(&ctx.client, obj, name, user, password).await?;
            None
        }
        Action::DeletePasswordSecret { name } => {
            secret::delete_owned(&ctx.client, obj, name).await?;
            None
        }
        Action::PublishSecret { name, data } => {
            secret::publish(&ctx.client, obj, name, data).await?;
            None
        }
    })
}
