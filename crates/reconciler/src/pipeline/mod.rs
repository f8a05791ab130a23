//! The end of every pass, the same for both kinds: [`finish`] is the only place that writes status, publishes
//! events, removes a finalizer and decides when to look again (requeue or backoff). A kind's reconciler runs
//! validate → observe → plan → apply and hands the result over as an [`Outcome`].

use std::time::Instant;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use k8s_openapi::NamespaceResourceScope;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::Serialize;
use tracing::{error, info, warn};
use zeroetl_api::conditions::{merge, Decided};

use crate::backoff;
use crate::error::{Category, Error, Result};
use crate::k8s::events::{transitions, Notice};
use crate::k8s::{finalizer, status, ObjectStatus};
use crate::metrics::ReconcileResult;
use crate::progress::{requeue_after, summary_conditions, Progress};
use crate::timing;
use crate::Context;

/// Annotation that stops the operator from doing anything for an object (no AWS call, no status write).
pub const PAUSED_ANNOTATION: &str = "zeroetl.dev/paused";

/// A kind the pipeline reconciles.
pub trait Managed:
    Resource<DynamicType = (), Scope = NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Serialize
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    type Status: ObjectStatus;
    const KIND: &'static str;
    fn status(&self) -> Option<&Self::Status>;
}

impl Managed for zeroetl_api::ZeroEtlIntegration {
    type Status = zeroetl_api::ZeroEtlIntegrationStatus;
    const KIND: &'static str = "ZeroEtlIntegration";
    fn status(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }
}

impl Managed for zeroetl_api::RedshiftConnection {
    type Status = zeroetl_api::RedshiftConnectionStatus;
    const KIND: &'static str = "RedshiftConnection";
    fn status(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }
}

/// What a pass decided and did.
#[derive(Debug)]
pub struct Outcome<S> {
    /// The status fields this pass decided; `None` keeps the current ones. Conditions and the observed
    /// generation are filled in by [`finish`].
    pub fields: Option<S>,
    /// Step conditions decided this pass (undecided ones keep their previous value).
    pub steps: Vec<Decided>,
    pub progress: Progress,
    /// Changes the pass made, one event each.
    pub changes: Vec<Notice>,
    /// A transient failure (already folded into `steps` and `progress`): back off instead of following
    /// `progress`.
    pub backoff: Option<Category>,
    /// Deletion is done: remove this finalizer.
    pub release: Option<&'static str>,
}

impl<S> Outcome<S> {
    pub fn new(progress: Progress) -> Outcome<S> {
        Outcome {
            fields: None,
            steps: Vec::new(),
            progress,
            changes: Vec::new(),
            backoff: None,
            release: None,
        }
    }

    /// A pass that could not look at the world: its error decides the progress, status fields stay.
    pub fn failed(e: Error) -> Outcome<S> {
        Outcome {
            backoff: transient(&e),
            ..Outcome::new(Progress::from_error(&e))
        }
    }

    /// A spec the operator refuses: nothing happens until it changes.
    pub fn refused(reason: &str, message: impl Into<String>) -> Outcome<S> {
        Outcome::new(Progress::refused(reason, message))
    }
}

/// Folds a failed action into the pass: its step condition says what failed, and the progress follows the
/// error's category (terminal → Stalled, anything else → still in progress), with the error's reason.
pub fn fold_failure(
    steps: &mut Vec<Decided>,
    progress: &mut Progress,
    condition_type: &str,
    e: &Error,
) {
    let reason = e.reason();
    steps.retain(|c| c.type_ != condition_type);
    steps.push(Decided::new(
        condition_type,
        zeroetl_api::conditions::Status::False,
        &reason,
        e.to_string(),
    ));
    *progress = Progress::from_error(e);
}

/// The backoff category of an error, when it is transient (retryable or throttled).
pub fn transient(e: &Error) -> Option<Category> {
    Some(e.category()).filter(|c| matches!(c, Category::Retryable | Category::Throttled))
}

/// Whether the object asks the operator to leave it alone.
pub fn paused<K: Resource>(obj: &K) -> bool {
    obj.meta()
        .annotations
        .as_ref()
        .and_then(|a| a.get(PAUSED_ANNOTATION))
        .is_some_and(|v| v == "true")
}

pub fn api<K: Managed>(ctx: &Context, obj: &K) -> Api<K> {
    Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default())
}

pub fn now() -> Time {
    Time(Timestamp::now())
}

/// The status an outcome leaves (pure): its fields, or the current ones, with the observed generation and
/// the decided conditions merged into the current ones (transition times move only on a real transition).
pub fn next_status<S: ObjectStatus>(
    current: Option<&S>,
    generation: Option<i64>,
    outcome: &Outcome<S>,
    now: &Time,
) -> S {
    let previous = current.map(|s| s.conditions().to_vec()).unwrap_or_default();
    let mut next = outcome
        .fields
        .clone()
        .unwrap_or_else(|| current.cloned().unwrap_or_default());
    next.set_observed_generation(generation);
    let mut decided = outcome.steps.clone();
    decided.extend(summary_conditions(&outcome.progress));
    next.set_conditions(merge(&previous, &decided, generation, now));
    next
}

/// Writes the status the outcome implies (unless unchanged), publishes its events, releases the finalizer
/// when deletion is done, and says when to look again.
pub async fn finish<K: Managed>(
    obj: &K,
    ctx: &Context,
    outcome: Outcome<K::Status>,
    started: Instant,
) -> Result<Action> {
    // A replica that lost the Lease writes nothing (its successor decides the status).
    ctx.leadership.ensure()?;
    let api = api(ctx, obj);
    let name = obj.name_any();
    let namespace = obj.namespace().unwrap_or_default();
    let current = obj.status().cloned();
    let generation = obj.meta().generation;
    let previous_conditions = current
        .as_ref()
        .map(|s| s.conditions().to_vec())
        .unwrap_or_default();

    let next = next_status(current.as_ref(), generation, &outcome, &now());

    if let (Some(category), Progress::InProgress { message, .. }) =
        (outcome.backoff, &outcome.progress)
    {
        warn!(kind = K::KIND, namespace, name, ?category, error = %message, "pass failed; backing off");
    }
    // A released object is going away: its status is not written (the write would also change the
    // resourceVersion the finalizer removal is guarded by).
    let written = match outcome.release {
        Some(_) => Ok(false),
        None => status::write(&api, &name, current.as_ref(), &next).await,
    };
    match written {
        Ok(true) => {
            ctx.metrics.status_written(K::KIND);
            note_own_write(ctx, obj, None);
        }
        Ok(false) => {}
        Err(Error::Kube(kube::Error::Api(refusal)))
            if refusal.code == 422 || refusal.code == 400 =>
        {
            // The API server refused the status we computed: always a bug of ours. Say so with what can still
            // be written, so the previous status does not stand as if it were true.
            ctx.metrics.status_rejected(K::KIND);
            error!(kind = K::KIND, namespace, name, error = %refusal.message, "the API server refused the status");
            let mut fallback = K::Status::default();
            fallback.set_observed_generation(generation);
            let rejected = Progress::stalled(
                "StatusRejected",
                format!("the operator computed a status the API server refused (an operator bug; please report it): {}", refusal.message),
            );
            fallback.set_conditions(merge(
                &previous_conditions,
                &summary_conditions(&rejected),
                generation,
                &now(),
            ));
            if let Err(e) = status::write(&api, &name, current.as_ref(), &fallback).await {
                error!(kind = K::KIND, namespace, name, error = %e, "could not record the refused status either");
            }
            record(ctx, K::KIND, ReconcileResult::stalled, started);
            return Ok(Action::requeue(timing::STALLED_RECHECK));
        }
        // Counted by the controller as a failed reconcile.
        Err(e) => return Err(e),
    }

    let uid = obj.meta().uid.as_deref().unwrap_or_default();
    let mut notices = outcome.changes;
    notices.extend(transitions(
        &previous_conditions,
        next.conditions(),
        ctx.events.warned(uid),
    ));
    for notice in &notices {
        if !notice.warning {
            info!(kind = K::KIND, namespace, name, reason = %notice.reason, note = %notice.note, "event");
        }
        if notice.event {
            ctx.events.publish(obj, notice).await;
        }
    }
    ctx.events
        .published(uid, &notices, outcome.progress.is_ready());
    if let Some(f) = outcome.release {
        finalizer::release(&api, obj, f).await?;
        ctx.rechecks.forget(uid);
        ctx.own_writes.forget(uid);
        ctx.events.forget(uid);
    }

    let key = backoff::key(K::KIND, &namespace, &name);
    let (action, result) = match (outcome.backoff, &outcome.progress) {
        (Some(category), _) => (
            Action::requeue(ctx.backoff.next(&key, category)),
            ReconcileResult::error,
        ),
        (None, progress) => {
            ctx.backoff.reset(&key);
            let result = match progress {
                Progress::Ready { .. } => ReconcileResult::success,
                Progress::InProgress { .. } => ReconcileResult::requeue,
                Progress::Stalled { .. } => ReconcileResult::stalled,
            };
            let action = match (outcome.release, requeue_after(progress)) {
                (Some(_), _) | (None, None) => Action::await_change(),
                (None, Some(after)) => Action::requeue(after),
            };
            (action, result)
        }
    };
    record(ctx, K::KIND, result, started);
    Ok(action)
}

/// Adds the kind's finalizer before the first AWS change. When it writes, the version the pass started
/// from and the one the add produced are both behind what the API server has once the status is written
/// too (see [`crate::k8s::own_writes`]).
pub async fn ensure_finalizer<K: Managed>(ctx: &Context, obj: &K, name: &str) -> Result<()> {
    if let Some(produced) = finalizer::ensure(&api(ctx, obj), obj, name).await? {
        note_own_write(ctx, obj, None);
        note_own_write(ctx, obj, Some(&produced));
    }
    Ok(())
}

/// Our write replaced `version` of `obj` (`None`: the version the pass started from).
fn note_own_write<K: Resource>(ctx: &Context, obj: &K, version: Option<&str>) {
    let meta = obj.meta();
    if let (Some(uid), Some(version)) = (&meta.uid, version.or(meta.resource_version.as_deref())) {
        ctx.own_writes.wrote(uid, version);
    }
}

/// When the cached `obj` is a version our own write already replaced, the pass waits for the cache: started
/// from it, it would write the same finalizer or status again.
pub fn behind_own_write<K: Resource>(ctx: &Context, obj: &K) -> Option<Action> {
    let meta = obj.meta();
    let (uid, version) = (meta.uid.as_deref()?, meta.resource_version.as_deref()?);
    ctx.own_writes
        .behind(uid, version)
        .then(|| Action::requeue(timing::CACHE_CATCH_UP))
}

fn record(ctx: &Context, kind: &'static str, result: ReconcileResult, started: Instant) {
    ctx.metrics.reconciled(kind, result, started.elapsed());
}

/// The controller's error policy for every kind: back off under the same key [`finish`] resets.
pub fn error_policy<K: Managed>(obj: &K, error: &Error, ctx: &Context) -> Action {
    let key = backoff::key(
        K::KIND,
        &obj.namespace().unwrap_or_default(),
        &obj.name_any(),
    );
    Action::requeue(ctx.backoff.next(&key, error.category()))
}

#[cfg(test)]
mod tests;
