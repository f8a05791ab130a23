//! What IAM evaluates for a call: the action in IAM's spelling (the API name, except S3's: HeadBucket and
//! ListObjectsV2 are `s3:ListBucket`, HeadObject is `s3:GetObject`) and the resource ARN it targets, the
//! real one where the request names it (`*` for list actions and where AWS documents no resource type).

use crate::identity::Caller;
use crate::model::World;
use crate::server::ApiRequest;

/// (IAM action, resource ARN), or `None` for calls IAM never denies (sts:GetCallerIdentity).
pub fn authorization_target(
    world: &World,
    caller: &Caller,
    region: &str,
    req: &ApiRequest,
) -> Option<(String, String)> {
    let acct = &caller.account;
    let p = &req.params;
    let service = req.service.as_str();
    let action = req.action.as_str();
    let arn_or_id = |kind: &str, value: Option<&str>, prefix: String| {
        value.map(|v| {
            if v.starts_with("arn:") {
                v.to_string()
            } else {
                format!("{prefix}{kind}{v}")
            }
        })
    };
    let rds = |kind: &str, key: &str| {
        arn_or_id(
            &format!("{kind}:"),
            p.get(key),
            format!("arn:aws:rds:{region}:{acct}:"),
        )
    };
    let redshift = |kind: &str, value: Option<&str>| {
        arn_or_id(
            &format!("{kind}:"),
            value,
            format!("arn:aws:redshift:{region}:{acct}:"),
        )
    };
    let workgroup = |name: Option<&str>| {
        name.map(|w| {
            world
                .region(acct, region)
                .and_then(|r| r.workgroups.get(w))
                .map(|w| w.arn.clone())
                .unwrap_or_else(|| {
                    format!("arn:aws:redshift-serverless:{region}:{acct}:workgroup/{w}")
                })
        })
    };
    let resource: Option<String> = match (service, action) {
        ("sts", "GetCallerIdentity") => return None,
        ("rds", "DescribeDBClusters" | "ModifyDBCluster" | "RebootDBCluster") => {
            rds("cluster", "DBClusterIdentifier")
        }
        ("rds", "DescribeDBInstances" | "ModifyDBInstance" | "RebootDBInstance") => {
            rds("db", "DBInstanceIdentifier")
        }
        (
            "rds",
            "DescribeDBParameterGroups"
            | "DescribeDBParameters"
            | "CreateDBParameterGroup"
            | "ModifyDBParameterGroup",
        ) => rds("pg", "DBParameterGroupName"),
        (
            "rds",
            "DescribeDBClusterParameterGroups"
            | "DescribeDBClusterParameters"
            | "CreateDBClusterParameterGroup"
            | "ModifyDBClusterParameterGroup",
        ) => rds("cluster-pg", "DBClusterParameterGroupName"),
        // Real IAM also checks the new integration's ARN; aws-sim checks the source only.
        ("rds", "CreateIntegration") => p.get("SourceArn").map(str::to_string),
        ("rds", "DescribeIntegrations" | "ModifyIntegration" | "DeleteIntegration") => {
            p.get("IntegrationIdentifier").map(|k| {
                world
                    .find_integration(acct, region, k)
                    .map(|i| i.integration_arn.clone())
                    .unwrap_or_else(|| format!("arn:aws:rds:{region}:{acct}:integration:{k}"))
            })
        }
        ("rds", "AddTagsToResource" | "RemoveTagsFromResource" | "ListTagsForResource") => {
            p.get("ResourceName").map(str::to_string)
        }
        ("redshift", "DescribeClusters" | "ModifyCluster" | "RebootCluster") => {
            redshift("cluster", p.get("ClusterIdentifier"))
        }
        // The real resource of GetClusterCredentials is the database user.
        ("redshift", "GetClusterCredentials") => {
            match (p.get("ClusterIdentifier"), p.get("DbUser")) {
                (Some(c), Some(u)) => {
                    Some(format!("arn:aws:redshift:{region}:{acct}:dbuser:{c}/{u}"))
                }
                _ => None,
            }
        }
        (
            "redshift",
            "DescribeClusterParameterGroups"
            | "CreateClusterParameterGroup"
            | "ModifyClusterParameterGroup"
            | "DescribeClusterParameters",
        ) => redshift("parametergroup", p.get("ParameterGroupName")),
        ("redshift", "PutResourcePolicy" | "GetResourcePolicy" | "DeleteResourcePolicy") => {
            p.get("ResourceArn").map(str::to_string)
        }
        ("redshift", "DescribeInboundIntegrations") => p.get("IntegrationArn").map(str::to_string),
        ("redshift-serverless", "GetWorkgroup" | "UpdateWorkgroup" | "GetCredentials") => {
            workgroup(req.str("workgroupName"))
        }
        ("redshift-serverless", "GetNamespace") => req.str("namespaceName").map(|n| {
            world
                .region(acct, region)
                .and_then(|r| r.serverless_namespaces.get(n))
                .map(|n| n.arn.clone())
                .unwrap_or_else(|| {
                    format!("arn:aws:redshift-serverless:{region}:{acct}:namespace/{n}")
                })
        }),
        ("redshift-data", "ExecuteStatement" | "BatchExecuteStatement") => {
            workgroup(req.str("WorkgroupName"))
                .or_else(|| redshift("cluster", req.str("ClusterIdentifier")))
        }
        ("sts", "AssumeRole") => p.get("RoleArn").map(str::to_string),
        ("iam", _) => p.get("RoleName").map(|name| {
            world
                .accounts
                .get(acct)
                .and_then(|a| a.roles.get(name))
                .map(|r| r.arn.clone())
                .unwrap_or_else(|| {
                    format!(
                        "arn:aws:iam::{acct}:role{}{name}",
                        p.get("Path").unwrap_or("/")
                    )
                })
        }),
        ("kms", "Decrypt") => req
            .str("CiphertextBlob")
            .and_then(super::kms::ciphertext_key_arn)
            .or_else(|| kms_key(world, caller, region, req.str("KeyId"))),
        ("kms", _) => kms_key(world, caller, region, req.str("KeyId")),
        ("s3", _) => {
            let (bucket, key) = super::s3::bucket_and_key(&req.path);
            match key {
                Some(k) => Some(format!("arn:aws:s3:::{bucket}/{k}")),
                None => Some(format!("arn:aws:s3:::{bucket}")),
            }
        }
        _ => None,
    };
    let iam_action = match (service, action) {
        ("s3", "HeadBucket" | "ListObjectsV2") => "s3:ListBucket".to_string(),
        ("s3", "HeadObject") => "s3:GetObject".to_string(),
        _ => format!("{service}:{action}"),
    };
    Some((iam_action, resource.unwrap_or_else(|| "*".to_string())))
}

/// The key ARN for a key id, key ARN, alias name or alias ARN (aliases resolve to their key).
fn kms_key(world: &World, caller: &Caller, region: &str, key: Option<&str>) -> Option<String> {
    let key = key?;
    Some(
        super::kms::find_key(world, &caller.account, region, key)
            .map(|k| k.arn.clone())
            .unwrap_or_else(|| {
                if key.starts_with("arn:") {
                    key.to_string()
                } else if key.starts_with("alias/") {
                    format!("arn:aws:kms:{region}:{}:{key}", caller.account)
                } else {
                    format!("arn:aws:kms:{region}:{}:key/{key}", caller.account)
                }
            }),
    )
}
