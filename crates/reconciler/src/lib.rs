//! zeroetl-reconciler: drives AWS toward what ZeroEtlIntegration and RedshiftConnection objects declare.
//! Each kind runs the same pipeline: observe (I/O) → validate and plan (pure) → act (I/O) → status.

pub mod aws;
pub mod connection;
pub mod context;
pub mod error;
pub mod events;
pub mod integration;
pub mod metrics;
pub mod outcome;
pub mod status;
pub mod warehouse;

pub use context::{Config, Context};
pub use error::{Error, Result};
