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
        /// Names the object that acts, so CloudTrail shows who did what (`zeroetl-<namespace>-<name>`).
        session_name: String,
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
            Identity::AssumeRole {
                role_arn,
                session_name,
                ..
            } => write!(f, "AssumeRole({role_arn} as {session_name})"),
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
                session_name,
            } => (role_arn, external_id, session_name).hash(&mut h),
            Identity::AccessKey {
                access_key_id,
                secret_access_key,
            } => (access_key_id, secret_access_key).hash(&mut h),
        }
        format!("{:?}#{:x}", self, h.finish())
    }
}

/// The AssumeRole session name for an object: `zeroetl-<namespace>-<name>`, in STS's alphabet
/// (`[\w+=,.@-]`) and at most 64 characters (cut, with a stable hash of the whole to keep it unique).
pub fn session_name(namespace: &str, name: &str) -> String {
    let whole = format!("zeroetl-{namespace}-{name}");
    let clean: String = whole
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_+=,.@-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    if clean.len() <= 64 {
        return clean;
    }
    let hash = whole.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{}-{:08x}", &clean[..55], hash as u32)
}

#[cfg(test)]
mod tests {
    use super::session_name;

    #[test]
    fn session_names_name_the_object_within_sts_limits() {
        assert_eq!(
            session_name("team-a", "analytics"),
            "zeroetl-team-a-analytics"
        );
        let long = session_name(&"n".repeat(63), &"x".repeat(253));
        assert_eq!(long.len(), 64);
        assert_ne!(long, session_name(&"n".repeat(63), &"y".repeat(253)));
        assert!(long
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)));
    }
}
