//! The `ZeroEtlIntegration` custom resource: one RDS/Aurora → Redshift zero-ETL integration and everything
//! around it (source parameters, target authorization, case sensitivity, the destination database).

use std::collections::BTreeMap;

use crate::conditions::Condition;
use crate::interned::Interned;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::patterns;
use crate::schema::{conditions_schema, immutable};

/// Declares an AWS zero-ETL integration from an RDS or Aurora database into an Amazon Redshift namespace.
/// The operator checks (or fixes) the source parameters, authorizes the target, creates the integration,
/// and creates the destination database once data flows.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "zeroetl.dev",
    version = "v1alpha1",
    kind = "ZeroEtlIntegration",
    namespaced,
    doc = "An AWS zero-ETL integration from RDS or Aurora into Amazon Redshift, with its prerequisites.",
    status = "ZeroEtlIntegrationStatus",
    shortname = "zei",
    category = "zeroetl",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"State","type":"string","jsonPath":".status.state"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Integration","type":"string","jsonPath":".status.integrationArn","priority":1}"#,
    printcolumn = r#"{"name":"Message","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.additionalEncryptionContext) || has(self.kmsKeyId)",
     "message": "additionalEncryptionContext needs kmsKeyId"},
    {"rule": "has(self.kmsKeyId) == has(oldSelf.kmsKeyId)", "message": "kmsKeyId is immutable"},
    {"rule": "has(self.additionalEncryptionContext) == has(oldSelf.additionalEncryptionContext)",
     "message": "additionalEncryptionContext is immutable"}
]))]
pub struct ZeroEtlIntegrationSpec {
    /// The AWS integration name. Defaults to metadata.name. 1–63 characters: a letter first, then letters,
    /// digits and single hyphens. Can be changed in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63), regex(pattern = patterns::INTEGRATION_NAME))]
    pub integration_name: Option<String>,

    /// The AWS region of the source and target. Defaults to the operator's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::REGION))]
    pub region: Option<String>,

    /// The RDS DB instance or Aurora DB cluster to replicate from. Exactly one of arn, dbClusterIdentifier,
    /// dbInstanceIdentifier. Immutable: AWS cannot move an integration to another source.
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "source is immutable"}]))]
    pub source: IntegrationSource,

    /// The Redshift namespace to replicate into. Exactly one of connectionRef, namespaceArn. Immutable.
    #[schemars(extend("x-kubernetes-validations" = [{"rule": "self == oldSelf", "message": "target is immutable"}]))]
    pub target: IntegrationTarget,

    /// The KMS key (id, ARN or alias) that encrypts the integration. Absent: an AWS-owned key. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "immutable_string")]
    pub kms_key_id: Option<String>,

    /// Extra KMS encryption context, at most 6 pairs (AWS adds 2 of its own). Only with kmsKeyId. Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "encryption_context_schema")]
    pub additional_encryption_context: Option<BTreeMap<String, String>>,

    /// Which tables to replicate: comma-separated `include:`/`exclude:` patterns, `database.table` for MySQL
    /// sources, `database.schema.table` for PostgreSQL, `*` as a wildcard. Absent: everything
    /// (`include: *.*`). Changed in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 25600), regex(pattern = patterns::DATA_FILTER_CHARSET))]
    pub data_filter: Option<String>,

    /// A description of the integration, up to 1000 characters. Changed in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1000))]
    pub description: Option<String>,

    /// AWS tags for the integration. Keys may not start with `aws:`. Changed in place.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "tags_schema")]
    pub tags: Option<BTreeMap<String, String>>,

    /// What the operator may change on the source and the target before creating the integration.
    #[serde(default)]
    pub prerequisites: Prerequisites,

    /// The Redshift database to create from the integration once it is active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_database: Option<DestinationDatabase>,

    /// What happens to the AWS integration when this object is deleted: Delete (default) or Retain.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,

    /// Manage (default): drive AWS toward this spec. ObserveOnly: track the integration and report its state
    /// and drift, never change or delete anything in AWS. Plan: compute what Manage would do and write it to
    /// status.plannedActions, change nothing.
    #[serde(default)]
    pub management_policy: ManagementPolicy,
}

/// How far the operator may go for an object.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum ManagementPolicy {
    #[default]
    Manage,
    ObserveOnly,
    Plan,
}

/// The zero-ETL source. Exactly one field is set.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("oneOf" = [{"required": ["arn"]}, {"required": ["dbClusterIdentifier"]}, {"required": ["dbInstanceIdentifier"]}]))]
pub struct IntegrationSource {
    /// The ARN of an RDS DB instance (`arn:aws:rds:REGION:ACCOUNT:db:NAME`) or Aurora DB cluster
    /// (`arn:aws:rds:REGION:ACCOUNT:cluster:NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 255), regex(pattern = patterns::RDS_SOURCE_ARN))]
    pub arn: Option<String>,
    /// An Aurora DB cluster identifier in the integration's region and the operator's account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::RDS_IDENTIFIER))]
    pub db_cluster_identifier: Option<String>,
    /// An RDS DB instance identifier in the integration's region and the operator's account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::RDS_IDENTIFIER))]
    pub db_instance_identifier: Option<String>,
}

/// The zero-ETL target. Exactly one field is set.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("oneOf" = [{"required": ["connectionRef"]}, {"required": ["namespaceArn"]}]))]
pub struct IntegrationTarget {
    /// A RedshiftConnection in the same namespace; its status.namespaceArn is the target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_ref: Option<LocalObjectRef>,
    /// A Redshift namespace ARN: provisioned `arn:aws:redshift:REGION:ACCOUNT:namespace:UUID` or serverless
    /// `arn:aws:redshift-serverless:REGION:ACCOUNT:namespace/UUID`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::NAMESPACE_ARN))]
    pub namespace_arn: Option<Interned>,
}

/// A reference to an object in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct LocalObjectRef {
    /// The object's name.
    #[schemars(length(min = 1, max = 253), regex(pattern = patterns::DNS_SUBDOMAIN))]
    pub name: String,
}

/// Verify reports what is wrong; Fix changes AWS to make it right.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum PrerequisiteMode {
    #[default]
    Verify,
    Fix,
}

/// What the operator may change on the source and the target.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Prerequisites {
    /// Source parameters (binlog or logical replication settings). Verify (default) lists each wrong
    /// parameter; Fix creates a custom parameter group derived from the current one and attaches it.
    #[serde(default)]
    pub source: PrerequisiteMode,
    /// Whether Fix may reboot the source so that a new parameter group takes effect. Default false: the
    /// operator reports RebootRequired and waits for you to reboot.
    #[serde(default)]
    pub allow_source_reboot: bool,
    /// Target resource policy and case sensitivity. Fix (default) applies them; Verify only reports.
    #[serde(default = "fix")]
    pub target: PrerequisiteMode,
}

fn fix() -> PrerequisiteMode {
    PrerequisiteMode::Fix
}

impl Default for Prerequisites {
    fn default() -> Self {
        Prerequisites {
            source: PrerequisiteMode::Verify,
            allow_source_reboot: false,
            target: PrerequisiteMode::Fix,
        }
    }
}

/// The database the operator creates in Redshift from the integration (`CREATE DATABASE … FROM INTEGRATION`).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DestinationDatabase {
    /// The Redshift database name.
    #[schemars(regex(pattern = patterns::REDSHIFT_IDENTIFIER))]
    pub name: String,
    /// The source database to replicate. Required for PostgreSQL sources (Aurora PostgreSQL, RDS PostgreSQL).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::SOURCE_DATABASE))]
    pub source_database: Option<String>,
}

/// Delete removes the AWS integration with the object; Retain leaves it in AWS.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum DeletionPolicy {
    #[default]
    Delete,
    Retain,
}

/// What the operator observed.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ZeroEtlIntegrationStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The AWS integration ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_arn: Option<String>,
    /// The integration id (the last part of the ARN), as used in SQL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integration_id: Option<String>,
    /// The AWS status: creating, active, modifying, failed, deleting, syncing or needs_attention.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<Interned>,
    /// The resolved source ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_arn: Option<String>,
    /// The resolved target namespace ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_arn: Option<Interned>,
    /// Errors AWS reports for the integration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<IntegrationError>,
    /// The destination database, once created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination_database: Option<String>,
    /// The immutable part of the spec the integration was created with or adopted under. A spec that differs
    /// asks for another integration, which the operator refuses (Stalled, ImmutableFieldChanged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_with: Option<ImmutableSpec>,
    /// With managementPolicy Plan: what Manage would do now, one action per entry, in words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub planned_actions: Vec<String>,
    /// Replication health as Redshift reports it (SVV_INTEGRATION), looked at now and then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replication: Option<ReplicationStatus>,
    /// Ready, Reconciling, Stalled and the step conditions.
    #[serde(default)]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
}

/// What Redshift reports about an integration's replication.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReplicationStatus {
    /// PendingDbConnectState, SchemaDiscoveryState, CdcRefreshState or ErrorState.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Replication lag in milliseconds, as read with the other figures. A lag that stays within its order
    /// of magnitude (under 1 s, 10 s, 1 min, 10 min) is not written again until the figures are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tables_replicated: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tables_failed: Option<i64>,
    /// Tables that failed, with Redshift's reason (at most 20 are listed).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_tables: Vec<FailedTable>,
    /// When these figures were read (RFC 3339). Refreshed when they change, and at most hourly while they
    /// stay the same.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checked_at: Option<String>,
}

/// A table Redshift failed to replicate.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct FailedTable {
    /// `schema.table`.
    pub table: String,
    #[serde(default)]
    pub reason: String,
}

/// An error AWS reports on an integration.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct IntegrationError {
    pub code: String,
    #[serde(default)]
    pub message: String,
}

/// The fields fixed at creation (AWS cannot change them in place).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ImmutableSpec {
    pub source: IntegrationSource,
    pub target: IntegrationTarget,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub additional_encryption_context: Option<BTreeMap<String, String>>,
}

impl ZeroEtlIntegrationSpec {
    /// The immutable part of this spec.
    pub fn immutable_part(&self) -> ImmutableSpec {
        ImmutableSpec {
            source: self.source.clone(),
            target: self.target.clone(),
            kms_key_id: self.kms_key_id.clone(),
            additional_encryption_context: self.additional_encryption_context.clone(),
        }
    }
}

impl ZeroEtlIntegration {
    /// The AWS integration name: spec.integrationName, else [`default_integration_name`] of the namespace and
    /// name.
    pub fn aws_name(&self) -> String {
        self.spec.integration_name.clone().unwrap_or_else(|| {
            default_integration_name(
                self.metadata.namespace.as_deref().unwrap_or_default(),
                self.metadata.name.as_deref().unwrap_or_default(),
            )
        })
    }
}

/// `<namespace>-<name>` as a valid AWS integration name. Integration names are unique per account and
/// region, and teams share accounts: two namespaces' `orders` must not collide. Characters AWS does not allow
/// become hyphens (never two in a row), a name that starts with a digit gets a `z`, and a name over 63
/// characters is cut to 54 plus a hyphen and 8 hex digits of a stable hash of the whole, so it stays unique.
pub fn default_integration_name(namespace: &str, name: &str) -> String {
    let whole = if namespace.is_empty() {
        name.to_string()
    } else {
        format!("{namespace}-{name}")
    };
    let mut out = String::with_capacity(whole.len() + 1);
    for c in whole.chars() {
        let c = if c.is_ascii_alphanumeric() { c } else { '-' };
        if c == '-' && (out.is_empty() || out.ends_with('-')) {
            continue;
        }
        out.push(c);
    }
    let mut out = out.trim_end_matches('-').to_string();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.insert(0, 'z');
    }
    if out.len() > 63 {
        let hash = whole.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let head = out[..54].trim_end_matches('-').to_string();
        out = format!("{head}-{:08x}", hash as u32);
    }
    out
}

fn immutable_string(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut s = <String as JsonSchema>::json_schema(generator);
    immutable(&mut s, "kmsKeyId is immutable");
    s.insert("pattern".into(), patterns::KMS_KEY.into());
    s.insert("nullable".into(), true.into());
    s
}

fn encryption_context_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "maxProperties": 6,
        "additionalProperties": {"type": "string"},
        "x-kubernetes-validations": [{"rule": "self == oldSelf", "message": "additionalEncryptionContext is immutable"}]
    })
}

fn tags_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "maxProperties": crate::validation::USER_TAG_LIMIT,
        "additionalProperties": {"type": "string", "maxLength": 256}
    })
}

#[cfg(test)]
mod name_tests {
    use super::default_integration_name;

    #[test]
    fn default_names_are_valid_unique_per_namespace_and_bounded() {
        assert_eq!(
            default_integration_name("team-a", "orders"),
            "team-a-orders"
        );
        assert_ne!(
            default_integration_name("team-a", "orders"),
            default_integration_name("team-b", "orders")
        );
        assert_eq!(
            default_integration_name("team-a", "orders.v2"),
            "team-a-orders-v2"
        );
        assert_eq!(default_integration_name("9lives", "x"), "z9lives-x");
        assert_eq!(default_integration_name("", "orders"), "orders");
        let long = default_integration_name(&"a".repeat(63), &"b".repeat(253));
        assert_eq!(long.len(), 63);
        assert_ne!(
            long,
            default_integration_name(&"a".repeat(63), &"c".repeat(253))
        );
        let pattern = regex::Regex::new(crate::patterns::INTEGRATION_NAME).unwrap();
        for n in ["team-a-orders", "z9lives-x", long.as_str()] {
            assert!(pattern.is_match(n), "{n}");
        }
    }
}
