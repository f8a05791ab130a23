//! What each verification step's observation means as a step (pure).

use zeroetl_api::arn::WarehouseKind;
use zeroetl_api::conditions::Status;
use zeroetl_api::RedshiftConnectionSpec;

use super::{reasons, Step};
use crate::aws::data_api::StatementEnd;
use crate::aws::AwsErrorKind;
use crate::error::{Category, Error};
use crate::timing;
use crate::warehouse::Warehouse;

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
        Err(e) if e.is_aws(AwsErrorKind::NotFound) => (
            Step::passed(
                reasons::IDENTITY_ACCEPTED,
                "AWS accepted the identity but found no such warehouse",
            ),
            Some(Step::failed(reasons::WAREHOUSE_NOT_FOUND, e.to_string())),
        ),
        Err(e) => (Step::from_error(e), None),
    }
}

/// CredentialsIssued when the spec uses a Secrets Manager secret instead of temporary credentials.
pub fn credentials_not_needed() -> Step {
    Step::passed(reasons::NOT_NEEDED, "spec.auth.secretArn is set: the Data API uses the secret, no temporary credentials are requested")
}

/// Reachable, from how `SELECT 1` ended.
pub fn reachable(end: &StatementEnd) -> Step {
    match end {
        StatementEnd::Finished => Step::passed(
            reasons::QUERY_SUCCEEDED,
            "SELECT 1 finished through the Redshift Data API",
        ),
        StatementEnd::Failed(why) => {
            Step::failed(reasons::QUERY_FAILED, format!("SELECT 1 failed: {why}"))
        }
        StatementEnd::Aborted => Step::Retrying {
            reason: reasons::QUERY_FAILED.into(),
            message: "SELECT 1 was aborted".into(),
            category: Category::Retryable,
        },
        StatementEnd::Running { id } => Step::waiting(
            reasons::QUERY_RUNNING,
            format!("SELECT 1 is still running (statement {id})"),
            timing::STATEMENT_RUNNING_RECHECK,
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
        Err(e) if e.is_aws(AwsErrorKind::NotFound) => {
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

/// CaseSensitive in Fix mode when the parameter is off: what turning it on will lead to. Serverless applies
/// it at once (the workgroup is briefly MODIFYING); a provisioned cluster takes it after a reboot, which the
/// operator leaves to the warehouse's owner (unless one is already under way).
pub fn case_sensitivity_fix_planned(w: &Warehouse) -> Step {
    let what = w.describe();
    match w.kind {
        WarehouseKind::Serverless => Step::waiting(
            reasons::APPLYING,
            format!("turning on enable_case_sensitive_identifier on {what}; waiting for it to apply"),
            timing::CASE_SENSITIVITY_APPLYING,
        ),
        WarehouseKind::Provisioned if !w.is_available() => Step::waiting(
            reasons::REBOOTING,
            format!("{what} is {}; enable_case_sensitive_identifier applies when it is back", w.status),
            timing::WAREHOUSE_REBOOTING,
        ),
        WarehouseKind::Provisioned => Step::failed(
            reasons::PENDING_REBOOT,
            format!(
                "enable_case_sensitive_identifier is set on {what} and applies after a reboot; reboot the cluster \
                 when convenient (the operator does not reboot warehouses)"
            ),
        ),
    }
}
