//! The simulated world: accounts, regions and every resource, built from an [`Estate`] (`build.rs`).
//! Asynchronous lifecycles are lazy: an object in a transitional status carries `due` and a timer, and
//! [`World::advance`] (`advance.rs`) applies every transition whose time has come before each request is
//! served.

mod advance;
mod build;
mod integrations;
pub mod warehouse;

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::estate::ParameterGroupSeed;
use crate::params;

pub use advance::{Due, Timers};
pub use build::{aws_owned_key, default_workgroup_config};
pub use integrations::{Integration, IntegrationError, Integrations, Replication, TableState};
pub use warehouse::Warehouse;

pub type Tags = Vec<(String, String)>;

/// Tags appear in the state dump as a `{key: value}` object (they stay ordered pairs inside).
fn tags_as_map<S: serde::Serializer>(tags: &Tags, s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(tags.iter().map(|(k, v)| (k, v)))
}

/// A stable UUID-shaped id derived from names, so seeded ARNs are the same on every run.
pub fn stable_uuid(parts: &[&str]) -> String {
    let mut a = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut a);
    let hi = a.finish();
    let mut b = std::collections::hash_map::DefaultHasher::new();
    (parts, "salt").hash(&mut b);
    uuid::Uuid::from_u64_pair(hi, b.finish()).to_string()
}

pub fn random_id(prefix: &str, len: usize) -> String {
    use rand::Rng;
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut rng = rand::rng();
    let tail: String = (0..len)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect();
    format!("{prefix}{tail}")
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ParamGroup {
    pub name: String,
    pub family: String,
    pub description: String,
    pub parameters: BTreeMap<String, String>,
    /// Names the user changed (DescribeDBParameters `Source=user`).
    pub user_set: Vec<String>,
    pub is_default: bool,
    #[serde(serialize_with = "tags_as_map")]
    pub tags: Tags,
}

impl ParamGroup {
    pub fn new(name: &str, family: &str, description: Option<String>) -> Self {
        Self {
            name: name.to_string(),
            family: family.to_string(),
            description: description.unwrap_or_else(|| {
                if name.starts_with("default.") {
                    format!("Default parameter group for {family}")
                } else {
                    name.to_string()
                }
            }),
            parameters: params::default_values(family),
            user_set: Vec::new(),
            is_default: name.starts_with("default."),
            tags: Vec::new(),
        }
    }

    fn from_seed(seed: &ParameterGroupSeed) -> Self {
        let mut g = Self::new(&seed.name, &seed.family, seed.description.clone());
        for (k, v) in &seed.parameters {
            g.parameters.insert(k.clone(), v.clone());
            g.user_set.push(k.clone());
        }
        g.tags = seed
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        g
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DbInstance {
    pub id: String,
    pub arn: String,
    pub resource_id: String,
    pub engine: String,
    pub engine_version: String,
    pub instance_class: String,
    pub status: String,
    pub cluster: Option<String>,
    pub parameter_group: String,
    pub parameter_apply_status: String,
    /// Values in force (the in-sync parameter group as of the last reboot).
    pub effective_parameters: BTreeMap<String, String>,
    pub backup_retention_period: i64,
    pub db_name: Option<String>,
    pub port: i64,
    pub address: String,
    #[serde(serialize_with = "tags_as_map")]
    pub tags: Tags,
    /// Seeded `schema.table` names (what an integration from this source replicates).
    pub tables: Vec<String>,
    pub create_time: DateTime<Utc>,
    #[serde(skip)]
    pub due: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DbCluster {
    pub id: String,
    pub arn: String,
    pub resource_id: String,
    pub engine: String,
    pub engine_version: String,
    pub status: String,
    pub parameter_group: String,
    pub parameter_apply_status: String,
    pub effective_parameters: BTreeMap<String, String>,
    pub members: Vec<String>,
    pub database_name: Option<String>,
    pub backup_retention_period: i64,
    pub port: i64,
    pub address: String,
    pub reader_address: String,
    #[serde(serialize_with = "tags_as_map")]
    pub tags: Tags,
    /// Seeded `schema.table` names (what an integration from this source replicates).
    pub tables: Vec<String>,
    pub create_time: DateTime<Utc>,
    #[serde(skip)]
    pub due: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedshiftCluster {
    pub id: String,
    pub arn: String,
    pub namespace_arn: String,
    pub node_type: String,
    pub number_of_nodes: i64,
    pub encrypted: bool,
    pub kms_key_id: Option<String>,
    pub status: String,
    pub db_name: String,
    pub port: i64,
    pub address: String,
    pub master_username: String,
    pub parameter_group: String,
    pub parameter_apply_status: String,
    pub effective_parameters: BTreeMap<String, String>,
    pub iam_roles: Vec<String>,
    #[serde(serialize_with = "tags_as_map")]
    pub tags: Tags,
    pub create_time: DateTime<Utc>,
    #[serde(skip)]
    pub due: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Namespace {
    pub name: String,
    pub id: String,
    pub arn: String,
    pub db_name: String,
    pub admin_username: String,
    pub iam_roles: Vec<String>,
    pub default_iam_role_arn: Option<String>,
    pub kms_key_id: String,
    pub status: String,
    pub creation_date: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Workgroup {
    pub name: String,
    pub id: String,
    pub arn: String,
    pub namespace_name: String,
    pub port: i64,
    pub address: String,
    pub base_capacity: i64,
    pub config_parameters: BTreeMap<String, String>,
    pub status: String,
    pub creation_date: DateTime<Utc>,
    #[serde(skip)]
    pub due: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Bucket {
    pub name: String,
    pub region: String,
    pub creation_date: DateTime<Utc>,
    /// Objects in memory, by key (dumped without their bodies).
    pub objects: BTreeMap<String, S3Object>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Object {
    #[serde(skip)]
    pub body: Vec<u8>,
    pub size: usize,
    pub etag: String,
    pub content_type: String,
    pub last_modified: DateTime<Utc>,
}

fn redacted_sql<S: serde::Serializer>(sql: &str, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&redact_passwords(sql))
}

/// The SQL with every `PASSWORD '…'` literal replaced by `'***'`, so passwords never reach a dump or a
/// DescribeStatement answer.
pub fn redact_passwords(sql: &str) -> String {
    static PASSWORD: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    PASSWORD
        .get_or_init(|| {
            regex::Regex::new(r"(?i)(password\s*)'(?:[^']|'')*'?").expect("static regex")
        })
        .replace_all(sql, "${1}'***'")
        .into_owned()
}

/// A Data API statement. `due` is when it finishes; the SQL runs then.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    pub id: String,
    pub account: String,
    pub region: String,
    /// Dumped with password literals masked.
    #[serde(serialize_with = "redacted_sql")]
    pub sql: String,
    pub database: String,
    pub workgroup_name: Option<String>,
    pub cluster_identifier: Option<String>,
    pub db_user: Option<String>,
    pub secret_arn: Option<String>,
    pub namespace_arn: String,
    /// The database user the statement runs as.
    pub identity: String,
    /// Run by a session of a role whose IAM policies aws-sim enforces (a consumer, not a superuser).
    pub consumer: bool,
    pub status: String,
    pub error: Option<String>,
    pub has_result_set: bool,
    pub result_rows: i64,
    #[serde(skip)]
    pub result: Option<crate::sql::ResultSet>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    #[serde(skip)]
    pub due: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Region {
    pub db_instances: BTreeMap<String, DbInstance>,
    pub db_clusters: BTreeMap<String, DbCluster>,
    pub db_parameter_groups: BTreeMap<String, ParamGroup>,
    pub db_cluster_parameter_groups: BTreeMap<String, ParamGroup>,
    /// Keyed by integration ARN (the pagination order), indexed by name, id and source/target pair.
    pub integrations: Integrations,
    pub redshift_clusters: BTreeMap<String, RedshiftCluster>,
    pub cluster_parameter_groups: BTreeMap<String, ParamGroup>,
    pub serverless_namespaces: BTreeMap<String, Namespace>,
    pub workgroups: BTreeMap<String, Workgroup>,
    pub resource_policies: BTreeMap<String, String>,
    /// Namespace ARN → databases created by SQL or seeded, besides the initial one (a summary of
    /// `warehouses`, kept for callers of the earlier dump).
    pub databases: BTreeMap<String, Vec<String>>,
    /// Namespace ARN → users created by SQL (summary of `warehouses`).
    pub db_users: BTreeMap<String, Vec<String>>,
    /// Namespace ARN → the text of every GRANT that succeeded (summary of `warehouses`).
    pub grants: BTreeMap<String, Vec<String>>,
    /// Namespace ARN → users, databases, schemas, tables and privileges of the warehouses in this region.
    pub warehouses: BTreeMap<String, Warehouse>,
    pub buckets: BTreeMap<String, Bucket>,
    pub statements: BTreeMap<String, Statement>,
    /// Finished statements in finishing order, so the old ones can be dropped cheaply.
    #[serde(skip)]
    pub finished_statements: std::collections::VecDeque<(DateTime<Utc>, String)>,
}

/// How long a finished statement stays describable (the real Data API keeps results for 24 hours; a
/// shorter window bounds memory in long benchmarks).
pub const STATEMENT_RETENTION: chrono::Duration = chrono::Duration::minutes(10);

impl Region {
    /// Forget statements that finished more than [`STATEMENT_RETENTION`] before `now`.
    pub fn drop_old_statements(&mut self, now: DateTime<Utc>) {
        while let Some((finished, _)) = self.finished_statements.front() {
            if now - *finished <= STATEMENT_RETENTION {
                break;
            }
            if let Some((_, id)) = self.finished_statements.pop_front() {
                self.statements.remove(&id);
            }
        }
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessKey {
    pub access_key_id: String,
    #[serde(skip)]
    pub secret_access_key: String,
    pub user_name: String,
    pub deny: Vec<String>,
    /// When set, the only allow policy of this key (see `crate::authz`).
    pub policy: Option<serde_json::Value>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Role {
    pub name: String,
    pub id: String,
    pub arn: String,
    pub path: String,
    pub description: Option<String>,
    pub trust_policy: String,
    pub max_session_duration: i64,
    pub inline_policies: BTreeMap<String, String>,
    #[serde(serialize_with = "tags_as_map")]
    pub tags: Tags,
    pub deny: Vec<String>,
    /// Sessions may do only what the inline policies allow.
    pub enforce_policies: bool,
    pub create_date: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KmsKey {
    pub id: String,
    pub arn: String,
    pub region: String,
    pub aliases: Vec<String>,
    pub description: String,
    pub creation_date: DateTime<Utc>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub id: String,
    pub name: String,
    pub access_keys: Vec<AccessKey>,
    pub integration_quota: usize,
    pub roles: BTreeMap<String, Role>,
    pub kms_keys: BTreeMap<String, KmsKey>,
    pub regions: BTreeMap<String, Region>,
}

/// Temporary credentials issued by AssumeRole.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub access_key_id: String,
    pub account: String,
    pub role_name: String,
    pub role_arn: String,
    pub session_name: String,
    pub assumed_role_id: String,
    pub expiration: DateTime<Utc>,
}

/// Which warehouse a Redshift namespace ARN belongs to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WarehouseKind {
    /// A serverless namespace, by name.
    Serverless(String),
    /// A provisioned cluster, by identifier.
    Provisioned(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WarehouseRef {
    pub account: String,
    pub region: String,
    pub warehouse: WarehouseKind,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct World {
    pub accounts: BTreeMap<String, Account>,
    pub sessions: HashMap<String, Session>,
    /// Pending transitions in due order, so that `advance` visits only what is due.
    #[serde(skip)]
    pub timers: Timers,
    /// Every namespace ARN (serverless and provisioned) → where its warehouse lives.
    #[serde(skip)]
    pub warehouses: HashMap<String, WarehouseRef>,
}

pub fn instance_address(id: &str, account: &str, region: &str) -> String {
    format!(
        "{id}.c{}.{region}.rds.amazonaws.com",
        &stable_uuid(&[account, region])[..12]
    )
}

impl World {
    pub fn region_mut(&mut self, account: &str, region: &str) -> &mut Region {
        self.accounts
            .get_mut(account)
            .expect("caller account exists")
            .regions
            .entry(region.to_string())
            .or_default()
    }

    pub fn region(&self, account: &str, region: &str) -> Option<&Region> {
        self.accounts.get(account)?.regions.get(region)
    }

    /// Find an integration by name (within one account-region), id or ARN.
    pub fn find_integration(&self, account: &str, region: &str, key: &str) -> Option<&Integration> {
        self.region(account, region)?.integrations.find(key)
    }

    /// The integration with this id in any account and region (for SQL on the target side).
    pub fn integration_by_id(&self, id: &str) -> Option<&Integration> {
        self.accounts
            .values()
            .flat_map(|a| a.regions.values())
            .find_map(|r| r.integrations.by_id(id))
    }

    /// Resolve a Redshift namespace ARN (provisioned or serverless) to (account, region).
    pub fn namespace_location(&self, arn: &str) -> Option<(String, String)> {
        self.warehouses
            .get(arn)
            .map(|w| (w.account.clone(), w.region.clone()))
    }

    /// The serverless namespace or provisioned cluster behind a namespace ARN.
    pub fn warehouse(&self, arn: &str) -> Option<&WarehouseRef> {
        self.warehouses.get(arn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_statements_are_dropped_after_the_retention() {
        let mut r = Region::default();
        let t0 = Utc::now();
        for (k, id) in ["old", "recent"].iter().enumerate() {
            let at = t0 + chrono::Duration::minutes(5 * k as i64);
            r.statements.insert(
                id.to_string(),
                Statement {
                    id: id.to_string(),
                    account: "111111111111".into(),
                    region: "us-east-1".into(),
                    sql: "SELECT 1".into(),
                    database: "dev".into(),
                    workgroup_name: None,
                    cluster_identifier: None,
                    db_user: None,
                    secret_arn: None,
                    namespace_arn: String::new(),
                    identity: "admin".into(),
                    consumer: false,
                    status: "FINISHED".into(),
                    error: None,
                    has_result_set: true,
                    result_rows: 1,
                    result: None,
                    created_at: at,
                    updated_at: at,
                    due: None,
                },
            );
            r.finished_statements.push_back((at, id.to_string()));
        }
        r.drop_old_statements(t0 + STATEMENT_RETENTION);
        assert_eq!(r.statements.len(), 2, "exactly at the retention: kept");
        r.drop_old_statements(t0 + STATEMENT_RETENTION + chrono::Duration::seconds(1));
        assert_eq!(r.statements.keys().collect::<Vec<_>>(), vec!["recent"]);
        assert_eq!(r.finished_statements.len(), 1);
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact_passwords(
                "CREATE USER u PASSWORD 'Sec''ret1' CREATEDB; alter user v password 'X'"
            ),
            "CREATE USER u PASSWORD '***' CREATEDB; alter user v password '***'"
        );
        assert_eq!(
            redact_passwords("CREATE USER u PASSWORD DISABLE"),
            "CREATE USER u PASSWORD DISABLE"
        );
    }
}
