//! The source database (cluster or instance), the parameter group carrying its zero-ETL parameters and, in
//! Fix mode with wrong values, the group the operator would derive and who else uses each group.

use std::collections::BTreeSet;

use aws_sdk_rds::types::{DbCluster, DbInstance};
use zeroetl_api::arn::{SourceArn, SourceKind};
use zeroetl_api::integration::{PrerequisiteMode, ZeroEtlIntegrationSpec};

use crate::aws::shared_reads::{key, Reads};
use crate::aws::{sdk_error, AwsErrorKind, Clients};
use crate::error::{Error, Result};
use crate::integration::observed::{Observed, ParameterGroup, SourceState};
use crate::integration::plan::derived_group_name;
use crate::integration::source_params::{wrong_parameters, Engine};

/// A cluster as the shared read keeps it: what the plan needs, not the SDK's whole `DbCluster` (at 5,000
/// sources the SDK structs were the largest cache in the operator's heap after the watch caches).
#[derive(Clone)]
struct ClusterSeen {
    state: SourceState,
    settling: bool,
}

/// Every read below is shared (see [`SharedReads`]): many objects share a parameter group, and one object
/// looks at its source on several passes.
async fn cached_cluster(
    reads: &Reads<'_>,
    c: &Clients,
    id: &str,
    resolved_from_instance: Option<String>,
) -> Result<Option<SourceState>> {
    let seen = reads
        .get_settled(
            key("db-cluster", c, id),
            async {
                Ok(describe_cluster(c, id).await?.map(|cluster| ClusterSeen {
                    state: cluster_state(&cluster),
                    settling: in_transition(&cluster),
                }))
            },
            |found: &Option<ClusterSeen>| found.as_ref().is_some_and(|c| c.settling),
        )
        .await?;
    Ok(seen.map(|seen| SourceState {
        resolved_from_instance,
        ..seen.state
    }))
}

/// A cluster rebooting, modifying, or with a parameter group still being applied: looked at again next pass.
fn in_transition(cluster: &DbCluster) -> bool {
    cluster.status() != Some("available")
        || cluster.db_cluster_members().iter().any(|m| {
            m.db_cluster_parameter_group_status()
                .is_some_and(|s| s != "in-sync")
        })
}

/// Who else uses a group: one scan of every cluster or instance, shared; minus the asking source.
async fn cached_users(
    reads: &Reads<'_>,
    c: &Clients,
    cluster_group: bool,
    group: &str,
    except: &str,
) -> Result<Vec<String>> {
    let all = reads
        .get(
            key("pg-users", c, group),
            group_users(c, cluster_group, group, ""),
        )
        .await?;
    let me = if cluster_group {
        format!("cluster {except}")
    } else {
        format!("instance {except}")
    };
    Ok(all.into_iter().filter(|u| *u != me).collect())
}

async fn describe_cluster(c: &Clients, id: &str) -> Result<Option<DbCluster>> {
    match c
        .rds
        .describe_db_clusters()
        .db_cluster_identifier(id)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_clusters().first().cloned()),
        Err(e) => match sdk_error("rds", "DescribeDBClusters", e) {
            e if e.is_aws(AwsErrorKind::NotFound) => Ok(None),
            e => Err(e),
        },
    }
}

async fn describe_instance(c: &Clients, id: &str) -> Result<Option<DbInstance>> {
    match c
        .rds
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_instances().first().cloned()),
        Err(e) => match sdk_error("rds", "DescribeDBInstances", e) {
            e if e.is_aws(AwsErrorKind::NotFound) => Ok(None),
            e => Err(e),
        },
    }
}

/// Looks at the source and the parameter group that carries its zero-ETL parameters. In Fix mode, with
/// wrong values, it also looks at the group the operator would derive and at who else uses each group.
pub async fn observe_source(
    reads: &Reads<'_>,
    c: &Clients,
    spec: &ZeroEtlIntegrationSpec,
) -> Result<Observed<SourceState>> {
    let s = &spec.source;
    let (kind, id) = match (&s.arn, &s.db_cluster_identifier, &s.db_instance_identifier) {
        (Some(arn), _, _) => match SourceArn::parse(arn) {
            Some(a) => (a.kind, a.identifier),
            None => {
                return Ok(Observed::NotFound(format!(
                    "{arn} is not an RDS cluster or instance ARN"
                )))
            }
        },
        (_, Some(id), _) => (SourceKind::Cluster, id.clone()),
        (_, _, Some(id)) => (SourceKind::Instance, id.clone()),
        _ => {
            return Err(Error::terminal(
                "InvalidSpec",
                "spec.source names no database",
            ))
        }
    };
    let mut source = match kind {
        SourceKind::Cluster => match cached_cluster(reads, c, &id, None).await? {
            Some(cluster) => cluster,
            None => {
                return Ok(Observed::NotFound(format!(
                    "DB cluster {id} does not exist in {}",
                    c.region
                )))
            }
        },
        SourceKind::Instance => {
            let Some(instance) = reads
                .get_settled(
                    key("db-instance", c, &id),
                    describe_instance(c, &id),
                    |found: &Option<DbInstance>| {
                        found.as_ref().is_some_and(|i| {
                            i.db_instance_status() != Some("available")
                                || i.db_parameter_groups().iter().any(|g| {
                                    g.parameter_apply_status().is_some_and(|s| s != "in-sync")
                                })
                        })
                    },
                )
                .await?
            else {
                return Ok(Observed::NotFound(format!(
                    "DB instance {id} does not exist in {}",
                    c.region
                )));
            };
            // Aurora instances replicate through their cluster: the cluster is the zero-ETL source.
            match instance.db_cluster_identifier() {
                Some(cluster_id) => {
                    match cached_cluster(reads, c, cluster_id, Some(id.clone())).await? {
                        Some(cluster) => cluster,
                        None => {
                            return Ok(Observed::NotFound(format!(
                                "DB cluster {cluster_id} of instance {id} does not exist"
                            )))
                        }
                    }
                }
                None => instance_state(&instance),
            }
        }
    };
    // An ARN names an account, a region and a partition; the identifier alone would find a same-named
    // database in the operator's own account. Only the very database the ARN names is the source.
    if let Some(arn) = &spec.source.arn {
        if !source.arn.eq_ignore_ascii_case(arn) {
            return Ok(Observed::NotFound(format!(
                "spec.source.arn is {arn}, but the operator's account in {} has {} under that name; the operator only uses the database an ARN names (another account or region needs an operator there)",
                c.region, source.arn
            )));
        }
    }
    let cluster_group = source.kind == SourceKind::Cluster;
    source.group = reads
        .get(
            key("pg", c, &source.group.name),
            read_group(c, cluster_group, &source.group.name),
        )
        .await?
        .unwrap_or_else(|| source.group.clone());

    let engine = Engine::from_rds(&source.engine);
    let wrong = engine.is_some_and(|e| !wrong_parameters(e, &source.group.values).is_empty());
    if spec.prerequisites.source == PrerequisiteMode::Fix && wrong {
        let own = derived_group_name(&source.identifier);
        source.group.shared_with = Some(
            cached_users(
                reads,
                c,
                cluster_group,
                &source.group.name,
                &source.identifier,
            )
            .await?,
        );
        if source.group.name != own {
            if let Some(mut derived) = reads
                .get(key("pg", c, &own), read_group(c, cluster_group, &own))
                .await?
            {
                derived.shared_with =
                    Some(cached_users(reads, c, cluster_group, &own, &source.identifier).await?);
                source.derived_group = Some(derived);
            }
        }
    }
    Ok(Observed::Seen(source))
}

fn cluster_state(cluster: &DbCluster) -> SourceState {
    let members = cluster.db_cluster_members();
    let writer = members
        .iter()
        .find(|m| m.is_cluster_writer() == Some(true))
        .or(members.first());
    SourceState {
        arn: cluster.db_cluster_arn().unwrap_or_default().to_string(),
        identifier: cluster
            .db_cluster_identifier()
            .unwrap_or_default()
            .to_string(),
        kind: SourceKind::Cluster,
        engine: cluster.engine().unwrap_or_default().to_string(),
        status: cluster.status().unwrap_or_default().to_string(),
        resolved_from_instance: None,
        reboot_target: writer
            .and_then(|w| w.db_instance_identifier())
            .unwrap_or_default()
            .to_string(),
        backup_retention_period: cluster.backup_retention_period().unwrap_or_default().into(),
        group: ParameterGroup {
            name: cluster
                .db_cluster_parameter_group()
                .unwrap_or_default()
                .to_string(),
            ..Default::default()
        },
        apply_status: writer
            .and_then(|w| w.db_cluster_parameter_group_status())
            .unwrap_or("in-sync")
            .to_string(),
        derived_group: None,
    }
}

fn instance_state(instance: &DbInstance) -> SourceState {
    let group = instance.db_parameter_groups().first();
    let identifier = instance
        .db_instance_identifier()
        .unwrap_or_default()
        .to_string();
    SourceState {
        arn: instance.db_instance_arn().unwrap_or_default().to_string(),
        identifier: identifier.clone(),
        kind: SourceKind::Instance,
        engine: instance.engine().unwrap_or_default().to_string(),
        status: instance
            .db_instance_status()
            .unwrap_or_default()
            .to_string(),
        resolved_from_instance: None,
        reboot_target: identifier,
        backup_retention_period: instance
            .backup_retention_period()
            .unwrap_or_default()
            .into(),
        group: ParameterGroup {
            name: group
                .and_then(|g| g.db_parameter_group_name())
                .unwrap_or_default()
                .to_string(),
            ..Default::default()
        },
        apply_status: group
            .and_then(|g| g.parameter_apply_status())
            .unwrap_or("in-sync")
            .to_string(),
        derived_group: None,
    }
}

/// A parameter group's family and every parameter (paginated), or None when it does not exist.
async fn read_group(
    c: &Clients,
    cluster_group: bool,
    name: &str,
) -> Result<Option<ParameterGroup>> {
    let family = if cluster_group {
        match c
            .rds
            .describe_db_cluster_parameter_groups()
            .db_cluster_parameter_group_name(name)
            .send()
            .await
        {
            Ok(out) => out
                .db_cluster_parameter_groups()
                .first()
                .and_then(|g| g.db_parameter_group_family())
                .map(str::to_string),
            Err(e) => match sdk_error("rds", "DescribeDBClusterParameterGroups", e) {
                e if e.is_aws(AwsErrorKind::NotFound) => return Ok(None),
                e => return Err(e),
            },
        }
    } else {
        match c
            .rds
            .describe_db_parameter_groups()
            .db_parameter_group_name(name)
            .send()
            .await
        {
            Ok(out) => out
                .db_parameter_groups()
                .first()
                .and_then(|g| g.db_parameter_group_family())
                .map(str::to_string),
            Err(e) => match sdk_error("rds", "DescribeDBParameterGroups", e) {
                e if e.is_aws(AwsErrorKind::NotFound) => return Ok(None),
                e => return Err(e),
            },
        }
    };
    let mut group = ParameterGroup {
        name: name.to_string(),
        family: family.unwrap_or_default(),
        ..Default::default()
    };
    // Both parameter listings have the same shape; page through whichever the group is.
    let parameters: Vec<aws_sdk_rds::types::Parameter> = if cluster_group {
        c.rds
            .describe_db_cluster_parameters()
            .db_cluster_parameter_group_name(name)
            .max_records(100)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_error("rds", "DescribeDBClusterParameters", e))?
    } else {
        c.rds
            .describe_db_parameters()
            .db_parameter_group_name(name)
            .max_records(100)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_error("rds", "DescribeDBParameters", e))?
    };
    for p in parameters {
        let Some(key) = p.parameter_name() else {
            continue;
        };
        // An absent value is an empty one (AWS omits ParameterValue for unset parameters).
        group.values.insert(
            key.to_string(),
            p.parameter_value().unwrap_or_default().to_string(),
        );
        if p.source() == Some("user") {
            group.user_set.insert(key.to_string());
        }
        if p.apply_type() == Some("static") {
            group.static_parameters.insert(key.to_string());
        }
    }
    Ok(Some(group))
}

/// The other clusters (or instances) a parameter group is attached to.
async fn group_users(
    c: &Clients,
    cluster_group: bool,
    group: &str,
    except: &str,
) -> Result<Vec<String>> {
    let mut users = BTreeSet::new();
    if cluster_group {
        let mut clusters = c
            .rds
            .describe_db_clusters()
            .max_records(100)
            .into_paginator()
            .items()
            .send();
        while let Some(cluster) = clusters.next().await {
            let cluster = cluster.map_err(|e| sdk_error("rds", "DescribeDBClusters", e))?;
            let id = cluster.db_cluster_identifier().unwrap_or_default();
            if cluster.db_cluster_parameter_group() == Some(group) && id != except {
                users.insert(format!("cluster {id}"));
            }
        }
    } else {
        let mut instances = c
            .rds
            .describe_db_instances()
            .max_records(100)
            .into_paginator()
            .items()
            .send();
        while let Some(instance) = instances.next().await {
            let instance = instance.map_err(|e| sdk_error("rds", "DescribeDBInstances", e))?;
            let id = instance.db_instance_identifier().unwrap_or_default();
            let uses = instance
                .db_parameter_groups()
                .iter()
                .any(|g| g.db_parameter_group_name() == Some(group));
            if uses && id != except {
                users.insert(format!("instance {id}"));
            }
        }
    }
    Ok(users.into_iter().collect())
}
