//! Integration actions: create (adopting after a lost response), modify in place, tags, delete.

use std::collections::HashMap;

use aws_sdk_rds::types::{IntegrationStatus, Tag};

use super::Applied;
use crate::aws::{sdk_error, AwsErrorKind, Clients, TagLookup};
use crate::error::{Error, Result};
use crate::integration::observe;
use crate::integration::observed::AwsIntegration;
use crate::integration::plan::reasons;
use crate::integration::plan::IntegrationAction;
use crate::k8s::Notice;
use crate::ownership::{Owner, ADOPT_ANNOTATION, UID_TAG};

pub(super) async fn integration_action(
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
                    target_arn: out.target_arn().unwrap_or(target_arn).into(),
                    status: out.status().cloned().unwrap_or(IntegrationStatus::Creating),
                    data_filter: out.data_filter().map(Into::into),
                    description: out.description().map(Into::into),
                    tags: observe::tags(out.tags()),
                    errors: Vec::new(),
                    create_time: None,
                },
                Err(e) => {
                    let e = sdk_error("rds", "CreateIntegration", e);
                    // A retried request whose first attempt succeeded (a lost response) lands here: the
                    // integration with our name is ours to adopt, never a reason to create another.
                    if !e.is_aws(AwsErrorKind::AlreadyExists) {
                        return Err(e);
                    }
                    match observe::find_integration(c, None, name).await? {
                        // A lost response: the integration we asked for, tagged for us.
                        Some(found) if found.tags.get(UID_TAG) == tags.tag(UID_TAG) => found,
                        // A name or a source/target pair taken by an integration that is not ours: say whose,
                        // and never take its ARN.
                        _ => return Err(already_exists(c, source_arn, target_arn, name, e).await),
                    }
                }
            };
            // The status shows it (ARN, Creating); an Event per create would be a fleet's fourth write each.
            applied.changes.push(Notice::logged(
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
                .map_err(|e| sdk_error("rds", "ModifyIntegration", e))?;
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
            applied.changes.push(Notice::normal(
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
                    .map_err(|e| sdk_error("rds", "AddTagsToResource", e))?;
            }
            if !remove.is_empty() {
                c.rds
                    .remove_tags_from_resource()
                    .resource_name(arn)
                    .set_tag_keys(Some(remove.clone()))
                    .send()
                    .await
                    .map_err(|e| sdk_error("rds", "RemoveTagsFromResource", e))?;
            }
            applied.changes.push(Notice::normal(
                "TaggedIntegration",
                format!("tags of {arn}: set {}, removed {}", add.len(), remove.len()),
            ));
        }
        IntegrationAction::Delete { arn, name } => {
            c.rds
                .delete_integration()
                .integration_identifier(arn)
                .send()
                .await
                .map_err(|e| sdk_error("rds", "DeleteIntegration", e))?;
            applied.changes.push(Notice::normal(
                "DeletingIntegration",
                format!("deleting integration {name} ({arn})"),
            ));
        }
    }
    Ok(())
}

/// Why CreateIntegration found one already: the integration under that name, or the one that joins the same
/// source and target under another name (AWS allows one per pair), and whose it is.
async fn already_exists(
    c: &Clients,
    source_arn: &str,
    target_arn: &str,
    name: &str,
    refused: Error,
) -> Error {
    let mut pages = c
        .rds
        .describe_integrations()
        .max_records(100)
        .into_paginator()
        .items()
        .send();
    while let Some(Ok(i)) = pages.next().await {
        let found = observe::aws_integration(&i);
        if found.name == name
            || (found.source_arn.eq_ignore_ascii_case(source_arn) && found.target_arn == target_arn)
        {
            let (reason, whose) = match Owner::from_tags(&found.tags) {
                Some(owner) => (reasons::OWNED_BY_ANOTHER, owner.describe()),
                None => (
                    reasons::ADOPTION_REQUIRED,
                    format!(
                        "nobody known to zeroetl-operator (annotate this object with {ADOPT_ANNOTATION}=true and set spec.integrationName to {} to adopt it)",
                        found.name
                    ),
                ),
            };
            return Error::terminal(
                reason,
                format!(
                    "integration {} ({}) from {} to {} already exists and belongs to {whose}",
                    found.name, found.arn, found.source_arn, found.target_arn
                ),
            );
        }
    }
    refused
}

fn rds_tags(tags: &std::collections::BTreeMap<String, String>) -> Vec<Tag> {
    tags.iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect()
}
