//! Deletion with deletionPolicy Delete, planned like everything else: revoke every privilege of the user this
//! object manages and drop it; delete the inline policies and the role, if its tags say it is this
//! object's. The object is released once a pass finds nothing left to remove. (Retain releases at once,
//! without looking at AWS: see `consumer::delete`.)

use super::role;
use super::user;
use super::Action;
use crate::consumer::observed::{RoleSeen, UserSeen};
use crate::ownership::{Owner, Ownership};

#[derive(Debug, PartialEq)]
pub struct DeletePlan {
    pub actions: Vec<Action>,
    /// Nothing is left to remove: release the finalizer.
    pub release: bool,
    /// What is being removed, for the Reconciling message.
    pub message: String,
}

/// `role`: the role status.roleArn (or the spec) names, as IAM has it; `user`: the user status.databaseUser
/// names, as the warehouse has it.
pub fn plan_delete(
    owner: &Owner,
    role: Option<&RoleSeen>,
    user: Option<&UserSeen>,
    connection_db: &str,
) -> DeletePlan {
    let mut actions = Vec::new();
    let mut removing = Vec::new();
    if let Some(u) = user.filter(|u| u.exists) {
        actions.extend(user::teardown(u, connection_db));
        removing.push(format!("database user {}", u.name));
    }
    if let Some(r) = role.filter(|r| {
        matches!(
            owner.ownership(&r.tags),
            Ownership::Ours | Ownership::OursUnderAnotherUid
        )
    }) {
        actions.extend(role::teardown(r));
        removing.push(format!("role {}", r.name));
    }
    DeletePlan {
        release: actions.is_empty(),
        message: match removing.is_empty() {
            true => "nothing left to remove".into(),
            false => format!("removing {}", removing.join(" and ")),
        },
        actions,
    }
}
