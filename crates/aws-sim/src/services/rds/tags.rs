//! RDS tags on instances, clusters, DB and DB cluster parameter groups and integrations, addressed by ARN.

use super::integrations::integration_not_found;
use super::{cluster_not_found, instance_not_found, GroupKind};
use crate::model::{Region, Tags};
use crate::server::Ctx;
use crate::wire::{ApiError, ApiResult, Params, Reply, Xml};

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
        "pg" => r
            .db_parameter_groups
            .get_mut(id)
            .map(|g| &mut g.tags)
            .ok_or_else(|| GroupKind::Instance.not_found(id)),
        "cluster-pg" => r
            .db_cluster_parameter_groups
            .get_mut(id)
            .map(|g| &mut g.tags)
            .ok_or_else(|| GroupKind::Cluster.not_found(id)),
        _ => Err(ApiError::invalid_value(format!(
            "aws-sim keeps tags only for db, cluster, pg, cluster-pg and integration ARNs, not {arn}"
        ))),
    }
}

pub(super) fn add_tags(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
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

pub(super) fn remove_tags(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let arn = p.required("ResourceName")?.to_string();
    let keys = p.list("TagKeys.member");
    let tags = tags_of(ctx.region_state(), &arn)?;
    tags.retain(|(k, _)| !keys.contains(k));
    Ok(Reply::Xml(String::new()))
}

pub(super) fn list_tags(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let arn = p.required("ResourceName")?.to_string();
    let tags = tags_of(ctx.region_state(), &arn)?;
    let mut x = Xml::new();
    x.tags("TagList", "Tag", tags.iter());
    Ok(Reply::Xml(x.finish()))
}
