//! Observation, reads only: the target reference (Kubernetes), then in AWS the integration, and — unless
//! the prerequisites are settled — the source database and its parameter groups, and the target warehouse
//! with its resource policy. The plan decides everything from what is gathered here.

mod integration;
mod source;
mod target;

use std::sync::Arc;

use kube::{Api, ResourceExt};
use zeroetl_api::arn::{NamespaceArn, SourceArn};
use zeroetl_api::conditions::{is_true, READY, SOURCE_READY};
use zeroetl_api::integration::ZeroEtlIntegrationSpec;
use zeroetl_api::{RedshiftConnection, ZeroEtlIntegration};

pub use integration::{aws_integration, find_integration, tags};

use super::observed::{AwsIntegration, Observed, SourceState, TargetRef, TargetState};
use super::plan::{self, Input};
use crate::aws::{Clients, Identity};
use crate::error::{Error, Result};
use crate::k8s::identity;
use crate::Context;

/// Everything one pass saw, and the clients to act with.
pub struct Observation {
    pub target_ref: TargetRef,
    pub connection: Option<RedshiftConnection>,
    /// The operator's identity in the source's account and region.
    pub source_clients: Arc<Clients>,
    /// The identity for the target warehouse: the connection's, else the operator's.
    pub target_clients: Arc<Clients>,
    /// The integration found by stored ARN or by name.
    pub integration: Option<AwsIntegration>,
    pub source: Observed<SourceState>,
    pub target: Observed<TargetState>,
}

impl Observation {
    /// The plan's input for this observation.
    pub fn input<'a>(&'a self, obj: &'a ZeroEtlIntegration, name: &'a str) -> Input<'a> {
        Input {
            spec: &obj.spec,
            name,
            status: obj.status.as_ref().unwrap_or(&EMPTY_STATUS),
            target_ref: &self.target_ref,
            connection: self.connection.as_ref().map(|c| &c.spec),
            source: &self.source,
            target: &self.target,
            integration: self.integration.as_ref(),
            now: chrono::Utc::now(),
        }
    }
}

static EMPTY_STATUS: std::sync::LazyLock<zeroetl_api::ZeroEtlIntegrationStatus> =
    std::sync::LazyLock::new(Default::default);

/// Looks at everything the plan needs for a live object.
pub async fn observe(obj: &ZeroEtlIntegration, ctx: &Context) -> Result<Observation> {
    let namespace = obj.namespace().unwrap_or_default();
    let (target_ref, connection) = target_ref(&ctx.client, &namespace, &obj.spec).await?;
    let region = region(&obj.spec, &ctx.config.default_region);
    let source_clients = ctx.aws.clients(&region, &Identity::Default).await?;
    let connection_spec = connection.as_ref().map(|c| &c.spec);
    let target_identity =
        identity::resolve(&ctx.client, &namespace, connection_spec.map(|s| &s.auth)).await?;
    let target_region = connection_spec
        .and_then(|s| s.region.clone())
        .unwrap_or_else(|| region.clone());
    let target_clients = ctx.aws.clients(&target_region, &target_identity).await?;

    observe_aws(
        obj,
        Observation {
            target_ref,
            connection,
            source_clients,
            target_clients,
            integration: None,
            source: Observed::Skipped,
            target: Observed::Skipped,
        },
    )
    .await
}

/// The AWS half of [`observe`], given the target reference and the clients (the simulator tests start here).
pub async fn observe_aws(obj: &ZeroEtlIntegration, mut seen: Observation) -> Result<Observation> {
    let status = obj.status.clone().unwrap_or_default();
    let name = obj.aws_name();
    seen.integration = find_integration(
        &seen.source_clients,
        status.integration_arn.as_deref(),
        &name,
    )
    .await?;
    if plan::prerequisites_settled(
        &obj.spec,
        &status,
        obj.metadata.generation,
        seen.integration.as_ref(),
    ) {
        // A steady state costs one DescribeIntegrations.
        return Ok(seen);
    }
    seen.source = source::observe_source(&seen.source_clients, &obj.spec).await?;
    // The target is looked at once the source is ready (nothing on it changes before), or when an existing
    // integration may need the warehouse for its database.
    let source_ready = plan::plan(&seen.input(obj, &name))
        .conditions
        .iter()
        .any(|c| c.type_ == SOURCE_READY && c.status == zeroetl_api::conditions::Status::True);
    if let TargetRef::Arn(arn) = &seen.target_ref {
        if source_ready || seen.integration.is_some() {
            seen.target = target::observe_target(
                &seen.target_clients,
                arn,
                seen.connection.as_ref().map(|c| &c.spec),
            )
            .await?;
        }
    }
    Ok(seen)
}

/// What deleting needs: the operator's clients in the integration's region and the integration this object
/// owns, if AWS still has it. Found by name only when it joins the spec's source: never someone else's.
pub async fn observe_deletion(
    obj: &ZeroEtlIntegration,
    ctx: &Context,
) -> Result<(Arc<Clients>, Option<AwsIntegration>)> {
    let status = obj.status.clone().unwrap_or_default();
    let region = status
        .integration_arn
        .as_deref()
        .and_then(zeroetl_api::arn::Arn::parse)
        .map(|a| a.region)
        .filter(|r| !r.is_empty())
        .unwrap_or_else(|| region(&obj.spec, &ctx.config.default_region));
    let clients = ctx.aws.clients(&region, &Identity::Default).await?;
    let found = find_integration(&clients, status.integration_arn.as_deref(), &obj.aws_name())
        .await?
        .filter(|i| {
            status.integration_arn.as_deref() == Some(i.arn.as_str())
                || plan::source_matches(&obj.spec.source, &i.source_arn)
        });
    Ok((clients, found))
}

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
