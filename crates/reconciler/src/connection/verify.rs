//! The AWS half of verification: each function makes one step's calls and hands what it saw to `plan`.
//! Temporary database credentials are requested only to prove they can be issued and are dropped at once.

use std::time::Duration;

use aws_sdk_redshiftdata::types::StatusString;
use tokio::time::{sleep, Instant};
use zeroetl_api::connection::CaseSensitivityMode;
use zeroetl_api::RedshiftConnectionSpec;

use super::plan::{self, KmsKey, StagingObservation, Step, Steps};
use crate::aws::Clients;
use crate::error::{aws, Error};
use crate::warehouse::{self, Warehouse};

/// How long a reconcile waits for `SELECT 1` before reporting it as still running.
const STATEMENT_DEADLINE: Duration = Duration::from_secs(20);
/// The shortest lifetime AWS allows; the credentials are never used.
const CREDENTIAL_SECONDS: i32 = 900;

/// Runs the AWS steps after the identity is known. Authenticated gates everything; the Data API check
/// needs credentials first; staging and case sensitivity are independent of both.
pub async fn warehouse_steps(
    c: &Clients,
    spec: &RedshiftConnectionSpec,
    steps: &mut Steps,
) -> Option<Warehouse> {
    let described = match (&spec.serverless, &spec.provisioned) {
        (Some(s), _) => warehouse::by_workgroup(c, &s.workgroup_name).await,
        (_, Some(p)) => warehouse::by_cluster(c, &p.cluster_identifier).await,
        // Validation guarantees exactly one; this keeps the function total.
        (None, None) => Err(Error::terminal(
            "InvalidSpec",
            "neither serverless nor provisioned is set",
        )),
    };
    let (auth, not_found) = plan::authenticated(&described);
    steps.authenticated = auth;
    if let Some(unreachable) = not_found {
        steps.reachable = unreachable;
        return None;
    }
    let w = described.ok()?;

    steps.credentials = credentials(c, spec, &w).await;
    if steps.credentials.is_passed() {
        steps.reachable = select_one(c, spec, &w).await;
    }
    steps.staging = staging(c, spec, &w).await;
    steps.case_sensitive = case_sensitivity(c, spec, &w).await;
    Some(w)
}

async fn credentials(c: &Clients, spec: &RedshiftConnectionSpec, w: &Warehouse) -> Step {
    if spec.auth.secret_arn.is_some() {
        return plan::credentials_not_needed();
    }
    let issued = match (&w.workgroup_name, &w.cluster_identifier, &spec.auth.db_user) {
        (Some(workgroup), _, _) => c
            .serverless
            .get_credentials()
            .workgroup_name(workgroup)
            .db_name(&spec.database)
            .duration_seconds(CREDENTIAL_SECONDS)
            .send()
            .await
            .map(|out| out.db_user().unwrap_or_default().to_string())
            .map_err(|e| aws("redshift-serverless", "GetCredentials", e)),
        (_, Some(cluster), Some(user)) => c
            .redshift
            .get_cluster_credentials()
            .cluster_identifier(cluster)
            .db_user(user)
            .db_name(&spec.database)
            .duration_seconds(CREDENTIAL_SECONDS)
            .auto_create(false)
            .send()
            .await
            .map(|out| out.db_user().unwrap_or_default().to_string())
            .map_err(|e| aws("redshift", "GetClusterCredentials", e)),
        // Rejected before any AWS call (plan::spec_problems); kept total.
        _ => Err(Error::terminal(
            "InvalidSpec",
            "spec.auth.dbUser is required for a provisioned cluster",
        )),
    };
    match issued {
        Ok(db_user) => Step::passed(
            plan::reasons::ISSUED,
            format!("temporary database credentials issued for {db_user}"),
        ),
        Err(e) => Step::from_error(&e),
    }
}

async fn select_one(c: &Clients, spec: &RedshiftConnectionSpec, w: &Warehouse) -> Step {
    let started = c
        .data
        .execute_statement()
        .sql("SELECT 1")
        .database(&spec.database)
        .set_workgroup_name(w.workgroup_name.clone())
        .set_cluster_identifier(w.cluster_identifier.clone())
        .set_db_user(if w.cluster_identifier.is_some() {
            spec.auth.db_user.clone()
        } else {
            None
        })
        .set_secret_arn(spec.auth.secret_arn.clone())
        .send()
        .await;
    let id = match started {
        Ok(out) => out.id().unwrap_or_default().to_string(),
        Err(e) => return Step::from_error(&aws("redshift-data", "ExecuteStatement", e)),
    };
    let deadline = Instant::now() + STATEMENT_DEADLINE;
    let mut pause = Duration::from_millis(100);
    loop {
        let described = match c.data.describe_statement().id(&id).send().await {
            Ok(out) => out,
            Err(e) => return Step::from_error(&aws("redshift-data", "DescribeStatement", e)),
        };
        let status = described
            .status()
            .cloned()
            .unwrap_or(StatusString::Submitted);
        let done = matches!(
            status,
            StatusString::Finished | StatusString::Failed | StatusString::Aborted
        );
        if done || Instant::now() + pause > deadline {
            return plan::reachable(status.as_str(), described.error());
        }
        sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}

async fn staging(c: &Clients, spec: &RedshiftConnectionSpec, w: &Warehouse) -> Step {
    let Some(s) = &spec.staging else {
        return plan::staging(spec, w, None);
    };
    let bucket_region =
        c.s3.get_bucket_location()
            .bucket(&s.bucket)
            .send()
            .await
            .map(|out| plan::bucket_region(out.location_constraint().map(|l| l.as_str())))
            .map_err(|e| aws("s3", "GetBucketLocation", e));
    let kms_key = match &s.kms_key_id {
        Some(key) => Some(
            c.kms
                .describe_key()
                .key_id(key)
                .send()
                .await
                .map(|out| {
                    let meta = out.key_metadata();
                    KmsKey {
                        enabled: meta.is_some_and(|m| m.enabled()),
                        region: meta
                            .and_then(|m| m.arn())
                            .and_then(|a| a.split(':').nth(3))
                            .unwrap_or_default()
                            .to_string(),
                    }
                })
                .map_err(|e| aws("kms", "DescribeKey", e)),
        ),
        None => None,
    };
    plan::staging(
        spec,
        w,
        Some(&StagingObservation {
            bucket_region,
            kms_key,
        }),
    )
}

async fn case_sensitivity(c: &Clients, spec: &RedshiftConnectionSpec, w: &Warehouse) -> Step {
    match spec.case_sensitive_identifiers {
        CaseSensitivityMode::Verify => plan::case_sensitivity_observed(w, false),
        CaseSensitivityMode::Ignore => plan::case_sensitivity_observed(w, true),
        // Fix sets the parameter but never reboots a provisioned cluster: a reboot interrupts every client
        // of the warehouse, so it stays the owner's decision (the integration's target Fix does the same).
        CaseSensitivityMode::Fix => {
            plan::case_sensitivity_fixed(w, &warehouse::enable_case_sensitivity(c, w, false).await)
        }
    }
}
