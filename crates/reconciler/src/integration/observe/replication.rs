//! Replication health and the destination database's binding, read from Redshift's own views through the
//! Data API: `SVV_INTEGRATION` (which database an integration feeds, its state, lag and table counts),
//! `SVV_INTEGRATION_TABLE_STATE` (the failed tables and why) and `pg_database` (whether the wanted name is
//! taken). Read only during full checks (a slow interval), never on a steady pass.

use zeroetl_api::arn::integration_id;

use crate::aws::data_api::{query, DataApiTarget, Query, Row};
use crate::aws::Clients;
use crate::error::Result;
use crate::integration::observed::{AwsIntegration, Observed, ReplicationState};
use crate::timing;

/// At most this many failed tables are listed in status.
const FAILED_TABLES_LISTED: usize = 20;

/// A single-quoted SQL literal (`'` doubled).
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

pub async fn observe_replication(
    c: &Clients,
    target: &DataApiTarget,
    integration: &AwsIntegration,
    wanted_database: Option<&str>,
) -> Result<Observed<ReplicationState>> {
    let Some(id) = integration_id(&integration.arn) else {
        return Ok(Observed::NotFound(format!(
            "integration ARN {} has no id",
            integration.arn
        )));
    };
    let sql = format!(
        "SELECT integration_id, target_database, source, state, current_lag, total_tables_replicated, total_tables_failed, source_database FROM svv_integration WHERE integration_id = {}",
        literal(id)
    );
    let found = match rows(c, target, &sql).await? {
        Ok(rows) => rows,
        Err(why) => return Ok(Observed::NotFound(why)),
    };
    let Some(row) = found.first() else {
        return Ok(Observed::NotFound(format!(
            "SVV_INTEGRATION has no row for integration {id} yet"
        )));
    };
    let number = |i: usize| col(row, i).and_then(|v| v.parse::<i64>().ok());
    let mut seen = ReplicationState {
        target_database: col(row, 1).filter(|d| !d.is_empty()),
        state: col(row, 3),
        lag_ms: number(4),
        tables_replicated: number(5),
        tables_failed: number(6),
        failed_tables: Vec::new(),
        wanted_database_exists: None,
    };
    if seen.tables_failed.unwrap_or(0) > 0 {
        let sql = format!(
            "SELECT integration_id, target_database, schema_name, table_name, table_state, reason FROM svv_integration_table_state WHERE integration_id = {} AND table_state = 'Failed'",
            literal(id)
        );
        if let Ok(failed) = rows(c, target, &sql).await? {
            seen.failed_tables = failed
                .iter()
                .take(FAILED_TABLES_LISTED)
                .map(|r| {
                    let table = format!(
                        "{}.{}",
                        col(r, 2).unwrap_or_default(),
                        col(r, 3).unwrap_or_default()
                    );
                    (table, col(r, 5).unwrap_or_default())
                })
                .collect();
        }
    }
    if let (Some(name), None) = (wanted_database, &seen.target_database) {
        let sql = format!(
            "SELECT datname FROM pg_database WHERE datname = {}",
            literal(name)
        );
        if let Ok(found) = rows(c, target, &sql).await? {
            seen.wanted_database_exists = Some(!found.is_empty());
        }
    }
    Ok(Observed::Seen(seen))
}

fn col(row: &Row, i: usize) -> Option<String> {
    row.get(i).cloned().flatten()
}

/// The rows of a query, or why there are none (a failed or unfinished statement is an observation, not an
/// error of the pass).
async fn rows(
    c: &Clients,
    target: &DataApiTarget,
    sql: &str,
) -> Result<std::result::Result<Vec<Row>, String>> {
    Ok(
        match query(c, target, sql, timing::SELECT_ONE_DEADLINE).await? {
            Query::Rows(rows) => Ok(rows),
            Query::NotFinished(end) => {
                Err(format!("reading Redshift's integration views: {end:?}"))
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::literal;

    #[test]
    fn literals_double_their_quotes() {
        assert_eq!(literal("abc"), "'abc'");
        assert_eq!(literal("o'brien"), "'o''brien'");
    }
}
