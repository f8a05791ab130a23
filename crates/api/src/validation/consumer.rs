//! Validation of a RedshiftConsumer: every schema and CEL rule again, plus what a schema cannot say (grant
//! fields by type, duplicates, Secret names). Names that reach SQL are checked here, before any call, even
//! though every statement also quotes them.

use std::collections::BTreeSet;

use super::{matches, FieldError, Problems};
use crate::consumer::{GrantType, RedshiftConsumer, UserAuthentication, MAX_SESSION_SECONDS_RANGE};
use crate::patterns as p;

/// Validates a RedshiftConsumer. An empty result means the operator may act on it.
pub fn validate_consumer(obj: &RedshiftConsumer) -> Vec<FieldError> {
    let spec = &obj.spec;
    let mut e = Problems::default();
    e.pattern(
        "spec.connectionRef.name",
        Some(&spec.connection_ref.name),
        p::DNS_SUBDOMAIN,
        "a Kubernetes object name",
    );
    if spec.role.is_none() && spec.database_user.is_none() {
        e.add("spec", "set role, databaseUser or both");
    }

    if let Some(role) = &spec.role {
        e.max_len("spec.role.name", role.name.as_deref(), 64);
        e.pattern(
            "spec.role.name",
            role.name.as_deref(),
            p::IAM_ROLE_NAME,
            "an IAM role name (letters, digits and +=,.@_-)",
        );
        e.pattern(
            "spec.role.trustedPrincipal",
            Some(&role.trusted_principal),
            p::TRUSTED_PRINCIPAL,
            "a 12-digit AWS account id or an IAM ARN (arn:aws:iam::ACCOUNT:root, …:role/NAME or …:user/NAME)",
        );
        // Not echoed: the value is shared between two accounts and kept out of logs.
        if role
            .external_id
            .as_deref()
            .is_some_and(|x| !(2..=1224).contains(&x.len()) || !matches(p::EXTERNAL_ID, x))
        {
            e.add(
                "spec.role.externalId",
                "must be 2–1224 characters of letters, digits and +=,.@:/_-",
            );
        }
        if let Some(seconds) = role.max_session_duration_seconds {
            if !MAX_SESSION_SECONDS_RANGE.contains(&seconds) {
                e.add(
                    "spec.role.maxSessionDurationSeconds",
                    format!("is {seconds}; AWS accepts 3600–43200"),
                );
            }
        }
        if let Some(s) = &role.permissions.staging {
            e.pattern(
                "spec.role.permissions.staging.bucket",
                Some(&s.bucket),
                p::S3_BUCKET,
                "an S3 bucket name (3–63 lowercase letters, digits, dots, hyphens)",
            );
            if s.bucket.contains("..") {
                e.add(
                    "spec.role.permissions.staging.bucket",
                    "may not contain two consecutive dots",
                );
            }
            e.max_len(
                "spec.role.permissions.staging.prefix",
                s.prefix.as_deref(),
                1024,
            );
            e.pattern(
                "spec.role.permissions.staging.prefix",
                s.prefix.as_deref(),
                p::S3_PREFIX,
                "a key prefix of letters, digits and _.=/- that does not start with / (no wildcards)",
            );
            e.pattern(
                "spec.role.permissions.staging.kmsKeyArn",
                s.kms_key_arn.as_deref(),
                p::KMS_KEY_ARN,
                "a KMS key ARN (arn:aws:kms:REGION:ACCOUNT:key/ID; an alias cannot scope a policy)",
            );
        }
    }

    if let Some(user) = &spec.database_user {
        e.pattern(
            "spec.databaseUser.name",
            user.name.as_deref(),
            p::CONSUMER_DB_USER,
            "a database user name (a letter or _ first, then letters, digits and _$.@+-; or IAMR:<role>)",
        );
        if user
            .name
            .as_deref()
            .is_some_and(|n| n.eq_ignore_ascii_case("public"))
        {
            e.add(
                "spec.databaseUser.name",
                "PUBLIC is not a user name Redshift allows",
            );
        }
        if user.name.is_none() {
            match (user.authentication, &spec.role) {
                (UserAuthentication::Password, _) => {
                    e.add("spec.databaseUser.name", "is required for a Password user")
                }
                (UserAuthentication::Iam, None) => e.add(
                    "spec.databaseUser.name",
                    "is required without spec.role (the default is the role's IAMR: user)",
                ),
                _ => {}
            }
        }
        let mut seen = BTreeSet::new();
        for (i, g) in user.grants.iter().enumerate() {
            let path = format!("spec.databaseUser.grants[{i}]");
            let needs_schema = g.type_.on_schema();
            let needs_view = g.type_ == GrantType::SelectSystemView;
            if needs_schema != g.schema.is_some() {
                e.add(
                    format!("{path}.schema"),
                    if needs_schema {
                        format!("is required for {:?}", g.type_)
                    } else {
                        format!("is not allowed for {:?}", g.type_)
                    },
                );
            }
            if needs_view != g.view.is_some() {
                e.add(
                    format!("{path}.view"),
                    if needs_view {
                        "is required for SelectSystemView".to_string()
                    } else {
                        format!("is not allowed for {:?}", g.type_)
                    },
                );
            }
            for (field, value) in [
                ("schema", &g.schema),
                ("view", &g.view),
                ("database", &g.database),
            ] {
                e.pattern(
                    &format!("{path}.{field}"),
                    value.as_deref(),
                    p::SQL_OBJECT_NAME,
                    "a Redshift object name (a letter or _ first, then letters, digits and _$-; no quotes)",
                );
            }
            if !seen.insert(g) {
                e.add(path, "is listed twice");
            }
        }
    }

    let secret = obj.connection_secret_name();
    if let Some(s) = &spec.connection_secret {
        e.max_len("spec.connectionSecret.name", Some(&s.name), 253);
        e.pattern(
            "spec.connectionSecret.name",
            Some(&s.name),
            p::DNS_SUBDOMAIN,
            "a Secret name (DNS-1123 subdomain)",
        );
    }
    if secret == obj.password_secret_name() {
        e.add(
            "spec.connectionSecret.name",
            format!("{secret} is the password Secret's name; choose another"),
        );
    }
    e.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn consumer(spec: serde_json::Value) -> RedshiftConsumer {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "zeroetl.dev/v1alpha1", "kind": "RedshiftConsumer",
            "metadata": {"name": "polytomic", "namespace": "team-a"},
            "spec": spec,
        }))
        .unwrap()
    }

    fn paths(obj: &RedshiftConsumer) -> Vec<String> {
        validate_consumer(obj).into_iter().map(|e| e.path).collect()
    }

    #[test]
    fn a_full_consumer_is_valid() {
        let c = consumer(serde_json::json!({
            "connectionRef": {"name": "analytics"},
            "role": {"trustedPrincipal": "568237466542", "externalId": "a1efa791-4530-43a0-962d-74e2ccf18309",
                     "maxSessionDurationSeconds": 7200,
                     "permissions": {"dataApi": true, "temporaryCredentials": true, "redshiftMayAssume": true,
                                     "staging": {"bucket": "zeroetl-staging-use1", "prefix": "unload/polytomic/",
                                                 "kmsKeyArn": "arn:aws:kms:us-east-1:111111111111:key/0b7e5c1a-2d4f-4e6a-9b8c-7d6e5f4a3b21"}}},
            "databaseUser": {"grants": [
                {"type": "SchemaUsage", "schema": "public"},
                {"type": "SelectAllTables", "schema": "public"},
                {"type": "SelectFutureTables", "schema": "public", "database": "orders"},
                {"type": "SelectSystemView", "view": "svv_table_info"},
                {"type": "DatabaseTemporary", "database": "orders"},
                {"type": "DatabaseCreate"},
                {"type": "SchemaDrop", "schema": "staging"}]},
            "deletionPolicy": "Retain",
        }));
        assert_eq!(validate_consumer(&c), vec![]);
    }

    #[test]
    fn problems_carry_their_field_paths() {
        let cases: &[(serde_json::Value, &str)] = &[
            (
                serde_json::json!({"connectionRef": {"name": "analytics"}}),
                "spec",
            ),
            (
                serde_json::json!({"connectionRef": {"name": "Bad_Name"}, "databaseUser": {"name": "u"}}),
                "spec.connectionRef.name",
            ),
            (
                serde_json::json!({"connectionRef": {"name": "a"}, "role": {"trustedPrincipal": "*"}}),
                "spec.role.trustedPrincipal",
            ),
            (
                serde_json::json!({"connectionRef": {"name": "a"}, "role": {"trustedPrincipal": "arn:aws:iam::1:root"}}),
                "spec.role.trustedPrincipal",
            ),
            (
                serde_json::json!({"connectionRef": {"name": "a"}, "role": {"trustedPrincipal": "568237466542", "externalId": "has space"}}),
                "spec.role.externalId",
            ),
            (
                serde_json::json!({"connectionRef": {"name": "a"}, "role": {"trustedPrincipal": "568237466542", "externalId": "x"}}),
                "spec.role.externalId",
            ),
            (
                serde_json::json!({"connectionRef": {"name": "a"}, "role": {"trustedPrincipal": "568237466542", "name": "bad/name"}}),
                "spec.role.name",
            ),
            (
                serde_json::json!({"connectionRef": {"name": "a"}, "role": {"trustedPrincipal": "568237466542", "maxSessionDurationSeconds": 60}}),
                "spec.role.maxSessionDurationSeconds",
            ),
            (
                serde_json::json!({"connectionRef": {"name": "a"}, "role": {"trustedPrincipal": "568237466542", "permissions": {"staging": {"bucket": "b..x"}}}}),
                "spec.role.permissions.staging.bucket",
            ),
            (
                serde_json::json!({"connectionRef": {"name": "a"}, "role": {"trustedPrincipal": "568237466542", "permissions": {"staging": {"bucket": "bucket", "prefix": "x/*"}}}}),
                "spec.role.permissions.staging.prefix",
            ),
            (
                serde_json::json!({"connectionRef": {"name": "a"}, "role": {"trustedPrincipal": "568237466542", "permissions": {"staging": {"bucket": "bucket", "kmsKeyArn": "alias/zeroetl"}}}}),
                "spec.role.permissions.staging.kmsKeyArn",
            ),
            (
                serde_json::json!({"connectionRef": {"name": "a"}, "databaseUser": {"authentication": "Password"}}),
                "spec.databaseUser.name",
            ),
            (
                serde_json::json!({"connectionRef": {"name": "a"}, "databaseUser": {}}),
                "spec.databaseUser.name",
            ),
            (
                serde_json::json!({"connectionRef": {"name": "a"}, "databaseUser": {"name": "tonic\"; DROP USER x; --"}}),
                "spec.databaseUser.name",
            ),
            (
                serde_json::json!({"connectionRef": {"name": "a"}, "databaseUser": {"name": "public"}}),
                "spec.databaseUser.name",
            ),
            (
                serde_json::json!({"connectionRef": {"name": "a"}, "databaseUser": {"name": "u", "grants": [{"type": "SchemaUsage", "schema": "pub\"lic"}]}}),
                "spec.databaseUser.grants[0].schema",
            ),
            (
                serde_json::json!({"connectionRef": {"name": "a"}, "databaseUser": {"name": "u", "grants": [{"type": "SchemaUsage", "schema": "pub'lic"}]}}),
                "spec.databaseUser.grants[0].schema",
            ),
            (
                serde_json::json!({"connectionRef": {"name": "a"}, "databaseUser": {"name": "u", "grants": [{"type": "SchemaUsage"}]}}),
                "spec.databaseUser.grants[0].schema",
            ),
            (
                serde_json::json!({"connectionRef": {"name": "a"}, "databaseUser": {"name": "u", "grants": [{"type": "DatabaseCreate", "schema": "s"}]}}),
                "spec.databaseUser.grants[0].schema",
            ),
            (
                serde_json::json!({"connectionRef": {"name": "a"}, "databaseUser": {"name": "u", "grants": [{"type": "SelectSystemView"}]}}),
                "spec.databaseUser.grants[0].view",
            ),
            (
                serde_json::json!({"connectionRef": {"name": "a"}, "databaseUser": {"name": "u", "grants": [{"type": "DatabaseTemporary", "database": "a b"}]}}),
                "spec.databaseUser.grants[0].database",
            ),
            (
                serde_json::json!({"connectionRef": {"name": "a"}, "databaseUser": {"name": "u", "grants": [{"type": "SchemaUsage", "schema": "s"}, {"type": "SchemaUsage", "schema": "s"}]}}),
                "spec.databaseUser.grants[1]",
            ),
            (
                serde_json::json!({"connectionRef": {"name": "a"}, "databaseUser": {"name": "u"}, "connectionSecret": {"name": "polytomic-password"}}),
                "spec.connectionSecret.name",
            ),
            (
                serde_json::json!({"connectionRef": {"name": "a"}, "databaseUser": {"name": "u"}, "connectionSecret": {"name": "Not_A_Name"}}),
                "spec.connectionSecret.name",
            ),
        ];
        for (spec, path) in cases {
            let found = paths(&consumer(spec.clone()));
            assert!(
                found.iter().any(|p| p == path),
                "expected {path} for {spec}, got {found:?}"
            );
        }
    }

    #[test]
    fn external_ids_are_not_echoed() {
        let c = consumer(serde_json::json!({"connectionRef": {"name": "a"},
            "role": {"trustedPrincipal": "568237466542", "externalId": "sec ret"}}));
        assert!(!super::super::summarize(&validate_consumer(&c)).contains("sec ret"));
    }

    #[test]
    fn a_role_lets_the_user_name_default() {
        let c = consumer(serde_json::json!({"connectionRef": {"name": "a"},
            "role": {"trustedPrincipal": "568237466542"}, "databaseUser": {}}));
        assert_eq!(validate_consumer(&c), vec![]);
    }
}
