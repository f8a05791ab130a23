//! The pure plan step: (spec, observed AWS state, previous status) → the actions to take now, the step
//! conditions, and the overall progress. No I/O: every branch is unit-tested (`tests.rs`).
//!
//! Steps run in order and each gates the next: source parameters (`source.rs`), target authorization and
//! case sensitivity (`target.rs`), the integration (`integration.rs`), the destination database
//! (`database.rs`). Nothing is changed on the target while the source is not ready, so Verify mode on the
//! source makes no mutating call at all. Deletion is planned in `delete.rs`.

pub mod actions;
mod database;
mod delete;
mod integration;
pub mod reasons;
mod source;
mod target;

use std::time::Duration;

use chrono::{DateTime, Utc};
use zeroetl_api::arn::SourceArn;
use zeroetl_api::conditions::{is_true, Decided, Status, SOURCE_READY, TARGET_READY};
use zeroetl_api::integration::{
    ManagementPolicy, ZeroEtlIntegrationSpec, ZeroEtlIntegrationStatus,
};
use zeroetl_api::interned::Interned;
use zeroetl_api::RedshiftConnectionSpec;

pub use actions::{
    Action, CreateDatabase, IntegrationAction, ParameterChange, SourceAction, TargetAction,
};
pub use delete::{deletes_in_aws, plan_delete, DeletePlan, StillNeeded};
pub use source::derived_group_name;

use super::observed::{
    AwsIntegration, Observed, ReplicationState, SourceState, TargetRef, TargetState,
};
use crate::ownership::Owner;
use crate::progress::Progress;
use crate::timing;
use database::{database_spec_problem, plan_database, plan_replication};
pub use database::{replicating_after_create, statement_target};
use integration::{ownership_refusal, plan_integration};

/// Whether this object may not manage (or track) `found`: the step that says why.
pub fn ownership_refusal_of(input: &Input, found: &AwsIntegration) -> Option<Decided> {
    ownership_refusal(input, found).map(|s| s.condition)
}
use source::plan_source;
use target::plan_target;

/// AWS fills this in when no filter is given; the spec's absence means the same.
pub const DEFAULT_DATA_FILTER: &str = "include: *.*";

/// Everything the plan step looks at.
#[derive(Clone, Debug)]
pub struct Input<'a> {
    pub spec: &'a ZeroEtlIntegrationSpec,
    /// The AWS integration name (spec.integrationName or metadata.name).
    pub name: &'a str,
    pub status: &'a ZeroEtlIntegrationStatus,
    pub target_ref: &'a TargetRef,
    /// The RedshiftConnection the target names, if any (its database and database identity).
    pub connection: Option<&'a RedshiftConnectionSpec>,
    pub source: &'a Observed<SourceState>,
    pub target: &'a Observed<TargetState>,
    /// The integration found by stored ARN or by name, if any.
    pub integration: Option<&'a AwsIntegration>,
    /// Redshift's view of the integration's replication (full checks only).
    pub replication: &'a Observed<ReplicationState>,
    /// The object, as the owner tags name it.
    pub owner: &'a Owner,
    /// The user asked to adopt an integration the operator did not create.
    pub adopt: bool,
    pub policy: ManagementPolicy,
    pub now: DateTime<Utc>,
}

impl Input<'_> {
    /// The source ARN: observed now, or named by the spec, or remembered from an earlier pass.
    pub fn source_arn(&self) -> Option<String> {
        match self.source {
            Observed::Seen(s) => Some(s.arn.clone()),
            _ => self
                .spec
                .source
                .arn
                .clone()
                .or_else(|| self.status.source_arn.clone()),
        }
    }

    /// The prerequisite modes in effect: ObserveOnly verifies, whatever the spec says.
    pub fn source_mode(&self) -> zeroetl_api::integration::PrerequisiteMode {
        match self.policy {
            ManagementPolicy::ObserveOnly => zeroetl_api::integration::PrerequisiteMode::Verify,
            _ => self.spec.prerequisites.source,
        }
    }

    pub fn target_mode(&self) -> zeroetl_api::integration::PrerequisiteMode {
        match self.policy {
            ManagementPolicy::ObserveOnly => zeroetl_api::integration::PrerequisiteMode::Verify,
            _ => self.spec.prerequisites.target,
        }
    }

    /// The account CreateIntegration runs in (the source's), which the target's policy must name.
    pub fn caller_account(&self) -> String {
        self.source_arn()
            .as_deref()
            .and_then(SourceArn::parse)
            .map(|a| a.arn.account)
            .unwrap_or_default()
    }
}

/// What the plan step decided.
#[derive(Clone, Debug, PartialEq)]
pub struct Plan {
    pub actions: Vec<Action>,
    /// Step conditions decided this time (undecided ones keep their previous value).
    pub conditions: Vec<Decided>,
    pub progress: Progress,
    /// Status fields as observed (ARNs, AWS state and errors); the reconciler writes them with the conditions.
    pub observed: ObservedStatus,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ObservedStatus {
    pub source_arn: Option<String>,
    pub target_arn: Option<Interned>,
    /// The integration that is ours: found and matching (adopted), with its AWS state.
    pub integration: Option<AwsIntegration>,
    /// Redshift's view of its replication, when read this pass.
    pub replication: Option<ReplicationState>,
}

/// How one step ended.
#[derive(Clone, Debug, PartialEq)]
enum StepState {
    Done,
    Working(Duration),
    Stalled,
}

struct Step {
    condition: Decided,
    state: StepState,
}

impl Step {
    fn done(type_: &str, reason: &str, message: impl Into<String>) -> Step {
        Step {
            condition: Decided::new(type_, Status::True, reason, message),
            state: StepState::Done,
        }
    }
    fn working(type_: &str, reason: &str, message: impl Into<String>, requeue: Duration) -> Step {
        Step {
            condition: Decided::new(type_, Status::False, reason, message),
            state: StepState::Working(requeue),
        }
    }
    fn stalled(type_: &str, reason: &str, message: impl Into<String>) -> Step {
        Step {
            condition: Decided::new(type_, Status::False, reason, message),
            state: StepState::Stalled,
        }
    }
    /// A step that cannot start yet: Unknown, and it does not decide the progress.
    fn blocked(type_: &str, reason: &str, message: impl Into<String>) -> Step {
        Step {
            condition: Decided::new(type_, Status::Unknown, reason, message),
            state: StepState::Done,
        }
    }
    /// A step that does not hold and waits on an earlier one: False, and it does not decide the progress.
    fn waiting_on_earlier(type_: &str, reason: &str, message: impl Into<String>) -> Step {
        Step {
            condition: Decided::new(type_, Status::False, reason, message),
            state: StepState::Done,
        }
    }
}

/// Whether source and target need looking at this time. Once the integration is healthy and every
/// prerequisite held for this generation, a steady state costs one DescribeIntegrations.
pub fn prerequisites_settled(
    spec: &ZeroEtlIntegrationSpec,
    status: &ZeroEtlIntegrationStatus,
    generation: Option<i64>,
    integration: Option<&AwsIntegration>,
) -> bool {
    let healthy = integration.is_some_and(AwsIntegration::is_healthy);
    let database_done = spec
        .destination_database
        .as_ref()
        .is_none_or(|d| status.destination_database.as_deref() == Some(&d.name));
    healthy
        && database_done
        && status.observed_generation == generation
        && is_true(&status.conditions, SOURCE_READY)
        && is_true(&status.conditions, TARGET_READY)
}

pub fn plan(input: &Input) -> Plan {
    let mut actions = Vec::new();
    let mut steps = Vec::new();
    let mut observed = ObservedStatus::default();

    // An integration this object may not manage: nothing else is planned, on the source and target neither.
    if let Some(refusal) = input
        .integration
        .and_then(|found| ownership_refusal(input, found))
    {
        observed.source_arn = input.source_arn();
        return finish(Vec::new(), vec![refusal], observed, input);
    }
    // The source ARN: observed now, or named by the spec, or remembered from an earlier pass.
    let (source_step, source_ready, engine) = plan_source(input, &mut actions);
    let source_arn = input.source_arn();
    observed.source_arn = source_arn.clone();

    // A destination database the source engine cannot take is a spec problem: stop before changing anything.
    if let Some(problem) = engine.and_then(|e| database_spec_problem(input.spec, e)) {
        let steps: Vec<Step> = source_step.into_iter().chain([problem]).collect();
        return finish(Vec::new(), steps, observed, input);
    }
    steps.extend(source_step);

    let target_arn = match input.target_ref {
        TargetRef::Arn(arn) => Some(arn.clone()),
        TargetRef::Waiting { .. } => None,
    };
    observed.target_arn = target_arn
        .as_deref()
        .map(Interned::from)
        .or_else(|| input.status.target_arn.clone());
    let (target_step, target_ready) =
        plan_target(input, source_ready, source_arn.as_deref(), &mut actions);
    steps.extend(target_step);

    let (integration_step, ours) = plan_integration(
        input,
        source_ready && target_ready,
        source_arn.as_deref(),
        target_arn.as_deref(),
        &mut actions,
    );
    steps.push(integration_step);
    steps.push(plan_database(input, ours.as_ref(), engine, &mut actions));
    steps.extend(plan_replication(input, ours.as_ref()));
    if let Observed::Seen(r) = input.replication {
        observed.replication = Some(r.clone());
    }
    observed.integration = ours;
    finish(actions, steps, observed, input)
}

fn finish(actions: Vec<Action>, steps: Vec<Step>, observed: ObservedStatus, input: &Input) -> Plan {
    let stalled = steps.iter().find(|s| s.state == StepState::Stalled);
    let working = steps.iter().filter_map(|s| match s.state {
        StepState::Working(d) => Some((s, d)),
        _ => None,
    });
    let soonest = working.clone().map(|(_, d)| d).min();
    let progress = if let Some(s) = stalled {
        Progress::stalled(
            &s.condition.reason,
            format!("{}: {}", s.condition.type_, s.condition.message),
        )
    } else if let (Some((first, _)), Some(requeue)) = (working.clone().next(), soonest) {
        Progress::in_progress(
            &first.condition.reason,
            format!("{}: {}", first.condition.type_, first.condition.message),
            requeue,
        )
    } else {
        let mut message = format!("integration {} is active", input.name);
        if let Some(db) = &input.spec.destination_database {
            message.push_str(&format!("; data flows into Redshift database {}", db.name));
        }
        Progress::Ready {
            message,
            recheck_after: timing::READY_RECHECK,
        }
    };
    Plan {
        actions,
        conditions: steps.into_iter().map(|s| s.condition).collect(),
        progress,
        observed,
    }
}

#[cfg(test)]
mod tests;
