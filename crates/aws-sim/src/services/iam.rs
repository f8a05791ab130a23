//! IAM (awsQuery): roles, trust policies, inline role policies and role tags, with IAM's validation. Role
//! names are unique regardless of case and looked up exactly first, then case-insensitively. Policy
//! documents come back URL-encoded, as real IAM returns them. Roles made here are *enforced*: their
//! sessions may do only what their inline policies allow (`crate::authz`).

use std::collections::BTreeMap;

use super::unknown_action;
use crate::model::{random_id, Role};
use crate::server::{ApiRequest, Ctx};
use crate::wire::{ApiError, ApiResult, Params, Reply, Xml};

pub fn handle(ctx: &mut Ctx, req: &ApiRequest) -> ApiResult<Reply> {
    let p = &req.params;
    match req.action.as_str() {
        "GetRole" => get_role(ctx, p),
        "CreateRole" => create_role(ctx, p),
        "DeleteRole" => delete_role(ctx, p),
        "UpdateRole" => update_role(ctx, p),
        "UpdateAssumeRolePolicy" => update_trust(ctx, p),
        "PutRolePolicy" => put_role_policy(ctx, p),
        "GetRolePolicy" => get_role_policy(ctx, p),
        "DeleteRolePolicy" => delete_role_policy(ctx, p),
        "ListRolePolicies" => list_role_policies(ctx, p),
        "TagRole" => tag_role(ctx, p),
        "UntagRole" => untag_role(ctx, p),
        "ListRoleTags" => list_role_tags(ctx, p),
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

fn validation(field: &str, value: &str, constraint: &str) -> ApiError {
    ApiError::bad(
        "ValidationError",
        format!("1 validation error detected: Value '{value}' at '{field}' failed to satisfy constraint: {constraint}"),
    )
}

/// `[\w+=,.@-]+` (ASCII word characters), `max` characters at most.
fn check_name(field: &str, value: &str, max: usize) -> ApiResult<()> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c);
    if value.is_empty() || value.chars().count() > max {
        return Err(validation(
            field,
            value,
            &format!("Member must have length between 1 and {max}"),
        ));
    }
    if !value.chars().all(ok_char) {
        return Err(validation(
            field,
            value,
            "Member must satisfy regular expression pattern: [\\w+=,.@-]+",
        ));
    }
    Ok(())
}

fn check_path(path: &str) -> ApiResult<()> {
    let inner_ok = path
        .strip_prefix('/')
        .and_then(|p| p.strip_suffix('/').or((p.is_empty()).then_some(p)))
        .is_some_and(|inner| inner.chars().all(|c| ('!'..='~').contains(&c)));
    if path.len() > 512 || !inner_ok {
        return Err(validation(
            "path",
            path,
            "Member must satisfy regular expression pattern: (\\u002F)|(\\u002F[\\u0021-\\u007E]+\\u002F)",
        ));
    }
    Ok(())
}

fn check_max_session(seconds: i64) -> ApiResult<()> {
    if !(3600..=43200).contains(&seconds) {
        return Err(validation(
            "maxSessionDuration",
            &seconds.to_string(),
            "Member must have value between 3600 and 43200",
        ));
    }
    Ok(())
}

fn check_description(d: &str) -> ApiResult<()> {
    if d.chars().count() > 1000 {
        return Err(validation(
            "description",
            d,
            "Member must have length less than or equal to 1000",
        ));
    }
    Ok(())
}

fn roles<'a>(ctx: &'a mut Ctx) -> &'a mut BTreeMap<String, Role> {
    let account = ctx.caller.account.clone();
    &mut ctx
        .world
        .accounts
        .get_mut(&account)
        .expect("caller account exists")
        .roles
}

/// The stored name of the role called `name` (IAM names ignore case).
fn stored_name(roles: &BTreeMap<String, Role>, name: &str) -> Option<String> {
    if roles.contains_key(name) {
        return Some(name.to_string());
    }
    roles.keys().find(|k| k.eq_ignore_ascii_case(name)).cloned()
}

fn role_mut<'a>(ctx: &'a mut Ctx, name: &str) -> ApiResult<&'a mut Role> {
    let roles = roles(ctx);
    let key = stored_name(roles, name).ok_or_else(|| no_such_role(name))?;
    Ok(roles.get_mut(&key).expect("found above"))
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

/// The document as given, if IAM would accept it as a trust (`trust`) or identity policy.
fn checked_policy(text: &str, trust: bool) -> ApiResult<String> {
    let malformed = |m: &str| ApiError::bad("MalformedPolicyDocument", m.to_string());
    let doc: serde_json::Value =
        serde_json::from_str(text).map_err(|_| malformed("This policy contains invalid Json"))?;
    crate::authz::check_document(&doc, trust).map_err(|m| malformed(&m))?;
    Ok(text.to_string())
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
    check_name("roleName", &name, 64)?;
    let path = p.get("Path").unwrap_or("/").to_string();
    check_path(&path)?;
    let max = p.int("MaxSessionDuration")?.unwrap_or(3600);
    check_max_session(max)?;
    if let Some(d) = p.get("Description") {
        check_description(d)?;
    }
    let trust = checked_policy(p.required("AssumeRolePolicyDocument")?, true)?;
    let account = ctx.account().to_string();
    let now = ctx.now;
    let roles = roles(ctx);
    if let Some(existing) = stored_name(roles, &name) {
        return Err(ApiError::new(
            409,
            "EntityAlreadyExists",
            format!("Role with name {existing} already exists."),
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
        enforce_policies: true,
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
    let key = r.name.clone();
    roles(ctx).remove(&key);
    Ok(Reply::Xml(String::new()))
}

fn update_role(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let name = p.required("RoleName")?.to_string();
    let max = p.int("MaxSessionDuration")?;
    if let Some(m) = max {
        check_max_session(m)?;
    }
    if let Some(d) = p.0.get("Description") {
        check_description(d)?;
    }
    let r = role_mut(ctx, &name)?;
    if let Some(m) = max {
        r.max_session_duration = m;
    }
    if let Some(d) = p.0.get("Description") {
        r.description = Some(d.clone()).filter(|d| !d.is_empty());
    }
    Ok(Reply::Xml(String::new()))
}

fn update_trust(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let name = p.required("RoleName")?.to_string();
    let doc = checked_policy(p.required("PolicyDocument")?, true)?;
    role_mut(ctx, &name)?.trust_policy = doc;
    Ok(Reply::Xml(String::new()))
}

fn put_role_policy(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let name = p.required("RoleName")?.to_string();
    let policy_name = p.required("PolicyName")?.to_string();
    check_name("policyName", &policy_name, 128)?;
    let doc = checked_policy(p.required("PolicyDocument")?, false)?;
    role_mut(ctx, &name)?
        .inline_policies
        .insert(policy_name, doc);
    Ok(Reply::Xml(String::new()))
}

fn no_such_policy(policy_name: &str) -> ApiError {
    ApiError::not_found(
        "NoSuchEntity",
        format!("The role policy with name {policy_name} cannot be found."),
    )
}

fn get_role_policy(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let name = p.required("RoleName")?.to_string();
    let policy_name = p.required("PolicyName")?.to_string();
    let r = role_mut(ctx, &name)?;
    let doc = r
        .inline_policies
        .get(&policy_name)
        .ok_or_else(|| no_such_policy(&policy_name))?;
    let mut x = Xml::new();
    x.el("RoleName", &r.name)
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
        return Err(no_such_policy(&policy_name));
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
    let r = role_mut(ctx, &name)?;
    let mut tags = r.tags.clone();
    for (k, v) in p.tags("Tags.member") {
        match tags.iter_mut().find(|(tk, _)| *tk == k) {
            Some(t) => t.1 = v,
            None => tags.push((k, v)),
        }
    }
    if tags.len() > 50 {
        return Err(ApiError::new(
            409,
            "LimitExceeded",
            "A role can have at most 50 tags.",
        ));
    }
    r.tags = tags;
    Ok(Reply::Xml(String::new()))
}

fn untag_role(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let name = p.required("RoleName")?.to_string();
    let keys = p.list("TagKeys.member");
    role_mut(ctx, &name)?
        .tags
        .retain(|(k, _)| !keys.contains(k));
    Ok(Reply::Xml(String::new()))
}

fn list_role_tags(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let name = p.required("RoleName")?.to_string();
    let r = role_mut(ctx, &name)?;
    let mut x = Xml::new();
    x.tags("Tags", "member", &r.tags).el("IsTruncated", "false");
    Ok(Reply::Xml(x.finish()))
}
