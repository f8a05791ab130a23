//! Whose identity the operator uses and what an admin may forbid (issue #9), end to end: AssumeRole sessions
//! are named after the RedshiftConnection that declares them (`zeroetl-<namespace>-<name>`, as aws-sim's
//! call log records them), and each guardrail flag refuses an object with Stalled/ForbiddenByOperator naming
//! the flag, before any AWS call. Two teams in every test.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{ensure, Result};
use serde_json::{json, Value};
use zeroetl_e2e::aws_calls::CallWindow;
use zeroetl_e2e::estates::{
    start_sim, with_person, ANALYTICS_NAMESPACE_ARN, PARTNER_EXTERNAL_ID, PARTNER_NAMESPACE_ARN,
    PARTNER_ROLE_ARN,
};
use zeroetl_e2e::object_status::{current, is_because, message, ready};
use zeroetl_e2e::sim_state::db_cluster;
use zeroetl_e2e::tenants::{apply_connection, apply_integration, start_operator, teams};
use zeroetl_e2e::wait::{describe_conditions, wait_for};

const READY_TIMEOUT: Duration = Duration::from_secs(120);
const PASS_TIMEOUT: Duration = Duration::from_secs(30);

/// A connection to the partner's warehouse through the partner's role.
fn partner_connection(role_arn: &str) -> Value {
    json!({
        "region": "us-east-1",
        "serverless": {"workgroupName": "partner-wg"},
        "database": "dev",
        "auth": {"assumeRole": {"roleArn": role_arn, "externalId": PARTNER_EXTERNAL_ID}},
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn assume_role_sessions_are_named_after_the_connection() -> Result<()> {
    let teams = teams("own-session", 2).await?;
    let (a, b) = (&teams[0], &teams[1]);
    let sim = start_sim(with_person()?).await?;
    let _operator = start_operator(&[a, b], &sim, &[]).await?;
    // Both teams call their connection "partner", with the same role.
    for team in [a, b] {
        apply_connection(team, "partner", partner_connection(PARTNER_ROLE_ARN)).await?;
    }
    for team in [a, b] {
        wait_for(
            &team.connections(),
            "partner",
            "Ready",
            READY_TIMEOUT,
            ready,
        )
        .await?;
    }

    let wanted: BTreeSet<String> = [a, b]
        .iter()
        .map(|t| format!("zeroetl-{}-partner", t.namespace))
        .collect();
    let calls = sim.calls();
    let requested: BTreeSet<String> = calls
        .iter()
        .filter(|c| c.action == "AssumeRole")
        .filter_map(|c| c.role_session_name.clone())
        .collect();
    ensure!(
        requested == wanted,
        "AssumeRole session names {requested:?}, want {wanted:?}"
    );
    let prefix = "arn:aws:sts::222222222222:assumed-role/zeroetl-connector/";
    let sessions_used: BTreeSet<String> = calls
        .iter()
        .filter_map(|c| {
            c.caller
                .as_deref()?
                .strip_prefix(prefix)
                .map(str::to_string)
        })
        .collect();
    ensure!(
        sessions_used == wanted,
        "the partner account saw sessions {sessions_used:?}, want {wanted:?}"
    );
    for session in &wanted {
        let used = calls
            .iter()
            .filter(|c| c.caller.as_deref() == Some(&format!("{prefix}{session}")))
            .count();
        ensure!(used > 0, "no call as session {session}");
        eprintln!("session {session}: {used} calls in account 222222222222");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn each_guardrail_flag_refuses_and_names_the_flag() -> Result<()> {
    let teams = teams("own-guard", 2).await?;
    let (a, b) = (&teams[0], &teams[1]);
    let sim = start_sim(with_person()?).await?;
    let _operator = start_operator(
        &[a, b],
        &sim,
        &[
            "--allowed-assume-role-arns=arn:aws:iam::*:role/zeroetl-*".to_string(),
            "--allowed-account-ids=111111111111".to_string(),
            "--forbid-source-reboot".to_string(),
        ],
    )
    .await?;

    // Team A asks for four things the admin forbade.
    let window = CallWindow::open(&sim);
    apply_connection(
        a,
        "staging",
        partner_connection("arn:aws:iam::111111111111:role/redshift-staging"),
    )
    .await?;
    apply_connection(a, "partner", partner_connection(PARTNER_ROLE_ARN)).await?;
    apply_integration(
        a,
        "rebooting",
        json!({"source": {"dbClusterIdentifier": "orders-aurora"},
               "target": {"namespaceArn": ANALYTICS_NAMESPACE_ARN},
               "prerequisites": {"source": "Fix", "allowSourceReboot": true}}),
    )
    .await?;
    apply_integration(
        a,
        "into-partner",
        json!({"source": {"dbClusterIdentifier": "billing-aurora-pg"},
               "target": {"namespaceArn": PARTNER_NAMESPACE_ARN}}),
    )
    .await?;
    let refusals = [
        (a.connections(), "staging", "--allowed-assume-role-arns"),
        (a.connections(), "partner", "--allowed-account-ids"),
        (a.integrations(), "rebooting", "--forbid-source-reboot"),
        (a.integrations(), "into-partner", "--allowed-account-ids"),
    ];
    for (api, name, flag) in &refusals {
        let refused = wait_for(
            api,
            name,
            "Stalled/ForbiddenByOperator",
            PASS_TIMEOUT,
            |o| current(o) && is_because(o, "Stalled", "True", "ForbiddenByOperator"),
        )
        .await?;
        ensure!(
            message(&refused, "Stalled").contains(flag),
            "{name}: the message must name {flag}:\n  {}",
            describe_conditions(&refused)
        );
    }
    let calls = window.calls_outside_the_snapshot(&sim);
    ensure!(
        calls.is_empty(),
        "refused objects called AWS: {:?}",
        calls
            .iter()
            .map(|c| format!("{}:{}", c.service, c.action))
            .collect::<Vec<_>>()
    );
    ensure!(db_cluster(&sim, "orders-aurora")["parameterGroup"] == "default.aurora-mysql8.0");

    // Team B stays within the flags and gets its integration.
    apply_integration(
        b,
        "billing",
        json!({"source": {"dbClusterIdentifier": "billing-aurora-pg"},
               "target": {"namespaceArn": ANALYTICS_NAMESPACE_ARN}}),
    )
    .await?;
    wait_for(&b.integrations(), "billing", "Ready", READY_TIMEOUT, ready).await?;
    eprintln!("4 objects refused naming their flag with 0 AWS calls; team B Ready");
    Ok(())
}
