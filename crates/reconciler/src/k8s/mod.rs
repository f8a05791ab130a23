//! Kubernetes plumbing shared by every reconciler: the status writer, events, the finalizer, what our own
//! writes replaced, and the Secret → AWS identity resolver.

pub mod events;
pub mod finalizer;
pub mod identity;
pub mod own_writes;
pub mod status;

pub use events::{Events, Notice};
pub use status::{ObjectStatus, FIELD_MANAGER};
