//! The `/_sim/` control plane: seed, reset, state, calls, counts, faults, timings, integration status.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::calls::CallLog;
use crate::estate::Estate;
use crate::faults::{Fault, Faults};
use crate::model::{IntegrationError, TableState, World};
use crate::server::Shared;

type Reply = (StatusCode, Json<Value>);

fn bad(msg: impl std::fmt::Display) -> Reply {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({"error": msg.to_string()})),
    )
}

fn ok() -> Reply {
    (StatusCode::OK, Json(json!({"ok": true})))
}

pub fn routes() -> Router<Arc<Shared>> {
    Router::new()
        .route("/_sim/seed", post(seed))
        .route("/_sim/reset", post(reset))
        .route("/_sim/state", get(state))
        .route("/_sim/calls", get(calls))
        .route("/_sim/counts", get(counts))
        .route(
            "/_sim/faults",
            post(add_fault).delete(clear_faults).get(list_faults),
        )
        .route("/_sim/timings", post(set_timings))
        .route("/_sim/integrations/{key}/status", post(integration_status))
        .route("/_sim/integrations/transitions", get(transitions))
        .route(
            "/_sim/integrations/{key}/replication",
            post(integration_replication),
        )
        .route("/_sim/stats", get(stats))
        .route(
            "/_sim/access-keys/{key}/policy",
            post(set_key_policy).delete(clear_key_policy),
        )
}

/// Give an access key an allow policy (the JSON document): from then on it may do only what the policy
/// allows. Unknown key → 404, a document IAM would refuse → 400.
async fn set_key_policy(
    State(s): State<Arc<Shared>>,
    Path(key): Path<String>,
    body: Bytes,
) -> Reply {
    let doc: Value = match serde_json::from_slice(&body) {
        Ok(d) => d,
        Err(e) => return bad(format!("invalid policy JSON: {e}")),
    };
    key_policy_reply(set_access_key_policy(&s, &key, Some(doc)))
}

async fn clear_key_policy(State(s): State<Arc<Shared>>, Path(key): Path<String>) -> Reply {
    key_policy_reply(set_access_key_policy(&s, &key, None))
}

fn key_policy_reply(outcome: Result<(), KeyPolicyError>) -> Reply {
    match outcome {
        Ok(()) => ok(),
        Err(KeyPolicyError::Invalid(e)) => bad(format!("invalid policy: {e}")),
        Err(e @ KeyPolicyError::UnknownKey(_)) => {
            (StatusCode::NOT_FOUND, Json(json!({"error": e.to_string()})))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyPolicyError {
    #[error("no access key {0}")]
    UnknownKey(String),
    #[error("{0}")]
    Invalid(String),
}

/// Set (or with `None` remove) the allow policy of a seeded access key.
pub fn set_access_key_policy(
    s: &Shared,
    key: &str,
    policy: Option<Value>,
) -> Result<(), KeyPolicyError> {
    if let Some(doc) = &policy {
        crate::authz::check_document(doc, false).map_err(KeyPolicyError::Invalid)?;
    }
    let mut world = s.world.lock();
    let k = world
        .accounts
        .values_mut()
        .flat_map(|a| a.access_keys.iter_mut())
        .find(|k| k.access_key_id == key)
        .ok_or_else(|| KeyPolicyError::UnknownKey(key.to_string()))?;
    k.policy = policy;
    Ok(())
}

/// `{"requests": n, "cpuSeconds": f}`: API requests served and this process's user+system CPU time, so a
/// benchmark can tell how much of the machine the simulator used.
async fn stats(State(s): State<Arc<Shared>>) -> Json<Value> {
    Json(json!({
        "requests": s.requests.load(std::sync::atomic::Ordering::Relaxed),
        "cpuSeconds": process_cpu_seconds(),
    }))
}

/// utime + stime from `/proc/self/stat` (fields 14 and 15, in clock ticks of 1/100 s on Linux); `None`
/// where there is no procfs.
pub fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (field 2) may contain spaces; the fields after it are space-separated.
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    const CLOCK_TICKS_PER_SECOND: f64 = 100.0;
    Some((utime + stime) / CLOCK_TICKS_PER_SECOND)
}

/// For every integration: ARN, name, account, region, status, createdAt and activeAt (when it first
/// became active; null until then), ordered by ARN.
async fn transitions(State(s): State<Arc<Shared>>) -> Json<Value> {
    let mut world = s.world.lock();
    world.advance(chrono::Utc::now());
    let mut out = Vec::new();
    for a in world.accounts.values() {
        for (region, r) in &a.regions {
            for i in r.integrations.values() {
                out.push(json!({
                    "arn": i.integration_arn,
                    "name": i.integration_name,
                    "account": a.id,
                    "region": region,
                    "status": i.status,
                    "createdAt": i.create_time,
                    "activeAt": i.active_at,
                }));
            }
        }
    }
    Json(Value::Array(out))
}

/// Replace the world with a new estate (YAML or JSON; JSON is YAML).
async fn seed(State(s): State<Arc<Shared>>, body: Bytes) -> Reply {
    let text = String::from_utf8_lossy(&body);
    let estate = match Estate::from_yaml_str(&text) {
        Ok(e) => e,
        Err(e) => return bad(format!("invalid estate: {e}")),
    };
    match World::from_estate(&estate) {
        Ok(w) => {
            *s.world.lock() = w;
            *s.seed.lock() = estate;
            ok()
        }
        Err(e) => bad(e),
    }
}

/// Back to the last seeded estate, with no faults and an empty call log.
async fn reset(State(s): State<Arc<Shared>>) -> Reply {
    reset_shared(&s);
    ok()
}

pub fn reset_shared(s: &Shared) {
    let estate = s.seed.lock().clone();
    if let Ok(w) = World::from_estate(&estate) {
        *s.world.lock() = w;
    }
    *s.faults.lock() = Faults::default();
    *s.log.lock() = CallLog::default();
}

pub fn state_json(s: &Shared) -> Value {
    let mut world = s.world.lock();
    world.advance(chrono::Utc::now());
    serde_json::to_value(&*world).unwrap_or(Value::Null)
}

async fn state(State(s): State<Arc<Shared>>) -> Json<Value> {
    Json(state_json(&s))
}

async fn calls(State(s): State<Arc<Shared>>) -> Json<Value> {
    Json(serde_json::to_value(s.log.lock().records()).unwrap_or(Value::Null))
}

pub fn counts_json(s: &Shared) -> Value {
    let log = s.log.lock();
    let mut m: serde_json::Map<String, Value> = log
        .counts()
        .into_iter()
        .map(|(k, v)| (k, json!(v)))
        .collect();
    m.insert("mutating".into(), json!(log.mutating()));
    Value::Object(m)
}

async fn counts(State(s): State<Arc<Shared>>) -> Json<Value> {
    Json(counts_json(&s))
}

async fn add_fault(State(s): State<Arc<Shared>>, body: Bytes) -> Reply {
    match serde_json::from_slice::<Fault>(&body) {
        Ok(f) => {
            s.faults.lock().add(f);
            ok()
        }
        Err(e) => bad(format!("invalid fault: {e}")),
    }
}

async fn clear_faults(State(s): State<Arc<Shared>>) -> Reply {
    s.faults.lock().clear();
    ok()
}

async fn list_faults(State(s): State<Arc<Shared>>) -> Json<Value> {
    Json(serde_json::to_value(s.faults.lock().list()).unwrap_or(Value::Null))
}

/// Milliseconds, camelCase; absent fields keep their value.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct TimingsPatch {
    integration_create_ms: Option<u64>,
    integration_delete_ms: Option<u64>,
    integration_modify_ms: Option<u64>,
    reboot_ms: Option<u64>,
    workgroup_update_ms: Option<u64>,
    statement_ms: Option<u64>,
}

async fn set_timings(State(s): State<Arc<Shared>>, body: Bytes) -> Reply {
    let patch: TimingsPatch = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return bad(format!("invalid timings: {e}")),
    };
    let mut t = s.timings.write();
    let set = |field: &mut Duration, v: Option<u64>| {
        if let Some(ms) = v {
            *field = Duration::from_millis(ms);
        }
    };
    set(&mut t.integration_create, patch.integration_create_ms);
    set(&mut t.integration_delete, patch.integration_delete_ms);
    set(&mut t.integration_modify, patch.integration_modify_ms);
    set(&mut t.reboot, patch.reboot_ms);
    set(&mut t.workgroup_update, patch.workgroup_update_ms);
    set(&mut t.statement, patch.statement_ms);
    ok()
}

#[derive(Deserialize)]
struct StatusBody {
    status: String,
    #[serde(default)]
    errors: Vec<ErrorBody>,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
}

async fn integration_status(
    State(s): State<Arc<Shared>>,
    Path(key): Path<String>,
    Json(b): Json<StatusBody>,
) -> Reply {
    let errors = b.errors.into_iter().map(|e| (e.code, e.message)).collect();
    match set_integration_status(&s, &key, &b.status, errors) {
        Ok(()) => ok(),
        Err(e) => (StatusCode::NOT_FOUND, Json(json!({"error": e.to_string()}))),
    }
}

/// Replication health for the target's SVV_INTEGRATION views; absent fields keep their value.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ReplicationPatch {
    state: Option<String>,
    current_lag_ms: Option<i64>,
    tables_replicated: Option<i64>,
    tables: Option<Vec<TablePatch>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TablePatch {
    schema: String,
    table: String,
    state: String,
    #[serde(default)]
    reason: String,
}

const TABLE_STATES: &[&str] = &[
    "Synced",
    "Failed",
    "Deleted",
    "ResyncRequired",
    "ResyncInitiated",
    "DroppedSource",
];

const INTEGRATION_STATES: &[&str] = &[
    "PendingDbConnectState",
    "SchemaDiscoveryState",
    "CdcRefreshState",
    "ErrorState",
];

async fn integration_replication(
    State(s): State<Arc<Shared>>,
    Path(key): Path<String>,
    body: Bytes,
) -> Reply {
    let patch: ReplicationPatch = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => return bad(format!("invalid replication state: {e}")),
    };
    if let Some(state) = patch.state.as_deref() {
        if !INTEGRATION_STATES.contains(&state) {
            return bad(format!(
                "unknown state {state:?} (one of {INTEGRATION_STATES:?})"
            ));
        }
    }
    for t in patch.tables.iter().flatten() {
        if !TABLE_STATES.contains(&t.state.as_str()) {
            return bad(format!(
                "unknown table state {:?} (one of {TABLE_STATES:?})",
                t.state
            ));
        }
    }
    let mut world = s.world.lock();
    world.advance(chrono::Utc::now());
    let found = world
        .accounts
        .values_mut()
        .flat_map(|a| a.regions.values_mut())
        .find_map(|r| r.integrations.find_mut(&key));
    let Some(i) = found else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"error": format!("no integration named, with id or ARN {key:?}")})),
        );
    };
    let r = &mut i.replication;
    if patch.state.is_some() {
        r.state = patch.state;
    }
    if let Some(lag) = patch.current_lag_ms {
        r.current_lag_ms = lag;
    }
    if patch.tables_replicated.is_some() {
        r.tables_replicated = patch.tables_replicated;
    }
    // Tables merge by (schema, table), so one table can be failed and later synced again.
    for t in patch.tables.into_iter().flatten() {
        let state = TableState {
            schema: t.schema,
            table: t.table,
            state: t.state,
            reason: t.reason,
        };
        match r
            .tables
            .iter_mut()
            .find(|x| x.schema == state.schema && x.table == state.table)
        {
            Some(x) => *x = state,
            None => r.tables.push(state),
        }
    }
    ok()
}

const STATUSES: &[&str] = &[
    "creating",
    "active",
    "modifying",
    "failed",
    "deleting",
    "syncing",
    "needs_attention",
];

pub fn set_integration_status(
    s: &Shared,
    key: &str,
    status: &str,
    errors: Vec<(String, String)>,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        STATUSES.contains(&status),
        "unknown integration status {status:?} (one of {STATUSES:?})"
    );
    let mut world = s.world.lock();
    world.advance(chrono::Utc::now());
    for account in world.accounts.values_mut() {
        for region in account.regions.values_mut() {
            if let Some(i) = region.integrations.find_mut(key) {
                if status == "active" {
                    i.active_at.get_or_insert(chrono::Utc::now());
                }
                i.status = status.to_string();
                i.due = None;
                i.errors = errors
                    .into_iter()
                    .map(|(error_code, error_message)| IntegrationError {
                        error_code,
                        error_message,
                    })
                    .collect();
                return Ok(());
            }
        }
    }
    anyhow::bail!("no integration named, with id or ARN {key:?}")
}
