//! The real `zeroetl-operator` binary, run as a child process against a control plane and aws-sim.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use crate::process::{self, Lifetime};

/// The sample estate's operator identity (config/samples/aws-estate.yaml).
pub const ESTATE_ACCESS_KEY_ID: &str = "AKIAZEROETLOPERATOR1";
pub const ESTATE_SECRET_ACCESS_KEY: &str = "operator-demo-secret";
pub const ESTATE_REGION: &str = "us-east-1";

/// How to run the operator.
#[derive(Debug, Clone)]
pub struct OperatorOptions {
    pub binary: PathBuf,
    pub kubeconfig: PathBuf,
    /// Watched namespaces; empty means all.
    pub namespaces: Vec<String>,
    /// aws-sim's endpoint (`http://127.0.0.1:PORT`); `None` means real AWS.
    pub aws_endpoint: Option<String>,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// stdout and stderr go here.
    pub log_file: PathBuf,
    pub lifetime: Lifetime,
    /// Marker put in the environment (see [`process::OWNER_ENV`]).
    pub owner: String,
    pub extra_args: Vec<String>,
}

impl OperatorOptions {
    /// Defaults for a test: the estate's identity, leader election off.
    pub fn new(binary: PathBuf, kubeconfig: PathBuf, log_file: PathBuf) -> Self {
        Self {
            binary,
            kubeconfig,
            namespaces: Vec::new(),
            aws_endpoint: None,
            region: ESTATE_REGION.to_owned(),
            access_key_id: ESTATE_ACCESS_KEY_ID.to_owned(),
            secret_access_key: ESTATE_SECRET_ACCESS_KEY.to_owned(),
            log_file,
            lifetime: Lifetime::Attached,
            owner: "zeroetl-operator".to_owned(),
            extra_args: Vec::new(),
        }
    }
}

/// A running operator. Dropping it kills the process (and prints its log tail if the test is failing).
pub struct Operator {
    child: Option<Child>,
    log_file: PathBuf,
    probe_port: u16,
}

impl Operator {
    /// Starts `zeroetl-operator run` with leader election off and the probe server on a free loopback port.
    pub fn start(options: &OperatorOptions) -> Result<Self> {
        let probe_port = process::free_ports(1)?[0];
        let mut command = Command::new(&options.binary);
        command
            .arg("run")
            .args(["--leader-election", "false"])
            .arg(format!("--probe-addr=127.0.0.1:{probe_port}"))
            .arg(format!("--region={}", options.region))
            .args(["--log-format", "json"]);
        for namespace in &options.namespaces {
            command.arg(format!("--namespace={namespace}"));
        }
        if let Some(endpoint) = &options.aws_endpoint {
            command.arg(format!("--aws-endpoint-url={endpoint}"));
        }
        command.args(&options.extra_args);
        // Only what we pass: nothing from the developer's own AWS setup or operator settings.
        for inherited in [
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_CONFIG_FILE",
            "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_ENDPOINT_URL",
            "ZEROETL_NAMESPACES",
            "ZEROETL_AWS_ENDPOINT_URL",
            "POD_NAMESPACE",
        ] {
            command.env_remove(inherited);
        }
        command
            .env("KUBECONFIG", &options.kubeconfig)
            .env("AWS_ACCESS_KEY_ID", &options.access_key_id)
            .env("AWS_SECRET_ACCESS_KEY", &options.secret_access_key)
            .env("AWS_REGION", &options.region)
            .env("AWS_EC2_METADATA_DISABLED", "true");
        let child =
            process::spawn_logged(command, &options.log_file, &options.owner, options.lifetime)
                .with_context(|| format!("start {}", options.binary.display()))?;
        Ok(Self {
            child: Some(child),
            log_file: options.log_file.clone(),
            probe_port,
        })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `http://127.0.0.1:PORT/<path>` on the probe server (/healthz, /readyz, /metrics).
    pub fn probe_url(&self, path: &str) -> String {
        format!(
            "http://127.0.0.1:{}/{}",
            self.probe_port,
            path.trim_start_matches('/')
        )
    }

    /// What /metrics serves now, in the Prometheus text format.
    pub async fn metrics(&self) -> Result<String> {
        Ok(reqwest::get(self.probe_url("/metrics"))
            .await?
            .error_for_status()?
            .text()
            .await?)
    }

    pub fn log_file(&self) -> &Path {
        &self.log_file
    }

    /// Everything the operator logged so far.
    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log_file).unwrap_or_default()
    }

    /// Waits until the log holds `needle`: a line is written after the action it reports (a Lease
    /// write, say), so a reader that saw the action may be a moment ahead of the line.
    pub async fn wait_for_log(&self, needle: &str, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        while !self.logs().contains(needle) {
            if Instant::now() >= deadline {
                bail!(
                    "{needle:?} not logged within {timeout:?}; the log:\n{}",
                    self.logs()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(())
    }

    fn check_running(&mut self) -> Result<()> {
        let Some(child) = self.child.as_mut() else {
            bail!("the operator was already stopped");
        };
        if let Some(status) = child.try_wait()? {
            bail!(
                "the operator exited ({status}); last log lines:\n{}",
                process::log_tail(&self.log_file, 30)
            );
        }
        Ok(())
    }

    /// Waits until /readyz answers 200, failing early if the process exits.
    pub async fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        crate::install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(2))
            .build()?;
        let url = self.probe_url("/readyz");
        let deadline = Instant::now() + timeout;
        let mut last: String;
        loop {
            self.check_running()?;
            match http.get(&url).send().await {
                Ok(response) if response.status() == reqwest::StatusCode::OK => return Ok(()),
                Ok(response) => last = format!("HTTP {}", response.status()),
                Err(err) => last = err.to_string(),
            }
            if Instant::now() >= deadline {
                bail!(
                    "{url} not 200 after {timeout:?} (last: {last}); operator log tail:\n{}",
                    process::log_tail(&self.log_file, 30)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends SIGTERM and waits up to `timeout` for the exit; returns how long it took and the exit status.
    /// On timeout the process is killed and an error returned.
    pub async fn sigterm_and_wait(&mut self, timeout: Duration) -> Result<(Duration, ExitStatus)> {
        self.check_running()?;
        let mut child = self.child.take().expect("checked above");
        let started = Instant::now();
        // Only the operator itself: its process group is just itself.
        // SAFETY: kill has no memory-safety preconditions.
        unsafe {
            libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
        }
        let deadline = started + timeout;
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok((started.elapsed(), status));
            }
            if Instant::now() >= deadline {
                process::stop_child(&mut child, Duration::ZERO)?;
                bail!(
                    "the operator did not exit within {timeout:?} of SIGTERM; log tail:\n{}",
                    process::log_tail(&self.log_file, 30)
                );
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Leaves a detached operator running (see [`process::stop_detached`]).
    pub fn detach(mut self) {
        self.child = None;
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = process::stop_child(&mut child, Duration::from_secs(5));
        }
        if std::thread::panicking() {
            eprintln!(
                "--- zeroetl-operator log ({}), last lines:\n{}",
                self.log_file.display(),
                process::log_tail(&self.log_file, 60)
            );
        }
    }
}
