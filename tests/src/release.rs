//! The release's invariants, shared by `cargo xtask release` and tests/tests/release.rs: one version (the
//! workspace's) everywhere it is written down, and a Docker build context that holds what the Dockerfile
//! needs.

use std::path::Path;
use std::process::Command;

use anyhow::{anyhow, bail, ensure, Context, Result};
use serde_json::Value;

/// The chart, relative to the workspace root.
pub const CHART_DIR: &str = "charts/zeroetl-operator";

/// `[workspace.package] version` of the root Cargo.toml: the one source of the version.
pub fn workspace_version(root: &Path) -> Result<String> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).context("read Cargo.toml")?;
    let mut in_section = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_section = line == "[workspace.package]";
        } else if in_section {
            if let Some(value) = toml_string(line, "version") {
                return Ok(value);
            }
        }
    }
    bail!("Cargo.toml has no [workspace.package] version")
}

/// The string value of `key = "value"`, when `line` is that assignment.
fn toml_string(line: &str, key: &str) -> Option<String> {
    let (k, v) = line.split_once('=')?;
    let v = v.trim();
    (k.trim() == key && v.len() >= 2 && v.starts_with('"') && v.ends_with('"'))
        .then(|| v[1..v.len() - 1].to_string())
}

/// Every place that repeats the version, with the value found there (None: not found).
pub fn version_copies(root: &Path) -> Result<Vec<(String, Option<String>)>> {
    let mut copies = Vec::new();

    let chart: Value = read_yaml(&root.join(CHART_DIR).join("Chart.yaml"))?;
    for field in ["version", "appVersion"] {
        copies.push((
            format!("{CHART_DIR}/Chart.yaml {field}"),
            chart.get(field).and_then(Value::as_str).map(str::to_string),
        ));
    }

    let kustomization: Value = read_yaml(&root.join("config/manager/kustomization.yaml"))?;
    let tag = kustomization["images"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["name"] == "zeroetl-operator")
        .and_then(|i| i["newTag"].as_str())
        .map(str::to_string);
    copies.push((
        "config/manager/kustomization.yaml images[zeroetl-operator].newTag".into(),
        tag,
    ));

    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).context("read Dockerfile")?;
    const LABEL: &str = "org.opencontainers.image.version=\"";
    let label = dockerfile
        .find(LABEL)
        .and_then(|at| dockerfile[at + LABEL.len()..].split('"').next())
        .map(str::to_string);
    copies.push((
        "Dockerfile label org.opencontainers.image.version".into(),
        label,
    ));

    // `cargo build --locked` fails when the lock file records other versions of our own crates.
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).context("read Cargo.lock")?;
    for member in workspace_member_names(root)? {
        copies.push((
            format!("Cargo.lock package {member}"),
            locked_version(&lock, &member),
        ));
    }
    Ok(copies)
}

/// The places whose version differs from the workspace's, one line each.
pub fn version_mismatches(root: &Path) -> Result<Vec<String>> {
    let version = workspace_version(root)?;
    Ok(version_copies(root)?
        .into_iter()
        .filter(|(_, found)| found.as_deref() != Some(version.as_str()))
        .map(|(place, found)| match found {
            Some(found) => format!("{place} is {found}, the workspace version is {version}"),
            None => format!("{place} is missing (the workspace version is {version})"),
        })
        .collect())
}

/// The package names of the workspace members (each member's Cargo.toml `[package] name`).
pub fn workspace_member_names(root: &Path) -> Result<Vec<String>> {
    workspace_members(root)?
        .iter()
        .map(|dir| {
            let manifest = std::fs::read_to_string(root.join(dir).join("Cargo.toml"))
                .with_context(|| format!("read {dir}/Cargo.toml"))?;
            manifest
                .lines()
                .find_map(|l| toml_string(l.trim(), "name"))
                .ok_or_else(|| anyhow!("{dir}/Cargo.toml has no package name"))
        })
        .collect()
}

/// The member folders listed in `[workspace] members`.
pub fn workspace_members(root: &Path) -> Result<Vec<String>> {
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).context("read Cargo.toml")?;
    let start = manifest
        .find("members")
        .ok_or_else(|| anyhow!("Cargo.toml has no workspace members"))?;
    let list = &manifest[start..];
    let open = list
        .find('[')
        .ok_or_else(|| anyhow!("members is not a list"))?;
    let close = list
        .find(']')
        .ok_or_else(|| anyhow!("members is not a list"))?;
    Ok(list[open + 1..close]
        .split(',')
        .map(|m| m.trim().trim_matches('"').to_string())
        .filter(|m| !m.is_empty())
        .collect())
}

/// The version Cargo.lock records for package `name`.
fn locked_version(lock: &str, name: &str) -> Option<String> {
    let wanted = format!("name = \"{name}\"");
    let mut lines = lock.lines();
    while let Some(line) = lines.next() {
        if line.trim() == wanted {
            return lines.next().and_then(|l| toml_string(l.trim(), "version"));
        }
    }
    None
}

fn read_yaml(path: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    serde_yaml::from_str(&text).with_context(|| format!("parse {}", path.display()))
}

// ---------------------------------------------------------------------------------------------------------
// The Docker build context.
// ---------------------------------------------------------------------------------------------------------

/// The Dockerfile's instructions, continuation lines joined and comments dropped: (KEYWORD, arguments).
pub fn dockerfile_instructions(text: &str) -> Vec<(String, String)> {
    let mut instructions = Vec::new();
    let mut pending = String::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (pending.is_empty() && trimmed.is_empty()) {
            continue;
        }
        if let Some(body) = trimmed.strip_suffix('\\') {
            pending.push_str(body);
            pending.push(' ');
            continue;
        }
        pending.push_str(trimmed);
        if let Some((keyword, args)) = pending.split_once(char::is_whitespace) {
            instructions.push((keyword.to_uppercase(), args.trim().to_string()));
        }
        pending.clear();
    }
    instructions
}

/// The sources of every COPY/ADD that reads the build context (not `--from` another stage).
pub fn context_sources(instructions: &[(String, String)]) -> Vec<String> {
    let mut sources = Vec::new();
    for (keyword, args) in instructions {
        if keyword != "COPY" && keyword != "ADD" {
            continue;
        }
        let words: Vec<&str> = args.split_whitespace().collect();
        if words.iter().any(|w| w.starts_with("--from=")) {
            continue;
        }
        let paths: Vec<&str> = words.into_iter().filter(|w| !w.starts_with("--")).collect();
        if let Some((_, srcs)) = paths.split_last() {
            sources.extend(srcs.iter().map(|s| s.to_string()));
        }
    }
    sources
}

/// The `cargo build` step of the Dockerfile's build stage, as a shell command: the `&&`-joined parts of its
/// RUN up to and including `cargo build` (what comes after copies the result out of the cache mount).
pub fn dockerfile_build_command(dockerfile: &str) -> Result<String> {
    let instructions = dockerfile_instructions(dockerfile);
    let (_, run) = instructions
        .iter()
        .find(|(k, a)| k == "RUN" && a.contains("cargo build"))
        .ok_or_else(|| anyhow!("the Dockerfile has no RUN with cargo build"))?;
    let words: Vec<&str> = run.split(' ').collect();
    let script = words
        .iter()
        .skip_while(|w| w.starts_with("--mount=") || w.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    let mut steps = Vec::new();
    for step in script.split("&&") {
        let step = step.split_whitespace().collect::<Vec<_>>().join(" ");
        let is_build = step.contains("cargo build");
        steps.push(step);
        if is_build {
            return Ok(steps.join(" && "));
        }
    }
    bail!("no cargo build in the RUN instruction: {run}")
}

/// One `.dockerignore` rule.
#[derive(Clone, Debug)]
struct IgnoreRule {
    exception: bool,
    segments: Vec<String>,
}

/// `.dockerignore` with Docker's semantics: `*`, `?` and `**` globs on `/`-separated paths relative to the
/// context root, a leading `!` re-includes, the last matching rule wins, and a rule that matches a folder
/// matches everything inside it.
#[derive(Clone, Debug, Default)]
pub struct DockerIgnore {
    rules: Vec<IgnoreRule>,
}

impl DockerIgnore {
    pub fn parse(text: &str) -> Result<DockerIgnore> {
        let mut rules = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exception, pattern) = match line.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, line),
            };
            ensure!(
                !pattern.contains('['),
                ".dockerignore pattern {pattern:?}: character classes are not supported here"
            );
            let segments: Vec<String> = pattern
                .split('/')
                .filter(|s| !s.is_empty() && *s != ".")
                .map(str::to_string)
                .collect();
            if !segments.is_empty() {
                rules.push(IgnoreRule {
                    exception,
                    segments,
                });
            }
        }
        Ok(DockerIgnore { rules })
    }

    /// Whether `path` (relative, `/`-separated) is left out of the build context.
    pub fn excludes(&self, path: &str) -> bool {
        let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
        let mut excluded = false;
        for rule in &self.rules {
            // The path itself or one of its parent folders.
            let hit = (1..=parts.len()).any(|n| segments_match(&rule.segments, &parts[..n]));
            if hit {
                excluded = !rule.exception;
            }
        }
        excluded
    }
}

fn segments_match(pattern: &[String], path: &[&str]) -> bool {
    match pattern.split_first() {
        None => path.is_empty(),
        Some((first, rest)) if first == "**" => {
            (0..=path.len()).any(|skip| segments_match(rest, &path[skip..]))
        }
        Some((first, rest)) => match path.split_first() {
            Some((segment, path_rest)) => {
                glob(first.as_bytes(), segment.as_bytes()) && segments_match(rest, path_rest)
            }
            None => false,
        },
    }
}

/// `*` and `?` within one path segment.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| glob(rest, &text[skip..])),
        Some((b'?', rest)) => !text.is_empty() && glob(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && glob(rest, &text[1..]),
    }
}

/// The files the Docker build needs from the context: the workspace manifests, the lock file and every
/// tracked file of the workspace members (cargo loads every member even when building one package).
pub fn files_the_build_needs(root: &Path) -> Result<Vec<String>> {
    let members = workspace_members(root)?;
    let tracked = tracked_files(root)?;
    let needed: Vec<String> = tracked
        .into_iter()
        .filter(|f| {
            f == "Cargo.toml"
                || f == "Cargo.lock"
                || members.iter().any(|m| f.starts_with(&format!("{m}/")))
        })
        .collect();
    ensure!(
        needed.iter().any(|f| f == "Cargo.lock"),
        "Cargo.lock is not tracked by git: `cargo build --locked` in the image needs it"
    );
    Ok(needed)
}

/// `git ls-files` in `root`.
pub fn tracked_files(root: &Path) -> Result<Vec<String>> {
    let output = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "-z"])
        .output()
        .context("run git ls-files (git is needed to know what the build context holds)")?;
    ensure!(
        output.status.success(),
        "git ls-files failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(String::from_utf8(output.stdout)
        .context("git ls-files output is not UTF-8")?
        .split('\0')
        .filter(|f| !f.is_empty())
        .map(str::to_string)
        .collect())
}

/// What is wrong with the build context for the Dockerfile at `root`: a COPY source that does not exist or
/// is ignored, or a file the build needs that `.dockerignore` leaves out. Empty when it is complete.
pub fn build_context_problems(root: &Path) -> Result<Vec<String>> {
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).context("read Dockerfile")?;
    let ignore_path = root.join(".dockerignore");
    let ignore = if ignore_path.is_file() {
        DockerIgnore::parse(&std::fs::read_to_string(&ignore_path)?)?
    } else {
        DockerIgnore::default()
    };
    let mut problems = Vec::new();
    let sources = context_sources(&dockerfile_instructions(&dockerfile));
    ensure!(
        !sources.is_empty(),
        "the Dockerfile copies nothing from the build context"
    );
    for source in &sources {
        let relative = source.trim_start_matches("./").trim_start_matches('/');
        if relative.is_empty() || relative == "." {
            continue; // the whole context: judged file by file below
        }
        if !root.join(relative).exists() {
            problems.push(format!("COPY source {source} does not exist"));
        } else if ignore.excludes(relative) {
            problems.push(format!("COPY source {source} is excluded by .dockerignore"));
        }
    }
    for file in files_the_build_needs(root)? {
        if ignore.excludes(&file) {
            problems.push(format!(
                "{file} is needed by the build but excluded by .dockerignore"
            ));
        }
    }
    Ok(problems)
}

/// Whether the ELF file at `path` is statically linked: it asks for no program interpreter (no PT_INTERP
/// program header), which covers static and static-pie executables.
pub fn is_static_elf(path: &Path) -> Result<bool> {
    let bytes = std::fs::read(path).with_context(|| format!("read {}", path.display()))?;
    ensure!(
        bytes.len() >= 64 && bytes[..4] == *b"\x7fELF" && bytes[4] == 2 && bytes[5] == 1,
        "{} is not a 64-bit little-endian ELF file",
        path.display()
    );
    let u16_at = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]) as usize;
    let phoff = u64::from_le_bytes(bytes[32..40].try_into()?) as usize;
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    const PT_INTERP: u32 = 3;
    for n in 0..phnum {
        let at = phoff + n * phentsize;
        ensure!(at + 4 <= bytes.len(), "{} is truncated", path.display());
        if u32::from_le_bytes(bytes[at..at + 4].try_into()?) == PT_INTERP {
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerignore_follows_docker_rules() {
        let ignore =
            DockerIgnore::parse("target/\n.git\n**/*.swp\n/docs\n!docs/keep.md\n").unwrap();
        assert!(ignore.excludes("target"));
        assert!(ignore.excludes("target/debug/zeroetl-operator"));
        assert!(ignore.excludes(".git/HEAD"));
        assert!(ignore.excludes("crates/api/src/.lib.rs.swp"));
        assert!(ignore.excludes("x.swp"));
        assert!(ignore.excludes("docs/gitops.md"));
        assert!(!ignore.excludes("docs/keep.md"));
        assert!(!ignore.excludes("crates/target-list.rs"));
        assert!(
            !ignore.excludes("crates/api/target/x"),
            "target/ is anchored at the root"
        );
        assert!(!ignore.excludes("Cargo.toml"));
    }

    #[test]
    fn build_command_is_the_run_up_to_cargo_build() {
        let dockerfile = "FROM rust AS build\nRUN --mount=type=cache,target=/x \\\n    host=\"$(rustc -vV)\" \\\n    && RUSTFLAGS=\"-C a\" cargo build --release \\\n    && cp a b\n";
        assert_eq!(
            dockerfile_build_command(dockerfile).unwrap(),
            "host=\"$(rustc -vV)\" && RUSTFLAGS=\"-C a\" cargo build --release"
        );
    }

    #[test]
    fn context_sources_skip_other_stages() {
        let instructions = dockerfile_instructions(
            "FROM a AS b\nCOPY --chown=1:1 Cargo.toml Cargo.lock ./\nCOPY . .\nFROM c\nCOPY --from=b /x /x\n",
        );
        assert_eq!(
            context_sources(&instructions),
            ["Cargo.toml", "Cargo.lock", "."]
        );
    }
}
