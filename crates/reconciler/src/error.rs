//! Errors with a category that decides what happens next (ACK's terminal/recoverable split, refined):
//! terminal → Stalled until the spec or the world changes; retryable → exponential backoff with jitter;
//! throttled → longer backoff (the SDK's adaptive retry already rate-limits per service client); waiting → AWS
//! is still working, requeue after a hint.

use std::time::Duration;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    /// Nothing changes until the spec or the world changes (bad input, AccessDenied, quota, not found).
    Terminal,
    /// A transient failure: network, 5xx, a conflict that clears by itself.
    Retryable,
    /// AWS asked us to slow down.
    Throttled,
    /// AWS is still working on something we asked for.
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
        category: Category,
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

    #[error("finalizer error: {0}")]
    Finalizer(#[source] Box<kube::runtime::finalizer::Error<Error>>),

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
            Error::Aws { category, .. } => *category,
            Error::Terminal { .. } | Error::Serialization(_) => Category::Terminal,
            Error::Waiting { .. } => Category::Waiting,
            Error::Kube(kube::Error::Api(s)) if s.code == 422 || s.code == 400 => {
                Category::Terminal
            }
            Error::Kube(_) => Category::Retryable,
            Error::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e)
                | kube::runtime::finalizer::Error::CleanupFailed(e) => e.category(),
                _ => Category::Retryable,
            },
        }
    }

    /// A short, bounded label for metrics (never a free-form message).
    pub fn metric_label(&self) -> &'static str {
        match self {
            Error::Kube(_) => "kube",
            Error::Aws {
                category: Category::Throttled,
                ..
            } => "aws_throttled",
            Error::Aws {
                category: Category::Terminal,
                ..
            } => "aws_terminal",
            Error::Aws { .. } => "aws_retryable",
            Error::Terminal { .. } => "terminal",
            Error::Waiting { .. } => "waiting",
            Error::Finalizer(_) => "finalizer",
            Error::Serialization(_) => "serialization",
        }
    }

    /// The CamelCase reason a condition shows for this error: the AWS error code where there is one.
    pub fn reason(&self) -> String {
        match self {
            Error::Aws { code, .. } => code.clone(),
            Error::Terminal { reason, .. } | Error::Waiting { reason, .. } => reason.clone(),
            Error::Kube(_) => "KubernetesApiError".into(),
            Error::Finalizer(inner) => match inner.as_ref() {
                kube::runtime::finalizer::Error::ApplyFailed(e)
                | kube::runtime::finalizer::Error::CleanupFailed(e) => e.reason(),
                _ => "FinalizerError".into(),
            },
            Error::Serialization(_) => "SerializationError".into(),
        }
    }

    /// The AWS error code, if this is an AWS service error.
    pub fn aws_code(&self) -> Option<&str> {
        match self {
            Error::Aws { code, .. } => Some(code),
            _ => None,
        }
    }
}

impl From<kube::runtime::finalizer::Error<Error>> for Error {
    fn from(e: kube::runtime::finalizer::Error<Error>) -> Self {
        Error::Finalizer(Box::new(e))
    }
}

/// Classifies an AWS SDK error. `service` and `action` name the call (e.g. "rds", "CreateIntegration") so
/// that an AccessDenied can say which permission is missing.
pub fn aws<E, R>(service: &'static str, action: &'static str, err: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match &err {
        SdkError::ServiceError(ctx) => {
            let e = ctx.err();
            let code = e.code().unwrap_or("Unknown").to_string();
            let mut message = e.message().unwrap_or_default().to_string();
            let category = categorize(&code);
            if category == Category::Terminal
                && is_access_denied(&code)
                && !message.contains(&format!("{service}:{action}"))
            {
                message = format!("{message} (the operator's identity needs {service}:{action})");
            }
            Error::Aws {
                service,
                action,
                code,
                message,
                category,
            }
        }
        SdkError::ConstructionFailure(_) => Error::Aws {
            service,
            action,
            code: "InvalidRequest".into(),
            message: format!("the request could not be built: {}", error_chain(&err)),
            category: Category::Terminal,
        },
        // Timeouts, dispatch (connection) failures and unparseable responses are transient.
        _ => Error::Aws {
            service,
            action,
            code: "NetworkError".into(),
            message: error_chain(&err),
            category: Category::Retryable,
        },
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

fn is_access_denied(code: &str) -> bool {
    matches!(
        code,
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "AuthorizationError"
    )
}

/// Maps an AWS error code to a category. Codes not listed are retryable: a wrong guess costs a few retries,
/// while a wrongly terminal error would stall an object that could have converged.
pub fn categorize(code: &str) -> Category {
    match code {
        "Throttling"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "TooManyRequestsException"
        | "SlowDown"
        | "RequestThrottled"
        | "RequestThrottledException"
        | "ProvisionedThroughputExceededException" => Category::Throttled,
        c if is_access_denied(c) => Category::Terminal,
        "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "UnrecognizedClientException"
        | "InvalidAccessKeyId"
        | "ExpiredToken"
        | "ExpiredTokenException" => Category::Terminal,
        "InvalidParameterValue"
        | "InvalidParameterCombination"
        | "ValidationException"
        | "ValidationError"
        | "MissingParameter"
        | "InvalidParameterValueException"
        | "MalformedPolicyDocument" => Category::Terminal,
        "IntegrationQuotaExceededFault"
        | "DBParameterGroupQuotaExceeded"
        | "ServiceQuotaExceededException"
        | "KMSKeyNotAccessibleFault"
        | "IntegrationAlreadyExistsFault" => Category::Terminal,
        "DBClusterNotFoundFault"
        | "DBInstanceNotFound"
        | "DBInstanceNotFoundFault"
        | "ClusterNotFound"
        | "ClusterNotFoundFault"
        | "ResourceNotFoundException"
        | "ResourceNotFoundFault"
        | "NoSuchBucket"
        | "NoSuchEntity" => Category::Terminal,
        "IntegrationConflictOperationFault"
        | "InvalidIntegrationStateFault"
        | "InvalidDBClusterStateFault"
        | "InvalidDBInstanceState"
        | "InvalidDBInstanceStateFault"
        | "InvalidClusterState"
        | "InvalidClusterStateFault"
        | "ConflictException"
        | "InvalidDBParameterGroupState" => Category::Waiting,
        _ => Category::Retryable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_categories() {
        assert_eq!(categorize("Throttling"), Category::Throttled);
        assert_eq!(categorize("ThrottlingException"), Category::Throttled);
        assert_eq!(categorize("AccessDenied"), Category::Terminal);
        assert_eq!(
            categorize("IntegrationQuotaExceededFault"),
            Category::Terminal
        );
        assert_eq!(
            categorize("InvalidIntegrationStateFault"),
            Category::Waiting
        );
        assert_eq!(categorize("InternalFailure"), Category::Retryable);
        assert_eq!(categorize("SomethingNew"), Category::Retryable);
    }

    #[test]
    fn reasons_and_labels() {
        let e = Error::Aws {
            service: "rds",
            action: "CreateIntegration",
            code: "AccessDenied".into(),
            message: "no".into(),
            category: Category::Terminal,
        };
        assert_eq!(
            (e.reason().as_str(), e.metric_label(), e.category()),
            ("AccessDenied", "aws_terminal", Category::Terminal)
        );
        let w = Error::waiting("Creating", "still creating", Duration::from_secs(5));
        assert_eq!(
            (w.category(), w.reason().as_str()),
            (Category::Waiting, "Creating")
        );
    }
}
