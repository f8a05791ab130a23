//! `cargo xtask …`: the developer commands of zeroetl-operator (see README.md).

mod bench;
mod control_plane;
mod crd;
mod demo;
mod release;
mod system;
mod test;
mod util;

use std::path::PathBuf;

use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Developer commands of zeroetl-operator")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// A local Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager) on loopback.
    ControlPlane {
        #[command(subcommand)]
        command: ControlPlaneCommand,
    },
    /// Regenerate config/crd/*.yaml and charts/zeroetl-operator/crds/*.yaml from the operator's types.
    Crd {
        /// Only check that the committed files are up to date.
        #[arg(long)]
        check: bool,
    },
    /// The one test command: fmt, clippy, build, unit + aws-sim + e2e tests, leak check.
    Test,
    /// Control plane + aws-sim + operator with the samples applied.
    Demo {
        /// Leave everything running in the background (stop it with `cargo xtask demo down`).
        #[arg(long)]
        detach: bool,
        /// How long the samples may take to become Ready, in seconds.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        #[command(subcommand)]
        command: Option<DemoCommand>,
    },
    /// Release artifacts: version and build-context checks, the static release binary, the chart package.
    Release,
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        target: BenchTarget,
    },
}

#[derive(Subcommand)]
enum ControlPlaneCommand {
    /// Make sure the binaries exist: $KUBEBUILDER_ASSETS, else built once into ~/.cache/zeroetl.
    Build,
    /// Start in the background and print the kubeconfig path.
    Up {
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Stop a control plane started with `up` and check that no process remains.
    Down {
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Print the environment for the binaries and a running control plane.
    Env {
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum DemoCommand {
    /// Stop a demo started with --detach.
    Down,
}

#[derive(Subcommand)]
enum BenchTarget {
    /// aws-sim's DescribeIntegrations throughput (release build).
    AwsSim,
    /// The operator at fleet scale: N integrations (and M connections) to Ready, then steady state.
    Operator(bench::OperatorArgs),
}

fn main() -> Result<()> {
    zeroetl_e2e::install_crypto_provider();
    let cli = Cli::parse();
    match cli.command {
        Command::ControlPlane { command } => match command {
            ControlPlaneCommand::Build => control_plane::build(),
            ControlPlaneCommand::Up { dir } => util::block_on(control_plane::up(dir)),
            ControlPlaneCommand::Down { dir } => control_plane::down(dir),
            ControlPlaneCommand::Env { dir } => control_plane::env(dir),
        },
        Command::Crd { check } => crd::generate(check),
        Command::Test => test::run(),
        Command::Demo {
            command: Some(DemoCommand::Down),
            ..
        } => demo::down(),
        Command::Demo {
            detach, timeout, ..
        } => util::block_on(demo::run(detach, std::time::Duration::from_secs(timeout))),
        Command::Release => release::run(),
        Command::Bench {
            target: BenchTarget::AwsSim,
        } => bench::aws_sim(),
        Command::Bench {
            target: BenchTarget::Operator(args),
        } => bench::operator(args),
    }
}
