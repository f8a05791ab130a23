//! Whose AWS identity a call runs as. Built from a spec by [`crate::k8s::identity`]; secret material never
//! leaves this value (hand-written `Debug`, hashed cache key).

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

/// Whose AWS identity a call runs as.
#[derive(Clone, PartialEq, Eq)]
pub enum Identity {
    /// The operator's own identity (IRSA, EKS Pod Identity, environment, instance profile).
    Default,
    /// A role assumed from the operator's identity, typically in another account.
    AssumeRole {
        role_arn: String,
        external_id: Option<String>,
    },
    /// An access key pair read from a Secret in the object's namespace.
    AccessKey {
        access_key_id: String,
        secret_access_key: String,
    },
}

// Hand-written so that a secret never reaches a log line through `{:?}`.
impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Identity::Default => f.write_str("Default"),
            Identity::AssumeRole { role_arn, .. } => write!(f, "AssumeRole({role_arn})"),
            Identity::AccessKey { access_key_id, .. } => write!(f, "AccessKey({access_key_id})"),
        }
    }
}

impl Identity {
    /// A cache key that changes when any part of the identity changes (a rotated key gets new clients)
    /// without holding the secret itself in the key.
    pub(super) fn cache_key(&self) -> String {
        let mut h = DefaultHasher::new();
        match self {
            Identity::Default => return "default".into(),
            Identity::AssumeRole {
                role_arn,
                external_id,
            } => (role_arn, external_id).hash(&mut h),
            Identity::AccessKey {
                access_key_id,
                secret_access_key,
            } => (access_key_id, secret_access_key).hash(&mut h),
        }
        format!("{:?}#{:x}", self, h.finish())
    }
}
