//! DestinationDatabaseReady: `CREATE DATABASE … FROM INTEGRATION` once the integration is active.

use zeroetl_api::arn::integration_id;
use zeroetl_api::conditions::{Decided, Status, DESTINATION_DATABASE_READY, REPLICATING};
use zeroetl_api::integration::{ManagementPolicy, ZeroEtlIntegrationSpec};
use zeroetl_api::RedshiftConnectionSpec;

use aws_sdk_rds::types::IntegrationStatus;

use super::actions::{Action, CreateDatabase};
use super::{reasons, Input, Step};
use crate::aws::data_api::DataApiTarget;
use crate::integration::observed::{lag_band, AwsIntegration, Observed};
use crate::integration::source_params::Engine;
use crate::timing;
use crate::warehouse::{self, Warehouse};

/// Redshift's default database, when neither a connection nor the warehouse names one.
const DEFAULT_DATABASE: &str = "dev";

/// Where the operator's statements run on a target: the connection's database and identity when the target
/// is a connection; else the warehouse's own database and, on a provisioned cluster, its admin user (CREATE
/// DATABASE and the integration views need a superuser).
pub fn statement_target(
    connection: Option<&RedshiftConnectionSpec>,
    w: &Warehouse,
) -> DataApiTarget {
    let auth = connection.map(|c| &c.auth);
    warehouse::data_api_target(
        w,
        connection
            .map(|c| c.database.clone())
            .or_else(|| w.default_database.clone())
            .unwrap_or_else(|| DEFAULT_DATABASE.to_string()),
        auth.and_then(|a| a.db_user.clone())
            .or_else(|| w.admin_user.clone()),
        auth.and_then(|a| a.secret_arn.clone()),
    )
}

/// Replicating, from Redshift's view of the integration; informational (it never decides Ready). `None`:
/// not read this pass, the condition keeps what it said.
pub(super) fn plan_replication(input: &Input, ours: Option<&AwsIntegration>) -> Option<Step> {
    if ours.is_none() {
        return Some(Step::blocked(
            REPLICATING,
            reasons::NO_INTEGRATION,
            "there is no integration to replicate through",
        ));
    }
    let r = match input.replication {
        Observed::Seen(r) => r,
        Observed::NotFound(why) => {
            return Some(Step::blocked(REPLICATING, reasons::NOT_READ, why.clone()))
        }
        Observed::Skipped => return None,
    };
    let failed = r.tables_failed.unwrap_or(0);
    let counts = format!(
        "lag {}, {} tables replicated, {failed} failed",
        lag_band(r.lag_ms),
        r.tables_replicated.unwrap_or(0)
    );
    let state = r.state.clone().unwrap_or_default();
    Some(if failed > 0 {
        let list: Vec<String> = r
            .failed_tables
            .iter()
            .map(|(t, why)| format!("{t}: {why}"))
            .collect();
        Step::waiting_on_earlier(
            REPLICATING,
            reasons::TABLES_FAILED,
            format!("{state}, {counts}: {}", list.join("; ")),
        )
    } else if state == "CdcRefreshState" {
        Step::done(
            REPLICATING,
            reasons::REPLICATING,
            format!("{state}, {counts}"),
        )
    } else {
        Step::waiting_on_earlier(REPLICATING, &state, format!("{state}, {counts}"))
    })
}

/// The Replicating condition once this pass has created the integration: the plan said "no integration",
/// which the create made untrue. Redshift's view is read by a full check, not by the passes that follow
/// the integration to Active through the shared snapshot, so until then the condition says that.
pub fn replicating_after_create(conditions: &mut [Decided], created: &AwsIntegration) {
    for c in conditions
        .iter_mut()
        .filter(|c| c.type_ == REPLICATING && c.reason == reasons::NO_INTEGRATION)
    {
        *c = Decided::new(
            REPLICATING,
            Status::Unknown,
            reasons::NOT_READ_YET,
            format!(
                "integration {} was created; its replication is read at the next full check",
                created.name
            ),
        );
    }
}

pub(super) fn plan_database(
    input: &Input,
    ours: Option<&AwsIntegration>,
    engine: Option<Engine>,
    actions: &mut Vec<Action>,
) -> Step {
    let Some(db) = &input.spec.destination_database else {
        return Step::done(
            DESTINATION_DATABASE_READY,
            reasons::NOT_REQUESTED,
            "spec.destinationDatabase is not set",
        );
    };
    if input.status.destination_database.as_deref() == Some(db.name.as_str())
        && !matches!(input.replication, Observed::Seen(_))
    {
        return Step::done(
            DESTINATION_DATABASE_READY,
            reasons::CREATED,
            format!("Redshift database {} receives the replicated data", db.name),
        );
    }
    let Some(integration) = ours.filter(|i| i.status == IntegrationStatus::Active) else {
        return Step::blocked(
            DESTINATION_DATABASE_READY,
            reasons::WAITING_FOR_INTEGRATION,
            format!(
                "database {} is created once the integration is active",
                db.name
            ),
        );
    };
    // The engine decides whether the DATABASE clause is required; it is known whenever the source was seen,
    // which is always the case until the database exists (see prerequisites_settled).
    let Some(engine) = engine else {
        return Step::blocked(
            DESTINATION_DATABASE_READY,
            reasons::WAITING_FOR_INTEGRATION,
            "waiting to look at the source engine",
        );
    };
    let Some(id) = integration_id(&integration.arn) else {
        return Step::stalled(
            DESTINATION_DATABASE_READY,
            reasons::FAILED,
            format!("integration ARN {} has no id", integration.arn),
        );
    };
    if input.policy == ManagementPolicy::ObserveOnly {
        return Step::stalled(
            DESTINATION_DATABASE_READY,
            reasons::NOT_FOUND,
            format!(
                "database {} is not recorded as created; managementPolicy ObserveOnly never creates it",
                db.name
            ),
        );
    }
    let Observed::Seen(target) = input.target else {
        return Step::blocked(
            DESTINATION_DATABASE_READY,
            reasons::WAITING_FOR_INTEGRATION,
            "waiting to look at the target warehouse",
        );
    };
    // Redshift's own view decides, when it was read: the database must be fed by this integration.
    let mut replace_stale = false;
    if let Observed::Seen(r) = input.replication {
        match (r.target_database.as_deref(), r.wanted_database_exists) {
            (Some(fed), _) if fed == db.name => {
                return Step::done(
                    DESTINATION_DATABASE_READY,
                    reasons::CREATED,
                    format!("Redshift database {fed} receives the replicated data of integration {id}"),
                )
            }
            (Some(other), _) => {
                return Step::stalled(
                    DESTINATION_DATABASE_READY,
                    reasons::INTEGRATION_FEEDS_ANOTHER_DATABASE,
                    format!(
                        "integration {id} already feeds Redshift database {other}; an integration feeds one database: set spec.destinationDatabase.name to {other}, or drop {other}"
                    ),
                )
            }
            // Taken, and this object made a database of that name before (for an integration since
            // recreated): the old one is fed by nothing, so it is dropped and made again from this one.
            (None, Some(true))
                if input.status.destination_database.as_deref() == Some(db.name.as_str()) =>
            {
                replace_stale = true;
            }
            (None, Some(true)) => {
                return Step::stalled(
                    DESTINATION_DATABASE_READY,
                    reasons::DATABASE_NAME_TAKEN,
                    format!(
                        "a Redshift database named {} exists and is not fed by integration {id}; drop or rename it, or choose another spec.destinationDatabase.name",
                        db.name
                    ),
                )
            }
            (None, _) => {}
        }
    } else if input.status.destination_database.as_deref() == Some(db.name.as_str()) {
        return Step::done(
            DESTINATION_DATABASE_READY,
            reasons::CREATED,
            format!("Redshift database {} receives the replicated data", db.name),
        );
    }
    actions.push(Action::Database(CreateDatabase {
        name: db.name.clone(),
        integration_id: id.to_string(),
        source_database: db.source_database.clone().filter(|_| engine.is_postgres()),
        target: statement_target(input.connection, &target.warehouse),
        replace_stale,
    }));
    Step::working(
        DESTINATION_DATABASE_READY,
        reasons::CREATING,
        format!(
            "creating Redshift database {} from integration {id}",
            db.name
        ),
        timing::AFTER_ACTION,
    )
}

pub(super) fn database_spec_problem(spec: &ZeroEtlIntegrationSpec, engine: Engine) -> Option<Step> {
    let db = spec.destination_database.as_ref()?;
    match (engine.is_postgres(), &db.source_database) {
        (true, None) => Some(Step::stalled(
            DESTINATION_DATABASE_READY,
            reasons::SOURCE_DATABASE_REQUIRED,
            format!("the source is {}: set spec.destinationDatabase.sourceDatabase to the PostgreSQL database to replicate", engine.display_name()),
        )),
        (false, Some(_)) => Some(Step::stalled(
            DESTINATION_DATABASE_READY,
            reasons::SOURCE_DATABASE_NOT_APPLICABLE,
            format!(
                "the source is {}, which replicates every database; remove spec.destinationDatabase.sourceDatabase (it applies only to PostgreSQL sources)",
                engine.display_name()
            ),
        )),
        _ => None,
    }
}
