//! aws-sim in the test process, seeded with the sample estate (config/samples/aws-estate.yaml).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use aws_sim::{Estate, SimConfig, SimHandle, Timings};

use crate::paths::workspace_root;

/// The estate the samples are written against.
pub fn sample_estate_file() -> PathBuf {
    workspace_root()
        .join("config")
        .join("samples")
        .join("aws-estate.yaml")
}

/// aws-sim on a free loopback port with the sample estate and short AWS transitions, so tests that wait
/// for `active` do not wait for minutes.
pub async fn start_sample_sim() -> Result<SimHandle> {
    let path = sample_estate_file();
    let estate =
        Estate::from_yaml_file(&path).with_context(|| format!("load {}", path.display()))?;
    aws_sim::spawn(SimConfig {
        port: 0,
        seed: Some(estate),
        timings: Timings::all(Duration::from_millis(200)),
    })
    .await
    .context("start aws-sim")
}

/// Every AWS call the simulator has answered, of any action.
pub fn total_calls(sim: &SimHandle) -> u64 {
    sim.counts().values().sum()
}
