//! The Data API's SQL subset, run when a statement finishes: catalog SELECTs (`catalog.rs`), databases from
//! integrations, users, grants, schemas and tables (`exec.rs`), over the warehouse model in
//! `model::warehouse`. Statements run as a database identity; only superusers may change users and grants.

mod catalog;
mod databases;
mod exec;
mod integration_views;
mod lexer;
mod parse;

use chrono::{DateTime, Utc};

use crate::model::{Statement, World};
pub use parse::{parse, Stmt, SUPPORTED};

/// One value of a result row, encoded as the Data API's `Field` union.
#[derive(Clone, Debug, PartialEq)]
pub enum Cell {
    Null,
    Str(String),
    Long(i64),
    Bool(bool),
}

impl Cell {
    /// The value as a WHERE clause literal compares with it.
    pub fn as_text(&self) -> Option<String> {
        match self {
            Cell::Null => None,
            Cell::Str(s) => Some(s.clone()),
            Cell::Long(n) => Some(n.to_string()),
            Cell::Bool(b) => Some(b.to_string()),
        }
    }

    pub fn to_field(&self) -> serde_json::Value {
        use serde_json::json;
        match self {
            Cell::Null => json!({"isNull": true}),
            Cell::Str(s) => json!({"stringValue": s}),
            Cell::Long(n) => json!({"longValue": n}),
            Cell::Bool(b) => json!({"booleanValue": b}),
        }
    }
}

impl From<&str> for Cell {
    fn from(s: &str) -> Self {
        Cell::Str(s.to_string())
    }
}

impl From<String> for Cell {
    fn from(s: String) -> Self {
        Cell::Str(s)
    }
}

impl From<Option<String>> for Cell {
    fn from(s: Option<String>) -> Self {
        s.map_or(Cell::Null, Cell::Str)
    }
}

impl From<i64> for Cell {
    fn from(n: i64) -> Self {
        Cell::Long(n)
    }
}

impl From<bool> for Cell {
    fn from(b: bool) -> Self {
        Cell::Bool(b)
    }
}

/// A result column: its name and Redshift type name (`varchar`, `name`, `int4`, `int8`, `bool`, …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub type_name: &'static str,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ResultSet {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
}

impl ResultSet {
    pub fn column_metadata(&self) -> Vec<serde_json::Value> {
        self.columns
            .iter()
            .map(|c| {
                let numeric = matches!(c.type_name, "int4" | "int8");
                serde_json::json!({
                    "name": c.name, "label": c.name, "typeName": c.type_name,
                    "nullable": 1, "isSigned": numeric, "isCaseSensitive": !numeric && c.type_name != "bool",
                    "isCurrency": false, "precision": if numeric { 19 } else { 0 }, "scale": 0,
                    "length": 0, "schemaName": "", "tableName": "", "columnDefault": null,
                })
            })
            .collect()
    }

    pub fn records(&self) -> Vec<Vec<serde_json::Value>> {
        self.rows
            .iter()
            .map(|r| r.iter().map(Cell::to_field).collect())
            .collect()
    }
}

/// Who runs a statement, where.
#[derive(Clone, Debug)]
pub struct Session {
    pub namespace_arn: String,
    pub account: String,
    pub region: String,
    /// The database the statement connected to.
    pub database: String,
    /// The database user: `IAM:<user>` / `IAMR:<role>` (temporary credentials), the DbUser, or the admin.
    pub identity: String,
    pub superuser: bool,
}

/// Run a due statement and record FINISHED or FAILED.
pub fn finish_statement(
    world: &mut World,
    account: &str,
    region: &str,
    id: &str,
    now: DateTime<Utc>,
) {
    let Some(stmt) = world
        .region(account, region)
        .and_then(|r| r.statements.get(id))
        .cloned()
    else {
        return;
    };
    let outcome = run(world, &stmt);
    let Some(r) = world
        .accounts
        .get_mut(account)
        .and_then(|a| a.regions.get_mut(region))
    else {
        return;
    };
    r.finished_statements.push_back((now, id.to_string()));
    let Some(s) = r.statements.get_mut(id) else {
        return;
    };
    s.due = None;
    s.updated_at = now;
    match outcome {
        Ok(result) => {
            s.status = "FINISHED".into();
            s.has_result_set = result.is_some();
            s.result_rows = result.as_ref().map_or(0, |r| r.rows.len() as i64);
            s.result = result;
        }
        Err(e) => {
            s.status = "FAILED".into();
            s.error = Some(e);
        }
    }
}

fn run(world: &mut World, stmt: &Statement) -> Result<Option<ResultSet>, String> {
    let (account, region) = world
        .namespace_location(&stmt.namespace_arn)
        .ok_or("ERROR: the data warehouse no longer exists")?;
    let parsed = parse(&stmt.sql)?;
    let warehouse = world
        .region(&account, &region)
        .and_then(|r| r.warehouses.get(&stmt.namespace_arn))
        .ok_or("ERROR: the data warehouse no longer exists")?;
    // Inferred: identities the warehouse does not know as users (the operator's own IAM identity, a
    // DbUser, a secret) act as superusers, as they always did here; a session of a role whose policies
    // aws-sim enforces is a consumer and gets only what was granted to it.
    let superuser = match warehouse.users.get(&stmt.identity) {
        Some(u) => u.superuser,
        None => !stmt.consumer,
    };
    let session = Session {
        namespace_arn: stmt.namespace_arn.clone(),
        account,
        region,
        database: stmt.database.clone(),
        identity: stmt.identity.clone(),
        superuser,
    };
    match parsed {
        Stmt::Select(select) => catalog::select(world, &session, &select).map(Some),
        other => exec::execute(world, &session, other, &stmt.sql).map(|()| None),
    }
}
