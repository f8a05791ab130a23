//! What lives inside a Redshift warehouse (a serverless namespace or a provisioned cluster): database users,
//! databases with their schemas and tables, privileges on databases, schemas and tables, default privileges,
//! and which database each zero-ETL integration feeds. The SQL in `crate::sql` reads and changes it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::estate::DatabaseSeed;

/// Privileges, by the user holding them.
pub type Grants = BTreeMap<String, BTreeSet<String>>;

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DbUser {
    #[serde(skip)]
    pub id: i64,
    pub superuser: bool,
    /// `PASSWORD DISABLE`: the user can log in only with temporary IAM credentials.
    pub password_disabled: bool,
    /// Never dumped, never logged.
    #[serde(skip)]
    pub password: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Schema {
    pub tables: BTreeSet<String>,
    /// USAGE, CREATE, DROP.
    pub privileges: Grants,
    /// `ALTER DEFAULT PRIVILEGES IN SCHEMA … GRANT SELECT ON TABLES`: what new tables grant, by grantee.
    pub default_privileges: Grants,
    /// Table → grantee → SELECT, ….
    pub table_privileges: BTreeMap<String, Grants>,
}

impl Schema {
    /// Add a table and give it the schema's default privileges, as Redshift does for new tables.
    pub fn create_table(&mut self, table: &str) {
        self.tables.insert(table.to_string());
        for (user, privileges) in &self.default_privileges {
            self.table_privileges
                .entry(table.to_string())
                .or_default()
                .entry(user.clone())
                .or_default()
                .extend(privileges.iter().cloned());
        }
    }
}

#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Database {
    /// The integration this database was created from (`CREATE DATABASE … FROM INTEGRATION`).
    pub integration_id: Option<String>,
    /// The DATABASE clause of that statement, if any.
    pub source_database: Option<String>,
    /// CREATE, TEMP, by user.
    pub privileges: Grants,
    pub schemas: BTreeMap<String, Schema>,
}

impl Database {
    /// A database as Redshift creates it: `public` and the catalog schema with `svv_table_info`.
    pub fn with_standard_schemas() -> Self {
        let mut db = Database::default();
        db.schemas.insert("public".into(), Schema::default());
        db.schemas.insert(
            "pg_catalog".into(),
            Schema {
                tables: ["svv_table_info".to_string()].into(),
                ..Default::default()
            },
        );
        db
    }

    fn from_seed(seed: &DatabaseSeed) -> Self {
        let mut db = Database::with_standard_schemas();
        for (schema, tables) in &seed.schemas {
            let s = db.schemas.entry(schema.clone()).or_default();
            for t in tables {
                s.create_table(t);
            }
        }
        db
    }
}

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Warehouse {
    /// The database the warehouse was created with (e.g. `dev`).
    pub initial_database: String,
    /// The admin (serverless) or master (provisioned) user, a superuser.
    pub admin_user: String,
    pub users: BTreeMap<String, DbUser>,
    pub databases: BTreeMap<String, Database>,
    /// Integration id → the database bound to it.
    #[serde(skip)]
    pub bound: HashMap<String, String>,
    #[serde(skip)]
    pub next_user_id: i64,
}

impl Warehouse {
    pub fn new(
        initial_database: &str,
        admin_user: &str,
        seeded: &BTreeMap<String, DatabaseSeed>,
    ) -> Self {
        let mut databases: BTreeMap<String, Database> = seeded
            .iter()
            .map(|(name, seed)| (name.clone(), Database::from_seed(seed)))
            .collect();
        databases
            .entry(initial_database.to_string())
            .or_insert_with(Database::with_standard_schemas);
        let admin = DbUser {
            id: 100,
            superuser: true,
            password_disabled: false,
            password: None,
        };
        Warehouse {
            initial_database: initial_database.to_string(),
            admin_user: admin_user.to_string(),
            users: [(admin_user.to_string(), admin)].into(),
            databases,
            bound: HashMap::new(),
            next_user_id: 101,
        }
    }

    /// Whether `user` holds any privilege (or default privilege) anywhere in the warehouse.
    pub fn holds_privileges(&self, user: &str) -> bool {
        self.databases.values().any(|db| {
            db.privileges.contains_key(user)
                || db.schemas.values().any(|s| {
                    s.privileges.contains_key(user)
                        || s.default_privileges.contains_key(user)
                        || s.table_privileges.values().any(|g| g.contains_key(user))
                })
        })
    }
}

/// Add `privileges` for `user` to `grants`.
pub fn grant(grants: &mut Grants, user: &str, privileges: &[String]) {
    grants
        .entry(user.to_string())
        .or_default()
        .extend(privileges.iter().cloned());
}

/// Remove `privileges` of `user` from `grants` (dropping the user's entry once empty).
pub fn revoke(grants: &mut Grants, user: &str, privileges: &[String]) {
    if let Some(held) = grants.get_mut(user) {
        for p in privileges {
            held.remove(p);
        }
        if held.is_empty() {
            grants.remove(user);
        }
    }
}
