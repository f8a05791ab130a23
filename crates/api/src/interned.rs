//! Text that thousands of cached objects repeat word for word (condition types, statuses, reasons and most
//! messages), kept once. A fleet's watch cache holds every object's eight or so conditions; as plain strings
//! those were about a third of the operator's heap at 5,000 integrations (docs/benchmarks.md).

use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, LazyLock, Mutex, PoisonError};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An immutable string shared by every holder of the same text. Compares, hashes and serializes as its text.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interned(Arc<str>);

/// Every distinct text in use. Entries no one else holds are dropped when the pool has doubled since the last
/// sweep, so the pool stays within twice the live texts, however many objects come and go.
struct Pool {
    texts: HashSet<Arc<str>>,
    sweep_at: usize,
}

const FIRST_SWEEP_AT: usize = 1024;

static POOL: LazyLock<Mutex<Pool>> = LazyLock::new(|| {
    Mutex::new(Pool {
        texts: HashSet::new(),
        sweep_at: FIRST_SWEEP_AT,
    })
});

impl Interned {
    pub fn new(text: &str) -> Interned {
        // A panic elsewhere cannot leave the set half-updated in a way that matters: it only caches texts.
        let mut pool = POOL.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(shared) = pool.texts.get(text) {
            return Interned(shared.clone());
        }
        if pool.texts.len() >= pool.sweep_at {
            pool.texts.retain(|t| Arc::strong_count(t) > 1);
            pool.sweep_at = (pool.texts.len() * 2).max(FIRST_SWEEP_AT);
        }
        let shared: Arc<str> = Arc::from(text);
        pool.texts.insert(shared.clone());
        Interned(shared)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Deref for Interned {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl Default for Interned {
    fn default() -> Interned {
        Interned::new("")
    }
}

impl From<&str> for Interned {
    fn from(text: &str) -> Interned {
        Interned::new(text)
    }
}

impl From<String> for Interned {
    fn from(text: String) -> Interned {
        Interned::new(&text)
    }
}

impl From<Interned> for String {
    fn from(text: Interned) -> String {
        text.as_str().to_string()
    }
}

impl PartialEq<&str> for Interned {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl fmt::Debug for Interned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Interned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&*self.0, f)
    }
}

impl Serialize for Interned {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

// In a schema, interned text is a plain string.
impl schemars::JsonSchema for Interned {
    fn inline_schema() -> bool {
        String::inline_schema()
    }

    fn schema_name() -> std::borrow::Cow<'static, str> {
        String::schema_name()
    }

    fn schema_id() -> std::borrow::Cow<'static, str> {
        String::schema_id()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }
}

impl<'de> Deserialize<'de> for Interned {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Interned, D::Error> {
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = Interned;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Interned, E> {
                Ok(Interned::new(text))
            }
        }
        deserializer.deserialize_str(Text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_texts_share_one_allocation() {
        let a = Interned::new("interned-equal-texts-share");
        let b: Interned = serde_json::from_str("\"interned-equal-texts-share\"").unwrap();
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert_eq!(a, "interned-equal-texts-share");
        assert_eq!(
            serde_json::to_string(&b).unwrap(),
            "\"interned-equal-texts-share\""
        );
    }

    #[test]
    fn texts_no_one_holds_are_swept_once_the_pool_doubles() {
        // Other tests intern concurrently, so only this test's own texts are counted.
        let held: Vec<Interned> = (0..10)
            .map(|i| Interned::new(&format!("sweep-held-{i}")))
            .collect();
        for i in 0..4 * FIRST_SWEEP_AT {
            drop(Interned::new(&format!("sweep-dropped-{i}")));
        }
        let pool = POOL.lock().unwrap();
        let dropped_left = pool
            .texts
            .iter()
            .filter(|t| t.starts_with("sweep-dropped-"))
            .count();
        assert!(
            dropped_left <= 2 * FIRST_SWEEP_AT,
            "{dropped_left} texts nobody holds are still pooled"
        );
        assert!(held.iter().all(|h| pool.texts.contains(h.as_str())));
    }
}
