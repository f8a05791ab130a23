//! kstatus, the status convention Flux and `kubectl`-adjacent tools read, ported from
//! sigs.k8s.io/cli-utils `pkg/kstatus/status` (`Compute`) for custom resources: the generic rules
//! (deletion, generation, Reconciling, Stalled) and then the `Ready` fallback. Built-in kinds' legacy rules
//! do not apply to custom resources and are left out.

use serde_json::Value;

/// kstatus's statuses (`NotFound` is a poller's, not `Compute`'s, and is left out).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KStatus {
    InProgress,
    Failed,
    Current,
    Terminating,
}

/// What `Compute` returns: the status and its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Computed {
    pub status: KStatus,
    pub message: String,
}

impl Computed {
    fn new(status: KStatus, message: impl Into<String>) -> Computed {
        Computed {
            status,
            message: message.into(),
        }
    }
}

fn text(value: &Value, field: &str) -> String {
    value
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// kstatus `Compute` for a custom resource given as JSON.
pub fn compute(object: &Value) -> Computed {
    // checkGenericProperties: deletion first.
    if object
        .pointer("/metadata/deletionTimestamp")
        .and_then(Value::as_str)
        .is_some_and(|t| !t.is_empty())
    {
        return Computed::new(KStatus::Terminating, "Resource scheduled for deletion");
    }
    // checkGeneration: only when both fields are present.
    let kind = text(object, "kind");
    if let (Some(generation), Some(observed)) = (
        object
            .pointer("/metadata/generation")
            .and_then(Value::as_i64),
        object
            .pointer("/status/observedGeneration")
            .and_then(Value::as_i64),
    ) {
        if generation != observed {
            return Computed::new(
                KStatus::InProgress,
                format!(
                    "{kind} generation is {generation}, but latest observed generation is {observed}"
                ),
            );
        }
    }
    let conditions: Vec<&Value> = object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .map(|c| c.iter().collect())
        .unwrap_or_default();
    // In list order: whichever of Reconciling=True and Stalled=True comes first decides.
    for condition in &conditions {
        let is_true = text(condition, "status") == "True";
        match text(condition, "type").as_str() {
            "Reconciling" if is_true => {
                return Computed::new(KStatus::InProgress, text(condition, "message"))
            }
            "Stalled" if is_true => {
                return Computed::new(KStatus::Failed, text(condition, "message"))
            }
            _ => {}
        }
    }
    // checkReadyCondition.
    if let Some(ready) = conditions.iter().find(|c| text(c, "type") == "Ready") {
        match text(ready, "status").as_str() {
            "True" => return Computed::new(KStatus::Current, "Resource is Ready"),
            "False" | "Unknown" => {
                return Computed::new(KStatus::InProgress, text(ready, "message"))
            }
            _ => {}
        }
    }
    // No known condition: kstatus assumes the resource is current.
    Computed::new(KStatus::Current, "Resource is current")
}

/// Our own rule on top of kstatus: a Current object's Ready condition describes the current generation
/// (`Ready.observedGeneration == metadata.generation`). kstatus cannot check it, since it reads only the
/// top-level `status.observedGeneration`.
pub fn ready_describes_current_generation(object: &Value) -> bool {
    let generation = object
        .pointer("/metadata/generation")
        .and_then(Value::as_i64);
    let ready = object
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find(|c| text(c, "type") == "Ready"));
    generation.is_some()
        && ready
            .and_then(|r| r.get("observedGeneration"))
            .and_then(Value::as_i64)
            == generation
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cond(t: &str, s: &str, m: &str) -> Value {
        json!({"type": t, "status": s, "reason": "R", "message": m})
    }

    fn obj(generation: i64, observed: Option<i64>, conditions: Vec<Value>) -> Value {
        let mut o = json!({"kind": "ZeroEtlIntegration", "metadata": {"generation": generation}});
        if observed.is_some() || !conditions.is_empty() {
            o["status"] = json!({"conditions": conditions});
            if let Some(observed) = observed {
                o["status"]["observedGeneration"] = json!(observed);
            }
        }
        o
    }

    #[test]
    fn rules_in_kstatus_order() {
        // No status at all: Current (kstatus's fallback, the gap docs/gitops.md describes).
        assert_eq!(compute(&obj(1, None, vec![])).status, KStatus::Current);
        // Generation not yet observed beats everything but deletion.
        let stale = obj(2, Some(1), vec![cond("Ready", "True", "")]);
        assert_eq!(
            compute(&stale),
            Computed::new(
                KStatus::InProgress,
                "ZeroEtlIntegration generation is 2, but latest observed generation is 1"
            )
        );
        let mut deleting = stale.clone();
        deleting["metadata"]["deletionTimestamp"] = json!("2025-01-01T00:00:00Z");
        assert_eq!(compute(&deleting).status, KStatus::Terminating);
        // No observedGeneration: the generation rule does not apply.
        assert_eq!(
            compute(&obj(2, None, vec![cond("Ready", "True", "")])).status,
            KStatus::Current
        );
        // Reconciling and Stalled in list order.
        let both = obj(
            1,
            Some(1),
            vec![
                cond("Reconciling", "True", "busy"),
                cond("Stalled", "True", "stuck"),
            ],
        );
        assert_eq!(compute(&both), Computed::new(KStatus::InProgress, "busy"));
        let both_other_order = obj(
            1,
            Some(1),
            vec![
                cond("Stalled", "True", "stuck"),
                cond("Reconciling", "True", "busy"),
            ],
        );
        assert_eq!(
            compute(&both_other_order),
            Computed::new(KStatus::Failed, "stuck")
        );
        // Ready decides last.
        let waiting = obj(1, Some(1), vec![cond("Ready", "False", "waiting")]);
        assert_eq!(
            compute(&waiting),
            Computed::new(KStatus::InProgress, "waiting")
        );
        let unknown = obj(1, Some(1), vec![cond("Ready", "Unknown", "")]);
        assert_eq!(compute(&unknown).status, KStatus::InProgress);
        let ready = obj(1, Some(1), vec![cond("Ready", "True", "")]);
        assert_eq!(
            compute(&ready),
            Computed::new(KStatus::Current, "Resource is Ready")
        );
    }

    #[test]
    fn ready_must_carry_the_generation() {
        let mut ready = obj(3, Some(3), vec![cond("Ready", "True", "")]);
        assert!(!ready_describes_current_generation(&ready));
        ready["status"]["conditions"][0]["observedGeneration"] = json!(2);
        assert!(!ready_describes_current_generation(&ready));
        ready["status"]["conditions"][0]["observedGeneration"] = json!(3);
        assert!(ready_describes_current_generation(&ready));
    }
}
