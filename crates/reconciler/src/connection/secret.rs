//! The published connection Secret: coordinates only, owned by the connection (controller=true), so the
//! garbage collector deletes it with the connection. Written only when its content differs.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::ByteString;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use zeroetl_api::RedshiftConnection;

use super::reasons;
use crate::error::Error;

const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
const MANAGED_BY: &str = crate::k8s::FIELD_MANAGER;
/// Selects the Secrets this module publishes; the controller watches only these.
pub const MANAGED_BY_SELECTOR: &str = "app.kubernetes.io/managed-by=zeroetl-operator";
const CONNECTION_LABEL: &str = "zeroetl.dev/connection";

fn owner_reference(obj: &RedshiftConnection) -> Option<OwnerReference> {
    obj.controller_owner_ref(&())
}

fn owned_by(owners: &[OwnerReference], obj: &RedshiftConnection) -> bool {
    let uid = obj.metadata.uid.as_deref();
    owners
        .iter()
        .any(|r| Some(r.uid.as_str()) == uid && r.controller == Some(true))
}

fn labels(obj: &RedshiftConnection) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([(MANAGED_BY_LABEL.to_string(), MANAGED_BY.to_string())]);
    let name = obj.name_any();
    // Label values are limited to 63 characters; object names may be longer.
    if name.len() <= 63 {
        labels.insert(CONNECTION_LABEL.to_string(), name);
    }
    labels
}

fn encode(data: &BTreeMap<String, String>) -> BTreeMap<String, ByteString> {
    data.iter()
        .map(|(k, v)| (k.clone(), ByteString(v.as_bytes().to_vec())))
        .collect()
}

/// Creates or updates the Secret `name` to hold exactly `data`. A Secret of that name that this connection
/// does not own is left alone and reported (`SecretConflict`).
pub async fn publish(
    client: &kube::Client,
    obj: &RedshiftConnection,
    name: &str,
    data: &BTreeMap<String, String>,
) -> Result<(), Error> {
    let ns = obj.namespace().unwrap_or_default();
    let api: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let Some(owner) = owner_reference(obj) else {
        return Err(Error::terminal("NoUid", "the connection has no uid yet"));
    };
    let wanted = encode(data);
    match api.get_opt(name).await? {
        None => {
            let secret = Secret {
                metadata: kube::api::ObjectMeta {
                    name: Some(name.to_string()),
                    namespace: Some(ns),
                    labels: Some(labels(obj)),
                    owner_references: Some(vec![owner]),
                    ..Default::default()
                },
                type_: Some("Opaque".into()),
                data: Some(wanted),
                ..Default::default()
            };
            api.create(&PostParams { field_manager: Some(MANAGED_BY.into()), ..Default::default() }, &secret).await?;
            tracing::info!(secret = name, "published connection secret");
            Ok(())
        }
        Some(existing) if !owned_by(existing.owner_references(), obj) => Err(Error::terminal(
            reasons::SECRET_CONFLICT,
            format!("Secret {name} already exists and is not owned by this RedshiftConnection; delete it or choose another spec.connectionSecret.name"),
        )),
        Some(existing) if existing.data.as_ref() == Some(&wanted) && existing.type_.as_deref() == Some("Opaque") => Ok(()),
        Some(mut existing) => {
            // A full replace (guarded by resourceVersion) so that keys someone else added are removed too: the
            // Secret holds exactly the published coordinates.
            existing.data = Some(wanted);
            existing.string_data = None;
            existing.type_ = Some("Opaque".into());
            existing.labels_mut().extend(labels(obj));
            api.replace(name, &PostParams { field_manager: Some(MANAGED_BY.into()), ..Default::default() }, &existing).await?;
            tracing::info!(secret = name, "updated connection secret");
            Ok(())
        }
    }
}

/// Deletes Secrets this connection published under a name it no longer uses (a renamed or removed
/// spec.connectionSecret). Only this connection's Secrets are listed, as metadata. Failures are logged and
/// retried on the next verification.
pub async fn remove_stale(client: &kube::Client, obj: &RedshiftConnection, current: Option<&str>) {
    let api: Api<Secret> = Api::namespaced(client.clone(), &obj.namespace().unwrap_or_default());
    let listed = match api
        .list_metadata(&ListParams::default().labels(&selector(obj)))
        .await
    {
        Ok(list) => list,
        Err(e) => {
            tracing::warn!(error = %e, "could not list published secrets");
            return;
        }
    };
    for s in listed
        .items
        .iter()
        .filter(|s| owned_by(s.owner_references(), obj) && Some(s.name_any().as_str()) != current)
    {
        match api.delete(&s.name_any(), &DeleteParams::default()).await {
            Ok(_) => {
                tracing::info!(secret = %s.name_any(), "deleted a connection secret no longer in the spec")
            }
            Err(e) => {
                tracing::warn!(secret = %s.name_any(), error = %e, "could not delete a stale connection secret")
            }
        }
    }
}

/// The label selector of the Secrets `obj` publishes (all managed ones when its name is too long to be a
/// label value; ownership is checked on each anyway).
fn selector(obj: &RedshiftConnection) -> String {
    labels(obj)
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watch_selector_matches_the_label_published_secrets_carry() {
        assert_eq!(
            MANAGED_BY_SELECTOR,
            format!("{MANAGED_BY_LABEL}={MANAGED_BY}")
        );
    }

    #[test]
    fn stale_secrets_are_looked_for_among_this_connections_only() {
        let mut obj = RedshiftConnection::new(
            "analytics",
            serde_json::from_value(serde_json::json!({
                "serverless": {"workgroupName": "analytics-wg"}, "database": "dev",
                "connectionSecret": {"name": "analytics-connection"}
            }))
            .unwrap(),
        );
        assert_eq!(
            selector(&obj),
            format!("{MANAGED_BY_SELECTOR},{CONNECTION_LABEL}=analytics")
        );
        obj.metadata.name = Some("a".repeat(64));
        assert_eq!(selector(&obj), MANAGED_BY_SELECTOR, "too long for a label");
    }
}
