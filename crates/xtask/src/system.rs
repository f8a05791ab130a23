//! Machine prerequisites: Debian packages and the control-plane binaries (built once, cached outside the
//! clone).

use std::process::Command;

use anyhow::{bail, Result};
use zeroetl_e2e::paths::{kube_build_dir, KubeBinaries};

use crate::util::run_checked;

/// Builds kube-apiserver + kube-controller-manager 1.20.2 from Debian's source package (idempotent).
const BUILD_KUBE_SCRIPT: &str = include_str!("scripts/build-kube.sh");

/// Commands the harness needs, and the Debian package that provides each.
const PACKAGES: &[(&str, &str)] = &[
    ("openssl", "openssl"),
    ("kubectl", "kubernetes-client"),
    ("bash", "bash"),
    ("python3", "python3"),
    // Argo CD health scripts run under Lua 5.1 in tests/tests/argocd_health.rs.
    ("lua5.1", "lua5.1"),
];

/// Python modules the tests import, and the `pip install` arguments that provide each.
const PYTHON_PACKAGES: &[(&str, &[&str])] = &[
    // Helm as a shared library (tests/deploy/helm_check.py); its metadata asks for Python 3.12, it runs on 3.11.
    ("helm_sdkpy", &["--ignore-requires-python", "helm-sdkpy"]),
];

fn on_path(command: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(command).is_file()))
}

/// Root runs apt-get directly; anyone else goes through sudo.
fn privileged(program: &str) -> Command {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        Command::new(program)
    } else {
        let mut command = Command::new("sudo");
        command.arg(program);
        command
    }
}

/// Installs the missing packages of [`PACKAGES`] with apt-get (after an `apt-get update`).
pub fn ensure_packages() -> Result<()> {
    let missing: Vec<&str> = PACKAGES
        .iter()
        .filter(|(command, _)| !on_path(command))
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        eprintln!("system packages present");
        return ensure_python_packages();
    }
    if !on_path("apt-get") {
        bail!("missing commands provided by {missing:?} and no apt-get to install them: install them by hand");
    }
    run_checked(privileged("apt-get").args(["update", "-qq"]))?;
    run_checked(
        privileged("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )?;
    ensure_python_packages()
}

/// Installs the missing modules of [`PYTHON_PACKAGES`] with `python3 -m pip`.
fn ensure_python_packages() -> Result<()> {
    for (module, pip_args) in PYTHON_PACKAGES {
        let present = Command::new("python3")
            .args(["-c", &format!("import {module}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !present {
            run_checked(
                Command::new("python3")
                    .args(["-m", "pip", "install", "--quiet"])
                    .args(*pip_args),
            )?;
        }
    }
    Ok(())
}

/// The control-plane binaries: `$KUBEBUILDER_ASSETS` if set, else the cached build (built on first use,
/// about 5 minutes on 2 cores).
pub fn ensure_kube_binaries() -> Result<KubeBinaries> {
    let from_assets = std::env::var_os("KUBEBUILDER_ASSETS").is_some_and(|v| !v.is_empty());
    if !from_assets {
        run_checked(
            Command::new("bash")
                .arg("-c")
                .arg(BUILD_KUBE_SCRIPT)
                .arg("build-kube.sh")
                .arg(kube_build_dir()),
        )?;
    }
    let binaries = KubeBinaries::locate()?;
    eprintln!(
        "control-plane binaries: {} {}",
        binaries.kube_apiserver.display(),
        binaries.etcd.display()
    );
    Ok(binaries)
}

/// rustfmt and clippy, added through rustup when missing.
pub fn ensure_rust_components() -> Result<()> {
    let have = |sub: &str| {
        crate::util::cargo()
            .args([sub, "--version"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if have("fmt") && have("clippy") {
        return Ok(());
    }
    if !on_path("rustup") {
        bail!("cargo fmt / cargo clippy are missing and rustup is not available: install rustfmt and clippy");
    }
    run_checked(Command::new("rustup").args(["component", "add", "rustfmt", "clippy"]))
}
