//! What every reconcile shares: the Kubernetes client, AWS clients, settings, metrics, events and the
//! per-object retry state.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use rand::Rng;

use crate::aws::AwsClients;
use crate::error::Category;
use crate::events::Events;
use crate::metrics::Metrics;

#[derive(Clone, Debug)]
pub struct Config {
    /// The region for objects that do not name one.
    pub default_region: String,
    /// How often a Ready RedshiftConnection is verified again end to end.
    pub connection_reverify_interval: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            default_region: "us-east-1".into(),
            connection_reverify_interval: Duration::from_secs(300),
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
}

/// Exponential backoff with jitter per object, reset by a successful reconcile.
#[derive(Default)]
pub struct Backoff {
    attempts: Mutex<HashMap<String, u32>>,
}

impl Backoff {
    /// The delay before the next attempt for `key` after a failure of `category`.
    pub fn next(&self, key: &str, category: Category) -> Duration {
        let attempt = {
            let mut attempts = self.attempts.lock();
            let n = attempts.entry(key.to_string()).or_insert(0);
            *n = n.saturating_add(1);
            *n
        };
        let base = match category {
            Category::Throttled => Duration::from_secs(5),
            _ => Duration::from_secs(1),
        };
        let ceiling = base
            .saturating_mul(1u32 << attempt.min(9).saturating_sub(1))
            .min(Duration::from_secs(300));
        // Equal jitter: half fixed, half random, so retries of many objects spread out but never shrink to 0.
        let half = ceiling / 2;
        half + Duration::from_millis(rand::rng().random_range(0..=half.as_millis() as u64))
    }

    pub fn reset(&self, key: &str) {
        self.attempts.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_resets() {
        let b = Backoff::default();
        let first = b.next("ns/a", Category::Retryable);
        assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
        for _ in 0..3 {
            b.next("ns/a", Category::Retryable);
        }
        let fifth = b.next("ns/a", Category::Retryable);
        assert!(
            fifth >= Duration::from_secs(8) && fifth <= Duration::from_secs(16),
            "{fifth:?}"
        );
        for _ in 0..20 {
            assert!(b.next("ns/a", Category::Retryable) <= Duration::from_secs(300));
        }
        b.reset("ns/a");
        assert!(b.next("ns/a", Category::Retryable) <= Duration::from_secs(1));
        assert!(b.next("ns/b", Category::Throttled) >= Duration::from_millis(2500));
    }
}
