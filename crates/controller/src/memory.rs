//! What an idle operator gives back. The shared AWS reads a ramp left behind (one per source and parameter
//! group) expire but stay in the map until swept, and so would the AWS clients of identities that left the
//! fleet. And glibc returns freed memory to the kernel only from the
//! top of the main heap; the per-thread arenas the tokio workers allocate from keep every page they once
//! used, so after a fleet's ramp the resident set stayed at its peak. `malloc_trim(0)` walks every arena and
//! releases the free pages inside it.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use zeroetl_reconciler::context::Context;
use zeroetl_reconciler::timing;

/// Often enough that an idle operator is back to its live heap within a minute of a burst; a trim of a
/// heap of a few hundred MiB takes milliseconds.
pub const TRIM_PERIOD: Duration = Duration::from_secs(30);

/// Every [`TRIM_PERIOD`] until `stopped` resolves: drops the shared AWS reads that expired (one per source
/// and parameter group a ramp looked at) and the AWS clients of identities idle for
/// [`timing::AWS_CLIENTS_IDLE`], then trims.
pub async fn return_freed_heap(ctx: Arc<Context>, stopped: impl Future<Output = ()>) {
    let mut tick = tokio::time::interval(TRIM_PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                ctx.shared.reads.sweep();
                if let Some(since) = std::time::Instant::now().checked_sub(timing::AWS_CLIENTS_IDLE) {
                    ctx.aws.evict_unused_since(since).await;
                }
                trim();
            }
            _ = &mut stopped => return,
        }
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu", not(feature = "mimalloc")))]
fn trim() {
    // SAFETY: malloc_trim only reorganises the allocator's free lists; it is thread-safe in glibc.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other allocators (mimalloc, musl) return memory on their own.
#[cfg(not(all(target_os = "linux", target_env = "gnu", not(feature = "mimalloc"))))]
fn trim() {}
