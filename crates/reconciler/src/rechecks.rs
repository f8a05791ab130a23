//! When each object's prerequisites were last looked at in full. A Ready object normally costs only a look at
//! its integration; every `--drift-interval` it is checked in full again (source parameters, target policy
//! and case sensitivity, replication), so hand edits in AWS are found and, in Fix mode, put right. Kept in
//! memory: a restarted operator checks everything once, which is what it should do anyway.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

#[derive(Default)]
pub struct Rechecks {
    last: Mutex<HashMap<String, Instant>>,
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

    /// Forgets `uid` (the object is gone).
    pub fn forget(&self, uid: &str) {
        self.last.lock().remove(uid);
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
