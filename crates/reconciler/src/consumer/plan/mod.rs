//! The pure half of the consumer reconciler: from spec + observation + previous status to the actions (IAM,
//! SQL, Secrets), the step conditions and what status may claim once the actions ran. Deletion is a plan
//! too (`delete.rs`). Every branch has a test in `tests.rs`.

mod actions;
pub mod delete;
pub mod grants;
pub mod role;
pub mod user;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use zeroetl_api::conditions::{
    Decided, Status, DATABASE_USER_READY, GRANTS_APPLIED, ROLE_READY, SECRET_PUBLISHED, VERIFIED,
};
use zeroetl_api::consumer::ManagedUser;
use zeroetl_api::validation::FieldError;
use zeroetl_api::{RedshiftConnectionSpec, RedshiftConsumer};

pub use super::reasons;
pub use crate::connection::plan::Step;
pub use actions::Action;
pub use user::ROTATE_PASSWORD_ANNOTATION;

use super::observed::Observation;
use super::password::Password;
use crate::connection::plan::{secret_data, Coordinates};
use crate::error::Category;
use crate::ownership::Owner;
use crate::progress::Progress;
use crate::timing;

/// Everything a plan depends on.
pub struct Input<'a> {
    pub obj: &'a RedshiftConsumer,
    pub owner: &'a Owner,
    /// The object carries the adopt annotation.
    pub adopt: bool,
    pub seen: &'a Observation,
    pub connection: &'a RedshiftConnectionSpec,
    /// The external id to require: spec, else status, else what the role's trust policy holds, else new.
    pub external_id: &'a str,
    /// The database user the spec asks for, its default resolved ([`user_name`]).
    pub user_name: Option<String>,
    /// The value of the rotate-password annotation.
    pub rotation: Option<&'a str>,
    /// A new password, used only if the plan needs one.
    pub fresh_password: &'a Password,
}

/// The consumer's steps in the order they are reported.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Steps {
    pub role: Step,
    pub user: Step,
    pub grants: Step,
    pub secret: Step,
    pub verified: Step,
}

impl Default for Steps {
    fn default() -> Steps {
        Steps {
            role: Step::NotChecked,
            user: Step::NotChecked,
            grants: Step::NotChecked,
            secret: Step::NotChecked,
            verified: Step::NotChecked,
        }
    }
}

impl Steps {
    pub fn set(&mut self, type_: &str, step: Step) {
        let slot = match type_ {
            ROLE_READY => &mut self.role,
            DATABASE_USER_READY => &mut self.user,
            GRANTS_APPLIED => &mut self.grants,
            SECRET_PUBLISHED => &mut self.secret,
            _ => &mut self.verified,
        };
        *slot = step;
    }

    pub fn in_order(&self) -> [(&'static str, &Step); 5] {
        [
            (ROLE_READY, &self.role),
            (DATABASE_USER_READY, &self.user),
            (GRANTS_APPLIED, &self.grants),
            (SECRET_PUBLISHED, &self.secret),
            (VERIFIED, &self.verified),
        ]
    }
}

/// What status may claim once the actions ran (see `status::next`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Claims {
    pub role_arn: Option<String>,
    /// The role is being created: its ARN is claimed only if that worked.
    pub role_creating: bool,
    pub user: Option<ManagedUser>,
    /// The user is being created or adopted: claimed only if that worked (or its statement was submitted).
    pub user_claiming: bool,
    pub rotation: Option<String>,
    /// The databases the declared schema and view grants live in.
    pub grant_databases: BTreeSet<String>,
}

#[derive(Debug)]
pub struct Plan {
    pub actions: Vec<Action>,
    pub steps: Steps,
    pub claims: Claims,
}

/// The database user the spec asks for: its name, or with a role on a serverless warehouse `IAMR:<role>`,
/// the user Redshift Serverless maps the role's temporary credentials to.
pub fn user_name(obj: &RedshiftConsumer, serverless: bool) -> Option<String> {
    let user = obj.spec.database_user.as_ref()?;
    match (&user.name, obj.role_name()) {
        (Some(name), _) => Some(name.clone()),
        (None, Some(role)) if serverless => Some(format!("IAMR:{role}")),
        _ => None,
    }
}

/// What the operator refuses once it knows the warehouse (before any change): names that cannot work there.
pub fn spec_problems(obj: &RedshiftConsumer, serverless: bool) -> Vec<FieldError> {
    let mut out = Vec::new();
    let problem = |path: &str, message: String| FieldError {
        path: path.into(),
        message,
    };
    let permissions = obj.spec.role.as_ref().map(|r| &r.permissions);
    let wants_credentials = permissions.is_some_and(|p| p.data_api || p.temporary_credentials);
    if let Some(user) = &obj.spec.database_user {
        if user.name.is_none() && !serverless {
            out.push(problem(
                "spec.databaseUser.name",
                "is required on a provisioned cluster (temporary credentials name their user there)".into(),
            ));
        }
    } else if wants_credentials && !serverless {
        out.push(problem(
            "spec.databaseUser",
            "is required on a provisioned cluster for dataApi or temporaryCredentials: the role may obtain credentials for that user only".into(),
        ));
    }
    out
}

pub fn plan(input: &Input) -> Plan {
    let mut steps = Steps::default();
    let mut actions = Vec::new();
    let connection_db = &input.seen.facts.database;

    let role = role::plan(input);
    steps.role = role.step;
    actions.extend(role.actions);

    let user = user::plan(input);
    steps.user = user.step;
    actions.extend(user.actions);

    let wanted = input
        .obj
        .spec
        .database_user
        .as_ref()
        .map(|u| grants::wanted(&u.grants, connection_db))
        .unwrap_or_default();
    steps.grants = match (&input.obj.spec.database_user, &input.seen.users) {
        (None, _) => Step::passed(reasons::NOT_REQUESTED, "spec.databaseUser is not set"),
        (Some(_), Err(e)) => Step::from_error(e),
        (Some(_), Ok(_)) if !user.grants_allowed => Step::NotChecked,
        (Some(_), Ok(seen)) => {
            let mut current = seen.wanted.clone().unwrap_or_default();
            current.name = user
                .managed
                .as_ref()
                .map(|u| u.name.clone())
                .unwrap_or_default();
            if !current.exists {
                // Created this pass: it holds nothing yet.
                current.held.clear();
            }
            let g = grants::plan(&wanted, &current, connection_db);
            actions.extend(g.actions);
            g.step
        }
    };

    let secret_name = input.obj.connection_secret_name();
    steps.secret = match access_secret_data(input, role.arn.as_deref(), user.managed.as_ref()) {
        Some(data) => {
            actions.push(Action::PublishSecret {
                name: secret_name.clone(),
                data,
            });
            Step::passed(
                reasons::PUBLISHED,
                format!("Secret {secret_name} holds the coordinates, role ARN and external id"),
            )
        }
        None => Step::waiting(
            reasons::ENDPOINT_PENDING,
            format!(
                "{} has no endpoint yet",
                input.seen.facts.warehouse.describe()
            ),
            timing::ENDPOINT_PENDING_RECHECK,
        ),
    };

    Plan {
        actions,
        steps,
        claims: Claims {
            role_arn: role.arn,
            role_creating: role.creating,
            user: user.managed,
            user_claiming: user.claiming,
            rotation: user.rotation,
            grant_databases: grants::databases(&wanted),
        },
    }
}

/// The coordinates Secret: the connection's coordinates (never its role or staging role), then the
/// consumer's role ARN, external id, user name and staging. `None` while the warehouse has no endpoint.
fn access_secret_data(
    input: &Input,
    role_arn: Option<&str>,
    user: Option<&ManagedUser>,
) -> Option<BTreeMap<String, String>> {
    let at = Coordinates::from_warehouse(&input.seen.facts.warehouse)?;
    let coordinates_only = RedshiftConnectionSpec {
        auth: Default::default(),
        staging: None,
        ..input.connection.clone()
    };
    let mut data = secret_data(&coordinates_only, &at);
    let role = input.obj.spec.role.as_ref();
    if let Some(arn) = role_arn.filter(|_| role.is_some()) {
        data.insert("roleArn".into(), arn.to_string());
        data.insert("externalId".into(), input.external_id.to_string());
    }
    if let Some(u) = user {
        data.insert("username".into(), u.name.clone());
    }
    if let Some(s) = role.and_then(|r| r.permissions.staging.as_ref()) {
        data.insert("stagingBucket".into(), s.bucket.clone());
        if let Some(p) = &s.prefix {
            data.insert("stagingPrefix".into(), p.clone());
        }
    }
    Some(data)
}

/// The overall decision of a reconcile: the step conditions and Ready/Reconciling/Stalled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub conditions: Vec<Decided>,
    pub progress: Progress,
    pub backoff: Option<Category>,
}

/// Adds the steps up: work under way wins over a failure elsewhere (still converging is not Stalled); else
/// the first failure decides; else Ready, looked at again after `recheck`.
pub fn decide(steps: &Steps, summary: &str, recheck: Duration) -> Decision {
    let conditions = steps
        .in_order()
        .into_iter()
        .map(|(type_, step)| match step {
            Step::Passed { reason, message } => {
                Decided::new(type_, Status::True, reason, message.clone())
            }
            Step::Failed { reason, message }
            | Step::Retrying {
                reason, message, ..
            }
            | Step::Waiting {
                reason, message, ..
            } => Decided::new(type_, Status::False, reason, message.clone()),
            Step::Informational {
                status,
                reason,
                message,
            } => Decided::new(type_, *status, reason, message.clone()),
            Step::NotChecked => Decided::new(
                type_,
                Status::Unknown,
                reasons::NOT_CHECKED,
                "an earlier step did not pass",
            ),
        })
        .collect();
    let busy = steps.in_order().into_iter().find_map(|(_, s)| match s {
        Step::Waiting {
            reason,
            message,
            requeue,
        } => Some((
            Progress::in_progress(reason, message.clone(), *requeue),
            None,
        )),
        Step::Retrying {
            reason,
            message,
            category,
        } => Some((
            Progress::in_progress(reason, message.clone(), timing::RETRY_DEFAULT),
            Some(*category),
        )),
        _ => None,
    });
    let failed = steps.in_order().into_iter().find_map(|(_, s)| match s {
        Step::Failed { reason, message } => Some(Progress::stalled(reason, message.clone())),
        _ => None,
    });
    let (progress, backoff) = match (busy, failed) {
        (Some(b), _) => b,
        (None, Some(stalled)) => (stalled, None),
        (None, None)
            if steps
                .in_order()
                .iter()
                .any(|(_, s)| **s == Step::NotChecked) =>
        {
            (
                Progress::in_progress(
                    reasons::NOT_CHECKED,
                    "a step has not been checked",
                    timing::AFTER_ACTION,
                ),
                None,
            )
        }
        (None, None) => (
            Progress::Ready {
                message: summary.to_string(),
                recheck_after: recheck,
            },
            None,
        ),
    };
    Decision {
        conditions,
        progress,
        backoff,
    }
}

#[cfg(test)]
mod tests;
