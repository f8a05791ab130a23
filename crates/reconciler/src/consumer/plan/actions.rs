//! The changes a consumer plan asks for, each reported on one step condition.

use std::collections::BTreeMap;

use serde_json::Value;
use zeroetl_api::conditions::{DATABASE_USER_READY, GRANTS_APPLIED, ROLE_READY, SECRET_PUBLISHED};

use crate::consumer::password::Password;
use crate::consumer::sql::Sql;

#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// CreateRole with its trust policy and the owner tags.
    CreateRole {
        name: String,
        trust: Value,
        max_session_seconds: i32,
        description: String,
        tags: BTreeMap<String, String>,
    },
    /// TagRole with the owner tags: adopting a role (annotation) or one of ours recreated under a new uid.
    TagRole {
        name: String,
        tags: BTreeMap<String, String>,
    },
    UpdateTrust {
        name: String,
        trust: Value,
    },
    /// UpdateRole: the longest session the role allows.
    UpdateMaxSession {
        name: String,
        seconds: i32,
    },
    PutPolicy {
        role: String,
        policy: String,
        document: Value,
    },
    DeletePolicy {
        role: String,
        policy: String,
    },
    DeleteRole {
        name: String,
    },
    /// One statement through the Data API, reported on `step`; a success is announced as `event`.
    Sql {
        step: &'static str,
        event: &'static str,
        sql: Sql,
    },
    /// Create or replace the password Secret (before the statement that sets the password, so that a
    /// password never exists only in the database).
    WritePasswordSecret {
        name: String,
        user: String,
        password: Password,
    },
    DeletePasswordSecret {
        name: String,
    },
    /// Create or update the coordinates Secret to hold exactly `data`.
    PublishSecret {
        name: String,
        data: BTreeMap<String, String>,
    },
}

impl Action {
    /// The step condition this action is reported on.
    pub fn condition_type(&self) -> &'static str {
        match self {
            Action::CreateRole { .. }
            | Action::TagRole { .. }
            | Action::UpdateTrust { .. }
            | Action::UpdateMaxSession { .. }
            | Action::PutPolicy { .. }
            | Action::DeletePolicy { .. }
            | Action::DeleteRole { .. } => ROLE_READY,
            Action::Sql { step, .. } => step,
            Action::WritePasswordSecret { .. } | Action::DeletePasswordSecret { .. } => {
                DATABASE_USER_READY
            }
            Action::PublishSecret { .. } => SECRET_PUBLISHED,
        }
    }

    /// Steps that cannot proceed when this one failed: no grants without the user.
    pub fn blocks(&self) -> &'static [&'static str] {
        match self.condition_type() {
            DATABASE_USER_READY => &[DATABASE_USER_READY, GRANTS_APPLIED],
            ROLE_READY => &[ROLE_READY],
            GRANTS_APPLIED => &[GRANTS_APPLIED],
            _ => &[SECRET_PUBLISHED],
        }
    }

    /// Whether the action changes AWS (the Secrets are Kubernetes objects, written only when they differ).
    pub fn changes_aws(&self) -> bool {
        !matches!(
            self,
            Action::PublishSecret { .. }
                | Action::WritePasswordSecret { .. }
                | Action::DeletePasswordSecret { .. }
        )
    }
}
