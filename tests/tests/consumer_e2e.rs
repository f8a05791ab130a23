//! RedshiftConsumer end to end (issue 12): the real operator, the shared control plane and aws-sim seeded with
//! the sample estate — with the sample consumer roles attached to the analytics namespace, which the warehouse
//! owner does once by hand. Each test has its own namespace, simulator and operator.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use aws_sim::SimHandle;
use k8s_openapi::api::core::v1::{Event, Secret};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use serde_json::{json, Value};
use zeroetl_e2e::consumer_tool::{
    assume, key_config, run_sql, start_sim_with_attached_roles, OPERATOR_KEY, VENDOR_KEY,
};
use zeroetl_e2e::manifests::{apply, apply_file, rejection, resource};
use zeroetl_e2e::operator::Operator;
use zeroetl_e2e::paths::workspace_root;
use zeroetl_e2e::sim::total_calls;
use zeroetl_e2e::test_env::TestEnv;
use zeroetl_e2e::wait::{condition, condition_field, wait_for};

const READY_TIMEOUT: Duration = Duration::from_secs(120);
const GONE_TIMEOUT: Duration = Duration::from_secs(60);
const OPERATOR_READY_TIMEOUT: Duration = Duration::from_secs(60);
const POLYTOMIC_ROLE: &str = "arn:aws:iam::111111111111:role/zeroetl-polytomic";
const INFORMATICA_ROLE: &str = "arn:aws:iam::111111111111:role/zeroetl-informatica";
const NS_ARN: &str = "arn:aws:redshift-serverless:us-east-1:111111111111:namespace/3f1c2a9e-5b7d-4e21-9c3a-1a2b3c4d5e01";
const OPERATOR_PRINCIPAL: &str = "arn:aws:iam::111111111111:user/zeroetl-operator";
const POLYTOMIC_USER: &str = "IAMR:zeroetl-polytomic";
const INFORMATICA_USER: &str = "IAMR:zeroetl-informatica";

fn consumers(env: &TestEnv) -> Api<DynamicObject> {
    Api::namespaced_with(
        env.client.clone(),
        &env.namespace,
        &resource(
            "zeroetl.dev",
            "v1alpha1",
            "RedshiftConsumer",
            "redshiftconsumers",
        ),
    )
}

fn sample(file: &str) -> std::path::PathBuf {
    workspace_root().join("config/samples").join(file)
}

const CONNECTION_SAMPLE: &str = "zeroetl_v1alpha1_redshiftconnection.yaml";
const VENDOR_SAMPLE: &str = "zeroetl_v1alpha1_redshiftconsumer_unload_vendor.yaml";
const CONNECTOR_SAMPLE: &str = "zeroetl_v1alpha1_redshiftconsumer_connector.yaml";
const MASKING_SAMPLE: &str = "zeroetl_v1alpha1_redshiftconsumer_masking_tool.yaml";

/// The warehouse with two tables in public, the operator watching only this test's namespace.
async fn start(env: &TestEnv) -> Result<(SimHandle, Operator)> {
    let sim = start_sim_with_attached_roles(&[POLYTOMIC_ROLE, INFORMATICA_ROLE]).await?;
    let operator_aws = key_config(&sim, OPERATOR_KEY).await;
    for table in ["orders", "customers"] {
        run_sql(
            &operator_aws,
            "dev",
            &format!("CREATE TABLE public.{table} (id int)"),
        )
        .await?;
    }
    let mut options = env.operator_options(Some(&sim.endpoint()))?;
    options
        .extra_args
        .push("--connection-reverify-interval=5".into());
    let mut operator = Operator::start(&options)?;
    operator.wait_ready(OPERATOR_READY_TIMEOUT).await?;
    Ok((sim, operator))
}

fn ready(o: &DynamicObject) -> bool {
    condition(o, "Ready").is_some_and(|c| condition_field(&c, "status") == "True")
}

async fn wait_ready(env: &TestEnv, name: &str) -> Result<DynamicObject> {
    wait_for(&consumers(env), name, "Ready=True", READY_TIMEOUT, ready).await
}

fn text(secret: &Secret, key: &str) -> String {
    secret
        .data
        .as_ref()
        .and_then(|d| d.get(key))
        .map(|b| String::from_utf8_lossy(&b.0).into_owned())
        .unwrap_or_default()
}

fn keys(secret: &Secret) -> BTreeSet<String> {
    secret
        .data
        .as_ref()
        .map(|d| d.keys().cloned().collect())
        .unwrap_or_default()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn role(sim: &SimHandle, name: &str) -> Value {
    sim.state_json()["accounts"]["111111111111"]["roles"][name].clone()
}

fn warehouse(sim: &SimHandle) -> Value {
    sim.state_json()["accounts"]["111111111111"]["regions"]["us-east-1"]["warehouses"][NS_ARN]
        .clone()
}

/// Every privilege `user` holds in the analytics warehouse, as `PRIV ON …` lines.
fn privileges(sim: &SimHandle, user: &str) -> BTreeSet<String> {
    let w = warehouse(sim);
    let mut out = BTreeSet::new();
    let list = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(|p| p.as_str().map(str::to_owned))
            .collect()
    };
    for (db, d) in w["databases"].as_object().into_iter().flatten() {
        for p in list(&d["privileges"][user]) {
            out.insert(format!("{p} ON DATABASE {db}"));
        }
        for (schema, s) in d["schemas"].as_object().into_iter().flatten() {
            for p in list(&s["privileges"][user]) {
                out.insert(format!("{p} ON SCHEMA {db}.{schema}"));
            }
            for p in list(&s["defaultPrivileges"][user]) {
                out.insert(format!("DEFAULT {p} IN {db}.{schema}"));
            }
            for (table, t) in s["tablePrivileges"].as_object().into_iter().flatten() {
                for p in list(&t[user]) {
                    out.insert(format!("{p} ON {db}.{schema}.{table}"));
                }
            }
        }
    }
    out
}

/// The trust policy's statements as (principal, external id condition) pairs.
fn trust(sim: &SimHandle, name: &str) -> Vec<(String, String)> {
    let doc: Value = serde_json::from_str(role(sim, name)["trustPolicy"].as_str().unwrap_or("{}"))
        .unwrap_or_default();
    doc["Statement"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let principal = s["Principal"]["AWS"]
                .as_str()
                .or(s["Principal"]["Service"].as_str())
                .unwrap_or_default();
            let id = s
                .pointer("/Condition/StringEquals/sts:ExternalId")
                .and_then(Value::as_str)
                .unwrap_or_default();
            (principal.to_owned(), id.to_owned())
        })
        .collect()
}

fn inline_policies(sim: &SimHandle, name: &str) -> Vec<String> {
    role(sim, name)["inlinePolicies"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sample_reaches_ready_with_exactly_what_it_declares() -> Result<()> {
    let env = TestEnv::new("consumer-samples").await?;
    let (sim, operator) = start(&env).await?;
    for file in [
        CONNECTION_SAMPLE,
        VENDOR_SAMPLE,
        CONNECTOR_SAMPLE,
        MASKING_SAMPLE,
    ] {
        apply_file(&env.client, &sample(file), Some(&env.namespace)).await?;
    }
    let mut seen = Vec::new();
    for name in ["polytomic", "informatica", "tonic"] {
        let o = wait_ready(&env, name).await?;
        for step in [
            "RoleReady",
            "DatabaseUserReady",
            "GrantsApplied",
            "SecretPublished",
            "Verified",
        ] {
            let c = condition(&o, step).with_context(|| format!("{name} has no {step}"))?;
            ensure!(
                condition_field(&c, "status") == "True",
                "{name} {step}: {c}"
            );
        }
        seen.push(o);
    }
    let secrets: Api<Secret> = Api::namespaced(env.client.clone(), &env.namespace);

    // Seed 002: the vendor's role — exactly the declared trust (vendor, operator, Redshift) and permissions.
    let access = secrets.get("polytomic-access").await?;
    let external_id = text(&access, "externalId");
    assert_eq!(external_id.len(), 32, "generated");
    assert_eq!(
        seen[0]
            .data
            .pointer("/status/externalId")
            .and_then(Value::as_str),
        Some(external_id.as_str())
    );
    assert_eq!(
        trust(&sim, "zeroetl-polytomic"),
        [
            (
                "arn:aws:iam::333333333333:root".to_owned(),
                external_id.clone()
            ),
            (OPERATOR_PRINCIPAL.to_owned(), external_id.clone()),
            ("redshift.amazonaws.com".to_owned(), String::new()),
        ]
    );
    assert_eq!(
        inline_policies(&sim, "zeroetl-polytomic"),
        [
            "zeroetl-data-api",
            "zeroetl-staging",
            "zeroetl-staging-kms",
            "zeroetl-temporary-credentials"
        ]
    );
    assert_eq!(
        keys(&access),
        set(&[
            "database",
            "externalId",
            "host",
            "jdbcUrl",
            "namespaceArn",
            "port",
            "region",
            "roleArn",
            "stagingBucket",
            "stagingPrefix",
            "username",
            "workgroup"
        ])
    );
    assert_eq!(
        (text(&access, "roleArn"), text(&access, "username")),
        (POLYTOMIC_ROLE.to_owned(), POLYTOMIC_USER.to_owned())
    );

    // Seed 001: the connector's role, its own external id and session length, no Data API.
    assert_eq!(
        trust(&sim, "zeroetl-informatica")[0],
        (
            "arn:aws:iam::111111111111:role/informatica-secure-agent".to_owned(),
            "informatica-secure-agent-7f3c".to_owned()
        )
    );
    assert_eq!(
        role(&sim, "zeroetl-informatica")["maxSessionDuration"],
        7200
    );
    assert_eq!(
        inline_policies(&sim, "zeroetl-informatica"),
        ["zeroetl-staging", "zeroetl-temporary-credentials"]
    );

    // The users and exactly their grants.
    let users = &warehouse(&sim)["users"];
    assert_eq!(users[POLYTOMIC_USER]["passwordDisabled"], true);
    assert_eq!(users[INFORMATICA_USER]["passwordDisabled"], true);
    assert_eq!(users["tonic_user"]["passwordDisabled"], false);
    assert_eq!(
        privileges(&sim, POLYTOMIC_USER),
        set(&[
            "USAGE ON SCHEMA dev.public",
            "DEFAULT SELECT IN dev.public",
            "SELECT ON dev.public.customers",
            "SELECT ON dev.public.orders"
        ])
    );
    assert_eq!(
        privileges(&sim, INFORMATICA_USER),
        set(&[
            "TEMP ON DATABASE dev",
            "USAGE ON SCHEMA dev.public",
            "SELECT ON dev.public.customers",
            "SELECT ON dev.public.orders"
        ])
    );
    assert_eq!(
        privileges(&sim, "tonic_user"),
        set(&[
            "CREATE ON DATABASE dev",
            "TEMP ON DATABASE dev",
            "DROP ON SCHEMA dev.public",
            "USAGE ON SCHEMA dev.public",
            "SELECT ON dev.public.customers",
            "SELECT ON dev.public.orders",
            "SELECT ON dev.pg_catalog.svv_table_info"
        ])
    );
    let counts = sim.counts();
    assert_eq!(counts.get("iam:CreateRole"), Some(&2));
    assert_eq!(
        counts.get("iam:PutRolePolicy"),
        Some(&6),
        "4 + 2 permission sets"
    );

    // Seed 003: the password lives in its own Secret only.
    let password_secret = secrets.get("tonic-password").await?;
    assert_eq!(keys(&password_secret), set(&["password", "username"]));
    let password = text(&password_secret, "password");
    assert!(password.len() >= 8);
    assert!(!keys(&secrets.get("tonic-access").await?).contains("password"));

    // The tool gets in: the vendor assumes the role with the external id and queries as it; without, it does not.
    let vendor = key_config(&sim, VENDOR_KEY).await;
    let as_tool = assume(&sim, &vendor, POLYTOMIC_ROLE, Some(&external_id)).await?;
    run_sql(&as_tool, "dev", "SELECT id FROM public.orders").await?;
    let wrong = assume(
        &sim,
        &vendor,
        POLYTOMIC_ROLE,
        Some("wrong-external-id-4711"),
    )
    .await;
    ensure!(
        wrong
            .as_ref()
            .is_err_and(|e| e.to_string().contains("AccessDenied")),
        "a wrong external id got in: {:?}",
        wrong.err()
    );
    ensure!(
        assume(&sim, &vendor, POLYTOMIC_ROLE, None).await.is_err(),
        "no external id got in"
    );
    ensure!(
        assume(
            &sim,
            &vendor,
            INFORMATICA_ROLE,
            Some("informatica-secure-agent-7f3c")
        )
        .await
        .is_err(),
        "the vendor is not the connector's principal"
    );

    // Nothing secret in logs, Events, status or the coordinates Secrets.
    let events: Api<Event> = Api::namespaced(env.client.clone(), &env.namespace);
    let events = serde_json::to_string(&events.list(&ListParams::default()).await?.items)?;
    let statuses =
        serde_json::to_string(&seen.iter().map(|o| &o.data["status"]).collect::<Vec<_>>())?;
    let access_secrets = serde_json::to_string(&[
        access.data.clone(),
        secrets.get("informatica-access").await?.data,
        secrets.get("tonic-access").await?.data,
    ])?;
    let logs = operator.logs();
    ensure!(
        events.contains("CreatedRole") && events.contains("Granted"),
        "no consumer events: {events}"
    );
    for (what, body) in [
        ("operator log", &logs),
        ("events", &events),
        ("status", &statuses),
        ("coordinates Secrets", &access_secrets),
    ] {
        ensure!(
            !body.contains(&password),
            "{what} contains tonic_user's password"
        );
        ensure!(!body.contains("md5"), "{what} contains a password hash");
        ensure!(
            !body.contains("FwoGZXIvYXdzESim"),
            "{what} contains a session token"
        );
    }
    ensure!(
        !logs.contains(&external_id),
        "the operator log contains the external id"
    );
    ensure!(
        !sim.state_json().to_string().contains(&password),
        "aws-sim saw the password in clear"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_removed_grant_is_revoked_and_deletion_follows_the_policy() -> Result<()> {
    let env = TestEnv::new("consumer-lifecycle").await?;
    let (sim, _operator) = start(&env).await?;
    for file in [CONNECTION_SAMPLE, VENDOR_SAMPLE, MASKING_SAMPLE] {
        apply_file(&env.client, &sample(file), Some(&env.namespace)).await?;
    }
    wait_ready(&env, "polytomic").await?;
    wait_ready(&env, "tonic").await?;
    let api = consumers(&env);

    // Drop SelectAllTables and SelectFutureTables: their privileges are revoked, USAGE stays.
    let grants = json!([{"type": "SchemaUsage", "schema": "public"}]);
    api.patch(
        "polytomic",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"databaseUser": {"grants": grants}}})),
    )
    .await?;
    wait_for(
        &api,
        "polytomic",
        "generation 2 observed and Ready",
        READY_TIMEOUT,
        |o| {
            o.data
                .pointer("/status/observedGeneration")
                .and_then(Value::as_i64)
                == Some(2)
                && ready(o)
        },
    )
    .await?;
    assert_eq!(
        privileges(&sim, POLYTOMIC_USER),
        set(&["USAGE ON SCHEMA dev.public"])
    );
    let revokes = sim.state_json()["accounts"]["111111111111"]["regions"]["us-east-1"]
        ["statements"]
        .as_object()
        .map(|s| {
            s.values()
                .filter(|st| {
                    st["sql"].as_str().is_some_and(|q| {
                        q.starts_with("REVOKE") || q.contains("REVOKE SELECT ON TABLES")
                    })
                })
                .count()
        })
        .unwrap_or_default();
    assert_eq!(
        revokes, 2,
        "one REVOKE ON ALL TABLES, one ALTER DEFAULT PRIVILEGES … REVOKE"
    );

    // Delete (polytomic): the user is dropped and the role deleted. Retain (tonic): both stay.
    api.delete("polytomic", &DeleteParams::default()).await?;
    api.delete("tonic", &DeleteParams::default()).await?;
    for name in ["polytomic", "tonic"] {
        wait_gone(&api, name).await?;
    }
    assert!(
        role(&sim, "zeroetl-polytomic").is_null(),
        "the role is gone"
    );
    assert!(
        warehouse(&sim)["users"][POLYTOMIC_USER].is_null(),
        "the user is gone"
    );
    assert!(
        warehouse(&sim)["users"]["tonic_user"].is_object(),
        "Retain keeps the user"
    );
    assert!(!privileges(&sim, "tonic_user").is_empty(), "and its grants");
    let counts = sim.counts();
    assert_eq!(counts.get("iam:DeleteRole"), Some(&1));
    assert_eq!(counts.get("iam:DeleteRolePolicy"), Some(&4));
    Ok(())
}

async fn wait_gone(api: &Api<DynamicObject>, name: &str) -> Result<()> {
    let deadline = std::time::Instant::now() + GONE_TIMEOUT;
    while api.get_opt(name).await?.is_some() {
        ensure!(
            std::time::Instant::now() < deadline,
            "{name} still exists after {GONE_TIMEOUT:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

fn without_indices(path: &str) -> String {
    let mut out = String::new();
    let mut in_index = false;
    for c in path.chars() {
        match c {
            '[' => in_index = true,
            ']' => in_index = false,
            c if !in_index => out.push(c),
            _ => {}
        }
    }
    out
}

/// Whether `text` names `path` as a whole path (not as the prefix of a longer one).
fn names_path(text: &str, path: &str) -> bool {
    let is_path_char =
        |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '_' || c == '[' || c == ']';
    text.match_indices(path).any(|(at, _)| {
        !text[..at].chars().next_back().is_some_and(is_path_char)
            && !text[at + path.len()..]
                .chars()
                .next()
                .is_some_and(is_path_char)
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_with_its_field_path_and_no_aws_or_sql_call() -> Result<()> {
    let env = TestEnv::new("consumer-bad").await?;
    let sim = start_sim_with_attached_roles(&[]).await?;
    let mut operator = env.start_operator(Some(&sim.endpoint()))?;
    operator.wait_ready(OPERATOR_READY_TIMEOUT).await?;
    apply_file(
        &env.client,
        &sample(CONNECTION_SAMPLE),
        Some(&env.namespace),
    )
    .await?;
    let base = || {
        json!({"connectionRef": {"name": "analytics"}, "role": {"trustedPrincipal": "333333333333"},
                         "databaseUser": {"grants": [{"type": "SchemaUsage", "schema": "public"}]}})
    };
    let mut cases: Vec<(&str, Value, &str)> = Vec::new();
    let mut quoted = base();
    quoted["databaseUser"]["grants"][0]["schema"] = json!("pub\"lic");
    cases.push((
        "quote-in-schema",
        quoted,
        "spec.databaseUser.grants[0].schema",
    ));
    let mut principal = base();
    principal["role"]["trustedPrincipal"] = json!("vendor-account");
    cases.push(("bad-principal", principal, "spec.role.trustedPrincipal"));
    let mut external_id = base();
    external_id["role"]["externalId"] = json!("not allowed!");
    cases.push(("bad-external-id", external_id, "spec.role.externalId"));
    // What only CEL says (ignored by Kubernetes 1.20): the operator refuses it.
    let mut password_without_name = base();
    password_without_name["databaseUser"]["authentication"] = json!("Password");
    cases.push((
        "password-without-name",
        password_without_name,
        "spec.databaseUser.name",
    ));
    let mut schema_missing = base();
    schema_missing["databaseUser"]["grants"] = json!([{"type": "SelectAllTables"}]);
    cases.push((
        "schema-missing",
        schema_missing,
        "spec.databaseUser.grants[0].schema",
    ));

    let api = consumers(&env);
    let mut caught = Vec::new();
    for (name, spec, path) in &cases {
        let object: DynamicObject =
            serde_json::from_value(json!({"apiVersion": "zeroetl.dev/v1alpha1",
            "kind": "RedshiftConsumer", "metadata": {"name": name}, "spec": spec}))?;
        match apply(&env.client, &object, Some(&env.namespace)).await {
            Err(e) => {
                let refusal = rejection(&e).with_context(|| format!("{name}: {e:#}"))?;
                // Kubernetes 1.20 reports list items without their index (`grants.schema`).
                let path = &without_indices(path);
                ensure!(
                    names_path(&refusal, path),
                    "{name}: refused without naming {path}: {refusal}"
                );
                caught.push(format!("{name}: API server: {refusal}"));
            }
            Ok(_) => {
                let o = wait_for(&api, name, "Stalled/InvalidSpec", READY_TIMEOUT, |o| {
                    condition(o, "Stalled")
                        .is_some_and(|c| condition_field(&c, "reason") == "InvalidSpec")
                })
                .await?;
                let message =
                    condition_field(&condition(&o, "Stalled").unwrap_or_default(), "message");
                ensure!(
                    names_path(&message, path),
                    "{name}: Stalled without naming {path}: {message}"
                );
                caught.push(format!("{name}: operator: {message}"));
            }
        }
    }
    eprintln!("caught:\n  {}", caught.join("\n  "));
    assert_eq!(caught.len(), cases.len());
    assert!(
        caught.iter().filter(|c| c.contains("operator:")).count() >= 2,
        "{caught:?}"
    );
    // The connection is verified meanwhile; the consumers made no call of their own: no IAM, no SQL.
    let counts = sim.counts();
    let consumer_calls: u64 = counts
        .iter()
        .filter(|(k, _)| {
            k.starts_with("iam:")
                || k.as_str() == "redshift-data:GetStatementResult"
                || k.starts_with("sts:GetCallerIdentity")
        })
        .map(|(_, v)| v)
        .sum();
    assert_eq!(consumer_calls, 0, "{counts:?}");
    let statements =
        sim.state_json()["accounts"]["111111111111"]["regions"]["us-east-1"]["statements"].clone();
    let sql: Vec<&str> = statements
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(_, s)| s["sql"].as_str())
        .collect();
    assert!(
        sql.iter().all(|s| *s == "SELECT 1"),
        "only the connection's SELECT 1 ran: {sql:?}"
    );
    assert!(total_calls(&sim) > 0, "the connection itself was verified");
    Ok(())
}
