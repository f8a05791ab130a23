//! The Data API's SQL subset: `SELECT 1`, `CREATE DATABASE x [FROM INTEGRATION 'id' [DATABASE 'y']]`,
//! `CREATE USER`, `GRANT …`. Anything else fails with a clear error. Statements run when they finish.

use chrono::{DateTime, Utc};
use regex::Regex;

use crate::model::World;

enum Sql {
    SelectOne,
    CreateDatabase {
        name: String,
        integration: Option<String>,
        source_db: Option<String>,
    },
    CreateUser {
        name: String,
    },
    Grant(String),
}

fn parse(sql: &str) -> Result<Sql, String> {
    let text = sql.trim().trim_end_matches(';').trim();
    let unquote = |s: &str| s.trim_matches('"').to_string();
    if Regex::new(r"(?i)^select\s+1$")
        .expect("static regex")
        .is_match(text)
    {
        return Ok(Sql::SelectOne);
    }
    let create_db = Regex::new(
        r#"(?is)^create\s+database\s+("[^"]+"|[A-Za-z_][A-Za-z0-9_$]*)(?:\s+from\s+integration\s+'([^']+)'(?:\s+database\s+(?:'([^']+)'|"([^"]+)"|([A-Za-z_][A-Za-z0-9_$]*)))?)?$"#,
    )
    .expect("static regex");
    if let Some(c) = create_db.captures(text) {
        return Ok(Sql::CreateDatabase {
            name: unquote(&c[1]),
            integration: c.get(2).map(|m| m.as_str().to_string()),
            source_db: c
                .get(3)
                .or(c.get(4))
                .or(c.get(5))
                .map(|m| m.as_str().to_string()),
        });
    }
    let create_user =
        Regex::new(r#"(?is)^create\s+user\s+("[^"]+"|[A-Za-z_][A-Za-z0-9_$:]*)(\s+.*)?$"#)
            .expect("static regex");
    if let Some(c) = create_user.captures(text) {
        return Ok(Sql::CreateUser {
            name: unquote(&c[1]),
        });
    }
    if Regex::new(r"(?is)^grant\s+.+\s+to\s+.+$")
        .expect("static regex")
        .is_match(text)
    {
        return Ok(Sql::Grant(text.to_string()));
    }
    Err(format!(
        "aws-sim supports only SELECT 1, CREATE DATABASE … [FROM INTEGRATION '…' [DATABASE '…']], CREATE USER and GRANT; got: {text}"
    ))
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
    let outcome = parse(&stmt.sql).and_then(|sql| run(world, &stmt.namespace_arn, sql));
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
        Ok(has_result) => {
            s.status = "FINISHED".into();
            s.has_result_set = has_result;
            s.result_rows = if has_result { 1 } else { 0 };
        }
        Err(e) => {
            s.status = "FAILED".into();
            s.error = Some(e);
        }
    }
}

fn run(world: &mut World, namespace_arn: &str, sql: Sql) -> Result<bool, String> {
    let (account, region) = world
        .namespace_location(namespace_arn)
        .ok_or("ERROR: the data warehouse no longer exists")?;
    match sql {
        Sql::SelectOne => Ok(true),
        Sql::CreateDatabase {
            name,
            integration,
            source_db,
        } => {
            if let Some(id) = &integration {
                let i = world
                    .integration_by_id(id)
                    .ok_or_else(|| format!("ERROR: Integration {id} not found"))?;
                if i.target_arn != namespace_arn {
                    return Err(format!(
                        "ERROR: Integration {id} does not target this data warehouse"
                    ));
                }
                if i.status != "active" {
                    return Err(format!(
                        "ERROR: Integration {id} is not active (status {})",
                        i.status
                    ));
                }
                let postgres =
                    source_engine(world, &i.source_arn).is_some_and(|e| e.contains("postgres"));
                if postgres && source_db.is_none() {
                    return Err("ERROR: a DATABASE clause naming the source database is required for PostgreSQL sources".into());
                }
            }
            let initial = initial_database(world, namespace_arn);
            let dbs = world
                .region_mut(&account, &region)
                .databases
                .entry(namespace_arn.to_string())
                .or_default();
            if dbs.contains(&name) || initial.as_deref() == Some(name.as_str()) {
                return Err(format!("ERROR: database \"{name}\" already exists"));
            }
            dbs.push(name);
            Ok(false)
        }
        Sql::CreateUser { name } => {
            let users = world
                .region_mut(&account, &region)
                .db_users
                .entry(namespace_arn.to_string())
                .or_default();
            if users.contains(&name) {
                return Err(format!("ERROR: user \"{name}\" already exists"));
            }
            users.push(name);
            Ok(false)
        }
        Sql::Grant(text) => {
            world
                .region_mut(&account, &region)
                .grants
                .entry(namespace_arn.to_string())
                .or_default()
                .push(text);
            Ok(false)
        }
    }
}

/// The database the warehouse was created with (e.g. `dev`), which always exists.
fn initial_database(world: &World, namespace_arn: &str) -> Option<String> {
    let (account, region) = world.namespace_location(namespace_arn)?;
    let r = world.region(&account, &region)?;
    r.serverless_namespaces
        .values()
        .find(|n| n.arn == namespace_arn)
        .map(|n| n.db_name.clone())
        .or_else(|| {
            r.redshift_clusters
                .values()
                .find(|c| c.namespace_arn == namespace_arn)
                .map(|c| c.db_name.clone())
        })
}

fn source_engine(world: &World, source_arn: &str) -> Option<String> {
    let parts: Vec<&str> = source_arn.splitn(7, ':').collect();
    let [_, _, _, region, account, kind, id] = parts.as_slice() else {
        return None;
    };
    let r = world.region(account, region)?;
    match *kind {
        "cluster" => r.db_clusters.get(*id).map(|c| c.engine.clone()),
        _ => r.db_instances.get(*id).map(|i| i.engine.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_database_from_integration_parses_both_forms() {
        match parse("CREATE DATABASE orders FROM INTEGRATION 'abc-123' DATABASE 'billing';")
            .expect("parses")
        {
            Sql::CreateDatabase {
                name,
                integration,
                source_db,
            } => {
                assert_eq!(name, "orders");
                assert_eq!(integration.as_deref(), Some("abc-123"));
                assert_eq!(source_db.as_deref(), Some("billing"));
            }
            _ => panic!("wrong statement kind"),
        }
        assert!(matches!(
            parse("create database x from integration 'i'"),
            Ok(Sql::CreateDatabase {
                source_db: None,
                ..
            })
        ));
        assert!(parse("DROP TABLE x").is_err());
    }
}
