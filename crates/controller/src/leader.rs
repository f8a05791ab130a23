//! Leader election over a coordination.k8s.io/v1 Lease: only the holder runs controllers, so two replicas never
//! write to AWS or to status at once. Updates use the Lease's resourceVersion (optimistic concurrency): of two
//! candidates racing for an expired Lease, exactly one update succeeds.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tracing::{info, warn};

const LEASE_DURATION: Duration = Duration::from_secs(15);
const RENEW_EVERY: Duration = Duration::from_secs(5);

pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
}

impl LeaderElector {
    pub fn new(client: Client, namespace: &str, name: &str) -> LeaderElector {
        let host = std::env::var("POD_NAME")
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| "zeroetl-operator".into());
        let identity = format!("{host}-{}", uuid_suffix());
        LeaderElector {
            api: Api::namespaced(client, namespace),
            name: name.into(),
            identity,
        }
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Waits until this process holds the Lease.
    pub async fn acquire(&self) {
        loop {
            match self.try_acquire().await {
                Ok(true) => {
                    info!(lease = %self.name, identity = %self.identity, "acquired leadership");
                    return;
                }
                Ok(false) => {}
                Err(e) => warn!(error = %e, "leader election: could not read or update the Lease"),
            }
            tokio::time::sleep(RENEW_EVERY).await;
        }
    }

    /// Renews the Lease until renewal fails for longer than the Lease lasts; returns when leadership is lost.
    pub async fn hold(&self) {
        let mut last_renewed = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(RENEW_EVERY).await;
            match self.try_acquire().await {
                Ok(true) => last_renewed = tokio::time::Instant::now(),
                Ok(false) => {
                    warn!(lease = %self.name, "another replica holds the Lease");
                    return;
                }
                Err(e) => {
                    warn!(error = %e, "could not renew the Lease");
                    if last_renewed.elapsed() >= LEASE_DURATION {
                        return;
                    }
                }
            }
        }
    }

    /// Gives the Lease up on shutdown so that the next replica takes over at once instead of after expiry.
    pub async fn release(&self) {
        if let Ok(mut lease) = self.api.get(&self.name).await {
            if let Some(spec) = lease
                .spec
                .as_mut()
                .filter(|s| s.holder_identity.as_deref() == Some(&self.identity))
            {
                spec.holder_identity = None;
                spec.renew_time = None;
                let _ = self
                    .api
                    .replace(&self.name, &PostParams::default(), &lease)
                    .await;
            }
        }
    }

    /// Takes or renews the Lease if it is ours, free or expired. Ok(false): someone else holds it.
    async fn try_acquire(&self) -> kube::Result<bool> {
        let now = Timestamp::now();
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..Default::default()
                },
                spec: Some(self.spec(now, now, 0)),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => Ok(true),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let ours = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        let expired = match (&spec.holder_identity, &spec.renew_time) {
            (None, _) | (_, None) => true,
            (Some(_), Some(MicroTime(renewed))) => {
                let lasts =
                    SignedDuration::from_secs(i64::from(spec.lease_duration_seconds.unwrap_or(15)));
                renewed
                    .checked_add(lasts)
                    .map(|end| end < now)
                    .unwrap_or(true)
            }
        };
        if !ours && !expired {
            return Ok(false);
        }
        let acquired = if ours {
            spec.acquire_time.map(|t| t.0).unwrap_or(now)
        } else {
            now
        };
        let transitions = spec.lease_transitions.unwrap_or(0) + i32::from(!ours);
        lease.spec = Some(self.spec(acquired, now, transitions));
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(false),
            Err(e) => Err(e),
        }
    }

    fn spec(&self, acquired: Timestamp, renewed: Timestamp, transitions: i32) -> LeaseSpec {
        LeaseSpec {
            holder_identity: Some(self.identity.clone()),
            lease_duration_seconds: Some(LEASE_DURATION.as_secs() as i32),
            acquire_time: Some(MicroTime(acquired)),
            renew_time: Some(MicroTime(renewed)),
            lease_transitions: Some(transitions),
            ..Default::default()
        }
    }
}

fn uuid_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{:x}{:x}", std::process::id(), nanos)
}
