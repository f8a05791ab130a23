//! RDS DB and DB cluster parameter groups: describe, create (with tags), modify, and their parameters.

use std::collections::BTreeMap;

use super::{max_records, page};
use crate::model::{ParamGroup, Region};
use crate::params;
use crate::server::Ctx;
use crate::wire::{ApiError, ApiResult, Params, Reply, Xml};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum GroupKind {
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
    pub(super) fn not_found(self, name: &str) -> ApiError {
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
pub(super) fn describe_parameters(ctx: &mut Ctx, p: &Params, kind: GroupKind) -> ApiResult<Reply> {
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

pub(super) fn describe_groups(ctx: &mut Ctx, p: &Params, kind: GroupKind) -> ApiResult<Reply> {
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

pub(super) fn create_group(ctx: &mut Ctx, p: &Params, kind: GroupKind) -> ApiResult<Reply> {
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
    let mut g = ParamGroup::new(&name, &family, Some(description));
    g.tags = p.tags("Tags.Tag");
    let mut x = Xml::new();
    write_group(&mut x, kind, &g, &group_arn(kind, &region, &account, &name));
    groups.insert(name, g);
    Ok(Reply::Xml(x.finish()))
}

pub(super) fn modify_group(ctx: &mut Ctx, p: &Params, kind: GroupKind) -> ApiResult<Reply> {
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
