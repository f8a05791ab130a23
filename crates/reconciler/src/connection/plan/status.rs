//! The status fields a verification leaves behind, the coordinates Secret's content, and when the last
//! verification is fresh enough to skip AWS.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use zeroetl_api::arn::WarehouseKind;
use zeroetl_api::conditions::{self, READY};
use zeroetl_api::connection::{Endpoint, WarehouseKindName};
use zeroetl_api::{RedshiftConnection, RedshiftConnectionSpec, RedshiftConnectionStatus};

use crate::verification;
use crate::warehouse::Warehouse;

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

/// What this pass knows about the warehouse.
#[derive(Clone, Copy, Debug)]
pub enum WarehouseSeen<'a> {
    Described(&'a Warehouse),
    /// AWS says it does not exist.
    Missing,
    /// Not looked at, or the look failed (an identity problem, a transient error).
    Unknown,
}

/// The status fields to write (the pipeline merges the conditions). Coordinates come from this observation;
/// when the warehouse could not be described they are kept from the last status for the same generation (and
/// dropped after a spec change, since they may describe another warehouse). `lastVerifiedTime` moves only
/// when everything passed (`ready`), and at most hourly (see `verification`).
pub fn next_status(
    obj: &RedshiftConnection,
    observed: WarehouseSeen,
    ready: bool,
    now: DateTime<Utc>,
) -> RedshiftConnectionStatus {
    let previous = obj.status.clone().unwrap_or_default();
    let generation = obj.metadata.generation;
    let same_generation = previous.observed_generation == generation;
    let mut next = match observed {
        WarehouseSeen::Described(w) => RedshiftConnectionStatus {
            kind: Some(kind_name(w.kind)),
            endpoint: w.endpoint.clone(),
            namespace_arn: Some(w.namespace_arn.clone()),
            jdbc_url: w.endpoint.as_ref().map(|e| obj.spec.jdbc_url(e)),
            case_sensitive: Some(w.case_sensitive),
            ..previous.clone()
        },
        WarehouseSeen::Unknown if same_generation => previous.clone(),
        // Gone, or possibly another warehouse after a spec change: no coordinates are shown.
        WarehouseSeen::Missing | WarehouseSeen::Unknown => RedshiftConnectionStatus {
            last_verified_time: previous.last_verified_time.clone(),
            ..Default::default()
        },
    };
    next.observed_generation = generation;
    next.last_verified_time = verification::recorded_after(
        previous.last_verified_time.as_deref(),
        ready,
        same_generation,
        now,
    );
    next
}

/// When the last end-to-end verification is recent enough to skip AWS this time (a reconcile triggered by
/// our own status write or by the published Secret changing), how long until the next one is due. The last
/// verification is the later of `status.lastVerifiedTime` and what this process remembers (`in_memory`):
/// the status records it only hourly.
pub fn verification_fresh_for(
    obj: &RedshiftConnection,
    in_memory: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    interval: Duration,
) -> Option<Duration> {
    let status = obj.status.as_ref()?;
    if status.observed_generation != obj.metadata.generation
        || !conditions::is_true(&status.conditions, READY)
    {
        return None;
    }
    verification::fresh_for(
        status.last_verified_time.as_deref(),
        in_memory,
        now,
        interval,
    )
}
