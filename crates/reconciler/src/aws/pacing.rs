//! A client-side token bucket per service, region and identity (AWS rate-limits each API per account and
//! region) that throttling feeds back into. Unthrottled, it lets every call through at once. A throttle
//! starts pacing at a modest rate and each further throttle cuts it; successes raise it again until pacing
//! stops. The rate never drops below a floor, so a warehouse that throttles at random (not because of our
//! rate) slows the operator down without stopping it. Calls wait in the HTTP layer, before each attempt
//! (retries included), so the SDK's own retries are paced too.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use parking_lot::Mutex;

use crate::timing;

/// The pacing of one service, region and identity.
#[derive(Debug, Default)]
pub struct Pacer(Mutex<State>);

#[derive(Debug, Default)]
struct State {
    /// Calls per second; `None` while nothing is throttled (no pacing at all).
    rate: Option<f64>,
    /// Tokens in the bucket (at most one second's worth); negative when callers are queued.
    tokens: f64,
    refilled: Option<Instant>,
}

impl Pacer {
    /// How long the next call must wait for its token (zero while unpaced).
    pub fn reserve(&self) -> Duration {
        let mut s = self.0.lock();
        let Some(rate) = s.rate else {
            return Duration::ZERO;
        };
        let now = Instant::now();
        let elapsed = s.refilled.map_or(0.0, |t| (now - t).as_secs_f64());
        s.tokens = (s.tokens + elapsed * rate).min(rate.max(1.0));
        s.refilled = Some(now);
        s.tokens -= 1.0;
        if s.tokens >= 0.0 {
            return Duration::ZERO;
        }
        // A deep queue is not waited out here: past the cap, calls go and AWS answers for itself.
        Duration::from_secs_f64(-s.tokens / rate).min(timing::PACING_MAX_WAIT)
    }

    /// AWS throttled a call: pace, or pace slower.
    pub fn throttled(&self) {
        let mut s = self.0.lock();
        s.rate = Some(match s.rate {
            None => timing::PACING_START_RATE,
            Some(r) => (r * timing::PACING_DECREASE).max(timing::PACING_MIN_RATE),
        });
        s.tokens = s.tokens.min(0.0);
    }

    /// A call went through: speed up again, and stop pacing once the rate is high enough.
    pub fn succeeded(&self) {
        let mut s = self.0.lock();
        if let Some(r) = s.rate {
            let next = r * timing::PACING_INCREASE;
            s.rate = (next < timing::PACING_MAX_RATE).then_some(next);
        }
    }

    /// The current rate, `None` when unpaced.
    #[cfg(test)]
    pub fn rate(&self) -> Option<f64> {
        self.0.lock().rate
    }
}

/// The one HTTPS client every service client shares (one connection pool for the process), built as the SDK
/// builds its default (rustls, proxies from the environment), with ring as kube uses it instead of aws-lc.
pub fn shared_https_client() -> SharedHttpClient {
    use aws_smithy_http_client::proxy::ProxyConfig;
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    use aws_smithy_http_client::{Builder, ConnectorBuilder};
    Builder::new().build_with_connector_fn(|settings, components| {
        let mut connector =
            ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::Ring));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build()
    })
}

/// An HTTP client whose every request first waits for its pacer.
#[derive(Clone)]
pub struct PacedHttpClient {
    inner: SharedHttpClient,
    pacer: Arc<Pacer>,
}

impl PacedHttpClient {
    pub fn new(inner: SharedHttpClient, pacer: Arc<Pacer>) -> Self {
        Self { inner, pacer }
    }
}

impl fmt::Debug for PacedHttpClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PacedHttpClient")
            .field("pacer", &self.pacer)
            .finish()
    }
}

impl HttpClient for PacedHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(PacedConnector {
            inner: self.inner.http_connector(settings, components),
            pacer: self.pacer.clone(),
        })
    }
}

#[derive(Debug)]
struct PacedConnector {
    inner: SharedHttpConnector,
    pacer: Arc<Pacer>,
}

impl HttpConnector for PacedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let wait = self.pacer.reserve();
        let inner = self.inner.clone();
        HttpConnectorFuture::new(async move {
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
            inner.call(request).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unthrottled_calls_never_wait() {
        let p = Pacer::default();
        for _ in 0..1000 {
            assert_eq!(p.reserve(), Duration::ZERO);
        }
        p.succeeded();
        assert_eq!(p.rate(), None);
    }

    #[test]
    fn throttles_slow_down_to_a_floor_and_successes_lift_pacing_again() {
        let p = Pacer::default();
        p.throttled();
        assert_eq!(p.rate(), Some(timing::PACING_START_RATE));
        for _ in 0..100 {
            p.throttled();
        }
        assert_eq!(
            p.rate(),
            Some(timing::PACING_MIN_RATE),
            "never below the floor"
        );
        // Calls queue behind each other at the paced rate.
        let waits: Vec<Duration> = (0..4).map(|_| p.reserve()).collect();
        assert!(waits.windows(2).all(|w| w[1] > w[0]), "{waits:?}");
        assert!(waits[3] <= timing::PACING_MAX_WAIT);
        let mut successes = 0;
        while p.rate().is_some() {
            p.succeeded();
            successes += 1;
            assert!(successes < 10_000, "pacing never stops");
        }
        assert_eq!(p.reserve(), Duration::ZERO);
    }
}
