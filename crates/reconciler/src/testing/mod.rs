//! What the reconciler's tests share: aws-sim seeded with the sample estate, the operator's identity in it,
//! and (for the middle test layer) a Context over an in-memory API server.

pub mod fake_api;

use std::sync::{Arc, Once};
use std::time::Duration;

use aws_sim::{Estate, SimConfig, SimHandle, Timings};
use prometheus_client::registry::Registry;

use crate::aws::{AwsClients, AwsSettings, Clients, Identity};
use crate::k8s::Events;
use crate::metrics::Metrics;
use crate::{Config, Context};
use fake_api::FakeApi;

pub const REGION: &str = "us-east-1";
/// The sample estate's platform-account key: the operator's own identity in these tests.
pub const OPERATOR_KEY_ID: &str = "AKIAZEROETLOPERATOR1";
const OPERATOR_SECRET: &str = "operator-demo-secret";

/// The estate behind config/samples.
pub fn sample_estate() -> Estate {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../config/samples/aws-estate.yaml"
    );
    Estate::from_yaml_file(path).expect("the sample estate parses")
}

/// aws-sim with `estate`, every AWS transition taking 50 ms.
pub async fn sim_with(estate: Estate) -> SimHandle {
    aws_sim::spawn(SimConfig {
        port: 0,
        seed: Some(estate),
        timings: Timings::all(Duration::from_millis(50)),
    })
    .await
    .expect("aws-sim starts")
}

pub async fn sample_sim() -> SimHandle {
    sim_with(sample_estate()).await
}

pub fn operator_key() -> Identity {
    Identity::AccessKey {
        access_key_id: OPERATOR_KEY_ID.into(),
        secret_access_key: OPERATOR_SECRET.into(),
    }
}

/// The operator's default identity (used where the code asks for `Identity::Default`) comes from the
/// environment, as in a pod. Every test sets the same values.
pub fn operator_environment() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::env::set_var("AWS_ACCESS_KEY_ID", OPERATOR_KEY_ID);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", OPERATOR_SECRET);
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    });
}

/// A client factory aimed at `sim`.
pub fn aws_clients(sim: &SimHandle) -> AwsClients {
    operator_environment();
    AwsClients::new(
        AwsSettings {
            endpoint_url: Some(sim.endpoint()),
        },
        Arc::new(Metrics::new(&mut Registry::default())),
    )
}

/// The operator's clients in the sample region.
pub async fn operator_clients(sim: &SimHandle) -> Arc<Clients> {
    aws_clients(sim)
        .clients(REGION, &operator_key())
        .await
        .expect("clients")
}

/// A Context as the controller builds it, over `api` and `sim`.
pub fn context(api: &FakeApi, sim: &SimHandle) -> Arc<Context> {
    operator_environment();
    let client = api.client();
    let metrics = Arc::new(Metrics::new(&mut Registry::default()));
    Arc::new(Context {
        client: client.clone(),
        aws: AwsClients::new(
            AwsSettings {
                endpoint_url: Some(sim.endpoint()),
            },
            metrics.clone(),
        ),
        config: Config::default(),
        metrics,
        events: Events::new(client, "zeroetl-operator"),
        backoff: Default::default(),
        leadership: Default::default(),
        shared: Default::default(),
        stores: Default::default(),
        rechecks: Default::default(),
        own_writes: Default::default(),
    })
}
