//! kubectl against a given kubeconfig, for what users see (explain, get's printer columns).

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::paths::kube_build_dir;

/// `kubectl` from PATH, else one beside the cached control-plane binaries.
pub fn kubectl_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let candidate = dir.join("kubectl");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    let cached = kube_build_dir().join("bin").join("kubectl");
    if cached.is_file() {
        return Ok(cached);
    }
    bail!("kubectl not found: install it (`apt-get install kubernetes-client`) or run `cargo xtask test`, which does")
}

/// Runs kubectl with `args`; returns stdout, or fails with stderr.
pub fn kubectl(kubeconfig: &Path, args: &[&str]) -> Result<String> {
    let output = Command::new(kubectl_binary()?)
        .arg(format!("--kubeconfig={}", kubeconfig.display()))
        .args(args)
        .output()
        .context("run kubectl")?;
    if !output.status.success() {
        bail!(
            "kubectl {} failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}
