//! Deletion, planned like everything else: Retain releases the object at once; Delete asks AWS to delete the
//! integration this object owns and releases the object once AWS reports it gone.

use aws_sdk_rds::types::IntegrationStatus;
use zeroetl_api::conditions::{reasons as common, Decided, Status, INTEGRATION_ACTIVE};
use zeroetl_api::integration::{DeletionPolicy, ZeroEtlIntegrationSpec, ZeroEtlIntegrationStatus};

use super::actions::{Action, IntegrationAction};
use super::reasons;
use crate::integration::observed::AwsIntegration;
use crate::k8s::Notice;
use crate::progress::Progress;
use crate::timing;

/// What deleting the object takes now.
#[derive(Clone, Debug, PartialEq)]
pub struct DeletePlan {
    pub actions: Vec<Action>,
    pub steps: Vec<Decided>,
    pub progress: Progress,
    pub notices: Vec<Notice>,
    /// Nothing is left to wait for: remove the finalizer.
    pub release: bool,
    /// The integration's AWS state, for `status.state`.
    pub state: Option<String>,
}

/// `found`: the integration this object owns, if AWS still has it.
pub fn plan_delete(
    spec: &ZeroEtlIntegrationSpec,
    status: &ZeroEtlIntegrationStatus,
    name: &str,
    found: Option<&AwsIntegration>,
) -> DeletePlan {
    let released = |notices: Vec<Notice>| DeletePlan {
        actions: Vec::new(),
        steps: Vec::new(),
        progress: Progress::in_progress(common::DELETING, "released", timing::DELETE_POLL),
        notices,
        release: true,
        state: status.state.clone(),
    };
    if spec.deletion_policy == DeletionPolicy::Retain {
        let what = status.integration_arn.as_deref().unwrap_or(name);
        return released(vec![Notice::normal(
            "Retained",
            format!("deletionPolicy Retain: integration {what} is left in AWS"),
        )]);
    }
    let Some(found) = found else {
        let notices = match &status.integration_arn {
            Some(arn) => vec![Notice::normal(
                "Deleted",
                format!("integration {name} ({arn}) is gone from AWS"),
            )],
            None => Vec::new(),
        };
        return released(notices);
    };
    let (actions, message) = if found.status == IntegrationStatus::Deleting {
        (
            Vec::new(),
            format!("AWS is deleting integration {}", found.name),
        )
    } else {
        (
            vec![Action::Integration(IntegrationAction::Delete {
                arn: found.arn.clone(),
                name: found.name.clone(),
            })],
            format!("deleting integration {}", found.name),
        )
    };
    DeletePlan {
        actions,
        steps: vec![Decided::new(
            INTEGRATION_ACTIVE,
            Status::False,
            reasons::DELETING,
            format!("integration {} is being deleted", found.name),
        )],
        progress: Progress::in_progress(common::DELETING, message, timing::DELETE_POLL),
        notices: Vec::new(),
        release: false,
        state: Some(found.status.as_str().to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(policy: DeletionPolicy) -> ZeroEtlIntegrationSpec {
        serde_json::from_value(serde_json::json!({
            "source": {"dbClusterIdentifier": "orders-aurora"},
            "target": {"namespaceArn": "arn:aws:redshift-serverless:us-east-1:111111111111:namespace/3f1c2a9e-5b7d-4e21-9c3a-1a2b3c4d5e01"},
            "deletionPolicy": policy,
        }))
        .unwrap()
    }

    fn found(status: IntegrationStatus) -> AwsIntegration {
        AwsIntegration {
            arn: "arn:aws:rds:us-east-1:111111111111:integration:x".into(),
            name: "orders".into(),
            source_arn: "arn:aws:rds:us-east-1:111111111111:cluster:orders-aurora".into(),
            target_arn: String::new(),
            status,
            data_filter: None,
            description: None,
            tags: Default::default(),
            errors: Vec::new(),
            create_time: None,
        }
    }

    #[test]
    fn retain_releases_without_touching_aws() {
        let p = plan_delete(
            &spec(DeletionPolicy::Retain),
            &Default::default(),
            "orders",
            Some(&found(IntegrationStatus::Active)),
        );
        assert!(p.release && p.actions.is_empty());
        assert_eq!(p.notices[0].reason, "Retained");
    }

    #[test]
    fn delete_asks_aws_then_waits_then_releases() {
        let s = spec(DeletionPolicy::Delete);
        let active = plan_delete(
            &s,
            &Default::default(),
            "orders",
            Some(&found(IntegrationStatus::Active)),
        );
        assert!(!active.release);
        assert!(matches!(
            active.actions[..],
            [Action::Integration(IntegrationAction::Delete { .. })]
        ));
        let deleting = plan_delete(
            &s,
            &Default::default(),
            "orders",
            Some(&found(IntegrationStatus::Deleting)),
        );
        assert!(!deleting.release && deleting.actions.is_empty());
        let gone = plan_delete(&s, &Default::default(), "orders", None);
        assert!(gone.release && gone.actions.is_empty());
    }
}
