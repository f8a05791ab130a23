//! The simulated world: accounts, regions and every resource, built from an [`Estate`]. Asynchronous
//! lifecycles are lazy: an object in a transitional status carries `due`, and [`World::advance`] applies
//! every transition whose time has come before each request is served.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::estate::{Estate, ParameterGroupSeed};
use crate::params;

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
        }
    }

    fn from_seed(seed: &ParameterGroupSeed) -> Self {
        let mut g = Self::new(&seed.name, &seed.family, seed.description.clone());
        for (k, v) in &seed.parameters {
            g.parameters.insert(k.clone(), v.clone());
            g.user_set.push(k.clone());
        }
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
    pub create_time: DateTime<Utc>,
    #[serde(skip)]
    pub due: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IntegrationError {
    pub error_code: String,
    pub error_message: String,
}

/// Dumped with every field twice: PascalCase (the RDS API's names, as the contract lists them) and
/// camelCase (like every other object in the dump), so either spelling reads the same value.
#[derive(Clone, Debug)]
pub struct Integration {
    pub integration_name: String,
    pub integration_arn: String,
    pub source_arn: String,
    pub target_arn: String,
    pub kms_key_id: String,
    pub additional_encryption_context: BTreeMap<String, String>,
    pub status: String,
    pub tags: Tags,
    pub data_filter: String,
    pub description: Option<String>,
    pub create_time: DateTime<Utc>,
    pub errors: Vec<IntegrationError>,
    pub due: Option<DateTime<Utc>>,
}

impl Serialize for Integration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        use serde_json::json;
        let tags: BTreeMap<&str, &str> = self
            .tags
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let errors: Vec<serde_json::Value> = self
            .errors
            .iter()
            .map(|e| {
                json!({"ErrorCode": e.error_code, "ErrorMessage": e.error_message,
                       "errorCode": e.error_code, "errorMessage": e.error_message})
            })
            .collect();
        let fields: [(&str, &str, serde_json::Value); 12] = [
            (
                "IntegrationName",
                "integrationName",
                json!(self.integration_name),
            ),
            (
                "IntegrationArn",
                "integrationArn",
                json!(self.integration_arn),
            ),
            ("SourceArn", "sourceArn", json!(self.source_arn)),
            ("TargetArn", "targetArn", json!(self.target_arn)),
            ("KMSKeyId", "kmsKeyId", json!(self.kms_key_id)),
            (
                "AdditionalEncryptionContext",
                "additionalEncryptionContext",
                json!(self.additional_encryption_context),
            ),
            ("Status", "status", json!(self.status)),
            ("Tags", "tags", json!(tags)),
            ("DataFilter", "dataFilter", json!(self.data_filter)),
            ("Description", "description", json!(self.description)),
            ("CreateTime", "createTime", json!(self.create_time)),
            ("Errors", "errors", json!(errors)),
        ];
        let mut m = s.serialize_map(Some(fields.len() * 2))?;
        for (pascal, camel, value) in &fields {
            m.serialize_entry(pascal, value)?;
            m.serialize_entry(camel, value)?;
        }
        m.end()
    }
}

impl Integration {
    pub fn id(&self) -> &str {
        self.integration_arn.rsplit(':').next().unwrap_or_default()
    }
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
}

/// A Data API statement. `due` is when it finishes; the SQL runs then.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Statement {
    pub id: String,
    pub account: String,
    pub region: String,
    pub sql: String,
    pub database: String,
    pub workgroup_name: Option<String>,
    pub cluster_identifier: Option<String>,
    pub db_user: Option<String>,
    pub secret_arn: Option<String>,
    pub namespace_arn: String,
    pub status: String,
    pub error: Option<String>,
    pub has_result_set: bool,
    pub result_rows: i64,
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
    /// Keyed by integration ARN; BTreeMap order doubles as the pagination order.
    pub integrations: BTreeMap<String, Integration>,
    pub redshift_clusters: BTreeMap<String, RedshiftCluster>,
    pub cluster_parameter_groups: BTreeMap<String, ParamGroup>,
    pub serverless_namespaces: BTreeMap<String, Namespace>,
    pub workgroups: BTreeMap<String, Workgroup>,
    pub resource_policies: BTreeMap<String, String>,
    pub databases: BTreeMap<String, Vec<String>>,
    pub db_users: BTreeMap<String, Vec<String>>,
    pub grants: BTreeMap<String, Vec<String>>,
    pub buckets: BTreeMap<String, Bucket>,
    pub statements: BTreeMap<String, Statement>,
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccessKey {
    pub access_key_id: String,
    #[serde(skip)]
    pub secret_access_key: String,
    pub user_name: String,
    pub deny: Vec<String>,
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

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct World {
    pub accounts: BTreeMap<String, Account>,
    pub sessions: HashMap<String, Session>,
    /// The earliest pending transition, so that `advance` is O(1) when nothing is due.
    #[serde(skip)]
    pub next_due: Option<DateTime<Utc>>,
}

pub fn instance_address(id: &str, account: &str, region: &str) -> String {
    format!(
        "{id}.c{}.{region}.rds.amazonaws.com",
        &stable_uuid(&[account, region])[..12]
    )
}

impl World {
    pub fn from_estate(estate: &Estate) -> anyhow::Result<Self> {
        let now = Utc::now();
        let mut world = World::default();
        for a in &estate.accounts {
            anyhow::ensure!(
                a.id.len() == 12 && a.id.chars().all(|c| c.is_ascii_digit()),
                "account id {:?} must be 12 digits",
                a.id
            );
            let mut account = Account {
                id: a.id.clone(),
                name: a.name.clone(),
                access_keys: a
                    .access_keys
                    .iter()
                    .map(|k| AccessKey {
                        access_key_id: k.access_key_id.clone(),
                        secret_access_key: k.secret_access_key.clone(),
                        user_name: k.user_name.clone().unwrap_or_else(|| "sim-user".into()),
                        deny: k.deny.clone(),
                    })
                    .collect(),
                integration_quota: a.integration_quota.unwrap_or(100),
                roles: BTreeMap::new(),
                kms_keys: BTreeMap::new(),
                regions: BTreeMap::new(),
            };
            for r in &a.roles {
                let path = r.path.clone().unwrap_or_else(|| "/".into());
                account.roles.insert(
                    r.name.clone(),
                    Role {
                        name: r.name.clone(),
                        id: format!(
                            "AROA{}",
                            &stable_uuid(&[&a.id, &r.name]).replace('-', "")[..17].to_uppercase()
                        ),
                        arn: format!("arn:aws:iam::{}:role{}{}", a.id, path, r.name),
                        path,
                        description: r.description.clone(),
                        trust_policy: r.trust_policy.to_string(),
                        max_session_duration: 3600,
                        inline_policies: r
                            .inline_policies
                            .iter()
                            .map(|(k, v)| (k.clone(), v.to_string()))
                            .collect(),
                        tags: r.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                        deny: r.deny.clone(),
                        create_date: now,
                    },
                );
            }
            for k in &a.kms_keys {
                let region = k.region.clone().unwrap_or_else(|| "us-east-1".into());
                let id =
                    k.id.clone()
                        .unwrap_or_else(|| stable_uuid(&[&a.id, &region, &k.aliases.join(",")]));
                account.kms_keys.insert(
                    id.clone(),
                    KmsKey {
                        arn: format!("arn:aws:kms:{region}:{}:key/{id}", a.id),
                        id,
                        region,
                        aliases: k.aliases.clone(),
                        description: k.description.clone().unwrap_or_default(),
                        creation_date: now,
                    },
                );
            }
            for (region_name, rs) in &a.regions {
                let region = build_region(&a.id, region_name, rs, now)?;
                account.regions.insert(region_name.clone(), region);
            }
            world.accounts.insert(a.id.clone(), account);
        }
        Ok(world)
    }

    /// Record that something becomes due at `at`.
    pub fn schedule(&mut self, at: DateTime<Utc>) {
        self.next_due = Some(self.next_due.map_or(at, |d| d.min(at)));
    }

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

    /// Apply every transition that is due at `now`.
    pub fn advance(&mut self, now: DateTime<Utc>) {
        match self.next_due {
            Some(d) if d <= now => {}
            _ => return,
        }
        let mut next: Option<DateTime<Utc>> = None;
        let mut keep = |d: DateTime<Utc>| next = Some(next.map_or(d, |n: DateTime<Utc>| n.min(d)));
        let mut finished_statements = Vec::new();
        for account in self.accounts.values_mut() {
            for (region_name, region) in account.regions.iter_mut() {
                advance_region(region, now, &mut keep);
                for s in region.statements.values() {
                    match s.due {
                        Some(d) if d <= now => finished_statements.push((
                            account.id.clone(),
                            region_name.clone(),
                            s.id.clone(),
                        )),
                        Some(d) => keep(d),
                        None => {}
                    }
                }
            }
        }
        self.next_due = next;
        for (account, region, id) in finished_statements {
            crate::sql::finish_statement(self, &account, &region, &id, now);
        }
    }

    /// Find an integration anywhere by name (within one account-region), id or ARN.
    pub fn find_integration(&self, account: &str, region: &str, key: &str) -> Option<&Integration> {
        let r = self.region(account, region)?;
        r.integrations.get(key).or_else(|| {
            r.integrations
                .values()
                .find(|i| i.integration_name == key || i.id() == key)
        })
    }

    /// Integrations in any account whose id matches (for SQL on the target side).
    pub fn integration_by_id(&self, id: &str) -> Option<&Integration> {
        self.accounts
            .values()
            .flat_map(|a| a.regions.values())
            .flat_map(|r| r.integrations.values())
            .find(|i| i.id() == id)
    }

    /// Resolve a Redshift namespace ARN (provisioned or serverless) to (account, region).
    pub fn namespace_location(&self, arn: &str) -> Option<(String, String)> {
        for a in self.accounts.values() {
            for (rn, r) in &a.regions {
                if r.serverless_namespaces.values().any(|n| n.arn == arn)
                    || r.redshift_clusters.values().any(|c| c.namespace_arn == arn)
                {
                    return Some((a.id.clone(), rn.clone()));
                }
            }
        }
        None
    }
}

fn advance_region(region: &mut Region, now: DateTime<Utc>, keep: &mut impl FnMut(DateTime<Utc>)) {
    let mut gone = Vec::new();
    for i in region.integrations.values_mut() {
        match i.due {
            Some(d) if d <= now => {
                i.due = None;
                match i.status.as_str() {
                    "deleting" => gone.push(i.integration_arn.clone()),
                    "creating" | "modifying" | "syncing" => i.status = "active".into(),
                    _ => {}
                }
            }
            Some(d) => keep(d),
            None => {}
        }
    }
    for arn in gone {
        region.integrations.remove(&arn);
    }
    let mut rebooted_clusters = Vec::new();
    for inst in region.db_instances.values_mut() {
        match inst.due {
            Some(d) if d <= now => {
                inst.due = None;
                inst.status = "available".into();
                if let Some(g) = region.db_parameter_groups.get(&inst.parameter_group) {
                    inst.effective_parameters = g.parameters.clone();
                }
                inst.parameter_apply_status = "in-sync".into();
                if let Some(c) = &inst.cluster {
                    rebooted_clusters.push((c.clone(), inst.id.clone()));
                }
            }
            Some(d) => keep(d),
            None => {}
        }
    }
    for c in region.db_clusters.values_mut() {
        let writer_rebooted = rebooted_clusters
            .iter()
            .any(|(cid, iid)| *cid == c.id && c.members.first() == Some(iid));
        let due_now = matches!(c.due, Some(d) if d <= now);
        if let Some(d) = c.due.filter(|d| *d > now) {
            keep(d);
        }
        if due_now || writer_rebooted {
            if due_now {
                c.due = None;
                c.status = "available".into();
            }
            if let Some(g) = region.db_cluster_parameter_groups.get(&c.parameter_group) {
                c.effective_parameters = g.parameters.clone();
            }
            c.parameter_apply_status = "in-sync".into();
        }
    }
    for c in region.redshift_clusters.values_mut() {
        match c.due {
            Some(d) if d <= now => {
                c.due = None;
                if c.status == "rebooting" {
                    if let Some(g) = region.cluster_parameter_groups.get(&c.parameter_group) {
                        c.effective_parameters = g.parameters.clone();
                    }
                    c.parameter_apply_status = "in-sync".into();
                }
                c.status = "available".into();
            }
            Some(d) => keep(d),
            None => {}
        }
    }
    for w in region.workgroups.values_mut() {
        match w.due {
            Some(d) if d <= now => {
                w.due = None;
                w.status = "AVAILABLE".into();
            }
            Some(d) => keep(d),
            None => {}
        }
    }
}

fn ensure_group(groups: &mut BTreeMap<String, ParamGroup>, name: &str, fallback_family: &str) {
    if !groups.contains_key(name) {
        let family = name.strip_prefix("default.").unwrap_or(fallback_family);
        groups.insert(name.to_string(), ParamGroup::new(name, family, None));
    }
}

fn tag_vec(tags: &BTreeMap<String, String>) -> Tags {
    tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn build_region(
    account: &str,
    region_name: &str,
    rs: &crate::estate::RegionSeed,
    now: DateTime<Utc>,
) -> anyhow::Result<Region> {
    let mut r = Region::default();
    for g in &rs.db_parameter_groups {
        r.db_parameter_groups
            .insert(g.name.clone(), ParamGroup::from_seed(g));
    }
    for g in &rs.db_cluster_parameter_groups {
        r.db_cluster_parameter_groups
            .insert(g.name.clone(), ParamGroup::from_seed(g));
    }
    for g in &rs.cluster_parameter_groups {
        r.cluster_parameter_groups
            .insert(g.name.clone(), ParamGroup::from_seed(g));
    }
    // Every region has Redshift's default group, as in AWS.
    ensure_group(
        &mut r.cluster_parameter_groups,
        "default.redshift-2.0",
        "redshift-2.0",
    );
    for c in &rs.db_clusters {
        let family = params::family_for(&c.engine, &c.engine_version);
        let pg = c
            .parameter_group
            .clone()
            .unwrap_or_else(|| format!("default.{family}"));
        ensure_group(&mut r.db_cluster_parameter_groups, &pg, &family);
        let effective = r.db_cluster_parameter_groups[&pg].parameters.clone();
        let address = format!(
            "{}.cluster-c{}.{region_name}.rds.amazonaws.com",
            c.id,
            &stable_uuid(&[account, region_name])[..12]
        );
        r.db_clusters.insert(
            c.id.clone(),
            DbCluster {
                id: c.id.clone(),
                arn: format!("arn:aws:rds:{region_name}:{account}:cluster:{}", c.id),
                resource_id: format!(
                    "cluster-{}",
                    &stable_uuid(&[account, &c.id]).replace('-', "")[..26].to_uppercase()
                ),
                engine: c.engine.clone(),
                engine_version: c.engine_version.clone(),
                status: "available".into(),
                parameter_group: pg,
                parameter_apply_status: "in-sync".into(),
                effective_parameters: effective,
                members: Vec::new(),
                database_name: c.database_name.clone(),
                backup_retention_period: c.backup_retention_period.unwrap_or(1),
                port: if c.engine.contains("postgres") {
                    5432
                } else {
                    3306
                },
                reader_address: address.replace(".cluster-", ".cluster-ro-"),
                address,
                tags: tag_vec(&c.tags),
                create_time: now,
                due: None,
            },
        );
    }
    for i in &rs.db_instances {
        let cluster = match &i.cluster {
            Some(cid) => Some(
                r.db_clusters
                    .get(cid)
                    .ok_or_else(|| {
                        anyhow::anyhow!("instance {} names unknown cluster {cid}", i.id)
                    })?
                    .clone(),
            ),
            None => None,
        };
        let engine = i
            .engine
            .clone()
            .or_else(|| cluster.as_ref().map(|c| c.engine.clone()))
            .unwrap_or_else(|| "mysql".into());
        let version = i
            .engine_version
            .clone()
            .or_else(|| cluster.as_ref().map(|c| c.engine_version.clone()))
            .unwrap_or_else(|| "8.0.39".into());
        let family = params::family_for(&engine, &version);
        let pg = i
            .parameter_group
            .clone()
            .unwrap_or_else(|| format!("default.{family}"));
        // Instance groups of Aurora members hold instance-level parameters only.
        if cluster.is_some() && !r.db_parameter_groups.contains_key(&pg) {
            r.db_parameter_groups.insert(
                pg.clone(),
                ParamGroup {
                    parameters: BTreeMap::new(),
                    ..ParamGroup::new(&pg, &family, None)
                },
            );
        }
        ensure_group(&mut r.db_parameter_groups, &pg, &family);
        let effective = r.db_parameter_groups[&pg].parameters.clone();
        if let Some(c) = &cluster {
            r.db_clusters
                .get_mut(&c.id)
                .expect("checked above")
                .members
                .push(i.id.clone());
        }
        r.db_instances.insert(
            i.id.clone(),
            DbInstance {
                id: i.id.clone(),
                arn: format!("arn:aws:rds:{region_name}:{account}:db:{}", i.id),
                resource_id: format!(
                    "db-{}",
                    &stable_uuid(&[account, &i.id]).replace('-', "")[..26].to_uppercase()
                ),
                port: if engine.contains("postgres") {
                    5432
                } else {
                    3306
                },
                engine,
                engine_version: version,
                instance_class: i
                    .instance_class
                    .clone()
                    .unwrap_or_else(|| "db.r6g.large".into()),
                status: "available".into(),
                cluster: i.cluster.clone(),
                parameter_group: pg,
                parameter_apply_status: "in-sync".into(),
                effective_parameters: effective,
                backup_retention_period: i
                    .backup_retention_period
                    .or_else(|| cluster.as_ref().map(|c| c.backup_retention_period))
                    .unwrap_or(1),
                db_name: i.db_name.clone(),
                address: instance_address(&i.id, account, region_name),
                tags: tag_vec(&i.tags),
                create_time: now,
                due: None,
            },
        );
    }
    for c in &rs.redshift_clusters {
        let pg = c
            .parameter_group
            .clone()
            .unwrap_or_else(|| "default.redshift-2.0".into());
        ensure_group(&mut r.cluster_parameter_groups, &pg, "redshift-2.0");
        let ns_id = c
            .namespace_id
            .clone()
            .unwrap_or_else(|| stable_uuid(&[account, region_name, "cluster", &c.id]));
        r.redshift_clusters.insert(
            c.id.clone(),
            RedshiftCluster {
                id: c.id.clone(),
                arn: format!("arn:aws:redshift:{region_name}:{account}:cluster:{}", c.id),
                namespace_arn: format!(
                    "arn:aws:redshift:{region_name}:{account}:namespace:{ns_id}"
                ),
                node_type: c.node_type.clone().unwrap_or_else(|| "ra3.xlplus".into()),
                number_of_nodes: c.number_of_nodes.unwrap_or(2),
                encrypted: c.encrypted.unwrap_or(true),
                kms_key_id: c.kms_key_id.clone(),
                status: "available".into(),
                db_name: c.db_name.clone().unwrap_or_else(|| "dev".into()),
                port: c.port.unwrap_or(5439),
                address: format!(
                    "{}.c{}.{region_name}.redshift.amazonaws.com",
                    c.id,
                    &stable_uuid(&[account, region_name, "rs"])[..12]
                ),
                master_username: c
                    .master_username
                    .clone()
                    .unwrap_or_else(|| "awsuser".into()),
                effective_parameters: r.cluster_parameter_groups[&pg].parameters.clone(),
                parameter_group: pg,
                parameter_apply_status: "in-sync".into(),
                iam_roles: c.iam_roles.clone(),
                tags: tag_vec(&c.tags),
                create_time: now,
                due: None,
            },
        );
    }
    for n in &rs.serverless_namespaces {
        let id =
            n.id.clone()
                .unwrap_or_else(|| stable_uuid(&[account, region_name, "namespace", &n.name]));
        r.serverless_namespaces.insert(
            n.name.clone(),
            Namespace {
                name: n.name.clone(),
                arn: format!("arn:aws:redshift-serverless:{region_name}:{account}:namespace/{id}"),
                id,
                db_name: n.db_name.clone().unwrap_or_else(|| "dev".into()),
                admin_username: n.admin_username.clone().unwrap_or_else(|| "admin".into()),
                iam_roles: n.iam_roles.clone(),
                default_iam_role_arn: n.default_iam_role_arn.clone(),
                kms_key_id: n
                    .kms_key_id
                    .clone()
                    .unwrap_or_else(|| "AWS_OWNED_KMS_KEY".into()),
                status: "AVAILABLE".into(),
                creation_date: now,
            },
        );
    }
    for w in &rs.workgroups {
        anyhow::ensure!(
            r.serverless_namespaces.contains_key(&w.namespace),
            "workgroup {} names unknown namespace {}",
            w.name,
            w.namespace
        );
        let id =
            w.id.clone()
                .unwrap_or_else(|| stable_uuid(&[account, region_name, "workgroup", &w.name]));
        let mut config = default_workgroup_config();
        config.extend(
            w.config_parameters
                .iter()
                .map(|(k, v)| (k.clone(), v.clone())),
        );
        r.workgroups.insert(
            w.name.clone(),
            Workgroup {
                name: w.name.clone(),
                arn: format!("arn:aws:redshift-serverless:{region_name}:{account}:workgroup/{id}"),
                id,
                namespace_name: w.namespace.clone(),
                port: w.port.unwrap_or(5439),
                address: format!(
                    "{}.{account}.{region_name}.redshift-serverless.amazonaws.com",
                    w.name
                ),
                base_capacity: w.base_capacity.unwrap_or(128),
                config_parameters: config,
                status: "AVAILABLE".into(),
                creation_date: now,
                due: None,
            },
        );
    }
    for (key, policy) in &rs.resource_policies {
        let arn = r
            .serverless_namespaces
            .get(key)
            .map(|n| n.arn.clone())
            .or_else(|| {
                r.redshift_clusters
                    .get(key)
                    .map(|c| c.namespace_arn.clone())
            })
            .unwrap_or_else(|| key.clone());
        let text = match policy {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        r.resource_policies.insert(arn, text);
    }
    for b in &rs.buckets {
        r.buckets.insert(
            b.name.clone(),
            Bucket {
                name: b.name.clone(),
                region: region_name.to_string(),
                creation_date: now,
            },
        );
    }
    for i in &rs.integrations {
        let id =
            i.id.clone()
                .unwrap_or_else(|| stable_uuid(&[account, region_name, "integration", &i.name]));
        let arn = format!("arn:aws:rds:{region_name}:{account}:integration:{id}");
        r.integrations.insert(
            arn.clone(),
            Integration {
                integration_name: i.name.clone(),
                integration_arn: arn,
                source_arn: i.source_arn.clone(),
                target_arn: i.target_arn.clone(),
                kms_key_id: aws_owned_key(region_name),
                additional_encryption_context: BTreeMap::new(),
                status: i.status.clone().unwrap_or_else(|| "active".into()),
                tags: tag_vec(&i.tags),
                data_filter: i
                    .data_filter
                    .clone()
                    .unwrap_or_else(|| "include: *.*".into()),
                description: i.description.clone(),
                create_time: now,
                errors: Vec::new(),
                due: None,
            },
        );
    }
    Ok(r)
}

/// The key ARN AWS reports when an integration uses an AWS-owned key (shape inferred).
pub fn aws_owned_key(region: &str) -> String {
    format!(
        "arn:aws:kms:{region}:000000000000:key/{}",
        stable_uuid(&["aws-owned-zero-etl", region])
    )
}

pub fn default_workgroup_config() -> BTreeMap<String, String> {
    [
        ("auto_mv", "true"),
        ("datestyle", "ISO, MDY"),
        ("enable_case_sensitive_identifier", "false"),
        ("enable_user_activity_logging", "true"),
        ("query_group", "default"),
        ("search_path", "$user, public"),
        ("require_ssl", "true"),
        ("use_fips_ssl", "false"),
        ("max_query_execution_time", "14400"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}
