//! AWS clients: one set per (region, identity), built lazily and cached, so that the operator makes no AWS call
//! until an object needs one and never rebuilds credentials per reconcile. Every client counts its calls
//! (the `zeroetl_aws_calls_total` metric), retries in the SDK's standard mode with short backoff (see
//! [`crate::timing`]), is paced per service when AWS throttles (`pacing`), and bounds each operation with a
//! timeout.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeTransmitInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use tokio::sync::Mutex;

use super::assume_role::AssumedRole;
use super::error::{classify, AwsErrorKind};
use super::pacing::{shared_https_client, PacedHttpClient, Pacer};
use super::Identity;
use crate::error::Result;
use crate::metrics::Metrics;
use crate::timing;
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// The service clients for one region and identity.
#[derive(Clone, Debug)]
pub struct Clients {
    pub region: String,
    /// Names the identity (no secret in it): part of shared-read keys.
    pub identity: String,
    pub rds: aws_sdk_rds::Client,
    pub redshift: aws_sdk_redshift::Client,
    pub serverless: aws_sdk_redshiftserverless::Client,
    pub data: aws_sdk_redshiftdata::Client,
    pub kms: aws_sdk_kms::Client,
    pub s3: aws_sdk_s3::Client,
    /// Consumer roles (RedshiftConsumer). IAM is global; the region only picks the signing endpoint.
    pub iam: aws_sdk_iam::Client,
    /// GetCallerIdentity: the principal a consumer role's trust policy names for verification.
    pub sts: aws_sdk_sts::Client,
    /// Data API statements submitted with these clients that a pass stopped waiting for.
    pub statements: Arc<super::data_api::Submitted>,
    /// Each service's pacer, by SDK crate name (`aws_sdk_rds`, …); the clients hold them, this names them.
    #[cfg_attr(not(test), allow(dead_code))]
    pacers: HashMap<&'static str, Arc<Pacer>>,
}

#[cfg(test)]
impl Clients {
    pub fn pacer(&self, service: &str) -> &Pacer {
        &self.pacers[service]
    }
}

/// Settings shared by every client.
#[derive(Clone, Debug, Default)]
pub struct AwsSettings {
    /// Send every service to this URL (aws-sim, LocalStack-style endpoints). None: the real AWS endpoints.
    pub endpoint_url: Option<String>,
}

/// Clients for one (region, identity), the assumed role whose credentials they use, if any, and when a pass
/// last asked for them.
struct CachedClients {
    clients: Arc<Clients>,
    role: Option<AssumedRole>,
    last_used: Instant,
}

/// Builds and caches [`Clients`]. An identity nobody asks for any more (a deleted connection, a rotated
/// access key, a role per object) is evicted when idle, so the cache follows the live fleet.
pub struct AwsClients {
    settings: AwsSettings,
    metrics: Arc<Metrics>,
    http: SharedHttpClient,
    cache: Mutex<HashMap<(String, String), CachedClients>>,
}

impl AwsClients {
    pub fn new(settings: AwsSettings, metrics: Arc<Metrics>) -> AwsClients {
        AwsClients {
            settings,
            http: shared_https_client(),
            metrics,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The clients for `region` acting as `identity`. Building them makes no AWS call, except for an assumed
    /// role: its credentials are fetched here (and cached until shortly before they expire), so that a role
    /// that refuses us fails as a classified `sts:AssumeRole` error (AccessDenied for a wrong external id)
    /// instead of as an opaque credentials failure inside the first real request.
    pub async fn clients(&self, region: &str, identity: &Identity) -> Result<Arc<Clients>> {
        let key = (region.to_string(), identity.cache_key());
        let (clients, role) = {
            let mut cache = self.cache.lock().await;
            match cache.get_mut(&key) {
                Some(entry) => {
                    entry.last_used = Instant::now();
                    (entry.clients.clone(), entry.role.clone())
                }
                None => {
                    let (config, role) = self.sdk_config(region, identity).await;
                    let clients = Arc::new(self.build(region, &key.1, &config));
                    cache.insert(
                        key,
                        CachedClients {
                            clients: clients.clone(),
                            role: role.clone(),
                            last_used: Instant::now(),
                        },
                    );
                    (clients, role)
                }
            }
        };
        if let Some(role) = role {
            role.credentials().await?;
        }
        Ok(clients)
    }

    /// Drops the clients of every identity no pass asked for since `since`; returns how many are left. A pass
    /// that still holds them keeps its copy; the next one builds them anew.
    pub async fn evict_unused_since(&self, since: Instant) -> usize {
        let mut cache = self.cache.lock().await;
        cache.retain(|_, entry| entry.last_used >= since);
        cache.len()
    }

    async fn base_loader(&self, region: &str) -> aws_config::ConfigLoader {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            // One connection pool for every client, credential provider and STS call.
            .http_client(self.http.clone())
            // Standard retries with short exponential backoff. Not the SDK's adaptive mode: its rate limiter
            // has no floor, and under steady random throttling it stretched single calls to 30–60 s. Our own
            // pacer (`pacing`) slows down on throttles instead. Past these attempts, the controller's backoff.
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(timing::SDK_MAX_ATTEMPTS)
                    .with_initial_backoff(timing::SDK_INITIAL_BACKOFF)
                    .with_max_backoff(timing::SDK_MAX_BACKOFF),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(timing::SDK_OPERATION_TIMEOUT)
                    .operation_attempt_timeout(timing::SDK_ATTEMPT_TIMEOUT)
                    .build(),
            );
        if let Some(url) = &self.settings.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        loader
    }

    async fn sdk_config(
        &self,
        region: &str,
        identity: &Identity,
    ) -> (SdkConfig, Option<AssumedRole>) {
        match identity {
            Identity::Default => (self.base_loader(region).await.load().await, None),
            Identity::AccessKey {
                access_key_id,
                secret_access_key,
            } => {
                let creds = Credentials::new(
                    access_key_id,
                    secret_access_key,
                    None,
                    None,
                    "zeroetl-secret",
                );
                (
                    self.base_loader(region)
                        .await
                        .credentials_provider(creds)
                        .load()
                        .await,
                    None,
                )
            }
            Identity::AssumeRole {
                role_arn,
                external_id,
                session_name,
            } => {
                // STS is called as the operator's own identity; its client is not counted twice in the cache.
                let base = self.base_loader(region).await.load().await;
                let sts = aws_sdk_sts::Client::from_conf(
                    aws_sdk_sts::config::Builder::from(&base)
                        .interceptor(CallCounter {
                            metrics: self.metrics.clone(),
                            pacer: None,
                        })
                        .build(),
                );
                let role = AssumedRole::new(
                    sts,
                    role_arn.clone(),
                    external_id.clone(),
                    session_name.clone(),
                );
                let config = self
                    .base_loader(region)
                    .await
                    .credentials_provider(SharedCredentialsProvider::new(role.clone()))
                    .load()
                    .await;
                (config, Some(role))
            }
        }
    }

    fn build(&self, region: &str, identity: &str, config: &SdkConfig) -> Clients {
        // One pacer per service for this region and identity: it sees every attempt (HTTP layer) and learns
        // from every answer (the counting interceptor).
        let mut pacers = HashMap::new();
        macro_rules! builder {
            ($krate:ident) => {{
                let pacer = Arc::new(Pacer::default());
                pacers.insert(stringify!($krate), pacer.clone());
                $krate::config::Builder::from(config)
                    .http_client(PacedHttpClient::new(self.http.clone(), pacer.clone()))
                    .interceptor(CallCounter {
                        metrics: self.metrics.clone(),
                        pacer: Some(pacer),
                    })
                    .retry_partition(retry_partition(stringify!($krate)))
            }};
        }
        macro_rules! client {
            ($krate:ident) => {
                $krate::Client::from_conf(builder!($krate).build())
            };
        }
        let s3 = builder!(aws_sdk_s3)
            // A custom endpoint (aws-sim) serves buckets by path, not by virtual host.
            .force_path_style(self.settings.endpoint_url.is_some())
            .build();
        Clients {
            region: region.to_string(),
            identity: identity.to_string(),
            rds: client!(aws_sdk_rds),
            redshift: client!(aws_sdk_redshift),
            serverless: client!(aws_sdk_redshiftserverless),
            data: client!(aws_sdk_redshiftdata),
            kms: client!(aws_sdk_kms),
            s3: aws_sdk_s3::Client::from_conf(s3),
            iam: client!(aws_sdk_iam),
            sts: client!(aws_sdk_sts),
            statements: Default::default(),
            pacers,
        }
    }
}

/// One retry partition per service, shared by every client of that service (all regions and identities).
/// Its token bucket is unlimited: the SDK's default quota (each throttled retry spends tokens a success only
/// partly refunds) runs dry under sustained throttling, after which calls fail without retrying at all.
fn retry_partition(service: &str) -> aws_sdk_rds::config::retry::RetryPartition {
    use aws_sdk_rds::config::retry::{RetryPartition, TokenBucket};
    RetryPartition::custom(format!("zeroetl-{service}"))
        .token_bucket(TokenBucket::unlimited())
        .build()
}

/// Counts every attempt each client sends, by service and operation, and every attempt AWS answered with an
/// error, by code (throttles too, which the SDK retries without the reconciler seeing them).
#[derive(Clone, Debug)]
struct CallCounter {
    metrics: Arc<Metrics>,
    /// Told of every throttle and every success.
    pacer: Option<Arc<Pacer>>,
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "zeroetl-call-counter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        if let Some(m) = cfg.load::<Metadata>() {
            self.metrics.aws_call(m.service(), m.name());
        }
        Ok(())
    }

    fn read_after_attempt(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> std::result::Result<(), BoxError> {
        let (Some(m), Some(response)) = (cfg.load::<Metadata>(), context.response()) else {
            return Ok(());
        };
        if response.status().as_u16() < 400 {
            if let Some(p) = &self.pacer {
                p.succeeded();
            }
            return Ok(());
        }
        let code = error_code(
            response.headers().get("x-amzn-ErrorType"),
            response.body().bytes(),
        )
        .unwrap_or_else(|| format!("Http{}", response.status().as_u16()));
        let throttled = classify(&code) == AwsErrorKind::Throttled;
        self.metrics
            .aws_error(m.service(), m.name(), &code, throttled);
        if let (true, Some(p)) = (throttled, &self.pacer) {
            p.throttled();
        }
        Ok(())
    }
}

/// The error code of a failed response: the JSON protocols' `x-amzn-ErrorType` header
/// (`Code:uri` or `ns#Code`), else the XML protocols' `<Code>` element.
fn error_code(header: Option<&str>, body: Option<&[u8]>) -> Option<String> {
    if let Some(h) = header {
        let code = h.split(':').next().unwrap_or(h);
        return Some(code.rsplit('#').next().unwrap_or(code).to_string());
    }
    let text = std::str::from_utf8(body?).ok()?;
    let start = text.find("<Code>")? + "<Code>".len();
    let end = text[start..].find("</Code>")? + start;
    Some(text[start..end].trim().to_string())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use aws_sim::{Fault, FaultKind};

    use std::sync::Arc;

    use super::error_code;
    use crate::aws::Identity;
    use crate::testing::{aws_clients, operator_clients, operator_key, sample_sim, REGION};
    use crate::timing;

    #[tokio::test]
    async fn a_throttled_service_is_paced_and_only_that_service() {
        let sim = sample_sim().await;
        let c = operator_clients(&sim).await;
        sim.inject(Fault::new("rds:DescribeDBClusters", FaultKind::Throttle).times(1));
        c.rds
            .describe_db_clusters()
            .send()
            .await
            .expect("retried past the throttle");
        assert!(c.pacer("aws_sdk_rds").rate().is_some(), "rds is paced");
        assert_eq!(c.pacer("aws_sdk_redshift").rate(), None, "redshift is not");

        // At the floor, calls wait for each other: five take at least four intervals.
        for _ in 0..100 {
            c.pacer("aws_sdk_rds").throttled();
        }
        let started = Instant::now();
        for _ in 0..5 {
            c.rds.describe_db_clusters().send().await.unwrap();
        }
        let floor_interval = Duration::from_secs_f64(1.0 / timing::PACING_MIN_RATE);
        assert!(
            started.elapsed() >= floor_interval * 3,
            "five paced calls took {:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn an_identity_nobody_asks_for_is_evicted_and_one_still_in_use_is_kept() {
        let sim = sample_sim().await;
        let aws = aws_clients(&sim);
        // Team A's connection uses the operator's key; team B's used its own key and was deleted since.
        let team_b = Identity::AccessKey {
            access_key_id: "AKIATEAMBROTATED".into(),
            secret_access_key: "team-b-secret".into(),
        };
        let a = aws.clients(REGION, &operator_key()).await.unwrap();
        let b = aws.clients(REGION, &team_b).await.unwrap();
        let cutoff = Instant::now();
        let a_again = aws.clients(REGION, &operator_key()).await.unwrap();
        assert!(Arc::ptr_eq(&a, &a_again), "a cached identity is reused");

        assert_eq!(
            aws.evict_unused_since(cutoff).await,
            1,
            "only team A's stays"
        );
        assert!(Arc::ptr_eq(
            &a,
            &aws.clients(REGION, &operator_key()).await.unwrap()
        ));
        let b_again = aws.clients(REGION, &team_b).await.unwrap();
        assert!(
            !Arc::ptr_eq(&b, &b_again),
            "team B's clients were built anew"
        );
    }

    #[test]
    fn error_codes_come_from_the_header_or_the_xml_body() {
        assert_eq!(
            error_code(Some("ThrottlingException:http://x"), None).as_deref(),
            Some("ThrottlingException")
        );
        assert_eq!(
            error_code(Some("com.amazonaws#ResourceNotFoundException"), None).as_deref(),
            Some("ResourceNotFoundException")
        );
        let xml = b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code></Error></ErrorResponse>";
        assert_eq!(error_code(None, Some(xml)).as_deref(), Some("Throttling"));
        assert_eq!(error_code(None, Some(b"{}")), None);
    }
}
