//! From what the run measured to the report: latencies, budgets, writes, CPU and memory, each judged
//! against the targets of the fleet issue.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::budget::{Allowed, Distinct};
use super::estate::FleetShape;
use super::fleet::{self, Moment};
use super::probes::{self, Transition};
use super::report::{mib, tally, thousands, Report};
use super::snapshot::Phase;
use super::stats::secs;
use super::OperatorArgs;

/// The whole fleet must be Ready this soon after the last object is accepted.
const FLEET_READY_AFTER_LAST_ACCEPT: Duration = Duration::from_secs(5);
/// Each object may take the creation time plus this much from accepted to Ready (p99).
const READY_SLACK: Duration = Duration::from_secs(2);
const MAX_WRITES_PER_OBJECT: f64 = 3.0;
/// How long one read of a shared thing (a parameter group, a target, its policy) serves the operator's
/// passes (its `SHARED_READ_TTL`): the full checks of a steady state are spread over the drift interval, so
/// such a thing may be read once per TTL rather than once per refresh.
const SHARED_READ_TTL: Duration = Duration::from_secs(60);
const PEAK_RSS_MIB: f64 = 64.0;
const IDLE_RSS_MIB: f64 = 25.0;

pub struct RampTimes {
    pub first_create: Moment,
    pub last_accept: Moment,
    pub all_ready: Moment,
}

/// AWS-active → Ready per integration, from aws-sim's transition times.
pub struct ActiveToReady {
    pub samples: Vec<Duration>,
    /// Integrations the operator called Ready before aws-sim had them active (should be none).
    pub ready_before_active: usize,
}

/// What an operator restart over the Ready fleet cost (`--restart`).
pub struct Restart {
    /// From the stop of the old process to the new one's pass over every integration.
    pub phase: Phase,
    /// How long after the stop every integration had been passed over once.
    pub every_object_passed: Duration,
    pub left_ready: usize,
}

pub struct Measured {
    pub shape: FleetShape,
    pub args: OperatorArgs,
    pub operator_binary: PathBuf,
    pub load_before: String,
    /// The connections phase and its apply → Ready latencies, when there are connections.
    pub connections: Option<(Phase, Vec<Duration>)>,
    pub ramp: Phase,
    pub times: RampTimes,
    pub apply_to_ready: Vec<Duration>,
    pub accept_to_create: Result<Vec<Duration>, String>,
    pub active_to_ready: Result<ActiveToReady, String>,
    pub aws_errors: Result<BTreeMap<String, u64>, String>,
    pub steady: Phase,
    pub left_ready: usize,
    pub restart: Option<Restart>,
    pub operator_peak_rss: u64,
    pub operator_idle_rss: u64,
    /// Of the idle RSS, heap and stacks; the rest is file-backed, mostly the operator's code.
    pub operator_idle_anon_rss: u64,
    pub sim_peak_rss: u64,
    /// CPU seconds since start, at the end of the steady window.
    pub operator_cpu_total: f64,
    pub sim_cpu_total: f64,
    pub watch_errors: Vec<String>,
}

/// `Err` when aws-sim does not serve its transition times: the figure is then missing, never guessed.
pub fn active_to_ready(
    first_ready: impl Fn(&str) -> Option<Moment>,
    transitions: Option<&[Transition]>,
) -> Result<ActiveToReady, String> {
    let transitions = transitions.ok_or_else(|| {
        "this aws-sim does not serve GET /_sim/integrations/transitions".to_owned()
    })?;
    let mut result = ActiveToReady {
        samples: Vec::new(),
        ready_before_active: 0,
    };
    for transition in transitions {
        let Some(ready) = object_keys(transition).find_map(|key| first_ready(&key)) else {
            continue;
        };
        match transition
            .active_at
            .map(|active| ready.wall.duration_since(active))
        {
            Some(Ok(took)) => result.samples.push(took),
            // Ready seen before (or without) the active transition.
            Some(Err(_)) | None => result.ready_before_active += 1,
        }
    }
    if result.samples.is_empty() && result.ready_before_active == 0 {
        return Err("aws-sim reported no transition for any bench integration".to_owned());
    }
    Ok(result)
}

/// Accepted → CreateIntegration per integration (aws-sim's `createdAt`): the operator's share of apply →
/// Ready before AWS starts creating, to tell queueing from detection.
pub fn accept_to_create(
    accepted: &[fleet::Accepted],
    transitions: Option<&[Transition]>,
) -> Result<Vec<Duration>, String> {
    let transitions = transitions.ok_or_else(|| {
        "this aws-sim does not serve GET /_sim/integrations/transitions".to_owned()
    })?;
    let accepted_at: BTreeMap<&str, SystemTime> = accepted
        .iter()
        .map(|a| (a.key.as_str(), a.at.wall))
        .collect();
    let samples: Vec<Duration> = transitions
        .iter()
        .filter_map(|t| {
            let accepted = object_keys(t).find_map(|key| accepted_at.get(key.as_str()).copied())?;
            // The operator can create before the bench has read the API server's answer: that is no wait.
            Some(t.created_at?.duration_since(accepted).unwrap_or_default())
        })
        .collect();
    if samples.is_empty() {
        return Err("aws-sim reported no creation time for any bench integration".to_owned());
    }
    Ok(samples)
}

/// The bench's keys an AWS integration may belong to: the operator names it `<namespace>-<object name>` in
/// AWS (older operators: the object name).
fn object_keys(transition: &Transition) -> impl Iterator<Item = String> + '_ {
    let prefix = format!("{}-", super::estate::NAMESPACE);
    let prefixed = transition
        .name
        .strip_prefix(&prefix)
        .map(|name| fleet::key("ZeroEtlIntegration", name));
    prefixed
        .into_iter()
        .chain([fleet::key("ZeroEtlIntegration", &transition.name)])
}

pub fn report(m: &Measured) -> (String, Result<(), String>) {
    let mut r = Report::default();
    let n = m.shape.integrations;
    let fleet = Distinct {
        integrations: n,
        sources: n,
        parameter_groups: 1,
        targets: m.shape.targets(),
    };
    header(&mut r, m);
    if let Some((phase, latencies)) = &m.connections {
        connections(&mut r, m, &fleet, phase, latencies);
    }
    ramp(&mut r, m, &fleet);
    steady(&mut r, m, &fleet);
    if let Some(restarted) = &m.restart {
        restart(&mut r, restarted, &fleet);
    }

    r.section(
        "process",
        "operator process (/proc/<pid>/status and /proc/<pid>/stat)",
    );
    r.memory(
        "operator peak RSS (VmHWM, whole run)",
        m.operator_peak_rss,
        Some((PEAK_RSS_MIB, " (target stated for N = 5,000)")),
    );
    r.memory(
        "operator idle RSS (VmRSS after the steady window)",
        m.operator_idle_rss,
        Some((IDLE_RSS_MIB, "")),
    );
    r.line(format!(
        "  of which anonymous (heap, stacks) {:.1} MiB, file-backed (mapped code) {:.1} MiB",
        mib(m.operator_idle_anon_rss),
        mib(m.operator_idle_rss.saturating_sub(m.operator_idle_anon_rss))
    ));
    r.memory("aws-sim peak RSS (not judged)", m.sim_peak_rss, None);
    r.line(format!(
        "CPU seconds since start: operator {:.1} s, aws-sim {:.1} s (aws-sim {:.0}% of the two)",
        m.operator_cpu_total,
        m.sim_cpu_total,
        100.0 * m.sim_cpu_total / (m.operator_cpu_total + m.sim_cpu_total).max(1e-9)
    ));
    if !m.watch_errors.is_empty() {
        r.line(format!(
            "note: the bench's watch restarted {} time(s) (Ready times after a restart are late): {}",
            m.watch_errors.len(),
            m.watch_errors.first().map(String::as_str).unwrap_or("")
        ));
    }
    r.finish()
}

fn header(r: &mut Report, m: &Measured) {
    let args = &m.args;
    r.line(format!(
        "== zeroetl-operator fleet benchmark: N = {} integrations, M = {} connections",
        thousands(m.shape.integrations),
        m.shape.connections
    ));
    let targeting = if m.shape.connections > 0 {
        "integrations spread round-robin over the connections (connectionRef)"
    } else {
        "every integration names the one target by namespaceArn"
    };
    r.line(format!(
        "estate: {} Aurora MySQL sources on 1 zero-ETL-ready parameter group; {} serverless target(s) with \
         case sensitivity on and a policy already authorizing the sources; {targeting}",
        thousands(m.shape.integrations),
        m.shape.targets()
    ));
    r.line(format!(
        "aws-sim: own process, no added latency, integration creation {} ms; operator: {}{}",
        args.create_ms,
        m.operator_binary.display(),
        if args.operator_args.is_empty() {
            String::new()
        } else {
            format!(" run … {}", args.operator_args.join(" "))
        }
    ));
    r.line(format!(
        "machine: {} CPUs, load average before the run {} (a shared machine makes every figure an upper bound)",
        probes::cpu_count(),
        m.load_before
    ));
}

fn connections(
    r: &mut Report,
    m: &Measured,
    fleet: &Distinct,
    phase: &Phase,
    latencies: &[Duration],
) {
    let count = m.shape.connections;
    r.section(
        "connections",
        format!(
            "connections: {count} RedshiftConnections applied before the integrations, {} to all Ready",
            secs(phase.wall)
        ),
    );
    r.spread("apply → Ready", latencies, None);
    let (refreshes, why) = Report::refreshes_for(phase, 1.0, "judged as one refresh");
    r.line(format!("AWS calls ({why})"));
    r.aws_budget(phase, fleet, Allowed::per_refresh(refreshes), count, 1.0);
    writes_per_object(r, phase, count, "connection");
    r.cpu(phase);
}

fn ramp(r: &mut Report, m: &Measured, fleet: &Distinct) {
    let n = m.shape.integrations;
    let t = &m.times;
    r.section(
        "ramp",
        format!(
            "ramp: {} integrations applied ({} creates in flight) → all Ready",
            thousands(n),
            m.args.apply_concurrency
        ),
    );
    r.line(format!(
        "applied in {} (first create → last accepted)",
        secs(t.last_accept.instant.duration_since(t.first_create.instant))
    ));
    let after_last = t
        .all_ready
        .instant
        .saturating_duration_since(t.last_accept.instant);
    r.judged(
        format!(
            "all Ready {} after the first create, {} after the last accept",
            secs(t.all_ready.instant.duration_since(t.first_create.instant)),
            secs(after_last)
        ),
        after_last <= FLEET_READY_AFTER_LAST_ACCEPT,
        format!(
            "≤ {} after the last accept",
            secs(FLEET_READY_AFTER_LAST_ACCEPT)
        ),
    );
    let create = Duration::from_millis(m.args.create_ms);
    let bound_note = format!("creation {} + {}", secs(create), secs(READY_SLACK));
    r.spread(
        "apply → Ready",
        &m.apply_to_ready,
        Some((create + READY_SLACK, &bound_note)),
    );
    match &m.accept_to_create {
        Ok(samples) => r.spread("accept → CreateIntegration", samples, None),
        Err(why) => r.missing("accept → CreateIntegration", why),
    }
    match &m.active_to_ready {
        Ok(measured) => {
            r.spread("AWS active → Ready", &measured.samples, None);
            if measured.ready_before_active > 0 {
                r.line(format!(
                    "  {} integration(s) were Ready before aws-sim had them active",
                    measured.ready_before_active
                ));
            }
        }
        Err(why) => r.missing("AWS active → Ready", why),
    }

    let (refreshes, why) = Report::refreshes_for(&m.ramp, 1.0, "judged as one refresh");
    r.line(format!(
        "AWS calls during the ramp ({why}; each integration may also be described once while in transition)"
    ));
    let allowed = Allowed {
        in_transition: n,
        creates: n,
        ..Allowed::per_refresh(refreshes)
    };
    r.aws_budget(&m.ramp, fleet, allowed, n, 1.0);
    match &m.aws_errors {
        Ok(errors) if errors.is_empty() => r.line("  AWS errors during the ramp: none"),
        Ok(errors) => r.line(format!("  AWS errors during the ramp: {}", tally(errors))),
        Err(why) => r.line(format!("  AWS errors during the ramp: unknown ({why})")),
    }
    writes_per_object(r, &m.ramp, n, "integration");
    r.operator_metrics(&m.ramp);
    r.cpu(&m.ramp);
}

fn steady(r: &mut Report, m: &Measured, fleet: &Distinct) {
    let phase = &m.steady;
    let window = phase.wall.as_secs_f64().max(1e-9);
    let period = m.args.refresh_seconds.max(1) as f64;
    r.section(
        "steady",
        format!(
            "steady state: {} window after all Ready, nothing changing",
            secs(phase.wall)
        ),
    );
    let (refreshes, scale, why) = match phase.refreshes {
        Some(counted) if counted > 0.0 => (
            counted,
            1.0,
            format!("{counted:.0} refreshes counted by the operator; totals judged against as many"),
        ),
        _ => (
            1.0,
            period / window,
            format!(
                "per refresh = the window's calls × {:.2}, taking the refresh period as {period:.0} s \
                 (--refresh-seconds; today the operator rechecks Ready objects every 300 s)",
                period / window
            ),
        ),
    };
    if window + 1.0 < period && phase.refreshes.is_none() {
        r.line(format!(
            "note: the window is shorter than one refresh period, so a periodic refresh may not fall in it; \
             run with --steady-seconds {} to cover one",
            period as u64 + 30
        ));
    }
    r.line(format!(
        "objects that left Ready during the window: {}",
        m.left_ready
    ));
    r.line(format!(
        "AWS calls: {} in the window; {why}",
        phase.aws_total()
    ));
    r.aws_budget(
        phase,
        fleet,
        Allowed::steady(refreshes, phase.wall, SHARED_READ_TTL),
        m.shape.integrations,
        scale,
    );
    no_writes(r, phase, "Kubernetes writes by the operator in the window");
}

/// A restart costs what a steady window costs: the fleet's pages, shared things through their caches, no
/// describe of its own per object and no write (the status already says what the new process sees).
fn restart(r: &mut Report, restarted: &Restart, fleet: &Distinct) {
    let phase = &restarted.phase;
    r.section(
        "restart",
        format!(
            "restart: the operator stopped and started again over {} Ready integrations",
            thousands(fleet.integrations)
        ),
    );
    r.line(format!(
        "as many passes as integrations {} after the stop; objects that left Ready: {}",
        secs(restarted.every_object_passed),
        restarted.left_ready
    ));
    let (refreshes, why) = Report::refreshes_for(phase, 1.0, "judged as one refresh");
    r.line(format!("AWS calls: {}; {why}", phase.aws_total()));
    r.aws_budget(
        phase,
        fleet,
        Allowed::steady(refreshes, phase.wall, SHARED_READ_TTL),
        fleet.integrations,
        1.0,
    );
    no_writes(r, phase, "Kubernetes writes by the operator");
}

/// The end of a phase in which nothing needed writing: its writes judged against 0, the operator's metrics
/// and the CPU.
fn no_writes(r: &mut Report, phase: &Phase, what: &str) {
    let writes = phase.writes.operator_total();
    r.judged(format!("{what}: {writes}"), writes == 0, "= 0");
    r.k8s_writes(phase, 1.0);
    r.operator_metrics(phase);
    r.cpu(phase);
}

fn writes_per_object(r: &mut Report, phase: &Phase, objects: usize, what: &str) {
    let total = phase.writes.operator_total();
    let per_object = total as f64 / objects.max(1) as f64;
    r.judged(
        format!(
            "Kubernetes writes by the operator (API server count): {total} = {per_object:.2} per {what}"
        ),
        per_object <= MAX_WRITES_PER_OBJECT,
        format!("≤ {MAX_WRITES_PER_OBJECT:.0} per object, finalizer included"),
    );
    r.k8s_writes(phase, 1.0);
}

#[cfg(test)]
mod tests {
    use std::time::{Instant, SystemTime};

    use super::*;

    fn transition(name: &str, active_at: Option<SystemTime>) -> Transition {
        Transition {
            name: name.to_owned(),
            created_at: None,
            active_at,
        }
    }

    #[test]
    fn accept_to_create_matches_each_integration_to_its_own_object_and_skips_foreign_ones() {
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let accepted = |name: &str, wall: SystemTime| fleet::Accepted {
            key: fleet::key("ZeroEtlIntegration", name),
            at: Moment {
                instant: Instant::now(),
                wall,
            },
        };
        let created = |name: &str, at: SystemTime| Transition {
            name: name.to_owned(),
            created_at: Some(at),
            active_at: None,
        };
        let ns = super::super::estate::NAMESPACE;
        let transitions = [
            created(&format!("{ns}-a"), t0 + Duration::from_millis(300)),
            created("b", t0 + Duration::from_millis(900)),
            // Another tenant's integration, not the bench's: no sample.
            created("team-b-a", t0 + Duration::from_secs(5)),
        ];
        let mut samples = accept_to_create(
            &[
                accepted("a", t0),
                accepted("b", t0 + Duration::from_millis(400)),
            ],
            Some(&transitions),
        )
        .unwrap();
        samples.sort();
        assert_eq!(
            samples,
            vec![Duration::from_millis(300), Duration::from_millis(500)]
        );
        assert!(accept_to_create(&[], Some(&transitions)).is_err());
        assert!(accept_to_create(&[], None).is_err());
    }

    #[test]
    fn active_to_ready_subtracts_aws_time_and_flags_ready_before_active() {
        let active = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000);
        let ready_at = |key: &str| {
            let wall = match key {
                "ZeroEtlIntegration/a" => active + Duration::from_millis(250),
                "ZeroEtlIntegration/b" => active - Duration::from_millis(10),
                _ => return None,
            };
            Some(Moment {
                instant: Instant::now(),
                wall,
            })
        };
        let transitions = [
            transition("zeroetl-bench-a", Some(active)),
            transition("b", Some(active)),
            transition("not-ours", Some(active)),
        ];
        let measured = active_to_ready(ready_at, Some(&transitions)).unwrap();
        assert_eq!(measured.samples, vec![Duration::from_millis(250)]);
        assert_eq!(measured.ready_before_active, 1);
    }

    #[test]
    fn active_to_ready_is_missing_without_the_endpoint_or_any_match() {
        assert!(active_to_ready(|_| None, None).is_err());
        assert!(active_to_ready(|_| None, Some(&[transition("x", None)])).is_err());
    }
}
