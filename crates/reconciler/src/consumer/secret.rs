//! The two Secrets a consumer owns (controller owner reference, so the garbage collector deletes them with
//! it): the coordinates Secret (never a password) and, for a Password user, the password Secret. Both carry
//! the managed-by label the controllers watch, so an edited or deleted Secret is put back. A Secret of that
//! name that this object does not own is never touched.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::ByteString;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Resource, ResourceExt};
use zeroetl_api::RedshiftConsumer;

use super::password::Password;
use crate::error::Error;
use crate::k8s::FIELD_MANAGER;

const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
const CONSUMER_LABEL: &str = "zeroetl.dev/consumer";
pub const SECRET_CONFLICT: &str = "SecretConflict";
/// The keys of the password Secret.
pub const USERNAME_KEY: &str = "username";
pub const PASSWORD_KEY: &str = "password";

fn api(client: &kube::Client, obj: &RedshiftConsumer) -> Api<Secret> {
    Api::namespaced(client.clone(), &obj.namespace().unwrap_or_default())
}

fn owned_by(secret: &Secret, obj: &RedshiftConsumer) -> bool {
    let uid = obj.metadata.uid.as_deref();
    secret
        .owner_references()
        .iter()
        .any(|r| Some(r.uid.as_str()) == uid && r.controller == Some(true))
}

fn labels(obj: &RedshiftConsumer) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([(MANAGED_BY_LABEL.to_string(), FIELD_MANAGER.to_string())]);
    let name = obj.name_any();
    // Label values are limited to 63 characters; object names may be longer.
    if name.len() <= 63 {
        labels.insert(CONSUMER_LABEL.to_string(), name);
    }
    labels
}

fn params() -> PostParams {
    PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    }
}

/// Creates or replaces the Secret `name` so that it holds exactly `data` (written only when it differs).
pub async fn publish(
    client: &kube::Client,
    obj: &RedshiftConsumer,
    name: &str,
    data: &BTreeMap<String, String>,
) -> Result<(), Error> {
    let api = api(client, obj);
    let owner = obj
        .controller_owner_ref(&())
        .ok_or_else(|| Error::terminal("NoUid", "the consumer has no uid yet"))?;
    let wanted: BTreeMap<String, ByteString> = data
        .iter()
        .map(|(k, v)| (k.clone(), ByteString(v.as_bytes().to_vec())))
        .collect();
    match api.get_opt(name).await? {
        None => {
            let secret = Secret {
                metadata: kube::api::ObjectMeta {
                    name: Some(name.to_string()),
                    namespace: obj.namespace(),
                    labels: Some(labels(obj)),
                    owner_references: Some(vec![owner]),
                    ..Default::default()
                },
                type_: Some("Opaque".into()),
                data: Some(wanted),
                ..Default::default()
            };
            api.create(&params(), &secret).await?;
            tracing::info!(secret = name, "published consumer secret");
            Ok(())
        }
        Some(existing) if !owned_by(&existing, obj) => Err(Error::terminal(
            SECRET_CONFLICT,
            format!("Secret {name} already exists and is not owned by this RedshiftConsumer; delete it or choose another name"),
        )),
        Some(existing)
            if existing.data.as_ref() == Some(&wanted)
                && existing.type_.as_deref() == Some("Opaque") =>
        {
            Ok(())
        }
        Some(mut existing) => {
            existing.data = Some(wanted);
            existing.string_data = None;
            existing.type_ = Some("Opaque".into());
            existing.labels_mut().extend(labels(obj));
            api.replace(name, &params(), &existing).await?;
            tracing::info!(secret = name, "updated consumer secret");
            Ok(())
        }
    }
}

/// Writes a password Secret: `username` and `password`.
pub async fn write_password(
    client: &kube::Client,
    obj: &RedshiftConsumer,
    name: &str,
    user: &str,
    password: &Password,
) -> Result<(), Error> {
    let data = BTreeMap::from([
        (USERNAME_KEY.to_string(), user.to_string()),
        (PASSWORD_KEY.to_string(), password.expose().to_string()),
    ]);
    publish(client, obj, name, &data).await
}

/// The password in this object's password Secret; `None` when there is none (or it is not ours).
pub async fn read_password(
    client: &kube::Client,
    obj: &RedshiftConsumer,
) -> Result<Option<Password>, Error> {
    let Some(secret) = api(client, obj)
        .get_opt(&obj.password_secret_name())
        .await?
    else {
        return Ok(None);
    };
    if !owned_by(&secret, obj) {
        return Ok(None);
    }
    Ok(secret
        .data
        .as_ref()
        .and_then(|d| d.get(PASSWORD_KEY))
        .and_then(|b| String::from_utf8(b.0.clone()).ok())
        .map(Password::from_secret))
}

/// Whether this object's Secret `name` exists.
pub async fn exists(
    client: &kube::Client,
    obj: &RedshiftConsumer,
    name: &str,
) -> Result<bool, Error> {
    Ok(api(client, obj)
        .get_opt(name)
        .await?
        .is_some_and(|s| owned_by(&s, obj)))
}

/// Deletes this object's Secret `name`, if it is there and ours.
pub async fn delete_owned(
    client: &kube::Client,
    obj: &RedshiftConsumer,
    name: &str,
) -> Result<(), Error> {
    if !exists(client, obj, name).await? {
        return Ok(());
    }
    match api(client, obj)
        .delete(name, &DeleteParams::default())
        .await
    {
        Ok(_) => {
            tracing::info!(secret = name, "deleted the password secret");
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}
