//! RedshiftConnection end to end (issue #5): the real operator against the shared control plane and aws-sim
//! seeded with the sample estate. Each test has its own namespace, simulator and operator, with a short
//! re-verification interval.

use std::collections::BTreeSet;
use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use aws_sim::{Fault, FaultKind, SimHandle};
use k8s_openapi::api::core::v1::{Event, Namespace, Secret};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, PostParams};
use serde_json::{json, Value};
use zeroetl_e2e::aws_calls::CallWindow;
use zeroetl_e2e::manifests::apply;
use zeroetl_e2e::operator::Operator;
use zeroetl_e2e::sim::{start_sample_sim, total_calls};
use zeroetl_e2e::test_env::TestEnv;
use zeroetl_e2e::wait::{condition, condition_field, wait_for, wait_for_condition};

/// Seconds between re-verifications of a Ready connection in these tests.
const REVERIFY_SECS: u64 = 3;
/// How long a connection may take to converge (case sensitivity is fixed on the way).
const READY_TIMEOUT: Duration = Duration::from_secs(90);
const OPERATOR_READY_TIMEOUT: Duration = Duration::from_secs(60);

const ANALYTICS_NAMESPACE_ARN: &str =
    "arn:aws:redshift-serverless:us-east-1:111111111111:namespace/3f1c2a9e-5b7d-4e21-9c3a-1a2b3c4d5e01";
const RA3_NAMESPACE_ARN: &str =
    "arn:aws:redshift:us-east-1:111111111111:namespace:8d2e4f6a-0b1c-4d3e-8f5a-6b7c8d9e0f02";
const STAGING_ROLE: &str = "arn:aws:iam::111111111111:role/redshift-staging";
const PARTNER_ROLE: &str = "arn:aws:iam::222222222222:role/zeroetl-connector";
const EXTERNAL_ID: &str = "zeroetl-demo-external-id";
const WRONG_EXTERNAL_ID: &str = "wrong-external-id-4711";
const PARTNER_KEY_ID: &str = "AKIAZEROETLPARTNER01";
const PARTNER_SECRET_KEY: &str = "partner-demo-secret";
const OPERATOR_SECRET_KEY: &str = "operator-demo-secret";

async fn start_operator(env: &TestEnv, sim: &SimHandle) -> Result<Operator> {
    let mut options = env.operator_options(Some(&sim.endpoint()))?;
    options
        .extra_args
        .push(format!("--connection-reverify-interval={REVERIFY_SECS}"));
    let mut operator = Operator::start(&options)?;
    operator.wait_ready(OPERATOR_READY_TIMEOUT).await?;
    Ok(operator)
}

async fn apply_connection(env: &TestEnv, name: &str, spec: Value) -> Result<DynamicObject> {
    let object: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "zeroetl.dev/v1alpha1",
        "kind": "RedshiftConnection",
        "metadata": {"name": name},
        "spec": spec,
    }))?;
    apply(&env.client, &object, Some(&env.namespace)).await
}

fn secrets(env: &TestEnv) -> Api<Secret> {
    Api::namespaced(env.client.clone(), &env.namespace)
}

/// Polls `probe` until it returns `Some`, or fails after `timeout` naming `what`.
async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut probe: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = probe().await? {
            return Ok(value);
        }
        if Instant::now() >= deadline {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn status_str<'a>(object: &'a DynamicObject, pointer: &str) -> &'a str {
    object
        .data
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Waits until some condition of `name` has `reason`.
async fn wait_for_reason(
    api: &Api<DynamicObject>,
    name: &str,
    reason: &str,
    within: Duration,
) -> Result<DynamicObject> {
    wait_for(api, name, &format!("a {reason} condition"), within, |o| {
        zeroetl_e2e::wait::conditions(o)
            .iter()
            .any(|c| condition_field(c, "reason") == reason)
    })
    .await
}

fn condition_is(object: &DynamicObject, type_: &str, status: &str, reason: &str) -> bool {
    condition(object, type_).is_some_and(|c| {
        condition_field(&c, "status") == status && condition_field(&c, "reason") == reason
    })
}

fn secret_text(secret: &Secret, key: &str) -> String {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        .unwrap_or_default()
}

fn secret_keys(secret: &Secret) -> BTreeSet<String> {
    secret
        .data
        .as_ref()
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default()
}

fn set(keys: &[&str]) -> BTreeSet<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

/// Every step condition True, and the connection Ready.
fn fully_verified(object: &DynamicObject) -> bool {
    [
        "Ready",
        "Authenticated",
        "CredentialsIssued",
        "Reachable",
        "StagingReady",
        "CaseSensitive",
        "SecretPublished",
    ]
    .iter()
    .all(|t| condition(object, t).is_some_and(|c| condition_field(&c, "status") == "True"))
}

/// A DbPassword from aws-sim is `Sim` and 29 characters of A–Z2–7; a session token starts `FwoGZXIvYXdzESim`.
fn find_generated_secret(text: &str) -> Option<String> {
    if let Some(at) = text.find("FwoGZXIvYXdzESim") {
        return Some(text[at..].chars().take(40).collect());
    }
    let is_sim_char = |c: char| c.is_ascii_uppercase() || ('2'..='7').contains(&c);
    text.match_indices("Sim").find_map(|(at, _)| {
        let tail: String = text[at + 3..]
            .chars()
            .take_while(|c| is_sim_char(*c))
            .collect();
        (tail.len() >= 29).then(|| format!("Sim{tail}"))
    })
}

#[test]
fn generated_secret_detector_finds_passwords_and_tokens() {
    assert!(find_generated_secret("pw SimABCDEFGHIJKLMNOPQRSTUVWXYZ234 end").is_some());
    assert!(find_generated_secret("token FwoGZXIvYXdzESimAAAA").is_some());
    assert!(find_generated_secret("aws-sim SimHandle Simulated").is_none());
}

/// Operator logs, every Event in the namespace and every connection's status: none may contain a secret.
/// `expected_event`: a reason that must be among the events, so that the check is not vacuous.
async fn assert_no_secret_values(
    env: &TestEnv,
    operator: &Operator,
    secrets_used: &[&str],
    expected_event: Option<&str>,
) -> Result<()> {
    let events: Api<Event> = Api::namespaced(env.client.clone(), &env.namespace);
    let events = serde_json::to_string(&events.list(&ListParams::default()).await?.items)?;
    let statuses: Vec<Value> = env
        .connections()
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .map(|c| c.data["status"].clone())
        .collect();
    let statuses = serde_json::to_string(&statuses)?;
    let logs = operator.logs();
    assert!(!logs.is_empty(), "the operator logged nothing");
    if let Some(reason) = expected_event {
        assert!(
            events.contains(&format!("\"{reason}\"")),
            "no {reason} event to check: {events}"
        );
    }
    for (what, text) in [
        ("operator log", &logs),
        ("events", &events),
        ("status", &statuses),
    ] {
        for secret in secrets_used {
            assert!(
                !text.contains(secret),
                "{what} contains the secret value {secret:?}"
            );
        }
        assert_eq!(
            find_generated_secret(text),
            None,
            "{what} contains a generated credential"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn serverless_and_provisioned_connections_are_verified_and_published() -> Result<()> {
    let env = TestEnv::new("conn-ready").await?;
    let sim = start_sample_sim().await?;
    let _operator = start_operator(&env, &sim).await?;
    let staging =
        json!({"bucket": "zeroetl-staging-use1", "prefix": "unload/", "iamRoleArn": STAGING_ROLE});
    apply_connection(&env, "analytics", json!({
        "region": "us-east-1", "serverless": {"workgroupName": "analytics-wg"}, "database": "dev",
        "caseSensitiveIdentifiers": "Fix", "staging": staging, "connectionSecret": {"name": "analytics-connection"},
    }))
    .await?;
    apply_connection(&env, "warehouse", json!({
        "provisioned": {"clusterIdentifier": "warehouse-ra3"}, "database": "dev", "ssl": "verifyFull",
        "auth": {"dbUser": "etl"}, "staging": staging, "connectionSecret": {"name": "warehouse-connection"},
    }))
    .await?;

    let connections = env.connections();
    let analytics = wait_for(
        &connections,
        "analytics",
        "every step True",
        READY_TIMEOUT,
        fully_verified,
    )
    .await?;
    let warehouse = wait_for(
        &connections,
        "warehouse",
        "every step True",
        READY_TIMEOUT,
        fully_verified,
    )
    .await?;

    // Status: kind, endpoint, namespace ARN (the zero-ETL target), JDBC URL, case sensitivity.
    assert_eq!(status_str(&analytics, "/status/kind"), "Serverless");
    assert_eq!(
        status_str(&analytics, "/status/namespaceArn"),
        ANALYTICS_NAMESPACE_ARN
    );
    assert_eq!(
        analytics.data.pointer("/status/caseSensitive"),
        Some(&json!(true)),
        "Fix turned it on"
    );
    assert_eq!(
        analytics.data.pointer("/status/endpoint/port"),
        Some(&json!(5439))
    );
    assert_eq!(status_str(&warehouse, "/status/kind"), "Provisioned");
    assert_eq!(
        status_str(&warehouse, "/status/namespaceArn"),
        RA3_NAMESPACE_ARN
    );
    let host = status_str(&warehouse, "/status/endpoint/address");
    assert_eq!(
        status_str(&warehouse, "/status/jdbcUrl"),
        format!("jdbc:redshift://{host}:5439/dev?ssl=true&sslmode=verify-full")
    );
    assert_eq!(
        sim.counts().get("redshift-serverless:UpdateWorkgroup"),
        Some(&1),
        "case sensitivity fixed once"
    );

    // The Secrets hold exactly the documented coordinates and are owned by their connection.
    let published = secrets(&env).get("analytics-connection").await?;
    assert_eq!(
        secret_keys(&published),
        set(&[
            "host",
            "port",
            "database",
            "jdbcUrl",
            "region",
            "namespaceArn",
            "workgroup",
            "stagingRoleArn"
        ])
    );
    assert_eq!(
        secret_text(&published, "jdbcUrl"),
        status_str(&analytics, "/status/jdbcUrl")
    );
    assert!(secret_text(&published, "jdbcUrl").ends_with(":5439/dev?ssl=true&sslmode=require"));
    assert_eq!(
        secret_text(&published, "namespaceArn"),
        ANALYTICS_NAMESPACE_ARN
    );
    assert_eq!(
        (
            secret_text(&published, "port"),
            secret_text(&published, "workgroup")
        ),
        ("5439".into(), "analytics-wg".into())
    );
    assert_eq!(secret_text(&published, "stagingRoleArn"), STAGING_ROLE);
    let owner = published
        .metadata
        .owner_references
        .clone()
        .unwrap_or_default();
    assert_eq!(owner.len(), 1);
    assert_eq!(
        (owner[0].kind.as_str(), owner[0].controller),
        ("RedshiftConnection", Some(true))
    );
    assert_eq!(
        Some(owner[0].uid.as_str()),
        analytics.metadata.uid.as_deref()
    );
    let provisioned = secrets(&env).get("warehouse-connection").await?;
    assert_eq!(
        secret_keys(&provisioned),
        set(&[
            "host",
            "port",
            "database",
            "jdbcUrl",
            "region",
            "namespaceArn",
            "cluster",
            "stagingRoleArn"
        ])
    );
    assert_eq!(secret_text(&provisioned, "cluster"), "warehouse-ra3");

    // Re-verification runs every interval, and within the hour it costs no write: neither the unchanged
    // Secret nor the status (lastVerifiedTime is recorded at most hourly).
    let version = published.metadata.resource_version.clone();
    let verified_at = status_str(&analytics, "/status/lastVerifiedTime").to_string();
    let statements = |sim: &SimHandle| {
        sim.counts()
            .get("redshift-data:ExecuteStatement")
            .copied()
            .unwrap_or_default()
    };
    let before = statements(&sim);
    let sim_ref = &sim;
    eventually(
        "SELECT 1 to run again",
        Duration::from_secs(REVERIFY_SECS * 4),
        move || async move { Ok((statements(sim_ref) > before).then_some(())) },
    )
    .await?;
    let later = connections.get("analytics").await?;
    assert!(fully_verified(&later));
    assert_eq!(
        status_str(&later, "/status/lastVerifiedTime"),
        verified_at,
        "a verification within the hour is not written"
    );
    assert_eq!(
        later.metadata.resource_version, analytics.metadata.resource_version,
        "no status write for an unchanged verification"
    );
    assert_eq!(
        secrets(&env)
            .get("analytics-connection")
            .await?
            .metadata
            .resource_version,
        version,
        "no rewrite of an unchanged Secret"
    );
    assert_eq!(
        sim.counts().get("redshift-serverless:UpdateWorkgroup"),
        Some(&1),
        "nothing changed in AWS after convergence"
    );

    // A deleted Secret is put back.
    secrets(&env)
        .delete("analytics-connection", &DeleteParams::default())
        .await?;
    let restored = eventually(
        "the Secret to be restored",
        Duration::from_secs(30),
        || async {
            Ok(secrets(&env)
                .get_opt("analytics-connection")
                .await?
                .filter(|s| s.metadata.deletion_timestamp.is_none()))
        },
    )
    .await?;
    assert_eq!(secret_keys(&restored), secret_keys(&published));

    // Deleting the connection deletes its Secret (garbage collection through the owner reference).
    connections
        .delete("analytics", &DeleteParams::default())
        .await?;
    eventually(
        "the Secret to be garbage-collected",
        Duration::from_secs(90),
        || async {
            Ok(secrets(&env)
                .get_opt("analytics-connection")
                .await?
                .is_none()
                .then_some(()))
        },
    )
    .await?;
    assert!(
        secrets(&env)
            .get_opt("warehouse-connection")
            .await?
            .is_some(),
        "the other connection's Secret stays"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_external_id_decides_cross_account_authentication() -> Result<()> {
    let spec = |external_id: &str| {
        json!({
            "serverless": {"workgroupName": "partner-wg"}, "database": "dev",
            "auth": {"assumeRole": {"roleArn": PARTNER_ROLE, "externalId": external_id}},
            "connectionSecret": {"name": "partner-connection"},
        })
    };

    // The right external id: the partner's warehouse is verified with the assumed role.
    let env = TestEnv::new("conn-xacct").await?;
    let sim = start_sample_sim().await?;
    let operator = start_operator(&env, &sim).await?;
    apply_connection(&env, "partner", spec(EXTERNAL_ID)).await?;
    let partner = wait_for(
        &env.connections(),
        "partner",
        "every step True",
        READY_TIMEOUT,
        fully_verified,
    )
    .await?;
    assert!(status_str(&partner, "/status/namespaceArn").contains(":222222222222:"));
    let published = secrets(&env).get("partner-connection").await?;
    assert_eq!(secret_text(&published, "roleArn"), PARTNER_ROLE);
    assert!(!secret_keys(&published)
        .iter()
        .any(|k| k.to_lowercase().contains("external")));
    let partner_calls = sim
        .calls()
        .iter()
        .filter(|c| c.service != "sts" && c.account.as_deref() == Some("222222222222"))
        .count();
    assert!(
        partner_calls > 0,
        "warehouse calls ran as the partner account"
    );

    // A wrong one: Authenticated=False/AccessDenied, and nothing but AssumeRole is attempted.
    let wrong_env = TestEnv::new("conn-xacct-wrong").await?;
    let wrong_sim = start_sample_sim().await?;
    let wrong_operator = start_operator(&wrong_env, &wrong_sim).await?;
    apply_connection(&wrong_env, "partner", spec(WRONG_EXTERNAL_ID)).await?;
    let denied = wait_for(
        &wrong_env.connections(),
        "partner",
        "Authenticated=False AccessDenied",
        READY_TIMEOUT,
        |o| condition_is(o, "Authenticated", "False", "AccessDenied"),
    )
    .await?;
    assert!(condition_is(&denied, "Ready", "False", "AccessDenied"));
    assert!(condition(&denied, "Stalled").is_some_and(|c| condition_field(&c, "status") == "True"));
    for later in [
        "CredentialsIssued",
        "Reachable",
        "StagingReady",
        "CaseSensitive",
        "SecretPublished",
    ] {
        assert!(
            condition(&denied, later).is_some_and(|c| condition_field(&c, "status") == "Unknown"),
            "{later} was not left Unknown"
        );
    }
    // Let the operator try again (a re-verification), then check every call the simulator saw.
    eventually(
        "a second attempt",
        Duration::from_secs(REVERIFY_SECS * 4),
        || async {
            Ok((wrong_sim
                .counts()
                .get("sts:AssumeRole")
                .copied()
                .unwrap_or_default()
                >= 2)
                .then_some(()))
        },
    )
    .await?;
    let actions: BTreeSet<String> = wrong_sim
        .calls()
        .iter()
        .map(|c| format!("{}:{}", c.service, c.action))
        .collect();
    assert_eq!(
        actions,
        set(&["sts:AssumeRole"]),
        "only AssumeRole may be attempted with a refused role"
    );
    assert!(
        secrets(&wrong_env)
            .get_opt("partner-connection")
            .await?
            .is_none(),
        "nothing is published"
    );

    // A connection Ready at the first try has no event to show (the Ready condition says it); the refused
    // one has its stall's warning.
    assert_no_secret_values(&env, &operator, &[EXTERNAL_ID, OPERATOR_SECRET_KEY], None).await?;
    assert_no_secret_values(
        &wrong_env,
        &wrong_operator,
        &[WRONG_EXTERNAL_ID, EXTERNAL_ID, OPERATOR_SECRET_KEY],
        Some("AccessDenied"),
    )
    .await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn access_keys_are_read_only_from_the_connections_own_namespace() -> Result<()> {
    let env = TestEnv::new("conn-keys").await?;
    let sim = start_sample_sim().await?;
    let operator = start_operator(&env, &sim).await?;

    // The partner's key pair exists, but in another namespace.
    let other = format!("{}-other", env.namespace);
    let namespaces: Api<Namespace> = Api::all(env.client.clone());
    namespaces
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": other}}))?,
        )
        .await?;
    let keys = |ns: &str| -> Result<Secret> {
        Ok(serde_json::from_value(json!({
            "metadata": {"name": "partner-keys", "namespace": ns},
            "stringData": {"AWS_ACCESS_KEY_ID": PARTNER_KEY_ID, "AWS_SECRET_ACCESS_KEY": PARTNER_SECRET_KEY},
        }))?)
    };
    Api::<Secret>::namespaced(env.client.clone(), &other)
        .create(&PostParams::default(), &keys(&other)?)
        .await?;

    apply_connection(
        &env,
        "partner",
        json!({
            "serverless": {"workgroupName": "partner-wg"}, "database": "dev",
            "auth": {"accessKeySecretRef": {"name": "partner-keys"}},
            "connectionSecret": {"name": "partner-connection"},
        }),
    )
    .await?;
    let refused = wait_for(
        &env.connections(),
        "partner",
        "Authenticated=False SecretNotFound",
        READY_TIMEOUT,
        |o| condition_is(o, "Authenticated", "False", "SecretNotFound"),
    )
    .await?;
    let message = condition(&refused, "Authenticated")
        .map(|c| condition_field(&c, "message"))
        .unwrap_or_default();
    assert!(
        message.contains(&env.namespace) && message.contains("partner-keys"),
        "{message}"
    );
    assert_eq!(total_calls(&sim), 0, "no AWS call without an identity");

    // The same Secret in the connection's namespace is used (picked up by the next verification).
    secrets(&env)
        .create(&PostParams::default(), &keys(&env.namespace)?)
        .await?;
    let partner = wait_for_condition(
        &env.connections(),
        "partner",
        "Ready",
        "True",
        READY_TIMEOUT,
    )
    .await?;
    assert!(fully_verified(&partner), "{:?}", partner.data["status"]);
    let by_partner_key = sim
        .calls()
        .iter()
        .filter(|c| c.access_key_id == PARTNER_KEY_ID)
        .count();
    assert!(
        by_partner_key > 0,
        "the calls ran with the key pair from the Secret"
    );
    assert!(
        sim.calls()
            .iter()
            .all(|c| c.account.as_deref() != Some("111111111111") || c.service == "sts"),
        "no call as the operator"
    );

    let published = secrets(&env).get("partner-connection").await?;
    for value in published.data.iter().flat_map(|d| d.values()) {
        let text = String::from_utf8_lossy(&value.0);
        assert!(
            !text.contains(PARTNER_SECRET_KEY) && !text.contains(PARTNER_KEY_ID),
            "published Secret holds a key"
        );
    }
    // Waiting for a Secret is progress, not a warning, and the first Ready is no event: nothing may be there.
    assert_no_secret_values(
        &env,
        &operator,
        &[PARTNER_SECRET_KEY, OPERATOR_SECRET_KEY],
        None,
    )
    .await?;
    namespaces.delete(&other, &DeleteParams::default()).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_staging_bucket_in_another_region_is_not_ready() -> Result<()> {
    let env = TestEnv::new("conn-staging").await?;
    let sim = start_sample_sim().await?;
    let _operator = start_operator(&env, &sim).await?;
    apply_connection(&env, "analytics", json!({
        "serverless": {"workgroupName": "analytics-wg"}, "database": "dev", "caseSensitiveIdentifiers": "Ignore",
        "staging": {"bucket": "zeroetl-staging-euw1", "iamRoleArn": STAGING_ROLE},
    }))
    .await?;
    let object = wait_for(
        &env.connections(),
        "analytics",
        "StagingReady=False",
        READY_TIMEOUT,
        |o| condition_is(o, "StagingReady", "False", "BucketRegionMismatch"),
    )
    .await?;
    let message = condition(&object, "StagingReady")
        .map(|c| condition_field(&c, "message"))
        .unwrap_or_default();
    assert!(
        message.contains("eu-west-1") && message.contains("us-east-1"),
        "names both regions: {message}"
    );
    assert!(condition_is(
        &object,
        "Ready",
        "False",
        "BucketRegionMismatch"
    ));
    // The rest of the connection works; only staging is wrong.
    for ok in ["Authenticated", "CredentialsIssued", "Reachable"] {
        assert!(
            condition(&object, ok).is_some_and(|c| condition_field(&c, "status") == "True"),
            "{ok}"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_connection_that_breaks_turns_not_ready_and_its_integration_reports_it() -> Result<()> {
    let env = TestEnv::new("conn-breaks").await?;
    let sim = start_sample_sim().await?;
    let _operator = start_operator(&env, &sim).await?;
    apply_connection(&env, "analytics", json!({
        "serverless": {"workgroupName": "analytics-wg"}, "database": "dev", "caseSensitiveIdentifiers": "Fix",
    }))
    .await?;
    wait_for_condition(
        &env.connections(),
        "analytics",
        "Ready",
        "True",
        READY_TIMEOUT,
    )
    .await?;
    let integration: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "zeroetl.dev/v1alpha1",
        "kind": "ZeroEtlIntegration",
        "metadata": {"name": "billing-to-analytics"},
        "spec": {"source": {"dbClusterIdentifier": "billing-aurora-pg"}, "target": {"connectionRef": {"name": "analytics"}}},
    }))?;
    apply(&env.client, &integration, Some(&env.namespace)).await?;
    let integrations = env.integrations();
    wait_for(
        &integrations,
        "billing-to-analytics",
        "the connection's namespace as target",
        READY_TIMEOUT,
        |o| status_str(o, "/status/targetArn") == ANALYTICS_NAMESPACE_ARN,
    )
    .await?;

    // The Data API starts refusing the operator: the connection is no longer reachable.
    sim.inject(
        Fault::new("redshift-data:ExecuteStatement", FaultKind::Error)
            .with_code("AccessDeniedException", 400),
    );
    let broke_at = Instant::now();
    let within = Duration::from_secs(REVERIFY_SECS) + Duration::from_secs(10);
    let broken = wait_for(
        &env.connections(),
        "analytics",
        "Ready=False",
        within,
        |o| condition(o, "Ready").is_some_and(|c| condition_field(&c, "status") == "False"),
    )
    .await?;
    assert!(
        condition_is(&broken, "Reachable", "False", "AccessDenied"),
        "{:?}",
        condition(&broken, "Reachable")
    );
    let reported = wait_for_reason(
        &integrations,
        "billing-to-analytics",
        "ConnectionNotReady",
        within,
    )
    .await
    .context("the integration did not report its broken connection")?;
    eprintln!(
        "connection broke → integration reported it after {:?} (interval {REVERIFY_SECS}s): {}",
        broke_at.elapsed(),
        zeroetl_e2e::wait::describe_conditions(&reported)
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_verified_connection_costs_no_aws_call_or_status_write_until_its_next_verification(
) -> Result<()> {
    let env = TestEnv::new("conn-steady").await?;
    let sim = start_sample_sim().await?;
    // A long interval: everything below happens well inside it.
    let mut options = env.operator_options(Some(&sim.endpoint()))?;
    options
        .extra_args
        .push("--connection-reverify-interval=600".into());
    let mut operator = Operator::start(&options)?;
    operator.wait_ready(OPERATOR_READY_TIMEOUT).await?;
    apply_connection(
        &env,
        "analytics",
        json!({
            "serverless": {"workgroupName": "analytics-wg"}, "database": "dev", "caseSensitiveIdentifiers": "Ignore",
            "connectionSecret": {"name": "analytics-connection"},
        }),
    )
    .await?;
    let ready = wait_for_condition(
        &env.connections(),
        "analytics",
        "Ready",
        "True",
        READY_TIMEOUT,
    )
    .await?;
    let calls = total_calls(&sim);
    let version = ready.metadata.resource_version.clone();

    // A metadata change and a deleted Secret both reconcile the connection; neither needs AWS.
    let patch = json!({"metadata": {"annotations": {"example.com/touched": "yes"}}});
    env.connections()
        .patch(
            "analytics",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&patch),
        )
        .await?;
    secrets(&env)
        .delete("analytics-connection", &DeleteParams::default())
        .await?;
    eventually(
        "the Secret to be restored",
        Duration::from_secs(30),
        || async {
            Ok(secrets(&env)
                .get_opt("analytics-connection")
                .await?
                .filter(|s| s.metadata.deletion_timestamp.is_none()))
        },
    )
    .await?;
    assert_eq!(
        total_calls(&sim),
        calls,
        "AWS calls after verification: {:?}",
        sim.counts()
    );
    let after = env.connections().get("analytics").await?;
    assert_eq!(
        after.data["status"], ready.data["status"],
        "the status was rewritten"
    );
    assert_ne!(
        after.metadata.resource_version, version,
        "the annotation was applied"
    );
    Ok(())
}

/// A deleted connection wakes the integrations that target it, in its namespace only. Without that wake they
/// kept reporting Ready through a connection that no longer exists until their next recheck (minutes).
#[tokio::test(flavor = "multi_thread")]
async fn a_deleted_connection_is_reported_by_its_integration_and_not_by_another_teams() -> Result<()>
{
    let fleet = TwoTeams::replicating("conn-gone", &[]).await?;
    let (a, b) = fleet.a_and_b();
    let b_before = b.integrations().get("replica").await?;

    a.connections()
        .delete("analytics", &DeleteParams::default())
        .await?;
    let deleted_at = Instant::now();
    let reported = wait_for_reason(
        &a.integrations(),
        "replica",
        "ConnectionNotFound",
        Duration::from_secs(20),
    )
    .await
    .context("team A's integration did not report its deleted connection")?;
    eprintln!(
        "connection deleted → integration reported it after {:?}: {}",
        deleted_at.elapsed(),
        zeroetl_e2e::wait::describe_conditions(&reported)
    );
    let b_after = b.integrations().get("replica").await?;
    assert_eq!(
        b_after.metadata.resource_version,
        b_before.metadata.resource_version,
        "team B's integration was written to: {}",
        zeroetl_e2e::wait::describe_conditions(&b_after)
    );
    assert!(condition_is(&b_after, "Ready", "True", "Reconciled"));
    Ok(())
}

/// Two teams watched by one operator (started with `operator_args`). Team A's integration "replica"
/// (billing-aurora-pg) targets its connection "analytics", the serverless warehouse; team B's
/// (accounts-postgres) targets its own connection of the same name, the provisioned one.
struct TwoTeams {
    teams: Vec<TestEnv>,
    sim: SimHandle,
    operator: Operator,
}

impl TwoTeams {
    /// Returns once both integrations are Ready.
    async fn replicating(prefix: &str, operator_args: &[String]) -> Result<TwoTeams> {
        let teams = zeroetl_e2e::tenants::teams(prefix, 2).await?;
        let sim = start_sample_sim().await?;
        let operator =
            zeroetl_e2e::tenants::start_operator(&[&teams[0], &teams[1]], &sim, operator_args)
                .await?;
        each_team_replicates_through_its_analytics_connection(&teams[0], &teams[1]).await?;
        Ok(TwoTeams {
            teams,
            sim,
            operator,
        })
    }

    fn a_and_b(&self) -> (&TestEnv, &TestEnv) {
        (&self.teams[0], &self.teams[1])
    }
}

async fn each_team_replicates_through_its_analytics_connection(
    a: &TestEnv,
    b: &TestEnv,
) -> Result<()> {
    apply_connection(a, "analytics", json!({
        "serverless": {"workgroupName": "analytics-wg"}, "database": "dev", "caseSensitiveIdentifiers": "Fix",
    }))
    .await?;
    apply_connection(b, "analytics", json!({
        "provisioned": {"clusterIdentifier": "warehouse-ra3"}, "database": "dev", "auth": {"dbUser": "zeroetl"},
    }))
    .await?;
    for (team, source) in [
        (a, json!({"dbClusterIdentifier": "billing-aurora-pg"})),
        (b, json!({"dbInstanceIdentifier": "accounts-postgres"})),
    ] {
        zeroetl_e2e::tenants::apply_integration(
            team,
            "replica",
            json!({"source": source, "target": {"connectionRef": {"name": "analytics"}}}),
        )
        .await?;
    }
    for team in [a, b] {
        let ready = wait_for_condition(
            &team.integrations(),
            "replica",
            "Ready",
            "True",
            READY_TIMEOUT,
        )
        .await?;
        // The integration exists: Replicating may not say there is none.
        let replicating = condition(&ready, "Replicating").context("a Replicating condition")?;
        assert_ne!(
            condition_field(&replicating, "reason"),
            "NoIntegration",
            "{}: {}",
            team.namespace,
            zeroetl_e2e::wait::describe_conditions(&ready)
        );
    }
    Ok(())
}

/// An operator that restarts (an upgrade, a rescheduled pod) finds every team's integration Ready through its
/// connection: no pass may read a connection cache that has not listed yet as "no such connection". The
/// restart's first full check reads replication, so `status.replication` and the Replicating condition may
/// be refreshed; nothing else in the status may change.
#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_operator_changes_nothing_but_the_replication_read_of_integrations_on_connections(
) -> Result<()> {
    let mut fleet = TwoTeams::replicating("conn-restart", &[]).await?;
    let (a, b) = (&fleet.teams[0], &fleet.teams[1]);
    let mut before = Vec::new();
    for team in [a, b] {
        before.push(team.integrations().get("replica").await?);
    }
    fleet
        .operator
        .sigterm_and_wait(Duration::from_secs(30))
        .await
        .context("stop the first operator")?;

    let (a, b) = fleet.a_and_b();
    let operator = zeroetl_e2e::tenants::start_operator(&[a, b], &fleet.sim, &[]).await?;
    eventually(
        "the restarted operator to reconcile both integrations",
        Duration::from_secs(30),
        || async {
            let passes: f64 = operator
                .metrics()
                .await?
                .lines()
                .filter(|l| {
                    l.starts_with("zeroetl_reconciles_total{")
                        && l.contains("kind=\"ZeroEtlIntegration\"")
                })
                .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .sum();
            Ok((passes >= 2.0).then_some(()))
        },
    )
    .await?;
    for (team, before) in [a, b].into_iter().zip(before) {
        let after = team.integrations().get("replica").await?;
        assert_eq!(
            all_but_the_replication_read(&after),
            all_but_the_replication_read(&before),
            "{}: the restarted operator changed the status",
            team.namespace
        );
    }
    Ok(())
}

/// An integration's status without `replication` and the Replicating condition.
fn all_but_the_replication_read(object: &DynamicObject) -> Value {
    let mut status = object.data["status"].clone();
    if let Some(fields) = status.as_object_mut() {
        fields.remove("replication");
    }
    if let Some(conditions) = status["conditions"].as_array_mut() {
        conditions.retain(|c| c["type"] != "Replicating");
    }
    status
}

/// Every full check of an active integration reads its replication. Two teams' steady integrations, checked
/// every 2 s, read the same figures again and again: no status write, where each check used to write a new
/// `checkedAt`.
#[tokio::test(flavor = "multi_thread")]
async fn full_checks_that_read_the_same_replication_figures_write_nothing() -> Result<()> {
    let fleet = TwoTeams::replicating("conn-drift", &["--drift-interval=2".into()]).await?;
    let (a, b) = fleet.a_and_b();
    let sim = &fleet.sim;
    let mut before = Vec::new();
    for team in [a, b] {
        before.push(
            wait_for(
                &team.integrations(),
                "replica",
                "a first replication read",
                Duration::from_secs(30),
                |o| o.data.pointer("/status/replication/checkedAt").is_some(),
            )
            .await?,
        );
    }
    let window = CallWindow::open(sim);
    eventually(
        "three more full checks of each integration (replication reads)",
        Duration::from_secs(30),
        || async { Ok((window.count(sim, "redshift-data:ExecuteStatement") >= 6).then_some(())) },
    )
    .await?;
    for (team, before) in [a, b].into_iter().zip(before) {
        let after = team.integrations().get("replica").await?;
        assert_eq!(
            after.metadata.resource_version,
            before.metadata.resource_version,
            "{}: a full check wrote\n{}\nwas\n{}",
            team.namespace,
            serde_json::to_string_pretty(&after.data["status"])?,
            serde_json::to_string_pretty(&before.data["status"])?
        );
    }
    Ok(())
}
