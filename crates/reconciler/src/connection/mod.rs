//! RedshiftConnection reconciler: validate (no AWS call for an invalid object) → resolve the identity →
//! verify the warehouse step by step → publish the coordinates Secret → write status only when it changed →
//! requeue for the next verification. A reconcile that finds a recent successful verification (for example
//! one triggered by our own status write or by the published Secret changing) only repairs the Secret.

mod identity;
pub mod plan;
mod secret;
pub use secret::MANAGED_BY_SELECTOR;
mod verify;

#[cfg(test)]
mod sim_tests;

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use tracing::{info, warn};
use zeroetl_api::conditions::{self, merge, READY, STALLED};
use zeroetl_api::validation::summarize;
use zeroetl_api::{validate_connection, RedshiftConnection, RedshiftConnectionStatus};

use crate::outcome::{summary_conditions, Progress};
use crate::{status, Context, Error, Result};
use plan::{Coordinates, Decision, Step, Steps};

pub async fn reconcile(obj: Arc<RedshiftConnection>, ctx: Arc<Context>) -> Result<Action> {
    let api: Api<RedshiftConnection> =
        Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default());
    let interval = ctx.config.connection_reverify_interval;
    let now = Utc::now();
    // The controller's cache can lag behind our own last status write: a reconcile triggered by the Secret
    // we just created may see the object as it was before. Before anything costly, read the latest one.
    let obj = match plan::verification_fresh_for(&obj, now, interval) {
        Some(_) => obj,
        None => match api.get_opt(&obj.name_any()).await? {
            Some(latest) => Arc::new(latest),
            None => return Ok(Action::await_change()),
        },
    };
    let mut errors = validate_connection(&obj);
    errors.extend(plan::spec_problems(&obj.spec));
    if !errors.is_empty() {
        let progress = Progress::stalled(conditions::reasons::INVALID_SPEC, summarize(&errors));
        let current = obj.status.clone().unwrap_or_default();
        let mut next = RedshiftConnectionStatus {
            observed_generation: obj.metadata.generation,
            ..current.clone()
        };
        next.conditions = merge(
            &current.conditions,
            &summary_conditions(&progress),
            obj.metadata.generation,
            &Time(Timestamp::now()),
        );
        status::apply(&api, &obj.name_any(), obj.status.as_ref(), &next).await?;
        // Only a spec change (a watch event) can help.
        return Ok(Action::await_change());
    }
    let region = obj
        .spec
        .region
        .clone()
        .unwrap_or_else(|| ctx.config.default_region.clone());

    if let Some(remaining) = plan::verification_fresh_for(&obj, now, interval) {
        if republish_from_status(&obj, &ctx, &region).await {
            return Ok(Action::requeue(remaining));
        }
        // The Secret could not be put back (a name conflict, an API error): verify and report it.
    }

    let (steps, warehouse) = verify_all(&obj, &ctx, &region).await;
    let summary = match &warehouse {
        Some(w) => format!("verified {} in {region}", w.describe()),
        None => String::new(),
    };
    let decision = plan::decide(&steps, &summary, interval);
    let next = plan::next_status(&obj, warehouse.as_ref(), &decision.conditions, now);
    announce_transitions(&obj, &ctx, &next).await;
    status::apply(&api, &obj.name_any(), obj.status.as_ref(), &next).await?;
    Ok(Action::requeue(requeue(&obj, &ctx, &decision, interval)))
}

pub fn error_policy(obj: Arc<RedshiftConnection>, error: &Error, ctx: Arc<Context>) -> Action {
    warn!(connection = %obj.name_any(), error = %error, "reconcile failed");
    Action::requeue(ctx.backoff.next(&backoff_key(&obj), error.category()))
}

fn backoff_key(obj: &RedshiftConnection) -> String {
    format!(
        "connection/{}/{}",
        obj.namespace().unwrap_or_default(),
        obj.name_any()
    )
}

fn requeue(
    obj: &RedshiftConnection,
    ctx: &Context,
    decision: &Decision,
    interval: Duration,
) -> Duration {
    let key = backoff_key(obj);
    if let Some(category) = decision.backoff {
        return ctx.backoff.next(&key, category);
    }
    ctx.backoff.reset(&key);
    match &decision.progress {
        Progress::InProgress { requeue, .. } => *requeue,
        // Ready and Stalled alike are looked at again after the interval: a connection can break, and a
        // stalled one can be fixed outside Kubernetes (an IAM policy, a parameter).
        Progress::Ready { .. } | Progress::Stalled { .. } => interval,
    }
}

/// Every step in order. Nothing after a failed Authenticated is attempted.
async fn verify_all(
    obj: &RedshiftConnection,
    ctx: &Context,
    region: &str,
) -> (Steps, Option<crate::warehouse::Warehouse>) {
    let mut steps = Steps::default();
    let identity = match identity::resolve(&ctx.client, obj).await {
        Ok(identity) => identity,
        Err(step) => {
            steps.authenticated = step;
            return (steps, None);
        }
    };
    let clients = match ctx.aws.clients(region, &identity).await {
        Ok(c) => c,
        Err(e) => {
            steps.authenticated = Step::from_error(&e);
            return (steps, None);
        }
    };
    let warehouse = verify::warehouse_steps(&clients, &obj.spec, &mut steps).await;
    let published = obj.spec.connection_secret.as_ref().map(|s| s.name.as_str());
    if let Some(w) = &warehouse {
        steps.secret = match (published, Coordinates::from_warehouse(w)) {
            (None, _) => Step::passed(
                plan::reasons::NOT_REQUESTED,
                "spec.connectionSecret is not set",
            ),
            (Some(name), Some(at)) => {
                secret::publish(&ctx.client, obj, name, &plan::secret_data(&obj.spec, &at)).await
            }
            (Some(_), None) => Step::waiting(
                plan::reasons::NOT_CHECKED,
                format!("{} has no endpoint yet", w.describe()),
                Duration::from_secs(10),
            ),
        };
        secret::remove_stale(&ctx.client, obj, published).await;
    }
    (steps, warehouse)
}

/// Puts the published Secret back from the last verified coordinates (in status) without calling AWS: a
/// deleted or edited Secret is restored by the reconcile its watch event triggers. False when it could not.
async fn republish_from_status(obj: &RedshiftConnection, ctx: &Context, region: &str) -> bool {
    let Some(name) = obj.spec.connection_secret.as_ref().map(|s| s.name.as_str()) else {
        return true;
    };
    let Some(at) = obj
        .status
        .as_ref()
        .and_then(|s| Coordinates::from_status(s, region))
    else {
        return false;
    };
    secret::publish(&ctx.client, obj, name, &plan::secret_data(&obj.spec, &at))
        .await
        .is_passed()
}

/// Logs and records an Event when the connection becomes Ready, stops being Ready or stalls, so that
/// `kubectl describe` tells its story; ordinary progress (Applying, QueryRunning) makes no event.
async fn announce_transitions(
    obj: &RedshiftConnection,
    ctx: &Context,
    next: &RedshiftConnectionStatus,
) {
    let was = |type_: &str| {
        obj.status
            .as_ref()
            .is_some_and(|s| conditions::is_true(&s.conditions, type_))
    };
    let is = |type_: &str| conditions::is_true(&next.conditions, type_);
    let Some(ready) = conditions::find(&next.conditions, READY) else {
        return;
    };
    let (warning, reason) = match (was(READY), is(READY), was(STALLED), is(STALLED)) {
        (false, true, _, _) => (false, "Verified"),
        (true, false, _, _) => (true, "NotReady"),
        (_, _, false, true) => (true, "Stalled"),
        _ => return,
    };
    info!(connection = %obj.name_any(), event = reason, reason = %ready.reason, "connection state changed");
    let note = if warning {
        format!("{}: {}", ready.reason, ready.message)
    } else {
        ready.message.clone()
    };
    ctx.events
        .publish(obj, warning, reason, "Verify", note)
        .await;
}
