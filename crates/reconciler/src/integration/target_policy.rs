//! The Redshift resource policy that authorizes a zero-ETL source on a target namespace (docs/aws-facts.md,
//! "Redshift side"): one statement lets `redshift.amazonaws.com` authorize inbound integrations from the
//! source ARN, one lets the source account create them. A namespace has a single policy document, so ours
//! are merged into it; statements written by anyone else are kept as they are.

use serde_json::{json, Value};

const SERVICE_PRINCIPAL: &str = "redshift.amazonaws.com";
const AUTHORIZE_ACTION: &str = "redshift:AuthorizeInboundIntegration";
const CREATE_ACTION: &str = "redshift:CreateInboundIntegration";

/// What the current policy lacks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyGaps {
    pub source_authorized: bool,
    pub account_authorized: bool,
}

impl PolicyGaps {
    pub fn complete(&self) -> bool {
        self.source_authorized && self.account_authorized
    }

    /// The missing grants in words, for TargetReady in Verify mode.
    pub fn describe(&self, source_arn: &str, account: &str) -> String {
        let mut missing = Vec::new();
        if !self.source_authorized {
            missing.push(format!(
                "{AUTHORIZE_ACTION} for {SERVICE_PRINCIPAL} with aws:SourceArn {source_arn}"
            ));
        }
        if !self.account_authorized {
            missing.push(format!("{CREATE_ACTION} for arn:aws:iam::{account}:root"));
        }
        format!(
            "the namespace resource policy does not allow {}",
            missing.join(", nor ")
        )
    }
}

/// Reads which of the two grants `policy` (the namespace's policy document, if any) already makes.
pub fn gaps(policy: Option<&str>, source_arn: &str, account: &str) -> PolicyGaps {
    let statements = policy
        .and_then(parse)
        .map(|p| statements(&p))
        .unwrap_or_default();
    let root = format!("arn:aws:iam::{account}:root");
    PolicyGaps {
        source_authorized: statements.iter().any(|s| {
            allows(s, AUTHORIZE_ACTION)
                && strings(s.get("Principal").and_then(|p| p.get("Service")))
                    .iter()
                    .any(|p| p == SERVICE_PRINCIPAL)
                && source_condition_matches(s, source_arn)
        }),
        account_authorized: statements.iter().any(|s| {
            allows(s, CREATE_ACTION)
                && s.get("Condition").is_none()
                && (s.get("Principal").and_then(Value::as_str) == Some("*")
                    || strings(s.get("Principal").and_then(|p| p.get("AWS")))
                        .iter()
                        .any(|p| p == "*" || *p == root || p == account))
        }),
    }
}

/// The policy to put so that both grants exist, or `None` when the current one already makes them.
/// Statements that are not ours are kept verbatim; ours are identified by their `Sid`.
pub fn merged(
    policy: Option<&str>,
    namespace_arn: &str,
    source_arn: &str,
    account: &str,
) -> Result<Option<String>, String> {
    let found = gaps(policy, source_arn, account);
    if found.complete() {
        return Ok(None);
    }
    let mut document = match policy {
        Some(text) => parse(text)
            .ok_or_else(|| "the namespace's resource policy is not a JSON object".to_string())?,
        None => json!({"Version": "2012-10-17", "Statement": []}),
    };
    let mut list = statements(&document);
    let mut ensure = |sid: String, statement: Value| match list
        .iter_mut()
        .find(|s| s.get("Sid").and_then(Value::as_str) == Some(&sid))
    {
        Some(existing) => *existing = statement,
        None => list.push(statement),
    };
    if !found.source_authorized {
        let sid = source_sid(source_arn);
        ensure(
            sid.clone(),
            json!({
                "Sid": sid,
                "Effect": "Allow",
                "Principal": {"Service": SERVICE_PRINCIPAL},
                "Action": AUTHORIZE_ACTION,
                "Resource": namespace_arn,
                "Condition": {"StringEquals": {"aws:SourceArn": source_arn}}
            }),
        );
    }
    if !found.account_authorized {
        let sid = format!("ZeroEtlCreateInbound{account}");
        ensure(
            sid.clone(),
            json!({
                "Sid": sid,
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{account}:root")},
                "Action": CREATE_ACTION,
                "Resource": namespace_arn
            }),
        );
    }
    let object = document.as_object_mut().expect("parse returns objects");
    object
        .entry("Version")
        .or_insert_with(|| json!("2012-10-17"));
    object.insert("Statement".into(), Value::Array(list));
    Ok(Some(document.to_string()))
}

/// A Sid unique to the source (Sids allow only letters and digits): a stable FNV-1a hash of the ARN.
fn source_sid(source_arn: &str) -> String {
    let hash = source_arn.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("ZeroEtlAuthorizeSource{hash:016x}")
}

fn parse(text: &str) -> Option<Value> {
    serde_json::from_str::<Value>(text)
        .ok()
        .filter(Value::is_object)
}

fn statements(policy: &Value) -> Vec<Value> {
    match policy.get("Statement") {
        Some(Value::Array(list)) => list.clone(),
        Some(single @ Value::Object(_)) => vec![single.clone()],
        _ => Vec::new(),
    }
}

fn strings(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn allows(statement: &Value, action: &str) -> bool {
    statement.get("Effect").and_then(Value::as_str) == Some("Allow")
        && strings(statement.get("Action"))
            .iter()
            .any(|a| glob(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
}

/// The statement is limited to this source by an `aws:SourceArn` condition (exact or wildcard).
fn source_condition_matches(statement: &Value, source_arn: &str) -> bool {
    let Some(Value::Object(operators)) = statement.get("Condition") else {
        return false;
    };
    operators.iter().any(|(operator, keys)| {
        let wanted = keys.as_object().and_then(|k| {
            k.iter()
                .find(|(key, _)| key.eq_ignore_ascii_case("aws:SourceArn"))
        });
        let Some((_, wanted)) = wanted else {
            return false;
        };
        let wanted = strings(Some(wanted));
        match operator.as_str() {
            "StringEquals" | "ArnEquals" => wanted.iter().any(|w| w == source_arn),
            "StringLike" | "ArnLike" => wanted.iter().any(|w| glob(w, source_arn)),
            _ => false,
        }
    })
}

/// IAM wildcards: `*` any run, `?` one character.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
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
    p[pi..].iter().all(|c| *c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const NS: &str = "arn:aws:redshift-serverless:us-east-1:111111111111:namespace/3f1c2a9e-5b7d-4e21-9c3a-1a2b3c4d5e01";
    const SRC: &str = "arn:aws:rds:us-east-1:111111111111:cluster:orders-aurora";
    const ACCOUNT: &str = "111111111111";

    #[test]
    fn empty_policy_gets_both_statements() {
        let text = merged(None, NS, SRC, ACCOUNT)
            .unwrap()
            .expect("a policy to put");
        assert!(gaps(Some(&text), SRC, ACCOUNT).complete());
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["Statement"].as_array().unwrap().len(), 2);
        assert_eq!(doc["Version"], "2012-10-17");
        // Applying again changes nothing.
        assert_eq!(merged(Some(&text), NS, SRC, ACCOUNT).unwrap(), None);
    }

    #[test]
    fn foreign_statements_survive_and_a_second_source_is_added() {
        let foreign = json!({"Version": "2012-10-17", "Statement": {
            "Sid": "PartnerRead", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:root"},
            "Action": "redshift:DescribeInboundIntegrations", "Resource": NS}})
        .to_string();
        let first = merged(Some(&foreign), NS, SRC, ACCOUNT).unwrap().unwrap();
        let other = "arn:aws:rds:us-east-1:111111111111:db:inventory-mysql";
        let second = merged(Some(&first), NS, other, ACCOUNT).unwrap().unwrap();
        let doc: Value = serde_json::from_str(&second).unwrap();
        let sids: Vec<_> = doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Sid"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(sids.len(), 4, "{sids:?}");
        assert_eq!(sids[0], "PartnerRead");
        assert!(
            gaps(Some(&second), SRC, ACCOUNT).complete()
                && gaps(Some(&second), other, ACCOUNT).complete()
        );
    }

    #[test]
    fn existing_grants_written_by_hand_are_recognized() {
        let by_hand = json!({"Statement": [
            {"Effect": "Allow", "Principal": {"Service": ["redshift.amazonaws.com"]}, "Action": ["redshift:*"],
             "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:rds:us-east-1:111111111111:cluster:*"}}},
            {"Effect": "Allow", "Principal": {"AWS": "111111111111"}, "Action": "redshift:CreateInboundIntegration"}]})
        .to_string();
        assert_eq!(merged(Some(&by_hand), NS, SRC, ACCOUNT).unwrap(), None);
        // The wildcard does not cover instances, so only the source statement is added.
        let inst = "arn:aws:rds:us-east-1:111111111111:db:x";
        let g = gaps(Some(&by_hand), inst, ACCOUNT);
        assert!(!g.source_authorized && g.account_authorized);
        assert!(g
            .describe(inst, ACCOUNT)
            .contains("aws:SourceArn arn:aws:rds:us-east-1:111111111111:db:x"));
    }

    #[test]
    fn deny_or_unconditioned_service_grants_do_not_count() {
        let deny = json!({"Statement": [
            {"Effect": "Deny", "Principal": {"Service": "redshift.amazonaws.com"}, "Action": AUTHORIZE_ACTION,
             "Condition": {"StringEquals": {"aws:SourceArn": SRC}}},
            {"Effect": "Allow", "Principal": {"Service": "redshift.amazonaws.com"}, "Action": AUTHORIZE_ACTION}]})
        .to_string();
        let g = gaps(Some(&deny), SRC, ACCOUNT);
        assert!(!g.source_authorized && !g.account_authorized);
        assert!(g
            .describe(SRC, ACCOUNT)
            .contains("nor redshift:CreateInboundIntegration"));
    }

    #[test]
    fn a_policy_that_is_not_json_is_an_error() {
        assert!(merged(Some("not json"), NS, SRC, ACCOUNT).is_err());
    }
}
