//! ZeroEtlIntegration reconciler: from "an Aurora/RDS database and a Redshift warehouse" to "data flowing into
//! a database I can query", and kept there.
//!
//! Each pass: validate (no AWS call for an invalid spec) → refuse immutable changes → finalizer → resolve the
//! target → observe the integration, and the source and target unless they are settled → plan (pure) → act →
//! one status write if anything changed → events for transitions → requeue by progress.

mod apply;
mod database;
mod observed;
mod pass;
mod plan;
mod resolve;
#[cfg(test)]
mod sim_tests;
mod source_params;
mod target_policy;

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use serde_json::json;
use tracing::{info, warn};
use zeroetl_api::conditions::{
    self, merge, reasons as common, Decided, Status, DESTINATION_DATABASE_READY,
    INTEGRATION_ACTIVE, READY, SOURCE_READY, TARGET_READY,
};
use zeroetl_api::integration::DeletionPolicy;
use zeroetl_api::validation::summarize;
use zeroetl_api::{validate_integration, ZeroEtlIntegration, ZeroEtlIntegrationStatus};

use self::plan::reasons;
use crate::aws::Identity;
use crate::error::Category;
use crate::outcome::{requeue_after, summary_conditions, Progress};
use crate::{status, Context, Error, Result};

/// Holds the object until AWS reports the integration gone (deletionPolicy Delete) or releases it (Retain).
pub const FINALIZER: &str = "zeroetl.dev/integration";

/// A stalled object whose cause lies in AWS (a reboot to do, a failed integration) is looked at this often,
/// so that a fix made outside the operator shows up without a spec change.
const STALLED_RECHECK: Duration = Duration::from_secs(120);
/// While AWS deletes the integration.
const DELETE_POLL: Duration = Duration::from_secs(2);

/// How a pass ended: the requeue, and an error the controller's backoff should see (retryable and throttled
/// errors; terminal and waiting ones are already in the status and requeued by progress).
struct End {
    action: Action,
    error: Option<Error>,
}

impl End {
    fn ok(action: Action) -> End {
        End {
            action,
            error: None,
        }
    }
}

pub async fn reconcile(obj: Arc<ZeroEtlIntegration>, ctx: Arc<Context>) -> Result<Action> {
    let key = object_key(&obj);
    let result = if obj.metadata.deletion_timestamp.is_some() {
        cleanup(&obj, &ctx).await
    } else {
        converge(&obj, &ctx).await
    };
    match result {
        Ok(End {
            action,
            error: None,
        }) => {
            ctx.backoff.reset(&key);
            Ok(action)
        }
        Ok(End {
            action,
            error: Some(e),
        }) => match e.category() {
            Category::Retryable | Category::Throttled => Err(e),
            Category::Terminal | Category::Waiting => Ok(action),
        },
        Err(e) => {
            // Observation failed before anything was planned: still tell the user why.
            let progress = Progress::from_error(&e);
            if let Err(write) = write_conditions(&obj, &ctx, &[], &progress).await {
                warn!(error = %write, object = %key, "could not record an error in the status");
            }
            publish(
                &ctx,
                &obj,
                true,
                &pass::sanitize_reason(&e.reason()),
                e.to_string(),
            )
            .await;
            match e.category() {
                Category::Terminal => Ok(Action::requeue(STALLED_RECHECK)),
                Category::Waiting => Ok(Action::requeue(requeue_after(&progress))),
                Category::Retryable | Category::Throttled => Err(e),
            }
        }
    }
}

pub fn error_policy(obj: Arc<ZeroEtlIntegration>, error: &Error, ctx: Arc<Context>) -> Action {
    Action::requeue(ctx.backoff.next(&object_key(&obj), error.category()))
}

fn object_key(obj: &ZeroEtlIntegration) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}

fn api(ctx: &Context, obj: &ZeroEtlIntegration) -> Api<ZeroEtlIntegration> {
    Api::namespaced(ctx.client.clone(), &obj.namespace().unwrap_or_default())
}

fn now() -> Time {
    Time(Timestamp::now())
}

/// Writes Ready/Reconciling/Stalled for `progress` plus `steps`, keeping everything else in the status.
async fn write_conditions(
    obj: &ZeroEtlIntegration,
    ctx: &Context,
    steps: &[Decided],
    progress: &Progress,
) -> Result<()> {
    let current = obj.status.clone().unwrap_or_default();
    let mut decided = steps.to_vec();
    decided.extend(summary_conditions(progress));
    let next = ZeroEtlIntegrationStatus {
        observed_generation: obj.metadata.generation,
        conditions: merge(
            &current.conditions,
            &decided,
            obj.metadata.generation,
            &now(),
        ),
        ..current
    };
    write_status(ctx, obj, &next).await
}

async fn write_status(
    ctx: &Context,
    obj: &ZeroEtlIntegration,
    next: &ZeroEtlIntegrationStatus,
) -> Result<()> {
    if status::apply(&api(ctx, obj), &obj.name_any(), obj.status.as_ref(), next).await? {
        ctx.metrics
            .status_writes
            .get_or_create(&crate::metrics::KindLabels {
                kind: "ZeroEtlIntegration",
            })
            .inc();
    }
    Ok(())
}

async fn publish(
    ctx: &Context,
    obj: &ZeroEtlIntegration,
    warning: bool,
    reason: &str,
    note: String,
) {
    ctx.events
        .publish(obj, warning, reason, "Reconcile", note)
        .await;
}

// ---------------------------------------------------------------------------------------------------------
// Converge

async fn converge(obj: &ZeroEtlIntegration, ctx: &Context) -> Result<End> {
    let current = obj.status.clone().unwrap_or_default();
    let generation = obj.metadata.generation;

    // Nothing reaches AWS from an invalid spec or one that asks AWS for the impossible.
    let errors = validate_integration(obj);
    let refusal = if !errors.is_empty() {
        Some(Progress::stalled(common::INVALID_SPEC, summarize(&errors)))
    } else {
        plan::immutable_change(&obj.spec, &current)
            .map(|m| Progress::stalled(common::IMMUTABLE_FIELD_CHANGED, m))
    };
    if let Some(progress) = refusal {
        let was_stalled_for_this = conditions::find(&current.conditions, READY).is_some_and(
            |c| matches!(&progress, Progress::Stalled { reason, .. } if *reason == c.reason),
        );
        write_conditions(obj, ctx, &[], &progress).await?;
        if let (false, Progress::Stalled { reason, message }) = (was_stalled_for_this, &progress) {
            publish(ctx, obj, true, reason, message.clone()).await;
        }
        return Ok(End::ok(Action::requeue(requeue_after(&progress))));
    }

    ensure_finalizer(ctx, obj).await?;
    let namespace = obj.namespace().unwrap_or_default();
    let (target_ref, connection) = resolve::target_ref(&ctx.client, &namespace, &obj.spec).await?;
    let region = resolve::region(&obj.spec, &ctx.config.default_region);
    let source_clients = ctx.aws.clients(&region, &Identity::Default).await?;
    let target_identity =
        resolve::connection_identity(&ctx.client, &namespace, connection.as_ref()).await?;
    let target_region = connection
        .as_ref()
        .and_then(|c| c.spec.region.clone())
        .unwrap_or_else(|| region.clone());
    let target_clients = ctx.aws.clients(&target_region, &target_identity).await?;

    let name = obj.aws_name();
    let passed = pass::run(&pass::Pass {
        spec: &obj.spec,
        name: &name,
        generation,
        status: &current,
        target_ref: &target_ref,
        connection: connection.as_ref(),
        source_clients: &source_clients,
        target_clients: &target_clients,
        now: now(),
    })
    .await?;
    let (next, progress, applied, failure) =
        (passed.next, passed.progress, passed.applied, passed.failure);
    if let Some(e) = &failure {
        let attempted = passed.actions.len();
        warn!(object = %object_key(obj), error = %e, attempted, "action failed");
    }
    write_status(ctx, obj, &next).await?;

    for (reason, note) in &applied.changes {
        info!(object = %object_key(obj), reason, note, "changed");
        publish(ctx, obj, false, reason, note.clone()).await;
    }
    publish_transitions(ctx, obj, &current.conditions, &next.conditions, &progress).await;

    let requeue = match &progress {
        Progress::Stalled { .. } => STALLED_RECHECK,
        other => requeue_after(other),
    };
    Ok(End {
        action: Action::requeue(requeue),
        error: failure,
    })
}

/// One event per step (and Ready) whose status or reason changed.
async fn publish_transitions(
    ctx: &Context,
    obj: &ZeroEtlIntegration,
    before: &[Condition],
    after: &[Condition],
    progress: &Progress,
) {
    let stalled = matches!(progress, Progress::Stalled { .. });
    for type_ in [
        SOURCE_READY,
        TARGET_READY,
        INTEGRATION_ACTIVE,
        DESTINATION_DATABASE_READY,
        READY,
    ] {
        let (Some(new), old) = (
            conditions::find(after, type_),
            conditions::find(before, type_),
        ) else {
            continue;
        };
        if old.is_some_and(|o| o.status == new.status && o.reason == new.reason) {
            continue;
        }
        let warning = new.status == "False" && stalled;
        let note = if new.message.is_empty() {
            format!("{type_} is {}", new.status)
        } else {
            format!("{type_} is {}: {}", new.status, new.message)
        };
        publish(ctx, obj, warning, &new.reason, note).await;
    }
}

async fn ensure_finalizer(ctx: &Context, obj: &ZeroEtlIntegration) -> Result<()> {
    if obj.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(());
    }
    let mut list = obj.finalizers().to_vec();
    list.push(FINALIZER.to_string());
    set_finalizers(ctx, obj, list).await
}

/// A merge patch with the resourceVersion: the API server refuses it if the list changed meanwhile.
async fn set_finalizers(ctx: &Context, obj: &ZeroEtlIntegration, list: Vec<String>) -> Result<()> {
    let patch =
        json!({"metadata": {"finalizers": list, "resourceVersion": obj.resource_version()}});
    api(ctx, obj)
        .patch(
            &obj.name_any(),
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// Delete

async fn cleanup(obj: &ZeroEtlIntegration, ctx: &Context) -> Result<End> {
    if !obj.finalizers().iter().any(|f| f == FINALIZER) {
        return Ok(End::ok(Action::await_change()));
    }
    let current = obj.status.clone().unwrap_or_default();
    if obj.spec.deletion_policy == DeletionPolicy::Retain {
        let what = current
            .integration_arn
            .clone()
            .unwrap_or_else(|| obj.aws_name());
        publish(
            ctx,
            obj,
            false,
            "Retained",
            format!("deletionPolicy Retain: integration {what} is left in AWS"),
        )
        .await;
        release(ctx, obj).await?;
        return Ok(End::ok(Action::await_change()));
    }
    let region = current
        .integration_arn
        .as_deref()
        .and_then(zeroetl_api::arn::Arn::parse)
        .map(|a| a.region)
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| resolve::region(&obj.spec, &ctx.config.default_region));
    let clients = ctx.aws.clients(&region, &Identity::Default).await?;
    let name = obj.aws_name();
    // Found by name only if it joins our source: never delete someone else's integration.
    let found = resolve::find_integration(&clients, current.integration_arn.as_deref(), &name)
        .await?
        .filter(|i| {
            current.integration_arn.as_deref() == Some(i.arn.as_str())
                || plan::source_matches(&obj.spec.source, &i.source_arn)
        });
    let Some(found) = found else {
        if current.integration_arn.is_some() {
            publish(
                ctx,
                obj,
                false,
                "Deleted",
                format!("integration {name} is gone from AWS"),
            )
            .await;
        }
        release(ctx, obj).await?;
        return Ok(End::ok(Action::await_change()));
    };

    let mut requeue = DELETE_POLL;
    let mut error = None;
    let mut message = format!("AWS is deleting integration {}", found.name);
    if found.status != "deleting" {
        match clients
            .rds
            .delete_integration()
            .integration_identifier(&found.arn)
            .send()
            .await
        {
            Ok(_) => {
                publish(
                    ctx,
                    obj,
                    false,
                    "DeletingIntegration",
                    format!("deleting integration {} ({})", found.name, found.arn),
                )
                .await
            }
            Err(e) => {
                let e = crate::error::aws("rds", "DeleteIntegration", e);
                // A creating or modifying integration cannot be deleted yet: wait for it.
                message = format!("waiting to delete integration {}: {e}", found.name);
                requeue = Duration::from_secs(5);
                if e.category() != Category::Waiting {
                    error = Some(e);
                }
            }
        }
    }
    let progress = Progress::in_progress(common::DELETING, message, requeue);
    let mut next = ZeroEtlIntegrationStatus {
        state: Some("deleting".into()),
        ..current.clone()
    };
    if error.is_some() || found.status != "deleting" {
        next.state = Some(found.status.clone());
    }
    let step = Decided::new(
        INTEGRATION_ACTIVE,
        Status::False,
        reasons::DELETING,
        format!("integration {} is being deleted", found.name),
    );
    let mut all = vec![step];
    all.extend(summary_conditions(&progress));
    next.conditions = merge(&current.conditions, &all, obj.metadata.generation, &now());
    write_status(ctx, obj, &next).await?;
    Ok(End {
        action: Action::requeue(requeue),
        error,
    })
}

async fn release(ctx: &Context, obj: &ZeroEtlIntegration) -> Result<()> {
    let list: Vec<String> = obj
        .finalizers()
        .iter()
        .filter(|f| *f != FINALIZER)
        .cloned()
        .collect();
    match set_finalizers(ctx, obj, list).await {
        // Already gone (another pass released it and the API server removed the object).
        Err(Error::Kube(kube::Error::Api(s))) if s.code == 404 => Ok(()),
        other => other,
    }
}
