//! The benchmark's fleet: an AWS estate for aws-sim where every zero-ETL prerequisite already holds, and the
//! Kubernetes objects that declare integrations (and connections) over it. Pure: no I/O.

use serde_json::{json, Value};

use zeroetl_e2e::operator::{ESTATE_ACCESS_KEY_ID, ESTATE_REGION, ESTATE_SECRET_ACCESS_KEY};

/// The account that owns sources and targets; the operator runs with its access key.
pub const ACCOUNT: &str = "111111111111";
/// The one cluster parameter group every source uses, already zero-ETL ready.
pub const PARAMETER_GROUP: &str = "bench-zeroetl";
/// Kubernetes namespace the fleet lives in (the operator watches only it).
pub const NAMESPACE: &str = "zeroetl-bench";

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct FleetShape {
    pub integrations: usize,
    /// RedshiftConnections, one per target workgroup; 0 means one target named by ARN.
    pub connections: usize,
}

impl FleetShape {
    /// Target warehouses (serverless namespace + workgroup pairs).
    pub fn targets(&self) -> usize {
        self.connections.max(1)
    }
}

pub fn source_id(index: usize) -> String {
    format!("bench-src-{index:05}")
}

pub fn integration_name(index: usize) -> String {
    format!("bench-{index:05}")
}

pub fn connection_name(target: usize) -> String {
    format!("bench-conn-{target:03}")
}

fn namespace_name(target: usize) -> String {
    format!("bench-ns-{target:03}")
}

fn workgroup_name(target: usize) -> String {
    format!("bench-wg-{target:03}")
}

/// Fixed ids keep ARNs stable across runs, so manifests can name them.
fn namespace_id(target: usize) -> String {
    format!("b0000000-0000-4000-8000-{target:012x}")
}

pub fn namespace_arn(target: usize) -> String {
    format!(
        "arn:aws:redshift-serverless:{ESTATE_REGION}:{ACCOUNT}:namespace/{}",
        namespace_id(target)
    )
}

/// Which target integration `index` goes to: round robin.
pub fn target_of(shape: &FleetShape, index: usize) -> usize {
    index % shape.targets()
}

/// Authorizes every bench source at once (a wildcard on the source ARN) plus the account's own
/// CreateInboundIntegration, so the operator has no policy to merge.
fn resource_policy(target: usize) -> Value {
    let arn = namespace_arn(target);
    json!({
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "BenchAuthorizeSources",
                "Effect": "Allow",
                "Principal": {"Service": "redshift.amazonaws.com"},
                "Action": "redshift:AuthorizeInboundIntegration",
                "Resource": arn,
                "Condition": {"ArnLike": {
                    "aws:SourceArn": format!("arn:aws:rds:{ESTATE_REGION}:{ACCOUNT}:cluster:bench-src-*")
                }}
            },
            {
                "Sid": "BenchCreateInbound",
                "Effect": "Allow",
                "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")},
                "Action": "redshift:CreateInboundIntegration",
                "Resource": arn
            }
        ]
    })
}

/// The aws-sim seed: N Aurora MySQL clusters (each with a writer) on one ready parameter group, and the
/// targets with case sensitivity on and a policy that already authorizes the sources.
pub fn aws_estate(shape: &FleetShape) -> Value {
    let clusters: Vec<Value> = (0..shape.integrations)
        .map(|i| {
            json!({
                "id": source_id(i),
                "engine": "aurora-mysql",
                "engineVersion": "8.0.mysql_aurora.3.05.2",
                "parameterGroup": PARAMETER_GROUP,
                "backupRetentionPeriod": 7
            })
        })
        .collect();
    let writers: Vec<Value> = (0..shape.integrations)
        .map(|i| {
            json!({
                "id": format!("{}-1", source_id(i)),
                "cluster": source_id(i),
                "instanceClass": "db.r6g.large"
            })
        })
        .collect();
    let targets = 0..shape.targets();
    let namespaces: Vec<Value> = targets
        .clone()
        .map(|t| json!({"name": namespace_name(t), "id": namespace_id(t), "dbName": "dev"}))
        .collect();
    let workgroups: Vec<Value> = targets
        .clone()
        .map(|t| {
            json!({
                "name": workgroup_name(t),
                "namespace": namespace_name(t),
                "port": 5439,
                "configParameters": {"enable_case_sensitive_identifier": "true"}
            })
        })
        .collect();
    let policies: serde_json::Map<String, Value> = targets
        .map(|t| (namespace_name(t), resource_policy(t)))
        .collect();
    json!({
        "accounts": [{
            "id": ACCOUNT,
            "name": "bench",
            "accessKeys": [{
                "accessKeyId": ESTATE_ACCESS_KEY_ID,
                "secretAccessKey": ESTATE_SECRET_ACCESS_KEY,
                "userName": "zeroetl-operator"
            }],
            // The default quota (100 per account and region) would stop the fleet.
            "integrationQuota": shape.integrations + 100,
            "regions": {ESTATE_REGION: {
                "dbClusterParameterGroups": [{
                    "name": PARAMETER_GROUP,
                    "family": "aurora-mysql8.0",
                    "description": "Zero-ETL ready parameters for the benchmark sources",
                    "parameters": {
                        "aurora_enhanced_binlog": "1",
                        "binlog_backup": "0",
                        "binlog_format": "ROW",
                        "binlog_replication_globaldb": "0",
                        "binlog_row_image": "full",
                        "binlog_row_metadata": "full"
                    }
                }],
                "dbClusters": clusters,
                "dbInstances": writers,
                "serverlessNamespaces": namespaces,
                "workgroups": workgroups,
                "resourcePolicies": policies
            }}
        }]
    })
}

pub fn connection_manifest(target: usize) -> Value {
    json!({
        "apiVersion": "zeroetl.dev/v1alpha1",
        "kind": "RedshiftConnection",
        "metadata": {"name": connection_name(target), "namespace": NAMESPACE},
        "spec": {
            "region": ESTATE_REGION,
            "serverless": {"workgroupName": workgroup_name(target)},
            "database": "dev"
        }
    })
}

pub fn integration_manifest(shape: &FleetShape, index: usize) -> Value {
    let target = target_of(shape, index);
    let target_spec = if shape.connections > 0 {
        json!({"connectionRef": {"name": connection_name(target)}})
    } else {
        json!({"namespaceArn": namespace_arn(target)})
    };
    json!({
        "apiVersion": "zeroetl.dev/v1alpha1",
        "kind": "ZeroEtlIntegration",
        "metadata": {"name": integration_name(index), "namespace": NAMESPACE},
        "spec": {
            "source": {"dbClusterIdentifier": source_id(index)},
            "target": target_spec
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn estate_has_one_source_per_integration_and_one_target_per_connection() {
        let shape = FleetShape {
            integrations: 7,
            connections: 3,
        };
        let estate = aws_estate(&shape);
        let region = &estate["accounts"][0]["regions"][ESTATE_REGION];
        assert_eq!(region["dbClusters"].as_array().unwrap().len(), 7);
        assert_eq!(region["dbInstances"].as_array().unwrap().len(), 7);
        assert_eq!(region["workgroups"].as_array().unwrap().len(), 3);
        assert_eq!(region["resourcePolicies"].as_object().unwrap().len(), 3);
        assert_eq!(estate["accounts"][0]["integrationQuota"], 107);
    }

    #[test]
    fn estate_parses_as_an_aws_sim_seed() {
        let shape = FleetShape {
            integrations: 2,
            connections: 0,
        };
        let yaml = serde_yaml::to_string(&aws_estate(&shape)).unwrap();
        let estate = aws_sim::Estate::from_yaml_str(&yaml).unwrap();
        let region = &estate.accounts[0].regions[ESTATE_REGION];
        assert_eq!(region.db_clusters[1].id, "bench-src-00001");
        assert_eq!(
            region.db_instances[1].cluster.as_deref(),
            Some("bench-src-00001")
        );
        assert_eq!(region.db_cluster_parameter_groups[0].name, PARAMETER_GROUP);
    }

    #[test]
    fn integrations_spread_over_connections_or_name_the_one_target() {
        let spread = FleetShape {
            integrations: 4,
            connections: 2,
        };
        assert_eq!(
            integration_manifest(&spread, 3)["spec"]["target"]["connectionRef"]["name"],
            "bench-conn-001"
        );
        let single = FleetShape {
            integrations: 4,
            connections: 0,
        };
        assert_eq!(
            integration_manifest(&single, 3)["spec"]["target"]["namespaceArn"],
            namespace_arn(0)
        );
    }

    #[test]
    fn the_policy_authorizes_every_bench_source_and_the_account_as_aws_sim_evaluates_it() {
        use aws_sim::policy::{allows, Principal};
        let policy = resource_policy(0);
        let target = namespace_arn(0);
        let redshift = Principal::Service("redshift.amazonaws.com");
        let from = |source: &str| {
            let arn = format!("arn:aws:rds:{ESTATE_REGION}:{ACCOUNT}:cluster:{source}");
            let context = [("aws:SourceArn", arn.as_str())].into();
            allows(
                &policy,
                &redshift,
                "redshift:AuthorizeInboundIntegration",
                Some(&target),
                &context,
            )
        };
        assert!(from(&source_id(0)));
        assert!(from(&source_id(4999)));
        assert!(!from("orders-aurora"));
        let operator = Principal::Aws {
            arn: "arn:aws:iam::111111111111:user/zeroetl-operator",
            account: ACCOUNT,
            role_arn: None,
        };
        assert!(allows(
            &policy,
            &operator,
            "redshift:CreateInboundIntegration",
            Some(&target),
            &Default::default()
        ));
    }
}
