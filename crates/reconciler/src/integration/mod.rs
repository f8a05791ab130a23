//! ZeroEtlIntegration reconciler: from "an Aurora/RDS database and a Redshift warehouse" to "data flowing into
//! a database I can query", and kept there. The pipeline of every kind (see the crate docs):
//! validate → finalizer → observe → plan → apply → finish; deletion observes, plans and applies too.

mod apply;
pub mod observe;
pub mod observed;
pub mod plan;
#[cfg(test)]
mod sim_tests;
pub mod source_params;
mod status;
pub mod target_policy;
mod validate;

use std::sync::Arc;
use std::time::Instant;

use kube::runtime::controller::Action;
use zeroetl_api::{ZeroEtlIntegration, ZeroEtlIntegrationStatus};

use crate::k8s::{finalizer, Notice};
use crate::pipeline::{self, fold_failure, transient, Outcome};
use crate::progress::Progress;
use crate::{Context, Error, Result};

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
    pipeline::finish(&*obj, &ctx, outcome, started).await
}

pub fn error_policy(obj: Arc<ZeroEtlIntegration>, error: &Error, ctx: Arc<Context>) -> Action {
    pipeline::error_policy(&*obj, error, &ctx)
}

async fn converge(obj: &ZeroEtlIntegration, ctx: &Context) -> Result<IntegrationOutcome> {
    if let Err(refusal) = validate::validate(obj) {
        return Ok(Outcome::refused(refusal.reason, refusal.message));
    }
    finalizer::ensure(&pipeline::api(ctx, obj), obj, FINALIZER).await?;
    match observe::observe(obj, ctx).await {
        Ok(seen) => {
            ctx.leadership.ensure()?;
            Ok(act(obj, &seen).await)
        }
        Err(e) => Ok(Outcome::failed(e)),
    }
}

/// Plan and apply for an observed object (the simulator tests drive passes from here).
async fn act(obj: &ZeroEtlIntegration, seen: &observe::Observation) -> IntegrationOutcome {
    let name = obj.aws_name();
    let plan = plan::plan(&seen.input(obj, &name));
    let (applied, failure) = apply::run(seen, &plan.actions).await;
    let current = obj.status.clone().unwrap_or_default();
    let fields = status::after_pass(&obj.spec, &current, &plan, &applied);
    let mut steps = plan.conditions;
    let mut progress = plan.progress;
    if let Some((action, e)) = &failure {
        fold_failure(&mut steps, &mut progress, action.condition_type(), e);
    }
    Outcome {
        fields: Some(fields),
        steps,
        progress,
        changes: applied.changes,
        backoff: failure.as_ref().and_then(|(_, e)| transient(e)),
        release: None,
    }
}

async fn delete(obj: &ZeroEtlIntegration, ctx: &Context) -> Result<IntegrationOutcome> {
    let (clients, found) = match observe::observe_deletion(obj, ctx).await {
        Ok(seen) => seen,
        Err(e) => return Ok(Outcome::failed(e)),
    };
    ctx.leadership.ensure()?;
    let current = obj.status.clone().unwrap_or_default();
    let plan = plan::plan_delete(&obj.spec, &current, &obj.aws_name(), found.as_ref());
    let (applied, failure) = apply::run_deletion(&clients, &plan.actions).await;
    let fields = status::after_deletion(&current, &plan);
    let mut steps = plan.steps;
    let mut progress = plan.progress;
    if let Some((action, e)) = &failure {
        fold_failure(&mut steps, &mut progress, action.condition_type(), e);
    }
    let mut changes = plan.notices;
    changes.extend(applied.changes);
    Ok(Outcome {
        fields: Some(fields),
        steps,
        progress,
        changes,
        backoff: failure.as_ref().and_then(|(_, e)| transient(e)),
        release: plan.release.then_some(FINALIZER),
    })
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
