//! CREATE DATABASE, plain or FROM INTEGRATION (which binds the database to the integration and creates the
//! source's seeded tables in it), and what the SQL knows about an integration's source.

use super::exec::need_superuser;
use super::Session;
use crate::model::warehouse::Database;
use crate::model::{Region, World};

/// `schema.table` names seeded for a source (cluster or instance ARN), and its engine.
fn source_of(world: &World, source_arn: &str) -> Option<(String, Vec<String>)> {
    let parts: Vec<&str> = source_arn.splitn(7, ':').collect();
    let [_, _, _, region, account, kind, id] = parts.as_slice() else {
        return None;
    };
    let r = world.region(account, region)?;
    match *kind {
        "cluster" => r
            .db_clusters
            .get(*id)
            .map(|c| (c.engine.clone(), c.tables.clone())),
        _ => r
            .db_instances
            .get(*id)
            .map(|i| (i.engine.clone(), i.tables.clone())),
    }
}

pub fn source_tables(world: &World, source_arn: &str) -> Vec<String> {
    source_of(world, source_arn)
        .map(|(_, t)| t)
        .unwrap_or_default()
}

pub fn source_engine(world: &World, source_arn: &str) -> Option<String> {
    source_of(world, source_arn).map(|(e, _)| e)
}

pub(super) fn create_database(
    world: &mut World,
    s: &Session,
    name: String,
    integration: Option<String>,
    source_database: Option<String>,
) -> Result<(), String> {
    need_superuser(s, "create database")?;
    let mut tables = Vec::new();
    if let Some(id) = &integration {
        let i = world
            .integration_by_id(id)
            .ok_or_else(|| format!("ERROR: Integration {id} not found"))?;
        if i.target_arn != s.namespace_arn {
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
        let (engine, seeded) = source_of(world, &i.source_arn).unwrap_or_default();
        if engine.contains("postgres") && source_database.is_none() {
            return Err("ERROR: a DATABASE clause naming the source database is required for PostgreSQL sources".into());
        }
        tables = seeded;
    }
    let Region {
        warehouses,
        databases,
        ..
    } = world.region_mut(&s.account, &s.region);
    let w = warehouses
        .get_mut(&s.namespace_arn)
        .ok_or("ERROR: the data warehouse no longer exists")?;
    if w.databases.contains_key(&name) {
        return Err(format!("ERROR: database \"{name}\" already exists"));
    }
    let mut db = Database::with_standard_schemas();
    if let Some(id) = &integration {
        // Inferred: one destination database per integration.
        if let Some(other) = w.bound.get(id) {
            return Err(format!(
                "ERROR: Integration {id} already has the destination database \"{other}\""
            ));
        }
        w.bound.insert(id.clone(), name.clone());
        db.integration_id = Some(id.clone());
        db.source_database = source_database;
        for qualified in &tables {
            let (schema, table) = qualified.split_once('.').unwrap_or(("public", qualified));
            db.schemas
                .entry(schema.to_string())
                .or_default()
                .create_table(table);
        }
    }
    w.databases.insert(name.clone(), db);
    databases
        .entry(s.namespace_arn.clone())
        .or_default()
        .push(name);
    Ok(())
}

/// `DROP DATABASE [IF EXISTS] x` (superusers). Inferred: a database still fed by an existing integration
/// cannot be dropped; one whose integration is gone can.
pub(super) fn drop_database(
    world: &mut World,
    s: &Session,
    name: &str,
    if_exists: bool,
) -> Result<(), String> {
    need_superuser(s, "drop database")?;
    let feeding = {
        let Some(w) = world
            .region(&s.account, &s.region)
            .and_then(|r| r.warehouses.get(&s.namespace_arn))
        else {
            return Err("ERROR: the data warehouse no longer exists".into());
        };
        match w.databases.get(name) {
            None if if_exists => return Ok(()),
            None => return Err(format!("ERROR: database \"{name}\" does not exist")),
            Some(db) => db.integration_id.clone(),
        }
    };
    if let Some(id) = feeding.filter(|id| world.integration_by_id(id).is_some()) {
        return Err(format!(
            "ERROR: database \"{name}\" is the destination of integration {id} and cannot be dropped while it exists"
        ));
    }
    let Region {
        warehouses,
        databases,
        ..
    } = world.region_mut(&s.account, &s.region);
    if let Some(w) = warehouses.get_mut(&s.namespace_arn) {
        w.databases.remove(name);
        w.bound.retain(|_, db| db != name);
    }
    if let Some(list) = databases.get_mut(&s.namespace_arn) {
        list.retain(|d| d != name);
    }
    Ok(())
}
