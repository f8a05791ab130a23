//! The probe server: /healthz (the process runs), /readyz (watch caches synced, and the Lease held when
//! leader election is on), /metrics (Prometheus text).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;

#[derive(Clone)]
pub struct Probes {
    pub ready: Arc<AtomicBool>,
    pub registry: Arc<Registry>,
}

pub async fn serve(
    addr: SocketAddr,
    probes: Probes,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let app = Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(probes);
    let listener = TcpListener::bind(addr).await?;
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

async fn readyz(State(p): State<Probes>) -> impl IntoResponse {
    if p.ready.load(Ordering::Relaxed) {
        (StatusCode::OK, "ready")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready")
    }
}

/// The size of the last /metrics body: the next one starts that large, so a fleet's body of several MiB
/// is not grown by doubling (each step copies it, and the last can leave half of it unused).
static LAST_METRICS_LEN: AtomicUsize = AtomicUsize::new(0);

async fn metrics(State(p): State<Probes>) -> impl IntoResponse {
    let last = LAST_METRICS_LEN.load(Ordering::Relaxed);
    let mut body = String::with_capacity(last + last / 16);
    let encoded = prometheus_client::encoding::text::encode(&mut body, &p.registry);
    LAST_METRICS_LEN.store(body.len(), Ordering::Relaxed);
    match encoded {
        Ok(()) => (
            StatusCode::OK,
            [(
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            body,
        ),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain")],
            String::new(),
        ),
    }
}
