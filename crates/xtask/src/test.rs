//! `cargo xtask test`: the one test command (README, .ci/run). From a fresh clone with an empty cache it
//! installs what is missing, checks formatting and lints, builds, runs every test against one shared
//! control plane, and fails if any process it started is still running afterwards.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Result};
use zeroetl_e2e::control_plane::{ControlPlane, ControlPlaneOptions, DEFAULT_READY_TIMEOUT};
use zeroetl_e2e::paths::workspace_binary;
use zeroetl_e2e::process::{processes_with_env, signal_group, Lifetime};
use zeroetl_e2e::shared::SHARED_KUBECONFIG_ENV;

use crate::system;
use crate::util::{block_on, cargo, run_checked, Phases};

/// Inherited by everything the test phase starts, so leftovers can be found afterwards.
const RUN_MARKER_ENV: &str = "ZEROETL_TEST_RUN";

pub fn run() -> Result<()> {
    let mut phases = Phases::default();
    let result = run_phases(&mut phases);
    eprintln!("{}", phases.summary());
    if result.is_ok() {
        eprintln!("cargo xtask test: all phases passed");
    }
    result
}

fn run_phases(phases: &mut Phases) -> Result<()> {
    phases.run("system packages", system::ensure_packages)?;
    let binaries = phases.run("control-plane binaries", system::ensure_kube_binaries)?;
    phases.run("rust components", system::ensure_rust_components)?;
    // Lint findings do not hide test results: they fail the run at the end.
    let formatted = phases.run("cargo fmt --check", || {
        run_checked(cargo().args(["fmt", "--all", "--", "--check"]))
    });
    let linted = phases.run("cargo clippy", || {
        run_checked(cargo().args([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    });
    phases.run("cargo build (binaries)", || {
        run_checked(cargo().args(["build", "--workspace", "--bins"]))
    })?;
    let crds_current = phases.run("CRD files up to date", || {
        crate::crd::check_with_binary(&workspace_binary("zeroetl-operator"))
    });

    let marker = format!(
        "{}-{}",
        std::process::id(),
        SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos()
    );
    let dir = std::env::temp_dir().join(format!("zeroetl-test-{}", std::process::id()));
    let mut plane = phases.run("control plane up", || {
        block_on(ControlPlane::start(
            &binaries,
            ControlPlaneOptions {
                dir: dir.clone(),
                lifetime: Lifetime::Attached,
                remove_dir_on_stop: true,
                ready_timeout: DEFAULT_READY_TIMEOUT,
            },
        ))
    })?;
    let tests = phases.run("cargo test (unit, aws-sim, e2e)", || {
        run_checked(
            cargo()
                .args(["test", "--workspace", "--all-targets", "--no-fail-fast"])
                .env(SHARED_KUBECONFIG_ENV, plane.kubeconfig_path())
                .env(RUN_MARKER_ENV, &marker),
        )
    });
    let stopped = phases.run("control plane down", || plane.stop());
    let leaks = phases.run("leftover processes", || check_no_leftovers(&marker));
    formatted
        .and(linted)
        .and(crds_current)
        .and(tests)
        .and(stopped)
        .and(leaks)
}

/// Fails (after killing them) if processes started by the test phase are still running. Processes killed
/// when their test binary exited may need a moment to go.
fn check_no_leftovers(marker: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = processes_with_env(RUN_MARKER_ENV, marker);
        if left.is_empty() {
            eprintln!("no process left behind");
            return Ok(());
        }
        if Instant::now() >= deadline {
            for process in &left {
                signal_group(process.pid, libc::SIGKILL);
            }
            let list: Vec<String> = left
                .iter()
                .map(|p| format!("{} {}", p.pid, p.command_line))
                .collect();
            bail!(
                "processes started by the tests were still running (now killed):\n  {}",
                list.join("\n  ")
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
