//! Deletion, planned like everything else: Retain releases the object at once; Delete asks AWS to delete the
//! integration this object owns and releases the object once AWS reports it gone.

use aws_sdk_rds::types::IntegrationStatus;
use zeroetl_api::conditions::{reasons as common, Decided, Status, INTEGRATION_ACTIVE};
use zeroetl_api::integration::{
    DeletionPolicy, ManagementPolicy, ZeroEtlIntegrationSpec, ZeroEtlIntegrationStatus,
};
use zeroetl_api::interned::Interned;

use super::actions::{Action, IntegrationAction, TargetAction};
use super::reasons;
use crate::integration::observed::AwsIntegration;
use crate::k8s::Notice;
use crate::ownership::{Owner, Ownership};
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
    pub state: Option<Interned>,
}

/// Who else still needs the target grants this object's source was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StillNeeded {
    /// Another object integrates the same source into the same target.
    pub source: bool,
    /// Another object integrates a source of the same account into the same target.
    pub account: bool,
}

impl StillNeeded {
    /// Unknown (no watch cache): keep everything, the safe answer.
    pub const UNKNOWN: StillNeeded = StillNeeded {
        source: true,
        account: true,
    };
}

/// Whether deleting the object may touch AWS at all: Delete under Manage. Otherwise it is released without a
/// single AWS call.
pub fn deletes_in_aws(spec: &ZeroEtlIntegrationSpec) -> bool {
    spec.deletion_policy == DeletionPolicy::Delete
        && spec.management_policy == ManagementPolicy::Manage
}

/// What deleting takes now. `found`: the integration by stored ARN or name, if AWS still has it; it is
/// deleted only when it is this object's (owner tags, or untagged but recorded in status: made before owner
/// tags). Once it is gone, the grants this object's source got on the target are taken back unless another
/// object still needs them.
pub fn plan_delete(
    spec: &ZeroEtlIntegrationSpec,
    status: &ZeroEtlIntegrationStatus,
    name: &str,
    owner: &Owner,
    found: Option<&AwsIntegration>,
    still_needed: StillNeeded,
) -> DeletePlan {
    let released = |notices: Vec<Notice>, actions: Vec<Action>| DeletePlan {
        actions,
        steps: Vec::new(),
        progress: Progress::in_progress(common::DELETING, "released", timing::DELETE_POLL),
        notices,
        release: true,
        state: status.state.clone(),
    };
    if !deletes_in_aws(spec) {
        let what = status.integration_arn.as_deref().unwrap_or(name);
        let why = if spec.deletion_policy == DeletionPolicy::Retain {
            "deletionPolicy Retain"
        } else {
            "managementPolicy is not Manage"
        };
        return released(
            vec![Notice::normal(
                "Retained",
                format!("{why}: integration {what} is left in AWS"),
            )],
            Vec::new(),
        );
    }
    let Some(found) = found else {
        let mut notices = Vec::new();
        if let Some(arn) = &status.integration_arn {
            notices.push(Notice::normal(
                "Deleted",
                format!("integration {name} ({arn}) is gone from AWS"),
            ));
        }
        return released(notices, deauthorize(status, owner, still_needed));
    };
    let stored = status.integration_arn.as_deref() == Some(found.arn.as_str());
    let ours = match owner.ownership(&found.tags) {
        Ownership::Ours | Ownership::OursUnderAnotherUid => true,
        Ownership::Untagged => stored,
        Ownership::Foreign(_) => false,
    };
    if !ours {
        return released(
            vec![Notice::normal(
                "NotOwned",
                format!(
                    "integration {} ({}) is not this object's; it is left in AWS",
                    found.name, found.arn
                ),
            )],
            Vec::new(),
        );
    }
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
        state: Some(found.status.as_str().into()),
    }
}

/// The grants to take back: only where this object had an integration (status names its source and target)
/// and no other object needs them.
fn deauthorize(
    status: &ZeroEtlIntegrationStatus,
    owner: &Owner,
    still_needed: StillNeeded,
) -> Vec<Action> {
    let (Some(_), Some(source_arn), Some(namespace_arn)) = (
        &status.integration_arn,
        &status.source_arn,
        &status.target_arn,
    ) else {
        return Vec::new();
    };
    if still_needed.source {
        return Vec::new();
    }
    let account = source_arn.split(':').nth(4).unwrap_or_default().to_string();
    vec![Action::Target(TargetAction::Deauthorize {
        namespace_arn: namespace_arn.to_string(),
        source_arn: source_arn.clone(),
        account,
        scope: owner.cluster.clone(),
        keep_account: still_needed.account,
    })]
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

    fn owner() -> Owner {
        Owner {
            cluster: "c1".into(),
            kind: "ZeroEtlIntegration".into(),
            namespace: "team-a".into(),
            name: "orders".into(),
            uid: "u1".into(),
        }
    }

    fn found(status: IntegrationStatus) -> AwsIntegration {
        AwsIntegration {
            arn: "arn:aws:rds:us-east-1:111111111111:integration:x".into(),
            name: "orders".into(),
            source_arn: "arn:aws:rds:us-east-1:111111111111:cluster:orders-aurora".into(),
            target_arn: "".into(),
            status,
            data_filter: None,
            description: None,
            tags: owner().tags().into(),
            errors: Vec::new(),
            create_time: None,
        }
    }

    fn stored() -> ZeroEtlIntegrationStatus {
        ZeroEtlIntegrationStatus {
            integration_arn: Some("arn:aws:rds:us-east-1:111111111111:integration:x".into()),
            source_arn: Some("arn:aws:rds:us-east-1:111111111111:cluster:orders-aurora".into()),
            target_arn: Some("arn:aws:redshift-serverless:us-east-1:111111111111:namespace/3f1c2a9e-5b7d-4e21-9c3a-1a2b3c4d5e01".into()),
            ..Default::default()
        }
    }

    #[test]
    fn retain_releases_without_touching_aws() {
        let p = plan_delete(
            &spec(DeletionPolicy::Retain),
            &Default::default(),
            "orders",
            &owner(),
            Some(&found(IntegrationStatus::Active)),
            StillNeeded::UNKNOWN,
        );
        assert!(p.release && p.actions.is_empty());
        assert_eq!(p.notices[0].reason, "Retained");
    }

    #[test]
    fn delete_asks_aws_then_waits_then_releases_and_takes_the_grants_back() {
        let s = spec(DeletionPolicy::Delete);
        let plan = |found: Option<&AwsIntegration>, needed| {
            plan_delete(&s, &stored(), "orders", &owner(), found, needed)
        };
        let active = plan(
            Some(&found(IntegrationStatus::Active)),
            StillNeeded::UNKNOWN,
        );
        assert!(!active.release);
        assert!(matches!(
            active.actions[..],
            [Action::Integration(IntegrationAction::Delete { .. })]
        ));
        let deleting = plan(
            Some(&found(IntegrationStatus::Deleting)),
            StillNeeded::UNKNOWN,
        );
        assert!(!deleting.release && deleting.actions.is_empty());
        let gone = plan(
            None,
            StillNeeded {
                source: false,
                account: true,
            },
        );
        assert!(gone.release);
        assert!(matches!(
            gone.actions[..],
            [Action::Target(TargetAction::Deauthorize {
                keep_account: true,
                ..
            })]
        ));
        assert!(
            plan(None, StillNeeded::UNKNOWN).actions.is_empty(),
            "unknown: keep the grants"
        );
    }

    #[test]
    fn only_what_the_object_owns_is_deleted() {
        let s = spec(DeletionPolicy::Delete);
        let theirs = AwsIntegration {
            tags: Owner {
                namespace: "team-b".into(),
                ..owner()
            }
            .tags()
            .into(),
            ..found(IntegrationStatus::Active)
        };
        let p = plan_delete(
            &s,
            &Default::default(),
            "orders",
            &owner(),
            Some(&theirs),
            StillNeeded::UNKNOWN,
        );
        assert!(p.release && p.actions.is_empty());
        assert_eq!(p.notices[0].reason, "NotOwned");
        let untagged = AwsIntegration {
            tags: Default::default(),
            ..found(IntegrationStatus::Active)
        };
        let by_name = plan_delete(
            &s,
            &Default::default(),
            "orders",
            &owner(),
            Some(&untagged),
            StillNeeded::UNKNOWN,
        );
        assert!(
            by_name.release && by_name.actions.is_empty(),
            "untagged and not in status: not ours"
        );
        let legacy = plan_delete(
            &s,
            &stored(),
            "orders",
            &owner(),
            Some(&untagged),
            StillNeeded::UNKNOWN,
        );
        assert!(
            !legacy.release && legacy.actions.len() == 1,
            "untagged but in status: made before owner tags"
        );
        let observe_only = ZeroEtlIntegrationSpec {
            management_policy: ManagementPolicy::ObserveOnly,
            ..s.clone()
        };
        let p = plan_delete(
            &observe_only,
            &stored(),
            "orders",
            &owner(),
            Some(&found(IntegrationStatus::Active)),
            StillNeeded::UNKNOWN,
        );
        assert!(
            p.release && p.actions.is_empty(),
            "ObserveOnly never deletes"
        );
    }
}
