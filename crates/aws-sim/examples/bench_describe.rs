//! Throughput of DescribeIntegrations against 5,000 integrations: paginated sweeps (MaxRecords 100 + Marker)
//! through the real SDK client and over raw HTTP, then single-integration lookups by
//! `IntegrationIdentifier` (what the operator sends once per object and reconcile) over raw HTTP.
//!
//! cargo run -p zeroetl-aws-sim --release --example bench_describe
//! Environment: BENCH_SECS (default 10, per phase), BENCH_TASKS (default 8), BENCH_INTEGRATIONS (default 5000).

use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_sim::estate::{AccountSeed, IntegrationSeed, RegionSeed};
use aws_sim::{Estate, SimConfig, Timings};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn estate(n: usize) -> Estate {
    let region = RegionSeed {
        integrations: (0..n)
            .map(|k| IntegrationSeed {
                name: format!("bench-{k:05}"),
                source_arn: format!("arn:aws:rds:us-east-1:111111111111:db:source-{k:05}"),
                target_arn: "arn:aws:redshift-serverless:us-east-1:111111111111:namespace/3f1c2a9e-5b7d-4e21-9c3a-1a2b3c4d5e01"
                    .into(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    Estate {
        accounts: vec![AccountSeed {
            id: "111111111111".into(),
            name: "bench".into(),
            access_keys: vec![aws_sim::estate::AccessKeySeed {
                access_key_id: "AKIABENCH00000000001".into(),
                secret_access_key: "bench".into(),
                ..Default::default()
            }],
            integration_quota: Some(n),
            regions: [("us-east-1".to_string(), region)].into(),
            ..Default::default()
        }],
    }
}

/// One keep-alive connection sending signed-looking DescribeIntegrations requests without the SDK, to show
/// what the simulator itself sustains. Returns the marker of the next page.
async fn raw_page(
    conn: &mut BufReader<tokio::net::TcpStream>,
    marker: Option<&str>,
) -> anyhow::Result<Option<String>> {
    let mut body = "Action=DescribeIntegrations&Version=2014-10-31&MaxRecords=100".to_string();
    if let Some(m) = marker {
        body.push_str("&Marker=");
        body.extend(url::form_urlencoded::byte_serialize(m.as_bytes()));
    }
    let text = raw_call(conn, &body).await?;
    Ok(text
        .split("<Marker>")
        .nth(1)
        .and_then(|r| r.split("</Marker>").next())
        .map(str::to_string))
}

/// DescribeIntegrations for one integration by name, as the operator looks its object up.
async fn raw_lookup(conn: &mut BufReader<tokio::net::TcpStream>, name: &str) -> anyhow::Result<()> {
    let body =
        format!("Action=DescribeIntegrations&Version=2014-10-31&IntegrationIdentifier={name}");
    let text = raw_call(conn, &body).await?;
    anyhow::ensure!(
        text.matches("<IntegrationName>").count() == 1 && text.contains(name),
        "lookup of {name} did not return exactly that integration"
    );
    Ok(())
}

async fn raw_call(
    conn: &mut BufReader<tokio::net::TcpStream>,
    body: &str,
) -> anyhow::Result<String> {
    let req = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIABENCH00000000001/20260101/us-east-1/rds/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    conn.get_mut().write_all(req.as_bytes()).await?;
    let mut length = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        conn.read_line(&mut line).await?;
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse()?;
        }
    }
    let mut buf = vec![0; length];
    conn.read_exact(&mut buf).await?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn report(label: &str, n: usize, tasks: u64, elapsed: Duration, mut all: Vec<Duration>) {
    all.sort();
    println!(
        "{label}: DescribeIntegrations over {n} integrations, {tasks} concurrent tasks, {:.1}s: {} calls, {:.0} calls/s, p50 {:.2} ms, p99 {:.2} ms",
        elapsed.as_secs_f64(),
        all.len(),
        all.len() as f64 / elapsed.as_secs_f64(),
        percentile(&all, 0.50).as_secs_f64() * 1000.0,
        percentile(&all, 0.99).as_secs_f64() * 1000.0,
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let secs = env_or("BENCH_SECS", 10);
    let tasks = env_or("BENCH_TASKS", 8);
    let n = env_or("BENCH_INTEGRATIONS", 5000) as usize;
    let sim = aws_sim::spawn(SimConfig {
        port: 0,
        seed: Some(estate(n)),
        timings: Timings::default(),
    })
    .await?;
    let cfg = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(sim.endpoint())
        .credentials_provider(Credentials::new(
            "AKIABENCH00000000001",
            "bench",
            None,
            None,
            "bench",
        ))
        .load()
        .await;
    let client = aws_sdk_rds::Client::new(&cfg);

    // One full sweep first: proves pagination covers every integration.
    let mut marker: Option<String> = None;
    let mut seen = 0;
    loop {
        let page = client
            .describe_integrations()
            .max_records(100)
            .set_marker(marker)
            .send()
            .await?;
        seen += page.integrations().len();
        marker = page.marker().map(str::to_string);
        if marker.is_none() {
            break;
        }
    }
    anyhow::ensure!(
        seen == n,
        "a full sweep saw {seen} integrations, expected {n}"
    );

    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let client = client.clone();
        handles.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut marker: Option<String> = None;
            while Instant::now() < deadline {
                let t = Instant::now();
                let page = client
                    .describe_integrations()
                    .max_records(100)
                    .set_marker(marker.clone())
                    .send()
                    .await?;
                latencies.push(t.elapsed());
                marker = page.marker().map(str::to_string);
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await??);
    }
    report(
        "paginated (MaxRecords 100), aws-sdk-rds client",
        n,
        tasks,
        started.elapsed(),
        all,
    );

    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let port = sim.port();
        handles.push(tokio::spawn(async move {
            let mut conn =
                BufReader::new(tokio::net::TcpStream::connect(("127.0.0.1", port)).await?);
            let mut latencies = Vec::new();
            let mut marker: Option<String> = None;
            while Instant::now() < deadline {
                let t = Instant::now();
                marker = raw_page(&mut conn, marker.as_deref()).await?;
                latencies.push(t.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await??);
    }
    report(
        "paginated (MaxRecords 100), raw HTTP, no SDK",
        n,
        tasks,
        started.elapsed(),
        all,
    );

    let deadline = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    let mut handles = Vec::new();
    for task in 0..tasks {
        let port = sim.port();
        handles.push(tokio::spawn(async move {
            let mut conn =
                BufReader::new(tokio::net::TcpStream::connect(("127.0.0.1", port)).await?);
            let mut latencies = Vec::new();
            // A stride walk spreads the lookups over the whole estate without a random generator.
            let mut k = task as usize * 613;
            while Instant::now() < deadline {
                k = (k + 7919) % n;
                let t = Instant::now();
                raw_lookup(&mut conn, &format!("bench-{k:05}")).await?;
                latencies.push(t.elapsed());
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut all = Vec::new();
    for h in handles {
        all.extend(h.await??);
    }
    report(
        "IntegrationIdentifier=<name> lookups, raw HTTP, no SDK",
        n,
        tasks,
        started.elapsed(),
        all,
    );
    sim.shutdown().await;
    Ok(())
}
