//! What zero-ETL needs from each source engine's parameters (docs/aws-facts.md, "Source prerequisites"), as data,
//! and the pure diff between a parameter group's values and those needs.

use std::collections::BTreeMap;

/// The source engines zero-ETL supports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    AuroraMysql,
    AuroraPostgresql,
    RdsMysql,
    RdsPostgresql,
}

impl Engine {
    /// Maps the RDS `Engine` field; `None` for engines zero-ETL does not support.
    pub fn from_rds(engine: &str) -> Option<Engine> {
        match engine {
            "aurora-mysql" => Some(Engine::AuroraMysql),
            "aurora-postgresql" => Some(Engine::AuroraPostgresql),
            "mysql" => Some(Engine::RdsMysql),
            "postgres" => Some(Engine::RdsPostgresql),
            _ => None,
        }
    }

    pub fn is_postgres(self) -> bool {
        matches!(self, Engine::AuroraPostgresql | Engine::RdsPostgresql)
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Engine::AuroraMysql => "Aurora MySQL",
            Engine::AuroraPostgresql => "Aurora PostgreSQL",
            Engine::RdsMysql => "RDS for MySQL",
            Engine::RdsPostgresql => "RDS for PostgreSQL",
        }
    }
}

/// How a parameter's value must look.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Exactly this value (compared case-insensitively, as the engines do for enums).
    Equals(&'static str),
    /// Anything but this value; absent or empty is fine.
    NotEquals(&'static str),
    /// A number at least this large.
    AtLeast(i64),
    /// 0 (disabled) or a number at least this large.
    ZeroOrAtLeast(i64),
}

/// One parameter zero-ETL cares about, and the value the operator sets when fixing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Requirement {
    pub name: &'static str,
    pub rule: Rule,
    pub fix_value: &'static str,
}

const fn eq(name: &'static str, value: &'static str) -> Requirement {
    Requirement {
        name,
        rule: Rule::Equals(value),
        fix_value: value,
    }
}

const AURORA_MYSQL: &[Requirement] = &[
    eq("aurora_enhanced_binlog", "1"),
    eq("binlog_backup", "0"),
    eq("binlog_format", "ROW"),
    eq("binlog_replication_globaldb", "0"),
    eq("binlog_row_image", "full"),
    eq("binlog_row_metadata", "full"),
    Requirement {
        name: "binlog_transaction_compression",
        rule: Rule::NotEquals("ON"),
        fix_value: "OFF",
    },
    Requirement {
        name: "binlog_row_value_options",
        rule: Rule::NotEquals("PARTIAL_JSON"),
        fix_value: "",
    },
];

const RDS_MYSQL: &[Requirement] = &[
    eq("binlog_format", "ROW"),
    eq("binlog_row_image", "full"),
    Requirement {
        name: "binlog_row_value_options",
        rule: Rule::NotEquals("PARTIAL_JSON"),
        fix_value: "",
    },
];

const AURORA_POSTGRESQL: &[Requirement] = &[
    eq("rds.logical_replication", "1"),
    eq("aurora.enhanced_logical_replication", "1"),
    eq("aurora.logical_replication_backup", "0"),
    eq("aurora.logical_replication_globaldb", "0"),
];

const RDS_POSTGRESQL: &[Requirement] = &[
    eq("rds.logical_replication", "1"),
    eq("rds.replica_identity_full", "1"),
    eq("session_replication_role", "origin"),
    Requirement {
        name: "wal_sender_timeout",
        rule: Rule::ZeroOrAtLeast(20_000),
        fix_value: "0",
    },
    Requirement {
        name: "max_wal_senders",
        rule: Rule::AtLeast(20),
        fix_value: "20",
    },
    Requirement {
        name: "max_replication_slots",
        rule: Rule::AtLeast(20),
        fix_value: "20",
    },
];

pub fn requirements(engine: Engine) -> &'static [Requirement] {
    match engine {
        Engine::AuroraMysql => AURORA_MYSQL,
        Engine::AuroraPostgresql => AURORA_POSTGRESQL,
        Engine::RdsMysql => RDS_MYSQL,
        Engine::RdsPostgresql => RDS_POSTGRESQL,
    }
}

impl Rule {
    pub fn holds(self, value: Option<&str>) -> bool {
        let value = value.map(str::trim);
        let number = value.and_then(|v| v.parse::<i64>().ok());
        match self {
            Rule::Equals(want) => value.is_some_and(|v| v.eq_ignore_ascii_case(want)),
            Rule::NotEquals(bad) => !value.is_some_and(|v| v.eq_ignore_ascii_case(bad)),
            Rule::AtLeast(min) => number.is_some_and(|n| n >= min),
            Rule::ZeroOrAtLeast(min) => number.is_some_and(|n| n == 0 || n >= min),
        }
    }

    /// The requirement in words, for condition messages.
    pub fn describe(self) -> String {
        match self {
            Rule::Equals(v) => v.to_string(),
            Rule::NotEquals(v) => format!("anything but {v}"),
            Rule::AtLeast(n) => format!("at least {n}"),
            Rule::ZeroOrAtLeast(n) => format!("0 or at least {n}"),
        }
    }
}

/// A parameter whose value does not meet zero-ETL's needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrongParameter {
    pub name: String,
    /// The value in the parameter group; `None` when the group does not carry the parameter.
    pub current: Option<String>,
    /// The requirement in words.
    pub required: String,
    /// The value the operator sets when fixing.
    pub fix_value: String,
}

impl WrongParameter {
    /// `binlog_format is OFF, needs ROW`.
    pub fn explain(&self) -> String {
        match self.current.as_deref() {
            Some("") => format!("{} is empty, needs {}", self.name, self.required),
            Some(v) => format!("{} is {v}, needs {}", self.name, self.required),
            None => format!("{} is not set, needs {}", self.name, self.required),
        }
    }
}

/// Every requirement of `engine` that `values` (a parameter group's name → value) violates, in the order
/// the requirements are listed.
pub fn wrong_parameters(engine: Engine, values: &BTreeMap<String, String>) -> Vec<WrongParameter> {
    requirements(engine)
        .iter()
        .filter(|r| !r.rule.holds(values.get(r.name).map(String::as_str)))
        .map(|r| WrongParameter {
            name: r.name.to_string(),
            current: values.get(r.name).cloned(),
            required: r.rule.describe(),
            fix_value: r.fix_value.to_string(),
        })
        .collect()
}

/// Joins explanations for a condition message.
pub fn explain_all(wrong: &[WrongParameter]) -> String {
    wrong
        .iter()
        .map(WrongParameter::explain)
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn fixed(engine: Engine) -> BTreeMap<String, String> {
        requirements(engine)
            .iter()
            .map(|r| (r.name.to_string(), r.fix_value.to_string()))
            .collect()
    }

    #[test]
    fn engines_map_from_rds_names() {
        assert_eq!(Engine::from_rds("aurora-mysql"), Some(Engine::AuroraMysql));
        assert_eq!(
            Engine::from_rds("aurora-postgresql"),
            Some(Engine::AuroraPostgresql)
        );
        assert_eq!(Engine::from_rds("mysql"), Some(Engine::RdsMysql));
        assert_eq!(Engine::from_rds("postgres"), Some(Engine::RdsPostgresql));
        assert_eq!(Engine::from_rds("oracle-ee"), None);
        assert!(Engine::AuroraPostgresql.is_postgres() && !Engine::RdsMysql.is_postgres());
    }

    #[test]
    fn fix_values_satisfy_every_engine() {
        for engine in [
            Engine::AuroraMysql,
            Engine::AuroraPostgresql,
            Engine::RdsMysql,
            Engine::RdsPostgresql,
        ] {
            assert_eq!(
                wrong_parameters(engine, &fixed(engine)),
                vec![],
                "{engine:?}"
            );
        }
    }

    #[test]
    fn aurora_mysql_defaults_list_each_wrong_parameter_with_current_and_required() {
        let defaults = values(&[
            ("aurora_enhanced_binlog", "0"),
            ("binlog_backup", "1"),
            ("binlog_format", "OFF"),
            ("binlog_replication_globaldb", "1"),
            ("binlog_row_image", "full"),
            ("binlog_row_metadata", "minimal"),
            ("binlog_transaction_compression", "OFF"),
            ("binlog_row_value_options", ""),
        ]);
        let wrong = wrong_parameters(Engine::AuroraMysql, &defaults);
        let names: Vec<_> = wrong.iter().map(|w| w.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "aurora_enhanced_binlog",
                "binlog_backup",
                "binlog_format",
                "binlog_replication_globaldb",
                "binlog_row_metadata"
            ]
        );
        assert_eq!(wrong[2].explain(), "binlog_format is OFF, needs ROW");
        assert!(explain_all(&wrong).contains("binlog_row_metadata is minimal, needs full"));
    }

    #[test]
    fn comparisons_ignore_case_and_handle_numbers_and_absence() {
        let mut v = fixed(Engine::RdsMysql);
        v.insert("binlog_format".into(), "row".into());
        assert!(wrong_parameters(Engine::RdsMysql, &v).is_empty());
        v.insert("binlog_row_value_options".into(), "partial_json".into());
        let wrong = wrong_parameters(Engine::RdsMysql, &v);
        assert_eq!(
            wrong[0].explain(),
            "binlog_row_value_options is partial_json, needs anything but PARTIAL_JSON"
        );

        let mut pg = fixed(Engine::RdsPostgresql);
        pg.insert("wal_sender_timeout".into(), "30000".into());
        assert!(wrong_parameters(Engine::RdsPostgresql, &pg).is_empty());
        pg.insert("wal_sender_timeout".into(), "10000".into());
        pg.insert("max_wal_senders".into(), "10".into());
        pg.remove("max_replication_slots");
        let wrong = wrong_parameters(Engine::RdsPostgresql, &pg);
        assert_eq!(
            wrong
                .iter()
                .map(WrongParameter::explain)
                .collect::<Vec<_>>(),
            [
                "wal_sender_timeout is 10000, needs 0 or at least 20000",
                "max_wal_senders is 10, needs at least 20",
                "max_replication_slots is not set, needs at least 20"
            ]
        );
        // A formula (as RDS uses for some defaults) is not a number and so does not satisfy a minimum.
        assert!(!Rule::AtLeast(20).holds(Some("{DBInstanceClassMemory/9531392}")));
    }
}
