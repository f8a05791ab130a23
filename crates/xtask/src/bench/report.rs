//! The printed report: every figure, and a PASS/FAIL mark next to each one the operator is judged by.

use std::fmt::Write as _;
use std::time::Duration;

use super::budget::{by_budget, Allowed, Distinct};
use super::snapshot::{Phase, AWS_CALLS_COUNTER, REFRESH_COUNTER};
use super::stats::{latency, secs, Spread};

const MIB: f64 = 1024.0 * 1024.0;

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / MIB
}

/// A target and whether it held.
struct Check {
    what: String,
    pass: bool,
}

/// Builds the report text and remembers the checks for the closing summary.
#[derive(Default)]
pub struct Report {
    text: String,
    checks: Vec<Check>,
    /// Figures that could not be computed (the bench then fails).
    missing: Vec<String>,
    /// The section being written, prefixed to its checks in the closing summary.
    section: &'static str,
}

impl Report {
    pub fn line(&mut self, line: impl AsRef<str>) {
        self.text.push_str(line.as_ref());
        self.text.push('\n');
    }

    /// Starts a section: a blank line, its title, and the prefix of its checks in the summary.
    pub fn section(&mut self, name: &'static str, title: impl AsRef<str>) {
        self.section = name;
        self.line(String::new());
        self.line(format!("== {}", title.as_ref()));
    }

    /// A figure with its mark: `figure  [PASS bound]`.
    pub fn judged(&mut self, figure: impl AsRef<str>, pass: bool, bound: impl AsRef<str>) {
        let summary = figure
            .as_ref()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        self.judged_as(figure, pass, bound, summary);
    }

    /// Like [`Report::judged`], with its own wording for the closing summary.
    pub fn judged_as(
        &mut self,
        figure: impl AsRef<str>,
        pass: bool,
        bound: impl AsRef<str>,
        summary: impl AsRef<str>,
    ) {
        let mark = if pass { "PASS" } else { "FAIL" };
        self.line(format!(
            "{:<72} [{mark} {}]",
            figure.as_ref(),
            bound.as_ref()
        ));
        let prefix = if self.section.is_empty() {
            String::new()
        } else {
            format!("{}: ", self.section)
        };
        self.checks.push(Check {
            what: format!("{prefix}{} ({})", summary.as_ref(), bound.as_ref()),
            pass,
        });
    }

    pub fn missing(&mut self, figure: impl AsRef<str>, why: impl AsRef<str>) {
        self.line(format!(
            "{:<72} [MISSING: {}]",
            figure.as_ref(),
            why.as_ref()
        ));
        self.missing
            .push(format!("{}: {}", figure.as_ref().trim(), why.as_ref()));
    }

    /// The closing summary; `Err` lists what could not be measured.
    pub fn finish(mut self) -> (String, Result<(), String>) {
        let passed = self.checks.iter().filter(|c| c.pass).count();
        self.line(String::new());
        self.line(format!(
            "== targets: {passed} of {} pass",
            self.checks.len()
        ));
        let failed: Vec<String> = self
            .checks
            .iter()
            .filter(|c| !c.pass)
            .map(|c| format!("  FAIL {}", c.what))
            .collect();
        for line in failed {
            self.line(line);
        }
        let outcome = if self.missing.is_empty() {
            Ok(())
        } else {
            for line in self.missing.clone() {
                self.line(format!("  MISSING {line}"));
            }
            Err(self.missing.join("; "))
        };
        (self.text, outcome)
    }

    /// p50/p99/max of a latency set, optionally judged on its p99.
    pub fn spread(
        &mut self,
        label: &str,
        samples: &[Duration],
        p99_bound: Option<(Duration, &str)>,
    ) {
        let Some(spread) = Spread::of(samples) else {
            self.line(format!("{label:<24} no samples"));
            return;
        };
        let figure = format!(
            "{label:<24} p50 {:>8}  p99 {:>8}  max {:>8}  (n={})",
            latency(spread.p50),
            latency(spread.p99),
            latency(spread.max),
            spread.count
        );
        match p99_bound {
            Some((bound, why)) => self.judged(
                figure,
                spread.p99 <= bound,
                format!("p99 ≤ {} = {why}", latency(bound)),
            ),
            None => self.line(figure),
        }
    }

    /// AWS calls of a phase by budget and operation, judged against what the phase was `allowed` (`scale`
    /// multiplies the counts first: a window's calls extrapolated to one refresh).
    pub fn aws_budget(
        &mut self,
        phase: &Phase,
        fleet: &Distinct,
        allowed: Allowed,
        objects: usize,
        scale: f64,
    ) {
        self.line(format!(
            "  {:<44} {:>10} {:>11} {:>11}",
            "budget / operation", "calls", "per object", "allowance"
        ));
        for (budget, operations) in by_budget(&phase.aws_calls) {
            let total: u64 = operations.iter().map(|(_, n)| n).sum();
            let scaled = total as f64 * scale;
            let per_object = scaled / objects.max(1) as f64;
            let allowance = fleet.allowance(budget, allowed);
            let figure = format!(
                "  {:<44} {:>10.0} {:>11.2} {:>11}",
                budget.label(),
                scaled,
                per_object,
                allowance.map_or("-".to_owned(), |a| format!("{a:.0}"))
            );
            match allowance {
                Some(allowed) => self.judged_as(
                    figure,
                    scaled <= allowed + 1e-9,
                    format!("{} ≤ allowance", budget.label()),
                    format!("{} {scaled:.0}, allowance {allowed:.0}", budget.label()),
                ),
                None => self.line(format!("{figure}   (not judged)")),
            }
            for (operation, count) in operations {
                self.line(format!(
                    "    {operation:<42} {:>10.0}",
                    count as f64 * scale
                ));
            }
        }
        let operator = phase
            .operator_aws_total()
            .map_or("not exported".to_owned(), |n| {
                // A counter that did not move reads as 0, not -0.
                let calls = n * scale;
                format!("{:.0}", if calls == 0.0 { 0.0 } else { calls })
            });
        self.line(format!(
            "  {:<44} {:>10.0}   (the operator's own count: {operator})",
            "total",
            phase.aws_total() as f64 * scale
        ));
        if let Some(requests) = phase.sim_requests {
            self.line(format!(
                "  aws-sim requests served (GET /_sim/stats): {:.0}",
                requests as f64 * scale
            ));
        }
    }

    /// Kubernetes writes of a phase, as the API server counted them.
    pub fn k8s_writes(&mut self, phase: &Phase, scale: f64) {
        for (series, count) in &phase.writes.operator {
            self.line(format!("    {series:<62} {:>8.0}", count * scale));
        }
        if !phase.writes.others.is_empty() {
            let others: Vec<String> = phase
                .writes
                .others
                .iter()
                .map(|(series, count)| format!("{series} {count:.0}"))
                .collect();
            self.line(format!(
                "  writes by others (not the operator): {}",
                others.join(", ")
            ));
        }
    }

    /// The operator's own counters that moved in the phase (whatever families it exports).
    pub fn operator_metrics(&mut self, phase: &Phase) {
        let moved: Vec<(&String, &f64)> = phase
            .operator_metrics
            .iter()
            .filter(|(k, _)| !k.starts_with(AWS_CALLS_COUNTER) && !k.ends_with("_sum"))
            .collect();
        if moved.is_empty() {
            self.line("  operator metrics: nothing moved");
            return;
        }
        self.line("  operator metrics that moved (its /metrics):");
        for (series, value) in moved {
            self.line(format!("    {series:<62} {value:>8.0}"));
        }
    }

    pub fn cpu(&mut self, phase: &Phase) {
        let total: f64 = phase.cpu_seconds.values().sum();
        let wall = phase.wall.as_secs_f64().max(1e-9);
        let parts: Vec<String> = phase
            .cpu_seconds
            .iter()
            .map(|(name, cpu)| format!("{name} {cpu:.1} s ({:.0}%)", 100.0 * cpu / total.max(1e-9)))
            .collect();
        self.line(format!(
            "  CPU seconds over {} wall ({:.2} cores busy in these processes): {}",
            secs(phase.wall),
            total / wall,
            parts.join(", ")
        ));
    }

    /// The refresh count a phase is judged with, and a sentence saying where it came from.
    pub fn refreshes_for(phase: &Phase, fallback: f64, fallback_why: &str) -> (f64, String) {
        match phase.refreshes {
            Some(counted) => (
                counted.max(1.0),
                format!("{counted:.0} refreshes counted by the operator ({REFRESH_COUNTER})"),
            ),
            None => (
                fallback,
                format!("the operator exports no {REFRESH_COUNTER}: {fallback_why}"),
            ),
        }
    }

    pub fn memory(&mut self, label: &str, bytes: u64, bound_mib: Option<(f64, &str)>) {
        let size = mib(bytes);
        let figure = format!("{label:<48} {size:>8.1} MiB");
        match bound_mib {
            Some((bound, note)) => {
                self.judged(figure, size <= bound, format!("≤ {bound:.0} MiB{note}"))
            }
            None => self.line(figure),
        }
    }
}

/// `n` with thousands separators, for headlines.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `a ×n, b ×m` from counts, most frequent first.
pub fn tally(counts: &std::collections::BTreeMap<String, u64>) -> String {
    let mut list: Vec<(&String, &u64)> = counts.iter().collect();
    list.sort_by(|a, b| b.1.cmp(a.1));
    let mut out = String::new();
    for (i, (key, n)) in list.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, "{key} ×{n}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(thousands(5), "5");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(123456), "123,456");
    }

    #[test]
    fn missing_figures_fail_the_report_and_failed_checks_are_listed() {
        let mut report = Report::default();
        report.judged("a", true, "bound a");
        report.judged("b", false, "bound b");
        let (text, outcome) = report.finish();
        assert!(text.contains("1 of 2 pass"));
        assert!(text.contains("FAIL b (bound b)"));
        assert!(outcome.is_ok());

        let mut report = Report::default();
        report.missing("AWS active → Ready", "no endpoint");
        let (text, outcome) = report.finish();
        assert!(text.contains("MISSING"));
        assert!(outcome.is_err());
    }
}
