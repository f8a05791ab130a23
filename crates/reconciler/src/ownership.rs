//! Who owns an AWS resource. Everything the operator creates carries owner tags naming the object that
//! created it (cluster, kind, namespace, name, uid); a resource found in AWS is this object's only when its
//! tags say so, or when the user asked for adoption with the [`ADOPT_ANNOTATION`].
//!
//! Decided: a resource tagged with this object's cluster, kind, namespace and name but another uid is ours
//! too — the object was deleted without its finalizer running, or restored from a backup (which gives it a
//! new uid). Adopting it re-tags it with the new uid.

use std::collections::BTreeMap;

use kube::{Resource, ResourceExt};

use crate::aws::TagLookup;

/// Annotation with which a user asks the operator to take over an existing resource it did not create.
pub const ADOPT_ANNOTATION: &str = "zeroetl.dev/adopt";

/// The tag keys the operator owns. A user's `spec.tags` may not use the prefix.
pub const TAG_PREFIX: &str = "zeroetl.dev/";
pub const CLUSTER_TAG: &str = "zeroetl.dev/cluster";
pub const KIND_TAG: &str = "zeroetl.dev/kind";
pub const NAMESPACE_TAG: &str = "zeroetl.dev/namespace";
pub const NAME_TAG: &str = "zeroetl.dev/name";
pub const UID_TAG: &str = "zeroetl.dev/uid";
/// Every owner tag key, as [`Owner::tags`] writes them.
pub const OWNER_TAG_KEYS: [&str; 5] = [CLUSTER_TAG, KIND_TAG, NAMESPACE_TAG, NAME_TAG, UID_TAG];

/// The object that owns (or would own) an AWS resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Owner {
    pub cluster: String,
    pub kind: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
}

/// How a found resource relates to an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// Tagged for this very object.
    Ours,
    /// Tagged for this cluster/kind/namespace/name with another uid (deleted and recreated, or restored).
    OursUnderAnotherUid,
    /// Tagged for another object; the description names it.
    Foreign(Owner),
    /// Not tagged by any zeroetl-operator: made by hand, by Terraform, by the console.
    Untagged,
}

impl Owner {
    pub fn of<K: Resource<DynamicType = ()>>(obj: &K, cluster: &str) -> Owner {
        Owner {
            cluster: cluster.to_string(),
            kind: K::kind(&()).to_string(),
            namespace: obj.namespace().unwrap_or_default(),
            name: obj.name_any(),
            uid: obj.uid().unwrap_or_default(),
        }
    }

    /// The tags that mark a resource as this object's.
    pub fn tags(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (CLUSTER_TAG.to_string(), self.cluster.clone()),
            (KIND_TAG.to_string(), self.kind.clone()),
            (NAMESPACE_TAG.to_string(), self.namespace.clone()),
            (NAME_TAG.to_string(), self.name.clone()),
            (UID_TAG.to_string(), self.uid.clone()),
        ])
    }

    /// Reads the owner a resource's tags name, if any.
    pub fn from_tags(tags: &(impl TagLookup + ?Sized)) -> Option<Owner> {
        let get = |k: &str| tags.tag(k).unwrap_or_default().to_string();
        tags.tag(UID_TAG).is_some().then(|| Owner {
            cluster: get(CLUSTER_TAG),
            kind: get(KIND_TAG),
            namespace: get(NAMESPACE_TAG),
            name: get(NAME_TAG),
            uid: get(UID_TAG),
        })
    }

    /// How a resource with `tags` relates to this object.
    pub fn ownership(&self, tags: &(impl TagLookup + ?Sized)) -> Ownership {
        match Owner::from_tags(tags) {
            None => Ownership::Untagged,
            Some(o) if o == *self => Ownership::Ours,
            Some(o)
                if (&o.cluster, &o.kind, &o.namespace, &o.name)
                    == (&self.cluster, &self.kind, &self.namespace, &self.name) =>
            {
                Ownership::OursUnderAnotherUid
            }
            Some(o) => Ownership::Foreign(o),
        }
    }

    /// `namespace/name` in cluster `c` (kind), for messages.
    pub fn describe(&self) -> String {
        format!(
            "{} {}/{} (uid {}) in cluster {}",
            self.kind, self.namespace, self.name, self.uid, self.cluster
        )
    }
}

/// Whether the object carries the adopt annotation.
pub fn adoption_requested<K: Resource>(obj: &K) -> bool {
    obj.meta()
        .annotations
        .as_ref()
        .and_then(|a| a.get(ADOPT_ANNOTATION))
        .is_some_and(|v| v == "true")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owner(namespace: &str, uid: &str) -> Owner {
        Owner {
            cluster: "c1".into(),
            kind: "ZeroEtlIntegration".into(),
            namespace: namespace.into(),
            name: "orders".into(),
            uid: uid.into(),
        }
    }

    #[test]
    fn the_owner_keys_list_is_what_an_owner_writes() {
        let written: Vec<String> = owner("team-a", "u1").tags().into_keys().collect();
        let mut listed = OWNER_TAG_KEYS.to_vec();
        listed.sort();
        assert_eq!(written, listed);
    }

    #[test]
    fn tags_say_whose_a_resource_is() {
        let mine = owner("team-a", "u1");
        assert_eq!(mine.ownership(&mine.tags()), Ownership::Ours);
        assert_eq!(
            mine.ownership(&owner("team-a", "u0").tags()),
            Ownership::OursUnderAnotherUid
        );
        let theirs = owner("team-b", "u2");
        assert_eq!(mine.ownership(&theirs.tags()), Ownership::Foreign(theirs));
        assert_eq!(
            mine.ownership(&BTreeMap::from([("team".into(), "x".into())])),
            Ownership::Untagged
        );
        let other_cluster = Owner {
            cluster: "c2".into(),
            ..owner("team-a", "u0")
        };
        assert!(matches!(
            mine.ownership(&other_cluster.tags()),
            Ownership::Foreign(_)
        ));
    }
}
