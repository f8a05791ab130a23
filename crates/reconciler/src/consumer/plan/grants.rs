//! GrantsApplied: the user holds exactly the declared privileges. What is declared and missing is granted;
//! what the user holds and nothing declared covers is revoked — in the databases the spec names, the ones
//! grants were applied in before (status.grantDatabases), and every database-level privilege.

use std::collections::BTreeSet;

use zeroetl_api::conditions::GRANTS_APPLIED;
use zeroetl_api::consumer::{Grant, GrantType};

use super::{reasons, Action, Step};
use crate::consumer::observed::{Held, UserSeen};
use crate::consumer::sql::{self, privilege_keyword, CATALOG_SCHEMA};

/// A declared grant with its database resolved. `object` is the schema, the view, or the database itself.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Wanted {
    pub type_: GrantType,
    pub database: String,
    pub object: String,
}

impl Wanted {
    fn describe(&self) -> String {
        match self.type_ {
            GrantType::DatabaseTemporary | GrantType::DatabaseCreate => {
                format!("{:?} on {}", self.type_, self.database)
            }
            _ => format!("{:?} on {}.{}", self.type_, self.database, self.object),
        }
    }
}

/// The declared grants, each with its database (default: the connection's).
pub fn wanted(grants: &[Grant], connection_db: &str) -> Vec<Wanted> {
    let mut out: Vec<Wanted> = grants
        .iter()
        .map(|g| {
            let database = g
                .database
                .clone()
                .unwrap_or_else(|| connection_db.to_string());
            let object = g
                .schema
                .clone()
                .or_else(|| g.view.clone())
                .unwrap_or_else(|| database.clone());
            Wanted {
                type_: g.type_,
                database,
                object,
            }
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The databases whose per-database catalog views hold the declared schema and view grants.
pub fn databases(wanted: &[Wanted]) -> BTreeSet<String> {
    wanted
        .iter()
        .filter(|w| {
            !matches!(
                w.type_,
                GrantType::DatabaseTemporary | GrantType::DatabaseCreate
            )
        })
        .map(|w| w.database.clone())
        .collect()
}

/// Whether the user holds what `w` declares.
pub fn satisfied(w: &Wanted, user: &UserSeen) -> bool {
    let holds = |h: Held| user.held.contains(&h);
    let schema = |privilege: &str| Held::Schema {
        database: w.database.clone(),
        schema: w.object.clone(),
        privilege: privilege.into(),
    };
    let database = |privilege: &str| Held::Database {
        database: w.database.clone(),
        privilege: privilege.into(),
    };
    let table = |schema: &str, table: &str| Held::Table {
        database: w.database.clone(),
        schema: schema.into(),
        table: table.into(),
        privilege: "SELECT".into(),
    };
    match w.type_ {
        GrantType::SchemaUsage => holds(schema("USAGE")),
        GrantType::SchemaDrop => holds(schema("DROP")),
        GrantType::SelectAllTables => user
            .tables
            .get(&(w.database.clone(), w.object.clone()))
            .is_none_or(|tables| tables.iter().all(|t| holds(table(&w.object, t)))),
        GrantType::SelectFutureTables => holds(Held::Default {
            database: w.database.clone(),
            schema: w.object.clone(),
            privilege: "SELECT".into(),
        }),
        GrantType::SelectSystemView => holds(table(CATALOG_SCHEMA, &w.object)),
        GrantType::DatabaseTemporary => holds(database("TEMP")) || holds(database("TEMPORARY")),
        GrantType::DatabaseCreate => holds(database("CREATE")),
    }
}

/// Whether a privilege the user holds is what some declared grant gives. Tables that got SELECT through a
/// default privilege are covered by SelectFutureTables, or revoking would fight the default.
fn covered(held: &Held, wanted: &[Wanted]) -> bool {
    let declared = |type_: GrantType, database: &str, object: &str| {
        wanted
            .iter()
            .any(|w| w.type_ == type_ && w.database == database && w.object == object)
    };
    match held {
        Held::Schema {
            database,
            schema,
            privilege,
        } => match privilege.as_str() {
            "USAGE" => declared(GrantType::SchemaUsage, database, schema),
            "DROP" => declared(GrantType::SchemaDrop, database, schema),
            _ => false,
        },
        Held::Table {
            database,
            schema,
            table,
            privilege,
        } => {
            privilege == "SELECT"
                && if schema == CATALOG_SCHEMA {
                    declared(GrantType::SelectSystemView, database, table)
                } else {
                    declared(GrantType::SelectAllTables, database, schema)
                        || declared(GrantType::SelectFutureTables, database, schema)
                }
        }
        Held::Default {
            database,
            schema,
            privilege,
        } => privilege == "SELECT" && declared(GrantType::SelectFutureTables, database, schema),
        Held::Database {
            database,
            privilege,
        } => match privilege.as_str() {
            "TEMP" | "TEMPORARY" => declared(GrantType::DatabaseTemporary, database, database),
            "CREATE" => declared(GrantType::DatabaseCreate, database, database),
            _ => false,
        },
    }
}

/// The grants step and its statements.
#[derive(Debug)]
pub struct GrantsPlan {
    pub step: Step,
    pub actions: Vec<Action>,
}

pub fn plan(wanted: &[Wanted], user: &UserSeen, connection_db: &str) -> GrantsPlan {
    let missing: Vec<&Wanted> = wanted.iter().filter(|w| !satisfied(w, user)).collect();
    let extra: BTreeSet<Held> = user
        .held
        .iter()
        .filter(|h| !covered(h, wanted))
        .cloned()
        .collect();
    let mut actions: Vec<Action> = missing
        .iter()
        .map(|w| Action::Sql {
            step: GRANTS_APPLIED,
            event: reasons::GRANTED_EVENT,
            sql: sql::grant(w.type_, &w.database, &w.object, &user.name, connection_db),
        })
        .collect();
    actions.extend(revokes(&extra, &user.name, connection_db, GRANTS_APPLIED));
    let step = if actions.is_empty() {
        Step::passed(
            reasons::IN_SYNC,
            format!(
                "{} holds exactly the {} declared grants",
                user.name,
                wanted.len()
            ),
        )
    } else {
        let names: Vec<String> = missing.iter().map(|w| w.describe()).collect();
        Step::passed(
            reasons::APPLIED,
            format!(
                "granting {} ({}) and revoking {} other privileges",
                missing.len(),
                names.join(", "),
                actions.len() - missing.len()
            ),
        )
    };
    GrantsPlan { step, actions }
}

/// REVOKE for every privilege the user holds (before DROP USER).
pub fn revoke_everything(user: &UserSeen, connection_db: &str, step: &'static str) -> Vec<Action> {
    revokes(&user.held, &user.name, connection_db, step)
}

/// The statements that take `held` away. Table privileges outside pg_catalog go schema by schema (`ON ALL
/// TABLES IN SCHEMA`), since nothing declared covers any table of that schema for that privilege.
fn revokes(
    held: &BTreeSet<Held>,
    user: &str,
    connection_db: &str,
    step: &'static str,
) -> Vec<Action> {
    let mut statements = Vec::new();
    let mut per_schema: BTreeSet<(String, String, &'static str)> = BTreeSet::new();
    for h in held {
        match h {
            Held::Schema {
                database,
                schema,
                privilege,
            } => statements.extend(
                privilege_keyword(privilege)
                    .map(|p| sql::revoke_on_schema(database, p, schema, user)),
            ),
            Held::Table {
                database,
                schema,
                table,
                privilege,
            } => {
                let Some(p) = privilege_keyword(privilege) else {
                    continue;
                };
                if schema == CATALOG_SCHEMA {
                    statements.push(sql::revoke_on_table(database, p, schema, table, user));
                } else {
                    per_schema.insert((database.clone(), schema.clone(), p));
                }
            }
            Held::Default {
                database,
                schema,
                privilege,
            } => statements.extend(
                privilege_keyword(privilege)
                    .map(|p| sql::revoke_default(database, p, schema, user)),
            ),
            Held::Database {
                database,
                privilege,
            } => statements.extend(
                privilege_keyword(privilege)
                    .map(|p| sql::revoke_on_database(connection_db, p, database, user)),
            ),
        }
    }
    for (database, schema, p) in per_schema {
        statements.push(sql::revoke_on_all_tables(&database, p, &schema, user));
    }
    statements
        .into_iter()
        .map(|sql| Action::Sql {
            step,
            event: reasons::REVOKED_EVENT,
            sql,
        })
        .collect()
}
