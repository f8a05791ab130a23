//! Observation, reads only: the warehouse behind the connection (and the ARNs its permissions are scoped
//! to), the operator's own principal, the role in IAM (GetRole, ListRolePolicies, GetRolePolicy), the user
//! and its privileges through catalog queries on the Data API, run as the connection's identity.

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::future::try_join_all;
use zeroetl_api::arn::WarehouseKind;
use zeroetl_api::consumer::GrantType;
use zeroetl_api::{RedshiftConnectionSpec, RedshiftConsumer};

use super::observed::{Held, RoleSeen, RolesSeen, UserSeen, UsersSeen, WarehouseFacts};
use super::plan::grants::{self, Wanted};
use super::policy::{self, WarehouseScope};
use super::reasons;
use super::sql;
use crate::aws::data_api::{self, DataApiTarget, Query, Row, StatementEnd};
use crate::aws::{incomplete, sdk_error, AwsErrorKind, Clients, Identity};
use crate::error::{Error, Result};
use crate::warehouse::{self, Warehouse};
use crate::{timing, Context};

/// SQL as the connection's identity (the admin path the connection verified).
#[derive(Clone, Debug)]
pub struct Admin {
    pub clients: Arc<Clients>,
    pub warehouse: Warehouse,
    db_user: Option<String>,
    secret_arn: Option<String>,
}

impl Admin {
    pub fn new(
        clients: Arc<Clients>,
        warehouse: Warehouse,
        connection: &RedshiftConnectionSpec,
    ) -> Admin {
        Admin {
            clients,
            warehouse,
            db_user: connection.auth.db_user.clone(),
            secret_arn: connection.auth.secret_arn.clone(),
        }
    }

    pub fn target(&self, database: &str) -> DataApiTarget {
        warehouse::data_api_target(
            &self.warehouse,
            database.to_string(),
            self.db_user.clone(),
            self.secret_arn.clone(),
        )
    }

    /// The rows of a catalog query in `database`.
    async fn rows(&self, database: &str, query: String) -> Result<Vec<Row>> {
        match data_api::query(
            &self.clients,
            &self.target(database),
            &query,
            timing::CONSUMER_STATEMENT_DEADLINE,
        )
        .await?
        {
            Query::Rows(rows) => Ok(rows),
            Query::NotFinished(end) => Err(statement_error("a catalog query", database, end)),
        }
    }

    /// Runs one statement; an unfinished statement is an error (see [`statement_error`]).
    pub async fn execute(&self, s: &sql::Sql) -> Result<()> {
        match data_api::execute_and_wait(
            &self.clients,
            &self.target(&s.database),
            &s.text,
            timing::CONSUMER_STATEMENT_DEADLINE,
        )
        .await?
        {
            StatementEnd::Finished => Ok(()),
            end => Err(statement_error(&s.summary, &s.database, end)),
        }
    }
}

/// What a statement that did not finish means. Redshift reports SQL errors as text only (no SQLSTATE through
/// the Data API), so a missing object is recognised by its message here, and nowhere else.
pub fn statement_error(what: &str, database: &str, end: StatementEnd) -> Error {
    match end {
        StatementEnd::Failed(why) if why.contains("does not exist") => Error::waiting(
            reasons::OBJECT_NOT_FOUND,
            format!("{what} in database {database}: {why}"),
            timing::GRANT_OBJECT_RECHECK,
        ),
        StatementEnd::Failed(why) => Error::terminal(
            reasons::STATEMENT_FAILED,
            format!("{what} in database {database} failed: {why}"),
        ),
        StatementEnd::Aborted => Error::waiting(
            reasons::STATEMENT_FAILED,
            format!("{what} in database {database} was aborted"),
            timing::RETRY_DEFAULT,
        ),
        StatementEnd::Running { id } => Error::waiting(
            reasons::STATEMENT_RUNNING,
            format!("{what} in database {database} is still running (statement {id})"),
            timing::STATEMENT_RUNNING_RECHECK,
        ),
        StatementEnd::Finished => Error::terminal(reasons::STATEMENT_FAILED, "finished"),
    }
}

/// The warehouse and the ARNs the role's permissions are scoped to.
pub async fn facts(c: &Clients, connection: &RedshiftConnectionSpec) -> Result<WarehouseFacts> {
    let w = warehouse::of_connection(c, connection).await?;
    let scope = match (w.kind, &w.workgroup_name, &w.cluster_identifier) {
        (WarehouseKind::Serverless, Some(workgroup), _) => WarehouseScope::Serverless {
            // Workgroup ARNs end in the workgroup's id, not its name: ask.
            workgroup_arn: workgroup_arn(c, workgroup).await?,
            namespace_arn: w.namespace_arn.clone(),
        },
        (_, _, Some(cluster)) => WarehouseScope::Provisioned {
            region: w.region.clone(),
            account: w.account.clone(),
            cluster: cluster.clone(),
        },
        _ => {
            return Err(Error::waiting(
                reasons::ENDPOINT_PENDING,
                format!("{} has no workgroup yet", w.describe()),
                timing::ENDPOINT_PENDING_RECHECK,
            ))
        }
    };
    Ok(WarehouseFacts {
        warehouse: w,
        scope,
        database: connection.database.clone(),
    })
}

async fn workgroup_arn(c: &Clients, name: &str) -> Result<String> {
    let out = c
        .serverless
        .get_workgroup()
        .workgroup_name(name)
        .send()
        .await
        .map_err(|e| sdk_error("redshift-serverless", "GetWorkgroup", e))?;
    out.workgroup()
        .and_then(|w| w.workgroup_arn())
        .map(str::to_string)
        .ok_or_else(|| incomplete("redshift-serverless", "GetWorkgroup", "workgroupArn"))
}

/// The IAM principal the operator's own identity is (what it assumes consumer roles from).
pub async fn operator_principal(ctx: &Context, region: &str) -> Result<String> {
    let c = ctx.aws.clients(region, &Identity::Default).await?;
    let out = c
        .sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| sdk_error("sts", "GetCallerIdentity", e))?;
    let arn = out
        .arn()
        .ok_or_else(|| incomplete("sts", "GetCallerIdentity", "Arn"))?;
    Ok(policy::caller_principal(arn))
}

/// A role with its trust, tags and inline policies; `None` when IAM has no such role.
pub async fn role(c: &Clients, name: &str) -> Result<Option<RoleSeen>> {
    let out = match c.iam.get_role().role_name(name).send().await {
        Ok(out) => out,
        Err(e) => {
            let e = sdk_error("iam", "GetRole", e);
            return if e.is_aws(AwsErrorKind::NotFound) {
                Ok(None)
            } else {
                Err(e)
            };
        }
    };
    let r = out
        .role()
        .ok_or_else(|| incomplete("iam", "GetRole", "Role"))?;
    let mut names = Vec::new();
    let mut marker = None;
    loop {
        let page = c
            .iam
            .list_role_policies()
            .role_name(name)
            .set_marker(marker.take())
            .send()
            .await
            .map_err(|e| sdk_error("iam", "ListRolePolicies", e))?;
        names.extend(page.policy_names().iter().cloned());
        match page.marker().filter(|_| page.is_truncated()) {
            Some(m) => marker = Some(m.to_string()),
            None => break,
        }
    }
    let documents = try_join_all(names.iter().map(|policy| async move {
        let out = c
            .iam
            .get_role_policy()
            .role_name(name)
            .policy_name(policy)
            .send()
            .await
            .map_err(|e| sdk_error("iam", "GetRolePolicy", e))?;
        Ok::<_, Error>((policy.clone(), policy::decode(out.policy_document())))
    }))
    .await?;
    Ok(Some(RoleSeen {
        name: r.role_name().to_string(),
        arn: r.arn().to_string(),
        trust: r.assume_role_policy_document().and_then(policy::decode),
        max_session_seconds: r.max_session_duration().unwrap_or(3600),
        tags: r
            .tags()
            .iter()
            .map(|t| (t.key().to_string(), t.value().to_string()))
            .collect(),
        policies: documents.into_iter().collect(),
    }))
}

/// A user, whether it is a superuser, the privileges it holds in `databases` (and on every database), and
/// the tables of the schemas SelectAllTables grants name. Queries run concurrently.
pub async fn user(
    admin: &Admin,
    connection_db: &str,
    name: &str,
    databases: &BTreeSet<String>,
    wanted: &[Wanted],
) -> Result<UserSeen> {
    let mut seen = UserSeen {
        name: name.to_string(),
        ..Default::default()
    };
    let all_tables: BTreeSet<(String, String)> = wanted
        .iter()
        .filter(|w| w.type_ == GrantType::SelectAllTables)
        .map(|w| (w.database.clone(), w.object.clone()))
        .collect();
    let tables = try_join_all(all_tables.iter().map(|(db, schema)| async move {
        let rows = admin.rows(db, sql::tables_query(schema)).await?;
        let names: BTreeSet<String> = rows.into_iter().filter_map(|r| cell(&r, 1)).collect();
        Ok::<_, Error>(((db.clone(), schema.clone()), names))
    }));
    let user_rows = admin.rows(connection_db, sql::user_query(name));
    let (tables, user_rows) = futures::try_join!(tables, user_rows)?;
    seen.tables = tables.into_iter().collect();
    let Some(row) = user_rows.first() else {
        return Ok(seen);
    };
    seen.exists = true;
    seen.superuser = cell(row, 1).is_some_and(|v| matches!(v.as_str(), "true" | "t" | "1"));

    let per_database = try_join_all(databases.iter().map(|db| async move {
        let (schemas, relations, defaults) = futures::try_join!(
            admin.rows(db, sql::schema_privileges_query(name)),
            admin.rows(db, sql::relation_privileges_query(name)),
            admin.rows(db, sql::default_privileges_query(name)),
        )?;
        let mut held = Vec::new();
        held.extend(schemas.iter().filter_map(|r| {
            Some(Held::Schema {
                database: db.clone(),
                schema: cell(r, 0)?,
                privilege: cell(r, 1)?.to_ascii_uppercase(),
            })
        }));
        held.extend(relations.iter().filter_map(|r| {
            Some(Held::Table {
                database: db.clone(),
                schema: cell(r, 0)?,
                table: cell(r, 1)?,
                privilege: cell(r, 2)?.to_ascii_uppercase(),
            })
        }));
        // Default privileges on functions or procedures are not the operator's to manage.
        held.extend(
            defaults
                .iter()
                .filter(|r| cell(r, 1).is_some_and(|t| t.eq_ignore_ascii_case("RELATION")))
                .filter_map(|r| {
                    Some(Held::Default {
                        database: db.clone(),
                        schema: cell(r, 0)?,
                        privilege: cell(r, 2)?.to_ascii_uppercase(),
                    })
                }),
        );
        Ok::<_, Error>(held)
    }));
    let database_rows = admin.rows(connection_db, sql::database_privileges_query(name));
    let (per_database, database_rows) = futures::try_join!(per_database, database_rows)?;
    seen.held.extend(per_database.into_iter().flatten());
    seen.held.extend(database_rows.iter().filter_map(|r| {
        Some(Held::Database {
            database: cell(r, 0)?,
            privilege: cell(r, 1)?.to_ascii_uppercase(),
        })
    }));
    Ok(seen)
}

/// The role the spec asks for, a role this object managed under another name, and the operator's principal.
pub async fn roles(
    ctx: &Context,
    obj: &RedshiftConsumer,
    admin: &Admin,
    region: &str,
) -> Result<RolesSeen> {
    let wanted_name = obj.role_name();
    let stale_name = obj
        .status
        .as_ref()
        .and_then(|s| s.role_arn.as_deref())
        .and_then(|arn| arn.rsplit('/').next())
        .filter(|n| Some(*n) != wanted_name.as_deref())
        .map(str::to_string);
    let c = &admin.clients;
    let operator = match obj.spec.role.as_ref().is_some_and(|r| r.trust_operator) {
        true => Some(operator_principal(ctx, region).await?),
        false => None,
    };
    let wanted = match &wanted_name {
        Some(n) => role(c, n).await?,
        None => None,
    };
    let stale = match &stale_name {
        Some(n) => role(c, n).await?,
        None => None,
    };
    Ok(RolesSeen {
        wanted,
        stale,
        operator,
    })
}

/// The user the spec asks for, with its privileges in the declared databases and those grants were applied
/// in before; a user this object managed under another name, with its privileges.
pub async fn users(
    obj: &RedshiftConsumer,
    admin: &Admin,
    facts: &WarehouseFacts,
    user_name: Option<&str>,
    wanted: &[grants::Wanted],
) -> Result<UsersSeen> {
    let status = obj.status.clone().unwrap_or_default();
    let previous: BTreeSet<String> = status.grant_databases.iter().cloned().collect();
    let mut databases = grants::databases(wanted);
    databases.extend(previous.iter().cloned());
    let wanted_user = match user_name {
        Some(n) => Some(user(admin, &facts.database, n, &databases, wanted).await?),
        None => None,
    };
    let stale = match status
        .database_user
        .filter(|u| Some(u.name.as_str()) != user_name)
    {
        Some(u) => Some(user(admin, &facts.database, &u.name, &previous, &[]).await?),
        None => None,
    };
    Ok(UsersSeen {
        wanted: wanted_user,
        stale,
    })
}

fn cell(row: &Row, i: usize) -> Option<String> {
    row.get(i).cloned().flatten()
}
