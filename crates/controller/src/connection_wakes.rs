//! Which integrations and consumers a RedshiftConnection's watch event wakes: those of a connection whose
//! readiness, namespace ARN or generation changed, of every connection in a listing once the listing is
//! complete, and of a connection that is gone (deleted, or missing from a new listing after a watch gap).
//! A wake names the connection only; the reconcile reads the connection itself.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use futures::{Stream, StreamExt};
use kube::core::{ObjectMeta, PartialObjectMeta, PartialObjectMetaExt};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{watcher, WatchStreamExt};
use zeroetl_api::conditions::{find, READY};
use zeroetl_api::RedshiftConnection;

/// The connection a wake is about: its namespace and name.
pub type ConnectionWake = PartialObjectMeta<RedshiftConnection>;

/// Wakes for the events of one connection watch.
pub fn connection_wakes(
    events: impl Stream<Item = watcher::Result<watcher::Event<RedshiftConnection>>> + Send,
) -> impl Stream<Item = watcher::Result<ConnectionWake>> + Send {
    events
        .scan(Wakes::default(), |wakes, event| {
            let now: Vec<_> = match event {
                Ok(event) => wakes.on(&event).into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e)],
            };
            futures::future::ready(Some(futures::stream::iter(now)))
        })
        .flatten()
}

/// Wakes as `connection_wakes`, each sent only once `cache` holds what woke it. The integration reconcile
/// reads its connection from that cache, so it sees the change that woke it (or a newer one), never an
/// older copy; a cache of another watch could trail and leave a broken connection reported as Ready.
pub fn cached_connection_wakes(
    events: impl Stream<Item = watcher::Result<watcher::Event<RedshiftConnection>>> + Send,
    cache: reflector::store::Writer<RedshiftConnection>,
) -> impl Stream<Item = watcher::Result<ConnectionWake>> + Send {
    connection_wakes(events.modify(crate::controllers::strip).reflect(cache))
}

#[derive(Default)]
struct Wakes {
    /// What a reader reads of each connection, as last seen.
    seen: HashMap<ObjectRef<RedshiftConnection>, u64>,
    /// A listing in progress. A cache takes a listing in when it is complete, so its wakes wait until then.
    listed: Vec<(ObjectRef<RedshiftConnection>, u64)>,
}

impl Wakes {
    fn on(&mut self, event: &watcher::Event<RedshiftConnection>) -> Vec<ConnectionWake> {
        match event {
            watcher::Event::Apply(conn) => self
                .changed(ObjectRef::from_obj(conn), what_readers_read(conn))
                .into_iter()
                .collect(),
            watcher::Event::Delete(conn) => {
                let gone = ObjectRef::from_obj(conn);
                self.seen.remove(&gone);
                vec![wake(&gone)]
            }
            watcher::Event::Init => {
                self.listed.clear();
                Vec::new()
            }
            watcher::Event::InitApply(conn) => {
                self.listed
                    .push((ObjectRef::from_obj(conn), what_readers_read(conn)));
                Vec::new()
            }
            watcher::Event::InitDone => {
                let listed = std::mem::take(&mut self.listed);
                let present: HashSet<_> = listed.iter().map(|(conn, _)| conn).collect();
                let mut wakes: Vec<_> = self
                    .seen
                    .keys()
                    .filter(|conn| !present.contains(conn))
                    .map(wake)
                    .collect();
                self.seen.retain(|conn, _| present.contains(conn));
                wakes.extend(
                    listed
                        .iter()
                        .filter_map(|(conn, read)| self.changed(conn.clone(), *read)),
                );
                wakes
            }
        }
    }

    fn changed(
        &mut self,
        conn: ObjectRef<RedshiftConnection>,
        read: u64,
    ) -> Option<ConnectionWake> {
        let wake = wake(&conn);
        (self.seen.insert(conn, read) != Some(read)).then_some(wake)
    }
}

/// What integrations and consumers read of a connection: whether it is Ready, its namespace ARN, and which
/// spec it describes.
fn what_readers_read(conn: &RedshiftConnection) -> u64 {
    let mut h = DefaultHasher::new();
    let status = conn.status.as_ref();
    status
        .and_then(|s| find(&s.conditions, READY))
        .map(|r| r.status.as_str())
        .hash(&mut h);
    status.and_then(|s| s.namespace_arn.as_deref()).hash(&mut h);
    conn.metadata.generation.hash(&mut h);
    h.finish()
}

fn wake(conn: &ObjectRef<RedshiftConnection>) -> ConnectionWake {
    ObjectMeta {
        name: Some(conn.name.clone()),
        namespace: conn.namespace.clone(),
        ..Default::default()
    }
    .into_response_partial()
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::ResourceExt;
    use watcher::Event;

    fn connection(namespace: &str, ready: &str, resource_version: &str) -> RedshiftConnection {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "zeroetl.dev/v1alpha1",
            "kind": "RedshiftConnection",
            "metadata": {"name": "analytics", "namespace": namespace, "generation": 1,
                         "resourceVersion": resource_version},
            "spec": {"serverless": {"workgroupName": "analytics-wg"}, "database": "dev"},
            "status": {
                "namespaceArn": "arn:aws:redshift-serverless:us-east-1:111111111111:namespace/n",
                "conditions": [{"type": "Ready", "status": ready, "reason": "R", "message": "",
                                "lastTransitionTime": "2026-01-01T00:00:00Z"}],
            },
        }))
        .expect("a valid connection")
    }

    fn in_namespace(namespace: &str) -> ObjectRef<RedshiftConnection> {
        ObjectRef::new("analytics").within(namespace)
    }

    /// Lists team A's and team B's Ready connections, runs the events after that through the integrations'
    /// wakes and, at each wake, reads the cache as a woken reconcile would: `namespace=<Ready status>`, or
    /// `namespace=gone`.
    async fn woken_reading_the_cache<const N: usize>(
        after_two_teams_listed: [Event<RedshiftConnection>; N],
    ) -> Vec<String> {
        let events = [
            Event::Init,
            Event::InitApply(connection("team-a", "True", "1")),
            Event::InitApply(connection("team-b", "True", "2")),
            Event::InitDone,
        ]
        .into_iter()
        .chain(after_two_teams_listed);
        let (cache, writer) = reflector::store();
        let mut wakes = std::pin::pin!(cached_connection_wakes(
            futures::stream::iter(events.map(Ok)),
            writer
        ));
        let mut woken = Vec::new();
        while let Some(wake) = wakes.next().await {
            let wake = wake.expect("no watch error");
            let namespace = wake.namespace().expect("a namespaced wake");
            let read = match cache.get(&in_namespace(&namespace)) {
                Some(conn) => {
                    let conditions = &conn.status.as_ref().expect("a status").conditions;
                    find(conditions, READY).expect("Ready").status.clone()
                }
                None => "gone".into(),
            };
            woken.push(format!("{namespace}={read}"));
        }
        woken
    }

    #[tokio::test]
    async fn a_woken_reconcile_reads_the_change_that_woke_it() {
        let woken = woken_reading_the_cache([
            // Team B's connection changes nothing a reader reads: no wake.
            Event::Apply(connection("team-b", "True", "3")),
            Event::Apply(connection("team-a", "False", "4")),
        ])
        .await;
        assert_eq!(woken, ["team-a=True", "team-b=True", "team-a=False"]);
    }

    #[tokio::test]
    async fn a_deleted_connection_wakes_its_readers_and_only_its_own() {
        let woken =
            woken_reading_the_cache([Event::Delete(connection("team-a", "True", "3"))]).await;
        assert_eq!(woken, ["team-a=True", "team-b=True", "team-a=gone"]);
    }

    #[tokio::test]
    async fn a_new_listing_wakes_what_changed_or_went_missing_during_a_watch_gap() {
        let woken = woken_reading_the_cache([
            // The watch restarts: team A's connection was deleted meanwhile, team B's is unchanged, and a
            // third tenant's is new.
            Event::Init,
            Event::InitApply(connection("team-b", "True", "2")),
            Event::InitApply(connection("team-c", "False", "5")),
            Event::InitDone,
        ])
        .await;
        assert_eq!(
            woken,
            ["team-a=True", "team-b=True", "team-a=gone", "team-c=False"]
        );
    }
}
