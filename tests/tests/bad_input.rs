//! The bad-input corpus (tests/bad-input/*.yaml): every manifest is refused by the API server or marked
//! Stalled/InvalidSpec by the operator, naming the offending field path, and no AWS call is made for any.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use futures::future::join_all;
use zeroetl_e2e::manifests::{apply, gvk_of, load_manifests, rejection};
use zeroetl_e2e::paths::workspace_root;
use zeroetl_e2e::sim::{start_sample_sim, total_calls};
use zeroetl_e2e::test_env::TestEnv;
use zeroetl_e2e::wait::{condition, condition_field, wait_for};

/// How long the operator may take to mark an invalid object Stalled.
const STALLED_TIMEOUT: Duration = Duration::from_secs(60);

struct Case {
    file: PathBuf,
    /// The field path the refusal must name (first line: `# expect: <path>`).
    expect: String,
}

fn corpus() -> Result<Vec<Case>> {
    let dir = workspace_root().join("tests").join("bad-input");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|file| {
            let text = std::fs::read_to_string(&file)?;
            let expect = text
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("# expect:"))
                .map(|p| p.trim().to_owned())
                .with_context(|| {
                    format!(
                        "{} does not start with `# expect: <field path>`",
                        file.display()
                    )
                })?;
            Ok(Case { file, expect })
        })
        .collect()
}

/// Whether `text` names `path` as a whole path: `spec.source` matches "spec.source: …" or
/// "spec.source in body", but not "spec.source.arn".
fn names_path(text: &str, path: &str) -> bool {
    let is_path_char = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '_';
    text.match_indices(path).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + path.len()..].chars().next();
        !before.is_some_and(is_path_char) && !after.is_some_and(is_path_char)
    })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned()
}

#[test]
fn names_path_matches_whole_paths_only() {
    assert!(names_path("spec.source: Invalid value", "spec.source"));
    assert!(names_path(
        "x: spec.source in body should match",
        "spec.source"
    ));
    assert!(!names_path("spec.source.arn: Invalid value", "spec.source"));
    assert!(names_path(
        "spec: exactly one of serverless, provisioned",
        "spec"
    ));
    assert!(!names_path("spec.database: Required value", "spec"));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_bad_manifest_is_caught_with_its_field_path_and_no_aws_call() -> Result<()> {
    let cases = corpus()?;
    assert!(
        cases.len() >= 18,
        "the corpus has only {} manifests",
        cases.len()
    );
    let env = TestEnv::new("bad-input").await?;
    let sim = start_sample_sim().await?;
    let mut operator = env.start_operator(Some(&sim.endpoint()))?;
    operator.wait_ready(Duration::from_secs(30)).await?;

    let mut report = Vec::new();
    let mut failures = Vec::new();
    let mut accepted = Vec::new();
    for case in &cases {
        let objects = load_manifests(&case.file)?;
        assert_eq!(
            objects.len(),
            1,
            "{}: one manifest per file",
            case.file.display()
        );
        match apply(&env.client, &objects[0], Some(&env.namespace)).await {
            Err(error) => match rejection(&error) {
                Some(text) if names_path(&text, &case.expect) => {
                    report.push(format!("{:<44} API server   {text}", file_name(&case.file)))
                }
                Some(text) => failures.push(format!(
                    "{}: rejected by the API server without naming {}: {text}",
                    file_name(&case.file),
                    case.expect
                )),
                None => bail!(
                    "{}: apply failed unexpectedly: {error:#}",
                    case.file.display()
                ),
            },
            Ok(stored) => accepted.push((
                case,
                gvk_of(&stored)?.kind,
                stored.metadata.name.clone().unwrap_or_default(),
            )),
        }
    }

    // What the schema let through must be marked Stalled/InvalidSpec by the operator; wait for all at once.
    let verdicts = join_all(accepted.iter().map(|(case, kind, name)| {
        let api = if kind == "ZeroEtlIntegration" {
            env.integrations()
        } else {
            env.connections()
        };
        async move {
            let result = wait_for(
                &api,
                name,
                "Stalled=True with reason InvalidSpec",
                STALLED_TIMEOUT,
                |o| {
                    condition(o, "Stalled").is_some_and(|c| {
                        condition_field(&c, "status") == "True"
                            && condition_field(&c, "reason") == "InvalidSpec"
                    })
                },
            )
            .await;
            (case, result)
        }
    }))
    .await;
    for (case, result) in verdicts {
        match result {
            Ok(object) => {
                let message = condition(&object, "Stalled")
                    .map(|c| condition_field(&c, "message"))
                    .unwrap_or_default();
                if names_path(&message, &case.expect) {
                    report.push(format!(
                        "{:<44} operator     {message}",
                        file_name(&case.file)
                    ));
                } else {
                    failures.push(format!(
                        "{}: Stalled/InvalidSpec without naming {}: {message}",
                        file_name(&case.file),
                        case.expect
                    ));
                }
            }
            Err(err) => failures.push(format!("{}: {err:#}", file_name(&case.file))),
        }
    }

    eprintln!(
        "caught ({} of {}):\n  {}",
        report.len(),
        cases.len(),
        report.join("\n  ")
    );
    let calls = total_calls(&sim);
    if calls != 0 {
        failures.push(format!(
            "the operator made {calls} AWS calls for invalid input: {:?}",
            sim.counts()
        ));
    }
    assert!(
        failures.is_empty(),
        "bad input not caught properly:\n  {}",
        failures.join("\n  ")
    );
    Ok(())
}
