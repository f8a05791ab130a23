//! Kubernetes plumbing shared by every reconciler: the status writer, events, the finalizer, and the
//! Secret → AWS identity resolver.

pub mod events;
pub mod finalizer;
pub mod identity;
pub mod status;

pub use events::{Events, Notice};
pub use status::{ObjectStatus, FIELD_MANAGER};
