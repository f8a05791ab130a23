//! One module per AWS service; each maps an action to a handler over the world.

pub mod data_api;
pub mod iam;
pub mod kms;
pub mod rds;
pub mod redshift;
pub mod resources;
pub mod s3;
pub mod serverless;
pub mod sts;
pub mod zero_etl_target;

use crate::identity::Caller;
use crate::model::World;
use crate::server::{ApiRequest, Ctx};
use crate::wire::{ApiError, ApiResult, Reply};

pub fn dispatch(ctx: &mut Ctx, req: &ApiRequest) -> ApiResult<Reply> {
    match req.service.as_str() {
        "rds" => rds::handle(ctx, req),
        "redshift" => redshift::handle(ctx, req),
        "redshift-serverless" => serverless::handle(ctx, req),
        "redshift-data" => data_api::handle(ctx, req),
        "iam" => iam::handle(ctx, req),
        "sts" => sts::handle(ctx, req),
        "kms" => kms::handle(ctx, req),
        "s3" => s3::handle(ctx, req),
        other => Err(ApiError::bad(
            "UnknownService",
            format!("aws-sim does not simulate service {other:?}"),
        )),
    }
}

pub fn unknown_action(req: &ApiRequest) -> ApiError {
    match crate::server::protocol_for(&req.service) {
        crate::wire::Protocol::Json => ApiError::bad(
            "UnknownOperationException",
            format!("aws-sim does not implement {}", req.action),
        ),
        _ => ApiError::bad(
            "InvalidAction",
            format!(
                "The action {} is not valid for this web service.",
                req.action
            ),
        ),
    }
}

/// The resource an action targets, for AccessDenied messages (best effort; `*` when unknown).
pub fn resource_hint(world: &World, caller: &Caller, region: &str, req: &ApiRequest) -> String {
    let acct = &caller.account;
    let p = &req.params;
    let rds = |kind: &str, id: Option<&str>| {
        id.map(|i| format!("arn:aws:rds:{region}:{acct}:{kind}:{i}"))
    };
    let hint = match (req.service.as_str(), req.action.as_str()) {
        ("rds", "CreateIntegration") => p.get("SourceArn").map(str::to_string),
        ("rds", "ModifyIntegration" | "DeleteIntegration") => {
            p.get("IntegrationIdentifier").map(|k| {
                world
                    .find_integration(acct, region, k)
                    .map(|i| i.integration_arn.clone())
                    .unwrap_or_else(|| k.to_string())
            })
        }
        ("rds", "ModifyDBCluster" | "RebootDBCluster") => {
            rds("cluster", p.get("DBClusterIdentifier"))
        }
        ("rds", "ModifyDBInstance" | "RebootDBInstance") => {
            rds("db", p.get("DBInstanceIdentifier"))
        }
        ("rds", "ModifyDBParameterGroup" | "CreateDBParameterGroup") => {
            rds("pg", p.get("DBParameterGroupName"))
        }
        ("rds", "ModifyDBClusterParameterGroup" | "CreateDBClusterParameterGroup") => {
            rds("cluster-pg", p.get("DBClusterParameterGroupName"))
        }
        ("rds", "AddTagsToResource" | "RemoveTagsFromResource" | "ListTagsForResource") => {
            p.get("ResourceName").map(str::to_string)
        }
        ("redshift", "PutResourcePolicy" | "GetResourcePolicy" | "DeleteResourcePolicy") => {
            p.get("ResourceArn").map(str::to_string)
        }
        ("redshift", "ModifyCluster" | "RebootCluster" | "GetClusterCredentials") => p
            .get("ClusterIdentifier")
            .map(|c| format!("arn:aws:redshift:{region}:{acct}:cluster:{c}")),
        ("redshift", "ModifyClusterParameterGroup") => p
            .get("ParameterGroupName")
            .map(|g| format!("arn:aws:redshift:{region}:{acct}:parametergroup:{g}")),
        ("redshift-serverless", "UpdateWorkgroup" | "GetWorkgroup" | "GetCredentials") => {
            req.str("workgroupName").map(|w| {
                world
                    .region(acct, region)
                    .and_then(|r| r.workgroups.get(w))
                    .map(|w| w.arn.clone())
                    .unwrap_or_else(|| {
                        format!("arn:aws:redshift-serverless:{region}:{acct}:workgroup/{w}")
                    })
            })
        }
        ("sts", "AssumeRole") => p.get("RoleArn").map(str::to_string),
        ("iam", _) => p
            .get("RoleName")
            .map(|r| format!("arn:aws:iam::{acct}:role/{r}")),
        ("s3", _) => Some(format!("arn:aws:s3:::{}", req.path.trim_matches('/'))),
        _ => None,
    };
    hint.unwrap_or_else(|| "*".to_string())
}

/// Parse MaxRecords (20–100, default 100) and a numeric-free Marker for query-protocol pagination.
pub fn max_records(p: &crate::wire::Params) -> ApiResult<usize> {
    match p.int("MaxRecords")? {
        None => Ok(100),
        Some(n) if (20..=100).contains(&n) => Ok(n as usize),
        Some(n) => Err(ApiError::invalid_value(format!(
            "Invalid value {n} for MaxRecords. Must be between 20 and 100"
        ))),
    }
}

/// One page of `items` (in ascending key order) starting after `marker`; the marker is the last key
/// returned, so an item deleted between pages does not break pagination.
pub fn page<'a, T>(
    items: impl Iterator<Item = (&'a str, T)>,
    marker: Option<&str>,
    max: usize,
) -> (Vec<T>, Option<String>) {
    let mut out = Vec::new();
    let mut last_key: Option<String> = None;
    for (key, item) in items {
        if marker.is_some_and(|m| key <= m) {
            continue;
        }
        if out.len() == max {
            return (out, last_key);
        }
        last_key = Some(key.to_string());
        out.push(item);
    }
    (out, None)
}
