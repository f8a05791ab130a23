//! The status fields a pass leaves behind (pure): what the plan claimed, minus what failed to happen. A role
//! or user is claimed only once it was created or adopted — status.databaseUser is the only record that a
//! user is this object's — and the external id is kept from the first pass on, whatever failed, so that it
//! is never generated twice.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use zeroetl_api::conditions::{DATABASE_USER_READY, GRANTS_APPLIED, ROLE_READY};
use zeroetl_api::{RedshiftConsumer, RedshiftConsumerStatus};

use super::plan::Claims;
use crate::verification;

/// What happened to the claims this pass.
#[derive(Debug, Default)]
pub struct Outcomes<'a> {
    /// The step conditions an action failed on.
    pub failed: BTreeSet<&'a str>,
    /// The statement creating (or adopting) the user was submitted even though the pass did not see it end.
    pub user_submitted: bool,
}

pub fn next(
    obj: &RedshiftConsumer,
    claims: &Claims,
    happened: &Outcomes,
    external_id: Option<String>,
    ready: bool,
    now: DateTime<Utc>,
) -> RedshiftConsumerStatus {
    let previous = obj.status.clone().unwrap_or_default();
    let role_failed = happened.failed.contains(ROLE_READY);
    let user_failed = happened.failed.contains(DATABASE_USER_READY);
    let role_arn = match claims.role_creating && role_failed {
        true => previous.role_arn.clone(),
        false => claims.role_arn.clone(),
    };
    let database_user = match claims.user_claiming && user_failed && !happened.user_submitted {
        true => previous.database_user.clone(),
        false => claims.user.clone(),
    };
    let password_rotation = match user_failed {
        true => previous.password_rotation.clone(),
        false => claims.rotation.clone(),
    };
    let mut databases: BTreeSet<String> = claims.grant_databases.clone();
    if happened.failed.contains(GRANTS_APPLIED) || user_failed {
        // Revokes may be left in the databases grants used to live in: keep looking there.
        databases.extend(previous.grant_databases.iter().cloned());
    }
    RedshiftConsumerStatus {
        observed_generation: obj.metadata.generation,
        role_arn,
        external_id: external_id.filter(|_| obj.spec.role.is_some()),
        database_user,
        grant_databases: databases.into_iter().collect(),
        password_rotation,
        last_verified_time: verification::recorded_after(
            previous.last_verified_time.as_deref(),
            ready,
            previous.observed_generation == obj.metadata.generation,
            now,
        ),
        conditions: previous.conditions,
    }
}
