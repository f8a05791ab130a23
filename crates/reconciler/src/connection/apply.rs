//! Acting on a connection's plan, the only place it changes anything: case sensitivity on the warehouse (Fix
//! mode; never a reboot), and the coordinates Secret in Kubernetes.

use zeroetl_api::RedshiftConnection;

use super::plan::Action;
use super::secret;
use crate::aws::Clients;
use crate::error::Error;
use crate::k8s::Notice;
use crate::warehouse::{self, CaseSensitivityChange, Warehouse};
use crate::Context;

/// Runs every action (they are independent of each other); returns the changes made and the actions that
/// failed.
pub async fn run(
    ctx: &Context,
    obj: &RedshiftConnection,
    clients: &Clients,
    w: &Warehouse,
    actions: &[Action],
) -> (Vec<Notice>, Vec<(Action, Error)>) {
    let mut changes = Vec::new();
    let mut failures = Vec::new();
    for action in actions {
        let result = match action {
            Action::EnableCaseSensitivity => enable_case_sensitivity(clients, w)
                .await
                .map(|made| changes.extend(made)),
            Action::PublishSecret { name, data } => {
                secret::publish(&ctx.client, obj, name, data).await
            }
            Action::RemoveStaleSecrets { keep } => {
                // Best effort: a failure is logged and retried on the next verification.
                secret::remove_stale(&ctx.client, obj, keep.as_deref()).await;
                Ok(())
            }
        };
        if let Err(e) = result {
            failures.push((action.clone(), e));
        }
    }
    (changes, failures)
}

/// Turns on `enable_case_sensitive_identifier` (never rebooting); the change it made, if any.
pub async fn enable_case_sensitivity(
    clients: &Clients,
    w: &Warehouse,
) -> Result<Option<Notice>, Error> {
    Ok(
        match warehouse::enable_case_sensitivity(clients, w, false).await? {
            CaseSensitivityChange::AlreadyOn => None,
            _ => Some(Notice::normal(
                "EnabledCaseSensitivity",
                format!("set enable_case_sensitive_identifier on {}", w.describe()),
            )),
        },
    )
}
