//! RoleReady: the consumer role exists with exactly the declared trust and permissions, and carries this
//! object's owner tags. A role found in IAM is changed only when its tags say it is this object's, or when
//! the adopt annotation asks for it; a role this object managed under another name is deleted.

use zeroetl_api::consumer::DEFAULT_MAX_SESSION_SECONDS;

use super::{reasons, Action, Input, Step};
use crate::consumer::observed::RoleSeen;
use crate::consumer::policy::{self, permission_policies};
use crate::ownership::Ownership;

/// What the role step decided.
#[derive(Debug)]
pub struct RolePlan {
    pub step: Step,
    pub actions: Vec<Action>,
    /// The ARN of the role this object manages after the actions ran.
    pub arn: Option<String>,
    /// The role is being created this pass (its ARN is only claimed once that succeeded).
    pub creating: bool,
}

pub fn plan(input: &Input) -> RolePlan {
    let obj = input.obj;
    let mut actions = Vec::new();
    let previous = obj.status.as_ref().and_then(|s| s.role_arn.clone());
    let roles = match &input.seen.roles {
        Ok(r) => r,
        Err(e) => {
            return RolePlan {
                step: Step::from_error(e),
                actions,
                arn: previous,
                creating: false,
            }
        }
    };
    if let Some(stale) = &roles.stale {
        if is_ours(input, stale) {
            actions.extend(teardown(stale));
        }
    }
    let (Some(role), Some(name)) = (&obj.spec.role, obj.role_name()) else {
        let step = match actions.is_empty() {
            true => Step::passed(reasons::NOT_REQUESTED, "spec.role is not set"),
            false => Step::passed(
                reasons::APPLIED,
                "deleting the role this object no longer declares",
            ),
        };
        return RolePlan {
            step,
            actions,
            arn: None,
            creating: false,
        };
    };
    let trust = policy::trust_policy(role, input.external_id, roles.operator.as_deref());
    let db_user = input.user_name.as_deref();
    let wanted = permission_policies(role, &input.seen.facts.scope, db_user);
    let max_session = role
        .max_session_duration_seconds
        .unwrap_or(DEFAULT_MAX_SESSION_SECONDS);
    let account = &input.seen.facts.warehouse.account;

    let Some(found) = &roles.wanted else {
        actions.push(Action::CreateRole {
            name: name.clone(),
            trust,
            max_session_seconds: max_session,
            description: format!(
                "Managed by zeroetl-operator for RedshiftConsumer {}/{}",
                input.owner.namespace, input.owner.name
            ),
            tags: input.owner.tags(),
        });
        for (policy, document) in wanted {
            actions.push(Action::PutPolicy {
                role: name.clone(),
                policy,
                document,
            });
        }
        return RolePlan {
            step: Step::passed(reasons::APPLIED, format!("creating role {name}")),
            actions,
            arn: Some(format!("arn:aws:iam::{account}:role/{name}")),
            creating: true,
        };
    };

    match input.owner.ownership(&found.tags) {
        Ownership::Ours => {}
        Ownership::OursUnderAnotherUid => actions.push(Action::TagRole {
            name: name.clone(),
            tags: input.owner.tags(),
        }),
        Ownership::Untagged if input.adopt => actions.push(Action::TagRole {
            name: name.clone(),
            tags: input.owner.tags(),
        }),
        Ownership::Untagged => {
            return refused(
                actions,
                reasons::ROLE_EXISTS,
                format!(
                    "role {name} exists and was not created by this object; to let the operator manage it (its trust \
                     and inline policies are replaced), annotate the object zeroetl.dev/adopt=true, or choose another spec.role.name"
                ),
            )
        }
        Ownership::Foreign(other) => {
            return refused(
                actions,
                reasons::ROLE_OWNED_ELSEWHERE,
                format!(
                    "role {name} belongs to {}; choose another spec.role.name",
                    other.describe()
                ),
            )
        }
    }
    let mut changed = Vec::new();
    if found
        .trust
        .as_ref()
        .is_none_or(|t| !policy::same(t, &trust))
    {
        actions.push(Action::UpdateTrust {
            name: name.clone(),
            trust,
        });
        changed.push("trust policy".to_string());
    }
    if found.max_session_seconds != max_session {
        actions.push(Action::UpdateMaxSession {
            name: name.clone(),
            seconds: max_session,
        });
        changed.push("maximum session duration".to_string());
    }
    for (policy, document) in &wanted {
        let current = found.policies.get(policy).cloned().flatten();
        if current.is_none_or(|c| !policy::same(&c, document)) {
            changed.push(format!("policy {policy}"));
            actions.push(Action::PutPolicy {
                role: name.clone(),
                policy: policy.clone(),
                document: document.clone(),
            });
        }
    }
    for policy in found.policies.keys().filter(|p| !wanted.contains_key(*p)) {
        changed.push(format!("removed policy {policy}"));
        actions.push(Action::DeletePolicy {
            role: name.clone(),
            policy: policy.clone(),
        });
    }
    let step = if changed.is_empty() {
        Step::passed(
            reasons::IN_SYNC,
            format!(
                "role {name} has the declared trust and {} permission policies",
                wanted.len()
            ),
        )
    } else {
        Step::passed(
            reasons::APPLIED,
            format!("updating role {name}: {}", changed.join(", ")),
        )
    };
    RolePlan {
        step,
        actions,
        arn: Some(found.arn.clone()),
        creating: false,
    }
}

/// A role this object may not touch: reported, and not claimed in status.
fn refused(actions: Vec<Action>, reason: &str, message: String) -> RolePlan {
    RolePlan {
        step: Step::failed(reason, message),
        actions,
        arn: None,
        creating: false,
    }
}

/// Whether a role is this object's to change or delete (its tags, or an adoption already recorded in tags).
pub fn is_ours(input: &Input, role: &RoleSeen) -> bool {
    matches!(
        input.owner.ownership(&role.tags),
        Ownership::Ours | Ownership::OursUnderAnotherUid
    )
}

/// Deleting a role: its inline policies first (IAM refuses to delete a role that has any), then the role.
pub fn teardown(role: &RoleSeen) -> Vec<Action> {
    let mut actions: Vec<Action> = role
        .policies
        .keys()
        .map(|p| Action::DeletePolicy {
            role: role.name.clone(),
            policy: p.clone(),
        })
        .collect();
    actions.push(Action::DeleteRole {
        name: role.name.clone(),
    });
    actions
}
