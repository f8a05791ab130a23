//! The statements of the SQL subset, parsed from tokens. Keywords are case-insensitive, bare identifiers
//! fold to lower case, quoted ones keep their case, a trailing `;` is optional.

use super::lexer::{tokens, Tok};

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Password {
    Disabled,
    Text(String),
}

/// What a GRANT or REVOKE is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Object {
    Schemas(Vec<String>),
    AllTablesInSchemas(Vec<String>),
    /// (schema if qualified, table)
    Tables(Vec<(Option<String>, String)>),
    Databases(Vec<String>),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    /// Upper case, as written (ALL expands per object later).
    pub privileges: Vec<String>,
    pub object: Object,
    pub users: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Item {
    Star,
    Column(String),
    Number(i64),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Select {
    pub items: Vec<Item>,
    /// (schema if qualified, relation)
    pub from: Option<(Option<String>, String)>,
    /// `column = 'literal'` conditions joined by AND.
    pub filters: Vec<(String, String)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Stmt {
    Select(Select),
    CreateDatabase {
        name: String,
        integration: Option<String>,
        source_database: Option<String>,
    },
    DropDatabase {
        name: String,
        if_exists: bool,
    },
    CreateUser {
        name: String,
        password: Password,
        superuser: bool,
    },
    AlterUser {
        name: String,
        password: Password,
    },
    DropUser {
        names: Vec<String>,
        if_exists: bool,
    },
    Grant(Grant),
    Revoke(Grant),
    DefaultPrivileges {
        schema: String,
        grant: bool,
        privileges: Vec<String>,
        users: Vec<String>,
    },
    CreateSchema {
        name: String,
        if_not_exists: bool,
    },
    CreateTable {
        schema: Option<String>,
        table: String,
        if_not_exists: bool,
    },
}

pub const SUPPORTED: &str = "aws-sim supports only SELECT (1, or columns of pg_user, pg_tables, pg_database, svv_schema_privileges, svv_database_privileges, svv_default_privileges, svv_relation_privileges, svv_integration, svv_integration_table_state, svv_table_info or a table, with WHERE column = 'literal' [AND …]), CREATE DATABASE … [FROM INTEGRATION '…' [DATABASE …]], DROP DATABASE, CREATE/ALTER/DROP USER, GRANT/REVOKE on schemas, tables and databases, ALTER DEFAULT PRIVILEGES IN SCHEMA … GRANT/REVOKE SELECT ON TABLES, CREATE SCHEMA and CREATE TABLE";

struct Cursor {
    toks: Vec<Tok>,
    at: usize,
}

impl Cursor {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at)
    }
    fn peek_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }
    /// Consume `kw` if it comes next.
    fn kw(&mut self, kw: &str) -> bool {
        let yes = self.peek_kw(kw);
        if yes {
            self.at += 1;
        }
        yes
    }
    fn kws(&mut self, kws: &[&str]) -> bool {
        let start = self.at;
        if kws.iter().all(|k| self.kw(k)) {
            return true;
        }
        self.at = start;
        false
    }
    fn expect_kw(&mut self, kw: &str) -> Result<(), String> {
        if self.kw(kw) {
            Ok(())
        } else {
            Err(self.syntax_error())
        }
    }
    fn sym(&mut self, c: char) -> bool {
        let yes = self.peek() == Some(&Tok::Sym(c));
        if yes {
            self.at += 1;
        }
        yes
    }
    fn syntax_error(&self) -> String {
        match self.peek() {
            Some(t) => format!("ERROR: syntax error at or near \"{}\"", t.describe()),
            None => "ERROR: syntax error at end of input".to_string(),
        }
    }
    /// An identifier: a bare word folds to lower case, a quoted one keeps its case.
    fn ident(&mut self) -> Result<String, String> {
        let id = match self.peek() {
            Some(Tok::Word(w)) => w.to_ascii_lowercase(),
            Some(Tok::Quoted(q)) => q.clone(),
            _ => return Err(self.syntax_error()),
        };
        self.at += 1;
        Ok(id)
    }
    fn ident_list(&mut self) -> Result<Vec<String>, String> {
        let mut out = vec![self.ident()?];
        while self.sym(',') {
            out.push(self.ident()?);
        }
        Ok(out)
    }
    /// `name` or `schema.name`.
    fn qualified(&mut self) -> Result<(Option<String>, String), String> {
        let first = self.ident()?;
        if self.sym('.') {
            Ok((Some(first), self.ident()?))
        } else {
            Ok((None, first))
        }
    }
    fn string(&mut self) -> Result<String, String> {
        match self.peek() {
            Some(Tok::Str(s)) => {
                let s = s.clone();
                self.at += 1;
                Ok(s)
            }
            _ => Err(self.syntax_error()),
        }
    }
    fn end(&mut self) -> Result<(), String> {
        self.sym(';');
        if self.peek().is_some() {
            Err(self.syntax_error())
        } else {
            Ok(())
        }
    }
    /// Upper-case words separated by commas, up to `stop`: `USAGE, CREATE`, `ALL PRIVILEGES`.
    fn privileges(&mut self, stop: &str) -> Result<Vec<String>, String> {
        let mut out = Vec::new();
        loop {
            match self.peek() {
                Some(Tok::Word(w)) if !w.eq_ignore_ascii_case(stop) => {
                    let p = w.to_ascii_uppercase();
                    self.at += 1;
                    if p == "ALL" {
                        self.kw("privileges");
                    }
                    out.push(p);
                }
                _ => return Err(self.syntax_error()),
            }
            if !self.sym(',') {
                return Ok(out);
            }
        }
    }
}

pub fn parse(sql: &str) -> Result<Stmt, String> {
    let toks = tokens(sql)?;
    let mut c = Cursor { toks, at: 0 };
    let stmt = if c.kw("select") {
        Stmt::Select(select(&mut c)?)
    } else if c.kw("create") {
        create(&mut c)?
    } else if c.kw("alter") {
        if c.kws(&["default", "privileges"]) {
            default_privileges(&mut c)?
        } else if c.kw("user") {
            let name = c.ident()?;
            c.kw("with");
            Stmt::AlterUser {
                name,
                password: password(&mut c)?,
            }
        } else {
            return Err(unsupported(sql));
        }
    } else if c.kws(&["drop", "database"]) {
        let if_exists = c.kws(&["if", "exists"]);
        Stmt::DropDatabase {
            name: c.ident()?,
            if_exists,
        }
    } else if c.kws(&["drop", "user"]) {
        let if_exists = c.kws(&["if", "exists"]);
        Stmt::DropUser {
            names: c.ident_list()?,
            if_exists,
        }
    } else if c.kw("grant") {
        Stmt::Grant(grant(&mut c, "to")?)
    } else if c.kw("revoke") {
        Stmt::Revoke(grant(&mut c, "from")?)
    } else {
        return Err(unsupported(sql));
    };
    c.end()?;
    Ok(stmt)
}

fn unsupported(sql: &str) -> String {
    format!("{SUPPORTED}; got: {}", sql.trim())
}

fn select(c: &mut Cursor) -> Result<Select, String> {
    let mut items = Vec::new();
    loop {
        let item = match c.peek() {
            Some(Tok::Sym('*')) => Item::Star,
            Some(Tok::Num(n)) => Item::Number(n.parse().map_err(|_| c.syntax_error())?),
            Some(Tok::Word(_) | Tok::Quoted(_)) => Item::Column(c.ident()?),
            _ => return Err(c.syntax_error()),
        };
        if !matches!(item, Item::Column(_)) {
            c.at += 1;
        }
        items.push(item);
        if !c.sym(',') {
            break;
        }
    }
    let from = if c.kw("from") {
        Some(c.qualified()?)
    } else {
        None
    };
    let mut filters = Vec::new();
    if from.is_some() && c.kw("where") {
        loop {
            let column = c.ident()?;
            if !c.sym('=') {
                return Err(c.syntax_error());
            }
            filters.push((column, c.string()?));
            if !c.kw("and") {
                break;
            }
        }
    }
    Ok(Select {
        items,
        from,
        filters,
    })
}

fn create(c: &mut Cursor) -> Result<Stmt, String> {
    if c.kw("database") {
        let name = c.ident()?;
        let (mut integration, mut source_database) = (None, None);
        if c.kws(&["from", "integration"]) {
            integration = Some(c.string()?);
            if c.kw("database") {
                source_database = Some(match c.peek() {
                    Some(Tok::Str(_)) => c.string()?,
                    _ => c.ident()?,
                });
            }
        }
        Ok(Stmt::CreateDatabase {
            name,
            integration,
            source_database,
        })
    } else if c.kw("user") {
        let name = c.ident()?;
        c.kw("with");
        let password = password(c)?;
        let mut superuser = false;
        loop {
            if c.kw("createuser") {
                superuser = true;
            } else if !(c.kw("nocreateuser") || c.kw("createdb") || c.kw("nocreatedb")) {
                break;
            }
        }
        Ok(Stmt::CreateUser {
            name,
            password,
            superuser,
        })
    } else if c.kw("schema") {
        let if_not_exists = c.kws(&["if", "not", "exists"]);
        let name = c.ident()?;
        if c.kw("authorization") {
            c.ident()?;
        }
        Ok(Stmt::CreateSchema {
            name,
            if_not_exists,
        })
    } else if c.kw("table") {
        let if_not_exists = c.kws(&["if", "not", "exists"]);
        let (schema, table) = c.qualified()?;
        if !c.sym('(') {
            return Err(c.syntax_error());
        }
        // Column definitions and table attributes do not matter here.
        c.at = c.toks.len();
        if c.toks.last() == Some(&Tok::Sym(';')) {
            c.at -= 1;
        }
        Ok(Stmt::CreateTable {
            schema,
            table,
            if_not_exists,
        })
    } else {
        Err(c.syntax_error())
    }
}

fn password(c: &mut Cursor) -> Result<Password, String> {
    c.expect_kw("password")?;
    if c.kw("disable") {
        Ok(Password::Disabled)
    } else {
        Ok(Password::Text(c.string()?))
    }
}

fn grant(c: &mut Cursor, to: &str) -> Result<Grant, String> {
    let privileges = c.privileges("on")?;
    c.expect_kw("on")?;
    let object = if c.kw("schema") {
        Object::Schemas(c.ident_list()?)
    } else if c.kws(&["all", "tables", "in", "schema"]) {
        Object::AllTablesInSchemas(c.ident_list()?)
    } else if c.kw("database") {
        Object::Databases(c.ident_list()?)
    } else {
        c.kw("table");
        let mut tables = vec![c.qualified()?];
        while c.sym(',') {
            tables.push(c.qualified()?);
        }
        Object::Tables(tables)
    };
    c.expect_kw(to)?;
    if c.peek_kw("group") || c.peek_kw("role") || c.peek_kw("public") {
        return Err(format!(
            "ERROR: aws-sim grants to users only, not {}",
            c.peek().map(Tok::describe).unwrap_or_default()
        ));
    }
    let users = c.ident_list()?;
    if to == "from" {
        let _ = c.kw("cascade") || c.kw("restrict");
    }
    Ok(Grant {
        privileges,
        object,
        users,
    })
}

fn default_privileges(c: &mut Cursor) -> Result<Stmt, String> {
    c.expect_kw("in")?;
    c.expect_kw("schema")?;
    let schema = c.ident()?;
    let grant = if c.kw("grant") {
        true
    } else {
        c.expect_kw("revoke")?;
        false
    };
    let privileges = c.privileges("on")?;
    c.expect_kw("on")?;
    c.expect_kw("tables")?;
    c.expect_kw(if grant { "to" } else { "from" })?;
    let users = c.ident_list()?;
    Ok(Stmt::DefaultPrivileges {
        schema,
        grant,
        privileges,
        users,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_database_from_integration_parses_both_forms() {
        assert_eq!(
            parse("CREATE DATABASE orders FROM INTEGRATION 'abc-123' DATABASE 'billing';"),
            Ok(Stmt::CreateDatabase {
                name: "orders".into(),
                integration: Some("abc-123".into()),
                source_database: Some("billing".into()),
            })
        );
        assert_eq!(
            parse("create database \"Orders\" from integration 'i' database billing"),
            Ok(Stmt::CreateDatabase {
                name: "Orders".into(),
                integration: Some("i".into()),
                source_database: Some("billing".into()),
            })
        );
        assert!(parse("DROP TABLE x")
            .unwrap_err()
            .starts_with("aws-sim supports only"));
    }

    #[test]
    fn grants_users_and_catalog_selects() {
        assert_eq!(
            parse("grant select on all tables in schema \"Sales\" to \"IAMR:reader\""),
            Ok(Stmt::Grant(Grant {
                privileges: vec!["SELECT".into()],
                object: Object::AllTablesInSchemas(vec!["Sales".into()]),
                users: vec!["IAMR:reader".into()],
            }))
        );
        assert_eq!(
            parse("REVOKE TEMP ON DATABASE dev FROM bob CASCADE"),
            Ok(Stmt::Revoke(Grant {
                privileges: vec!["TEMP".into()],
                object: Object::Databases(vec!["dev".into()]),
                users: vec!["bob".into()],
            }))
        );
        assert_eq!(
            parse("GRANT SELECT ON pg_catalog.svv_table_info TO bob"),
            Ok(Stmt::Grant(Grant {
                privileges: vec!["SELECT".into()],
                object: Object::Tables(vec![(Some("pg_catalog".into()), "svv_table_info".into())]),
                users: vec!["bob".into()],
            }))
        );
        assert_eq!(
            parse("ALTER DEFAULT PRIVILEGES IN SCHEMA s REVOKE SELECT ON TABLES FROM bob;"),
            Ok(Stmt::DefaultPrivileges {
                schema: "s".into(),
                grant: false,
                privileges: vec!["SELECT".into()],
                users: vec!["bob".into()],
            })
        );
        assert_eq!(
            parse("CREATE USER \"IAMR:x\" PASSWORD 'Abcdefg1'"),
            Ok(Stmt::CreateUser {
                name: "IAMR:x".into(),
                password: Password::Text("Abcdefg1".into()),
                superuser: false,
            })
        );
        assert_eq!(
            parse("select usename, usesuper from pg_user where usename = 'o''brien'"),
            Ok(Stmt::Select(Select {
                items: vec![
                    Item::Column("usename".into()),
                    Item::Column("usesuper".into())
                ],
                from: Some((None, "pg_user".into())),
                filters: vec![("usename".into(), "o'brien".into())],
            }))
        );
        assert_eq!(
            parse("CREATE TABLE IF NOT EXISTS s.t (id int, name varchar(20)) DISTSTYLE AUTO;"),
            Ok(Stmt::CreateTable {
                schema: Some("s".into()),
                table: "t".into(),
                if_not_exists: true,
            })
        );
        assert!(parse("GRANT USAGE ON SCHEMA s TO GROUP g").is_err());
        assert!(parse("CREATE USER bob").is_err(), "PASSWORD is required");
    }
}
