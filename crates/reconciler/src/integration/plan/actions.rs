//! The changes the plan can ask for, as plain data: apply turns each into one or a few AWS calls.

use std::collections::BTreeMap;

use zeroetl_api::conditions::{
    DESTINATION_DATABASE_READY, INTEGRATION_ACTIVE, SOURCE_READY, TARGET_READY,
};

use crate::aws::data_api::DataApiTarget;

/// A change on the source database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SourceAction {
    /// Create the derived parameter group (same family as the current one).
    CreateGroup {
        name: String,
        family: String,
        description: String,
        /// The owner tags of the object that derives it.
        tags: BTreeMap<String, String>,
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
    /// Merge the statements authorizing `source_arn` (and its `account`) into the namespace's resource policy,
    /// under the target's lock, re-reading it first and verifying it after.
    AuthorizeSource {
        namespace_arn: String,
        source_arn: String,
        account: String,
        /// Names the statements this operator adds (the cluster name).
        scope: String,
    },
    /// Remove the statements this operator added for `source_arn` (and for its account unless
    /// `keep_account`): the last object that needed them is gone.
    Deauthorize {
        namespace_arn: String,
        source_arn: String,
        account: String,
        scope: String,
        keep_account: bool,
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
    /// DeleteIntegration, when the object is deleted with deletionPolicy Delete.
    Delete { arn: String, name: String },
}

/// `CREATE DATABASE … FROM INTEGRATION` through the Data API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateDatabase {
    pub name: String,
    pub integration_id: String,
    pub source_database: Option<String>,
    /// Where and as whom the statement runs.
    pub target: DataApiTarget,
    /// A database of that name made by this object for an integration since recreated is dropped first.
    pub replace_stale: bool,
}

impl CreateDatabase {
    /// The statement. Names are validated identifiers; quoting keeps their case with case sensitivity on.
    /// Drops the stale database of the same name (see `replace_stale`).
    pub fn drop_sql(&self) -> String {
        format!("DROP DATABASE \"{}\"", self.name)
    }

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

impl IntegrationAction {
    /// The names and ARNs this action changes the integration under.
    pub fn keys(&self) -> Vec<&str> {
        match self {
            IntegrationAction::Create { name, .. } => vec![name.as_str()],
            IntegrationAction::Modify { arn, name, .. } => {
                let mut keys = vec![arn.as_str()];
                keys.extend(name.as_deref());
                keys
            }
            IntegrationAction::Tag { arn, .. } => vec![arn.as_str()],
            IntegrationAction::Delete { arn, name } => vec![arn.as_str(), name.as_str()],
        }
    }
}

impl Action {
    /// The shared reads (by key prefix) to read again after this action: what it changed, or, when AWS
    /// refused it (`failed`), what the refusal may have been about.
    pub fn invalidates(&self, failed: bool) -> &'static [&'static str] {
        match self {
            Action::Source(_) => &["db-cluster|", "db-instance|", "pg|", "pg-users|"],
            Action::Target(_) => &["warehouse|", "policy|"],
            // A create changes no prerequisite, so a fleet of creates keeps the shared reads; a refused
            // create may have been refused because a prerequisite read from the cache changed since.
            Action::Integration(IntegrationAction::Create { .. }) if failed => &[
                "db-cluster|",
                "db-instance|",
                "pg|",
                "warehouse|",
                "policy|",
            ],
            Action::Integration(_) => &[],
            Action::Database(_) => &["svv|"],
        }
    }

    /// The action in words, for `status.plannedActions` (managementPolicy Plan).
    pub fn describe(&self) -> String {
        match self {
            Action::Source(SourceAction::CreateGroup { name, family, .. }) => {
                format!("create parameter group {name} ({family})")
            }
            Action::Source(SourceAction::SetParameters { group, parameters }) => {
                let list: Vec<String> = parameters
                    .iter()
                    .map(|p| format!("{}={}", p.name, p.value))
                    .collect();
                format!("set {} in parameter group {group}", list.join(", "))
            }
            Action::Source(SourceAction::AttachGroup { group }) => {
                format!("attach parameter group {group} to the source")
            }
            Action::Source(SourceAction::Reboot { instance }) => format!("reboot {instance}"),
            Action::Target(TargetAction::AuthorizeSource {
                namespace_arn,
                source_arn,
                ..
            }) => format!("authorize {source_arn} in the resource policy of {namespace_arn}"),
            Action::Target(TargetAction::Deauthorize {
                namespace_arn,
                source_arn,
                ..
            }) => format!(
                "remove the grants for {source_arn} from the resource policy of {namespace_arn}"
            ),
            Action::Target(TargetAction::EnableCaseSensitivity) => {
                "turn on enable_case_sensitive_identifier on the target".to_string()
            }
            Action::Integration(IntegrationAction::Create {
                name,
                source_arn,
                target_arn,
                ..
            }) => format!("create integration {name} from {source_arn} to {target_arn}"),
            Action::Integration(IntegrationAction::Modify {
                arn,
                name,
                data_filter,
                description,
            }) => {
                let mut what = Vec::new();
                if let Some(n) = name {
                    what.push(format!("name to {n}"));
                }
                if let Some(f) = data_filter {
                    what.push(format!("data filter to {f:?}"));
                }
                if description.is_some() {
                    what.push("description".to_string());
                }
                format!("change the {} of {arn}", what.join(", "))
            }
            Action::Integration(IntegrationAction::Tag { arn, add, remove }) => format!(
                "tag {arn}: set {}, remove {}",
                add.keys().cloned().collect::<Vec<_>>().join(", "),
                remove.join(", ")
            ),
            Action::Integration(IntegrationAction::Delete { arn, .. }) => {
                format!("delete integration {arn}")
            }
            Action::Database(db) if db.replace_stale => {
                format!("run: {}; {}", db.drop_sql(), db.sql())
            }
            Action::Database(db) => format!("run: {}", db.sql()),
        }
    }
}
