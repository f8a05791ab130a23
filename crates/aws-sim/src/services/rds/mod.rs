//! RDS (awsQuery): instances and clusters here; parameter groups, zero-ETL integrations and tags in the
//! submodules.

mod groups;
mod integrations;
mod tags;

use groups::{create_group, describe_groups, describe_parameters, modify_group, GroupKind};
use integrations::{
    create_integration, delete_integration, describe_integrations, modify_integration,
};
pub use integrations::{validate_data_filter, write_integration};
use tags::{add_tags, list_tags, remove_tags};

use super::{max_records, page, unknown_action};
use crate::model::{DbCluster, DbInstance, Due};
use crate::server::{ApiRequest, Ctx};
use crate::wire::{ApiError, ApiResult, Params, Reply, Xml};

pub fn handle(ctx: &mut Ctx, req: &ApiRequest) -> ApiResult<Reply> {
    let p = &req.params;
    match req.action.as_str() {
        "DescribeDBInstances" => describe_instances(ctx, p),
        "DescribeDBClusters" => describe_clusters(ctx, p),
        "DescribeDBParameters" => describe_parameters(ctx, p, GroupKind::Instance),
        "DescribeDBClusterParameters" => describe_parameters(ctx, p, GroupKind::Cluster),
        "DescribeDBParameterGroups" => describe_groups(ctx, p, GroupKind::Instance),
        "DescribeDBClusterParameterGroups" => describe_groups(ctx, p, GroupKind::Cluster),
        "CreateDBParameterGroup" => create_group(ctx, p, GroupKind::Instance),
        "CreateDBClusterParameterGroup" => create_group(ctx, p, GroupKind::Cluster),
        "ModifyDBParameterGroup" => modify_group(ctx, p, GroupKind::Instance),
        "ModifyDBClusterParameterGroup" => modify_group(ctx, p, GroupKind::Cluster),
        "ModifyDBInstance" => modify_instance(ctx, p),
        "ModifyDBCluster" => modify_cluster(ctx, p),
        "RebootDBInstance" => reboot_instance(ctx, p),
        "RebootDBCluster" => reboot_cluster(ctx, p),
        "CreateIntegration" => create_integration(ctx, p),
        "DescribeIntegrations" => describe_integrations(ctx, p),
        "ModifyIntegration" => modify_integration(ctx, p),
        "DeleteIntegration" => delete_integration(ctx, p),
        "AddTagsToResource" => add_tags(ctx, p),
        "RemoveTagsFromResource" => remove_tags(ctx, p),
        "ListTagsForResource" => list_tags(ctx, p),
        _ => Err(unknown_action(req)),
    }
}

pub(super) fn instance_not_found(id: &str) -> ApiError {
    ApiError::not_found("DBInstanceNotFound", format!("DBInstance {id} not found."))
}

pub(super) fn cluster_not_found(id: &str) -> ApiError {
    ApiError::not_found(
        "DBClusterNotFoundFault",
        format!("DBCluster {id} not found."),
    )
}

fn bool_str(b: bool) -> &'static str {
    if b {
        "true"
    } else {
        "false"
    }
}

fn write_instance(x: &mut Xml, i: &DbInstance, region: &str) {
    x.open("DBInstance")
        .el("DBInstanceIdentifier", &i.id)
        .el("DBInstanceClass", &i.instance_class)
        .el("Engine", &i.engine)
        .el("DBInstanceStatus", &i.status)
        .el("MasterUsername", "admin")
        .opt("DBName", i.db_name.as_ref())
        .open("Endpoint")
        .el("Address", &i.address)
        .el("Port", i.port)
        .el("HostedZoneId", "Z2R2ITUGPM61AM")
        .close("Endpoint")
        .el(
            "AllocatedStorage",
            if i.cluster.is_some() { 1 } else { 100 },
        )
        .time("InstanceCreateTime", &i.create_time)
        .el("BackupRetentionPeriod", i.backup_retention_period)
        .open("DBParameterGroups")
        .open("DBParameterGroup")
        .el("DBParameterGroupName", &i.parameter_group)
        .el("ParameterApplyStatus", &i.parameter_apply_status)
        .close("DBParameterGroup")
        .close("DBParameterGroups")
        .el("AvailabilityZone", format!("{region}a"))
        .raw("<PendingModifiedValues></PendingModifiedValues>")
        .el("MultiAZ", "false")
        .el("EngineVersion", &i.engine_version)
        .el("AutoMinorVersionUpgrade", "true")
        .el("PubliclyAccessible", "false")
        .el(
            "StorageType",
            if i.cluster.is_some() { "aurora" } else { "gp3" },
        )
        .el("DbInstancePort", 0)
        .opt("DBClusterIdentifier", i.cluster.as_ref())
        .el("StorageEncrypted", "true")
        .el("DbiResourceId", &i.resource_id)
        .el("DBInstanceArn", &i.arn)
        .el("DeletionProtection", "false")
        .tags("TagList", "Tag", &i.tags)
        .close("DBInstance");
}

fn write_cluster(x: &mut Xml, c: &DbCluster, region: &str) {
    x.open("DBCluster")
        .el("AllocatedStorage", 1)
        .open("AvailabilityZones")
        .el("AvailabilityZone", format!("{region}a"))
        .el("AvailabilityZone", format!("{region}b"))
        .close("AvailabilityZones")
        .el("BackupRetentionPeriod", c.backup_retention_period)
        .opt("DatabaseName", c.database_name.as_ref())
        .el("DBClusterIdentifier", &c.id)
        .el("DBClusterParameterGroup", &c.parameter_group)
        .el("Status", &c.status)
        .el("Endpoint", &c.address)
        .el("ReaderEndpoint", &c.reader_address)
        .el("MultiAZ", "false")
        .el("Engine", &c.engine)
        .el("EngineVersion", &c.engine_version)
        .el("Port", c.port)
        .el("MasterUsername", "admin")
        .open("DBClusterMembers");
    for (n, m) in c.members.iter().enumerate() {
        x.open("DBClusterMember")
            .el("DBInstanceIdentifier", m)
            .el("IsClusterWriter", bool_str(n == 0))
            .el("DBClusterParameterGroupStatus", &c.parameter_apply_status)
            .el("PromotionTier", 1)
            .close("DBClusterMember");
    }
    x.close("DBClusterMembers")
        .el("StorageEncrypted", "true")
        .el("DbClusterResourceId", &c.resource_id)
        .el("DBClusterArn", &c.arn)
        .time("ClusterCreateTime", &c.create_time)
        .el("EngineMode", "provisioned")
        .el("DeletionProtection", "false")
        .tags("TagList", "Tag", &c.tags)
        .close("DBCluster");
}

/// Values of `Filters.Filter.N` whose Name is `name`.
/// The identifier in `arn:aws:rds:REGION:ACCOUNT:{kind}:ID`, or `key` itself when it is not such an ARN.
fn arn_id<'a>(key: &'a str, kind: &str) -> &'a str {
    key.strip_prefix("arn:")
        .and_then(|_| key.split_once(&format!(":{kind}:")))
        .map_or(key, |(_, id)| id)
}

pub(super) fn filter_values(p: &Params, name: &str) -> Option<Vec<String>> {
    let filters = p.structs("Filters.Filter");
    let matching: Vec<Params> = filters
        .into_iter()
        .filter(|f| f.get("Name") == Some(name))
        .collect();
    if matching.is_empty() {
        return None;
    }
    Some(
        matching
            .iter()
            .flat_map(|f| f.list("Values.Value"))
            .collect(),
    )
}

fn describe_instances(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let max = max_records(p)?;
    let region = ctx.region.to_string();
    let r = ctx.region_state();
    let cluster_filter = filter_values(p, "db-cluster-id");
    let matches_filter = |i: &DbInstance| {
        cluster_filter.as_ref().is_none_or(|v| {
            v.iter()
                .any(|c| i.cluster.as_deref() == Some(c.as_str()) || *c == i.arn)
        })
    };
    let (items, marker) = match p.get("DBInstanceIdentifier") {
        // One instance, by identifier or ARN: a direct lookup however many instances exist.
        Some(id) => {
            let i = r
                .db_instances
                .get(arn_id(id, "db"))
                .filter(|i| id == i.id || id == i.arn)
                .ok_or_else(|| instance_not_found(id))?;
            (Vec::from_iter(Some(i).filter(|i| matches_filter(i))), None)
        }
        None => page(
            r.db_instances
                .iter()
                .filter(|(_, i)| matches_filter(i))
                .map(|(k, v)| (k.as_str(), v)),
            p.get("Marker"),
            max,
        ),
    };
    let mut x = Xml::new();
    x.opt("Marker", marker).open("DBInstances");
    for i in items {
        write_instance(&mut x, i, &region);
    }
    x.close("DBInstances");
    Ok(Reply::Xml(x.finish()))
}

fn describe_clusters(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let max = max_records(p)?;
    let region = ctx.region.to_string();
    let r = ctx.region_state();
    let (items, marker) = match p.get("DBClusterIdentifier") {
        // One cluster, by identifier or ARN: a direct lookup however many clusters exist.
        Some(id) => {
            let c = r
                .db_clusters
                .get(arn_id(id, "cluster"))
                .filter(|c| id == c.id || id == c.arn)
                .ok_or_else(|| cluster_not_found(id))?;
            (vec![c], None)
        }
        None => page(
            r.db_clusters.iter().map(|(k, v)| (k.as_str(), v)),
            p.get("Marker"),
            max,
        ),
    };
    let mut x = Xml::new();
    x.opt("Marker", marker).open("DBClusters");
    for c in items {
        write_cluster(&mut x, c, &region);
    }
    x.close("DBClusters");
    Ok(Reply::Xml(x.finish()))
}

fn modify_instance(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let id = p.required("DBInstanceIdentifier")?.to_string();
    let region = ctx.region.to_string();
    let r = ctx.region_state();
    if !r.db_instances.contains_key(&id) {
        return Err(instance_not_found(&id));
    }
    if let Some(g) = p.get("DBParameterGroupName") {
        if !r.db_parameter_groups.contains_key(g) {
            return Err(GroupKind::Instance.not_found(g));
        }
    }
    let retention = p.int("BackupRetentionPeriod")?;
    let i = r.db_instances.get_mut(&id).expect("checked");
    if i.status != "available" {
        return Err(ApiError::bad(
            "InvalidDBInstanceState",
            format!(
                "Database instance is not in available state (is {}).",
                i.status
            ),
        ));
    }
    if let Some(g) = p.get("DBParameterGroupName") {
        if g != i.parameter_group {
            i.parameter_group = g.to_string();
            i.parameter_apply_status = "pending-reboot".into();
        }
    }
    if let Some(n) = retention {
        if !(0..=35).contains(&n) {
            return Err(ApiError::invalid_value(
                "BackupRetentionPeriod must be between 0 and 35",
            ));
        }
        i.backup_retention_period = n;
    }
    let mut x = Xml::new();
    write_instance(&mut x, i, &region);
    Ok(Reply::Xml(x.finish()))
}

fn modify_cluster(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let id = p.required("DBClusterIdentifier")?.to_string();
    let region = ctx.region.to_string();
    let r = ctx.region_state();
    if !r.db_clusters.contains_key(&id) {
        return Err(cluster_not_found(&id));
    }
    if let Some(g) = p.get("DBClusterParameterGroupName") {
        if !r.db_cluster_parameter_groups.contains_key(g) {
            return Err(ApiError::not_found(
                "DBClusterParameterGroupNotFound",
                format!("DBClusterParameterGroup not found: {g}"),
            ));
        }
    }
    let retention = p.int("BackupRetentionPeriod")?;
    let c = r.db_clusters.get_mut(&id).expect("checked");
    if c.status != "available" {
        return Err(ApiError::bad(
            "InvalidDBClusterStateFault",
            format!(
                "DBCluster {id} is not in available state (is {}).",
                c.status
            ),
        ));
    }
    if let Some(g) = p.get("DBClusterParameterGroupName") {
        if g != c.parameter_group {
            c.parameter_group = g.to_string();
            c.parameter_apply_status = "pending-reboot".into();
        }
    }
    if let Some(n) = retention {
        if !(1..=35).contains(&n) {
            return Err(ApiError::invalid_value(
                "BackupRetentionPeriod must be between 1 and 35",
            ));
        }
        c.backup_retention_period = n;
    }
    let mut x = Xml::new();
    write_cluster(&mut x, c, &region);
    Ok(Reply::Xml(x.finish()))
}

fn reboot_instance(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let id = p.required("DBInstanceIdentifier")?.to_string();
    let due = ctx.after(ctx.timings.reboot);
    let region = ctx.region.to_string();
    let r = ctx.region_state();
    let i = r
        .db_instances
        .get_mut(&id)
        .ok_or_else(|| instance_not_found(&id))?;
    if i.status != "available" {
        return Err(ApiError::bad(
            "InvalidDBInstanceState",
            format!(
                "Database instance is not in available state (is {}).",
                i.status
            ),
        ));
    }
    i.status = "rebooting".into();
    i.due = Some(due);
    let mut x = Xml::new();
    write_instance(&mut x, i, &region);
    ctx.schedule(due, Due::DbInstance(id));
    Ok(Reply::Xml(x.finish()))
}

fn reboot_cluster(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let id = p.required("DBClusterIdentifier")?.to_string();
    let due = ctx.after(ctx.timings.reboot);
    let region = ctx.region.to_string();
    let r = ctx.region_state();
    let c = r
        .db_clusters
        .get_mut(&id)
        .ok_or_else(|| cluster_not_found(&id))?;
    if c.status != "available" {
        return Err(ApiError::bad(
            "InvalidDBClusterStateFault",
            format!(
                "DBCluster {id} is not in available state (is {}).",
                c.status
            ),
        ));
    }
    c.status = "rebooting".into();
    c.due = Some(due);
    let mut x = Xml::new();
    write_cluster(&mut x, c, &region);
    let members = c.members.clone();
    for m in &members {
        if let Some(i) = r.db_instances.get_mut(m) {
            i.status = "rebooting".into();
            i.due = Some(due);
        }
    }
    ctx.schedule(due, Due::DbCluster(id));
    for m in members {
        ctx.schedule(due, Due::DbInstance(m));
    }
    Ok(Reply::Xml(x.finish()))
}
