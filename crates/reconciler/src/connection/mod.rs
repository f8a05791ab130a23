//! RedshiftConnection reconciler: a verified warehouse connection, published for consumers. The pipeline of
//! every kind (see the crate docs): validate → observe (identity, warehouse, credentials, `SELECT 1`,
//! staging) → plan (steps, case sensitivity in Fix mode, the coordinates Secret) → apply → finish.
//! A pass that finds a recent successful verification (one triggered by the published Secret changing, say)
//! only puts the Secret back, from the coordinates in status, without AWS.

mod apply;
pub(crate) mod observe;
pub mod plan;
pub mod reasons;
mod secret;
pub use secret::MANAGED_BY_SELECTOR;

#[cfg(test)]
mod sim_tests;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use kube::runtime::controller::Action;
use kube::ResourceExt;
use zeroetl_api::conditions::{self, READY};
use zeroetl_api::validation::summarize;
use zeroetl_api::{validate_connection, RedshiftConnection, RedshiftConnectionStatus};

use crate::aws::AwsErrorKind;
use crate::k8s::identity;
use crate::pipeline::{self, Outcome};
use crate::progress::Progress;
use crate::{Context, Error, Result};
use observe::WarehouseObservation;
use plan::{Coordinates, Step, WarehouseSeen};

type ConnectionOutcome = Outcome<RedshiftConnectionStatus>;

pub async fn reconcile(obj: Arc<RedshiftConnection>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    if pipeline::paused(&*obj) {
        // No AWS call and no status write until the annotation goes.
        return Ok(Action::await_change());
    }
    // The watch cache can lag behind our own last status write (a pass triggered by the Secret we just
    // published may see the object as it was before): read the latest one before anything costly.
    let obj = match plan::verification_fresh_for(
        &obj,
        last_verified(&obj, &ctx),
        Utc::now(),
        ctx.config.connection_reverify_interval,
    ) {
        Some(_) => obj,
        None => match pipeline::api(&ctx, &*obj).get_opt(&obj.name_any()).await? {
            Some(latest) => Arc::new(latest),
            None => return Ok(Action::await_change()),
        },
    };
    let outcome = converge(&obj, &ctx).await?;
    pipeline::finish(&*obj, &ctx, outcome, started).await
}

pub fn error_policy(obj: Arc<RedshiftConnection>, error: &Error, ctx: Arc<Context>) -> Action {
    pipeline::error_policy(&*obj, error, &ctx)
}

async fn converge(obj: &RedshiftConnection, ctx: &Context) -> Result<ConnectionOutcome> {
    let mut errors = validate_connection(obj);
    errors.extend(plan::spec_problems(&obj.spec));
    if !errors.is_empty() {
        return Ok(Outcome::refused(
            conditions::reasons::INVALID_SPEC,
            summarize(&errors),
        ));
    }
    if let Some(message) = ctx.config.guardrails.connection(&obj.spec) {
        return Ok(Outcome::refused(
            conditions::reasons::FORBIDDEN_BY_OPERATOR,
            message,
        ));
    }
    let interval = ctx.config.connection_reverify_interval;
    let now = Utc::now();
    let region = obj
        .spec
        .region
        .clone()
        .unwrap_or_else(|| ctx.config.default_region.clone());
    if let Some(remaining) =
        plan::verification_fresh_for(obj, last_verified(obj, ctx), now, interval)
    {
        ctx.leadership.ensure()?;
        if republish_from_status(obj, ctx, &region).await {
            return Ok(still_ready(obj, remaining));
        }
        // The Secret could not be put back (a name conflict, an API error): verify and report it.
    }

    let namespace = obj.namespace().unwrap_or_default();
    let clients = match identity::resolve(
        &ctx.client,
        &namespace,
        &obj.name_any(),
        Some(&obj.spec.auth),
    )
    .await
    {
        Ok(identity) => ctx.aws.clients(&region, &identity).await,
        Err(e) => Err(e),
    };
    let (clients, seen) = match clients {
        Ok(c) => {
            let seen = observe::observe(&c, &obj.spec).await;
            (Some(c), seen)
        }
        Err(e) => (None, WarehouseObservation::refused(e)),
    };
    let (mut steps, actions) = plan::plan(&obj.spec, &seen);
    let mut changes = Vec::new();
    if let (Some(c), Ok(w)) = (&clients, &seen.described) {
        ctx.leadership.ensure()?;
        let (made, failures) = apply::run(ctx, obj, c, w, &actions).await;
        changes = made;
        for (action, e) in failures {
            steps.set(action.condition_type(), Step::from_error(&e));
        }
    }
    let summary = match &seen.described {
        Ok(w) => format!("verified {} in {region}", w.describe()),
        Err(_) => String::new(),
    };
    let mut decision = plan::decide(&steps, &summary, interval);
    // A stalled connection is verified again with the others (an IAM or network fix outside Kubernetes shows
    // up at its next verification), and at least as often as any stalled object.
    if let Progress::Stalled { recheck_after, .. } = &mut decision.progress {
        *recheck_after = recheck_after.map(|r| r.min(interval));
    }
    let warehouse = match &seen.described {
        Ok(w) => WarehouseSeen::Described(w),
        Err(e) if e.is_aws(AwsErrorKind::NotFound) => WarehouseSeen::Missing,
        Err(_) => WarehouseSeen::Unknown,
    };
    let ready = decision.progress.is_ready();
    if ready {
        if let Some(uid) = obj.metadata.uid.as_deref() {
            ctx.rechecks.verified(uid, obj.metadata.generation, now);
        }
    }
    let fields = plan::next_status(obj, warehouse, ready, now);
    Ok(Outcome {
        fields: Some(fields),
        steps: decision.conditions,
        progress: decision.progress,
        changes,
        backoff: decision.backoff,
        release: None,
    })
}

/// When this process last verified `obj` (its status records that only hourly).
fn last_verified(obj: &RedshiftConnection, ctx: &Context) -> Option<chrono::DateTime<Utc>> {
    let uid = obj.metadata.uid.as_deref()?;
    ctx.rechecks.last_verified(uid, obj.metadata.generation)
}

/// A fresh verification: everything stays as it is (no status write), looked at again when it is due.
fn still_ready(obj: &RedshiftConnection, remaining: Duration) -> ConnectionOutcome {
    let message = obj
        .status
        .as_ref()
        .and_then(|s| conditions::find(&s.conditions, READY))
        .map(|c| c.message.to_string())
        .unwrap_or_default();
    Outcome::new(Progress::Ready {
        message,
        recheck_after: remaining,
    })
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
        .is_ok()
}
