//! The Redshift Data API, the one way the operator runs SQL: a single ExecuteStatement (never
//! BatchExecuteStatement: `CREATE DATABASE` cannot run inside a transaction), then DescribeStatement until it
//! ends or a deadline passes. The Data API has no push notification, so this polls, slowly growing.

use std::time::Duration;

use aws_sdk_redshiftdata::types::StatusString;
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
    let id = out.id().unwrap_or_default().to_string();
    let until = Instant::now() + deadline;
    let mut pause = timing::STATEMENT_POLL_START;
    loop {
        let described = c
            .data
            .describe_statement()
            .id(&id)
            .send()
            .await
            .map_err(|e| sdk_error("redshift-data", "DescribeStatement", e))?;
        match described.status() {
            Some(StatusString::Finished) => return Ok(StatementEnd::Finished),
            Some(StatusString::Failed) => {
                let why = described
                    .error()
                    .unwrap_or("the statement failed without an error message");
                return Ok(StatementEnd::Failed(why.to_string()));
            }
            Some(StatusString::Aborted) => return Ok(StatementEnd::Aborted),
            _ if Instant::now() + pause > until => return Ok(StatementEnd::Running { id }),
            _ => sleep(pause).await,
        }
        pause = (pause * 2).min(timing::STATEMENT_POLL_MAX);
    }
}
