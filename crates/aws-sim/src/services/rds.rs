//! RDS (awsQuery): instances, clusters, parameter groups, zero-ETL integrations and tags.

use std::collections::BTreeMap;
use std::ops::Bound;

use regex::Regex;

use super::{max_records, page, unknown_action};
use crate::model::{aws_owned_key, DbCluster, DbInstance, Integration, ParamGroup, Region, Tags};
use crate::params;
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum GroupKind {
    Instance,
    Cluster,
}

impl GroupKind {
    fn groups(self, r: &mut Region) -> &mut BTreeMap<String, ParamGroup> {
        match self {
            GroupKind::Instance => &mut r.db_parameter_groups,
            GroupKind::Cluster => &mut r.db_cluster_parameter_groups,
        }
    }
    fn name_param(self) -> &'static str {
        match self {
            GroupKind::Instance => "DBParameterGroupName",
            GroupKind::Cluster => "DBClusterParameterGroupName",
        }
    }
    fn not_found(self, name: &str) -> ApiError {
        match self {
            GroupKind::Instance => ApiError::not_found(
                "DBParameterGroupNotFound",
                format!("DBParameterGroup not found: {name}"),
            ),
            GroupKind::Cluster => ApiError::not_found(
                "DBParameterGroupNotFound",
                format!("DBClusterParameterGroup not found: {name}"),
            ),
        }
    }
}

fn instance_not_found(id: &str) -> ApiError {
    ApiError::not_found("DBInstanceNotFound", format!("DBInstance {id} not found."))
}

fn cluster_not_found(id: &str) -> ApiError {
    ApiError::not_found(
        "DBClusterNotFoundFault",
        format!("DBCluster {id} not found."),
    )
}

fn integration_not_found(id: &str) -> ApiError {
    ApiError::not_found(
        "IntegrationNotFoundFault",
        format!("Integration {id} not found."),
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

pub fn write_integration(x: &mut Xml, i: &Integration) {
    x.el("SourceArn", &i.source_arn)
        .el("TargetArn", &i.target_arn)
        .el("IntegrationName", &i.integration_name)
        .el("IntegrationArn", &i.integration_arn)
        .el("KMSKeyId", &i.kms_key_id);
    if !i.additional_encryption_context.is_empty() {
        x.open("AdditionalEncryptionContext");
        for (k, v) in &i.additional_encryption_context {
            x.open("entry").el("key", k).el("value", v).close("entry");
        }
        x.close("AdditionalEncryptionContext");
    }
    x.el("Status", &i.status)
        .tags("Tags", "Tag", &i.tags)
        .el("DataFilter", &i.data_filter)
        .opt("Description", i.description.as_ref())
        .time("CreateTime", &i.create_time)
        .open("Errors");
    for e in &i.errors {
        x.open("IntegrationError")
            .el("ErrorCode", &e.error_code)
            .el("ErrorMessage", &e.error_message)
            .close("IntegrationError");
    }
    x.close("Errors");
}

/// Values of `Filters.Filter.N` whose Name is `name`.
fn filter_values(p: &Params, name: &str) -> Option<Vec<String>> {
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
    let id = p.get("DBInstanceIdentifier");
    if let Some(id) = id {
        if !r.db_instances.contains_key(id) && !r.db_instances.values().any(|i| i.arn == id) {
            return Err(instance_not_found(id));
        }
    }
    let cluster_filter = filter_values(p, "db-cluster-id");
    let items = r.db_instances.iter().filter(|(k, i)| {
        id.is_none_or(|id| id == k.as_str() || id == i.arn)
            && cluster_filter.as_ref().is_none_or(|v| {
                v.iter()
                    .any(|c| i.cluster.as_deref() == Some(c.as_str()) || *c == i.arn)
            })
    });
    let (items, marker) = page(items.map(|(k, v)| (k.as_str(), v)), p.get("Marker"), max);
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
    let id = p.get("DBClusterIdentifier");
    if let Some(id) = id {
        if !r.db_clusters.contains_key(id) && !r.db_clusters.values().any(|c| c.arn == id) {
            return Err(cluster_not_found(id));
        }
    }
    let items = r
        .db_clusters
        .iter()
        .filter(|(k, c)| id.is_none_or(|id| id == k.as_str() || id == c.arn));
    let (items, marker) = page(items.map(|(k, v)| (k.as_str(), v)), p.get("Marker"), max);
    let mut x = Xml::new();
    x.opt("Marker", marker).open("DBClusters");
    for c in items {
        write_cluster(&mut x, c, &region);
    }
    x.close("DBClusters");
    Ok(Reply::Xml(x.finish()))
}

fn describe_parameters(ctx: &mut Ctx, p: &Params, kind: GroupKind) -> ApiResult<Reply> {
    let name = p.required(kind.name_param())?.to_string();
    let max = max_records(p)?;
    let source = p.get("Source").map(str::to_string);
    let r = ctx.region_state();
    let g = kind
        .groups(r)
        .get(&name)
        .ok_or_else(|| kind.not_found(&name))?;
    let items = g.parameters.iter().filter(|(k, _)| {
        let src = if g.user_set.contains(k) {
            "user"
        } else {
            "engine-default"
        };
        source.as_deref().is_none_or(|s| s == src)
    });
    let (items, marker) = page(
        items.map(|(k, v)| (k.as_str(), (k, v))),
        p.get("Marker"),
        max,
    );
    let mut x = Xml::new();
    x.open("Parameters");
    for (k, v) in items {
        let is_static = params::is_static(&g.family, k);
        x.open("Parameter").el("ParameterName", k);
        if !v.is_empty() {
            x.el("ParameterValue", v);
        }
        x.el("Description", k)
            .el(
                "Source",
                if g.user_set.contains(k) {
                    "user"
                } else {
                    "engine-default"
                },
            )
            .el("ApplyType", if is_static { "static" } else { "dynamic" })
            .el("DataType", "string")
            .el("IsModifiable", "true")
            .el("ApplyMethod", "pending-reboot")
            .close("Parameter");
    }
    x.close("Parameters").opt("Marker", marker);
    Ok(Reply::Xml(x.finish()))
}

fn group_arn(kind: GroupKind, region: &str, account: &str, name: &str) -> String {
    let k = if kind == GroupKind::Instance {
        "pg"
    } else {
        "cluster-pg"
    };
    format!("arn:aws:rds:{region}:{account}:{k}:{name}")
}

fn write_group(x: &mut Xml, kind: GroupKind, g: &ParamGroup, arn: &str) {
    match kind {
        GroupKind::Instance => x
            .open("DBParameterGroup")
            .el("DBParameterGroupName", &g.name)
            .el("DBParameterGroupFamily", &g.family)
            .el("Description", &g.description)
            .el("DBParameterGroupArn", arn)
            .close("DBParameterGroup"),
        GroupKind::Cluster => x
            .open("DBClusterParameterGroup")
            .el("DBClusterParameterGroupName", &g.name)
            .el("DBParameterGroupFamily", &g.family)
            .el("Description", &g.description)
            .el("DBClusterParameterGroupArn", arn)
            .close("DBClusterParameterGroup"),
    };
}

fn describe_groups(ctx: &mut Ctx, p: &Params, kind: GroupKind) -> ApiResult<Reply> {
    let max = max_records(p)?;
    let name = p.get(kind.name_param()).map(str::to_string);
    let (region, account) = (ctx.region.to_string(), ctx.account().to_string());
    let groups = kind.groups(ctx.region_state());
    if let Some(n) = &name {
        if !groups.contains_key(n) {
            return Err(kind.not_found(n));
        }
    }
    let items = groups
        .iter()
        .filter(|(k, _)| name.as_ref().is_none_or(|n| n == *k));
    let (items, marker) = page(items.map(|(k, v)| (k.as_str(), v)), p.get("Marker"), max);
    let mut x = Xml::new();
    x.opt("Marker", marker);
    let outer = if kind == GroupKind::Instance {
        "DBParameterGroups"
    } else {
        "DBClusterParameterGroups"
    };
    x.open(outer);
    for g in items {
        write_group(
            &mut x,
            kind,
            g,
            &group_arn(kind, &region, &account, &g.name),
        );
    }
    x.close(outer);
    Ok(Reply::Xml(x.finish()))
}

fn create_group(ctx: &mut Ctx, p: &Params, kind: GroupKind) -> ApiResult<Reply> {
    let name = p.required(kind.name_param())?.to_string();
    let family = p.required("DBParameterGroupFamily")?.to_string();
    let description = p.required("Description")?.to_string();
    if name.starts_with("default.") {
        return Err(ApiError::invalid_value(
            "The parameter group name cannot start with \"default.\"",
        ));
    }
    if params::family_defaults(&family).is_empty() {
        return Err(ApiError::invalid_value(format!(
            "DBParameterGroupFamily {family} is not valid"
        )));
    }
    let (region, account) = (ctx.region.to_string(), ctx.account().to_string());
    let groups = kind.groups(ctx.region_state());
    if groups.contains_key(&name) {
        return Err(ApiError::bad(
            "DBParameterGroupAlreadyExists",
            format!("Parameter group {name} already exists"),
        ));
    }
    // As in AWS: a new group starts from the family defaults; callers copy values themselves.
    let g = ParamGroup::new(&name, &family, Some(description));
    let mut x = Xml::new();
    write_group(&mut x, kind, &g, &group_arn(kind, &region, &account, &name));
    groups.insert(name, g);
    Ok(Reply::Xml(x.finish()))
}

fn modify_group(ctx: &mut Ctx, p: &Params, kind: GroupKind) -> ApiResult<Reply> {
    let name = p.required(kind.name_param())?.to_string();
    let changes = p.structs("Parameters.Parameter");
    if changes.is_empty() {
        return Err(ApiError::bad(
            "MissingParameter",
            "The request must contain the parameter Parameters",
        ));
    }
    if changes.len() > 20 {
        return Err(ApiError::invalid_value(
            "You can modify up to 20 parameters in a single request",
        ));
    }
    let r = ctx.region_state();
    let g = kind
        .groups(r)
        .get_mut(&name)
        .ok_or_else(|| kind.not_found(&name))?;
    if g.is_default {
        return Err(ApiError::bad(
            "InvalidDBParameterGroupState",
            "Default parameter groups cannot be modified",
        ));
    }
    let mut applied = Vec::new();
    for c in &changes {
        let pname = c
            .get("ParameterName")
            .ok_or_else(|| ApiError::invalid_value("ParameterName is required"))?;
        let value = c.0.get("ParameterValue").cloned().unwrap_or_default();
        let method = c.get("ApplyMethod").unwrap_or("pending-reboot");
        if !matches!(method, "immediate" | "pending-reboot") {
            return Err(ApiError::invalid_value(format!(
                "Invalid ApplyMethod {method}"
            )));
        }
        if method == "immediate" && params::is_static(&g.family, pname) {
            return Err(ApiError::bad(
                "InvalidParameterCombination",
                format!("cannot use immediate apply method for static parameter {pname}"),
            ));
        }
        applied.push((pname.to_string(), value, method == "immediate"));
    }
    for (k, v, _) in &applied {
        g.parameters.insert(k.clone(), v.clone());
        if !g.user_set.contains(k) {
            g.user_set.push(k.clone());
        }
    }
    // Members that use this group in-sync take dynamic values now and static ones at the next reboot.
    let apply = |effective: &mut BTreeMap<String, String>, status: &mut String| {
        for (k, v, immediate) in &applied {
            if *immediate {
                effective.insert(k.clone(), v.clone());
            } else {
                *status = "pending-reboot".into();
            }
        }
    };
    match kind {
        GroupKind::Instance => {
            for i in r
                .db_instances
                .values_mut()
                .filter(|i| i.parameter_group == name)
            {
                apply(&mut i.effective_parameters, &mut i.parameter_apply_status);
            }
        }
        GroupKind::Cluster => {
            for c in r
                .db_clusters
                .values_mut()
                .filter(|c| c.parameter_group == name)
            {
                apply(&mut c.effective_parameters, &mut c.parameter_apply_status);
            }
        }
    }
    let mut x = Xml::new();
    x.el(kind.name_param(), &name);
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
    ctx.world.schedule(due);
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
    for m in c.members.clone() {
        if let Some(i) = r.db_instances.get_mut(&m) {
            i.status = "rebooting".into();
            i.due = Some(due);
        }
    }
    ctx.world.schedule(due);
    Ok(Reply::Xml(x.finish()))
}

/// `arn:aws:rds:REGION:ACCOUNT:(cluster|db):ID`.
fn parse_source_arn(arn: &str) -> Option<(String, String, String, String)> {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    if parts.len() != 7
        || parts[0] != "arn"
        || parts[2] != "rds"
        || !matches!(parts[5], "cluster" | "db")
        || parts[6].is_empty()
    {
        return None;
    }
    Some((
        parts[3].into(),
        parts[4].into(),
        parts[5].into(),
        parts[6].into(),
    ))
}

fn is_namespace_arn(arn: &str) -> bool {
    let serverless =
        Regex::new(r"^arn:aws:redshift-serverless:[a-z0-9-]+:\d{12}:namespace/[0-9a-f-]{36}$")
            .expect("static regex");
    let provisioned = Regex::new(r"^arn:aws:redshift:[a-z0-9-]+:\d{12}:namespace:[0-9a-f-]{36}$")
        .expect("static regex");
    serverless.is_match(arn) || provisioned.is_match(arn)
}

pub fn validate_data_filter(filter: &str) -> ApiResult<()> {
    let charset = Regex::new(r#"^[a-zA-Z0-9_ "\\\-$,*.:?+/]*$"#).expect("static regex");
    if filter.is_empty() || filter.len() > 25600 || !charset.is_match(filter) {
        return Err(ApiError::invalid_value("The data filter is not valid"));
    }
    if !filter.to_ascii_lowercase().contains("include:") {
        return Err(ApiError::invalid_value(
            "Your data filter must contain at least one include statement",
        ));
    }
    Ok(())
}

fn validate_name(name: &str) -> ApiResult<()> {
    let re = Regex::new(r"^[a-zA-Z][a-zA-Z0-9]*(-[a-zA-Z0-9]+)*$").expect("static regex");
    if name.is_empty() || name.len() > 63 || !re.is_match(name) {
        return Err(ApiError::invalid_value(format!(
            "The integration name {name:?} is not valid: 1-63 letters, digits or single hyphens, starting with a letter"
        )));
    }
    Ok(())
}

fn create_integration(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let name = p.required("IntegrationName")?.to_string();
    let source_arn = p.required("SourceArn")?.to_string();
    let target_arn = p.required("TargetArn")?.to_string();
    validate_name(&name)?;
    let (src_region, src_account, src_kind, src_id) =
        parse_source_arn(&source_arn).ok_or_else(|| {
            ApiError::invalid_value(format!("The source ARN {source_arn} is not valid"))
        })?;
    if !is_namespace_arn(&target_arn) {
        return Err(ApiError::invalid_value(format!(
            "The target ARN {target_arn} is not a valid Amazon Redshift namespace ARN"
        )));
    }
    let context: BTreeMap<String, String> = p
        .structs("AdditionalEncryptionContext.entry")
        .into_iter()
        .filter_map(|e| {
            Some((
                e.get("key")?.to_string(),
                e.get("value").unwrap_or("").to_string(),
            ))
        })
        .collect();
    let kms = p.get("KMSKeyId").map(str::to_string);
    if !context.is_empty() && kms.is_none() {
        return Err(ApiError::bad(
            "InvalidParameterCombination",
            "AdditionalEncryptionContext requires KMSKeyId",
        ));
    }
    if context.len() > 6 {
        return Err(ApiError::invalid_value(
            "AdditionalEncryptionContext can have at most 6 pairs",
        ));
    }
    let data_filter = match p.get("DataFilter") {
        Some(f) => {
            validate_data_filter(f)?;
            f.to_string()
        }
        None => "include: *.*".to_string(),
    };
    if let Some(d) = p.get("Description") {
        if d.len() > 1000 {
            return Err(ApiError::invalid_value(
                "Description can be at most 1000 characters",
            ));
        }
    }
    let account = ctx.account().to_string();
    let region = ctx.region.to_string();
    let quota = ctx
        .world
        .accounts
        .get(&account)
        .map_or(100, |a| a.integration_quota);
    {
        let r = ctx.region_state();
        if r.integrations.values().any(|i| i.integration_name == name) {
            return Err(ApiError::bad(
                "IntegrationAlreadyExistsFault",
                format!("Integration {name} already exists."),
            ));
        }
        if r.integrations
            .values()
            .any(|i| i.source_arn == source_arn && i.target_arn == target_arn)
        {
            return Err(ApiError::bad(
                "IntegrationAlreadyExistsFault",
                format!("An integration from {source_arn} to {target_arn} already exists."),
            ));
        }
        if r.integrations.len() >= quota {
            return Err(ApiError::bad(
                "IntegrationQuotaExceededFault",
                format!(
                    "You can't create more than {quota} integrations in this account and region."
                ),
            ));
        }
    }
    // The source must be visible to the caller: same account and region.
    let visible = src_account == account && src_region == region;
    let (engine, effective, status, backups) = {
        let r = ctx.region_state();
        if src_kind == "cluster" {
            let c = r
                .db_clusters
                .get(&src_id)
                .filter(|_| visible)
                .ok_or_else(|| cluster_not_found(&src_id))?;
            (
                c.engine.clone(),
                c.effective_parameters.clone(),
                c.status.clone(),
                c.backup_retention_period,
            )
        } else {
            let i = r
                .db_instances
                .get(&src_id)
                .filter(|_| visible)
                .ok_or_else(|| instance_not_found(&src_id))?;
            (
                i.engine.clone(),
                i.effective_parameters.clone(),
                i.status.clone(),
                i.backup_retention_period,
            )
        }
    };
    let kms_key_id = match &kms {
        Some(k) => super::kms::find_key(ctx.world, &account, &region, k)
            .map(|key| key.arn.clone())
            .ok_or_else(|| {
                ApiError::bad(
                    "KMSKeyNotAccessibleFault",
                    format!("The KMS key {k} is not accessible."),
                )
            })?,
        None => aws_owned_key(&region),
    };
    let state_fault = if src_kind == "cluster" {
        "InvalidDBClusterStateFault"
    } else {
        "InvalidDBInstanceState"
    };
    if status != "available" {
        return Err(ApiError::bad(
            state_fault,
            format!("The source {src_id} is not available (is {status})."),
        ));
    }
    // Inferred: AWS's console pre-checks surface as a synchronous fault naming each wrong parameter.
    let violations = params::zero_etl_violations(&engine, &effective);
    if !violations.is_empty() {
        return Err(ApiError::bad(
            state_fault,
            format!(
                "The source {src_id} doesn't have the parameter values zero-ETL requires (in-sync parameter group): {}",
                violations.join("; ")
            ),
        ));
    }
    if engine == "mysql" && backups == 0 {
        return Err(ApiError::bad(
            state_fault,
            format!("The source {src_id} must have automated backups enabled."),
        ));
    }
    super::redshift::check_target_accepts(ctx.world, &target_arn, &source_arn, &account)?;

    let id = uuid::Uuid::new_v4().to_string();
    let arn = format!("arn:aws:rds:{region}:{account}:integration:{id}");
    let due = ctx.after(ctx.timings.integration_create);
    let integration = Integration {
        integration_name: name,
        integration_arn: arn.clone(),
        source_arn,
        target_arn,
        kms_key_id,
        additional_encryption_context: context,
        status: "creating".into(),
        tags: p.tags("Tags.Tag"),
        data_filter,
        description: p.get("Description").map(str::to_string),
        create_time: ctx.now,
        errors: Vec::new(),
        due: Some(due),
    };
    let mut x = Xml::new();
    write_integration(&mut x, &integration);
    ctx.region_state().integrations.insert(arn, integration);
    ctx.world.schedule(due);
    Ok(Reply::Xml(x.finish()))
}

fn describe_integrations(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let max = max_records(p)?;
    let account = ctx.account().to_string();
    let region = ctx.region.to_string();
    let mut wanted: Vec<String> = filter_values(p, "integration-identifier").unwrap_or_default();
    if let Some(id) = p.get("IntegrationIdentifier") {
        if ctx.world.find_integration(&account, &region, id).is_none() {
            return Err(integration_not_found(id));
        }
        wanted.push(id.to_string());
    }
    let filtered = !wanted.is_empty()
        || p.structs("Filters.Filter")
            .iter()
            .any(|f| f.get("Name") == Some("integration-identifier"));
    let r = ctx.region_state();
    // Start at the marker directly: pages stay cheap however many integrations exist.
    let marker = p.get("Marker");
    let start = match marker {
        Some(m) => Bound::Excluded(m),
        None => Bound::Unbounded,
    };
    let items = r
        .integrations
        .range::<str, _>((start, Bound::Unbounded))
        .filter(|(_, i)| {
            !filtered
                || wanted
                    .iter()
                    .any(|w| *w == i.integration_arn || *w == i.integration_name || w == i.id())
        });
    let (items, marker) = page(items.map(|(k, v)| (k.as_str(), v)), None, max);
    let mut x = Xml::new();
    x.opt("Marker", marker).open("Integrations");
    for i in items {
        x.open("Integration");
        write_integration(&mut x, i);
        x.close("Integration");
    }
    x.close("Integrations");
    Ok(Reply::Xml(x.finish()))
}

fn find_arn(r: &Region, key: &str) -> Option<String> {
    r.integrations
        .values()
        .find(|i| i.integration_arn == key || i.integration_name == key || i.id() == key)
        .map(|i| i.integration_arn.clone())
}

fn modify_integration(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let key = p.required("IntegrationIdentifier")?.to_string();
    let due = ctx.after(ctx.timings.integration_modify);
    let r = ctx.region_state();
    let arn = find_arn(r, &key).ok_or_else(|| integration_not_found(&key))?;
    if let Some(n) = p.get("IntegrationName") {
        validate_name(n)?;
        if r.integrations
            .values()
            .any(|i| i.integration_name == n && i.integration_arn != arn)
        {
            return Err(ApiError::bad(
                "IntegrationAlreadyExistsFault",
                format!("Integration {n} already exists."),
            ));
        }
    }
    if let Some(f) = p.get("DataFilter") {
        validate_data_filter(f)?;
    }
    let i = r.integrations.get_mut(&arn).expect("found above");
    if i.status != "active" {
        return Err(ApiError::bad(
            "InvalidIntegrationStateFault",
            format!(
                "Integration {} is in state {} and can't be modified.",
                i.integration_name, i.status
            ),
        ));
    }
    if let Some(n) = p.get("IntegrationName") {
        i.integration_name = n.to_string();
    }
    if let Some(d) = p.0.get("Description") {
        i.description = Some(d.clone()).filter(|d| !d.is_empty());
    }
    let mut scheduled = false;
    if let Some(f) = p.get("DataFilter") {
        if f != i.data_filter {
            i.data_filter = f.to_string();
            i.status = "modifying".into();
            i.due = Some(due);
            scheduled = true;
        }
    }
    let mut x = Xml::new();
    write_integration(&mut x, i);
    if scheduled {
        ctx.world.schedule(due);
    }
    Ok(Reply::Xml(x.finish()))
}

fn delete_integration(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let key = p.required("IntegrationIdentifier")?.to_string();
    let due = ctx.after(ctx.timings.integration_delete);
    let r = ctx.region_state();
    let arn = find_arn(r, &key).ok_or_else(|| integration_not_found(&key))?;
    let i = r.integrations.get_mut(&arn).expect("found above");
    if matches!(i.status.as_str(), "deleting" | "modifying") {
        return Err(ApiError::bad(
            "InvalidIntegrationStateFault",
            format!(
                "Integration {} is in state {} and can't be deleted.",
                i.integration_name, i.status
            ),
        ));
    }
    i.status = "deleting".into();
    i.due = Some(due);
    let mut x = Xml::new();
    write_integration(&mut x, i);
    ctx.world.schedule(due);
    Ok(Reply::Xml(x.finish()))
}

fn tags_of<'a>(r: &'a mut Region, arn: &str) -> ApiResult<&'a mut Tags> {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    let (kind, id) = match parts.as_slice() {
        [_, _, "rds", _, _, kind, id] => (*kind, *id),
        _ => {
            return Err(ApiError::invalid_value(format!(
                "The specified resource name {arn} is not valid"
            )))
        }
    };
    match kind {
        "db" => r
            .db_instances
            .get_mut(id)
            .map(|i| &mut i.tags)
            .ok_or_else(|| instance_not_found(id)),
        "cluster" => r
            .db_clusters
            .get_mut(id)
            .map(|c| &mut c.tags)
            .ok_or_else(|| cluster_not_found(id)),
        "integration" => r
            .integrations
            .get_mut(arn)
            .map(|i| &mut i.tags)
            .ok_or_else(|| integration_not_found(arn)),
        _ => Err(ApiError::invalid_value(format!(
            "aws-sim keeps tags only for db, cluster and integration ARNs, not {arn}"
        ))),
    }
}

fn add_tags(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let arn = p.required("ResourceName")?.to_string();
    let new = p.tags("Tags.Tag");
    let tags = tags_of(ctx.region_state(), &arn)?;
    for (k, v) in new {
        match tags.iter_mut().find(|(tk, _)| *tk == k) {
            Some(t) => t.1 = v,
            None => tags.push((k, v)),
        }
    }
    Ok(Reply::Xml(String::new()))
}

fn remove_tags(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let arn = p.required("ResourceName")?.to_string();
    let keys = p.list("TagKeys.member");
    let tags = tags_of(ctx.region_state(), &arn)?;
    tags.retain(|(k, _)| !keys.contains(k));
    Ok(Reply::Xml(String::new()))
}

fn list_tags(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let arn = p.required("ResourceName")?.to_string();
    let tags = tags_of(ctx.region_state(), &arn)?;
    let mut x = Xml::new();
    x.tags("TagList", "Tag", tags.iter());
    Ok(Reply::Xml(x.finish()))
}
