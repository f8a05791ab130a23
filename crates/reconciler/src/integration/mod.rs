//! ZeroEtlIntegration reconciler: from "an Aurora/RDS database and a Redshift warehouse" to "data flowing into
//! a database I can query", and kept there. The pipeline of every kind (see the crate docs):
//! validate → finalizer → observe → plan → apply → finish; deletion observes, plans and applies too.

mod apply;
pub mod observe;
pub mod observed;
pub mod plan;
#[cfg(test)]
mod sim_tests;
pub mod snapshots;
pub mod source_params;
mod status;
pub mod target_policy;
mod validate;

use std::sync::Arc;
use std::time::Instant;

use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use zeroetl_api::conditions;
use zeroetl_api::integration::ManagementPolicy;
use zeroetl_api::{ZeroEtlIntegration, ZeroEtlIntegrationStatus};

use crate::k8s::{finalizer, Notice};
use crate::ownership::Owner;
use crate::pipeline::{self, fold_failure, transient, Outcome};
use crate::progress::Progress;
use crate::{Context, Error, Result};
use plan::StillNeeded;

/// Holds the object until AWS reports the integration gone (deletionPolicy Delete) or releases it (Retain).
pub const FINALIZER: &str = "zeroetl.dev/integration";

type IntegrationOutcome = Outcome<ZeroEtlIntegrationStatus>;

pub async fn reconcile(obj: Arc<ZeroEtlIntegration>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    let deleting = obj.metadata.deletion_timestamp.is_some();
    let outcome = match (pipeline::paused(&*obj), deleting) {
        // Paused: no AWS call and no status write until the annotation goes.
        (true, false) => return Ok(Action::await_change()),
        // Not ours to hold (any more): nothing to do.
        (_, true) if !finalizer::has(&*obj, FINALIZER) => return Ok(Action::await_change()),
        (true, true) => released_while_paused(),
        (false, true) => delete(&obj, &ctx).await?,
        (false, false) => converge(&obj, &ctx).await?,
    };
    let released = outcome.release.is_some();
    let action = pipeline::finish(&*obj, &ctx, outcome, started).await?;
    if released {
        let stored = obj
            .status
            .as_ref()
            .and_then(|s| s.integration_arn.as_deref());
        ctx.shared
            .snapshots
            .forget(&ObjectRef::from_obj(&*obj), stored, &obj.aws_name());
    }
    Ok(action)
}

pub fn error_policy(obj: Arc<ZeroEtlIntegration>, error: &Error, ctx: Arc<Context>) -> Action {
    pipeline::error_policy(&*obj, error, &ctx)
}

async fn converge(obj: &ZeroEtlIntegration, ctx: &Context) -> Result<IntegrationOutcome> {
    if let Err(refusal) = validate::validate(obj, &ctx.config.guardrails) {
        return Ok(Outcome::refused(refusal.reason, refusal.message));
    }
    pipeline::ensure_finalizer(ctx, obj, FINALIZER).await?;
    match observe::observe(obj, ctx).await {
        Ok(seen) => {
            ctx.leadership.ensure()?;
            // The accounts the spec resolved to (a cluster by name, a connection's warehouse).
            let resolved = [
                ("the source", seen.source.seen().map(|s| s.arn.as_str())),
                (
                    "the target",
                    match &seen.target_ref {
                        observed::TargetRef::Arn(arn) => Some(arn.as_str()),
                        _ => None,
                    },
                ),
            ];
            if let Some(message) = resolved
                .into_iter()
                .find_map(|(what, arn)| arn.and_then(|a| ctx.config.guardrails.account(what, a)))
            {
                return Ok(Outcome::refused(
                    zeroetl_api::conditions::reasons::FORBIDDEN_BY_OPERATOR,
                    message,
                ));
            }
            let mut outcome = act(obj, &Owner::of(obj, &ctx.config.cluster_name), &seen).await;
            // A Ready object comes back for its next full check at the latest.
            if let Progress::Ready { recheck_after, .. } = &mut outcome.progress {
                let uid = obj.metadata.uid.clone().unwrap_or_default();
                let drift = ctx.rechecks.remaining(&uid, ctx.config.drift_interval);
                *recheck_after = (*recheck_after).min(drift.max(crate::timing::AFTER_ACTION));
            }
            Ok(outcome)
        }
        Err(e) => Ok(Outcome::failed(e)),
    }
}

/// Plan and apply for an observed object (the simulator tests drive passes from here).
async fn act(
    obj: &ZeroEtlIntegration,
    owner: &Owner,
    seen: &observe::Observation,
) -> IntegrationOutcome {
    let name = obj.aws_name();
    let plan = plan::plan(&seen.input(obj, &name, owner));
    let current = obj.status.clone().unwrap_or_default();
    if obj.spec.management_policy == ManagementPolicy::Plan {
        return planned_only(obj, &current, plan);
    }
    let (applied, failure) = apply::run(seen, &plan.actions).await;
    let fields = status::after_pass(&obj.spec, &current, &plan, &applied, chrono::Utc::now());
    let mut steps = plan.conditions;
    if let Some(created) = &applied.created {
        plan::replicating_after_create(&mut steps, created);
    }
    let mut progress = plan.progress;
    if let Some((action, e)) = &failure {
        fold_failure(&mut steps, &mut progress, action.condition_type(), e);
    }
    let mut changes = applied.changes;
    let was_ready = conditions::is_true(&current.conditions, conditions::READY);
    if was_ready && current.observed_generation == obj.metadata.generation && !changes.is_empty() {
        // Ready, same spec, and yet something had to change: AWS was edited underneath.
        let what: Vec<&str> = changes.iter().map(|c| c.note.as_str()).collect();
        changes.push(Notice::normal(
            "DriftCorrected",
            format!(
                "AWS had drifted from the spec; put back: {}",
                what.join("; ")
            ),
        ));
    }
    Outcome {
        fields: Some(fields),
        steps,
        progress,
        changes,
        backoff: failure.as_ref().and_then(|(_, e)| transient(e)),
        release: None,
    }
}

async fn delete(obj: &ZeroEtlIntegration, ctx: &Context) -> Result<IntegrationOutcome> {
    let current = obj.status.clone().unwrap_or_default();
    let owner = Owner::of(obj, &ctx.config.cluster_name);
    let name = obj.aws_name();
    if !plan::deletes_in_aws(&obj.spec) {
        // Retain, ObserveOnly, Plan: released without a single AWS call, so AWS can never strand it.
        let plan = plan::plan_delete(
            &obj.spec,
            &current,
            &name,
            &owner,
            None,
            StillNeeded::UNKNOWN,
        );
        return Ok(deletion_outcome(&current, plan, Default::default(), None));
    }
    let (clients, found) = match observe::observe_deletion(obj, ctx).await {
        Ok(seen) => seen,
        Err(e) => return Ok(Outcome::failed(e)),
    };
    ctx.leadership.ensure()?;
    let still_needed = still_needed(obj, ctx);
    let plan = plan::plan_delete(
        &obj.spec,
        &current,
        &name,
        &owner,
        found.as_ref(),
        still_needed,
    );
    let (applied, failure) = apply::run_deletion(&clients, &ctx.shared, &plan.actions).await;
    Ok(deletion_outcome(&current, plan, applied, failure))
}

fn deletion_outcome(
    current: &ZeroEtlIntegrationStatus,
    plan: plan::DeletePlan,
    applied: apply::Applied,
    failure: Option<(plan::Action, Error)>,
) -> IntegrationOutcome {
    let fields = status::after_deletion(current, &plan);
    let mut steps = plan.steps;
    let mut progress = plan.progress;
    if let Some((action, e)) = &failure {
        fold_failure(&mut steps, &mut progress, action.condition_type(), e);
    }
    let mut changes = plan.notices;
    changes.extend(applied.changes);
    let backoff = failure.as_ref().and_then(|(_, e)| transient(e));
    Outcome {
        fields: Some(fields),
        steps,
        progress,
        changes,
        // A transient failure (taking back a grant) is retried before the object goes; anything else does not
        // hold it: a finalizer never strands an object.
        release: (plan.release && backoff.is_none()).then_some(FINALIZER),
        backoff,
    }
}

/// Whether another object (any namespace, not being deleted) still integrates this object's source — or
/// another source of its account — into its target, from the watch cache. Unknown without one.
fn still_needed(obj: &ZeroEtlIntegration, ctx: &Context) -> StillNeeded {
    let Some(all) = ctx.stores.integrations() else {
        return StillNeeded::UNKNOWN;
    };
    let status = obj.status.clone().unwrap_or_default();
    let (Some(source), Some(target)) = (&status.source_arn, &status.target_arn) else {
        return StillNeeded::UNKNOWN;
    };
    let account = |arn: &str| arn.split(':').nth(4).unwrap_or_default().to_string();
    let mut needed = StillNeeded {
        source: false,
        account: false,
    };
    for other in all {
        let same_object = other.metadata.uid == obj.metadata.uid;
        let Some(s) = other.status.as_ref() else {
            continue;
        };
        if same_object
            || other.metadata.deletion_timestamp.is_some()
            || s.target_arn.as_deref() != Some(target.as_str())
        {
            continue;
        }
        let other_source = s.source_arn.clone().unwrap_or_default();
        needed.source |= other_source == *source;
        needed.account |= account(&other_source) == account(source);
    }
    needed
}

/// managementPolicy Plan: the actions Manage would take, written to status; nothing is applied. With
/// actions to take, the object waits (Stalled/PlanOnly) for the user to switch to Manage.
fn planned_only(
    obj: &ZeroEtlIntegration,
    current: &ZeroEtlIntegrationStatus,
    plan: plan::Plan,
) -> IntegrationOutcome {
    let mut fields = status::after_pass(
        &obj.spec,
        current,
        &plan,
        &Default::default(),
        chrono::Utc::now(),
    );
    fields.planned_actions = plan.actions.iter().map(plan::Action::describe).collect();
    let progress = match plan.actions.len() {
        0 => plan.progress,
        n => Progress::stalled(
            plan::reasons::PLAN_ONLY,
            format!(
                "managementPolicy Plan: {n} action(s) planned, none applied ({}); set spec.managementPolicy: Manage to apply them",
                fields.planned_actions.join("; ")
            ),
        ),
    };
    Outcome {
        fields: Some(fields),
        steps: plan.conditions,
        ..Outcome::new(progress)
    }
}

/// A paused object that is deleted is released without touching AWS: pausing promised no AWS call.
fn released_while_paused() -> IntegrationOutcome {
    Outcome {
        changes: vec![Notice::normal(
            "Retained",
            "deleted while paused (zeroetl.dev/paused): AWS was left untouched",
        )],
        release: Some(FINALIZER),
        ..Outcome::new(Progress::in_progress(
            zeroetl_api::conditions::reasons::DELETING,
            "released while paused",
            crate::timing::DELETE_POLL,
        ))
    }
}
