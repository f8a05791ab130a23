//! When each object's prerequisites were last looked at in full. A Ready object normally costs only a look at
//! its integration; every `--drift-interval` it is checked in full again (source parameters, target policy
//! and case sensitivity, replication), so hand edits in AWS are found and, in Fix mode, put right. Kept in
//! memory: a restarted operator checks everything once, which is what it should do anyway, spread over one
//! interval so that a rollout is not a burst of reads (see [`Rechecks::due`]). The same goes for
//! when each connection was last verified end to end (its status records that at most hourly).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use rand::Rng;

#[derive(Default)]
pub struct Rechecks {
    last: Mutex<HashMap<String, Instant>>,
    /// What each object asked at its last pass (see [`asked`]).
    asked: Mutex<HashMap<String, u64>>,
    /// When each connection or consumer last passed verification.
    verified: Mutex<HashMap<String, Verified>>,
}

/// How what an object asks compares with its last pass in this process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Asked {
    /// This process has not passed over the object yet (a new object, or the operator restarted).
    FirstPass,
    Same,
    /// Someone edited or annotated it: the pass looks at AWS afresh, not through the shared snapshot,
    /// and checks everything.
    Changed,
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
    /// Whether the full check of `uid` is due; if so it counts as done now (the caller is about to do it), and
    /// the next one is due after a random 80 to 100% of `interval`.
    /// An object this process has not checked yet is due now, unless it is `known`: its status already
    /// reports its generation, so this is an operator restart or a new leader, not a new object. Then its
    /// first check falls at a random point of the next `interval`: 5,000 objects checked in full at once
    /// would be 5,000 reads of their sources in the first seconds after every rollout.
    pub fn due(&self, uid: &str, interval: Duration, known: bool) -> bool {
        let mut last = self.last.lock();
        let now = Instant::now();
        let (due, back) = match last.get(uid) {
            Some(at) if now.duration_since(*at) < interval => return false,
            // As if checked at a random point of the last interval: the first check here falls at a random
            // point of the next.
            None if known => (false, interval.mul_f64(rand::rng().random_range(0.0..1.0))),
            // Recorded up to a fifth of an interval early, so the next check comes after 80 to 100% of it: a
            // fleet created in one ramp would otherwise be checked in full in the same minute of every interval.
            _ => (true, interval.mul_f64(rand::rng().random_range(0.0..0.2))),
        };
        last.insert(uid.to_string(), now.checked_sub(back).unwrap_or(now));
        due
    }

    /// What the object asks compared with its last pass in this process (see [`asked`]).
    pub fn asked_since_last_pass(&self, uid: &str, asked: u64) -> Asked {
        match self.asked.lock().insert(uid.to_string(), asked) {
            None => Asked::FirstPass,
            Some(before) if before == asked => Asked::Same,
            Some(_) => Asked::Changed,
        }
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
        assert!(r.due("a", every, false), "never checked");
        assert!(!r.due("a", every, false), "just checked");
        assert!(r.due("b", every, false), "per object");
        std::thread::sleep(Duration::from_millis(60));
        assert!(r.due("a", every, false));
        r.forget("a");
        assert!(r.due("a", every, false));
    }

    fn two_teams_of_a_thousand() -> Vec<String> {
        ["team-a", "team-b"]
            .iter()
            .flat_map(|team| (0..1000).map(move |i| format!("{team}/{i}")))
            .collect()
    }

    /// How long until each object's next full check is due, soonest first.
    fn due_in(r: &Rechecks, objects: &[String], interval: Duration) -> Vec<Duration> {
        let now = Instant::now();
        let last = r.last.lock();
        let mut due: Vec<Duration> = objects
            .iter()
            .map(|uid| (last[uid] + interval).saturating_duration_since(now))
            .collect();
        due.sort();
        due
    }

    /// After a restart, two teams' 1,000 objects each: none is checked on its first pass, and their checks
    /// fall across the whole interval, not at its end; a new object of either team is checked at once.
    #[test]
    fn after_a_restart_known_objects_spread_their_first_full_check_over_the_interval() {
        let r = Rechecks::default();
        let interval = Duration::from_secs(600);
        let objects = two_teams_of_a_thousand();
        for uid in &objects {
            assert!(
                !r.due(uid, interval, true),
                "{uid} checked on its first pass"
            );
        }
        let due_in = due_in(&r, &objects, interval);
        let (first, median, last) = (
            due_in[0],
            due_in[due_in.len() / 2],
            due_in[due_in.len() - 1],
        );
        assert!(
            first < Duration::from_secs(30),
            "the earliest is due in {first:?}"
        );
        assert!(
            (Duration::from_secs(200)..Duration::from_secs(400)).contains(&median),
            "half are due within {median:?}"
        );
        assert!(
            last > Duration::from_secs(570) && last <= interval,
            "the latest in {last:?}"
        );
        assert!(
            r.due("team-b/new", interval, false),
            "a new object is checked now"
        );
    }

    /// Two teams' 1,000 new objects each, checked in the same instant: their next checks spread over the last
    /// fifth of the interval instead of all falling due together, and none comes later than the interval.
    #[test]
    fn objects_checked_together_are_due_again_spread_over_the_last_fifth_of_the_interval() {
        let r = Rechecks::default();
        let interval = Duration::from_secs(600);
        let objects = two_teams_of_a_thousand();
        for uid in &objects {
            assert!(
                r.due(uid, interval, false),
                "{uid}: a new object is checked now"
            );
        }
        let due_in = due_in(&r, &objects, interval);
        let (earliest, latest) = (due_in[0], due_in[due_in.len() - 1]);
        assert!(
            earliest >= Duration::from_secs(479) && earliest < Duration::from_secs(490),
            "the earliest is due in {earliest:?}"
        );
        assert!(
            latest > Duration::from_secs(590) && latest <= interval,
            "the latest in {latest:?}"
        );
    }

    #[test]
    fn what_an_object_asks_is_new_on_the_first_pass_then_only_when_it_changes() {
        let r = Rechecks::default();
        assert_eq!(r.asked_since_last_pass("a", 1), Asked::FirstPass);
        assert_eq!(r.asked_since_last_pass("a", 1), Asked::Same);
        assert_eq!(
            r.asked_since_last_pass("b", 1),
            Asked::FirstPass,
            "per object"
        );
        assert_eq!(r.asked_since_last_pass("a", 2), Asked::Changed);
        r.forget("a");
        assert_eq!(r.asked_since_last_pass("a", 2), Asked::FirstPass);
    }
}
