//! The simulator's call log read in windows: what the operator did in AWS between two moments of a test.
//! Calls made by hand with the person's key (`by_hand::person_*`) are not the operator's and are left out.
//!
//! aws-sim counts every Data API `ExecuteStatement` as mutating, a `SELECT` too; [`CallWindow::sql`] shows
//! what the statements were, so a test can tell reading Redshift's views from changing the warehouse.

use std::collections::BTreeSet;

use aws_sim::{CallRecord, SimHandle};
use serde_json::Value;

use crate::by_hand::PERSON_ACCESS_KEY_ID;

const EXECUTE_STATEMENT: (&str, &str) = ("redshift-data", "ExecuteStatement");

/// Calls and Data API statements after the moment the window was opened.
pub struct CallWindow {
    after_seq: u64,
    statements_before: BTreeSet<String>,
}

impl CallWindow {
    pub fn open(sim: &SimHandle) -> Self {
        Self {
            after_seq: sim.calls().last().map_or(0, |c| c.seq),
            statements_before: statement_ids(&sim.state_json()),
        }
    }

    /// Every call since the window opened, from anyone but the person acting by hand.
    pub fn operator_calls(&self, sim: &SimHandle) -> Vec<CallRecord> {
        sim.calls()
            .into_iter()
            .filter(|c| c.seq > self.after_seq && c.access_key_id != PERSON_ACCESS_KEY_ID)
            .collect()
    }

    /// The operator's calls except `rds:DescribeIntegrations`: the shared integration snapshot pages it on
    /// the poller's own clock (at most once per fast period after any change), whatever one object does.
    /// For checks that an object's pass made no AWS call at all.
    pub fn calls_outside_the_snapshot(&self, sim: &SimHandle) -> Vec<CallRecord> {
        self.operator_calls(sim)
            .into_iter()
            .filter(|c| (c.service.as_str(), c.action.as_str()) != ("rds", "DescribeIntegrations"))
            .collect()
    }

    /// The operator's calls aws-sim counts as mutating, as `service:Action` (Data API statements included).
    pub fn operator_mutating(&self, sim: &SimHandle) -> Vec<String> {
        self.operator_calls(sim)
            .iter()
            .filter(|c| c.mutating)
            .map(name)
            .collect()
    }

    /// The operator's mutating calls other than Data API statements (whose SQL [`Self::sql`] shows).
    pub fn operator_writes(&self, sim: &SimHandle) -> Vec<String> {
        self.operator_calls(sim)
            .iter()
            .filter(|c| c.mutating && (c.service.as_str(), c.action.as_str()) != EXECUTE_STATEMENT)
            .map(name)
            .collect()
    }

    /// How many operator calls of `service:Action` since the window opened (failed attempts too).
    pub fn count(&self, sim: &SimHandle, action: &str) -> usize {
        self.operator_calls(sim)
            .iter()
            .filter(|c| name(c) == action)
            .count()
    }

    /// The SQL of every Data API statement submitted since the window opened.
    pub fn sql(&self, sim: &SimHandle) -> Vec<String> {
        let state = sim.state_json();
        all_statements(&state)
            .filter(|(id, _)| !self.statements_before.contains(id))
            .map(|(_, s)| s["sql"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// The statements since the window opened that are not plain reads (`SELECT …`).
    pub fn sql_writes(&self, sim: &SimHandle) -> Vec<String> {
        self.sql(sim)
            .into_iter()
            .filter(|sql| !sql.trim_start().to_ascii_uppercase().starts_with("SELECT"))
            .collect()
    }
}

fn name(c: &CallRecord) -> String {
    format!("{}:{}", c.service, c.action)
}

fn all_statements(state: &Value) -> impl Iterator<Item = (String, Value)> + '_ {
    state["accounts"]
        .as_object()
        .into_iter()
        .flat_map(|accounts| accounts.values())
        .filter_map(|a| a["regions"].as_object())
        .flat_map(|regions| regions.values())
        .filter_map(|r| r["statements"].as_object())
        .flat_map(|s| s.iter().map(|(id, v)| (id.clone(), v.clone())))
}

fn statement_ids(state: &Value) -> BTreeSet<String> {
    all_statements(state).map(|(id, _)| id).collect()
}
