//! Statements that change a warehouse: CREATE DATABASE [FROM INTEGRATION], DROP DATABASE, CREATE/ALTER/DROP USER,
//! GRANT/REVOKE, ALTER DEFAULT PRIVILEGES, CREATE SCHEMA, CREATE TABLE. Error texts follow Redshift's
//! (PostgreSQL's) wording where known; the README marks the inferred ones.

use super::parse::{Grant, Object, Password, Stmt};
use super::Session;
use crate::model::warehouse::{grant, revoke, Database, DbUser, Warehouse};
use crate::model::{Region, World};

pub fn execute(world: &mut World, s: &Session, stmt: Stmt, text: &str) -> Result<(), String> {
    if let Stmt::CreateDatabase {
        name,
        integration,
        source_database,
    } = stmt
    {
        return super::databases::create_database(world, s, name, integration, source_database);
    }
    if let Stmt::DropDatabase { name, if_exists } = stmt {
        return super::databases::drop_database(world, s, &name, if_exists);
    }
    let Region {
        warehouses,
        db_users,
        grants: granted,
        ..
    } = world.region_mut(&s.account, &s.region);
    let w = warehouses
        .get_mut(&s.namespace_arn)
        .ok_or("ERROR: the data warehouse no longer exists")?;
    let legacy_users = db_users.entry(s.namespace_arn.clone()).or_default();
    match stmt {
        Stmt::CreateDatabase { .. } | Stmt::DropDatabase { .. } | Stmt::Select(_) => Ok(()),
        Stmt::CreateUser {
            name,
            password,
            superuser,
        } => {
            need_superuser(s, "create user")?;
            create_user(w, &name, password, superuser)?;
            legacy_users.push(name);
            Ok(())
        }
        Stmt::AlterUser { name, password } => {
            if !s.superuser && s.identity != name {
                return Err("ERROR: permission denied to alter user".into());
            }
            alter_user(w, &name, password)
        }
        Stmt::DropUser { names, if_exists } => {
            need_superuser(s, "drop user")?;
            drop_users(w, &names, if_exists)?;
            legacy_users.retain(|u| !names.contains(u));
            Ok(())
        }
        Stmt::Grant(g) => {
            change_grants(w, s, &g, true)?;
            granted
                .entry(s.namespace_arn.clone())
                .or_default()
                .push(text.trim().trim_end_matches(';').trim().to_string());
            Ok(())
        }
        Stmt::Revoke(g) => change_grants(w, s, &g, false),
        Stmt::DefaultPrivileges {
            schema,
            grant: give,
            privileges,
            users,
        } => {
            let privileges = expand(&privileges, TABLE_PRIVILEGES, TABLE_ALL, "relation")?;
            users_exist(w, &users)?;
            let db = database_mut(w, &s.database)?;
            if !s.superuser {
                return Err(format!("ERROR: permission denied for schema {schema}"));
            }
            let sch = db
                .schemas
                .get_mut(&schema)
                .ok_or_else(|| format!("ERROR: schema \"{schema}\" does not exist"))?;
            for u in &users {
                if give {
                    grant(&mut sch.default_privileges, u, &privileges);
                } else {
                    revoke(&mut sch.default_privileges, u, &privileges);
                }
            }
            Ok(())
        }
        Stmt::CreateSchema {
            name,
            if_not_exists,
        } => {
            let db = database_mut(w, &s.database)?;
            if !s.superuser && !holds(&db.privileges, &s.identity, "CREATE") {
                return Err(format!(
                    "ERROR: permission denied for database {}",
                    s.database
                ));
            }
            if db.schemas.contains_key(&name) {
                return if if_not_exists {
                    Ok(())
                } else {
                    Err(format!("ERROR: Schema \"{name}\" already exists"))
                };
            }
            db.schemas.insert(name, Default::default());
            Ok(())
        }
        Stmt::CreateTable {
            schema,
            table,
            if_not_exists,
        } => {
            let schema = schema.unwrap_or_else(|| "public".into());
            let db = database_mut(w, &s.database)?;
            let sch = db
                .schemas
                .get_mut(&schema)
                .ok_or_else(|| format!("ERROR: schema \"{schema}\" does not exist"))?;
            if !s.superuser && !holds(&sch.privileges, &s.identity, "CREATE") {
                return Err(format!("ERROR: permission denied for schema {schema}"));
            }
            if sch.tables.contains(&table) {
                return if if_not_exists {
                    Ok(())
                } else {
                    Err(format!("ERROR: Relation \"{table}\" already exists"))
                };
            }
            sch.create_table(&table);
            Ok(())
        }
    }
}

pub(super) fn need_superuser(s: &Session, what: &str) -> Result<(), String> {
    if s.superuser {
        Ok(())
    } else {
        Err(format!("ERROR: permission denied to {what}"))
    }
}

fn holds(grants: &crate::model::warehouse::Grants, user: &str, privilege: &str) -> bool {
    grants.get(user).is_some_and(|p| p.contains(privilege))
}

fn database_mut<'a>(w: &'a mut Warehouse, name: &str) -> Result<&'a mut Database, String> {
    w.databases
        .get_mut(name)
        .ok_or_else(|| format!("ERROR: database \"{name}\" does not exist"))
}

fn users_exist(w: &Warehouse, users: &[String]) -> Result<(), String> {
    match users.iter().find(|u| !w.users.contains_key(*u)) {
        Some(u) => Err(format!("ERROR: user \"{u}\" does not exist")),
        None => Ok(()),
    }
}

/// Plain-text password rules of CREATE/ALTER USER (an `md5…` hash is taken as it is).
fn check_password(pw: &str) -> Result<(), String> {
    let is_md5 =
        pw.len() == 35 && pw.starts_with("md5") && pw[3..].chars().all(|c| c.is_ascii_hexdigit());
    if is_md5 {
        return Ok(());
    }
    let len = pw.chars().count();
    if !(8..=64).contains(&len) {
        return Err("ERROR: Password must be 8 to 64 characters long.".into());
    }
    if !pw.chars().any(|c| c.is_ascii_uppercase()) {
        return Err("ERROR: Password must contain an uppercase character.".into());
    }
    if !pw.chars().any(|c| c.is_ascii_lowercase()) {
        return Err("ERROR: Password must contain a lowercase character.".into());
    }
    if !pw.chars().any(|c| c.is_ascii_digit()) {
        return Err("ERROR: Password must contain a number.".into());
    }
    let allowed = |c: char| ('!'..='~').contains(&c) && !matches!(c, '\'' | '"' | '\\' | '/' | '@');
    if !pw.chars().all(allowed) {
        return Err("ERROR: Password may use ASCII 33-126 except ' \" \\ / @ only.".into());
    }
    Ok(())
}

fn create_user(
    w: &mut Warehouse,
    name: &str,
    password: Password,
    superuser: bool,
) -> Result<(), String> {
    if name.eq_ignore_ascii_case("public") {
        return Err(format!("ERROR: user name \"{name}\" is reserved"));
    }
    if w.users.contains_key(name) {
        return Err(format!("ERROR: user \"{name}\" already exists"));
    }
    let (password_disabled, password) = match password {
        Password::Disabled if superuser => {
            return Err("ERROR: the password of a superuser cannot be disabled".into())
        }
        Password::Disabled => (true, None),
        Password::Text(pw) => {
            check_password(&pw)?;
            (false, Some(pw))
        }
    };
    let id = w.next_user_id;
    w.next_user_id += 1;
    w.users.insert(
        name.to_string(),
        DbUser {
            id,
            superuser,
            password_disabled,
            password,
        },
    );
    Ok(())
}

fn alter_user(w: &mut Warehouse, name: &str, password: Password) -> Result<(), String> {
    let u = w
        .users
        .get_mut(name)
        .ok_or_else(|| format!("ERROR: user \"{name}\" does not exist"))?;
    match password {
        Password::Disabled if u.superuser => {
            Err("ERROR: the password of a superuser cannot be disabled".into())
        }
        Password::Disabled => {
            u.password_disabled = true;
            u.password = None;
            Ok(())
        }
        Password::Text(pw) => {
            check_password(&pw)?;
            u.password_disabled = false;
            u.password = Some(pw);
            Ok(())
        }
    }
}

/// All or nothing, like PostgreSQL: every user is checked before any is dropped.
fn drop_users(w: &mut Warehouse, names: &[String], if_exists: bool) -> Result<(), String> {
    for name in names {
        if !w.users.contains_key(name) {
            if if_exists {
                continue;
            }
            return Err(format!("ERROR: user \"{name}\" does not exist"));
        }
        if *name == w.admin_user {
            return Err(format!(
                "ERROR: the admin user \"{name}\" cannot be dropped"
            ));
        }
        if w.holds_privileges(name) {
            return Err(format!(
                "ERROR: user \"{name}\" cannot be dropped because the user has a privilege on some object"
            ));
        }
    }
    for name in names {
        w.users.remove(name);
    }
    Ok(())
}

const SCHEMA_PRIVILEGES: &[&str] = &["USAGE", "CREATE", "DROP", "ALTER"];
const SCHEMA_ALL: &[&str] = &["USAGE", "CREATE"];
const TABLE_PRIVILEGES: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "DROP",
    "REFERENCES",
    "ALTER",
    "TRUNCATE",
];
const TABLE_ALL: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "DROP",
    "REFERENCES",
    "ALTER",
    "TRUNCATE",
];
const DATABASE_PRIVILEGES: &[&str] = &["CREATE", "TEMP", "USAGE"];
const DATABASE_ALL: &[&str] = &["CREATE", "TEMP"];

/// The privileges as stored: `ALL` expanded, `TEMPORARY` spelled `TEMP`; anything the object does not
/// have is an error.
fn expand(
    privileges: &[String],
    valid: &[&str],
    all: &[&str],
    kind: &str,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for p in privileges {
        let p = if p == "TEMPORARY" { "TEMP" } else { p.as_str() };
        if p == "ALL" {
            out.extend(all.iter().map(|a| a.to_string()));
        } else if valid.contains(&p) {
            out.push(p.to_string());
        } else {
            return Err(format!("ERROR: invalid privilege type {p} for {kind}"));
        }
    }
    Ok(out)
}

fn change_grants(w: &mut Warehouse, s: &Session, g: &Grant, give: bool) -> Result<(), String> {
    users_exist(w, &g.users)?;
    let apply = |grants: &mut crate::model::warehouse::Grants, privileges: &[String]| {
        for u in &g.users {
            if give {
                grant(grants, u, privileges);
            } else {
                revoke(grants, u, privileges);
            }
        }
    };
    match &g.object {
        Object::Databases(names) => {
            let privileges = expand(&g.privileges, DATABASE_PRIVILEGES, DATABASE_ALL, "database")?;
            for name in names {
                if !s.superuser {
                    return Err(format!("ERROR: permission denied for database {name}"));
                }
                database_mut(w, name)?;
            }
            for name in names {
                apply(&mut database_mut(w, name)?.privileges, &privileges);
            }
        }
        Object::Schemas(names) => {
            let privileges = expand(&g.privileges, SCHEMA_PRIVILEGES, SCHEMA_ALL, "schema")?;
            let db = database_mut(w, &s.database)?;
            for name in names {
                if !s.superuser {
                    return Err(format!("ERROR: permission denied for schema {name}"));
                }
                if !db.schemas.contains_key(name) {
                    return Err(format!("ERROR: schema \"{name}\" does not exist"));
                }
            }
            for name in names {
                apply(
                    &mut db.schemas.get_mut(name).expect("checked").privileges,
                    &privileges,
                );
            }
        }
        Object::AllTablesInSchemas(names) => {
            let privileges = expand(&g.privileges, TABLE_PRIVILEGES, TABLE_ALL, "relation")?;
            let db = database_mut(w, &s.database)?;
            for name in names {
                if !s.superuser {
                    return Err(format!("ERROR: permission denied for schema {name}"));
                }
                if !db.schemas.contains_key(name) {
                    return Err(format!("ERROR: schema \"{name}\" does not exist"));
                }
            }
            // Only the tables that exist now, as Redshift: default privileges cover later ones.
            for name in names {
                let sch = db.schemas.get_mut(name).expect("checked");
                for t in sch.tables.clone() {
                    apply(sch.table_privileges.entry(t).or_default(), &privileges);
                }
                sch.table_privileges.retain(|_, g| !g.is_empty());
            }
        }
        Object::Tables(tables) => {
            let privileges = expand(&g.privileges, TABLE_PRIVILEGES, TABLE_ALL, "relation")?;
            let db = database_mut(w, &s.database)?;
            let resolved: Vec<(String, String)> = tables
                .iter()
                .map(|(schema, t)| (schema.clone().unwrap_or_else(|| "public".into()), t.clone()))
                .collect();
            for (schema, t) in &resolved {
                if !db.schemas.get(schema).is_some_and(|s| s.tables.contains(t)) {
                    return Err(format!("ERROR: relation \"{schema}.{t}\" does not exist"));
                }
                if !s.superuser {
                    return Err(format!("ERROR: permission denied for relation {t}"));
                }
            }
            for (schema, t) in resolved {
                let sch = db.schemas.get_mut(&schema).expect("checked");
                apply(sch.table_privileges.entry(t).or_default(), &privileges);
                sch.table_privileges.retain(|_, g| !g.is_empty());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_rules() {
        assert!(check_password("Abcdefg1").is_ok());
        assert!(check_password(&format!("md5{}", "0123456789abcdef".repeat(2))).is_ok());
        for bad in [
            "Abcde1",
            "abcdefg1",
            "ABCDEFG1",
            "Abcdefgh",
            "Abcdefg1/",
            "Abcdef g1",
            "Abcdefg1@",
        ] {
            assert!(check_password(bad).is_err(), "{bad}");
        }
        assert!(
            check_password(&format!("A1{}", "b".repeat(63))).is_err(),
            "65 chars"
        );
    }
}
