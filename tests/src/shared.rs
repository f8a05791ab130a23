//! One control plane per test binary, shared by its tests (each test works in its own namespace).
//! `cargo xtask test` starts one for the whole run and passes it in `ZEROETL_E2E_KUBECONFIG`; otherwise the
//! first test to ask starts one, and it is stopped when the test binary exits.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{anyhow, Result};
use kube::Client;
use tokio::sync::OnceCell;

use crate::control_plane::{
    client_from_kubeconfig, ControlPlane, ControlPlaneOptions, DEFAULT_READY_TIMEOUT,
};
use crate::paths::KubeBinaries;
use crate::process::Lifetime;

/// Set by `cargo xtask test`: the kubeconfig of a control plane to reuse.
pub const SHARED_KUBECONFIG_ENV: &str = "ZEROETL_E2E_KUBECONFIG";

/// The cluster the tests of this binary share.
pub struct SharedCluster {
    kubeconfig: PathBuf,
    /// Present when this binary started the control plane itself; taken and stopped at exit.
    plane: Mutex<Option<ControlPlane>>,
}

impl SharedCluster {
    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// A fresh client: a kube client is bound to the tokio runtime it was made on, and every test has its
    /// own runtime.
    pub async fn client(&self) -> Result<Client> {
        client_from_kubeconfig(&self.kubeconfig).await
    }
}

static SHARED: OnceCell<std::result::Result<SharedCluster, String>> = OnceCell::const_new();

/// The shared cluster, started on first use.
pub async fn shared_cluster() -> Result<&'static SharedCluster> {
    let cluster = SHARED
        .get_or_init(|| async { start_shared().await.map_err(|err| format!("{err:#}")) })
        .await;
    cluster
        .as_ref()
        .map_err(|err| anyhow!("the shared control plane is unavailable: {err}"))
}

async fn start_shared() -> Result<SharedCluster> {
    if let Some(kubeconfig) = std::env::var_os(SHARED_KUBECONFIG_ENV) {
        return Ok(SharedCluster {
            kubeconfig: PathBuf::from(kubeconfig),
            plane: Mutex::new(None),
        });
    }
    let binaries = KubeBinaries::locate()?;
    let plane = ControlPlane::start(
        &binaries,
        ControlPlaneOptions {
            dir: run_dir().join("control-plane"),
            lifetime: Lifetime::Attached,
            remove_dir_on_stop: true,
            ready_timeout: DEFAULT_READY_TIMEOUT,
        },
    )
    .await?;
    // Statics are never dropped: stop the control plane from an exit hook. Should the process die
    // without running it, the kernel still kills the children (PR_SET_PDEATHSIG).
    // SAFETY: registering a plain extern "C" function.
    unsafe {
        libc::atexit(stop_shared_at_exit);
    }
    Ok(SharedCluster {
        kubeconfig: plane.kubeconfig_path().to_path_buf(),
        plane: Mutex::new(Some(plane)),
    })
}

extern "C" fn stop_shared_at_exit() {
    if let Some(Ok(cluster)) = SHARED.get() {
        let plane = cluster
            .plane
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .take();
        drop(plane);
    }
    let _ = fs::remove_dir_all(run_dir());
}

/// This test process's scratch folder (control plane, operator logs), removed at exit. Folders of
/// earlier runs whose process is gone are removed on first use.
pub fn run_dir() -> PathBuf {
    static CLEANED: std::sync::Once = std::sync::Once::new();
    let base = std::env::temp_dir();
    CLEANED.call_once(|| {
        let Ok(entries) = fs::read_dir(&base) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(pid) = name
                .to_str()
                .and_then(|n| n.strip_prefix("zeroetl-e2e-"))
                .and_then(|p| p.parse::<u32>().ok())
            else {
                continue;
            };
            if !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = fs::remove_dir_all(entry.path());
            }
        }
    });
    base.join(format!("zeroetl-e2e-{}", std::process::id()))
}
