//! Redshift Serverless: a workgroup serves queries (endpoint, config parameters); its namespace holds the
//! data, the roles and the ARN zero-ETL targets.

use aws_sdk_redshiftserverless::types::{ConfigParameter, Namespace, Workgroup};
use zeroetl_api::arn::WarehouseKind;
use zeroetl_api::connection::Endpoint;

use super::{
    account_of, is_on, role_arn_of, CaseSensitivityChange, Warehouse, CASE_SENSITIVE_PARAMETER,
};
use crate::aws::Clients;
use crate::aws::{incomplete, not_found, sdk_error};
use crate::error::{Error, Result};

/// Resolves a workgroup and its namespace (GetWorkgroup, GetNamespace).
pub async fn by_workgroup(c: &Clients, name: &str) -> Result<Warehouse> {
    let out = c
        .serverless
        .get_workgroup()
        .workgroup_name(name)
        .send()
        .await
        .map_err(|e| sdk_error("redshift-serverless", "GetWorkgroup", e))?;
    let workgroup = out
        .workgroup()
        .ok_or_else(|| missing("GetWorkgroup", "workgroup"))?;
    let namespace_name = workgroup
        .namespace_name()
        .ok_or_else(|| missing("GetWorkgroup", "namespaceName"))?;
    let out = c
        .serverless
        .get_namespace()
        .namespace_name(namespace_name)
        .send()
        .await
        .map_err(|e| sdk_error("redshift-serverless", "GetNamespace", e))?;
    let namespace = out
        .namespace()
        .ok_or_else(|| missing("GetNamespace", "namespace"))?;
    warehouse(c, namespace, Some(workgroup))
}

/// Finds the namespace with this ARN (ListNamespaces) and a workgroup serving it (ListWorkgroups).
pub async fn by_namespace_arn(c: &Clients, arn: &str) -> Result<Warehouse> {
    let mut namespaces = c
        .serverless
        .list_namespaces()
        .max_results(100)
        .into_paginator()
        .items()
        .send();
    let mut found = None;
    while let Some(n) = namespaces.next().await {
        let n = n.map_err(|e| sdk_error("redshift-serverless", "ListNamespaces", e))?;
        if n.namespace_arn() == Some(arn) {
            found = Some(n);
            break;
        }
    }
    let namespace = found.ok_or_else(|| {
        not_found(
            "redshift-serverless",
            "ListNamespaces",
            "NamespaceNotFound",
            format!("no Redshift Serverless namespace {arn} in {}", c.region),
        )
    })?;
    let namespace_name = namespace.namespace_name().unwrap_or_default().to_string();
    let mut workgroups = c
        .serverless
        .list_workgroups()
        .max_results(100)
        .into_paginator()
        .items()
        .send();
    let mut workgroup = None;
    while let Some(w) = workgroups.next().await {
        let w = w.map_err(|e| sdk_error("redshift-serverless", "ListWorkgroups", e))?;
        if w.namespace_name() == Some(namespace_name.as_str()) {
            workgroup = Some(w);
            break;
        }
    }
    warehouse(c, &namespace, workgroup.as_ref())
}

fn warehouse(
    c: &Clients,
    namespace: &Namespace,
    workgroup: Option<&Workgroup>,
) -> Result<Warehouse> {
    let namespace_arn = namespace
        .namespace_arn()
        .ok_or_else(|| missing("GetNamespace", "namespaceArn"))?
        .to_string();
    let endpoint = workgroup.and_then(Workgroup::endpoint).and_then(|e| {
        let address = e.address()?.to_string();
        // The port sits on the endpoint; some responses carry it only at the workgroup level.
        let port = e.port().or(workgroup.and_then(Workgroup::port))?;
        Some(Endpoint { address, port })
    });
    let case_sensitive = workgroup
        .is_some_and(|w| is_on(parameter(w.config_parameters(), CASE_SENSITIVE_PARAMETER)));
    let status = match workgroup {
        Some(w) => w.status().map(|s| s.as_str().to_string()),
        None => namespace.status().map(|s| s.as_str().to_string()),
    };
    Ok(Warehouse {
        kind: WarehouseKind::Serverless,
        region: c.region.clone(),
        account: account_of(&namespace_arn),
        namespace_name: namespace.namespace_name().map(str::to_string),
        workgroup_name: workgroup
            .and_then(Workgroup::workgroup_name)
            .map(str::to_string),
        cluster_identifier: None,
        endpoint,
        case_sensitive,
        case_sensitivity_pending_reboot: false,
        // Serverless namespaces are always encrypted (an AWS owned key unless one is chosen).
        encrypted: true,
        iam_roles: namespace
            .iam_roles()
            .iter()
            .map(|r| role_arn_of(r))
            .collect(),
        namespace_arn,
        status: status.unwrap_or_default(),
        // Serverless maps IAM identities to database users; the admin user is not needed.
        admin_user: None,
        default_database: namespace.db_name().map(str::to_string),
    })
}

fn parameter<'a>(params: &'a [ConfigParameter], key: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|p| p.parameter_key() == Some(key))
        .and_then(ConfigParameter::parameter_value)
}

/// UpdateWorkgroup with only the one parameter: the service applies it without a reboot.
pub(super) async fn enable_case_sensitivity(
    c: &Clients,
    w: &Warehouse,
) -> Result<CaseSensitivityChange> {
    let Some(workgroup) = &w.workgroup_name else {
        return Err(Error::terminal(
            "NoWorkgroup",
            format!(
                "namespace {} has no workgroup to set {CASE_SENSITIVE_PARAMETER} on",
                w.namespace_arn
            ),
        ));
    };
    let param = ConfigParameter::builder()
        .parameter_key(CASE_SENSITIVE_PARAMETER)
        .parameter_value("true")
        .build();
    c.serverless
        .update_workgroup()
        .workgroup_name(workgroup)
        .config_parameters(param)
        .send()
        .await
        .map_err(|e| sdk_error("redshift-serverless", "UpdateWorkgroup", e))?;
    Ok(CaseSensitivityChange::Applied)
}

fn missing(action: &'static str, field: &str) -> Error {
    incomplete("redshift-serverless", action, field)
}
