//! The one Secret → AWS identity resolver, for every object that names an identity (a RedshiftConnection's
//! `spec.auth`, and through it an integration's target side).
//!
//! Decided behaviour: Secrets are read from the object's own namespace only (the spec names a Secret, never a
//! namespace). A Secret that does not exist (yet) is a *waiting* condition (reason `SecretNotFound`, looked at
//! again after [`timing::SECRET_RECHECK`]), not an error loop: creating it is enough. A Secret that exists but
//! lacks a non-empty key is *terminal* (`InvalidAccessKeySecret`): someone must fix it. Messages name the
//! Secret and the key, never a value.

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use zeroetl_api::connection::ConnectionAuth;

use crate::aws::{session_name, Identity};
use crate::error::{Error, Result};
use crate::timing;

pub const SECRET_NOT_FOUND: &str = "SecretNotFound";
pub const INVALID_ACCESS_KEY_SECRET: &str = "InvalidAccessKeySecret";

const DEFAULT_ACCESS_KEY_ID_KEY: &str = "AWS_ACCESS_KEY_ID";
const DEFAULT_SECRET_ACCESS_KEY_KEY: &str = "AWS_SECRET_ACCESS_KEY";

/// The identity `auth` asks for, declared by the object `namespace/name` (an assumed role's session is named
/// after it). No auth (or one with neither a role nor keys): the operator's own identity.
pub async fn resolve(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    auth: Option<&ConnectionAuth>,
) -> Result<Identity> {
    let Some(auth) = auth else {
        return Ok(Identity::Default);
    };
    if let Some(role) = &auth.assume_role {
        return Ok(Identity::AssumeRole {
            role_arn: role.role_arn.clone(),
            external_id: role.external_id.clone(),
            session_name: session_name(namespace, name),
        });
    }
    let Some(reference) = &auth.access_key_secret_ref else {
        return Ok(Identity::Default);
    };
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let Some(secret) = api.get_opt(&reference.name).await? else {
        return Err(Error::waiting(
            SECRET_NOT_FOUND,
            format!(
                "Secret {} not found in namespace {namespace} (spec.auth.accessKeySecretRef is read from the object's own namespace only)",
                reference.name
            ),
            timing::SECRET_RECHECK,
        ));
    };
    let value = |key: &str| -> Result<String> {
        secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .and_then(|b| String::from_utf8(b.0.clone()).ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                Error::terminal(
                    INVALID_ACCESS_KEY_SECRET,
                    format!("Secret {} has no non-empty key {key}", reference.name),
                )
            })
    };
    Ok(Identity::AccessKey {
        access_key_id: value(
            reference
                .access_key_id_key
                .as_deref()
                .unwrap_or(DEFAULT_ACCESS_KEY_ID_KEY),
        )?,
        secret_access_key: value(
            reference
                .secret_access_key_key
                .as_deref()
                .unwrap_or(DEFAULT_SECRET_ACCESS_KEY_KEY),
        )?,
    })
}
