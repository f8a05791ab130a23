//! The finalizer: added before the first AWS change, removed once deletion is done. Both writes are merge
//! patches carrying the resourceVersion, so the API server refuses them if the list changed meanwhile; a
//! refused add is checked against the API server, because the refusal may only mean the cache is behind.

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::status::FIELD_MANAGER;
use crate::error::{Error, Result};

/// Adds `finalizer` unless the object already carries it. Returns the resourceVersion the add produced, if
/// it wrote.
pub async fn ensure<K>(api: &Api<K>, obj: &K, finalizer: &str) -> Result<Option<String>>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    if has(obj, finalizer) {
        return Ok(None);
    }
    let mut list = obj.finalizers().to_vec();
    list.push(finalizer.to_string());
    match set(api, obj, list).await {
        Ok(written) => Ok(Some(written.resource_version().unwrap_or_default())),
        // The cache can trail our own writes: a pass woken right after the one that added the finalizer may
        // still see the object without it. Ask the API server before calling that a failure.
        Err(Error::Kube(kube::Error::Api(s))) if s.code == 409 => {
            let fresh = api.get(&obj.name_any()).await?;
            if has(&fresh, finalizer) {
                Ok(None)
            } else {
                Err(Error::Kube(kube::Error::Api(s)))
            }
        }
        Err(e) => Err(e),
    }
}

/// Removes `finalizer`. An object already gone counts as released.
pub async fn release<K>(api: &Api<K>, obj: &K, finalizer: &str) -> Result<()>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    if !has(obj, finalizer) {
        return Ok(());
    }
    let list = obj
        .finalizers()
        .iter()
        .filter(|f| *f != finalizer)
        .cloned()
        .collect();
    match set(api, obj, list).await {
        Err(Error::Kube(kube::Error::Api(s))) if s.code == 404 => Ok(()),
        other => other.map(|_| ()),
    }
}

pub fn has<K: Resource>(obj: &K, finalizer: &str) -> bool {
    obj.meta()
        .finalizers
        .as_ref()
        .is_some_and(|l| l.iter().any(|f| f == finalizer))
}

async fn set<K>(api: &Api<K>, obj: &K, list: Vec<String>) -> Result<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let patch =
        json!({"metadata": {"finalizers": list, "resourceVersion": obj.resource_version()}});
    api.patch(
        &obj.name_any(),
        &PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        },
        &Patch::Merge(&patch),
    )
    .await
    .map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::fake_api::{path_of, FakeApi};
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::ObjectMeta;

    const FINALIZER: &str = "zeroetl.dev/test";

    /// Stores a ConfigMap (any namespaced object will do) and returns it as the API server holds it.
    fn stored(fake: &FakeApi, namespace: &str) -> ConfigMap {
        let path = path_of("v1", "configmaps", namespace, "orders");
        fake.put(
            &path,
            &ConfigMap {
                metadata: ObjectMeta {
                    name: Some("orders".into()),
                    namespace: Some(namespace.into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        );
        fake.get(&path).expect("just stored")
    }

    #[tokio::test]
    async fn a_cache_behind_our_own_add_is_no_failure_but_a_real_conflict_still_is() {
        let fake = FakeApi::default();
        let client = fake.client();
        // Team A: the finalizer was added by an earlier pass; this pass still holds the copy from before.
        let team_a: Api<ConfigMap> = Api::namespaced(client.clone(), "team-a");
        let stale_a = stored(&fake, "team-a");
        assert!(ensure(&team_a, &stale_a, FINALIZER)
            .await
            .unwrap()
            .is_some());
        assert!(
            ensure(&team_a, &stale_a, FINALIZER)
                .await
                .unwrap()
                .is_none(),
            "the API server already has it: nothing to write and nothing failed"
        );
        // Team B: someone else changed the object and it has no finalizer: the conflict stands (retried).
        let team_b: Api<ConfigMap> = Api::namespaced(client, "team-b");
        let stale_b = stored(&fake, "team-b");
        let path_b = path_of("v1", "configmaps", "team-b", "orders");
        let mut edited = stale_b.clone();
        edited.metadata.labels = Some([("edited".to_string(), "yes".to_string())].into());
        fake.put(&path_b, &edited);
        match ensure(&team_b, &stale_b, FINALIZER).await {
            Err(Error::Kube(kube::Error::Api(s))) => assert_eq!(s.code, 409),
            other => panic!("a conflict with someone else's change should stand: {other:?}"),
        }
        let fresh_b: ConfigMap = fake.get(&path_b).unwrap();
        assert!(!has(&fresh_b, FINALIZER));
    }
}
