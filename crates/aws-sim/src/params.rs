//! Engine parameter knowledge: parameter-group families, their defaults for the parameters zero-ETL cares
//! about, which parameters are static, and the zero-ETL source requirements (docs/aws-facts.md, "Source
//! prerequisites"). Defaults are AWS's where documented; the rest are inferred and marked so.

use std::collections::BTreeMap;

/// The parameter-group family for an engine and version, e.g. `aurora-mysql` 8.0.x → `aurora-mysql8.0`.
pub fn family_for(engine: &str, version: &str) -> String {
    let major: Vec<&str> = version.split('.').collect();
    match engine {
        "aurora-mysql" => {
            if version.starts_with("5.7") || version.contains("mysql_aurora.2") {
                "aurora-mysql5.7".into()
            } else {
                "aurora-mysql8.0".into()
            }
        }
        "mysql" => format!(
            "mysql{}.{}",
            major.first().unwrap_or(&"8"),
            major.get(1).unwrap_or(&"0")
        ),
        "aurora-postgresql" => format!("aurora-postgresql{}", major.first().unwrap_or(&"16")),
        "postgres" => format!("postgres{}", major.first().unwrap_or(&"16")),
        other => other.to_string(),
    }
}

/// (name, default value, static?) for a family.
pub fn family_defaults(family: &str) -> Vec<(&'static str, &'static str, bool)> {
    if family.starts_with("aurora-mysql") {
        vec![
            ("aurora_enhanced_binlog", "0", true),
            ("binlog_backup", "1", true),
            ("binlog_format", "OFF", true),
            ("binlog_replication_globaldb", "1", true),
            ("binlog_row_image", "full", false),
            ("binlog_row_metadata", "minimal", false),
            ("binlog_transaction_compression", "OFF", false),
            ("binlog_row_value_options", "", false),
            ("character_set_server", "utf8mb4", false),
        ]
    } else if family.starts_with("mysql") {
        vec![
            // inferred: RDS for MySQL 8.0 ships MIXED; zero-ETL needs ROW.
            ("binlog_format", "MIXED", false),
            ("binlog_row_image", "full", false),
            ("binlog_row_value_options", "", false),
            ("max_connections", "{DBInstanceClassMemory/12582880}", false),
        ]
    } else if family.starts_with("aurora-postgresql") {
        vec![
            ("rds.logical_replication", "0", true),
            ("aurora.enhanced_logical_replication", "0", true),
            ("aurora.logical_replication_backup", "1", true),
            ("aurora.logical_replication_globaldb", "1", true),
            ("max_replication_slots", "20", true),
            ("max_wal_senders", "10", true),
        ]
    } else if family.starts_with("postgres") {
        vec![
            ("rds.logical_replication", "0", true),
            ("rds.replica_identity_full", "0", false),
            ("session_replication_role", "origin", false),
            // inferred defaults below
            ("wal_sender_timeout", "30000", false),
            ("max_wal_senders", "10", true),
            ("max_replication_slots", "20", true),
        ]
    } else if family.starts_with("redshift") {
        vec![
            ("auto_analyze", "true", false),
            ("datestyle", "ISO, MDY", false),
            // Static so that a change needs a reboot, as docs/aws-facts.md describes for provisioned clusters.
            ("enable_case_sensitive_identifier", "false", true),
            ("enable_user_activity_logging", "false", true),
            ("max_concurrency_scaling_clusters", "1", false),
            ("require_ssl", "false", true),
            ("search_path", "$user, public", false),
            ("statement_timeout", "0", false),
            ("use_fips_ssl", "false", true),
        ]
    } else {
        Vec::new()
    }
}

pub fn default_values(family: &str) -> BTreeMap<String, String> {
    family_defaults(family)
        .into_iter()
        .map(|(k, v, _)| (k.to_string(), v.to_string()))
        .collect()
}

pub fn is_static(family: &str, name: &str) -> bool {
    family_defaults(family)
        .iter()
        .any(|(k, _, s)| *k == name && *s)
}

fn num(params: &BTreeMap<String, String>, key: &str) -> Option<i64> {
    params.get(key).and_then(|v| v.trim().parse().ok())
}

/// Zero-ETL requirements the given effective parameters violate, as `name=value` explanations.
pub fn zero_etl_violations(engine: &str, params: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    let get = |k: &str| params.get(k).map(String::as_str).unwrap_or("");
    let mut require = |k: &str, want: &str| {
        if !get(k).eq_ignore_ascii_case(want) {
            out.push(format!("{k} must be {want} (is {:?})", get(k)));
        }
    };
    match engine {
        "aurora-mysql" => {
            require("aurora_enhanced_binlog", "1");
            require("binlog_backup", "0");
            require("binlog_format", "ROW");
            require("binlog_replication_globaldb", "0");
            require("binlog_row_image", "full");
            require("binlog_row_metadata", "full");
        }
        "mysql" => {
            require("binlog_format", "ROW");
            require("binlog_row_image", "full");
        }
        "aurora-postgresql" => {
            require("rds.logical_replication", "1");
            require("aurora.enhanced_logical_replication", "1");
            require("aurora.logical_replication_backup", "0");
            require("aurora.logical_replication_globaldb", "0");
        }
        "postgres" => {
            require("rds.logical_replication", "1");
            require("rds.replica_identity_full", "1");
            require("session_replication_role", "origin");
        }
        _ => {}
    }
    if engine.contains("mysql") {
        if get("binlog_transaction_compression").eq_ignore_ascii_case("ON") {
            out.push("binlog_transaction_compression must not be ON".into());
        }
        if get("binlog_row_value_options").eq_ignore_ascii_case("PARTIAL_JSON") {
            out.push("binlog_row_value_options must not be PARTIAL_JSON".into());
        }
    }
    if engine == "postgres" {
        let timeout = num(params, "wal_sender_timeout").unwrap_or(-1);
        if !(timeout == 0 || timeout >= 20000) {
            out.push(format!(
                "wal_sender_timeout must be 0 or at least 20000 (is {:?})",
                get("wal_sender_timeout")
            ));
        }
        for key in ["max_wal_senders", "max_replication_slots"] {
            if num(params, key).unwrap_or(0) < 20 {
                out.push(format!("{key} must be at least 20 (is {:?})", get(key)));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aurora_mysql_defaults_are_wrong_for_zero_etl() {
        let v = zero_etl_violations("aurora-mysql", &default_values("aurora-mysql8.0"));
        assert!(
            v.iter().any(|m| m.starts_with("binlog_format must be ROW")),
            "{v:?}"
        );
    }

    #[test]
    fn families_follow_engine_versions() {
        assert_eq!(
            family_for("aurora-mysql", "8.0.mysql_aurora.3.05.2"),
            "aurora-mysql8.0"
        );
        assert_eq!(
            family_for("aurora-postgresql", "16.4"),
            "aurora-postgresql16"
        );
        assert_eq!(family_for("mysql", "8.0.39"), "mysql8.0");
        assert_eq!(family_for("postgres", "16.4"), "postgres16");
    }
}
