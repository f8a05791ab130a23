//! The operator's own validation: every rule of the CRD schema and CEL again (servers older than 1.25 drop
//! CEL, and some clusters skip schema checks on updates through old clients), plus the cross-field rules a
//! schema cannot express. Each function returns every problem, each with its field path.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::OnceLock;

use regex::Regex;

use crate::arn::{NamespaceArn, SourceArn};
use crate::connection::RedshiftConnection;
use crate::data_filter::DataFilter;
use crate::integration::ZeroEtlIntegration;
use crate::patterns as p;

/// One problem with a spec, at a field path such as `spec.source.arn`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Joins problems into one condition message: `path: message; path: message`.
pub fn summarize(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[derive(Default)]
struct Problems(Vec<FieldError>);

impl Problems {
    fn add(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError {
            path: path.into(),
            message: message.into(),
        });
    }

    /// Checks an optional string against a shared pattern.
    fn pattern(&mut self, path: &str, value: Option<&str>, pattern: &'static str, what: &str) {
        if let Some(v) = value {
            if !matches(pattern, v) {
                self.add(path, format!("{v:?} is not {what}"));
            }
        }
    }

    fn max_len(&mut self, path: &str, value: Option<&str>, max: usize) {
        if let Some(v) = value {
            if v.chars().count() > max {
                self.add(
                    path,
                    format!(
                        "is {} characters; at most {max} are allowed",
                        v.chars().count()
                    ),
                );
            }
        }
    }
}

fn matches(pattern: &'static str, value: &str) -> bool {
    static CACHE: OnceLock<std::sync::Mutex<HashMap<&'static str, Regex>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
    cache
        .entry(pattern)
        .or_insert_with(|| Regex::new(pattern).expect("patterns are valid"))
        .is_match(value)
}

fn count_set(fields: &[bool]) -> usize {
    fields.iter().filter(|b| **b).count()
}

/// Validates a ZeroEtlIntegration. An empty result means the operator may act on it.
pub fn validate_integration(obj: &ZeroEtlIntegration) -> Vec<FieldError> {
    let spec = &obj.spec;
    let mut e = Problems::default();

    match &spec.integration_name {
        Some(name) => {
            e.max_len("spec.integrationName", Some(name), 63);
            e.pattern("spec.integrationName", Some(name), p::INTEGRATION_NAME, "a valid integration name (a letter first, then letters, digits and single hyphens)");
        }
        None => {
            // metadata.name becomes the AWS name; Kubernetes allows dots and 253 characters, AWS does not.
            let name = obj.metadata.name.as_deref().unwrap_or_default();
            if name.len() > 63 || !matches(p::INTEGRATION_NAME, name) {
                e.add("spec.integrationName", format!("metadata.name {name:?} is not a valid AWS integration name; set spec.integrationName"));
            }
        }
    }
    e.pattern(
        "spec.region",
        spec.region.as_deref(),
        p::REGION,
        "an AWS region",
    );

    // Source: exactly one of three.
    let s = &spec.source;
    if count_set(&[
        s.arn.is_some(),
        s.db_cluster_identifier.is_some(),
        s.db_instance_identifier.is_some(),
    ]) != 1
    {
        e.add(
            "spec.source",
            "exactly one of arn, dbClusterIdentifier, dbInstanceIdentifier must be set",
        );
    }
    e.pattern("spec.source.arn", s.arn.as_deref(), p::RDS_SOURCE_ARN, "an RDS DB instance or Aurora cluster ARN (arn:aws:rds:REGION:ACCOUNT:db:NAME or …:cluster:NAME)");
    e.pattern(
        "spec.source.dbClusterIdentifier",
        s.db_cluster_identifier.as_deref(),
        p::RDS_IDENTIFIER,
        "a DB cluster identifier",
    );
    e.pattern(
        "spec.source.dbInstanceIdentifier",
        s.db_instance_identifier.as_deref(),
        p::RDS_IDENTIFIER,
        "a DB instance identifier",
    );
    for (path, id) in [
        ("spec.source.dbClusterIdentifier", &s.db_cluster_identifier),
        (
            "spec.source.dbInstanceIdentifier",
            &s.db_instance_identifier,
        ),
    ] {
        if id
            .as_deref()
            .is_some_and(|id| id.contains("--") || id.ends_with('-'))
        {
            e.add(
                path,
                "may not contain two consecutive hyphens or end with a hyphen",
            );
        }
    }

    // Target: exactly one of two.
    let t = &spec.target;
    if count_set(&[t.connection_ref.is_some(), t.namespace_arn.is_some()]) != 1 {
        e.add(
            "spec.target",
            "exactly one of connectionRef, namespaceArn must be set",
        );
    }
    e.pattern("spec.target.namespaceArn", t.namespace_arn.as_deref(), p::NAMESPACE_ARN, "a Redshift namespace ARN (arn:aws:redshift:REGION:ACCOUNT:namespace:UUID or arn:aws:redshift-serverless:REGION:ACCOUNT:namespace/UUID)");
    if let Some(r) = &t.connection_ref {
        e.pattern(
            "spec.target.connectionRef.name",
            Some(&r.name),
            p::DNS_SUBDOMAIN,
            "a Kubernetes object name",
        );
    }

    // Zero-ETL is same-region: source, target and spec.region must agree where they are known.
    let source_region = s
        .arn
        .as_deref()
        .and_then(SourceArn::parse)
        .map(|a| a.arn.region);
    let target_region = t
        .namespace_arn
        .as_deref()
        .and_then(NamespaceArn::parse)
        .map(|a| a.arn.region);
    if let (Some(sr), Some(tr)) = (&source_region, &target_region) {
        if sr != tr {
            e.add("spec.target.namespaceArn", format!("is in region {tr} but the source is in {sr}; zero-ETL needs both in one region"));
        }
    }
    if let Some(region) = &spec.region {
        for (path, r) in [
            ("spec.source.arn", &source_region),
            ("spec.target.namespaceArn", &target_region),
        ] {
            if r.as_ref().is_some_and(|r| r != region) {
                e.add(
                    path,
                    format!(
                        "is in region {} but spec.region is {region}",
                        r.as_deref().unwrap_or_default()
                    ),
                );
            }
        }
    }

    // Encryption.
    e.pattern(
        "spec.kmsKeyId",
        spec.kms_key_id.as_deref(),
        p::KMS_KEY,
        "a KMS key id, key ARN or alias",
    );
    if let Some(ctx) = &spec.additional_encryption_context {
        if spec.kms_key_id.is_none() {
            e.add("spec.additionalEncryptionContext", "needs spec.kmsKeyId (AWS applies an encryption context only with a customer managed key)");
        }
        if ctx.len() > 6 {
            e.add(
                "spec.additionalEncryptionContext",
                format!(
                    "has {} pairs; at most 6 are allowed (AWS adds 2 of its own)",
                    ctx.len()
                ),
            );
        }
        if ctx.keys().any(|k| k.is_empty()) {
            e.add("spec.additionalEncryptionContext", "keys may not be empty");
        }
    }

    if let Some(filter) = &spec.data_filter {
        if let Err(why) = DataFilter::parse(filter) {
            e.add("spec.dataFilter", why);
        }
    }
    e.max_len("spec.description", spec.description.as_deref(), 1000);
    if let Some(tags) = &spec.tags {
        validate_tags(&mut e, "spec.tags", tags);
    }
    if let Some(db) = &spec.destination_database {
        e.pattern(
            "spec.destinationDatabase.name",
            Some(&db.name),
            p::REDSHIFT_IDENTIFIER,
            "a Redshift database name (a letter or underscore first, then letters, digits, _ or $)",
        );
        e.pattern(
            "spec.destinationDatabase.sourceDatabase",
            db.source_database.as_deref(),
            p::SOURCE_DATABASE,
            "a source database name",
        );
    }
    e.0
}

/// Keys of the tags the operator puts on what it creates; users may not set them.
pub const OWNER_TAG_PREFIX: &str = "zeroetl.dev/";
/// AWS allows 50 tags per resource; the operator keeps 5 for its owner tags.
pub const USER_TAG_LIMIT: usize = 45;

fn validate_tags(e: &mut Problems, path: &str, tags: &BTreeMap<String, String>) {
    if tags.len() > USER_TAG_LIMIT {
        e.add(
            path,
            format!(
                "has {} tags; at most {USER_TAG_LIMIT} are allowed (AWS allows 50 and the operator adds its owner tags)",
                tags.len()
            ),
        );
    }
    for (k, v) in tags {
        if k.is_empty() || k.chars().count() > 128 {
            e.add(path, format!("tag key {k:?} must be 1–128 characters"));
        }
        if k.to_ascii_lowercase().starts_with("aws:") {
            e.add(
                path,
                format!("tag key {k:?} may not start with aws: (reserved by AWS)"),
            );
        }
        if k.to_ascii_lowercase().starts_with(OWNER_TAG_PREFIX) {
            e.add(
                path,
                format!("tag key {k:?} may not start with {OWNER_TAG_PREFIX} (the operator's owner tags)"),
            );
        }
        if v.chars().count() > 256 {
            e.add(path, format!("tag {k:?} has a value over 256 characters"));
        }
    }
}

/// Validates a RedshiftConnection. An empty result means the operator may act on it.
pub fn validate_connection(obj: &RedshiftConnection) -> Vec<FieldError> {
    let spec = &obj.spec;
    let mut e = Problems::default();
    e.pattern(
        "spec.region",
        spec.region.as_deref(),
        p::REGION,
        "an AWS region",
    );
    if count_set(&[spec.serverless.is_some(), spec.provisioned.is_some()]) != 1 {
        e.add("spec", "exactly one of serverless, provisioned must be set");
    }
    if let Some(s) = &spec.serverless {
        e.pattern(
            "spec.serverless.workgroupName",
            Some(&s.workgroup_name),
            p::WORKGROUP_NAME,
            "a workgroup name (3–64 lowercase letters, digits, hyphens)",
        );
    }
    if let Some(c) = &spec.provisioned {
        let id = &c.cluster_identifier;
        e.pattern("spec.provisioned.clusterIdentifier", Some(id), p::CLUSTER_IDENTIFIER, "a cluster identifier (a lowercase letter first, then lowercase letters, digits, hyphens)");
        if id.contains("--") || id.ends_with('-') {
            e.add(
                "spec.provisioned.clusterIdentifier",
                "may not contain two consecutive hyphens or end with a hyphen",
            );
        }
    }
    e.pattern(
        "spec.database",
        Some(&spec.database),
        p::REDSHIFT_IDENTIFIER,
        "a Redshift database name",
    );

    let a = &spec.auth;
    if a.assume_role.is_some() && a.access_key_secret_ref.is_some() {
        e.add(
            "spec.auth",
            "at most one of assumeRole, accessKeySecretRef may be set",
        );
    }
    if a.db_user.is_some() && a.secret_arn.is_some() {
        e.add("spec.auth", "at most one of dbUser, secretArn may be set");
    }
    if let Some(r) = &a.assume_role {
        e.pattern(
            "spec.auth.assumeRole.roleArn",
            Some(&r.role_arn),
            p::IAM_ROLE_ARN,
            "an IAM role ARN",
        );
        // The value is deliberately not echoed: external ids are shared secrets between accounts.
        if r.external_id
            .as_deref()
            .is_some_and(|x| !(2..=1224).contains(&x.len()) || !matches(p::EXTERNAL_ID, x))
        {
            e.add(
                "spec.auth.assumeRole.externalId",
                "must be 2–1224 characters of letters, digits and +=,.@:/_-",
            );
        }
    }
    if let Some(r) = &a.access_key_secret_ref {
        e.pattern(
            "spec.auth.accessKeySecretRef.name",
            Some(&r.name),
            p::DNS_SUBDOMAIN,
            "a Secret name",
        );
    }
    e.pattern(
        "spec.auth.dbUser",
        a.db_user.as_deref(),
        p::DB_USER,
        "a database user name",
    );
    e.pattern(
        "spec.auth.secretArn",
        a.secret_arn.as_deref(),
        p::SECRETS_MANAGER_ARN,
        "a Secrets Manager secret ARN",
    );

    if let Some(s) = &spec.staging {
        e.pattern(
            "spec.staging.bucket",
            Some(&s.bucket),
            p::S3_BUCKET,
            "an S3 bucket name (3–63 lowercase letters, digits, dots, hyphens)",
        );
        if s.bucket.contains("..") {
            e.add(
                "spec.staging.bucket",
                "may not contain two consecutive dots",
            );
        }
        e.max_len("spec.staging.prefix", s.prefix.as_deref(), 1024);
        e.pattern(
            "spec.staging.iamRoleArn",
            Some(&s.iam_role_arn),
            p::IAM_ROLE_ARN,
            "an IAM role ARN",
        );
        e.pattern(
            "spec.staging.kmsKeyId",
            s.kms_key_id.as_deref(),
            p::KMS_KEY,
            "a KMS key id, key ARN or alias",
        );
    }
    if let Some(s) = &spec.connection_secret {
        e.max_len("spec.connectionSecret.name", Some(&s.name), 253);
        e.pattern(
            "spec.connectionSecret.name",
            Some(&s.name),
            p::DNS_SUBDOMAIN,
            "a Secret name (DNS-1123 subdomain)",
        );
    }
    e.0
}

mod consumer;
pub use consumer::validate_consumer;

#[cfg(test)]
mod tests;
