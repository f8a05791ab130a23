//! The one status writer. It replaces the whole status subresource (a JSON patch `add /status`) with one
//! fixed field manager, and skips the write when nothing changed, so a steady state costs no API writes.
//!
//! Why not server-side apply: on the Kubernetes 1.20 API servers we support, an apply that drops a nested
//! field this manager owned (e.g. `createdWith` when an integration is gone) leaves its sub-objects behind as
//! `null`, which the CRD schema then refuses, so the status could never shrink. The operator is the only
//! writer of status (only the Lease holder reconciles), so replacing it whole is exact and safe.

use kube::api::{Api, Patch, PatchParams};
use kube::Resource;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::json;
use zeroetl_api::conditions::Condition;

use crate::error::Result;

/// The field manager for every write the operator makes.
pub const FIELD_MANAGER: &str = "zeroetl-operator";

/// The parts of a status every kind has and the pipeline fills in.
pub trait ObjectStatus:
    Serialize + DeserializeOwned + Clone + PartialEq + Default + Send + Sync + 'static
{
    fn conditions(&self) -> &[Condition];
    fn set_conditions(&mut self, conditions: Vec<Condition>);
    fn set_observed_generation(&mut self, generation: Option<i64>);
}

impl ObjectStatus for zeroetl_api::ZeroEtlIntegrationStatus {
    fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
    fn set_conditions(&mut self, conditions: Vec<Condition>) {
        self.conditions = conditions;
    }
    fn set_observed_generation(&mut self, generation: Option<i64>) {
        self.observed_generation = generation;
    }
}

impl ObjectStatus for zeroetl_api::RedshiftConnectionStatus {
    fn conditions(&self) -> &[Condition] {
        &self.conditions
    }
    fn set_conditions(&mut self, conditions: Vec<Condition>) {
        self.conditions = conditions;
    }
    fn set_observed_generation(&mut self, generation: Option<i64>) {
        self.observed_generation = generation;
    }
}

/// Replaces the object's status with `next` unless it equals `current`. Returns whether a write happened.
pub async fn write<K, S>(api: &Api<K>, name: &str, current: Option<&S>, next: &S) -> Result<bool>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    S: ObjectStatus,
{
    if current == Some(next) {
        return Ok(false);
    }
    let patch: json_patch::Patch = serde_json::from_value(json!([
        {"op": "add", "path": "/status", "value": next}
    ]))?;
    api.patch_status(
        name,
        &PatchParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        },
        &Patch::<()>::Json(patch),
    )
    .await?;
    Ok(true)
}
