//! The probe server: /healthz (the process runs), /readyz (watch caches synced, and the Lease held when
//! leader election is on), /metrics (Prometheus text).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use prometheus_client::registry::Registry;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::timeout;

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

/// How much of the /metrics body is held at once. A fleet's body is several MiB (one line per condition of
/// every cached object); built whole, it was the largest single item of the operator's peak heap.
const METRICS_CHUNK: usize = 64 * 1024;

/// How long a scraper may leave a chunk unread before the encoding gives up. The encoder holds a metric
/// family's read lock while it waits, and a metric that needs a new series waits for that lock: a stalled
/// scraper must not stall reconciles for longer than this.
const METRICS_CHUNK_WAIT: Duration = Duration::from_secs(5);

async fn metrics(State(p): State<Probes>) -> impl IntoResponse {
    let (body, _encoded) = stream_registry(p.registry, METRICS_CHUNK_WAIT);
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
}

/// Streams the Prometheus text in chunks: the registry is encoded on a blocking thread that hands each full
/// chunk to the response and waits (up to `wait` per chunk) while the client reads, so memory stays at a
/// chunk or two per scrape. The task's result says whether the whole text went out.
fn stream_registry(registry: Arc<Registry>, wait: Duration) -> (Body, JoinHandle<bool>) {
    let (chunks, body) = mpsc::channel::<Bytes>(2);
    let runtime = tokio::runtime::Handle::current();
    let encoded = tokio::task::spawn_blocking(move || {
        let send = |chunk| {
            runtime
                .block_on(async { matches!(timeout(wait, chunks.send(chunk)).await, Ok(Ok(()))) })
        };
        let mut writer = ChunkWriter::new(METRICS_CHUNK, send);
        // An error means the scraper went away or stalled (or a collector failed): the body just ends early,
        // which a Prometheus server reports as a failed scrape.
        let whole = prometheus_client::encoding::text::encode(&mut writer, &registry).is_ok();
        whole && writer.finish()
    });
    let body = futures::stream::unfold(body, |mut body| async move {
        let chunk = body.recv().await?;
        Some((Ok::<_, Infallible>(chunk), body))
    });
    (Body::from_stream(body), encoded)
}

/// A `fmt::Write` that passes its text on in chunks of about `size` bytes; `send` returns false once nobody
/// reads any more, which stops the encoding.
struct ChunkWriter<F: FnMut(Bytes) -> bool> {
    size: usize,
    buffer: String,
    send: F,
}

impl<F: FnMut(Bytes) -> bool> ChunkWriter<F> {
    fn new(size: usize, send: F) -> Self {
        ChunkWriter {
            size,
            buffer: String::new(),
            send,
        }
    }

    fn pass_on(&mut self) -> bool {
        (self.send)(Bytes::from(std::mem::take(&mut self.buffer)))
    }

    /// Passes on what is left; false when nobody took it.
    fn finish(mut self) -> bool {
        self.buffer.is_empty() || self.pass_on()
    }
}

impl<F: FnMut(Bytes) -> bool> std::fmt::Write for ChunkWriter<F> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        // Room for a whole chunk once per chunk, not after the last one.
        if self.buffer.capacity() == 0 {
            self.buffer.reserve(self.size);
        }
        self.buffer.push_str(s);
        if self.buffer.len() >= self.size && !self.pass_on() {
            return Err(std::fmt::Error);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write;

    #[test]
    fn the_body_comes_out_in_chunks_that_add_up_to_the_whole_text() {
        let mut chunks = Vec::new();
        let mut writer = ChunkWriter::new(16, |chunk| {
            chunks.push(chunk);
            true
        });
        let lines: Vec<String> = (0..10)
            .map(|i| format!("zeroetl_object_condition{{namespace=\"team-{i}\"}} 1\n"))
            .collect();
        for line in &lines {
            writer.write_str(line).unwrap();
        }
        writer.finish();
        assert_eq!(chunks.concat(), lines.concat().into_bytes());
        // Each chunk is at most one write past the chunk size, so a scrape holds a chunk, not the body.
        let longest_line = lines.iter().map(String::len).max().unwrap();
        assert!(chunks.iter().all(|c| c.len() < 16 + longest_line));
        assert!(chunks.len() >= 10);
    }

    /// One series per object of two teams whose objects have the same names.
    fn two_teams(objects_per_team: usize) -> Registry {
        use prometheus_client::encoding::EncodeLabelSet;
        use prometheus_client::metrics::family::Family;
        use prometheus_client::metrics::gauge::Gauge;

        #[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
        struct Object {
            namespace: String,
            name: String,
        }
        let family = Family::<Object, Gauge>::default();
        for namespace in ["team-a", "team-b"] {
            for i in 0..objects_per_team {
                family
                    .get_or_create(&Object {
                        namespace: namespace.into(),
                        name: format!("orders-{i}"),
                    })
                    .set(1);
            }
        }
        let mut registry = Registry::default();
        registry.register("zeroetl_object", "Objects", family);
        registry
    }

    #[tokio::test]
    async fn a_fleet_wide_scrape_streams_exactly_what_the_registry_encodes() {
        // Several chunks' worth of lines.
        let registry = two_teams(2_000);
        let mut whole = String::new();
        prometheus_client::encoding::text::encode(&mut whole, &registry).unwrap();
        assert!(whole.len() > 2 * METRICS_CHUNK, "the test must span chunks");

        let probes = Probes {
            ready: Arc::default(),
            registry: Arc::new(registry),
        };
        let response = metrics(State(probes)).await.into_response();
        assert_eq!(response.status(), StatusCode::OK);
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        assert_eq!(std::str::from_utf8(&body).unwrap(), whole);
        assert!(whole.contains(r#"namespace="team-b",name="orders-1999""#));
    }

    #[tokio::test]
    async fn a_stalled_scraper_stops_the_encoding_after_the_wait() {
        // More chunks than the channel holds.
        let registry = two_teams(5_000);
        let (body, encoded) = stream_registry(Arc::new(registry), Duration::from_millis(100));
        // The body is held and never read: the encoder fills the channel, waits, and gives up.
        let whole = tokio::time::timeout(Duration::from_secs(10), encoded)
            .await
            .expect("the encoder gave up within its wait, not at the deadline")
            .unwrap();
        assert!(!whole);
        drop(body);
    }

    #[test]
    fn encoding_stops_when_the_scraper_goes_away() {
        let mut sent = 0;
        let mut writer = ChunkWriter::new(4, |_| {
            sent += 1;
            sent < 2
        });
        assert!(writer.write_str("first").is_ok());
        assert!(writer.write_str("second").is_err());
    }
}
