//! DestinationDatabaseReady: `CREATE DATABASE … FROM INTEGRATION` once the integration is active.

use zeroetl_api::arn::integration_id;
use zeroetl_api::conditions::DESTINATION_DATABASE_READY;
use zeroetl_api::integration::{ManagementPolicy, ZeroEtlIntegrationSpec};

use aws_sdk_rds::types::IntegrationStatus;

use super::actions::{Action, CreateDatabase};
use super::{reasons, Input, Step};
use crate::integration::observed::{AwsIntegration, Observed};
use crate::integration::source_params::Engine;
use crate::timing;
use crate::warehouse;

/// Redshift's default database, when neither a connection nor the warehouse names one.
const DEFAULT_DATABASE: &str = "dev";

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
    if input.status.destination_database.as_deref() == Some(db.name.as_str()) {
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
    // The connection's database and identity when the target is a connection; else the warehouse's own
    // database and, on a provisioned cluster, its admin user (CREATE DATABASE needs superuser or CREATEDB).
    let auth = input.connection.map(|c| &c.auth);
    let w = &target.warehouse;
    let data_api = warehouse::data_api_target(
        w,
        input
            .connection
            .map(|c| c.database.clone())
            .or_else(|| w.default_database.clone())
            .unwrap_or_else(|| DEFAULT_DATABASE.to_string()),
        auth.and_then(|a| a.db_user.clone())
            .or_else(|| w.admin_user.clone()),
        auth.and_then(|a| a.secret_arn.clone()),
    );
    actions.push(Action::Database(CreateDatabase {
        name: db.name.clone(),
        integration_id: id.to_string(),
        source_database: db.source_database.clone().filter(|_| engine.is_postgres()),
        target: data_api,
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
