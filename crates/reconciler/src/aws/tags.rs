//! AWS tags as the integration snapshot keeps them. A fleet's snapshot holds every integration of an
//! account, each with the operator's five owner tags, so the shape matters: sorted pairs in one exact-size
//! allocation (a `BTreeMap` node reserves room for eleven) and the operator's own keys not copied per
//! resource.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use crate::ownership::OWNER_TAG_KEYS;

/// Read access to a resource's tags, however they are held.
pub trait TagLookup {
    fn tag(&self, key: &str) -> Option<&str>;
}

impl TagLookup for BTreeMap<String, String> {
    fn tag(&self, key: &str) -> Option<&str> {
        self.get(key).map(String::as_str)
    }
}

/// A resource's tags: sorted by key, one value per key.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Tags(Box<[(Cow<'static, str>, Box<str>)]>);

/// The owner keys every resource the operator made carries are held as `'static`, not once per resource.
fn key(k: String) -> Cow<'static, str> {
    match OWNER_TAG_KEYS.iter().find(|known| **known == k) {
        Some(known) => Cow::Borrowed(known),
        None => Cow::Owned(k),
    }
}

impl Tags {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(k, _)| k.as_ref().cmp(key))
            .ok()
            .map(|i| &*self.0[i].1)
    }

    /// Pairs in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_ref(), &**v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.iter().map(|(k, _)| k)
    }
}

impl TagLookup for Tags {
    fn tag(&self, key: &str) -> Option<&str> {
        self.get(key)
    }
}

/// Later pairs win over earlier ones with the same key, as when collecting into a map.
impl FromIterator<(String, String)> for Tags {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Self {
        let mut pairs: Vec<(Cow<'static, str>, Box<str>)> = pairs
            .into_iter()
            .map(|(k, v)| (key(k), v.into_boxed_str()))
            .collect();
        // Stable, so equal keys stay in arrival order; the dedup keeps the last value in the first slot.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        pairs.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                std::mem::swap(&mut later.1, &mut kept.1);
            }
            same
        });
        Tags(pairs.into_boxed_slice())
    }
}

impl From<BTreeMap<String, String>> for Tags {
    fn from(map: BTreeMap<String, String>) -> Self {
        map.into_iter().collect()
    }
}

impl fmt::Debug for Tags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ownership::{NAMESPACE_TAG, NAME_TAG, UID_TAG};

    fn tags(pairs: &[(&str, &str)]) -> Tags {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn looks_up_keys_in_any_arrival_order() {
        let t = tags(&[("team", "data"), (UID_TAG, "u1"), ("env", "prod")]);
        assert_eq!(t.get("team"), Some("data"));
        assert_eq!(t.get(UID_TAG), Some("u1"));
        assert_eq!(t.get("env"), Some("prod"));
        assert_eq!(t.get("missing"), None);
        assert_eq!(t.keys().collect::<Vec<_>>(), ["env", "team", UID_TAG]);
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value_like_a_map() {
        let pairs = [("k", "1"), ("a", "x"), ("k", "2"), ("k", "3")];
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let t = tags(&pairs);
        assert_eq!(t.get("k"), Some("3"));
        assert_eq!(t, Tags::from(map));
        assert_eq!(t.iter().count(), 2);
    }

    #[test]
    fn owner_keys_are_not_copied_per_resource() {
        let t = tags(&[(NAME_TAG, "orders"), ("team", "data")]);
        let held = |key: &str| &t.0.iter().find(|(k, _)| k == key).unwrap().0;
        assert!(matches!(held(NAME_TAG), Cow::Borrowed(_)), "{t:?}");
        assert!(matches!(held("team"), Cow::Owned(_)), "{t:?}");
    }

    #[test]
    fn two_tenants_tags_compare_by_content() {
        let a = tags(&[(NAMESPACE_TAG, "team-a"), (UID_TAG, "u1")]);
        let b = tags(&[(UID_TAG, "u2"), (NAMESPACE_TAG, "team-b")]);
        assert_ne!(a, b);
        assert_eq!(a, tags(&[(UID_TAG, "u1"), (NAMESPACE_TAG, "team-a")]));
        assert_eq!(a.tag(NAMESPACE_TAG), Some("team-a"));
        assert_eq!(b.tag(NAMESPACE_TAG), Some("team-b"));
    }
}
