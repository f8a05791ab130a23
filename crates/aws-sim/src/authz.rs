//! Identity-policy evaluation for enforced principals (sessions of enforced roles, access keys with a
//! `policy`): a call is allowed when some statement allows its action on its resource and none denies it.
//! `Action`/`NotAction` match case-insensitively with `*`/`?`; `Resource`/`NotResource` case-sensitively,
//! after `${aws:…}` policy variables are substituted. Conditions: the string and ARN operators
//! (`StringEquals`, `StringNotEquals`, `StringEqualsIgnoreCase`, `StringLike`, `StringNotLike`, `ArnEquals`,
//! `ArnLike`, their negations and `…IfExists`) are evaluated on the keys aws-sim knows (see [`Context`]);
//! other operators and unknown keys are ignored, i.e. do not restrict the statement.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::policy::glob;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    Allowed,
    /// A Deny statement matched.
    ExplicitDeny,
    /// No Allow statement matched.
    ImplicitDeny,
}

/// The condition keys of one request, by lower-case name. Keys listed in [`KNOWN_ABSENT`] but missing
/// here are known to be absent (so `StringEquals` on them fails); any other missing key is ignored.
pub type Context = BTreeMap<String, String>;

/// Keys aws-sim can tell are absent from a request when they are not in its context.
const KNOWN_ABSENT: &[&str] = &["sts:externalid", "s3:prefix", "aws:username"];

fn strings(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn statements(policy: &Value) -> Vec<&Value> {
    match policy.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => Vec::new(),
    }
}

/// `${aws:username}`-style variables replaced from the context; `${*}`, `${?}`, `${$}` are the literal
/// characters. An unknown variable stays as written, so it matches nothing real.
fn substitute(pattern: &str, ctx: &Context) -> String {
    let mut out = String::new();
    let mut rest = pattern;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let Some(len) = rest[start..].find('}') else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = &rest[start + 2..start + len];
        match name {
            "*" | "?" | "$" => out.push_str(name),
            _ => match ctx.get(&name.to_ascii_lowercase()) {
                Some(v) => out.push_str(v),
                None => out.push_str(&rest[start..start + len + 1]),
            },
        }
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    out
}

fn action_matches(stmt: &Value, action: &str) -> bool {
    let action = action.to_ascii_lowercase();
    let any = |key| {
        strings(stmt.get(key))
            .iter()
            .any(|p| glob(&p.to_ascii_lowercase(), &action))
    };
    if stmt.get("Action").is_some() {
        any("Action")
    } else if stmt.get("NotAction").is_some() {
        !any("NotAction")
    } else {
        false
    }
}

fn resource_matches(stmt: &Value, resource: &str, ctx: &Context) -> bool {
    let any = |key| {
        strings(stmt.get(key))
            .iter()
            .any(|p| glob(&substitute(p, ctx), resource))
    };
    if stmt.get("Resource").is_some() {
        any("Resource")
    } else if stmt.get("NotResource").is_some() {
        !any("NotResource")
    } else {
        false
    }
}

fn condition_holds(op: &str, key: &str, wanted: &Value, ctx: &Context) -> bool {
    let op = op
        .trim_start_matches("ForAnyValue:")
        .trim_start_matches("ForAllValues:");
    let (op, if_exists) = match op.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (op, false),
    };
    let negated = op.contains("Not");
    let base = op.replace("Not", "");
    let compare: fn(&str, &str) -> bool = match base.as_str() {
        "StringEquals" | "ArnEquals" => |w, a| w == a,
        "StringEqualsIgnoreCase" => |w, a| w.eq_ignore_ascii_case(a),
        "StringLike" | "ArnLike" => |w, a| glob(w, a),
        // Operators aws-sim does not evaluate do not restrict the statement.
        _ => return true,
    };
    let key = key.to_ascii_lowercase();
    let Some(actual) = ctx.get(&key) else {
        if !KNOWN_ABSENT.contains(&key.as_str()) {
            return true;
        }
        return if_exists || negated;
    };
    let hit = strings(Some(wanted))
        .iter()
        .any(|w| compare(&substitute(w, ctx), actual));
    hit != negated
}

fn conditions_hold(stmt: &Value, ctx: &Context) -> bool {
    let Some(Value::Object(ops)) = stmt.get("Condition") else {
        return true;
    };
    ops.iter().all(|(op, keys)| match keys {
        Value::Object(keys) => keys
            .iter()
            .all(|(key, wanted)| condition_holds(op, key, wanted, ctx)),
        _ => true,
    })
}

/// Evaluate `policies` for `action` (IAM spelling, e.g. `s3:GetObject`) on `resource`.
pub fn evaluate(policies: &[Value], action: &str, resource: &str, ctx: &Context) -> Decision {
    let mut allowed = false;
    for stmt in policies.iter().flat_map(statements) {
        if !(action_matches(stmt, action)
            && resource_matches(stmt, resource, ctx)
            && conditions_hold(stmt, ctx))
        {
            continue;
        }
        match stmt.get("Effect").and_then(Value::as_str) {
            Some("Deny") => return Decision::ExplicitDeny,
            Some("Allow") => allowed = true,
            _ => {}
        }
    }
    if allowed {
        Decision::Allowed
    } else {
        Decision::ImplicitDeny
    }
}

/// What IAM refuses as `MalformedPolicyDocument` for an identity policy (`trust == false`) or a trust
/// policy: not a JSON object, an unknown Version, no statements, an Effect other than Allow/Deny, no
/// Action/NotAction, an identity statement without Resource/NotResource or with a Principal, a trust
/// statement without Principal or with a Resource.
pub fn check_document(doc: &Value, trust: bool) -> Result<(), String> {
    if !doc.is_object() {
        return Err("Syntax errors in policy.".into());
    }
    if let Some(v) = doc.get("Version") {
        if !matches!(v.as_str(), Some("2012-10-17" | "2008-10-17")) {
            return Err("The policy must contain a valid version string".into());
        }
    }
    let list = statements(doc);
    if list.is_empty() {
        return Err("Syntax errors in policy.".into());
    }
    for s in list {
        if !matches!(
            s.get("Effect").and_then(Value::as_str),
            Some("Allow" | "Deny")
        ) {
            return Err("Invalid effect in policy statement.".into());
        }
        if s.get("Action").is_none() && s.get("NotAction").is_none() {
            return Err("Policy statement must contain actions.".into());
        }
        let has_principal = s.get("Principal").is_some() || s.get("NotPrincipal").is_some();
        let has_resource = s.get("Resource").is_some() || s.get("NotResource").is_some();
        if trust {
            if !has_principal {
                return Err("Missing required field Principal".into());
            }
            if has_resource {
                return Err("Has prohibited field Resource".into());
            }
        } else {
            if has_principal {
                return Err("Policy document should not specify a principal.".into());
            }
            if !has_resource {
                return Err("Policy statement must contain resources.".into());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx(pairs: &[(&str, &str)]) -> Context {
        pairs
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
            .collect()
    }

    #[test]
    fn explicit_deny_wins_and_actions_ignore_case() {
        let p = [json!({"Version": "2012-10-17", "Statement": [
            {"Effect": "Allow", "Action": ["S3:Get*", "s3:ListBucket"], "Resource": "arn:aws:s3:::data/*"},
            {"Effect": "Deny", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::data/secret/*"}]})];
        let c = Context::new();
        assert_eq!(
            evaluate(&p, "s3:GetObject", "arn:aws:s3:::data/a.csv", &c),
            Decision::Allowed
        );
        assert_eq!(
            evaluate(&p, "s3:GetObject", "arn:aws:s3:::data/secret/k", &c),
            Decision::ExplicitDeny
        );
        assert_eq!(
            evaluate(&p, "s3:PutObject", "arn:aws:s3:::data/a.csv", &c),
            Decision::ImplicitDeny
        );
        assert_eq!(
            evaluate(&p, "s3:ListBucket", "arn:aws:s3:::data", &c),
            Decision::ImplicitDeny,
            "the bucket ARN is not matched by data/*"
        );
    }

    #[test]
    fn not_action_not_resource_and_variables() {
        let p = [json!({"Statement": [
            {"Effect": "Allow", "NotAction": "iam:*", "NotResource": "arn:aws:s3:::private*"},
            {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::home/${aws:username}/*"}]})];
        let c = ctx(&[("aws:username", "ana")]);
        assert_eq!(
            evaluate(&p, "rds:DescribeDBClusters", "*", &c),
            Decision::Allowed
        );
        assert_eq!(
            evaluate(&p, "iam:CreateRole", "*", &c),
            Decision::ImplicitDeny
        );
        assert_eq!(
            evaluate(&p, "s3:GetObject", "arn:aws:s3:::private-b/x", &c),
            Decision::ImplicitDeny
        );
        assert_eq!(
            substitute("arn:aws:s3:::home/${aws:username}/${*}", &c),
            "arn:aws:s3:::home/ana/*"
        );
        assert_eq!(
            evaluate(&p, "s3:GetObject", "arn:aws:s3:::home/ana/f", &c),
            Decision::Allowed
        );
    }

    #[test]
    fn conditions_on_known_and_unknown_keys() {
        let p = [
            json!({"Statement": [{"Effect": "Allow", "Action": "s3:ListBucket", "Resource": "*",
            "Condition": {"StringLike": {"s3:prefix": "unload/*"}, "Bool": {"aws:SecureTransport": "true"},
                          "StringEquals": {"aws:RequestedRegion": ["us-east-1", "eu-west-1"]}}}]}),
        ];
        let region = ("aws:RequestedRegion", "us-east-1");
        assert_eq!(
            evaluate(
                &p,
                "s3:ListBucket",
                "arn:aws:s3:::b",
                &ctx(&[("s3:prefix", "unload/x"), region])
            ),
            Decision::Allowed,
            "Bool is ignored"
        );
        assert_eq!(
            evaluate(&p, "s3:ListBucket", "arn:aws:s3:::b", &ctx(&[region])),
            Decision::ImplicitDeny,
            "s3:prefix is known to be absent"
        );
        assert_eq!(
            evaluate(
                &p,
                "s3:ListBucket",
                "arn:aws:s3:::b",
                &ctx(&[
                    ("s3:prefix", "unload/x"),
                    ("aws:RequestedRegion", "ap-south-1")
                ])
            ),
            Decision::ImplicitDeny
        );
        let unknown = [
            json!({"Statement": [{"Effect": "Allow", "Action": "redshift-data:GetStatementResult", "Resource": "*",
            "Condition": {"StringEquals": {"redshift-data:statement-owner-iam-userid": "${aws:userid}"}}}]}),
        ];
        assert_eq!(
            evaluate(
                &unknown,
                "redshift-data:GetStatementResult",
                "*",
                &Context::new()
            ),
            Decision::Allowed,
            "keys aws-sim cannot evaluate are ignored"
        );
        let not_equals = [
            json!({"Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*",
            "Condition": {"StringNotEqualsIfExists": {"aws:RequestedRegion": "us-east-1"}}}]}),
        ];
        assert_eq!(
            evaluate(
                &not_equals,
                "s3:GetObject",
                "x",
                &ctx(&[("aws:RequestedRegion", "eu-west-1")])
            ),
            Decision::ExplicitDeny
        );
        assert_eq!(
            evaluate(&not_equals, "s3:GetObject", "x", &ctx(&[region])),
            Decision::ImplicitDeny
        );
    }

    #[test]
    fn malformed_documents_are_refused() {
        let ok = json!({"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Action": "s3:*", "Resource": "*"}});
        assert!(check_document(&ok, false).is_ok());
        assert!(
            check_document(&ok, true).is_err(),
            "a trust policy needs a principal"
        );
        for bad in [
            json!("text"),
            json!({"Version": "2020-01-01", "Statement": []}),
            json!({"Statement": []}),
            json!({"Statement": [{"Effect": "Maybe", "Action": "s3:*", "Resource": "*"}]}),
            json!({"Statement": [{"Effect": "Allow", "Resource": "*"}]}),
            json!({"Statement": [{"Effect": "Allow", "Action": "s3:*"}]}),
            json!({"Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*", "Principal": "*"}]}),
        ] {
            assert!(check_document(&bad, false).is_err(), "{bad}");
        }
        let trust = json!({"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Principal": {"Service": "redshift.amazonaws.com"}}]});
        assert!(check_document(&trust, true).is_ok());
    }
}
