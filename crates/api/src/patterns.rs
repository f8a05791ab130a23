//! Regular expressions shared by the CRD schema (enforced by the API server) and by the Rust validation
//! (enforced by the operator on clusters that drop CEL or on fields the schema cannot express). One source
//! of truth, so the two never disagree.

/// AWS integration names: 1–63 characters, a letter first, letters and digits in single-hyphen groups.
pub const INTEGRATION_NAME: &str = r"^[a-zA-Z][a-zA-Z0-9]*(-[a-zA-Z0-9]+)*$";
pub const REGION: &str = r"^[a-z]{2}(-[a-z]+)+-[0-9]$";
/// An RDS DB instance (`db:`) or Aurora cluster (`cluster:`) ARN.
pub const RDS_SOURCE_ARN: &str = r"^arn:aws[a-z-]*:rds:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:(db|cluster):[a-zA-Z][a-zA-Z0-9-]{0,62}$";
/// A Redshift namespace ARN: provisioned (`redshift:…:namespace:UUID`) or serverless
/// (`redshift-serverless:…:namespace/UUID`).
pub const NAMESPACE_ARN: &str = r"^arn:aws[a-z-]*:(redshift:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:namespace:|redshift-serverless:[a-z]{2}(-[a-z]+)+-[0-9]:[0-9]{12}:namespace/)[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$";
/// RDS identifiers: a letter first, letters, digits and hyphens, at most 63.
pub const RDS_IDENTIFIER: &str = r"^[a-zA-Z][a-zA-Z0-9-]{0,62}$";
/// A KMS key id, key ARN, alias name or alias ARN.
pub const KMS_KEY: &str = r"^(arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:(key/[a-zA-Z0-9-]+|alias/[a-zA-Z0-9/_-]+)|alias/[a-zA-Z0-9/_-]+|[a-zA-Z0-9-]{1,128})$";
/// The characters AWS accepts in a data filter.
pub const DATA_FILTER_CHARSET: &str = r#"^[a-zA-Z0-9_ "\\\-$,*.:?+/]*$"#;
/// Redshift database names (and other identifiers we interpolate into SQL): unquoted identifier rules.
pub const REDSHIFT_IDENTIFIER: &str = r"^[a-zA-Z_][a-zA-Z0-9_$]{0,126}$";
/// Source database names for `CREATE DATABASE … FROM INTEGRATION … DATABASE '<name>'`.
pub const SOURCE_DATABASE: &str = r"^[a-zA-Z_][a-zA-Z0-9_$-]{0,62}$";
pub const WORKGROUP_NAME: &str = r"^[a-z0-9-]{3,64}$";
pub const CLUSTER_IDENTIFIER: &str = r"^[a-z][a-z0-9-]{0,62}$";
pub const IAM_ROLE_ARN: &str = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[a-zA-Z0-9+=,.@_/-]{1,512}$";
/// External ids: 2–1224 characters (the length lives in min/maxLength: RE2 caps repeat counts at 1000).
pub const EXTERNAL_ID: &str = r"^[a-zA-Z0-9+=,.@:/_-]+$";
pub const SECRETS_MANAGER_ARN: &str =
    r"^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:.+$";
pub const S3_BUCKET: &str = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$";
pub const DB_USER: &str = r"^[a-zA-Z_][a-zA-Z0-9_$.@+-]{0,127}$";
/// IAM role names: 1–64 characters of letters, digits and `+=,.@_-`.
pub const IAM_ROLE_NAME: &str = r"^[a-zA-Z0-9+=,.@_-]{1,64}$";
/// Who may assume a consumer role: a 12-digit account id, or an IAM account-root, role or user ARN.
pub const TRUSTED_PRINCIPAL: &str = r"^([0-9]{12}|arn:aws[a-z-]*:iam::[0-9]{12}:(root|role/[a-zA-Z0-9+=,.@_/-]{1,512}|user/[a-zA-Z0-9+=,.@_/-]{1,512}))$";
/// A KMS key ARN (a policy Resource cannot be an alias).
pub const KMS_KEY_ARN: &str = r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[a-zA-Z0-9-]+$";
/// An S3 key prefix a policy may be scoped to: no wildcards, no policy variables, not starting with `/`.
pub const S3_PREFIX: &str = r"^([a-zA-Z0-9_.=-][a-zA-Z0-9_.=/-]*)?$";
/// Schema, view and database names in grants: quoted in every statement, so a few more characters than an
/// unquoted identifier allows, but never a quote, a backslash or whitespace.
pub const SQL_OBJECT_NAME: &str = r"^[a-zA-Z_][a-zA-Z0-9_$-]{0,126}$";
/// A consumer's database user: an ordinary user name, or the `IAMR:<role>` / `IAM:<user>` names Redshift gives
/// IAM identities. Quoted in every statement.
pub const CONSUMER_DB_USER: &str =
    r"^(IAMR?:[a-zA-Z0-9+=,.@_-]{1,64}|[a-zA-Z_][a-zA-Z0-9_$.@+-]{0,126})$";
/// DNS-1123 subdomain (Kubernetes object names).
pub const DNS_SUBDOMAIN: &str =
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    fn ok(p: &str, s: &str) -> bool {
        Regex::new(p).unwrap().is_match(s)
    }

    #[test]
    fn patterns_accept_and_reject() {
        assert!(ok(INTEGRATION_NAME, "orders-to-analytics"));
        assert!(!ok(INTEGRATION_NAME, "orders--x"));
        assert!(!ok(INTEGRATION_NAME, "1orders"));
        assert!(ok(
            RDS_SOURCE_ARN,
            "arn:aws:rds:us-east-1:111111111111:cluster:orders-aurora"
        ));
        assert!(!ok(
            RDS_SOURCE_ARN,
            "arn:aws:rds:us-east-1:111111111111:integration:abc"
        ));
        assert!(ok(
            NAMESPACE_ARN,
            "arn:aws:redshift-serverless:us-east-1:111111111111:namespace/0b1e4c52-7c55-4a2f-9d26-8c1f9d7a1e11"
        ));
        assert!(ok(
            NAMESPACE_ARN,
            "arn:aws:redshift:us-east-1:111111111111:namespace:0b1e4c52-7c55-4a2f-9d26-8c1f9d7a1e11"
        ));
        assert!(!ok(
            NAMESPACE_ARN,
            "arn:aws:redshift-serverless:us-east-1:111111111111:namespace:0b1e4c52-7c55-4a2f-9d26-8c1f9d7a1e11"
        ));
        assert!(
            ok(REGION, "eu-central-1") && ok(REGION, "us-gov-west-1") && !ok(REGION, "useast1")
        );
        assert!(
            ok(DATA_FILTER_CHARSET, "include: db.*, exclude: db.\"x\"")
                && !ok(DATA_FILTER_CHARSET, "a;b")
        );
        assert!(ok(
            IAM_ROLE_ARN,
            "arn:aws:iam::222222222222:role/zeroetl-connector"
        ));
        assert!(ok(S3_BUCKET, "zeroetl-staging-use1") && !ok(S3_BUCKET, "Bad_Bucket"));
        assert!(ok(TRUSTED_PRINCIPAL, "568237466542"));
        assert!(ok(TRUSTED_PRINCIPAL, "arn:aws:iam::568237466542:root"));
        assert!(ok(
            TRUSTED_PRINCIPAL,
            "arn:aws:iam::568237466542:role/vendor"
        ));
        assert!(!ok(TRUSTED_PRINCIPAL, "5682374665"));
        assert!(!ok(TRUSTED_PRINCIPAL, "*"));
        assert!(!ok(
            TRUSTED_PRINCIPAL,
            "arn:aws:sts::568237466542:assumed-role/x/y"
        ));
        assert!(ok(SQL_OBJECT_NAME, "public") && ok(SQL_OBJECT_NAME, "orders-db"));
        assert!(!ok(SQL_OBJECT_NAME, "pub\"lic") && !ok(SQL_OBJECT_NAME, "a b"));
        assert!(
            ok(CONSUMER_DB_USER, "IAMR:zeroetl-team-a-polytomic")
                && ok(CONSUMER_DB_USER, "tonic_user")
        );
        assert!(!ok(CONSUMER_DB_USER, "tonic\"user") && !ok(CONSUMER_DB_USER, "IAMR:"));
        assert!(ok(S3_PREFIX, "unload/polytomic/") && ok(S3_PREFIX, ""));
        assert!(
            !ok(S3_PREFIX, "/unload")
                && !ok(S3_PREFIX, "unload/*")
                && !ok(S3_PREFIX, "${aws:username}")
        );
        assert!(ok(
            KMS_KEY_ARN,
            "arn:aws:kms:us-east-1:111111111111:key/0b7e5c1a-2d4f-4e6a-9b8c-7d6e5f4a3b21"
        ));
        assert!(!ok(KMS_KEY_ARN, "alias/zeroetl"));
    }
}
