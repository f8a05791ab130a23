//! The controllers' watch caches, for reconcilers that need to know about other objects (which objects
//! still need a shared grant) or read one (the connection an integration targets) without an API call. Filled
//! by the controller crate (one cache per watched namespace); empty in tests that run without controllers,
//! where callers must assume the safe answer.

use std::sync::Arc;

use kube::runtime::reflector::{ObjectRef, Store};
use parking_lot::RwLock;
use zeroetl_api::{RedshiftConnection, ZeroEtlIntegration};

#[derive(Default)]
pub struct Stores {
    integrations: RwLock<Vec<Store<ZeroEtlIntegration>>>,
    connections: RwLock<Vec<Store<RedshiftConnection>>>,
}

impl Stores {
    pub fn add_integrations(&self, store: Store<ZeroEtlIntegration>) {
        self.integrations.write().push(store);
    }

    pub fn add_connections(&self, store: Store<RedshiftConnection>) {
        self.connections.write().push(store);
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
