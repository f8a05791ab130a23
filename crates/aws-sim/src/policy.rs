//! Just enough IAM policy evaluation: trust policies (sts:AssumeRole) and Redshift resource policies for
//! zero-ETL authorization. Supports Allow statements, Principal AWS/Service/"*", Action/Resource wildcards
//! and the StringEquals/StringLike/ArnEquals/ArnLike condition operators.

use std::collections::BTreeMap;

use serde_json::Value;

/// `*` matches any run of characters, `?` one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

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

/// Who is asking: an AWS principal (with its account) or a service.
pub enum Principal<'a> {
    Aws {
        arn: &'a str,
        account: &'a str,
        role_arn: Option<&'a str>,
    },
    Service(&'a str),
}

fn principal_matches(stmt: &Value, who: &Principal) -> bool {
    let Some(p) = stmt.get("Principal") else {
        return false;
    };
    if p.as_str() == Some("*") {
        return true;
    }
    match who {
        Principal::Service(svc) => strings(p.get("Service")).iter().any(|s| s == svc),
        Principal::Aws {
            arn,
            account,
            role_arn,
        } => strings(p.get("AWS")).iter().any(|s| {
            s == "*"
                || s == *account
                || *s == format!("arn:aws:iam::{account}:root")
                || s == arn
                || role_arn.is_some_and(|r| s == r)
        }),
    }
}

fn conditions_hold(stmt: &Value, context: &BTreeMap<&str, &str>) -> bool {
    let Some(Value::Object(ops)) = stmt.get("Condition") else {
        return true;
    };
    ops.iter().all(|(op, keys)| {
        let Value::Object(keys) = keys else {
            return false;
        };
        keys.iter().all(|(key, wanted)| {
            let actual = context
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| *v);
            let Some(actual) = actual else { return false };
            let wanted = strings(Some(wanted));
            match op.as_str() {
                "StringEquals" | "ArnEquals" => wanted.iter().any(|w| w == actual),
                "StringLike" | "ArnLike" => wanted.iter().any(|w| glob(w, actual)),
                _ => false,
            }
        })
    })
}

fn statements(policy: &Value) -> Vec<Value> {
    match policy.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(v @ Value::Object(_)) => vec![v.clone()],
        _ => Vec::new(),
    }
}

/// Whether `policy` allows `who` to perform `action` on `resource` given the condition context.
pub fn allows(
    policy: &Value,
    who: &Principal,
    action: &str,
    resource: Option<&str>,
    context: &BTreeMap<&str, &str>,
) -> bool {
    statements(policy).iter().any(|s| {
        s.get("Effect").and_then(Value::as_str) == Some("Allow")
            && strings(s.get("Action"))
                .iter()
                .any(|a| glob(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
            && match (resource, s.get("Resource")) {
                (Some(r), Some(v)) => strings(Some(v)).iter().any(|p| glob(p, r)),
                _ => true,
            }
            && principal_matches(s, who)
            && conditions_hold(s, context)
    })
}

pub fn parse(text: &str) -> Option<Value> {
    serde_json::from_str::<Value>(text)
        .ok()
        .filter(Value::is_object)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_handles_stars() {
        assert!(glob("rds:*", "rds:CreateIntegration"));
        assert!(glob("*", "anything"));
        assert!(!glob("rds:Create*", "rds:DeleteIntegration"));
    }

    #[test]
    fn external_id_condition_is_checked() {
        let p: Value = serde_json::json!({"Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
            "Principal": {"AWS": "arn:aws:iam::111111111111:root"},
            "Condition": {"StringEquals": {"sts:ExternalId": "x"}}}]});
        let who = Principal::Aws {
            arn: "arn:aws:iam::111111111111:user/u",
            account: "111111111111",
            role_arn: None,
        };
        let ok: BTreeMap<&str, &str> = [("sts:ExternalId", "x")].into();
        let bad: BTreeMap<&str, &str> = [("sts:ExternalId", "y")].into();
        assert!(allows(&p, &who, "sts:AssumeRole", None, &ok));
        assert!(!allows(&p, &who, "sts:AssumeRole", None, &bad));
        assert!(!allows(&p, &who, "sts:AssumeRole", None, &BTreeMap::new()));
    }
}
