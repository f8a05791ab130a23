//! Source actions: the derived parameter group (create, set values), attaching it, the reboot.

use aws_sdk_rds::types::{ApplyMethod, Parameter, Tag};
use zeroetl_api::arn::SourceKind;

use super::Applied;
use crate::aws::{sdk_error, AwsErrorKind, Clients};
use crate::error::Result;
use crate::integration::observed::SourceState;
use crate::integration::plan::SourceAction;
use crate::k8s::Notice;

/// ModifyDB(Cluster)ParameterGroup takes at most 20 parameters per call.
const PARAMETERS_PER_CALL: usize = 20;

pub(super) async fn source_action(
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
            tags,
        } => {
            let tags: Vec<Tag> = tags
                .iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build())
                .collect();
            let result = if cluster {
                c.rds
                    .create_db_cluster_parameter_group()
                    .db_cluster_parameter_group_name(name)
                    .db_parameter_group_family(family)
                    .description(description)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| sdk_error("rds", "CreateDBClusterParameterGroup", e))
            } else {
                c.rds
                    .create_db_parameter_group()
                    .db_parameter_group_name(name)
                    .db_parameter_group_family(family)
                    .description(description)
                    .set_tags(Some(tags))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| sdk_error("rds", "CreateDBParameterGroup", e))
            };
            match result {
                // Created by an earlier pass whose observation came before it: carry on with it.
                Err(e) if e.is_aws(AwsErrorKind::AlreadyExists) => {}
                other => other?,
            }
            applied.changes.push(Notice::normal(
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
                        .map_err(|e| sdk_error("rds", "ModifyDBClusterParameterGroup", e))?;
                } else {
                    c.rds
                        .modify_db_parameter_group()
                        .db_parameter_group_name(group)
                        .set_parameters(Some(list))
                        .send()
                        .await
                        .map_err(|e| sdk_error("rds", "ModifyDBParameterGroup", e))?;
                }
            }
            let names: Vec<String> = parameters
                .iter()
                .map(|p| format!("{}={}", p.name, p.value))
                .collect();
            applied.changes.push(Notice::normal(
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
                    .map_err(|e| sdk_error("rds", "ModifyDBCluster", e))?;
            } else {
                c.rds
                    .modify_db_instance()
                    .db_instance_identifier(&s.identifier)
                    .db_parameter_group_name(group)
                    .apply_immediately(true)
                    .send()
                    .await
                    .map_err(|e| sdk_error("rds", "ModifyDBInstance", e))?;
            }
            applied.changes.push(Notice::normal(
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
                .map_err(|e| sdk_error("rds", "RebootDBInstance", e))?;
            applied.changes.push(Notice::normal(
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
