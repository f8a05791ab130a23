//! Acting on the plan: each action is one or a few AWS calls, run in order; the first failure stops the
//! rest (they depend on each other) and is reported on the action's step condition.

use std::collections::HashMap;

use aws_sdk_rds::types::{ApplyMethod, Parameter, Tag};
use zeroetl_api::arn::SourceKind;

use super::database::{self, DataApiTarget};
use super::observed::{AwsIntegration, SourceState, TargetState};
use super::plan::{Action, IntegrationAction, SourceAction, TargetAction};
use super::resolve;
use crate::aws::Clients;
use crate::error::{aws, Error, Result};
use crate::warehouse::{self, CaseSensitivityChange};

/// ModifyDB(Cluster)ParameterGroup takes at most 20 parameters per call.
const PARAMETERS_PER_CALL: usize = 20;

/// What the reconciler needs to run the plan's actions.
pub struct Targets<'a> {
    /// Source-side clients (the operator's identity in the source account).
    pub source_clients: &'a Clients,
    /// Target-side clients (the connection's identity, else the operator's).
    pub target_clients: &'a Clients,
    pub source: Option<&'a SourceState>,
    pub target: Option<&'a TargetState>,
    pub data_api: Option<&'a DataApiTarget>,
}

/// What happened, for the status and the events.
#[derive(Default, Debug)]
pub struct Applied {
    /// An integration created (or, after a lost response, found) by this pass.
    pub created: Option<AwsIntegration>,
    pub database_created: Option<String>,
    /// (event reason, note) for each change made.
    pub changes: Vec<(&'static str, String)>,
}

/// Runs `actions` in order. Returns what was done and, if one failed, that action and its error.
pub async fn run(t: &Targets<'_>, actions: &[Action]) -> (Applied, Option<(Action, Error)>) {
    let mut applied = Applied::default();
    for action in actions {
        if let Err(e) = run_one(t, action, &mut applied).await {
            return (applied, Some((action.clone(), e)));
        }
    }
    (applied, None)
}

async fn run_one(t: &Targets<'_>, action: &Action, applied: &mut Applied) -> Result<()> {
    match action {
        Action::Source(a) => {
            let source = t.source.ok_or_else(|| {
                Error::terminal(
                    "InternalError",
                    "a source action without an observed source",
                )
            })?;
            source_action(t.source_clients, source, a, applied).await
        }
        Action::Target(a) => {
            let target = t.target.ok_or_else(|| {
                Error::terminal(
                    "InternalError",
                    "a target action without an observed target",
                )
            })?;
            target_action(t.target_clients, target, a, applied).await
        }
        Action::Integration(a) => integration_action(t.source_clients, a, applied).await,
        Action::Database(db) => {
            let target = t.data_api.ok_or_else(|| {
                Error::terminal(
                    "InternalError",
                    "a database action without a Data API target",
                )
            })?;
            database::create(t.target_clients, target, db).await?;
            applied.database_created = Some(db.name.clone());
            applied.changes.push((
                "CreatedDatabase",
                format!(
                    "created Redshift database {} from integration {}",
                    db.name, db.integration_id
                ),
            ));
            Ok(())
        }
    }
}

async fn source_action(
    c: &Clients,
    s: &SourceState,
    action: &SourceAction,
    applied: &mut Applied,
) -> Result<()> {
    let cluster = s.kind == SourceKind::Cluster;
    match action {
        SourceAction::CreateGroup {
            name,
            family,
            description,
        } => {
            let result = if cluster {
                c.rds
                    .create_db_cluster_parameter_group()
                    .db_cluster_parameter_group_name(name)
                    .db_parameter_group_family(family)
                    .description(description)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws("rds", "CreateDBClusterParameterGroup", e))
            } else {
                c.rds
                    .create_db_parameter_group()
                    .db_parameter_group_name(name)
                    .db_parameter_group_family(family)
                    .description(description)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| aws("rds", "CreateDBParameterGroup", e))
            };
            match result {
                // Created by an earlier pass whose observation came before it: carry on with it.
                Err(e)
                    if matches!(
                        e.aws_code(),
                        Some(
                            "DBParameterGroupAlreadyExists" | "DBParameterGroupAlreadyExistsFault"
                        )
                    ) => {}
                other => other?,
            }
            applied.changes.push((
                "CreatedParameterGroup",
                format!(
                    "created parameter group {name} ({family}) for {}",
                    s.identifier
                ),
            ));
        }
        SourceAction::SetParameters { group, parameters } => {
            for chunk in parameters.chunks(PARAMETERS_PER_CALL) {
                let list: Vec<Parameter> = chunk
                    .iter()
                    .map(|p| {
                        Parameter::builder()
                            .parameter_name(&p.name)
                            .parameter_value(&p.value)
                            .apply_method(if p.immediate {
                                ApplyMethod::Immediate
                            } else {
                                ApplyMethod::PendingReboot
                            })
                            .build()
                    })
                    .collect();
                if cluster {
                    c.rds
                        .modify_db_cluster_parameter_group()
                        .db_cluster_parameter_group_name(group)
                        .set_parameters(Some(list))
                        .send()
                        .await
                        .map_err(|e| aws("rds", "ModifyDBClusterParameterGroup", e))?;
                } else {
                    c.rds
                        .modify_db_parameter_group()
                        .db_parameter_group_name(group)
                        .set_parameters(Some(list))
                        .send()
                        .await
                        .map_err(|e| aws("rds", "ModifyDBParameterGroup", e))?;
                }
            }
            let names: Vec<String> = parameters
                .iter()
                .map(|p| format!("{}={}", p.name, p.value))
                .collect();
            applied.changes.push((
                "SetParameters",
                format!("set {} in parameter group {group}", names.join(", ")),
            ));
        }
        SourceAction::AttachGroup { group } => {
            if cluster {
                c.rds
                    .modify_db_cluster()
                    .db_cluster_identifier(&s.identifier)
                    .db_cluster_parameter_group_name(group)
                    .apply_immediately(true)
                    .send()
                    .await
                    .map_err(|e| aws("rds", "ModifyDBCluster", e))?;
            } else {
                c.rds
                    .modify_db_instance()
                    .db_instance_identifier(&s.identifier)
                    .db_parameter_group_name(group)
                    .apply_immediately(true)
                    .send()
                    .await
                    .map_err(|e| aws("rds", "ModifyDBInstance", e))?;
            }
            applied.changes.push((
                "AttachedParameterGroup",
                format!(
                    "attached parameter group {group} to {} (was {})",
                    s.identifier, s.group.name
                ),
            ));
        }
        SourceAction::Reboot { instance } => {
            c.rds
                .reboot_db_instance()
                .db_instance_identifier(instance)
                .send()
                .await
                .map_err(|e| aws("rds", "RebootDBInstance", e))?;
            applied.changes.push((
                "RebootingSource",
                format!(
                    "rebooting {instance} so that parameter group {} takes effect",
                    s.group.name
                ),
            ));
        }
    }
    Ok(())
}

async fn target_action(
    c: &Clients,
    t: &TargetState,
    action: &TargetAction,
    applied: &mut Applied,
) -> Result<()> {
    match action {
        TargetAction::PutResourcePolicy {
            namespace_arn,
            policy,
        } => {
            c.redshift
                .put_resource_policy()
                .resource_arn(namespace_arn)
                .policy(policy)
                .send()
                .await
                .map_err(|e| aws("redshift", "PutResourcePolicy", e))?;
            applied.changes.push((
                "AuthorizedSource",
                format!("merged zero-ETL statements into the resource policy of {namespace_arn}"),
            ));
        }
        TargetAction::EnableCaseSensitivity => {
            // The target belongs to the team's warehouse: never reboot it from here (the plan reports it).
            let change = warehouse::enable_case_sensitivity(c, &t.warehouse, false).await?;
            let what = t.warehouse.describe();
            let note = match change {
                CaseSensitivityChange::AlreadyOn => return Ok(()),
                CaseSensitivityChange::Applied => format!("turned on enable_case_sensitive_identifier on {what}"),
                CaseSensitivityChange::RebootRequired => format!("set enable_case_sensitive_identifier on {what}; it takes effect after a reboot"),
                CaseSensitivityChange::Rebooting => format!("set enable_case_sensitive_identifier on {what}; rebooting"),
            };
            applied.changes.push(("EnabledCaseSensitivity", note));
        }
    }
    Ok(())
}

async fn integration_action(
    c: &Clients,
    action: &IntegrationAction,
    applied: &mut Applied,
) -> Result<()> {
    match action {
        IntegrationAction::Create {
            name,
            source_arn,
            target_arn,
            kms_key_id,
            additional_encryption_context,
            data_filter,
            description,
            tags,
        } => {
            let context: Option<HashMap<String, String>> = additional_encryption_context
                .as_ref()
                .map(|m| m.clone().into_iter().collect());
            let result = c
                .rds
                .create_integration()
                .integration_name(name)
                .source_arn(source_arn)
                .target_arn(target_arn)
                .set_kms_key_id(kms_key_id.clone())
                .set_additional_encryption_context(context)
                .set_data_filter(data_filter.clone())
                .set_description(description.clone())
                .set_tags(Some(rds_tags(tags)).filter(|t| !t.is_empty()))
                .send()
                .await;
            let created = match result {
                Ok(out) => AwsIntegration {
                    arn: out.integration_arn().unwrap_or_default().to_string(),
                    name: out.integration_name().unwrap_or(name).to_string(),
                    source_arn: out.source_arn().unwrap_or(source_arn).to_string(),
                    target_arn: out.target_arn().unwrap_or(target_arn).to_string(),
                    status: out
                        .status()
                        .map(|s| s.as_str().to_string())
                        .unwrap_or_else(|| "creating".into()),
                    data_filter: out.data_filter().map(str::to_string),
                    description: out.description().map(str::to_string),
                    tags: resolve::tags(out.tags()),
                    errors: Vec::new(),
                    create_time: None,
                },
                Err(e) => {
                    let e = aws("rds", "CreateIntegration", e);
                    // A retried request whose first attempt succeeded (a lost response) lands here: the
                    // integration with our name is ours to adopt, never a reason to create another.
                    if e.aws_code() != Some("IntegrationAlreadyExistsFault") {
                        return Err(e);
                    }
                    match resolve::find_integration(c, None, name).await? {
                        Some(found) => found,
                        None => return Err(e),
                    }
                }
            };
            applied.changes.push((
                "CreatedIntegration",
                format!("created integration {} ({})", created.name, created.arn),
            ));
            applied.created = Some(created);
        }
        IntegrationAction::Modify {
            arn,
            name,
            data_filter,
            description,
        } => {
            c.rds
                .modify_integration()
                .integration_identifier(arn)
                .set_integration_name(name.clone())
                .set_data_filter(data_filter.clone())
                .set_description(description.clone())
                .send()
                .await
                .map_err(|e| aws("rds", "ModifyIntegration", e))?;
            let mut what = Vec::new();
            if let Some(n) = name {
                what.push(format!("name to {n}"));
            }
            if let Some(f) = data_filter {
                what.push(format!("data filter to {f:?}"));
            }
            if description.is_some() {
                what.push("description".to_string());
            }
            applied.changes.push((
                "ModifiedIntegration",
                format!("changed the {} of {arn} in place", what.join(", ")),
            ));
        }
        IntegrationAction::Tag { arn, add, remove } => {
            if !add.is_empty() {
                c.rds
                    .add_tags_to_resource()
                    .resource_name(arn)
                    .set_tags(Some(rds_tags(add)))
                    .send()
                    .await
                    .map_err(|e| aws("rds", "AddTagsToResource", e))?;
            }
            if !remove.is_empty() {
                c.rds
                    .remove_tags_from_resource()
                    .resource_name(arn)
                    .set_tag_keys(Some(remove.clone()))
                    .send()
                    .await
                    .map_err(|e| aws("rds", "RemoveTagsFromResource", e))?;
            }
            applied.changes.push((
                "TaggedIntegration",
                format!("tags of {arn}: set {}, removed {}", add.len(), remove.len()),
            ));
        }
    }
    Ok(())
}

fn rds_tags(tags: &std::collections::BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}
