//! Observation: the target reference (Kubernetes), the source database and its parameter groups, the target
//! warehouse and its resource policy, and the integration itself (AWS). Reads only; the plan decides.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_rds::types::{DbCluster, DbInstance, Integration};
use chrono::{DateTime, Utc};
use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use zeroetl_api::arn::{NamespaceArn, SourceArn, SourceKind};
use zeroetl_api::conditions::{is_true, READY};
use zeroetl_api::integration::{IntegrationError, PrerequisiteMode, ZeroEtlIntegrationSpec};
use zeroetl_api::RedshiftConnection;

use super::observed::{
    AwsIntegration, Observed, ParameterGroup, SourceState, TargetRef, TargetState,
};
use super::plan::derived_group_name;
use super::source_params::{wrong_parameters, Engine};
use crate::aws::{Clients, Identity};
use crate::error::{aws, Error, Result};
use crate::warehouse::{self, Warehouse};

/// The region the integration lives in: the spec's, else the one its ARNs name, else the operator's.
pub fn region(spec: &ZeroEtlIntegrationSpec, default_region: &str) -> String {
    spec.region
        .clone()
        .or_else(|| {
            spec.source
                .arn
                .as_deref()
                .and_then(SourceArn::parse)
                .map(|a| a.arn.region)
        })
        .or_else(|| {
            spec.target
                .namespace_arn
                .as_deref()
                .and_then(NamespaceArn::parse)
                .map(|a| a.arn.region)
        })
        .unwrap_or_else(|| default_region.to_string())
}

/// The target namespace ARN, straight from the spec or from a Ready RedshiftConnection, which is also returned.
pub async fn target_ref(
    client: &kube::Client,
    namespace: &str,
    spec: &ZeroEtlIntegrationSpec,
) -> Result<(TargetRef, Option<RedshiftConnection>)> {
    if let Some(arn) = &spec.target.namespace_arn {
        return Ok((TargetRef::Arn(arn.clone()), None));
    }
    let Some(reference) = &spec.target.connection_ref else {
        return Err(Error::terminal(
            "InvalidSpec",
            "spec.target names neither a namespaceArn nor a connectionRef",
        ));
    };
    let api: Api<RedshiftConnection> = Api::namespaced(client.clone(), namespace);
    let Some(connection) = api.get_opt(&reference.name).await? else {
        let message = format!(
            "RedshiftConnection {} does not exist in namespace {namespace}",
            reference.name
        );
        return Ok((
            TargetRef::Waiting {
                reason: "ConnectionNotFound".into(),
                message,
            },
            None,
        ));
    };
    Ok((connection_target(&connection), Some(connection)))
}

/// A connection gives its namespace ARN once it is Ready (it has then proven the warehouse works).
pub fn connection_target(connection: &RedshiftConnection) -> TargetRef {
    let name = connection.metadata.name.as_deref().unwrap_or_default();
    let status = connection.status.as_ref();
    let ready = status.is_some_and(|s| is_true(&s.conditions, READY));
    match status.and_then(|s| s.namespace_arn.clone()) {
        Some(arn) if ready => TargetRef::Arn(arn),
        _ => {
            let why = status
                .and_then(|s| zeroetl_api::conditions::find(&s.conditions, READY))
                .map(|c| format!(" ({}: {})", c.reason, c.message))
                .unwrap_or_default();
            TargetRef::Waiting {
                reason: "ConnectionNotReady".into(),
                message: format!("RedshiftConnection {name} is not Ready yet{why}"),
            }
        }
    }
}

/// The AWS identity for the target side: the connection's, if it names one, else the operator's own. Secrets
/// are read from the connection's (= the integration's) namespace only.
pub async fn connection_identity(
    client: &kube::Client,
    namespace: &str,
    connection: Option<&RedshiftConnection>,
) -> Result<Identity> {
    let Some(auth) = connection.map(|c| &c.spec.auth) else {
        return Ok(Identity::Default);
    };
    if let Some(role) = &auth.assume_role {
        return Ok(Identity::AssumeRole {
            role_arn: role.role_arn.clone(),
            external_id: role.external_id.clone(),
        });
    }
    let Some(reference) = &auth.access_key_secret_ref else {
        return Ok(Identity::Default);
    };
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let missing = |what: String| {
        Error::waiting(
            "AccessKeySecretMissing",
            what,
            std::time::Duration::from_secs(30),
        )
    };
    let secret = api
        .get_opt(&reference.name)
        .await?
        .ok_or_else(|| missing(format!("Secret {} does not exist", reference.name)))?;
    let read = |key: &str| -> Result<String> {
        let value = secret
            .data
            .as_ref()
            .and_then(|d| d.get(key))
            .ok_or_else(|| missing(format!("Secret {} has no key {key}", reference.name)))?;
        String::from_utf8(value.0.clone())
            .map(|s| s.trim().to_string())
            .map_err(|_| missing(format!("Secret {} key {key} is not UTF-8", reference.name)))
    };
    Ok(Identity::AccessKey {
        access_key_id: read(
            reference
                .access_key_id_key
                .as_deref()
                .unwrap_or("AWS_ACCESS_KEY_ID"),
        )?,
        secret_access_key: read(
            reference
                .secret_access_key_key
                .as_deref()
                .unwrap_or("AWS_SECRET_ACCESS_KEY"),
        )?,
    })
}

// ---------------------------------------------------------------------------------------------------------
// Source

fn not_found_code(e: &Error) -> bool {
    matches!(
        e.aws_code(),
        Some(
            "DBClusterNotFoundFault"
                | "DBInstanceNotFound"
                | "DBInstanceNotFoundFault"
                | "DBParameterGroupNotFound"
                | "DBParameterGroupNotFoundFault"
                | "DBClusterParameterGroupNotFound"
                | "DBClusterParameterGroupNotFoundFault"
        )
    )
}

async fn describe_cluster(c: &Clients, id: &str) -> Result<Option<DbCluster>> {
    match c
        .rds
        .describe_db_clusters()
        .db_cluster_identifier(id)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_clusters().first().cloned()),
        Err(e) => match aws("rds", "DescribeDBClusters", e) {
            e if not_found_code(&e) => Ok(None),
            e => Err(e),
        },
    }
}

async fn describe_instance(c: &Clients, id: &str) -> Result<Option<DbInstance>> {
    match c
        .rds
        .describe_db_instances()
        .db_instance_identifier(id)
        .send()
        .await
    {
        Ok(out) => Ok(out.db_instances().first().cloned()),
        Err(e) => match aws("rds", "DescribeDBInstances", e) {
            e if not_found_code(&e) => Ok(None),
            e => Err(e),
        },
    }
}

/// Looks at the source and the parameter group that carries its zero-ETL parameters. In Fix mode, with
/// wrong values, it also looks at the group the operator would derive and at who else uses each group.
pub async fn observe_source(
    c: &Clients,
    spec: &ZeroEtlIntegrationSpec,
) -> Result<Observed<SourceState>> {
    let s = &spec.source;
    let (kind, id) = match (&s.arn, &s.db_cluster_identifier, &s.db_instance_identifier) {
        (Some(arn), _, _) => match SourceArn::parse(arn) {
            Some(a) => (a.kind, a.identifier),
            None => {
                return Ok(Observed::NotFound(format!(
                    "{arn} is not an RDS cluster or instance ARN"
                )))
            }
        },
        (_, Some(id), _) => (SourceKind::Cluster, id.clone()),
        (_, _, Some(id)) => (SourceKind::Instance, id.clone()),
        _ => {
            return Err(Error::terminal(
                "InvalidSpec",
                "spec.source names no database",
            ))
        }
    };
    let mut source = match kind {
        SourceKind::Cluster => match describe_cluster(c, &id).await? {
            Some(cluster) => cluster_state(&cluster, None),
            None => {
                return Ok(Observed::NotFound(format!(
                    "DB cluster {id} does not exist in {}",
                    c.region
                )))
            }
        },
        SourceKind::Instance => {
            let Some(instance) = describe_instance(c, &id).await? else {
                return Ok(Observed::NotFound(format!(
                    "DB instance {id} does not exist in {}",
                    c.region
                )));
            };
            // Aurora instances replicate through their cluster: the cluster is the zero-ETL source.
            match instance.db_cluster_identifier() {
                Some(cluster_id) => match describe_cluster(c, cluster_id).await? {
                    Some(cluster) => cluster_state(&cluster, Some(id.clone())),
                    None => {
                        return Ok(Observed::NotFound(format!(
                            "DB cluster {cluster_id} of instance {id} does not exist"
                        )))
                    }
                },
                None => instance_state(&instance),
            }
        }
    };
    let cluster_group = source.kind == SourceKind::Cluster;
    source.group = read_group(c, cluster_group, &source.group.name)
        .await?
        .unwrap_or_else(|| source.group.clone());

    let engine = Engine::from_rds(&source.engine);
    let wrong = engine.is_some_and(|e| !wrong_parameters(e, &source.group.values).is_empty());
    if spec.prerequisites.source == PrerequisiteMode::Fix && wrong {
        let own = derived_group_name(&source.identifier);
        source.group.shared_with =
            Some(group_users(c, cluster_group, &source.group.name, &source.identifier).await?);
        if source.group.name != own {
            if let Some(mut derived) = read_group(c, cluster_group, &own).await? {
                derived.shared_with =
                    Some(group_users(c, cluster_group, &own, &source.identifier).await?);
                source.derived_group = Some(derived);
            }
        }
    }
    Ok(Observed::Seen(source))
}

fn cluster_state(cluster: &DbCluster, resolved_from_instance: Option<String>) -> SourceState {
    let members = cluster.db_cluster_members();
    let writer = members
        .iter()
        .find(|m| m.is_cluster_writer() == Some(true))
        .or(members.first());
    SourceState {
        arn: cluster.db_cluster_arn().unwrap_or_default().to_string(),
        identifier: cluster
            .db_cluster_identifier()
            .unwrap_or_default()
            .to_string(),
        kind: SourceKind::Cluster,
        engine: cluster.engine().unwrap_or_default().to_string(),
        status: cluster.status().unwrap_or_default().to_string(),
        resolved_from_instance,
        reboot_target: writer
            .and_then(|w| w.db_instance_identifier())
            .unwrap_or_default()
            .to_string(),
        backup_retention_period: cluster.backup_retention_period().unwrap_or_default().into(),
        group: ParameterGroup {
            name: cluster
                .db_cluster_parameter_group()
                .unwrap_or_default()
                .to_string(),
            ..Default::default()
        },
        apply_status: writer
            .and_then(|w| w.db_cluster_parameter_group_status())
            .unwrap_or("in-sync")
            .to_string(),
        derived_group: None,
    }
}

fn instance_state(instance: &DbInstance) -> SourceState {
    let group = instance.db_parameter_groups().first();
    let identifier = instance
        .db_instance_identifier()
        .unwrap_or_default()
        .to_string();
    SourceState {
        arn: instance.db_instance_arn().unwrap_or_default().to_string(),
        identifier: identifier.clone(),
        kind: SourceKind::Instance,
        engine: instance.engine().unwrap_or_default().to_string(),
        status: instance
            .db_instance_status()
            .unwrap_or_default()
            .to_string(),
        resolved_from_instance: None,
        reboot_target: identifier,
        backup_retention_period: instance
            .backup_retention_period()
            .unwrap_or_default()
            .into(),
        group: ParameterGroup {
            name: group
                .and_then(|g| g.db_parameter_group_name())
                .unwrap_or_default()
                .to_string(),
            ..Default::default()
        },
        apply_status: group
            .and_then(|g| g.parameter_apply_status())
            .unwrap_or("in-sync")
            .to_string(),
        derived_group: None,
    }
}

/// A parameter group's family and every parameter (paginated), or None when it does not exist.
async fn read_group(
    c: &Clients,
    cluster_group: bool,
    name: &str,
) -> Result<Option<ParameterGroup>> {
    let family = if cluster_group {
        match c
            .rds
            .describe_db_cluster_parameter_groups()
            .db_cluster_parameter_group_name(name)
            .send()
            .await
        {
            Ok(out) => out
                .db_cluster_parameter_groups()
                .first()
                .and_then(|g| g.db_parameter_group_family())
                .map(str::to_string),
            Err(e) => match aws("rds", "DescribeDBClusterParameterGroups", e) {
                e if not_found_code(&e) => return Ok(None),
                e => return Err(e),
            },
        }
    } else {
        match c
            .rds
            .describe_db_parameter_groups()
            .db_parameter_group_name(name)
            .send()
            .await
        {
            Ok(out) => out
                .db_parameter_groups()
                .first()
                .and_then(|g| g.db_parameter_group_family())
                .map(str::to_string),
            Err(e) => match aws("rds", "DescribeDBParameterGroups", e) {
                e if not_found_code(&e) => return Ok(None),
                e => return Err(e),
            },
        }
    };
    let mut group = ParameterGroup {
        name: name.to_string(),
        family: family.unwrap_or_default(),
        ..Default::default()
    };
    let mut marker: Option<String> = None;
    loop {
        let (parameters, next) = if cluster_group {
            let out = c
                .rds
                .describe_db_cluster_parameters()
                .db_cluster_parameter_group_name(name)
                .max_records(100)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| aws("rds", "DescribeDBClusterParameters", e))?;
            (out.parameters().to_vec(), out.marker().map(str::to_string))
        } else {
            let out = c
                .rds
                .describe_db_parameters()
                .db_parameter_group_name(name)
                .max_records(100)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| aws("rds", "DescribeDBParameters", e))?;
            (out.parameters().to_vec(), out.marker().map(str::to_string))
        };
        for p in parameters {
            let Some(key) = p.parameter_name() else {
                continue;
            };
            // An absent value is an empty one (AWS omits ParameterValue for unset parameters).
            group.values.insert(
                key.to_string(),
                p.parameter_value().unwrap_or_default().to_string(),
            );
            if p.source() == Some("user") {
                group.user_set.insert(key.to_string());
            }
            if p.apply_type() == Some("static") {
                group.static_parameters.insert(key.to_string());
            }
        }
        match next {
            Some(m) if !m.is_empty() => marker = Some(m),
            _ => break,
        }
    }
    Ok(Some(group))
}

/// The other clusters (or instances) a parameter group is attached to.
async fn group_users(
    c: &Clients,
    cluster_group: bool,
    group: &str,
    except: &str,
) -> Result<Vec<String>> {
    let mut users = BTreeSet::new();
    let mut marker: Option<String> = None;
    loop {
        let next = if cluster_group {
            let out = c
                .rds
                .describe_db_clusters()
                .max_records(100)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| aws("rds", "DescribeDBClusters", e))?;
            for cluster in out.db_clusters() {
                let id = cluster.db_cluster_identifier().unwrap_or_default();
                if cluster.db_cluster_parameter_group() == Some(group) && id != except {
                    users.insert(format!("cluster {id}"));
                }
            }
            out.marker().map(str::to_string)
        } else {
            let out = c
                .rds
                .describe_db_instances()
                .max_records(100)
                .set_marker(marker.take())
                .send()
                .await
                .map_err(|e| aws("rds", "DescribeDBInstances", e))?;
            for instance in out.db_instances() {
                let id = instance.db_instance_identifier().unwrap_or_default();
                let uses = instance
                    .db_parameter_groups()
                    .iter()
                    .any(|g| g.db_parameter_group_name() == Some(group));
                if uses && id != except {
                    users.insert(format!("instance {id}"));
                }
            }
            out.marker().map(str::to_string)
        };
        match next {
            Some(m) if !m.is_empty() => marker = Some(m),
            _ => break,
        }
    }
    Ok(users.into_iter().collect())
}

// ---------------------------------------------------------------------------------------------------------
// Target

/// The warehouse behind the target (by the connection's workgroup or cluster when there is one, which is
/// cheaper than searching by ARN) and its resource policy.
pub async fn observe_target(
    c: &Clients,
    namespace_arn: &str,
    connection: Option<&RedshiftConnection>,
) -> Result<Observed<TargetState>> {
    let found = match connection.map(|c| &c.spec) {
        Some(spec) if spec.serverless.is_some() => {
            warehouse::by_workgroup(
                c,
                &spec.serverless.as_ref().expect("checked").workgroup_name,
            )
            .await
        }
        Some(spec) if spec.provisioned.is_some() => {
            warehouse::by_cluster(
                c,
                &spec
                    .provisioned
                    .as_ref()
                    .expect("checked")
                    .cluster_identifier,
            )
            .await
        }
        _ => warehouse::by_namespace_arn(c, namespace_arn).await,
    };
    let warehouse: Warehouse = match found {
        Ok(w) => w,
        Err(e) if is_missing(&e) => {
            return Ok(Observed::NotFound(format!(
                "no Redshift warehouse for namespace {namespace_arn}: {e}"
            )))
        }
        Err(e) => return Err(e),
    };
    if warehouse.namespace_arn != namespace_arn {
        return Ok(Observed::NotFound(format!(
            "the connection's warehouse has namespace {}, not {namespace_arn}; wait for the RedshiftConnection to catch up",
            warehouse.namespace_arn
        )));
    }
    let policy = match c
        .redshift
        .get_resource_policy()
        .resource_arn(namespace_arn)
        .send()
        .await
    {
        Ok(out) => out
            .resource_policy()
            .and_then(|p| p.policy())
            .map(str::to_string)
            .filter(|p| !p.trim().is_empty()),
        Err(e) => match aws("redshift", "GetResourcePolicy", e) {
            e if matches!(
                e.aws_code(),
                Some("ResourceNotFoundFault" | "ResourceNotFound")
            ) =>
            {
                None
            }
            e => return Err(e),
        },
    };
    Ok(Observed::Seen(TargetState { warehouse, policy }))
}

fn is_missing(e: &Error) -> bool {
    match e {
        Error::Terminal { reason, .. } => reason.contains("NotFound"),
        _ => matches!(e.aws_code(), Some(code) if code.contains("NotFound")),
    }
}

// ---------------------------------------------------------------------------------------------------------
// Integration

/// The integration: by the stored ARN first, then by name (a crash between CreateIntegration and the status
/// write leaves only the name to go by).
pub async fn find_integration(
    c: &Clients,
    stored_arn: Option<&str>,
    name: &str,
) -> Result<Option<AwsIntegration>> {
    if let Some(arn) = stored_arn {
        if let Some(found) = describe_integration(c, arn).await? {
            return Ok(Some(found));
        }
    }
    Ok(describe_integration(c, name)
        .await?
        .filter(|i| i.name == name))
}

async fn describe_integration(c: &Clients, identifier: &str) -> Result<Option<AwsIntegration>> {
    match c
        .rds
        .describe_integrations()
        .integration_identifier(identifier)
        .send()
        .await
    {
        Ok(out) => Ok(out.integrations().first().map(aws_integration)),
        Err(e) => match aws("rds", "DescribeIntegrations", e) {
            e if e.aws_code() == Some("IntegrationNotFoundFault") => Ok(None),
            e => Err(e),
        },
    }
}

pub fn aws_integration(i: &Integration) -> AwsIntegration {
    AwsIntegration {
        arn: i.integration_arn().unwrap_or_default().to_string(),
        name: i.integration_name().unwrap_or_default().to_string(),
        source_arn: i.source_arn().unwrap_or_default().to_string(),
        target_arn: i.target_arn().unwrap_or_default().to_string(),
        status: i
            .status()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default(),
        data_filter: i.data_filter().map(str::to_string),
        description: i.description().map(str::to_string),
        tags: tags(i.tags()),
        errors: i
            .errors()
            .iter()
            .map(|e| IntegrationError {
                code: e.error_code().unwrap_or_default().to_string(),
                message: e.error_message().unwrap_or_default().to_string(),
            })
            .collect(),
        create_time: i
            .create_time()
            .and_then(|t| DateTime::<Utc>::from_timestamp(t.secs(), t.subsec_nanos())),
    }
}

pub fn tags(list: &[aws_sdk_rds::types::Tag]) -> BTreeMap<String, String> {
    list.iter()
        .filter_map(|t| {
            Some((
                t.key()?.to_string(),
                t.value().unwrap_or_default().to_string(),
            ))
        })
        .collect()
}
