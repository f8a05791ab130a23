//! Every branch of the plan step, without I/O.

use std::collections::{BTreeMap, BTreeSet};

use chrono::TimeZone;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use zeroetl_api::arn::WarehouseKind;
use zeroetl_api::conditions::{merge, Decided};
use zeroetl_api::integration::{
    DestinationDatabase, IntegrationError, IntegrationSource, IntegrationTarget, LocalObjectRef,
    Prerequisites,
};

use std::time::Duration;

use chrono::{DateTime, Utc};
use zeroetl_api::arn::SourceKind;
use zeroetl_api::conditions::{
    Status, DESTINATION_DATABASE_READY, INTEGRATION_ACTIVE, REPLICATING, SOURCE_READY, TARGET_READY,
};
use zeroetl_api::integration::PrerequisiteMode;

use super::*;
use crate::aws::data_api::DataApiTarget;
use crate::integration::observed::{ParameterGroup, ReplicationState};
use crate::integration::target_policy;
use crate::integration::validate::immutable_change;
use crate::ownership::Owner;
use crate::timing::{
    adaptive_poll as adaptive_requeue, AFTER_ACTION, CONNECTION_RECHECK, READY_RECHECK,
};
use crate::warehouse::Warehouse;

const SRC: &str = "arn:aws:rds:us-east-1:111111111111:cluster:orders-aurora";
const NS: &str = "arn:aws:redshift-serverless:us-east-1:111111111111:namespace/3f1c2a9e-5b7d-4e21-9c3a-1a2b3c4d5e01";
const ACCOUNT: &str = "111111111111";
const INTEGRATION_ARN: &str =
    "arn:aws:rds:us-east-1:111111111111:integration:5b9f0c1e-0000-4000-8000-000000000001";

fn spec() -> ZeroEtlIntegrationSpec {
    ZeroEtlIntegrationSpec {
        integration_name: None,
        region: None,
        source: IntegrationSource {
            db_cluster_identifier: Some("orders-aurora".into()),
            ..Default::default()
        },
        target: IntegrationTarget {
            namespace_arn: Some(NS.into()),
            ..Default::default()
        },
        kms_key_id: None,
        additional_encryption_context: None,
        data_filter: Some("include: orders.*".into()),
        description: Some("orders".into()),
        tags: None,
        prerequisites: Prerequisites {
            source: PrerequisiteMode::Fix,
            allow_source_reboot: true,
            target: PrerequisiteMode::Fix,
        },
        destination_database: Some(DestinationDatabase {
            name: "orders".into(),
            source_database: None,
        }),
        deletion_policy: Default::default(),
        management_policy: Default::default(),
    }
}

fn aurora_mysql_defaults() -> BTreeMap<String, String> {
    [
        ("aurora_enhanced_binlog", "0"),
        ("binlog_backup", "1"),
        ("binlog_format", "OFF"),
        ("binlog_replication_globaldb", "1"),
        ("binlog_row_image", "full"),
        ("binlog_row_metadata", "minimal"),
        ("binlog_transaction_compression", "OFF"),
        ("binlog_row_value_options", ""),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

fn good_values() -> BTreeMap<String, String> {
    let mut v = aurora_mysql_defaults();
    for (k, val) in [
        ("aurora_enhanced_binlog", "1"),
        ("binlog_backup", "0"),
        ("binlog_format", "ROW"),
        ("binlog_replication_globaldb", "0"),
        ("binlog_row_metadata", "full"),
    ] {
        v.insert(k.into(), val.into());
    }
    v
}

fn static_set() -> BTreeSet<String> {
    [
        "aurora_enhanced_binlog",
        "binlog_backup",
        "binlog_format",
        "binlog_replication_globaldb",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn source_with(group: &str, values: BTreeMap<String, String>, apply_status: &str) -> SourceState {
    SourceState {
        arn: SRC.into(),
        identifier: "orders-aurora".into(),
        kind: SourceKind::Cluster,
        engine: "aurora-mysql".into(),
        status: "available".into(),
        resolved_from_instance: None,
        reboot_target: "orders-aurora-1".into(),
        backup_retention_period: 7,
        group: ParameterGroup {
            name: group.into(),
            family: "aurora-mysql8.0".into(),
            values,
            static_parameters: static_set(),
            ..Default::default()
        },
        apply_status: apply_status.into(),
        derived_group: None,
    }
}

fn wrong_source() -> SourceState {
    source_with(
        "default.aurora-mysql8.0",
        aurora_mysql_defaults(),
        "in-sync",
    )
}

fn good_source() -> SourceState {
    source_with("orders-aurora-zeroetl", good_values(), "in-sync")
}

fn warehouse() -> Warehouse {
    Warehouse {
        kind: WarehouseKind::Serverless,
        region: "us-east-1".into(),
        account: ACCOUNT.into(),
        namespace_arn: NS.into(),
        namespace_name: Some("analytics".into()),
        workgroup_name: Some("analytics-wg".into()),
        cluster_identifier: None,
        endpoint: None,
        case_sensitive: true,
        case_sensitivity_pending_reboot: false,
        encrypted: true,
        iam_roles: vec![],
        status: "AVAILABLE".into(),
        admin_user: None,
        default_database: Some("dev".into()),
    }
}

const CLUSTER: &str = "cluster-1";

fn grant() -> target_policy::Grant<'static> {
    target_policy::Grant {
        source_arn: SRC,
        account: ACCOUNT,
        scope: CLUSTER,
    }
}

fn owner() -> Owner {
    Owner {
        cluster: CLUSTER.into(),
        kind: "ZeroEtlIntegration".into(),
        namespace: "team-a".into(),
        name: "orders-to-analytics".into(),
        uid: "uid-1".into(),
    }
}

fn authorized_policy() -> String {
    target_policy::merged(None, NS, &grant()).unwrap().unwrap()
}

fn good_target() -> TargetState {
    TargetState {
        warehouse: warehouse(),
        policy: Some(authorized_policy()),
    }
}

fn bare_target() -> TargetState {
    TargetState {
        warehouse: Warehouse {
            case_sensitive: false,
            ..warehouse()
        },
        policy: None,
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 5, 0, 0).unwrap()
}

fn aws_integration(status: &str) -> AwsIntegration {
    AwsIntegration {
        arn: INTEGRATION_ARN.into(),
        name: "orders-to-analytics".into(),
        source_arn: SRC.into(),
        target_arn: NS.into(),
        status: status.into(),
        data_filter: Some("include: orders.*".into()),
        description: Some("orders".into()),
        tags: owner().tags().into(),
        errors: vec![],
        create_time: Some(now() - chrono::Duration::seconds(5)),
    }
}

/// Owns the inputs so each test reads as "change one thing, plan".
struct Case {
    spec: ZeroEtlIntegrationSpec,
    status: ZeroEtlIntegrationStatus,
    target_ref: TargetRef,
    source: Observed<SourceState>,
    target: Observed<TargetState>,
    integration: Option<AwsIntegration>,
    replication: Observed<ReplicationState>,
    owner: Owner,
    adopt: bool,
}

impl Case {
    fn fresh() -> Case {
        Case {
            spec: spec(),
            status: ZeroEtlIntegrationStatus::default(),
            target_ref: TargetRef::Arn(NS.into()),
            source: Observed::Seen(good_source()),
            target: Observed::Seen(good_target()),
            integration: None,
            replication: Observed::Skipped,
            owner: owner(),
            adopt: false,
        }
    }

    fn plan(&self) -> Plan {
        plan(&Input {
            spec: &self.spec,
            name: "orders-to-analytics",
            status: &self.status,
            target_ref: &self.target_ref,
            source: &self.source,
            target: &self.target,
            connection: None,
            integration: self.integration.as_ref(),
            replication: &self.replication,
            owner: &self.owner,
            adopt: self.adopt,
            policy: self.spec.management_policy,
            now: now(),
        })
    }
}

fn condition<'a>(plan: &'a Plan, type_: &str) -> &'a Decided {
    plan.conditions
        .iter()
        .find(|c| c.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_} in {:?}", plan.conditions))
}

fn reason_of(plan: &Plan, type_: &str) -> String {
    condition(plan, type_).reason.clone()
}

fn is_stalled(plan: &Plan, reason: &str) -> bool {
    matches!(&plan.progress, Progress::Stalled { reason: r, .. } if r == reason)
}

fn requeue_of(plan: &Plan) -> Duration {
    match &plan.progress {
        Progress::InProgress { requeue, .. } => *requeue,
        other => panic!("not in progress: {other:?}"),
    }
}

fn source_actions(plan: &Plan) -> Vec<SourceAction> {
    plan.actions
        .iter()
        .filter_map(|a| {
            if let Action::Source(s) = a {
                Some(s.clone())
            } else {
                None
            }
        })
        .collect()
}

// ----- source ----------------------------------------------------------------------------------------------

#[test]
fn missing_source_stalls_without_actions() {
    let mut c = Case::fresh();
    c.source = Observed::NotFound("DB cluster orders-aurora not found in us-east-1".into());
    let p = c.plan();
    assert!(
        is_stalled(&p, reasons::SOURCE_NOT_FOUND),
        "{:?}",
        p.progress
    );
    assert!(p.actions.is_empty());
    assert_eq!(condition(&p, TARGET_READY).status, Status::Unknown);
}

#[test]
fn unsupported_engine_stalls() {
    let mut c = Case::fresh();
    let mut s = good_source();
    s.engine = "oracle-ee".into();
    c.source = Observed::Seen(s);
    let p = c.plan();
    assert!(is_stalled(&p, reasons::UNSUPPORTED_ENGINE));
    assert!(p.actions.is_empty());
}

#[test]
fn rds_mysql_without_backups_stalls() {
    let mut c = Case::fresh();
    c.spec.destination_database = None;
    let mut s = source_with(
        "inventory-zeroetl",
        [("binlog_format", "ROW"), ("binlog_row_image", "full")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        "in-sync",
    );
    s.engine = "mysql".into();
    s.kind = SourceKind::Instance;
    s.backup_retention_period = 0;
    c.source = Observed::Seen(s);
    let p = c.plan();
    assert!(is_stalled(&p, reasons::BACKUPS_DISABLED));
    assert!(p.actions.is_empty());
}

#[test]
fn in_sync_parameters_make_the_source_ready() {
    let p = Case::fresh().plan();
    let c = condition(&p, SOURCE_READY);
    assert_eq!(
        (c.status, c.reason.as_str()),
        (Status::True, reasons::PARAMETERS_IN_SYNC)
    );
    assert!(c.message.contains("Aurora MySQL"));
}

#[test]
fn verify_mode_lists_every_wrong_parameter_and_changes_nothing_anywhere() {
    let mut c = Case::fresh();
    c.spec.prerequisites.source = PrerequisiteMode::Verify;
    c.source = Observed::Seen(wrong_source());
    c.target = Observed::Skipped;
    let p = c.plan();
    assert!(is_stalled(&p, reasons::PARAMETER_VALUES_WRONG));
    assert!(p.actions.is_empty(), "{:?}", p.actions);
    let message = &condition(&p, SOURCE_READY).message;
    for expected in [
        "aurora_enhanced_binlog is 0, needs 1",
        "binlog_backup is 1, needs 0",
        "binlog_format is OFF, needs ROW",
        "binlog_replication_globaldb is 1, needs 0",
        "binlog_row_metadata is minimal, needs full",
        "default.aurora-mysql8.0",
    ] {
        assert!(
            message.contains(expected),
            "{expected:?} missing from {message}"
        );
    }
    assert_eq!(reason_of(&p, TARGET_READY), reasons::WAITING_FOR_SOURCE);
    assert_eq!(
        reason_of(&p, INTEGRATION_ACTIVE),
        reasons::WAITING_FOR_PREREQUISITES
    );
}

#[test]
fn fix_mode_derives_a_group_from_the_default_one_and_attaches_it() {
    let mut c = Case::fresh();
    c.source = Observed::Seen(wrong_source());
    let p = c.plan();
    let actions = source_actions(&p);
    assert_eq!(actions.len(), 3, "{actions:?}");
    assert_eq!(
        actions[0],
        SourceAction::CreateGroup {
            name: "orders-aurora-zeroetl".into(),
            family: "aurora-mysql8.0".into(),
            description: "zero-ETL parameters for orders-aurora, derived from default.aurora-mysql8.0 by zeroetl-operator".into(),
            tags: owner().tags(),
        }
    );
    let SourceAction::SetParameters { group, parameters } = &actions[1] else {
        panic!("{:?}", actions[1])
    };
    assert_eq!(group, "orders-aurora-zeroetl");
    let set: Vec<(&str, &str, bool)> = parameters
        .iter()
        .map(|p| (p.name.as_str(), p.value.as_str(), p.immediate))
        .collect();
    assert_eq!(
        set,
        [
            ("aurora_enhanced_binlog", "1", false),
            ("binlog_backup", "0", false),
            ("binlog_format", "ROW", false),
            ("binlog_replication_globaldb", "0", false),
            ("binlog_row_metadata", "full", true),
        ]
    );
    assert_eq!(
        actions[2],
        SourceAction::AttachGroup {
            group: "orders-aurora-zeroetl".into()
        }
    );
    assert_eq!(reason_of(&p, SOURCE_READY), reasons::FIXING_PARAMETERS);
    assert!(condition(&p, SOURCE_READY)
        .message
        .contains("AWS default groups cannot be modified"));
    assert_eq!(requeue_of(&p), AFTER_ACTION);
    // Nothing happens on the target or the integration until the source is ready.
    assert!(p.actions.iter().all(|a| matches!(a, Action::Source(_))));
}

#[test]
fn a_shared_custom_group_is_copied_not_changed_and_the_message_says_so() {
    let mut c = Case::fresh();
    let mut s = wrong_source();
    s.group.name = "team-mysql".into();
    s.group
        .values
        .insert("character_set_server".into(), "latin1".into());
    s.group.user_set = ["character_set_server".to_string()].into();
    s.group.shared_with = Some(vec!["cluster reporting-aurora".into()]);
    c.source = Observed::Seen(s);
    let p = c.plan();
    let actions = source_actions(&p);
    let SourceAction::SetParameters { parameters, .. } = &actions[1] else {
        panic!("{actions:?}")
    };
    assert!(
        parameters
            .iter()
            .any(|p| p.name == "character_set_server" && p.value == "latin1"),
        "user settings are carried over"
    );
    assert!(actions
        .iter()
        .all(|a| !matches!(a, SourceAction::SetParameters { group, .. } if group == "team-mysql")));
    let message = &condition(&p, SOURCE_READY).message;
    assert!(
        message.contains("left unchanged: it also serves cluster reporting-aurora"),
        "{message}"
    );
}

#[test]
fn a_derived_group_left_by_an_earlier_attempt_is_reused() {
    let mut c = Case::fresh();
    let mut s = wrong_source();
    let mut half_done = aurora_mysql_defaults();
    half_done.insert("binlog_format".into(), "ROW".into());
    s.derived_group = Some(ParameterGroup {
        name: "orders-aurora-zeroetl".into(),
        family: "aurora-mysql8.0".into(),
        values: half_done,
        shared_with: Some(vec![]),
        ..Default::default()
    });
    c.source = Observed::Seen(s);
    let actions = source_actions(&c.plan());
    assert!(
        !actions
            .iter()
            .any(|a| matches!(a, SourceAction::CreateGroup { .. })),
        "{actions:?}"
    );
    let SourceAction::SetParameters { parameters, .. } = &actions[0] else {
        panic!("{actions:?}")
    };
    assert!(
        !parameters.iter().any(|p| p.name == "binlog_format"),
        "values already set are not sent again"
    );
    assert_eq!(parameters.len(), 4);
    assert_eq!(
        actions[1],
        SourceAction::AttachGroup {
            group: "orders-aurora-zeroetl".into()
        }
    );
}

#[test]
fn a_derived_group_attached_elsewhere_is_not_touched() {
    let mut c = Case::fresh();
    let mut s = wrong_source();
    s.derived_group = Some(ParameterGroup {
        name: "orders-aurora-zeroetl".into(),
        shared_with: Some(vec!["cluster other".into()]),
        ..Default::default()
    });
    c.source = Observed::Seen(s);
    let p = c.plan();
    assert!(is_stalled(&p, reasons::PARAMETER_GROUP_SHARED));
    assert!(p.actions.is_empty());
    assert!(condition(&p, SOURCE_READY)
        .message
        .contains("cluster other"));
}

#[test]
fn the_operators_own_attached_group_is_fixed_in_place_unless_shared() {
    let mut c = Case::fresh();
    let mut values = good_values();
    values.insert("binlog_row_metadata".into(), "minimal".into());
    let mut s = source_with("orders-aurora-zeroetl", values, "in-sync");
    s.group.shared_with = Some(vec![]);
    c.source = Observed::Seen(s.clone());
    let actions = source_actions(&c.plan());
    assert_eq!(
        actions,
        [SourceAction::SetParameters {
            group: "orders-aurora-zeroetl".into(),
            parameters: vec![ParameterChange {
                name: "binlog_row_metadata".into(),
                value: "full".into(),
                immediate: true
            }]
        }]
    );
    s.group.shared_with = Some(vec!["instance stray".into()]);
    c.source = Observed::Seen(s);
    let p = c.plan();
    assert!(is_stalled(&p, reasons::PARAMETER_GROUP_SHARED));
    assert!(p.actions.is_empty());
}

#[test]
fn wrong_parameters_wait_while_the_source_is_busy() {
    let mut c = Case::fresh();
    let mut s = wrong_source();
    s.status = "modifying".into();
    c.source = Observed::Seen(s);
    let p = c.plan();
    assert_eq!(reason_of(&p, SOURCE_READY), reasons::SOURCE_NOT_AVAILABLE);
    assert!(p.actions.is_empty());
    assert!(matches!(p.progress, Progress::InProgress { .. }));
}

#[test]
fn pending_reboot_reboots_the_writer_only_when_allowed() {
    let mut c = Case::fresh();
    c.source = Observed::Seen(source_with(
        "orders-aurora-zeroetl",
        good_values(),
        "pending-reboot",
    ));
    let p = c.plan();
    assert_eq!(
        source_actions(&p),
        [SourceAction::Reboot {
            instance: "orders-aurora-1".into()
        }]
    );
    assert_eq!(reason_of(&p, SOURCE_READY), reasons::REBOOTING);

    c.spec.prerequisites.allow_source_reboot = false;
    let p = c.plan();
    assert!(is_stalled(&p, reasons::REBOOT_REQUIRED));
    assert!(p.actions.is_empty());
    assert!(condition(&p, SOURCE_READY)
        .message
        .contains("allowSourceReboot"));

    // Verify mode never reboots either.
    c.spec.prerequisites = Prerequisites {
        source: PrerequisiteMode::Verify,
        allow_source_reboot: true,
        target: PrerequisiteMode::Fix,
    };
    let p = c.plan();
    assert!(is_stalled(&p, reasons::REBOOT_REQUIRED));
    assert!(p.actions.is_empty());
}

#[test]
fn a_rebooting_or_applying_source_is_waited_for() {
    let mut c = Case::fresh();
    let mut s = source_with("orders-aurora-zeroetl", good_values(), "pending-reboot");
    s.status = "rebooting".into();
    c.source = Observed::Seen(s);
    let p = c.plan();
    assert_eq!(reason_of(&p, SOURCE_READY), reasons::REBOOTING);
    assert!(p.actions.is_empty());

    c.source = Observed::Seen(source_with(
        "orders-aurora-zeroetl",
        good_values(),
        "applying",
    ));
    let p = c.plan();
    assert_eq!(reason_of(&p, SOURCE_READY), reasons::PARAMETERS_APPLYING);
    assert!(p.actions.is_empty());

    let mut s = source_with("orders-aurora-zeroetl", good_values(), "pending-reboot");
    s.status = "backing-up".into();
    c.source = Observed::Seen(s);
    let p = c.plan();
    assert_eq!(reason_of(&p, SOURCE_READY), reasons::SOURCE_NOT_AVAILABLE);
    assert!(p.actions.is_empty());
}

#[test]
fn an_aurora_instance_in_the_spec_is_reported_as_its_cluster() {
    let mut c = Case::fresh();
    let mut s = good_source();
    s.resolved_from_instance = Some("orders-aurora-1".into());
    c.source = Observed::Seen(s);
    assert!(condition(&c.plan(), SOURCE_READY)
        .message
        .contains("instance orders-aurora-1 is a member"));
}

// ----- destination database spec vs engine -----------------------------------------------------------------

fn postgres_source() -> SourceState {
    let mut s = source_with(
        "accounts-zeroetl",
        [
            ("rds.logical_replication", "1"),
            ("rds.replica_identity_full", "1"),
            ("session_replication_role", "origin"),
            ("wal_sender_timeout", "0"),
            ("max_wal_senders", "20"),
            ("max_replication_slots", "20"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        "in-sync",
    );
    s.engine = "postgres".into();
    s.kind = SourceKind::Instance;
    s.arn = SRC.into();
    s
}

#[test]
fn postgres_sources_need_a_source_database_before_anything_changes() {
    let mut c = Case::fresh();
    let mut s = postgres_source();
    s.group
        .values
        .insert("rds.logical_replication".into(), "0".into());
    c.source = Observed::Seen(s);
    let p = c.plan();
    assert!(
        is_stalled(&p, reasons::SOURCE_DATABASE_REQUIRED),
        "{:?}",
        p.progress
    );
    assert!(
        p.actions.is_empty(),
        "not even the source fix runs: {:?}",
        p.actions
    );
}

#[test]
fn mysql_sources_reject_a_source_database() {
    let mut c = Case::fresh();
    c.spec.destination_database = Some(DestinationDatabase {
        name: "orders".into(),
        source_database: Some("orders".into()),
    });
    let p = c.plan();
    assert!(is_stalled(&p, reasons::SOURCE_DATABASE_NOT_APPLICABLE));
    assert!(p.actions.is_empty());
}

// ----- target ------------------------------------------------------------------------------------------------

#[test]
fn a_connection_that_is_not_ready_is_waited_for() {
    let mut c = Case::fresh();
    c.spec.target = IntegrationTarget {
        connection_ref: Some(LocalObjectRef {
            name: "analytics".into(),
        }),
        namespace_arn: None,
    };
    c.target_ref = TargetRef::Waiting {
        reason: "ConnectionNotReady".into(),
        message: "RedshiftConnection analytics is not Ready".into(),
    };
    c.target = Observed::Skipped;
    let p = c.plan();
    assert_eq!(reason_of(&p, TARGET_READY), "ConnectionNotReady");
    assert_eq!(requeue_of(&p), CONNECTION_RECHECK);
    assert!(p.actions.is_empty());
}

#[test]
fn a_missing_or_unencrypted_target_stalls() {
    let mut c = Case::fresh();
    c.target = Observed::NotFound("no namespace".into());
    assert!(is_stalled(&c.plan(), reasons::TARGET_NOT_FOUND));
    c.target = Observed::Seen(TargetState {
        warehouse: Warehouse {
            encrypted: false,
            ..warehouse()
        },
        policy: Some(authorized_policy()),
    });
    let p = c.plan();
    assert!(is_stalled(&p, reasons::TARGET_UNSUPPORTED));
    assert!(p.actions.is_empty());
}

#[test]
fn target_verify_mode_reports_both_gaps_without_changing_anything() {
    let mut c = Case::fresh();
    c.spec.prerequisites.target = PrerequisiteMode::Verify;
    c.target = Observed::Seen(bare_target());
    let p = c.plan();
    assert!(is_stalled(&p, reasons::AUTHORIZATION_MISSING));
    let message = &condition(&p, TARGET_READY).message;
    assert!(
        message.contains("redshift:AuthorizeInboundIntegration")
            && message.contains("enable_case_sensitive_identifier is off"),
        "{message}"
    );
    assert!(p.actions.is_empty());

    c.target = Observed::Seen(TargetState {
        policy: Some(authorized_policy()),
        ..bare_target()
    });
    assert!(is_stalled(&c.plan(), reasons::CASE_SENSITIVITY_OFF));
}

#[test]
fn target_fix_mode_merges_the_policy_and_turns_on_case_sensitivity() {
    let mut c = Case::fresh();
    let foreign = r#"{"Version":"2012-10-17","Statement":[{"Sid":"Keep","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::222222222222:root"},"Action":"redshift:DescribeInboundIntegrations"}]}"#;
    c.target = Observed::Seen(TargetState {
        policy: Some(foreign.into()),
        ..bare_target()
    });
    let p = c.plan();
    let targets: Vec<&TargetAction> = p
        .actions
        .iter()
        .filter_map(|a| {
            if let Action::Target(t) = a {
                Some(t)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(targets.len(), 2, "{targets:?}");
    assert_eq!(
        *targets[0],
        TargetAction::AuthorizeSource {
            namespace_arn: NS.into(),
            source_arn: SRC.into(),
            account: ACCOUNT.into(),
            scope: CLUSTER.into(),
        }
    );
    assert_eq!(*targets[1], TargetAction::EnableCaseSensitivity);
    assert_eq!(reason_of(&p, TARGET_READY), reasons::FIXING_TARGET);
    assert!(
        !p.actions
            .iter()
            .any(|a| matches!(a, Action::Integration(_))),
        "the integration waits for the target"
    );
}

#[test]
fn target_edge_cases_reboot_busy_and_broken_policy() {
    let mut c = Case::fresh();
    let provisioned = Warehouse {
        kind: WarehouseKind::Provisioned,
        case_sensitive: false,
        case_sensitivity_pending_reboot: true,
        status: "available".into(),
        ..warehouse()
    };
    c.target = Observed::Seen(TargetState {
        warehouse: provisioned,
        policy: Some(authorized_policy()),
    });
    let p = c.plan();
    assert!(is_stalled(&p, reasons::REBOOT_REQUIRED));
    assert!(p.actions.is_empty());

    c.target = Observed::Seen(TargetState {
        warehouse: Warehouse {
            status: "MODIFYING".into(),
            ..bare_target().warehouse
        },
        policy: None,
    });
    let p = c.plan();
    assert_eq!(reason_of(&p, TARGET_READY), reasons::TARGET_NOT_AVAILABLE);
    assert!(p.actions.is_empty());

    c.target = Observed::Seen(TargetState {
        warehouse: warehouse(),
        policy: Some("[]".into()),
    });
    assert!(is_stalled(&c.plan(), reasons::INVALID_RESOURCE_POLICY));

    // Everything in place but the workgroup is still applying an earlier change: wait before creating.
    c.target = Observed::Seen(TargetState {
        warehouse: Warehouse {
            status: "MODIFYING".into(),
            ..warehouse()
        },
        policy: Some(authorized_policy()),
    });
    let p = c.plan();
    assert_eq!(reason_of(&p, TARGET_READY), reasons::TARGET_NOT_AVAILABLE);
    assert!(p.actions.is_empty());
}

// ----- integration -----------------------------------------------------------------------------------------

#[test]
fn a_created_integration_is_not_reported_as_missing_while_its_replication_is_unread() {
    let p = Case::fresh().plan();
    assert_eq!(reason_of(&p, REPLICATING), reasons::NO_INTEGRATION);
    let mut conditions = p.conditions.clone();
    replicating_after_create(&mut conditions, &aws_integration("creating"));
    let replicating = conditions
        .iter()
        .find(|c| c.type_ == REPLICATING)
        .expect("a Replicating condition");
    assert_eq!(
        (replicating.status, replicating.reason.as_str()),
        (Status::Unknown, reasons::NOT_READ_YET)
    );
    // Every other condition is the plan's.
    let others = |cs: &[Decided]| -> Vec<Decided> {
        cs.iter()
            .filter(|c| c.type_ != REPLICATING)
            .cloned()
            .collect()
    };
    assert_eq!(others(&conditions), others(&p.conditions));
}

#[test]
fn ready_prerequisites_create_the_integration_with_every_field() {
    let mut c = Case::fresh();
    c.spec.tags = Some([("team".to_string(), "data".to_string())].into());
    c.spec.kms_key_id = Some("alias/zeroetl".into());
    let p = c.plan();
    assert_eq!(reason_of(&p, TARGET_READY), reasons::AUTHORIZED);
    assert_eq!(
        p.actions,
        [Action::Integration(IntegrationAction::Create {
            name: "orders-to-analytics".into(),
            source_arn: SRC.into(),
            target_arn: NS.into(),
            kms_key_id: Some("alias/zeroetl".into()),
            additional_encryption_context: None,
            data_filter: Some("include: orders.*".into()),
            description: Some("orders".into()),
            // The user's tags plus the owner tags that say this object made it.
            tags: owner()
                .tags()
                .into_iter()
                .chain([("team".to_string(), "data".to_string())])
                .collect(),
        })]
    );
    assert_eq!(reason_of(&p, INTEGRATION_ACTIVE), reasons::CREATING);
    assert_eq!(
        reason_of(&p, DESTINATION_DATABASE_READY),
        reasons::WAITING_FOR_INTEGRATION
    );
    assert_eq!(p.observed.source_arn.as_deref(), Some(SRC));
    assert_eq!(p.observed.target_arn.as_deref(), Some(NS));
}

#[test]
fn a_found_integration_is_adopted_not_created_again() {
    let mut c = Case::fresh();
    c.integration = Some(aws_integration("creating"));
    let p = c.plan();
    assert!(p.actions.is_empty(), "{:?}", p.actions);
    assert_eq!(
        p.observed.integration.as_ref().map(|i| i.arn.as_str()),
        Some(INTEGRATION_ARN)
    );
    assert_eq!(requeue_of(&p), Duration::from_secs(2));
}

#[test]
fn an_integration_with_our_name_but_another_source_is_a_conflict() {
    let mut c = Case::fresh();
    c.integration = Some(AwsIntegration {
        source_arn: "arn:aws:rds:us-east-1:111111111111:cluster:other".into(),
        ..aws_integration("active")
    });
    let p = c.plan();
    assert!(is_stalled(&p, reasons::NAME_CONFLICT));
    assert!(p.actions.is_empty());
    assert!(p.observed.integration.is_none());
}

#[test]
fn creating_polls_quickly_then_slower() {
    let mut c = Case::fresh();
    let mut i = aws_integration("creating");
    i.create_time = Some(now() - chrono::Duration::minutes(5));
    c.integration = Some(i.clone());
    assert_eq!(requeue_of(&c.plan()), Duration::from_secs(30));
    i.create_time = Some(now() - chrono::Duration::hours(1));
    c.integration = Some(i);
    assert_eq!(requeue_of(&c.plan()), Duration::from_secs(60));
}

#[test]
fn active_and_matching_is_ready_and_quiet() {
    let mut c = Case::fresh();
    c.integration = Some(aws_integration("active"));
    c.status.destination_database = Some("orders".into());
    let p = c.plan();
    assert!(p.actions.is_empty(), "{:?}", p.actions);
    assert!(
        matches!(&p.progress, Progress::Ready { recheck_after, message } if *recheck_after == READY_RECHECK && message.contains("orders")),
        "{:?}",
        p.progress
    );
    assert_eq!(condition(&p, INTEGRATION_ACTIVE).status, Status::True);
    assert_eq!(
        condition(&p, DESTINATION_DATABASE_READY).status,
        Status::True
    );
}

#[test]
fn changed_mutable_fields_are_modified_in_place() {
    let mut c = Case::fresh();
    c.status.destination_database = Some("orders".into());
    c.integration = Some(aws_integration("active"));
    c.spec.data_filter = Some("include: orders.*, exclude: orders.audit_log".into());
    let p = c.plan();
    assert_eq!(
        p.actions,
        [Action::Integration(IntegrationAction::Modify {
            arn: INTEGRATION_ARN.into(),
            name: None,
            data_filter: Some("include: orders.*, exclude: orders.audit_log".into()),
            description: None
        })]
    );
    assert_eq!(reason_of(&p, INTEGRATION_ACTIVE), reasons::MODIFYING);

    // A rename and a cleared description; no filter in the spec means AWS's default, which it already has.
    c.spec.integration_name = Some("orders-v2".into());
    c.spec.description = None;
    c.spec.data_filter = None;
    c.integration = Some(AwsIntegration {
        data_filter: Some(DEFAULT_DATA_FILTER.into()),
        ..aws_integration("active")
    });
    let p = plan(&Input {
        spec: &c.spec,
        name: "orders-v2",
        status: &c.status,
        target_ref: &c.target_ref,
        source: &c.source,
        target: &c.target,
        connection: None,
        integration: c.integration.as_ref(),
        replication: &c.replication,
        owner: &c.owner,
        adopt: false,
        policy: Default::default(),
        now: now(),
    });
    assert_eq!(
        p.actions,
        [Action::Integration(IntegrationAction::Modify {
            arn: INTEGRATION_ARN.into(),
            name: Some("orders-v2".into()),
            data_filter: None,
            description: Some(String::new())
        })]
    );
}

#[test]
fn changes_wait_while_aws_is_busy() {
    let mut c = Case::fresh();
    c.spec.data_filter = Some("include: orders.x".into());
    c.integration = Some(aws_integration("modifying"));
    let p = c.plan();
    assert!(p.actions.is_empty());
    assert_eq!(reason_of(&p, INTEGRATION_ACTIVE), reasons::MODIFYING);
    c.integration = Some(aws_integration("syncing"));
    assert_eq!(reason_of(&c.plan(), INTEGRATION_ACTIVE), reasons::SYNCING);
}

#[test]
fn modifying_backs_off_from_when_it_started() {
    let mut c = Case::fresh();
    c.integration = Some(aws_integration("modifying"));
    let started = Time(Timestamp::from_second(now().timestamp() - 300).unwrap());
    c.status.conditions = merge(
        &[],
        &[Decided::new(
            INTEGRATION_ACTIVE,
            Status::False,
            reasons::MODIFYING,
            "",
        )],
        Some(1),
        &started,
    );
    assert_eq!(requeue_of(&c.plan()), Duration::from_secs(30));
}

#[test]
fn tags_follow_the_spec_only_when_it_has_tags() {
    let mut c = Case::fresh();
    c.status.destination_database = Some("orders".into());
    let mut i = aws_integration("active");
    i.tags = [
        ("team", "old"),
        ("stale", "x"),
        ("aws:cloudformation:stack-name", "s"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .chain(owner().tags())
    .collect();
    c.integration = Some(i);
    assert!(
        c.plan().actions.is_empty(),
        "no tags in the spec: not managed"
    );
    c.spec.tags = Some(
        [
            ("team".to_string(), "data".to_string()),
            ("env".to_string(), "prod".to_string()),
        ]
        .into(),
    );
    let p = c.plan();
    assert_eq!(
        p.actions,
        [Action::Integration(IntegrationAction::Tag {
            arn: INTEGRATION_ARN.into(),
            add: [
                ("env".to_string(), "prod".to_string()),
                ("team".to_string(), "data".to_string())
            ]
            .into(),
            remove: vec!["stale".into()],
        })]
    );
    // Tags change in place, so the integration stays active and the object Ready.
    assert!(matches!(p.progress, Progress::Ready { .. }));
}

#[test]
fn failed_and_needs_attention_stall_with_the_aws_error_code() {
    let mut c = Case::fresh();
    let mut i = aws_integration("failed");
    i.errors = vec![IntegrationError {
        code: "InvalidTargetState".into(),
        message: "the target is not case sensitive".into(),
    }];
    c.integration = Some(i);
    let p = c.plan();
    assert!(is_stalled(&p, "InvalidTargetState"), "{:?}", p.progress);
    assert!(condition(&p, INTEGRATION_ACTIVE)
        .message
        .contains("the target is not case sensitive"));
    assert!(p.actions.is_empty());

    c.integration = Some(aws_integration("needs_attention"));
    assert!(is_stalled(&c.plan(), reasons::NEEDS_ATTENTION));
    c.integration = Some(AwsIntegration {
        errors: vec![IntegrationError {
            code: "not a reason!".into(),
            message: String::new(),
        }],
        ..aws_integration("failed")
    });
    assert!(is_stalled(&c.plan(), reasons::FAILED));
}

#[test]
fn an_integration_deleted_outside_is_waited_out() {
    let mut c = Case::fresh();
    c.spec.tags = Some(BTreeMap::new());
    c.integration = Some(AwsIntegration {
        tags: owner()
            .tags()
            .into_iter()
            .chain([("x".to_string(), "y".to_string())])
            .collect(),
        ..aws_integration("deleting")
    });
    let p = c.plan();
    assert_eq!(reason_of(&p, INTEGRATION_ACTIVE), reasons::DELETING);
    assert!(p.actions.is_empty(), "no tag calls on a dying integration");
}

// ----- destination database ----------------------------------------------------------------------------------

#[test]
fn the_database_is_created_once_the_integration_is_active() {
    let mut c = Case::fresh();
    c.integration = Some(aws_integration("active"));
    let p = c.plan();
    assert_eq!(
        p.actions,
        [Action::Database(CreateDatabase {
            name: "orders".into(),
            integration_id: "5b9f0c1e-0000-4000-8000-000000000001".into(),
            source_database: None,
            target: DataApiTarget {
                workgroup_name: Some("analytics-wg".into()),
                cluster_identifier: None,
                database: "dev".into(),
                db_user: None,
                secret_arn: None,
            },
            replace_stale: false,
        })]
    );
    assert_eq!(reason_of(&p, DESTINATION_DATABASE_READY), reasons::CREATING);
    assert!(matches!(p.progress, Progress::InProgress { .. }));
}

#[test]
fn postgres_databases_name_their_source_database() {
    let mut c = Case::fresh();
    c.spec.destination_database = Some(DestinationDatabase {
        name: "accounts".into(),
        source_database: Some("accounts".into()),
    });
    c.source = Observed::Seen(postgres_source());
    c.integration = Some(aws_integration("active"));
    let p = c.plan();
    let Some(Action::Database(db)) = p.actions.first() else {
        panic!("{:?}", p.actions)
    };
    assert_eq!(db.sql(), "CREATE DATABASE \"accounts\" FROM INTEGRATION '5b9f0c1e-0000-4000-8000-000000000001' DATABASE \"accounts\"");
}

#[test]
fn no_database_requested_is_ready() {
    let mut c = Case::fresh();
    c.spec.destination_database = None;
    c.integration = Some(aws_integration("active"));
    let p = c.plan();
    assert_eq!(
        reason_of(&p, DESTINATION_DATABASE_READY),
        reasons::NOT_REQUESTED
    );
    assert!(matches!(p.progress, Progress::Ready { .. }));
}

#[test]
fn sql_quotes_names() {
    let db = CreateDatabase {
        name: "Orders".into(),
        integration_id: "abc".into(),
        source_database: None,
        target: DataApiTarget {
            workgroup_name: Some("wg".into()),
            cluster_identifier: None,
            database: "dev".into(),
            db_user: None,
            secret_arn: None,
        },
        replace_stale: false,
    };
    assert_eq!(
        db.sql(),
        "CREATE DATABASE \"Orders\" FROM INTEGRATION 'abc'"
    );
}

// ----- steady state, immutability, helpers -----------------------------------------------------------------

#[test]
fn a_settled_integration_skips_source_and_target() {
    let mut c = Case::fresh();
    c.status.observed_generation = Some(3);
    c.status.destination_database = Some("orders".into());
    c.status.conditions = merge(
        &[],
        &[
            Decided::new(SOURCE_READY, Status::True, "ParametersInSync", ""),
            Decided::new(TARGET_READY, Status::True, "Authorized", ""),
        ],
        Some(3),
        &Time(Timestamp::from_second(0).unwrap()),
    );
    let active = aws_integration("active");
    assert!(prerequisites_settled(
        &c.spec,
        &c.status,
        Some(3),
        Some(&active)
    ));
    assert!(
        !prerequisites_settled(&c.spec, &c.status, Some(4), Some(&active)),
        "a new generation is checked again"
    );
    assert!(!prerequisites_settled(&c.spec, &c.status, Some(3), None));
    assert!(!prerequisites_settled(
        &c.spec,
        &c.status,
        Some(3),
        Some(&aws_integration("needs_attention"))
    ));
    let mut no_db = c.status.clone();
    no_db.destination_database = None;
    assert!(!prerequisites_settled(
        &c.spec,
        &no_db,
        Some(3),
        Some(&active)
    ));

    // Planning with both skipped: only the integration and database steps are decided.
    c.source = Observed::Skipped;
    c.target = Observed::Skipped;
    c.status.source_arn = Some(SRC.into());
    c.integration = Some(active);
    let p = c.plan();
    assert!(
        p.conditions
            .iter()
            .all(|d| d.type_ != SOURCE_READY && d.type_ != TARGET_READY),
        "{:?}",
        p.conditions
    );
    assert!(
        matches!(p.progress, Progress::Ready { .. }),
        "{:?}",
        p.progress
    );
    assert_eq!(p.observed.source_arn.as_deref(), Some(SRC));
}

#[test]
fn immutable_fields_are_compared_with_what_the_integration_was_created_with() {
    let s = spec();
    let mut status = ZeroEtlIntegrationStatus::default();
    assert_eq!(immutable_change(&s, &status), None, "nothing created yet");
    status.created_with = Some(s.immutable_part());
    assert_eq!(immutable_change(&s, &status), None);
    let mut changed = s.clone();
    changed.source = IntegrationSource {
        arn: Some("arn:aws:rds:us-east-1:111111111111:cluster:other".into()),
        ..Default::default()
    };
    changed.kms_key_id = Some("alias/x".into());
    let message = immutable_change(&changed, &status).unwrap();
    assert!(
        message.starts_with("spec.source, spec.kmsKeyId cannot change"),
        "{message}"
    );
    let mut target = s.clone();
    target.target = IntegrationTarget {
        connection_ref: Some(LocalObjectRef { name: "x".into() }),
        namespace_arn: None,
    };
    target.additional_encryption_context = Some(BTreeMap::new());
    assert!(immutable_change(&target, &status)
        .unwrap()
        .starts_with("spec.target, spec.additionalEncryptionContext"));
    // Mutable fields are not immutable changes.
    let mut mutable = s.clone();
    mutable.data_filter = None;
    mutable.description = Some("x".into());
    assert_eq!(immutable_change(&mutable, &status), None);
}

#[test]
fn adaptive_requeue_is_bounded() {
    assert_eq!(adaptive_requeue(Duration::ZERO), Duration::from_secs(2));
    assert_eq!(
        adaptive_requeue(Duration::from_secs(100)),
        Duration::from_secs(10)
    );
    assert_eq!(
        adaptive_requeue(Duration::from_secs(100_000)),
        Duration::from_secs(60)
    );
    assert_eq!(derived_group_name("orders-aurora"), "orders-aurora-zeroetl");
}

#[test]
fn a_stalled_step_wins_over_work_in_progress() {
    let mut c = Case::fresh();
    c.integration = Some(aws_integration("creating"));
    c.spec.prerequisites.source = PrerequisiteMode::Verify;
    c.source = Observed::Seen(wrong_source());
    let p = c.plan();
    assert!(
        is_stalled(&p, reasons::PARAMETER_VALUES_WRONG),
        "{:?}",
        p.progress
    );
    // The integration that already exists is still tracked.
    assert_eq!(reason_of(&p, INTEGRATION_ACTIVE), reasons::CREATING);
}

#[test]
fn an_integration_deleted_outside_with_its_grant_removed_is_reported_not_active() {
    // Verify mode on the target: the operator may not put the grant back, so nothing is created again.
    let mut c = Case::fresh();
    c.spec.prerequisites.target = PrerequisiteMode::Verify;
    c.status.integration_arn = Some(INTEGRATION_ARN.into());
    c.status.state = Some("active".into());
    c.target = Observed::Seen(TargetState {
        policy: None,
        ..good_target()
    });
    c.integration = None;
    let p = c.plan();
    assert!(p.actions.is_empty(), "{:?}", p.actions);
    let target = condition(&p, TARGET_READY);
    assert_eq!(
        (target.status, target.reason.as_str()),
        (Status::False, reasons::AUTHORIZATION_MISSING)
    );
    assert!(
        target
            .message
            .contains("redshift:AuthorizeInboundIntegration"),
        "{}",
        target.message
    );
    let active = condition(&p, INTEGRATION_ACTIVE);
    assert_eq!(active.status, Status::False);
    assert!(
        active.message.contains(INTEGRATION_ARN),
        "{}",
        active.message
    );
    assert!(is_stalled(&p, reasons::AUTHORIZATION_MISSING));
    assert_eq!(p.observed.integration, None);
}

// ----- replication and the database's binding ----------------------------------------------------------

fn replicating(target_database: Option<&str>, taken: Option<bool>) -> Observed<ReplicationState> {
    Observed::Seen(replicated_state(target_database, taken))
}

fn replicated_state(target_database: Option<&str>, taken: Option<bool>) -> ReplicationState {
    ReplicationState {
        target_database: target_database.map(str::to_string),
        state: Some(
            if target_database.is_some() {
                "CdcRefreshState"
            } else {
                "PendingDbConnectState"
            }
            .into(),
        ),
        lag_ms: Some(120),
        tables_replicated: Some(3),
        tables_failed: Some(0),
        failed_tables: Vec::new(),
        wanted_database_exists: taken,
    }
}

/// The Replicating message names the lag's band, not its milliseconds: a lag that wanders within seconds
/// between full checks leaves the condition as it was (no status write), one that falls behind changes it.
#[test]
fn the_replicating_message_moves_with_the_lags_band_only() {
    let message_at = |lag_ms: i64| {
        let mut c = Case::fresh();
        c.integration = Some(aws_integration("active"));
        c.replication = Observed::Seen(ReplicationState {
            lag_ms: Some(lag_ms),
            ..replicated_state(Some("orders"), None)
        });
        condition(&c.plan(), "Replicating").message.clone()
    };
    assert_eq!(message_at(1_200), message_at(3_400));
    assert_eq!(
        message_at(3_400),
        "CdcRefreshState, lag under 10 s, 3 tables replicated, 0 failed"
    );
    assert_ne!(message_at(3_400), message_at(95_000));
}

#[test]
fn the_database_counts_as_created_only_when_redshift_says_this_integration_feeds_it() {
    let mut c = Case::fresh();
    c.integration = Some(aws_integration("active"));
    c.replication = replicating(Some("orders"), None);
    let p = c.plan();
    assert!(p.actions.is_empty(), "{:?}", p.actions);
    assert_eq!(reason_of(&p, DESTINATION_DATABASE_READY), reasons::CREATED);
    assert_eq!(condition(&p, "Replicating").status, Status::True);
    assert!(matches!(p.progress, Progress::Ready { .. }));

    // Status says created, Redshift says the integration feeds nothing: created again.
    c.status.destination_database = Some("orders".into());
    c.replication = replicating(None, Some(false));
    assert!(matches!(
        c.plan().actions[..],
        [Action::Database(CreateDatabase {
            replace_stale: false,
            ..
        })]
    ));
}

#[test]
fn a_name_taken_by_another_database_stalls_and_a_recreated_integration_gets_its_database_again() {
    let mut c = Case::fresh();
    c.integration = Some(aws_integration("active"));
    c.replication = replicating(None, Some(true));
    let p = c.plan();
    assert!(
        is_stalled(&p, reasons::DATABASE_NAME_TAKEN),
        "{:?}",
        p.progress
    );
    assert!(p.actions.is_empty());

    // This object made `orders` before (for an integration since recreated): dropped and made again.
    c.status.destination_database = Some("orders".into());
    let p = c.plan();
    let [Action::Database(db)] = &p.actions[..] else {
        panic!("{:?}", p.actions)
    };
    assert!(db.replace_stale);
    assert_eq!(db.drop_sql(), "DROP DATABASE \"orders\"");

    // The integration feeds another database already.
    c.replication = replicating(Some("orders_old"), None);
    assert!(is_stalled(
        &c.plan(),
        reasons::INTEGRATION_FEEDS_ANOTHER_DATABASE
    ));
}

#[test]
fn failed_tables_show_in_replicating_without_deciding_ready() {
    let mut c = Case::fresh();
    c.integration = Some(aws_integration("active"));
    c.replication = Observed::Seen(ReplicationState {
        tables_failed: Some(1),
        failed_tables: vec![("orders.audit".into(), "unsupported data type".into())],
        ..match replicating(Some("orders"), None) {
            Observed::Seen(r) => r,
            _ => unreachable!(),
        }
    });
    let p = c.plan();
    let r = condition(&p, "Replicating");
    assert_eq!(
        (r.status, r.reason.as_str()),
        (Status::False, reasons::TABLES_FAILED)
    );
    assert!(
        r.message.contains("orders.audit: unsupported data type"),
        "{}",
        r.message
    );
    assert!(
        matches!(p.progress, Progress::Ready { .. }),
        "informational: {:?}",
        p.progress
    );
}
