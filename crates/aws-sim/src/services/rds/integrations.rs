//! RDS zero-ETL integrations: create (with every check CreateIntegration makes), describe (indexed
//! lookups and marker pagination), modify and delete.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;

use super::{cluster_not_found, filter_values, instance_not_found, max_records, page};
use crate::model::{aws_owned_key, Due, Integration};
use crate::params;
use crate::server::Ctx;
use crate::wire::{ApiError, ApiResult, Params, Reply, Xml};

pub(super) fn integration_not_found(id: &str) -> ApiError {
    ApiError::not_found(
        "IntegrationNotFoundFault",
        format!("Integration {id} not found."),
    )
}

pub fn write_integration(x: &mut Xml, i: &Integration) {
    x.el("SourceArn", &i.source_arn)
        .el("TargetArn", &i.target_arn)
        .el("IntegrationName", &i.integration_name)
        .el("IntegrationArn", &i.integration_arn)
        .el("KMSKeyId", &i.kms_key_id);
    if !i.additional_encryption_context.is_empty() {
        x.open("AdditionalEncryptionContext");
        for (k, v) in &i.additional_encryption_context {
            x.open("entry").el("key", k).el("value", v).close("entry");
        }
        x.close("AdditionalEncryptionContext");
    }
    x.el("Status", &i.status)
        .tags("Tags", "Tag", &i.tags)
        .el("DataFilter", &i.data_filter)
        .opt("Description", i.description.as_ref())
        .time("CreateTime", &i.create_time)
        .open("Errors");
    for e in &i.errors {
        x.open("IntegrationError")
            .el("ErrorCode", &e.error_code)
            .el("ErrorMessage", &e.error_message)
            .close("IntegrationError");
    }
    x.close("Errors");
}

/// `arn:aws:rds:REGION:ACCOUNT:(cluster|db):ID`.
fn parse_source_arn(arn: &str) -> Option<(String, String, String, String)> {
    let parts: Vec<&str> = arn.splitn(7, ':').collect();
    if parts.len() != 7
        || parts[0] != "arn"
        || parts[2] != "rds"
        || !matches!(parts[5], "cluster" | "db")
        || parts[6].is_empty()
    {
        return None;
    }
    Some((
        parts[3].into(),
        parts[4].into(),
        parts[5].into(),
        parts[6].into(),
    ))
}

fn is_namespace_arn(arn: &str) -> bool {
    let serverless =
        Regex::new(r"^arn:aws:redshift-serverless:[a-z0-9-]+:\d{12}:namespace/[0-9a-f-]{36}$")
            .expect("static regex");
    let provisioned = Regex::new(r"^arn:aws:redshift:[a-z0-9-]+:\d{12}:namespace:[0-9a-f-]{36}$")
        .expect("static regex");
    serverless.is_match(arn) || provisioned.is_match(arn)
}

pub fn validate_data_filter(filter: &str) -> ApiResult<()> {
    let charset = Regex::new(r#"^[a-zA-Z0-9_ "\\\-$,*.:?+/]*$"#).expect("static regex");
    if filter.is_empty() || filter.len() > 25600 || !charset.is_match(filter) {
        return Err(ApiError::invalid_value("The data filter is not valid"));
    }
    if !filter.to_ascii_lowercase().contains("include:") {
        return Err(ApiError::invalid_value(
            "Your data filter must contain at least one include statement",
        ));
    }
    Ok(())
}

fn validate_name(name: &str) -> ApiResult<()> {
    let re = Regex::new(r"^[a-zA-Z][a-zA-Z0-9]*(-[a-zA-Z0-9]+)*$").expect("static regex");
    if name.is_empty() || name.len() > 63 || !re.is_match(name) {
        return Err(ApiError::invalid_value(format!(
            "The integration name {name:?} is not valid: 1-63 letters, digits or single hyphens, starting with a letter"
        )));
    }
    Ok(())
}

pub(super) fn create_integration(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let name = p.required("IntegrationName")?.to_string();
    let source_arn = p.required("SourceArn")?.to_string();
    let target_arn = p.required("TargetArn")?.to_string();
    validate_name(&name)?;
    let (src_region, src_account, src_kind, src_id) =
        parse_source_arn(&source_arn).ok_or_else(|| {
            ApiError::invalid_value(format!("The source ARN {source_arn} is not valid"))
        })?;
    if !is_namespace_arn(&target_arn) {
        return Err(ApiError::invalid_value(format!(
            "The target ARN {target_arn} is not a valid Amazon Redshift namespace ARN"
        )));
    }
    let context: BTreeMap<String, String> = p
        .structs("AdditionalEncryptionContext.entry")
        .into_iter()
        .filter_map(|e| {
            Some((
                e.get("key")?.to_string(),
                e.get("value").unwrap_or("").to_string(),
            ))
        })
        .collect();
    let kms = p.get("KMSKeyId").map(str::to_string);
    if !context.is_empty() && kms.is_none() {
        return Err(ApiError::bad(
            "InvalidParameterCombination",
            "AdditionalEncryptionContext requires KMSKeyId",
        ));
    }
    if context.len() > 6 {
        return Err(ApiError::invalid_value(
            "AdditionalEncryptionContext can have at most 6 pairs",
        ));
    }
    let data_filter = match p.get("DataFilter") {
        Some(f) => {
            validate_data_filter(f)?;
            f.to_string()
        }
        None => "include: *.*".to_string(),
    };
    if let Some(d) = p.get("Description") {
        if d.len() > 1000 {
            return Err(ApiError::invalid_value(
                "Description can be at most 1000 characters",
            ));
        }
    }
    let account = ctx.account().to_string();
    let region = ctx.region.to_string();
    let quota = ctx
        .world
        .accounts
        .get(&account)
        .map_or(100, |a| a.integration_quota);
    {
        let r = ctx.region_state();
        if r.integrations.contains_name(&name) {
            return Err(ApiError::bad(
                "IntegrationAlreadyExistsFault",
                format!("Integration {name} already exists."),
            ));
        }
        // AWS allows one integration per source and target pair.
        if r.integrations.by_pair(&source_arn, &target_arn).is_some() {
            return Err(ApiError::bad(
                "IntegrationAlreadyExistsFault",
                format!("An integration from {source_arn} to {target_arn} already exists."),
            ));
        }
        if r.integrations.len() >= quota {
            return Err(ApiError::bad(
                "IntegrationQuotaExceededFault",
                format!(
                    "You can't create more than {quota} integrations in this account and region."
                ),
            ));
        }
    }
    // The source must be visible to the caller: same account and region.
    let visible = src_account == account && src_region == region;
    let (engine, effective, status, backups) = {
        let r = ctx.region_state();
        if src_kind == "cluster" {
            let c = r
                .db_clusters
                .get(&src_id)
                .filter(|_| visible)
                .ok_or_else(|| cluster_not_found(&src_id))?;
            (
                c.engine.clone(),
                c.effective_parameters.clone(),
                c.status.clone(),
                c.backup_retention_period,
            )
        } else {
            let i = r
                .db_instances
                .get(&src_id)
                .filter(|_| visible)
                .ok_or_else(|| instance_not_found(&src_id))?;
            (
                i.engine.clone(),
                i.effective_parameters.clone(),
                i.status.clone(),
                i.backup_retention_period,
            )
        }
    };
    let kms_key_id = match &kms {
        Some(k) => crate::services::kms::find_key(ctx.world, &account, &region, k)
            .map(|key| key.arn.clone())
            .ok_or_else(|| {
                ApiError::bad(
                    "KMSKeyNotAccessibleFault",
                    format!("The KMS key {k} is not accessible."),
                )
            })?,
        None => aws_owned_key(&region),
    };
    let state_fault = if src_kind == "cluster" {
        "InvalidDBClusterStateFault"
    } else {
        "InvalidDBInstanceState"
    };
    if status != "available" {
        return Err(ApiError::bad(
            state_fault,
            format!("The source {src_id} is not available (is {status})."),
        ));
    }
    // Inferred: AWS's console pre-checks surface as a synchronous fault naming each wrong parameter.
    let violations = params::zero_etl_violations(&engine, &effective);
    if !violations.is_empty() {
        return Err(ApiError::bad(
            state_fault,
            format!(
                "The source {src_id} doesn't have the parameter values zero-ETL requires (in-sync parameter group): {}",
                violations.join("; ")
            ),
        ));
    }
    if engine == "mysql" && backups == 0 {
        return Err(ApiError::bad(
            state_fault,
            format!("The source {src_id} must have automated backups enabled."),
        ));
    }
    crate::services::zero_etl_target::check_target_accepts(
        ctx.world,
        &target_arn,
        &source_arn,
        &account,
    )?;

    let id = uuid::Uuid::new_v4().to_string();
    let arn = format!("arn:aws:rds:{region}:{account}:integration:{id}");
    let due = ctx.after(ctx.timings.integration_create);
    let integration = Integration {
        integration_name: name,
        integration_arn: arn.clone(),
        source_arn,
        target_arn,
        kms_key_id,
        additional_encryption_context: context,
        status: "creating".into(),
        tags: p.tags("Tags.Tag"),
        data_filter,
        description: p.get("Description").map(str::to_string),
        create_time: ctx.now,
        active_at: None,
        replication: Default::default(),
        errors: Vec::new(),
        due: Some(due),
    };
    let mut x = Xml::new();
    write_integration(&mut x, &integration);
    ctx.region_state().integrations.insert(integration);
    ctx.schedule(due, Due::Integration(arn));
    Ok(Reply::Xml(x.finish()))
}

pub(super) fn describe_integrations(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let max = max_records(p)?;
    let marker = p.get("Marker");
    let r = ctx.region_state();
    // Identifiers (the parameter and the integration-identifier filter) resolve through the indexes:
    // a lookup costs the same with 5 or 5,000 integrations.
    let mut selected: Option<BTreeSet<&str>> = None;
    if let Some(id) = p.get("IntegrationIdentifier") {
        let arn = r
            .integrations
            .find_arn(id)
            .ok_or_else(|| integration_not_found(id))?;
        selected = Some([arn].into());
    }
    if let Some(wanted) = filter_values(p, "integration-identifier") {
        let found: BTreeSet<&str> = wanted
            .iter()
            .filter_map(|w| r.integrations.find_arn(w))
            .collect();
        selected = Some(match selected {
            Some(s) => s.intersection(&found).copied().collect(),
            None => found,
        });
    }
    let (items, marker) = match &selected {
        Some(arns) => page(
            arns.iter()
                .filter_map(|a| r.integrations.get(a).map(|i| (*a, i))),
            marker,
            max,
        ),
        // Start at the marker directly: pages stay cheap however many integrations exist.
        None => page(
            r.integrations.after(marker).map(|(k, v)| (k.as_str(), v)),
            None,
            max,
        ),
    };
    let mut x = Xml::new();
    x.opt("Marker", marker).open("Integrations");
    for i in items {
        x.open("Integration");
        write_integration(&mut x, i);
        x.close("Integration");
    }
    x.close("Integrations");
    Ok(Reply::Xml(x.finish()))
}

pub(super) fn modify_integration(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let key = p.required("IntegrationIdentifier")?.to_string();
    let due = ctx.after(ctx.timings.integration_modify);
    let r = ctx.region_state();
    let arn = r
        .integrations
        .find_arn(&key)
        .ok_or_else(|| integration_not_found(&key))?
        .to_string();
    let new_name = p.get("IntegrationName");
    if let Some(n) = new_name {
        validate_name(n)?;
        if r.integrations
            .find(n)
            .is_some_and(|i| i.integration_name == n && i.integration_arn != arn)
        {
            return Err(ApiError::bad(
                "IntegrationAlreadyExistsFault",
                format!("Integration {n} already exists."),
            ));
        }
    }
    if let Some(f) = p.get("DataFilter") {
        validate_data_filter(f)?;
    }
    let i = r.integrations.get_mut(&arn).expect("found above");
    if i.status != "active" {
        return Err(ApiError::bad(
            "InvalidIntegrationStateFault",
            format!(
                "Integration {} is in state {} and can't be modified.",
                i.integration_name, i.status
            ),
        ));
    }
    if let Some(d) = p.0.get("Description") {
        i.description = Some(d.clone()).filter(|d| !d.is_empty());
    }
    let mut scheduled = false;
    if let Some(f) = p.get("DataFilter") {
        if f != i.data_filter {
            i.data_filter = f.to_string();
            i.status = "modifying".into();
            i.due = Some(due);
            scheduled = true;
        }
    }
    if let Some(n) = new_name {
        r.integrations.rename(&arn, n);
    }
    let mut x = Xml::new();
    write_integration(&mut x, r.integrations.get(&arn).expect("found above"));
    if scheduled {
        ctx.schedule(due, Due::Integration(arn));
    }
    Ok(Reply::Xml(x.finish()))
}

pub(super) fn delete_integration(ctx: &mut Ctx, p: &Params) -> ApiResult<Reply> {
    let key = p.required("IntegrationIdentifier")?.to_string();
    let due = ctx.after(ctx.timings.integration_delete);
    let r = ctx.region_state();
    let i = r
        .integrations
        .find_mut(&key)
        .ok_or_else(|| integration_not_found(&key))?;
    if matches!(i.status.as_str(), "deleting" | "modifying") {
        return Err(ApiError::bad(
            "InvalidIntegrationStateFault",
            format!(
                "Integration {} is in state {} and can't be deleted.",
                i.integration_name, i.status
            ),
        ));
    }
    i.status = "deleting".into();
    i.due = Some(due);
    let arn = i.integration_arn.clone();
    let mut x = Xml::new();
    write_integration(&mut x, i);
    ctx.schedule(due, Due::Integration(arn));
    Ok(Reply::Xml(x.finish()))
}
