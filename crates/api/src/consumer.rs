//! The `RedshiftConsumer` custom resource: access to a warehouse for one data tool (an ETL or reverse-ETL
//! service, a BI connector, a masking tool). The operator provisions what the tool's vendor page asks a
//! platform engineer to do by hand — an IAM role the tool assumes with an external id, its permissions, a
//! database user and its grants — verifies it as the tool would, publishes the coordinates, and takes it all
//! away again.
//!
//! Why a kind of its own rather than a field of RedshiftConnection: one warehouse serves many tools, each with
//! its own role, user, grants, Secret and deletion policy; a platform team owns the connection while an app
//! team requests access, and RBAC can grant the one without the other.

use crate::conditions::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::integration::{DeletionPolicy, LocalObjectRef};
use crate::patterns;
use crate::schema::conditions_schema;

/// The longest IAM role name AWS accepts.
pub const ROLE_NAME_MAX: usize = 64;
/// The session duration AWS gives a role unless told otherwise, and the bounds it accepts.
pub const DEFAULT_MAX_SESSION_SECONDS: i32 = 3600;
pub const MAX_SESSION_SECONDS_RANGE: std::ops::RangeInclusive<i32> = 3600..=43200;

/// Declares a data tool's access to the warehouse of a RedshiftConnection: an IAM role it assumes, the
/// permissions of that role, a database user and its grants. The operator creates them, verifies them as the
/// tool would (assuming the role with the external id), publishes the role ARN and external id, and removes
/// them when the object is deleted (deletionPolicy Delete) or leaves them (Retain).
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "zeroetl.dev",
    version = "v1alpha1",
    kind = "RedshiftConsumer",
    namespaced,
    doc = "A data tool's access to a Redshift warehouse: IAM role, permissions, database user and grants.",
    status = "RedshiftConsumerStatus",
    shortname = "rscon",
    category = "zeroetl",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Connection","type":"string","jsonPath":".spec.connectionRef.name"}"#,
    printcolumn = r#"{"name":"User","type":"string","jsonPath":".status.databaseUser.name"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Role","type":"string","jsonPath":".status.roleArn","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "has(self.role) || has(self.databaseUser)", "message": "set role, databaseUser or both"}
]))]
pub struct RedshiftConsumerSpec {
    /// A RedshiftConnection in this namespace: the warehouse, its region, and the identity the operator uses
    /// for IAM calls and SQL. The consumer waits while it is missing or not Ready.
    pub connection_ref: LocalObjectRef,

    /// The IAM role the tool assumes. Absent: no role (a password user only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<ConsumerRole>,

    /// The database user the tool logs in as, and its grants. Absent: no user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_user: Option<DatabaseUser>,

    /// The Secret (in this namespace, owned by this object) the coordinates are published into: the
    /// connection's host, port, database, jdbcUrl, region, namespaceArn, workgroup or cluster, plus roleArn,
    /// externalId, username and the staging bucket. Never a password. Default `<metadata.name>-access`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_secret: Option<LocalObjectRef>,

    /// What happens to the role and the user when this object is deleted: Delete (default) revokes every
    /// grant, drops the user and deletes the role (only what this object created or adopted); Retain leaves
    /// them.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

/// An IAM role in the warehouse's account that a tool assumes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConsumerRole {
    /// The role name. Default `zeroetl-<namespace>-<name>` (shortened with a hash past 64 characters), which
    /// the operator's shipped IAM policy lets it manage and assume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64), regex(pattern = patterns::IAM_ROLE_NAME))]
    pub name: Option<String>,

    /// Who may assume the role: the tool vendor's 12-digit AWS account id (any principal of that account),
    /// or an IAM ARN (`arn:aws:iam::ACCOUNT:root`, `…:role/NAME`, `…:user/NAME`).
    #[schemars(regex(pattern = patterns::TRUSTED_PRINCIPAL))]
    pub trusted_principal: String,

    /// The `sts:ExternalId` the trust policy requires. Absent: the operator generates a random one once and
    /// publishes it (Secret and status.externalId) for you to enter in the tool.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 1224), regex(pattern = patterns::EXTERNAL_ID))]
    pub external_id: Option<String>,

    /// The longest session the tool may ask for, 3600–43200 seconds. Default 3600.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "session_seconds_schema")]
    pub max_session_duration_seconds: Option<i32>,

    /// Whether the operator's own identity may assume the role too (with the same external id), so that it
    /// can verify the access as the tool would get it. Default true. False: Ready means "provisioned" and the
    /// Verified condition says verification was skipped.
    #[serde(default = "yes")]
    pub trust_operator: bool,

    /// What the role may do.
    #[serde(default)]
    pub permissions: RolePermissions,
}

fn yes() -> bool {
    true
}

// Written out: JSON-schema bounds render as floats (3600.0), which kustomize rewrites as integers, so the
// two packagings of the CRD would differ; the range is a CEL rule here and in the operator's validation.
fn session_seconds_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "integer", "format": "int32", "nullable": true,
        "description": "The longest session the tool may ask for, 3600–43200 seconds. Default 3600.",
        "x-kubernetes-validations": [{"rule": "self >= 3600 && self <= 43200", "message": "must be 3600–43200"}]
    })
}

/// The permission sets the role gets, each an inline policy scoped to this warehouse, bucket or key.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RolePermissions {
    /// Run queries through the Redshift Data API on this warehouse only (ExecuteStatement, statement results,
    /// database/schema/table listing). Implies temporaryCredentials, which the Data API needs.
    #[serde(default)]
    pub data_api: bool,
    /// Obtain temporary database credentials for this warehouse and describe it (what JDBC/ODBC drivers with
    /// IAM authentication do).
    #[serde(default)]
    pub temporary_credentials: bool,
    /// Read, write and list objects in an S3 staging bucket and prefix (COPY/UNLOAD staging).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staging: Option<StagingAccess>,
    /// Let Redshift itself assume the role (trust for redshift.amazonaws.com), so that UNLOAD and COPY can
    /// name it in IAM_ROLE. Redshift also needs the role attached to the warehouse, which stays the warehouse
    /// owner's decision; verification reports it when it is not.
    #[serde(default)]
    pub redshift_may_assume: bool,
}

/// An S3 staging area the role may use.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct StagingAccess {
    /// The bucket, in the warehouse's region.
    #[schemars(regex(pattern = patterns::S3_BUCKET))]
    pub bucket: String,
    /// The key prefix the role is limited to (e.g. `unload/polytomic/`). Absent: the whole bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024), regex(pattern = patterns::S3_PREFIX))]
    pub prefix: Option<String>,
    /// The ARN of the KMS key the bucket encrypts with (SSE-KMS): the role may Encrypt, Decrypt,
    /// GenerateDataKey and DescribeKey with it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::KMS_KEY_ARN))]
    pub kms_key_arn: Option<String>,
}

/// A database user and its grants.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "!has(self.authentication) || self.authentication != 'Password' || has(self.name)",
     "message": "a Password user needs a name"}
]))]
pub struct DatabaseUser {
    /// The user name, used exactly as written (quoted). Default, with a role on a serverless warehouse:
    /// `IAMR:<role name>`, the user Redshift Serverless maps the role's temporary credentials to. Required
    /// otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 127), regex(pattern = patterns::CONSUMER_DB_USER))]
    pub name: Option<String>,

    /// How the user logs in. Iam (default): `PASSWORD DISABLE`, temporary IAM credentials only. Password: a
    /// password the operator generates into the Secret `<metadata.name>-password` (owned by this object,
    /// never the coordinates Secret) and replaces whenever the annotation `zeroetl.dev/rotate-password`
    /// changes value.
    #[serde(default)]
    pub authentication: UserAuthentication,

    /// The privileges the user holds: exactly these. A grant removed from the list is revoked, and so is any
    /// other privilege the user holds in the databases the list names.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grants: Vec<Grant>,
}

/// How a database user logs in.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum UserAuthentication {
    /// Temporary IAM credentials only (`PASSWORD DISABLE`).
    #[default]
    Iam,
    /// A generated password, in the Secret `<metadata.name>-password`.
    Password,
}

/// One privilege. `database` is where it applies: the database whose schema is meant, or the database
/// itself for the Database* types; default the connection's database.
#[derive(
    Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {"rule": "(self.type in ['SchemaUsage', 'SelectAllTables', 'SelectFutureTables', 'SchemaDrop']) == has(self.schema)",
     "message": "schema is required for SchemaUsage, SelectAllTables, SelectFutureTables and SchemaDrop, and allowed only there"},
    {"rule": "(self.type == 'SelectSystemView') == has(self.view)",
     "message": "view is required for SelectSystemView, and allowed only there"}
]))]
pub struct Grant {
    /// SchemaUsage (`GRANT USAGE ON SCHEMA`), SelectAllTables (`GRANT SELECT ON ALL TABLES IN SCHEMA`: the
    /// tables that exist, re-granted when new ones appear), SelectFutureTables (`ALTER DEFAULT PRIVILEGES IN
    /// SCHEMA … GRANT SELECT ON TABLES`), SelectSystemView (`GRANT SELECT ON pg_catalog.<view>`),
    /// DatabaseTemporary (`GRANT TEMPORARY ON DATABASE`), DatabaseCreate (`GRANT CREATE ON DATABASE`),
    /// SchemaDrop (`GRANT DROP ON SCHEMA`).
    #[serde(rename = "type")]
    pub type_: GrantType,
    /// The schema, for the Schema* and Select*Tables types.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::SQL_OBJECT_NAME))]
    pub schema: Option<String>,
    /// The system view in pg_catalog, for SelectSystemView (e.g. svv_table_info).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::SQL_OBJECT_NAME))]
    pub view: Option<String>,
    /// The database. Default: the connection's database.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::SQL_OBJECT_NAME))]
    pub database: Option<String>,
}

/// The kinds of privilege a consumer may be granted.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, JsonSchema,
)]
pub enum GrantType {
    SchemaUsage,
    SelectAllTables,
    SelectFutureTables,
    SelectSystemView,
    DatabaseTemporary,
    DatabaseCreate,
    SchemaDrop,
}

impl GrantType {
    /// Whether the grant names a schema.
    pub fn on_schema(self) -> bool {
        matches!(
            self,
            GrantType::SchemaUsage
                | GrantType::SelectAllTables
                | GrantType::SelectFutureTables
                | GrantType::SchemaDrop
        )
    }
}

/// What the operator observed and manages.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedshiftConsumerStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The role this object manages (created, or adopted with the zeroetl.dev/adopt annotation).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// The external id the role's trust policy requires (spec.role.externalId, or the generated one). Not a
    /// secret: the tool's vendor shows it to you; it only makes the role unusable by others who know its ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The database user this object manages (created, or adopted with the zeroetl.dev/adopt annotation).
    /// Redshift users carry no tags, so this is how the operator knows a user is its own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_user: Option<ManagedUser>,
    /// The databases grants were applied in, so that grants in a database no longer named are still revoked.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grant_databases: Vec<String>,
    /// The last value of the zeroetl.dev/rotate-password annotation that was acted on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_rotation: Option<String>,
    /// When the access was last verified as the consumer role.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_verified_time: Option<String>,
    /// Ready, Reconciling, Stalled and the step conditions.
    #[serde(default)]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
}

/// A database user this object manages.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ManagedUser {
    pub name: String,
    /// How it was last set to log in.
    pub authentication: UserAuthentication,
}

impl RedshiftConsumer {
    /// The IAM role name: spec.role.name, else `zeroetl-<namespace>-<name>`, shortened to 64 characters with
    /// a stable hash of the full name when longer.
    pub fn role_name(&self) -> Option<String> {
        let role = self.spec.role.as_ref()?;
        if let Some(name) = &role.name {
            return Some(name.clone());
        }
        let namespace = self.metadata.namespace.as_deref().unwrap_or_default();
        let name = self.metadata.name.as_deref().unwrap_or_default();
        let full = format!("zeroetl-{namespace}-{name}");
        if full.len() <= ROLE_NAME_MAX {
            return Some(full);
        }
        // Kubernetes names are ASCII, so byte slicing is safe.
        let hash = format!("{:08x}", fnv1a(full.as_bytes()) as u32);
        Some(format!("{}-{hash}", &full[..ROLE_NAME_MAX - 9]))
    }

    /// The coordinates Secret: spec.connectionSecret.name, else `<metadata.name>-access`.
    pub fn connection_secret_name(&self) -> String {
        self.spec
            .connection_secret
            .as_ref()
            .map(|s| s.name.clone())
            .unwrap_or_else(|| {
                format!(
                    "{}-access",
                    self.metadata.name.as_deref().unwrap_or_default()
                )
            })
    }

    /// The Secret a Password user's password lives in: `<metadata.name>-password`.
    pub fn password_secret_name(&self) -> String {
        format!(
            "{}-password",
            self.metadata.name.as_deref().unwrap_or_default()
        )
    }
}

/// FNV-1a: a stable hash (std's hasher may change between Rust releases; a role name must not).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consumer(namespace: &str, name: &str) -> RedshiftConsumer {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "zeroetl.dev/v1alpha1", "kind": "RedshiftConsumer",
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"connectionRef": {"name": "analytics"}, "role": {"trustedPrincipal": "568237466542"}},
        }))
        .unwrap()
    }

    #[test]
    fn role_names_default_to_the_object_and_stay_within_64_characters() {
        let short = consumer("team-a", "polytomic");
        assert_eq!(
            short.role_name().as_deref(),
            Some("zeroetl-team-a-polytomic")
        );
        assert!(short.spec.role.as_ref().unwrap().trust_operator);
        let long = consumer(
            "a-very-long-namespace-name-for-the-data-team",
            "reverse-etl-to-salesforce",
        );
        let name = long.role_name().unwrap();
        assert_eq!(name.len(), 64);
        assert!(name.starts_with("zeroetl-a-very-long-namespace"));
        assert_eq!(long.role_name().unwrap(), name, "stable");
        let other = consumer(
            "a-very-long-namespace-name-for-the-data-team",
            "reverse-etl-to-salesforce-2",
        );
        assert_ne!(
            other.role_name().unwrap(),
            name,
            "the hash tells them apart"
        );
        assert_eq!(short.connection_secret_name(), "polytomic-access");
        assert_eq!(short.password_secret_name(), "polytomic-password");
    }
}
