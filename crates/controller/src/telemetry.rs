//! Logging: JSON lines by default. The filter is `--log-level` when given, else RUST_LOG, else `info` with
//! the libraries' chatter turned down.

use anyhow::Context as _;
use tracing_subscriber::{fmt, EnvFilter};

use crate::cli::LogFormat;

const DEFAULT_FILTER: &str = "info,kube=warn,aws=warn,hyper=warn";

pub fn init(format: LogFormat, level: Option<&str>) -> anyhow::Result<()> {
    let filter = match level.filter(|l| !l.is_empty()) {
        Some(level) => EnvFilter::try_new(level).with_context(|| {
            format!("--log-level {level:?} is not a level (error, warn, info, debug, trace) or a filter such as zeroetl=debug,kube=info")
        })?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER)),
    };
    match format {
        LogFormat::Json => fmt()
            .json()
            .with_current_span(true)
            .with_env_filter(filter)
            .init(),
        LogFormat::Text => fmt().with_env_filter(filter).init(),
    }
    Ok(())
}
