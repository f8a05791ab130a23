//! The seed format: an AWS estate described in YAML or JSON (camelCase keys).

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct Estate {
    pub accounts: Vec<AccountSeed>,
}

impl Estate {
    pub fn from_yaml_str(text: &str) -> anyhow::Result<Self> {
        Ok(serde_yaml::from_str(text)?)
    }

    pub fn from_yaml_file(path: impl AsRef<Path>) -> anyhow::Result<Self> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("reading estate {}: {e}", path.display()))?;
        Self::from_yaml_str(&text)
            .map_err(|e| anyhow::anyhow!("parsing estate {}: {e}", path.display()))
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct AccountSeed {
    pub id: String,
    pub name: String,
    pub access_keys: Vec<AccessKeySeed>,
    /// Integrations allowed per region (AWS default quota: 100).
    pub integration_quota: Option<usize>,
    pub roles: Vec<RoleSeed>,
    pub kms_keys: Vec<KmsKeySeed>,
    pub regions: BTreeMap<String, RegionSeed>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct AccessKeySeed {
    pub access_key_id: String,
    pub secret_access_key: String,
    /// IAM user the key belongs to (principal `arn:aws:iam::<acct>:user/<userName>`); default `sim-user`.
    pub user_name: Option<String>,
    /// Actions this principal is denied, e.g. `rds:CreateIntegration`, `rds:*`, `*`.
    pub deny: Vec<String>,
    /// An IAM policy document (YAML/JSON object or JSON string): when set, the key may do only what it
    /// allows (identity-policy evaluation for every service).
    pub policy: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct RoleSeed {
    pub name: String,
    pub path: Option<String>,
    pub description: Option<String>,
    /// The trust policy as a JSON object (YAML maps are fine).
    pub trust_policy: serde_json::Value,
    /// Inline policies by name.
    pub inline_policies: BTreeMap<String, serde_json::Value>,
    pub tags: BTreeMap<String, String>,
    /// Actions denied to sessions of this role.
    pub deny: Vec<String>,
    /// Sessions of this role may do only what its inline policies allow (roles made by CreateRole always are).
    pub enforce_policies: bool,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct KmsKeySeed {
    pub id: Option<String>,
    pub region: Option<String>,
    pub aliases: Vec<String>,
    pub description: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct RegionSeed {
    pub db_clusters: Vec<DbClusterSeed>,
    pub db_instances: Vec<DbInstanceSeed>,
    pub db_parameter_groups: Vec<ParameterGroupSeed>,
    pub db_cluster_parameter_groups: Vec<ParameterGroupSeed>,
    pub redshift_clusters: Vec<RedshiftClusterSeed>,
    pub cluster_parameter_groups: Vec<ParameterGroupSeed>,
    pub serverless_namespaces: Vec<NamespaceSeed>,
    pub workgroups: Vec<WorkgroupSeed>,
    /// Namespace name (serverless), cluster identifier (provisioned) or namespace ARN → policy JSON.
    pub resource_policies: BTreeMap<String, serde_json::Value>,
    pub buckets: Vec<BucketSeed>,
    pub integrations: Vec<IntegrationSeed>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct ParameterGroupSeed {
    pub name: String,
    pub family: String,
    pub description: Option<String>,
    /// Values that differ from the family defaults.
    pub parameters: BTreeMap<String, String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct DbClusterSeed {
    pub id: String,
    pub engine: String,
    pub engine_version: String,
    /// Cluster parameter group; default `default.<family>`.
    pub parameter_group: Option<String>,
    pub database_name: Option<String>,
    pub backup_retention_period: Option<i64>,
    pub tags: BTreeMap<String, String>,
    /// Tables the source holds, as `schema.table` (for MySQL the schema is the source database). A
    /// database created from an integration of this source gets them, and they count as replicated.
    pub tables: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct DbInstanceSeed {
    pub id: String,
    pub engine: Option<String>,
    pub engine_version: Option<String>,
    pub instance_class: Option<String>,
    /// Member of this cluster (Aurora); the first member listed is the writer.
    pub cluster: Option<String>,
    /// DB parameter group; default `default.<family>`.
    pub parameter_group: Option<String>,
    pub db_name: Option<String>,
    pub backup_retention_period: Option<i64>,
    pub tags: BTreeMap<String, String>,
    /// Tables the source holds, as `schema.table` (see [`DbClusterSeed::tables`]).
    pub tables: Vec<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct RedshiftClusterSeed {
    pub id: String,
    pub namespace_id: Option<String>,
    pub node_type: Option<String>,
    pub number_of_nodes: Option<i64>,
    pub encrypted: Option<bool>,
    pub kms_key_id: Option<String>,
    pub db_name: Option<String>,
    pub port: Option<i64>,
    pub master_username: Option<String>,
    /// Cluster parameter group; default `default.redshift-2.0`.
    pub parameter_group: Option<String>,
    pub iam_roles: Vec<String>,
    pub tags: BTreeMap<String, String>,
    /// Databases and their tables (`{dev: {schemas: {public: [orders]}}}`); the initial database always exists.
    pub databases: BTreeMap<String, DatabaseSeed>,
}

/// A warehouse database: schema name → table names.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct DatabaseSeed {
    pub schemas: BTreeMap<String, Vec<String>>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct NamespaceSeed {
    pub name: String,
    pub id: Option<String>,
    pub db_name: Option<String>,
    pub admin_username: Option<String>,
    pub iam_roles: Vec<String>,
    pub default_iam_role_arn: Option<String>,
    pub kms_key_id: Option<String>,
    /// Databases and their tables, as on a provisioned cluster.
    pub databases: BTreeMap<String, DatabaseSeed>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct WorkgroupSeed {
    pub name: String,
    pub namespace: String,
    pub id: Option<String>,
    pub port: Option<i64>,
    pub base_capacity: Option<i64>,
    pub config_parameters: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct BucketSeed {
    pub name: String,
}

/// A pre-existing integration (status `active` unless given).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase", default)]
pub struct IntegrationSeed {
    pub name: String,
    pub id: Option<String>,
    pub source_arn: String,
    pub target_arn: String,
    pub status: Option<String>,
    pub data_filter: Option<String>,
    pub description: Option<String>,
    pub tags: BTreeMap<String, String>,
}
