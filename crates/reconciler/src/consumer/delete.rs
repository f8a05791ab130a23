//! Deleting a consumer: Retain lets go at once; Delete observes the role and the user this object manages,
//! plans their removal (plan/delete.rs), applies it, and lets go once a pass finds nothing left.

use std::collections::BTreeSet;

use kube::{Api, ResourceExt};
use zeroetl_api::conditions;
use zeroetl_api::integration::DeletionPolicy;
use zeroetl_api::{RedshiftConnection, RedshiftConsumer};

use super::plan::{self, grants};
use super::{
    apply, connection_side, observe, ready_connection, reasons, released, ConsumerOutcome,
};
use crate::k8s::Notice;
use crate::ownership::Owner;
use crate::pipeline::{transient, Outcome};
use crate::progress::Progress;
use crate::{timing, Context, Result};

pub async fn delete(obj: &RedshiftConsumer, ctx: &Context) -> Result<ConsumerOutcome> {
    let status = obj.status.clone().unwrap_or_default();
    if obj.spec.deletion_policy == DeletionPolicy::Retain {
        let mut kept: Vec<String> = status
            .role_arn
            .iter()
            .map(|r| format!("role {r}"))
            .collect();
        kept.extend(
            status
                .database_user
                .iter()
                .map(|u| format!("database user {}", u.name)),
        );
        return Ok(released(Notice::normal(
            "Retained",
            match kept.is_empty() {
                true => "deletionPolicy Retain: nothing was removed".to_string(),
                false => format!(
                    "deletionPolicy Retain: {} left in place",
                    kept.join(" and ")
                ),
            },
        )));
    }
    let connection = match ready_connection(obj, ctx).await? {
        Ok(c) => c,
        // Not Ready is fine for deleting; missing is not: its identity is what may remove the user and role.
        Err(_) => {
            let namespace = obj.namespace().unwrap_or_default();
            let api: Api<RedshiftConnection> = Api::namespaced(ctx.client.clone(), &namespace);
            match api.get_opt(&obj.spec.connection_ref.name).await? {
                Some(c) => c,
                None => {
                    return Ok(Outcome::new(Progress::stalled(
                        reasons::CONNECTION_NOT_FOUND,
                        format!(
                            "RedshiftConnection {} is gone, and with it the identity that may remove the database user and role; recreate it, or set spec.deletionPolicy: Retain to let go",
                            obj.spec.connection_ref.name
                        ),
                    )))
                }
            }
        }
    };
    let (_, admin, facts) = match connection_side(ctx, obj, &connection).await {
        Ok(side) => side,
        Err(e) => return Ok(Outcome::failed(e)),
    };
    let role_name = status
        .role_arn
        .as_deref()
        .and_then(|arn| arn.rsplit('/').next())
        .map(str::to_string)
        .or_else(|| obj.role_name());
    let mut databases: BTreeSet<String> = status.grant_databases.iter().cloned().collect();
    if let Some(u) = &obj.spec.database_user {
        databases.extend(grants::databases(&grants::wanted(
            &u.grants,
            &facts.database,
        )));
    }
    let role = match &role_name {
        Some(n) => observe::role(&admin.clients, n).await,
        None => Ok(None),
    };
    let user = match &status.database_user {
        Some(u) => observe::user(&admin, &facts.database, &u.name, &databases, &[])
            .await
            .map(Some),
        None => Ok(None),
    };
    let (role, user) = match (role, user) {
        (Ok(r), Ok(u)) => (r, u),
        (Err(e), _) | (_, Err(e)) => return Ok(Outcome::failed(e)),
    };
    let owner = Owner::of(obj, &ctx.config.cluster_name);
    let planned = plan::delete::plan_delete(&owner, role.as_ref(), user.as_ref(), &facts.database);
    if planned.release {
        return Ok(released(Notice::normal(
            "Deleted",
            "the database user and role this object managed are gone",
        )));
    }
    ctx.leadership.ensure()?;
    let applied = apply::run(ctx, obj, &admin, &planned.actions).await;
    let (progress, backoff) = match applied.failures.first() {
        Some((_, e)) => (Progress::from_error(e), transient(e)),
        None => (
            Progress::in_progress(
                conditions::reasons::DELETING,
                planned.message,
                timing::DELETE_POLL,
            ),
            None,
        ),
    };
    Ok(Outcome {
        fields: None,
        steps: Vec::new(),
        progress,
        changes: applied.changes,
        backoff,
        release: None,
    })
}
