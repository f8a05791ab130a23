//! CustomResourceDefinitions: created or replaced through the kube client, then awaited until Established.
//! Not server-side apply: a 1.20 server cannot build a typed patch from CRDs carrying
//! x-kubernetes-validations ("field not declared in schema"), while a plain create/update drops those rules
//! (the operator enforces them itself). kubectl's client-side validation refuses such CRDs too.

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, PostParams};
use kube::Client;

use crate::paths::workspace_root;

/// How long a CRD may take to become Established.
pub const ESTABLISHED_TIMEOUT: Duration = Duration::from_secs(60);

/// The project's committed CRD files: `config/crd/*.yaml`, sorted.
pub fn project_crd_files() -> Result<Vec<PathBuf>> {
    let dir = workspace_root().join("config").join("crd");
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .with_context(|| format!("read {}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.extension()
                .is_some_and(|ext| ext == "yaml" || ext == "yml")
        })
        .collect();
    files.sort();
    if files.is_empty() {
        bail!(
            "no CRD files in {} (regenerate them with `cargo xtask crd`)",
            dir.display()
        );
    }
    Ok(files)
}

/// Parses CRDs from a (multi-document) YAML text.
pub fn parse_crds(text: &str) -> Result<Vec<CustomResourceDefinition>> {
    let mut crds = Vec::new();
    for document in serde_yaml::Deserializer::from_str(text) {
        let value = <serde_yaml::Value as serde::Deserialize>::deserialize(document)?;
        if value.is_null() {
            continue;
        }
        crds.push(serde_yaml::from_value(value).context("not a CustomResourceDefinition")?);
    }
    Ok(crds)
}

/// Applies every CRD in `files` and waits until each is Established. Returns their names.
pub async fn install_crd_files(client: &Client, files: &[PathBuf]) -> Result<Vec<String>> {
    let mut crds = Vec::new();
    for file in files {
        let text = fs::read_to_string(file).with_context(|| format!("read {}", file.display()))?;
        crds.extend(parse_crds(&text).with_context(|| format!("parse {}", file.display()))?);
    }
    install_crds(client, &crds).await
}

/// Applies `crds` and waits until each is Established. Returns their names.
pub async fn install_crds(
    client: &Client,
    crds: &[CustomResourceDefinition],
) -> Result<Vec<String>> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    let mut names = Vec::new();
    for crd in crds {
        let name = crd
            .metadata
            .name
            .clone()
            .context("a CRD has no metadata.name")?;
        create_or_replace(&api, &name, crd).await?;
        names.push(name);
    }
    let deadline = Instant::now() + ESTABLISHED_TIMEOUT;
    for name in &names {
        loop {
            let crd = api
                .get(name)
                .await
                .with_context(|| format!("read CRD {name}"))?;
            if is_established(&crd) {
                break;
            }
            if Instant::now() >= deadline {
                bail!(
                    "CRD {name} not Established after {ESTABLISHED_TIMEOUT:?}; conditions: {:?}",
                    crd.status.and_then(|s| s.conditions)
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    Ok(names)
}

/// Tests install CRDs concurrently: a create or replace that loses a race (409) is retried on the
/// fresh object.
async fn create_or_replace(
    api: &Api<CustomResourceDefinition>,
    name: &str,
    crd: &CustomResourceDefinition,
) -> Result<()> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let result = match api.get_opt(name).await? {
            None => api.create(&PostParams::default(), crd).await.map(drop),
            Some(existing) => {
                let mut replacement = crd.clone();
                replacement.metadata.resource_version = existing.metadata.resource_version;
                api.replace(name, &PostParams::default(), &replacement)
                    .await
                    .map(drop)
            }
        };
        match result {
            Ok(()) => return Ok(()),
            Err(kube::Error::Api(status)) if status.code == 409 && attempts < 10 => continue,
            Err(err) => return Err(err).with_context(|| format!("install CRD {name}")),
        }
    }
}

/// Whether the API server reports the CRD as Established (serving its resources).
pub fn is_established(crd: &CustomResourceDefinition) -> bool {
    crd.status
        .as_ref()
        .and_then(|status| status.conditions.as_ref())
        .is_some_and(|conditions| {
            conditions
                .iter()
                .any(|c| c.type_ == "Established" && c.status == "True")
        })
}
