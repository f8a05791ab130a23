//! The controllers' watch caches, for reconcilers that need to know about other objects (which objects
//! still need a shared grant) or read one (the connection an integration targets) without an API call. Filled
//! by the controller crate (one cache per watched namespace); empty in tests that run without controllers,
//! where callers must assume the safe answer.

use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use parking_lot::RwLock;
use zeroetl_api::conditions::Condition;
use zeroetl_api::{RedshiftConnection, RedshiftConsumer, ZeroEtlIntegration};

#[derive(Default)]
pub struct Stores {
    integrations: RwLock<Vec<Store<ZeroEtlIntegration>>>,
    connections: RwLock<Vec<Store<RedshiftConnection>>>,
    /// The connections as the watch that wakes integrations saw them (see `connection`).
    integration_targets: RwLock<Vec<Store<RedshiftConnection>>>,
    consumers: RwLock<Vec<Store<RedshiftConsumer>>>,
}

/// One condition of one cached object, as the per-object condition gauge reports it: borrowed from the
/// cache, because a scrape visits every condition of every object (tens of thousands at fleet scale) and
/// copies of them all were the operator's largest transient allocation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConditionRow<'a> {
    pub kind: &'static str,
    pub namespace: &'a str,
    pub name: &'a str,
    pub condition: &'a str,
    pub status: &'a str,
}

impl Stores {
    pub fn add_integrations(&self, store: Store<ZeroEtlIntegration>) {
        self.integrations.write().push(store);
    }

    pub fn add_connections(&self, store: Store<RedshiftConnection>) {
        self.connections.write().push(store);
    }

    pub fn add_integration_targets(&self, store: Store<RedshiftConnection>) {
        self.integration_targets.write().push(store);
    }

    pub fn add_consumers(&self, store: Store<RedshiftConsumer>) {
        self.consumers.write().push(store);
    }

    /// Visits every condition of every cached object (bounded by the objects this operator serves), stopping
    /// at the first error.
    pub fn for_each_condition<E>(
        &self,
        mut visit: impl FnMut(ConditionRow<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        for store in self.integrations.read().iter() {
            for obj in store.state() {
                let conditions = obj.status.as_ref().map(|s| s.conditions.as_slice());
                visit_rows(&mut visit, "ZeroEtlIntegration", &obj.metadata, conditions)?;
            }
        }
        for store in self.connections.read().iter() {
            for obj in store.state() {
                let conditions = obj.status.as_ref().map(|s| s.conditions.as_slice());
                visit_rows(&mut visit, "RedshiftConnection", &obj.metadata, conditions)?;
            }
        }
        for store in self.consumers.read().iter() {
            for obj in store.state() {
                let conditions = obj.status.as_ref().map(|s| s.conditions.as_slice());
                visit_rows(&mut visit, "RedshiftConsumer", &obj.metadata, conditions)?;
            }
        }
        Ok(())
    }

    /// Every integration in the caches; `None` when there is no cache to ask.
    pub fn integrations(&self) -> Option<Vec<Arc<ZeroEtlIntegration>>> {
        let stores = self.integrations.read();
        (!stores.is_empty()).then(|| stores.iter().flat_map(|s| s.state()).collect())
    }

    /// The connection an integration targets, from the cache of the watch that wakes integrations: `None`
    /// without that cache, `Some(None)` when the cache says it does not exist. Not the connection
    /// controller's cache: that is a separate watch, and a reconcile woken by a connection turning not Ready
    /// could read the older, Ready copy there and keep saying Ready until its next recheck.
    pub fn connection(
        &self,
        namespace: &str,
        name: &str,
    ) -> Option<Option<Arc<RedshiftConnection>>> {
        let stores = self.integration_targets.read();
        if stores.is_empty() {
            return None;
        }
        let key = ObjectRef::new(name).within(namespace);
        Some(stores.iter().find_map(|s| s.get(&key)))
    }
}

fn visit_rows<E>(
    visit: &mut impl FnMut(ConditionRow<'_>) -> Result<(), E>,
    kind: &'static str,
    meta: &ObjectMeta,
    conditions: Option<&[Condition]>,
) -> Result<(), E> {
    for c in conditions.into_iter().flatten() {
        visit(ConditionRow {
            kind,
            namespace: meta.namespace.as_deref().unwrap_or_default(),
            name: meta.name.as_deref().unwrap_or_default(),
            condition: &c.type_,
            status: &c.status,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;
    use kube::runtime::{reflector, watcher};
    use zeroetl_api::ZeroEtlIntegrationStatus;

    fn integration(namespace: &str, ready: &str) -> ZeroEtlIntegration {
        let spec = serde_json::from_value(serde_json::json!({
            "source": {"arn": "arn:aws:rds:us-east-1:111111111111:cluster:orders"},
            "target": {"namespaceArn": "arn:aws:redshift-serverless:us-east-1:111111111111:namespace/n"}
        }))
        .expect("a valid spec");
        let mut obj = ZeroEtlIntegration::new("orders", spec);
        obj.metadata.namespace = Some(namespace.into());
        obj.status = Some(ZeroEtlIntegrationStatus {
            conditions: vec![Condition {
                type_: "Ready".into(),
                status: ready.into(),
                reason: "R".into(),
                message: "".into(),
                last_transition_time: Time(Timestamp::UNIX_EPOCH),
                observed_generation: None,
            }],
            ..Default::default()
        });
        obj
    }

    #[test]
    fn every_condition_of_every_tenants_object_is_visited_once() {
        let (store, mut writer) = reflector::store();
        for obj in [
            integration("team-a", "True"),
            integration("team-b", "False"),
        ] {
            writer.apply_watcher_event(&watcher::Event::Apply(obj));
        }
        let stores = Stores::default();
        stores.add_integrations(store);
        let mut seen = Vec::new();
        stores
            .for_each_condition(|row| {
                seen.push(format!(
                    "{}/{} {}={}",
                    row.namespace, row.name, row.condition, row.status
                ));
                Ok::<(), ()>(())
            })
            .unwrap();
        seen.sort();
        assert_eq!(
            seen,
            ["team-a/orders Ready=True", "team-b/orders Ready=False"]
        );
    }
}
