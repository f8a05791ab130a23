//! SELECT over the catalog views the operator reads (users, privileges, tables, databases, integrations)
//! and over user tables (which hold no rows but check privileges). A view yields all its rows; WHERE
//! `column = 'literal'` conditions filter them and the select list projects them.

use super::integration_views::{integration_table_state, svv_integration};
use super::parse::{Item, Select};
use super::{Cell, Column, ResultSet, Session};
use crate::model::warehouse::{Grants, Warehouse};
use crate::model::World;

pub(super) fn col(name: &str, type_name: &'static str) -> Column {
    Column {
        name: name.to_string(),
        type_name,
    }
}

pub fn select(world: &World, s: &Session, q: &Select) -> Result<ResultSet, String> {
    let Some((schema, relation)) = &q.from else {
        return constants(q);
    };
    let w = world
        .region(&s.account, &s.region)
        .and_then(|r| r.warehouses.get(&s.namespace_arn))
        .ok_or("ERROR: the data warehouse no longer exists")?;
    let catalog_schema = schema.as_deref().is_none_or(|x| x == "pg_catalog");
    let view = match relation.as_str() {
        "pg_user" if catalog_schema => pg_user(w),
        "pg_database" if catalog_schema => pg_database(w),
        "svv_integration" if catalog_schema => svv_integration(world, s, q)?,
        "svv_integration_table_state" if catalog_schema => integration_table_state(world, s, q)?,
        "svv_database_privileges" if catalog_schema => privileges_view(
            w,
            s,
            &["database_name"],
            w.databases
                .iter()
                .map(|(name, db)| (vec![name.clone()], &db.privileges))
                .collect(),
        ),
        "svv_schema_privileges" if catalog_schema => {
            let db = connected(w, s)?;
            privileges_view(
                w,
                s,
                &["namespace_name"],
                db.schemas
                    .iter()
                    .map(|(name, sch)| (vec![name.clone()], &sch.privileges))
                    .collect(),
            )
        }
        "svv_relation_privileges" if catalog_schema => {
            let db = connected(w, s)?;
            let mut objects = Vec::new();
            for (schema, sch) in &db.schemas {
                for (table, grants) in &sch.table_privileges {
                    objects.push((vec![schema.clone(), table.clone()], grants));
                }
            }
            privileges_view(w, s, &["namespace_name", "relation_name"], objects)
        }
        "svv_default_privileges" if catalog_schema => default_privileges(w, s)?,
        "pg_tables" if catalog_schema => pg_tables(w, s)?,
        "svv_table_info" if catalog_schema => {
            check_select(w, s, "pg_catalog", "svv_table_info")?;
            table_info(w, s)?
        }
        table => {
            let schema = schema.as_deref().unwrap_or("public");
            check_select(w, s, schema, table)?;
            // User tables hold no rows here; the columns are whatever was asked for.
            let mut names: Vec<String> = q
                .items
                .iter()
                .filter_map(|i| match i {
                    Item::Column(c) => Some(c.clone()),
                    _ => None,
                })
                .collect();
            names.extend(q.filters.iter().map(|(c, _)| c.clone()));
            ResultSet {
                columns: names.iter().map(|n| col(n, "varchar")).collect(),
                rows: Vec::new(),
            }
        }
    };
    project(view, q)
}

/// `SELECT 1` and friends, without FROM.
fn constants(q: &Select) -> Result<ResultSet, String> {
    let mut row = Vec::new();
    for item in &q.items {
        match item {
            Item::Number(n) => row.push(Cell::Long(*n)),
            Item::Column(c) => return Err(format!("ERROR: column \"{c}\" does not exist")),
            Item::Star => {
                return Err("ERROR: SELECT * with no tables specified is not valid".into())
            }
        }
    }
    Ok(ResultSet {
        columns: row.iter().map(|_| col("?column?", "int4")).collect(),
        rows: vec![row],
    })
}

fn project(view: ResultSet, q: &Select) -> Result<ResultSet, String> {
    let index = |name: &str| {
        view.columns
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| format!("ERROR: column \"{name}\" does not exist"))
    };
    let filters: Vec<(usize, &str)> = q
        .filters
        .iter()
        .map(|(c, v)| index(c).map(|i| (i, v.as_str())))
        .collect::<Result<_, _>>()?;
    enum Pick {
        At(usize),
        Constant(i64),
    }
    let mut columns = Vec::new();
    let mut picks = Vec::new();
    for item in &q.items {
        match item {
            Item::Star => {
                for (i, c) in view.columns.iter().enumerate() {
                    columns.push(c.clone());
                    picks.push(Pick::At(i));
                }
            }
            Item::Column(name) => {
                let i = index(name)?;
                columns.push(view.columns[i].clone());
                picks.push(Pick::At(i));
            }
            Item::Number(n) => {
                columns.push(col("?column?", "int4"));
                picks.push(Pick::Constant(*n));
            }
        }
    }
    let rows = view
        .rows
        .into_iter()
        .filter(|r| {
            filters
                .iter()
                .all(|(i, v)| r[*i].as_text().as_deref() == Some(*v))
        })
        .map(|r| {
            picks
                .iter()
                .map(|p| match p {
                    Pick::At(i) => r[*i].clone(),
                    Pick::Constant(n) => Cell::Long(*n),
                })
                .collect()
        })
        .collect();
    Ok(ResultSet { columns, rows })
}

fn connected<'a>(
    w: &'a Warehouse,
    s: &Session,
) -> Result<&'a crate::model::warehouse::Database, String> {
    w.databases
        .get(&s.database)
        .ok_or_else(|| format!("ERROR: database \"{}\" does not exist", s.database))
}

/// Superusers read anything; others need USAGE on the schema and SELECT on the table.
fn check_select(w: &Warehouse, s: &Session, schema: &str, table: &str) -> Result<(), String> {
    let db = connected(w, s)?;
    let sch = db
        .schemas
        .get(schema)
        .filter(|sch| sch.tables.contains(table))
        .ok_or_else(|| format!("ERROR: relation \"{schema}.{table}\" does not exist"))?;
    if s.superuser {
        return Ok(());
    }
    let has = |g: Option<&Grants>, p: &str| {
        g.and_then(|g| g.get(&s.identity))
            .is_some_and(|held| held.contains(p))
    };
    // The catalog schema is usable by everyone, as in Redshift.
    if schema != "pg_catalog" && !has(Some(&sch.privileges), "USAGE") {
        return Err(format!("ERROR: permission denied for schema {schema}"));
    }
    if !has(sch.table_privileges.get(table), "SELECT") {
        return Err(format!("ERROR: permission denied for relation {table}"));
    }
    Ok(())
}

fn user_id(w: &Warehouse, name: &str) -> Cell {
    w.users.get(name).map_or(Cell::Null, |u| Cell::Long(u.id))
}

fn pg_user(w: &Warehouse) -> ResultSet {
    ResultSet {
        columns: vec![
            col("usename", "name"),
            col("usesysid", "int4"),
            col("usecreatedb", "bool"),
            col("usesuper", "bool"),
            col("usecatupd", "bool"),
            col("passwd", "varchar"),
            col("valuntil", "abstime"),
            col("useconfig", "_text"),
        ],
        rows: w
            .users
            .iter()
            .map(|(name, u)| {
                vec![
                    name.as_str().into(),
                    u.id.into(),
                    u.superuser.into(),
                    u.superuser.into(),
                    u.superuser.into(),
                    "********".into(),
                    Cell::Null,
                    Cell::Null,
                ]
            })
            .collect(),
    }
}

fn pg_database(w: &Warehouse) -> ResultSet {
    ResultSet {
        columns: vec![
            col("datname", "name"),
            col("datdba", "int4"),
            col("encoding", "int4"),
            col("datistemplate", "bool"),
            col("datallowconn", "bool"),
        ],
        rows: w
            .databases
            .keys()
            .map(|d| {
                vec![
                    d.as_str().into(),
                    user_id(w, &w.admin_user),
                    6.into(),
                    false.into(),
                    true.into(),
                ]
            })
            .collect(),
    }
}

/// One row per (object, identity, privilege); non-superusers see only their own rows.
fn privileges_view(
    w: &Warehouse,
    s: &Session,
    object_columns: &[&str],
    objects: Vec<(Vec<String>, &Grants)>,
) -> ResultSet {
    let mut columns: Vec<Column> = object_columns.iter().map(|c| col(c, "varchar")).collect();
    columns.extend([
        col("privilege_type", "varchar"),
        col("identity_id", "int4"),
        col("identity_name", "varchar"),
        col("identity_type", "varchar"),
        col("admin_option", "bool"),
    ]);
    let mut rows = Vec::new();
    for (names, grants) in objects {
        for (user, privileges) in grants {
            if !s.superuser && *user != s.identity {
                continue;
            }
            for p in privileges {
                let mut row: Vec<Cell> = names.iter().map(|n| n.as_str().into()).collect();
                row.extend([
                    p.as_str().into(),
                    user_id(w, user),
                    user.as_str().into(),
                    "user".into(),
                    false.into(),
                ]);
                rows.push(row);
            }
        }
    }
    ResultSet { columns, rows }
}

fn default_privileges(w: &Warehouse, s: &Session) -> Result<ResultSet, String> {
    let db = connected(w, s)?;
    let mut rows = Vec::new();
    for (schema, sch) in &db.schemas {
        for (grantee, privileges) in &sch.default_privileges {
            if !s.superuser && *grantee != s.identity {
                continue;
            }
            for p in privileges {
                rows.push(vec![
                    schema.as_str().into(),
                    "RELATION".into(),
                    user_id(w, &w.admin_user),
                    w.admin_user.as_str().into(),
                    "user".into(),
                    p.as_str().into(),
                    user_id(w, grantee),
                    grantee.as_str().into(),
                    "user".into(),
                    false.into(),
                ]);
            }
        }
    }
    Ok(ResultSet {
        columns: vec![
            col("schema_name", "varchar"),
            col("object_type", "varchar"),
            col("owner_id", "int4"),
            col("owner_name", "varchar"),
            col("owner_type", "varchar"),
            col("privilege_type", "varchar"),
            col("grantee_id", "int4"),
            col("grantee_name", "varchar"),
            col("grantee_type", "varchar"),
            col("admin_option", "bool"),
        ],
        rows,
    })
}

fn pg_tables(w: &Warehouse, s: &Session) -> Result<ResultSet, String> {
    let db = connected(w, s)?;
    let mut rows = Vec::new();
    for (schema, sch) in db.schemas.iter().filter(|(n, _)| *n != "pg_catalog") {
        for t in &sch.tables {
            rows.push(vec![
                schema.as_str().into(),
                t.as_str().into(),
                w.admin_user.as_str().into(),
                Cell::Null,
                false.into(),
                false.into(),
                false.into(),
            ]);
        }
    }
    Ok(ResultSet {
        columns: vec![
            col("schemaname", "name"),
            col("tablename", "name"),
            col("tableowner", "name"),
            col("tablespace", "name"),
            col("hasindexes", "bool"),
            col("hasrules", "bool"),
            col("hastriggers", "bool"),
        ],
        rows,
    })
}

fn table_info(w: &Warehouse, s: &Session) -> Result<ResultSet, String> {
    let db = connected(w, s)?;
    let mut rows = Vec::new();
    for (schema, sch) in db.schemas.iter().filter(|(n, _)| *n != "pg_catalog") {
        for t in &sch.tables {
            rows.push(vec![
                s.database.as_str().into(),
                schema.as_str().into(),
                (100_000 + rows.len() as i64).into(),
                t.as_str().into(),
                0.into(),
                0.into(),
            ]);
        }
    }
    Ok(ResultSet {
        columns: vec![
            col("database", "text"),
            col("schema", "text"),
            col("table_id", "oid"),
            col("table", "text"),
            col("size", "int8"),
            col("tbl_rows", "numeric"),
        ],
        rows,
    })
}
