//! Every duration the reconcilers wait, poll, recheck or back off for, in one place, each with the reason
//! for its value. Change timing here, nowhere else.

use std::time::Duration;

// ---------------------------------------------------------------------------------------------------------
// Requeues after a pass, by how it ended

/// A Ready integration is described again this often (a hand edit or a failure in AWS shows up within it).
pub const READY_RECHECK: Duration = Duration::from_secs(300);
/// A Ready object's prerequisites (source parameters, target policy and case sensitivity, replication) are
/// checked in full again this often by default (`--drift-interval`): hand edits in AWS are found within it.
/// Each object's next check comes after a random 80 to 100% of it, so a fleet's checks spread out.
pub const DRIFT_RECHECK_DEFAULT: Duration = Duration::from_secs(600);
/// A stalled object whose cause lies outside the spec (a reboot to do, a failed integration, a policy) is
/// looked at this often, so a fix made outside the operator shows up without a spec change.
pub const STALLED_RECHECK: Duration = Duration::from_secs(120);
/// After a change the operator made itself: AWS usually reflects it within a couple of seconds.
pub const AFTER_ACTION: Duration = Duration::from_secs(2);
/// A RedshiftConnection that is missing or not Ready yet; its own watch event usually comes first.
pub const CONNECTION_RECHECK: Duration = Duration::from_secs(30);
/// A Secret the spec names does not exist (yet). Secrets are not watched, so this is how it is noticed.
pub const SECRET_RECHECK: Duration = Duration::from_secs(15);
/// A source database that is not `available` (modifying, backing up, …): minutes-long operations.
pub const SOURCE_BUSY_RECHECK: Duration = Duration::from_secs(10);
/// A warehouse that is not available (a workgroup update takes seconds).
pub const TARGET_BUSY_RECHECK: Duration = Duration::from_secs(5);
/// An integration AWS is deleting on someone else's request; it is created again once gone.
pub const FOREIGN_DELETE_RECHECK: Duration = Duration::from_secs(10);
/// While AWS deletes the integration this object asked it to delete.
pub const DELETE_POLL: Duration = Duration::from_secs(2);
/// An integration that cannot be deleted yet (creating or modifying).
pub const DELETE_BLOCKED_RECHECK: Duration = Duration::from_secs(5);
/// AWS answered "wait" (a conflicting operation, an invalid state) without saying how long.
pub const WAITING_DEFAULT: Duration = Duration::from_secs(10);
/// A transient failure recorded in the status; the controller's backoff decides the real delay.
pub const RETRY_DEFAULT: Duration = Duration::from_secs(5);

/// While AWS creates or modifies an integration: quick at first, slower the longer it takes (an initial load
/// of a large database can take an hour), never slower than once a minute.
pub fn adaptive_poll(elapsed: Duration) -> Duration {
    a_tenth_of(elapsed, Duration::from_secs(2), Duration::from_secs(60))
}

/// Looking again after a tenth of the time something has been going on, between `fastest` and `slowest`:
/// quick while a change is fresh, rarely once it has dragged on. One rule for one object ([`adaptive_poll`])
/// and for the shared snapshot (the time since it last saw a change).
pub fn a_tenth_of(elapsed: Duration, fastest: Duration, slowest: Duration) -> Duration {
    (elapsed / 10).clamp(fastest, slowest.max(fastest))
}

// ---------------------------------------------------------------------------------------------------------
// Shared observation

/// While any integration is in transition or the operator just changed one, the integration snapshot is
/// refreshed this often right after a change, then more slowly the longer nothing changed (see
/// [`a_tenth_of`]): an integration that turns active seconds after it was created is seen within
/// half a second, one that takes AWS half an hour (an initial load) costs a paged read a minute, not one a
/// second, while it waits.
pub const SNAPSHOT_FAST_REFRESH: Duration = Duration::from_millis(500);
/// The slowest refresh while something is in transition.
pub const SNAPSHOT_BUSY_MAX: Duration = Duration::from_secs(60);
/// Otherwise this often by default (`--aws-refresh-interval`): changes made outside the operator are seen
/// within it, at ceil(N/100) DescribeIntegrations per refresh.
pub const SNAPSHOT_SLOW_REFRESH: Duration = Duration::from_secs(300);
/// How long a pass waits for its region's first snapshot while that read is under way (right after a start or
/// a change of leader), instead of describing its integration itself: 50 pages at 5,000 integrations take
/// a fraction of a second against aws-sim and several seconds against AWS, and 5,000 describes take longer.
pub const FIRST_SNAPSHOT_WAIT: Duration = Duration::from_secs(20);
/// After the operator changed an integration, the poller stays fast this long (AWS reflects a change within
/// seconds, a create within minutes).
pub const SNAPSHOT_TOUCH_WINDOW: Duration = Duration::from_secs(30);
/// A shared read (a target's policy, a parameter group, a warehouse) serves every pass for this long; the
/// operator's own writes invalidate it at once.
pub const SHARED_READ_TTL: Duration = Duration::from_secs(60);
/// AWS clients of an identity no pass asked for in this long are dropped. Longer than the default rechecks
/// (Ready objects, drift, connections), so an identity in use is not rebuilt; as long as the assumed-role
/// credentials live, so a rebuild costs no extra AssumeRole.
pub const AWS_CLIENTS_IDLE: Duration = TEMPORARY_CREDENTIALS_LIFETIME;

// ---------------------------------------------------------------------------------------------------------
// Connections

/// How long a Ready RedshiftConnection's verification stays fresh by default (`--connection-reverify-interval`).
pub const CONNECTION_REVERIFY_DEFAULT: Duration = Duration::from_secs(300);
/// How often a Ready connection's `status.lastVerifiedTime` (and an integration's unchanged
/// `status.replication.checkedAt`) is written: checks in between cost no status writes, so a fleet checked
/// every few minutes writes nothing.
pub const VERIFIED_TIME_WRITE_INTERVAL: Duration = Duration::from_secs(3600);
/// Serverless applies `enable_case_sensitive_identifier` without a reboot; the workgroup is briefly MODIFYING.
pub const CASE_SENSITIVITY_APPLYING: Duration = Duration::from_secs(3);
/// A provisioned warehouse rebooting (started by its owner) to apply a parameter.
pub const WAREHOUSE_REBOOTING: Duration = Duration::from_secs(10);
/// A warehouse without an endpoint yet (a workgroup being created).
pub const ENDPOINT_PENDING_RECHECK: Duration = Duration::from_secs(10);
/// The shortest temporary database credentials AWS issues; they only prove issuance and are dropped at once.
pub const TEMPORARY_CREDENTIALS_LIFETIME: Duration = Duration::from_secs(900);

// ---------------------------------------------------------------------------------------------------------
// Data API statements

/// `SELECT 1` answers in well under a second; 20 s means something is wrong, and the pass reports it running.
pub const SELECT_ONE_DEADLINE: Duration = Duration::from_secs(20);
/// `CREATE DATABASE … FROM INTEGRATION` may take longer; a slower one is retried (idempotently) next pass.
pub const CREATE_DATABASE_DEADLINE: Duration = Duration::from_secs(30);
/// First pause between DescribeStatement polls, doubled up to [`STATEMENT_POLL_MAX`]: the Data API has no push.
/// How long one pass waits for a Data API statement before handing the worker slot back (the next pass asks
/// about the same statement).
pub const STATEMENT_INLINE_WAIT: Duration = Duration::from_secs(2);
/// A remembered statement no pass asked about again for this long is forgotten.
pub const STATEMENT_FORGET_AFTER: Duration = Duration::from_secs(600);
pub const STATEMENT_POLL_START: Duration = Duration::from_millis(100);
pub const STATEMENT_POLL_MAX: Duration = Duration::from_secs(2);
/// A statement still running when its pass stopped waiting is looked at again after this.
pub const STATEMENT_RUNNING_RECHECK: Duration = Duration::from_secs(2);

// ---------------------------------------------------------------------------------------------------------
// Backoff after failures (per object, exponential with equal jitter)

/// First retry after a transient failure.
pub const BACKOFF_BASE: Duration = Duration::from_secs(1);
/// First retry after AWS throttled us: slower, so a fleet backs off together.
pub const BACKOFF_THROTTLED_BASE: Duration = Duration::from_secs(5);
/// No object waits longer than this between attempts.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);

// ---------------------------------------------------------------------------------------------------------
// AWS SDK

/// Standard-mode retries inside one call: short backoff, so throttling is absorbed without stretching a call
/// (adaptive mode stretched single calls to 30–60 s at a steady 50% throttle rate).
/// Pacing after AWS throttles (see `aws::pacing`): the first throttle paces a service at this many calls per
/// second, each further throttle multiplies the rate by the decrease, each success by the increase; never
/// below the floor, and pacing stops above the maximum.
pub const PACING_START_RATE: f64 = 20.0;
pub const PACING_DECREASE: f64 = 0.7;
pub const PACING_INCREASE: f64 = 1.01;
pub const PACING_MIN_RATE: f64 = 2.0;
pub const PACING_MAX_RATE: f64 = 200.0;
/// The longest a call waits for its token; beyond it calls go anyway, and AWS answers for itself.
pub const PACING_MAX_WAIT: Duration = Duration::from_secs(5);
pub const SDK_MAX_ATTEMPTS: u32 = 8;
pub const SDK_INITIAL_BACKOFF: Duration = Duration::from_millis(200);
pub const SDK_MAX_BACKOFF: Duration = Duration::from_secs(10);
/// One call, retries included, and one attempt: a hung connection never holds a worker for long.
pub const SDK_OPERATION_TIMEOUT: Duration = Duration::from_secs(60);
pub const SDK_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(20);
/// Assumed-role credentials are refreshed this long before they expire, so no request starts with
/// credentials about to lapse.
pub const ASSUMED_ROLE_REFRESH_MARGIN: Duration = Duration::from_secs(300);

// ---------------------------------------------------------------------------------------------------------
// Leader election (the controller crate)

/// How long a Lease holds without renewal.
pub const LEASE_DURATION: Duration = Duration::from_secs(15);
/// A holder renews this often; a standby retries acquiring this often.
pub const LEASE_RENEW_EVERY: Duration = Duration::from_secs(5);
/// The holder stops reconciling when it has not renewed for this long: strictly below [`LEASE_DURATION`], so
/// it has stopped before any standby may acquire.
pub const LEASE_RENEW_DEADLINE: Duration = Duration::from_secs(10);
/// Every Lease request is bounded, so a hung API call cannot outlast the renew deadline.
pub const LEASE_REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

// ---------------------------------------------------------------------------------------------------------
// Consumers

/// Catalog queries and grants answer in well under a second; past this the statement is reported running.
pub const CONSUMER_STATEMENT_DEADLINE: Duration = SELECT_ONE_DEADLINE;
/// A database, schema or table a grant names does not exist yet (a zero-ETL database appears once its
/// integration is active): looked at again after this.
pub const GRANT_OBJECT_RECHECK: Duration = CONNECTION_RECHECK;
/// IAM changes reach every AWS endpoint within seconds, rarely a minute: a role that refuses the operator
/// this soon after it changed is waited for, not reported as broken.
pub const IAM_PROPAGATION: Duration = Duration::from_secs(60);

/// How soon a pass that found the cache behind our own write looks again (the watch delivers it within
/// moments; a pass that finds nothing to do costs no call).
pub const CACHE_CATCH_UP: Duration = Duration::from_millis(500);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adaptive_poll_is_bounded() {
        assert_eq!(adaptive_poll(Duration::ZERO), Duration::from_secs(2));
        assert_eq!(
            adaptive_poll(Duration::from_secs(300)),
            Duration::from_secs(30)
        );
        assert_eq!(
            adaptive_poll(Duration::from_secs(7200)),
            Duration::from_secs(60)
        );
    }

    #[test]
    fn the_snapshot_polls_fast_right_after_a_change_and_slows_down_while_nothing_moves() {
        let period = |since: u64| {
            a_tenth_of(
                Duration::from_secs(since),
                SNAPSHOT_FAST_REFRESH,
                SNAPSHOT_BUSY_MAX,
            )
        };
        assert_eq!(period(0), SNAPSHOT_FAST_REFRESH);
        assert_eq!(period(3), SNAPSHOT_FAST_REFRESH);
        assert_eq!(period(30), Duration::from_secs(3));
        assert_eq!(period(3600), SNAPSHOT_BUSY_MAX);
        // A slow refresh set below the busy maximum bounds it too; a fast one above never inverts the range.
        assert_eq!(
            a_tenth_of(
                Duration::from_secs(3600),
                SNAPSHOT_FAST_REFRESH,
                Duration::from_secs(20)
            ),
            Duration::from_secs(20)
        );
        assert_eq!(
            a_tenth_of(
                Duration::ZERO,
                Duration::from_secs(2),
                Duration::from_secs(1)
            ),
            Duration::from_secs(2)
        );
    }

    #[test]
    fn the_lease_holder_stops_before_a_standby_may_acquire() {
        assert!(LEASE_RENEW_DEADLINE + LEASE_REQUEST_TIMEOUT <= LEASE_DURATION);
        assert!(LEASE_RENEW_EVERY < LEASE_RENEW_DEADLINE);
    }
}
