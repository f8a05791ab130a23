//! Leader election over a coordination.k8s.io/v1 Lease: only the holder runs controllers, so two replicas never
//! write to AWS or to status at once.
//!
//! Why two replicas cannot overlap:
//! * Updates carry the Lease's resourceVersion (optimistic concurrency): of two candidates racing for an
//!   expired Lease, exactly one update succeeds.
//! * A standby counts a Lease as expired only once it has seen the same Lease record, unchanged, for the
//!   whole Lease duration on its own monotonic clock (as client-go does), so clock skew between nodes cannot
//!   shorten the holder's term.
//! * The holder records every renewal in a [`Leadership`], which every AWS change and status write asks.
//!   A renewal counts only when its answer came within [`LEASE_REQUEST_TIMEOUT`] of sending it, and the holder
//!   stops acting [`LEASE_RENEW_DEADLINE`] after the last one; both together stay within [`LEASE_DURATION`].
//!   All of it is measured on the monotonic clock, which keeps running while the process is paused.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};
use tracing::{info, warn};
use zeroetl_reconciler::leadership::Leadership;
use zeroetl_reconciler::timing::{
    LEASE_DURATION, LEASE_RENEW_DEADLINE, LEASE_RENEW_EVERY, LEASE_REQUEST_TIMEOUT,
};

pub struct LeaderElector {
    api: Api<Lease>,
    name: String,
    identity: String,
    leadership: Leadership,
    /// The Lease record as last seen and when it was first seen so: a standby's measure of expiry.
    observed: Mutex<Option<ObservedRecord>>,
}

/// Why [`LeaderElector::hold`] returned.
#[derive(Debug)]
pub enum LeadershipEnd {
    /// Another replica holds the Lease.
    TakenBy(String),
    /// No renewal succeeded for the renew deadline (the API server is unreachable, or this process was
    /// paused); the Lease may expire any moment, so this replica stopped acting first.
    NotRenewed(Duration),
}

impl std::fmt::Display for LeadershipEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LeadershipEnd::TakenBy(holder) => write!(f, "the Lease is held by {holder}"),
            LeadershipEnd::NotRenewed(since) => {
                write!(f, "no renewal succeeded for {:.1}s", since.as_secs_f64())
            }
        }
    }
}

/// The outcome of one bounded read-and-update of the Lease.
#[derive(Debug)]
enum Attempt {
    /// This replica holds the Lease, renewed by this very attempt.
    Held,
    /// Another replica holds a Lease that has not expired.
    HeldBy(String),
    /// Another write landed between our read and our update; the next read shows who won.
    Conflict,
    Failed(String),
}

/// What a standby compares between reads: any write to the Lease changes its resourceVersion.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ObservedRecord {
    resource_version: Option<String>,
    first_seen: Instant,
}

impl ObservedRecord {
    /// Remembers `resource_version` as first seen `now`, unless it is the record seen before.
    fn see(
        previous: Option<ObservedRecord>,
        resource_version: Option<String>,
        now: Instant,
    ) -> Self {
        match previous {
            Some(seen) if seen.resource_version == resource_version => seen,
            _ => ObservedRecord {
                resource_version,
                first_seen: now,
            },
        }
    }

    /// Whether the holder has had the whole of `lasts`, by our own clock, to renew and has not.
    fn expired(&self, lasts: Duration, now: Instant) -> bool {
        now.saturating_duration_since(self.first_seen) >= lasts
    }
}

impl LeaderElector {
    pub fn new(
        client: Client,
        namespace: &str,
        name: &str,
        leadership: Leadership,
    ) -> LeaderElector {
        let host = std::env::var("POD_NAME")
            .or_else(|_| std::env::var("HOSTNAME"))
            .unwrap_or_else(|_| "zeroetl-operator".into());
        let identity = format!("{host}-{}", uuid_suffix());
        LeaderElector {
            api: Api::namespaced(client, namespace),
            name: name.into(),
            identity,
            leadership,
            observed: Mutex::new(None),
        }
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Waits until this process holds the Lease; returns when the successful request was sent, from which
    /// [`hold`](Self::hold) counts the renew deadline.
    pub async fn acquire(&self) -> Instant {
        loop {
            let sent = Instant::now();
            match self.attempt(LEASE_REQUEST_TIMEOUT).await {
                Attempt::Held => {
                    info!(lease = %self.name, identity = %self.identity, "acquired leadership");
                    return sent;
                }
                Attempt::HeldBy(_) | Attempt::Conflict => {}
                Attempt::Failed(error) => {
                    warn!(lease = %self.name, %error, "leader election: could not read or update the Lease")
                }
            }
            tokio::time::sleep(LEASE_RENEW_EVERY).await;
        }
    }

    /// Renews the Lease every [`LEASE_RENEW_EVERY`] from `acquired` on; returns, after recording the loss in
    /// the [`Leadership`], once another replica holds the Lease or no renewal succeeded for
    /// [`LEASE_RENEW_DEADLINE`]. A failed renewal is retried as soon as its own time budget has passed, so a
    /// single lost request does not cost the leadership.
    pub async fn hold(&self, acquired: Instant) -> LeadershipEnd {
        let mut last_renewed = acquired;
        let mut next_attempt = acquired + LEASE_RENEW_EVERY;
        loop {
            let give_up_at = last_renewed + LEASE_RENEW_DEADLINE;
            tokio::time::sleep_until(next_attempt.min(give_up_at).into()).await;
            // A paused process wakes up here late: the monotonic clock shows how long it was away.
            let sent = Instant::now();
            if sent >= give_up_at {
                return self.give_up(LeadershipEnd::NotRenewed(sent - last_renewed));
            }
            match self.attempt(give_up_at - sent).await {
                Attempt::Held => {
                    last_renewed = sent;
                    next_attempt = sent + LEASE_RENEW_EVERY;
                }
                Attempt::HeldBy(holder) => return self.give_up(LeadershipEnd::TakenBy(holder)),
                Attempt::Conflict => next_attempt = sent + LEASE_REQUEST_TIMEOUT,
                Attempt::Failed(error) => {
                    warn!(lease = %self.name, %error, "could not renew the Lease");
                    next_attempt = sent + LEASE_REQUEST_TIMEOUT;
                }
            }
        }
    }

    fn give_up(&self, end: LeadershipEnd) -> LeadershipEnd {
        self.leadership.lost();
        warn!(lease = %self.name, identity = %self.identity, reason = %end, "lost leadership");
        end
    }

    /// Stops acting, then gives the Lease up so that the next replica takes over at once instead of after
    /// expiry. The caller must have stopped [`hold`](Self::hold) first, or it would take the Lease back.
    pub async fn release(&self) {
        self.leadership.lost();
        let released = tokio::time::timeout(LEASE_REQUEST_TIMEOUT, async {
            let mut lease = self.api.get(&self.name).await?;
            let Some(spec) = lease
                .spec
                .as_mut()
                .filter(|s| s.holder_identity.as_deref() == Some(&self.identity))
            else {
                return Ok(false);
            };
            spec.holder_identity = None;
            spec.renew_time = None;
            self.api
                .replace(&self.name, &PostParams::default(), &lease)
                .await
                .map(|_| true)
        })
        .await;
        match released {
            Ok(Ok(true)) => info!(lease = %self.name, "released leadership"),
            Ok(Ok(false)) => {}
            Ok(Err(error)) => warn!(lease = %self.name, %error, "could not release the Lease"),
            Err(_) => warn!(lease = %self.name, "releasing the Lease timed out"),
        }
    }

    /// One read-and-update bounded by `budget` (at most [`LEASE_REQUEST_TIMEOUT`]), recorded in the
    /// [`Leadership`] when it made or kept this replica the holder.
    async fn attempt(&self, budget: Duration) -> Attempt {
        let budget = budget.min(LEASE_REQUEST_TIMEOUT);
        let sent = Instant::now();
        let answer = match tokio::time::timeout(budget, self.try_acquire()).await {
            Err(_) => return Attempt::Failed(format!("no answer within {budget:?}")),
            Ok(Err(error)) => return Attempt::Failed(error.to_string()),
            Ok(Ok(answer)) => answer,
        };
        if !matches!(answer, Attempt::Held) {
            return answer;
        }
        // Record first, then check: if the answer came late (the process was paused while the request was in
        // flight) the record is undone, and a record that stands was made within the budget of sending.
        self.leadership.renewed();
        let took = sent.elapsed();
        if took > budget {
            self.leadership.lost();
            return Attempt::Failed(format!(
                "the answer came {:.1}s after the request, past its {budget:?} budget",
                took.as_secs_f64()
            ));
        }
        Attempt::Held
    }

    /// Takes or renews the Lease if it is ours, free or expired.
    async fn try_acquire(&self) -> kube::Result<Attempt> {
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
                Ok(_) => Ok(Attempt::Held),
                Err(kube::Error::Api(s)) if s.code == 409 => Ok(Attempt::Conflict),
                Err(e) => Err(e),
            };
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let ours = spec.holder_identity.as_deref() == Some(self.identity.as_str());
        if !ours {
            if let Some(holder) = spec.holder_identity.as_ref().filter(|h| !h.is_empty()) {
                let lasts = spec
                    .lease_duration_seconds
                    .and_then(|s| u64::try_from(s).ok())
                    .map(Duration::from_secs)
                    .unwrap_or(LEASE_DURATION);
                let observed_now = Instant::now();
                let mut observed = self.observed.lock().unwrap_or_else(|p| p.into_inner());
                let record = ObservedRecord::see(
                    observed.take(),
                    lease.metadata.resource_version.clone(),
                    observed_now,
                );
                let expired = record.expired(lasts, observed_now);
                *observed = Some(record);
                if !expired {
                    return Ok(Attempt::HeldBy(holder.clone()));
                }
            }
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
            Ok(_) => Ok(Attempt::Held),
            Err(kube::Error::Api(s)) if s.code == 409 => Ok(Attempt::Conflict),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_expires_only_after_the_same_record_was_seen_for_its_whole_duration() {
        let lasts = Duration::from_secs(15);
        let t0 = Instant::now();
        let first = ObservedRecord::see(None, Some("1".into()), t0);
        assert!(!first.expired(lasts, t0 + Duration::from_secs(14)));
        assert!(first.expired(lasts, t0 + Duration::from_secs(15)));

        // Seeing the same record again keeps the first sighting.
        let again = ObservedRecord::see(
            Some(first.clone()),
            Some("1".into()),
            t0 + Duration::from_secs(10),
        );
        assert_eq!(again.first_seen, t0);

        // A renewal (new resourceVersion) restarts the count, whatever renewTime it claims.
        let renewed =
            ObservedRecord::see(Some(first), Some("2".into()), t0 + Duration::from_secs(14));
        assert!(!renewed.expired(lasts, t0 + Duration::from_secs(20)));
        assert!(renewed.expired(lasts, t0 + Duration::from_secs(29)));
    }
}
