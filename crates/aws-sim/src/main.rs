//! `aws-sim --seed FILE --port N`: run the simulator until SIGTERM/SIGINT.

use std::time::Duration;

use aws_sim::{Estate, SimConfig, Timings};
use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "aws-sim",
    about = "A local AWS that speaks the real wire protocols"
)]
struct Args {
    /// Estate to seed (YAML or JSON).
    #[arg(long)]
    seed: Option<std::path::PathBuf>,
    /// Port on 127.0.0.1 (0 = ephemeral).
    #[arg(long, default_value_t = 4566)]
    port: u16,
    #[arg(long)]
    integration_create_ms: Option<u64>,
    #[arg(long)]
    integration_delete_ms: Option<u64>,
    #[arg(long)]
    integration_modify_ms: Option<u64>,
    #[arg(long)]
    reboot_ms: Option<u64>,
    #[arg(long)]
    workgroup_update_ms: Option<u64>,
    #[arg(long)]
    statement_ms: Option<u64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let args = Args::parse();
    let seed = args.seed.as_ref().map(Estate::from_yaml_file).transpose()?;
    let mut timings = Timings::default();
    let set = |field: &mut Duration, ms: Option<u64>| {
        if let Some(ms) = ms {
            *field = Duration::from_millis(ms);
        }
    };
    set(&mut timings.integration_create, args.integration_create_ms);
    set(&mut timings.integration_delete, args.integration_delete_ms);
    set(&mut timings.integration_modify, args.integration_modify_ms);
    set(&mut timings.reboot, args.reboot_ms);
    set(&mut timings.workgroup_update, args.workgroup_update_ms);
    set(&mut timings.statement, args.statement_ms);
    let sim = aws_sim::spawn(SimConfig {
        port: args.port,
        seed,
        timings,
    })
    .await?;
    println!("aws-sim listening on {}", sim.endpoint());
    tracing::info!(endpoint = %sim.endpoint(), "aws-sim ready");

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    tracing::info!("aws-sim shutting down");
    sim.shutdown().await;
    Ok(())
}
