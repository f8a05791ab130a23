//! RedshiftConsumer reconciler: a data tool's access to a connection's warehouse — IAM role, permissions,
//! database user, grants — provisioned, verified as the tool would get it, published, and taken away again.
//! The pipeline of every kind: validate → finalizer → observe → plan → apply → verify → finish; deletion
//! observes, plans and applies too. IAM and SQL run as the connection's identity.

mod apply;
mod delete;
mod observe;
mod observed;
pub mod password;
pub mod plan;
mod policy;
pub mod reasons;
mod secret;
mod sql;
mod status;
mod verify;

#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};
use rand::distr::{Alphanumeric, SampleString};
use zeroetl_api::conditions::Condition;
use zeroetl_api::conditions::{self, READY};
use zeroetl_api::consumer::UserAuthentication;
use zeroetl_api::validation::summarize;
use zeroetl_api::{
    validate_consumer, RedshiftConnection, RedshiftConsumer, RedshiftConsumerStatus,
};

use crate::integration::observe::connection_target;
use crate::integration::observed::TargetRef;
use crate::k8s::{finalizer, identity, Notice, ObjectStatus};
use crate::ownership::{adoption_requested, Owner};
use crate::pipeline::{self, Managed, Outcome};
use crate::progress::Progress;
use crate::{timing, verification, Context, Error, Result};
use observe::Admin;
use observed::{Observation, WarehouseFacts};
use password::Password;
use plan::{grants, Input, Step, ROTATE_PASSWORD_ANNOTATION};

/// Holds the object until the user and role it manages are gone (Delete) or released (Retain).
pub const FINALIZER: &str = "zeroetl.dev/consumer";
/// Generated external ids: 32 letters and digits, well inside STS's 2–1224 characters of `[\w+=,.@:/-]`.
const EXTERNAL_ID_LENGTH: usize = 32;

type ConsumerOutcome = Outcome<RedshiftConsumerStatus>;

impl Managed for RedshiftConsumer {
    type Status = RedshiftConsumerStatus;
    const KIND: &'static str = "RedshiftConsumer";
    fn status(&self) -> Option<&Self::Status> {
        self.status.as_ref()
    }
}

impl ObjectStatus for RedshiftConsumerStatus {
    fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
    fn set_conditions(&mut self, conditions: Vec<Condition>) {
        self.conditions = conditions;
    }
    fn set_observed_generation(&mut self, generation: Option<i64>) {
        self.observed_generation = generation;
    }
}

pub async fn reconcile(obj: Arc<RedshiftConsumer>, ctx: Arc<Context>) -> Result<Action> {
    let started = Instant::now();
    let deleting = obj.metadata.deletion_timestamp.is_some();
    let outcome = match (pipeline::paused(&*obj), deleting) {
        // Paused: no AWS call and no status write until the annotation goes.
        (true, false) => return Ok(Action::await_change()),
        (_, true) if !finalizer::has(&*obj, FINALIZER) => return Ok(Action::await_change()),
        (true, true) => released(Notice::normal(
            "Retained",
            "deleted while paused (zeroetl.dev/paused): the role and the user were left untouched",
        )),
        (false, true) => delete::delete(&obj, &ctx).await?,
        (false, false) => {
            if let Some(outcome) = still_fresh(&obj, &ctx).await? {
                outcome
            } else {
                // The watch cache can lag behind our own last status write: work from the latest object.
                let Some(latest) = pipeline::api(&ctx, &*obj).get_opt(&obj.name_any()).await?
                else {
                    return Ok(Action::await_change());
                };
                let outcome = converge(&latest, &ctx).await?;
                return pipeline::finish(&latest, &ctx, outcome, started).await;
            }
        }
    };
    pipeline::finish(&*obj, &ctx, outcome, started).await
}

pub fn error_policy(obj: Arc<RedshiftConsumer>, error: &Error, ctx: Arc<Context>) -> Action {
    pipeline::error_policy(&*obj, error, &ctx)
}

/// A Ready consumer verified within the re-verification interval, with its Secrets in place and no password
/// rotation asked for, costs no AWS call and no write (the pass our own status write triggers, say).
async fn still_fresh(obj: &RedshiftConsumer, ctx: &Context) -> Result<Option<ConsumerOutcome>> {
    let interval = ctx.config.connection_reverify_interval;
    let Some(remaining) = fresh_for(obj, ctx, Utc::now(), interval) else {
        return Ok(None);
    };
    let password_user = obj
        .spec
        .database_user
        .as_ref()
        .is_some_and(|u| u.authentication == UserAuthentication::Password);
    if !secret::exists(&ctx.client, obj, &obj.connection_secret_name()).await?
        || (password_user && !secret::exists(&ctx.client, obj, &obj.password_secret_name()).await?)
    {
        return Ok(None);
    }
    let message = obj
        .status
        .as_ref()
        .and_then(|s| conditions::find(&s.conditions, READY))
        .map(|c| c.message.to_string())
        .unwrap_or_default();
    Ok(Some(Outcome::new(Progress::Ready {
        message,
        recheck_after: remaining,
    })))
}

/// How long the last verification stays fresh (see [`still_fresh`]).
fn fresh_for(
    obj: &RedshiftConsumer,
    ctx: &Context,
    now: DateTime<Utc>,
    interval: Duration,
) -> Option<Duration> {
    let status = obj.status.as_ref()?;
    if status.observed_generation != obj.metadata.generation
        || !conditions::is_true(&status.conditions, READY)
        || rotation_requested(obj)
    {
        return None;
    }
    let in_memory = obj
        .metadata
        .uid
        .as_deref()
        .and_then(|uid| ctx.rechecks.last_verified(uid, obj.metadata.generation));
    verification::fresh_for(
        status.last_verified_time.as_deref(),
        in_memory,
        now,
        interval,
    )
}

fn rotation_annotation(obj: &RedshiftConsumer) -> Option<&str> {
    obj.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ROTATE_PASSWORD_ANNOTATION))
        .map(String::as_str)
}

fn rotation_requested(obj: &RedshiftConsumer) -> bool {
    let handled = obj
        .status
        .as_ref()
        .and_then(|s| s.password_rotation.as_deref());
    rotation_annotation(obj).is_some_and(|v| Some(v) != handled)
}

/// The connection, once it is Ready; otherwise the progress of waiting for it.
pub(crate) async fn ready_connection(
    obj: &RedshiftConsumer,
    ctx: &Context,
) -> Result<std::result::Result<RedshiftConnection, Progress>> {
    let namespace = obj.namespace().unwrap_or_default();
    let name = &obj.spec.connection_ref.name;
    let api: Api<RedshiftConnection> = Api::namespaced(ctx.client.clone(), &namespace);
    let waiting = |reason: &str, message: String| {
        Err(Progress::in_progress(
            reason,
            message,
            timing::CONNECTION_RECHECK,
        ))
    };
    let Some(connection) = api.get_opt(name).await? else {
        return Ok(waiting(
            reasons::CONNECTION_NOT_FOUND,
            format!("RedshiftConnection {name} does not exist in namespace {namespace}"),
        ));
    };
    Ok(match connection_target(&connection) {
        TargetRef::Arn(_) => Ok(connection),
        TargetRef::Waiting { reason, message } => waiting(&reason, message),
    })
}

/// What IAM and SQL run as: the connection's identity, in its region.
pub(crate) async fn connection_side(
    ctx: &Context,
    obj: &RedshiftConsumer,
    connection: &RedshiftConnection,
) -> Result<(String, Admin, WarehouseFacts)> {
    let region = connection
        .spec
        .region
        .clone()
        .unwrap_or_else(|| ctx.config.default_region.clone());
    let namespace = obj.namespace().unwrap_or_default();
    // The session is named after the consumer: CloudTrail shows which object created or changed the role.
    let identity = identity::resolve(
        &ctx.client,
        &namespace,
        &obj.name_any(),
        Some(&connection.spec.auth),
    )
    .await?;
    let clients = ctx.aws.clients(&region, &identity).await?;
    let facts = observe::facts(&clients, &connection.spec).await?;
    let admin = Admin::new(clients, facts.warehouse.clone(), &connection.spec);
    Ok((region, admin, facts))
}

async fn converge(obj: &RedshiftConsumer, ctx: &Context) -> Result<ConsumerOutcome> {
    let errors = validate_consumer(obj);
    if !errors.is_empty() {
        return Ok(Outcome::refused(
            conditions::reasons::INVALID_SPEC,
            summarize(&errors),
        ));
    }
    let connection = match ready_connection(obj, ctx).await? {
        Ok(c) => c,
        Err(waiting) => return Ok(Outcome::new(waiting)),
    };
    let serverless = connection.spec.serverless.is_some();
    let problems = plan::spec_problems(obj, serverless);
    if !problems.is_empty() {
        return Ok(Outcome::refused(
            conditions::reasons::INVALID_SPEC,
            summarize(&problems),
        ));
    }
    pipeline::ensure_finalizer(ctx, obj, FINALIZER).await?;
    provision(obj, ctx, &connection).await
}

/// Observe, plan, apply and verify against a Ready connection (the simulator tests start here).
async fn provision(
    obj: &RedshiftConsumer,
    ctx: &Context,
    connection: &RedshiftConnection,
) -> Result<ConsumerOutcome> {
    let serverless = connection.spec.serverless.is_some();
    let (region, admin, facts) = match connection_side(ctx, obj, connection).await {
        Ok(side) => side,
        Err(e) => return Ok(Outcome::failed(e)),
    };
    let user_name = plan::user_name(obj, serverless);
    let wanted = obj
        .spec
        .database_user
        .as_ref()
        .map(|u| grants::wanted(&u.grants, &facts.database))
        .unwrap_or_default();
    let (roles, users, password) = futures::join!(
        observe::roles(ctx, obj, &admin, &region),
        observe::users(obj, &admin, &facts, user_name.as_deref(), &wanted),
        secret::read_password(&ctx.client, obj),
    );
    let seen = Observation {
        facts,
        roles,
        users,
        password: password?,
    };
    let owner = Owner::of(obj, &ctx.config.cluster_name);
    let external_id = external_id(obj, &owner, &seen);
    let fresh = Password::generate();
    let input = Input {
        obj,
        owner: &owner,
        adopt: adoption_requested(obj),
        seen: &seen,
        connection: &connection.spec,
        external_id: &external_id,
        user_name: user_name.clone(),
        rotation: rotation_annotation(obj),
        fresh_password: &fresh,
    };
    let planned = plan::plan(&input);
    ctx.leadership.ensure()?;
    let applied = apply::run(ctx, obj, &admin, &planned.actions).await;

    let mut steps = planned.steps;
    let mut happened = status::Outcomes::default();
    for (action, e) in &applied.failures {
        steps.set(action.condition_type(), Step::from_error(e));
        happened.failed.insert(action.condition_type());
        if matches!(action, plan::Action::Sql { event, .. } if *event == reasons::CREATED_USER_EVENT)
            && e.reason() == reasons::STATEMENT_RUNNING
        {
            happened.user_submitted = true;
        }
    }
    let now = Utc::now();
    let others_passed = [&steps.role, &steps.user, &steps.grants, &steps.secret]
        .iter()
        .all(|s| s.is_passed());
    steps.verified = match (
        verify::not_verifiable(obj),
        planned.claims.role_arn.as_deref(),
    ) {
        _ if !others_passed => Step::NotChecked,
        (Some(step), _) => step,
        _ if applied.changed_aws => verify::after_changes(),
        (None, Some(role_arn)) => {
            let subject = verify::Subject {
                obj,
                facts: &seen.facts,
                connection: &connection.spec,
                region: &region,
                role_arn,
                external_id: &external_id,
                user: user_name.as_deref(),
            };
            verify::verify(ctx, &subject, now).await
        }
        (None, None) => Step::NotChecked,
    };
    let summary = format!(
        "access to {} provisioned and verified",
        seen.facts.warehouse.describe()
    );
    let decision = plan::decide(&steps, &summary, ctx.config.connection_reverify_interval);
    if decision.progress.is_ready() {
        if let Some(uid) = obj.metadata.uid.as_deref() {
            ctx.rechecks.verified(uid, obj.metadata.generation, now);
        }
    }
    let fields = status::next(
        obj,
        &planned.claims,
        &happened,
        Some(external_id),
        decision.progress.is_ready(),
        now,
    );
    Ok(Outcome {
        fields: Some(fields),
        steps: decision.conditions,
        progress: decision.progress,
        changes: applied.changes,
        backoff: decision.backoff,
        release: None,
    })
}

/// The external id: the spec's, else the one already published (status), else the one the role's trust
/// policy holds (a role of ours whose status was lost), else a new random one — never generated twice.
fn external_id(obj: &RedshiftConsumer, owner: &Owner, seen: &Observation) -> String {
    let role = obj.spec.role.as_ref();
    role.and_then(|r| r.external_id.clone())
        .or_else(|| obj.status.as_ref().and_then(|s| s.external_id.clone()))
        .or_else(|| {
            let found = seen.roles.as_ref().ok()?.wanted.as_ref()?;
            matches!(
                owner.ownership(&found.tags),
                crate::ownership::Ownership::Ours
                    | crate::ownership::Ownership::OursUnderAnotherUid
            )
            .then_some(())?;
            policy::external_id_in(found.trust.as_ref()?)
        })
        .unwrap_or_else(|| Alphanumeric.sample_string(&mut rand::rng(), EXTERNAL_ID_LENGTH))
}

pub(crate) fn released(notice: Notice) -> ConsumerOutcome {
    Outcome {
        changes: vec![notice],
        release: Some(FINALIZER),
        ..Outcome::new(Progress::in_progress(
            conditions::reasons::DELETING,
            "released",
            timing::DELETE_POLL,
        ))
    }
}
