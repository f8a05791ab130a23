//! Two replicas with leader election: both are ready (a standby must be, or rolling updates stall), only
//! the Lease holder reconciles, and when it stops the standby takes over promptly.

use std::time::Duration;

use anyhow::{ensure, Result};
use kube::api::{Patch, PatchParams};
use serde_json::json;
use zeroetl_e2e::manifests::apply_file;
use zeroetl_e2e::operator::Operator;
use zeroetl_e2e::paths::workspace_root;
use zeroetl_e2e::sim::start_sample_sim;
use zeroetl_e2e::test_env::TestEnv;
use zeroetl_e2e::wait::wait_for_observed_generation;

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const STATUS_TIMEOUT: Duration = Duration::from_secs(60);

fn reconciled_anything(op: &Operator) -> bool {
    op.logs().contains("\"reconciled\"") || op.logs().contains("reconcile failed")
}

#[tokio::test(flavor = "multi_thread")]
async fn one_leader_reconciles_and_the_standby_takes_over() -> Result<()> {
    let env = TestEnv::new("leader").await?;
    let sim = start_sample_sim().await?;
    let start = |log: &str| -> Result<Operator> {
        let mut options = env.operator_options(Some(&sim.endpoint()))?;
        options.log_file = env.dir().join(log);
        options.extra_args = [
            "--leader-election",
            "true",
            "--lease-namespace",
            &env.namespace,
            "--lease-name",
            "zeroetl-e2e",
        ]
        .map(String::from)
        .to_vec();
        Operator::start(&options)
    };
    let mut first = start("first.log")?;
    first.wait_ready(READY_TIMEOUT).await?;
    let mut second = start("second.log")?;
    // The standby is ready although it does not hold the Lease.
    second.wait_ready(READY_TIMEOUT).await?;

    let sample = workspace_root().join("config/samples/zeroetl_v1alpha1_redshiftconnection.yaml");
    apply_file(&env.client, &sample, Some(&env.namespace)).await?;
    wait_for_observed_generation(&env.connections(), "analytics", STATUS_TIMEOUT).await?;
    ensure!(
        first.logs().contains("acquired leadership"),
        "the first replica should lead:\n{}",
        first.logs()
    );
    ensure!(
        !second.logs().contains("acquired leadership"),
        "the standby must not lead yet"
    );
    ensure!(
        reconciled_anything(&first) && !reconciled_anything(&second),
        "only the leader reconciles"
    );

    // The leader stops and gives the Lease up; the standby takes over and handles a spec change.
    first.sigterm_and_wait(Duration::from_secs(10)).await?;
    let patch = json!({"spec": {"database": "analytics"}});
    env.connections()
        .patch("analytics", &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    let after =
        wait_for_observed_generation(&env.connections(), "analytics", STATUS_TIMEOUT).await?;
    ensure!(
        after.metadata.generation == Some(2),
        "the spec change was not observed"
    );
    ensure!(
        second.logs().contains("acquired leadership"),
        "the standby should have taken over:\n{}",
        second.logs()
    );
    Ok(())
}
