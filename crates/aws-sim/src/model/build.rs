//! Building the world from an [`Estate`]: accounts, roles, keys and every regional resource, with stable
//! ids derived from names so that ARNs are the same on every run.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::*;
use crate::estate::Estate;
use crate::params;

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
            for k in &a.access_keys {
                if let Some(p) = &k.policy {
                    crate::authz::check_document(&policy_object(p), false).map_err(|e| {
                        anyhow::anyhow!("the policy of access key {}: {e}", k.access_key_id)
                    })?;
                }
            }
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
                        policy: k.policy.as_ref().map(policy_object),
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
                        trust_policy: policy_object(&r.trust_policy).to_string(),
                        max_session_duration: 3600,
                        inline_policies: r
                            .inline_policies
                            .iter()
                            .map(|(k, v)| (k.clone(), policy_object(v).to_string()))
                            .collect(),
                        tags: r.tags.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
                        deny: r.deny.clone(),
                        enforce_policies: r.enforce_policies,
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
        world.index_warehouses();
        Ok(world)
    }

    /// Index every Redshift namespace (serverless and provisioned) by ARN. Warehouses are only seeded,
    /// never created at runtime, so this is built once.
    fn index_warehouses(&mut self) {
        for a in self.accounts.values() {
            for (region_name, r) in &a.regions {
                let at = |warehouse| WarehouseRef {
                    account: a.id.clone(),
                    region: region_name.clone(),
                    warehouse,
                };
                for n in r.serverless_namespaces.values() {
                    self.warehouses
                        .insert(n.arn.clone(), at(WarehouseKind::Serverless(n.name.clone())));
                }
                for c in r.redshift_clusters.values() {
                    self.warehouses.insert(
                        c.namespace_arn.clone(),
                        at(WarehouseKind::Provisioned(c.id.clone())),
                    );
                }
            }
        }
    }
}

/// A policy given as an object, or as a JSON string holding one.
fn policy_object(v: &serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::String(text) => serde_json::from_str(text).unwrap_or_else(|_| v.clone()),
        other => other.clone(),
    }
}

fn ensure_group(groups: &mut BTreeMap<String, ParamGroup>, name: &str, fallback_family: &str) {
    if !groups.contains_key(name) {
        let family = name.strip_prefix("default.").unwrap_or(fallback_family);
        groups.insert(name.to_string(), ParamGroup::new(name, family, None));
    }
}

fn add_warehouse(
    r: &mut Region,
    namespace_arn: &str,
    initial_database: &str,
    admin: &str,
    seeded: &BTreeMap<String, crate::estate::DatabaseSeed>,
) {
    let extra: Vec<String> = seeded
        .keys()
        .filter(|d| d.as_str() != initial_database)
        .cloned()
        .collect();
    if !extra.is_empty() {
        r.databases.insert(namespace_arn.to_string(), extra);
    }
    r.warehouses.insert(
        namespace_arn.to_string(),
        Warehouse::new(initial_database, admin, seeded),
    );
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
                tables: c.tables.clone(),
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
                tables: i.tables.clone(),
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
        let rc = &r.redshift_clusters[&c.id];
        let (arn, db, master) = (
            rc.namespace_arn.clone(),
            rc.db_name.clone(),
            rc.master_username.clone(),
        );
        add_warehouse(&mut r, &arn, &db, &master, &c.databases);
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
        let ns = &r.serverless_namespaces[&n.name];
        let (arn, db, admin) = (
            ns.arn.clone(),
            ns.db_name.clone(),
            ns.admin_username.clone(),
        );
        add_warehouse(&mut r, &arn, &db, &admin, &n.databases);
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
                objects: BTreeMap::new(),
            },
        );
    }
    for i in &rs.integrations {
        let id =
            i.id.clone()
                .unwrap_or_else(|| stable_uuid(&[account, region_name, "integration", &i.name]));
        let arn = format!("arn:aws:rds:{region_name}:{account}:integration:{id}");
        let status = i.status.clone().unwrap_or_else(|| "active".into());
        r.integrations.insert(Integration {
            integration_name: i.name.clone(),
            integration_arn: arn,
            source_arn: i.source_arn.clone(),
            target_arn: i.target_arn.clone(),
            kms_key_id: aws_owned_key(region_name),
            additional_encryption_context: BTreeMap::new(),
            active_at: (status == "active").then_some(now),
            status,
            tags: tag_vec(&i.tags),
            data_filter: i
                .data_filter
                .clone()
                .unwrap_or_else(|| "include: *.*".into()),
            description: i.description.clone(),
            create_time: now,
            errors: Vec::new(),
            due: None,
            replication: Default::default(),
        });
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
