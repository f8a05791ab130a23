//! STS, IAM and KMS through the real SDK clients, plus unknown access keys and per-principal deny lists.

mod common;

use aws_credential_types::Credentials;
use common::*;

const CONNECTOR: &str = "arn:aws:iam::222222222222:role/zeroetl-connector";

#[tokio::test]
async fn assume_role_honours_the_external_id() {
    let sim = sim().await;
    let sts = aws_sdk_sts::Client::new(&config(&sim, OPERATOR_KEY).await);
    let me = sts.get_caller_identity().send().await.expect("who am i");
    assert_eq!(me.account(), Some("111111111111"));
    assert_eq!(
        me.arn(),
        Some("arn:aws:iam::111111111111:user/zeroetl-operator")
    );

    for wrong in [Some("wrong"), None] {
        let err = sts
            .assume_role()
            .role_arn(CONNECTOR)
            .role_session_name("zeroetl")
            .set_external_id(wrong.map(str::to_string))
            .send()
            .await
            .expect_err("external id must match");
        assert_eq!(code(&err), "AccessDenied");
        assert_eq!(
            message(&err),
            format!("User: arn:aws:iam::111111111111:user/zeroetl-operator is not authorized to perform: sts:AssumeRole on resource: {CONNECTOR}")
        );
    }

    let out = sts
        .assume_role()
        .role_arn(CONNECTOR)
        .role_session_name("zeroetl")
        .external_id("zeroetl-demo-external-id")
        .duration_seconds(900)
        .send()
        .await
        .expect("assume");
    let creds = out.credentials().expect("credentials");
    assert!(creds.access_key_id().starts_with("ASIA"));
    assert_eq!(
        out.assumed_role_user().map(|u| u.arn()),
        Some("arn:aws:sts::222222222222:assumed-role/zeroetl-connector/zeroetl")
    );

    let temp = Credentials::new(
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token().to_string()),
        None,
        "sts",
    );
    let cfg = config_with_credentials(&sim, temp, "us-east-1").await;
    let who = aws_sdk_sts::Client::new(&cfg)
        .get_caller_identity()
        .send()
        .await
        .expect("session identity");
    assert_eq!(who.account(), Some("222222222222"));
    assert_eq!(
        who.arn(),
        Some("arn:aws:sts::222222222222:assumed-role/zeroetl-connector/zeroetl")
    );
    // The session sees the partner account's resources.
    let wg = aws_sdk_redshiftserverless::Client::new(&cfg)
        .get_workgroup()
        .workgroup_name("partner-wg")
        .send()
        .await
        .expect("partner wg");
    assert_eq!(
        wg.workgroup().and_then(|w| w.namespace_name()),
        Some("partner")
    );

    let err = sts
        .assume_role()
        .role_arn("arn:aws:iam::222222222222:role/missing")
        .role_session_name("x1")
        .send()
        .await
        .expect_err("no role");
    assert_eq!(code(&err), "AccessDenied");
    // redshift-staging trusts only the Redshift service.
    let err = sts
        .assume_role()
        .role_arn("arn:aws:iam::111111111111:role/redshift-staging")
        .role_session_name("x1")
        .send()
        .await
        .expect_err("service-only trust");
    assert_eq!(code(&err), "AccessDenied");
}

#[tokio::test]
async fn unknown_access_keys_are_rejected_in_each_protocol() {
    let sim = sim().await;
    let cfg = config(&sim, ("AKIAUNKNOWNKEY000000", "nope")).await;
    let err = aws_sdk_rds::Client::new(&cfg)
        .describe_db_instances()
        .send()
        .await
        .expect_err("query protocol");
    assert_eq!(code(&err), "InvalidClientTokenId");
    let err = aws_sdk_redshiftserverless::Client::new(&cfg)
        .list_namespaces()
        .send()
        .await
        .expect_err("json protocol");
    assert_eq!(code(&err), "InvalidClientTokenId");
    let calls = sim.calls();
    assert!(calls
        .iter()
        .all(|c| c.status == 403 && c.error_code.as_deref() == Some("InvalidClientTokenId")));
}

#[tokio::test]
async fn deny_lists_name_the_missing_action() {
    let mut estate = sample_estate();
    estate.accounts[0]
        .access_keys
        .push(aws_sim::estate::AccessKeySeed {
            access_key_id: "AKIARESTRICTED000001".into(),
            secret_access_key: "restricted".into(),
            user_name: Some("restricted".into()),
            deny: vec![
                "rds:CreateIntegration".into(),
                "redshift-serverless:UpdateWorkgroup".into(),
            ],
            ..Default::default()
        });
    let sim = sim_with(estate).await;
    let cfg = config(&sim, ("AKIARESTRICTED000001", "restricted")).await;
    let source = "arn:aws:rds:us-east-1:111111111111:db:inventory-mysql";
    let err = aws_sdk_rds::Client::new(&cfg)
        .create_integration()
        .integration_name("x")
        .source_arn(source)
        .target_arn(WAREHOUSE_NS)
        .send()
        .await
        .expect_err("denied");
    assert_eq!(code(&err), "AccessDenied");
    assert_eq!(
        message(&err),
        format!("User: arn:aws:iam::111111111111:user/restricted is not authorized to perform: rds:CreateIntegration on resource: {source}")
    );
    let err = aws_sdk_redshiftserverless::Client::new(&cfg)
        .update_workgroup()
        .workgroup_name("analytics-wg")
        .send()
        .await
        .expect_err("denied");
    assert_eq!(code(&err), "AccessDeniedException");
    assert!(message(&err).contains("redshift-serverless:UpdateWorkgroup on resource: arn:aws:redshift-serverless:us-east-1:111111111111:workgroup/"));
    // Reads are still allowed.
    aws_sdk_rds::Client::new(&cfg)
        .describe_integrations()
        .send()
        .await
        .expect("describe allowed");
}

#[tokio::test]
async fn iam_roles_and_inline_policies() {
    let sim = sim().await;
    let iam = aws_sdk_iam::Client::new(&config(&sim, OPERATOR_KEY).await);
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"redshift.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let created = iam
        .create_role()
        .role_name("copy-unload")
        .assume_role_policy_document(trust)
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("team")
                .value("data")
                .build()
                .expect("tag"),
        )
        .send()
        .await
        .expect("create");
    assert_eq!(
        created.role().map(|r| r.arn()),
        Some("arn:aws:iam::111111111111:role/copy-unload")
    );
    let err = iam
        .create_role()
        .role_name("copy-unload")
        .assume_role_policy_document(trust)
        .send()
        .await
        .expect_err("exists");
    assert_eq!(code(&err), "EntityAlreadyExists");
    let err = iam
        .create_role()
        .role_name("bad")
        .assume_role_policy_document("{")
        .send()
        .await
        .expect_err("bad json");
    assert_eq!(code(&err), "MalformedPolicyDocument");

    let got = iam
        .get_role()
        .role_name("copy-unload")
        .send()
        .await
        .expect("get");
    let doc = got
        .role()
        .and_then(|r| r.assume_role_policy_document())
        .expect("trust document");
    let decoded: String = url::form_urlencoded::parse(format!("d={doc}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .expect("decodes");
    assert_eq!(decoded, trust, "IAM returns the document URL-encoded");

    let new_trust = trust.replace("redshift.amazonaws.com", "glue.amazonaws.com");
    iam.update_assume_role_policy()
        .role_name("copy-unload")
        .policy_document(&new_trust)
        .send()
        .await
        .expect("update trust");
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:GetObject","Resource":"*"}]}"#;
    iam.put_role_policy()
        .role_name("copy-unload")
        .policy_name("staging")
        .policy_document(policy)
        .send()
        .await
        .expect("put");
    let names = iam
        .list_role_policies()
        .role_name("copy-unload")
        .send()
        .await
        .expect("list");
    assert_eq!(names.policy_names(), &["staging".to_string()]);
    let got = iam
        .get_role_policy()
        .role_name("copy-unload")
        .policy_name("staging")
        .send()
        .await
        .expect("get policy");
    assert_eq!(got.policy_name(), "staging");
    iam.tag_role()
        .role_name("copy-unload")
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("env")
                .value("dev")
                .build()
                .expect("tag"),
        )
        .send()
        .await
        .expect("tag");
    let err = iam
        .delete_role()
        .role_name("copy-unload")
        .send()
        .await
        .expect_err("has policies");
    assert_eq!(code(&err), "DeleteConflict");
    iam.delete_role_policy()
        .role_name("copy-unload")
        .policy_name("staging")
        .send()
        .await
        .expect("delete policy");
    iam.delete_role()
        .role_name("copy-unload")
        .send()
        .await
        .expect("delete role");
    let err = iam
        .get_role()
        .role_name("copy-unload")
        .send()
        .await
        .expect_err("gone");
    assert_eq!(code(&err), "NoSuchEntity");
}

#[tokio::test]
async fn kms_describe_key_by_alias_id_and_arn() {
    let sim = sim().await;
    let kms = aws_sdk_kms::Client::new(&config(&sim, OPERATOR_KEY).await);
    let by_alias = kms
        .describe_key()
        .key_id("alias/zeroetl")
        .send()
        .await
        .expect("alias");
    let meta = by_alias.key_metadata().expect("metadata");
    assert_eq!(meta.key_id(), "0b7e5c1a-2d4f-4e6a-9b8c-7d6e5f4a3b21");
    let arn = meta.arn().expect("arn").to_string();
    assert_eq!(
        arn,
        "arn:aws:kms:us-east-1:111111111111:key/0b7e5c1a-2d4f-4e6a-9b8c-7d6e5f4a3b21"
    );
    kms.describe_key()
        .key_id(&arn)
        .send()
        .await
        .expect("by arn");
    kms.describe_key()
        .key_id("arn:aws:kms:us-east-1:111111111111:alias/zeroetl")
        .send()
        .await
        .expect("by alias arn");
    let err = kms
        .describe_key()
        .key_id("alias/missing")
        .send()
        .await
        .expect_err("unknown");
    assert_eq!(code(&err), "NotFoundException");
    let other_region = aws_sdk_kms::Client::new(&config_in(&sim, OPERATOR_KEY, "eu-west-1").await);
    let err = other_region
        .describe_key()
        .key_id("alias/zeroetl")
        .send()
        .await
        .expect_err("keys are regional");
    assert_eq!(code(&err), "NotFoundException");
}

#[tokio::test]
async fn s3_bucket_location_and_head() {
    let sim = sim().await;
    let cfg = config(&sim, OPERATOR_KEY).await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&cfg)
            .force_path_style(true)
            .build(),
    );
    let euw1 = s3
        .get_bucket_location()
        .bucket("zeroetl-staging-euw1")
        .send()
        .await
        .expect("location");
    assert_eq!(
        euw1.location_constraint().map(|c| c.as_str()),
        Some("eu-west-1")
    );
    let use1 = s3
        .get_bucket_location()
        .bucket("zeroetl-staging-use1")
        .send()
        .await
        .expect("location");
    assert!(
        use1.location_constraint()
            .is_none_or(|c| c.as_str().is_empty()),
        "us-east-1 is empty: {use1:?}"
    );
    let err = s3
        .get_bucket_location()
        .bucket("missing-bucket")
        .send()
        .await
        .expect_err("missing");
    assert_eq!(code(&err), "NoSuchBucket");

    let head = s3
        .head_bucket()
        .bucket("zeroetl-staging-euw1")
        .send()
        .await
        .expect("head");
    assert_eq!(head.bucket_region(), Some("eu-west-1"));
    let err = s3
        .head_bucket()
        .bucket("missing-bucket")
        .send()
        .await
        .expect_err("missing");
    assert!(
        err.as_service_error().is_some_and(|e| e.is_not_found()),
        "{err:?}"
    );

    let partner = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&config(&sim, PARTNER_KEY).await)
            .force_path_style(true)
            .build(),
    );
    let err = partner
        .get_bucket_location()
        .bucket("zeroetl-staging-use1")
        .send()
        .await
        .expect_err("other account");
    assert_eq!(code(&err), "AccessDenied");
}
