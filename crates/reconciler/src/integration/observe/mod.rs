//! Observation, reads only: the target reference (Kubernetes), then in AWS the integration, and — unless
//! the prerequisites are settled — the source database and its parameter groups, and the target warehouse
//! with its resource policy. The plan decides everything from what is gathered here.

mod integration;
mod replication;
mod source;
pub mod target;

use std::sync::Arc;

use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};
use zeroetl_api::arn::{NamespaceArn, SourceArn};
use zeroetl_api::conditions::{is_true, READY, SOURCE_READY};
use zeroetl_api::integration::ZeroEtlIntegrationSpec;
use zeroetl_api::{RedshiftConnection, ZeroEtlIntegration};

pub use integration::{aws_integration, find_integration, tags};

use super::observed::{
    AwsIntegration, Observed, ReplicationState, SourceState, TargetRef, TargetState,
};
use super::plan::{self, Input};
use crate::aws::shared_reads::Reads;
use crate::aws::{Clients, Identity};
use crate::error::{Error, Result};
use crate::k8s::identity;
use crate::ownership::{self, Owner};
use crate::rechecks::{self, Asked};
use crate::shared::Shared;
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
    /// Replication health and the destination database's binding (full checks only).
    pub replication: Observed<ReplicationState>,
    /// Locks, shared reads and snapshots shared with every other pass.
    pub shared: Arc<Shared>,
}

impl Observation {
    /// The plan's input for this observation.
    pub fn input<'a>(
        &'a self,
        obj: &'a ZeroEtlIntegration,
        name: &'a str,
        owner: &'a Owner,
    ) -> Input<'a> {
        Input {
            spec: &obj.spec,
            name,
            status: obj.status.as_ref().unwrap_or(&EMPTY_STATUS),
            target_ref: &self.target_ref,
            connection: self.connection.as_ref().map(|c| &c.spec),
            source: &self.source,
            target: &self.target,
            integration: self.integration.as_ref(),
            replication: &self.replication,
            owner,
            adopt: ownership::adoption_requested(obj),
            policy: obj.spec.management_policy,
            now: chrono::Utc::now(),
        }
    }
}

static EMPTY_STATUS: std::sync::LazyLock<zeroetl_api::ZeroEtlIntegrationStatus> =
    std::sync::LazyLock::new(Default::default);

/// Looks at everything the plan needs for a live object.
pub async fn observe(obj: &ZeroEtlIntegration, ctx: &Context) -> Result<Observation> {
    let namespace = obj.namespace().unwrap_or_default();
    let (target_ref, connection) = target_ref(ctx, &namespace, &obj.spec).await?;
    let region = region(&obj.spec, &ctx.config.default_region);
    let source_clients = ctx.aws.clients(&region, &Identity::Default).await?;
    let connection_spec = connection.as_ref().map(|c| &c.spec);
    // The connection declares the target identity: the session is named after it.
    let declared_by = connection
        .as_ref()
        .map(|c| c.name_any())
        .unwrap_or_default();
    let target_identity = identity::resolve(
        &ctx.client,
        &namespace,
        &declared_by,
        connection_spec.map(|s| &s.auth),
    )
    .await?;
    let target_region = connection_spec
        .and_then(|s| s.region.clone())
        .unwrap_or_else(|| region.clone());
    let target_clients = ctx.aws.clients(&target_region, &target_identity).await?;

    let uid = obj.uid().unwrap_or_default();
    let observed_generation = obj.status.as_ref().and_then(|s| s.observed_generation);
    let reported = observed_generation.is_some();
    // Reported at this generation by an earlier process: on its first pass here (an operator restart, a
    // new leader) nobody asked anything new, and a fleet read afresh at once would be a describe per object
    // with every shared cache bypassed.
    let known = reported && observed_generation == obj.metadata.generation;
    let fresh = match ctx
        .rechecks
        .asked_since_last_pass(&uid, rechecks::asked(obj))
    {
        Asked::Changed => true,
        Asked::Same => false,
        Asked::FirstPass => !known,
    };
    let look = Look {
        full: ctx.rechecks.due(&uid, ctx.config.drift_interval, known) || fresh,
        fresh,
        shared_fresh: fresh && reported,
    };
    observe_aws(
        obj,
        &Owner::of(obj, &ctx.config.cluster_name),
        look,
        Observation {
            target_ref,
            connection,
            source_clients,
            target_clients,
            integration: None,
            source: Observed::Skipped,
            target: Observed::Skipped,
            replication: Observed::Skipped,
            shared: ctx.shared.clone(),
        },
    )
    .await
}

/// The AWS half of [`observe`], given the target reference and the clients (the simulator tests start here).
/// How far a pass looks.
#[derive(Clone, Copy, Debug, Default)]
pub struct Look {
    /// Every prerequisite, even when settled (the drift re-check, or the object was just edited).
    pub full: bool,
    /// The integration itself with a describe, not through the shared snapshot (the object was just edited or
    /// annotated: its user expects the truth now).
    pub fresh: bool,
    /// Shared reads (parameter groups, the target, its policy) bypass their cache too: only when the user
    /// edits or nudges an object already reported on. A new object takes them from the cache (at most
    /// SHARED_READ_TTL old, and our own writes invalidate it), so a thousand new objects on one target
    /// read it once, not once each.
    pub shared_fresh: bool,
}

pub async fn observe_aws(
    obj: &ZeroEtlIntegration,
    owner: &Owner,
    look: Look,
    mut seen: Observation,
) -> Result<Observation> {
    let status = obj.status.clone().unwrap_or_default();
    let name = obj.aws_name();
    let object = ObjectRef::from_obj(obj);
    let stored = status.integration_arn.as_deref();
    let from_snapshot = seen
        .shared
        .snapshots
        .find(&seen.source_clients, stored, &name, object, !look.fresh)
        .await
        .filter(|_| !look.fresh);
    seen.integration = match from_snapshot {
        Some(found) => found,
        None => find_integration(&seen.source_clients, stored, &name).await?,
    };
    if let Some(found) = &seen.integration {
        if plan::ownership_refusal_of(&seen.input(obj, &name, owner), found).is_some() {
            // Not this object's: its source and target are none of its business.
            return Ok(seen);
        }
    }
    if !look.full
        && plan::prerequisites_settled(
            &obj.spec,
            &status,
            obj.metadata.generation,
            seen.integration.as_ref(),
        )
    {
        // A steady state costs one DescribeIntegrations.
        return Ok(seen);
    }
    let reads = Reads {
        shared: &seen.shared.reads,
        fresh: look.shared_fresh,
    };
    seen.source = source::observe_source(&reads, &seen.source_clients, &obj.spec).await?;
    // The target is looked at once the source is ready (nothing on it changes before), or when an existing
    // integration may need the warehouse for its database.
    let source_ready = plan::plan(&seen.input(obj, &name, owner))
        .conditions
        .iter()
        .any(|c| c.type_ == SOURCE_READY && c.status == zeroetl_api::conditions::Status::True);
    if let TargetRef::Arn(arn) = &seen.target_ref {
        if source_ready || seen.integration.is_some() {
            seen.target = target::observe_target(
                &reads,
                &seen.target_clients,
                arn,
                seen.connection.as_ref().map(|c| &c.spec),
            )
            .await?;
        }
    }
    if let (Some(found), Observed::Seen(target)) = (&seen.integration, &seen.target) {
        if found.status == aws_sdk_rds::types::IntegrationStatus::Active {
            let statement_target = plan::statement_target(
                seen.connection.as_ref().map(|c| &c.spec),
                &target.warehouse,
            );
            let wanted = obj
                .spec
                .destination_database
                .as_ref()
                .map(|d| d.name.as_str());
            seen.replication = replication::observe_replication(
                &reads,
                &seen.target_clients,
                &statement_target,
                &target.warehouse.namespace_arn,
                found,
                wanted,
            )
            .await?;
        }
    }
    Ok(seen)
}

/// What deleting needs: the operator's clients in the integration's region and the integration by stored
/// ARN or by name, if AWS still has it (whether it is this object's is the plan's decision). Nothing created
/// and nothing found: one read.
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
    let stored = status.integration_arn.as_deref();
    let name = obj.aws_name();
    let found = match ctx
        .shared
        .snapshots
        .find(&clients, stored, &name, ObjectRef::from_obj(obj), false)
        .await
    {
        Some(from_snapshot) => from_snapshot,
        None => find_integration(&clients, stored, &name).await?,
    };
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
/// The connection is read from the watch cache when there is one (a thousand integrations on one connection
/// cost no API call), else with a GET.
pub async fn target_ref(
    ctx: &Context,
    namespace: &str,
    spec: &ZeroEtlIntegrationSpec,
) -> Result<(TargetRef, Option<RedshiftConnection>)> {
    if let Some(arn) = &spec.target.namespace_arn {
        return Ok((TargetRef::Arn(arn.to_string()), None));
    }
    let Some(reference) = &spec.target.connection_ref else {
        return Err(Error::terminal(
            "InvalidSpec",
            "spec.target names neither a namespaceArn nor a connectionRef",
        ));
    };
    let found = match ctx.stores.connection(namespace, &reference.name) {
        Some(cached) => cached.map(|c| (*c).clone()),
        None => {
            let api: Api<RedshiftConnection> = Api::namespaced(ctx.client.clone(), namespace);
            api.get_opt(&reference.name).await?
        }
    };
    let Some(connection) = found else {
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
