//! The pure half of the connection reconciler: what each verification step's observation means as a
//! condition, how the steps add up to Ready/Reconciling/Stalled, the status to write and the Secret to publish.
//! No I/O here, so every decision is unit-tested.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use zeroetl_api::arn::WarehouseKind;
use zeroetl_api::conditions::{
    self, Decided, Status, AUTHENTICATED, CASE_SENSITIVE, CREDENTIALS_ISSUED, REACHABLE, READY,
    SECRET_PUBLISHED, STAGING_READY,
};
use zeroetl_api::connection::{Endpoint, WarehouseKindName};
use zeroetl_api::validation::FieldError;
use zeroetl_api::{RedshiftConnection, RedshiftConnectionSpec, RedshiftConnectionStatus};

use crate::error::{Category, Error};
use crate::outcome::Progress;
use crate::warehouse::{CaseSensitivityChange, Warehouse};

/// Condition reasons specific to connections.
pub mod reasons {
    pub const ACCESS_DENIED: &str = "AccessDenied";
    pub const SECRET_NOT_FOUND: &str = "SecretNotFound";
    pub const INVALID_ACCESS_KEY_SECRET: &str = "InvalidAccessKeySecret";
    pub const DESCRIBED: &str = "Described";
    pub const IDENTITY_ACCEPTED: &str = "IdentityAccepted";
    pub const WAREHOUSE_NOT_FOUND: &str = "WarehouseNotFound";
    pub const ISSUED: &str = "Issued";
    pub const NOT_NEEDED: &str = "NotNeeded";
    pub const QUERY_SUCCEEDED: &str = "QuerySucceeded";
    pub const QUERY_FAILED: &str = "QueryFailed";
    pub const QUERY_RUNNING: &str = "QueryRunning";
    pub const NOT_CONFIGURED: &str = "NotConfigured";
    pub const STAGING_VERIFIED: &str = "Verified";
    pub const BUCKET_NOT_FOUND: &str = "BucketNotFound";
    pub const BUCKET_REGION_MISMATCH: &str = "BucketRegionMismatch";
    pub const ROLE_NOT_ATTACHED: &str = "RoleNotAttached";
    pub const KMS_KEY_NOT_USABLE: &str = "KmsKeyNotUsable";
    pub const ENABLED: &str = "Enabled";
    pub const DISABLED: &str = "Disabled";
    pub const PENDING_REBOOT: &str = "PendingReboot";
    pub const APPLYING: &str = "Applying";
    pub const REBOOTING: &str = "Rebooting";
    pub const PUBLISHED: &str = "Published";
    pub const NOT_REQUESTED: &str = "NotRequested";
    pub const SECRET_CONFLICT: &str = "SecretConflict";
    pub const NOT_CHECKED: &str = "NotChecked";
}

/// What one verification step found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// The step holds.
    Passed { reason: String, message: String },
    /// It does not, and only a change to the spec or the world will fix it.
    Failed { reason: String, message: String },
    /// A transient failure (network, 5xx, throttling): try again with backoff.
    Retrying {
        reason: String,
        message: String,
        category: Category,
    },
    /// AWS is working on it (a workgroup update, a reboot, a running statement): look again after `requeue`.
    Waiting {
        reason: String,
        message: String,
        requeue: Duration,
    },
    /// Reported for information only; does not decide Ready (e.g. case sensitivity with `Ignore`).
    Informational {
        status: Status,
        reason: String,
        message: String,
    },
    /// Not attempted because an earlier step did not pass.
    NotChecked,
}

impl Step {
    pub fn passed(reason: &str, message: impl Into<String>) -> Step {
        Step::Passed {
            reason: reason.into(),
            message: message.into(),
        }
    }

    pub fn failed(reason: &str, message: impl Into<String>) -> Step {
        Step::Failed {
            reason: reason.into(),
            message: message.into(),
        }
    }

    pub fn waiting(reason: &str, message: impl Into<String>, requeue: Duration) -> Step {
        Step::Waiting {
            reason: reason.into(),
            message: message.into(),
            requeue,
        }
    }

    /// The step an error leaves behind, by its category. Every access-denied spelling becomes `AccessDenied`
    /// so that users and tools match one reason.
    pub fn from_error(e: &Error) -> Step {
        let reason = match e.aws_code() {
            Some(c) if is_access_denied(c) => reasons::ACCESS_DENIED.to_string(),
            _ => e.reason(),
        };
        let message = e.to_string();
        match e.category() {
            Category::Terminal => Step::Failed { reason, message },
            Category::Waiting => {
                let requeue = match e {
                    Error::Waiting { retry_after, .. } => *retry_after,
                    _ => Duration::from_secs(10),
                };
                Step::Waiting {
                    reason,
                    message,
                    requeue,
                }
            }
            category @ (Category::Retryable | Category::Throttled) => Step::Retrying {
                reason,
                message,
                category,
            },
        }
    }

    pub fn is_passed(&self) -> bool {
        matches!(self, Step::Passed { .. })
    }
}

fn is_access_denied(code: &str) -> bool {
    matches!(
        code,
        "AccessDenied" | "AccessDeniedException" | "UnauthorizedOperation" | "AuthorizationError"
    )
}

fn is_not_found(code: &str) -> bool {
    matches!(
        code,
        "ResourceNotFoundException"
            | "ClusterNotFound"
            | "ClusterNotFoundFault"
            | "NamespaceNotFound"
    )
}

/// The verification steps in the order they run; a step runs only when the one before it passed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Steps {
    pub authenticated: Step,
    pub credentials: Step,
    pub reachable: Step,
    pub staging: Step,
    pub case_sensitive: Step,
    pub secret: Step,
}

impl Default for Steps {
    fn default() -> Steps {
        Steps {
            authenticated: Step::NotChecked,
            credentials: Step::NotChecked,
            reachable: Step::NotChecked,
            staging: Step::NotChecked,
            case_sensitive: Step::NotChecked,
            secret: Step::NotChecked,
        }
    }
}

impl Steps {
    fn in_order(&self) -> [(&'static str, &Step); 6] {
        [
            (AUTHENTICATED, &self.authenticated),
            (CREDENTIALS_ISSUED, &self.credentials),
            (REACHABLE, &self.reachable),
            (STAGING_READY, &self.staging),
            (CASE_SENSITIVE, &self.case_sensitive),
            (SECRET_PUBLISHED, &self.secret),
        ]
    }
}

/// The overall decision of a reconcile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    /// Step conditions plus Ready, Reconciling and Stalled.
    pub conditions: Vec<Decided>,
    pub progress: Progress,
    /// Set when the next attempt should back off (a transient failure) rather than follow `progress`.
    pub backoff: Option<Category>,
}

/// Adds the steps up. Work under way (Waiting, Retrying) wins over a failure elsewhere, so that a connection
/// that is still converging is not reported Stalled; otherwise the first failure decides Ready's reason.
pub fn decide(steps: &Steps, summary: &str, reverify: Duration) -> Decision {
    let mut conditions = Vec::new();
    for (type_, step) in steps.in_order() {
        conditions.push(match step {
            Step::Passed { reason, message } => {
                Decided::new(type_, Status::True, reason, message.clone())
            }
            Step::Failed { reason, message }
            | Step::Retrying {
                reason, message, ..
            }
            | Step::Waiting {
                reason, message, ..
            } => Decided::new(type_, Status::False, reason, message.clone()),
            Step::Informational {
                status,
                reason,
                message,
            } => Decided::new(type_, *status, reason, message.clone()),
            Step::NotChecked => Decided::new(
                type_,
                Status::Unknown,
                reasons::NOT_CHECKED,
                "an earlier step did not pass",
            ),
        });
    }
    let busy = steps.in_order().into_iter().find_map(|(_, s)| match s {
        Step::Waiting {
            reason,
            message,
            requeue,
        } => Some((reason, message, *requeue, None)),
        Step::Retrying {
            reason,
            message,
            category,
        } => Some((reason, message, Duration::from_secs(5), Some(*category))),
        _ => None,
    });
    let failed = steps.in_order().into_iter().find_map(|(_, s)| match s {
        Step::Failed { reason, message } => Some((reason, message)),
        _ => None,
    });
    let (progress, backoff) = match (busy, failed) {
        (Some((reason, message, requeue, backoff)), _) => (
            Progress::in_progress(reason, message.clone(), requeue),
            backoff,
        ),
        (None, Some((reason, message))) => (Progress::stalled(reason, message.clone()), None),
        (None, None) => (
            Progress::Ready {
                message: summary.to_string(),
                recheck_after: reverify,
            },
            None,
        ),
    };
    conditions.extend(crate::outcome::summary_conditions(&progress));
    Decision {
        conditions,
        progress,
        backoff,
    }
}

/// Checks the operator adds to the shared validation before any AWS call.
pub fn spec_problems(spec: &RedshiftConnectionSpec) -> Vec<FieldError> {
    let mut out = Vec::new();
    // The Data API needs a database user or a secret to reach a provisioned cluster.
    if spec.provisioned.is_some() && spec.auth.db_user.is_none() && spec.auth.secret_arn.is_none() {
        out.push(FieldError {
            path: "spec.auth.dbUser".into(),
            message: "is required for a provisioned cluster unless spec.auth.secretArn is set"
                .into(),
        });
    }
    out
}

/// The Authenticated step from the warehouse describe: a not-found answer still proves the identity works,
/// so it passes here and the missing warehouse is reported as unreachable.
pub fn authenticated(describe: &Result<Warehouse, Error>) -> (Step, Option<Step>) {
    match describe {
        Ok(w) => (
            Step::passed(
                reasons::DESCRIBED,
                format!("described {} ({})", w.describe(), w.namespace_arn),
            ),
            None,
        ),
        Err(e)
            if e.aws_code().is_some_and(is_not_found)
                || matches!(e, Error::Terminal { reason, .. } if is_not_found(reason)) =>
        {
            (
                Step::passed(
                    reasons::IDENTITY_ACCEPTED,
                    "AWS accepted the identity but found no such warehouse",
                ),
                Some(Step::failed(reasons::WAREHOUSE_NOT_FOUND, e.to_string())),
            )
        }
        Err(e) => (Step::from_error(e), None),
    }
}

/// CredentialsIssued when the spec uses a Secrets Manager secret instead of temporary credentials.
pub fn credentials_not_needed() -> Step {
    Step::passed(reasons::NOT_NEEDED, "spec.auth.secretArn is set: the Data API uses the secret, no temporary credentials are requested")
}

/// The Data API statement's final state.
pub fn reachable(status: &str, error: Option<&str>) -> Step {
    match status {
        "FINISHED" => Step::passed(
            reasons::QUERY_SUCCEEDED,
            "SELECT 1 finished through the Redshift Data API",
        ),
        "FAILED" => Step::failed(
            reasons::QUERY_FAILED,
            format!("SELECT 1 failed: {}", error.unwrap_or("no error given")),
        ),
        "ABORTED" => Step::Retrying {
            reason: reasons::QUERY_FAILED.into(),
            message: "SELECT 1 was aborted".into(),
            category: Category::Retryable,
        },
        other => Step::waiting(
            reasons::QUERY_RUNNING,
            format!("SELECT 1 is still {other}"),
            Duration::from_secs(5),
        ),
    }
}

/// S3 reports us-east-1 as an empty location and eu-west-1 as the legacy `EU`.
pub fn bucket_region(location: Option<&str>) -> String {
    match location.unwrap_or_default() {
        "" => "us-east-1".into(),
        "EU" => "eu-west-1".into(),
        other => other.to_string(),
    }
}

/// What the staging checks saw.
#[derive(Debug)]
pub struct StagingObservation {
    /// The bucket's region, or the error GetBucketLocation returned.
    pub bucket_region: Result<String, Error>,
    /// The KMS key's state and region when one is declared.
    pub kms_key: Option<Result<KmsKey, Error>>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KmsKey {
    pub enabled: bool,
    pub region: String,
}

/// StagingReady: the bucket is in the warehouse's region, the role is attached to it, the key is usable.
pub fn staging(
    spec: &RedshiftConnectionSpec,
    w: &Warehouse,
    seen: Option<&StagingObservation>,
) -> Step {
    let (Some(staging), Some(seen)) = (&spec.staging, seen) else {
        return Step::passed(reasons::NOT_CONFIGURED, "no staging declared");
    };
    let bucket = &staging.bucket;
    let region = match &seen.bucket_region {
        Ok(r) => r,
        Err(e) if e.aws_code() == Some("NoSuchBucket") => {
            return Step::failed(
                reasons::BUCKET_NOT_FOUND,
                format!("bucket {bucket} does not exist"),
            );
        }
        Err(e) => return Step::from_error(e),
    };
    if *region != w.region {
        return Step::failed(
            reasons::BUCKET_REGION_MISMATCH,
            format!(
                "bucket {bucket} is in {region} but the warehouse is in {}; COPY and UNLOAD need the staging bucket in the warehouse's region",
                w.region
            ),
        );
    }
    if !w.iam_roles.contains(&staging.iam_role_arn) {
        return Step::failed(
            reasons::ROLE_NOT_ATTACHED,
            format!(
                "role {} is not attached to {}; attach it so that Redshift can assume it for COPY and UNLOAD",
                staging.iam_role_arn,
                w.describe()
            ),
        );
    }
    match (&staging.kms_key_id, &seen.kms_key) {
        (Some(key), Some(Ok(k))) if !k.enabled => {
            return Step::failed(
                reasons::KMS_KEY_NOT_USABLE,
                format!("KMS key {key} is not enabled"),
            );
        }
        (Some(key), Some(Ok(k))) if k.region != w.region => {
            return Step::failed(
                reasons::KMS_KEY_NOT_USABLE,
                format!(
                    "KMS key {key} is in {} but the warehouse is in {}",
                    k.region, w.region
                ),
            );
        }
        (Some(_), Some(Err(e))) => return Step::from_error(e),
        _ => {}
    }
    Step::passed(
        reasons::STAGING_VERIFIED,
        format!(
            "bucket {bucket} is in {region} and role {} is attached",
            staging.iam_role_arn
        ),
    )
}

/// CaseSensitive in Verify (or Ignore, then informational) mode, from the observation alone.
pub fn case_sensitivity_observed(w: &Warehouse, ignore: bool) -> Step {
    let (status, reason, message) = if w.case_sensitive {
        (
            Status::True,
            reasons::ENABLED,
            "enable_case_sensitive_identifier is on".to_string(),
        )
    } else if w.case_sensitivity_pending_reboot {
        (
            Status::False,
            reasons::PENDING_REBOOT,
            format!(
                "enable_case_sensitive_identifier is set on {} but applies after a reboot",
                w.describe()
            ),
        )
    } else {
        (
            Status::False,
            reasons::DISABLED,
            format!(
                "enable_case_sensitive_identifier is off on {}; zero-ETL needs it on (set caseSensitiveIdentifiers: Fix, or turn it on)",
                w.describe()
            ),
        )
    };
    match (ignore, status) {
        (true, _) => Step::Informational {
            status,
            reason: reason.into(),
            message: format!("{message} (not checked: caseSensitiveIdentifiers is Ignore)"),
        },
        (false, Status::True) => Step::passed(reason, message),
        (false, _) => Step::failed(reason, message),
    }
}

/// CaseSensitive in Fix mode, from what the change did.
pub fn case_sensitivity_fixed(
    w: &Warehouse,
    change: &Result<CaseSensitivityChange, Error>,
) -> Step {
    match change {
        Ok(CaseSensitivityChange::AlreadyOn) => case_sensitivity_observed(w, false),
        Ok(CaseSensitivityChange::Applied) => Step::waiting(
            reasons::APPLYING,
            format!(
                "turned on enable_case_sensitive_identifier on {}; waiting for it to apply",
                w.describe()
            ),
            Duration::from_secs(3),
        ),
        Ok(CaseSensitivityChange::Rebooting) => Step::waiting(
            reasons::REBOOTING,
            format!(
                "{} is rebooting to apply enable_case_sensitive_identifier",
                w.describe()
            ),
            Duration::from_secs(10),
        ),
        Ok(CaseSensitivityChange::RebootRequired) => Step::failed(
            reasons::PENDING_REBOOT,
            format!(
                "enable_case_sensitive_identifier is set on {} and applies after a reboot; reboot the cluster \
                 when convenient (the operator does not reboot warehouses)",
                w.describe()
            ),
        ),
        Err(e) => Step::from_error(e),
    }
}

/// Where a connection points, from a fresh observation or from the last status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coordinates {
    pub kind: WarehouseKindName,
    pub endpoint: Endpoint,
    pub namespace_arn: String,
    pub region: String,
}

impl Coordinates {
    pub fn from_warehouse(w: &Warehouse) -> Option<Coordinates> {
        Some(Coordinates {
            kind: kind_name(w.kind),
            endpoint: w.endpoint.clone()?,
            namespace_arn: w.namespace_arn.clone(),
            region: w.region.clone(),
        })
    }

    pub fn from_status(status: &RedshiftConnectionStatus, region: &str) -> Option<Coordinates> {
        Some(Coordinates {
            kind: status.kind?,
            endpoint: status.endpoint.clone()?,
            namespace_arn: status.namespace_arn.clone()?,
            region: region.to_string(),
        })
    }
}

pub fn kind_name(kind: WarehouseKind) -> WarehouseKindName {
    match kind {
        WarehouseKind::Serverless => WarehouseKindName::Serverless,
        WarehouseKind::Provisioned => WarehouseKindName::Provisioned,
    }
}

/// Every key the published Secret may hold. Coordinates only: never a password, key or token.
pub const SECRET_KEYS: &[&str] = &[
    "host",
    "port",
    "database",
    "jdbcUrl",
    "region",
    "namespaceArn",
    "workgroup",
    "cluster",
    "roleArn",
    "stagingRoleArn",
];

/// The published Secret's data: `workgroup` or `cluster` by kind, `roleArn` with assumeRole, `stagingRoleArn`
/// with staging.
pub fn secret_data(spec: &RedshiftConnectionSpec, at: &Coordinates) -> BTreeMap<String, String> {
    let mut data = BTreeMap::new();
    data.insert("host".to_string(), at.endpoint.address.clone());
    data.insert("port".to_string(), at.endpoint.port.to_string());
    data.insert("database".to_string(), spec.database.clone());
    data.insert("jdbcUrl".to_string(), spec.jdbc_url(&at.endpoint));
    data.insert("region".to_string(), at.region.clone());
    data.insert("namespaceArn".to_string(), at.namespace_arn.clone());
    if let Some(s) = &spec.serverless {
        data.insert("workgroup".to_string(), s.workgroup_name.clone());
    }
    if let Some(p) = &spec.provisioned {
        data.insert("cluster".to_string(), p.cluster_identifier.clone());
    }
    if let Some(r) = &spec.auth.assume_role {
        data.insert("roleArn".to_string(), r.role_arn.clone());
    }
    if let Some(s) = &spec.staging {
        data.insert("stagingRoleArn".to_string(), s.iam_role_arn.clone());
    }
    data
}

/// The status to write. Coordinates come from this observation; when the warehouse could not be described
/// they are kept from the last status for the same generation (and dropped after a spec change, since they
/// may describe another warehouse). `lastVerifiedTime` moves only when everything passed.
pub fn next_status(
    obj: &RedshiftConnection,
    observed: Option<&Warehouse>,
    decided: &[Decided],
    now: DateTime<Utc>,
) -> RedshiftConnectionStatus {
    let previous = obj.status.clone().unwrap_or_default();
    let generation = obj.metadata.generation;
    let same_generation = previous.observed_generation == generation;
    let mut next = match observed {
        Some(w) => RedshiftConnectionStatus {
            kind: Some(kind_name(w.kind)),
            endpoint: w.endpoint.clone(),
            namespace_arn: Some(w.namespace_arn.clone()),
            jdbc_url: w.endpoint.as_ref().map(|e| obj.spec.jdbc_url(e)),
            case_sensitive: Some(w.case_sensitive),
            ..previous.clone()
        },
        None if same_generation => previous.clone(),
        None => RedshiftConnectionStatus {
            last_verified_time: previous.last_verified_time.clone(),
            ..Default::default()
        },
    };
    next.observed_generation = generation;
    let time = Time(Timestamp::from_second(now.timestamp()).unwrap_or_else(|_| Timestamp::now()));
    next.conditions = conditions::merge(&previous.conditions, decided, generation, &time);
    if decided
        .iter()
        .any(|d| d.type_ == READY && d.status == Status::True)
    {
        next.last_verified_time = Some(now.to_rfc3339_opts(SecondsFormat::Secs, true));
    }
    next
}

/// When the last end-to-end verification is recent enough to skip AWS this time (a reconcile triggered by
/// our own status write or by the published Secret changing), how long until the next one is due.
pub fn verification_fresh_for(
    obj: &RedshiftConnection,
    now: DateTime<Utc>,
    interval: Duration,
) -> Option<Duration> {
    let status = obj.status.as_ref()?;
    if status.observed_generation != obj.metadata.generation
        || !conditions::is_true(&status.conditions, READY)
    {
        return None;
    }
    let last = DateTime::parse_from_rfc3339(status.last_verified_time.as_deref()?)
        .ok()?
        .with_timezone(&Utc);
    let elapsed = (now - last).to_std().unwrap_or_default();
    // A tenth of slack so that the requeue timer firing a little early still re-verifies.
    let remaining = interval.checked_sub(elapsed)?;
    (remaining > interval / 10).then_some(remaining)
}

#[cfg(test)]
mod tests;
