//! Where things live: the workspace, the cache outside the clone, the cargo target dir, the binaries.

use std::env;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};

/// The Kubernetes release the cached control plane is built from.
pub const KUBE_VERSION: &str = "1.20.2";

/// The repository root (this crate lives in `<root>/tests`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// `~/.cache/zeroetl`: kept outside the clone so a fresh clone reuses the expensive builds.
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = env::var_os("ZEROETL_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    let home = env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| "/root".into());
    home.join(".cache").join("zeroetl")
}

/// Where `build-kube.sh` puts kube-apiserver, kube-controller-manager and etcd.
pub fn kube_build_dir() -> PathBuf {
    cache_dir().join(format!("kube-{KUBE_VERSION}"))
}

/// Cargo's target directory: `$CARGO_TARGET_DIR` (relative to the root if relative) or `<root>/target`.
pub fn target_dir() -> PathBuf {
    match env::var_os("CARGO_TARGET_DIR") {
        Some(dir) if Path::new(&dir).is_absolute() => PathBuf::from(dir),
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    }
}

/// A workspace binary built by `cargo build --workspace --bins` (debug profile).
pub fn workspace_binary(name: &str) -> PathBuf {
    target_dir().join("debug").join(name)
}

/// The operator binary: `$ZEROETL_OPERATOR_BIN`, else the debug build in the target dir.
pub fn operator_binary() -> Result<PathBuf> {
    let path = env::var_os("ZEROETL_OPERATOR_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_binary("zeroetl-operator"));
    if !path.is_file() {
        bail!(
            "the operator binary {} does not exist: build it with `cargo build --workspace --bins` \
             (or run everything with `cargo xtask test`)",
            path.display()
        );
    }
    Ok(path)
}

/// The binaries a control plane runs.
#[derive(Debug, Clone)]
pub struct KubeBinaries {
    pub etcd: PathBuf,
    pub kube_apiserver: PathBuf,
    /// envtest asset folders ship without it; garbage collection is then off.
    pub kube_controller_manager: Option<PathBuf>,
}

impl KubeBinaries {
    /// From `$KUBEBUILDER_ASSETS` if set, else from the cached build.
    pub fn locate() -> Result<Self> {
        match env::var_os("KUBEBUILDER_ASSETS") {
            Some(dir) if !dir.is_empty() => Self::in_dir(Path::new(&dir), "KUBEBUILDER_ASSETS"),
            _ => {
                let bin = kube_build_dir().join("bin");
                if !bin.join(".complete").is_file() {
                    bail!(
                        "no Kubernetes control-plane binaries in {}: run `cargo xtask control-plane build` \
                         (builds them once, ~5 min) or set KUBEBUILDER_ASSETS to a folder holding etcd and \
                         kube-apiserver",
                        bin.display()
                    );
                }
                Self::in_dir(&bin, "the cache")
            }
        }
    }

    fn in_dir(dir: &Path, origin: &str) -> Result<Self> {
        let etcd = dir.join("etcd");
        let kube_apiserver = dir.join("kube-apiserver");
        for needed in [&etcd, &kube_apiserver] {
            if !needed.is_file() {
                bail!(
                    "{} (from {origin}) is missing: run `cargo xtask control-plane build` or set \
                     KUBEBUILDER_ASSETS to a folder holding etcd and kube-apiserver",
                    needed.display()
                );
            }
        }
        let kcm = dir.join("kube-controller-manager");
        Ok(Self {
            etcd,
            kube_apiserver,
            kube_controller_manager: kcm.is_file().then_some(kcm),
        })
    }
}
