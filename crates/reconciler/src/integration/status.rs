//! The status fields a pass leaves behind (pure): what the plan observed and what apply did. Conditions are
//! merged by the pipeline's finish.

use zeroetl_api::arn::integration_id;
use zeroetl_api::integration::{ZeroEtlIntegrationSpec, ZeroEtlIntegrationStatus};

use super::apply::Applied;
use super::plan::{DeletePlan, Plan};

/// After a live pass.
pub fn after_pass(
    spec: &ZeroEtlIntegrationSpec,
    current: &ZeroEtlIntegrationStatus,
    plan: &Plan,
    applied: &Applied,
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
            // and nothing about an integration is shown.
            next.integration_arn = None;
            next.integration_id = None;
            next.state = None;
            next.errors = Vec::new();
            next.created_with = None;
            next.destination_database = None;
        }
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
