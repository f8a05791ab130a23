//! Status writes: server-side apply with one fixed field manager, skipped when nothing changed (a steady
//! state costs no API writes).

use kube::api::{Api, Patch, PatchParams};
use kube::Resource;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;

use crate::error::Result;

/// The field manager for every write the operator makes.
pub const FIELD_MANAGER: &str = "zeroetl-operator";

/// Applies `new` as the object's status unless it equals `current`. Returns whether a write happened.
pub async fn apply<K, S>(api: &Api<K>, name: &str, current: Option<&S>, new: &S) -> Result<bool>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize + PartialEq,
{
    if current == Some(new) {
        return Ok(false);
    }
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": new,
    });
    api.patch_status(
        name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&patch),
    )
    .await?;
    Ok(true)
}
