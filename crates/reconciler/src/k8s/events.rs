//! Kubernetes Events, with one policy for both kinds so that `kubectl describe` tells every object's story
//! the same way: an event for each change the operator made, one when the object becomes Ready, one when it
//! stops being Ready, and one when it stalls (its reason says why). Ordinary progress makes none.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Client, Resource};
use tracing::warn;
use zeroetl_api::conditions::{find, READY, STALLED};

/// events.k8s.io/v1 refuses notes over 1 kB; a long AWS message would otherwise lose the whole event.
pub const NOTE_LIMIT: usize = 1024;

/// One event to publish.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub warning: bool,
    pub reason: String,
    pub note: String,
}

impl Notice {
    pub fn normal(reason: &str, note: impl Into<String>) -> Notice {
        Notice {
            warning: false,
            reason: reason.into(),
            note: note.into(),
        }
    }
}

/// The events a status transition deserves.
pub fn transitions(before: &[Condition], after: &[Condition]) -> Vec<Notice> {
    let is_true = |list: &[Condition], t: &str| find(list, t).is_some_and(|c| c.status == "True");
    let mut out = Vec::new();
    let (was_ready, is_ready) = (is_true(before, READY), is_true(after, READY));
    let stalled_now = find(after, STALLED).filter(|c| c.status == "True");
    let stalled_before = find(before, STALLED).filter(|c| c.status == "True");
    if !was_ready && is_ready {
        let message = find(after, READY)
            .map(|c| c.message.clone())
            .unwrap_or_default();
        out.push(Notice::normal("Ready", message));
    }
    if let Some(stalled) = stalled_now {
        if stalled_before.is_none_or(|b| b.reason != stalled.reason) {
            out.push(Notice {
                warning: true,
                reason: stalled.reason.clone(),
                note: stalled.message.clone(),
            });
        }
    } else if was_ready && !is_ready {
        let note = find(after, READY)
            .map(|c| format!("{}: {}", c.reason, c.message))
            .unwrap_or_default();
        out.push(Notice {
            warning: true,
            reason: "NotReady".into(),
            note,
        });
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
}

impl Events {
    pub fn new(client: Client, controller: &str) -> Events {
        let reporter = Reporter {
            controller: controller.into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Events { client, reporter }
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
            message: format!("{type_} {reason}"),
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
        let reasons = |b: &[Condition], a: &[Condition]| {
            transitions(b, a)
                .into_iter()
                .map(|n| (n.warning, n.reason))
                .collect::<Vec<_>>()
        };
        assert_eq!(reasons(&busy, &ready), [(false, "Ready".to_string())]);
        assert_eq!(reasons(&ready, &ready), []);
        assert_eq!(reasons(&busy, &busy), []);
        assert_eq!(reasons(&ready, &broken), [(true, "NotReady".to_string())]);
        assert_eq!(
            reasons(&busy, &stalled),
            [(true, "AccessDenied".to_string())]
        );
        assert_eq!(reasons(&stalled, &stalled), []);
        assert_eq!(reasons(&[], &busy), []);
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
