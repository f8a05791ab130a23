//! The operator's IAM policy (config/iam/operator-policy.json) grants exactly the AWS actions the reconciler
//! calls. The calls are found through the project's convention: every AWS SDK call site names its call with
//! two string literals, service then action, e.g. `aws("rds", "DescribeIntegrations", e)`. A call added
//! without a policy line, or a policy line left behind by a removed call, fails here with the difference.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use zeroetl_e2e::paths::workspace_root;

/// The services whose calls the convention names (the IAM prefix of each).
const SERVICES: &[&str] = &[
    "rds",
    "redshift",
    "redshift-serverless",
    "redshift-data",
    "iam",
    "sts",
    "kms",
    "s3",
];

/// The source tree scanned for calls.
const RECONCILER_SOURCES: &str = "crates/reconciler/src";
const POLICY_FILE: &str = "config/iam/operator-policy.json";
const TRUST_FILES: &[&str] = &[
    "config/iam/trust-irsa.json",
    "config/iam/trust-pod-identity.json",
];

// ---------------------------------------------------------------------------------------------------------
// A small Rust lexer: enough to tell string literals from comments, and to skip `#[cfg(test)]` items.
// ---------------------------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Str(String),
    Ident(String),
    Punct(char),
}

/// The tokens of `source` that matter here: string literals (their value, escapes left as written, which is
/// enough for service and action names), identifiers and punctuation. Comments, char literals, lifetimes
/// and numbers are dropped.
fn tokenize(source: &str) -> Result<Vec<Token>> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            i += 1;
        } else if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            // Block comments nest in Rust.
            let mut depth = 0;
            loop {
                ensure!(i < chars.len(), "unterminated block comment");
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == '"' {
            let (text, end) = quoted(&chars, i + 1)?;
            tokens.push(Token::Str(text));
            i = end;
        } else if (c == 'r' || c == 'b') && raw_string_start(&chars, i).is_some() {
            let (hashes, open) = raw_string_start(&chars, i).expect("checked");
            let (text, end) = raw(&chars, open, hashes)?;
            tokens.push(Token::Str(text));
            i = end;
        } else if c == 'b' && next == Some('"') {
            let (text, end) = quoted(&chars, i + 2)?;
            tokens.push(Token::Str(text));
            i = end;
        } else if c == '\'' {
            i = after_quote(&chars, i);
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            tokens.push(Token::Ident(chars[start..i].iter().collect()));
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
        } else {
            tokens.push(Token::Punct(c));
            i += 1;
        }
    }
    Ok(tokens)
}

/// A `"…"` literal whose body starts at `start`: its text and the index after the closing quote.
fn quoted(chars: &[char], start: usize) -> Result<(String, usize)> {
    let mut text = String::new();
    let mut i = start;
    while i < chars.len() {
        match chars[i] {
            '\\' => {
                text.extend(chars.get(i..i + 2).unwrap_or_default());
                i += 2;
            }
            '"' => return Ok((text, i + 1)),
            c => {
                text.push(c);
                i += 1;
            }
        }
    }
    bail!("unterminated string literal")
}

/// For `r"`, `r#"`, `br#"` … at `i`: the number of `#` and the index of the body.
fn raw_string_start(chars: &[char], i: usize) -> Option<(usize, usize)> {
    // Part of a longer identifier (e.g. `for"`) is not a raw string.
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return None;
    }
    let mut j = i;
    if chars[j] == 'b' {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let hashes = chars[j..].iter().take_while(|&&c| c == '#').count();
    (chars.get(j + hashes) == Some(&'"')).then_some((hashes, j + hashes + 1))
}

/// A raw literal's body from `start` up to `"` followed by `hashes` `#`.
fn raw(chars: &[char], start: usize, hashes: usize) -> Result<(String, usize)> {
    let mut i = start;
    while i < chars.len() {
        if chars[i] == '"'
            && chars[i + 1..]
                .iter()
                .take(hashes)
                .filter(|&&c| c == '#')
                .count()
                == hashes
        {
            return Ok((chars[start..i].iter().collect(), i + 1 + hashes));
        }
        i += 1;
    }
    bail!("unterminated raw string literal")
}

/// Past a char literal (`'x'`, `'\n'`, `'\u{1F600}'`) or a lifetime (`'a`) starting at `i`.
fn after_quote(chars: &[char], i: usize) -> usize {
    if chars.get(i + 1) == Some(&'\\') {
        let mut j = i + 2;
        while j < chars.len() && chars[j] != '\'' {
            j += 1;
        }
        return j + 1;
    }
    if chars.get(i + 2) == Some(&'\'') {
        return i + 3;
    }
    // A lifetime or label: its name follows as an identifier, harmless.
    i + 1
}

/// `tokens` without the items marked `#[cfg(test)]` (a module, function or `use`): the attribute, then the
/// item up to its `;` or its balanced `{ … }`.
fn without_test_items(tokens: &[Token]) -> Vec<Token> {
    let cfg_test = [
        Token::Punct('#'),
        Token::Punct('['),
        Token::Ident("cfg".into()),
        Token::Punct('('),
        Token::Ident("test".into()),
        Token::Punct(')'),
        Token::Punct(']'),
    ];
    let mut kept = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        if tokens[i..].starts_with(&cfg_test) {
            i += cfg_test.len();
            let mut depth = 0usize;
            while i < tokens.len() {
                let token = &tokens[i];
                i += 1;
                match token {
                    Token::Punct('{') => depth += 1,
                    Token::Punct('}') => {
                        depth = depth.saturating_sub(1);
                        if depth == 0 {
                            break;
                        }
                    }
                    Token::Punct(';') if depth == 0 => break,
                    _ => {}
                }
            }
        } else {
            kept.push(tokens[i].clone());
            i += 1;
        }
    }
    kept
}

/// `"Describe…"`-style: an upper-case ASCII letter, then letters and digits.
fn is_pascal_case(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase()) && chars.all(|c| c.is_ascii_alphanumeric())
}

/// Every `service:Action` named in `source` outside comments and `#[cfg(test)]` items.
fn calls_in(source: &str) -> Result<BTreeSet<String>> {
    let tokens = without_test_items(&tokenize(source)?);
    let mut calls = BTreeSet::new();
    for window in tokens.windows(3) {
        if let [Token::Str(service), Token::Punct(','), Token::Str(action)] = window {
            if SERVICES.contains(&service.as_str()) && is_pascal_case(action) {
                calls.insert(format!("{service}:{action}"));
            }
        }
    }
    Ok(calls)
}

/// The non-test Rust files under `dir` (files named `*tests*.rs` hold tests only).
fn source_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).with_context(|| format!("read {}", dir.display()))? {
            let path = entry?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                pending.push(path);
            } else if name.ends_with(".rs") && !name.contains("tests") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Every `service:Action` the reconciler calls, with the files that call it.
fn reconciler_calls() -> Result<BTreeMap<String, Vec<String>>> {
    let root = workspace_root();
    let mut calls: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in source_files(&root.join(RECONCILER_SOURCES))? {
        let text = std::fs::read_to_string(&file)?;
        let shown = file
            .strip_prefix(&root)
            .unwrap_or(&file)
            .display()
            .to_string();
        for call in calls_in(&text).with_context(|| format!("scan {shown}"))? {
            calls.entry(call).or_default().push(shown.clone());
        }
    }
    Ok(calls)
}

// ---------------------------------------------------------------------------------------------------------
// Policy documents.
// ---------------------------------------------------------------------------------------------------------

fn read_json(relative: &str) -> Result<Value> {
    let path = workspace_root().join(relative);
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("read {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{relative} is not JSON"))
}

/// The statements of a policy document, checked for the shape IAM accepts.
fn statements(policy: &Value, file: &str) -> Result<Vec<Value>> {
    ensure!(
        policy["Version"] == "2012-10-17",
        "{file}: Version must be 2012-10-17 (older versions disable policy variables)"
    );
    let statements = policy["Statement"]
        .as_array()
        .with_context(|| format!("{file}: Statement is not a list"))?;
    ensure!(!statements.is_empty(), "{file}: no statements");
    Ok(statements.clone())
}

/// A string-or-list field as a list.
fn string_list(value: &Value) -> Vec<String> {
    match value {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    }
}

/// The actions the permission policy allows; fails on anything that would allow more than it names
/// (wildcards, NotAction, NotResource) and on Deny statements (nothing here needs one).
fn allowed_actions(policy: &Value) -> Result<BTreeSet<String>> {
    let mut actions = BTreeSet::new();
    let mut sids = BTreeSet::new();
    for statement in statements(policy, POLICY_FILE)? {
        let sid = statement["Sid"].as_str().unwrap_or_default();
        ensure!(
            !sid.is_empty() && sid.chars().all(|c| c.is_ascii_alphanumeric()),
            "every statement needs an alphanumeric Sid (docs/iam.md refers to them): {statement}"
        );
        ensure!(sids.insert(sid.to_owned()), "Sid {sid} appears twice");
        ensure!(
            statement["Effect"] == "Allow",
            "{sid}: only Allow statements expected"
        );
        for forbidden in ["NotAction", "NotResource", "Principal", "NotPrincipal"] {
            ensure!(
                statement.get(forbidden).is_none(),
                "{sid}: {forbidden} has no place in the operator's permission policy"
            );
        }
        ensure!(
            !string_list(&statement["Resource"]).is_empty(),
            "{sid}: no Resource"
        );
        let listed = string_list(&statement["Action"]);
        ensure!(!listed.is_empty(), "{sid}: no Action");
        for action in listed {
            let (service, name) = action
                .split_once(':')
                .with_context(|| format!("{sid}: {action} is not service:Action"))?;
            ensure!(
                SERVICES.contains(&service) && is_pascal_case(name),
                "{sid}: {action} is not a named action of a known service (no wildcards)"
            );
            ensure!(actions.insert(action.clone()), "{action} is granted twice");
        }
    }
    Ok(actions)
}

// ---------------------------------------------------------------------------------------------------------
// Tests.
// ---------------------------------------------------------------------------------------------------------

#[test]
fn policy_grants_exactly_the_actions_the_reconciler_calls() -> Result<()> {
    let calls = reconciler_calls()?;
    // The scan must see the calls of every part of the reconciler; an empty or tiny result means the
    // convention or the scanner broke, not that the operator stopped calling AWS.
    for expected in [
        "rds:CreateIntegration",
        "redshift:PutResourcePolicy",
        "redshift-serverless:GetCredentials",
        "redshift-data:ExecuteStatement",
        "sts:AssumeRole",
    ] {
        ensure!(
            calls.contains_key(expected),
            "the scan of {RECONCILER_SOURCES} found no {expected}: did the call convention change? \
             found {:?}",
            calls.keys().collect::<Vec<_>>()
        );
    }

    let granted = allowed_actions(&read_json(POLICY_FILE)?)?;
    let called: BTreeSet<String> = calls.keys().cloned().collect();
    let missing: Vec<String> = called
        .difference(&granted)
        .map(|a| format!("{a} (called in {})", calls[a].join(", ")))
        .collect();
    let unused: Vec<&String> = granted.difference(&called).collect();
    ensure!(
        missing.is_empty() && unused.is_empty(),
        "{POLICY_FILE} is out of step with the code.\n\
         Called but not granted ({}):\n  {}\n\
         Granted but never called ({}):\n  {}\n\
         Update the policy and docs/iam.md.",
        missing.len(),
        missing.join("\n  "),
        unused.len(),
        unused
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n  ")
    );
    Ok(())
}

#[test]
fn role_assumption_is_limited_to_named_roles() -> Result<()> {
    // The operator needs sts:AssumeRole only on the roles connections name in auth.assumeRole: never on
    // every role.
    let policy = read_json(POLICY_FILE)?;
    for statement in statements(&policy, POLICY_FILE)? {
        if string_list(&statement["Action"]).contains(&"sts:AssumeRole".to_owned()) {
            let resources = string_list(&statement["Resource"]);
            ensure!(
                resources
                    .iter()
                    .all(|r| r.starts_with("arn:aws:iam::") && r.contains(":role/") && r != "*"),
                "sts:AssumeRole must name role ARNs, got {resources:?}"
            );
            ensure!(
                string_list(&statement["Action"]).len() == 1,
                "keep sts:AssumeRole in a statement of its own, so its Resource can be narrowed alone"
            );
        }
    }
    Ok(())
}

#[test]
fn trust_policies_let_only_the_operator_service_account_in() -> Result<()> {
    for file in TRUST_FILES {
        let policy = read_json(file)?;
        let statements = statements(&policy, file)?;
        for statement in &statements {
            ensure!(
                statement["Effect"] == "Allow" && statement.get("Principal").is_some(),
                "{file}: a trust statement allows a Principal: {statement}"
            );
            let actions = string_list(&statement["Action"]);
            ensure!(
                actions.iter().all(|a| a.starts_with("sts:")),
                "{file}: trust policies grant sts actions only: {actions:?}"
            );
            // Without a condition any pod (IRSA: any ServiceAccount of the cluster; Pod Identity: any
            // association) could take the role.
            let condition = statement["Condition"].to_string();
            ensure!(
                condition.contains("zeroetl-operator") && condition.contains("zeroetl-system"),
                "{file}: the condition must name the operator's ServiceAccount and namespace: {condition}"
            );
        }
    }
    Ok(())
}

// The scanner itself: each of these would otherwise let the policy drift silently.

#[test]
fn scanner_finds_calls_split_over_lines_and_ignores_comments_and_test_items() -> Result<()> {
    let source = r##"
        //! Module docs mention ("rds", "DocsOnly").
        /// e.g. aws("kms", "InDocComment", e)
        fn live() {
            let _ = aws(
                "rds",
                "CreateIntegration",
                e,
            );
            let _ = ("redshift-serverless", "GetCredentials"); // ("s3", "TrailingComment")
            /* ("iam", "BlockComment") /* nested ("sts", "Nested") */ */
            let not_a_call = ("rds", "lowercase");
            let unknown = ("ec2", "DescribeInstances");
            let text = r#"("s3", "InRawString")"#;
            let c = '"'; let s = "\"quoted\""; let l: &'static str = "x";
            let _ = aws("sts", "AssumeRole", e);
        }
        #[cfg(test)]
        mod tests {
            fn t() { let _ = ("rds", "DeleteIntegration"); { nested(); } }
        }
        #[cfg(test)]
        const FAKE: (&str, &str) = ("kms", "CreateKey");
        fn after() { let _ = ("s3", "GetBucketLocation"); }
    "##;
    let calls: Vec<String> = calls_in(source)?.into_iter().collect();
    assert_eq!(
        calls,
        [
            "rds:CreateIntegration",
            "redshift-serverless:GetCredentials",
            "s3:GetBucketLocation",
            "sts:AssumeRole",
        ]
    );
    Ok(())
}

#[test]
fn scanner_skips_test_files() -> Result<()> {
    let files = source_files(&workspace_root().join(RECONCILER_SOURCES))?;
    ensure!(files.len() > 5, "too few reconciler sources: {files:?}");
    for file in &files {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        assert!(!name.contains("tests"), "{} was scanned", file.display());
    }
    assert!(
        files.iter().any(|f| f.ends_with("aws/assume_role.rs")),
        "aws/assume_role.rs (sts:AssumeRole) was not scanned"
    );
    Ok(())
}
