//! AWS plumbing shared by every reconciler: cached clients per (region, identity), the one error
//! classification, and the Data API statement runner.

mod assume_role;
mod clients;
pub mod data_api;
mod error;
mod identity;
mod pacing;
pub mod shared_reads;
mod tags;

pub use clients::{AwsClients, AwsSettings, Clients};
pub use error::{classify, incomplete, not_found, sdk_error, AwsErrorKind};
pub use identity::{session_name, Identity};
pub use tags::{TagLookup, Tags};
