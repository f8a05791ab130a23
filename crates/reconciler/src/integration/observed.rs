//! What the reconciler saw in AWS and Kubernetes, as plain data: the input of the pure plan step.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_rds::types::IntegrationStatus;
use chrono::{DateTime, Utc};
use zeroetl_api::arn::SourceKind;
use zeroetl_api::integration::IntegrationError;
use zeroetl_api::interned::Interned;

use crate::aws::Tags;
use crate::warehouse::Warehouse;

/// One part of the world, looked at or deliberately not.
#[derive(Clone, Debug, PartialEq)]
pub enum Observed<T> {
    /// Not looked at this time (a settled prerequisite, or a step that cannot run yet).
    Skipped,
    /// Looked for and not there; the message says what was missing.
    NotFound(String),
    Seen(T),
}

impl<T> Observed<T> {
    /// The observed value, if it was seen.
    pub fn seen(&self) -> Option<&T> {
        match self {
            Observed::Seen(t) => Some(t),
            _ => None,
        }
    }
}

/// An RDS parameter group (DB or DB cluster) and its values.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ParameterGroup {
    pub name: String,
    pub family: String,
    pub values: BTreeMap<String, String>,
    /// Parameters whose value was set by someone (Source=user), which a derived group copies.
    pub user_set: BTreeSet<String>,
    /// Parameters that only take effect after a reboot (ApplyType=static).
    pub static_parameters: BTreeSet<String>,
    /// Other databases the group is attached to; `None` when not looked up.
    pub shared_with: Option<Vec<String>>,
}

impl ParameterGroup {
    /// AWS's `default.*` groups cannot be modified.
    pub fn is_default(&self) -> bool {
        self.name.starts_with("default.")
    }
}

/// The zero-ETL source database as observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SourceState {
    pub arn: String,
    pub identifier: String,
    pub kind: SourceKind,
    /// The RDS engine name (`aurora-mysql`, `aurora-postgresql`, `mysql`, `postgres`, …).
    pub engine: String,
    /// `available`, `rebooting`, `modifying`, …
    pub status: String,
    /// Set when the spec named an Aurora instance: the cluster it belongs to is the real source.
    pub resolved_from_instance: Option<String>,
    /// The instance to reboot so that a cluster's new parameters take effect (the cluster's writer).
    pub reboot_target: String,
    pub backup_retention_period: i64,
    /// The parameter group carrying the zero-ETL parameters (the cluster group for Aurora).
    pub group: ParameterGroup,
    /// `in-sync`, `pending-reboot` or `applying`.
    pub apply_status: String,
    /// The operator's own derived group, when it exists and is not the attached one (a previous attempt).
    pub derived_group: Option<ParameterGroup>,
}

/// The zero-ETL target as observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetState {
    pub warehouse: Warehouse,
    /// The namespace's resource policy document, if it has one.
    pub policy: Option<String>,
}

/// An integration as DescribeIntegrations reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsIntegration {
    pub arn: String,
    pub name: String,
    pub source_arn: String,
    /// Interned: a fleet usually shares a few warehouses.
    pub target_arn: Interned,
    pub status: IntegrationStatus,
    /// Interned: usually the same few filters and descriptions across a fleet.
    pub data_filter: Option<Interned>,
    pub description: Option<Interned>,
    pub tags: Tags,
    pub errors: Vec<IntegrationError>,
    pub create_time: Option<DateTime<Utc>>,
}

impl AwsIntegration {
    /// Replicating or on its way to it: not failed, not in need of attention, not being deleted.
    pub fn is_healthy(&self) -> bool {
        !matches!(
            self.status,
            IntegrationStatus::Failed
                | IntegrationStatus::NeedsAttention
                | IntegrationStatus::Deleting
        )
    }
}

/// What Redshift says about an integration's replication (SVV_INTEGRATION and friends).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplicationState {
    /// The database the integration feeds, once one is bound to it.
    pub target_database: Option<String>,
    pub state: Option<String>,
    pub lag_ms: Option<i64>,
    pub tables_replicated: Option<i64>,
    pub tables_failed: Option<i64>,
    /// `schema.table` and Redshift's reason, for tables in state Failed.
    pub failed_tables: Vec<(String, String)>,
    /// Whether a database named as spec.destinationDatabase exists in the warehouse; `None`: not asked.
    pub wanted_database_exists: Option<bool>,
}

/// A replication lag as a reader weighs it: its order of magnitude. A live replication's lag differs on every
/// read; within its band that is no news, and writing it each time would cost a status write per integration
/// per full check.
pub fn lag_band(lag_ms: Option<i64>) -> &'static str {
    match lag_ms {
        None => "unknown",
        Some(..1_000) => "under 1 s",
        Some(..10_000) => "under 10 s",
        Some(..60_000) => "under 1 min",
        Some(..600_000) => "under 10 min",
        Some(_) => "10 min or more",
    }
}

/// Where the target namespace comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TargetRef {
    /// Known: a namespace ARN (from the spec or a Ready RedshiftConnection).
    Arn(String),
    /// The RedshiftConnection is missing or not Ready yet.
    Waiting { reason: String, message: String },
}
