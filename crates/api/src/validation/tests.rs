use super::*;
use crate::{RedshiftConnection, ZeroEtlIntegration};

fn integration(spec: &str) -> ZeroEtlIntegration {
    let doc = format!("apiVersion: zeroetl.dev/v1alpha1\nkind: ZeroEtlIntegration\nmetadata: {{name: orders, namespace: t}}\nspec:\n{spec}");
    serde_yaml::from_str(&doc).unwrap()
}

fn connection(spec: &str) -> RedshiftConnection {
    let doc = format!("apiVersion: zeroetl.dev/v1alpha1\nkind: RedshiftConnection\nmetadata: {{name: analytics, namespace: t}}\nspec:\n{spec}");
    serde_yaml::from_str(&doc).unwrap()
}

fn paths(errors: &[FieldError]) -> Vec<&str> {
    errors.iter().map(|e| e.path.as_str()).collect()
}

const SERVERLESS_ARN: &str = "arn:aws:redshift-serverless:us-east-1:111111111111:namespace/0b1e4c52-7c55-4a2f-9d26-8c1f9d7a1e11";

#[test]
fn a_minimal_integration_is_valid_and_defaults_apply() {
    let i = integration("  source: {dbClusterIdentifier: orders-aurora}\n  target: {connectionRef: {name: analytics}}\n");
    assert_eq!(validate_integration(&i), vec![]);
    assert_eq!(
        i.spec.prerequisites.source,
        crate::integration::PrerequisiteMode::Verify
    );
    assert_eq!(
        i.spec.prerequisites.target,
        crate::integration::PrerequisiteMode::Fix
    );
    assert_eq!(
        i.spec.deletion_policy,
        crate::integration::DeletionPolicy::Delete
    );
    // The default AWS name carries the namespace (names are unique per account, namespaces share accounts).
    let expected = match i.metadata.namespace.as_deref() {
        Some(ns) => format!("{ns}-orders"),
        None => "orders".to_string(),
    };
    assert_eq!(i.aws_name(), expected);
    assert_eq!(
        i.spec.management_policy,
        crate::integration::ManagementPolicy::Manage
    );
}

#[test]
fn integration_problems_carry_their_field_paths() {
    let cases: &[(&str, &str)] = &[
        ("  source: {}\n  target: {connectionRef: {name: a}}\n", "spec.source"),
        ("  source: {dbClusterIdentifier: a, dbInstanceIdentifier: b}\n  target: {connectionRef: {name: a}}\n", "spec.source"),
        ("  source: {arn: 'arn:aws:rds:us-east-1:111111111111:integration:x'}\n  target: {connectionRef: {name: a}}\n", "spec.source.arn"),
        ("  source: {dbClusterIdentifier: a}\n  target: {}\n", "spec.target"),
        (&format!("  source: {{dbClusterIdentifier: a}}\n  target: {{connectionRef: {{name: a}}, namespaceArn: '{SERVERLESS_ARN}'}}\n"), "spec.target"),
        ("  source: {dbClusterIdentifier: a}\n  target: {namespaceArn: 'arn:aws:redshift-serverless:us-east-1:111111111111:namespace:abc'}\n", "spec.target.namespaceArn"),
        ("  integrationName: 'x-'\n  source: {dbClusterIdentifier: a}\n  target: {connectionRef: {name: a}}\n", "spec.integrationName"),
        (&format!("  integrationName: a{}\n  source: {{dbClusterIdentifier: a}}\n  target: {{connectionRef: {{name: a}}}}\n", "b".repeat(63)), "spec.integrationName"),
        ("  source: {dbClusterIdentifier: a}\n  target: {connectionRef: {name: a}}\n  additionalEncryptionContext: {team: data}\n", "spec.additionalEncryptionContext"),
        ("  source: {dbClusterIdentifier: a}\n  target: {connectionRef: {name: a}}\n  kmsKeyId: alias/k\n  additionalEncryptionContext: {a: '1', b: '2', c: '3', d: '4', e: '5', f: '6', g: '7'}\n", "spec.additionalEncryptionContext"),
        ("  source: {dbClusterIdentifier: a}\n  target: {connectionRef: {name: a}}\n  dataFilter: 'exclude: db.t'\n", "spec.dataFilter"),
        ("  source: {dbClusterIdentifier: a}\n  target: {connectionRef: {name: a}}\n  tags: {'aws:owner': x}\n", "spec.tags"),
        ("  source: {dbClusterIdentifier: a}\n  target: {connectionRef: {name: a}}\n  region: useast1\n", "spec.region"),
        ("  source: {dbClusterIdentifier: a}\n  target: {connectionRef: {name: a}}\n  destinationDatabase: {name: 'drop table'}\n", "spec.destinationDatabase.name"),
        ("  source: {arn: 'arn:aws:rds:eu-west-1:111111111111:cluster:a'}\n  target: {namespaceArn: 'arn:aws:redshift:us-east-1:111111111111:namespace:0b1e4c52-7c55-4a2f-9d26-8c1f9d7a1e11'}\n", "spec.target.namespaceArn"),
        ("  source: {dbClusterIdentifier: a--b}\n  target: {connectionRef: {name: a}}\n", "spec.source.dbClusterIdentifier"),
    ];
    for (spec, path) in cases {
        let errors = validate_integration(&integration(spec));
        assert!(
            paths(&errors).contains(path),
            "expected {path} for\n{spec}\ngot {errors:?}"
        );
    }
}

#[test]
fn metadata_name_must_suit_aws_when_no_integration_name_is_given() {
    let mut i =
        integration("  source: {dbClusterIdentifier: a}\n  target: {connectionRef: {name: a}}\n");
    i.metadata.name = Some("orders.v2".into());
    assert_eq!(
        paths(&validate_integration(&i)),
        vec!["spec.integrationName"]
    );
    i.spec.integration_name = Some("orders-v2".into());
    assert!(validate_integration(&i).is_empty());
}

#[test]
fn a_full_connection_is_valid() {
    let c = connection(
        "  region: us-east-1\n  serverless: {workgroupName: analytics-wg}\n  database: dev\n  auth: {assumeRole: {roleArn: 'arn:aws:iam::222222222222:role/zeroetl-connector', externalId: zeroetl-demo-external-id}}\n  staging: {bucket: zeroetl-staging-use1, iamRoleArn: 'arn:aws:iam::111111111111:role/redshift-staging'}\n  connectionSecret: {name: analytics-connection}\n",
    );
    assert_eq!(validate_connection(&c), vec![]);
    let url = c.spec.jdbc_url(&crate::connection::Endpoint {
        address: "wg.example".into(),
        port: 5439,
    });
    assert_eq!(
        url,
        "jdbc:redshift://wg.example:5439/dev?ssl=true&sslmode=require"
    );
}

#[test]
fn connection_problems_carry_their_field_paths() {
    let cases: &[(&str, &str)] = &[
        ("  database: dev\n", "spec"),
        ("  serverless: {workgroupName: wg1}\n  provisioned: {clusterIdentifier: c}\n  database: dev\n", "spec"),
        ("  serverless: {workgroupName: WG}\n  database: dev\n", "spec.serverless.workgroupName"),
        ("  provisioned: {clusterIdentifier: c--1}\n  database: dev\n", "spec.provisioned.clusterIdentifier"),
        ("  provisioned: {clusterIdentifier: c1-}\n  database: dev\n", "spec.provisioned.clusterIdentifier"),
        ("  serverless: {workgroupName: wg1}\n  database: '1dev'\n", "spec.database"),
        ("  serverless: {workgroupName: wg1}\n  database: dev\n  auth: {assumeRole: {roleArn: 'arn:aws:iam::1:role/x'}}\n", "spec.auth.assumeRole.roleArn"),
        ("  serverless: {workgroupName: wg1}\n  database: dev\n  auth: {assumeRole: {roleArn: 'arn:aws:iam::222222222222:role/x'}, accessKeySecretRef: {name: keys}}\n", "spec.auth"),
        ("  serverless: {workgroupName: wg1}\n  database: dev\n  auth: {assumeRole: {roleArn: 'arn:aws:iam::222222222222:role/x', externalId: 'a b'}}\n", "spec.auth.assumeRole.externalId"),
        ("  serverless: {workgroupName: wg1}\n  database: dev\n  staging: {bucket: Bad_Bucket, iamRoleArn: 'arn:aws:iam::222222222222:role/x'}\n", "spec.staging.bucket"),
        ("  serverless: {workgroupName: wg1}\n  database: dev\n  connectionSecret: {name: Not_A_Name}\n", "spec.connectionSecret.name"),
    ];
    for (spec, path) in cases {
        let errors = validate_connection(&connection(spec));
        assert!(
            paths(&errors).contains(path),
            "expected {path} for\n{spec}\ngot {errors:?}"
        );
    }
}

#[test]
fn external_ids_are_not_echoed_in_messages() {
    let c = connection("  serverless: {workgroupName: wg1}\n  database: dev\n  auth: {assumeRole: {roleArn: 'arn:aws:iam::222222222222:role/x', externalId: 'sec ret'}}\n");
    assert!(!summarize(&validate_connection(&c)).contains("sec ret"));
}
