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
