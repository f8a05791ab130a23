//! Kubernetes Events, with one policy for both kinds so that `kubectl describe` tells every object's story
//! the same way: an event for each change the operator made, a warning when it stops being Ready and when it
//! stalls (its reason says why), and `Ready` when it is Ready again after such a warning. Ordinary progress
//! makes none, and neither does becoming Ready the first time: the Ready condition says so, and at fleet
//! scale that event was a fifth of the operator's writes (see docs/benchmarks.md).

use std::collections::HashSet;
use std::sync::Arc;

use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource};
use parking_lot::Mutex;
use tracing::warn;
use zeroetl_api::conditions::Condition;
use zeroetl_api::conditions::{find, READY, STALLED};

/// events.k8s.io/v1 refuses notes over 1 kB; a long AWS message would otherwise lose the whole event.
pub const NOTE_LIMIT: usize = 1024;

/// Something a pass did or saw: published as an Event, and logged unless it is a warning (warnings are logged
/// where they are found).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub warning: bool,
    pub reason: String,
    pub note: String,
    /// False: logged only, because the object's status already shows it.
    pub event: bool,
}

impl Notice {
    pub fn normal(reason: &str, note: impl Into<String>) -> Notice {
        Notice {
            warning: false,
            reason: reason.into(),
            note: note.into(),
            event: true,
        }
    }

    pub fn warning(reason: &str, note: impl Into<String>) -> Notice {
        Notice {
            warning: true,
            ..Notice::normal(reason, note)
        }
    }

    /// A change the object's status records anyway (its integration's ARN and state): logged, not published,
    /// so a fleet of creates costs no Event write per object.
    pub fn logged(reason: &str, note: impl Into<String>) -> Notice {
        Notice {
            event: false,
            ..Notice::normal(reason, note)
        }
    }
}

/// The events a status transition deserves. `warned`: a warning about this object stands unanswered (it
/// left Ready or stalled, and has not been Ready since).
pub fn transitions(before: &[Condition], after: &[Condition], warned: bool) -> Vec<Notice> {
    let is_true = |list: &[Condition], t: &str| find(list, t).is_some_and(|c| c.status == "True");
    let mut out = Vec::new();
    let (was_ready, is_ready) = (is_true(before, READY), is_true(after, READY));
    let stalled_now = find(after, STALLED).filter(|c| c.status == "True");
    let stalled_before = find(before, STALLED).filter(|c| c.status == "True");
    if !was_ready && is_ready && warned {
        let message = find(after, READY)
            .map(|c| c.message.clone())
            .unwrap_or_default();
        out.push(Notice::normal("Ready", message));
    }
    if let Some(stalled) = stalled_now {
        if stalled_before.is_none_or(|b| b.reason != stalled.reason) {
            out.push(Notice::warning(&stalled.reason, stalled.message.clone()));
        }
    } else if was_ready && !is_ready {
        let note = find(after, READY)
            .map(|c| format!("{}: {}", c.reason, c.message))
            .unwrap_or_default();
        out.push(Notice::warning("NotReady", note));
    }
    out
}

/// Cuts `note` to the API's limit at a character boundary, marking the cut.
pub fn truncate_note(note: &str) -> String {
    if note.len() <= NOTE_LIMIT {
        return note.to_string();
    }
    let mut end = NOTE_LIMIT - '…'.len_utf8();
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &note[..end])
}

#[derive(Clone)]
pub struct Events {
    client: Client,
    reporter: Reporter,
    /// UIDs of objects with a warning published and no Ready since: only they get a `Ready` event. Kept in
    /// memory (a restart forgets them, and their recovery then shows in the Ready condition only), and only
    /// while the trouble lasts.
    warned: Arc<Mutex<HashSet<String>>>,
}

impl Events {
    pub fn new(client: Client, controller: &str) -> Events {
        let reporter = Reporter {
            controller: controller.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Events {
            client,
            reporter,
            warned: Arc::default(),
        }
    }

    /// Whether a warning about the object with this UID stands unanswered.
    pub fn warned(&self, uid: &str) -> bool {
        self.warned.lock().contains(uid)
    }

    /// Records what a pass published: a warning opens the object's trouble, Ready ends it.
    pub fn published(&self, uid: &str, notices: &[Notice], ready: bool) {
        let mut warned = self.warned.lock();
        if notices.iter().any(|n| n.warning) {
            warned.insert(uid.to_string());
        } else if ready {
            warned.remove(uid);
        }
    }

    /// The object is gone.
    pub fn forget(&self, uid: &str) {
        self.warned.lock().remove(uid);
    }

    /// Publishes `notice` on `obj`. Failing to publish never fails a reconcile: events are a courtesy.
    pub async fn publish<K>(&self, obj: &K, notice: &Notice)
    where
        K: Resource<DynamicType = ()>,
    {
        let event = Event {
            type_: if notice.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: notice.reason.clone(),
            note: Some(truncate_note(&notice.note)),
            action: "Reconcile".into(),
            secondary: None,
        };
        // A Recorder per event: a long-lived one keeps every event it published for six minutes, to count
        // repeats into a series (measured: 12 MiB of the operator's 26 MiB heap while 1,000 integrations
        // came up). Events here mark transitions, which do not repeat, so there is nothing to count.
        let recorder = Recorder::new(self.client.clone(), self.reporter.clone());
        if let Err(e) = recorder.publish(&event, &obj.object_ref(&())).await {
            warn!(error = %e, reason = %notice.reason, "could not publish event");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    fn c(type_: &str, status: &str, reason: &str) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: format!("{type_} {reason}").into(),
            last_transition_time: Time(Timestamp::UNIX_EPOCH),
            observed_generation: None,
        }
    }

    #[test]
    fn ready_not_ready_and_stalled_make_events_and_progress_does_not() {
        let busy = [
            c(READY, "False", "Creating"),
            c(STALLED, "False", "NotStalled"),
        ];
        let ready = [
            c(READY, "True", "Reconciled"),
            c(STALLED, "False", "NotStalled"),
        ];
        let broken = [
            c(READY, "False", "Throttling"),
            c(STALLED, "False", "NotStalled"),
        ];
        let stalled = [
            c(READY, "False", "AccessDenied"),
            c(STALLED, "True", "AccessDenied"),
        ];
        let reasons = |b: &[Condition], a: &[Condition], warned: bool| {
            transitions(b, a, warned)
                .into_iter()
                .map(|n| (n.warning, n.reason))
                .collect::<Vec<_>>()
        };
        assert_eq!(reasons(&busy, &ready, false), []);
        assert_eq!(reasons(&busy, &ready, true), [(false, "Ready".to_string())]);
        assert_eq!(reasons(&ready, &ready, true), []);
        assert_eq!(reasons(&busy, &busy, true), []);
        assert_eq!(
            reasons(&ready, &broken, false),
            [(true, "NotReady".to_string())]
        );
        assert_eq!(
            reasons(&busy, &stalled, false),
            [(true, "AccessDenied".to_string())]
        );
        assert_eq!(reasons(&stalled, &stalled, true), []);
        assert_eq!(reasons(&[], &busy, false), []);
    }

    #[tokio::test]
    async fn ready_is_announced_only_to_end_a_warning_and_each_tenants_object_is_its_own() {
        let events = Events::new(
            crate::testing::fake_api::FakeApi::default().client(),
            "zeroetl-operator",
        );
        let stalled = Notice::warning("AccessDenied", "the target's policy refuses the source");
        let created = Notice::normal("AuthorizedSource", "arn:aws:rds:…");
        // team-a's object stalls; team-b's object (same name, its own UID) is only created.
        events.published("uid-team-a", std::slice::from_ref(&stalled), false);
        events.published("uid-team-b", std::slice::from_ref(&created), false);
        assert!(events.warned("uid-team-a"));
        assert!(!events.warned("uid-team-b"));
        // Progress after the stall does not end it; Ready does, once.
        events.published("uid-team-a", &[], false);
        assert!(events.warned("uid-team-a"));
        events.published("uid-team-a", &[], true);
        assert!(!events.warned("uid-team-a"));
        // A deleted object is forgotten.
        events.published("uid-team-b", &[stalled], false);
        events.forget("uid-team-b");
        assert!(!events.warned("uid-team-b"));
    }

    #[tokio::test]
    async fn the_same_notice_on_two_tenants_objects_is_a_new_event_each_time_and_nothing_is_kept() {
        use crate::testing::fake_api::FakeApi;
        use k8s_openapi::api::core::v1::ConfigMap;
        use kube::api::ObjectMeta;

        let api = FakeApi::default();
        let events = Events::new(api.client(), "zeroetl-operator");
        // Any namespaced object will do: the publisher only reads its reference.
        let object = |namespace: &str| ConfigMap {
            metadata: ObjectMeta {
                name: Some("orders".into()),
                namespace: Some(namespace.into()),
                uid: Some(format!("uid-{namespace}")),
                ..Default::default()
            },
            ..Default::default()
        };
        let ready = Notice::normal("Ready", "integration active");
        for namespace in ["team-a", "team-b", "team-a", "team-b"] {
            events.publish(&object(namespace), &ready).await;
        }
        // A series (a PATCH of the first event) would mean the publisher remembered the first one.
        let requests = api.requests();
        assert_eq!(requests.len(), 4, "{requests:?}");
        assert!(
            requests.iter().all(|r| r.starts_with("POST ")),
            "every publish creates its own event: {requests:?}"
        );
        assert_eq!(
            requests
                .iter()
                .filter(|r| r.contains("/namespaces/team-b/"))
                .count(),
            2,
            "each in its object's namespace: {requests:?}"
        );
    }

    #[test]
    fn long_notes_are_cut_to_the_api_limit() {
        let long = "é".repeat(2000);
        let cut = truncate_note(&long);
        assert!(cut.len() <= NOTE_LIMIT && cut.ends_with('…'));
        assert_eq!(truncate_note("short"), "short");
    }
}
