//! The controllers, one per kind and watched namespace: what triggers a reconcile, how many run at once,
//! and the span around each reconcile (the pipeline itself writes status, events, metrics and backoff).
//!
//! What triggers a pass, at the floor: a change to what an object asks (generation, annotations, labels,
//! finalizers, deletion) — never the operator's own status write; for integrations and consumers, a change
//! of the connection they use (its readiness or namespace, or its deletion: `connection_wakes.rs`); for
//! integrations, a change of their integration in AWS (the snapshot pollers wake exactly those objects); for
//! connections, a change to the Secret they publish.
//! Caches hold objects without managedFields or the last-applied annotation, and Secrets as metadata only.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use crate::connection_wakes::{cached_connection_wakes, connection_wakes, ConnectionWake};
use futures::future::BoxFuture;
use futures::{FutureExt, Stream, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Config as ControllerConfig};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{watcher, Controller, WatchStreamExt};
use kube::{Api, Client, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tracing::{info, info_span, warn, Instrument};
use zeroetl_api::{RedshiftConnection, RedshiftConsumer, ZeroEtlIntegration};
use zeroetl_reconciler::metrics::ReconcileResult;
use zeroetl_reconciler::{connection, consumer, integration, pipeline, Context, Error};

/// Where a controller watches and what it reconciles.
#[derive(Clone, Debug)]
pub struct Scope {
    /// One namespace, or all of them.
    pub namespace: Option<String>,
    /// A label selector (`--selector`): one shard of a fleet split over several operators.
    pub selector: Option<String>,
    pub concurrency: u16,
}

impl Scope {
    fn api<K>(&self, client: &Client) -> Api<K>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
    {
        match &self.namespace {
            Some(ns) => Api::namespaced(client.clone(), ns),
            None => Api::all(client.clone()),
        }
    }

    fn watch_config(&self) -> watcher::Config {
        match &self.selector {
            Some(s) => watcher::Config::default().labels(s),
            None => watcher::Config::default(),
        }
    }
}

/// A running controller and the store whose first sync means "ready".
pub struct Running {
    pub run: BoxFuture<'static, ()>,
    pub ready: BoxFuture<'static, ()>,
}

fn ready_when_synced<K>(store: Store<K>) -> BoxFuture<'static, ()>
where
    K: kube::Resource + Clone + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + Send + Sync,
{
    async move {
        // Store::wait_until_ready wakes only one of several concurrent waiters (its oneshot keeps a single
        // waker, and the controller's own runner waits too), so poll again on a short timer: once the value
        // is memoized, a fresh poll returns at once.
        while tokio::time::timeout(
            std::time::Duration::from_millis(250),
            store.wait_until_ready(),
        )
        .await
        .is_err()
        {}
    }
    .boxed()
}

/// `objects`, from the moment `cache` has listed.
fn once_listed<K, S>(cache: Store<K>, objects: S) -> impl Stream<Item = S::Item> + Send
where
    K: kube::Resource + Clone + Send + Sync + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone + Send + Sync,
    S: Stream + Send,
{
    let listed = ready_when_synced(cache);
    futures::stream::once(async move {
        listed.await;
        objects
    })
    .flatten()
}

/// Fields no reconcile reads, dropped before caching (at a few kB per object they dominate the caches).
pub fn strip<K: Resource>(obj: &mut K) {
    obj.meta_mut().managed_fields = None;
    if let Some(a) = obj.meta_mut().annotations.as_mut() {
        a.remove("kubectl.kubernetes.io/last-applied-configuration");
    }
}

/// What a reconcile depends on in the object itself; a change elsewhere (status, resourceVersion) is not a
/// reason for a pass.
fn asked<K: Resource>(obj: &K) -> Option<u64> {
    Some(zeroetl_reconciler::rechecks::asked(obj))
}

/// A watched, stripped, cached stream of `K` that yields an object only when what it asks changed.
fn watched<K>(
    api: Api<K>,
    config: watcher::Config,
) -> (
    Store<K>,
    impl Stream<Item = Result<K, watcher::Error>> + Send,
)
where
    K: Resource<DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store();
    let stream = watcher(api, config)
        .default_backoff()
        .modify(strip::<K>)
        .reflect(writer)
        .applied_objects()
        .predicate_filter(asked::<K>, Default::default());
    (store, stream)
}

pub fn integrations(
    client: &Client,
    scope: &Scope,
    ctx: Arc<Context>,
    refresh: integration::snapshots::Refresh,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> Running {
    let (store, objects) = watched::<ZeroEtlIntegration>(scope.api(client), scope.watch_config());
    ctx.stores.add_integrations(store.clone());
    // The snapshot pollers wake the objects whose integration changed in AWS.
    let (waker, mut woken) = mpsc::unbounded_channel();
    ctx.shared.snapshots.connect(
        scope.namespace.as_deref(),
        waker,
        &ctx.config.cluster_name,
        refresh,
        ctx.metrics.clone(),
    );
    let woken = futures::stream::poll_fn(move |cx| woken.poll_recv(cx));
    let (targets, writer) = reflector::store();
    ctx.stores.add_integration_targets(targets.clone());
    // A pass must not take a connection cache that has not listed yet for "no such connection" (two status
    // writes and an Event per integration after a restart): integrations are listed once connections are.
    let objects = once_listed(targets, objects);
    let connections = cached_connection_wakes(
        watcher(
            scope.api::<RedshiftConnection>(client),
            scope.watch_config(),
        )
        .default_backoff(),
        writer,
    );
    let by_connection = store.clone();
    let run = Controller::for_stream(objects, store.clone())
        .watches_stream(connections, move |conn| {
            integrations_targeting(&by_connection, &conn)
        })
        .reconcile_on(woken)
        .with_config(ControllerConfig::default().concurrency(scope.concurrency))
        .graceful_shutdown_on(shutdown)
        .run(
            |obj, ctx| {
                observed("ZeroEtlIntegration", obj, ctx, |o, c| {
                    integration::reconcile(o, c).boxed()
                })
            },
            integration::error_policy,
            ctx,
        )
        .for_each(|_| async {})
        .boxed();
    Running {
        run,
        ready: ready_when_synced(store),
    }
}

pub fn connections(
    client: &Client,
    scope: &Scope,
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> Running {
    let (store, objects) = watched::<RedshiftConnection>(scope.api(client), scope.watch_config());
    ctx.stores.add_connections(store.clone());
    // A published Secret that is edited or deleted is put back; only its metadata is needed to know whose it is.
    let secrets = watcher(
        scope.api::<PartialObjectMeta<Secret>>(client),
        watcher::Config::default().labels(connection::MANAGED_BY_SELECTOR),
    )
    .default_backoff()
    .touched_objects();
    let run = Controller::for_stream(objects, store.clone())
        .owns_stream(secrets)
        .with_config(ControllerConfig::default().concurrency(scope.concurrency))
        .graceful_shutdown_on(shutdown)
        .run(
            |obj, ctx| {
                observed("RedshiftConnection", obj, ctx, |o, c| {
                    connection::reconcile(o, c).boxed()
                })
            },
            connection::error_policy,
            ctx,
        )
        .for_each(|_| async {})
        .boxed();
    Running {
        run,
        ready: ready_when_synced(store),
    }
}

pub fn consumers(
    client: &Client,
    scope: &Scope,
    ctx: Arc<Context>,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> Running {
    let (store, objects) = watched::<RedshiftConsumer>(scope.api(client), scope.watch_config());
    ctx.stores.add_consumers(store.clone());
    // Its coordinates and password Secrets, put back when edited or deleted.
    let secrets = watcher(
        scope.api::<PartialObjectMeta<Secret>>(client),
        watcher::Config::default().labels(connection::MANAGED_BY_SELECTOR),
    )
    .default_backoff()
    .touched_objects();
    // A connection that becomes Ready, changes what it asks or is deleted re-reconciles the consumers that use
    // it (which read it with a GET).
    let connections = connection_wakes(
        watcher(
            scope.api::<RedshiftConnection>(client),
            scope.watch_config(),
        )
        .default_backoff(),
    );
    let by_connection = store.clone();
    let run = Controller::for_stream(objects, store.clone())
        .owns_stream(secrets)
        .watches_stream(connections, move |conn| consumers_of(&by_connection, &conn))
        .with_config(ControllerConfig::default().concurrency(scope.concurrency))
        .graceful_shutdown_on(shutdown)
        .run(
            |obj, ctx| {
                observed("RedshiftConsumer", obj, ctx, |o, c| {
                    consumer::reconcile(o, c).boxed()
                })
            },
            consumer::error_policy,
            ctx,
        )
        .for_each(|_| async {})
        .boxed();
    Running {
        run,
        ready: ready_when_synced(store),
    }
}

/// The consumers in the connection's namespace that use that connection.
pub fn consumers_of(
    store: &Store<RedshiftConsumer>,
    conn: &ConnectionWake,
) -> Vec<ObjectRef<RedshiftConsumer>> {
    store
        .state()
        .into_iter()
        .filter(|c| {
            c.namespace() == conn.namespace() && c.spec.connection_ref.name == conn.name_any()
        })
        .map(|c| ObjectRef::from_obj(&*c))
        .collect()
}

/// The integrations in the connection's namespace whose target is that connection.
pub fn integrations_targeting(
    store: &Store<ZeroEtlIntegration>,
    conn: &ConnectionWake,
) -> Vec<ObjectRef<ZeroEtlIntegration>> {
    store
        .state()
        .into_iter()
        .filter(|i| {
            i.namespace() == conn.namespace()
                && i.spec
                    .target
                    .connection_ref
                    .as_ref()
                    .is_some_and(|r| r.name == conn.name_any())
        })
        .map(|i| ObjectRef::from_obj(&*i))
        .collect()
}

/// Runs one reconcile inside a span that names the object and the pass (`reconcile_id`), and counts the
/// passes that end in an error (the pipeline counts the others, and owns backoff). Every kind waits here
/// when its cached copy trails our own last write (see `zeroetl_reconciler::k8s::own_writes`).
async fn observed<K>(
    kind: &'static str,
    obj: Arc<K>,
    ctx: Arc<Context>,
    reconcile: impl FnOnce(Arc<K>, Arc<Context>) -> BoxFuture<'static, Result<Action, Error>>,
) -> Result<Action, Error>
where
    K: kube::Resource + ResourceExt,
{
    if let Some(wait) = pipeline::behind_own_write(&ctx, &*obj) {
        return Ok(wait);
    }
    static NEXT_ID: AtomicU64 = AtomicU64::new(1);
    let span = info_span!(
        "reconcile",
        kind,
        namespace = %obj.namespace().unwrap_or_default(),
        name = %obj.name_any(),
        generation = obj.meta().generation.unwrap_or_default(),
        reconcile_id = NEXT_ID.fetch_add(1, Ordering::Relaxed),
    );
    let started = Instant::now();
    let result = reconcile(obj, ctx.clone()).instrument(span.clone()).await;
    let _entered = span.enter();
    match &result {
        Ok(action) => info!(
            ?action,
            took_ms = started.elapsed().as_millis() as u64,
            "reconciled"
        ),
        Err(e) => {
            ctx.metrics
                .reconciled(kind, ReconcileResult::error, started.elapsed());
            warn!(error = %e, category = ?e.category(), "reconcile failed");
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn integrations_are_listed_only_once_their_connections_are() {
        let (cache, mut writer) = reflector::store::<RedshiftConnection>();
        let mut objects = std::pin::pin!(once_listed(cache, futures::stream::iter(["orders"])));
        assert!(
            objects.next().now_or_never().is_none(),
            "an integration came before the connections were listed"
        );
        for event in [watcher::Event::Init, watcher::Event::InitDone] {
            writer.apply_watcher_event(&event);
        }
        let first = tokio::time::timeout(std::time::Duration::from_secs(5), objects.next()).await;
        assert_eq!(first, Ok(Some("orders")));
    }
}
