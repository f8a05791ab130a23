//! A local Kubernetes control plane: etcd + kube-apiserver (+ kube-controller-manager for garbage
//! collection and namespace deletion) on loopback ports, with an admin kubeconfig.
//! Used by the e2e tests (attached: dies with the test process) and by `cargo xtask control-plane up` /
//! `cargo xtask demo` (detached: survives xtask until `down`).

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use k8s_openapi::api::core::v1::Namespace;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};

use crate::paths::KubeBinaries;
use crate::process::{self, Lifetime, STOP_GRACE};

/// How long a fresh control plane may take to answer /readyz (about 10 s on 2 cores; CI is slower).
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(120);

/// Where and how to start a control plane.
#[derive(Debug, Clone)]
pub struct ControlPlaneOptions {
    /// Holds etcd data, certificates, logs and the kubeconfig. Our files in it are replaced on start.
    pub dir: PathBuf,
    pub lifetime: Lifetime,
    /// Remove `dir` entirely on stop (temporary control planes).
    pub remove_dir_on_stop: bool,
    pub ready_timeout: Duration,
}

struct RunningProcess {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

/// A running control plane. Dropping it stops the processes (unless detached).
pub struct ControlPlane {
    dir: PathBuf,
    kubeconfig: PathBuf,
    server: String,
    processes: Vec<RunningProcess>,
    remove_dir_on_stop: bool,
    finished: bool,
}

/// The marker put in the environment of a control plane's processes: its directory.
pub fn owner_marker(dir: &Path) -> String {
    format!("control-plane:{}", dir.display())
}

/// Files and folders a start creates in the directory (and replaces on the next start).
const OWN_ENTRIES: &[&str] = &[
    "etcd",
    "certs",
    "sa.key",
    "sa.pub",
    "tokens.csv",
    "kubeconfig",
    "etcd.log",
    "kube-apiserver.log",
    "kube-controller-manager.log",
    "processes.json",
];

impl ControlPlane {
    /// Starts etcd and kube-apiserver, waits for /readyz (with `ready_timeout`), writes the kubeconfig,
    /// then starts kube-controller-manager when available.
    pub async fn start(binaries: &KubeBinaries, options: ControlPlaneOptions) -> Result<Self> {
        let dir = absolute(&options.dir)?;
        fs::create_dir_all(&dir).with_context(|| format!("create {}", dir.display()))?;
        for entry in OWN_ENTRIES {
            let path = dir.join(entry);
            if path.is_dir() {
                fs::remove_dir_all(&path).with_context(|| format!("remove {}", path.display()))?;
            } else if path.exists() {
                fs::remove_file(&path).with_context(|| format!("remove {}", path.display()))?;
            }
        }
        let owner = owner_marker(&dir);
        let mut plane = ControlPlane {
            kubeconfig: dir.join("kubeconfig"),
            dir: dir.clone(),
            server: String::new(),
            processes: Vec::new(),
            remove_dir_on_stop: options.remove_dir_on_stop,
            finished: false,
        };

        write_service_account_keys(&dir)?;
        let token = random_token()?;
        let tokens = dir.join("tokens.csv");
        fs::write(&tokens, format!("{token},admin,admin-uid,system:masters\n"))?;
        fs::set_permissions(&tokens, fs::Permissions::from_mode(0o600))?;

        let ports = process::free_ports(3)?;
        let (etcd_client, etcd_peer, apiserver_port) = (ports[0], ports[1], ports[2]);
        plane.server = format!("https://127.0.0.1:{apiserver_port}");

        let mut etcd = Command::new(&binaries.etcd);
        etcd.args(["--name", "default", "--data-dir"])
            .arg(dir.join("etcd"))
            .arg(format!(
                "--listen-client-urls=http://127.0.0.1:{etcd_client}"
            ))
            .arg(format!(
                "--advertise-client-urls=http://127.0.0.1:{etcd_client}"
            ))
            .arg(format!("--listen-peer-urls=http://127.0.0.1:{etcd_peer}"))
            .arg(format!(
                "--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}"
            ))
            .arg(format!(
                "--initial-cluster=default=http://127.0.0.1:{etcd_peer}"
            ));
        plane.spawn("etcd", etcd, &owner, options.lifetime)?;

        let mut apiserver = Command::new(&binaries.kube_apiserver);
        apiserver
            .arg(format!("--etcd-servers=http://127.0.0.1:{etcd_client}"))
            .arg(format!("--secure-port={apiserver_port}"))
            .arg("--bind-address=127.0.0.1")
            // A loopback advertise address makes the endpoint reconciler log errors forever.
            .arg("--advertise-address=10.0.0.1")
            .arg("--insecure-port=0")
            .arg(format!("--cert-dir={}", dir.join("certs").display()))
            .arg(format!("--token-auth-file={}", tokens.display()))
            .arg("--authorization-mode=RBAC")
            .arg(format!(
                "--service-account-key-file={}",
                dir.join("sa.pub").display()
            ))
            .arg(format!(
                "--service-account-signing-key-file={}",
                dir.join("sa.key").display()
            ))
            .arg("--service-account-issuer=https://kubernetes.default.svc.cluster.local")
            .arg("--service-cluster-ip-range=10.0.0.0/24")
            .arg("--allow-privileged=true");
        plane.spawn("kube-apiserver", apiserver, &owner, options.lifetime)?;

        let deadline = Instant::now() + options.ready_timeout;
        let result = plane.wait_ready(&token, deadline).await;
        if let Err(err) = result {
            let tails = plane.log_tails();
            let _ = plane.stop();
            return Err(err.context(tails));
        }

        if let Some(kcm_binary) = &binaries.kube_controller_manager {
            let mut kcm = Command::new(kcm_binary);
            kcm.arg(format!("--kubeconfig={}", plane.kubeconfig.display()))
                .arg("--leader-elect=false")
                // Garbage collection (ownerReferences) and namespace deletion are what the tests rely on.
                .arg("--controllers=garbagecollector,namespace")
                .arg("--port=0")
                .arg("--secure-port=0");
            plane.spawn("kube-controller-manager", kcm, &owner, options.lifetime)?;
        }
        Ok(plane)
    }

    fn spawn(
        &mut self,
        name: &'static str,
        command: Command,
        owner: &str,
        lifetime: Lifetime,
    ) -> Result<()> {
        let log = self.dir.join(format!("{name}.log"));
        let child = process::spawn_logged(command, &log, owner, lifetime)?;
        if lifetime == Lifetime::Detached {
            process::record_detached(&self.dir, name, child.id())?;
        }
        self.processes.push(RunningProcess { name, child, log });
        Ok(())
    }

    async fn wait_ready(&mut self, token: &str, deadline: Instant) -> Result<()> {
        // kube-apiserver writes its self-signed serving certificate (leaf + CA) at startup.
        let cert = self.dir.join("certs").join("apiserver.crt");
        while !cert.is_file() {
            self.check_alive()?;
            if Instant::now() >= deadline {
                bail!("kube-apiserver did not write {} in time", cert.display());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        // The file may be caught half-written: wait until it holds both certificates.
        loop {
            let text = fs::read_to_string(&cert).unwrap_or_default();
            if text.matches("END CERTIFICATE").count() >= 2 {
                break;
            }
            self.check_alive()?;
            if Instant::now() >= deadline {
                bail!(
                    "kube-apiserver's certificate {} is incomplete",
                    cert.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        write_kubeconfig(&self.kubeconfig, &self.server, &cert, token)?;
        let client = client_from_kubeconfig(&self.kubeconfig).await?;

        let mut last_error: String;
        loop {
            self.check_alive()?;
            let request = http::Request::get("/readyz").body(Vec::new())?;
            match client.request_text(request).await {
                Ok(body) if body.trim() == "ok" => break,
                Ok(body) => last_error = body,
                Err(err) => last_error = err.to_string(),
            }
            if Instant::now() >= deadline {
                bail!("kube-apiserver not ready in time; last /readyz answer: {last_error}");
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // The bootstrap controller creates `default` shortly after readiness; samples and kubectl use it.
        let namespaces: Api<Namespace> = Api::all(client);
        while namespaces.get_opt("default").await?.is_none() {
            if Instant::now() >= deadline {
                bail!("namespace `default` did not appear in time");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Ok(())
    }

    fn check_alive(&mut self) -> Result<()> {
        for process in &mut self.processes {
            if let Some(status) = process.child.try_wait()? {
                bail!(
                    "{} exited early ({status}); last log lines:\n{}",
                    process.name,
                    process::log_tail(&process.log, 30)
                );
            }
        }
        Ok(())
    }

    fn log_tails(&self) -> String {
        self.processes
            .iter()
            .map(|p| {
                format!(
                    "--- {} ({})\n{}",
                    p.name,
                    p.log.display(),
                    process::log_tail(&p.log, 15)
                )
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// `https://127.0.0.1:PORT`.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// A client authenticated as cluster admin.
    pub async fn client(&self) -> Result<Client> {
        client_from_kubeconfig(&self.kubeconfig).await
    }

    /// Stops kube-controller-manager, kube-apiserver and etcd (in that order; SIGTERM, then SIGKILL after
    /// a grace period) and checks that none of them remains.
    pub fn stop(&mut self) -> Result<()> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        while let Some(mut process) = self.processes.pop() {
            process::stop_child(&mut process.child, STOP_GRACE)
                .with_context(|| format!("stop {}", process.name))?;
        }
        let left = process::processes_with_env(process::OWNER_ENV, &owner_marker(&self.dir));
        if !left.is_empty() {
            bail!("control-plane processes still running after stop: {left:?}");
        }
        if self.remove_dir_on_stop {
            fs::remove_dir_all(&self.dir)
                .with_context(|| format!("remove {}", self.dir.display()))?;
        }
        Ok(())
    }

    /// Leaves the processes running (they were started detached and recorded in `dir`); stop them later
    /// with [`stop_detached`].
    pub fn detach(mut self) {
        self.finished = true;
        // Dropping a Child neither kills nor waits: the processes live on in their own sessions.
        self.processes.clear();
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        if let Err(err) = self.stop() {
            eprintln!(
                "stopping the control plane in {}: {err:#}",
                self.dir.display()
            );
        }
    }
}

/// Stops a control plane left running by [`ControlPlane::detach`] (and anything else recorded in `dir`
/// under the same owner marker); fails if a process remains.
pub fn stop_detached(dir: &Path) -> Result<Vec<String>> {
    let dir = absolute(dir)?;
    process::stop_detached(&dir, &owner_marker(&dir))
}

/// A kube client from a kubeconfig file (its current context).
pub async fn client_from_kubeconfig(path: &Path) -> Result<Client> {
    crate::install_crypto_provider();
    let kubeconfig = Kubeconfig::read_from(path)
        .with_context(|| format!("read kubeconfig {}", path.display()))?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .with_context(|| format!("load kubeconfig {}", path.display()))?;
    Client::try_from(config).context("build kube client")
}

fn write_kubeconfig(path: &Path, server: &str, ca: &Path, token: &str) -> Result<()> {
    let kubeconfig = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "zeroetl", "cluster": {"server": server, "certificate-authority": ca}}],
        "users": [{"name": "admin", "user": {"token": token}}],
        "contexts": [{"name": "zeroetl", "context": {"cluster": "zeroetl", "user": "admin", "namespace": "default"}}],
        "current-context": "zeroetl",
    });
    fs::write(path, serde_yaml::to_string(&kubeconfig)?)
        .with_context(|| format!("write {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o600))?;
    Ok(())
}

/// The RSA key pair kube-apiserver signs and verifies service-account tokens with.
fn write_service_account_keys(dir: &Path) -> Result<()> {
    let key = dir.join("sa.key");
    let public = dir.join("sa.pub");
    run_openssl(
        Command::new("openssl")
            .args(["genrsa", "-out"])
            .arg(&key)
            .arg("2048"),
    )?;
    run_openssl(
        Command::new("openssl")
            .args(["rsa", "-pubout", "-in"])
            .arg(&key)
            .arg("-out")
            .arg(&public),
    )?;
    Ok(())
}

fn run_openssl(command: &mut Command) -> Result<()> {
    let output = command.output().map_err(|err| {
        anyhow!("run openssl ({err}): install it (`apt-get install openssl`) — the control plane needs it")
    })?;
    if !output.status.success() {
        bail!(
            "openssl failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// 32 hex characters from the kernel's CSPRNG: the admin bearer token.
fn random_token() -> Result<String> {
    let mut bytes = [0u8; 16];
    fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

fn absolute(path: &Path) -> Result<PathBuf> {
    if path.is_absolute() {
        Ok(path.to_path_buf())
    } else {
        Ok(std::env::current_dir()?.join(path))
    }
}
