//! The overall state of an object after a pass, in one shape for both kinds, from which Ready, Reconciling
//! and Stalled are derived the same way everywhere, and when to look again.

use std::time::Duration;

use zeroetl_api::conditions::{reasons, Decided, Status, READY, RECONCILING, STALLED};

use crate::error::{Category, Error};
use crate::timing;

/// The overall state of an object after a reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Everything declared holds. `message` summarizes it.
    Ready {
        message: String,
        recheck_after: Duration,
    },
    /// Work is under way (ours or AWS's); check again after `requeue`.
    InProgress {
        reason: String,
        message: String,
        requeue: Duration,
    },
    /// Nothing will change until the spec or the world does. `recheck_after`: when to look at the world
    /// again; `None` when only a spec change can help (invalid input), which arrives as a watch event.
    Stalled {
        reason: String,
        message: String,
        recheck_after: Option<Duration>,
    },
}

impl Progress {
    pub fn in_progress(reason: &str, message: impl Into<String>, requeue: Duration) -> Progress {
        Progress::InProgress {
            reason: reason.into(),
            message: message.into(),
            requeue,
        }
    }

    /// Stalled by something outside the spec (AWS state, a policy): looked at again now and then.
    pub fn stalled(reason: &str, message: impl Into<String>) -> Progress {
        Progress::Stalled {
            reason: reason.into(),
            message: message.into(),
            recheck_after: Some(timing::STALLED_RECHECK),
        }
    }

    /// Stalled by the spec itself: nothing is looked at again until it changes.
    pub fn refused(reason: &str, message: impl Into<String>) -> Progress {
        Progress::Stalled {
            reason: reason.into(),
            message: message.into(),
            recheck_after: None,
        }
    }

    /// The progress an error implies: terminal errors stall, everything else is still in progress.
    pub fn from_error(e: &Error) -> Progress {
        match e.category() {
            Category::Terminal => Progress::stalled(&e.reason(), e.to_string()),
            _ => Progress::in_progress(&e.reason(), e.to_string(), e.retry_after()),
        }
    }

    pub fn is_ready(&self) -> bool {
        matches!(self, Progress::Ready { .. })
    }

    pub fn is_stalled(&self) -> bool {
        matches!(self, Progress::Stalled { .. })
    }
}

/// Ready, Reconciling and Stalled for a progress. Always all three, so kstatus and `kubectl wait` have
/// something to read from the first reconcile on.
pub fn summary_conditions(progress: &Progress) -> Vec<Decided> {
    match progress {
        Progress::Ready { message, .. } => vec![
            Decided::new(READY, Status::True, reasons::RECONCILED, message.clone()),
            Decided::new(RECONCILING, Status::False, reasons::IDLE, ""),
            Decided::new(STALLED, Status::False, reasons::NOT_STALLED, ""),
        ],
        Progress::InProgress {
            reason, message, ..
        } => vec![
            Decided::new(READY, Status::False, reason, message.clone()),
            Decided::new(RECONCILING, Status::True, reason, message.clone()),
            Decided::new(STALLED, Status::False, reasons::NOT_STALLED, ""),
        ],
        Progress::Stalled {
            reason, message, ..
        } => vec![
            Decided::new(READY, Status::False, reason, message.clone()),
            Decided::new(RECONCILING, Status::False, reason, ""),
            Decided::new(STALLED, Status::True, reason, message.clone()),
        ],
    }
}

/// When to look again; `None`: only when the object changes.
pub fn requeue_after(progress: &Progress) -> Option<Duration> {
    match progress {
        Progress::Ready { recheck_after, .. } => Some(*recheck_after),
        Progress::InProgress { requeue, .. } => Some(*requeue),
        Progress::Stalled { recheck_after, .. } => *recheck_after,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zeroetl_api::conditions::Status;

    fn status_of(conds: &[Decided], t: &str) -> Status {
        conds.iter().find(|c| c.type_ == t).unwrap().status
    }

    #[test]
    fn summaries_are_consistent() {
        let ready = summary_conditions(&Progress::Ready {
            message: "ok".into(),
            recheck_after: Duration::from_secs(300),
        });
        assert_eq!(
            (
                status_of(&ready, READY),
                status_of(&ready, RECONCILING),
                status_of(&ready, STALLED)
            ),
            (Status::True, Status::False, Status::False)
        );
        let busy = summary_conditions(&Progress::in_progress(
            "Creating",
            "…",
            Duration::from_secs(5),
        ));
        assert_eq!(
            (
                status_of(&busy, READY),
                status_of(&busy, RECONCILING),
                status_of(&busy, STALLED)
            ),
            (Status::False, Status::True, Status::False)
        );
        let stuck = summary_conditions(&Progress::stalled("InvalidSpec", "spec.source: …"));
        assert_eq!(
            (
                status_of(&stuck, READY),
                status_of(&stuck, RECONCILING),
                status_of(&stuck, STALLED)
            ),
            (Status::False, Status::False, Status::True)
        );
        assert_eq!(
            stuck.iter().find(|c| c.type_ == READY).unwrap().reason,
            "InvalidSpec"
        );
    }

    #[test]
    fn errors_map_to_progress() {
        let denied = Error::Aws {
            service: "rds",
            action: "CreateIntegration",
            code: "AccessDenied".into(),
            message: "no".into(),
            kind: crate::aws::AwsErrorKind::AccessDenied,
        };
        assert!(
            matches!(Progress::from_error(&denied), Progress::Stalled { reason, .. } if reason == "AccessDenied")
        );
        let wait = Error::waiting("ConnectionNotReady", "waiting", Duration::from_secs(7));
        assert_eq!(
            requeue_after(&Progress::from_error(&wait)),
            Some(Duration::from_secs(7))
        );
        assert_eq!(requeue_after(&Progress::refused("InvalidSpec", "x")), None);
    }
}
