//! Errors with a category that decides what happens next (ACK's terminal/recoverable split, refined):
//! terminal → Stalled until the spec or the world changes; retryable → exponential backoff with jitter;
//! throttled → longer backoff; waiting → AWS (or another object) is still working, look again after a hint.

use std::time::Duration;

use zeroetl_api::conditions::reasons;

use crate::aws::AwsErrorKind;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    /// Nothing changes until the spec or the world changes (bad input, AccessDenied, quota, not found).
    Terminal,
    /// A transient failure: network, 5xx, a conflict that clears by itself.
    Retryable,
    /// AWS asked us to slow down.
    Throttled,
    /// AWS (or another object) is still working on something.
    Waiting,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("Kubernetes API error: {0}")]
    Kube(#[from] kube::Error),

    #[error("AWS {service}:{action} failed with {code}: {message}")]
    Aws {
        service: &'static str,
        action: &'static str,
        code: String,
        message: String,
        kind: AwsErrorKind,
    },

    /// A condition the operator cannot fix by retrying; `reason` becomes the Stalled reason.
    #[error("{message}")]
    Terminal { reason: String, message: String },

    /// AWS (or another object) is not there yet; `reason` becomes the Ready reason.
    #[error("{message}")]
    Waiting {
        reason: String,
        message: String,
        retry_after: Duration,
    },

    #[error("serialization error: {0}")]
    Serialization(#[from] serde_json::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn terminal(reason: &str, message: impl Into<String>) -> Error {
        Error::Terminal {
            reason: reason.to_string(),
            message: message.into(),
        }
    }

    pub fn waiting(reason: &str, message: impl Into<String>, retry_after: Duration) -> Error {
        Error::Waiting {
            reason: reason.to_string(),
            message: message.into(),
            retry_after,
        }
    }

    pub fn category(&self) -> Category {
        match self {
            Error::Aws { kind, .. } => kind.category(),
            Error::Terminal { .. } | Error::Serialization(_) => Category::Terminal,
            Error::Waiting { .. } => Category::Waiting,
            // A request the API server refuses as invalid will be refused again.
            Error::Kube(kube::Error::Api(s)) if s.code == 422 || s.code == 400 => {
                Category::Terminal
            }
            Error::Kube(_) => Category::Retryable,
        }
    }

    /// The AWS error kind, if this is an AWS error.
    pub fn aws_kind(&self) -> Option<AwsErrorKind> {
        match self {
            Error::Aws { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    pub fn is_aws(&self, kind: AwsErrorKind) -> bool {
        self.aws_kind() == Some(kind)
    }

    /// A short, bounded label for metrics (never a free-form message).
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::Aws { kind, .. } => match kind.category() {
                Category::Throttled => "aws_throttled",
                Category::Terminal => "aws_terminal",
                Category::Waiting => "aws_waiting",
                Category::Retryable => "aws_retryable",
            },
            Error::Terminal { .. } => "terminal",
            Error::Waiting { .. } => "waiting",
            Error::Serialization(_) => "serialization",
        }
    }

    /// The CamelCase reason a condition shows for this error: the AWS error code where there is one, with
    /// every access-denied spelling as `AccessDenied` so users and tools match one reason.
    pub fn reason(&self) -> String {
        match self {
            Error::Aws {
                kind: AwsErrorKind::AccessDenied,
                ..
            } => reasons::ACCESS_DENIED.into(),
            Error::Aws { code, .. } => code.clone(),
            Error::Terminal { reason, .. } | Error::Waiting { reason, .. } => reason.clone(),
            Error::Kube(_) => "KubernetesApiError".into(),
            Error::Serialization(_) => "SerializationError".into(),
        }
    }

    /// How long to wait before looking again when this error is recorded as work in progress.
    pub fn retry_after(&self) -> Duration {
        match self {
            Error::Waiting { retry_after, .. } => *retry_after,
            e if e.category() == Category::Waiting => crate::timing::WAITING_DEFAULT,
            _ => crate::timing::RETRY_DEFAULT,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_and_labels() {
        let e = Error::Aws {
            service: "rds",
            action: "CreateIntegration",
            code: "AccessDeniedException".into(),
            message: "no".into(),
            kind: AwsErrorKind::AccessDenied,
        };
        assert_eq!(
            (e.reason().as_str(), e.metric_label(), e.category()),
            ("AccessDenied", "aws_terminal", Category::Terminal)
        );
        let w = Error::waiting("Creating", "still creating", Duration::from_secs(5));
        assert_eq!(
            (w.category(), w.reason().as_str(), w.retry_after()),
            (Category::Waiting, "Creating", Duration::from_secs(5))
        );
    }
}
