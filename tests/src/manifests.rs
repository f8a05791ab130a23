//! YAML manifests applied through the dynamic API with server-side apply, whatever their kind.

use std::fs;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::discovery::{self, Scope};
use kube::Client;
use serde::Deserialize;

/// The field manager of everything the harness applies.
pub const FIELD_MANAGER: &str = "zeroetl-e2e";

/// Parses a multi-document YAML stream; empty documents (comments only) are skipped.
pub fn parse_manifests(text: &str) -> Result<Vec<DynamicObject>> {
    let mut objects = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value = serde_yaml::Value::deserialize(document).context("parse YAML document")?;
        if value.is_null() {
            continue;
        }
        let object: DynamicObject =
            serde_yaml::from_value(value).context("YAML document is not a Kubernetes object")?;
        if object.types.is_none() {
            bail!("a document has no apiVersion/kind");
        }
        objects.push(object);
    }
    Ok(objects)
}

/// Reads and parses a manifest file.
pub fn load_manifests(path: &Path) -> Result<Vec<DynamicObject>> {
    let text = fs::read_to_string(path).with_context(|| format!("read {}", path.display()))?;
    parse_manifests(&text).with_context(|| format!("parse {}", path.display()))
}

/// The `GroupVersionKind` of an object read from a manifest.
pub fn gvk_of(object: &DynamicObject) -> Result<GroupVersionKind> {
    let types = object
        .types
        .as_ref()
        .ok_or_else(|| anyhow!("object has no apiVersion/kind"))?;
    GroupVersionKind::try_from(types).map_err(|err| anyhow!("bad apiVersion/kind: {err}"))
}

/// Applies `object` (server-side apply, forced) and returns what the server stored. Namespaced objects go
/// to `namespace` when given, else to their own `metadata.namespace`, else to `default`.
/// An API-server rejection comes back as a `kube::Error::Api` inside the error (see [`rejection`]).
pub async fn apply(
    client: &Client,
    object: &DynamicObject,
    namespace: Option<&str>,
) -> Result<DynamicObject> {
    let gvk = gvk_of(object)?;
    let (resource, capabilities) = discovery::pinned_kind(client, &gvk)
        .await
        .with_context(|| format!("discover {}/{}", gvk.api_version(), gvk.kind))?;
    let name = object
        .metadata
        .name
        .clone()
        .ok_or_else(|| anyhow!("a {} has no metadata.name", gvk.kind))?;
    let mut object = object.clone();
    let api: Api<DynamicObject> = if capabilities.scope == Scope::Namespaced {
        let ns = namespace
            .map(str::to_owned)
            .or_else(|| object.metadata.namespace.clone())
            .unwrap_or_else(|| "default".to_owned());
        object.metadata.namespace = Some(ns.clone());
        Api::namespaced_with(client.clone(), &ns, &resource)
    } else {
        Api::all_with(client.clone(), &resource)
    };
    // Server-side apply refuses these fields in the body.
    object.metadata.resource_version = None;
    object.metadata.managed_fields = None;
    api.patch(
        &name,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&object),
    )
    .await
    .with_context(|| format!("apply {} {name}", gvk.kind))
}

/// Applies every object of a manifest file.
pub async fn apply_file(
    client: &Client,
    path: &Path,
    namespace: Option<&str>,
) -> Result<Vec<DynamicObject>> {
    let mut applied = Vec::new();
    for object in load_manifests(path)? {
        applied.push(apply(client, &object, namespace).await?);
    }
    Ok(applied)
}

/// The API server's refusal inside an `apply` error, as one line of text with the reported field paths.
pub fn rejection(error: &anyhow::Error) -> Option<String> {
    let kube::Error::Api(status) = error.downcast_ref::<kube::Error>()? else {
        return None;
    };
    let mut text = status.message.clone();
    if let Some(details) = &status.details {
        for cause in &details.causes {
            text.push_str(&format!("; {}: {}", cause.field, cause.message));
        }
    }
    Some(text)
}

/// An `Api` for the resource of `gvk` with a known plural, without discovery.
pub fn resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}
