//! STS (awsQuery): AssumeRole honouring trust policies and sts:ExternalId; GetCallerIdentity.

use std::collections::BTreeMap;

use super::unknown_action;
use crate::model::{random_id, Session};
use crate::policy::{self, Principal};
use crate::server::{ApiRequest, Ctx};
use crate::wire::{ApiError, ApiResult, Reply, Xml};

pub fn handle(ctx: &mut Ctx, req: &ApiRequest) -> ApiResult<Reply> {
    match req.action.as_str() {
        "AssumeRole" => assume_role(ctx, req),
        "GetCallerIdentity" => caller_identity(ctx),
        _ => Err(unknown_action(req)),
    }
}

fn assume_role(ctx: &mut Ctx, req: &ApiRequest) -> ApiResult<Reply> {
    let p = &req.params;
    let role_arn = p.required("RoleArn")?.to_string();
    let session_name = p.required("RoleSessionName")?.to_string();
    let duration = p.int("DurationSeconds")?.unwrap_or(3600);
    if !(900..=43200).contains(&duration) {
        return Err(ApiError::bad(
            "ValidationError",
            "DurationSeconds must be between 900 and 43200",
        ));
    }
    let session_re = regex::Regex::new(r"^[A-Za-z0-9_+=,.@-]{2,64}$").expect("static regex");
    if !session_re.is_match(&session_name) {
        return Err(ApiError::bad(
            "ValidationError",
            "RoleSessionName must be 2-64 characters of [\\w+=,.@-]",
        ));
    }
    let denied = || {
        ApiError::new(
            403,
            "AccessDenied",
            format!(
                "User: {} is not authorized to perform: sts:AssumeRole on resource: {role_arn}",
                ctx.caller.arn
            ),
        )
    };
    // arn:aws:iam::ACCOUNT:role/PATH/NAME
    let parts: Vec<&str> = role_arn.splitn(6, ':').collect();
    let (account, resource) = match parts.as_slice() {
        [_, _, "iam", _, account, resource] => (account.to_string(), resource.to_string()),
        _ => {
            return Err(ApiError::bad(
                "ValidationError",
                format!("{role_arn} is not a valid role ARN"),
            ))
        }
    };
    let role_name = resource.rsplit('/').next().unwrap_or_default().to_string();
    let role = ctx
        .world
        .accounts
        .get(&account)
        .and_then(|a| a.roles.get(&role_name))
        .filter(|r| r.arn == role_arn)
        .ok_or_else(denied)?;
    if duration > role.max_session_duration {
        return Err(ApiError::bad(
            "ValidationError",
            "The requested DurationSeconds exceeds the MaxSessionDuration set for this role.",
        ));
    }
    let trust = policy::parse(&role.trust_policy).ok_or_else(denied)?;
    let mut context: BTreeMap<&str, &str> = BTreeMap::new();
    if let Some(e) = p.get("ExternalId") {
        context.insert("sts:ExternalId", e);
    }
    context.insert("aws:PrincipalAccount", &ctx.caller.account);
    context.insert(
        "aws:PrincipalArn",
        ctx.caller.role_arn.as_deref().unwrap_or(&ctx.caller.arn),
    );
    let who = Principal::Aws {
        arn: &ctx.caller.arn,
        account: &ctx.caller.account,
        role_arn: ctx.caller.role_arn.as_deref(),
    };
    if !policy::allows(&trust, &who, "sts:AssumeRole", None, &context) {
        return Err(denied());
    }
    let role_id = role.id.clone();
    let access_key_id = random_id("ASIA", 16);
    let expiration = ctx.now + chrono::Duration::seconds(duration);
    let session = Session {
        access_key_id: access_key_id.clone(),
        account: account.clone(),
        role_name: role_name.clone(),
        role_arn: role_arn.clone(),
        session_name: session_name.clone(),
        assumed_role_id: format!("{role_id}:{session_name}"),
        expiration,
    };
    ctx.world.sessions.insert(access_key_id.clone(), session);
    let mut x = Xml::new();
    x.open("Credentials")
        .el("AccessKeyId", &access_key_id)
        .el("SecretAccessKey", random_id("", 40))
        .el("SessionToken", random_id("FwoGZXIvYXdzESim", 120))
        .time("Expiration", &expiration)
        .close("Credentials")
        .open("AssumedRoleUser")
        .el("AssumedRoleId", format!("{role_id}:{session_name}"))
        .el(
            "Arn",
            format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session_name}"),
        )
        .close("AssumedRoleUser")
        .el("PackedPolicySize", 0);
    Ok(Reply::Xml(x.finish()))
}

fn caller_identity(ctx: &mut Ctx) -> ApiResult<Reply> {
    let mut x = Xml::new();
    x.el("UserId", &ctx.caller.user_id)
        .el("Account", &ctx.caller.account)
        .el("Arn", &ctx.caller.arn);
    Ok(Reply::Xml(x.finish()))
}
