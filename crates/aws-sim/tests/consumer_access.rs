//! Consumer access through the real SDK clients: IAM roles with IAM's validation, identity policies
//! enforced for sessions of created roles and for access keys with a policy, S3 objects and KMS under
//! those policies.

mod common;

use aws_credential_types::Credentials;
use aws_sdk_iam::types::Tag;
use aws_sdk_s3::primitives::ByteStream;
use common::*;
use serde_json::json;

const ACCOUNT: &str = "111111111111";
const BUCKET: &str = "zeroetl-staging-use1";
const WORKGROUP_ARN_PREFIX: &str = "arn:aws:redshift-serverless:us-east-1:111111111111:workgroup/";

fn s3_client(cfg: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(cfg)
            .force_path_style(true)
            .build(),
    )
}

fn trust_operator_account() -> String {
    json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:root")}, "Action": "sts:AssumeRole"}]})
    .to_string()
}

async fn assume(
    sim: &aws_sim::SimHandle,
    by: &aws_config::SdkConfig,
    role_arn: &str,
) -> aws_config::SdkConfig {
    let out = aws_sdk_sts::Client::new(by)
        .assume_role()
        .role_arn(role_arn)
        .role_session_name("consumer-test")
        .send()
        .await
        .expect("assume");
    let c = out.credentials().expect("credentials");
    config_with_credentials(
        sim,
        Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            None,
            "sts",
        ),
        "us-east-1",
    )
    .await
}

#[tokio::test]
async fn roles_follow_iam_validation() {
    let sim = sim().await;
    let iam = aws_sdk_iam::Client::new(&config(&sim, OPERATOR_KEY).await);
    let create = |name: &str| {
        iam.create_role()
            .role_name(name)
            .assume_role_policy_document(trust_operator_account())
    };
    for bad in ["has space", "x/y", &"r".repeat(65), "ünicode"] {
        let err = create(bad).send().await.expect_err("bad name");
        assert_eq!(code(&err), "ValidationError", "{bad:?}");
    }
    for bad in ["noslash", "/a", "a/"] {
        let err = create("ok").path(bad).send().await.expect_err("bad path");
        assert_eq!(code(&err), "ValidationError", "{bad:?}");
    }
    for bad in [3599, 43201] {
        let err = create("ok")
            .max_session_duration(bad)
            .send()
            .await
            .expect_err("bad duration");
        assert_eq!(code(&err), "ValidationError", "{bad}");
    }
    let no_principal =
        r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sts:AssumeRole"}]}"#;
    let err = iam
        .create_role()
        .role_name("ok")
        .assume_role_policy_document(no_principal)
        .send()
        .await
        .expect_err("trust without principal");
    assert_eq!(code(&err), "MalformedPolicyDocument");

    let created = create("Consumer.Reader@team")
        .path("/consumers/")
        .description("reads the warehouse")
        .max_session_duration(7200)
        .tags(Tag::builder().key("team").value("bi").build().expect("tag"))
        .send()
        .await
        .expect("create");
    let role = created.role().expect("role");
    let arn = format!("arn:aws:iam::{ACCOUNT}:role/consumers/Consumer.Reader@team");
    assert_eq!(role.arn(), arn);
    assert!(role.role_id().starts_with("AROA"));
    let err = create("consumer.reader@TEAM")
        .send()
        .await
        .expect_err("names ignore case");
    assert_eq!(code(&err), "EntityAlreadyExists");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(409));

    let got = iam
        .get_role()
        .role_name("Consumer.Reader@team")
        .send()
        .await
        .expect("get");
    let got = got.role().expect("role");
    assert_eq!(got.max_session_duration(), Some(7200));
    assert_eq!(got.description(), Some("reads the warehouse"));
    assert_eq!(got.tags().len(), 1);
    assert_eq!(got.path(), "/consumers/");

    iam.update_role()
        .role_name("Consumer.Reader@team")
        .max_session_duration(43200)
        .description("reads more")
        .send()
        .await
        .expect("update");
    let err = iam
        .update_role()
        .role_name("Consumer.Reader@team")
        .max_session_duration(100)
        .send()
        .await
        .expect_err("too short");
    assert_eq!(code(&err), "ValidationError");
    let got = iam
        .get_role()
        .role_name("Consumer.Reader@team")
        .send()
        .await
        .expect("get");
    assert_eq!(
        got.role().and_then(|r| r.max_session_duration()),
        Some(43200)
    );
    assert_eq!(got.role().and_then(|r| r.description()), Some("reads more"));

    iam.tag_role()
        .role_name("Consumer.Reader@team")
        .tags(
            Tag::builder()
                .key("env")
                .value("prod")
                .build()
                .expect("tag"),
        )
        .send()
        .await
        .expect("tag");
    iam.untag_role()
        .role_name("Consumer.Reader@team")
        .tag_keys("team")
        .send()
        .await
        .expect("untag");
    let tags = iam
        .list_role_tags()
        .role_name("Consumer.Reader@team")
        .send()
        .await
        .expect("list tags");
    let pairs: Vec<(&str, &str)> = tags.tags().iter().map(|t| (t.key(), t.value())).collect();
    assert_eq!(pairs, vec![("env", "prod")]);

    let with_principal = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"s3:*","Resource":"*"}]}"#;
    for doc in [
        "not json",
        with_principal,
        r#"{"Statement":[{"Effect":"Allow","Action":"s3:*"}]}"#,
    ] {
        let err = iam
            .put_role_policy()
            .role_name("Consumer.Reader@team")
            .policy_name("p")
            .policy_document(doc)
            .send()
            .await
            .expect_err("malformed");
        assert_eq!(code(&err), "MalformedPolicyDocument", "{doc}");
    }
    let err = iam
        .get_role_policy()
        .role_name("Consumer.Reader@team")
        .policy_name("missing")
        .send()
        .await
        .expect_err("no policy");
    assert_eq!(code(&err), "NoSuchEntity");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(404));
    let err = iam
        .list_role_tags()
        .role_name("nobody")
        .send()
        .await
        .expect_err("no role");
    assert_eq!(code(&err), "NoSuchEntity");

    // The new maximum session duration is what AssumeRole allows.
    let sts = aws_sdk_sts::Client::new(&config(&sim, OPERATOR_KEY).await);
    sts.assume_role()
        .role_arn(&arn)
        .role_session_name("long")
        .duration_seconds(43200)
        .send()
        .await
        .expect("12 hours");
}

#[tokio::test]
async fn created_roles_are_enforced_for_every_service() {
    let sim = sim().await;
    let operator = config(&sim, OPERATOR_KEY).await;
    let iam = aws_sdk_iam::Client::new(&operator);
    let workgroup_arn = aws_sdk_redshiftserverless::Client::new(&operator)
        .get_workgroup()
        .workgroup_name("analytics-wg")
        .send()
        .await
        .expect("workgroup")
        .workgroup()
        .and_then(|w| w.workgroup_arn())
        .expect("arn")
        .to_string();
    assert!(workgroup_arn.starts_with(WORKGROUP_ARN_PREFIX));
    let key_arn = "arn:aws:kms:us-east-1:111111111111:key/0b7e5c1a-2d4f-4e6a-9b8c-7d6e5f4a3b21";
    let role_arn = iam
        .create_role()
        .role_name("warehouse-consumer")
        .assume_role_policy_document(trust_operator_account())
        .send()
        .await
        .expect("create")
        .role()
        .expect("role")
        .arn()
        .to_string();
    let policy = json!({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["redshift-data:ExecuteStatement"], "Resource": workgroup_arn},
        {"Effect": "Allow", "Action": ["redshift-data:DescribeStatement", "redshift-data:GetStatementResult"], "Resource": "*",
         "Condition": {"StringEquals": {"redshift-data:statement-owner-iam-userid": "${aws:userid}"}}},
        {"Effect": "Allow", "Action": "redshift-serverless:GetCredentials", "Resource": format!("{WORKGROUP_ARN_PREFIX}*")},
        {"Effect": "Allow", "Action": "S3:GetObject", "Resource": format!("arn:aws:s3:::{BUCKET}/unload/*")},
        {"Effect": "Deny", "Action": "s3:*", "Resource": format!("arn:aws:s3:::{BUCKET}/unload/secret/*")},
        {"Effect": "Allow", "Action": "s3:ListBucket", "Resource": format!("arn:aws:s3:::{BUCKET}"),
         "Condition": {"StringLike": {"s3:prefix": "unload/*"}}},
        {"Effect": "Allow", "Action": "kms:Decrypt", "Resource": key_arn}]});
    iam.put_role_policy()
        .role_name("warehouse-consumer")
        .policy_name("consume")
        .policy_document(policy.to_string())
        .send()
        .await
        .expect("policy");
    let consumer = assume(&sim, &operator, &role_arn).await;

    // Always allowed, and what is not allowed is denied with the real message shape.
    aws_sdk_sts::Client::new(&consumer)
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity needs no permission");
    let err = aws_sdk_rds::Client::new(&consumer)
        .describe_db_clusters()
        .db_cluster_identifier("orders-aurora")
        .send()
        .await
        .expect_err("not allowed");
    assert_eq!(code(&err), "AccessDenied");
    assert_eq!(
        message(&err),
        "User: arn:aws:sts::111111111111:assumed-role/warehouse-consumer/consumer-test is not authorized to perform: rds:DescribeDBClusters on resource: arn:aws:rds:us-east-1:111111111111:cluster:orders-aurora because no identity-based policy allows the rds:DescribeDBClusters action"
    );

    // Redshift: credentials and the Data API.
    let creds = aws_sdk_redshiftserverless::Client::new(&consumer)
        .get_credentials()
        .workgroup_name("analytics-wg")
        .send()
        .await
        .expect("credentials");
    assert_eq!(creds.db_user(), Some("IAMR:warehouse-consumer"));
    let data = aws_sdk_redshiftdata::Client::new(&consumer);
    let (rows, _) = query(&data, "analytics-wg", "dev", "SELECT 1").await;
    assert_eq!(rows.len(), 1);

    // S3: allowed prefix, explicit deny, no write, ListBucket only with the prefix.
    let s3_operator = s3_client(&operator);
    for key in ["unload/part-0000.csv", "unload/secret/keys.csv"] {
        s3_operator
            .put_object()
            .bucket(BUCKET)
            .key(key)
            .body(ByteStream::from_static(b"id,amount\n1,9.99\n"))
            .send()
            .await
            .expect("operator writes");
    }
    let s3 = s3_client(&consumer);
    let got = s3
        .get_object()
        .bucket(BUCKET)
        .key("unload/part-0000.csv")
        .send()
        .await
        .expect("allowed read");
    let body = got.body.collect().await.expect("body").into_bytes();
    assert_eq!(&body[..], b"id,amount\n1,9.99\n");
    let err = s3
        .get_object()
        .bucket(BUCKET)
        .key("unload/secret/keys.csv")
        .send()
        .await
        .expect_err("explicit deny");
    assert_eq!(code(&err), "AccessDenied");
    assert!(
        message(&err).contains("with an explicit deny in an identity-based policy"),
        "{}",
        message(&err)
    );
    let err = s3
        .put_object()
        .bucket(BUCKET)
        .key("unload/new.csv")
        .body(ByteStream::from_static(b"x"))
        .send()
        .await
        .expect_err("no write");
    assert_eq!(code(&err), "AccessDenied");
    let listed = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("unload/")
        .send()
        .await
        .expect("list under the prefix");
    assert_eq!(listed.key_count(), Some(2));
    let err = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .send()
        .await
        .expect_err("list without the prefix");
    assert_eq!(code(&err), "AccessDenied");

    // KMS: the operator encrypts, the consumer decrypts with the same context, and may not encrypt.
    let sealed = aws_sdk_kms::Client::new(&operator)
        .encrypt()
        .key_id("alias/zeroetl")
        .plaintext(aws_sdk_kms::primitives::Blob::new(b"secret".to_vec()))
        .encryption_context("purpose", "unload")
        .send()
        .await
        .expect("encrypt");
    assert_eq!(sealed.key_id(), Some(key_arn));
    let blob = sealed.ciphertext_blob().expect("ciphertext").clone();
    let kms = aws_sdk_kms::Client::new(&consumer);
    let opened = kms
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("purpose", "unload")
        .send()
        .await
        .expect("decrypt");
    assert_eq!(opened.plaintext().map(|p| p.as_ref()), Some(&b"secret"[..]));
    let err = kms
        .decrypt()
        .ciphertext_blob(blob)
        .send()
        .await
        .expect_err("wrong context");
    assert_eq!(code(&err), "InvalidCiphertextException");
    let err = kms
        .encrypt()
        .key_id("alias/zeroetl")
        .plaintext(aws_sdk_kms::primitives::Blob::new(b"x".to_vec()))
        .send()
        .await
        .expect_err("not allowed");
    assert_eq!(code(&err), "AccessDeniedException");
    assert!(message(&err).contains(&format!("kms:Encrypt on resource: {key_arn}")));

    // Policies are read at every call: removing one takes effect at once.
    iam.delete_role_policy()
        .role_name("warehouse-consumer")
        .policy_name("consume")
        .send()
        .await
        .expect("delete policy");
    let err = data
        .execute_statement()
        .workgroup_name("analytics-wg")
        .database("dev")
        .sql("SELECT 1")
        .send()
        .await
        .expect_err("no policy left");
    assert_eq!(code(&err), "AccessDeniedException");
    assert!(message(&err).contains(&format!(
        "redshift-data:ExecuteStatement on resource: {workgroup_arn}"
    )));
}

#[tokio::test]
async fn seeded_roles_are_enforced_only_when_asked() {
    let mut estate = sample_estate();
    let connector = estate.accounts[1]
        .roles
        .iter_mut()
        .find(|r| r.name == "zeroetl-connector")
        .expect("connector");
    connector.enforce_policies = true;
    connector.inline_policies.insert(
        "read".into(),
        json!({"Statement": [{"Effect": "Allow", "Action": "redshift-serverless:Get*", "Resource": "*"}]}),
    );
    let sim = sim_with(estate).await;
    let operator = config(&sim, OPERATOR_KEY).await;
    let out = aws_sdk_sts::Client::new(&operator)
        .assume_role()
        .role_arn("arn:aws:iam::222222222222:role/zeroetl-connector")
        .role_session_name("partner-session")
        .external_id("zeroetl-demo-external-id")
        .send()
        .await
        .expect("assume");
    let c = out.credentials().expect("credentials");
    let session = config_with_credentials(
        &sim,
        Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            Some(c.session_token().to_string()),
            None,
            "sts",
        ),
        "us-east-1",
    )
    .await;
    let sls = aws_sdk_redshiftserverless::Client::new(&session);
    sls.get_workgroup()
        .workgroup_name("partner-wg")
        .send()
        .await
        .expect("allowed by the seeded inline policy");
    let err = sls
        .update_workgroup()
        .workgroup_name("partner-wg")
        .base_capacity(64)
        .send()
        .await
        .expect_err("not allowed");
    assert_eq!(code(&err), "AccessDeniedException");
    // The sample's other seeded role is not enforced: no policies, no restriction (as before).
    let state = sim.state_json();
    assert_eq!(
        state["accounts"]["111111111111"]["roles"]["redshift-staging"]["enforcePolicies"],
        false
    );
}

#[tokio::test]
async fn access_key_policies_allow_only_what_they_list() {
    let mut estate = sample_estate();
    estate.accounts[0].access_keys.push(aws_sim::estate::AccessKeySeed {
        access_key_id: "AKIALEASTPRIVILEGE01".into(),
        secret_access_key: "least".into(),
        user_name: Some("least-privilege".into()),
        policy: Some(serde_yaml::from_str(
            "Version: '2012-10-17'\nStatement:\n  - Effect: Allow\n    Action: ['rds:Describe*']\n    Resource: '*'\n  - Effect: Allow\n    Action: sts:AssumeRole\n    Resource: arn:aws:iam::222222222222:role/zeroetl-connector\n",
        )
        .expect("YAML policy")),
        ..Default::default()
    });
    let sim = sim_with(estate).await;
    let least = config(&sim, ("AKIALEASTPRIVILEGE01", "least")).await;
    let rds = aws_sdk_rds::Client::new(&least);
    rds.describe_db_clusters().send().await.expect("allowed");
    let err = rds
        .create_db_cluster_parameter_group()
        .db_cluster_parameter_group_name("x")
        .db_parameter_group_family("aurora-mysql8.0")
        .description("x")
        .send()
        .await
        .expect_err("not in the policy");
    assert_eq!(code(&err), "AccessDenied");
    assert!(message(&err).contains("User: arn:aws:iam::111111111111:user/least-privilege is not authorized to perform: rds:CreateDBClusterParameterGroup on resource: arn:aws:rds:us-east-1:111111111111:cluster-pg:x"), "{}", message(&err));
    let sts = aws_sdk_sts::Client::new(&least);
    sts.assume_role()
        .role_arn("arn:aws:iam::222222222222:role/zeroetl-connector")
        .role_session_name("least")
        .external_id("zeroetl-demo-external-id")
        .send()
        .await
        .expect("policy and trust allow it");
    let err = sts
        .assume_role()
        .role_arn("arn:aws:iam::111111111111:role/redshift-staging")
        .role_session_name("least")
        .send()
        .await
        .expect_err("not in the policy");
    assert_eq!(code(&err), "AccessDenied");
    assert!(
        message(&err).contains("because no identity-based policy allows the sts:AssumeRole action")
    );

    // At runtime, for the operator's own key.
    let operator = config(&sim, OPERATOR_KEY).await;
    let redshift = aws_sdk_redshift::Client::new(&operator);
    redshift
        .describe_clusters()
        .send()
        .await
        .expect("unrestricted");
    let path = format!("/_sim/access-keys/{}/policy", OPERATOR_KEY.0);
    let only_rds = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "rds:*", "Resource": "*"}]});
    let (status, body) = http(&sim, "POST", &path, &only_rds.to_string()).await;
    assert_eq!(status, 200, "{body}");
    let err = redshift
        .describe_clusters()
        .send()
        .await
        .expect_err("only rds now");
    assert_eq!(code(&err), "AccessDenied");
    aws_sdk_rds::Client::new(&operator)
        .describe_db_instances()
        .send()
        .await
        .expect("rds still allowed");
    let state = sim.state_json();
    assert_eq!(
        state["accounts"]["111111111111"]["accessKeys"][0]["policy"],
        only_rds
    );
    let (status, _) = http(&sim, "DELETE", &path, "").await;
    assert_eq!(status, 200);
    redshift
        .describe_clusters()
        .send()
        .await
        .expect("unrestricted again");

    let (status, _) = http(
        &sim,
        "POST",
        "/_sim/access-keys/AKIANOSUCHKEY0000000/policy",
        &only_rds.to_string(),
    )
    .await;
    assert_eq!(status, 404);
    let (status, _) = http(
        &sim,
        "POST",
        &path,
        r#"{"Statement": [{"Effect": "Allow", "Action": "rds:*"}]}"#,
    )
    .await;
    assert_eq!(status, 400, "a statement without Resource is malformed");
    assert!(sim
        .set_access_key_policy(OPERATOR_KEY.0, Some(json!({"Statement": "nope"})))
        .is_err());

    let mut bad = sample_estate();
    bad.accounts[0].access_keys[0].policy = Some(json!({"Statement": [{"Effect": "Allow"}]}));
    assert!(
        aws_sim::model::World::from_estate(&bad).is_err(),
        "a malformed seeded policy is refused"
    );
}
