//! Redshift provisioned (awsQuery): clusters, cluster parameter groups, resource policies on namespaces,
//! inbound integrations and temporary database credentials. Also the target-side zero-ETL checks.

use std::collections::BTreeMap;

use super::{max_records, page, unknown_action};
use crate::model::{Due, ParamGroup, RedshiftCluster};
use crate::params;
use crate::policy;
use crate::server::{ApiRequest, Ctx};
use crate::wire::{ApiError, ApiResult, Params, Reply, Xml};

pub fn handle(ctx: &mut Ctx, req: &ApiRequest) -> ApiResult<Reply> {
    let p = &req.params;
    match req.action.as_str() {
        "DescribeClusters" => describe_clusters(ctx, p),
        "DescribeClusterParameterGroups" => describe_groups(ctx, p),
        "CreateClusterParameterGroup" => create_group(ctx, p),
        "ModifyClusterParameterGroup" => modify_group(ctx, p),
        "DescribeClusterParameters" => describe_parameters(ctx, p),
        "ModifyCluster" => modify_cluster(ctx, p),
        "RebootCluster" => reboot_cluster(ctx, p),
        "PutResourcePolicy" => put_policy(ctx, p),
        "GetResourcePolicy" => get_policy(ctx, p),
        "DeleteResourcePolicy" => delete_policy(ctx, p),
        "DescribeInboundIntegrations" => describe_inbound(ctx, p),
        "GetClusterCredentials" => cluster_credentials(ctx, p),
        _ => Err(unknown_action(req)),
    }
}

fn cluster_not_found(id: &str) -> ApiError {
    ApiError::not_found("ClusterNotFound", format!("Cluster {id} not found."))
}

fn group_not_found(name: &str) -> ApiError {
    ApiError::not_found(
        "ClusterParameterGroupNotFound",
        format!("Cluster parameter group {name} not found."),
    )
}

fn write_cluster(x: &mut Xml, c: &RedshiftCluster, region: &str) {
    x.open("Cluster")
        .el("ClusterIdentifier", &c.id)
        .el("NodeType", &c.node_type)
        .el("ClusterStatus", &c.status)
        .el(
            "ClusterAvailabilityStatus",
            if c.status == "available" {
                "Available"
            } else {
                "Maintenance"
            },
        )
        .el("MasterUsername", &c.master_username)
        .el("DBName", &c.db_name)
        .open("Endpoint")
        .el("Address", &c.address)
        .el("Port", c.port)
        .close("Endpoint")
        .time("ClusterCreateTime", &c.create_time)
        .el("AutomatedSnapshotRetentionPeriod", 1)
        .el("ManualSnapshotRetentionPeriod", -1)
        .open("ClusterParameterGroups")
        .open("ClusterParameterGroup")
        .el("ParameterGroupName", &c.parameter_group)
        .el("ParameterApplyStatus", &c.parameter_apply_status)
        .close("ClusterParameterGroup")
        .close("ClusterParameterGroups")
        .el("ClusterSubnetGroupName", "default")
        .el("AvailabilityZone", format!("{region}a"))
        .el("PreferredMaintenanceWindow", "sun:05:00-sun:05:30")
        .el("ClusterVersion", "1.0")
        .el("AllowVersionUpgrade", "true")
        .el("NumberOfNodes", c.number_of_nodes)
        .el("PubliclyAccessible", "false")
        .el("Encrypted", if c.encrypted { "true" } else { "false" })
        .tags("Tags", "Tag", &c.tags)
        .opt("KmsKeyId", c.kms_key_id.as_ref())
        .el("EnhancedVpcRouting", "false")
        .open("IamRoles");
    for r in &c.iam_roles {
        x.open("ClusterIamRole")
            .el("IamRoleArn", r)
            .el("ApplyStatus", "in-sync")
            .close("ClusterIamRole");
    }
    x.close("IamRoles")
        .el("ClusterNamespaceArn", &c.namespace_arn)
        .el("MultiAZ", "Disabled")
        .close("Cluster");
}

fn describe_clusters(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let max = max_records(p)?;
    let region = ctx.region.to_string();
    let r = ctx.region_state();
    let id = p.get("ClusterIdentifier");
    if let Some(id) = id {
        if !r.redshift_clusters.contains_key(id) {
            return Err(cluster_not_found(id));
        }
    }
    let items = r
        .redshift_clusters
        .iter()
        .filter(|(k, _)| id.is_none_or(|id| id == k.as_str()));
    let (items, marker) = page(items.map(|(k, v)| (k.as_str(), v)), p.get("Marker"), max);
    let mut x = Xml::new();
    x.opt("Marker", marker).open("Clusters");
    for c in items {
        write_cluster(&mut x, c, &region);
    }
    x.close("Clusters");
    Ok(Reply::Xml(x.finish()))
}

fn write_group(x: &mut Xml, g: &ParamGroup) {
    x.open("ClusterParameterGroup")
        .el("ParameterGroupName", &g.name)
        .el("ParameterGroupFamily", &g.family)
        .el("Description", &g.description)
        .raw("<Tags></Tags>")
        .close("ClusterParameterGroup");
}

fn describe_groups(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let max = max_records(p)?;
    let name = p.get("ParameterGroupName").map(str::to_string);
    let groups = &ctx.region_state().cluster_parameter_groups;
    if let Some(n) = &name {
        if !groups.contains_key(n) {
            return Err(group_not_found(n));
        }
    }
    let items = groups
        .iter()
        .filter(|(k, _)| name.as_ref().is_none_or(|n| n == *k));
    let (items, marker) = page(items.map(|(k, v)| (k.as_str(), v)), p.get("Marker"), max);
    let mut x = Xml::new();
    x.opt("Marker", marker).open("ParameterGroups");
    for g in items {
        write_group(&mut x, g);
    }
    x.close("ParameterGroups");
    Ok(Reply::Xml(x.finish()))
}

fn create_group(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let name = p.required("ParameterGroupName")?.to_string();
    let family = p.required("ParameterGroupFamily")?.to_string();
    let description = p.required("Description")?.to_string();
    if family != "redshift-2.0" {
        return Err(ApiError::invalid_value(format!(
            "Parameter group family {family} is not valid"
        )));
    }
    if name.starts_with("default.") {
        return Err(ApiError::invalid_value(
            "The parameter group name cannot start with \"default.\"",
        ));
    }
    let groups = &mut ctx.region_state().cluster_parameter_groups;
    if groups.contains_key(&name) {
        return Err(ApiError::bad(
            "ClusterParameterGroupAlreadyExists",
            format!("Parameter group {name} already exists."),
        ));
    }
    let g = ParamGroup::new(&name, &family, Some(description));
    let mut x = Xml::new();
    write_group(&mut x, &g);
    groups.insert(name, g);
    Ok(Reply::Xml(x.finish()))
}

fn modify_group(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let name = p.required("ParameterGroupName")?.to_string();
    let changes = p.structs("Parameters.Parameter");
    if changes.is_empty() {
        return Err(ApiError::bad(
            "MissingParameter",
            "The request must contain the parameter Parameters",
        ));
    }
    let r = ctx.region_state();
    let g = r
        .cluster_parameter_groups
        .get_mut(&name)
        .ok_or_else(|| group_not_found(&name))?;
    if g.is_default {
        return Err(ApiError::bad(
            "InvalidClusterParameterGroupState",
            "Default parameter groups cannot be modified",
        ));
    }
    let mut any_static = false;
    let mut dynamic = Vec::new();
    for c in &changes {
        let k = c
            .get("ParameterName")
            .ok_or_else(|| ApiError::invalid_value("ParameterName is required"))?
            .to_string();
        let v = c.0.get("ParameterValue").cloned().unwrap_or_default();
        if !g.parameters.contains_key(&k) {
            return Err(ApiError::invalid_value(format!(
                "Could not find parameter with name: {k}"
            )));
        }
        if params::is_static(&g.family, &k) {
            any_static = true;
        } else {
            dynamic.push((k.clone(), v.clone()));
        }
        g.parameters.insert(k.clone(), v);
        if !g.user_set.contains(&k) {
            g.user_set.push(k);
        }
    }
    for c in r
        .redshift_clusters
        .values_mut()
        .filter(|c| c.parameter_group == name)
    {
        c.effective_parameters.extend(dynamic.iter().cloned());
        if any_static {
            c.parameter_apply_status = "pending-reboot".into();
        }
    }
    let mut x = Xml::new();
    x.el("ParameterGroupName", &name).el(
        "ParameterGroupStatus",
        "Your parameter group has been updated. If you changed only dynamic parameters, associated clusters are being modified now. If you changed static parameters, all updates, including dynamic parameters, will be applied when you reboot the associated clusters.",
    );
    Ok(Reply::Xml(x.finish()))
}

fn describe_parameters(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let name = p.required("ParameterGroupName")?.to_string();
    let max = max_records(p)?;
    let source = p.get("Source").map(str::to_string);
    let g = ctx
        .region_state()
        .cluster_parameter_groups
        .get(&name)
        .ok_or_else(|| group_not_found(&name))?;
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
        x.open("Parameter")
            .el("ParameterName", k)
            .el("ParameterValue", v)
            .el("Description", k)
            .el(
                "Source",
                if g.user_set.contains(k) {
                    "user"
                } else {
                    "engine-default"
                },
            )
            .el("DataType", "string")
            .el(
                "ApplyType",
                if params::is_static(&g.family, k) {
                    "static"
                } else {
                    "dynamic"
                },
            )
            .el("IsModifiable", "true")
            .close("Parameter");
    }
    x.close("Parameters").opt("Marker", marker);
    Ok(Reply::Xml(x.finish()))
}

fn modify_cluster(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let id = p.required("ClusterIdentifier")?.to_string();
    let region = ctx.region.to_string();
    let r = ctx.region_state();
    if let Some(g) = p.get("ClusterParameterGroupName") {
        if !r.cluster_parameter_groups.contains_key(g) {
            return Err(group_not_found(g));
        }
    }
    let c = r
        .redshift_clusters
        .get_mut(&id)
        .ok_or_else(|| cluster_not_found(&id))?;
    if c.status != "available" {
        return Err(ApiError::bad(
            "InvalidClusterState",
            format!(
                "The cluster {id} is not in available state (is {}).",
                c.status
            ),
        ));
    }
    if let Some(g) = p.get("ClusterParameterGroupName") {
        if g != c.parameter_group {
            c.parameter_group = g.to_string();
            c.parameter_apply_status = "pending-reboot".into();
        }
    }
    let mut x = Xml::new();
    write_cluster(&mut x, c, &region);
    Ok(Reply::Xml(x.finish()))
}

fn reboot_cluster(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let id = p.required("ClusterIdentifier")?.to_string();
    let due = ctx.after(ctx.timings.reboot);
    let region = ctx.region.to_string();
    let c = ctx
        .region_state()
        .redshift_clusters
        .get_mut(&id)
        .ok_or_else(|| cluster_not_found(&id))?;
    if c.status != "available" {
        return Err(ApiError::bad(
            "InvalidClusterState",
            format!(
                "The cluster {id} is not in available state (is {}).",
                c.status
            ),
        ));
    }
    c.status = "rebooting".into();
    c.due = Some(due);
    let mut x = Xml::new();
    write_cluster(&mut x, c, &region);
    ctx.schedule(due, Due::RedshiftCluster(id));
    Ok(Reply::Xml(x.finish()))
}

/// The namespace ARN must name a namespace in the caller's account and region.
fn own_namespace(ctx: &mut Ctx, arn: &str) -> ApiResult<()> {
    let known = ctx
        .world
        .warehouse(arn)
        .is_some_and(|w| w.account == ctx.caller.account && w.region == ctx.region);
    if known {
        Ok(())
    } else {
        Err(ApiError::not_found(
            "ResourceNotFoundFault",
            format!("The resource {arn} could not be found."),
        ))
    }
}

fn write_policy(arn: &str, policy: &str) -> String {
    let mut x = Xml::new();
    x.open("ResourcePolicy")
        .el("ResourceArn", arn)
        .el("Policy", policy)
        .close("ResourcePolicy");
    x.finish()
}

fn put_policy(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let arn = p.required("ResourceArn")?.to_string();
    let text = p.required("Policy")?.to_string();
    own_namespace(ctx, &arn)?;
    if policy::parse(&text).is_none() {
        return Err(ApiError::bad(
            "InvalidPolicyFault",
            "The resource policy isn't valid JSON.",
        ));
    }
    ctx.region_state()
        .resource_policies
        .insert(arn.clone(), text.clone());
    Ok(Reply::Xml(write_policy(&arn, &text)))
}

fn get_policy(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let arn = p.required("ResourceArn")?.to_string();
    own_namespace(ctx, &arn)?;
    let text = ctx
        .region_state()
        .resource_policies
        .get(&arn)
        .cloned()
        .ok_or_else(|| {
            ApiError::not_found(
                "ResourceNotFoundFault",
                format!("No resource policy is attached to {arn}."),
            )
        })?;
    Ok(Reply::Xml(write_policy(&arn, &text)))
}

fn delete_policy(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let arn = p.required("ResourceArn")?.to_string();
    own_namespace(ctx, &arn)?;
    if ctx.region_state().resource_policies.remove(&arn).is_none() {
        return Err(ApiError::not_found(
            "ResourceNotFoundFault",
            format!("No resource policy is attached to {arn}."),
        ));
    }
    Ok(Reply::Xml(String::new()))
}

fn describe_inbound(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let max = max_records(p)?;
    let account = ctx.account().to_string();
    let region = ctx.region.to_string();
    let target = p.get("TargetArn").map(str::to_string);
    let wanted = p.get("IntegrationArn").map(str::to_string);
    if let Some(t) = &target {
        if ctx
            .world
            .namespace_location(t)
            .is_none_or(|(a, r)| a != account || r != region)
        {
            return Err(ApiError::bad(
                "InvalidNamespaceFault",
                format!("The namespace {t} is not valid."),
            ));
        }
    }
    // Inbound integrations are those whose target namespace lives in the caller's account and region,
    // whichever account created them.
    let mut found: BTreeMap<String, &crate::model::Integration> = BTreeMap::new();
    for a in ctx.world.accounts.values() {
        for r in a.regions.values() {
            for i in r.integrations.values() {
                let local = ctx
                    .world
                    .namespace_location(&i.target_arn)
                    .is_some_and(|(a, r)| a == account && r == region);
                if local
                    && target.as_ref().is_none_or(|t| *t == i.target_arn)
                    && wanted.as_ref().is_none_or(|w| *w == i.integration_arn)
                {
                    found.insert(i.integration_arn.clone(), i);
                }
            }
        }
    }
    if let Some(w) = &wanted {
        if found.is_empty() {
            return Err(ApiError::not_found(
                "IntegrationNotFoundFault",
                format!("Integration {w} not found."),
            ));
        }
    }
    let (items, marker) = page(
        found.iter().map(|(k, v)| (k.as_str(), *v)),
        p.get("Marker"),
        max,
    );
    let mut x = Xml::new();
    x.opt("Marker", marker).open("InboundIntegrations");
    for i in items {
        x.open("InboundIntegration")
            .el("IntegrationArn", &i.integration_arn)
            .el("SourceArn", &i.source_arn)
            .el("TargetArn", &i.target_arn)
            .el("Status", &i.status)
            .open("Errors");
        for e in &i.errors {
            x.open("IntegrationError")
                .el("ErrorCode", &e.error_code)
                .el("ErrorMessage", &e.error_message)
                .close("IntegrationError");
        }
        x.close("Errors")
            .time("CreateTime", &i.create_time)
            .close("InboundIntegration");
    }
    x.close("InboundIntegrations");
    Ok(Reply::Xml(x.finish()))
}

pub fn random_password() -> String {
    crate::model::random_id("Sim", 29)
}

fn cluster_credentials(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let user = p.required("DbUser")?.to_string();
    let id = p.required("ClusterIdentifier")?.to_string();
    let duration = p.int("DurationSeconds")?.unwrap_or(900);
    if !(900..=3600).contains(&duration) {
        return Err(ApiError::invalid_value(
            "DurationSeconds must be between 900 and 3600",
        ));
    }
    let expiration = ctx.now + chrono::Duration::seconds(duration);
    if !ctx.region_state().redshift_clusters.contains_key(&id) {
        return Err(cluster_not_found(&id));
    }
    let mut x = Xml::new();
    x.el("DbUser", format!("IAM:{user}"))
        .el("DbPassword", random_password())
        .time("Expiration", &expiration);
    Ok(Reply::Xml(x.finish()))
}
