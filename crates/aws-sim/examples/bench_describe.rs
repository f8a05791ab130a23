//! Throughput of paginated DescribeIntegrations against 5,000 integrations, through the real SDK client.
//!
//! cargo run -p zeroetl-aws-sim --release --example bench_describe
//! Environment: BENCH_SECS (default 10), BENCH_TASKS (default 8), BENCH_INTEGRATIONS (default 5000).

use std::time::{Duration, Instant};

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
    let elapsed = started.elapsed();
    all.sort();
    println!(
        "DescribeIntegrations (MaxRecords 100) over {n} integrations, {tasks} concurrent tasks, {:.1}s: {} calls, {:.0} calls/s, p50 {:.2} ms, p99 {:.2} ms",
        elapsed.as_secs_f64(),
        all.len(),
        all.len() as f64 / elapsed.as_secs_f64(),
        percentile(&all, 0.50).as_secs_f64() * 1000.0,
        percentile(&all, 0.99).as_secs_f64() * 1000.0,
    );
    sim.shutdown().await;
    Ok(())
}
