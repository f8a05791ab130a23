//! The Redshift warehouse behind a connection or an integration target: resolved from a serverless
//! workgroup, a provisioned cluster or a namespace ARN into one shape (endpoint, namespace ARN, encryption,
//! attached roles, case sensitivity), and the one change both reconcilers make to it: turning on
//! `enable_case_sensitive_identifier`, which zero-ETL requires.

mod provisioned;
mod serverless;

use zeroetl_api::arn::{NamespaceArn, WarehouseKind};
use zeroetl_api::connection::Endpoint;

use zeroetl_api::RedshiftConnectionSpec;

use crate::aws::data_api::DataApiTarget;
use crate::aws::Clients;
use crate::error::{Error, Result};

pub use provisioned::by_cluster;
pub use serverless::by_workgroup;

/// The parameter zero-ETL needs on the target (docs/aws-facts.md, "Redshift side").
pub const CASE_SENSITIVE_PARAMETER: &str = "enable_case_sensitive_identifier";

/// A Redshift warehouse as observed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warehouse {
    pub kind: WarehouseKind,
    pub region: String,
    pub account: String,
    /// The zero-ETL target: `arn:aws:redshift:…:namespace:UUID` or `arn:aws:redshift-serverless:…:namespace/UUID`.
    pub namespace_arn: String,
    /// Serverless only.
    pub namespace_name: Option<String>,
    /// Serverless only; None when a namespace has no workgroup yet.
    pub workgroup_name: Option<String>,
    /// Provisioned only.
    pub cluster_identifier: Option<String>,
    pub endpoint: Option<Endpoint>,
    /// `enable_case_sensitive_identifier` is in effect.
    pub case_sensitive: bool,
    /// Provisioned: the parameter is set in the cluster's parameter group but waits for a reboot.
    pub case_sensitivity_pending_reboot: bool,
    /// Serverless namespaces are always encrypted; provisioned clusters report it.
    pub encrypted: bool,
    /// IAM roles attached to the cluster or namespace (the roles Redshift may assume for COPY/UNLOAD).
    pub iam_roles: Vec<String>,
    /// The AWS status: the workgroup's (`AVAILABLE`, `MODIFYING`, …) or the cluster's (`available`, `rebooting`, …).
    pub status: String,
    /// Provisioned: the admin (master) user, who may run `CREATE DATABASE`.
    pub admin_user: Option<String>,
    /// The database the warehouse was created with.
    pub default_database: Option<String>,
}

impl Warehouse {
    /// Whether AWS reports the warehouse as ready for queries and changes.
    pub fn is_available(&self) -> bool {
        self.status.eq_ignore_ascii_case("available")
    }

    /// A short human name for messages: `workgroup analytics-wg` or `cluster warehouse-ra3`.
    pub fn describe(&self) -> String {
        match (
            &self.workgroup_name,
            &self.cluster_identifier,
            &self.namespace_name,
        ) {
            (Some(w), _, _) => format!("workgroup {w}"),
            (_, Some(c), _) => format!("cluster {c}"),
            (_, _, Some(n)) => format!("namespace {n}"),
            _ => self.namespace_arn.clone(),
        }
    }
}

/// The warehouse a RedshiftConnection names: its serverless workgroup or provisioned cluster.
pub async fn of_connection(c: &Clients, spec: &RedshiftConnectionSpec) -> Result<Warehouse> {
    match (&spec.serverless, &spec.provisioned) {
        (Some(s), _) => by_workgroup(c, &s.workgroup_name).await,
        (_, Some(p)) => by_cluster(c, &p.cluster_identifier).await,
        // Validation guarantees exactly one; this keeps the function total.
        (None, None) => Err(Error::terminal(
            "InvalidSpec",
            "neither serverless nor provisioned is set",
        )),
    }
}

/// Where the Data API runs statements on this warehouse, as which database identity.
pub fn data_api_target(
    w: &Warehouse,
    database: String,
    db_user: Option<String>,
    secret_arn: Option<String>,
) -> DataApiTarget {
    let provisioned = w.workgroup_name.is_none();
    DataApiTarget {
        workgroup_name: w.workgroup_name.clone(),
        cluster_identifier: w.cluster_identifier.clone().filter(|_| provisioned),
        database,
        // Serverless maps the caller's IAM identity to a database user; only clusters take a DbUser.
        db_user: db_user.filter(|_| provisioned),
        secret_arn,
    }
}

/// Resolves the warehouse that owns a namespace ARN (the zero-ETL target form).
pub async fn by_namespace_arn(c: &Clients, arn: &str) -> Result<Warehouse> {
    let parsed = NamespaceArn::parse(arn).ok_or_else(|| {
        Error::terminal(
            "InvalidNamespaceArn",
            format!("{arn} is not a Redshift namespace ARN"),
        )
    })?;
    match parsed.kind {
        WarehouseKind::Serverless => serverless::by_namespace_arn(c, arn).await,
        WarehouseKind::Provisioned => provisioned::by_namespace_arn(c, arn).await,
    }
}

/// What [`enable_case_sensitivity`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaseSensitivityChange {
    /// Already in effect; nothing was changed.
    AlreadyOn,
    /// Set (serverless applies it without a reboot; the workgroup is briefly MODIFYING).
    Applied,
    /// Set in the cluster's parameter group; takes effect after a reboot the caller did not allow.
    RebootRequired,
    /// Set, and the cluster is rebooting (now or already) to apply it.
    Rebooting,
}

/// Turns on `enable_case_sensitive_identifier`. Serverless: UpdateWorkgroup. Provisioned: a custom parameter
/// group with the value (created and attached when the cluster uses a `default.` group, which cannot be
/// modified), then a reboot if `allow_reboot`. Idempotent: call it again after a crash or a requeue.
pub async fn enable_case_sensitivity(
    c: &Clients,
    w: &Warehouse,
    allow_reboot: bool,
) -> Result<CaseSensitivityChange> {
    if w.case_sensitive {
        return Ok(CaseSensitivityChange::AlreadyOn);
    }
    match w.kind {
        WarehouseKind::Serverless => serverless::enable_case_sensitivity(c, w).await,
        WarehouseKind::Provisioned => {
            provisioned::enable_case_sensitivity(c, w, allow_reboot).await
        }
    }
}

/// Redshift reports booleans as `true`/`false`; accept the other spellings its parameters allow.
fn is_on(value: Option<&str>) -> bool {
    value.is_some_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "true" | "on" | "1"))
}

/// The account of an ARN (`arn:aws:SERVICE:REGION:ACCOUNT:…`).
fn account_of(arn: &str) -> String {
    arn.split(':').nth(4).unwrap_or_default().to_string()
}

/// Serverless `iamRoles` entries come back either as plain ARNs or (from the real service) as
/// `IamRole(applyStatus=in-sync, iamRoleArn=arn:aws:iam::…:role/x)`.
fn role_arn_of(entry: &str) -> String {
    match entry.split_once("iamRoleArn=") {
        Some((_, rest)) => rest
            .trim_end_matches(')')
            .split([',', ')'])
            .next()
            .unwrap_or_default()
            .trim()
            .to_string(),
        None => entry.trim().to_string(),
    }
}

#[cfg(test)]
mod sim_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_entries_in_both_shapes() {
        assert_eq!(
            role_arn_of("arn:aws:iam::111111111111:role/redshift-staging"),
            "arn:aws:iam::111111111111:role/redshift-staging"
        );
        assert_eq!(
            role_arn_of("IamRole(applyStatus=in-sync, iamRoleArn=arn:aws:iam::111111111111:role/redshift-staging)"),
            "arn:aws:iam::111111111111:role/redshift-staging"
        );
    }

    #[test]
    fn booleans_and_accounts() {
        assert!(is_on(Some("true")) && is_on(Some("TRUE")) && is_on(Some("on")));
        assert!(!is_on(Some("false")) && !is_on(None) && !is_on(Some("")));
        assert_eq!(
            account_of("arn:aws:redshift:us-east-1:111111111111:namespace:abc"),
            "111111111111"
        );
    }
}
