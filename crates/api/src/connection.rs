//! The `RedshiftConnection` custom resource: a verified connection to a Redshift warehouse, published for
//! consumers as a Secret of coordinates (never credentials), and the target a ZeroEtlIntegration refers to.

use crate::conditions::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::integration::LocalObjectRef;
use crate::patterns;
use crate::schema::conditions_schema;

/// Declares a connection to an Amazon Redshift warehouse (Serverless workgroup or provisioned cluster). The
/// operator proves it works (identity, temporary database credentials, Data API, staging bucket, case
/// sensitivity) and publishes its coordinates.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "zeroetl.dev",
    version = "v1alpha1",
    kind = "RedshiftConnection",
    namespaced,
    doc = "A verified connection to an Amazon Redshift warehouse, published for consumers.",
    status = "RedshiftConnectionStatus",
    shortname = "rsc",
    category = "zeroetl",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Kind","type":"string","jsonPath":".status.kind"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Endpoint","type":"string","jsonPath":".status.endpoint.address"}"#,
    printcolumn = r#"{"name":"Message","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].message","priority":1}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("oneOf" = [{"required": ["serverless"]}, {"required": ["provisioned"]}]))]
pub struct RedshiftConnectionSpec {
    /// The warehouse's AWS region. Defaults to the operator's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::REGION))]
    pub region: Option<String>,

    /// A Redshift Serverless warehouse. Exactly one of serverless, provisioned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serverless: Option<ServerlessWarehouse>,

    /// A provisioned Redshift cluster. Exactly one of serverless, provisioned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provisioned: Option<ProvisionedWarehouse>,

    /// The database clients connect to (e.g. dev).
    #[schemars(regex(pattern = patterns::REDSHIFT_IDENTIFIER))]
    pub database: String,

    /// The AWS identity the operator uses for this warehouse. Absent: the operator's own identity.
    #[serde(default)]
    pub auth: ConnectionAuth,

    /// TLS for JDBC clients: require (default) or verifyFull (also verifies the server certificate and host).
    #[serde(default)]
    pub ssl: SslMode,

    /// The S3 staging area for COPY/UNLOAD, in the warehouse's region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staging: Option<Staging>,

    /// `enable_case_sensitive_identifier`, which zero-ETL needs: Verify (default) reports it, Fix turns it on,
    /// Ignore skips the check.
    #[serde(default)]
    pub case_sensitive_identifiers: CaseSensitivityMode,

    /// A Secret (in this namespace, owned by this object) to publish the coordinates into: host, port,
    /// database, jdbcUrl, region, namespaceArn, workgroup or cluster, role ARNs. Never credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_secret: Option<LocalObjectRef>,

    /// Manage (default): verify, and fix case sensitivity when asked. ObserveOnly: verify and report, never
    /// change AWS. Plan: verify and write what Manage would change to status.plannedActions.
    #[serde(default)]
    pub management_policy: crate::integration::ManagementPolicy,
}

/// A Redshift Serverless workgroup (its namespace is the zero-ETL target).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ServerlessWarehouse {
    /// The workgroup name.
    #[schemars(regex(pattern = patterns::WORKGROUP_NAME))]
    pub workgroup_name: String,
}

/// A provisioned Redshift cluster (RA3; encrypted for zero-ETL).
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ProvisionedWarehouse {
    /// The cluster identifier.
    #[schemars(regex(pattern = patterns::CLUSTER_IDENTIFIER))]
    pub cluster_identifier: String,
}

/// How the operator authenticates to AWS and to the database for this connection.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionAuth {
    /// Assume this IAM role (typically cross-account) from the operator's identity. At most one of
    /// assumeRole, accessKeySecretRef.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assume_role: Option<AssumeRole>,
    /// A Secret in this namespace holding an access key pair (keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY
    /// unless named otherwise). At most one of assumeRole, accessKeySecretRef.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_secret_ref: Option<AccessKeySecretRef>,
    /// The database user for temporary credentials (GetClusterCredentials on provisioned clusters). Absent:
    /// the IAM identity is mapped to a database user (serverless GetCredentials).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::DB_USER))]
    pub db_user: Option<String>,
    /// A Secrets Manager secret the Data API uses instead of temporary credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::SECRETS_MANAGER_ARN))]
    pub secret_arn: Option<String>,
}

/// An IAM role to assume.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssumeRole {
    /// The role ARN, e.g. arn:aws:iam::222222222222:role/zeroetl-connector.
    #[schemars(regex(pattern = patterns::IAM_ROLE_ARN))]
    pub role_arn: String,
    /// The external id the role's trust policy requires (sts:ExternalId). Not a secret, but not logged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 2, max = 1224), regex(pattern = patterns::EXTERNAL_ID))]
    pub external_id: Option<String>,
}

/// A Secret holding an AWS access key pair.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessKeySecretRef {
    /// The Secret's name, in this object's namespace.
    #[schemars(regex(pattern = patterns::DNS_SUBDOMAIN))]
    pub name: String,
    /// The key holding the access key id. Default AWS_ACCESS_KEY_ID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id_key: Option<String>,
    /// The key holding the secret access key. Default AWS_SECRET_ACCESS_KEY.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_access_key_key: Option<String>,
}

/// TLS mode for JDBC clients.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum SslMode {
    /// Encrypt; do not verify the certificate (`ssl=true&sslmode=require`).
    #[default]
    Require,
    /// Encrypt and verify the certificate and host name (`ssl=true&sslmode=verify-full`).
    VerifyFull,
}

/// What to do about `enable_case_sensitive_identifier`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, JsonSchema)]
pub enum CaseSensitivityMode {
    #[default]
    Verify,
    Fix,
    Ignore,
}

/// An S3 staging area for COPY/UNLOAD.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Staging {
    /// The bucket, in the warehouse's region.
    #[schemars(regex(pattern = patterns::S3_BUCKET))]
    pub bucket: String,
    /// A key prefix inside the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 1024))]
    pub prefix: Option<String>,
    /// A role redshift.amazonaws.com can assume, attached to the cluster or namespace.
    #[schemars(regex(pattern = patterns::IAM_ROLE_ARN))]
    pub iam_role_arn: String,
    /// The KMS key for staged objects, if the bucket uses SSE-KMS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = patterns::KMS_KEY))]
    pub kms_key_id: Option<String>,
}

/// Provisioned or serverless.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum WarehouseKindName {
    Serverless,
    Provisioned,
}

/// A network endpoint.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct Endpoint {
    pub address: String,
    pub port: i32,
}

/// What the operator observed.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedshiftConnectionStatus {
    /// The generation of the spec this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Serverless or Provisioned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "warehouse_kind_schema")]
    pub kind: Option<WarehouseKindName>,
    /// The warehouse endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Endpoint>,
    /// The namespace ARN: the zero-ETL target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace_arn: Option<String>,
    /// The JDBC URL clients use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jdbc_url: Option<String>,
    /// Whether enable_case_sensitive_identifier is on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_sensitive: Option<bool>,
    /// When the connection was last verified end to end (written at most hourly; a verification in between
    /// costs no status write).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_verified_time: Option<String>,
    /// With managementPolicy Plan: what Manage would change now, in words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub planned_actions: Vec<String>,
    /// Ready, Reconciling, Stalled and the step conditions.
    #[serde(default)]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
}

impl RedshiftConnectionSpec {
    /// The JDBC URL for an endpoint, with TLS properties per `ssl`.
    pub fn jdbc_url(&self, endpoint: &Endpoint) -> String {
        let sslmode = match self.ssl {
            SslMode::Require => "require",
            SslMode::VerifyFull => "verify-full",
        };
        format!(
            "jdbc:redshift://{}:{}/{}?ssl=true&sslmode={sslmode}",
            endpoint.address, endpoint.port, self.database
        )
    }
}

// Written out because the derived schema of an optional enum lists `null` among the enum values, which
// Kubernetes 1.20 cannot decode (the whole CRD is then rejected with a misleading error).
fn warehouse_kind_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({"type": "string", "enum": ["Serverless", "Provisioned"], "nullable": true, "description": "Serverless or Provisioned."})
}
