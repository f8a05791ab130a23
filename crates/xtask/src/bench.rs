//! `cargo xtask bench …`: aws-sim's describe throughput, and the operator's fleet benchmark.

mod analysis;
mod budget;
mod estate;
mod fleet;
mod probes;
mod report;
mod run;
mod sim_process;
mod snapshot;
mod stats;

use anyhow::{anyhow, Result};
use clap::Args;

use crate::util::{block_on, cargo, run_checked};

/// aws-sim's describe benchmark, in release mode (the example lives in crates/aws-sim/examples).
pub fn aws_sim() -> Result<()> {
    run_checked(cargo().args([
        "run",
        "-p",
        "zeroetl-aws-sim",
        "--release",
        "--example",
        "bench_describe",
    ]))
}

/// `cargo xtask bench operator`: the fleet benchmark.
#[derive(Args, Debug, Clone)]
pub struct OperatorArgs {
    /// ZeroEtlIntegrations to apply, each from its own Aurora MySQL source.
    #[arg(long, default_value_t = 1000)]
    pub n: usize,
    /// RedshiftConnections (one per target workgroup) the integrations spread over; 0: one target by ARN.
    #[arg(long, default_value_t = 0)]
    pub connections: usize,
    /// How long aws-sim keeps a new integration in `creating`, in milliseconds.
    #[arg(long, default_value_t = 3000)]
    pub create_ms: u64,
    /// Creates in flight at once while applying the fleet.
    #[arg(long, default_value_t = 8)]
    pub apply_concurrency: usize,
    /// Steady-state window observed after everything is Ready, in seconds.
    #[arg(long, default_value_t = 60)]
    pub steady_seconds: u64,
    /// After the steady window, restart the operator (as a rollout or a change of leader does) and measure
    /// what its first pass over the Ready fleet costs.
    #[arg(long)]
    pub restart: bool,
    /// The operator's refresh period, used to express the steady window per refresh (today: its 300 s
    /// recheck of Ready objects).
    #[arg(long, default_value_t = 300)]
    pub refresh_seconds: u64,
    /// How long the fleet may take to become Ready, in seconds.
    #[arg(long, default_value_t = 1800)]
    pub timeout: u64,
    /// An extra argument for `zeroetl-operator run` (repeatable), e.g. `--operator-arg=--concurrency=16`.
    #[arg(long = "operator-arg", allow_hyphen_values = true)]
    pub operator_args: Vec<String>,
    /// Use the release binaries already built instead of running `cargo build --release` first.
    #[arg(long)]
    pub no_build: bool,
    /// Benchmark this operator binary instead of the workspace's release build (e.g. another revision's).
    #[arg(long)]
    pub operator_binary: Option<std::path::PathBuf>,
}

pub fn operator(args: OperatorArgs) -> Result<()> {
    if args.n == 0 {
        return Err(anyhow!("--n must be at least 1"));
    }
    if !args.no_build {
        let mut build = cargo();
        build.args(["build", "--release", "-p", "zeroetl-aws-sim"]);
        if args.operator_binary.is_none() {
            build.args(["-p", "zeroetl-controller"]);
        }
        // `cargo run` hands xtask its own package's variables; some build scripts (ring's) track
        // CARGO_MANIFEST_DIR, so passing them on would rebuild half the release tree whenever the binaries
        // were last built from a shell, and back again.
        for (key, _) in std::env::vars_os() {
            let key = key.to_string_lossy();
            if key.starts_with("CARGO_PKG_")
                || key.starts_with("CARGO_MANIFEST_")
                || matches!(
                    key.as_ref(),
                    "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE"
                )
            {
                build.env_remove(key.as_ref());
            }
        }
        run_checked(&mut build)?;
    }
    let result = block_on(async move {
        // Dropping the run on Ctrl-C stops the operator, aws-sim and the control plane, in that order.
        tokio::select! {
            result = run::run(&args) => result,
            _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
        }
    });
    match (result, run::check_no_leftovers()) {
        (Err(failed), Err(left)) => Err(failed.context(format!("also: {left:#}"))),
        (result, left) => result.and(left),
    }
}
