//! One pass over AWS for a valid spec, independent of Kubernetes: observe → plan → act → the next status.
//! The reconciler wraps it with the Kubernetes parts; the simulator tests drive it directly.

use zeroetl_api::arn::{integration_id, SourceArn};
use zeroetl_api::conditions::{merge, Decided, Status, SOURCE_READY};
use zeroetl_api::integration::{ZeroEtlIntegrationSpec, ZeroEtlIntegrationStatus};
use zeroetl_api::RedshiftConnection;

use super::apply::{self, Applied};
use super::database;
use super::observed::{Observed, TargetRef, TargetState};
use super::plan::{self, Action, Input};
use super::resolve;
use crate::aws::Clients;
use crate::error::{Error, Result};
use crate::outcome::{summary_conditions, Progress};

pub struct Pass<'a> {
    pub spec: &'a ZeroEtlIntegrationSpec,
    /// The AWS integration name.
    pub name: &'a str,
    pub generation: Option<i64>,
    pub status: &'a ZeroEtlIntegrationStatus,
    pub target_ref: &'a TargetRef,
    pub connection: Option<&'a RedshiftConnection>,
    /// The operator's identity in the source account.
    pub source_clients: &'a Clients,
    /// The identity for the target warehouse (the connection's, else the operator's).
    pub target_clients: &'a Clients,
    pub now: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time,
}

pub struct Passed {
    pub next: ZeroEtlIntegrationStatus,
    pub progress: Progress,
    pub actions: Vec<Action>,
    pub applied: Applied,
    /// The action that failed, folded into `next` and `progress` already.
    pub failure: Option<Error>,
}

pub async fn run(p: &Pass<'_>) -> Result<Passed> {
    let integration = resolve::find_integration(
        p.source_clients,
        p.status.integration_arn.as_deref(),
        p.name,
    )
    .await?;
    let settled = plan::prerequisites_settled(p.spec, p.status, p.generation, integration.as_ref());
    let source = if settled {
        Observed::Skipped
    } else {
        resolve::observe_source(p.source_clients, p.spec).await?
    };

    let source_arn = match &source {
        Observed::Seen(s) => Some(s.arn.clone()),
        _ => p
            .spec
            .source
            .arn
            .clone()
            .or_else(|| p.status.source_arn.clone()),
    };
    // CreateIntegration runs in the source's account, which the target's policy must name.
    let caller_account = source_arn
        .as_deref()
        .and_then(SourceArn::parse)
        .map(|a| a.arn.account)
        .unwrap_or_default();
    let plan_with = |target: &Observed<TargetState>| {
        plan::plan(&Input {
            spec: p.spec,
            name: p.name,
            status: p.status,
            target_ref: p.target_ref,
            source: &source,
            target,
            integration: integration.as_ref(),
            caller_account: &caller_account,
            now: chrono::Utc::now(),
        })
    };
    // The target is looked at once the source is ready (nothing on it changes before), or when an existing
    // integration may need the warehouse for its database.
    let first = plan_with(&Observed::Skipped);
    let source_ok = first
        .conditions
        .iter()
        .any(|c| c.type_ == SOURCE_READY && c.status == Status::True);
    let target = match p.target_ref {
        TargetRef::Arn(arn) if !settled && (source_ok || integration.is_some()) => {
            resolve::observe_target(p.target_clients, arn, p.connection).await?
        }
        _ => Observed::Skipped,
    };
    let decided = if matches!(target, Observed::Skipped) {
        first
    } else {
        plan_with(&target)
    };

    let target_state = match &target {
        Observed::Seen(t) => Some(t),
        _ => None,
    };
    let wants_database = decided
        .actions
        .iter()
        .any(|a| matches!(a, Action::Database(_)));
    let data_api = match (wants_database, target_state) {
        (true, Some(t)) => {
            Some(database::data_api_target(p.target_clients, &t.warehouse, p.connection).await?)
        }
        _ => None,
    };
    let targets = apply::Targets {
        source_clients: p.source_clients,
        target_clients: p.target_clients,
        source: match &source {
            Observed::Seen(s) => Some(s),
            _ => None,
        },
        target: target_state,
        data_api: data_api.as_ref(),
    };
    let (applied, failure) = apply::run(&targets, &decided.actions).await;

    // A failed action decides its step condition and the progress.
    let mut steps = decided.conditions.clone();
    let mut progress = decided.progress.clone();
    if let Some((action, e)) = &failure {
        let reason = sanitize_reason(&e.reason());
        steps.retain(|c| c.type_ != action.condition_type());
        steps.push(Decided::new(
            action.condition_type(),
            Status::False,
            &reason,
            e.to_string(),
        ));
        progress = match Progress::from_error(e) {
            Progress::Stalled { message, .. } => Progress::stalled(&reason, message),
            Progress::InProgress {
                message, requeue, ..
            } => Progress::in_progress(&reason, message, requeue),
            ready => ready,
        };
    }

    let current = p.status;
    let mut next = ZeroEtlIntegrationStatus {
        observed_generation: p.generation,
        ..current.clone()
    };
    next.source_arn = decided
        .observed
        .source_arn
        .clone()
        .or(current.source_arn.clone());
    next.target_arn = decided
        .observed
        .target_arn
        .clone()
        .or(current.target_arn.clone());
    match applied
        .created
        .clone()
        .or(decided.observed.integration.clone())
    {
        Some(ours) => {
            next.integration_id = integration_id(&ours.arn).map(str::to_string);
            next.integration_arn = Some(ours.arn);
            next.state = Some(ours.status);
            next.errors = ours.errors;
            next.created_with = current
                .created_with
                .clone()
                .or_else(|| Some(p.spec.immutable_part()));
        }
        None => {
            // Not there (never created, or deleted outside the operator): nothing is fixed any more.
            next.integration_arn = None;
            next.integration_id = None;
            next.state = None;
            next.errors = Vec::new();
            next.created_with = None;
        }
    }
    if let Some(db) = &applied.database_created {
        next.destination_database = Some(db.clone());
    }
    let mut all = steps;
    all.extend(summary_conditions(&progress));
    next.conditions = merge(&current.conditions, &all, p.generation, &p.now);
    Ok(Passed {
        next,
        progress,
        actions: decided.actions,
        applied,
        failure: failure.map(|(_, e)| e),
    })
}

/// Condition reasons must match `^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`; AWS codes do, but never trust.
pub fn sanitize_reason(reason: &str) -> String {
    let valid = reason
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && reason
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
        && reason.len() <= 1024;
    if valid {
        reason.to_string()
    } else {
        "AwsError".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_sanitized() {
        assert_eq!(
            sanitize_reason("IntegrationNotFoundFault"),
            "IntegrationNotFoundFault"
        );
        assert_eq!(sanitize_reason("Bad Reason!"), "AwsError");
        assert_eq!(sanitize_reason(""), "AwsError");
    }
}
