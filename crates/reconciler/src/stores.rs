//! The controllers' watch caches, for reconcilers that need to know about other objects (which objects
//! still need a shared grant) or read one (the connection an integration targets) without an API call. Filled
//! by the controller crate (one cache per watched namespace); empty in tests that run without controllers,
//! where callers must assume the safe answer.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, ObjectMeta};
use kube::runtime::reflector::{ObjectRef, Store};
use parking_lot::RwLock;
use zeroetl_api::{RedshiftConnection, RedshiftConsumer, ZeroEtlIntegration};

#[derive(Default)]
pub struct Stores {
    integrations: RwLock<Vec<Store<ZeroEtlIntegration>>>,
    connections: RwLock<Vec<Store<RedshiftConnection>>>,
    consumers: RwLock<Vec<Store<RedshiftConsumer>>>,
}

/// One condition of one cached object, as the per-object condition gauge reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConditionRow {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
    pub condition: String,
    pub status: String,
}

impl Stores {
    pub fn add_integrations(&self, store: Store<ZeroEtlIntegration>) {
        self.integrations.write().push(store);
    }

    pub fn add_connections(&self, store: Store<RedshiftConnection>) {
        self.connections.write().push(store);
    }

    pub fn add_consumers(&self, store: Store<RedshiftConsumer>) {
        self.consumers.write().push(store);
    }

    /// Every condition of every cached object: bounded by the objects this operator serves.
    pub fn condition_rows(&self) -> Vec<ConditionRow> {
        let mut rows = Vec::new();
        for store in self.integrations.read().iter() {
            for obj in store.state() {
                let conditions = obj.status.as_ref().map(|s| s.conditions.as_slice());
                push_rows(&mut rows, "ZeroEtlIntegration", &obj.metadata, conditions);
            }
        }
        for store in self.connections.read().iter() {
            for obj in store.state() {
                let conditions = obj.status.as_ref().map(|s| s.conditions.as_slice());
                push_rows(&mut rows, "RedshiftConnection", &obj.metadata, conditions);
            }
        }
        for store in self.consumers.read().iter() {
            for obj in store.state() {
                let conditions = obj.status.as_ref().map(|s| s.conditions.as_slice());
                push_rows(&mut rows, "RedshiftConsumer", &obj.metadata, conditions);
            }
        }
        rows
    }

    /// Every integration in the caches; `None` when there is no cache to ask.
    pub fn integrations(&self) -> Option<Vec<Arc<ZeroEtlIntegration>>> {
        let stores = self.integrations.read();
        (!stores.is_empty()).then(|| stores.iter().flat_map(|s| s.state()).collect())
    }

    /// A connection from the cache: `None` without a cache, `Some(None)` when the cache says it does not exist.
    pub fn connection(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<Option<Arc<RedshiftConnection>>> {
        let stores = self.connections.read();
        if stores.is_empty() {
            return None;
        }
        let key = ObjectRef::new(name).within(namespace);
        Some(stores.iter().find_map(|s| s.get(&key)))
    }
}

fn push_rows(
    rows: &mut Vec<ConditionRow>,
    kind: &'static str,
    meta: &ObjectMeta,
    conditions: Option<&[Condition]>,
) {
    for c in conditions.into_iter().flatten() {
        rows.push(ConditionRow {
            kind,
            namespace: meta.namespace.clone().unwrap_or_default(),
            name: meta.name.clone().unwrap_or_default(),
            condition: c.type_.clone(),
            status: c.status.clone(),
        });
    }
}
