//! aws-sim as its own process (so its CPU is measured apart from the operator's), attached to the bench:
//! it dies with it however the bench ends.

use std::fs;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use zeroetl_e2e::process::{self, Lifetime, STOP_GRACE};

pub struct SimProcess {
    child: Option<Child>,
    pub endpoint: String,
    pub pid: u32,
}

impl SimProcess {
    /// Starts `binary --seed <seed> --port <free> <extra_args>` and waits for its "listening" line.
    pub async fn start(
        binary: &Path,
        seed: &Path,
        extra_args: &[String],
        log: &Path,
        owner: &str,
    ) -> Result<Self> {
        if !binary.is_file() {
            bail!(
                "{} does not exist: build it with `cargo build --release -p zeroetl-aws-sim`",
                binary.display()
            );
        }
        let port = process::free_ports(1)?[0];
        let _ = fs::remove_file(log);
        let mut command = Command::new(binary);
        command
            .arg("--seed")
            .arg(seed)
            .arg("--port")
            .arg(port.to_string())
            .args(extra_args)
            // Per-request logging would cost more CPU than the requests themselves.
            .env("RUST_LOG", "warn");
        let child = process::spawn_logged(command, log, owner, Lifetime::Attached)?;
        let pid = child.id();
        let mut sim = SimProcess {
            child: Some(child),
            endpoint: String::new(),
            pid,
        };
        // Seeding thousands of resources takes a moment on a busy machine.
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let text = fs::read_to_string(log).unwrap_or_default();
            if let Some(line) = text.lines().find(|l| l.contains("aws-sim listening on")) {
                sim.endpoint = line
                    .split_whitespace()
                    .last()
                    .unwrap_or_default()
                    .to_owned();
                return Ok(sim);
            }
            if let Some(status) = sim.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                bail!("aws-sim exited ({status}):\n{}", process::log_tail(log, 30));
            }
            if Instant::now() >= deadline {
                bail!(
                    "aws-sim did not start listening within 120 s:\n{}",
                    process::log_tail(log, 30)
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SimProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = process::stop_child(&mut child, STOP_GRACE);
        }
    }
}
