//! Two replicas with leader election: both are ready (a standby must be, or rolling updates stall), only
//! the Lease holder reconciles, when it stops the standby takes over promptly, and a holder that was frozen
//! (SIGSTOP) past its renew deadline changes nothing in AWS once it runs again.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use aws_sim::estate::AccessKeySeed;
use aws_sim::{CallRecord, Estate, SimConfig, SimHandle, Timings};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use zeroetl_e2e::manifests::apply_file;
use zeroetl_e2e::operator::{Operator, ESTATE_ACCESS_KEY_ID, ESTATE_SECRET_ACCESS_KEY};
use zeroetl_e2e::paths::workspace_root;
use zeroetl_e2e::pause::Paused;
use zeroetl_e2e::process::is_running;
use zeroetl_e2e::sim::{sample_estate_file, start_sample_sim};
use zeroetl_e2e::test_env::TestEnv;
use zeroetl_e2e::wait::{wait_for_condition, wait_for_observed_generation};

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const STATUS_TIMEOUT: Duration = Duration::from_secs(60);
const TAKEOVER_LEASE: &str = "zeroetl-e2e";

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
            TAKEOVER_LEASE,
        ]
        .map(String::from)
        .to_vec();
        Operator::start(&options)
    };
    let mut first = start("first.log")?;
    first.wait_ready(READY_TIMEOUT).await?;
    // A standby is ready before it leads: wait for the Lease itself, or the second replica might win it.
    let leases: Api<Lease> = Api::namespaced(env.client.clone(), &env.namespace);
    wait_for_holder(&leases, TAKEOVER_LEASE, "holder", READY_TIMEOUT, |h| {
        h.is_some()
    })
    .await?;
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

/// The Lease lasts 15 s and a standby retries every 5 s: a takeover comes within about 25 s of the pause.
const TAKEOVER_TIMEOUT: Duration = Duration::from_secs(60);
/// The integration sample needs a parameter group, a reboot, a resource policy, the integration and a
/// database: with aws-sim's short transitions it is Ready well within this.
const INTEGRATION_READY_TIMEOUT: Duration = Duration::from_secs(120);
/// A leader counts as idle once it made no AWS call for this long.
const QUIET: Duration = Duration::from_secs(2);
const QUIET_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the resumed old leader is watched: it must have stopped acting and exited well within this.
const RESUME_WINDOW: Duration = Duration::from_secs(30);
const POLL: Duration = Duration::from_millis(100);

const PAUSE_LEASE: &str = "zeroetl-pause";
/// A second key of the operator's account (same IAM user), seeded only in this test's estate, so that the
/// call log tells the two replicas apart.
const STANDBY_ACCESS_KEY_ID: &str = "AKIAZEROETLSTANDBY01";
const STANDBY_SECRET_ACCESS_KEY: &str = "standby-demo-secret";
const OPERATOR_ACCOUNT: &str = "111111111111";

/// The sample estate with [`STANDBY_ACCESS_KEY_ID`] added next to the operator's own key.
async fn start_sim_with_standby_key() -> Result<SimHandle> {
    let path = sample_estate_file();
    let mut estate =
        Estate::from_yaml_file(&path).with_context(|| format!("load {}", path.display()))?;
    let account = estate
        .accounts
        .iter_mut()
        .find(|a| a.id == OPERATOR_ACCOUNT)
        .context("the sample estate has no operator account")?;
    let operator_user = account
        .access_keys
        .iter()
        .find(|k| k.access_key_id == ESTATE_ACCESS_KEY_ID)
        .and_then(|k| k.user_name.clone());
    account.access_keys.push(AccessKeySeed {
        access_key_id: STANDBY_ACCESS_KEY_ID.into(),
        secret_access_key: STANDBY_SECRET_ACCESS_KEY.into(),
        user_name: operator_user,
        ..Default::default()
    });
    aws_sim::spawn(SimConfig {
        port: 0,
        seed: Some(estate),
        timings: Timings::all(Duration::from_millis(200)),
    })
    .await
    .context("start aws-sim")
}

async fn lease_holder(leases: &Api<Lease>, lease: &str) -> Result<Option<String>> {
    Ok(leases
        .get_opt(lease)
        .await?
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity))
}

/// Polls the Lease until its holder satisfies `accept`.
async fn wait_for_holder(
    leases: &Api<Lease>,
    lease: &str,
    what: &str,
    timeout: Duration,
    accept: impl Fn(Option<&str>) -> bool,
) -> Result<Option<String>> {
    let deadline = Instant::now() + timeout;
    loop {
        let holder = lease_holder(leases, lease).await?;
        if accept(holder.as_deref()) {
            return Ok(holder);
        }
        if Instant::now() >= deadline {
            bail!("Lease {lease}: no {what} within {timeout:?}; holder {holder:?}");
        }
        tokio::time::sleep(POLL).await;
    }
}

fn from_key<'a>(
    calls: &'a [CallRecord],
    key: &'a str,
) -> impl Iterator<Item = &'a CallRecord> + 'a {
    calls.iter().filter(move |c| c.access_key_id == key)
}

fn mutating_from(calls: &[CallRecord], key: &str) -> Vec<String> {
    from_key(calls, key)
        .filter(|c| c.mutating)
        .map(|c| format!("#{} {}:{} ({})", c.seq, c.service, c.action, c.status))
        .collect()
}

/// The replica's `zeroetl_leader` gauge: 1 while it holds the Lease.
async fn leader_gauge(operator: &Operator) -> Result<String> {
    let metrics = operator.metrics().await?;
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("zeroetl_leader "))
        .map(|value| value.trim().to_owned())
        .context("no zeroetl_leader line in /metrics")
}

/// Waits until `key` has made no AWS call for [`QUIET`]: the replica has finished its passes.
async fn wait_until_quiet(sim: &SimHandle, key: &str) -> Result<()> {
    let deadline = Instant::now() + QUIET_TIMEOUT;
    let mut seen = usize::MAX;
    let mut unchanged_since = Instant::now();
    loop {
        let count = from_key(&sim.calls(), key).count();
        if count != seen {
            seen = count;
            unchanged_since = Instant::now();
        } else if unchanged_since.elapsed() >= QUIET {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("{key} kept calling AWS for {QUIET_TIMEOUT:?} ({count} calls)");
        }
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_paused_leader_is_replaced_and_does_not_change_aws_after_it_resumes() -> Result<()> {
    let env = TestEnv::new("leader-pause").await?;
    let sim = start_sim_with_standby_key().await?;
    let leases: Api<Lease> = Api::namespaced(env.client.clone(), &env.namespace);
    let start = |log: &str, key: &str, secret: &str| -> Result<Operator> {
        let mut options = env.operator_options(Some(&sim.endpoint()))?;
        options.log_file = env.dir().join(log);
        options.access_key_id = key.into();
        options.secret_access_key = secret.into();
        options.extra_args = [
            "--leader-election",
            "true",
            "--lease-namespace",
            &env.namespace,
            "--lease-name",
            PAUSE_LEASE,
        ]
        .map(String::from)
        .to_vec();
        Operator::start(&options)
    };
    let old_key = ESTATE_ACCESS_KEY_ID;
    let new_key = STANDBY_ACCESS_KEY_ID;

    let mut old = start("old-leader.log", old_key, ESTATE_SECRET_ACCESS_KEY)?;
    old.wait_ready(READY_TIMEOUT).await?;
    let old_holder = wait_for_holder(&leases, PAUSE_LEASE, "holder", READY_TIMEOUT, |h| {
        h.is_some()
    })
    .await?;
    let mut standby = start("standby.log", new_key, STANDBY_SECRET_ACCESS_KEY)?;
    standby.wait_ready(READY_TIMEOUT).await?;

    let connection =
        workspace_root().join("config/samples/zeroetl_v1alpha1_redshiftconnection.yaml");
    apply_file(&env.client, &connection, Some(&env.namespace)).await?;
    wait_for_condition(
        &env.connections(),
        "analytics",
        "Ready",
        "True",
        STATUS_TIMEOUT,
    )
    .await?;
    let calls = sim.calls();
    ensure!(
        !mutating_from(&calls, old_key).is_empty() && from_key(&calls, new_key).count() == 0,
        "the leader ({old_holder:?}) should have fixed the warehouse alone; mutating calls by the leader: {:?}, \
         calls by the standby: {}",
        mutating_from(&calls, old_key),
        from_key(&calls, new_key).count()
    );
    let gauges = (leader_gauge(&old).await?, leader_gauge(&standby).await?);
    ensure!(
        gauges == ("1".to_owned(), "0".to_owned()),
        "zeroetl_leader (leader, standby) should be (1, 0), is {gauges:?}"
    );
    // Freeze an idle leader: its passes have ended, so what it does after resuming is what it decides then.
    wait_until_quiet(&sim, old_key).await?;

    let old_pid = old.pid().context("the old leader has no pid")?;
    let paused = Paused::pause(old_pid).await?;
    let paused_at = Instant::now();
    let new_holder = wait_for_holder(&leases, PAUSE_LEASE, "new holder", TAKEOVER_TIMEOUT, |h| {
        h.is_some() && h != old_holder.as_deref()
    })
    .await?;
    let takeover = paused_at.elapsed();
    standby
        .wait_for_log("acquired leadership", READY_TIMEOUT)
        .await
        .with_context(|| {
            format!("the standby should log its takeover (Lease holder {old_holder:?} -> {new_holder:?})")
        })?;

    // The gauge is set just after the Lease is written: allow it a moment.
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        let gauge = leader_gauge(&standby).await?;
        if gauge == "1" {
            break;
        }
        if Instant::now() >= deadline {
            bail!("the new leader's zeroetl_leader is {gauge}, not 1, {READY_TIMEOUT:?} after its takeover");
        }
        tokio::time::sleep(POLL).await;
    }

    // Work only the new leader may do: a whole integration to set up.
    let integration =
        workspace_root().join("config/samples/zeroetl_v1alpha1_zeroetlintegration.yaml");
    apply_file(&env.client, &integration, Some(&env.namespace)).await?;
    let deadline = Instant::now() + STATUS_TIMEOUT;
    while mutating_from(&sim.calls(), new_key).is_empty() {
        if Instant::now() >= deadline {
            bail!(
                "the new leader {new_holder:?} made no AWS change within {STATUS_TIMEOUT:?} of the integration \
                 being applied; its log:\n{}",
                standby.logs()
            );
        }
        tokio::time::sleep(POLL).await;
    }

    let before = sim.calls();
    let last_before = before.last().map(|c| c.seq).unwrap_or(0);
    let old_calls_before = from_key(&before, old_key).count();
    let old_mutating_before = mutating_from(&before, old_key).len();
    let new_mutating_before = mutating_from(&before, new_key).len();
    let resumed_at = Instant::now();
    paused.resume().await?;
    // Until the old process has exited, or the window ends.
    while is_running(old_pid) && resumed_at.elapsed() < RESUME_WINDOW {
        tokio::time::sleep(POLL).await;
    }
    let exited_after = resumed_at.elapsed();
    let old_exited = !is_running(old_pid);
    let after: Vec<CallRecord> = sim
        .calls()
        .into_iter()
        .filter(|c| c.seq > last_before)
        .collect();
    let old_calls_after = from_key(&after, old_key).count();
    let old_mutating_after = mutating_from(&after, old_key);
    let new_mutating_after = mutating_from(&after, new_key).len();
    let final_holder = lease_holder(&leases, PAUSE_LEASE).await?;
    let summary = format!(
        "takeover {:.1}s after the pause; Lease holder before {old_holder:?}, after {new_holder:?}, at the end \
         {final_holder:?}; before the resume: {} calls in all, old leader {old_calls_before} ({old_mutating_before} \
         mutating), new leader {new_mutating_before} mutating; after the resume: {} calls in all, old leader \
         {old_calls_after} ({} mutating: {old_mutating_after:?}), new leader {new_mutating_after} mutating; old \
         process {} {:.1}s after the resume",
        takeover.as_secs_f64(),
        before.len(),
        after.len(),
        old_mutating_after.len(),
        if old_exited { "exited" } else { "still running" },
        exited_after.as_secs_f64(),
    );
    println!("{summary}");
    ensure!(
        old_mutating_after.is_empty(),
        "the resumed old leader changed AWS: {summary}"
    );
    ensure!(
        old.logs().contains("lost leadership"),
        "the old leader should log that it lost leadership ({summary}); its log:\n{}",
        old.logs()
    );
    ensure!(
        old_exited,
        "the old leader should exit once it finds its leadership lost: {summary}"
    );
    ensure!(
        final_holder == new_holder,
        "the Lease should stay with the new leader: {summary}"
    );

    // The new leader carries on alone and finishes the job.
    wait_for_condition(
        &env.integrations(),
        "orders-to-analytics",
        "Ready",
        "True",
        INTEGRATION_READY_TIMEOUT,
    )
    .await?;
    let old_mutating_in_all = mutating_from(&sim.calls(), old_key).len();
    ensure!(
        old_mutating_in_all == old_mutating_before,
        "the old leader made {} AWS changes after its resume: {summary}",
        old_mutating_in_all - old_mutating_before
    );
    Ok(())
}
