//! aws-sim: a local AWS that speaks the real wire protocols (awsQuery XML, awsJson 1.1, S3 REST-XML), so the
//! real aws-sdk-rust clients work against it with an endpoint override. See README.md for the services,
//! the seed format, the control plane and the state dump.

pub mod authz;
pub mod calls;
pub mod control;
pub mod estate;
pub mod faults;
pub mod identity;
pub mod model;
pub mod params;
pub mod policy;
pub mod server;
pub mod services;
pub mod sql;
pub mod wire;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::Router;

pub use calls::CallRecord;
pub use estate::Estate;
pub use faults::{Fault, FaultKind};
use server::Shared;

/// How long the asynchronous lifecycles take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timings {
    pub integration_create: Duration,
    pub integration_delete: Duration,
    pub integration_modify: Duration,
    pub reboot: Duration,
    pub workgroup_update: Duration,
    pub statement: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Self {
            integration_create: Duration::from_secs(2),
            integration_delete: Duration::from_secs(1),
            integration_modify: Duration::from_secs(1),
            reboot: Duration::from_secs(1),
            workgroup_update: Duration::from_millis(500),
            statement: Duration::from_millis(200),
        }
    }
}

impl Timings {
    /// Every transition after `d` (tests use a few milliseconds).
    pub fn all(d: Duration) -> Self {
        Self {
            integration_create: d,
            integration_delete: d,
            integration_modify: d,
            reboot: d,
            workgroup_update: d,
            statement: d,
        }
    }
}

#[derive(Clone, Debug, Default)]
pub struct SimConfig {
    /// 0 = an ephemeral port.
    pub port: u16,
    pub seed: Option<Estate>,
    pub timings: Timings,
}

pub struct SimHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Start the simulator on 127.0.0.1 and return once it accepts connections.
pub async fn spawn(config: SimConfig) -> anyhow::Result<SimHandle> {
    let shared = Arc::new(Shared::new(
        config.seed.unwrap_or_default(),
        config.timings,
    )?);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", config.port)).await?;
    let addr = listener.local_addr()?;
    let app = router(shared.clone());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "aws-sim server stopped with an error");
        }
    });
    Ok(SimHandle {
        addr,
        shared,
        stop: Some(stop),
        task: Some(task),
    })
}

fn router(shared: Arc<Shared>) -> Router {
    control::routes()
        .fallback(
            |State(s): State<Arc<Shared>>, req: axum::extract::Request| server::handle_api(s, req),
        )
        .with_state(shared)
}

impl SimHandle {
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `"rds:CreateIntegration" -> n` for every action called so far.
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.shared.log.lock().counts()
    }

    /// Calls to mutating actions (Create*/Modify*/Put*/Delete*/Reboot*/Update*/AddTags*/RemoveTags*/Execute*/Tag*).
    pub fn mutating_calls(&self) -> u64 {
        self.shared.log.lock().mutating()
    }

    pub fn calls(&self) -> Vec<CallRecord> {
        self.shared.log.lock().records()
    }

    /// The whole state, as `GET /_sim/state` returns it.
    pub fn state_json(&self) -> serde_json::Value {
        control::state_json(&self.shared)
    }

    pub fn inject(&self, fault: Fault) {
        self.shared.faults.lock().add(fault);
    }

    pub fn clear_faults(&self) {
        self.shared.faults.lock().clear();
    }

    pub fn set_timings(&self, timings: Timings) {
        *self.shared.timings.write() = timings;
    }

    /// Replace the world with `estate` (and make it what `reset` returns to).
    pub fn seed(&self, estate: Estate) -> anyhow::Result<()> {
        let world = model::World::from_estate(&estate)?;
        *self.shared.world.lock() = world;
        *self.shared.seed.lock() = estate;
        Ok(())
    }

    pub fn reset(&self) {
        control::reset_shared(&self.shared);
    }

    /// Steer an integration (by name, id or ARN) to a status such as `failed` or `needs_attention`.
    pub fn set_integration_status(
        &self,
        name_or_id_or_arn: &str,
        status: &str,
        errors: Vec<(String, String)>,
    ) -> anyhow::Result<()> {
        control::set_integration_status(&self.shared, name_or_id_or_arn, status, errors)
    }

    /// Give a seeded access key an allow policy (it may then do only what the policy allows), or remove
    /// it with `None`; the same as `POST`/`DELETE /_sim/access-keys/{id}/policy`.
    pub fn set_access_key_policy(
        &self,
        access_key_id: &str,
        policy: Option<serde_json::Value>,
    ) -> Result<(), control::KeyPolicyError> {
        control::set_access_key_policy(&self.shared, access_key_id, policy)
    }

    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut task) = self.task.take() {
            // Graceful, but a client holding a connection open must not stall shutdown forever.
            if tokio::time::timeout(Duration::from_secs(5), &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
