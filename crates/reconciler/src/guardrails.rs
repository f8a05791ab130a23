//! What an admin may forbid with operator flags, whatever the objects ask: assuming roles outside a list of
//! patterns (`--allowed-assume-role-arns`), touching accounts outside a list (`--allowed-account-ids`), and
//! rebooting sources (`--forbid-source-reboot`). A refused object is Stalled with reason
//! `ForbiddenByOperator`, and the message names the flag to change.

use zeroetl_api::integration::ZeroEtlIntegrationSpec;
use zeroetl_api::RedshiftConnectionSpec;

use crate::integration::target_policy::wildcard;

#[derive(Clone, Debug, Default)]
pub struct Guardrails {
    /// Role ARN patterns (`*`, `?`) `spec.auth.assumeRole.roleArn` must match; empty: any.
    pub allowed_assume_role_arns: Vec<String>,
    /// AWS accounts sources, targets and roles may be in; empty: any.
    pub allowed_account_ids: Vec<String>,
    /// Never reboot a source, even when an object allows it.
    pub forbid_source_reboot: bool,
}

fn account_of(arn: &str) -> &str {
    arn.split(':').nth(4).unwrap_or_default()
}

impl Guardrails {
    /// Whether an ARN's account is allowed; the refusal says which field and which flag.
    pub fn account(&self, field: &str, arn: &str) -> Option<String> {
        let account = account_of(arn);
        (!self.allowed_account_ids.is_empty()
            && !account.is_empty()
            && !self.allowed_account_ids.iter().any(|a| a == account))
        .then(|| {
            format!(
                "{field} is in account {account}, which the operator does not allow (--allowed-account-ids: {}); ask your platform admin to change the flag",
                self.allowed_account_ids.join(", ")
            )
        })
    }

    pub fn integration(&self, spec: &ZeroEtlIntegrationSpec) -> Option<String> {
        if self.forbid_source_reboot && spec.prerequisites.allow_source_reboot {
            return Some(
                "spec.prerequisites.allowSourceReboot: true is forbidden by the operator (--forbid-source-reboot); set it to false and reboot the source yourself".into(),
            );
        }
        let arns = [
            ("spec.source.arn", spec.source.arn.as_deref()),
            (
                "spec.target.namespaceArn",
                spec.target.namespace_arn.as_deref(),
            ),
        ];
        arns.into_iter()
            .find_map(|(field, arn)| arn.and_then(|a| self.account(field, a)))
    }

    pub fn connection(&self, spec: &RedshiftConnectionSpec) -> Option<String> {
        let role = spec.auth.assume_role.as_ref()?;
        let allowed = self.allowed_assume_role_arns.is_empty()
            || self
                .allowed_assume_role_arns
                .iter()
                .any(|p| wildcard(p, &role.role_arn));
        if !allowed {
            return Some(format!(
                "spec.auth.assumeRole.roleArn {} is not allowed by the operator (--allowed-assume-role-arns: {}); ask your platform admin to change the flag",
                role.role_arn,
                self.allowed_assume_role_arns.join(", ")
            ));
        }
        self.account("spec.auth.assumeRole.roleArn", &role.role_arn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(role: &str) -> RedshiftConnectionSpec {
        serde_json::from_value(serde_json::json!({
            "serverless": {"workgroupName": "wg"}, "database": "dev",
            "auth": {"assumeRole": {"roleArn": role}},
        }))
        .unwrap()
    }

    #[test]
    fn flags_refuse_roles_accounts_and_reboots_naming_the_flag() {
        let open = Guardrails::default();
        assert_eq!(
            open.connection(&connection("arn:aws:iam::222222222222:role/x")),
            None
        );
        let strict = Guardrails {
            allowed_assume_role_arns: vec!["arn:aws:iam::*:role/zeroetl-*".into()],
            allowed_account_ids: vec!["111111111111".into()],
            forbid_source_reboot: true,
        };
        let refused = strict
            .connection(&connection("arn:aws:iam::111111111111:role/admin"))
            .unwrap();
        assert!(refused.contains("--allowed-assume-role-arns"), "{refused}");
        let other_account = strict
            .connection(&connection("arn:aws:iam::222222222222:role/zeroetl-x"))
            .unwrap();
        assert!(
            other_account.contains("--allowed-account-ids"),
            "{other_account}"
        );
        assert_eq!(
            strict.connection(&connection("arn:aws:iam::111111111111:role/zeroetl-x")),
            None
        );
        let spec: ZeroEtlIntegrationSpec = serde_json::from_value(serde_json::json!({
            "source": {"dbClusterIdentifier": "c"}, "target": {"namespaceArn": "arn:aws:redshift:us-east-1:111111111111:namespace:x"},
            "prerequisites": {"source": "Fix", "allowSourceReboot": true},
        }))
        .unwrap();
        assert!(strict
            .integration(&spec)
            .unwrap()
            .contains("--forbid-source-reboot"));
    }
}
