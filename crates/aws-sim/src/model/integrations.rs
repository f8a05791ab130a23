//! Zero-ETL integrations: the object, its replication health, and the integrations of one account and
//! region indexed by ARN (which also orders pagination), name, id and (source, target) pair, so that every
//! lookup the operator makes per object is O(1) or O(log n) however many integrations exist. All changes
//! to names go through [`Integrations::rename`] to keep the indexes true.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Tags;

#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct IntegrationError {
    pub error_code: String,
    pub error_message: String,
}

/// Dumped with every field twice: PascalCase (the RDS API's names, as the contract lists them) and
/// camelCase (like every other object in the dump), so either spelling reads the same value.
#[derive(Clone, Debug)]
pub struct Integration {
    pub integration_name: String,
    pub integration_arn: String,
    pub source_arn: String,
    pub target_arn: String,
    pub kms_key_id: String,
    pub additional_encryption_context: BTreeMap<String, String>,
    pub status: String,
    pub tags: Tags,
    pub data_filter: String,
    pub description: Option<String>,
    pub create_time: DateTime<Utc>,
    /// When it first became `active` (the due time of that transition); seeded active ones: at seeding.
    pub active_at: Option<DateTime<Utc>>,
    pub errors: Vec<IntegrationError>,
    pub due: Option<DateTime<Utc>>,
    /// What the target's SVV_INTEGRATION views report, as steered through the control plane.
    pub replication: Replication,
}

/// Replication health as the control plane sets it; unset values take their defaults.
#[derive(Clone, Debug, Default)]
pub struct Replication {
    /// Overrides the state SVV_INTEGRATION derives from the integration's status and binding.
    pub state: Option<String>,
    pub current_lag_ms: i64,
    /// Overrides the default (the number of tables seeded for the source).
    pub tables_replicated: Option<i64>,
    /// Per-table states, merged by (schema, table) over the source's seeded tables (`Synced`).
    pub tables: Vec<TableState>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableState {
    pub schema: String,
    pub table: String,
    pub state: String,
    pub reason: String,
}

impl Serialize for Integration {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        use serde_json::json;
        let tags: BTreeMap<&str, &str> = self
            .tags
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let errors: Vec<serde_json::Value> = self
            .errors
            .iter()
            .map(|e| {
                json!({"ErrorCode": e.error_code, "ErrorMessage": e.error_message,
                       "errorCode": e.error_code, "errorMessage": e.error_message})
            })
            .collect();
        let fields: [(&str, &str, serde_json::Value); 12] = [
            (
                "IntegrationName",
                "integrationName",
                json!(self.integration_name),
            ),
            (
                "IntegrationArn",
                "integrationArn",
                json!(self.integration_arn),
            ),
            ("SourceArn", "sourceArn", json!(self.source_arn)),
            ("TargetArn", "targetArn", json!(self.target_arn)),
            ("KMSKeyId", "kmsKeyId", json!(self.kms_key_id)),
            (
                "AdditionalEncryptionContext",
                "additionalEncryptionContext",
                json!(self.additional_encryption_context),
            ),
            ("Status", "status", json!(self.status)),
            ("Tags", "tags", json!(tags)),
            ("DataFilter", "dataFilter", json!(self.data_filter)),
            ("Description", "description", json!(self.description)),
            ("CreateTime", "createTime", json!(self.create_time)),
            ("Errors", "errors", json!(errors)),
        ];
        let mut m = s.serialize_map(Some(fields.len() * 2))?;
        for (pascal, camel, value) in &fields {
            m.serialize_entry(pascal, value)?;
            m.serialize_entry(camel, value)?;
        }
        m.end()
    }
}

impl Integration {
    pub fn id(&self) -> &str {
        self.integration_arn.rsplit(':').next().unwrap_or_default()
    }
}

#[derive(Clone, Debug, Default)]
pub struct Integrations {
    by_arn: BTreeMap<String, Integration>,
    arn_by_name: HashMap<String, String>,
    arn_by_id: HashMap<String, String>,
    /// Seeds may repeat a pair (CreateIntegration refuses to), so a pair maps to every ARN that has it.
    arns_by_pair: HashMap<(String, String), BTreeSet<String>>,
}

/// Dumped as `{arn: integration}`, as before the indexes existed.
impl Serialize for Integrations {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.by_arn.serialize(s)
    }
}

impl Integrations {
    pub fn len(&self) -> usize {
        self.by_arn.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_arn.is_empty()
    }

    pub fn insert(&mut self, i: Integration) {
        let arn = i.integration_arn.clone();
        if let Some(old) = self.remove(&arn) {
            tracing::debug!(arn = %old.integration_arn, "replacing an integration with the same ARN");
        }
        self.arn_by_name
            .insert(i.integration_name.clone(), arn.clone());
        self.arn_by_id.insert(i.id().to_string(), arn.clone());
        self.arns_by_pair
            .entry((i.source_arn.clone(), i.target_arn.clone()))
            .or_default()
            .insert(arn.clone());
        self.by_arn.insert(arn, i);
    }

    pub fn remove(&mut self, arn: &str) -> Option<Integration> {
        let i = self.by_arn.remove(arn)?;
        if self
            .arn_by_name
            .get(&i.integration_name)
            .map(String::as_str)
            == Some(arn)
        {
            self.arn_by_name.remove(&i.integration_name);
        }
        self.arn_by_id.remove(i.id());
        let pair = (i.source_arn.clone(), i.target_arn.clone());
        if let Some(arns) = self.arns_by_pair.get_mut(&pair) {
            arns.remove(arn);
            if arns.is_empty() {
                self.arns_by_pair.remove(&pair);
            }
        }
        Some(i)
    }

    pub fn rename(&mut self, arn: &str, new_name: &str) {
        let Some(i) = self.by_arn.get_mut(arn) else {
            return;
        };
        if self
            .arn_by_name
            .get(&i.integration_name)
            .map(String::as_str)
            == Some(arn)
        {
            self.arn_by_name.remove(&i.integration_name);
        }
        i.integration_name = new_name.to_string();
        self.arn_by_name
            .insert(new_name.to_string(), arn.to_string());
    }

    pub fn get(&self, arn: &str) -> Option<&Integration> {
        self.by_arn.get(arn)
    }

    /// For changes other than the name, source and target (those are indexed).
    pub fn get_mut(&mut self, arn: &str) -> Option<&mut Integration> {
        self.by_arn.get_mut(arn)
    }

    /// The ARN of the integration whose ARN, name or id is `key`.
    pub fn find_arn(&self, key: &str) -> Option<&str> {
        if let Some((arn, _)) = self.by_arn.get_key_value(key) {
            return Some(arn);
        }
        self.arn_by_name
            .get(key)
            .or_else(|| self.arn_by_id.get(key))
            .map(String::as_str)
    }

    pub fn find(&self, key: &str) -> Option<&Integration> {
        self.find_arn(key).and_then(|arn| self.by_arn.get(arn))
    }

    pub fn find_mut(&mut self, key: &str) -> Option<&mut Integration> {
        let arn = self.find_arn(key)?.to_string();
        self.by_arn.get_mut(&arn)
    }

    pub fn by_id(&self, id: &str) -> Option<&Integration> {
        self.arn_by_id.get(id).and_then(|arn| self.by_arn.get(arn))
    }

    pub fn by_pair(&self, source_arn: &str, target_arn: &str) -> Option<&Integration> {
        self.arns_by_pair
            .get(&(source_arn.to_string(), target_arn.to_string()))
            .and_then(|arns| arns.first())
            .and_then(|arn| self.by_arn.get(arn))
    }

    pub fn contains_name(&self, name: &str) -> bool {
        self.arn_by_name.contains_key(name)
    }

    pub fn values(&self) -> impl Iterator<Item = &Integration> {
        self.by_arn.values()
    }

    /// Integrations in ARN order strictly after `marker` (all of them without one): the start of a page
    /// costs O(log n).
    pub fn after<'a>(
        &'a self,
        marker: Option<&'a str>,
    ) -> impl Iterator<Item = (&'a String, &'a Integration)> + 'a {
        let start = match marker {
            Some(m) => Bound::Excluded(m),
            None => Bound::Unbounded,
        };
        self.by_arn.range::<str, _>((start, Bound::Unbounded))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn integration(name: &str, id: &str, source: &str) -> Integration {
        Integration {
            integration_name: name.into(),
            integration_arn: format!("arn:aws:rds:us-east-1:111111111111:integration:{id}"),
            source_arn: source.into(),
            target_arn: "target".into(),
            kms_key_id: String::new(),
            additional_encryption_context: BTreeMap::new(),
            status: "active".into(),
            tags: Vec::new(),
            data_filter: "include: *.*".into(),
            description: None,
            create_time: chrono::Utc::now(),
            active_at: None,
            errors: Vec::new(),
            due: None,
            replication: Default::default(),
        }
    }

    #[test]
    fn lookups_follow_renames_and_removals() {
        let mut all = Integrations::default();
        all.insert(integration("a", "id-a", "src-a"));
        all.insert(integration("b", "id-b", "src-b"));
        all.insert(integration("b2", "id-b2", "src-b"));
        let arn_a = "arn:aws:rds:us-east-1:111111111111:integration:id-a";
        assert_eq!(all.find_arn("a"), Some(arn_a));
        assert_eq!(all.find_arn("id-a"), Some(arn_a));
        assert_eq!(all.find_arn(arn_a), Some(arn_a));
        assert!(all.by_pair("src-b", "target").is_some());

        all.rename(arn_a, "renamed");
        assert_eq!(all.find_arn("a"), None);
        assert_eq!(all.find_arn("renamed"), Some(arn_a));
        assert!(all.contains_name("renamed") && !all.contains_name("a"));

        all.remove(arn_a);
        assert_eq!(all.find_arn("renamed"), None);
        assert_eq!(all.find_arn("id-a"), None);
        assert!(all.by_pair("src-a", "target").is_none());
        all.remove("arn:aws:rds:us-east-1:111111111111:integration:id-b2");
        assert!(
            all.by_pair("src-b", "target").is_some(),
            "a pair repeated by a seed stays indexed while one of its integrations remains"
        );
        assert_eq!(all.len(), 1);
        let after: Vec<_> = all.after(Some(arn_a)).map(|(k, _)| k.clone()).collect();
        assert_eq!(
            after,
            vec!["arn:aws:rds:us-east-1:111111111111:integration:id-b".to_string()]
        );
    }
}
