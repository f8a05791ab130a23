//! AWS edited by hand, as a person with the console or the CLI would: real SDK clients against aws-sim,
//! acting as the sample estate's platform account (the same account the operator uses).

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::Credentials;
use aws_sim::SimHandle;

/// The sample estate's platform-account key.
const ACCESS_KEY_ID: &str = "AKIAZEROETLOPERATOR1";
const SECRET_ACCESS_KEY: &str = "operator-demo-secret";

async fn config(sim: &SimHandle) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(sim.endpoint())
        .credentials_provider(Credentials::new(
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            None,
            None,
            "by-hand",
        ))
        .load()
        .await
}

pub async fn rds(sim: &SimHandle) -> aws_sdk_rds::Client {
    aws_sdk_rds::Client::new(&config(sim).await)
}

pub async fn redshift(sim: &SimHandle) -> aws_sdk_redshift::Client {
    aws_sdk_redshift::Client::new(&config(sim).await)
}
