//! The controllers, one per kind and watched namespace: what triggers a reconcile, how many run at once,
//! and the span around each reconcile (the pipeline itself writes status, events, metrics and backoff).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::runtime::controller::{Action, Config as ControllerConfig};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{watcher, Controller};
use kube::{Api, Client, ResourceExt};
use tracing::{info, info_span, warn, Instrument};
use zeroetl_api::{RedshiftConnection, RedshiftConsumer, ZeroEtlIntegration};
use zeroetl_reconciler::metrics::ReconcileResult;
use zeroetl_reconciler::{connection, consumer, integration, Context, Error};

/// Where a controller watches: one namespace, or all of them.
fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
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

pub fn integrations(
    client: &Client,
    namespace: Option<&str>,
    ctx: Arc<Context>,
    concurrency: u16,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> Running {
    let controller = Controller::new(
        api::<ZeroEtlIntegration>(client, namespace),
        watcher::Config::default(),
    );
    let store = controller.store();
    ctx.stores.add_integrations(store.clone());
    let by_connection = store.clone();
    let run = controller
        // A connection that changes (becomes Ready, breaks, gets a new namespace ARN) re-reconciles the
        // integrations that target it.
        .watches(
            api::<RedshiftConnection>(client, namespace),
            watcher::Config::default(),
            move |conn| integrations_targeting(&by_connection, &conn),
        )
        .with_config(ControllerConfig::default().concurrency(concurrency))
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
    namespace: Option<&str>,
    ctx: Arc<Context>,
    concurrency: u16,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> Running {
    let controller = Controller::new(
        api::<RedshiftConnection>(client, namespace),
        watcher::Config::default(),
    );
    let store = controller.store();
    ctx.stores.add_connections(store.clone());
    let run = controller
        // A published Secret that is edited or deleted is put back.
        .owns(
            api::<Secret>(client, namespace),
            watcher::Config::default().labels(connection::MANAGED_BY_SELECTOR),
        )
        .with_config(ControllerConfig::default().concurrency(concurrency))
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
    namespace: Option<&str>,
    ctx: Arc<Context>,
    concurrency: u16,
    shutdown: impl std::future::Future<Output = ()> + Send + Sync + 'static,
) -> Running {
    let controller = Controller::new(
        api::<RedshiftConsumer>(client, namespace),
        watcher::Config::default(),
    );
    let store = controller.store();
    let by_connection = store.clone();
    let run = controller
        // Its coordinates and password Secrets, put back when edited or deleted.
        .owns(
            api::<Secret>(client, namespace),
            watcher::Config::default().labels(connection::MANAGED_BY_SELECTOR),
        )
        // A connection that becomes Ready (or changes) re-reconciles the consumers that use it.
        .watches(
            api::<RedshiftConnection>(client, namespace),
            watcher::Config::default(),
            move |conn| consumers_of(&by_connection, &conn),
        )
        .with_config(ControllerConfig::default().concurrency(concurrency))
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
    conn: &RedshiftConnection,
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
    conn: &RedshiftConnection,
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
/// passes that end in an error (the pipeline counts the others, and owns backoff).
async fn observed<K>(
    kind: &'static str,
    obj: Arc<K>,
    ctx: Arc<Context>,
    reconcile: impl FnOnce(Arc<K>, Arc<Context>) -> BoxFuture<'static, Result<Action, Error>>,
) -> Result<Action, Error>
where
    K: kube::Resource + ResourceExt,
{
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
