//! SourceReady: the source database's parameters (per engine), its availability, and in Fix mode the
//! derived parameter group, its attachment and the reboot.

use std::collections::BTreeMap;

use zeroetl_api::arn::SourceKind;
use zeroetl_api::conditions::{is_true, SOURCE_READY};
use zeroetl_api::integration::PrerequisiteMode;

use super::actions::{Action, ParameterChange, SourceAction};
use super::{reasons, Input, Step, StepState};
use crate::integration::observed::{Observed, ParameterGroup, SourceState};
use crate::integration::source_params::{explain_all, wrong_parameters, Engine, WrongParameter};
use crate::timing;

/// Returns the SourceReady step (None when the source was not looked at), whether the source is ready, and
/// the engine when known.
pub(super) fn plan_source(
    input: &Input,
    actions: &mut Vec<Action>,
) -> (Option<Step>, bool, Option<Engine>) {
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
                timing::AFTER_ACTION,
            ),
            "pending-reboot" => reboot_or_report(input, s, &what, actions),
            other => Step::working(
                SOURCE_READY,
                reasons::PARAMETERS_APPLYING,
                format!("parameter group {} is being applied to {what} (status {other})", s.group.name),
                timing::AFTER_ACTION,
            ),
        };
    }
    let list = explain_all(&wrong);
    if input.source_mode() == PrerequisiteMode::Verify {
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
            timing::SOURCE_BUSY_RECHECK,
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
    if input.source_mode() == PrerequisiteMode::Fix
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
            timing::AFTER_ACTION,
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
            timing::SOURCE_BUSY_RECHECK,
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
            timing::AFTER_ACTION,
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
        timing::AFTER_ACTION,
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

/// The name of the parameter group the operator derives for a source.
pub fn derived_group_name(source_identifier: &str) -> String {
    format!("{source_identifier}-zeroetl")
}
