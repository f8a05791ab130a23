//! When each object's prerequisites were last looked at in full. A Ready object normally costs only a look at
//! its integration; every `--drift-interval` it is checked in full again (source parameters, target policy
//! and case sensitivity, replication), so hand edits in AWS are found and, in Fix mode, put right. Kept in
//! memory: a restarted operator checks everything once, which is what it should do anyway. The same goes for
//! when each connection was last verified end to end (its status records that at most hourly).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use parking_lot::Mutex;

#[derive(Default)]
pub struct Rechecks {
    last: Mutex<HashMap<String, Instant>>,
    /// What each object asked at its last pass (see [`asked`]).
    asked: Mutex<HashMap<String, u64>>,
    /// When each connection or consumer last passed verification.
    verified: Mutex<HashMap<String, Verified>>,
}

/// A passed verification: of which generation, and when.
type Verified = (Option<i64>, DateTime<Utc>);

/// A hash of what an object asks of the operator: its spec (generation), annotations, labels and deletion.
/// Status, finalizers (the operator adds its own) and resourceVersion are not part of it.
pub fn asked<K: kube::Resource>(obj: &K) -> u64 {
    use std::hash::{Hash, Hasher};
    let meta = obj.meta();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    meta.generation.hash(&mut h);
    meta.labels.hash(&mut h);
    meta.annotations.hash(&mut h);
    meta.deletion_timestamp
        .as_ref()
        .map(|t| t.0.as_second())
        .hash(&mut h);
    h.finish()
}

impl Rechecks {
    /// Whether the full check of `uid` is due; if so it counts as done now (the caller is about to do it).
    pub fn due(&self, uid: &str, interval: Duration) -> bool {
        let mut last = self.last.lock();
        let now = Instant::now();
        match last.get(uid) {
            Some(at) if now.duration_since(*at) < interval => false,
            _ => {
                last.insert(uid.to_string(), now);
                true
            }
        }
    }

    /// Whether the object asks something new since its last pass (someone edited or annotated it): such a
    /// pass looks at AWS afresh instead of through the shared snapshot, and checks everything.
    pub fn asked_anew(&self, uid: &str, asked: u64) -> bool {
        self.asked.lock().insert(uid.to_string(), asked) != Some(asked)
    }

    /// Records that `uid` (at `generation`) passed verification at `at`.
    pub fn verified(&self, uid: &str, generation: Option<i64>, at: DateTime<Utc>) {
        self.verified
            .lock()
            .insert(uid.to_string(), (generation, at));
    }

    /// When `uid` last passed verification at `generation`, as far as this process knows.
    pub fn last_verified(&self, uid: &str, generation: Option<i64>) -> Option<DateTime<Utc>> {
        self.verified
            .lock()
            .get(uid)
            .filter(|(g, _)| *g == generation)
            .map(|(_, at)| *at)
    }

    /// Forgets `uid` (the object is gone).
    pub fn forget(&self, uid: &str) {
        self.last.lock().remove(uid);
        self.asked.lock().remove(uid);
        self.verified.lock().remove(uid);
    }

    /// How long until the next full check of `uid` is due.
    pub fn remaining(&self, uid: &str, interval: Duration) -> Duration {
        self.last
            .lock()
            .get(uid)
            .map(|at| interval.saturating_sub(at.elapsed()))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_check_is_due_once_per_interval() {
        let r = Rechecks::default();
        let every = Duration::from_millis(50);
        assert!(r.due("a", every), "never checked");
        assert!(!r.due("a", every), "just checked");
        assert!(r.due("b", every), "per object");
        std::thread::sleep(Duration::from_millis(60));
        assert!(r.due("a", every));
        r.forget("a");
        assert!(r.due("a", every));
    }
}
