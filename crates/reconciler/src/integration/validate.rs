//! Validation, pure: nothing reaches AWS from an invalid spec, or from one that asks AWS for the impossible
//! (changing a field AWS fixes at creation).

use zeroetl_api::conditions::reasons;
use zeroetl_api::integration::{ZeroEtlIntegrationSpec, ZeroEtlIntegrationStatus};
use zeroetl_api::validation::summarize;
use zeroetl_api::{validate_integration, ZeroEtlIntegration};

use crate::guardrails::Guardrails;

/// Why the operator refuses a spec: the Stalled reason and the message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub reason: &'static str,
    pub message: String,
}

pub fn validate(obj: &ZeroEtlIntegration, guardrails: &Guardrails) -> Result<(), Refusal> {
    let errors = validate_integration(obj);
    if !errors.is_empty() {
        return Err(Refusal {
            reason: reasons::INVALID_SPEC,
            message: summarize(&errors),
        });
    }
    if let Some(message) = guardrails.integration(&obj.spec) {
        return Err(Refusal {
            reason: reasons::FORBIDDEN_BY_OPERATOR,
            message,
        });
    }
    let status = obj.status.clone().unwrap_or_default();
    match immutable_change(&obj.spec, &status) {
        Some(message) => Err(Refusal {
            reason: reasons::IMMUTABLE_FIELD_CHANGED,
            message,
        }),
        None => Ok(()),
    }
}

/// A change to a field AWS fixes at creation. `None` when the spec still matches what the integration was
/// created with (or nothing was created yet).
pub fn immutable_change(
    spec: &ZeroEtlIntegrationSpec,
    status: &ZeroEtlIntegrationStatus,
) -> Option<String> {
    let created = status.created_with.as_ref()?;
    let now = spec.immutable_part();
    let mut changed = Vec::new();
    if now.source != created.source {
        changed.push("spec.source");
    }
    if now.target != created.target {
        changed.push("spec.target");
    }
    if now.kms_key_id != created.kms_key_id {
        changed.push("spec.kmsKeyId");
    }
    if now.additional_encryption_context != created.additional_encryption_context {
        changed.push("spec.additionalEncryptionContext");
    }
    (!changed.is_empty()).then(|| {
        format!(
            "{} cannot change after the integration is created (AWS fixes them at creation); restore the previous value, or create a new ZeroEtlIntegration",
            changed.join(", ")
        )
    })
}
