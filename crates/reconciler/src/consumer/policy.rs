//! The IAM documents of a consumer role, built from the spec and the warehouse (pure): its trust policy and
//! one inline permission policy per permission set, each scoped to this warehouse, bucket or key. Also how
//! a document read back from IAM is compared with the wanted one.
//!
//! Decided: the trust policy names the tool's principal with the `sts:ExternalId` condition and, unless
//! `trustOperator: false`, the operator's own principal with the same condition, so the operator can verify
//! the access as the tool would get it. IAM stores an account id principal as its root ARN; we write the ARN.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use zeroetl_api::consumer::{ConsumerRole, StagingAccess};

/// Inline policy names the operator writes (one per permission set).
pub const DATA_API_POLICY: &str = "zeroetl-data-api";
pub const CREDENTIALS_POLICY: &str = "zeroetl-temporary-credentials";
pub const STAGING_POLICY: &str = "zeroetl-staging";
pub const STAGING_KMS_POLICY: &str = "zeroetl-staging-kms";

const VERSION: &str = "2012-10-17";

/// The warehouse the permissions are scoped to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WarehouseScope {
    Serverless {
        workgroup_arn: String,
        namespace_arn: String,
    },
    Provisioned {
        region: String,
        account: String,
        cluster: String,
    },
}

impl WarehouseScope {
    fn partition_prefix(&self) -> String {
        match self {
            WarehouseScope::Serverless { workgroup_arn, .. } => {
                workgroup_arn.split(':').nth(1).unwrap_or("aws").to_string()
            }
            WarehouseScope::Provisioned { .. } => "aws".to_string(),
        }
    }

    /// The resource the Data API acts on: the workgroup or the cluster.
    fn statement_resource(&self) -> String {
        match self {
            WarehouseScope::Serverless { workgroup_arn, .. } => workgroup_arn.clone(),
            WarehouseScope::Provisioned {
                region,
                account,
                cluster,
            } => format!("arn:aws:redshift:{region}:{account}:cluster:{cluster}"),
        }
    }
}

/// `arn:aws:iam::<id>:root` for an account id; an ARN unchanged.
pub fn principal_arn(principal: &str) -> String {
    if principal.len() == 12 && principal.bytes().all(|b| b.is_ascii_digit()) {
        format!("arn:aws:iam::{principal}:root")
    } else {
        principal.to_string()
    }
}

/// The IAM principal of a caller identity ARN: an assumed-role session (`arn:aws:sts::A:assumed-role/R/S`)
/// becomes its role (`arn:aws:iam::A:role/R`); users and roles stay as they are. A role with a path cannot be
/// told from its session ARN; such an operator role must be named in the trust policy by hand.
pub fn caller_principal(caller_arn: &str) -> String {
    let parts: Vec<&str> = caller_arn.splitn(6, ':').collect();
    match parts.as_slice() {
        [_, partition, "sts", _, account, resource] => {
            match resource.split('/').collect::<Vec<_>>()[..] {
                ["assumed-role", role, ..] => format!("arn:{partition}:iam::{account}:role/{role}"),
                _ => caller_arn.to_string(),
            }
        }
        _ => caller_arn.to_string(),
    }
}

/// The trust policy: the tool (and the operator, for verification) with the external id; Redshift itself when
/// it may assume the role for UNLOAD/COPY.
pub fn trust_policy(role: &ConsumerRole, external_id: &str, operator: Option<&str>) -> Value {
    let assume = |sid: &str, principal: String| {
        json!({
            "Sid": sid,
            "Effect": "Allow",
            "Principal": {"AWS": principal},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
        })
    };
    let mut statements = vec![assume(
        "TrustedConsumer",
        principal_arn(&role.trusted_principal),
    )];
    if let Some(op) = operator {
        statements.push(assume("ZeroEtlOperatorVerification", op.to_string()));
    }
    if role.permissions.redshift_may_assume {
        statements.push(json!({
            "Sid": "RedshiftCopyUnload",
            "Effect": "Allow",
            "Principal": {"Service": "redshift.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }));
    }
    json!({"Version": VERSION, "Statement": statements})
}

/// The external id a trust policy written by [`trust_policy`] requires, read back from IAM.
pub fn external_id_in(trust: &Value) -> Option<String> {
    statements(trust).into_iter().find_map(|s| {
        s.pointer("/Condition/StringEquals/sts:ExternalId")
            .and_then(|v| match v {
                Value::String(x) => Some(x.clone()),
                Value::Array(a) => a.first().and_then(Value::as_str).map(str::to_string),
                _ => None,
            })
    })
}

/// Every inline policy the role should have, by name.
pub fn permission_policies(
    role: &ConsumerRole,
    scope: &WarehouseScope,
    db_user: Option<&str>,
) -> BTreeMap<String, Value> {
    let p = &role.permissions;
    let mut out = BTreeMap::new();
    if p.data_api {
        out.insert(DATA_API_POLICY.to_string(), data_api(scope));
    }
    if p.data_api || p.temporary_credentials {
        // The Data API obtains temporary credentials on the caller's behalf, with the caller's permissions.
        out.insert(CREDENTIALS_POLICY.to_string(), credentials(scope, db_user));
    }
    if let Some(s) = &p.staging {
        out.insert(
            STAGING_POLICY.to_string(),
            staging(s, &scope.partition_prefix()),
        );
        if let Some(key) = &s.kms_key_arn {
            out.insert(STAGING_KMS_POLICY.to_string(), kms(key));
        }
    }
    out
}

fn data_api(scope: &WarehouseScope) -> Value {
    json!({"Version": VERSION, "Statement": [
        {"Sid": "StatementsOnThisWarehouse", "Effect": "Allow",
         "Action": ["redshift-data:ExecuteStatement", "redshift-data:BatchExecuteStatement",
                    "redshift-data:ListDatabases", "redshift-data:ListSchemas", "redshift-data:ListTables",
                    "redshift-data:DescribeTable"],
         "Resource": scope.statement_resource()},
        {"Sid": "OwnStatementResults", "Effect": "Allow",
         "Action": ["redshift-data:DescribeStatement", "redshift-data:GetStatementResult",
                    "redshift-data:CancelStatement"],
         "Resource": "*",
         "Condition": {"StringEquals": {"redshift-data:statement-owner-iam-userid": "${aws:userid}"}}},
        {"Sid": "ListOwnStatements", "Effect": "Allow", "Action": "redshift-data:ListStatements", "Resource": "*"},
    ]})
}

fn credentials(scope: &WarehouseScope, db_user: Option<&str>) -> Value {
    match scope {
        WarehouseScope::Serverless {
            workgroup_arn,
            namespace_arn,
        } => json!({"Version": VERSION, "Statement": [
            {"Sid": "CredentialsForThisWorkgroup", "Effect": "Allow",
             "Action": ["redshift-serverless:GetCredentials", "redshift-serverless:GetWorkgroup"],
             "Resource": workgroup_arn},
            {"Sid": "DescribeThisNamespace", "Effect": "Allow", "Action": "redshift-serverless:GetNamespace",
             "Resource": namespace_arn},
        ]}),
        WarehouseScope::Provisioned {
            region,
            account,
            cluster,
        } => {
            let base = format!("arn:aws:redshift:{region}:{account}");
            // Without a declared user no dbuser resource is granted: a wildcard would include the admin.
            let mut resources = vec![format!("{base}:dbname:{cluster}/*")];
            if let Some(u) = db_user {
                resources.insert(0, format!("{base}:dbuser:{cluster}/{u}"));
            }
            json!({"Version": VERSION, "Statement": [
                {"Sid": "CredentialsForThisUser", "Effect": "Allow", "Action": "redshift:GetClusterCredentials",
                 "Resource": resources},
                {"Sid": "DescribeThisCluster", "Effect": "Allow", "Action": "redshift:DescribeClusters",
                 "Resource": format!("{base}:cluster:{cluster}")},
            ]})
        }
    }
}

fn staging(s: &StagingAccess, partition: &str) -> Value {
    let prefix = s.prefix.as_deref().unwrap_or_default();
    let bucket = format!("arn:{partition}:s3:::{}", s.bucket);
    let mut statements = vec![
        json!({"Sid": "StagingBucket", "Effect": "Allow",
               "Action": ["s3:GetBucketLocation", "s3:GetBucketPolicy"], "Resource": bucket}),
        json!({"Sid": "StagingObjects", "Effect": "Allow",
               "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:GetObjectAttributes"],
               "Resource": format!("{bucket}/{prefix}*")}),
    ];
    let list = if prefix.is_empty() {
        json!({"Sid": "ListStaging", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket})
    } else {
        json!({"Sid": "ListStaging", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket,
               "Condition": {"StringLike": {"s3:prefix": [format!("{prefix}*")]}}})
    };
    statements.insert(1, list);
    json!({"Version": VERSION, "Statement": statements})
}

fn kms(key_arn: &str) -> Value {
    json!({"Version": VERSION, "Statement": [
        {"Sid": "StagingKey", "Effect": "Allow",
         "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey", "kms:DescribeKey"],
         "Resource": key_arn},
    ]})
}

fn statements(doc: &Value) -> Vec<&Value> {
    match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(v @ Value::Object(_)) => vec![v],
        _ => Vec::new(),
    }
}

/// A policy document as IAM returns it (URL-encoded JSON), parsed. `None` when it is not JSON.
pub fn decode(text: &str) -> Option<Value> {
    let trimmed = text.trim_start();
    let json = if trimmed.starts_with('{') {
        trimmed.to_string()
    } else {
        percent_decode(trimmed)?
    };
    serde_json::from_str(&json).ok()
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Whether two documents say the same: a one-element list equals its element, lists of strings compare as
/// sets, statements compare in order.
pub fn same(a: &Value, b: &Value) -> bool {
    normalize(a) == normalize(b)
}

fn normalize(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = match (k.as_str(), v) {
                        ("Statement", Value::Object(_)) => Value::Array(vec![v.clone()]),
                        _ => v.clone(),
                    };
                    (k.clone(), normalize(&v))
                })
                .collect(),
        ),
        Value::Array(items) if items.iter().all(Value::is_string) => {
            let mut strings: Vec<&str> = items.iter().filter_map(Value::as_str).collect();
            strings.sort_unstable();
            strings.dedup();
            match strings.as_slice() {
                [one] => Value::String(one.to_string()),
                _ => json!(strings),
            }
        }
        Value::Array(items) => Value::Array(items.iter().map(normalize).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(permissions: Value) -> ConsumerRole {
        serde_json::from_value(
            json!({"trustedPrincipal": "568237466542", "permissions": permissions}),
        )
        .unwrap()
    }

    fn serverless() -> WarehouseScope {
        WarehouseScope::Serverless {
            workgroup_arn: "arn:aws:redshift-serverless:us-east-1:111111111111:workgroup/wg-id"
                .into(),
            namespace_arn: "arn:aws:redshift-serverless:us-east-1:111111111111:namespace/ns-id"
                .into(),
        }
    }

    #[test]
    fn the_trust_policy_names_the_tool_the_operator_and_redshift_with_the_external_id() {
        let r = role(json!({"redshiftMayAssume": true}));
        let t = trust_policy(
            &r,
            "ext-1",
            Some("arn:aws:iam::111111111111:user/zeroetl-operator"),
        );
        let s = statements(&t);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0]["Principal"]["AWS"], "arn:aws:iam::568237466542:root");
        assert_eq!(
            s[1]["Principal"]["AWS"],
            "arn:aws:iam::111111111111:user/zeroetl-operator"
        );
        assert_eq!(s[1]["Condition"]["StringEquals"]["sts:ExternalId"], "ext-1");
        assert_eq!(s[2]["Principal"]["Service"], "redshift.amazonaws.com");
        assert!(s[2].get("Condition").is_none());
        assert_eq!(external_id_in(&t).as_deref(), Some("ext-1"));
        let without_operator = trust_policy(&role(json!({})), "ext-1", None);
        assert_eq!(statements(&without_operator).len(), 1);
    }

    #[test]
    fn permission_sets_become_scoped_inline_policies() {
        let none = permission_policies(&role(json!({})), &serverless(), None);
        assert!(none.is_empty());
        let data = permission_policies(&role(json!({"dataApi": true})), &serverless(), None);
        assert_eq!(
            data.keys().collect::<Vec<_>>(),
            [DATA_API_POLICY, CREDENTIALS_POLICY]
        );
        assert_eq!(
            data[DATA_API_POLICY]["Statement"][0]["Resource"],
            "arn:aws:redshift-serverless:us-east-1:111111111111:workgroup/wg-id"
        );
        let staged = permission_policies(
            &role(
                json!({"staging": {"bucket": "b", "prefix": "unload/", "kmsKeyArn": "arn:aws:kms:us-east-1:111111111111:key/k"}}),
            ),
            &serverless(),
            None,
        );
        assert_eq!(staged.len(), 2);
        let s = &staged[STAGING_POLICY]["Statement"];
        assert_eq!(s[1]["Condition"]["StringLike"]["s3:prefix"][0], "unload/*");
        assert_eq!(s[2]["Resource"], "arn:aws:s3:::b/unload/*");
        assert_eq!(
            staged[STAGING_KMS_POLICY]["Statement"][0]["Resource"],
            "arn:aws:kms:us-east-1:111111111111:key/k"
        );
        let provisioned = WarehouseScope::Provisioned {
            region: "us-east-1".into(),
            account: "111111111111".into(),
            cluster: "warehouse-ra3".into(),
        };
        let creds = &permission_policies(
            &role(json!({"temporaryCredentials": true})),
            &provisioned,
            Some("tool"),
        )[CREDENTIALS_POLICY];
        assert_eq!(
            creds["Statement"][0]["Resource"][0],
            "arn:aws:redshift:us-east-1:111111111111:dbuser:warehouse-ra3/tool"
        );
    }

    #[test]
    fn documents_read_back_from_iam_compare_by_meaning() {
        let wanted = trust_policy(&role(json!({})), "ext", None);
        let encoded: String = serde_json::to_string(&wanted)
            .unwrap()
            .bytes()
            .map(|b| match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            })
            .collect();
        let back = decode(&encoded).expect("decodes");
        assert!(same(&wanted, &back));
        let mut reordered = wanted.clone();
        reordered["Statement"][0]["Action"] = json!(["sts:AssumeRole"]);
        assert!(same(&wanted, &reordered));
        let mut changed = wanted.clone();
        reordered["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"] = json!("other");
        changed["Statement"][0]["Principal"]["AWS"] = json!("arn:aws:iam::999999999999:root");
        assert!(!same(&wanted, &changed) && !same(&wanted, &reordered));
        assert_eq!(decode("%7Bnot json"), None);
    }

    #[test]
    fn caller_arns_become_principals() {
        assert_eq!(
            caller_principal("arn:aws:sts::111111111111:assumed-role/zeroetl-operator/i-123"),
            "arn:aws:iam::111111111111:role/zeroetl-operator"
        );
        assert_eq!(
            caller_principal("arn:aws:iam::111111111111:user/zeroetl-operator"),
            "arn:aws:iam::111111111111:user/zeroetl-operator"
        );
        assert_eq!(
            principal_arn("568237466542"),
            "arn:aws:iam::568237466542:root"
        );
    }
}
