//! The call log and per-action counters.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CallRecord {
    pub seq: u64,
    pub time: DateTime<Utc>,
    pub service: String,
    pub action: String,
    pub account: Option<String>,
    pub region: String,
    pub access_key_id: String,
    /// The calling principal: `arn:aws:iam::ACCT:user/NAME` or `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION`
    /// (absent for an unknown access key).
    pub caller: Option<String>,
    /// AssumeRole's RoleSessionName, as requested.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_session_name: Option<String>,
    pub mutating: bool,
    pub status: u16,
    pub error_code: Option<String>,
}

/// Create*/Modify*/Put*/Delete*/… change state; Describe*/Get*/List*/AssumeRole do not.
pub fn is_mutating(action: &str) -> bool {
    const PREFIXES: &[&str] = &[
        "Create",
        "Modify",
        "Put",
        "Delete",
        "Reboot",
        "Update",
        "AddTags",
        "RemoveTags",
        "Execute",
        "Tag",
        "Untag",
    ];
    PREFIXES.iter().any(|p| action.starts_with(p))
}

/// Keeps the most recent calls (bounded, so long benchmarks do not grow memory without limit) and exact
/// counters for all of them.
pub struct CallLog {
    next_seq: u64,
    records: std::collections::VecDeque<CallRecord>,
    counts: BTreeMap<String, u64>,
    mutating: u64,
    capacity: usize,
}

impl Default for CallLog {
    fn default() -> Self {
        Self {
            next_seq: 1,
            records: Default::default(),
            counts: BTreeMap::new(),
            mutating: 0,
            capacity: 100_000,
        }
    }
}

impl CallLog {
    pub fn push(&mut self, mut record: CallRecord) {
        record.seq = self.next_seq;
        self.next_seq += 1;
        *self
            .counts
            .entry(format!("{}:{}", record.service, record.action))
            .or_default() += 1;
        if record.mutating {
            self.mutating += 1;
        }
        if self.records.len() == self.capacity {
            self.records.pop_front();
        }
        self.records.push_back(record);
    }
    pub fn records(&self) -> Vec<CallRecord> {
        self.records.iter().cloned().collect()
    }
    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.counts.clone()
    }
    pub fn mutating(&self) -> u64 {
        self.mutating
    }
}
