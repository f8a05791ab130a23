use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::json;
use zeroetl_api::conditions::{merge, READY, RECONCILING, STALLED};
use zeroetl_api::connection::{Endpoint, WarehouseKindName};
use zeroetl_api::{RedshiftConnection, RedshiftConnectionStatus};

use super::*;
use crate::aws::data_api::StatementEnd;
use crate::progress::summary_conditions;
use crate::warehouse::Warehouse;
use zeroetl_api::arn::WarehouseKind;

/// What the pipeline makes of a decision: the step conditions plus Ready, Reconciling and Stalled.
fn decide_all(steps: &Steps, summary: &str, reverify: Duration) -> Decision {
    let mut d = decide(steps, summary, reverify);
    d.conditions.extend(summary_conditions(&d.progress));
    d
}

/// The status the pipeline writes after `d`: fields from `next_status`, conditions merged.
fn status_after(
    obj: &RedshiftConnection,
    seen: WarehouseSeen,
    d: &Decision,
    now: DateTime<Utc>,
) -> RedshiftConnectionStatus {
    let mut next = next_status(obj, seen, d.progress.is_ready(), now);
    let previous = obj.status.clone().unwrap_or_default().conditions;
    let time = Time(Timestamp::from_second(now.timestamp()).unwrap());
    next.conditions = merge(&previous, &d.conditions, obj.metadata.generation, &time);
    next
}

fn connection(spec: serde_json::Value) -> RedshiftConnection {
    let mut obj: RedshiftConnection = serde_json::from_value(json!({
        "apiVersion": "zeroetl.dev/v1alpha1",
        "kind": "RedshiftConnection",
        "metadata": {"name": "analytics", "namespace": "data", "generation": 1, "uid": "u-1"},
        "spec": spec,
    }))
    .expect("valid connection");
    obj.metadata.generation = Some(1);
    obj
}

fn serverless_spec() -> serde_json::Value {
    json!({
        "region": "us-east-1",
        "serverless": {"workgroupName": "analytics-wg"},
        "database": "dev",
        "auth": {"assumeRole": {"roleArn": "arn:aws:iam::222222222222:role/zeroetl-connector", "externalId": "zeroetl-demo-external-id"}},
        "staging": {"bucket": "zeroetl-staging-use1", "iamRoleArn": "arn:aws:iam::111111111111:role/redshift-staging"},
        "connectionSecret": {"name": "analytics-connection"},
    })
}

fn serverless_warehouse() -> Warehouse {
    Warehouse {
        kind: WarehouseKind::Serverless,
        region: "us-east-1".into(),
        account: "111111111111".into(),
        namespace_arn: "arn:aws:redshift-serverless:us-east-1:111111111111:namespace/3f1c2a9e-5b7d-4e21-9c3a-1a2b3c4d5e01".into(),
        namespace_name: Some("analytics".into()),
        workgroup_name: Some("analytics-wg".into()),
        cluster_identifier: None,
        endpoint: Some(Endpoint { address: "analytics-wg.111111111111.us-east-1.redshift-serverless.amazonaws.com".into(), port: 5439 }),
        case_sensitive: true,
        case_sensitivity_pending_reboot: false,
        encrypted: true,
        iam_roles: vec!["arn:aws:iam::111111111111:role/redshift-staging".into()],
        status: "AVAILABLE".into(),
        admin_user: None,
        default_database: Some("dev".into()),
    }
}

/// An AWS error with `code`, which must classify as `category`.
fn aws_error(code: &str, category: Category) -> Error {
    let kind = crate::aws::classify(code);
    assert_eq!(kind.category(), category, "{code}");
    Error::Aws {
        service: "s3",
        action: "GetBucketLocation",
        code: code.into(),
        message: format!("{code} happened"),
        kind,
    }
}

fn all_passed() -> Steps {
    Steps {
        authenticated: Step::passed(reasons::DESCRIBED, "ok"),
        credentials: Step::passed(reasons::ISSUED, "ok"),
        reachable: Step::passed(reasons::QUERY_SUCCEEDED, "ok"),
        staging: Step::passed(reasons::STAGING_VERIFIED, "ok"),
        case_sensitive: Step::passed(reasons::ENABLED, "ok"),
        secret: Step::passed(reasons::PUBLISHED, "ok"),
    }
}

fn status_of(decided: &[Decided], type_: &str) -> (Status, String) {
    let d = decided
        .iter()
        .find(|d| d.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_}"));
    (d.status, d.reason.clone())
}

const REVERIFY: Duration = Duration::from_secs(300);

#[test]
fn all_steps_passing_is_ready_and_rechecks_after_the_interval() {
    let d = decide_all(&all_passed(), "verified", REVERIFY);
    assert_eq!(d.conditions.len(), 9);
    assert_eq!(status_of(&d.conditions, READY).0, Status::True);
    assert_eq!(status_of(&d.conditions, RECONCILING).0, Status::False);
    assert_eq!(status_of(&d.conditions, STALLED).0, Status::False);
    assert_eq!(
        d.progress,
        Progress::Ready {
            message: "verified".into(),
            recheck_after: REVERIFY
        }
    );
    assert_eq!(d.backoff, None);
}

#[test]
fn access_denied_stalls_and_leaves_later_steps_unknown() {
    let steps = Steps {
        authenticated: Step::from_error(&Error::Aws {
            service: "sts",
            action: "AssumeRole",
            code: "AccessDenied".into(),
            message: "not authorized to perform: sts:AssumeRole".into(),
            kind: crate::aws::AwsErrorKind::AccessDenied,
        }),
        ..Steps::default()
    };
    let d = decide_all(&steps, "", REVERIFY);
    assert_eq!(
        status_of(&d.conditions, AUTHENTICATED),
        (Status::False, "AccessDenied".into())
    );
    assert_eq!(
        status_of(&d.conditions, READY),
        (Status::False, "AccessDenied".into())
    );
    assert_eq!(status_of(&d.conditions, STALLED).0, Status::True);
    for t in [
        CREDENTIALS_ISSUED,
        REACHABLE,
        STAGING_READY,
        CASE_SENSITIVE,
        SECRET_PUBLISHED,
    ] {
        assert_eq!(
            status_of(&d.conditions, t),
            (Status::Unknown, reasons::NOT_CHECKED.into()),
            "{t}"
        );
    }
}

#[test]
fn every_access_denied_spelling_is_one_reason() {
    let step = Step::from_error(&aws_error("AccessDeniedException", Category::Terminal));
    assert!(
        matches!(step, Step::Failed { ref reason, .. } if reason == "AccessDenied"),
        "{step:?}"
    );
}

#[test]
fn errors_become_steps_by_category() {
    assert!(matches!(
        Step::from_error(&aws_error("ThrottlingException", Category::Throttled)),
        Step::Retrying {
            category: Category::Throttled,
            ..
        }
    ));
    assert!(matches!(
        Step::from_error(&aws_error("ConflictException", Category::Waiting)),
        Step::Waiting { .. }
    ));
    assert!(
        matches!(Step::from_error(&aws_error("InvalidClientTokenId", Category::Terminal)), Step::Failed { ref reason, .. } if reason == "InvalidClientTokenId")
    );
}

#[test]
fn work_under_way_wins_over_a_failure_elsewhere() {
    let steps = Steps {
        staging: Step::failed(reasons::ROLE_NOT_ATTACHED, "attach it"),
        case_sensitive: Step::waiting(reasons::APPLYING, "applying", Duration::from_secs(3)),
        ..all_passed()
    };
    let d = decide_all(&steps, "", REVERIFY);
    assert_eq!(
        d.progress,
        Progress::in_progress(reasons::APPLYING, "applying", Duration::from_secs(3))
    );
    assert_eq!(
        status_of(&d.conditions, STAGING_READY),
        (Status::False, reasons::ROLE_NOT_ATTACHED.into())
    );
    assert_eq!(status_of(&d.conditions, STALLED).0, Status::False);
}

#[test]
fn transient_failures_back_off() {
    let steps = Steps {
        reachable: Step::from_error(&aws_error("InternalFailure", Category::Retryable)),
        ..all_passed()
    };
    let d = decide_all(&steps, "", REVERIFY);
    assert_eq!(d.backoff, Some(Category::Retryable));
    assert_eq!(
        status_of(&d.conditions, READY),
        (Status::False, "InternalFailure".into())
    );
    assert_eq!(status_of(&d.conditions, RECONCILING).0, Status::True);
}

#[test]
fn informational_steps_do_not_decide_ready() {
    let mut w = serverless_warehouse();
    w.case_sensitive = false;
    let steps = Steps {
        case_sensitive: case_sensitivity_observed(&w, true),
        ..all_passed()
    };
    let d = decide_all(&steps, "ok", REVERIFY);
    assert_eq!(status_of(&d.conditions, READY).0, Status::True);
    assert_eq!(
        status_of(&d.conditions, CASE_SENSITIVE),
        (Status::False, reasons::DISABLED.into())
    );
}

#[test]
fn a_missing_warehouse_still_proves_the_identity() {
    let missing = Err(Error::Aws {
        service: "redshift-serverless",
        action: "GetWorkgroup",
        code: "ResourceNotFoundException".into(),
        message: "Workgroup nope not found.".into(),
        kind: crate::aws::AwsErrorKind::NotFound,
    });
    let (auth, unreachable) = authenticated(&missing);
    assert!(auth.is_passed());
    assert!(
        matches!(unreachable, Some(Step::Failed { ref reason, .. }) if reason == reasons::WAREHOUSE_NOT_FOUND)
    );
    let (auth, none) = authenticated(&Ok(serverless_warehouse()));
    assert!(auth.is_passed() && none.is_none());
}

#[test]
fn verify_mode_fails_on_disabled_or_pending_case_sensitivity() {
    let mut w = serverless_warehouse();
    assert!(case_sensitivity_observed(&w, false).is_passed());
    w.case_sensitive = false;
    assert!(
        matches!(case_sensitivity_observed(&w, false), Step::Failed { ref reason, ref message } if reason == reasons::DISABLED && message.contains("Fix"))
    );
    w.case_sensitivity_pending_reboot = true;
    assert!(
        matches!(case_sensitivity_observed(&w, false), Step::Failed { ref reason, .. } if reason == reasons::PENDING_REBOOT)
    );
}

#[test]
fn fix_mode_plans_what_turning_case_sensitivity_on_will_lead_to() {
    let off = Warehouse {
        case_sensitive: false,
        ..serverless_warehouse()
    };
    assert!(
        matches!(case_sensitivity_fix_planned(&off), Step::Waiting { ref reason, .. } if reason == reasons::APPLYING)
    );
    let cluster = Warehouse {
        kind: WarehouseKind::Provisioned,
        workgroup_name: None,
        cluster_identifier: Some("warehouse-ra3".into()),
        status: "available".into(),
        ..off.clone()
    };
    assert!(
        matches!(case_sensitivity_fix_planned(&cluster), Step::Failed { ref reason, .. } if reason == reasons::PENDING_REBOOT),
        "the operator never reboots a warehouse"
    );
    let rebooting = Warehouse {
        status: "rebooting".into(),
        ..cluster
    };
    assert!(
        matches!(case_sensitivity_fix_planned(&rebooting), Step::Waiting { ref reason, .. } if reason == reasons::REBOOTING)
    );
}

#[test]
fn staging_in_another_region_names_both_regions() {
    let obj = connection(serverless_spec());
    let seen = StagingObservation {
        bucket_region: Ok(bucket_region(Some("eu-west-1"))),
        kms_key: None,
    };
    match staging(&obj.spec, &serverless_warehouse(), Some(&seen)) {
        Step::Failed { reason, message } => {
            assert_eq!(reason, reasons::BUCKET_REGION_MISMATCH);
            assert!(
                message.contains("eu-west-1") && message.contains("us-east-1"),
                "{message}"
            );
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn staging_needs_the_bucket_and_an_attached_role() {
    let obj = connection(serverless_spec());
    let ok = StagingObservation {
        bucket_region: Ok(bucket_region(None)),
        kms_key: None,
    };
    assert!(staging(&obj.spec, &serverless_warehouse(), Some(&ok)).is_passed());

    let mut w = serverless_warehouse();
    w.iam_roles.clear();
    assert!(
        matches!(staging(&obj.spec, &w, Some(&ok)), Step::Failed { ref reason, .. } if reason == reasons::ROLE_NOT_ATTACHED)
    );

    let missing = StagingObservation {
        bucket_region: Err(aws_error("NoSuchBucket", Category::Terminal)),
        kms_key: None,
    };
    assert!(
        matches!(staging(&obj.spec, &serverless_warehouse(), Some(&missing)), Step::Failed { ref reason, .. } if reason == reasons::BUCKET_NOT_FOUND)
    );

    let mut spec = obj.spec.clone();
    spec.staging = None;
    assert!(
        matches!(staging(&spec, &serverless_warehouse(), None), Step::Passed { ref reason, .. } if reason == reasons::NOT_CONFIGURED)
    );
}

#[test]
fn staging_key_must_be_enabled_and_local() {
    let mut obj = connection(serverless_spec());
    obj.spec.staging.as_mut().unwrap().kms_key_id = Some("alias/zeroetl".into());
    let seen = |enabled, region: &str| StagingObservation {
        bucket_region: Ok("us-east-1".into()),
        kms_key: Some(Ok(KmsKey {
            enabled,
            region: region.into(),
        })),
    };
    assert!(staging(
        &obj.spec,
        &serverless_warehouse(),
        Some(&seen(true, "us-east-1"))
    )
    .is_passed());
    assert!(matches!(
        staging(
            &obj.spec,
            &serverless_warehouse(),
            Some(&seen(false, "us-east-1"))
        ),
        Step::Failed { .. }
    ));
    assert!(matches!(
        staging(
            &obj.spec,
            &serverless_warehouse(),
            Some(&seen(true, "eu-west-1"))
        ),
        Step::Failed { .. }
    ));
}

#[test]
fn bucket_locations_map_to_regions() {
    assert_eq!(bucket_region(None), "us-east-1");
    assert_eq!(bucket_region(Some("")), "us-east-1");
    assert_eq!(bucket_region(Some("EU")), "eu-west-1");
    assert_eq!(bucket_region(Some("eu-west-1")), "eu-west-1");
}

#[test]
fn statement_states_map_to_reachable() {
    assert!(reachable(&StatementEnd::Finished).is_passed());
    assert!(
        matches!(reachable(&StatementEnd::Failed("ERROR: permission denied".into())), Step::Failed { ref message, .. } if message.contains("permission denied"))
    );
    assert!(matches!(
        reachable(&StatementEnd::Running { id: "s".into() }),
        Step::Waiting { .. }
    ));
    assert!(matches!(
        reachable(&StatementEnd::Aborted),
        Step::Retrying { .. }
    ));
}

#[test]
fn serverless_secret_holds_exactly_the_documented_coordinates() {
    let obj = connection(serverless_spec());
    let at = Coordinates::from_warehouse(&serverless_warehouse()).unwrap();
    let data = secret_data(&obj.spec, &at);
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        vec![
            "database",
            "host",
            "jdbcUrl",
            "namespaceArn",
            "port",
            "region",
            "roleArn",
            "stagingRoleArn",
            "workgroup"
        ]
    );
    assert!(keys.iter().all(|k| SECRET_KEYS.contains(k)));
    assert_eq!(data["jdbcUrl"], "jdbc:redshift://analytics-wg.111111111111.us-east-1.redshift-serverless.amazonaws.com:5439/dev?ssl=true&sslmode=require");
    assert_eq!(data["port"], "5439");
    // The external id is shared between accounts: it never leaves the spec.
    assert!(data
        .values()
        .all(|v| !v.contains("zeroetl-demo-external-id")));
}

#[test]
fn provisioned_secret_names_the_cluster_and_honours_verify_full() {
    let obj = connection(json!({
        "provisioned": {"clusterIdentifier": "warehouse-ra3"},
        "database": "dev",
        "ssl": "verifyFull",
        "auth": {"dbUser": "etl"},
    }));
    let at = Coordinates {
        kind: WarehouseKindName::Provisioned,
        endpoint: Endpoint {
            address: "warehouse-ra3.abc.us-east-1.redshift.amazonaws.com".into(),
            port: 5439,
        },
        namespace_arn:
            "arn:aws:redshift:us-east-1:111111111111:namespace:8d2e4f6a-0b1c-4d3e-8f5a-6b7c8d9e0f02"
                .into(),
        region: "us-east-1".into(),
    };
    let data = secret_data(&obj.spec, &at);
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        vec![
            "cluster",
            "database",
            "host",
            "jdbcUrl",
            "namespaceArn",
            "port",
            "region"
        ]
    );
    assert!(data["jdbcUrl"].ends_with("/dev?ssl=true&sslmode=verify-full"));
}

#[test]
fn provisioned_without_a_database_identity_is_invalid() {
    let obj = connection(
        json!({"provisioned": {"clusterIdentifier": "warehouse-ra3"}, "database": "dev"}),
    );
    let problems = spec_problems(&obj.spec);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].path, "spec.auth.dbUser");
    assert!(spec_problems(&connection(serverless_spec()).spec).is_empty());
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
}

#[test]
fn status_records_the_observation_and_verification_time() {
    let obj = connection(serverless_spec());
    let d = decide_all(&all_passed(), "ok", REVERIFY);
    let s = status_after(
        &obj,
        WarehouseSeen::Described(&serverless_warehouse()),
        &d,
        at(0),
    );
    assert_eq!(s.observed_generation, Some(1));
    assert_eq!(s.kind, Some(WarehouseKindName::Serverless));
    assert_eq!(s.endpoint.as_ref().map(|e| e.port), Some(5439));
    assert_eq!(s.case_sensitive, Some(true));
    assert!(s
        .jdbc_url
        .as_deref()
        .unwrap()
        .starts_with("jdbc:redshift://analytics-wg."));
    assert_eq!(
        s.last_verified_time.as_deref(),
        Some("2027-01-15T08:00:00Z")
    );
    assert!(zeroetl_api::conditions::is_true(&s.conditions, READY));
}

#[test]
fn an_unchanged_failure_writes_nothing_new() {
    let mut obj = connection(serverless_spec());
    let steps = Steps {
        authenticated: Step::failed(reasons::ACCESS_DENIED, "denied"),
        ..Steps::default()
    };
    let d = decide_all(&steps, "", REVERIFY);
    let first = status_after(&obj, WarehouseSeen::Unknown, &d, at(0));
    obj.status = Some(first.clone());
    let second = status_after(&obj, WarehouseSeen::Unknown, &d, at(60));
    assert_eq!(
        first, second,
        "the same decision later must give the same status (no write)"
    );
    assert_eq!(second.last_verified_time, None);
}

#[test]
fn a_spec_change_drops_coordinates_that_were_not_observed_again() {
    let mut obj = connection(serverless_spec());
    let ok = decide_all(&all_passed(), "ok", REVERIFY);
    obj.status = Some(status_after(
        &obj,
        WarehouseSeen::Described(&serverless_warehouse()),
        &ok,
        at(0),
    ));
    let denied = decide_all(
        &Steps {
            authenticated: Step::failed(reasons::ACCESS_DENIED, "denied"),
            ..Steps::default()
        },
        "",
        REVERIFY,
    );

    // Same generation: the last known coordinates stay.
    let kept = status_after(&obj, WarehouseSeen::Unknown, &denied, at(10));
    assert!(kept.endpoint.is_some() && kept.namespace_arn.is_some());

    obj.metadata.generation = Some(2);
    let dropped = status_after(&obj, WarehouseSeen::Unknown, &denied, at(20));
    assert_eq!(
        (
            dropped.endpoint,
            dropped.namespace_arn,
            dropped.observed_generation
        ),
        (None, None, Some(2))
    );
    assert_eq!(
        dropped.last_verified_time.as_deref(),
        Some("2027-01-15T08:00:00Z")
    );
}

#[test]
fn a_recent_verification_is_fresh_until_the_interval_is_nearly_over() {
    let mut obj = connection(serverless_spec());
    assert_eq!(
        verification_fresh_for(&obj, None, at(0), REVERIFY),
        None,
        "never verified"
    );
    let ok = decide_all(&all_passed(), "ok", REVERIFY);
    obj.status = Some(status_after(
        &obj,
        WarehouseSeen::Described(&serverless_warehouse()),
        &ok,
        at(0),
    ));
    assert_eq!(
        verification_fresh_for(&obj, None, at(100), REVERIFY),
        Some(Duration::from_secs(200))
    );
    assert_eq!(
        verification_fresh_for(&obj, None, at(280), REVERIFY),
        None,
        "within the last tenth: verify now"
    );
    assert_eq!(verification_fresh_for(&obj, None, at(400), REVERIFY), None);
    obj.metadata.generation = Some(2);
    assert_eq!(
        verification_fresh_for(&obj, None, at(100), REVERIFY),
        None,
        "a spec change verifies at once"
    );
}

#[test]
fn a_verification_within_the_hour_costs_no_write_and_stays_fresh_in_memory() {
    let mut obj = connection(serverless_spec());
    let ok = decide_all(&all_passed(), "ok", REVERIFY);
    let warehouse = serverless_warehouse();
    let seen = || WarehouseSeen::Described(&warehouse);
    obj.status = Some(status_after(&obj, seen(), &ok, at(0)));
    // Verified again 5 minutes later: the same status, so no write.
    let again = status_after(&obj, seen(), &ok, at(300));
    assert_eq!(
        Some(&again),
        obj.status.as_ref(),
        "no write within the hour"
    );
    // What the process remembers keeps it fresh although the status says 5 minutes older.
    assert_eq!(
        verification_fresh_for(&obj, Some(at(300)), at(400), REVERIFY),
        Some(Duration::from_secs(200))
    );
    assert_eq!(verification_fresh_for(&obj, None, at(400), REVERIFY), None);
    // An hour on, the status records it.
    let hourly = status_after(&obj, seen(), &ok, at(3600));
    assert_eq!(
        hourly.last_verified_time.as_deref(),
        Some("2027-01-15T09:00:00Z")
    );
}

#[test]
fn a_connection_that_is_not_ready_is_never_fresh() {
    let mut obj = connection(serverless_spec());
    let ok = decide_all(&all_passed(), "ok", REVERIFY);
    obj.status = Some(status_after(
        &obj,
        WarehouseSeen::Described(&serverless_warehouse()),
        &ok,
        at(0),
    ));
    let broken = decide_all(
        &Steps {
            reachable: Step::failed(reasons::QUERY_FAILED, "x"),
            ..all_passed()
        },
        "",
        REVERIFY,
    );
    obj.status = Some(status_after(
        &obj,
        WarehouseSeen::Described(&serverless_warehouse()),
        &broken,
        at(10),
    ));
    assert_eq!(verification_fresh_for(&obj, None, at(20), REVERIFY), None);
}

#[test]
fn coordinates_from_status_match_coordinates_from_the_warehouse() {
    let mut obj = connection(serverless_spec());
    let ok = decide_all(&all_passed(), "ok", REVERIFY);
    obj.status = Some(status_after(
        &obj,
        WarehouseSeen::Described(&serverless_warehouse()),
        &ok,
        at(0),
    ));
    let from_status = Coordinates::from_status(obj.status.as_ref().unwrap(), "us-east-1").unwrap();
    assert_eq!(
        Some(from_status),
        Coordinates::from_warehouse(&serverless_warehouse())
    );
}
