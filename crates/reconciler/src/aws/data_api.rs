//! The Redshift Data API, the one way the operator runs SQL: a single ExecuteStatement (never
//! BatchExecuteStatement: `CREATE DATABASE` cannot run inside a transaction), then DescribeStatement until it
//! ends or a deadline passes (the Data API has no push notification, so this polls, slowly growing), and for
//! queries, GetStatementResult. A pass waits for a statement only briefly
//! (`timing::STATEMENT_INLINE_WAIT`): a slower one is remembered and the next pass asks about it again
//! instead of submitting it twice, so a cold warehouse never holds a worker slot for long.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_redshiftdata::types::{Field, StatusString};
use parking_lot::Mutex;
use tokio::time::{sleep, Instant};

use super::error::sdk_error;
use super::Clients;
use crate::error::Result;
use crate::timing;

/// Where and as whom a statement runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataApiTarget {
    pub workgroup_name: Option<String>,
    pub cluster_identifier: Option<String>,
    /// The database to connect to.
    pub database: String,
    /// Provisioned clusters: the database user temporary credentials are issued for.
    pub db_user: Option<String>,
    /// A Secrets Manager secret holding database credentials, instead of temporary credentials.
    pub secret_arn: Option<String>,
}

/// Statements a pass submitted and stopped waiting for, by target and text, with their id and submit time.
/// One set per [`Clients`] (region and identity), so only the same caller sees them.
#[derive(Debug, Default)]
pub struct Submitted(Mutex<HashMap<String, (String, Instant)>>);

impl Submitted {
    /// The statement submitted for `key` within `deadline`, taken out of the set.
    fn take(&self, key: &str, deadline: Duration) -> Option<(String, Instant)> {
        let mut all = self.0.lock();
        // Entries whose pass never came back (the object went away) age out here.
        all.retain(|_, (_, at)| at.elapsed() < timing::STATEMENT_FORGET_AFTER);
        all.remove(key).filter(|(_, at)| at.elapsed() < deadline)
    }

    fn put(&self, key: String, id: String, at: Instant) {
        self.0.lock().insert(key, (id, at));
    }
}

/// How a statement ended within its deadline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StatementEnd {
    Finished,
    /// Redshift refused or failed it; the error text says why.
    Failed(String),
    Aborted,
    /// Still submitted, picked or started at the deadline.
    Running {
        id: String,
    },
}

/// Runs `sql` and waits up to `deadline` for it to end.
pub async fn execute_and_wait(
    c: &Clients,
    target: &DataApiTarget,
    sql: &str,
    deadline: Duration,
) -> Result<StatementEnd> {
    run(c, target, sql, deadline).await.map(|(_, end)| end)
}

/// One row of a query result, each column as text (`None` for NULL), in the order the query named them.
pub type Row = Vec<Option<String>>;

/// How a query ended: its rows, or the end of a statement that did not finish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    Rows(Vec<Row>),
    /// Failed, aborted or still running at the deadline (never `Finished`).
    NotFinished(StatementEnd),
}

/// Runs a query, waits up to `deadline`, and reads every page of its result (GetStatementResult).
pub async fn query(
    c: &Clients,
    target: &DataApiTarget,
    sql: &str,
    deadline: Duration,
) -> Result<Query> {
    let (id, end) = run(c, target, sql, deadline).await?;
    if end != StatementEnd::Finished {
        return Ok(Query::NotFinished(end));
    }
    let mut rows = Vec::new();
    let mut next_token = None;
    loop {
        let page = c
            .data
            .get_statement_result()
            .id(&id)
            .set_next_token(next_token.take())
            .send()
            .await
            .map_err(|e| sdk_error("redshift-data", "GetStatementResult", e))?;
        rows.extend(
            page.records()
                .iter()
                .map(|record| record.iter().map(text).collect::<Row>()),
        );
        match page.next_token() {
            Some(t) if !t.is_empty() => next_token = Some(t.to_string()),
            _ => return Ok(Query::Rows(rows)),
        }
    }
}

fn text(field: &Field) -> Option<String> {
    match field {
        Field::StringValue(s) => Some(s.clone()),
        Field::LongValue(n) => Some(n.to_string()),
        Field::BooleanValue(b) => Some(b.to_string()),
        Field::DoubleValue(d) => Some(d.to_string()),
        Field::IsNull(true) => None,
        Field::IsNull(false) => Some(String::new()),
        // Catalog queries read no binary columns; kept total.
        _ => None,
    }
}

/// The one poll loop: ExecuteStatement (or the same statement an earlier pass submitted), then
/// DescribeStatement until the statement ends, this pass's short wait is over, or `deadline` (counted from
/// the submission) passes. Returns the statement id and how it ended.
async fn run(
    c: &Clients,
    target: &DataApiTarget,
    sql: &str,
    deadline: Duration,
) -> Result<(String, StatementEnd)> {
    let key = format!("{target:?}|{sql}");
    let (id, submitted) = match c.statements.take(&key, deadline) {
        Some(earlier) => earlier,
        None => {
            let out = c
                .data
                .execute_statement()
                .sql(sql)
                .database(&target.database)
                .set_workgroup_name(target.workgroup_name.clone())
                .set_cluster_identifier(target.cluster_identifier.clone())
                .set_db_user(target.db_user.clone())
                .set_secret_arn(target.secret_arn.clone())
                .send()
                .await
                .map_err(|e| sdk_error("redshift-data", "ExecuteStatement", e))?;
            (out.id().unwrap_or_default().to_string(), Instant::now())
        }
    };
    let until = (Instant::now() + timing::STATEMENT_INLINE_WAIT).min(submitted + deadline);
    let mut pause = timing::STATEMENT_POLL_START;
    loop {
        let described = c
            .data
            .describe_statement()
            .id(&id)
            .send()
            .await
            .map_err(|e| sdk_error("redshift-data", "DescribeStatement", e))?;
        let end = match described.status() {
            Some(StatusString::Finished) => StatementEnd::Finished,
            Some(StatusString::Failed) => StatementEnd::Failed(
                described
                    .error()
                    .unwrap_or("the statement failed without an error message")
                    .to_string(),
            ),
            Some(StatusString::Aborted) => StatementEnd::Aborted,
            _ if Instant::now() + pause > until => {
                // Asked about again by the next pass, until the deadline.
                if submitted.elapsed() < deadline {
                    c.statements.put(key, id.clone(), submitted);
                }
                StatementEnd::Running { id: id.clone() }
            }
            _ => {
                sleep(pause).await;
                pause = (pause * 2).min(timing::STATEMENT_POLL_MAX);
                continue;
            }
        };
        return Ok((id, end));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{operator_clients, sample_sim};

    fn analytics() -> DataApiTarget {
        DataApiTarget {
            workgroup_name: Some("analytics-wg".into()),
            cluster_identifier: None,
            database: "dev".into(),
            db_user: None,
            secret_arn: None,
        }
    }

    #[tokio::test]
    async fn a_slow_statement_frees_the_pass_and_is_asked_about_again_not_resubmitted() {
        let sim = sample_sim().await;
        sim.set_timings(aws_sim::Timings {
            statement: timing::STATEMENT_INLINE_WAIT * 2,
            ..aws_sim::Timings::all(Duration::from_millis(50))
        });
        let c = operator_clients(&sim).await;
        let executed = || {
            sim.counts()
                .get("redshift-data:ExecuteStatement")
                .copied()
                .unwrap_or_default()
        };
        let deadline = Duration::from_secs(30);

        let started = Instant::now();
        let first = execute_and_wait(&c, &analytics(), "SELECT 1", deadline)
            .await
            .unwrap();
        assert!(matches!(first, StatementEnd::Running { .. }), "{first:?}");
        assert!(
            started.elapsed() < timing::STATEMENT_INLINE_WAIT + Duration::from_secs(1),
            "the pass waited {:?}",
            started.elapsed()
        );
        // Later passes ask about the same statement until it ends.
        let mut end = first;
        while matches!(end, StatementEnd::Running { .. }) {
            end = execute_and_wait(&c, &analytics(), "SELECT 1", deadline)
                .await
                .unwrap();
        }
        assert_eq!(end, StatementEnd::Finished);
        assert_eq!(executed(), 1, "submitted once");
        // Once it ended, the same text is a new statement.
        let _ = execute_and_wait(&c, &analytics(), "SELECT 1", deadline).await;
        assert_eq!(executed(), 2);
    }
}
