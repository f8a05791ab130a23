//! `cargo xtask control-plane build|up|down|env`: a control plane left running for manual work.

use std::path::{Path, PathBuf};

use anyhow::Result;
use zeroetl_e2e::control_plane::{self, ControlPlane, ControlPlaneOptions, DEFAULT_READY_TIMEOUT};
use zeroetl_e2e::paths::cache_dir;
use zeroetl_e2e::process::Lifetime;

use crate::system;

fn default_dir() -> PathBuf {
    cache_dir().join("control-plane")
}

pub fn build() -> Result<()> {
    system::ensure_packages()?;
    let binaries = system::ensure_kube_binaries()?;
    println!(
        "etcd:                    {}\nkube-apiserver:          {}\nkube-controller-manager: {}",
        binaries.etcd.display(),
        binaries.kube_apiserver.display(),
        binaries.kube_controller_manager.as_deref().map_or_else(
            || "(none: no garbage collection)".to_owned(),
            |p| p.display().to_string()
        )
    );
    Ok(())
}

pub async fn up(dir: Option<PathBuf>) -> Result<()> {
    let dir = dir.unwrap_or_else(default_dir);
    let stopped = control_plane::stop_detached(&dir)?;
    if !stopped.is_empty() {
        eprintln!("stopped the previous control plane in {}", dir.display());
    }
    system::ensure_packages()?;
    let binaries = system::ensure_kube_binaries()?;
    let plane = ControlPlane::start(
        &binaries,
        ControlPlaneOptions {
            dir: dir.clone(),
            lifetime: Lifetime::Detached,
            remove_dir_on_stop: false,
            ready_timeout: DEFAULT_READY_TIMEOUT,
        },
    )
    .await?;
    eprintln!(
        "control plane up at {} (logs in {})",
        plane.server(),
        dir.display()
    );
    eprintln!(
        "stop it with: cargo xtask control-plane down{}",
        dir_flag(&dir)
    );
    println!("{}", plane.kubeconfig_path().display());
    plane.detach();
    Ok(())
}

pub fn down(dir: Option<PathBuf>) -> Result<()> {
    let dir = dir.unwrap_or_else(default_dir);
    let stopped = control_plane::stop_detached(&dir)?;
    if stopped.is_empty() {
        eprintln!("no control plane was running in {}", dir.display());
    } else {
        eprintln!(
            "stopped {} in {}; no process left",
            stopped.join(", "),
            dir.display()
        );
    }
    Ok(())
}

pub fn env(dir: Option<PathBuf>) -> Result<()> {
    let dir = dir.unwrap_or_else(default_dir);
    match zeroetl_e2e::paths::KubeBinaries::locate() {
        Ok(binaries) => {
            let folder = binaries.kube_apiserver.parent().unwrap_or(Path::new("."));
            println!("export KUBEBUILDER_ASSETS={}", folder.display());
        }
        Err(err) => eprintln!("# {err:#}"),
    }
    let kubeconfig = dir.join("kubeconfig");
    if dir.join("processes.json").is_file() && kubeconfig.is_file() {
        println!("export KUBECONFIG={}", kubeconfig.display());
    } else {
        eprintln!(
            "# no control plane running in {} (start one with `cargo xtask control-plane up`)",
            dir.display()
        );
    }
    Ok(())
}

fn dir_flag(dir: &Path) -> String {
    if dir == default_dir() {
        String::new()
    } else {
        format!(" --dir {}", dir.display())
    }
}
