//! What every reconcile shares: the Kubernetes client, AWS clients, settings, metrics, events and the
//! per-object retry state.

use std::sync::Arc;
use std::time::Duration;

use crate::aws::AwsClients;
use crate::backoff::Backoff;
use crate::guardrails::Guardrails;
use crate::k8s::Events;
use crate::leadership::Leadership;
use crate::metrics::Metrics;
use crate::rechecks::Rechecks;
use crate::shared::Shared;
use crate::stores::Stores;
use crate::timing;

#[derive(Clone, Debug)]
pub struct Config {
    /// The region for objects that do not name one.
    pub default_region: String,
    /// How often a Ready RedshiftConnection is verified again end to end.
    pub connection_reverify_interval: Duration,
    /// What an admin forbids, whatever the objects ask.
    pub guardrails: Guardrails,
    /// How often a Ready object's prerequisites are checked in full again (drift of hand edits in AWS).
    pub drift_interval: Duration,
    /// Names this Kubernetes cluster in the owner tags of everything the operator creates
    /// (`--cluster-name`, by default the kube-system namespace's uid).
    pub cluster_name: String,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            default_region: "us-east-1".into(),
            connection_reverify_interval: timing::CONNECTION_REVERIFY_DEFAULT,
            cluster_name: "test-cluster".into(),
            drift_interval: timing::DRIFT_RECHECK_DEFAULT,
            guardrails: Guardrails::default(),
        }
    }
}

pub struct Context {
    pub client: kube::Client,
    pub aws: AwsClients,
    pub config: Config,
    pub metrics: Arc<Metrics>,
    pub events: Events,
    pub backoff: Backoff,
    /// Asked before every AWS change and status write.
    pub leadership: Leadership,
    /// Locks, shared reads and integration snapshots every pass shares.
    pub shared: Arc<Shared>,
    /// The controllers' watch caches.
    pub stores: Arc<Stores>,
    /// When each object was last checked in full.
    pub rechecks: Rechecks,
    /// Cached copies our own writes already replaced (a pass starting from one waits for the cache).
    pub own_writes: crate::k8s::own_writes::OwnWrites,
}
