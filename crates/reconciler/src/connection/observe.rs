//! Observation for a connection, reads only: the identity, the warehouse, whether temporary database
//! credentials can be issued (they are requested and dropped at once), whether `SELECT 1` runs through the
//! Data API, and the staging bucket and key. Each read is attempted only when the one it depends on worked;
//! errors are kept as observations, for the plan to turn into step conditions.

use aws_sdk_s3::types::BucketLocationConstraint;
use zeroetl_api::connection::Staging;
use zeroetl_api::RedshiftConnectionSpec;

use super::plan::{bucket_region, KmsKey, StagingObservation};
use crate::aws::data_api::{execute_and_wait, StatementEnd};
use crate::aws::{sdk_error, Clients};
use crate::error::{Error, Result};
use crate::timing;
use crate::warehouse::{self, Warehouse};

/// What the AWS side of a verification saw.
#[derive(Debug)]
pub struct WarehouseObservation {
    pub described: Result<Warehouse, Error>,
    /// The database user temporary credentials were issued for; `None`: not attempted.
    pub credentials: Option<Result<String, Error>>,
    /// How `SELECT 1` ended; `None`: not attempted.
    pub query: Option<Result<StatementEnd, Error>>,
    /// `None` without a warehouse or without declared staging.
    pub staging: Option<StagingObservation>,
}

impl WarehouseObservation {
    /// An identity that could not even be built: nothing else was looked at.
    pub fn refused(e: Error) -> WarehouseObservation {
        WarehouseObservation {
            described: Err(e),
            credentials: None,
            query: None,
            staging: None,
        }
    }
}

/// Looks at the warehouse `spec` names with `c`.
pub async fn observe(c: &Clients, spec: &RedshiftConnectionSpec) -> WarehouseObservation {
    let described = warehouse::of_connection(c, spec).await;
    let Ok(w) = &described else {
        return WarehouseObservation::refused(described.expect_err("checked"));
    };
    let credentials = match spec.auth.secret_arn {
        Some(_) => None,
        None => Some(credentials(c, spec, w).await),
    };
    let query = match &credentials {
        Some(Err(_)) => None,
        _ => Some(select_one(c, spec, w).await),
    };
    let staging = match &spec.staging {
        Some(s) => Some(staging(c, s).await),
        None => None,
    };
    WarehouseObservation {
        described,
        credentials,
        query,
        staging,
    }
}

pub(crate) async fn credentials(
    c: &Clients,
    spec: &RedshiftConnectionSpec,
    w: &Warehouse,
) -> Result<String> {
    let seconds = timing::TEMPORARY_CREDENTIALS_LIFETIME.as_secs() as i32;
    match (&w.workgroup_name, &w.cluster_identifier, &spec.auth.db_user) {
        (Some(workgroup), _, _) => c
            .serverless
            .get_credentials()
            .workgroup_name(workgroup)
            .db_name(&spec.database)
            .duration_seconds(seconds)
            .send()
            .await
            .map(|out| out.db_user().unwrap_or_default().to_string())
            .map_err(|e| sdk_error("redshift-serverless", "GetCredentials", e)),
        (_, Some(cluster), Some(user)) => c
            .redshift
            .get_cluster_credentials()
            .cluster_identifier(cluster)
            .db_user(user)
            .db_name(&spec.database)
            .duration_seconds(seconds)
            .auto_create(false)
            .send()
            .await
            .map(|out| out.db_user().unwrap_or_default().to_string())
            .map_err(|e| sdk_error("redshift", "GetClusterCredentials", e)),
        // Refused before any AWS call (plan::spec_problems); kept total.
        _ => Err(Error::terminal(
            "InvalidSpec",
            "spec.auth.dbUser is required for a provisioned cluster",
        )),
    }
}

pub(crate) async fn select_one(
    c: &Clients,
    spec: &RedshiftConnectionSpec,
    w: &Warehouse,
) -> Result<StatementEnd> {
    let target = warehouse::data_api_target(
        w,
        spec.database.clone(),
        spec.auth.db_user.clone(),
        spec.auth.secret_arn.clone(),
    );
    execute_and_wait(c, &target, "SELECT 1", timing::SELECT_ONE_DEADLINE).await
}

pub(crate) async fn staging(c: &Clients, s: &Staging) -> StagingObservation {
    let bucket_region =
        c.s3.get_bucket_location()
            .bucket(&s.bucket)
            .send()
            .await
            .map(|out| {
                bucket_region(
                    out.location_constraint()
                        .map(BucketLocationConstraint::as_str),
                )
            })
            .map_err(|e| sdk_error("s3", "GetBucketLocation", e));
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
                .map_err(|e| sdk_error("kms", "DescribeKey", e)),
        ),
        None => None,
    };
    StagingObservation {
        bucket_region,
        kms_key,
    }
}
