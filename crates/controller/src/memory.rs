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

use allocator::trim;
pub use allocator::use_one_arena;

/// The allocator's knobs, set where the allocator is glibc's.
#[cfg(all(target_os = "linux", target_env = "gnu", not(feature = "mimalloc")))]
mod allocator {
    /// Has glibc serve every thread from one arena, unless `MALLOC_ARENA_MAX` says otherwise. Each tokio worker
    /// and blocking thread otherwise gets an arena of its own, and objects cached for good end up spread over
    /// all of them, each arena with its own partly used pages: at 5,000 integrations one arena held 3 to 6
    /// MiB less at the same CPU (docs/benchmarks.md). Call before any thread is started.
    pub fn use_one_arena() {
        if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
            // SAFETY: mallopt only sets an allocator parameter; called before other threads exist.
            unsafe {
                libc::mallopt(libc::M_ARENA_MAX, 1);
            }
        }
    }

    pub fn trim() {
        // SAFETY: malloc_trim only reorganises the allocator's free lists; it is thread-safe in glibc.
        unsafe {
            libc::malloc_trim(0);
        }
    }

    #[cfg(test)]
    mod tests {
        use std::process::Command;
        use std::sync::{Arc, Barrier};

        /// Set in the copy of this test that measures; the arena setting must be made before threads exist, so it
        /// runs in a process of its own.
        const MEASURE: &str = "ZEROETL_MEASURE_ARENAS";

        /// Eight threads allocate at once; how many arenas glibc made (`<heap nr=…>` in malloc_info).
        fn count_arenas_after_eight_threads() -> usize {
            super::use_one_arena();
            let all_allocated = Arc::new(Barrier::new(9));
            let release = Arc::new(Barrier::new(9));
            let threads: Vec<_> = (0..8)
                .map(|_| {
                    let (all_allocated, release) = (all_allocated.clone(), release.clone());
                    std::thread::spawn(move || {
                        let held: Vec<Box<[u8; 256]>> =
                            (0..256).map(|_| Box::new([1; 256])).collect();
                        all_allocated.wait();
                        release.wait();
                        drop(held);
                    })
                })
                .collect();
            all_allocated.wait();
            let path = std::env::temp_dir().join(format!("malloc-info-{}.xml", std::process::id()));
            let c_path = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
            // SAFETY: a FILE opened here, written by malloc_info and closed before the file is read.
            unsafe {
                let file = libc::fopen(c_path.as_ptr(), c"w".as_ptr());
                assert!(!file.is_null(), "cannot write {}", path.display());
                libc::malloc_info(0, file);
                libc::fclose(file);
            }
            release.wait();
            threads.into_iter().for_each(|t| t.join().unwrap());
            let info = std::fs::read_to_string(&path).unwrap();
            let _ = std::fs::remove_file(&path);
            info.matches("<heap nr=").count()
        }

        fn arenas_in_a_fresh_process(malloc_arena_max: Option<&str>) -> usize {
            let mut measure = Command::new(std::env::current_exe().unwrap());
            measure
                .args([
                    "--exact",
                    "memory::allocator::tests::one_arena_serves_every_thread_unless_malloc_arena_max_is_set",
                    "--test-threads=1",
                    "--nocapture",
                ])
                .env(MEASURE, "1");
            match malloc_arena_max {
                Some(max) => measure.env("MALLOC_ARENA_MAX", max),
                None => measure.env_remove("MALLOC_ARENA_MAX"),
            };
            let out = measure.output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            stdout
                .lines()
                // libtest prints the test's name on the same line.
                .find_map(|l| l.split_once("arenas=").map(|(_, n)| n))
                .and_then(|n| n.split_whitespace().next()?.parse().ok())
                .unwrap_or_else(|| {
                    panic!("the measuring process printed no arena count:\n{stdout}")
                })
        }

        #[test]
        fn one_arena_serves_every_thread_unless_malloc_arena_max_is_set() {
            if std::env::var_os(MEASURE).is_some() {
                println!("arenas={}", count_arenas_after_eight_threads());
                return;
            }
            // The main arena, and at most one the test harness's thread made before the setting.
            let one = arenas_in_a_fresh_process(None);
            assert!(one <= 2, "{one} arenas with the operator's setting");
            let eight = arenas_in_a_fresh_process(Some("8"));
            assert!(
                eight > 2,
                "{eight} arenas when MALLOC_ARENA_MAX=8 is set: the setting must not override it"
            );
        }
    }
}

/// Other allocators (mimalloc, musl) manage their arenas and return memory on their own.
#[cfg(not(all(target_os = "linux", target_env = "gnu", not(feature = "mimalloc"))))]
mod allocator {
    pub fn use_one_arena() {}
    pub fn trim() {}
}
