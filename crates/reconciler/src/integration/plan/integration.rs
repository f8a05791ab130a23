//! IntegrationActive: create the integration, adopt a matching one, follow AWS's lifecycle, and keep the
//! mutable fields (name, data filter, description, tags) as the spec says.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_rds::types::IntegrationStatus;
use zeroetl_api::conditions::{find, is_valid_reason, INTEGRATION_ACTIVE};

use zeroetl_api::integration::ManagementPolicy;

use super::actions::{Action, IntegrationAction};
use super::{reasons, Input, Step, DEFAULT_DATA_FILTER};
use crate::integration::observed::AwsIntegration;
use crate::ownership::{self, Ownership};
use crate::timing;

pub(super) fn plan_integration(
    input: &Input,
    prerequisites_ready: bool,
    source_arn: Option<&str>,
    target_arn: Option<&str>,
    actions: &mut Vec<Action>,
) -> (Step, Option<AwsIntegration>) {
    let Some(found) = input.integration else {
        if !prerequisites_ready {
            // There is no integration, so it is not active (False, not Unknown), whatever the reason.
            let message = match &input.status.integration_arn {
                Some(arn) => format!("integration {arn} no longer exists in AWS; it is created again once the source and the target are ready"),
                None => "created once the source and the target are ready".to_string(),
            };
            return (
                Step::waiting_on_earlier(
                    INTEGRATION_ACTIVE,
                    reasons::WAITING_FOR_PREREQUISITES,
                    message,
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
        if input.policy == ManagementPolicy::ObserveOnly {
            return (
                Step::stalled(
                    INTEGRATION_ACTIVE,
                    reasons::NOT_FOUND,
                    format!(
                        "integration {} does not exist in AWS; managementPolicy ObserveOnly never creates one",
                        input.name
                    ),
                ),
                None,
            );
        }
        let spec = input.spec;
        let mut tags = spec.tags.clone().unwrap_or_default();
        tags.extend(input.owner.tags());
        actions.push(Action::Integration(IntegrationAction::Create {
            name: input.name.to_string(),
            source_arn: source_arn.to_string(),
            target_arn: target_arn.to_string(),
            kms_key_id: spec.kms_key_id.clone(),
            additional_encryption_context: spec.additional_encryption_context.clone(),
            data_filter: spec.data_filter.clone(),
            description: spec.description.clone(),
            tags,
        }));
        return (
            // Worded as the next pass will observe it, so that pass has nothing new to write.
            Step::working(
                INTEGRATION_ACTIVE,
                reasons::CREATING,
                creating_message(input.name),
                timing::AFTER_ACTION,
            ),
            None,
        );
    };

    // Found by stored ARN or by name: ours only if it joins the same source and target.
    // RDS stores identifiers in lower case: compare source ARNs the way AWS does.
    let adoptable = source_arn.is_none_or(|s| s.eq_ignore_ascii_case(&found.source_arn))
        && target_arn.is_none_or(|t| found.target_arn == t);
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

/// Whether a found integration may be managed (or, with ObserveOnly, tracked) by this object. `Some(step)`:
/// it may not, and nothing else is planned — not even on the source or target, which belong to its owner's
/// story. Found by the ARN in status and untagged: made by an operator version before owner tags, ours.
pub(super) fn ownership_refusal(input: &Input, found: &AwsIntegration) -> Option<Step> {
    let stored = input.status.integration_arn.as_deref() == Some(found.arn.as_str());
    match input.owner.ownership(&found.tags) {
        Ownership::Ours | Ownership::OursUnderAnotherUid => None,
        _ if input.policy == ManagementPolicy::ObserveOnly => None,
        Ownership::Untagged if stored || input.adopt => None,
        Ownership::Untagged => Some(Step::stalled(
            INTEGRATION_ACTIVE,
            reasons::ADOPTION_REQUIRED,
            format!(
                "integration {} ({}) exists in AWS but was not created by zeroetl-operator; to manage it, annotate this object with {}=true (it is then tagged as this object's), or choose another spec.integrationName",
                found.name,
                found.arn,
                ownership::ADOPT_ANNOTATION
            ),
        )),
        Ownership::Foreign(owner) => Some(Step::stalled(
            INTEGRATION_ACTIVE,
            reasons::OWNED_BY_ANOTHER,
            format!(
                "integration {} ({}) belongs to {}; this object leaves it alone. Choose another spec.integrationName",
                found.name,
                found.arn,
                owner.describe()
            ),
        )),
    }
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
    let observe_only = input.policy == ManagementPolicy::ObserveOnly;
    if found.status != IntegrationStatus::Deleting && !observe_only {
        if let Some(tag) = tag_change(input, found) {
            actions.push(Action::Integration(tag));
        }
    }
    let since_transition = |reason: &str| {
        find(&input.status.conditions, INTEGRATION_ACTIVE)
            .filter(|c| c.reason == reason)
            .map(|c| {
                let secs = input.now.timestamp() - c.last_transition_time.0.as_second();
                Duration::from_secs(secs.max(0) as u64)
            })
            .unwrap_or_default()
    };
    match &found.status {
        IntegrationStatus::Active => match modification(input, found) {
            Some(IntegrationAction::Modify {
                name: new_name,
                data_filter,
                description,
                ..
            }) if observe_only => {
                let mut drift = Vec::new();
                if let Some(n) = new_name {
                    drift.push(format!("the spec names it {n}"));
                }
                if let Some(f) = data_filter {
                    drift.push(format!("the spec's data filter is {f:?}"));
                }
                if description.is_some() {
                    drift.push("the spec's description differs".to_string());
                }
                Step::done(
                    INTEGRATION_ACTIVE,
                    reasons::ACTIVE_WITH_DRIFT,
                    format!(
                        "integration {name} is active; it differs from the spec ({}), which managementPolicy ObserveOnly does not correct",
                        drift.join("; ")
                    ),
                )
            }
            Some(modify) => {
                actions.push(Action::Integration(modify));
                Step::working(
                    INTEGRATION_ACTIVE,
                    reasons::MODIFYING,
                    format!("updating integration {name} in place"),
                    timing::AFTER_ACTION,
                )
            }
            None => Step::done(
                INTEGRATION_ACTIVE,
                reasons::ACTIVE,
                format!("integration {name} is active"),
            ),
        },
        IntegrationStatus::Creating => {
            let elapsed = found
                .create_time
                .map(|t| (input.now - t).to_std().unwrap_or_default())
                .unwrap_or_default();
            Step::working(
                INTEGRATION_ACTIVE,
                reasons::CREATING,
                creating_message(name),
                timing::adaptive_poll(elapsed),
            )
        }
        status @ (IntegrationStatus::Modifying | IntegrationStatus::Syncing) => {
            let reason = if *status == IntegrationStatus::Modifying {
                reasons::MODIFYING
            } else {
                reasons::SYNCING
            };
            Step::working(
                INTEGRATION_ACTIVE,
                reason,
                format!("integration {name} is {}", status.as_str()),
                timing::adaptive_poll(since_transition(reason)),
            )
        }
        IntegrationStatus::Deleting => Step::working(
            INTEGRATION_ACTIVE,
            reasons::DELETING,
            format!("integration {name} is being deleted outside the operator; it is created again once gone"),
            timing::FOREIGN_DELETE_RECHECK,
        ),
        status => {
            let fallback = if *status == IntegrationStatus::Failed {
                reasons::FAILED
            } else {
                reasons::NEEDS_ATTENTION
            };
            let reason = first_error
                .map(|e| e.code.as_str())
                .filter(|c| is_valid_reason(c))
                .unwrap_or(fallback);
            let detail = if found.errors.is_empty() {
                String::new()
            } else {
                format!(": {}", error_text())
            };
            Step::stalled(
                INTEGRATION_ACTIVE,
                reason,
                format!("integration {name} is {}{detail}", status.as_str()),
            )
        }
    }
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
/// The owner tags are always there (added on adoption, fixed after a restore); the user's tags are managed
/// only when the spec has a `tags` map, and then AWS matches it exactly — AWS's own `aws:` tags and the
/// operator's owner tags aside, which a `spec.tags` edit never removes.
fn tag_change(input: &Input, found: &AwsIntegration) -> Option<IntegrationAction> {
    let mut wanted = input.spec.tags.clone().unwrap_or_default();
    wanted.extend(input.owner.tags());
    let add: BTreeMap<String, String> = wanted
        .iter()
        .filter(|(k, v)| found.tags.get(k) != Some(v.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let managed = input.spec.tags.is_some();
    let remove: Vec<String> = found
        .tags
        .keys()
        .filter(|k| {
            let lower = k.to_ascii_lowercase();
            managed
                && !wanted.contains_key(*k)
                && !lower.starts_with("aws:")
                && !lower.starts_with(ownership::TAG_PREFIX)
        })
        .map(str::to_string)
        .collect();
    (!add.is_empty() || !remove.is_empty()).then(|| IntegrationAction::Tag {
        arn: found.arn.clone(),
        add,
        remove,
    })
}

fn creating_message(name: &str) -> String {
    format!("AWS is creating integration {name}")
}
