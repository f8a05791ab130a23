//! Kinds verified on a timer (connections, consumers): when a Ready object's last verification is fresh
//! enough to skip AWS, and when its status records a verification (an integration's replication read too).
//! The status records it at most hourly (`timing::VERIFIED_TIME_WRITE_INTERVAL`): a fleet verified every few
//! minutes would otherwise write every object's status at every verification. In between, the time lives
//! in memory (`Rechecks::verified`).

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::timing;

/// How long until the next verification is due, when the last one (the later of what the status records and
/// what this process remembers) is recent enough to skip this one.
pub fn fresh_for(
    recorded: Option<&str>,
    in_memory: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    interval: Duration,
) -> Option<Duration> {
    let last = parse(recorded).max(in_memory)?;
    let elapsed = (now - last).to_std().unwrap_or_default();
    // A tenth of slack so that the requeue timer firing a little early still re-verifies.
    let remaining = interval.checked_sub(elapsed)?;
    (remaining > interval / 10).then_some(remaining)
}

/// The verification time a status carries after a pass: `now` when the pass verified and the recorded time
/// is absent, an hour old, or about something else (another generation, other figures); otherwise the
/// recorded one (no write of its own).
pub fn recorded_after(
    recorded: Option<&str>,
    verified: bool,
    same_subject: bool,
    now: DateTime<Utc>,
) -> Option<String> {
    let due = !same_subject
        || parse(recorded).is_none_or(|last| {
            (now - last).to_std().unwrap_or_default() >= timing::VERIFIED_TIME_WRITE_INTERVAL
        });
    match verified && due {
        true => Some(now.to_rfc3339_opts(SecondsFormat::Secs, true)),
        false => recorded.map(str::to_string),
    }
}

fn parse(text: Option<&str>) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn text(t: DateTime<Utc>) -> String {
        t.to_rfc3339_opts(SecondsFormat::Secs, true)
    }

    #[test]
    fn the_later_of_status_and_memory_decides_freshness() {
        let every = Duration::from_secs(300);
        let recorded = text(at(0));
        assert_eq!(fresh_for(None, None, at(0), every), None, "never verified");
        assert_eq!(
            fresh_for(Some(&recorded), None, at(100), every),
            Some(Duration::from_secs(200))
        );
        assert_eq!(
            fresh_for(Some(&recorded), Some(at(250)), at(300), every),
            Some(Duration::from_secs(250)),
            "memory is newer than the hourly status"
        );
        assert_eq!(
            fresh_for(Some(&recorded), None, at(280), every),
            None,
            "within the last tenth: verify now"
        );
    }

    #[test]
    fn the_status_records_a_verification_at_most_hourly() {
        let first = recorded_after(None, true, true, at(0));
        assert_eq!(first, Some(text(at(0))));
        assert_eq!(
            recorded_after(first.as_deref(), true, true, at(300)),
            first,
            "five minutes later: unchanged, no write"
        );
        assert_eq!(
            recorded_after(first.as_deref(), true, true, at(3600)),
            Some(text(at(3600)))
        );
        assert_eq!(
            recorded_after(first.as_deref(), true, false, at(10)),
            Some(text(at(10))),
            "a new generation is written anyway"
        );
        assert_eq!(
            recorded_after(first.as_deref(), false, true, at(7200)),
            first,
            "a failed pass keeps the last success"
        );
    }
}
