//! The one classification of AWS errors. Every SDK call site turns its error into an [`Error::Aws`] with
//! [`sdk_error`], naming the call as `("service", "Action")` string literals (the IAM-policy test reads those
//! pairs to derive the operator's least-privilege policy), and decides what to do from [`AwsErrorKind`], never
//! from a code string.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::{Category, Error};

/// What an AWS error means for the reconciler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AwsErrorKind {
    /// The resource does not exist (or is not visible to this identity).
    NotFound,
    /// The identity may not make this call (an IAM policy, a trust policy, a bucket in another account).
    AccessDenied,
    /// A create met an existing resource of that name.
    AlreadyExists,
    /// AWS asked us to slow down.
    Throttled,
    /// The resource is busy (creating, modifying, rebooting): the call works once AWS is done.
    InvalidState,
    /// AWS refused the request as malformed or impossible; the spec (or a policy document) must change.
    InvalidInput,
    /// An account quota is used up.
    QuotaExceeded,
    /// The credentials are unknown, malformed or expired.
    InvalidCredentials,
    /// Network failures, timeouts, 5xx: try again.
    Unavailable,
    /// A code this table does not know. Treated as transient: a wrong guess costs a few retries, while a wrongly
    /// terminal error would stall an object that could have converged.
    Unknown,
}

impl AwsErrorKind {
    pub fn category(self) -> Category {
        match self {
            AwsErrorKind::Throttled => Category::Throttled,
            AwsErrorKind::InvalidState => Category::Waiting,
            AwsErrorKind::Unavailable | AwsErrorKind::Unknown => Category::Retryable,
            AwsErrorKind::NotFound
            | AwsErrorKind::AccessDenied
            | AwsErrorKind::AlreadyExists
            | AwsErrorKind::InvalidInput
            | AwsErrorKind::QuotaExceeded
            | AwsErrorKind::InvalidCredentials => Category::Terminal,
        }
    }
}

/// Maps an AWS error code (any service, any protocol) to its kind.
pub fn classify(code: &str) -> AwsErrorKind {
    match code {
        "Throttling"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "TooManyRequestsException"
        | "SlowDown"
        | "RequestThrottled"
        | "RequestThrottledException"
        | "ProvisionedThroughputExceededException" => AwsErrorKind::Throttled,
        "AccessDenied"
        | "AccessDeniedException"
        | "UnauthorizedOperation"
        | "UnauthorizedException"
        | "AuthorizationError" => AwsErrorKind::AccessDenied,
        "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "UnrecognizedClientException"
        | "InvalidAccessKeyId"
        | "ExpiredToken"
        | "ExpiredTokenException" => AwsErrorKind::InvalidCredentials,
        "DBClusterNotFoundFault"
        | "DBInstanceNotFound"
        | "DBInstanceNotFoundFault"
        | "DBParameterGroupNotFound"
        | "DBParameterGroupNotFoundFault"
        | "DBClusterParameterGroupNotFound"
        | "DBClusterParameterGroupNotFoundFault"
        | "IntegrationNotFoundFault"
        | "ClusterNotFound"
        | "ClusterNotFoundFault"
        | "ClusterParameterGroupNotFound"
        | "ClusterParameterGroupNotFoundFault"
        | "ResourceNotFound"
        | "ResourceNotFoundFault"
        | "ResourceNotFoundException"
        | "NamespaceNotFound"
        | "WorkgroupNotFound"
        | "NoSuchBucket"
        | "NoSuchKey"
        | "NoSuchEntity"
        | "NotFoundException"
        | "NotFound" => AwsErrorKind::NotFound,
        "IntegrationAlreadyExistsFault"
        | "DBParameterGroupAlreadyExists"
        | "DBParameterGroupAlreadyExistsFault"
        | "ClusterParameterGroupAlreadyExists"
        | "ClusterParameterGroupAlreadyExistsFault"
        | "EntityAlreadyExists" => AwsErrorKind::AlreadyExists,
        "IntegrationConflictOperationFault"
        | "InvalidIntegrationStateFault"
        | "InvalidDBClusterStateFault"
        | "InvalidDBInstanceState"
        | "InvalidDBInstanceStateFault"
        | "InvalidDBParameterGroupState"
        | "InvalidDBParameterGroupStateFault"
        | "InvalidClusterState"
        | "InvalidClusterStateFault"
        | "InvalidClusterParameterGroupState"
        | "InvalidClusterParameterGroupStateFault"
        | "ConflictException"
        | "ConcurrentModification"
        | "DeleteConflict" => AwsErrorKind::InvalidState,
        "InvalidParameterValue"
        | "InvalidParameterCombination"
        | "InvalidParameterValueException"
        | "ValidationException"
        | "ValidationError"
        | "MissingParameter"
        | "MalformedPolicyDocument"
        | "InvalidPolicyFault"
        | "KMSKeyNotAccessibleFault"
        | "InvalidRequest" => AwsErrorKind::InvalidInput,
        "IntegrationQuotaExceededFault"
        | "DBParameterGroupQuotaExceeded"
        | "DBParameterGroupQuotaExceededFault"
        | "ClusterParameterGroupQuotaExceeded"
        | "ClusterParameterGroupQuotaExceededFault"
        | "ServiceQuotaExceededException"
        | "LimitExceeded"
        | "LimitExceededException" => AwsErrorKind::QuotaExceeded,
        "InternalFailure" | "InternalError" | "ServiceUnavailable" | "NetworkError" => {
            AwsErrorKind::Unavailable
        }
        _ => AwsErrorKind::Unknown,
    }
}

/// Turns an SDK error of the call `service:action` into an [`Error::Aws`]. An AccessDenied says which
/// permission the identity lacks.
pub fn sdk_error<E, R>(service: &'static str, action: &'static str, err: SdkError<E, R>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match &err {
        SdkError::ServiceError(ctx) => {
            let e = ctx.err();
            let code = e.code().unwrap_or("Unknown").to_string();
            let kind = classify(&code);
            let mut message = e.message().unwrap_or_default().to_string();
            if kind == AwsErrorKind::AccessDenied
                && !message.contains(&format!("{service}:{action}"))
            {
                message = format!("{message} (the identity needs {service}:{action})");
            }
            Error::Aws {
                service,
                action,
                code,
                message,
                kind,
            }
        }
        SdkError::ConstructionFailure(_) => Error::Aws {
            service,
            action,
            code: "InvalidRequest".into(),
            message: format!("the request could not be built: {}", error_chain(&err)),
            kind: AwsErrorKind::InvalidInput,
        },
        // Timeouts, dispatch (connection) failures and unparseable responses are transient.
        _ => Error::Aws {
            service,
            action,
            code: "NetworkError".into(),
            message: error_chain(&err),
            kind: AwsErrorKind::Unavailable,
        },
    }
}

/// A resource this operator looked for and did not find, in the same shape as AWS's own not-found errors.
pub fn not_found(
    service: &'static str,
    action: &'static str,
    code: &str,
    message: String,
) -> Error {
    Error::Aws {
        service,
        action,
        code: code.to_string(),
        message,
        kind: AwsErrorKind::NotFound,
    }
}

/// A response that lacks a field AWS always sends: transient (a retry usually gets a whole one).
pub fn incomplete(service: &'static str, action: &'static str, field: &str) -> Error {
    Error::Aws {
        service,
        action,
        code: "IncompleteResponse".into(),
        message: format!("{action} returned no {field}"),
        kind: AwsErrorKind::Unknown,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_kinds_and_categories() {
        for (code, kind, category) in [
            ("Throttling", AwsErrorKind::Throttled, Category::Throttled),
            (
                "ThrottlingException",
                AwsErrorKind::Throttled,
                Category::Throttled,
            ),
            (
                "AccessDenied",
                AwsErrorKind::AccessDenied,
                Category::Terminal,
            ),
            (
                "AccessDeniedException",
                AwsErrorKind::AccessDenied,
                Category::Terminal,
            ),
            (
                "IntegrationNotFoundFault",
                AwsErrorKind::NotFound,
                Category::Terminal,
            ),
            ("NoSuchEntity", AwsErrorKind::NotFound, Category::Terminal),
            (
                "IntegrationAlreadyExistsFault",
                AwsErrorKind::AlreadyExists,
                Category::Terminal,
            ),
            (
                "DBParameterGroupAlreadyExists",
                AwsErrorKind::AlreadyExists,
                Category::Terminal,
            ),
            (
                "IntegrationQuotaExceededFault",
                AwsErrorKind::QuotaExceeded,
                Category::Terminal,
            ),
            (
                "InvalidIntegrationStateFault",
                AwsErrorKind::InvalidState,
                Category::Waiting,
            ),
            (
                "InvalidParameterValue",
                AwsErrorKind::InvalidInput,
                Category::Terminal,
            ),
            (
                "ExpiredToken",
                AwsErrorKind::InvalidCredentials,
                Category::Terminal,
            ),
            (
                "InternalFailure",
                AwsErrorKind::Unavailable,
                Category::Retryable,
            ),
            ("SomethingNew", AwsErrorKind::Unknown, Category::Retryable),
        ] {
            assert_eq!(
                (classify(code), classify(code).category()),
                (kind, category),
                "{code}"
            );
        }
    }
}
