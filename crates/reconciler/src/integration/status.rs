//! The status fields a pass leaves behind (pure): what the plan observed and what apply did. Conditions are
//! merged by the pipeline's finish.

use chrono::{DateTime, Utc};
use zeroetl_api::arn::integration_id;
use zeroetl_api::integration::{
    FailedTable, ReplicationStatus, ZeroEtlIntegrationSpec, ZeroEtlIntegrationStatus,
};

use super::apply::Applied;
use super::observed::{lag_band, ReplicationState};
use super::plan::{DeletePlan, Plan};
use crate::verification;

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
            next.state = Some(ours.status.as_str().into());
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
        next.replication = Some(replication(current.replication.as_ref(), r, now));
    }
    if let Some(db) = &applied.database_created {
        next.destination_database = Some(db.clone());
    }
    next
}

/// What a replication read leaves in the status. `checkedAt` follows the rule of verification times: it
/// moves with the figures, or at most hourly while they stay the same, since every full check of every active
/// integration reads them and a new time alone would cost a status write per object each time. The lag
/// counts as changed only when its band does ([`lag_band`]); it is written as read whenever the status is
/// written anyway.
fn replication(
    current: Option<&ReplicationStatus>,
    read: &ReplicationState,
    now: DateTime<Utc>,
) -> ReplicationStatus {
    let recorded_lag = current.and_then(|c| c.lag_ms);
    let lag_ms = if lag_band(recorded_lag) == lag_band(read.lag_ms) {
        recorded_lag
    } else {
        read.lag_ms
    };
    let mut next = ReplicationStatus {
        state: read.state.clone(),
        lag_ms,
        tables_replicated: read.tables_replicated,
        tables_failed: read.tables_failed,
        failed_tables: read
            .failed_tables
            .iter()
            .map(|(table, reason)| FailedTable {
                table: table.clone(),
                reason: reason.clone(),
            })
            .collect(),
        checked_at: current.and_then(|c| c.checked_at.clone()),
    };
    let same_figures = current == Some(&next);
    next.checked_at =
        verification::recorded_after(next.checked_at.as_deref(), true, same_figures, now);
    if next.checked_at != current.and_then(|c| c.checked_at.clone()) {
        next.lag_ms = read.lag_ms;
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

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn read(lag_ms: i64) -> ReplicationState {
        ReplicationState {
            state: Some("CdcRefreshState".into()),
            lag_ms: Some(lag_ms),
            tables_replicated: Some(12),
            tables_failed: Some(0),
            ..Default::default()
        }
    }

    #[test]
    fn the_replication_check_time_moves_only_with_the_figures_or_hourly() {
        let first = Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 0).unwrap();
        let written = replication(None, &read(5), first);
        assert_eq!(written.checked_at.as_deref(), Some("2026-12-03T10:00:00Z"));

        // The next full check reads the same figures: nothing to write.
        let later = first + chrono::Duration::minutes(10);
        assert_eq!(replication(Some(&written), &read(5), later), written);
        // Different figures are written with their time.
        let changed = replication(Some(&written), &read(1_900), later);
        assert_eq!(changed.lag_ms, Some(1_900));
        assert_eq!(changed.checked_at.as_deref(), Some("2026-12-03T10:10:00Z"));
        // The same figures an hour on: the time is refreshed.
        let hour = first + chrono::Duration::minutes(61);
        let refreshed = replication(Some(&written), &read(5), hour);
        assert_eq!(
            refreshed.checked_at.as_deref(),
            Some("2026-12-03T11:01:00Z")
        );
    }

    /// Two teams' live replications, read at every full check: team A's lag wanders within seconds, which is
    /// no write; team B's falls minutes behind, which is. An hour on, team A's written anyway, carries the
    /// lag as read then.
    #[test]
    fn a_lag_that_stays_in_its_band_is_no_write_and_one_that_leaves_it_is() {
        let first = Utc.with_ymd_and_hms(2026, 12, 3, 10, 0, 0).unwrap();
        let (team_a, team_b) = (
            replication(None, &read(1_200), first),
            replication(None, &read(2_500), first),
        );
        let later = first + chrono::Duration::minutes(10);
        assert_eq!(
            replication(Some(&team_a), &read(3_400), later),
            team_a,
            "team A: 1.2 s then 3.4 s, both under 10 s"
        );
        let behind = replication(Some(&team_b), &read(95_000), later);
        assert_eq!(behind.lag_ms, Some(95_000), "team B: under 10 min now");
        assert_eq!(behind.checked_at.as_deref(), Some("2026-12-03T10:10:00Z"));

        let hour = first + chrono::Duration::minutes(61);
        let refreshed = replication(Some(&team_a), &read(4_100), hour);
        assert_eq!(
            (refreshed.lag_ms, refreshed.checked_at.as_deref()),
            (Some(4_100), Some("2026-12-03T11:01:00Z"))
        );
    }
}
