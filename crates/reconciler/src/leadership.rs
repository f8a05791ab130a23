//! Whether this replica may still act. The leader renews its Lease every few seconds and records each renewal
//! here; every AWS change and every status write first asks [`Leadership::ensure`]. A leader that could not
//! renew for the renew deadline — a network partition, or a process paused by SIGSTOP or a stalled node —
//! stops acting before any standby may acquire the Lease (the deadline is below the Lease duration), so two
//! replicas never change AWS at once. Time is monotonic: it keeps running while the process is paused.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::timing;

#[derive(Clone, Debug)]
pub struct Leadership {
    inner: Option<Arc<Renewals>>,
}

#[derive(Debug)]
struct Renewals {
    started: Instant,
    /// Milliseconds after `started` of the last successful renewal; 0: never held.
    last_renewed_ms: AtomicU64,
    deadline: Duration,
}

impl Leadership {
    /// No leader election: this replica always acts.
    pub fn always() -> Leadership {
        Leadership { inner: None }
    }

    /// Leader election: acts only within `deadline` of the last recorded renewal.
    pub fn elected(deadline: Duration) -> Leadership {
        Leadership {
            inner: Some(Arc::new(Renewals {
                started: Instant::now(),
                last_renewed_ms: AtomicU64::new(0),
                deadline,
            })),
        }
    }

    /// Records that the Lease was acquired or renewed now.
    pub fn renewed(&self) {
        if let Some(r) = &self.inner {
            let ms = r.started.elapsed().as_millis().max(1) as u64;
            r.last_renewed_ms.store(ms, Ordering::SeqCst);
        }
    }

    /// Records that the Lease is lost (or given up).
    pub fn lost(&self) {
        if let Some(r) = &self.inner {
            r.last_renewed_ms.store(0, Ordering::SeqCst);
        }
    }

    pub fn is_current(&self) -> bool {
        let Some(r) = &self.inner else {
            return true;
        };
        let last = r.last_renewed_ms.load(Ordering::SeqCst);
        last != 0 && r.started.elapsed() < Duration::from_millis(last) + r.deadline
    }

    /// Ok while this replica may act; an error (no status write, no AWS change) otherwise.
    pub fn ensure(&self) -> Result<()> {
        if self.is_current() {
            return Ok(());
        }
        Err(Error::waiting(
            "LeadershipLost",
            "this replica no longer holds the leader Lease; it does not act",
            timing::LEASE_RENEW_EVERY,
        ))
    }
}

impl Default for Leadership {
    fn default() -> Self {
        Leadership::always()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn acts_only_within_the_deadline_of_the_last_renewal() {
        assert!(Leadership::always().is_current());
        let l = Leadership::elected(Duration::from_millis(50));
        assert!(!l.is_current(), "not before the first acquisition");
        l.renewed();
        assert!(l.is_current() && l.ensure().is_ok());
        std::thread::sleep(Duration::from_millis(80));
        assert!(
            !l.is_current(),
            "a renewal missed for the deadline stops it"
        );
        assert_eq!(l.ensure().unwrap_err().reason(), "LeadershipLost");
        l.renewed();
        assert!(l.is_current());
        l.lost();
        assert!(!l.is_current());
    }
}
