//! Provisioned clusters: DescribeClusters gives the endpoint, namespace ARN, encryption and roles; the
//! case-sensitivity setting lives in the attached cluster parameter group and applies after a reboot.

use aws_sdk_redshift::types::{Cluster, Parameter};
use zeroetl_api::arn::WarehouseKind;
use zeroetl_api::connection::Endpoint;

use super::{account_of, is_on, CaseSensitivityChange, Warehouse, CASE_SENSITIVE_PARAMETER};
use crate::aws::Clients;
use crate::aws::{incomplete, not_found, sdk_error, AwsErrorKind};
use crate::error::{Error, Result};

/// Resolves a cluster by identifier (DescribeClusters, DescribeClusterParameters).
pub async fn by_cluster(c: &Clients, id: &str) -> Result<Warehouse> {
    let cluster = describe(c, id).await?;
    warehouse(c, &cluster).await
}

/// Finds the cluster whose ClusterNamespaceArn is `arn` (paginated DescribeClusters).
pub async fn by_namespace_arn(c: &Clients, arn: &str) -> Result<Warehouse> {
    let mut clusters = c
        .redshift
        .describe_clusters()
        .max_records(100)
        .into_paginator()
        .items()
        .send();
    while let Some(cluster) = clusters.next().await {
        let cluster = cluster.map_err(|e| sdk_error("redshift", "DescribeClusters", e))?;
        if cluster.cluster_namespace_arn() == Some(arn) {
            return warehouse(c, &cluster).await;
        }
    }
    Err(not_found(
        "redshift",
        "DescribeClusters",
        "NamespaceNotFound",
        format!("no Redshift cluster with namespace {arn} in {}", c.region),
    ))
}

async fn describe(c: &Clients, id: &str) -> Result<Cluster> {
    let out = c
        .redshift
        .describe_clusters()
        .cluster_identifier(id)
        .send()
        .await
        .map_err(|e| sdk_error("redshift", "DescribeClusters", e))?;
    out.clusters().first().cloned().ok_or_else(|| {
        not_found(
            "redshift",
            "DescribeClusters",
            "ClusterNotFound",
            format!("cluster {id} not found"),
        )
    })
}

/// The case-sensitivity state of a cluster: the value in its parameter group and whether it still waits
/// for a reboot.
struct ParameterState {
    group: String,
    value_on: bool,
    pending_reboot: bool,
}

async fn parameter_state(c: &Clients, cluster: &Cluster) -> Result<ParameterState> {
    let Some(status) = cluster.cluster_parameter_groups().first() else {
        return Ok(ParameterState {
            group: String::new(),
            value_on: false,
            pending_reboot: false,
        });
    };
    let group = status
        .parameter_group_name()
        .unwrap_or_default()
        .to_string();
    // Prefer the per-parameter apply status; older responses only carry the group's.
    let apply_status = status
        .cluster_parameter_status_list()
        .iter()
        .find(|p| p.parameter_name() == Some(CASE_SENSITIVE_PARAMETER))
        .and_then(|p| p.parameter_apply_status())
        .or(status.parameter_apply_status())
        .unwrap_or_default();
    let value_on = is_on(
        group_parameter(c, &group, CASE_SENSITIVE_PARAMETER)
            .await?
            .as_deref(),
    );
    Ok(ParameterState {
        group,
        value_on,
        pending_reboot: apply_status == "pending-reboot",
    })
}

async fn group_parameter(c: &Clients, group: &str, name: &str) -> Result<Option<String>> {
    let mut parameters = c
        .redshift
        .describe_cluster_parameters()
        .parameter_group_name(group)
        .max_records(100)
        .into_paginator()
        .items()
        .send();
    while let Some(p) = parameters.next().await {
        let p = p.map_err(|e| sdk_error("redshift", "DescribeClusterParameters", e))?;
        if p.parameter_name() == Some(name) {
            return Ok(p.parameter_value().map(str::to_string));
        }
    }
    Ok(None)
}

async fn warehouse(c: &Clients, cluster: &Cluster) -> Result<Warehouse> {
    let id = cluster.cluster_identifier().unwrap_or_default().to_string();
    let namespace_arn = cluster
        .cluster_namespace_arn()
        .ok_or_else(|| incomplete("redshift", "DescribeClusters", "ClusterNamespaceArn"))?
        .to_string();
    let state = parameter_state(c, cluster).await?;
    let endpoint = cluster.endpoint().and_then(|e| {
        Some(Endpoint {
            address: e.address()?.to_string(),
            port: e.port()?,
        })
    });
    Ok(Warehouse {
        kind: WarehouseKind::Provisioned,
        region: c.region.clone(),
        account: account_of(&namespace_arn),
        namespace_name: None,
        workgroup_name: None,
        cluster_identifier: Some(id),
        endpoint,
        case_sensitive: state.value_on && !state.pending_reboot,
        case_sensitivity_pending_reboot: state.value_on && state.pending_reboot,
        encrypted: cluster.encrypted().unwrap_or(false),
        iam_roles: cluster
            .iam_roles()
            .iter()
            .filter_map(|r| r.iam_role_arn().map(str::to_string))
            .collect(),
        namespace_arn,
        status: cluster.cluster_status().unwrap_or_default().to_string(),
        admin_user: cluster.master_username().map(str::to_string),
        default_database: cluster.db_name().map(str::to_string),
    })
}

/// The parameter group the operator creates for a cluster that uses a `default.` group.
fn custom_group_name(cluster_id: &str) -> String {
    format!("{cluster_id}-zeroetl")
}

pub(super) async fn enable_case_sensitivity(
    c: &Clients,
    w: &Warehouse,
    allow_reboot: bool,
) -> Result<CaseSensitivityChange> {
    let id = w.cluster_identifier.as_deref().unwrap_or_default();
    // Re-read: the decision depends on the group and its apply status right now.
    let cluster = describe(c, id).await?;
    let state = parameter_state(c, &cluster).await?;
    let status = cluster.cluster_status().unwrap_or_default();
    if state.value_on && !state.pending_reboot {
        return Ok(CaseSensitivityChange::AlreadyOn);
    }
    if !state.value_on {
        let group = if state.group.is_empty() || state.group.starts_with("default.") {
            // Default groups cannot be modified: make our own from the same family and attach it.
            let family = group_family(c, &state.group).await?;
            let name = custom_group_name(id);
            create_group(c, &name, &family, id).await?;
            set_parameter(c, &name).await?;
            c.redshift
                .modify_cluster()
                .cluster_identifier(id)
                .cluster_parameter_group_name(&name)
                .send()
                .await
                .map_err(|e| sdk_error("redshift", "ModifyCluster", e))?;
            name
        } else {
            // Never change a group other clusters use: their owners did not ask for it.
            let others = clusters_using(c, &state.group, id).await?;
            if !others.is_empty() {
                return Err(Error::terminal(
                    "ParameterGroupShared",
                    format!(
                        "cluster parameter group {} is also used by {}; the operator does not change a group other clusters use. Set {CASE_SENSITIVE_PARAMETER}=true in it yourself, or give {id} its own group",
                        state.group,
                        others.join(", ")
                    ),
                ));
            }
            set_parameter(c, &state.group).await?;
            state.group.clone()
        };
        tracing::info!(cluster = id, parameter_group = %group, "set {CASE_SENSITIVE_PARAMETER}=true");
    }
    if !status.eq_ignore_ascii_case("available") {
        // A reboot (ours or someone's) or another change is under way; it applies pending parameters.
        return Ok(CaseSensitivityChange::Rebooting);
    }
    if !allow_reboot {
        return Ok(CaseSensitivityChange::RebootRequired);
    }
    c.redshift
        .reboot_cluster()
        .cluster_identifier(id)
        .send()
        .await
        .map_err(|e| sdk_error("redshift", "RebootCluster", e))?;
    Ok(CaseSensitivityChange::Rebooting)
}

/// The other clusters attached to the parameter group `group`.
async fn clusters_using(c: &Clients, group: &str, except: &str) -> Result<Vec<String>> {
    let mut others = Vec::new();
    let mut clusters = c
        .redshift
        .describe_clusters()
        .max_records(100)
        .into_paginator()
        .items()
        .send();
    while let Some(cluster) = clusters.next().await {
        let cluster = cluster.map_err(|e| sdk_error("redshift", "DescribeClusters", e))?;
        let id = cluster.cluster_identifier().unwrap_or_default();
        let uses = cluster
            .cluster_parameter_groups()
            .iter()
            .any(|g| g.parameter_group_name() == Some(group));
        if uses && id != except {
            others.push(format!("cluster {id}"));
        }
    }
    Ok(others)
}

async fn group_family(c: &Clients, group: &str) -> Result<String> {
    if group.is_empty() {
        return Ok("redshift-2.0".into());
    }
    let out = c
        .redshift
        .describe_cluster_parameter_groups()
        .parameter_group_name(group)
        .send()
        .await
        .map_err(|e| sdk_error("redshift", "DescribeClusterParameterGroups", e))?;
    Ok(out
        .parameter_groups()
        .first()
        .and_then(|g| g.parameter_group_family())
        .unwrap_or("redshift-2.0")
        .to_string())
}

async fn create_group(c: &Clients, name: &str, family: &str, cluster_id: &str) -> Result<()> {
    let created = c
        .redshift
        .create_cluster_parameter_group()
        .parameter_group_name(name)
        .parameter_group_family(family)
        .description(format!(
            "zeroetl-operator: {CASE_SENSITIVE_PARAMETER} for {cluster_id}"
        ))
        .send()
        .await;
    match created {
        Ok(_) => Ok(()),
        Err(e) => match sdk_error("redshift", "CreateClusterParameterGroup", e) {
            // Left behind by an earlier attempt that stopped before attaching it: reuse it.
            e if e.is_aws(AwsErrorKind::AlreadyExists) => Ok(()),
            e => Err(e),
        },
    }
}

async fn set_parameter(c: &Clients, group: &str) -> Result<()> {
    let param = Parameter::builder()
        .parameter_name(CASE_SENSITIVE_PARAMETER)
        .parameter_value("true")
        .build();
    c.redshift
        .modify_cluster_parameter_group()
        .parameter_group_name(group)
        .parameters(param)
        .send()
        .await
        .map_err(|e| sdk_error("redshift", "ModifyClusterParameterGroup", e))?;
    Ok(())
}
