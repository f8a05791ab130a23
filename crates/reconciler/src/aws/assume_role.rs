//! Credentials of an assumed role: an explicit STS AssumeRole with the external id the role's trust policy
//! requires, cached until shortly before they expire and shared by every client built for that identity.

use std::sync::Arc;

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials};
use aws_credential_types::Credentials;
use tokio::sync::Mutex;

use super::error::{incomplete, sdk_error};
use crate::error::Result;
use crate::timing;

/// Credentials of an assumed role, fetched with an explicit STS AssumeRole (with the external id the role's
/// trust policy requires) and shared by every client built for that identity.
#[derive(Clone)]
pub(super) struct AssumedRole {
    inner: Arc<AssumedRoleInner>,
}

struct AssumedRoleInner {
    sts: aws_sdk_sts::Client,
    role_arn: String,
    external_id: Option<String>,
    session_name: String,
    cached: Mutex<Option<Credentials>>,
}

// Hand-written: the external id and the credentials stay out of `{:?}`.
impl std::fmt::Debug for AssumedRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AssumedRole({})", self.inner.role_arn)
    }
}

impl AssumedRole {
    pub(super) fn new(
        sts: aws_sdk_sts::Client,
        role_arn: String,
        external_id: Option<String>,
        session_name: String,
    ) -> AssumedRole {
        AssumedRole {
            inner: Arc::new(AssumedRoleInner {
                sts,
                role_arn,
                external_id,
                session_name,
                cached: Mutex::new(None),
            }),
        }
    }

    /// Cached credentials, or new ones from STS when there are none or they are about to expire.
    pub(super) async fn credentials(&self) -> Result<Credentials> {
        let mut cached = self.inner.cached.lock().await;
        if let Some(c) = cached.as_ref() {
            let fresh_until = c
                .expiry()
                .and_then(|e| e.checked_sub(timing::ASSUMED_ROLE_REFRESH_MARGIN));
            if fresh_until.is_some_and(|t| t > std::time::SystemTime::now()) {
                return Ok(c.clone());
            }
        }
        let out = self
            .inner
            .sts
            .assume_role()
            .role_arn(&self.inner.role_arn)
            .role_session_name(&self.inner.session_name)
            .set_external_id(self.inner.external_id.clone())
            .send()
            .await
            .map_err(|e| sdk_error("sts", "AssumeRole", e))?;
        let c = out
            .credentials()
            .ok_or_else(|| incomplete("sts", "AssumeRole", "credentials"))?;
        let expiry = std::time::SystemTime::try_from(*c.expiration()).ok();
        let creds = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            expiry,
            "zeroetl-assume-role",
        );
        *cached = Some(creds.clone());
        Ok(creds)
    }
}

impl ProvideCredentials for AssumedRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            self.credentials()
                .await
                .map_err(CredentialsError::provider_error)
        })
    }
}
