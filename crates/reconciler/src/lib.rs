//! zeroetl-reconciler: drives AWS toward what ZeroEtlIntegration and RedshiftConnection objects declare.
//!
//! Every pass of every kind has the same shape (docs/ARCHITECTURE.md tells the whole story):
//!
//! 1. **validate** (pure): an invalid spec stops here, `Stalled/InvalidSpec`, with no AWS call;
//! 2. **observe** (I/O, reads only): what AWS and Kubernetes look like now (`<kind>/observe*`);
//! 3. **plan** (pure): the actions to take and the step conditions, from spec + observation + previous
//!    status (`<kind>/plan*`); deletion is a plan too;
//! 4. **apply** (I/O): the only place that changes AWS, running the plan's actions in order
//!    (`<kind>/apply*`);
//! 5. **finish** ([`pipeline::finish`]): the only place that writes status, publishes events, removes the
//!    finalizer and decides when to look again.
//!
//! Shared plumbing: [`aws`] (clients, the one error classification, the Data API), [`k8s`] (status writer,
//! events, finalizer, Secret → identity), [`timing`] (every duration), [`progress`] (Ready/Reconciling/
//! Stalled from a pass's progress).

pub mod aws;
pub mod backoff;
pub mod connection;
pub mod consumer;
pub mod context;
pub mod error;
pub mod guardrails;
pub mod integration;
pub mod k8s;
pub mod leadership;
pub mod locks;
pub mod metrics;
pub mod ownership;
pub mod pipeline;
pub mod progress;
pub mod rechecks;
pub mod shared;
pub mod stores;
#[cfg(test)]
mod testing;
pub mod timing;
pub mod verification;
pub mod warehouse;

pub use context::{Config, Context};
pub use error::{Error, Result};
