//! TargetReady: the warehouse is a valid zero-ETL target, its namespace resource policy authorizes the
//! source, and case-sensitive identifiers are on; in Fix mode, the policy merge and the parameter.

use zeroetl_api::conditions::{is_true, TARGET_READY};
use zeroetl_api::integration::PrerequisiteMode;

use super::actions::{Action, TargetAction};
use super::{reasons, Input, Step, StepState};
use crate::integration::observed::{Observed, TargetRef, TargetState};
use crate::integration::target_policy::{self, Grant};
use crate::timing;

pub(super) fn plan_target(
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
                timing::CONNECTION_RECHECK,
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
    let account = input.caller_account();
    let grant = Grant {
        source_arn,
        account: &account,
        scope: &input.owner.cluster,
    };
    let gaps = target_policy::gaps(t.policy.as_deref(), &grant);
    let mut problems = Vec::new();
    if !gaps.complete() {
        problems.push(gaps.describe(&grant));
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
                timing::TARGET_BUSY_RECHECK,
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
    if input.target_mode() == PrerequisiteMode::Verify {
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
            timing::TARGET_BUSY_RECHECK,
        );
    }
    if !gaps.complete() {
        // Checked here so a broken policy stalls before any change; apply merges again into the policy it
        // reads under the target's lock (others may have written it since).
        match target_policy::merged(t.policy.as_deref(), &w.namespace_arn, &grant) {
            Ok(_) => actions.push(Action::Target(TargetAction::AuthorizeSource {
                namespace_arn: w.namespace_arn.clone(),
                source_arn: source_arn.to_string(),
                account: account.clone(),
                scope: input.owner.cluster.clone(),
            })),
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
        timing::AFTER_ACTION,
    )
}
