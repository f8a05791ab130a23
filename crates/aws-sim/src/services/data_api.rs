//! Redshift Data API (awsJson 1.1): ExecuteStatement, DescribeStatement, GetStatementResult over the SQL
//! subset in `sql.rs`. Statements finish after `timings.statement`.

use serde_json::json;

use super::unknown_action;
use crate::model::{Due, Statement, World};
use crate::server::{ApiRequest, Ctx};
use crate::wire::{epoch, ApiError, ApiResult, Reply};

pub fn handle(ctx: &mut Ctx, req: &ApiRequest) -> ApiResult<Reply> {
    match req.action.as_str() {
        "ExecuteStatement" => execute(ctx, req),
        "DescribeStatement" => describe(ctx, req),
        "GetStatementResult" => result(ctx, req),
        _ => Err(unknown_action(req)),
    }
}

fn execute(ctx: &mut Ctx, req: &ApiRequest) -> ApiResult<Reply> {
    let sql = req
        .str("Sql")
        .ok_or_else(|| ApiError::validation("Sql is required"))?
        .to_string();
    let database = req
        .str("Database")
        .ok_or_else(|| ApiError::validation("Database is required"))?
        .to_string();
    let workgroup = req.str("WorkgroupName").map(str::to_string);
    let cluster = req.str("ClusterIdentifier").map(str::to_string);
    let db_user = req.str("DbUser").map(str::to_string);
    let secret = req.str("SecretArn").map(str::to_string);
    let namespace_arn = {
        let r = ctx.region_state();
        match (&workgroup, &cluster) {
            (Some(_), Some(_)) => {
                return Err(ApiError::validation(
                    "Specify either WorkgroupName or ClusterIdentifier, not both.",
                ))
            }
            (Some(w), None) => {
                let wg = r.workgroups.get(w).ok_or_else(|| {
                    ApiError::bad(
                        "ResourceNotFoundException",
                        format!("Workgroup {w} not found."),
                    )
                })?;
                r.serverless_namespaces
                    .get(&wg.namespace_name)
                    .map(|n| n.arn.clone())
                    .unwrap_or_default()
            }
            (None, Some(c)) => {
                if db_user.is_none() && secret.is_none() {
                    return Err(ApiError::validation(
                        "Either DbUser or SecretArn must be specified with ClusterIdentifier.",
                    ));
                }
                r.redshift_clusters
                    .get(c)
                    .ok_or_else(|| {
                        ApiError::bad(
                            "ResourceNotFoundException",
                            format!("Cluster {c} not found."),
                        )
                    })?
                    .namespace_arn
                    .clone()
            }
            (None, None) if secret.is_some() => {
                return Err(ApiError::validation(
                    "SecretArn needs a ClusterIdentifier or a WorkgroupName in aws-sim.",
                ))
            }
            (None, None) => {
                return Err(ApiError::validation(
                    "Either ClusterIdentifier or WorkgroupName must be specified.",
                ))
            }
        }
    };
    let identity = statement_identity(ctx, &namespace_arn, db_user.as_deref(), secret.is_some());
    let id = uuid::Uuid::new_v4().to_string();
    let due = ctx.after(ctx.timings.statement);
    let s = Statement {
        id: id.clone(),
        account: ctx.account().to_string(),
        region: ctx.region.to_string(),
        sql,
        database: database.clone(),
        workgroup_name: workgroup.clone(),
        cluster_identifier: cluster.clone(),
        db_user: db_user.clone(),
        secret_arn: secret.clone(),
        namespace_arn,
        identity,
        consumer: ctx.caller.consumer,
        status: "SUBMITTED".into(),
        error: None,
        has_result_set: false,
        result_rows: -1,
        result: None,
        created_at: ctx.now,
        updated_at: ctx.now,
        due: Some(due),
    };
    let now = ctx.now;
    let r = ctx.region_state();
    r.drop_old_statements(now);
    r.statements.insert(id.clone(), s);
    ctx.schedule(due, Due::Statement(id.clone()));
    Ok(Reply::Json(json!({
        "Id": id,
        "CreatedAt": epoch(&ctx.now),
        "Database": database,
        "WorkgroupName": workgroup,
        "ClusterIdentifier": cluster,
        "DbUser": db_user,
        "SecretArn": secret,
    })))
}

/// The database user a statement runs as: the admin for a secret (aws-sim has no Secrets Manager), the
/// DbUser on a provisioned cluster, else the caller's IAM identity as GetCredentials names it.
fn statement_identity(
    ctx: &mut Ctx,
    namespace_arn: &str,
    db_user: Option<&str>,
    secret: bool,
) -> String {
    if secret {
        if let Some(w) = ctx.region_state().warehouses.get(namespace_arn) {
            return w.admin_user.clone();
        }
    }
    match db_user {
        Some(u) => u.to_string(),
        None => super::serverless::iam_db_user(ctx.caller),
    }
}

fn find<'a>(world: &'a World, account: &str, region: &str, id: &str) -> ApiResult<&'a Statement> {
    world
        .region(account, region)
        .and_then(|r| r.statements.get(id))
        .ok_or_else(|| {
            ApiError::bad(
                "ResourceNotFoundException",
                format!("Query does not exist: {id}"),
            )
        })
}

fn describe(ctx: &mut Ctx, req: &ApiRequest) -> ApiResult<Reply> {
    let id = req
        .str("Id")
        .ok_or_else(|| ApiError::validation("Id is required"))?;
    let s = find(ctx.world, &ctx.caller.account, ctx.region, id)?;
    let duration_ns = if s.status == "FINISHED" || s.status == "FAILED" {
        (s.updated_at - s.created_at).num_nanoseconds().unwrap_or(0)
    } else {
        -1
    };
    Ok(Reply::Json(json!({
        "Id": s.id,
        "Status": s.status,
        "Error": s.error,
        "QueryString": crate::model::redact_passwords(&s.sql),
        "Database": s.database,
        "WorkgroupName": s.workgroup_name,
        "ClusterIdentifier": s.cluster_identifier,
        "DbUser": s.db_user,
        "SecretArn": s.secret_arn,
        "HasResultSet": s.has_result_set,
        "ResultRows": s.result_rows,
        "ResultSize": if s.has_result_set { 1 } else { -1 },
        "Duration": duration_ns,
        "CreatedAt": epoch(&s.created_at),
        "UpdatedAt": epoch(&s.updated_at),
        "RedshiftPid": 1073815778,
        "RedshiftQueryId": 0,
    })))
}

fn result(ctx: &mut Ctx, req: &ApiRequest) -> ApiResult<Reply> {
    let id = req
        .str("Id")
        .ok_or_else(|| ApiError::validation("Id is required"))?;
    let s = find(ctx.world, &ctx.caller.account, ctx.region, id)?;
    if s.status != "FINISHED" {
        return Err(ApiError::validation(format!(
            "Query {id} has not finished (status {}).",
            s.status
        )));
    }
    let Some(result) = s.result.as_ref().filter(|_| s.has_result_set) else {
        return Err(ApiError::bad(
            "ResourceNotFoundException",
            "Query does not have result. Please check query status with DescribeStatement.",
        ));
    };
    Ok(Reply::Json(json!({
        "Records": result.records(),
        "ColumnMetadata": result.column_metadata(),
        "TotalNumRows": result.rows.len(),
    })))
}
