//! What the benchmark reads while it runs: /proc for memory and CPU, aws-sim's `/_sim/` control plane, the
//! operator's `/metrics` and the API server's `/metrics`.

use std::collections::BTreeMap;
use std::fs;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context, Result};
use chrono::{DateTime, Utc};
use kube::Client;
use serde::Deserialize;
use serde_json::Value;

use super::stats::{parse_prometheus, Counters, Sample};

/// Memory and CPU of one process at one moment.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessSample {
    /// utime + stime.
    pub cpu_seconds: f64,
    pub rss_bytes: u64,
    /// The part of `rss_bytes` that is heap and stacks (RssAnon); the rest is mostly the mapped binary.
    pub rss_anon_bytes: u64,
    /// Peak resident set since the process started (VmHWM).
    pub peak_rss_bytes: u64,
}

pub fn sample_process(pid: u32) -> Result<ProcessSample> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("read /proc/{pid}/stat (has the process exited?)"))?;
    // Fields after the parenthesised command name (which may hold spaces): state is field 3, utime 14,
    // stime 15 in the man page's numbering.
    let after = stat
        .rfind(')')
        .map(|i| &stat[i + 1..])
        .context("malformed /proc stat")?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |index: usize| -> Result<f64> {
        Ok(fields
            .get(index - 3)
            .context("short /proc stat")?
            .parse::<u64>()? as f64)
    };
    // SAFETY: sysconf has no preconditions.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let cpu_seconds = (ticks(14)? + ticks(15)?) / ticks_per_second;
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib = |key: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    Ok(ProcessSample {
        cpu_seconds,
        rss_bytes: kib("VmRSS:") * 1024,
        rss_anon_bytes: kib("RssAnon:") * 1024,
        peak_rss_bytes: kib("VmHWM:") * 1024,
    })
}

/// Load average, for the report header: figures from a busy machine are upper bounds.
pub fn load_average() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_owned())
}

pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// When aws-sim created an integration and when it became active.
#[derive(Debug, Clone)]
pub struct Transition {
    pub name: String,
    pub created_at: Option<SystemTime>,
    pub active_at: Option<SystemTime>,
}

/// One answered AWS call, as `/_sim/calls` lists it (only the fields the report uses).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimCall {
    pub seq: u64,
    pub service: String,
    pub action: String,
    pub status: u16,
    #[serde(default)]
    pub error_code: Option<String>,
}

/// aws-sim's control plane over HTTP.
pub struct SimClient {
    http: reqwest::Client,
    endpoint: String,
}

impl SimClient {
    pub fn new(endpoint: &str) -> Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()?,
            endpoint: endpoint.trim_end_matches('/').to_owned(),
        })
    }

    async fn get_json(&self, path: &str) -> Result<Option<Value>> {
        let url = format!("{}{path}", self.endpoint);
        let response = self
            .http
            .get(&url)
            .send()
            .await
            .with_context(|| format!("GET {url}"))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND
            || status == reqwest::StatusCode::METHOD_NOT_ALLOWED
        {
            return Ok(None);
        }
        if !status.is_success() {
            bail!("GET {url}: HTTP {status}");
        }
        Ok(Some(
            response
                .json()
                .await
                .with_context(|| format!("parse {url}"))?,
        ))
    }

    /// Every attempt per `service:Action` since the sim started, plus `mutating`.
    pub async fn counts(&self) -> Result<BTreeMap<String, u64>> {
        let value = self
            .get_json("/_sim/counts")
            .await?
            .context("aws-sim has no /_sim/counts")?;
        serde_json::from_value(value).context("parse /_sim/counts")
    }

    /// Requests served, when this aws-sim reports it (`GET /_sim/stats`).
    pub async fn requests_served(&self) -> Result<Option<u64>> {
        Ok(self
            .get_json("/_sim/stats")
            .await?
            .and_then(|v| v.get("requests").and_then(Value::as_u64)))
    }

    /// The last (up to 100,000) calls.
    pub async fn calls(&self) -> Result<Vec<SimCall>> {
        let value = self
            .get_json("/_sim/calls")
            .await?
            .context("aws-sim has no /_sim/calls")?;
        serde_json::from_value(value).context("parse /_sim/calls")
    }

    /// `None` when this aws-sim has no `GET /_sim/integrations/transitions`.
    pub async fn transitions(&self) -> Result<Option<Vec<Transition>>> {
        let Some(value) = self.get_json("/_sim/integrations/transitions").await? else {
            return Ok(None);
        };
        parse_transitions(&value).map(Some)
    }
}

/// Accepts a list, or an object holding one under `integrations`/`transitions`; names under `name` or
/// `integrationName`; times as RFC 3339 text or epoch milliseconds.
fn parse_transitions(value: &Value) -> Result<Vec<Transition>> {
    let list = match value {
        Value::Array(list) => list,
        Value::Object(map) => map
            .get("integrations")
            .or_else(|| map.get("transitions"))
            .and_then(Value::as_array)
            .context("/_sim/integrations/transitions: no list of integrations")?,
        _ => bail!("/_sim/integrations/transitions: not a list"),
    };
    list.iter()
        .map(|entry| {
            let name = entry
                .get("name")
                .or_else(|| entry.get("integrationName"))
                .and_then(Value::as_str)
                .with_context(|| format!("a transition without a name: {entry}"))?;
            let time = |field: &str| match entry.get(field) {
                None | Some(Value::Null) => Ok(None),
                Some(time) => parse_time(time).map(Some),
            };
            Ok(Transition {
                name: name.to_owned(),
                created_at: time("createdAt")?,
                active_at: time("activeAt")?,
            })
        })
        .collect()
}

fn parse_time(value: &Value) -> Result<SystemTime> {
    match value {
        Value::String(text) => Ok(DateTime::parse_from_rfc3339(text)
            .with_context(|| format!("not an RFC 3339 time: {text}"))?
            .with_timezone(&Utc)
            .into()),
        Value::Number(ms) => {
            let ms = ms.as_f64().context("not a number")?;
            Ok(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(ms / 1000.0))
        }
        other => bail!("not a time: {other}"),
    }
}

/// Fetches a Prometheus endpoint over plain HTTP (the operator's probe server).
pub async fn http_metrics(url: &str) -> Result<Vec<Sample>> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let text = http
        .get(url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?
        .error_for_status()?
        .text()
        .await?;
    Ok(parse_prometheus(&text))
}

/// The API server's own `/metrics`, read as cluster admin.
pub async fn apiserver_metrics(client: &Client) -> Result<Vec<Sample>> {
    let request = http::Request::get("/metrics").body(Vec::new())?;
    let text = client
        .request_text(request)
        .await
        .context("GET /metrics from kube-apiserver")?;
    Ok(parse_prometheus(&text))
}

/// Counters of the operator's own families (`zeroetl_*`), histogram buckets and the per-object condition
/// gauge (one series per object and condition: thousands of lines, and not a count) left out.
pub fn operator_counters(samples: &[Sample]) -> Counters {
    samples
        .iter()
        .filter(|s| {
            s.name.starts_with("zeroetl_")
                && !s.name.ends_with("_bucket")
                && s.name != "zeroetl_object_condition"
        })
        .map(|s| (s.series(), s.value))
        .collect()
}

/// A Kubernetes write as the API server counts it, keyed `verb group/resource[/subresource]`.
pub fn apiserver_writes(samples: &[Sample]) -> Counters {
    let mut writes = Counters::new();
    for sample in samples
        .iter()
        .filter(|s| s.name == "apiserver_request_total" && is_write(s.label("verb")))
    {
        let group = match sample.label("group") {
            "" => "core",
            group => group,
        };
        let mut key = format!(
            "{} {group}/{}",
            sample.label("verb"),
            sample.label("resource")
        );
        if !sample.label("subresource").is_empty() {
            key.push('/');
            key.push_str(sample.label("subresource"));
        }
        *writes.entry(key).or_default() += sample.value;
    }
    writes
}

fn is_write(verb: &str) -> bool {
    matches!(
        verb.to_ascii_uppercase().as_str(),
        "POST" | "CREATE" | "PUT" | "UPDATE" | "PATCH" | "APPLY" | "DELETE" | "DELETECOLLECTION"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_from_proc() {
        let me = sample_process(std::process::id()).unwrap();
        assert!(me.rss_bytes > 0);
        assert!(me.peak_rss_bytes >= me.rss_bytes);
        assert!(me.rss_anon_bytes > 0 && me.rss_anon_bytes <= me.rss_bytes);
    }

    #[test]
    fn transitions_accept_rfc3339_epoch_ms_and_null() {
        let value = serde_json::json!([
            {"arn": "a", "name": "bench-00000", "createdAt": "2026-01-01T00:00:00Z", "activeAt": "2026-01-01T00:00:03.250Z"},
            {"integrationName": "bench-00001", "activeAt": 1_767_225_603_250_u64},
            {"name": "bench-00002", "activeAt": null}
        ]);
        let parsed = parse_transitions(&value).unwrap();
        assert_eq!(parsed.len(), 3);
        assert_eq!(parsed[0].active_at, parsed[1].active_at);
        assert!(parsed[0].active_at.is_some());
        assert_eq!(parsed[2].active_at, None);
        let wrapped = serde_json::json!({"integrations": [{"name": "x"}]});
        assert_eq!(parse_transitions(&wrapped).unwrap()[0].name, "x");
        assert!(parse_transitions(&serde_json::json!([{"activeAt": null}])).is_err());
    }

    #[test]
    fn apiserver_writes_keep_only_write_verbs_keyed_by_resource() {
        let samples = parse_prometheus(
            "apiserver_request_total{group=\"zeroetl.dev\",resource=\"zeroetlintegrations\",subresource=\"status\",verb=\"PATCH\",code=\"200\"} 4\n\
             apiserver_request_total{group=\"zeroetl.dev\",resource=\"zeroetlintegrations\",subresource=\"status\",verb=\"PATCH\",code=\"409\"} 1\n\
             apiserver_request_total{group=\"\",resource=\"events\",subresource=\"\",verb=\"POST\",code=\"201\"} 2\n\
             apiserver_request_total{group=\"zeroetl.dev\",resource=\"zeroetlintegrations\",subresource=\"\",verb=\"WATCH\",code=\"200\"} 9\n",
        );
        let writes = apiserver_writes(&samples);
        assert_eq!(writes.len(), 2);
        assert_eq!(writes["PATCH zeroetl.dev/zeroetlintegrations/status"], 5.0);
        assert_eq!(writes["POST core/events"], 2.0);
    }
}
