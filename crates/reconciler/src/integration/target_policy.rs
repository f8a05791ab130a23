//! The Redshift resource policy that authorizes a zero-ETL source on a target namespace (docs/aws-facts.md,
//! "Redshift side"): one statement lets `redshift.amazonaws.com` authorize inbound integrations from the
//! source ARN, one lets the source account create them. A namespace has a single policy document, so ours
//! are merged into it; statements written by anyone else are kept as they are.

use serde_json::{json, Value};

const SERVICE_PRINCIPAL: &str = "redshift.amazonaws.com";
const AUTHORIZE_ACTION: &str = "redshift:AuthorizeInboundIntegration";
const CREATE_ACTION: &str = "redshift:CreateInboundIntegration";

/// The grants one source needs on one target: its ARN (whose partition the principals use), the account
/// CreateIntegration runs in, and the scope that names the statements this operator adds (the cluster name:
/// two clusters sharing a target never remove each other's statements).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant<'a> {
    pub source_arn: &'a str,
    pub account: &'a str,
    pub scope: &'a str,
}

impl Grant<'_> {
    /// `aws`, `aws-cn` or `aws-us-gov`, from the source ARN.
    fn partition(&self) -> &str {
        self.source_arn
            .split(':')
            .nth(1)
            .filter(|p| !p.is_empty())
            .unwrap_or("aws")
    }

    fn root(&self) -> String {
        format!("arn:{}:iam::{}:root", self.partition(), self.account)
    }

    fn source_sid(&self) -> String {
        format!(
            "ZeroEtlAuthorizeSource{:016x}",
            fnv(&[self.scope, self.source_arn])
        )
    }

    fn account_sid(&self) -> String {
        format!(
            "ZeroEtlCreateInbound{}{:08x}",
            self.account,
            fnv(&[self.scope]) as u32
        )
    }
}

/// A stable FNV-1a hash (Sids allow only letters and digits).
fn fnv(parts: &[&str]) -> u64 {
    parts
        .iter()
        .flat_map(|p| p.bytes().chain([0]))
        .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        })
}

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
    pub fn describe(&self, grant: &Grant) -> String {
        let mut missing = Vec::new();
        if !self.source_authorized {
            missing.push(format!(
                "{AUTHORIZE_ACTION} for {SERVICE_PRINCIPAL} with aws:SourceArn {}",
                grant.source_arn
            ));
        }
        if !self.account_authorized {
            missing.push(format!("{CREATE_ACTION} for {}", grant.root()));
        }
        format!(
            "the namespace resource policy does not allow {}",
            missing.join(", nor ")
        )
    }
}

/// Reads which of the two grants `policy` (the namespace's policy document, if any) already makes.
pub fn gaps(policy: Option<&str>, grant: &Grant) -> PolicyGaps {
    let statements = policy
        .and_then(parse)
        .map(|p| statements(&p))
        .unwrap_or_default();
    let (source_arn, account, root) = (grant.source_arn, grant.account, grant.root());
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
    grant: &Grant,
) -> Result<Option<String>, String> {
    let found = gaps(policy, grant);
    if found.complete() {
        return Ok(None);
    }
    let mut document = document(policy)?;
    let mut list = statements(&document);
    let mut ensure = |sid: String, statement: Value| match list
        .iter_mut()
        .find(|s| s.get("Sid").and_then(Value::as_str) == Some(&sid))
    {
        Some(existing) => *existing = statement,
        None => list.push(statement),
    };
    if !found.source_authorized {
        let sid = grant.source_sid();
        ensure(
            sid.clone(),
            json!({
                "Sid": sid,
                "Effect": "Allow",
                "Principal": {"Service": SERVICE_PRINCIPAL},
                "Action": AUTHORIZE_ACTION,
                "Resource": namespace_arn,
                "Condition": {"StringEquals": {"aws:SourceArn": grant.source_arn}}
            }),
        );
    }
    if !found.account_authorized {
        let sid = grant.account_sid();
        ensure(
            sid.clone(),
            json!({
                "Sid": sid,
                "Effect": "Allow",
                "Principal": {"AWS": grant.root()},
                "Action": CREATE_ACTION,
                "Resource": namespace_arn
            }),
        );
    }
    Ok(Some(with_statements(document_mut(&mut document), list)))
}

/// The policy without the statements this operator added for `grant`'s source (and for its account unless
/// `keep_account`), or `None` when there is nothing of ours to remove. Statements of anyone else stay.
pub fn without(
    policy: Option<&str>,
    grant: &Grant,
    keep_account: bool,
) -> Result<Option<String>, String> {
    let Some(text) = policy else {
        return Ok(None);
    };
    let mut document = document(Some(text))?;
    let ours = |s: &Value| {
        let sid = s.get("Sid").and_then(Value::as_str);
        sid == Some(grant.source_sid().as_str())
            || (!keep_account && sid == Some(grant.account_sid().as_str()))
    };
    let all = statements(&document);
    if !all.iter().any(ours) {
        return Ok(None);
    }
    let kept: Vec<Value> = all.into_iter().filter(|s| !ours(s)).collect();
    Ok(Some(with_statements(document_mut(&mut document), kept)))
}

fn document(policy: Option<&str>) -> Result<Value, String> {
    match policy {
        Some(text) => parse(text)
            .ok_or_else(|| "the namespace's resource policy is not a JSON object".to_string()),
        None => Ok(json!({"Version": "2012-10-17", "Statement": []})),
    }
}

fn document_mut(document: &mut Value) -> &mut serde_json::Map<String, Value> {
    document.as_object_mut().expect("parse returns objects")
}

fn with_statements(object: &mut serde_json::Map<String, Value>, list: Vec<Value>) -> String {
    object
        .entry("Version")
        .or_insert_with(|| json!("2012-10-17"));
    object.insert("Statement".into(), Value::Array(list));
    Value::Object(object.clone()).to_string()
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
            .any(|a| wildcard(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
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
            "StringLike" | "ArnLike" => wanted.iter().any(|w| wildcard(w, source_arn)),
            _ => false,
        }
    })
}

/// IAM wildcards: `*` any run, `?` one character.
pub fn wildcard(pattern: &str, text: &str) -> bool {
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
    const G: Grant = Grant {
        source_arn: SRC,
        account: ACCOUNT,
        scope: "cluster-1",
    };

    #[test]
    fn empty_policy_gets_both_statements() {
        let text = merged(None, NS, &G).unwrap().expect("a policy to put");
        assert!(gaps(Some(&text), &G).complete());
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["Statement"].as_array().unwrap().len(), 2);
        assert_eq!(doc["Version"], "2012-10-17");
        // Applying again changes nothing.
        assert_eq!(merged(Some(&text), NS, &G).unwrap(), None);
    }

    #[test]
    fn foreign_statements_survive_and_a_second_source_is_added() {
        let foreign = json!({"Version": "2012-10-17", "Statement": {
            "Sid": "PartnerRead", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::222222222222:root"},
            "Action": "redshift:DescribeInboundIntegrations", "Resource": NS}})
        .to_string();
        let first = merged(Some(&foreign), NS, &G).unwrap().unwrap();
        let other = "arn:aws:rds:us-east-1:111111111111:db:inventory-mysql";
        let other_grant = Grant {
            source_arn: other,
            ..G
        };
        let second = merged(Some(&first), NS, &other_grant).unwrap().unwrap();
        let doc: Value = serde_json::from_str(&second).unwrap();
        let sids: Vec<_> = doc["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["Sid"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(sids.len(), 4, "{sids:?}");
        assert_eq!(sids[0], "PartnerRead");
        assert!(gaps(Some(&second), &G).complete() && gaps(Some(&second), &other_grant).complete());
    }

    #[test]
    fn existing_grants_written_by_hand_are_recognized() {
        let by_hand = json!({"Statement": [
            {"Effect": "Allow", "Principal": {"Service": ["redshift.amazonaws.com"]}, "Action": ["redshift:*"],
             "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:rds:us-east-1:111111111111:cluster:*"}}},
            {"Effect": "Allow", "Principal": {"AWS": "111111111111"}, "Action": "redshift:CreateInboundIntegration"}]})
        .to_string();
        assert_eq!(merged(Some(&by_hand), NS, &G).unwrap(), None);
        // The wildcard does not cover instances, so only the source statement is added.
        let inst = "arn:aws:rds:us-east-1:111111111111:db:x";
        let inst_grant = Grant {
            source_arn: inst,
            ..G
        };
        let g = gaps(Some(&by_hand), &inst_grant);
        assert!(!g.source_authorized && g.account_authorized);
        assert!(g
            .describe(&inst_grant)
            .contains("aws:SourceArn arn:aws:rds:us-east-1:111111111111:db:x"));
    }

    #[test]
    fn deny_or_unconditioned_service_grants_do_not_count() {
        let deny = json!({"Statement": [
            {"Effect": "Deny", "Principal": {"Service": "redshift.amazonaws.com"}, "Action": AUTHORIZE_ACTION,
             "Condition": {"StringEquals": {"aws:SourceArn": SRC}}},
            {"Effect": "Allow", "Principal": {"Service": "redshift.amazonaws.com"}, "Action": AUTHORIZE_ACTION}]})
        .to_string();
        let g = gaps(Some(&deny), &G);
        assert!(!g.source_authorized && !g.account_authorized);
        assert!(g
            .describe(&G)
            .contains("nor redshift:CreateInboundIntegration"));
    }

    #[test]
    fn removal_takes_only_our_statements_and_keeps_the_account_grant_while_needed() {
        let foreign = json!({"Statement": [{"Sid": "PartnerRead", "Effect": "Allow",
            "Principal": {"AWS": "arn:aws:iam::222222222222:root"}, "Action": "redshift:DescribeInboundIntegrations", "Resource": NS}]})
        .to_string();
        let both = merged(Some(&foreign), NS, &G).unwrap().unwrap();
        let other = Grant {
            source_arn: "arn:aws:rds:us-east-1:111111111111:db:inventory-mysql",
            ..G
        };
        let three = merged(Some(&both), NS, &other).unwrap().unwrap();
        let less = without(Some(&three), &G, true).unwrap().unwrap();
        assert!(!gaps(Some(&less), &G).source_authorized);
        assert!(
            gaps(Some(&less), &other).complete(),
            "the other source keeps both grants"
        );
        let none = without(Some(&less), &other, false).unwrap().unwrap();
        let doc: Value = serde_json::from_str(&none).unwrap();
        assert_eq!(doc["Statement"].as_array().unwrap().len(), 1);
        assert_eq!(doc["Statement"][0]["Sid"], "PartnerRead");
        assert_eq!(without(Some(&none), &other, false).unwrap(), None);
        // Another cluster's statements for the same source are not ours to remove.
        let theirs = Grant {
            scope: "cluster-2",
            ..G
        };
        assert_eq!(without(Some(&both), &theirs, false).unwrap(), None);
    }

    #[test]
    fn principals_follow_the_partition_of_the_source() {
        let cn = Grant {
            source_arn: "arn:aws-cn:rds:cn-north-1:111111111111:cluster:orders",
            ..G
        };
        let text = merged(None, NS, &cn).unwrap().unwrap();
        assert!(text.contains("arn:aws-cn:iam::111111111111:root"), "{text}");
        assert!(gaps(Some(&text), &cn).complete());
        assert!(
            !gaps(Some(&text), &G).account_authorized,
            "aws root is another principal"
        );
    }

    #[test]
    fn a_policy_that_is_not_json_is_an_error() {
        assert!(merged(Some("not json"), NS, &G).is_err());
    }
}
