//! Pure helpers: percentiles, Prometheus text exposition parsing, counter deltas.

use std::collections::BTreeMap;
use std::time::Duration;

/// Nearest-rank percentile (`q` in 0..=100) of unsorted samples; `None` when there are none.
pub fn percentile(samples: &[Duration], q: f64) -> Option<Duration> {
    if samples.is_empty() {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort();
    let rank = ((q / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// p50, p99 and max of a sample set.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Spread {
    pub count: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Spread {
    pub fn of(samples: &[Duration]) -> Option<Spread> {
        Some(Spread {
            count: samples.len(),
            p50: percentile(samples, 50.0)?,
            p99: percentile(samples, 99.0)?,
            max: samples.iter().max().copied()?,
        })
    }
}

/// One sample of a Prometheus text exposition: metric name, labels, value.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, key: &str) -> &str {
        self.labels.get(key).map(String::as_str).unwrap_or("")
    }

    /// `name{k="v",…}`, labels sorted: a stable key for deltas.
    pub fn series(&self) -> String {
        if self.labels.is_empty() {
            return self.name.clone();
        }
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{v}\""))
            .collect();
        format!("{}{{{}}}", self.name, labels.join(","))
    }
}

/// Parses the Prometheus text format (comments and malformed lines are skipped).
pub fn parse_prometheus(text: &str) -> Vec<Sample> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(parse_line)
        .collect()
}

fn parse_line(line: &str) -> Option<Sample> {
    let (name, labels, rest) = match line.find('{') {
        Some(open) => {
            let (labels, after) = parse_labels(&line[open + 1..])?;
            (&line[..open], labels, after)
        }
        None => {
            let space = line.find(char::is_whitespace)?;
            (&line[..space], BTreeMap::new(), &line[space..])
        }
    };
    // A timestamp may follow the value.
    let value = rest.split_whitespace().next()?.parse::<f64>().ok()?;
    Some(Sample {
        name: name.trim().to_owned(),
        labels,
        value,
    })
}

/// Reads `k="v",…}` and returns the labels and what follows the closing brace.
fn parse_labels(text: &str) -> Option<(BTreeMap<String, String>, &str)> {
    let mut labels = BTreeMap::new();
    let mut rest = text;
    loop {
        rest = rest.trim_start_matches([',', ' ']);
        if let Some(after) = rest.strip_prefix('}') {
            return Some((labels, after));
        }
        let eq = rest.find('=')?;
        let key = rest[..eq].trim().to_owned();
        let mut chars = rest[eq + 1..].char_indices();
        if chars.next()?.1 != '"' {
            return None;
        }
        let mut value = String::new();
        let mut escaped = false;
        let mut end = None;
        for (i, c) in chars {
            match (escaped, c) {
                (true, 'n') => {
                    value.push('\n');
                    escaped = false;
                }
                (true, c) => {
                    value.push(c);
                    escaped = false;
                }
                (false, '\\') => escaped = true,
                (false, '"') => {
                    end = Some(i);
                    break;
                }
                (false, c) => value.push(c),
            }
        }
        labels.insert(key, value);
        rest = &rest[eq + 1 + end? + 1..];
    }
}

/// Counter values by series.
pub type Counters = BTreeMap<String, f64>;

/// Increase of every series from `before` to `after` (series new in `after` count from 0); only increases
/// are kept.
pub fn increases(before: &Counters, after: &Counters) -> Counters {
    after
        .iter()
        .filter_map(|(series, value)| {
            let delta = value - before.get(series).copied().unwrap_or(0.0);
            (delta > 0.0).then(|| (series.clone(), delta))
        })
        .collect()
}

/// Integer counts by key: the increase from `before` to `after`.
pub fn count_increases(
    before: &BTreeMap<String, u64>,
    after: &BTreeMap<String, u64>,
) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter_map(|(key, value)| {
            let delta = value.saturating_sub(before.get(key).copied().unwrap_or(0));
            (delta > 0).then(|| (key.clone(), delta))
        })
        .collect()
}

/// Seconds with one decimal, for the report.
pub fn secs(duration: Duration) -> String {
    format!("{:.1} s", duration.as_secs_f64())
}

/// Milliseconds below 10 s, seconds above: latencies read best that way.
pub fn latency(duration: Duration) -> String {
    if duration < Duration::from_secs(10) {
        format!("{} ms", duration.as_millis())
    } else {
        secs(duration)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(values: &[u64]) -> Vec<Duration> {
        values.iter().map(|v| Duration::from_millis(*v)).collect()
    }

    #[test]
    fn nearest_rank_percentiles() {
        let samples = ms(&(1..=100).rev().collect::<Vec<_>>());
        assert_eq!(percentile(&samples, 50.0), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&samples, 99.0), Some(Duration::from_millis(99)));
        assert_eq!(
            percentile(&samples, 100.0),
            Some(Duration::from_millis(100))
        );
        assert_eq!(percentile(&ms(&[7]), 99.0), Some(Duration::from_millis(7)));
        assert_eq!(percentile(&[], 50.0), None);
        let spread = Spread::of(&ms(&[3, 1, 2])).unwrap();
        assert_eq!((spread.p50, spread.max), (ms(&[2])[0], ms(&[3])[0]));
    }

    #[test]
    fn parses_labels_values_and_skips_comments() {
        let text = "# HELP x y\n# TYPE x counter\n\
            apiserver_request_total{code=\"201\",group=\"zeroetl.dev\",resource=\"zeroetlintegrations\",verb=\"POST\"} 12\n\
            zeroetl_status_writes_total{kind=\"ZeroEtlIntegration\"} 3.0\n\
            plain_gauge 4.5 1700000000\n\
            odd{msg=\"a \\\"quoted\\\", comma}\"} 1\n\
            broken{x=1} 2\n";
        let samples = parse_prometheus(text);
        assert_eq!(samples.len(), 4);
        assert_eq!(samples[0].name, "apiserver_request_total");
        assert_eq!(samples[0].label("verb"), "POST");
        assert_eq!(samples[0].value, 12.0);
        assert_eq!(
            samples[1].series(),
            "zeroetl_status_writes_total{kind=\"ZeroEtlIntegration\"}"
        );
        assert_eq!(samples[2].value, 4.5);
        assert_eq!(samples[3].label("msg"), "a \"quoted\", comma}");
    }

    #[test]
    fn increases_count_new_series_from_zero_and_drop_unchanged() {
        let before: Counters = [("a".to_owned(), 2.0), ("b".to_owned(), 5.0)].into();
        let after: Counters = [
            ("a".to_owned(), 2.0),
            ("b".to_owned(), 8.0),
            ("c".to_owned(), 1.0),
        ]
        .into();
        let delta = increases(&before, &after);
        assert_eq!(delta.len(), 2);
        assert_eq!(delta["b"], 3.0);
        assert_eq!(delta["c"], 1.0);
    }
}
