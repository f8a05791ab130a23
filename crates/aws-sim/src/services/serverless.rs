//! Redshift Serverless (awsJson 1.1): namespaces, workgroups and temporary credentials.

use serde_json::{json, Value};

use super::unknown_action;
use crate::model::{Due, Namespace, Workgroup};
use crate::server::{ApiRequest, Ctx};
use crate::wire::{epoch, iso, ApiError, ApiResult, Reply};

/// Config parameters UpdateWorkgroup accepts (from the Redshift Serverless API reference).
const CONFIG_KEYS: &[&str] = &[
    "auto_mv",
    "datestyle",
    "enable_case_sensitive_identifier",
    "enable_user_activity_logging",
    "query_group",
    "search_path",
    "require_ssl",
    "use_fips_ssl",
    "max_query_execution_time",
];

pub fn handle(ctx: &mut Ctx, req: &ApiRequest) -> ApiResult<Reply> {
    match req.action.as_str() {
        "GetNamespace" => get_namespace(ctx, req),
        "ListNamespaces" => list_namespaces(ctx, req),
        "GetWorkgroup" => get_workgroup(ctx, req),
        "ListWorkgroups" => list_workgroups(ctx, req),
        "UpdateWorkgroup" => update_workgroup(ctx, req),
        "GetCredentials" => get_credentials(ctx, req),
        _ => Err(unknown_action(req)),
    }
}

fn not_found(what: &str, name: &str) -> ApiError {
    ApiError::bad(
        "ResourceNotFoundException",
        format!("{what} {name} not found."),
    )
}

fn namespace_json(n: &Namespace) -> Value {
    json!({
        "namespaceArn": n.arn,
        "namespaceId": n.id,
        "namespaceName": n.name,
        "adminUsername": n.admin_username,
        "dbName": n.db_name,
        "kmsKeyId": n.kms_key_id,
        "defaultIamRoleArn": n.default_iam_role_arn,
        "iamRoles": n.iam_roles,
        "logExports": [],
        "status": n.status,
        "creationDate": iso(&n.creation_date),
    })
}

fn workgroup_json(w: &Workgroup) -> Value {
    let params: Vec<Value> = w
        .config_parameters
        .iter()
        .map(|(k, v)| json!({"parameterKey": k, "parameterValue": v}))
        .collect();
    json!({
        "workgroupId": w.id,
        "workgroupArn": w.arn,
        "workgroupName": w.name,
        "namespaceName": w.namespace_name,
        "baseCapacity": w.base_capacity,
        "enhancedVpcRouting": false,
        "configParameters": params,
        "securityGroupIds": ["sg-0sim"],
        "subnetIds": ["subnet-0sima", "subnet-0simb"],
        "status": w.status,
        "endpoint": {"address": w.address, "port": w.port, "vpcEndpoints": []},
        "publiclyAccessible": false,
        "creationDate": iso(&w.creation_date),
        "port": w.port,
    })
}

fn get_namespace(ctx: &mut Ctx, req: &ApiRequest) -> ApiResult<Reply> {
    let name = req
        .str("namespaceName")
        .ok_or_else(|| ApiError::validation("namespaceName is required"))?;
    let n = ctx
        .region_state()
        .serverless_namespaces
        .get(name)
        .ok_or_else(|| not_found("Namespace", name))?;
    Ok(Reply::Json(json!({"namespace": namespace_json(n)})))
}

fn list_namespaces(ctx: &mut Ctx, req: &ApiRequest) -> ApiResult<Reply> {
    let max = req.int("maxResults").unwrap_or(100);
    if !(1..=100).contains(&max) {
        return Err(ApiError::validation("maxResults must be between 1 and 100"));
    }
    let token = req.str("nextToken").map(str::to_string);
    let r = ctx.region_state();
    let (items, next) = super::page(
        r.serverless_namespaces.iter().map(|(k, v)| (k.as_str(), v)),
        token.as_deref(),
        max as usize,
    );
    let list: Vec<Value> = items.into_iter().map(namespace_json).collect();
    Ok(Reply::Json(json!({"namespaces": list, "nextToken": next})))
}

fn list_workgroups(ctx: &mut Ctx, req: &ApiRequest) -> ApiResult<Reply> {
    let max = req.int("maxResults").unwrap_or(100);
    if !(1..=100).contains(&max) {
        return Err(ApiError::validation("maxResults must be between 1 and 100"));
    }
    let token = req.str("nextToken").map(str::to_string);
    let r = ctx.region_state();
    let (items, next) = super::page(
        r.workgroups.iter().map(|(k, v)| (k.as_str(), v)),
        token.as_deref(),
        max as usize,
    );
    let list: Vec<Value> = items.into_iter().map(workgroup_json).collect();
    Ok(Reply::Json(json!({"workgroups": list, "nextToken": next})))
}

fn get_workgroup(ctx: &mut Ctx, req: &ApiRequest) -> ApiResult<Reply> {
    let name = req
        .str("workgroupName")
        .ok_or_else(|| ApiError::validation("workgroupName is required"))?;
    let w = ctx
        .region_state()
        .workgroups
        .get(name)
        .ok_or_else(|| not_found("Workgroup", name))?;
    Ok(Reply::Json(json!({"workgroup": workgroup_json(w)})))
}

fn update_workgroup(ctx: &mut Ctx, req: &ApiRequest) -> ApiResult<Reply> {
    let name = req
        .str("workgroupName")
        .ok_or_else(|| ApiError::validation("workgroupName is required"))?
        .to_string();
    let mut updates = Vec::new();
    if let Some(list) = req.json.get("configParameters").and_then(Value::as_array) {
        for item in list {
            let key = item
                .get("parameterKey")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let value = item
                .get("parameterValue")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if !CONFIG_KEYS.contains(&key) {
                return Err(ApiError::validation(format!(
                    "The parameter key {key} isn't supported."
                )));
            }
            updates.push((key.to_string(), value.to_string()));
        }
    }
    let due = ctx.after(ctx.timings.workgroup_update);
    let w = ctx
        .region_state()
        .workgroups
        .get_mut(&name)
        .ok_or_else(|| not_found("Workgroup", &name))?;
    if w.status != "AVAILABLE" {
        return Err(ApiError::bad(
            "ConflictException",
            format!("There is an operation running on the workgroup {name}. Try again later."),
        ));
    }
    if let Some(cap) = req.int("baseCapacity") {
        w.base_capacity = cap;
    }
    // Serverless applies config parameters without a reboot; the workgroup is MODIFYING meanwhile.
    w.config_parameters.extend(updates);
    w.status = "MODIFYING".into();
    w.due = Some(due);
    let body = json!({"workgroup": workgroup_json(w)});
    ctx.schedule(due, Due::Workgroup(name));
    Ok(Reply::Json(body))
}

/// The database user temporary credentials map an IAM identity to: `IAM:<user>`, or `IAMR:<role>` for
/// an assumed role.
pub fn iam_db_user(caller: &crate::identity::Caller) -> String {
    let prefix = if caller.role_arn.is_some() {
        "IAMR"
    } else {
        "IAM"
    };
    format!("{prefix}:{}", caller.name)
}

fn get_credentials(ctx: &mut Ctx, req: &ApiRequest) -> ApiResult<Reply> {
    let duration = req.int("durationSeconds").unwrap_or(900);
    if !(900..=3600).contains(&duration) {
        return Err(ApiError::validation(
            "durationSeconds must be between 900 and 3600",
        ));
    }
    let name = req
        .str("workgroupName")
        .ok_or_else(|| ApiError::validation("workgroupName is required"))?
        .to_string();
    let user = iam_db_user(ctx.caller);
    if !ctx.region_state().workgroups.contains_key(&name) {
        return Err(not_found("Workgroup", &name));
    }
    let expiration = ctx.now + chrono::Duration::seconds(duration);
    Ok(Reply::Json(json!({
        "dbUser": user,
        "dbPassword": super::redshift::random_password(),
        "expiration": epoch(&expiration),
        "nextRefreshTime": epoch(&expiration),
    })))
}
