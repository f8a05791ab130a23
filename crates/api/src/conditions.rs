//! Status conditions in the `metav1.Condition` shape, and the merge rule every status write goes through:
//! `lastTransitionTime` moves only when a condition's `status` changes.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde::{Deserialize, Serialize};

use crate::interned::Interned;

/// A condition as `metav1.Condition` writes it, with its text interned: a fleet's watch cache holds thousands
/// of objects whose conditions say the same words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: Interned,
    /// True, False or Unknown.
    pub status: Interned,
    #[serde(default)]
    pub reason: Interned,
    #[serde(default)]
    pub message: Interned,
    pub last_transition_time: Time,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
}

// The three conditions every object always carries (kstatus reads Reconciling and Stalled).
pub const READY: &str = "Ready";
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";

// ZeroEtlIntegration steps.
pub const SOURCE_READY: &str = "SourceReady";
pub const TARGET_READY: &str = "TargetReady";
pub const INTEGRATION_ACTIVE: &str = "IntegrationActive";
pub const DESTINATION_DATABASE_READY: &str = "DestinationDatabaseReady";
/// Replication health as Redshift reports it (informational: does not decide Ready).
pub const REPLICATING: &str = "Replicating";

// RedshiftConnection steps.
pub const AUTHENTICATED: &str = "Authenticated";
pub const CREDENTIALS_ISSUED: &str = "CredentialsIssued";
pub const REACHABLE: &str = "Reachable";
pub const STAGING_READY: &str = "StagingReady";
pub const CASE_SENSITIVE: &str = "CaseSensitive";
pub const SECRET_PUBLISHED: &str = "SecretPublished";

// RedshiftConsumer steps (SecretPublished is shared with RedshiftConnection).
pub const ROLE_READY: &str = "RoleReady";
pub const DATABASE_USER_READY: &str = "DatabaseUserReady";
pub const GRANTS_APPLIED: &str = "GrantsApplied";
pub const VERIFIED: &str = "Verified";

/// Reasons shared by both kinds. Step-specific reasons are written where they are decided.
pub mod reasons {
    pub const INVALID_SPEC: &str = "InvalidSpec";
    pub const IMMUTABLE_FIELD_CHANGED: &str = "ImmutableFieldChanged";
    pub const RECONCILED: &str = "Reconciled";
    pub const PROGRESSING: &str = "Progressing";
    pub const PENDING: &str = "Pending";
    pub const ACCESS_DENIED: &str = "AccessDenied";
    pub const DELETING: &str = "Deleting";
    pub const NOT_STALLED: &str = "NotStalled";
    pub const IDLE: &str = "Idle";
    /// An operator flag forbids what the spec asks.
    pub const FORBIDDEN_BY_OPERATOR: &str = "ForbiddenByOperator";
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    True,
    False,
    Unknown,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::True => "True",
            Status::False => "False",
            Status::Unknown => "Unknown",
        }
    }

    pub fn from_bool(b: bool) -> Status {
        if b {
            Status::True
        } else {
            Status::False
        }
    }
}

/// A condition as the reconciler decides it, before timestamps and generations are attached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decided {
    pub type_: String,
    pub status: Status,
    pub reason: String,
    pub message: String,
}

impl Decided {
    /// A condition; `reason` is made valid (see [`sanitize_reason`]) so that no text from AWS can make the
    /// API server refuse a status.
    pub fn new(type_: &str, status: Status, reason: &str, message: impl Into<String>) -> Decided {
        Decided {
            type_: type_.to_string(),
            status,
            reason: sanitize_reason(reason),
            message: message.into(),
        }
    }
}

/// Whether `reason` matches what `metav1.Condition` allows: `^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$`, at
/// most 1024 characters.
pub fn is_valid_reason(reason: &str) -> bool {
    let bytes = reason.as_bytes();
    let inner = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'_' | b',' | b':');
    let last = |b: &u8| b.is_ascii_alphanumeric() || *b == b'_';
    !bytes.is_empty()
        && bytes.len() <= 1024
        && bytes[0].is_ascii_alphabetic()
        && bytes.iter().all(inner)
        && bytes.last().is_some_and(last)
}

/// The one reason sanitizer: a valid reason unchanged; otherwise its letters, digits and underscores (at
/// most 1024, starting with a letter), or `Unknown` when nothing is left.
pub fn sanitize_reason(reason: &str) -> String {
    if is_valid_reason(reason) {
        return reason.to_string();
    }
    let kept: String = reason
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .skip_while(|c| !c.is_ascii_alphabetic())
        .take(1024)
        .collect();
    if kept.is_empty() {
        "Unknown".to_string()
    } else {
        kept
    }
}

/// Merges `decided` into `previous`: a condition whose status is unchanged keeps its `lastTransitionTime`.
/// Conditions not decided this time are kept as they were (a step that did not run says nothing new).
/// The result is sorted by type so that equal inputs give equal output (no spurious status patches).
pub fn merge(
    previous: &[Condition],
    decided: &[Decided],
    generation: Option<i64>,
    now: &Time,
) -> Vec<Condition> {
    let mut out: Vec<Condition> = previous
        .iter()
        .filter(|c| !decided.iter().any(|d| c.type_ == d.type_.as_str()))
        .cloned()
        .collect();
    for d in decided {
        let old = previous.iter().find(|c| c.type_ == d.type_.as_str());
        let last_transition_time = match old {
            Some(c) if c.status == d.status.as_str() => c.last_transition_time.clone(),
            _ => now.clone(),
        };
        out.push(Condition {
            type_: Interned::new(&d.type_),
            status: Interned::new(d.status.as_str()),
            reason: Interned::new(&d.reason),
            // The API server requires a message field; keep it short and free of secrets.
            message: Interned::new(&truncate(&d.message, 32_768)),
            last_transition_time,
            observed_generation: generation,
        });
    }
    out.sort_by(|a, b| a.type_.cmp(&b.type_));
    out
}

/// Finds a condition by type.
pub fn find<'a>(conditions: &'a [Condition], type_: &str) -> Option<&'a Condition> {
    conditions.iter().find(|c| c.type_ == type_)
}

/// Whether the condition of that type is present with status True.
pub fn is_true(conditions: &[Condition], type_: &str) -> bool {
    find(conditions, type_).is_some_and(|c| c.status == "True")
}

fn truncate(s: &str, max: usize) -> std::borrow::Cow<'_, str> {
    if s.len() <= max {
        return s.into();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end]).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    fn t(secs: i64) -> Time {
        Time(Timestamp::from_second(secs).unwrap())
    }

    #[test]
    fn conditions_read_and_write_the_metav1_shape() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition as Metav1;
        for observed_generation in [Some(3), None] {
            let theirs = Metav1 {
                type_: READY.into(),
                status: "True".into(),
                reason: "Reconciled".into(),
                message: "ok".into(),
                last_transition_time: t(100),
                observed_generation,
            };
            let json = serde_json::to_value(&theirs).unwrap();
            let ours: Condition = serde_json::from_value(json.clone()).unwrap();
            assert_eq!(serde_json::to_value(&ours).unwrap(), json);
        }
    }

    #[test]
    fn conditions_of_different_objects_share_their_text() {
        // Two teams' integrations, read from the API server one after the other, as a watch cache would.
        let status = |arn: &str| {
            serde_json::from_value::<crate::ZeroEtlIntegrationStatus>(serde_json::json!({
                "integrationArn": arn,
                "conditions": [{
                    "type": "Ready", "status": "True", "reason": "Reconciled",
                    "message": "The integration is active", "lastTransitionTime": "2026-12-03T10:00:00Z"
                }]
            }))
            .unwrap()
        };
        let team_a = status("arn:aws:rds:us-east-1:111111111111:integration:a");
        let team_b = status("arn:aws:rds:us-east-1:222222222222:integration:b");
        let (a, b) = (&team_a.conditions[0], &team_b.conditions[0]);
        assert_eq!(a, b);
        for (x, y) in [
            (&a.type_, &b.type_),
            (&a.reason, &b.reason),
            (&a.message, &b.message),
        ] {
            assert_eq!(x.as_ptr(), y.as_ptr(), "{x} is held twice");
        }
    }

    #[test]
    fn reasons_are_made_valid() {
        assert_eq!(
            sanitize_reason("IntegrationNotFoundFault"),
            "IntegrationNotFoundFault"
        );
        assert_eq!(sanitize_reason("Bad Reason!"), "BadReason");
        assert_eq!(sanitize_reason("42:x"), "x");
        assert_eq!(sanitize_reason(""), "Unknown");
        assert_eq!(sanitize_reason("!!"), "Unknown");
        assert!(is_valid_reason("A,b:c_d") && !is_valid_reason("A:") && !is_valid_reason("1A"));
        assert_eq!(
            Decided::new(READY, Status::False, "no good", "").reason,
            "nogood"
        );
    }

    #[test]
    fn transition_time_moves_only_on_status_change() {
        let first = merge(
            &[],
            &[Decided::new(READY, Status::False, "Pending", "waiting")],
            Some(1),
            &t(100),
        );
        assert_eq!(first[0].last_transition_time, t(100));

        // Same status, new reason and message: time stays.
        let second = merge(
            &first,
            &[Decided::new(READY, Status::False, "Creating", "creating")],
            Some(2),
            &t(200),
        );
        assert_eq!(second[0].last_transition_time, t(100));
        assert_eq!(
            (second[0].reason.as_str(), second[0].observed_generation),
            ("Creating", Some(2))
        );

        // Status flips: time moves.
        let third = merge(
            &second,
            &[Decided::new(READY, Status::True, "Reconciled", "ok")],
            Some(2),
            &t(300),
        );
        assert_eq!(third[0].last_transition_time, t(300));
    }

    #[test]
    fn undecided_conditions_are_kept_and_output_is_sorted() {
        let prev = merge(
            &[],
            &[
                Decided::new(STALLED, Status::False, "NotStalled", ""),
                Decided::new(SOURCE_READY, Status::True, "Ok", ""),
            ],
            Some(1),
            &t(1),
        );
        let next = merge(
            &prev,
            &[Decided::new(READY, Status::True, "Reconciled", "")],
            Some(1),
            &t(2),
        );
        let types: Vec<_> = next.iter().map(|c| c.type_.as_str()).collect();
        assert_eq!(types, vec![READY, SOURCE_READY, STALLED]);
        assert!(is_true(&next, SOURCE_READY) && !is_true(&next, STALLED));
    }
}
