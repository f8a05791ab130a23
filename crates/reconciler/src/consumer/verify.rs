//! Verified: the connection's own checks, run as the consumer role (AssumeRole with the external id), so
//! that Ready means "the tool will get in", not "the operator can". Which checks run follows the declared
//! permissions: describe + temporary credentials (dataApi or temporaryCredentials), `SELECT 1` through the
//! Data API (dataApi), the staging bucket and key (staging), and for redshiftMayAssume whether the role is
//! attached to the warehouse. The check functions are the connection's (`connection::observe`, `::plan`).

use chrono::{DateTime, Utc};
use zeroetl_api::conditions::{find, VERIFIED};
use zeroetl_api::connection::Staging;
use zeroetl_api::{RedshiftConnectionSpec, RedshiftConsumer};

use super::observed::WarehouseFacts;
use super::plan::{reasons, Step};
use kube::ResourceExt;

use crate::aws::{session_name, AwsErrorKind, Identity};
use crate::connection::observe as checks;
use crate::connection::plan::{authenticated, reachable, staging};
use crate::warehouse;
use crate::{timing, Context};

/// What to verify and as whom.
pub struct Subject<'a> {
    pub obj: &'a RedshiftConsumer,
    pub facts: &'a WarehouseFacts,
    pub connection: &'a RedshiftConnectionSpec,
    pub region: &'a str,
    pub role_arn: &'a str,
    pub external_id: &'a str,
    pub user: Option<&'a str>,
}

/// The Verified step when nothing can be verified as the role.
pub fn not_verifiable(obj: &RedshiftConsumer) -> Option<Step> {
    match &obj.spec.role {
        None => Some(Step::passed(
            reasons::NOT_APPLICABLE,
            "no role to verify as: the user and its grants are checked in the catalog",
        )),
        Some(r) if !r.trust_operator => Some(Step::Informational {
            status: zeroetl_api::conditions::Status::Unknown,
            reason: reasons::SKIPPED.into(),
            message: "spec.role.trustOperator is false: the operator cannot assume the role, so the access is provisioned but not verified".into(),
        }),
        Some(_) => None,
    }
}

/// Verification after this pass changed something: on the next pass, once IAM has caught up.
pub fn after_changes() -> Step {
    Step::waiting(
        reasons::VERIFYING,
        "access was changed this pass; verifying it as the consumer role next",
        crate::timing::AFTER_ACTION,
    )
}

/// Whether the role changed so recently that IAM may not have caught up: Verified has been waiting (since its
/// last transition) for less than [`timing::IAM_PROPAGATION`].
fn settling(obj: &RedshiftConsumer, now: DateTime<Utc>) -> bool {
    let Some(c) = obj
        .status
        .as_ref()
        .and_then(|s| find(&s.conditions, VERIFIED))
    else {
        return true;
    };
    let waiting = c.status != "True"
        && [reasons::VERIFYING, reasons::PROPAGATING].contains(&c.reason.as_str());
    let since =
        DateTime::<Utc>::from_timestamp(c.last_transition_time.0.as_second(), 0).unwrap_or(now);
    waiting && (now - since).to_std().unwrap_or_default() < timing::IAM_PROPAGATION
}

pub async fn verify(ctx: &Context, s: &Subject<'_>, now: DateTime<Utc>) -> Step {
    let role = s
        .obj
        .spec
        .role
        .as_ref()
        .expect("verify runs only with a role");
    let identity = Identity::AssumeRole {
        role_arn: s.role_arn.to_string(),
        external_id: Some(s.external_id.to_string()),
        session_name: session_name(&s.obj.namespace().unwrap_or_default(), &s.obj.name_any()),
    };
    let c = match ctx.aws.clients(s.region, &identity).await {
        Ok(c) => c,
        Err(e) if e.is_aws(AwsErrorKind::AccessDenied) && settling(s.obj, now) => {
            return Step::waiting(
                reasons::PROPAGATING,
                format!("role {} does not let the operator in yet (IAM changes take seconds to propagate): {e}", s.role_arn),
                crate::timing::AFTER_ACTION,
            )
        }
        Err(e) if e.is_aws(AwsErrorKind::AccessDenied) => {
            return Step::failed(
                reasons::ROLE_REFUSED,
                format!("the operator could not assume role {} with the external id: {e}", s.role_arn),
            )
        }
        Err(e) => return Step::from_error(&e),
    };
    let p = &role.permissions;
    let mut done = vec![format!("assumed {} with the external id", s.role_arn)];
    // The connection's checks read their inputs from a connection spec: the consumer's user, no secret.
    let as_consumer = RedshiftConnectionSpec {
        auth: zeroetl_api::connection::ConnectionAuth {
            db_user: s.user.map(str::to_string),
            ..Default::default()
        },
        staging: p.staging.as_ref().map(|st| Staging {
            bucket: st.bucket.clone(),
            prefix: st.prefix.clone(),
            iam_role_arn: s.role_arn.to_string(),
            kms_key_id: st.kms_key_arn.clone(),
        }),
        ..s.connection.clone()
    };
    if p.data_api || p.temporary_credentials {
        let described = warehouse::of_connection(&c, &as_consumer).await;
        let (step, missing) = authenticated(&described);
        if let Some(missing) = missing {
            return missing;
        }
        let Ok(w) = described else {
            return step;
        };
        done.push(format!("described {}", w.describe()));
        match checks::credentials(&c, &as_consumer, &w).await {
            Ok(user) => done.push(format!("temporary credentials issued for {user}")),
            Err(e) => return Step::from_error(&e),
        }
        if p.data_api {
            let step = match checks::select_one(&c, &as_consumer, &w).await {
                Ok(end) => reachable(&end),
                Err(e) => Step::from_error(&e),
            };
            if !step.is_passed() {
                return step;
            }
            done.push("SELECT 1 ran through the Data API".into());
        }
    }
    let attached = s.facts.warehouse.iam_roles.iter().any(|r| r == s.role_arn);
    if let Some(st) = &as_consumer.staging {
        let seen = checks::staging(&c, st).await;
        // Attachment matters only when Redshift itself assumes the role (reported below); the tool's own
        // S3 access does not need it.
        let mut w = s.facts.warehouse.clone();
        if !p.redshift_may_assume {
            w.iam_roles.push(s.role_arn.to_string());
        }
        let step = staging(&as_consumer, &w, Some(&seen));
        if !step.is_passed() {
            return step;
        }
        done.push(format!("staging bucket {} verified", st.bucket));
    } else if p.redshift_may_assume && !attached {
        return Step::failed(
            reasons::ROLE_NOT_ATTACHED,
            format!(
                "role {} is not attached to {}; attach it so that UNLOAD and COPY can name it in IAM_ROLE",
                s.role_arn,
                s.facts.warehouse.describe()
            ),
        );
    }
    Step::passed(reasons::VERIFIED, done.join("; "))
}
