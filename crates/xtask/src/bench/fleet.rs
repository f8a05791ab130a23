//! Applying the fleet (a few creates in flight, each object's accepted time recorded) and watching it (one
//! watch per kind, each object's first Ready=True recorded).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};
use futures::{StreamExt, TryStreamExt};
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use kube::runtime::watcher::{self, Event};
use kube::Client;
use serde_json::Value;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use zeroetl_e2e::wait::{condition, condition_field};

/// A moment seen by the bench, on both clocks: `Instant` for intervals, wall time to compare with aws-sim.
#[derive(Debug, Clone, Copy)]
pub struct Moment {
    pub instant: Instant,
    pub wall: SystemTime,
}

impl Moment {
    pub fn now() -> Moment {
        Moment {
            instant: Instant::now(),
            wall: SystemTime::now(),
        }
    }
}

/// `Kind/name`: the key objects are tracked under.
pub fn key(kind: &str, name: &str) -> String {
    format!("{kind}/{name}")
}

#[derive(Default)]
struct Seen {
    first_ready: HashMap<String, Moment>,
    ready_now: HashSet<String>,
    /// Objects that were Ready and then were not, counted each time.
    left_ready: usize,
    /// The Ready reason last seen on objects not yet Ready.
    waiting_reason: HashMap<String, String>,
    synced_kinds: usize,
    watch_errors: Vec<String>,
}

/// Watches the fleet's kinds in one namespace and remembers when each object was first Ready.
pub struct ReadyWatch {
    seen: Arc<Mutex<Seen>>,
    changed: Arc<Notify>,
    tasks: Vec<JoinHandle<()>>,
}

impl ReadyWatch {
    /// Starts the watches and returns once each has listed its kind (so no update is missed).
    pub async fn start(
        client: &Client,
        namespace: &str,
        kinds: &[(&str, ApiResource)],
    ) -> Result<Self> {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let changed = Arc::new(Notify::new());
        let mut tasks = Vec::new();
        for (kind, resource) in kinds {
            let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, resource);
            let (kind, seen, changed) = (kind.to_string(), seen.clone(), changed.clone());
            tasks.push(tokio::spawn(async move {
                let mut events = watcher::watcher(api, watcher::Config::default()).boxed();
                loop {
                    match events.try_next().await {
                        Ok(Some(event)) => record(&seen, &kind, event),
                        Ok(None) => break,
                        // The watcher re-lists after an error; remember it for the report.
                        Err(err) => lock(&seen).watch_errors.push(err.to_string()),
                    }
                    changed.notify_waiters();
                }
            }));
        }
        let watch = Self {
            seen,
            changed,
            tasks,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while lock(&watch.seen).synced_kinds < kinds.len() {
            if Instant::now() >= deadline {
                bail!(
                    "the watches did not finish their initial list within 60 s: {:?}",
                    lock(&watch.seen).watch_errors
                );
            }
            let _ =
                tokio::time::timeout(Duration::from_millis(200), watch.changed.notified()).await;
        }
        Ok(watch)
    }

    /// Waits until every key in `keys` has been Ready, printing progress every 10 s; on timeout fails
    /// with how many are missing and why.
    pub async fn wait_all_ready(&self, keys: &[String], timeout: Duration) -> Result<Moment> {
        let started = Instant::now();
        let deadline = started + timeout;
        let mut last_report = Instant::now();
        loop {
            let notified = self.changed.notified();
            let missing = self.missing(keys);
            if missing.is_empty() {
                return Ok(Moment::now());
            }
            if Instant::now() >= deadline {
                bail!(
                    "{} of {} objects not Ready after {timeout:?}; Ready reasons: {}",
                    missing.len(),
                    keys.len(),
                    self.reasons(&missing)
                );
            }
            if last_report.elapsed() >= Duration::from_secs(10) {
                last_report = Instant::now();
                eprintln!(
                    "  +{:>5.0} s  {}/{} Ready; waiting: {}",
                    started.elapsed().as_secs_f64(),
                    keys.len() - missing.len(),
                    keys.len(),
                    self.reasons(&missing)
                );
            }
            let _ = tokio::time::timeout(Duration::from_millis(500), notified).await;
        }
    }

    fn missing<'k>(&self, keys: &'k [String]) -> Vec<&'k String> {
        let seen = lock(&self.seen);
        keys.iter()
            .filter(|k| !seen.first_ready.contains_key(*k))
            .collect()
    }

    /// `reason: count, …` over the given objects, most common first.
    fn reasons(&self, keys: &[&String]) -> String {
        let seen = lock(&self.seen);
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for key in keys {
            let reason = seen
                .waiting_reason
                .get(*key)
                .cloned()
                .unwrap_or_else(|| "no status yet".to_owned());
            *counts.entry(reason).or_default() += 1;
        }
        let mut counts: Vec<(String, usize)> = counts.into_iter().collect();
        counts.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
        counts
            .iter()
            .take(6)
            .map(|(reason, n)| format!("{reason} ×{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn first_ready(&self, key: &str) -> Option<Moment> {
        lock(&self.seen).first_ready.get(key).copied()
    }

    /// How many times an object went from Ready to not Ready so far.
    pub fn left_ready(&self) -> usize {
        lock(&self.seen).left_ready
    }

    pub fn watch_errors(&self) -> Vec<String> {
        lock(&self.seen).watch_errors.clone()
    }
}

impl Drop for ReadyWatch {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

fn lock(seen: &Mutex<Seen>) -> std::sync::MutexGuard<'_, Seen> {
    seen.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn record(seen: &Mutex<Seen>, kind: &str, event: Event<DynamicObject>) {
    let object = match event {
        Event::Apply(object) | Event::InitApply(object) => object,
        Event::InitDone => {
            lock(seen).synced_kinds += 1;
            return;
        }
        Event::Init | Event::Delete(_) => return,
    };
    let now = Moment::now();
    let key = key(kind, object.metadata.name.as_deref().unwrap_or_default());
    let ready = condition(&object, "Ready");
    let is_ready = ready
        .as_ref()
        .is_some_and(|c| condition_field(c, "status") == "True");
    let mut seen = lock(seen);
    if is_ready {
        seen.first_ready.entry(key.clone()).or_insert(now);
        seen.waiting_reason.remove(&key);
        seen.ready_now.insert(key);
    } else {
        if seen.ready_now.remove(&key) {
            seen.left_ready += 1;
        }
        let reason = ready
            .map(|c| {
                format!(
                    "{}={}",
                    condition_field(&c, "status"),
                    condition_field(&c, "reason")
                )
            })
            .unwrap_or_else(|| "no Ready condition".to_owned());
        seen.waiting_reason.insert(key, reason);
    }
}

/// One created object: its key and when the API server accepted it.
pub struct Accepted {
    pub key: String,
    pub at: Moment,
}

/// Creates every manifest with up to `in_flight` creates at once; returns each object's accepted time.
pub async fn create_all(
    client: &Client,
    namespace: &str,
    resource: &ApiResource,
    manifests: Vec<Value>,
    in_flight: usize,
) -> Result<Vec<Accepted>> {
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, resource);
    let kind = resource.kind.clone();
    futures::stream::iter(manifests)
        .map(|manifest| {
            let (api, kind) = (api.clone(), kind.clone());
            async move {
                let object: DynamicObject = serde_json::from_value(manifest)?;
                let name = object.metadata.name.clone().unwrap_or_default();
                api.create(&PostParams::default(), &object)
                    .await
                    .with_context(|| format!("create {kind} {name}"))?;
                Ok::<_, anyhow::Error>(Accepted {
                    key: key(&kind, &name),
                    at: Moment::now(),
                })
            }
        })
        .buffer_unordered(in_flight.max(1))
        .try_collect()
        .await
}
