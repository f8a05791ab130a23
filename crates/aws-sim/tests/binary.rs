//! The `aws-sim` binary: prints its endpoint once ready, serves the sample estate, exits on SIGTERM.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

#[tokio::test]
async fn binary_serves_the_sample_estate_and_stops_on_sigterm() {
    let seed = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/samples/aws-estate.yaml"
    );
    let mut child = Command::new(env!("CARGO_BIN_EXE_aws-sim"))
        .args([
            "--seed",
            seed,
            "--port",
            "0",
            "--integration-create-ms",
            "50",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("aws-sim starts");
    let stdout = child.stdout.take().expect("stdout");
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    });
    let line = tokio::time::timeout(Duration::from_secs(20), line)
        .await
        .expect("ready line within 20s")
        .expect("joins")
        .expect("reads");
    let endpoint = line
        .trim()
        .strip_prefix("aws-sim listening on ")
        .expect("ready line format")
        .to_string();
    assert!(endpoint.starts_with("http://127.0.0.1:"), "{endpoint}");

    let cfg = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region("us-east-1")
        .endpoint_url(&endpoint)
        .credentials_provider(aws_credential_types::Credentials::new(
            common::OPERATOR_KEY.0,
            common::OPERATOR_KEY.1,
            None,
            None,
            "test",
        ))
        .load()
        .await;
    let out = aws_sdk_redshift::Client::new(&cfg)
        .describe_clusters()
        .send()
        .await
        .expect("served");
    assert_eq!(
        out.clusters()[0].cluster_identifier(),
        Some("warehouse-ra3")
    );

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("joins")
        .expect("waits");
    assert!(exit.success(), "clean exit on SIGTERM: {exit:?}");
}
