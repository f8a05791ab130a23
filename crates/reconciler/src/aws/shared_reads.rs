//! Reads many objects share, made once: a target's warehouse and resource policy, a parameter group and who
//! uses it, a source database. A thousand integrations into one warehouse cost one read of it per TTL, not a
//! thousand. Concurrent passes asking for the same key wait for one read (single flight). The operator's own
//! writes invalidate what they change, so it never plans from a stale copy of its own work; changes made by
//! others show up within the TTL.

use std::any::Any;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use tokio::sync::Mutex as AsyncMutex;

use crate::error::Result;

type Slot = Arc<AsyncMutex<Option<(Instant, Arc<dyn Any + Send + Sync>)>>>;

pub struct SharedReads {
    ttl: Duration,
    slots: Mutex<HashMap<String, Slot>>,
}

impl Default for SharedReads {
    fn default() -> Self {
        SharedReads::new(crate::timing::SHARED_READ_TTL)
    }
}

impl SharedReads {
    pub fn new(ttl: Duration) -> SharedReads {
        SharedReads {
            ttl,
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// The value under `key`, read with `fetch` when there is none younger than the TTL. Errors are not
    /// cached.
    pub async fn get<V, F>(&self, key: String, fetch: F) -> Result<V>
    where
        V: Clone + Send + Sync + 'static,
        F: Future<Output = Result<V>>,
    {
        self.read(key, false, fetch).await
    }

    /// Like [`get`](Self::get), but with `fresh` the value is read now whatever the cache holds (and kept for
    /// the others).
    pub async fn read<V, F>(&self, key: String, fresh: bool, fetch: F) -> Result<V>
    where
        V: Clone + Send + Sync + 'static,
        F: Future<Output = Result<V>>,
    {
        let slot = self.slots.lock().entry(key).or_default().clone();
        let mut held = slot.lock().await;
        if let Some((at, value)) = held.as_ref().filter(|_| !fresh) {
            if at.elapsed() < self.ttl {
                if let Some(v) = value.downcast_ref::<V>() {
                    return Ok(v.clone());
                }
            }
        }
        let value = fetch.await?;
        *held = Some((Instant::now(), Arc::new(value.clone())));
        Ok(value)
    }

    /// Forgets one key.
    pub fn forget(&self, key: &str) {
        self.slots.lock().remove(key);
    }

    /// Forgets every key starting with `prefix` (after a write that changed what they describe).
    pub fn invalidate(&self, prefix: &str) {
        self.slots.lock().retain(|k, _| !k.starts_with(prefix));
    }

    /// Bounds memory: drops entries older than the TTL (they would be read again anyway). The controller
    /// sweeps on a timer: a fleet of sources leaves one entry per source behind its ramp.
    pub fn sweep(&self) {
        let ttl = self.ttl;
        self.slots.lock().retain(|_, slot| match slot.try_lock() {
            Ok(held) => held.as_ref().is_some_and(|(at, _)| at.elapsed() < ttl),
            // Being read right now: keep.
            Err(_) => true,
        });
    }
}

/// The shared reads as one pass uses them: through the cache, or (`fresh`, a pass its user just asked for)
/// read now, the result kept for the others.
#[derive(Clone, Copy)]
pub struct Reads<'a> {
    pub shared: &'a SharedReads,
    pub fresh: bool,
}

impl Reads<'_> {
    pub async fn get<V, F>(&self, key: String, fetch: F) -> Result<V>
    where
        V: Clone + Send + Sync + 'static,
        F: Future<Output = Result<V>>,
    {
        self.shared.read(key, self.fresh, fetch).await
    }

    /// Like [`get`](Self::get), but a value that is `passing` (a warehouse being modified, a database
    /// rebooting) is not kept: the next pass looks again, so the end of a transition is seen at once.
    pub async fn get_settled<V, F>(
        &self,
        key: String,
        fetch: F,
        passing: impl Fn(&V) -> bool,
    ) -> Result<V>
    where
        V: Clone + Send + Sync + 'static,
        F: Future<Output = Result<V>>,
    {
        let value = self.shared.read(key.clone(), self.fresh, fetch).await?;
        if passing(&value) {
            self.shared.forget(&key);
        }
        Ok(value)
    }
}

/// The cache key of a shared read: what is read, where, and as whom.
pub fn key(what: &str, clients: &super::Clients, id: &str) -> String {
    format!("{what}|{}|{}|{id}", clients.region, clients.identity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test]
    async fn one_read_serves_every_concurrent_caller_until_invalidated() {
        let reads = Arc::new(SharedReads::new(Duration::from_secs(60)));
        let fetched = Arc::new(AtomicU32::new(0));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (reads, fetched) = (reads.clone(), fetched.clone());
            tasks.push(tokio::spawn(async move {
                reads
                    .get("policy|ns".into(), async {
                        fetched.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok::<_, crate::Error>("doc".to_string())
                    })
                    .await
                    .unwrap()
            }));
        }
        for t in tasks {
            assert_eq!(t.await.unwrap(), "doc");
        }
        assert_eq!(fetched.load(Ordering::SeqCst), 1);
        reads.invalidate("policy|");
        reads
            .get("policy|ns".into(), async {
                fetched.fetch_add(1, Ordering::SeqCst);
                Ok::<_, crate::Error>("doc".to_string())
            })
            .await
            .unwrap();
        assert_eq!(fetched.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn errors_are_not_kept_and_old_values_expire() {
        let reads = SharedReads::new(Duration::from_millis(30));
        let failed: Result<u32> = reads
            .get("k".into(), async { Err(crate::Error::terminal("X", "no")) })
            .await;
        assert!(failed.is_err());
        assert_eq!(reads.get("k".into(), async { Ok(1u32) }).await.unwrap(), 1);
        assert_eq!(reads.get("k".into(), async { Ok(2u32) }).await.unwrap(), 1);
        tokio::time::sleep(Duration::from_millis(40)).await;
        assert_eq!(reads.get("k".into(), async { Ok(3u32) }).await.unwrap(), 3);
    }

    #[tokio::test]
    async fn a_sweep_drops_what_expired_and_keeps_a_second_tenants_fresh_read() {
        let reads = SharedReads::new(Duration::from_millis(50));
        let team_a = "db-cluster|us-east-1|default|team-a-orders".to_string();
        let team_b = "db-cluster|us-east-1|default|team-b-orders".to_string();
        reads.get(team_a, async { Ok(1u32) }).await.unwrap();
        tokio::time::sleep(Duration::from_millis(60)).await;
        reads.get(team_b.clone(), async { Ok(2u32) }).await.unwrap();
        reads.sweep();
        let kept: Vec<String> = reads.slots.lock().keys().cloned().collect();
        assert_eq!(kept, [team_b], "only the expired entry goes");
    }
}
