//! The destination database, through the Redshift Data API: one ExecuteStatement (CREATE DATABASE cannot run
//! inside a transaction, so never BatchExecuteStatement), then DescribeStatement until it ends.

use std::time::{Duration, Instant};

use aws_sdk_redshiftdata::types::StatusString;
use zeroetl_api::RedshiftConnection;

use super::plan::CreateDatabase;
use crate::aws::Clients;
use crate::error::{aws, Category, Error, Result};
use crate::warehouse::Warehouse;

/// How long one reconcile waits for the statement; a slower one is retried (idempotently) next time.
const STATEMENT_DEADLINE: Duration = Duration::from_secs(30);

/// Where and as whom the statement runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataApiTarget {
    pub workgroup_name: Option<String>,
    pub cluster_identifier: Option<String>,
    /// The database to connect to (CREATE DATABASE runs from any database).
    pub database: String,
    pub db_user: Option<String>,
    pub secret_arn: Option<String>,
}

/// Redshift's default database, used when no RedshiftConnection names one.
const DEFAULT_DATABASE: &str = "dev";

/// The Data API target for a warehouse: the connection's database and credentials when the integration uses
/// one. A provisioned cluster without a configured user runs as its admin user (CREATE DATABASE needs
/// superuser or CREATEDB), found with one DescribeClusters.
pub async fn data_api_target(
    c: &Clients,
    warehouse: &Warehouse,
    connection: Option<&RedshiftConnection>,
) -> Result<DataApiTarget> {
    let auth = connection.map(|c| &c.spec.auth);
    let mut target = DataApiTarget {
        workgroup_name: warehouse.workgroup_name.clone(),
        cluster_identifier: warehouse
            .cluster_identifier
            .clone()
            .filter(|_| warehouse.workgroup_name.is_none()),
        database: connection
            .map(|c| c.spec.database.clone())
            .unwrap_or_else(|| DEFAULT_DATABASE.to_string()),
        db_user: auth.and_then(|a| a.db_user.clone()),
        secret_arn: auth.and_then(|a| a.secret_arn.clone()),
    };
    if let Some(cluster) = &target.cluster_identifier {
        if target.db_user.is_none() && target.secret_arn.is_none() {
            let out = c
                .redshift
                .describe_clusters()
                .cluster_identifier(cluster)
                .send()
                .await
                .map_err(|e| aws("redshift", "DescribeClusters", e))?;
            let found = out.clusters().first();
            target.db_user = found.and_then(|c| c.master_username()).map(str::to_string);
            if connection.is_none() {
                if let Some(db) = found.and_then(|c| c.db_name()) {
                    target.database = db.to_string();
                }
            }
        }
    }
    Ok(target)
}

/// Runs the statement and waits for it. A database that already exists (an earlier attempt that finished
/// after its reconcile gave up waiting) counts as created.
pub async fn create(c: &Clients, target: &DataApiTarget, db: &CreateDatabase) -> Result<()> {
    let out = c
        .data
        .execute_statement()
        .sql(db.sql())
        .database(&target.database)
        .set_workgroup_name(target.workgroup_name.clone())
        .set_cluster_identifier(target.cluster_identifier.clone())
        .set_db_user(target.db_user.clone())
        .set_secret_arn(target.secret_arn.clone())
        .send()
        .await
        .map_err(|e| aws("redshift-data", "ExecuteStatement", e))?;
    let id = out.id().unwrap_or_default().to_string();
    let started = Instant::now();
    let mut pause = Duration::from_millis(200);
    loop {
        let status = c
            .data
            .describe_statement()
            .id(&id)
            .send()
            .await
            .map_err(|e| aws("redshift-data", "DescribeStatement", e))?;
        match status.status() {
            Some(StatusString::Finished) => return Ok(()),
            Some(StatusString::Failed | StatusString::Aborted) => {
                let message = status
                    .error()
                    .unwrap_or("the statement failed without an error message")
                    .to_string();
                return statement_failed(&db.name, message);
            }
            _ if started.elapsed() >= STATEMENT_DEADLINE => {
                return Err(Error::waiting(
                    "StatementRunning",
                    format!(
                        "CREATE DATABASE {} is still running after {}s (statement {id})",
                        db.name,
                        STATEMENT_DEADLINE.as_secs()
                    ),
                    Duration::from_secs(10),
                ));
            }
            // The Data API has no push notification: poll, slowly growing, within the deadline above.
            _ => tokio::time::sleep(pause).await,
        }
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

fn statement_failed(name: &str, message: String) -> Result<()> {
    if message.to_ascii_lowercase().contains("already exists") {
        return Ok(());
    }
    Err(Error::Aws {
        service: "redshift-data",
        action: "ExecuteStatement",
        code: "CreateDatabaseFailed".into(),
        message: format!("CREATE DATABASE {name} failed: {message}"),
        // Often transient (the integration finishing its setup); retried with backoff.
        category: Category::Retryable,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_existing_database_counts_as_created_and_other_failures_are_retryable() {
        assert!(
            statement_failed("orders", "ERROR: database \"orders\" already exists".into()).is_ok()
        );
        let e =
            statement_failed("orders", "ERROR: Integration abc is not active".into()).unwrap_err();
        assert_eq!(
            (e.category(), e.reason().as_str()),
            (Category::Retryable, "CreateDatabaseFailed")
        );
        assert!(e.to_string().contains("not active"));
    }
}
