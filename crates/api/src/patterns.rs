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
    }
}
