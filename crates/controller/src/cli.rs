//! Command-line interface. Every flag has an environment variable for Deployments.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, ValueEnum};

#[derive(Parser)]
#[command(
    name = "zeroetl-operator",
    version,
    about = "Kubernetes operator for AWS zero-ETL integrations and Redshift connections"
)]
pub enum Cli {
    /// Print the CustomResourceDefinitions as YAML.
    Crd,
    /// Run the controllers.
    Run(Box<RunArgs>),
}

#[derive(Args, Clone, Debug)]
// The last occurrence of a flag wins, so wrappers can append overrides to a base command line.
#[command(args_override_self = true)]
pub struct RunArgs {
    /// The AWS region for objects that do not name one.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    pub region: String,

    /// Send every AWS call to this endpoint (e.g. aws-sim). Unset: the real AWS endpoints.
    #[arg(long, env = "ZEROETL_AWS_ENDPOINT_URL")]
    pub aws_endpoint_url: Option<String>,

    /// Watch only these namespaces (repeat the flag or separate with commas). None: all namespaces.
    #[arg(long = "namespace", env = "ZEROETL_NAMESPACES", value_delimiter = ',')]
    pub namespaces: Vec<String>,

    /// How many objects of each kind are reconciled at once. The work is mostly waiting on AWS and the API
    /// server, so this is well above the CPU count: with 16, a fleet of 5,000 new integrations queued behind
    /// the slots (the last Ready 50 s after the last was accepted); with 64, within 5 s (docs/benchmarks.md).
    #[arg(long, env = "ZEROETL_CONCURRENCY", default_value_t = 64)]
    pub concurrency: u16,

    /// Reconcile only objects with these labels (a label selector, e.g. `zeroetl.dev/shard=a`): one shard of
    /// a fleet split over several operator Deployments, each with its own --lease-name.
    #[arg(long, env = "ZEROETL_SELECTOR")]
    pub selector: Option<String>,

    /// Seconds between refreshes of the shared integration snapshot while nothing is in transition (one
    /// paginated DescribeIntegrations per region per refresh; changes made outside the operator are seen within
    /// it). While an integration is in transition, the snapshot is refreshed every half second right after a
    /// change, slowing to a tenth of the time since the last change (at most a minute, never slower than this).
    #[arg(long, env = "ZEROETL_AWS_REFRESH_INTERVAL", default_value_t = 300)]
    pub aws_refresh_interval: u64,

    /// Address of the /healthz, /readyz and /metrics server.
    #[arg(long, env = "ZEROETL_PROBE_ADDR", default_value = "0.0.0.0:8080")]
    pub probe_addr: SocketAddr,

    /// Run only while holding the Lease, so that one replica writes at a time.
    #[arg(long, env = "ZEROETL_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set)]
    pub leader_election: bool,

    /// Namespace of the leader-election Lease.
    #[arg(long, env = "POD_NAMESPACE", default_value = "default")]
    pub lease_namespace: String,

    /// Name of the leader-election Lease.
    #[arg(long, env = "ZEROETL_LEASE_NAME", default_value = "zeroetl-operator")]
    pub lease_name: String,

    /// Seconds between end-to-end re-verifications of a Ready RedshiftConnection.
    #[arg(
        long,
        env = "ZEROETL_CONNECTION_REVERIFY_INTERVAL",
        default_value_t = 300
    )]
    pub connection_reverify_interval: u64,

    /// Names this Kubernetes cluster in the owner tags of everything the operator creates in AWS, so two
    /// clusters sharing an AWS account never take each other's resources. Empty: the kube-system namespace's
    /// uid.
    #[arg(long, env = "ZEROETL_CLUSTER_NAME", default_value = "")]
    pub cluster_name: String,

    /// Seconds between full re-checks of a Ready object's prerequisites (source parameters, target policy and
    /// case sensitivity, replication health): hand edits in AWS are found, and fixed in Fix mode, within this.
    #[arg(long, env = "ZEROETL_DRIFT_INTERVAL", default_value_t = 600)]
    pub drift_interval: u64,

    /// Role ARN patterns (`*`, `?`) a RedshiftConnection may assume (spec.auth.assumeRole.roleArn); repeat the
    /// flag or separate with commas. Empty: any. An object asking for another is Stalled/ForbiddenByOperator.
    #[arg(long, env = "ZEROETL_ALLOWED_ASSUME_ROLE_ARNS", value_delimiter = ',')]
    pub allowed_assume_role_arns: Vec<String>,

    /// AWS accounts sources, targets and assumed roles may be in. Empty: any.
    #[arg(long, env = "ZEROETL_ALLOWED_ACCOUNT_IDS", value_delimiter = ',')]
    pub allowed_account_ids: Vec<String>,

    /// Never reboot a source database, even when an object sets prerequisites.allowSourceReboot.
    #[arg(long, env = "ZEROETL_FORBID_SOURCE_REBOOT", default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub forbid_source_reboot: bool,

    /// Log level or filter, e.g. `debug` or `info,zeroetl_reconciler=debug`; overrides RUST_LOG.
    #[arg(long, env = "ZEROETL_LOG_LEVEL")]
    pub log_level: Option<String>,

    /// Log format.
    #[arg(long, env = "ZEROETL_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,
}

impl RunArgs {
    pub fn connection_reverify_interval(&self) -> Duration {
        Duration::from_secs(self.connection_reverify_interval.max(1))
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum LogFormat {
    Json,
    Text,
}
