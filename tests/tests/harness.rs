//! Self-tests of the harness: the control plane serves CRDs and garbage-collects, and stops without
//! leaving a process behind.

use std::time::Duration;

use anyhow::Result;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, ListParams};
use zeroetl_e2e::control_plane::{ControlPlane, ControlPlaneOptions, DEFAULT_READY_TIMEOUT};
use zeroetl_e2e::crds::install_crd_files;
use zeroetl_e2e::manifests::{apply, parse_manifests, rejection, resource};
use zeroetl_e2e::paths::{workspace_root, KubeBinaries};
use zeroetl_e2e::process::{is_running, processes_with_env, Lifetime, OWNER_ENV};
use zeroetl_e2e::shared::{run_dir, shared_cluster};
use zeroetl_e2e::test_env::TestEnv;
use zeroetl_e2e::wait::wait_for;

async fn install_widget_crd(client: &kube::Client) -> Result<()> {
    let files = [workspace_root().join("tests/fixtures/widget-crd.yaml")];
    let names = install_crd_files(client, &files).await?;
    assert_eq!(names, ["widgets.harness.zeroetl.dev"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn control_plane_installs_and_lists_crds() -> Result<()> {
    let cluster = shared_cluster().await?;
    let client = cluster.client().await?;
    install_widget_crd(&client).await?;

    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let names: Vec<String> = crds
        .list(&ListParams::default())
        .await?
        .items
        .into_iter()
        .filter_map(|crd| crd.metadata.name)
        .collect();
    assert!(
        names.iter().any(|n| n == "widgets.harness.zeroetl.dev"),
        "CRDs listed: {names:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn schema_rejections_carry_the_field_path() -> Result<()> {
    let env = TestEnv::bare("harness-schema").await?;
    install_widget_crd(&env.client).await?;
    let bad = parse_manifests(
        "apiVersion: harness.zeroetl.dev/v1\nkind: Widget\nmetadata: {name: tiny}\nspec: {size: 0}\n",
    )?;
    let error = apply(&env.client, &bad[0], Some(&env.namespace))
        .await
        .expect_err("size 0 is below the schema minimum");
    let text = rejection(&error).unwrap_or_else(|| panic!("not an API rejection: {error:#}"));
    assert!(
        text.contains("spec.size"),
        "rejection without the field path: {text}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_collector_deletes_dependents() -> Result<()> {
    let env = TestEnv::bare("harness-gc").await?;
    install_widget_crd(&env.client).await?;
    let owner = apply(
        &env.client,
        &parse_manifests("apiVersion: harness.zeroetl.dev/v1\nkind: Widget\nmetadata: {name: owner}\nspec: {size: 1}\n")?[0],
        Some(&env.namespace),
    )
    .await?;
    let uid = owner
        .metadata
        .uid
        .clone()
        .expect("stored objects have a uid");
    let dependent = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dependent\n  ownerReferences:\n  - {{apiVersion: harness.zeroetl.dev/v1, kind: Widget, name: owner, uid: {uid}}}\ndata: {{k: v}}\n"
    );
    apply(
        &env.client,
        &parse_manifests(&dependent)?[0],
        Some(&env.namespace),
    )
    .await?;

    let widgets: Api<DynamicObject> = Api::namespaced_with(
        env.client.clone(),
        &env.namespace,
        &resource("harness.zeroetl.dev", "v1", "Widget", "widgets"),
    );
    widgets.delete("owner", &Default::default()).await?;
    let config_maps: Api<ConfigMap> = Api::namespaced(env.client.clone(), &env.namespace);
    // The garbage collector resyncs its view of CRD kinds every 30 s; allow for that.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while config_maps.get_opt("dependent").await?.is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "kube-controller-manager did not garbage-collect the dependent ConfigMap"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // The owner is gone too (no finalizer on it).
    let gone = wait_for(
        &widgets,
        "owner",
        "deletion",
        Duration::from_secs(10),
        |_| false,
    )
    .await;
    assert!(gone.is_err_and(|e| e.to_string().contains("not found")));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_control_plane_leaves_no_process() -> Result<()> {
    let dir = run_dir().join("stop-check");
    let mut plane = ControlPlane::start(
        &KubeBinaries::locate()?,
        ControlPlaneOptions {
            dir: dir.clone(),
            lifetime: Lifetime::Attached,
            remove_dir_on_stop: true,
            ready_timeout: DEFAULT_READY_TIMEOUT,
        },
    )
    .await?;
    let owner = zeroetl_e2e::control_plane::owner_marker(plane.dir());
    let running = processes_with_env(OWNER_ENV, &owner);
    assert!(
        running.len() >= 2,
        "expected etcd and kube-apiserver running, found {running:?}"
    );
    plane.stop()?;
    assert!(processes_with_env(OWNER_ENV, &owner).is_empty());
    assert!(!dir.exists(), "the control plane's folder was not removed");
    Ok(())
}

#[test]
fn attached_children_die_with_a_killed_owner() -> Result<()> {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    let mut owner = Command::new(env!("CARGO_BIN_EXE_spawn-attached-child"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(owner.stdout.take().expect("piped")).read_line(&mut line)?;
    let child: u32 = line.trim().parse()?;
    assert!(
        is_running(child),
        "the attached child {child} is not running"
    );

    owner.kill()?; // SIGKILL: no destructor, no exit hook runs.
    owner.wait()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while is_running(child) {
        assert!(
            std::time::Instant::now() < deadline,
            "child {child} outlived its killed owner"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}
