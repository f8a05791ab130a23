//! Who is calling: the SigV4 credential scope names the access key, region and service; the access key
//! maps to an account principal (seeded keys) or an assumed-role session (AssumeRole).

use chrono::{DateTime, Utc};

use crate::model::World;
use crate::wire::ApiError;

/// The parts of `Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request, …`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Scope {
    pub access_key_id: String,
    pub region: String,
    pub service: String,
}

pub fn parse_authorization(header: &str) -> Option<Scope> {
    let cred = header.split("Credential=").nth(1)?;
    let cred = cred.split([',', ' ']).next()?;
    let mut parts = cred.split('/');
    let access_key_id = parts.next()?.to_string();
    let _date = parts.next()?;
    let region = parts.next()?.to_string();
    let service = parts.next()?.to_string();
    Some(Scope {
        access_key_id,
        region,
        service,
    })
}

#[derive(Clone, Debug)]
pub struct Caller {
    pub account: String,
    /// `arn:aws:iam::<acct>:user/<name>` or `arn:aws:sts::<acct>:assumed-role/<role>/<session>`.
    pub arn: String,
    pub user_id: String,
    pub access_key_id: String,
    /// Name for database users derived from the principal (user name or role name).
    pub name: String,
    pub role_arn: Option<String>,
    pub deny: Vec<String>,
    /// Identity policies aws-sim enforces for this principal (`None`: not enforced, everything allowed
    /// except the deny list): the inline policies of an enforced role, or an access key's `policy`.
    pub policies: Option<Vec<serde_json::Value>>,
    /// A session of an enforced role: a consumer, not a superuser, in warehouse SQL.
    pub consumer: bool,
}

impl Caller {
    pub fn is_denied(&self, action: &str) -> bool {
        self.deny.iter().any(|p| crate::policy::glob(p, action))
    }
}

pub fn resolve(world: &World, access_key_id: &str, now: DateTime<Utc>) -> Result<Caller, ApiError> {
    for account in world.accounts.values() {
        if let Some(k) = account
            .access_keys
            .iter()
            .find(|k| k.access_key_id == access_key_id)
        {
            return Ok(Caller {
                account: account.id.clone(),
                arn: format!("arn:aws:iam::{}:user/{}", account.id, k.user_name),
                user_id: format!("AIDA{}", &access_key_id.get(4..).unwrap_or("SIMUSER")),
                access_key_id: access_key_id.to_string(),
                name: k.user_name.clone(),
                role_arn: None,
                deny: k.deny.clone(),
                policies: k.policy.clone().map(|p| vec![p]),
                consumer: false,
            });
        }
    }
    if let Some(s) = world.sessions.get(access_key_id) {
        if s.expiration <= now {
            return Err(ApiError::new(
                403,
                "ExpiredToken",
                "The security token included in the request is expired",
            ));
        }
        let role = world
            .accounts
            .get(&s.account)
            .and_then(|a| a.roles.get(&s.role_name));
        let deny = role.map(|r| r.deny.clone()).unwrap_or_default();
        // Policies are read at every call, so PutRolePolicy/DeleteRolePolicy take effect at once. A role
        // deleted under a live session leaves it with no policy at all.
        let enforced = role.is_none_or(|r| r.enforce_policies);
        let policies = enforced.then(|| {
            role.map(|r| {
                r.inline_policies
                    .values()
                    .filter_map(|text| serde_json::from_str(text).ok())
                    .collect()
            })
            .unwrap_or_default()
        });
        return Ok(Caller {
            account: s.account.clone(),
            arn: format!(
                "arn:aws:sts::{}:assumed-role/{}/{}",
                s.account, s.role_name, s.session_name
            ),
            user_id: s.assumed_role_id.clone(),
            access_key_id: access_key_id.to_string(),
            name: s.role_name.clone(),
            role_arn: Some(s.role_arn.clone()),
            deny,
            consumer: policies.is_some(),
            policies,
        });
    }
    Err(ApiError::new(
        403,
        "InvalidClientTokenId",
        "The security token included in the request is invalid.",
    ))
}

impl Caller {
    /// The condition keys aws-sim knows for this caller's request (see `crate::authz`).
    pub fn condition_context(&self, region: &str) -> crate::authz::Context {
        let mut ctx = crate::authz::Context::new();
        let mut put = |k: &str, v: &str| {
            ctx.insert(k.to_string(), v.to_string());
        };
        put("aws:principalaccount", &self.account);
        put(
            "aws:principalarn",
            self.role_arn.as_deref().unwrap_or(&self.arn),
        );
        put("aws:requestedregion", region);
        put("aws:userid", &self.user_id);
        match self.role_arn {
            Some(_) => put("aws:principaltype", "AssumedRole"),
            None => {
                put("aws:principaltype", "User");
                put("aws:username", &self.name);
            }
        }
        ctx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_scope_is_parsed() {
        let h = "AWS4-HMAC-SHA256 Credential=AKIAX/20240101/eu-west-1/redshift-serverless/aws4_request, SignedHeaders=host, Signature=abc";
        let s = parse_authorization(h).expect("parses");
        assert_eq!(s.access_key_id, "AKIAX");
        assert_eq!(s.region, "eu-west-1");
        assert_eq!(s.service, "redshift-serverless");
    }
}
