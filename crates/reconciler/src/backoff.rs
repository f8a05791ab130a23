//! Per-object exponential backoff with jitter after transient failures, reset by a pass that did not fail.
//! One key format for every kind ([`key`]), so one kind's success never resets another kind's backoff.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;
use rand::Rng;

use crate::error::Category;
use crate::timing;

/// The backoff key of an object: kind, namespace and name.
pub fn key(kind: &str, namespace: &str, name: &str) -> String {
    format!("{kind}/{namespace}/{name}")
}

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
            Category::Throttled => timing::BACKOFF_THROTTLED_BASE,
            _ => timing::BACKOFF_BASE,
        };
        let ceiling = base
            .saturating_mul(1u32 << attempt.min(9).saturating_sub(1))
            .min(timing::BACKOFF_MAX);
        // Equal jitter: half fixed, half random, so retries of many objects spread out but never shrink to 0.
        let half = ceiling / 2;
        half + Duration::from_millis(rand::rng().random_range(0..=half.as_millis() as u64))
    }

    pub fn reset(&self, key: &str) {
        self.attempts.lock().remove(key);
    }

    /// How many failures in a row `key` has had.
    pub fn attempts(&self, key: &str) -> u32 {
        self.attempts.lock().get(key).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_resets() {
        let b = Backoff::default();
        let first = b.next("k/ns/a", Category::Retryable);
        assert!(first >= Duration::from_millis(500) && first <= Duration::from_secs(1));
        for _ in 0..3 {
            b.next("k/ns/a", Category::Retryable);
        }
        let fifth = b.next("k/ns/a", Category::Retryable);
        assert!(
            fifth >= Duration::from_secs(8) && fifth <= Duration::from_secs(16),
            "{fifth:?}"
        );
        for _ in 0..20 {
            assert!(b.next("k/ns/a", Category::Retryable) <= timing::BACKOFF_MAX);
        }
        b.reset("k/ns/a");
        assert!(b.next("k/ns/a", Category::Retryable) <= Duration::from_secs(1));
        assert!(b.next("k/ns/b", Category::Throttled) >= Duration::from_millis(2500));
    }

    #[test]
    fn keys_of_two_kinds_with_the_same_name_differ() {
        assert_ne!(
            key("ZeroEtlIntegration", "team-a", "orders"),
            key("RedshiftConnection", "team-a", "orders")
        );
    }
}
