//! The finalizer: added before the first AWS change, removed once deletion is done. Both writes are merge
//! patches carrying the resourceVersion, so the API server refuses them if the list changed meanwhile.

use kube::api::{Api, Patch, PatchParams};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::status::FIELD_MANAGER;
use crate::error::{Error, Result};

/// Adds `finalizer` unless the object already carries it. Returns whether a write happened.
pub async fn ensure<K>(api: &Api<K>, obj: &K, finalizer: &str) -> Result<bool>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    if has(obj, finalizer) {
        return Ok(false);
    }
    let mut list = obj.finalizers().to_vec();
    list.push(finalizer.to_string());
    set(api, obj, list).await?;
    Ok(true)
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
        other => other,
    }
}

pub fn has<K: Resource>(obj: &K, finalizer: &str) -> bool {
    obj.meta()
        .finalizers
        .as_ref()
        .is_some_and(|l| l.iter().any(|f| f == finalizer))
}

async fn set<K>(api: &Api<K>, obj: &K, list: Vec<String>) -> Result<()>
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
    .await?;
    Ok(())
}
