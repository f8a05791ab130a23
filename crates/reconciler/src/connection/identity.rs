//! Which AWS identity a connection uses. Access keys are read from a Secret in the connection's own
//! namespace only (the spec names a Secret, never a namespace), and never leave the `Identity` value.

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};
use zeroetl_api::RedshiftConnection;

use super::plan::{reasons, Step};
use crate::aws::Identity;
use crate::error::Error;

const DEFAULT_ACCESS_KEY_ID_KEY: &str = "AWS_ACCESS_KEY_ID";
const DEFAULT_SECRET_ACCESS_KEY_KEY: &str = "AWS_SECRET_ACCESS_KEY";

/// The identity the spec asks for; a Step (Authenticated=False) when it cannot be built.
pub async fn resolve(client: &kube::Client, obj: &RedshiftConnection) -> Result<Identity, Step> {
    let auth = &obj.spec.auth;
    if let Some(role) = &auth.assume_role {
        return Ok(Identity::AssumeRole {
            role_arn: role.role_arn.clone(),
            external_id: role.external_id.clone(),
        });
    }
    let Some(reference) = &auth.access_key_secret_ref else {
        return Ok(Identity::Default);
    };
    let ns = obj.namespace().unwrap_or_default();
    let api: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let secret = match api.get_opt(&reference.name).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return Err(Step::failed(
                reasons::SECRET_NOT_FOUND,
                format!(
                    "Secret {} not found in namespace {ns} (spec.auth.accessKeySecretRef is read from the connection's own namespace only)",
                    reference.name
                ),
            ))
        }
        Err(e) => return Err(Step::from_error(&Error::Kube(e))),
    };
    let id_key = reference
        .access_key_id_key
        .as_deref()
        .unwrap_or(DEFAULT_ACCESS_KEY_ID_KEY);
    let secret_key = reference
        .secret_access_key_key
        .as_deref()
        .unwrap_or(DEFAULT_SECRET_ACCESS_KEY_KEY);
    let value = |key: &str| -> Result<String, Step> {
        let bytes = secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .map(|b| b.0.clone());
        let text = bytes
            .and_then(|b| String::from_utf8(b).ok())
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty());
        // Names the key, never its value.
        text.ok_or_else(|| {
            Step::failed(
                reasons::INVALID_ACCESS_KEY_SECRET,
                format!("Secret {} has no non-empty key {key}", reference.name),
            )
        })
    };
    Ok(Identity::AccessKey {
        access_key_id: value(id_key)?,
        secret_access_key: value(secret_key)?,
    })
}
