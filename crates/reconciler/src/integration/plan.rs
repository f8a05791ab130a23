//! The pure plan step: (spec, observed AWS state, previous status) → the actions to take now, the step
//! conditions, and the overall progress. No I/O: every branch is unit-tested below.
//!
//! Steps run in order and each gates the next: source parameters, target authorization and case
//! sensitivity, the integration, the destination database. Nothing is changed on the target while the
//! source is not ready, so Verify mode on the source makes no mutating call at all.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use zeroetl_api::arn::{integration_id, SourceArn, SourceKind};
use zeroetl_api::conditions::{
    find, is_true, Decided, Status, DESTINATION_DATABASE_READY, INTEGRATION_ACTIVE, SOURCE_READY,
    TARGET_READY,
};
use zeroetl_api::integration::{
    IntegrationSource, PrerequisiteMode, ZeroEtlIntegrationSpec, ZeroEtlIntegrationStatus,
};

use super::observed::{
    AwsIntegration, Observed, ParameterGroup, SourceState, TargetRef, TargetState,
};
use super::source_params::{explain_all, wrong_parameters, Engine, WrongParameter};
use super::target_policy;
use crate::outcome::Progress;

/// AWS fills this in when no filter is given; the spec's absence means the same.
pub const DEFAULT_DATA_FILTER: &str = "include: *.*";

/// How often a Ready integration is looked at again.
pub const READY_RECHECK: Duration = Duration::from_secs(300);
/// How often a missing or not-Ready RedshiftConnection is looked at again (its watch usually comes first).
pub const CONNECTION_RECHECK: Duration = Duration::from_secs(30);
/// After a change the operator made itself, look again soon.
pub const AFTER_ACTION: Duration = Duration::from_secs(2);

/// Step-condition reasons this reconciler writes.
pub mod reasons {
    pub const PARAMETERS_IN_SYNC: &str = "ParametersInSync";
    pub const PARAMETER_VALUES_WRONG: &str = "ParameterValuesWrong";
    pub const FIXING_PARAMETERS: &str = "FixingParameters";
    pub const REBOOT_REQUIRED: &str = "RebootRequired";
    pub const REBOOTING: &str = "Rebooting";
    pub const PARAMETERS_APPLYING: &str = "ParametersApplying";
    pub const PARAMETER_GROUP_SHARED: &str = "ParameterGroupShared";
    pub const SOURCE_NOT_FOUND: &str = "SourceNotFound";
    pub const SOURCE_NOT_AVAILABLE: &str = "SourceNotAvailable";
    pub const UNSUPPORTED_ENGINE: &str = "UnsupportedEngine";
    pub const BACKUPS_DISABLED: &str = "AutomatedBackupsDisabled";
    pub const WAITING_FOR_SOURCE: &str = "WaitingForSource";
    pub const TARGET_NOT_FOUND: &str = "TargetNotFound";
    pub const TARGET_NOT_AVAILABLE: &str = "TargetNotAvailable";
    pub const TARGET_UNSUPPORTED: &str = "TargetUnsupported";
    pub const AUTHORIZED: &str = "Authorized";
    pub const AUTHORIZATION_MISSING: &str = "AuthorizationMissing";
    pub const CASE_SENSITIVITY_OFF: &str = "CaseSensitivityOff";
    pub const FIXING_TARGET: &str = "FixingTarget";
    pub const INVALID_RESOURCE_POLICY: &str = "InvalidResourcePolicy";
    pub const WAITING_FOR_PREREQUISITES: &str = "WaitingForPrerequisites";
    pub const CREATING: &str = "Creating";
    pub const ACTIVE: &str = "Active";
    pub const MODIFYING: &str = "Modifying";
    pub const SYNCING: &str = "Syncing";
    pub const DELETING: &str = "Deleting";
    pub const FAILED: &str = "Failed";
    pub const NEEDS_ATTENTION: &str = "NeedsAttention";
    pub const NAME_CONFLICT: &str = "NameConflict";
    pub const NOT_REQUESTED: &str = "NotRequested";
    pub const WAITING_FOR_INTEGRATION: &str = "WaitingForIntegration";
    pub const CREATED: &str = "Created";
    pub const SOURCE_DATABASE_REQUIRED: &str = "SourceDatabaseRequired";
    pub const SOURCE_DATABASE_NOT_APPLICABLE: &str = "SourceDatabaseNotApplicable";
}

/// Everything the plan step looks at.
#[derive(Clone, Debug)]
pub struct Input<'a> {
    pub spec: &'a ZeroEtlIntegrationSpec,
    /// The AWS integration name (spec.integrationName or metadata.name).
    pub name: &'a str,
    pub status: &'a ZeroEtlIntegrationStatus,
    pub target_ref: &'a TargetRef,
    pub source: &'a Observed<SourceState>,
    pub target: &'a Observed<TargetState>,
    /// The integration found by stored ARN or by name, if any.
    pub integration: Option<&'a AwsIntegration>,
    /// The AWS account the operator acts as on the source side (the account CreateIntegration runs in).
    pub caller_account: &'a str,
    pub now: DateTime<Utc>,
}

/// A change on the source database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceAction {
    /// Create the derived parameter group (same family as the current one).
    CreateGroup {
        name: String,
        family: String,
        description: String,
    },
    /// Set values in a group the operator owns.
    SetParameters {
        group: String,
        parameters: Vec<ParameterChange>,
    },
    /// Attach the group to the source (the cluster for Aurora, the instance for RDS).
    AttachGroup { group: String },
    /// Reboot this instance so that static parameters take effect.
    Reboot { instance: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParameterChange {
    pub name: String,
    pub value: String,
    /// Dynamic parameters apply at once; static ones wait for the reboot.
    pub immediate: bool,
}

/// A change on the target warehouse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetAction {
    PutResourcePolicy {
        namespace_arn: String,
        policy: String,
    },
    EnableCaseSensitivity,
}

/// A change to the AWS integration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IntegrationAction {
    Create {
        name: String,
        source_arn: String,
        target_arn: String,
        kms_key_id: Option<String>,
        additional_encryption_context: Option<BTreeMap<String, String>>,
        data_filter: Option<String>,
        description: Option<String>,
        tags: BTreeMap<String, String>,
    },
    /// ModifyIntegration with only the fields that differ.
    Modify {
        arn: String,
        name: Option<String>,
        data_filter: Option<String>,
        description: Option<String>,
    },
    Tag {
        arn: String,
        add: BTreeMap<String, String>,
        remove: Vec<String>,
    },
}

/// `CREATE DATABASE … FROM INTEGRATION` through the Data API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateDatabase {
    pub name: String,
    pub integration_id: String,
    pub source_database: Option<String>,
}

impl CreateDatabase {
    /// The statement. Names are validated identifiers; quoting keeps their case with case sensitivity on.
    pub fn sql(&self) -> String {
        let mut sql = format!(
            "CREATE DATABASE \"{}\" FROM INTEGRATION '{}'",
            self.name, self.integration_id
        );
        if let Some(source) = &self.source_database {
            sql.push_str(&format!(" DATABASE \"{source}\""));
        }
        sql
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    Source(SourceAction),
    Target(TargetAction),
    Integration(IntegrationAction),
    Database(CreateDatabase),
}

impl Action {
    /// The step condition an error of this action is reported on.
    pub fn condition_type(&self) -> &'static str {
        match self {
            Action::Source(_) => SOURCE_READY,
            Action::Target(_) => TARGET_READY,
            Action::Integration(_) => INTEGRATION_ACTIVE,
            Action::Database(_) => DESTINATION_DATABASE_READY,
        }
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
    pub target_arn: Option<String>,
    /// The integration that is ours: found and matching (adopted), with its AWS state.
    pub integration: Option<AwsIntegration>,
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
}

/// A change to a field AWS fixes at creation. `None` when the spec still matches what the integration was
/// created with (or nothing was created yet).
pub fn immutable_change(
    spec: &ZeroEtlIntegrationSpec,
    status: &ZeroEtlIntegrationStatus,
) -> Option<String> {
    let created = status.created_with.as_ref()?;
    let now = spec.immutable_part();
    let mut changed = Vec::new();
    if now.source != created.source {
        changed.push("spec.source");
    }
    if now.target != created.target {
        changed.push("spec.target");
    }
    if now.kms_key_id != created.kms_key_id {
        changed.push("spec.kmsKeyId");
    }
    if now.additional_encryption_context != created.additional_encryption_context {
        changed.push("spec.additionalEncryptionContext");
    }
    (!changed.is_empty()).then(|| {
        format!(
            "{} cannot change after the integration is created (AWS fixes them at creation); restore the previous value, or create a new ZeroEtlIntegration",
            changed.join(", ")
        )
    })
}

/// Whether source and target need looking at this time. Once the integration is healthy and every
/// prerequisite held for this generation, a steady state costs one DescribeIntegrations.
pub fn prerequisites_settled(
    spec: &ZeroEtlIntegrationSpec,
    status: &ZeroEtlIntegrationStatus,
    generation: Option<i64>,
    integration: Option<&AwsIntegration>,
) -> bool {
    let healthy = integration
        .is_some_and(|i| !matches!(i.status.as_str(), "failed" | "needs_attention" | "deleting"));
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

/// Whether a found integration's source is the one the spec names (used before deleting one found by name).
pub fn source_matches(source: &IntegrationSource, source_arn: &str) -> bool {
    if let Some(arn) = &source.arn {
        return arn == source_arn;
    }
    let Some(parsed) = SourceArn::parse(source_arn) else {
        return false;
    };
    match (
        &source.db_cluster_identifier,
        &source.db_instance_identifier,
    ) {
        (Some(id), _) => parsed.kind == SourceKind::Cluster && &parsed.identifier == id,
        // An instance identifier may name an Aurora member, whose cluster is the real source: the name was
        // checked when the integration was adopted, so accept both kinds.
        (_, Some(id)) => &parsed.identifier == id || parsed.kind == SourceKind::Cluster,
        _ => false,
    }
}

/// The name of the parameter group the operator derives for a source.
pub fn derived_group_name(source_identifier: &str) -> String {
    format!("{source_identifier}-zeroetl")
}

/// The poll interval while AWS works: quick at first, slower as it takes longer (an initial load of a big
/// database can take an hour).
pub fn adaptive_requeue(elapsed: Duration) -> Duration {
    (elapsed / 10).clamp(Duration::from_secs(2), Duration::from_secs(60))
}

pub fn plan(input: &Input) -> Plan {
    let mut actions = Vec::new();
    let mut steps = Vec::new();
    let mut observed = ObservedStatus::default();

    // The source ARN: observed now, or named by the spec, or remembered from an earlier pass.
    let (source_step, source_ready, engine) = plan_source(input, &mut actions);
    let source_arn = match input.source {
        Observed::Seen(s) => Some(s.arn.clone()),
        _ => input
            .spec
            .source
            .arn
            .clone()
            .or_else(|| input.status.source_arn.clone()),
    };
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
        .clone()
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
            recheck_after: READY_RECHECK,
        }
    };
    Plan {
        actions,
        conditions: steps.into_iter().map(|s| s.condition).collect(),
        progress,
        observed,
    }
}

// ---------------------------------------------------------------------------------------------------------
// Source

/// Returns the SourceReady step (None when the source was not looked at), whether the source is ready, and
/// the engine when known.
fn plan_source(input: &Input, actions: &mut Vec<Action>) -> (Option<Step>, bool, Option<Engine>) {
    let s = match input.source {
        Observed::Skipped => return (None, is_true(&input.status.conditions, SOURCE_READY), None),
        Observed::NotFound(why) => {
            return (
                Some(Step::stalled(
                    SOURCE_READY,
                    reasons::SOURCE_NOT_FOUND,
                    why.clone(),
                )),
                false,
                None,
            );
        }
        Observed::Seen(s) => s,
    };
    let Some(engine) = Engine::from_rds(&s.engine) else {
        let message = format!(
            "{} runs {}; zero-ETL supports Aurora MySQL, Aurora PostgreSQL, RDS for MySQL and RDS for PostgreSQL",
            s.identifier, s.engine
        );
        return (
            Some(Step::stalled(
                SOURCE_READY,
                reasons::UNSUPPORTED_ENGINE,
                message,
            )),
            false,
            None,
        );
    };
    let step = source_step(input, s, engine, actions);
    let ready = step.state == StepState::Done;
    (Some(step), ready, Some(engine))
}

fn source_step(input: &Input, s: &SourceState, engine: Engine, actions: &mut Vec<Action>) -> Step {
    let prereq = &input.spec.prerequisites;
    let what = source_name(s);
    if engine == Engine::RdsMysql && s.backup_retention_period == 0 {
        return Step::stalled(
            SOURCE_READY,
            reasons::BACKUPS_DISABLED,
            format!("{what} has automated backups off (backup retention 0); zero-ETL needs them on: set a backup retention period of at least 1 day"),
        );
    }
    let wrong = wrong_parameters(engine, &s.group.values);
    let note = s
        .resolved_from_instance
        .as_ref()
        .map(|i| format!(" (instance {i} is a member; the cluster is the source)"))
        .unwrap_or_default();
    if wrong.is_empty() {
        return match s.apply_status.as_str() {
            "in-sync" => Step::done(
                SOURCE_READY,
                reasons::PARAMETERS_IN_SYNC,
                format!("{what}{note} ({}) has the parameter values zero-ETL needs, in effect (parameter group {})", engine.display_name(), s.group.name),
            ),
            _ if s.status == "rebooting" => Step::working(
                SOURCE_READY,
                reasons::REBOOTING,
                format!("{} is rebooting to apply parameter group {}", s.reboot_target, s.group.name),
                AFTER_ACTION,
            ),
            "pending-reboot" => reboot_or_report(input, s, &what, actions),
            other => Step::working(
                SOURCE_READY,
                reasons::PARAMETERS_APPLYING,
                format!("parameter group {} is being applied to {what} (status {other})", s.group.name),
                AFTER_ACTION,
            ),
        };
    }
    let list = explain_all(&wrong);
    if prereq.source == PrerequisiteMode::Verify {
        return Step::stalled(
            SOURCE_READY,
            reasons::PARAMETER_VALUES_WRONG,
            format!(
                "{what} ({}) parameter group {}: {list}. Change them, or set spec.prerequisites.source: Fix to let the operator derive a parameter group with these values",
                engine.display_name(),
                s.group.name
            ),
        );
    }
    if s.status != "available" {
        return Step::working(
            SOURCE_READY,
            reasons::SOURCE_NOT_AVAILABLE,
            format!(
                "{what} is {}; its parameters will be fixed once it is available ({list})",
                s.status
            ),
            Duration::from_secs(10),
        );
    }
    fix_source(s, &wrong, &list, &what, actions)
}

fn source_name(s: &SourceState) -> String {
    match s.kind {
        SourceKind::Cluster => format!("cluster {}", s.identifier),
        SourceKind::Instance => format!("instance {}", s.identifier),
    }
}

fn reboot_or_report(input: &Input, s: &SourceState, what: &str, actions: &mut Vec<Action>) -> Step {
    let prereq = &input.spec.prerequisites;
    if prereq.source == PrerequisiteMode::Fix
        && prereq.allow_source_reboot
        && s.status == "available"
    {
        actions.push(Action::Source(SourceAction::Reboot {
            instance: s.reboot_target.clone(),
        }));
        return Step::working(
            SOURCE_READY,
            reasons::REBOOTING,
            format!(
                "rebooting {} so that parameter group {} takes effect on {what}",
                s.reboot_target, s.group.name
            ),
            AFTER_ACTION,
        );
    }
    if s.status != "available" {
        return Step::working(
            SOURCE_READY,
            reasons::SOURCE_NOT_AVAILABLE,
            format!(
                "{what} is {}; parameter group {} waits for a reboot",
                s.status, s.group.name
            ),
            Duration::from_secs(10),
        );
    }
    Step::stalled(
        SOURCE_READY,
        reasons::REBOOT_REQUIRED,
        format!(
            "parameter group {} has the values zero-ETL needs but they take effect only after a reboot of {}: reboot it, or set spec.prerequisites.allowSourceReboot: true",
            s.group.name, s.reboot_target
        ),
    )
}

/// Fix mode, parameters wrong, source available: derive (or reuse) the operator's group, set the values,
/// attach it. The reboot follows on a later pass, once AWS reports the group pending a reboot.
fn fix_source(
    s: &SourceState,
    wrong: &[WrongParameter],
    list: &str,
    what: &str,
    actions: &mut Vec<Action>,
) -> Step {
    let own_name = derived_group_name(&s.identifier);
    // Static-ness is a property of the parameter; a new group has no flags yet, so the source group's count.
    let change = |template: &ParameterGroup, name: &str, value: &str| ParameterChange {
        name: name.to_string(),
        value: value.to_string(),
        immediate: !(template.static_parameters.contains(name)
            || s.group.static_parameters.contains(name)),
    };
    let shared = |g: &ParameterGroup| {
        g.shared_with
            .as_ref()
            .filter(|others| !others.is_empty())
            .cloned()
    };

    if s.group.name == own_name {
        // Our group, already attached: set the values in place unless someone attached it elsewhere too.
        if let Some(others) = shared(&s.group) {
            return shared_stall(&s.group.name, &others, list);
        }
        let parameters = wrong
            .iter()
            .map(|w| change(&s.group, &w.name, &w.fix_value))
            .collect();
        actions.push(Action::Source(SourceAction::SetParameters {
            group: own_name,
            parameters,
        }));
        return Step::working(
            SOURCE_READY,
            reasons::FIXING_PARAMETERS,
            format!(
                "setting {list} in parameter group {} of {what}",
                s.group.name
            ),
            AFTER_ACTION,
        );
    }

    // Derive: the current group's own settings, then zero-ETL's values on top. The current group is left as
    // it is (it may serve other databases, and AWS's default groups cannot be changed).
    let mut wanted: BTreeMap<String, String> = s
        .group
        .user_set
        .iter()
        .filter_map(|k| Some((k.clone(), s.group.values.get(k)?.clone())))
        .collect();
    for w in wrong {
        wanted.insert(w.name.clone(), w.fix_value.clone());
    }
    let template = match &s.derived_group {
        Some(existing) => {
            if let Some(others) = shared(existing) {
                return shared_stall(&existing.name, &others, list);
            }
            existing.clone()
        }
        None => {
            actions.push(Action::Source(SourceAction::CreateGroup {
                name: own_name.clone(),
                family: s.group.family.clone(),
                description: format!(
                    "zero-ETL parameters for {}, derived from {} by zeroetl-operator",
                    s.identifier, s.group.name
                ),
            }));
            // A new group starts from the family defaults, which are not known here: set every wanted value.
            ParameterGroup::default()
        }
    };
    let parameters: Vec<ParameterChange> = wanted
        .iter()
        .filter(|(k, v)| template.values.get(*k) != Some(*v))
        .map(|(k, v)| change(&template, k, v))
        .collect();
    if !parameters.is_empty() {
        actions.push(Action::Source(SourceAction::SetParameters {
            group: own_name.clone(),
            parameters,
        }));
    }
    actions.push(Action::Source(SourceAction::AttachGroup {
        group: own_name.clone(),
    }));
    let sharing = match shared(&s.group) {
        Some(others) => format!(" (left unchanged: it also serves {})", others.join(", ")),
        None if s.group.is_default() => {
            " (left unchanged: AWS default groups cannot be modified)".to_string()
        }
        None => " (left unchanged)".to_string(),
    };
    Step::working(
        SOURCE_READY,
        reasons::FIXING_PARAMETERS,
        format!(
            "attaching parameter group {own_name}, derived from {}{sharing}, to {what}: {list}",
            s.group.name
        ),
        AFTER_ACTION,
    )
}

fn shared_stall(group: &str, others: &[String], list: &str) -> Step {
    Step::stalled(
        SOURCE_READY,
        reasons::PARAMETER_GROUP_SHARED,
        format!(
            "parameter group {group} is also attached to {}; the operator does not change a group other databases use. Needed: {list}. Detach it from the others or fix it yourself",
            others.join(", ")
        ),
    )
}

fn database_spec_problem(spec: &ZeroEtlIntegrationSpec, engine: Engine) -> Option<Step> {
    let db = spec.destination_database.as_ref()?;
    match (engine.is_postgres(), &db.source_database) {
        (true, None) => Some(Step::stalled(
            DESTINATION_DATABASE_READY,
            reasons::SOURCE_DATABASE_REQUIRED,
            format!("the source is {}: set spec.destinationDatabase.sourceDatabase to the PostgreSQL database to replicate", engine.display_name()),
        )),
        (false, Some(_)) => Some(Step::stalled(
            DESTINATION_DATABASE_READY,
            reasons::SOURCE_DATABASE_NOT_APPLICABLE,
            format!(
                "the source is {}, which replicates every database; remove spec.destinationDatabase.sourceDatabase (it applies only to PostgreSQL sources)",
                engine.display_name()
            ),
        )),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------------------
// Target

fn plan_target(
    input: &Input,
    source_ready: bool,
    source_arn: Option<&str>,
    actions: &mut Vec<Action>,
) -> (Option<Step>, bool) {
    if let TargetRef::Waiting { reason, message } = input.target_ref {
        return (
            Some(Step::working(
                TARGET_READY,
                reason,
                message.clone(),
                CONNECTION_RECHECK,
            )),
            false,
        );
    }
    let t = match input.target {
        Observed::Skipped if matches!(input.source, Observed::Skipped) => {
            return (None, is_true(&input.status.conditions, TARGET_READY));
        }
        Observed::Skipped => {
            return (
                Some(Step::blocked(
                    TARGET_READY,
                    reasons::WAITING_FOR_SOURCE,
                    "checked once the source is ready",
                )),
                false,
            );
        }
        Observed::NotFound(why) => {
            return (
                Some(Step::stalled(
                    TARGET_READY,
                    reasons::TARGET_NOT_FOUND,
                    why.clone(),
                )),
                false,
            )
        }
        Observed::Seen(t) => t,
    };
    let (Some(source_arn), true) = (source_arn, source_ready) else {
        return (
            Some(Step::blocked(
                TARGET_READY,
                reasons::WAITING_FOR_SOURCE,
                "checked once the source is ready",
            )),
            false,
        );
    };
    let step = target_step(input, t, source_arn, actions);
    let ready = step.state == StepState::Done;
    (Some(step), ready)
}

fn target_step(
    input: &Input,
    t: &TargetState,
    source_arn: &str,
    actions: &mut Vec<Action>,
) -> Step {
    let w = &t.warehouse;
    let what = w.describe();
    if !w.encrypted {
        return Step::stalled(
            TARGET_READY,
            reasons::TARGET_UNSUPPORTED,
            format!("{what} is not encrypted; a zero-ETL target must be"),
        );
    }
    let gaps = target_policy::gaps(t.policy.as_deref(), source_arn, input.caller_account);
    let mut problems = Vec::new();
    if !gaps.complete() {
        problems.push(gaps.describe(source_arn, input.caller_account));
    }
    if !w.case_sensitive {
        problems.push(if w.case_sensitivity_pending_reboot {
            format!("enable_case_sensitive_identifier is set on {what} but waits for a reboot")
        } else {
            format!("enable_case_sensitive_identifier is off on {what}")
        });
    }
    if problems.is_empty() {
        if !w.is_available() {
            return Step::working(
                TARGET_READY,
                reasons::TARGET_NOT_AVAILABLE,
                format!("{what} is {}", w.status),
                Duration::from_secs(5),
            );
        }
        return Step::done(
            TARGET_READY,
            reasons::AUTHORIZED,
            format!("the namespace policy of {what} authorizes {source_arn}; case-sensitive identifiers are on"),
        );
    }
    let first_reason = if gaps.complete() {
        reasons::CASE_SENSITIVITY_OFF
    } else {
        reasons::AUTHORIZATION_MISSING
    };
    if input.spec.prerequisites.target == PrerequisiteMode::Verify {
        return Step::stalled(
            TARGET_READY,
            first_reason,
            format!(
                "{}. Fix them, or set spec.prerequisites.target: Fix",
                problems.join("; ")
            ),
        );
    }
    if w.case_sensitivity_pending_reboot && gaps.complete() {
        return Step::stalled(
            TARGET_READY,
            reasons::REBOOT_REQUIRED,
            format!("enable_case_sensitive_identifier is set on {what} but takes effect only after a reboot: reboot the cluster"),
        );
    }
    if !w.is_available() {
        return Step::working(
            TARGET_READY,
            reasons::TARGET_NOT_AVAILABLE,
            format!(
                "{what} is {}; waiting to fix: {}",
                w.status,
                problems.join("; ")
            ),
            Duration::from_secs(5),
        );
    }
    if !gaps.complete() {
        match target_policy::merged(
            t.policy.as_deref(),
            &w.namespace_arn,
            source_arn,
            input.caller_account,
        ) {
            Ok(Some(policy)) => actions.push(Action::Target(TargetAction::PutResourcePolicy {
                namespace_arn: w.namespace_arn.clone(),
                policy,
            })),
            Ok(None) => {}
            Err(why) => {
                return Step::stalled(
                    TARGET_READY,
                    reasons::INVALID_RESOURCE_POLICY,
                    format!("{what}: {why}; fix or delete the policy"),
                );
            }
        }
    }
    if !w.case_sensitive && !w.case_sensitivity_pending_reboot {
        actions.push(Action::Target(TargetAction::EnableCaseSensitivity));
    }
    Step::working(
        TARGET_READY,
        reasons::FIXING_TARGET,
        format!("fixing {}", problems.join("; ")),
        AFTER_ACTION,
    )
}

// ---------------------------------------------------------------------------------------------------------
// Integration

fn plan_integration(
    input: &Input,
    prerequisites_ready: bool,
    source_arn: Option<&str>,
    target_arn: Option<&str>,
    actions: &mut Vec<Action>,
) -> (Step, Option<AwsIntegration>) {
    let Some(found) = input.integration else {
        if !prerequisites_ready {
            return (
                Step::blocked(
                    INTEGRATION_ACTIVE,
                    reasons::WAITING_FOR_PREREQUISITES,
                    "created once the source and the target are ready",
                ),
                None,
            );
        }
        let (Some(source_arn), Some(target_arn)) = (source_arn, target_arn) else {
            return (
                Step::blocked(
                    INTEGRATION_ACTIVE,
                    reasons::WAITING_FOR_PREREQUISITES,
                    "created once the source and target ARNs are known",
                ),
                None,
            );
        };
        let spec = input.spec;
        actions.push(Action::Integration(IntegrationAction::Create {
            name: input.name.to_string(),
            source_arn: source_arn.to_string(),
            target_arn: target_arn.to_string(),
            kms_key_id: spec.kms_key_id.clone(),
            additional_encryption_context: spec.additional_encryption_context.clone(),
            data_filter: spec.data_filter.clone(),
            description: spec.description.clone(),
            tags: spec.tags.clone().unwrap_or_default(),
        }));
        return (
            Step::working(
                INTEGRATION_ACTIVE,
                reasons::CREATING,
                format!("creating integration {}", input.name),
                AFTER_ACTION,
            ),
            None,
        );
    };

    // Found by stored ARN or by name: ours only if it joins the same source and target.
    let adoptable = source_arn.is_none_or(|s| s == found.source_arn)
        && target_arn.is_none_or(|t| t == found.target_arn);
    if !adoptable {
        return (
            Step::stalled(
                INTEGRATION_ACTIVE,
                reasons::NAME_CONFLICT,
                format!(
                    "an integration named {} already exists from {} to {}, not from {} to {}; choose another spec.integrationName",
                    found.name,
                    found.source_arn,
                    found.target_arn,
                    source_arn.unwrap_or("?"),
                    target_arn.unwrap_or("?")
                ),
            ),
            None,
        );
    }
    (
        integration_state_step(input, found, actions),
        Some(found.clone()),
    )
}

fn integration_state_step(
    input: &Input,
    found: &AwsIntegration,
    actions: &mut Vec<Action>,
) -> Step {
    let name = &found.name;
    let first_error = found.errors.first();
    let error_text = || {
        found
            .errors
            .iter()
            .map(|e| format!("{}: {}", e.code, e.message))
            .collect::<Vec<_>>()
            .join("; ")
    };
    if found.status != "deleting" {
        if let Some(tag) = tag_change(input, found) {
            actions.push(Action::Integration(tag));
        }
    }
    match found.status.as_str() {
        "active" => {
            if let Some(modify) = modification(input, found) {
                actions.push(Action::Integration(modify));
                return Step::working(INTEGRATION_ACTIVE, reasons::MODIFYING, format!("updating integration {name} in place"), AFTER_ACTION);
            }
            Step::done(INTEGRATION_ACTIVE, reasons::ACTIVE, format!("integration {name} is active"))
        }
        "creating" => {
            let elapsed = found.create_time.map(|t| (input.now - t).to_std().unwrap_or_default()).unwrap_or_default();
            Step::working(INTEGRATION_ACTIVE, reasons::CREATING, format!("AWS is creating integration {name}"), adaptive_requeue(elapsed))
        }
        "modifying" | "syncing" => {
            let reason = if found.status == "modifying" { reasons::MODIFYING } else { reasons::SYNCING };
            let elapsed = find(&input.status.conditions, INTEGRATION_ACTIVE)
                .filter(|c| c.reason == reason)
                .map(|c| Duration::from_secs((input.now.timestamp() - c.last_transition_time.0.as_second()).max(0) as u64))
                .unwrap_or_default();
            Step::working(INTEGRATION_ACTIVE, reason, format!("integration {name} is {}", found.status), adaptive_requeue(elapsed))
        }
        "deleting" => Step::working(
            INTEGRATION_ACTIVE,
            reasons::DELETING,
            format!("integration {name} is being deleted outside the operator; it is created again once gone"),
            Duration::from_secs(10),
        ),
        status => {
            let fallback = if status == "failed" { reasons::FAILED } else { reasons::NEEDS_ATTENTION };
            let reason = first_error.map(|e| e.code.as_str()).filter(|c| is_reason(c)).unwrap_or(fallback);
            let detail = if found.errors.is_empty() { String::new() } else { format!(": {}", error_text()) };
            Step::stalled(INTEGRATION_ACTIVE, reason, format!("integration {name} is {status}{detail}"))
        }
    }
}

/// Condition reasons must be CamelCase identifiers; AWS error codes are, but check rather than trust.
fn is_reason(code: &str) -> bool {
    code.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && code.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn modification(input: &Input, found: &AwsIntegration) -> Option<IntegrationAction> {
    let spec = input.spec;
    let name = (found.name != input.name).then(|| input.name.to_string());
    let wanted_filter = spec
        .data_filter
        .as_deref()
        .unwrap_or(DEFAULT_DATA_FILTER)
        .trim();
    let data_filter = (found
        .data_filter
        .as_deref()
        .unwrap_or(DEFAULT_DATA_FILTER)
        .trim()
        != wanted_filter)
        .then(|| wanted_filter.to_string());
    let wanted_description = spec.description.as_deref().unwrap_or_default();
    let description = (found.description.as_deref().unwrap_or_default() != wanted_description)
        .then(|| wanted_description.to_string());
    (name.is_some() || data_filter.is_some() || description.is_some()).then(|| {
        IntegrationAction::Modify {
            arn: found.arn.clone(),
            name,
            data_filter,
            description,
        }
    })
}

/// Tags are managed only when the spec has a `tags` map; then AWS matches it exactly (AWS's own `aws:` tags
/// aside).
fn tag_change(input: &Input, found: &AwsIntegration) -> Option<IntegrationAction> {
    let wanted = input.spec.tags.as_ref()?;
    let add: BTreeMap<String, String> = wanted
        .iter()
        .filter(|(k, v)| found.tags.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let remove: Vec<String> = found
        .tags
        .keys()
        .filter(|k| !wanted.contains_key(*k) && !k.to_ascii_lowercase().starts_with("aws:"))
        .cloned()
        .collect();
    (!add.is_empty() || !remove.is_empty()).then(|| IntegrationAction::Tag {
        arn: found.arn.clone(),
        add,
        remove,
    })
}

// ---------------------------------------------------------------------------------------------------------
// Destination database

fn plan_database(
    input: &Input,
    ours: Option<&AwsIntegration>,
    engine: Option<Engine>,
    actions: &mut Vec<Action>,
) -> Step {
    let Some(db) = &input.spec.destination_database else {
        return Step::done(
            DESTINATION_DATABASE_READY,
            reasons::NOT_REQUESTED,
            "spec.destinationDatabase is not set",
        );
    };
    if input.status.destination_database.as_deref() == Some(db.name.as_str()) {
        return Step::done(
            DESTINATION_DATABASE_READY,
            reasons::CREATED,
            format!("Redshift database {} receives the replicated data", db.name),
        );
    }
    let Some(integration) = ours.filter(|i| i.status == "active") else {
        return Step::blocked(
            DESTINATION_DATABASE_READY,
            reasons::WAITING_FOR_INTEGRATION,
            format!(
                "database {} is created once the integration is active",
                db.name
            ),
        );
    };
    // The engine decides whether the DATABASE clause is required; it is known whenever the source was seen,
    // which is always the case until the database exists (see prerequisites_settled).
    let Some(engine) = engine else {
        return Step::blocked(
            DESTINATION_DATABASE_READY,
            reasons::WAITING_FOR_INTEGRATION,
            "waiting to look at the source engine",
        );
    };
    let Some(id) = integration_id(&integration.arn) else {
        return Step::stalled(
            DESTINATION_DATABASE_READY,
            reasons::FAILED,
            format!("integration ARN {} has no id", integration.arn),
        );
    };
    actions.push(Action::Database(CreateDatabase {
        name: db.name.clone(),
        integration_id: id.to_string(),
        source_database: db.source_database.clone().filter(|_| engine.is_postgres()),
    }));
    Step::working(
        DESTINATION_DATABASE_READY,
        reasons::CREATING,
        format!(
            "creating Redshift database {} from integration {id}",
            db.name
        ),
        AFTER_ACTION,
    )
}

#[cfg(test)]
mod tests;
