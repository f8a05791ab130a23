//! Logging: JSON lines by default (RUST_LOG filters, default info).

use tracing_subscriber::{fmt, EnvFilter};

use crate::cli::LogFormat;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,kube=warn,aws=warn,hyper=warn"));
    match format {
        LogFormat::Json => fmt()
            .json()
            .with_current_span(true)
            .with_env_filter(filter)
            .init(),
        LogFormat::Text => fmt().with_env_filter(filter).init(),
    }
}
