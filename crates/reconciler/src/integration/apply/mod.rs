//! Acting on the plan, the only place that changes AWS: each action is one or a few AWS calls, run in
//! order; the first failure stops the rest (they depend on each other) and is reported on the action's step
//! condition.

mod integration;
mod policy;
mod source;

use crate::aws::data_api::{execute_and_wait, StatementEnd};
use crate::aws::{AwsErrorKind, Clients};
use crate::error::{Error, Result};
use crate::integration::observe::Observation;
use crate::integration::observed::{AwsIntegration, SourceState, TargetState};
use crate::integration::plan::{Action, CreateDatabase, TargetAction};
use crate::k8s::Notice;
use crate::shared::Shared;
use crate::timing;
use crate::warehouse::{self, CaseSensitivityChange};

/// What happened, for the status and the events.
#[derive(Default, Debug)]
pub struct Applied {
    /// An integration created (or, after a lost response, found) by this pass.
    pub created: Option<AwsIntegration>,
    pub database_created: Option<String>,
    /// One event for each change made.
    pub changes: Vec<Notice>,
}

/// Runs `actions` in order with the clients of `seen`. Returns what was done and, if one failed, that
/// action and its error.
pub async fn run(seen: &Observation, actions: &[Action]) -> (Applied, Option<(Action, Error)>) {
    let world = World {
        source_clients: &seen.source_clients,
        target_clients: &seen.target_clients,
        source: seen.source.seen(),
        target: seen.target.seen(),
        shared: &seen.shared,
    };
    run_with(&world, actions).await
}

/// Runs deletion's actions, as the operator's own identity.
pub async fn run_deletion(
    clients: &Clients,
    shared: &Shared,
    actions: &[Action],
) -> (Applied, Option<(Action, Error)>) {
    let world = World {
        source_clients: clients,
        target_clients: clients,
        source: None,
        target: None,
        shared,
    };
    run_with(&world, actions).await
}

/// The clients and observed state actions run against.
struct World<'a> {
    source_clients: &'a Clients,
    target_clients: &'a Clients,
    source: Option<&'a SourceState>,
    target: Option<&'a TargetState>,
    shared: &'a Shared,
}

async fn run_with(w: &World<'_>, actions: &[Action]) -> (Applied, Option<(Action, Error)>) {
    let mut applied = Applied::default();
    for action in actions {
        let result = match action {
            Action::Source(a) => match w.source {
                Some(s) => source::source_action(w.source_clients, s, a, &mut applied).await,
                None => Err(internal("a source action without an observed source")),
            },
            Action::Target(TargetAction::EnableCaseSensitivity) => match w.target {
                Some(t) => enable_case_sensitivity(w.target_clients, t, &mut applied).await,
                None => Err(internal("a target action without an observed target")),
            },
            Action::Target(a) => {
                policy::change(w.target_clients, &w.shared.locks, a, &mut applied).await
            }
            Action::Integration(a) => {
                let done = integration::integration_action(w.source_clients, a, &mut applied).await;
                // Whatever happened, the snapshot may no longer be right about this integration.
                w.shared.snapshots.touched(w.source_clients, &a.keys());
                done
            }
            Action::Database(db) => create_database(w.target_clients, db, &mut applied).await,
        };
        // The shared reads this action may have changed are read again by the next pass that needs them.
        for what in action.invalidates(result.is_err()) {
            w.shared.reads.invalidate(what);
        }
        if let Err(e) = result {
            return (applied, Some((action.clone(), e)));
        }
    }
    (applied, None)
}

fn internal(message: &str) -> Error {
    Error::terminal("InternalError", message)
}

/// `CREATE DATABASE … FROM INTEGRATION`. A database that already exists (an earlier attempt that finished
/// after its pass stopped waiting) counts as created.
async fn create_database(c: &Clients, db: &CreateDatabase, applied: &mut Applied) -> Result<()> {
    if db.replace_stale {
        match execute_and_wait(c, &db.target, &db.drop_sql(), timing::CREATE_DATABASE_DEADLINE).await? {
            StatementEnd::Finished => applied.changes.push(Notice::normal(
                "DroppedStaleDatabase",
                format!(
                    "dropped Redshift database {}: it was made for an integration that no longer exists",
                    db.name
                ),
            )),
            other => {
                return Err(create_database_failed(
                    &db.name,
                    &format!("dropping the stale database first: {other:?}"),
                ))
            }
        }
    }
    match execute_and_wait(c, &db.target, &db.sql(), timing::CREATE_DATABASE_DEADLINE).await? {
        StatementEnd::Finished => {}
        StatementEnd::Failed(why) if why.to_ascii_lowercase().contains("already exists") => {}
        StatementEnd::Running { id } => {
            return Err(Error::waiting(
                "StatementRunning",
                format!(
                    "CREATE DATABASE {} is still running (statement {id})",
                    db.name
                ),
                timing::STATEMENT_RUNNING_RECHECK,
            ))
        }
        StatementEnd::Failed(why) => return Err(create_database_failed(&db.name, &why)),
        StatementEnd::Aborted => return Err(create_database_failed(&db.name, "aborted")),
    }
    applied.database_created = Some(db.name.clone());
    applied.changes.push(Notice::normal(
        "CreatedDatabase",
        format!(
            "created Redshift database {} from integration {}",
            db.name, db.integration_id
        ),
    ));
    Ok(())
}

/// Often transient (the integration finishing its setup): retried with backoff.
fn create_database_failed(name: &str, why: &str) -> Error {
    Error::Aws {
        service: "redshift-data",
        action: "ExecuteStatement",
        code: "CreateDatabaseFailed".into(),
        message: format!("CREATE DATABASE {name} failed: {why}"),
        kind: AwsErrorKind::Unknown,
    }
}

async fn enable_case_sensitivity(
    c: &Clients,
    t: &TargetState,
    applied: &mut Applied,
) -> Result<()> {
    // The target belongs to the team's warehouse: never reboot it from here (the plan reports it).
    let change = warehouse::enable_case_sensitivity(c, &t.warehouse, false).await?;
    let what = t.warehouse.describe();
    let note = match change {
        CaseSensitivityChange::AlreadyOn => return Ok(()),
        CaseSensitivityChange::Applied => {
            format!("turned on enable_case_sensitive_identifier on {what}")
        }
        CaseSensitivityChange::RebootRequired => format!(
            "set enable_case_sensitive_identifier on {what}; it takes effect after a reboot"
        ),
        CaseSensitivityChange::Rebooting => {
            format!("set enable_case_sensitive_identifier on {what}; rebooting")
        }
    };
    applied
        .changes
        .push(Notice::normal("EnabledCaseSensitivity", note));
    Ok(())
}
