//! What one e2e test works in: the shared cluster with the project CRDs installed, its own namespace and
//! its own scratch folder.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use anyhow::{Context, Result};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use kube::Client;
use tokio::sync::OnceCell;

use crate::crds::{install_crd_files, project_crd_files};
use crate::manifests::resource;
use crate::operator::{Operator, OperatorOptions};
use crate::paths::operator_binary;
use crate::shared::{run_dir, shared_cluster};

/// The API group and version of the project's kinds.
pub const GROUP: &str = "zeroetl.dev";
pub const VERSION: &str = "v1alpha1";

pub fn integration_resource() -> ApiResource {
    resource(GROUP, VERSION, "ZeroEtlIntegration", "zeroetlintegrations")
}

pub fn connection_resource() -> ApiResource {
    resource(GROUP, VERSION, "RedshiftConnection", "redshiftconnections")
}

pub fn consumer_resource() -> ApiResource {
    resource(GROUP, VERSION, "RedshiftConsumer", "redshiftconsumers")
}

/// The API resource of one of the project's kinds, by kind name.
pub fn project_resource(kind: &str) -> Option<ApiResource> {
    match kind {
        "ZeroEtlIntegration" => Some(integration_resource()),
        "RedshiftConnection" => Some(connection_resource()),
        "RedshiftConsumer" => Some(consumer_resource()),
        _ => None,
    }
}

/// Installs config/crd/*.yaml once per test binary.
pub async fn ensure_project_crds(client: &Client) -> Result<()> {
    static INSTALLED: OnceCell<()> = OnceCell::const_new();
    INSTALLED
        .get_or_try_init(|| async {
            install_crd_files(client, &project_crd_files()?).await?;
            Ok::<(), anyhow::Error>(())
        })
        .await?;
    Ok(())
}

pub struct TestEnv {
    pub client: Client,
    pub namespace: String,
    kubeconfig: PathBuf,
    dir: PathBuf,
}

impl TestEnv {
    /// The shared cluster with the project CRDs and a new namespace `<prefix>-<pid>-<n>`.
    pub async fn new(prefix: &str) -> Result<Self> {
        let env = Self::bare(prefix).await?;
        ensure_project_crds(&env.client).await?;
        Ok(env)
    }

    /// The shared cluster and a new namespace, without the project CRDs.
    pub async fn bare(prefix: &str) -> Result<Self> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let cluster = shared_cluster().await?;
        let client = cluster.client().await?;
        let namespace = format!(
            "{prefix}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let object: Namespace = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": namespace, "labels": {"zeroetl.dev/e2e": "true"}},
        }))?;
        namespaces
            .create(&PostParams::default(), &object)
            .await
            .with_context(|| format!("create namespace {namespace}"))?;
        let dir = run_dir().join(&namespace);
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            client,
            namespace,
            kubeconfig: cluster.kubeconfig().to_path_buf(),
            dir,
        })
    }

    pub fn kubeconfig(&self) -> &Path {
        &self.kubeconfig
    }

    /// This test's scratch folder (logs).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// ZeroEtlIntegrations in this test's namespace.
    pub fn integrations(&self) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            &self.namespace,
            &integration_resource(),
        )
    }

    /// RedshiftConnections in this test's namespace.
    pub fn connections(&self) -> Api<DynamicObject> {
        Api::namespaced_with(self.client.clone(), &self.namespace, &connection_resource())
    }

    /// Options for an operator watching only this namespace, pointed at `aws_endpoint`.
    pub fn operator_options(&self, aws_endpoint: Option<&str>) -> Result<OperatorOptions> {
        let mut options = OperatorOptions::new(
            operator_binary()?,
            self.kubeconfig.clone(),
            self.dir.join("operator.log"),
        );
        options.namespaces = vec![self.namespace.clone()];
        options.aws_endpoint = aws_endpoint.map(str::to_owned);
        options.owner = format!("operator:{}", self.namespace);
        Ok(options)
    }

    /// Starts an operator for this namespace.
    pub fn start_operator(&self, aws_endpoint: Option<&str>) -> Result<Operator> {
        Operator::start(&self.operator_options(aws_endpoint)?)
    }
}
