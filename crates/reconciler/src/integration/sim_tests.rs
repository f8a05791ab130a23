//! The AWS side of the reconciler against aws-sim, through the real SDK clients: passes are driven in a loop
//! (as the controller's requeues would) with the status kept in memory, so every AWS behaviour of the issue's
//! acceptance list is checked here in seconds; the e2e suite adds Kubernetes and the operator binary.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sim::{Fault, FaultKind, SimHandle};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;
use zeroetl_api::conditions::{
    find, is_true, Status, DESTINATION_DATABASE_READY, INTEGRATION_ACTIVE, READY, SOURCE_READY,
    TARGET_READY,
};
use zeroetl_api::connection::{
    RedshiftConnectionSpec, RedshiftConnectionStatus, ServerlessWarehouse,
};
use zeroetl_api::integration::{
    DestinationDatabase, IntegrationSource, IntegrationTarget, LocalObjectRef, PrerequisiteMode,
    Prerequisites, ZeroEtlIntegrationSpec, ZeroEtlIntegrationStatus,
};
use zeroetl_api::{RedshiftConnection, ZeroEtlIntegration};

use super::observe::{self, Observation};
use super::observed::Observed;
use super::observed::TargetRef;
use super::plan::reasons;
use crate::aws::Clients;
use crate::k8s::Notice;
use crate::ownership::Owner;
use crate::pipeline;
use crate::progress::Progress;
use crate::testing;

const ACCOUNT: &str = "111111111111";
const REGION: &str = "us-east-1";
const ANALYTICS_NS: &str = "arn:aws:redshift-serverless:us-east-1:111111111111:namespace/3f1c2a9e-5b7d-4e21-9c3a-1a2b3c4d5e01";
const WAREHOUSE_NS: &str =
    "arn:aws:redshift:us-east-1:111111111111:namespace:8d2e4f6a-0b1c-4d3e-8f5a-6b7c8d9e0f02";
const DEADLINE: Duration = Duration::from_secs(60);

async fn sim() -> SimHandle {
    testing::sample_sim().await
}

async fn clients(sim: &SimHandle) -> Arc<Clients> {
    testing::operator_clients(sim).await
}

fn orders_spec() -> ZeroEtlIntegrationSpec {
    ZeroEtlIntegrationSpec {
        integration_name: None,
        region: None,
        source: IntegrationSource {
            db_cluster_identifier: Some("orders-aurora".into()),
            ..Default::default()
        },
        target: IntegrationTarget {
            connection_ref: Some(LocalObjectRef {
                name: "analytics".into(),
            }),
            namespace_arn: None,
        },
        kms_key_id: None,
        additional_encryption_context: None,
        data_filter: Some("include: orders.*".into()),
        description: Some("orders".into()),
        tags: Some([("team".to_string(), "data-platform".to_string())].into()),
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

/// A Ready RedshiftConnection to the analytics workgroup, as the connection reconciler would leave it.
fn analytics_connection() -> RedshiftConnection {
    let mut c = RedshiftConnection::new(
        "analytics",
        RedshiftConnectionSpec {
            region: Some(REGION.into()),
            serverless: Some(ServerlessWarehouse {
                workgroup_name: "analytics-wg".into(),
            }),
            provisioned: None,
            database: "dev".into(),
            auth: Default::default(),
            ssl: Default::default(),
            staging: None,
            case_sensitive_identifiers: Default::default(),
            connection_secret: None,
            management_policy: Default::default(),
        },
    );
    let ready = zeroetl_api::conditions::Decided::new(READY, Status::True, "Reconciled", "ok");
    c.status = Some(RedshiftConnectionStatus {
        namespace_arn: Some(ANALYTICS_NS.into()),
        conditions: zeroetl_api::conditions::merge(&[], &[ready], Some(1), &Time(Timestamp::now())),
        ..Default::default()
    });
    c
}

/// What one pass left behind.
struct Passed {
    progress: Progress,
    /// The changes it made in AWS.
    changes: Vec<Notice>,
}

/// One integration object, driven pass after pass as the controller would.
struct Driver {
    clients: Arc<Clients>,
    spec: ZeroEtlIntegrationSpec,
    name: String,
    generation: i64,
    status: ZeroEtlIntegrationStatus,
    connection: Option<RedshiftConnection>,
}

impl Driver {
    fn new(
        clients: Arc<Clients>,
        spec: ZeroEtlIntegrationSpec,
        connection: Option<RedshiftConnection>,
    ) -> Driver {
        Driver {
            clients,
            spec,
            name: "orders-to-analytics".into(),
            generation: 1,
            status: Default::default(),
            connection,
        }
    }

    fn target_ref(&self) -> TargetRef {
        match (&self.spec.target.namespace_arn, &self.connection) {
            (Some(arn), _) => TargetRef::Arn(arn.to_string()),
            (None, Some(c)) => observe::connection_target(c),
            (None, None) => TargetRef::Waiting {
                reason: "ConnectionNotFound".into(),
                message: "none".into(),
            },
        }
    }

    async fn pass(&mut self) -> Passed {
        self.try_pass().await.expect("a pass observes AWS")
    }

    /// The object as the controller would hand it over.
    fn object(&self) -> ZeroEtlIntegration {
        let mut obj = ZeroEtlIntegration::new(&self.name, self.spec.clone());
        obj.metadata.namespace = Some("team-a".into());
        obj.metadata.generation = Some(self.generation);
        obj.status = Some(self.status.clone());
        obj
    }

    /// One pass past Kubernetes (observe AWS → plan → apply → the next status, as finish computes it); an
    /// error leaves the status as it was, as a failed reconcile does.
    async fn try_pass(&mut self) -> crate::Result<Passed> {
        let obj = self.object();
        let owner = Owner::of(&obj, "sim-tests");
        let seen = observe::observe_aws(
            &obj,
            &owner,
            Default::default(),
            Observation {
                target_ref: self.target_ref(),
                connection: self.connection.clone(),
                source_clients: self.clients.clone(),
                target_clients: self.clients.clone(),
                integration: None,
                source: Observed::Skipped,
                target: Observed::Skipped,
                replication: Observed::Skipped,
                shared: Default::default(),
            },
        )
        .await?;
        let outcome = super::act(&obj, &owner, &seen).await;
        let next = pipeline::next_status(
            obj.status.as_ref(),
            Some(self.generation),
            &outcome,
            &Time(Timestamp::now()),
        );
        self.status = next;
        Ok(Passed {
            progress: outcome.progress,
            changes: outcome.changes,
        })
    }

    /// Passes until `done` holds, pausing as the plan asks (capped: the simulator is fast).
    async fn until(&mut self, what: &str, done: impl Fn(&Passed) -> bool) -> Passed {
        let start = Instant::now();
        loop {
            let passed = self.pass().await;
            if done(&passed) {
                return passed;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{what} not reached within {DEADLINE:?}; last progress {:?}, conditions {:#?}",
                passed.progress,
                self.status.conditions
            );
            let pause = match &passed.progress {
                Progress::InProgress { requeue, .. } => (*requeue).min(Duration::from_millis(100)),
                _ => Duration::from_millis(100),
            };
            tokio::time::sleep(pause).await;
        }
    }

    async fn until_ready(&mut self) -> Passed {
        self.until("Ready", |p| matches!(p.progress, Progress::Ready { .. }))
            .await
    }

    fn reason(&self, type_: &str) -> String {
        find(&self.status.conditions, type_)
            .map(|c| c.reason.to_string())
            .unwrap_or_default()
    }

    fn message(&self, type_: &str) -> String {
        find(&self.status.conditions, type_)
            .map(|c| c.message.to_string())
            .unwrap_or_default()
    }
}

fn region_state(sim: &SimHandle) -> Value {
    sim.state_json()["accounts"][ACCOUNT]["regions"][REGION].clone()
}

/// A field of a dumped object, in the dump's camelCase or the RDS API's PascalCase.
fn field<'a>(v: &'a Value, camel: &str) -> &'a Value {
    let pascal: String = camel[..1].to_ascii_uppercase() + &camel[1..];
    if v[camel].is_null() {
        &v[pascal.as_str()]
    } else {
        &v[camel]
    }
}

fn count(sim: &SimHandle, action: &str) -> u64 {
    sim.counts().get(action).copied().unwrap_or(0)
}

#[tokio::test]
async fn fix_mode_takes_wrong_aurora_mysql_and_a_bare_serverless_target_to_ready() {
    let sim = sim().await;
    let mut d = Driver::new(
        clients(&sim).await,
        orders_spec(),
        Some(analytics_connection()),
    );
    d.until_ready().await;

    let r = region_state(&sim);
    let cluster = &r["dbClusters"]["orders-aurora"];
    assert_eq!(cluster["parameterGroup"], "orders-aurora-zeroetl");
    assert_eq!(cluster["parameterApplyStatus"], "in-sync");
    let group = &r["dbClusterParameterGroups"]["orders-aurora-zeroetl"]["parameters"];
    for (k, v) in [
        ("binlog_format", "ROW"),
        ("aurora_enhanced_binlog", "1"),
        ("binlog_backup", "0"),
        ("binlog_row_metadata", "full"),
        ("binlog_replication_globaldb", "0"),
    ] {
        assert_eq!(group[k], v, "{k}");
    }
    assert_eq!(
        r["dbClusterParameterGroups"]["default.aurora-mysql8.0"]["parameters"]["binlog_format"],
        "OFF",
        "the default group is untouched"
    );
    let policy = r["resourcePolicies"][ANALYTICS_NS]
        .as_str()
        .expect("a policy on the namespace");
    assert!(
        policy.contains("arn:aws:rds:us-east-1:111111111111:cluster:orders-aurora")
            && policy.contains("redshift:CreateInboundIntegration")
    );
    assert_eq!(
        r["workgroups"]["analytics-wg"]["configParameters"]["enable_case_sensitive_identifier"],
        "true"
    );
    let integrations = r["integrations"].as_object().expect("integrations");
    assert_eq!(integrations.len(), 1);
    let (arn, integration) = integrations.iter().next().unwrap();
    assert_eq!(field(integration, "status"), "active");
    assert_eq!(field(integration, "dataFilter"), "include: orders.*");
    assert_eq!(r["databases"][ANALYTICS_NS], serde_json::json!(["orders"]));

    assert_eq!(d.status.integration_arn.as_deref(), Some(arn.as_str()));
    assert_eq!(d.status.integration_id.as_deref(), arn.rsplit(':').next());
    assert_eq!(d.status.state.as_deref(), Some("active"));
    assert_eq!(d.status.destination_database.as_deref(), Some("orders"));
    assert_eq!(
        d.status.source_arn.as_deref(),
        Some("arn:aws:rds:us-east-1:111111111111:cluster:orders-aurora")
    );
    assert_eq!(d.status.target_arn.as_deref(), Some(ANALYTICS_NS));
    assert!(d.status.created_with.is_some());
    for t in [
        SOURCE_READY,
        TARGET_READY,
        INTEGRATION_ACTIVE,
        DESTINATION_DATABASE_READY,
        READY,
    ] {
        assert!(
            is_true(&d.status.conditions, t),
            "{t}: {:?}",
            find(&d.status.conditions, t)
        );
    }
    assert_eq!(count(&sim, "rds:CreateIntegration"), 1);
    assert_eq!(count(&sim, "rds:RebootDBInstance"), 1);

    // Steady state: one DescribeIntegrations, no change, nothing new in the status.
    let (calls, mutating) = (sim.calls().len(), sim.mutating_calls());
    let before = d.status.clone();
    let passed = d.pass().await;
    assert!(passed.changes.is_empty());
    assert_eq!(sim.calls().len() - calls, 1, "{:?}", &sim.calls()[calls..]);
    assert_eq!(sim.mutating_calls(), mutating);
    assert_eq!(d.status, before);
}

#[tokio::test]
async fn verify_mode_names_every_wrong_parameter_and_changes_nothing() {
    let sim = sim().await;
    let mut spec = orders_spec();
    spec.prerequisites.source = PrerequisiteMode::Verify;
    let mut d = Driver::new(clients(&sim).await, spec, Some(analytics_connection()));
    d.until("Stalled", |p| {
        matches!(p.progress, Progress::Stalled { .. })
    })
    .await;
    assert_eq!(d.reason(SOURCE_READY), reasons::PARAMETER_VALUES_WRONG);
    let message = d.message(SOURCE_READY);
    for expected in [
        "aurora_enhanced_binlog is 0, needs 1",
        "binlog_backup is 1, needs 0",
        "binlog_format is OFF, needs ROW",
        "binlog_replication_globaldb is 1, needs 0",
        "binlog_row_metadata is minimal, needs full",
    ] {
        assert!(
            message.contains(expected),
            "{expected:?} missing from {message}"
        );
    }
    d.pass().await;
    assert_eq!(sim.mutating_calls(), 0, "{:?}", sim.calls());
}

#[tokio::test]
async fn fix_without_reboot_permission_stops_at_reboot_required() {
    let sim = sim().await;
    let mut spec = orders_spec();
    spec.prerequisites.allow_source_reboot = false;
    let mut d = Driver::new(clients(&sim).await, spec, Some(analytics_connection()));
    d.until("Stalled", |p| {
        matches!(p.progress, Progress::Stalled { .. })
    })
    .await;
    assert_eq!(d.reason(SOURCE_READY), reasons::REBOOT_REQUIRED);
    assert_eq!(
        count(&sim, "rds:RebootDBInstance") + count(&sim, "rds:RebootDBCluster"),
        0
    );
    assert_eq!(
        region_state(&sim)["dbClusters"]["orders-aurora"]["parameterGroup"],
        "orders-aurora-zeroetl"
    );
    assert_eq!(
        count(&sim, "redshift:PutResourcePolicy"),
        0,
        "nothing on the target before the source is ready"
    );
}

#[tokio::test]
async fn rds_postgresql_into_a_provisioned_target_creates_the_database_from_the_source_database() {
    let sim = sim().await;
    let mut spec = orders_spec();
    spec.source = IntegrationSource {
        db_instance_identifier: Some("accounts-postgres".into()),
        ..Default::default()
    };
    spec.target = IntegrationTarget {
        namespace_arn: Some(WAREHOUSE_NS.into()),
        connection_ref: None,
    };
    spec.data_filter = Some("include: accounts.public.*".into());
    spec.destination_database = Some(DestinationDatabase {
        name: "accounts".into(),
        source_database: Some("accounts".into()),
    });
    let mut d = Driver::new(clients(&sim).await, spec, None);
    d.until_ready().await;
    let r = region_state(&sim);
    assert_eq!(
        r["databases"][WAREHOUSE_NS],
        serde_json::json!(["accounts"])
    );
    let statements: Vec<&Value> = r["statements"].as_object().unwrap().values().collect();
    assert!(statements.iter().any(|s| s["sql"]
        .as_str()
        .unwrap_or_default()
        .contains("DATABASE \"accounts\"")
        && s["clusterIdentifier"] == "warehouse-ra3"));
    assert_eq!(
        count(&sim, "rds:CreateDBParameterGroup"),
        0,
        "the source was already right"
    );
    assert_eq!(count(&sim, "rds:RebootDBInstance"), 0);
}

#[tokio::test]
async fn postgresql_without_a_source_database_stops_before_any_change() {
    let sim = sim().await;
    let mut spec = orders_spec();
    spec.source = IntegrationSource {
        db_instance_identifier: Some("accounts-postgres".into()),
        ..Default::default()
    };
    spec.target = IntegrationTarget {
        namespace_arn: Some(WAREHOUSE_NS.into()),
        connection_ref: None,
    };
    spec.destination_database = Some(DestinationDatabase {
        name: "accounts".into(),
        source_database: None,
    });
    let mut d = Driver::new(clients(&sim).await, spec, None);
    d.until("Stalled", |p| {
        matches!(p.progress, Progress::Stalled { .. })
    })
    .await;
    assert_eq!(
        d.reason(DESTINATION_DATABASE_READY),
        reasons::SOURCE_DATABASE_REQUIRED
    );
    assert_eq!(sim.mutating_calls(), 0);
}

/// The simulator performs CreateIntegration and answers 500, as a connection cut after the request would;
/// the retry and every later pass must find and adopt it.
#[tokio::test]
async fn a_lost_create_response_never_yields_a_second_integration() {
    let sim = sim().await;
    sim.inject(Fault::new("rds:CreateIntegration", FaultKind::DropResponse).times(1));
    let mut d = Driver::new(
        clients(&sim).await,
        orders_spec(),
        Some(analytics_connection()),
    );
    d.until_ready().await;
    assert_eq!(
        region_state(&sim)["integrations"]
            .as_object()
            .unwrap()
            .len(),
        1
    );
    assert!(count(&sim, "rds:CreateIntegration") >= 1);

    // A crash between CreateIntegration and the status write: the status has no ARN; the name finds it.
    let arn = d.status.integration_arn.clone();
    d.status = ZeroEtlIntegrationStatus::default();
    d.until_ready().await;
    assert_eq!(d.status.integration_arn, arn);
    assert_eq!(
        region_state(&sim)["integrations"]
            .as_object()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn mutable_fields_change_in_place_and_tags_follow_the_spec() {
    let sim = sim().await;
    let mut d = Driver::new(
        clients(&sim).await,
        orders_spec(),
        Some(analytics_connection()),
    );
    d.until_ready().await;
    let arn = d.status.integration_arn.clone().unwrap();

    d.spec.data_filter = Some("include: orders.*, exclude: orders.audit_log".into());
    d.spec.description = Some("orders, without the audit log".into());
    d.spec.tags = Some([("team".to_string(), "analytics".to_string())].into());
    d.generation += 1;
    d.until_ready().await;
    let r = region_state(&sim);
    let integration = &r["integrations"][&arn];
    assert_eq!(
        field(integration, "dataFilter"),
        "include: orders.*, exclude: orders.audit_log"
    );
    assert_eq!(
        field(integration, "description"),
        "orders, without the audit log"
    );
    assert_eq!(field(integration, "tags")["team"], "analytics");
    assert_eq!(count(&sim, "rds:ModifyIntegration"), 1);
    assert_eq!(count(&sim, "rds:CreateIntegration"), 1);
    assert_eq!(
        d.status.integration_arn.as_deref(),
        Some(arn.as_str()),
        "same ARN"
    );

    // A rename is in place too (the object keeps its own name; spec.integrationName is the AWS name).
    d.spec.integration_name = Some("orders-v2".into());
    d.generation += 1;
    d.until_ready().await;
    assert_eq!(
        field(&region_state(&sim)["integrations"][&arn], "integrationName"),
        "orders-v2"
    );
    assert_eq!(count(&sim, "rds:CreateIntegration"), 1);
}

#[tokio::test]
async fn a_failed_integration_reports_the_aws_error_code() {
    let sim = sim().await;
    let mut d = Driver::new(
        clients(&sim).await,
        orders_spec(),
        Some(analytics_connection()),
    );
    d.until_ready().await;
    let arn = d.status.integration_arn.clone().unwrap();
    sim.set_integration_status(
        &arn,
        "failed",
        vec![(
            "IntegrationSourceUnavailable".into(),
            "The source cluster is unreachable".into(),
        )],
    )
    .unwrap();
    let passed = d
        .until("Stalled", |p| {
            matches!(p.progress, Progress::Stalled { .. })
        })
        .await;
    assert!(
        matches!(&passed.progress, Progress::Stalled { reason, .. } if reason == "IntegrationSourceUnavailable"),
        "{:?}",
        passed.progress
    );
    let ready = find(&d.status.conditions, READY).unwrap();
    assert_eq!(
        (ready.status.as_str(), ready.reason.as_str()),
        ("False", "IntegrationSourceUnavailable")
    );
    assert_eq!(d.status.state.as_deref(), Some("failed"));
    assert_eq!(d.status.errors[0].code, "IntegrationSourceUnavailable");
    assert_eq!(
        d.status.errors[0].message,
        "The source cluster is unreachable"
    );
}

#[tokio::test]
async fn half_of_all_calls_throttled_still_converges() {
    let sim = sim().await;
    sim.inject(Fault::new("*", FaultKind::Throttle).with_rate(0.5));
    let mut d = Driver::new(
        clients(&sim).await,
        orders_spec(),
        Some(analytics_connection()),
    );
    let start = Instant::now();
    let mut failed_passes = 0;
    loop {
        match d.try_pass().await {
            Ok(p) if matches!(p.progress, Progress::Ready { .. }) => break,
            Ok(_) => {}
            // The controller requeues a throttled pass; so does this loop.
            Err(_) => failed_passes += 1,
        }
        assert!(
            start.elapsed() < Duration::from_secs(150),
            "not Ready within 150 s under 50% throttling; conditions {:#?}",
            d.status.conditions
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let throttled = sim
        .calls()
        .iter()
        .filter(|c| {
            c.error_code.as_deref() == Some("Throttling")
                || c.error_code.as_deref() == Some("ThrottlingException")
        })
        .count();
    eprintln!(
        "Ready after {:?} with {throttled} throttled calls and {failed_passes} failed passes",
        start.elapsed()
    );
    assert!(throttled > 0, "the fault was injected");
    let r = region_state(&sim);
    assert_eq!(
        r["integrations"].as_object().map(|m| m.len()),
        Some(1),
        "exactly one integration"
    );
}
