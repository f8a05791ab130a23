//! The release story: one version (the workspace's) in the chart, the image tag and the lock file; a
//! Docker build context that holds what the Dockerfile needs; the Dockerfile's static build being the command
//! `cargo xtask release` runs; license and changelog in place.

use anyhow::{ensure, Context, Result};
use serde_json::Value;
use zeroetl_e2e::paths::workspace_root;
use zeroetl_e2e::release::{
    build_context_problems, dockerfile_build_command, files_the_build_needs, version_copies,
    version_mismatches, workspace_member_names, workspace_version, DockerIgnore, CHART_DIR,
};

fn read(path: &str) -> Result<String> {
    std::fs::read_to_string(workspace_root().join(path)).with_context(|| format!("read {path}"))
}

#[test]
fn every_copy_of_the_version_is_the_workspace_version() -> Result<()> {
    let root = workspace_root();
    let version = workspace_version(&root)?;
    ensure!(
        version.split('.').count() == 3 && version.split('.').all(|n| n.parse::<u64>().is_ok()),
        "the workspace version {version} is not MAJOR.MINOR.PATCH"
    );
    let mismatches = version_mismatches(&root)?;
    ensure!(mismatches.is_empty(), "{}", mismatches.join("\n"));

    // The copies looked at: the chart's two fields, the kustomize image tag, the image label, and the lock
    // file's entry for every workspace crate.
    let places: Vec<String> = version_copies(&root)?.into_iter().map(|(p, _)| p).collect();
    let members = workspace_member_names(&root)?;
    ensure!(members.len() >= 6, "workspace members: {members:?}");
    ensure!(
        places.len() == 4 + members.len(),
        "unexpected version places: {places:?}"
    );
    Ok(())
}

/// A changed copy is caught: the same check on a copy of the files with the chart's version bumped.
#[test]
fn a_chart_version_that_differs_is_reported() -> Result<()> {
    let root = workspace_root();
    let scratch = std::env::temp_dir().join(format!("zeroetl-release-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let mut files = vec![
        "Cargo.toml".to_string(),
        "Cargo.lock".into(),
        "Dockerfile".into(),
        "config/manager/kustomization.yaml".into(),
        format!("{CHART_DIR}/Chart.yaml"),
    ];
    for member in zeroetl_e2e::release::workspace_members(&root)? {
        files.push(format!("{member}/Cargo.toml"));
    }
    for file in &files {
        let to = scratch.join(file);
        std::fs::create_dir_all(to.parent().expect("a file has a folder"))?;
        std::fs::copy(root.join(file), &to)?;
    }
    let chart_path = scratch.join(CHART_DIR).join("Chart.yaml");
    let chart = std::fs::read_to_string(&chart_path)?;
    let version = workspace_version(&root)?;
    let bumped = chart.replacen(&format!("\nversion: {version}\n"), "\nversion: 99.0.0\n", 1);
    ensure!(
        bumped != chart,
        "Chart.yaml has no `version: {version}` line"
    );
    std::fs::write(&chart_path, bumped)?;
    let mismatches = version_mismatches(&scratch)?;
    std::fs::remove_dir_all(&scratch)?;
    ensure!(
        mismatches
            == [format!(
                "{CHART_DIR}/Chart.yaml version is 99.0.0, the workspace version is {version}"
            )],
        "{mismatches:?}"
    );
    Ok(())
}

/// The image the chart deploys is tagged with the chart's appVersion unless values override it.
#[test]
fn the_chart_image_tag_defaults_to_app_version() -> Result<()> {
    let values: Value = serde_yaml::from_str(&read(&format!("{CHART_DIR}/values.yaml"))?)?;
    ensure!(
        values["image"]["tag"] == "",
        "values.yaml image.tag must stay empty so the tag follows appVersion: {}",
        values["image"]["tag"]
    );
    let helpers = read(&format!("{CHART_DIR}/templates/_helpers.tpl"))?;
    ensure!(
        helpers.contains("default .Chart.AppVersion .Values.image.tag"),
        "_helpers.tpl no longer defaults the image tag to .Chart.AppVersion"
    );
    let deployment = read(&format!("{CHART_DIR}/templates/deployment.yaml"))?;
    ensure!(
        deployment.contains("include \"zeroetl-operator.image\""),
        "deployment.yaml does not take its image from the zeroetl-operator.image helper"
    );
    Ok(())
}

#[test]
fn the_docker_build_context_holds_what_the_dockerfile_needs() -> Result<()> {
    let root = workspace_root();
    let problems = build_context_problems(&root)?;
    ensure!(problems.is_empty(), "{}", problems.join("\n"));

    // The check looks at the files that matter: the sources of the binary, the manifests and the lock.
    let needed = files_the_build_needs(&root)?;
    for file in [
        "Cargo.toml",
        "Cargo.lock",
        "crates/controller/Cargo.toml",
        "crates/controller/src/main.rs",
        "tests/Cargo.toml",
    ] {
        ensure!(
            needed.iter().any(|f| f == file),
            "{file} is not among {needed:?}"
        );
    }
    // And would catch an ignore rule that drops them.
    let too_much = DockerIgnore::parse("target/\ncrates/*/src\n")?;
    ensure!(too_much.excludes("crates/controller/src/main.rs"));
    Ok(())
}

/// `cargo xtask release` runs the Dockerfile's command; it must build the operator statically, reproducibly.
#[test]
fn the_dockerfile_build_is_static_and_locked() -> Result<()> {
    let dockerfile = read("Dockerfile")?;
    let command = dockerfile_build_command(&dockerfile)?;
    for needed in [
        "RUSTFLAGS=\"-C target-feature=+crt-static\"",
        "cargo build --release --locked",
        "-p zeroetl-controller",
        "--bin zeroetl-operator",
        "--target \"$host\"",
    ] {
        ensure!(
            command.contains(needed),
            "the build command lacks {needed}: {command}"
        );
    }
    ensure!(
        dockerfile.contains("cp \"target/$host/release/zeroetl-operator\" /zeroetl-operator"),
        "the build stage does not copy the --target build out of the cache"
    );
    Ok(())
}

#[test]
fn license_changelog_and_versioning_policy_are_in_place() -> Result<()> {
    let license = read("LICENSE")?;
    ensure!(
        license.contains("Apache License") && license.contains("Version 2.0, January 2004"),
        "LICENSE is not the Apache License 2.0"
    );
    ensure!(
        license.contains("END OF TERMS AND CONDITIONS"),
        "LICENSE is not the full text"
    );
    let manifest = read("Cargo.toml")?;
    ensure!(manifest.contains("license = \"Apache-2.0\""));
    ensure!(read("Dockerfile")?.contains("org.opencontainers.image.licenses=\"Apache-2.0\""));

    let changelog = read("CHANGELOG.md")?;
    ensure!(
        changelog.contains("## [Unreleased]"),
        "CHANGELOG.md has no Unreleased section"
    );
    ensure!(
        changelog.contains("keepachangelog.com") && changelog.contains("semver.org"),
        "CHANGELOG.md does not say which conventions it follows"
    );
    let policy = read("docs/versioning.md")?;
    for topic in ["v1alpha1", "Deprecat", "CRD", "SemVer"] {
        ensure!(
            policy.contains(topic),
            "docs/versioning.md says nothing about {topic}"
        );
    }
    Ok(())
}
