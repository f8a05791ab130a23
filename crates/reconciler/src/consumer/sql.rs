//! The SQL a consumer needs, built in one place: identifiers quoted as Redshift quotes them (`"`, doubled
//! inside), literals single-quoted (`'`, doubled inside), privilege keywords only from a fixed list. Names are
//! validated before any of this runs (zeroetl_api::validate_consumer); quoting is the second fence.
//!
//! A statement that carries a password hash prints as its summary, never its text.

use std::fmt;

use zeroetl_api::consumer::GrantType;

use super::password::Password;

/// `"name"`, with `"` doubled.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `'text'`, with `'` doubled (Redshift's standard_conforming_strings: backslashes are literal).
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// One statement and the database it runs in.
#[derive(Clone, PartialEq, Eq)]
pub struct Sql {
    pub database: String,
    pub text: String,
    /// The statement with any secret masked: what logs, events and messages show.
    pub summary: String,
}

impl fmt::Debug for Sql {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sql({} in {})", self.summary, self.database)
    }
}

impl Sql {
    fn plain(database: &str, text: String) -> Sql {
        Sql {
            database: database.to_string(),
            summary: text.clone(),
            text,
        }
    }
}

/// `CREATE USER … PASSWORD DISABLE` (temporary IAM credentials only) or with a password (as its MD5 hash, so
/// the plain text never leaves the operator).
pub fn create_user(database: &str, user: &str, password: Option<&Password>) -> Sql {
    with_password(database, "CREATE USER", user, password)
}

/// `ALTER USER … PASSWORD DISABLE | PASSWORD 'md5…'`.
pub fn alter_user_password(database: &str, user: &str, password: Option<&Password>) -> Sql {
    with_password(database, "ALTER USER", user, password)
}

fn with_password(database: &str, verb: &str, user: &str, password: Option<&Password>) -> Sql {
    let head = format!("{verb} {} PASSWORD", ident(user));
    match password {
        None => Sql::plain(database, format!("{head} DISABLE")),
        Some(p) => Sql {
            database: database.to_string(),
            text: format!("{head} {}", literal(&p.md5_for(user))),
            summary: format!("{head} '***'"),
        },
    }
}

pub fn drop_user(database: &str, user: &str) -> Sql {
    Sql::plain(database, format!("DROP USER {}", ident(user)))
}

/// The GRANT for one declared privilege. `database` is where it applies (the schema's database, or the
/// database itself); `object` the schema or view; `connection_db` where database-level grants run.
pub fn grant(
    type_: GrantType,
    database: &str,
    object: &str,
    user: &str,
    connection_db: &str,
) -> Sql {
    let (u, o, d) = (ident(user), ident(object), ident(database));
    match type_ {
        GrantType::SchemaUsage => Sql::plain(database, format!("GRANT USAGE ON SCHEMA {o} TO {u}")),
        GrantType::SchemaDrop => Sql::plain(database, format!("GRANT DROP ON SCHEMA {o} TO {u}")),
        GrantType::SelectAllTables => Sql::plain(
            database,
            format!("GRANT SELECT ON ALL TABLES IN SCHEMA {o} TO {u}"),
        ),
        GrantType::SelectFutureTables => Sql::plain(
            database,
            format!("ALTER DEFAULT PRIVILEGES IN SCHEMA {o} GRANT SELECT ON TABLES TO {u}"),
        ),
        GrantType::SelectSystemView => Sql::plain(
            database,
            format!("GRANT SELECT ON {}.{o} TO {u}", ident(CATALOG_SCHEMA)),
        ),
        GrantType::DatabaseTemporary => Sql::plain(
            connection_db,
            format!("GRANT TEMPORARY ON DATABASE {d} TO {u}"),
        ),
        GrantType::DatabaseCreate => Sql::plain(
            connection_db,
            format!("GRANT CREATE ON DATABASE {d} TO {u}"),
        ),
    }
}

/// The schema system views live in.
pub const CATALOG_SCHEMA: &str = "pg_catalog";

/// Privilege keywords the operator will put into a REVOKE. Anything else a catalog reports is left alone.
const KNOWN_PRIVILEGES: &[&str] = &[
    "USAGE",
    "CREATE",
    "DROP",
    "ALTER",
    "SELECT",
    "INSERT",
    "UPDATE",
    "DELETE",
    "REFERENCES",
    "TRUNCATE",
    "TEMP",
    "TEMPORARY",
    "RULE",
    "TRIGGER",
    "EXECUTE",
];

/// The keyword for a privilege a catalog reported, if it is one the operator knows (`TEMP` is written out).
pub fn privilege_keyword(reported: &str) -> Option<&'static str> {
    let upper = reported.trim().to_ascii_uppercase();
    let known = KNOWN_PRIVILEGES.iter().find(|k| **k == upper)?;
    Some(if *known == "TEMP" { "TEMPORARY" } else { known })
}

pub fn revoke_on_schema(database: &str, privilege: &str, schema: &str, user: &str) -> Sql {
    Sql::plain(
        database,
        format!(
            "REVOKE {privilege} ON SCHEMA {} FROM {}",
            ident(schema),
            ident(user)
        ),
    )
}

pub fn revoke_on_all_tables(database: &str, privilege: &str, schema: &str, user: &str) -> Sql {
    Sql::plain(
        database,
        format!(
            "REVOKE {privilege} ON ALL TABLES IN SCHEMA {} FROM {}",
            ident(schema),
            ident(user)
        ),
    )
}

pub fn revoke_on_table(
    database: &str,
    privilege: &str,
    schema: &str,
    table: &str,
    user: &str,
) -> Sql {
    Sql::plain(
        database,
        format!(
            "REVOKE {privilege} ON {}.{} FROM {}",
            ident(schema),
            ident(table),
            ident(user)
        ),
    )
}

pub fn revoke_default(database: &str, privilege: &str, schema: &str, user: &str) -> Sql {
    Sql::plain(
        database,
        format!(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA {} REVOKE {privilege} ON TABLES FROM {}",
            ident(schema),
            ident(user)
        ),
    )
}

pub fn revoke_on_database(connection_db: &str, privilege: &str, db: &str, user: &str) -> Sql {
    Sql::plain(
        connection_db,
        format!(
            "REVOKE {privilege} ON DATABASE {} FROM {}",
            ident(db),
            ident(user)
        ),
    )
}

// ---------------------------------------------------------------------------------------------------------
// Catalog queries (answered through GetStatementResult). Column order is what `observe` reads.

pub fn user_query(user: &str) -> String {
    format!(
        "SELECT usename, usesuper FROM pg_user WHERE usename = {}",
        literal(user)
    )
}

pub fn schema_privileges_query(user: &str) -> String {
    format!(
        "SELECT namespace_name, privilege_type FROM svv_schema_privileges WHERE identity_name = {}",
        literal(user)
    )
}

pub fn relation_privileges_query(user: &str) -> String {
    format!("SELECT namespace_name, relation_name, privilege_type FROM svv_relation_privileges WHERE identity_name = {}", literal(user))
}

pub fn default_privileges_query(user: &str) -> String {
    format!("SELECT schema_name, object_type, privilege_type FROM svv_default_privileges WHERE grantee_name = {}", literal(user))
}

pub fn database_privileges_query(user: &str) -> String {
    format!(
        "SELECT database_name, privilege_type FROM svv_database_privileges WHERE identity_name = {}",
        literal(user)
    )
}

pub fn tables_query(schema: &str) -> String {
    format!(
        "SELECT schemaname, tablename FROM pg_tables WHERE schemaname = {}",
        literal(schema)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_literals_are_quoted_and_escaped() {
        assert_eq!(ident("public"), "\"public\"");
        assert_eq!(ident("IAMR:zeroetl-a"), "\"IAMR:zeroetl-a\"");
        assert_eq!(ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(
            user_query("o'brien"),
            "SELECT usename, usesuper FROM pg_user WHERE usename = 'o''brien'"
        );
    }

    #[test]
    fn every_grant_type_has_its_statement_and_database() {
        let cases = [
            (
                GrantType::SchemaUsage,
                "orders",
                "GRANT USAGE ON SCHEMA \"public\" TO \"u\"",
            ),
            (
                GrantType::SchemaDrop,
                "orders",
                "GRANT DROP ON SCHEMA \"public\" TO \"u\"",
            ),
            (
                GrantType::SelectAllTables,
                "orders",
                "GRANT SELECT ON ALL TABLES IN SCHEMA \"public\" TO \"u\"",
            ),
            (
                GrantType::SelectFutureTables,
                "orders",
                "ALTER DEFAULT PRIVILEGES IN SCHEMA \"public\" GRANT SELECT ON TABLES TO \"u\"",
            ),
            (
                GrantType::SelectSystemView,
                "orders",
                "GRANT SELECT ON \"pg_catalog\".\"public\" TO \"u\"",
            ),
            (
                GrantType::DatabaseTemporary,
                "dev",
                "GRANT TEMPORARY ON DATABASE \"orders\" TO \"u\"",
            ),
            (
                GrantType::DatabaseCreate,
                "dev",
                "GRANT CREATE ON DATABASE \"orders\" TO \"u\"",
            ),
        ];
        for (type_, runs_in, text) in cases {
            let sql = grant(type_, "orders", "public", "u", "dev");
            assert_eq!((sql.database.as_str(), sql.text.as_str()), (runs_in, text));
            assert_eq!(sql.summary, sql.text);
        }
    }

    #[test]
    fn password_statements_never_show_the_hash() {
        let p = Password::from_secret("Abcdefgh1234".into());
        let sql = create_user("dev", "tonic_user", Some(&p));
        assert!(sql
            .text
            .starts_with("CREATE USER \"tonic_user\" PASSWORD 'md5"));
        assert_eq!(sql.summary, "CREATE USER \"tonic_user\" PASSWORD '***'");
        let shown = format!("{sql:?}");
        assert!(
            !shown.contains("md5") && !shown.contains("Abcdefgh1234"),
            "{shown}"
        );
        assert_eq!(
            alter_user_password("dev", "IAMR:r", None).text,
            "ALTER USER \"IAMR:r\" PASSWORD DISABLE"
        );
    }

    #[test]
    fn only_known_privileges_reach_a_revoke() {
        assert_eq!(privilege_keyword("TEMP"), Some("TEMPORARY"));
        assert_eq!(privilege_keyword("select"), Some("SELECT"));
        assert_eq!(privilege_keyword("SELECT; DROP USER x"), None);
    }
}
