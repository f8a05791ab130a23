//! SVV_INTEGRATION and SVV_INTEGRATION_TABLE_STATE: one row per integration targeting the session's
//! warehouse (per table for the table view), derived from the integration's status, the database bound to
//! it and the replication health the control plane steers. Visible to superusers only, as in Redshift.

use chrono::{DateTime, Utc};

use super::catalog::col;
use super::databases::{source_engine, source_tables};
use super::parse::Select;
use super::{Cell, ResultSet, Session};
use crate::model::{Integration, TableState, World};

fn timestamp(t: &DateTime<Utc>) -> Cell {
    Cell::Str(t.format("%Y-%m-%d %H:%M:%S%.6f").to_string())
}

/// Integrations targeting the session's warehouse; an `integration_id = '…'` condition is looked up
/// instead of scanning every integration.
fn integrations_here<'a>(world: &'a World, s: &Session, q: &Select) -> Vec<&'a Integration> {
    let wanted = q
        .filters
        .iter()
        .find(|(c, _)| c == "integration_id")
        .map(|(_, v)| v.as_str());
    let here = |i: &&Integration| i.target_arn == s.namespace_arn;
    match wanted {
        Some(id) => world
            .integration_by_id(id)
            .into_iter()
            .filter(here)
            .collect(),
        None => {
            let mut all: Vec<&Integration> = world
                .accounts
                .values()
                .flat_map(|a| a.regions.values())
                .flat_map(|r| r.integrations.values())
                .filter(here)
                .collect();
            all.sort_by(|a, b| a.id().cmp(b.id()));
            all
        }
    }
}

fn bound_database(world: &World, s: &Session, id: &str) -> Option<String> {
    world
        .region(&s.account, &s.region)?
        .warehouses
        .get(&s.namespace_arn)?
        .bound
        .get(id)
        .cloned()
}

/// The integration's tables: the source's seeded ones (Synced) with the control plane's states over them.
fn tables_of(world: &World, i: &Integration) -> Vec<TableState> {
    let mut tables: Vec<TableState> = source_tables(world, &i.source_arn)
        .iter()
        .map(|q| {
            let (schema, table) = q.split_once('.').unwrap_or(("public", q));
            TableState {
                schema: schema.into(),
                table: table.into(),
                state: "Synced".into(),
                reason: String::new(),
            }
        })
        .collect();
    for t in &i.replication.tables {
        match tables
            .iter_mut()
            .find(|x| x.schema == t.schema && x.table == t.table)
        {
            Some(x) => *x = t.clone(),
            None => tables.push(t.clone()),
        }
    }
    tables
}

/// Visible to superusers only, as in Redshift: others get no rows.
pub(super) fn svv_integration(world: &World, s: &Session, q: &Select) -> Result<ResultSet, String> {
    let mut rows = Vec::new();
    for i in integrations_here(world, s, q)
        .into_iter()
        .filter(|_| s.superuser)
    {
        let target = bound_database(world, s, i.id());
        let state = i.replication.state.clone().unwrap_or_else(|| {
            if i.status == "failed" {
                "ErrorState".into()
            } else if target.is_none() {
                "PendingDbConnectState".into()
            } else {
                "CdcRefreshState".into()
            }
        });
        let tables = tables_of(world, i);
        let failed = tables.iter().filter(|t| t.state == "Failed").count() as i64;
        let replicated = i
            .replication
            .tables_replicated
            .unwrap_or(source_tables(world, &i.source_arn).len() as i64);
        let source = source_engine(world, &i.source_arn).map(|e| {
            if e.contains("postgres") {
                "PostgreSQL".to_string()
            } else {
                "MySQL".to_string()
            }
        });
        let source_database = target
            .as_ref()
            .and_then(|d| {
                world
                    .region(&s.account, &s.region)?
                    .warehouses
                    .get(&s.namespace_arn)?
                    .databases
                    .get(d)
            })
            .and_then(|db| db.source_database.clone());
        rows.push(vec![
            i.id().into(),
            target.into(),
            source.into(),
            state.into(),
            i.replication.current_lag_ms.into(),
            Cell::Null,
            replicated.into(),
            failed.into(),
            timestamp(&i.create_time),
            0.into(),
            source_database.into(),
            false.into(),
        ]);
    }
    Ok(ResultSet {
        columns: vec![
            col("integration_id", "bpchar"),
            col("target_database", "varchar"),
            col("source", "varchar"),
            col("state", "varchar"),
            col("current_lag", "int8"),
            col("last_replicated_checkpoint", "varchar"),
            col("total_tables_replicated", "int4"),
            col("total_tables_failed", "int4"),
            col("creation_time", "timestamp"),
            col("refresh_interval", "int4"),
            col("source_database", "varchar"),
            col("is_history_mode", "bool"),
        ],
        rows,
    })
}

pub(super) fn integration_table_state(
    world: &World,
    s: &Session,
    q: &Select,
) -> Result<ResultSet, String> {
    let mut rows = Vec::new();
    for i in integrations_here(world, s, q)
        .into_iter()
        .filter(|_| s.superuser)
    {
        let target: Cell = bound_database(world, s, i.id()).into();
        for t in tables_of(world, i) {
            rows.push(vec![
                i.id().into(),
                target.clone(),
                t.schema.into(),
                t.table.into(),
                t.state.into(),
                Cell::Null,
                t.reason.into(),
                timestamp(&i.create_time),
                0.into(),
                0.into(),
                false.into(),
            ]);
        }
    }
    Ok(ResultSet {
        columns: vec![
            col("integration_id", "bpchar"),
            col("target_database", "varchar"),
            col("schema_name", "varchar"),
            col("table_name", "varchar"),
            col("table_state", "varchar"),
            col("table_last_replicated_checkpoint", "varchar"),
            col("reason", "varchar"),
            col("last_updated_timestamp", "timestamp"),
            col("table_rows", "int8"),
            col("table_size", "int8"),
            col("is_history_mode", "bool"),
        ],
        rows,
    })
}
