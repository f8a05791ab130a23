//! Schema pieces the derive cannot express: CEL rules and the conditions list-map.

use schemars::{json_schema, Schema, SchemaGenerator};

/// Adds a CEL `self == oldSelf` rule. Kubernetes ≥ 1.25 enforces it; the operator enforces the same rule
/// itself for older servers (see validation and `status.createdWith`).
pub fn immutable(schema: &mut Schema, message: &str) {
    schema.insert(
        "x-kubernetes-validations".into(),
        serde_json::json!([{"rule": "self == oldSelf", "message": message}]),
    );
}

/// `metav1.Condition` list keyed by type, so server-side apply merges entries instead of replacing the list.
pub fn conditions_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "array",
        "x-kubernetes-list-type": "map",
        "x-kubernetes-list-map-keys": ["type"],
        "items": {
            "type": "object",
            "required": ["type", "status", "lastTransitionTime", "reason", "message"],
            "properties": {
                "type": {"type": "string", "description": "The condition type, e.g. Ready."},
                "status": {"type": "string", "enum": ["True", "False", "Unknown"]},
                "reason": {"type": "string", "description": "A CamelCase reason for the last transition."},
                "message": {"type": "string", "description": "What happened, for humans."},
                "lastTransitionTime": {"type": "string", "format": "date-time"},
                "observedGeneration": {"type": "integer", "format": "int64"}
            }
        }
    })
}
