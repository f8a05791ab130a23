//! AWS clients: one set per (region, identity), built lazily and cached, so that the operator makes no AWS call
//! until an object needs one and never rebuilds credentials per reconcile. Every client counts its calls
//! (the `zeroetl_aws_calls_total` metric), retries with the SDK's adaptive mode (client-side rate limiting
//! after throttling) and bounds each operation with a timeout.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};
use aws_credential_types::Credentials;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use tokio::sync::Mutex;

use crate::error::Result;
use crate::metrics::Metrics;

/// Whose AWS identity a call runs as.
#[derive(Clone, PartialEq, Eq)]
pub enum Identity {
    /// The operator's own identity (IRSA, EKS Pod Identity, environment, instance profile).
    Default,
    /// A role assumed from the operator's identity, typically in another account.
    AssumeRole {
        role_arn: String,
        external_id: Option<String>,
    },
    /// An access key pair read from a Secret in the object's namespace.
    AccessKey {
        access_key_id: String,
        secret_access_key: String,
    },
}

// Hand-written so that a secret never reaches a log line through `{:?}`.
impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Identity::Default => f.write_str("Default"),
            Identity::AssumeRole { role_arn, .. } => write!(f, "AssumeRole({role_arn})"),
            Identity::AccessKey { access_key_id, .. } => write!(f, "AccessKey({access_key_id})"),
        }
    }
}

impl Identity {
    /// A cache key that changes when any part of the identity changes (a rotated key gets new clients)
    /// without holding the secret itself in the key.
    fn cache_key(&self) -> String {
        let mut h = DefaultHasher::new();
        match self {
            Identity::Default => return "default".into(),
            Identity::AssumeRole {
                role_arn,
                external_id,
            } => (role_arn, external_id).hash(&mut h),
            Identity::AccessKey {
                access_key_id,
                secret_access_key,
            } => (access_key_id, secret_access_key).hash(&mut h),
        }
        format!("{:?}#{:x}", self, h.finish())
    }
}

/// The service clients for one region and identity.
#[derive(Clone, Debug)]
pub struct Clients {
    pub region: String,
    pub rds: aws_sdk_rds::Client,
    pub redshift: aws_sdk_redshift::Client,
    pub serverless: aws_sdk_redshiftserverless::Client,
    pub data: aws_sdk_redshiftdata::Client,
    pub iam: aws_sdk_iam::Client,
    pub sts: aws_sdk_sts::Client,
    pub kms: aws_sdk_kms::Client,
    pub s3: aws_sdk_s3::Client,
}

/// Settings shared by every client.
#[derive(Clone, Debug, Default)]
pub struct AwsSettings {
    /// Send every service to this URL (aws-sim, LocalStack-style endpoints). None: the real AWS endpoints.
    pub endpoint_url: Option<String>,
}

/// Clients for one (region, identity), and the assumed role whose credentials they use, if any.
type CachedClients = (Arc<Clients>, Option<AssumedRole>);

/// Builds and caches [`Clients`].
pub struct AwsClients {
    settings: AwsSettings,
    metrics: Arc<Metrics>,
    cache: Mutex<HashMap<(String, String), CachedClients>>,
}

impl AwsClients {
    pub fn new(settings: AwsSettings, metrics: Arc<Metrics>) -> AwsClients {
        AwsClients {
            settings,
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
            match cache.get(&key) {
                Some(entry) => entry.clone(),
                None => {
                    let (config, role) = self.sdk_config(region, identity).await;
                    let entry = (Arc::new(self.build(region, &config)), role);
                    cache.insert(key, entry.clone());
                    entry
                }
            }
        };
        if let Some(role) = role {
            role.credentials().await?;
        }
        Ok(clients)
    }

    async fn base_loader(&self, region: &str) -> aws_config::ConfigLoader {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            // Standard retries with short exponential backoff. Not adaptive mode: its client-side rate limiter
            // cuts the send rate at every throttle and, at a steady 50% throttle rate, stretched single calls to
            // 30–60 s. Throttling is absorbed here and, past these attempts, by the controller's backoff.
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(8)
                    .with_initial_backoff(Duration::from_millis(200))
                    .with_max_backoff(Duration::from_secs(10)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(Duration::from_secs(60))
                    .operation_attempt_timeout(Duration::from_secs(20))
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
            } => {
                // STS is called as the operator's own identity; its client is not counted twice in the cache.
                let base = self.base_loader(region).await.load().await;
                let sts = aws_sdk_sts::Client::from_conf(
                    aws_sdk_sts::config::Builder::from(&base)
                        .interceptor(CallCounter(self.metrics.clone()))
                        .build(),
                );
                let role = AssumedRole::new(sts, role_arn.clone(), external_id.clone());
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

    fn build(&self, region: &str, config: &SdkConfig) -> Clients {
        let counter = CallCounter(self.metrics.clone());
        macro_rules! client {
            ($krate:ident) => {
                $krate::Client::from_conf(
                    $krate::config::Builder::from(config)
                        .interceptor(counter.clone())
                        .retry_partition(retry_partition(stringify!($krate)))
                        .build(),
                )
            };
        }
        let s3 = aws_sdk_s3::config::Builder::from(config)
            .interceptor(counter.clone())
            .retry_partition(retry_partition("aws_sdk_s3"))
            // A custom endpoint (aws-sim) serves buckets by path, not by virtual host.
            .force_path_style(self.settings.endpoint_url.is_some())
            .build();
        Clients {
            region: region.to_string(),
            rds: client!(aws_sdk_rds),
            redshift: client!(aws_sdk_redshift),
            serverless: client!(aws_sdk_redshiftserverless),
            data: client!(aws_sdk_redshiftdata),
            iam: client!(aws_sdk_iam),
            sts: client!(aws_sdk_sts),
            kms: client!(aws_sdk_kms),
            s3: aws_sdk_s3::Client::from_conf(s3),
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

/// Counts every attempt each client sends, by service and operation.
#[derive(Clone, Debug)]
struct CallCounter(Arc<Metrics>);

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
            self.0.aws_call(m.service(), m.name());
        }
        Ok(())
    }
}

/// Credentials of an assumed role, fetched with an explicit STS AssumeRole (with the external id the role's
/// trust policy requires) and shared by every client built for that identity.
#[derive(Clone)]
struct AssumedRole {
    inner: Arc<AssumedRoleInner>,
}

struct AssumedRoleInner {
    sts: aws_sdk_sts::Client,
    role_arn: String,
    external_id: Option<String>,
    cached: Mutex<Option<Credentials>>,
}

// Hand-written: the external id and the credentials stay out of `{:?}`.
impl std::fmt::Debug for AssumedRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AssumedRole({})", self.inner.role_arn)
    }
}

impl AssumedRole {
    /// Refresh this long before expiry, so that no request starts with credentials about to lapse.
    const REFRESH_MARGIN: Duration = Duration::from_secs(300);
    const SESSION_NAME: &'static str = "zeroetl-operator";

    fn new(sts: aws_sdk_sts::Client, role_arn: String, external_id: Option<String>) -> AssumedRole {
        AssumedRole {
            inner: Arc::new(AssumedRoleInner {
                sts,
                role_arn,
                external_id,
                cached: Mutex::new(None),
            }),
        }
    }

    /// Cached credentials, or new ones from STS when there are none or they are about to expire.
    async fn credentials(&self) -> Result<Credentials> {
        let mut cached = self.inner.cached.lock().await;
        if let Some(c) = cached.as_ref() {
            let fresh_until = c.expiry().and_then(|e| e.checked_sub(Self::REFRESH_MARGIN));
            if fresh_until.is_some_and(|t| t > std::time::SystemTime::now()) {
                return Ok(c.clone());
            }
        }
        let out = self
            .inner
            .sts
            .assume_role()
            .role_arn(&self.inner.role_arn)
            .role_session_name(Self::SESSION_NAME)
            .set_external_id(self.inner.external_id.clone())
            .send()
            .await
            .map_err(|e| crate::error::aws("sts", "AssumeRole", e))?;
        let c = out.credentials().ok_or_else(|| crate::error::Error::Aws {
            service: "sts",
            action: "AssumeRole",
            code: "IncompleteResponse".into(),
            message: "AssumeRole returned no credentials".into(),
            category: crate::error::Category::Retryable,
        })?;
        let expiry = std::time::SystemTime::try_from(*c.expiration()).ok();
        let creds = Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            expiry,
            "zeroetl-assume-role",
        );
        *cached = Some(creds.clone());
        Ok(creds)
    }
}

impl ProvideCredentials for AssumedRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            self.credentials()
                .await
                .map_err(CredentialsError::provider_error)
        })
    }
}
