//! Metrics computed at scrape time: one gauge per condition of every cached object (so an alert can name the
//! Stalled object), and the process's own figures from /proc (CPU, memory, file descriptors, start time),
//! under the names Prometheus's client libraries use so that the usual dashboards work.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use zeroetl_reconciler::stores::Stores;

/// `zeroetl_object_condition{kind, namespace, name, type, status} 1` for each condition of each object in the
/// watch caches: one series per object and condition type, never more.
pub struct ObjectConditions {
    pub stores: Arc<Stores>,
}

impl std::fmt::Debug for ObjectConditions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ObjectConditions")
    }
}

impl Collector for ObjectConditions {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let gauge = ConstGauge::new(1i64);
        let mut family = encoder.encode_descriptor(
            "zeroetl_object_condition",
            "Conditions of the objects this operator serves: 1 for the condition's current status",
            None,
            gauge.metric_type(),
        )?;
        self.stores.for_each_condition(|row| {
            let labels = [
                ("kind", row.kind),
                ("namespace", row.namespace),
                ("name", row.name),
                ("type", row.condition),
                ("status", row.status),
            ];
            gauge.encode(family.encode_family(&labels)?)
        })
    }
}

/// `process_*` from /proc/self, read at each scrape.
#[derive(Debug, Default)]
pub struct ProcessMetrics;

/// What /proc says about this process; `None` off Linux or when /proc is not mounted.
#[derive(Debug, PartialEq)]
struct ProcessFigures {
    cpu_seconds: f64,
    resident_bytes: u64,
    virtual_bytes: u64,
    start_time_seconds: f64,
    threads: u64,
    open_fds: u64,
    max_fds: Option<u64>,
}

// Linux reports CPU and start times in clock ticks and RSS in pages; both are fixed at these values on every
// architecture the image is built for (x86_64 and aarch64 with 4 KiB pages).
const CLOCK_TICKS_PER_SECOND: f64 = 100.0;
const PAGE_SIZE: u64 = 4096;

impl ProcessFigures {
    fn read() -> Option<ProcessFigures> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let boot_time = std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<f64>().ok())?;
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        Self::parse(&stat, boot_time, open_fds, &limits)
    }

    fn parse(stat: &str, boot_time: f64, open_fds: u64, limits: &str) -> Option<ProcessFigures> {
        // The command name (field 2) is in parentheses and may hold spaces: split after its closing one.
        let after_name = &stat[stat.rfind(')')? + 1..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        // fields[0] is field 3 (state) of proc(5).
        let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
        let ticks = |n: usize| Some(field(n)? as f64 / CLOCK_TICKS_PER_SECOND);
        let max_fds = limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .and_then(|l| l.split_whitespace().nth(3))
            .and_then(|soft| soft.parse().ok());
        Some(ProcessFigures {
            cpu_seconds: ticks(14)? + ticks(15)?,
            threads: field(20)?,
            start_time_seconds: boot_time + ticks(22)?,
            virtual_bytes: field(23)?,
            resident_bytes: field(24)? * PAGE_SIZE,
            open_fds,
            max_fds,
        })
    }
}

impl Collector for ProcessMetrics {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(p) = ProcessFigures::read() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(p.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu_seconds",
            "Total user and system CPU time spent in seconds",
            None,
            cpu.metric_type(),
        )?)?;
        let gauges = [
            (
                "process_resident_memory_bytes",
                "Resident memory size in bytes",
                p.resident_bytes as f64,
            ),
            (
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes",
                p.virtual_bytes as f64,
            ),
            (
                "process_start_time_seconds",
                "Start time of the process since unix epoch in seconds",
                p.start_time_seconds,
            ),
            (
                "process_threads",
                "Number of OS threads in the process",
                p.threads as f64,
            ),
            (
                "process_open_fds",
                "Number of open file descriptors",
                p.open_fds as f64,
            ),
        ];
        let max_fds = p.max_fds.map(|m| {
            (
                "process_max_fds",
                "Maximum number of open file descriptors",
                m as f64,
            )
        });
        for (name, help, value) in gauges.into_iter().chain(max_fds) {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat_with_a_command_name_holding_spaces_and_parentheses() {
        // proc(5) fields 1..=24 (pid, comm, state, ... rss); utime=250 stime=50 threads=7 starttime=1000
        // vsize=123456 rss=10.
        let stat = "42 (zeroetl (op) x) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 7 0 1000 123456 10 \
                    18446744073709551615";
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max open files            1048576              1048576              files\n";
        let p = ProcessFigures::parse(stat, 1_700_000_000.0, 12, limits).unwrap();
        assert_eq!(
            p,
            ProcessFigures {
                cpu_seconds: 3.0,
                resident_bytes: 10 * PAGE_SIZE,
                virtual_bytes: 123_456,
                start_time_seconds: 1_700_000_010.0,
                threads: 7,
                open_fds: 12,
                max_fds: Some(1_048_576),
            }
        );
    }

    #[test]
    fn reads_this_process() {
        let p = ProcessFigures::read().expect("/proc/self is readable on Linux");
        assert!(
            p.resident_bytes > 0 && p.threads >= 1 && p.open_fds >= 3,
            "{p:?}"
        );
    }
}
