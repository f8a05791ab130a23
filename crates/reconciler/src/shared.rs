//! What every pass shares with every other, beyond the Context's clients: per-resource locks for shared AWS
//! documents, shared reads with a TTL, and the integration snapshots the pollers keep.

use crate::aws::shared_reads::SharedReads;
use crate::integration::snapshots::Snapshots;
use crate::locks::KeyedLocks;

#[derive(Default)]
pub struct Shared {
    pub locks: KeyedLocks,
    pub reads: SharedReads,
    pub snapshots: Snapshots,
}

impl Shared {
    /// Shared reads live no longer than half the drift interval, so a full re-check sees AWS as it is.
    pub fn for_drift_interval(drift: std::time::Duration) -> Shared {
        Shared {
            reads: SharedReads::new(crate::timing::SHARED_READ_TTL.min(drift / 2)),
            ..Default::default()
        }
    }
}
