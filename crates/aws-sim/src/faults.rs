//! Fault injection: throttling, server errors, latency, chosen errors and dropped responses.

use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum FaultKind {
    Throttle,
    ServerError,
    Latency,
    Error,
    /// Perform the action, then answer 500 as if the connection broke.
    DropResponse,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    /// `service:Action`, `service:*` or `*`.
    pub action: String,
    pub kind: FaultKind,
    /// Probability that a matching call is affected (default 1.0).
    #[serde(default)]
    pub rate: Option<f64>,
    /// How many times it fires; absent = unlimited.
    #[serde(default)]
    pub count: Option<u64>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub latency_ms: Option<u64>,
}

impl Fault {
    pub fn new(action: &str, kind: FaultKind) -> Self {
        Self {
            action: action.into(),
            kind,
            rate: None,
            count: None,
            code: None,
            status: None,
            message: None,
            latency_ms: None,
        }
    }
    pub fn times(mut self, n: u64) -> Self {
        self.count = Some(n);
        self
    }
    pub fn with_code(mut self, code: &str, status: u16) -> Self {
        self.code = Some(code.into());
        self.status = Some(status);
        self
    }
    pub fn with_rate(mut self, rate: f64) -> Self {
        self.rate = Some(rate);
        self
    }
    pub fn with_latency_ms(mut self, ms: u64) -> Self {
        self.latency_ms = Some(ms);
        self
    }
}

/// `rds:CreateIntegration` matches `rds:CreateIntegration`, `rds:*` and `*`.
pub fn action_matches(pattern: &str, action: &str) -> bool {
    crate::policy::glob(pattern, action)
}

#[derive(Default)]
pub struct Faults {
    active: Vec<Fault>,
}

impl Faults {
    pub fn add(&mut self, fault: Fault) {
        self.active.push(fault);
    }
    pub fn clear(&mut self) {
        self.active.clear();
    }
    pub fn list(&self) -> Vec<Fault> {
        self.active.clone()
    }

    /// The faults that fire for this call (consuming their counts), in the order they were added.
    pub fn fire(&mut self, action: &str) -> Vec<Fault> {
        use rand::Rng;
        let mut fired = Vec::new();
        for f in self.active.iter_mut() {
            if !action_matches(&f.action, action) || f.count == Some(0) {
                continue;
            }
            let rate = f.rate.unwrap_or(1.0);
            if rate < 1.0 && rand::rng().random::<f64>() >= rate {
                continue;
            }
            if let Some(c) = f.count.as_mut() {
                *c -= 1;
            }
            fired.push(f.clone());
        }
        self.active.retain(|f| f.count != Some(0));
        fired
    }
}
