//! The status fields a pass leaves behind (pure): what the plan observed and what apply did. Conditions are
//! merged by the pipeline's finish.

use chrono::{DateTime, SecondsFormat, Utc};
use zeroetl_api::arn::integration_id;
use zeroetl_api::integration::{
    FailedTable, ReplicationStatus, ZeroEtlIntegrationSpec, ZeroEtlIntegrationStatus,
};

use super::apply::Applied;
use super::plan::{DeletePlan, Plan};

/// After a live pass.
pub fn after_pass(
    spec: &ZeroEtlIntegrationSpec,
    current: &ZeroEtlIntegrationStatus,
    plan: &Plan,
    applied: &Applied,
    now: DateTime<Utc>,
) -> ZeroEtlIntegrationStatus {
    let mut next = current.clone();
    next.planned_actions = Vec::new();
    next.source_arn = plan
        .observed
        .source_arn
        .clone()
        .or(current.source_arn.clone());
    next.target_arn = plan
        .observed
        .target_arn
        .clone()
        .or(current.target_arn.clone());
    match applied
        .created
        .clone()
        .or(plan.observed.integration.clone())
    {
        Some(ours) => {
            next.integration_id = integration_id(&ours.arn).map(str::to_string);
            next.integration_arn = Some(ours.arn);
            next.state = Some(ours.status.as_str().to_string());
            next.errors = ours.errors;
            next.created_with = current
                .created_with
                .clone()
                .or_else(|| Some(spec.immutable_part()));
        }
        None => {
            // Not there (never created, deleted outside the operator, not ours): nothing is fixed any more,
            // and nothing about an integration is shown. `destinationDatabase` stays: it names the database
            // this object made, which a recreated integration gets again.
            next.integration_arn = None;
            next.integration_id = None;
            next.state = None;
            next.errors = Vec::new();
            next.created_with = None;
            next.replication = None;
        }
    }
    if let Some(r) = &plan.observed.replication {
        if let Some(fed) = &r.target_database {
            next.destination_database = Some(fed.clone());
        }
        next.replication = Some(ReplicationStatus {
            state: r.state.clone(),
            lag_ms: r.lag_ms,
            tables_replicated: r.tables_replicated,
            tables_failed: r.tables_failed,
            failed_tables: r
                .failed_tables
                .iter()
                .map(|(table, reason)| FailedTable {
                    table: table.clone(),
                    reason: reason.clone(),
                })
                .collect(),
            checked_at: Some(now.to_rfc3339_opts(SecondsFormat::Secs, true)),
        });
    }
    if let Some(db) = &applied.database_created {
        next.destination_database = Some(db.clone());
    }
    next
}

/// After a deletion pass.
pub fn after_deletion(
    current: &ZeroEtlIntegrationStatus,
    plan: &DeletePlan,
) -> ZeroEtlIntegrationStatus {
    ZeroEtlIntegrationStatus {
        state: plan.state.clone(),
        ..current.clone()
    }
}
