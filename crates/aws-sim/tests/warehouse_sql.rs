//! Database users and grants through the Data API: password rules, grants on schemas, tables and
//! databases, default privileges, the catalog views that report them, what a consumer session may do,
//! and dropping a user only after its privileges are revoked.

mod common;

use aws_credential_types::Credentials;
use common::*;
use serde_json::{json, Map, Value};

const WG: &str = "analytics-wg";
const CONSUMER: &str = "IAMR:warehouse-consumer";

fn estate() -> aws_sim::Estate {
    let mut estate = sample_estate();
    let ns = &mut estate.accounts[0]
        .regions
        .get_mut("us-east-1")
        .expect("us-east-1")
        .serverless_namespaces[0];
    ns.databases =
        serde_yaml::from_str("dev: {schemas: {public: [orders, customers], sales: [invoices]}}")
            .expect("databases");
    estate
}

fn rows(list: &[Value]) -> Vec<Map<String, Value>> {
    list.iter()
        .map(|v| v.as_object().cloned().expect("object"))
        .collect()
}

/// A Data API client acting as a session of a created (enforced) role allowed to use the Data API.
async fn consumer(sim: &aws_sim::SimHandle) -> aws_sdk_redshiftdata::Client {
    let operator = config(sim, OPERATOR_KEY).await;
    let iam = aws_sdk_iam::Client::new(&operator);
    let trust = json!({"Statement": [{"Effect": "Allow", "Principal": {"AWS": "111111111111"}, "Action": "sts:AssumeRole"}]});
    let role = iam
        .create_role()
        .role_name("warehouse-consumer")
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .expect("role");
    let policy =
        json!({"Statement": [{"Effect": "Allow", "Action": "redshift-data:*", "Resource": "*"}]});
    iam.put_role_policy()
        .role_name("warehouse-consumer")
        .policy_name("data-api")
        .policy_document(policy.to_string())
        .send()
        .await
        .expect("policy");
    let out = aws_sdk_sts::Client::new(&operator)
        .assume_role()
        .role_arn(role.role().expect("role").arn())
        .role_session_name("bi")
        .send()
        .await
        .expect("assume");
    let c = out.credentials().expect("credentials");
    let cfg = config_with_credentials(
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
    .await;
    aws_sdk_redshiftdata::Client::new(&cfg)
}

#[tokio::test]
async fn users_follow_redshift_rules_and_never_show_passwords() {
    let sim = sim_with(estate()).await;
    let data = aws_sdk_redshiftdata::Client::new(&config(&sim, OPERATOR_KEY).await);
    for (pw, why) in [
        ("Sh0rt", "8 to 64"),
        ("nouppercase1", "uppercase"),
        ("NOLOWERCASE1", "lowercase"),
        ("NoDigitsHere", "number"),
        ("Has/Slash1", "except"),
    ] {
        let err = sql_err(
            &data,
            WG,
            "dev",
            &format!("CREATE USER bob PASSWORD '{pw}'"),
        )
        .await;
        assert!(err.contains(why), "{pw}: {err}");
        assert!(!err.contains(pw), "the password is not echoed: {err}");
    }
    for name in ["public", "\"PUBLIC\""] {
        let err = sql_err(
            &data,
            WG,
            "dev",
            &format!("CREATE USER {name} PASSWORD DISABLE"),
        )
        .await;
        assert!(err.contains("reserved"), "{err}");
    }
    sql_ok(
        &data,
        WG,
        "dev",
        "create user BOB with password 'Str0ngPassw0rd';",
    )
    .await;
    assert_eq!(
        sql_err(&data, WG, "dev", "CREATE USER bob PASSWORD DISABLE").await,
        "ERROR: user \"bob\" already exists"
    );
    sql_ok(&data, WG, "dev", "ALTER USER bob PASSWORD DISABLE").await;
    assert!(
        sql_err(&data, WG, "dev", "ALTER USER admin PASSWORD DISABLE")
            .await
            .contains("superuser")
    );
    assert_eq!(
        sql_err(&data, WG, "dev", "ALTER USER nobody PASSWORD DISABLE").await,
        "ERROR: user \"nobody\" does not exist"
    );
    sql_ok(
        &data,
        WG,
        "dev",
        &format!("CREATE USER \"{CONSUMER}\" PASSWORD DISABLE"),
    )
    .await;

    let (found, types) = query(
        &data,
        WG,
        "dev",
        &format!("SELECT usename, usesuper FROM pg_user WHERE usename = '{CONSUMER}'"),
    )
    .await;
    assert_eq!(
        found,
        rows(&[json!({"usename": CONSUMER, "usesuper": false})])
    );
    assert_eq!(types, ["name", "bool"]);
    let (admin, _) = query(
        &data,
        WG,
        "dev",
        "select USENAME, usesuper from pg_catalog.pg_user where usename = 'admin'",
    )
    .await;
    assert_eq!(
        admin,
        rows(&[json!({"usename": "admin", "usesuper": true})])
    );

    let described = run_sql_on(
        &data,
        WG,
        "dev",
        "CREATE USER carol PASSWORD 'An0therSecret'",
    )
    .await;
    assert_eq!(
        described.query_string(),
        Some("CREATE USER carol PASSWORD '***'")
    );
    let dump = sim.state_json();
    let text = dump.to_string();
    assert!(
        !text.contains("Str0ngPassw0rd") && !text.contains("An0therSecret"),
        "no password in the dump"
    );
    assert_eq!(
        dump["accounts"]["111111111111"]["regions"]["us-east-1"]["warehouses"][ANALYTICS_NS]
            ["users"],
        json!({
            "admin": {"superuser": true, "passwordDisabled": false},
            "bob": {"superuser": false, "passwordDisabled": true},
            "carol": {"superuser": false, "passwordDisabled": false},
            CONSUMER: {"superuser": false, "passwordDisabled": true},
        })
    );
    assert_eq!(
        dump["accounts"]["111111111111"]["regions"]["us-east-1"]["dbUsers"][ANALYTICS_NS],
        json!(["bob", CONSUMER, "carol"])
    );
}

#[tokio::test]
async fn grants_default_privileges_and_what_a_consumer_may_read() {
    let sim = sim_with(estate()).await;
    let data = aws_sdk_redshiftdata::Client::new(&config(&sim, OPERATOR_KEY).await);
    sql_ok(
        &data,
        WG,
        "dev",
        &format!("CREATE USER \"{CONSUMER}\" PASSWORD DISABLE"),
    )
    .await;
    let u = format!("\"{CONSUMER}\"");
    for sql in [
        format!("GRANT USAGE ON SCHEMA public TO {u}"),
        format!("GRANT CREATE, DROP ON SCHEMA public TO {u}"),
        format!("GRANT SELECT ON ALL TABLES IN SCHEMA public TO {u}"),
        format!("GRANT SELECT ON pg_catalog.svv_table_info TO {u}"),
        format!("GRANT TEMPORARY ON DATABASE dev TO {u}"),
        format!("GRANT CREATE ON DATABASE dev TO {u}"),
        format!("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO {u}"),
    ] {
        sql_ok(&data, WG, "dev", &sql).await;
    }
    for (sql, error) in [
        (
            format!("GRANT USAGE ON SCHEMA nope TO {u}"),
            "ERROR: schema \"nope\" does not exist",
        ),
        (
            "GRANT USAGE ON SCHEMA public TO nobody".to_string(),
            "ERROR: user \"nobody\" does not exist",
        ),
        (
            format!("GRANT TEMP ON DATABASE nope TO {u}"),
            "ERROR: database \"nope\" does not exist",
        ),
        (
            format!("GRANT SELECT ON public.missing TO {u}"),
            "ERROR: relation \"public.missing\" does not exist",
        ),
        (
            format!("GRANT SELECT ON SCHEMA public TO {u}"),
            "ERROR: invalid privilege type SELECT for schema",
        ),
        (format!("GRANT USAGE ON SCHEMA public TO {u}"), ""),
    ] {
        if error.is_empty() {
            sql_ok(&data, WG, "dev", &sql).await;
        } else {
            assert_eq!(sql_err(&data, WG, "dev", &sql).await, error, "{sql}");
        }
    }
    // A table created later gets SELECT through the default privileges; one in another schema does not.
    sql_ok(
        &data,
        WG,
        "dev",
        "CREATE TABLE public.later (id int, note varchar(20))",
    )
    .await;
    sql_ok(&data, WG, "dev", "CREATE SCHEMA staging").await;
    sql_ok(&data, WG, "dev", "CREATE TABLE staging.loads (id int)").await;
    assert_eq!(
        sql_err(&data, WG, "dev", "CREATE TABLE staging.loads (id int)").await,
        "ERROR: Relation \"loads\" already exists"
    );
    sql_ok(
        &data,
        WG,
        "dev",
        "CREATE TABLE IF NOT EXISTS staging.loads (id int)",
    )
    .await;

    let q = |view: &str, columns: &str, key: &str| {
        format!("SELECT {columns} FROM {view} WHERE {key} = '{CONSUMER}'")
    };
    let (schema, _) = query(
        &data,
        WG,
        "dev",
        &q(
            "svv_schema_privileges",
            "namespace_name, privilege_type",
            "identity_name",
        ),
    )
    .await;
    assert_eq!(
        schema,
        rows(&[
            json!({"namespace_name": "public", "privilege_type": "CREATE"}),
            json!({"namespace_name": "public", "privilege_type": "DROP"}),
            json!({"namespace_name": "public", "privilege_type": "USAGE"}),
        ])
    );
    let (database, _) = query(
        &data,
        WG,
        "dev",
        &q(
            "svv_database_privileges",
            "database_name, privilege_type",
            "identity_name",
        ),
    )
    .await;
    assert_eq!(
        database,
        rows(&[
            json!({"database_name": "dev", "privilege_type": "CREATE"}),
            json!({"database_name": "dev", "privilege_type": "TEMP"}),
        ])
    );
    let (defaults, _) = query(
        &data,
        WG,
        "dev",
        &q(
            "svv_default_privileges",
            "schema_name, object_type, privilege_type",
            "grantee_name",
        ),
    )
    .await;
    assert_eq!(
        defaults,
        rows(&[
            json!({"schema_name": "public", "object_type": "RELATION", "privilege_type": "SELECT"})
        ])
    );
    let (relations, _) = query(
        &data,
        WG,
        "dev",
        &q(
            "svv_relation_privileges",
            "namespace_name, relation_name, privilege_type",
            "identity_name",
        ),
    )
    .await;
    assert_eq!(
        relations,
        rows(&[
            json!({"namespace_name": "pg_catalog", "relation_name": "svv_table_info", "privilege_type": "SELECT"}),
            json!({"namespace_name": "public", "relation_name": "customers", "privilege_type": "SELECT"}),
            json!({"namespace_name": "public", "relation_name": "later", "privilege_type": "SELECT"}),
            json!({"namespace_name": "public", "relation_name": "orders", "privilege_type": "SELECT"}),
        ])
    );
    let (tables, _) = query(
        &data,
        WG,
        "dev",
        "SELECT schemaname, tablename FROM pg_tables WHERE schemaname = 'staging'",
    )
    .await;
    assert_eq!(
        tables,
        rows(&[json!({"schemaname": "staging", "tablename": "loads"})])
    );

    // What the consumer's own session may do.
    let session = consumer(&sim).await;
    let (one, _) = query(&session, WG, "dev", "SELECT 1").await;
    assert_eq!(one.len(), 1);
    let (orders, _) = query(&session, WG, "dev", "SELECT id FROM public.orders").await;
    assert!(orders.is_empty(), "tables hold no rows here");
    query(
        &session,
        WG,
        "dev",
        "SELECT * FROM pg_catalog.svv_table_info",
    )
    .await;
    assert_eq!(
        sql_err(&session, WG, "dev", "SELECT * FROM sales.invoices").await,
        "ERROR: permission denied for schema sales"
    );
    sql_ok(
        &data,
        WG,
        "dev",
        &format!("GRANT USAGE ON SCHEMA sales TO {u}"),
    )
    .await;
    assert_eq!(
        sql_err(&session, WG, "dev", "SELECT * FROM sales.invoices").await,
        "ERROR: permission denied for relation invoices"
    );
    assert_eq!(
        sql_err(&session, WG, "dev", "CREATE USER mallory PASSWORD DISABLE").await,
        "ERROR: permission denied to create user"
    );
    assert_eq!(
        sql_err(
            &session,
            WG,
            "dev",
            &format!("GRANT USAGE ON SCHEMA public TO {u}")
        )
        .await,
        "ERROR: permission denied for schema public"
    );
    assert!(query(
        &session,
        WG,
        "dev",
        "SELECT integration_id FROM svv_integration"
    )
    .await
    .0
    .is_empty());
    let (own, _) = query(
        &session,
        WG,
        "dev",
        "SELECT identity_name FROM svv_schema_privileges",
    )
    .await;
    assert!(!own.is_empty() && own.iter().all(|r| r["identity_name"] == CONSUMER));
    sql_ok(&session, WG, "dev", "CREATE TABLE public.scratch (x int)").await;

    // Dropping needs every privilege revoked first.
    let drop = format!("DROP USER {u}");
    assert_eq!(
        sql_err(&data, WG, "dev", &drop).await,
        format!("ERROR: user \"{CONSUMER}\" cannot be dropped because the user has a privilege on some object")
    );
    for sql in [
        format!("REVOKE ALL ON SCHEMA public, sales FROM {u}"),
        format!("REVOKE DROP ON SCHEMA public FROM {u}"),
        format!("REVOKE SELECT ON ALL TABLES IN SCHEMA public FROM {u}"),
        format!("REVOKE SELECT ON pg_catalog.svv_table_info FROM {u}"),
        format!("REVOKE ALL ON DATABASE dev FROM {u}"),
    ] {
        sql_ok(&data, WG, "dev", &sql).await;
    }
    assert!(
        sql_err(&data, WG, "dev", &drop)
            .await
            .contains("cannot be dropped"),
        "default privileges remain"
    );
    sql_ok(
        &data,
        WG,
        "dev",
        &format!("ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT ON TABLES FROM {u}"),
    )
    .await;
    sql_ok(&data, WG, "dev", &drop).await;
    sql_ok(&data, WG, "dev", "DROP USER IF EXISTS nobody").await;
    assert_eq!(
        sql_err(&data, WG, "dev", "DROP USER nobody").await,
        "ERROR: user \"nobody\" does not exist"
    );
    let dump = sim.state_json();
    let public = &dump["accounts"]["111111111111"]["regions"]["us-east-1"]["warehouses"]
        [ANALYTICS_NS]["databases"]["dev"]["schemas"]["public"];
    assert_eq!(
        public,
        &json!({"tables": ["customers", "later", "orders", "scratch"], "privileges": {},
                "defaultPrivileges": {}, "tablePrivileges": {}})
    );
}

#[tokio::test]
async fn provisioned_statements_run_as_their_db_user() {
    let sim = sim().await;
    let data = aws_sdk_redshiftdata::Client::new(&config(&sim, OPERATOR_KEY).await);
    let run = |user: &str, sql: &str| {
        data.execute_statement()
            .cluster_identifier("warehouse-ra3")
            .db_user(user)
            .database("dev")
            .sql(sql)
            .send()
    };
    let wait = |id: String| {
        let data = data.clone();
        async move {
            wait_for(
                "the statement to finish",
                std::time::Duration::from_secs(5),
                || {
                    let data = data.clone();
                    let id = id.clone();
                    async move {
                        let d = data.describe_statement().id(id).send().await.ok()?;
                        matches!(
                            d.status(),
                            Some(
                                aws_sdk_redshiftdata::types::StatusString::Finished
                                    | aws_sdk_redshiftdata::types::StatusString::Failed
                            )
                        )
                        .then_some(d)
                    }
                },
            )
            .await
        }
    };
    let made = run("awsuser", "CREATE USER analyst PASSWORD 'Analyst123'")
        .await
        .expect("submit");
    let d = wait(made.id().expect("id").to_string()).await;
    assert_eq!(d.error(), None, "the master user is a superuser");
    let refused = run("analyst", "CREATE USER other PASSWORD DISABLE")
        .await
        .expect("submit");
    let d = wait(refused.id().expect("id").to_string()).await;
    assert_eq!(d.error(), Some("ERROR: permission denied to create user"));
    let state = sim.state_json();
    let statements = state["accounts"]["111111111111"]["regions"]["us-east-1"]["statements"]
        .as_object()
        .expect("statements");
    assert!(statements.values().any(|s| s["identity"] == "analyst"));
}
