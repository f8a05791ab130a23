//! SIGTERM/SIGINT → one shared "stop" flag every part of the process waits on.

use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::watch;
use tracing::info;

pub async fn on_signal(stop: watch::Sender<bool>) {
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return;
    };
    tokio::select! {
        _ = term.recv() => info!("SIGTERM received; shutting down"),
        _ = int.recv() => info!("SIGINT received; shutting down"),
    }
    let _ = stop.send(true);
}

/// Resolves once a stop was requested.
pub async fn stopped(mut rx: watch::Receiver<bool>) {
    let _ = rx.wait_for(|stop| *stop).await;
}
