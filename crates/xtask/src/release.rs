//! `cargo xtask release`: checks that every copy of the version equals the workspace's and that the Docker
//! build context holds what the Dockerfile needs, builds the release binary with the Dockerfile's own cargo
//! command (glibc linked statically), packages the Helm chart as `zeroetl-operator-<version>.tgz`, and prints
//! what it made. No image is built: there is no Docker engine here; the `docker build` command is printed.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use zeroetl_e2e::paths::{target_dir, workspace_root};
use zeroetl_e2e::release::{
    build_context_problems, dockerfile_build_command, is_static_elf, version_mismatches,
    workspace_version, CHART_DIR,
};

use crate::system;
use crate::util::{output, run_checked, Phases};

/// What makes the Dockerfile's build static; dropped for the fallback build when static linking fails.
const STATIC_RUSTFLAGS: &str = "RUSTFLAGS=\"-C target-feature=+crt-static\" ";
const BINARY: &str = "zeroetl-operator";
const CHART_NAME: &str = "zeroetl-operator";

/// helm-sdkpy's `helm package`: argv[1] the chart folder, argv[2] the destination; prints the archive path.
const PACKAGE_CHART_PY: &str = r#"
import asyncio, sys
import helm_sdkpy
config = helm_sdkpy.Configuration()
print(asyncio.run(asyncio.wait_for(helm_sdkpy.Package(config).run(sys.argv[1], dest_dir=sys.argv[2]), 120)))
"#;

/// One thing the release made.
struct Artifact {
    path: PathBuf,
    note: String,
}

pub fn run() -> Result<()> {
    let mut phases = Phases::default();
    let result = run_phases(&mut phases);
    eprintln!("{}", phases.summary());
    let artifacts = result?;
    println!("cargo xtask release made:");
    for artifact in &artifacts {
        let size = std::fs::metadata(&artifact.path)?.len();
        let sha256 = output(Command::new("sha256sum").arg(&artifact.path))?;
        let sha256 = sha256.split_whitespace().next().unwrap_or_default();
        println!("  {}", artifact.path.display());
        println!("      {size} bytes, sha256 {sha256}");
        println!("      {}", artifact.note);
    }
    Ok(())
}

fn run_phases(phases: &mut Phases) -> Result<Vec<Artifact>> {
    let root = workspace_root();
    let version = workspace_version(&root)?;
    eprintln!("release {version} (the [workspace.package] version of Cargo.toml)");
    let dist = target_dir().join("dist");
    std::fs::create_dir_all(&dist)?;

    phases.run("one version everywhere", || {
        let mismatches = version_mismatches(&root)?;
        ensure!(
            mismatches.is_empty(),
            "the version is not the same everywhere:\n  {}",
            mismatches.join("\n  ")
        );
        Ok(())
    })?;
    phases.run("Docker build context", || {
        let problems = build_context_problems(&root)?;
        ensure!(
            problems.is_empty(),
            "the Docker build context does not hold what the Dockerfile needs:\n  {}",
            problems.join("\n  ")
        );
        eprintln!("every COPY source and every file the build needs is in the build context");
        Ok(())
    })?;
    phases.run("system packages", system::ensure_packages)?;
    let binary = phases.run("release binary", || build_binary(&root, &version, &dist))?;
    let chart = phases.run("Helm chart package", || {
        package_chart(&root, &version, &dist)
    })?;
    let image = image_repository(&root)?;
    eprintln!(
        "\nThe image (no Docker engine here):\n  docker build -t {image}:{version} .\n\
         The chart's image.tag defaults to its appVersion, {version}."
    );
    Ok(vec![binary, chart])
}

/// The host's target triple, which the Dockerfile's build also uses.
fn host_triple() -> Result<String> {
    let info = output(Command::new("rustc").arg("-vV"))?;
    info.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_string)
        .context("rustc -vV printed no host triple")
}

fn build_binary(root: &Path, version: &str, dist: &Path) -> Result<Artifact> {
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile"))?;
    let command = dockerfile_build_command(&dockerfile)?;
    ensure!(
        command.contains(STATIC_RUSTFLAGS.trim_end()),
        "the Dockerfile's build no longer sets {STATIC_RUSTFLAGS}: update {}",
        file!()
    );
    let host = host_triple()?;
    let built = target_dir().join(&host).join("release").join(BINARY);

    let mut note = match run_build(root, &command) {
        Ok(()) => String::new(),
        Err(static_error) => {
            let dynamic = command.replace(STATIC_RUSTFLAGS, "");
            eprintln!(
                "the static build failed ({static_error:#}); building the normal (dynamically linked) \
                 release binary instead"
            );
            run_build(root, &dynamic).context("the normal release build failed too")?;
            format!("static linking failed here ({static_error:#}); ")
        }
    };
    let linked_statically = is_static_elf(&built)?;
    note.push_str(if linked_statically {
        "statically linked (glibc via crt-static)"
    } else {
        "dynamically linked"
    });

    let reported = output(Command::new(&built).arg("--version"))?;
    ensure!(
        reported.split_whitespace().any(|w| w == version),
        "{} --version printed {reported:?}, not version {version}",
        built.display()
    );
    let copy = dist.join(format!("{BINARY}-{version}-{host}"));
    std::fs::copy(&built, &copy)
        .with_context(|| format!("copy {} to {}", built.display(), copy.display()))?;
    note.push_str(&format!(", built by the Dockerfile's command: {command}"));
    Ok(Artifact { path: copy, note })
}

/// Runs the Dockerfile's shell command in the workspace, with our target dir.
fn run_build(root: &Path, command: &str) -> Result<()> {
    run_checked(
        Command::new("bash")
            .args(["-c", &format!("set -euo pipefail\n{command}\n")])
            .current_dir(root)
            .env("CARGO_TARGET_DIR", target_dir()),
    )
}

fn package_chart(root: &Path, version: &str, dist: &Path) -> Result<Artifact> {
    let chart_dir = root.join(CHART_DIR);
    let expected = dist.join(format!("{CHART_NAME}-{version}.tgz"));
    let printed = output(
        Command::new("python3")
            .args(["-c", PACKAGE_CHART_PY])
            .arg(&chart_dir)
            .arg(dist),
    )
    .context("helm package through helm-sdkpy (pip install --ignore-requires-python helm-sdkpy)")?;
    let made = PathBuf::from(printed.trim());
    ensure!(
        made == expected,
        "helm packaged {} instead of {}",
        made.display(),
        expected.display()
    );

    // What is inside carries the same version, and the CRDs travel with it.
    let listing = output(Command::new("tar").arg("-tzf").arg(&made))?;
    for crd in [
        "zeroetl.dev_zeroetlintegrations.yaml",
        "zeroetl.dev_redshiftconnections.yaml",
        "zeroetl.dev_redshiftconsumers.yaml",
    ] {
        let entry = format!("{CHART_NAME}/crds/{crd}");
        ensure!(
            listing.lines().any(|l| l == entry),
            "{} lacks {entry}",
            made.display()
        );
    }
    let chart_yaml = output(
        Command::new("tar")
            .arg("-xzOf")
            .arg(&made)
            .arg(format!("{CHART_NAME}/Chart.yaml")),
    )?;
    let chart: Value = serde_yaml::from_str(&chart_yaml)?;
    for field in ["version", "appVersion"] {
        if chart[field].as_str() != Some(version) {
            bail!(
                "the packaged Chart.yaml has {field} {}, not {version}",
                chart[field]
            );
        }
    }
    Ok(Artifact {
        path: made,
        note: format!(
            "Helm chart {CHART_NAME} version {version}, appVersion {version}, CRDs in crds/"
        ),
    })
}

/// The chart's default image repository (values.yaml image.repository).
fn image_repository(root: &Path) -> Result<String> {
    let values: Value = serde_yaml::from_str(&std::fs::read_to_string(
        root.join(CHART_DIR).join("values.yaml"),
    )?)?;
    values["image"]["repository"]
        .as_str()
        .map(str::to_string)
        .context("values.yaml has no image.repository")
}
