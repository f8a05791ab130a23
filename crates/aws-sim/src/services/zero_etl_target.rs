//! CreateIntegration's target-side checks (the order is inferred): the namespace exists, is a valid target
//! (RA3, encrypted), its resource policy authorizes the source and the caller's account, and case
//! sensitivity is on.

use std::collections::BTreeMap;

use crate::model::{WarehouseKind, World};
use crate::policy::{self, Principal};
use crate::wire::{ApiError, ApiResult};

/// CreateIntegration's target-side checks (inferred order): the namespace exists, is a valid target,
/// its resource policy authorizes the source and the caller's account, and case sensitivity is on.
pub fn check_target_accepts(
    world: &World,
    target_arn: &str,
    source_arn: &str,
    caller_account: &str,
) -> ApiResult<()> {
    let not_found = || ApiError::invalid_value(format!("The target {target_arn} doesn't exist."));
    let at = world.warehouse(target_arn).ok_or_else(not_found)?;
    let r = world
        .region(&at.account, &at.region)
        .ok_or_else(not_found)?;
    let case_sensitive = if let WarehouseKind::Provisioned(id) = &at.warehouse {
        let c = r.redshift_clusters.get(id).ok_or_else(not_found)?;
        if !c.node_type.starts_with("ra3") {
            return Err(ApiError::invalid_value(format!(
                "The target cluster {} must use RA3 nodes.",
                c.id
            )));
        }
        if !c.encrypted {
            return Err(ApiError::invalid_value(format!(
                "The target cluster {} must be encrypted.",
                c.id
            )));
        }
        c.effective_parameters
            .get("enable_case_sensitive_identifier")
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    } else {
        let ns = match &at.warehouse {
            WarehouseKind::Serverless(name) => r.serverless_namespaces.get(name),
            WarehouseKind::Provisioned(_) => None,
        }
        .ok_or_else(not_found)?;
        r.workgroups
            .values()
            .filter(|w| w.namespace_name == ns.name)
            .any(|w| {
                w.config_parameters
                    .get("enable_case_sensitive_identifier")
                    .is_some_and(|v| v.eq_ignore_ascii_case("true"))
            })
    };
    let policy = r
        .resource_policies
        .get(target_arn)
        .and_then(|t| policy::parse(t));
    let source_ok = policy.as_ref().is_some_and(|p| {
        let ctx: BTreeMap<&str, &str> = [("aws:SourceArn", source_arn)].into();
        policy::allows(
            p,
            &Principal::Service("redshift.amazonaws.com"),
            "redshift:AuthorizeInboundIntegration",
            None,
            &ctx,
        )
    });
    let caller_root = format!("arn:aws:iam::{caller_account}:root");
    let principal_ok = policy.as_ref().is_some_and(|p| {
        let who = Principal::Aws {
            arn: &caller_root,
            account: caller_account,
            role_arn: None,
        };
        policy::allows(
            p,
            &who,
            "redshift:CreateInboundIntegration",
            None,
            &BTreeMap::new(),
        )
    });
    if !source_ok || !principal_ok {
        let mut missing = Vec::new();
        if !source_ok {
            missing.push(format!("redshift:AuthorizeInboundIntegration for service redshift.amazonaws.com with aws:SourceArn {source_arn}"));
        }
        if !principal_ok {
            missing.push(format!(
                "redshift:CreateInboundIntegration for {caller_root}"
            ));
        }
        return Err(ApiError::invalid_value(format!(
            "You aren't authorized to create an integration with target {target_arn}: its resource policy doesn't allow {}.",
            missing.join(" or ")
        )));
    }
    if !case_sensitive {
        return Err(ApiError::invalid_value(format!(
            "The target {target_arn} must have enable_case_sensitive_identifier set to true."
        )));
    }
    Ok(())
}
