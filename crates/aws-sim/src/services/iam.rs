//! IAM (awsQuery): roles, trust policies, inline role policies and role tags. Policy documents come back
//! URL-encoded, as real IAM returns them.

use super::unknown_action;
use crate::model::{random_id, Role};
use crate::policy;
use crate::server::{ApiRequest, Ctx};
use crate::wire::{ApiError, ApiResult, Params, Reply, Xml};

pub fn handle(ctx: &mut Ctx, req: &ApiRequest) -> ApiResult<Reply> {
    let p = &req.params;
    match req.action.as_str() {
        "GetRole" => get_role(ctx, p),
        "CreateRole" => create_role(ctx, p),
        "DeleteRole" => delete_role(ctx, p),
        "UpdateAssumeRolePolicy" => update_trust(ctx, p),
        "PutRolePolicy" => put_role_policy(ctx, p),
        "GetRolePolicy" => get_role_policy(ctx, p),
        "DeleteRolePolicy" => delete_role_policy(ctx, p),
        "ListRolePolicies" => list_role_policies(ctx, p),
        "TagRole" => tag_role(ctx, p),
        _ => Err(unknown_action(req)),
    }
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

fn no_such_role(name: &str) -> ApiError {
    ApiError::not_found(
        "NoSuchEntity",
        format!("The role with name {name} cannot be found."),
    )
}

fn roles<'a>(ctx: &'a mut Ctx) -> &'a mut std::collections::BTreeMap<String, Role> {
    let account = ctx.caller.account.clone();
    &mut ctx
        .world
        .accounts
        .get_mut(&account)
        .expect("caller account exists")
        .roles
}

fn role_mut<'a>(ctx: &'a mut Ctx, name: &str) -> ApiResult<&'a mut Role> {
    roles(ctx).get_mut(name).ok_or_else(|| no_such_role(name))
}

fn write_role(x: &mut Xml, r: &Role) {
    x.open("Role")
        .el("Path", &r.path)
        .el("RoleName", &r.name)
        .el("RoleId", &r.id)
        .el("Arn", &r.arn)
        .time("CreateDate", &r.create_date)
        .el("AssumeRolePolicyDocument", url_encode(&r.trust_policy))
        .opt("Description", r.description.as_ref())
        .el("MaxSessionDuration", r.max_session_duration)
        .tags("Tags", "member", &r.tags)
        .raw("<RoleLastUsed/>")
        .close("Role");
}

fn checked_policy(text: &str) -> ApiResult<String> {
    policy::parse(text)
        .map(|_| text.to_string())
        .ok_or_else(|| {
            ApiError::bad(
                "MalformedPolicyDocument",
                "This policy contains invalid Json",
            )
        })
}

fn get_role(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let name = p.required("RoleName")?.to_string();
    let r = role_mut(ctx, &name)?;
    let mut x = Xml::new();
    write_role(&mut x, r);
    Ok(Reply::Xml(x.finish()))
}

fn create_role(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let name = p.required("RoleName")?.to_string();
    let trust = checked_policy(p.required("AssumeRolePolicyDocument")?)?;
    let path = p.get("Path").unwrap_or("/").to_string();
    let max = p.int("MaxSessionDuration")?.unwrap_or(3600);
    let account = ctx.account().to_string();
    let now = ctx.now;
    let roles = roles(ctx);
    if roles.contains_key(&name) {
        return Err(ApiError::new(
            409,
            "EntityAlreadyExists",
            format!("Role with name {name} already exists."),
        ));
    }
    let role = Role {
        id: random_id("AROA", 17),
        arn: format!("arn:aws:iam::{account}:role{path}{name}"),
        name: name.clone(),
        path,
        description: p.get("Description").map(str::to_string),
        trust_policy: trust,
        max_session_duration: max,
        inline_policies: Default::default(),
        tags: p.tags("Tags.member"),
        deny: Vec::new(),
        enforce_policies: false,
        create_date: now,
    };
    let mut x = Xml::new();
    write_role(&mut x, &role);
    roles.insert(name, role);
    Ok(Reply::Xml(x.finish()))
}

fn delete_role(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let name = p.required("RoleName")?.to_string();
    let r = role_mut(ctx, &name)?;
    if !r.inline_policies.is_empty() {
        return Err(ApiError::new(
            409,
            "DeleteConflict",
            "Cannot delete entity, must delete policies first.",
        ));
    }
    roles(ctx).remove(&name);
    Ok(Reply::Xml(String::new()))
}

fn update_trust(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let name = p.required("RoleName")?.to_string();
    let doc = checked_policy(p.required("PolicyDocument")?)?;
    role_mut(ctx, &name)?.trust_policy = doc;
    Ok(Reply::Xml(String::new()))
}

fn put_role_policy(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let name = p.required("RoleName")?.to_string();
    let policy_name = p.required("PolicyName")?.to_string();
    let doc = checked_policy(p.required("PolicyDocument")?)?;
    role_mut(ctx, &name)?
        .inline_policies
        .insert(policy_name, doc);
    Ok(Reply::Xml(String::new()))
}

fn get_role_policy(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let name = p.required("RoleName")?.to_string();
    let policy_name = p.required("PolicyName")?.to_string();
    let r = role_mut(ctx, &name)?;
    let doc = r.inline_policies.get(&policy_name).ok_or_else(|| {
        ApiError::not_found(
            "NoSuchEntity",
            format!("The role policy with name {policy_name} cannot be found."),
        )
    })?;
    let mut x = Xml::new();
    x.el("RoleName", &name)
        .el("PolicyName", &policy_name)
        .el("PolicyDocument", url_encode(doc));
    Ok(Reply::Xml(x.finish()))
}

fn delete_role_policy(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let name = p.required("RoleName")?.to_string();
    let policy_name = p.required("PolicyName")?.to_string();
    if role_mut(ctx, &name)?
        .inline_policies
        .remove(&policy_name)
        .is_none()
    {
        return Err(ApiError::not_found(
            "NoSuchEntity",
            format!("The role policy with name {policy_name} cannot be found."),
        ));
    }
    Ok(Reply::Xml(String::new()))
}

fn list_role_policies(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let name = p.required("RoleName")?.to_string();
    let r = role_mut(ctx, &name)?;
    let mut x = Xml::new();
    x.strings("PolicyNames", "member", r.inline_policies.keys())
        .el("IsTruncated", "false");
    Ok(Reply::Xml(x.finish()))
}

fn tag_role(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let name = p.required("RoleName")?.to_string();
    let new = p.tags("Tags.member");
    let r = role_mut(ctx, &name)?;
    for (k, v) in new {
        match r.tags.iter_mut().find(|(tk, _)| *tk == k) {
            Some(t) => t.1 = v,
            None => r.tags.push((k, v)),
        }
    }
    Ok(Reply::Xml(String::new()))
}
