//! The pure half of the connection reconciler: what each verification step's observation means as a
//! condition, the changes to make (case sensitivity in Fix mode, the coordinates Secret), and how the steps
//! add up to Ready/Reconciling/Stalled. No I/O here, so every decision is unit-tested (`tests.rs`).

mod status;
mod steps;

use std::collections::BTreeMap;
use std::time::Duration;

use zeroetl_api::conditions::{
    Decided, Status, AUTHENTICATED, CASE_SENSITIVE, CREDENTIALS_ISSUED, REACHABLE,
    SECRET_PUBLISHED, STAGING_READY,
};
use zeroetl_api::connection::CaseSensitivityMode;
use zeroetl_api::validation::FieldError;
use zeroetl_api::RedshiftConnectionSpec;

pub use super::reasons;
pub use status::{
    kind_name, next_status, secret_data, verification_fresh_for, Coordinates, WarehouseSeen,
    SECRET_KEYS,
};
pub use steps::{
    authenticated, bucket_region, case_sensitivity_fix_planned, case_sensitivity_observed,
    credentials_not_needed, reachable, staging, KmsKey, StagingObservation,
};

use super::observe::WarehouseObservation;
use crate::error::{Category, Error};
use crate::progress::Progress;
use crate::timing;

/// A change verification asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Turn on `enable_case_sensitive_identifier` (Fix mode). Never reboots a provisioned warehouse: a reboot
    /// interrupts every client, so it stays the owner's decision.
    EnableCaseSensitivity,
    /// Create or update the coordinates Secret `name` to hold exactly `data`.
    PublishSecret {
        name: String,
        data: BTreeMap<String, String>,
    },
    /// Delete Secrets this connection published under another name than `keep`.
    RemoveStaleSecrets { keep: Option<String> },
}

impl Action {
    /// The step condition an error of this action is reported on.
    pub fn condition_type(&self) -> &'static str {
        match self {
            Action::EnableCaseSensitivity => CASE_SENSITIVE,
            Action::PublishSecret { .. } | Action::RemoveStaleSecrets { .. } => SECRET_PUBLISHED,
        }
    }
}

/// What one verification step found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// The step holds.
    Passed { reason: String, message: String },
    /// It does not, and only a change to the spec or the world will fix it.
    Failed { reason: String, message: String },
    /// A transient failure (network, 5xx, throttling): try again with backoff.
    Retrying {
        reason: String,
        message: String,
        category: Category,
    },
    /// AWS is working on it (a workgroup update, a reboot, a running statement): look again after `requeue`.
    Waiting {
        reason: String,
        message: String,
        requeue: Duration,
    },
    /// Reported for information only; does not decide Ready (e.g. case sensitivity with `Ignore`).
    Informational {
        status: Status,
        reason: String,
        message: String,
    },
    /// Not attempted because an earlier step did not pass.
    NotChecked,
}

impl Step {
    pub fn passed(reason: &str, message: impl Into<String>) -> Step {
        Step::Passed {
            reason: reason.into(),
            message: message.into(),
        }
    }

    pub fn failed(reason: &str, message: impl Into<String>) -> Step {
        Step::Failed {
            reason: reason.into(),
            message: message.into(),
        }
    }

    pub fn waiting(reason: &str, message: impl Into<String>, requeue: Duration) -> Step {
        Step::Waiting {
            reason: reason.into(),
            message: message.into(),
            requeue,
        }
    }

    /// The step an error leaves behind, by its category.
    pub fn from_error(e: &Error) -> Step {
        let reason = e.reason();
        let message = e.to_string();
        match e.category() {
            Category::Terminal => Step::Failed { reason, message },
            Category::Waiting => Step::Waiting {
                reason,
                message,
                requeue: e.retry_after(),
            },
            category @ (Category::Retryable | Category::Throttled) => Step::Retrying {
                reason,
                message,
                category,
            },
        }
    }

    pub fn is_passed(&self) -> bool {
        matches!(self, Step::Passed { .. })
    }
}

/// The verification steps in the order they run; a step runs only when the one before it passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Steps {
    pub authenticated: Step,
    pub credentials: Step,
    pub reachable: Step,
    pub staging: Step,
    pub case_sensitive: Step,
    pub secret: Step,
}

impl Default for Steps {
    fn default() -> Steps {
        Steps {
            authenticated: Step::NotChecked,
            credentials: Step::NotChecked,
            reachable: Step::NotChecked,
            staging: Step::NotChecked,
            case_sensitive: Step::NotChecked,
            secret: Step::NotChecked,
        }
    }
}

impl Steps {
    /// Replaces the step reported on condition `type_`.
    pub fn set(&mut self, type_: &str, step: Step) {
        let slot = match type_ {
            AUTHENTICATED => &mut self.authenticated,
            CREDENTIALS_ISSUED => &mut self.credentials,
            REACHABLE => &mut self.reachable,
            STAGING_READY => &mut self.staging,
            CASE_SENSITIVE => &mut self.case_sensitive,
            _ => &mut self.secret,
        };
        *slot = step;
    }

    fn in_order(&self) -> [(&'static str, &Step); 6] {
        [
            (AUTHENTICATED, &self.authenticated),
            (CREDENTIALS_ISSUED, &self.credentials),
            (REACHABLE, &self.reachable),
            (STAGING_READY, &self.staging),
            (CASE_SENSITIVE, &self.case_sensitive),
            (SECRET_PUBLISHED, &self.secret),
        ]
    }
}

/// The overall decision of a reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// The step conditions (the pipeline adds Ready, Reconciling and Stalled from `progress`).
    pub conditions: Vec<Decided>,
    pub progress: Progress,
    /// Set when the next attempt should back off (a transient failure) rather than follow `progress`.
    pub backoff: Option<Category>,
}

/// Adds the steps up. Work under way (Waiting, Retrying) wins over a failure elsewhere, so that a connection
/// that is still converging is not reported Stalled; otherwise the first failure decides Ready's reason.
pub fn decide(steps: &Steps, summary: &str, reverify: Duration) -> Decision {
    let mut conditions = Vec::new();
    for (type_, step) in steps.in_order() {
        conditions.push(match step {
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
        });
    }
    let busy = steps.in_order().into_iter().find_map(|(_, s)| match s {
        Step::Waiting {
            reason,
            message,
            requeue,
        } => Some((reason, message, *requeue, None)),
        Step::Retrying {
            reason,
            message,
            category,
        } => Some((reason, message, timing::RETRY_DEFAULT, Some(*category))),
        _ => None,
    });
    let failed = steps.in_order().into_iter().find_map(|(_, s)| match s {
        Step::Failed { reason, message } => Some((reason, message)),
        _ => None,
    });
    let (progress, backoff) = match (busy, failed) {
        (Some((reason, message, requeue, backoff)), _) => (
            Progress::in_progress(reason, message.clone(), requeue),
            backoff,
        ),
        (None, Some((reason, message))) => (Progress::stalled(reason, message.clone()), None),
        (None, None) => (
            Progress::Ready {
                message: summary.to_string(),
                recheck_after: reverify,
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

/// Checks the operator adds to the shared validation before any AWS call.
pub fn spec_problems(spec: &RedshiftConnectionSpec) -> Vec<FieldError> {
    let mut out = Vec::new();
    // The Data API needs a database user or a secret to reach a provisioned cluster.
    if spec.provisioned.is_some() && spec.auth.db_user.is_none() && spec.auth.secret_arn.is_none() {
        out.push(FieldError {
            path: "spec.auth.dbUser".into(),
            message: "is required for a provisioned cluster unless spec.auth.secretArn is set"
                .into(),
        });
    }
    out
}

/// Every step from what observation saw, and the changes to make. `secret_name`: spec.connectionSecret.
pub fn plan(spec: &RedshiftConnectionSpec, seen: &WarehouseObservation) -> (Steps, Vec<Action>) {
    let mut steps = Steps::default();
    let mut actions = Vec::new();
    let (auth, not_found) = authenticated(&seen.described);
    steps.authenticated = auth;
    if let Some(unreachable) = not_found {
        steps.reachable = unreachable;
        return (steps, actions);
    }
    let Ok(w) = &seen.described else {
        return (steps, actions);
    };
    steps.credentials = match &seen.credentials {
        _ if spec.auth.secret_arn.is_some() => credentials_not_needed(),
        Some(Ok(db_user)) => Step::passed(
            reasons::ISSUED,
            format!("temporary database credentials issued for {db_user}"),
        ),
        Some(Err(e)) => Step::from_error(e),
        None => Step::NotChecked,
    };
    if steps.credentials.is_passed() {
        steps.reachable = match &seen.query {
            Some(Ok(end)) => reachable(end),
            Some(Err(e)) => Step::from_error(e),
            None => Step::NotChecked,
        };
    }
    steps.staging = staging(spec, w, seen.staging.as_ref());
    steps.case_sensitive = match spec.case_sensitive_identifiers {
        CaseSensitivityMode::Verify => case_sensitivity_observed(w, false),
        CaseSensitivityMode::Ignore => case_sensitivity_observed(w, true),
        CaseSensitivityMode::Fix if w.case_sensitive || w.case_sensitivity_pending_reboot => {
            case_sensitivity_observed(w, false)
        }
        CaseSensitivityMode::Fix => {
            actions.push(Action::EnableCaseSensitivity);
            case_sensitivity_fix_planned(w)
        }
    };
    let published = spec.connection_secret.as_ref().map(|s| s.name.clone());
    steps.secret = match (&published, Coordinates::from_warehouse(w)) {
        (None, _) => Step::passed(reasons::NOT_REQUESTED, "spec.connectionSecret is not set"),
        (Some(name), Some(at)) => {
            actions.push(Action::PublishSecret {
                name: name.clone(),
                data: secret_data(spec, &at),
            });
            Step::passed(
                reasons::PUBLISHED,
                format!("Secret {name} holds the connection's coordinates"),
            )
        }
        (Some(_), None) => Step::waiting(
            reasons::NOT_CHECKED,
            format!("{} has no endpoint yet", w.describe()),
            timing::ENDPOINT_PENDING_RECHECK,
        ),
    };
    actions.push(Action::RemoveStaleSecrets { keep: published });
    (steps, actions)
}

#[cfg(test)]
mod tests;
