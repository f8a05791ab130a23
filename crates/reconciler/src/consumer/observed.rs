//! What one pass saw of a consumer's world, in the shapes the planner reads: the warehouse (and the scope its
//! permissions are limited to), the role in IAM, the database user and the privileges it holds.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use super::password::Password;
use super::policy::WarehouseScope;
use crate::error::Error;
use crate::warehouse::Warehouse;

/// The warehouse behind the connection.
#[derive(Clone, Debug)]
pub struct WarehouseFacts {
    pub warehouse: Warehouse,
    pub scope: WarehouseScope,
    /// The connection's database: where users are created and database-level grants run.
    pub database: String,
}

/// An IAM role as GetRole, ListRolePolicies and GetRolePolicy show it.
#[derive(Clone, Debug, PartialEq)]
pub struct RoleSeen {
    pub name: String,
    pub arn: String,
    /// `None` when IAM returned something that is not JSON (it is then rewritten).
    pub trust: Option<Value>,
    pub max_session_seconds: i32,
    pub tags: BTreeMap<String, String>,
    pub policies: BTreeMap<String, Option<Value>>,
}

/// The roles a pass looked at.
#[derive(Clone, Debug, Default)]
pub struct RolesSeen {
    /// The role the spec asks for; `None` when IAM has no such role (or the spec asks for none).
    pub wanted: Option<RoleSeen>,
    /// A role this object managed under another name (status.roleArn), still in IAM.
    pub stale: Option<RoleSeen>,
    /// The operator's own principal, for the trust policy (when the spec trusts the operator).
    pub operator: Option<String>,
}

/// One privilege a database user holds, as the catalog views report it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Held {
    Schema {
        database: String,
        schema: String,
        privilege: String,
    },
    Table {
        database: String,
        schema: String,
        table: String,
        privilege: String,
    },
    /// A default privilege on tables created later in a schema.
    Default {
        database: String,
        schema: String,
        privilege: String,
    },
    Database {
        database: String,
        privilege: String,
    },
}

/// A database user and its privileges in the databases that were looked at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UserSeen {
    pub name: String,
    pub exists: bool,
    pub superuser: bool,
    pub held: BTreeSet<Held>,
    /// The tables of each (database, schema) a SelectAllTables grant names.
    pub tables: BTreeMap<(String, String), BTreeSet<String>>,
}

/// The users a pass looked at.
#[derive(Clone, Debug, Default)]
pub struct UsersSeen {
    /// The user the spec asks for.
    pub wanted: Option<UserSeen>,
    /// A user this object managed under another name (status.databaseUser), still in the warehouse.
    pub stale: Option<UserSeen>,
}

/// Everything one pass saw. Role and user observations fail independently, so that a missing database does
/// not hold up the role, nor an IAM problem the user.
#[derive(Debug)]
pub struct Observation {
    pub facts: WarehouseFacts,
    pub roles: Result<RolesSeen, Error>,
    pub users: Result<UsersSeen, Error>,
    /// The password in this object's password Secret, when there is one.
    pub password: Option<Password>,
}
