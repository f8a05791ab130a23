//! Zero-ETL data filters: `include: db.table, exclude: db.*` (MySQL) or `include: db.schema.table`
//! (PostgreSQL). We parse them before AWS does so a bad filter is a clear `Stalled/InvalidSpec` instead of an
//! AWS error after other changes were already made.

use std::fmt;

pub const MAX_LENGTH: usize = 25_600;
pub const MAX_PATTERNS: usize = 99;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FilterAction {
    Include,
    Exclude,
}

/// One `include:`/`exclude:` pattern, split on unquoted dots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FilterPattern {
    pub action: FilterAction,
    pub parts: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataFilter {
    pub patterns: Vec<FilterPattern>,
}

impl DataFilter {
    /// Parses a filter. Each comma-separated item is `include:`/`exclude:` followed by a pattern, or a bare
    /// pattern that continues the previous statement's action.
    pub fn parse(text: &str) -> Result<DataFilter, String> {
        if text.len() > MAX_LENGTH {
            return Err(format!(
                "is {} characters; at most {MAX_LENGTH} are allowed",
                text.len()
            ));
        }
        if let Some(c) = text.chars().find(|c| !is_allowed_char(*c)) {
            return Err(format!(
                "contains the character {c:?}, which AWS does not accept"
            ));
        }
        let mut patterns = Vec::new();
        let mut action: Option<FilterAction> = None;
        for raw in split_unquoted(text, ',') {
            let item = raw.trim();
            if item.is_empty() {
                return Err(
                    "has an empty pattern (two commas in a row, or a trailing comma)".into(),
                );
            }
            let lower = item.to_ascii_lowercase();
            let pattern = if lower.starts_with("include:") {
                action = Some(FilterAction::Include);
                item["include:".len()..].trim()
            } else if lower.starts_with("exclude:") {
                action = Some(FilterAction::Exclude);
                item["exclude:".len()..].trim()
            } else {
                item
            };
            let Some(current) = action else {
                return Err(format!("{item:?} must start with include: or exclude:"));
            };
            let parts: Vec<String> = split_unquoted(pattern, '.')
                .into_iter()
                .map(|p| p.trim().to_string())
                .collect();
            if !(2..=3).contains(&parts.len()) || parts.iter().any(|p| p.is_empty()) {
                return Err(format!(
                    "{pattern:?} is not database.table (MySQL) or database.schema.table (PostgreSQL)"
                ));
            }
            patterns.push(FilterPattern {
                action: current,
                parts,
            });
        }
        if patterns.len() > MAX_PATTERNS {
            return Err(format!(
                "has {} patterns; at most {MAX_PATTERNS} are allowed",
                patterns.len()
            ));
        }
        if !patterns.iter().any(|p| p.action == FilterAction::Include) {
            return Err("must contain at least one include statement".into());
        }
        Ok(DataFilter { patterns })
    }

    /// The number of name parts every pattern has, if they agree: 2 for MySQL, 3 for PostgreSQL.
    pub fn depth(&self) -> Option<usize> {
        let first = self.patterns.first()?.parts.len();
        self.patterns
            .iter()
            .all(|p| p.parts.len() == first)
            .then_some(first)
    }
}

impl fmt::Display for FilterAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FilterAction::Include => "include",
            FilterAction::Exclude => "exclude",
        })
    }
}

fn is_allowed_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "_ \"\\-$,*.:?+/".contains(c)
}

/// Splits on `sep` outside double quotes (quoted names may contain dots and commas).
fn split_unquoted(text: &str, sep: char) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (i, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                out.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    out.push(&text[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mysql_and_postgres_filters() {
        let f = DataFilter::parse("include: sales.*, exclude: sales.audit_log").unwrap();
        assert_eq!(f.patterns.len(), 2);
        assert_eq!(f.patterns[1].action, FilterAction::Exclude);
        assert_eq!(f.depth(), Some(2));
        let p = DataFilter::parse("include: app.public.*, app.billing.invoices").unwrap();
        assert_eq!(p.patterns[1].action, FilterAction::Include);
        assert_eq!(p.depth(), Some(3));
        let q = DataFilter::parse(r#"include: "my.db".orders"#).unwrap();
        assert_eq!(q.patterns[0].parts, vec!["\"my.db\"", "orders"]);
    }

    #[test]
    fn rejects_malformed_filters() {
        for (bad, why) in [
            ("exclude: sales.*", "at least one include"),
            ("sales.*", "must start with include"),
            ("include: sales", "database.table"),
            ("include: a.b.c.d", "database.table"),
            ("include: a.b,", "empty pattern"),
            ("include: a.b; drop", "character"),
            ("include: a..b", "database.table"),
        ] {
            let err = DataFilter::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
        let many = (0..100)
            .map(|i| format!("include: d.t{i}"))
            .collect::<Vec<_>>()
            .join(",");
        assert!(DataFilter::parse(&many).unwrap_err().contains("at most 99"));
        assert!(DataFilter::parse(&"x".repeat(MAX_LENGTH + 1))
            .unwrap_err()
            .contains("characters"));
    }
}
