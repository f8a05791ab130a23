//! "Change one thing, plan": every branch of the consumer planner, from a spec, an observation and a status.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{json, Value};
use zeroetl_api::arn::WarehouseKind;
use zeroetl_api::conditions::{Status, DATABASE_USER_READY, GRANTS_APPLIED, ROLE_READY};
use zeroetl_api::connection::Endpoint;
use zeroetl_api::consumer::{GrantType, ManagedUser, UserAuthentication};
use zeroetl_api::{RedshiftConnectionSpec, RedshiftConsumer};

use super::delete::plan_delete;
use super::*;
use crate::aws::AwsErrorKind;
use crate::consumer::observed::{
    Held, Observation, RoleSeen, RolesSeen, UserSeen, UsersSeen, WarehouseFacts,
};
use crate::consumer::password::Password;
use crate::consumer::policy::{self, WarehouseScope, CREDENTIALS_POLICY, DATA_API_POLICY};
use crate::consumer::status::{self, Outcomes};
use crate::error::Error;
use crate::ownership::Owner;
use crate::warehouse::Warehouse;

const OPERATOR: &str = "arn:aws:iam::111111111111:user/zeroetl-operator";
const ROLE: &str = "zeroetl-team-a-polytomic";
const ROLE_ARN: &str = "arn:aws:iam::111111111111:role/zeroetl-team-a-polytomic";
const USER: &str = "IAMR:zeroetl-team-a-polytomic";

fn consumer(spec: Value, status: Value) -> RedshiftConsumer {
    serde_json::from_value(json!({
        "apiVersion": "zeroetl.dev/v1alpha1", "kind": "RedshiftConsumer",
        "metadata": {"name": "polytomic", "namespace": "team-a", "uid": "uid-1", "generation": 1},
        "spec": spec, "status": status,
    }))
    .unwrap()
}

/// The seed-002 shape: a vendor role with Data API access and an IAM user with three grants.
fn polytomic() -> Value {
    json!({
        "connectionRef": {"name": "analytics"},
        "role": {"trustedPrincipal": "568237466542", "externalId": "ext-1",
                 "permissions": {"dataApi": true}},
        "databaseUser": {"grants": [
            {"type": "SchemaUsage", "schema": "public"},
            {"type": "SelectAllTables", "schema": "public"},
            {"type": "DatabaseTemporary"}]},
    })
}

fn warehouse() -> Warehouse {
    Warehouse {
        kind: WarehouseKind::Serverless,
        region: "us-east-1".into(),
        account: "111111111111".into(),
        namespace_arn: "arn:aws:redshift-serverless:us-east-1:111111111111:namespace/ns".into(),
        namespace_name: Some("analytics".into()),
        workgroup_name: Some("analytics-wg".into()),
        cluster_identifier: None,
        endpoint: Some(Endpoint {
            address: "analytics-wg.111111111111.us-east-1.redshift-serverless.amazonaws.com".into(),
            port: 5439,
        }),
        case_sensitive: true,
        case_sensitivity_pending_reboot: false,
        encrypted: true,
        iam_roles: Vec::new(),
        status: "AVAILABLE".into(),
        admin_user: None,
        default_database: Some("dev".into()),
    }
}

fn facts() -> WarehouseFacts {
    WarehouseFacts {
        warehouse: warehouse(),
        scope: WarehouseScope::Serverless {
            workgroup_arn: "arn:aws:redshift-serverless:us-east-1:111111111111:workgroup/wg".into(),
            namespace_arn: "arn:aws:redshift-serverless:us-east-1:111111111111:namespace/ns".into(),
        },
        database: "dev".into(),
    }
}

fn connection() -> RedshiftConnectionSpec {
    serde_json::from_value(
        json!({"serverless": {"workgroupName": "analytics-wg"}, "database": "dev"}),
    )
    .unwrap()
}

fn owner(obj: &RedshiftConsumer) -> Owner {
    Owner::of(obj, "c1")
}

/// The role exactly as the spec wants it, tagged for `obj`.
fn role_in_sync(obj: &RedshiftConsumer) -> RoleSeen {
    let role = obj.spec.role.as_ref().unwrap();
    RoleSeen {
        name: ROLE.into(),
        arn: ROLE_ARN.into(),
        trust: Some(policy::trust_policy(role, "ext-1", Some(OPERATOR))),
        max_session_seconds: 3600,
        tags: owner(obj).tags(),
        policies: policy::permission_policies(role, &facts().scope, Some(USER))
            .into_iter()
            .map(|(k, v)| (k, Some(v)))
            .collect(),
    }
}

fn schema(db: &str, s: &str, p: &str) -> Held {
    Held::Schema {
        database: db.into(),
        schema: s.into(),
        privilege: p.into(),
    }
}
fn table(db: &str, s: &str, t: &str, p: &str) -> Held {
    Held::Table {
        database: db.into(),
        schema: s.into(),
        table: t.into(),
        privilege: p.into(),
    }
}
fn database(db: &str, p: &str) -> Held {
    Held::Database {
        database: db.into(),
        privilege: p.into(),
    }
}
fn default(db: &str, s: &str) -> Held {
    Held::Default {
        database: db.into(),
        schema: s.into(),
        privilege: "SELECT".into(),
    }
}

fn user(name: &str, held: &[Held]) -> UserSeen {
    UserSeen {
        name: name.into(),
        exists: true,
        superuser: false,
        held: held.iter().cloned().collect(),
        tables: BTreeMap::from([(
            ("dev".into(), "public".into()),
            BTreeSet::from(["orders".to_string(), "customers".to_string()]),
        )]),
    }
}

/// What the polytomic user holds when everything is granted.
fn granted() -> Vec<Held> {
    vec![
        schema("dev", "public", "USAGE"),
        table("dev", "public", "orders", "SELECT"),
        table("dev", "public", "customers", "SELECT"),
        database("dev", "TEMP"),
    ]
}

fn missing_user(name: &str) -> UserSeen {
    UserSeen {
        exists: false,
        held: BTreeSet::new(),
        ..user(name, &[])
    }
}

struct World {
    obj: RedshiftConsumer,
    roles: Result<RolesSeen, Error>,
    users: Result<UsersSeen, Error>,
    password: Option<Password>,
    adopt: bool,
    rotation: Option<&'static str>,
}

impl World {
    fn new(obj: RedshiftConsumer) -> World {
        World {
            obj,
            roles: Ok(RolesSeen {
                operator: Some(OPERATOR.into()),
                ..Default::default()
            }),
            users: Ok(UsersSeen {
                wanted: Some(missing_user(USER)),
                stale: None,
            }),
            password: None,
            adopt: false,
            rotation: None,
        }
    }

    /// Everything in place and this object's.
    fn in_sync() -> World {
        let obj = consumer(
            polytomic(),
            json!({"roleArn": ROLE_ARN, "externalId": "ext-1",
            "databaseUser": {"name": USER, "authentication": "Iam"}, "grantDatabases": ["dev"]}),
        );
        let mut w = World::new(obj.clone());
        w.roles = Ok(RolesSeen {
            wanted: Some(role_in_sync(&obj)),
            stale: None,
            operator: Some(OPERATOR.into()),
        });
        w.users = Ok(UsersSeen {
            wanted: Some(user(USER, &granted())),
            stale: None,
        });
        w
    }

    fn plan(&self) -> Plan {
        let seen = Observation {
            facts: facts(),
            roles: clone_result(&self.roles),
            users: clone_result(&self.users),
            password: self.password.clone(),
        };
        let o = owner(&self.obj);
        let fresh = Password::from_secret("FreshPassword123".into());
        let conn = connection();
        let input = Input {
            obj: &self.obj,
            owner: &o,
            adopt: self.adopt,
            seen: &seen,
            connection: &conn,
            external_id: "ext-1",
            user_name: user_name(&self.obj, true),
            rotation: self.rotation,
            fresh_password: &fresh,
        };
        plan(&input)
    }
}

fn clone_result<T: Clone>(r: &Result<T, Error>) -> Result<T, Error> {
    match r {
        Ok(v) => Ok(v.clone()),
        Err(e) => Err(Error::terminal(&e.reason(), e.to_string())),
    }
}

fn reason(step: &Step) -> &str {
    match step {
        Step::Passed { reason, .. }
        | Step::Failed { reason, .. }
        | Step::Retrying { reason, .. }
        | Step::Waiting { reason, .. }
        | Step::Informational { reason, .. } => reason,
        Step::NotChecked => reasons::NOT_CHECKED,
    }
}

/// The SQL text of every statement, in order.
fn statements(p: &Plan) -> Vec<String> {
    p.actions
        .iter()
        .filter_map(|a| match a {
            Action::Sql { sql, .. } => Some(sql.text.clone()),
            _ => None,
        })
        .collect()
}

fn iam(p: &Plan) -> Vec<String> {
    p.actions
        .iter()
        .filter(|a| a.condition_type() == ROLE_READY)
        .map(|a| match a {
            Action::CreateRole { name, .. } => format!("CreateRole {name}"),
            Action::TagRole { name, .. } => format!("TagRole {name}"),
            Action::UpdateTrust { name, .. } => format!("UpdateAssumeRolePolicy {name}"),
            Action::UpdateMaxSession { seconds, .. } => format!("UpdateRole {seconds}"),
            Action::PutPolicy { policy, .. } => format!("PutRolePolicy {policy}"),
            Action::DeletePolicy { policy, .. } => format!("DeleteRolePolicy {policy}"),
            Action::DeleteRole { name } => format!("DeleteRole {name}"),
            other => format!("{other:?}"),
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------------------
// The role

#[test]
fn a_new_consumer_creates_its_role_user_grants_and_secret() {
    let w = World::new(consumer(polytomic(), json!({})));
    let p = w.plan();
    assert_eq!(
        iam(&p),
        [
            format!("CreateRole {ROLE}"),
            format!("PutRolePolicy {DATA_API_POLICY}"),
            format!("PutRolePolicy {CREDENTIALS_POLICY}")
        ]
    );
    let Action::CreateRole {
        trust,
        tags,
        max_session_seconds,
        ..
    } = &p.actions[0]
    else {
        panic!()
    };
    assert_eq!(tags, &owner(&w.obj).tags());
    assert_eq!(*max_session_seconds, 3600);
    assert_eq!(
        trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"],
        "ext-1"
    );
    assert_eq!(trust["Statement"][1]["Principal"]["AWS"], OPERATOR);
    assert_eq!(
        statements(&p),
        [
            format!("CREATE USER \"{USER}\" PASSWORD DISABLE"),
            format!("GRANT USAGE ON SCHEMA \"public\" TO \"{USER}\""),
            format!("GRANT SELECT ON ALL TABLES IN SCHEMA \"public\" TO \"{USER}\""),
            format!("GRANT TEMPORARY ON DATABASE \"dev\" TO \"{USER}\""),
        ]
    );
    assert!(matches!(
        p.actions.last(),
        Some(Action::PublishSecret { .. })
    ));
    assert_eq!(reason(&p.steps.role), reasons::APPLIED);
    assert!(p.claims.role_creating && p.claims.user_claiming);
    assert_eq!(p.claims.role_arn.as_deref(), Some(ROLE_ARN));
    assert_eq!(
        p.claims.grant_databases,
        BTreeSet::from(["dev".to_string()])
    );
}

#[test]
fn everything_in_place_plans_nothing_but_the_secret() {
    let p = World::in_sync().plan();
    assert_eq!(p.actions.len(), 1, "{:?}", p.actions);
    assert!(matches!(p.actions[0], Action::PublishSecret { .. }));
    for step in [&p.steps.role, &p.steps.user, &p.steps.grants] {
        assert_eq!(reason(step), reasons::IN_SYNC, "{step:?}");
    }
    assert!(!p.claims.role_creating && !p.claims.user_claiming);
}

#[test]
fn a_drifted_role_is_put_back_exactly() {
    let mut w = World::in_sync();
    let mut r = role_in_sync(&w.obj);
    r.trust = Some(policy::trust_policy(
        w.obj.spec.role.as_ref().unwrap(),
        "other",
        Some(OPERATOR),
    ));
    r.max_session_seconds = 7200;
    r.policies.insert(
        DATA_API_POLICY.into(),
        Some(json!({"Version": "2012-10-17", "Statement": []})),
    );
    r.policies.insert("hand-made".into(), Some(json!({})));
    w.roles = Ok(RolesSeen {
        wanted: Some(r),
        stale: None,
        operator: Some(OPERATOR.into()),
    });
    assert_eq!(
        iam(&w.plan()),
        [
            format!("UpdateAssumeRolePolicy {ROLE}"),
            "UpdateRole 3600".to_string(),
            format!("PutRolePolicy {DATA_API_POLICY}"),
            "DeleteRolePolicy hand-made".to_string(),
        ]
    );
}

#[test]
fn a_role_this_object_did_not_create_is_left_alone_unless_adopted() {
    let mut w = World::in_sync();
    let mut r = role_in_sync(&w.obj);
    r.tags = BTreeMap::from([("team".into(), "data".into())]);
    w.roles = Ok(RolesSeen {
        wanted: Some(r.clone()),
        stale: None,
        operator: Some(OPERATOR.into()),
    });
    let refused = w.plan();
    assert!(iam(&refused).is_empty());
    assert!(
        matches!(&refused.steps.role, Step::Failed { reason, message } if reason == reasons::ROLE_EXISTS && message.contains("zeroetl.dev/adopt"))
    );
    assert_eq!(refused.claims.role_arn, None, "not claimed in status");

    w.adopt = true;
    assert_eq!(iam(&w.plan()), [format!("TagRole {ROLE}")]);

    let mut other_uid = r.clone();
    other_uid.tags = Owner {
        uid: "uid-0".into(),
        ..owner(&w.obj)
    }
    .tags();
    w.adopt = false;
    w.roles = Ok(RolesSeen {
        wanted: Some(other_uid),
        stale: None,
        operator: Some(OPERATOR.into()),
    });
    assert_eq!(
        iam(&w.plan()),
        [format!("TagRole {ROLE}")],
        "ours before a restore: re-tagged"
    );

    let mut foreign = r;
    foreign.tags = Owner {
        namespace: "team-b".into(),
        ..owner(&w.obj)
    }
    .tags();
    w.adopt = true;
    w.roles = Ok(RolesSeen {
        wanted: Some(foreign),
        stale: None,
        operator: Some(OPERATOR.into()),
    });
    let p = w.plan();
    assert!(iam(&p).is_empty());
    assert_eq!(
        reason(&p.steps.role),
        reasons::ROLE_OWNED_ELSEWHERE,
        "even with the adopt annotation"
    );
}

#[test]
fn a_renamed_or_removed_role_is_deleted_when_it_was_ours() {
    let mut w = World::in_sync();
    let mut old = role_in_sync(&w.obj);
    old.name = "zeroetl-old".into();
    w.roles = Ok(RolesSeen {
        wanted: None,
        stale: Some(old.clone()),
        operator: Some(OPERATOR.into()),
    });
    let p = w.plan();
    assert_eq!(
        iam(&p)[..3],
        [
            format!("DeleteRolePolicy {DATA_API_POLICY}"),
            format!("DeleteRolePolicy {CREDENTIALS_POLICY}"),
            "DeleteRole zeroetl-old".to_string()
        ]
    );
    assert_eq!(iam(&p)[3], format!("CreateRole {ROLE}"));

    let mut spec = polytomic();
    spec.as_object_mut().unwrap().remove("role");
    spec["databaseUser"]["name"] = json!(USER);
    let mut removed = World::new(consumer(
        spec,
        json!({"roleArn": "arn:aws:iam::111111111111:role/zeroetl-old"}),
    ));
    removed.roles = Ok(RolesSeen {
        wanted: None,
        stale: Some(old.clone()),
        operator: None,
    });
    let p = removed.plan();
    assert_eq!(
        iam(&p).last().map(String::as_str),
        Some("DeleteRole zeroetl-old")
    );
    assert_eq!(
        (reason(&p.steps.role), p.claims.role_arn.clone()),
        (reasons::APPLIED, None)
    );

    old.tags.clear();
    removed.roles = Ok(RolesSeen {
        wanted: None,
        stale: Some(old),
        operator: None,
    });
    let p = removed.plan();
    assert!(iam(&p).is_empty(), "an untagged role is never deleted");
    assert_eq!(reason(&p.steps.role), reasons::NOT_REQUESTED);
}

#[test]
fn an_iam_read_error_is_reported_on_the_role_only() {
    let mut w = World::new(consumer(polytomic(), json!({})));
    w.roles = Err(Error::Aws {
        service: "iam",
        action: "GetRole",
        code: "AccessDenied".into(),
        message: "no".into(),
        kind: AwsErrorKind::AccessDenied,
    });
    let p = w.plan();
    assert!(iam(&p).is_empty());
    assert_eq!(reason(&p.steps.role), "AccessDenied");
    assert_eq!(statements(&p).len(), 4, "the user and its grants go ahead");
}

// ---------------------------------------------------------------------------------------------------------
// The user

#[test]
fn a_user_this_object_did_not_create_is_left_alone_unless_adopted() {
    let mut w = World::new(consumer(polytomic(), json!({})));
    w.users = Ok(UsersSeen {
        wanted: Some(user(USER, &[schema("dev", "public", "CREATE")])),
        stale: None,
    });
    let p = w.plan();
    assert!(statements(&p).is_empty());
    assert_eq!(reason(&p.steps.user), reasons::USER_EXISTS);
    assert_eq!(p.steps.grants, Step::NotChecked);
    assert_eq!(p.claims.user, None);

    w.adopt = true;
    let p = w.plan();
    let sql = statements(&p);
    assert_eq!(sql[0], format!("ALTER USER \"{USER}\" PASSWORD DISABLE"));
    assert!(
        sql.contains(&format!(
            "REVOKE CREATE ON SCHEMA \"public\" FROM \"{USER}\""
        )),
        "{sql:?}"
    );
    assert_eq!(sql.len(), 5, "{sql:?}");
    assert!(p.claims.user_claiming);
}

#[test]
fn superusers_are_never_managed() {
    let mut w = World::new(consumer(polytomic(), json!({})));
    w.adopt = true;
    w.users = Ok(UsersSeen {
        wanted: Some(UserSeen {
            superuser: true,
            ..user(USER, &[])
        }),
        stale: None,
    });
    let p = w.plan();
    assert!(statements(&p).is_empty());
    assert_eq!(reason(&p.steps.user), reasons::SUPERUSER);
}

fn tonic(status: Value) -> RedshiftConsumer {
    consumer(
        json!({"connectionRef": {"name": "analytics"},
               "databaseUser": {"name": "tonic_user", "authentication": "Password",
                                "grants": [{"type": "SelectSystemView", "view": "svv_table_info"}]}}),
        status,
    )
}

fn secret_writes(p: &Plan) -> Vec<String> {
    p.actions
        .iter()
        .filter_map(|a| match a {
            Action::WritePasswordSecret { name, password, .. } => {
                Some(format!("{name}={}", password.expose()))
            }
            Action::DeletePasswordSecret { name } => Some(format!("delete {name}")),
            _ => None,
        })
        .collect()
}

#[test]
fn a_password_user_gets_a_generated_password_in_its_own_secret() {
    let mut w = World::new(tonic(json!({})));
    w.users = Ok(UsersSeen {
        wanted: Some(missing_user("tonic_user")),
        stale: None,
    });
    let p = w.plan();
    assert_eq!(secret_writes(&p), ["polytomic-password=FreshPassword123"]);
    let sql = statements(&p);
    assert!(
        sql[0].starts_with("CREATE USER \"tonic_user\" PASSWORD 'md5"),
        "{sql:?}"
    );
    assert_eq!(
        sql[1],
        "GRANT SELECT ON \"pg_catalog\".\"svv_table_info\" TO \"tonic_user\""
    );
    let write = p
        .actions
        .iter()
        .position(|a| matches!(a, Action::WritePasswordSecret { .. }))
        .unwrap();
    let create = p
        .actions
        .iter()
        .position(|a| matches!(a, Action::Sql { .. }))
        .unwrap();
    assert!(
        write < create,
        "the Secret first: a password never exists only in the database"
    );
    let Some(Action::PublishSecret { data, .. }) = p.actions.last() else {
        panic!()
    };
    assert!(
        data.values().all(|v| !v.contains("FreshPassword123")) && !data.contains_key("password")
    );

    // The Secret survived a dropped user: its password is reused, nothing is written.
    w.password = Some(Password::from_secret("KeptPassword123".into()));
    let p = w.plan();
    assert!(secret_writes(&p).is_empty());
    assert_eq!(
        statements(&p)[0],
        format!(
            "CREATE USER \"tonic_user\" PASSWORD '{}'",
            Password::from_secret("KeptPassword123".into()).md5_for("tonic_user")
        )
    );
}

#[test]
fn passwords_are_replaced_on_rotation_or_loss_and_only_then() {
    let held = [table("dev", "pg_catalog", "svv_table_info", "SELECT")];
    let status = json!({"databaseUser": {"name": "tonic_user", "authentication": "Password"}, "passwordRotation": "1"});
    let mut w = World::new(tonic(status));
    w.users = Ok(UsersSeen {
        wanted: Some(user("tonic_user", &held)),
        stale: None,
    });
    w.password = Some(Password::from_secret("KeptPassword123".into()));
    w.rotation = Some("1");
    let steady = w.plan();
    assert!(secret_writes(&steady).is_empty() && statements(&steady).is_empty());
    assert_eq!(steady.claims.rotation.as_deref(), Some("1"));

    w.rotation = Some("2");
    let rotated = w.plan();
    assert_eq!(
        secret_writes(&rotated),
        ["polytomic-password=FreshPassword123"]
    );
    assert!(statements(&rotated)[0].starts_with("ALTER USER \"tonic_user\" PASSWORD 'md5"));
    assert_eq!(rotated.claims.rotation.as_deref(), Some("2"));

    w.rotation = Some("1");
    w.password = None;
    assert_eq!(
        secret_writes(&w.plan()).len(),
        1,
        "a lost Secret means a new password"
    );
    w.password = Some(Password::from_secret("bad".into()));
    assert_eq!(
        secret_writes(&w.plan()).len(),
        1,
        "so does one Redshift would refuse"
    );
}

#[test]
fn switching_to_iam_disables_the_password_and_deletes_its_secret() {
    let mut spec = serde_json::to_value(&tonic(json!({})).spec).unwrap();
    spec["databaseUser"]["authentication"] = json!("Iam");
    let obj = consumer(
        spec,
        json!({"databaseUser": {"name": "tonic_user", "authentication": "Password"}}),
    );
    let mut w = World::new(obj);
    w.users = Ok(UsersSeen {
        wanted: Some(user(
            "tonic_user",
            &[table("dev", "pg_catalog", "svv_table_info", "SELECT")],
        )),
        stale: None,
    });
    w.password = Some(Password::from_secret("KeptPassword123".into()));
    let p = w.plan();
    assert_eq!(
        statements(&p),
        ["ALTER USER \"tonic_user\" PASSWORD DISABLE"]
    );
    assert_eq!(secret_writes(&p), ["delete polytomic-password"]);
    assert_eq!(
        p.claims.user,
        Some(ManagedUser {
            name: "tonic_user".into(),
            authentication: UserAuthentication::Iam
        })
    );
}

#[test]
fn a_renamed_user_loses_its_privileges_and_is_dropped() {
    let mut w = World::in_sync();
    w.users = Ok(UsersSeen {
        wanted: Some(missing_user(USER)),
        stale: Some(user(
            "old_user",
            &[
                schema("dev", "public", "USAGE"),
                default("dev", "public"),
                database("dev", "TEMP"),
            ],
        )),
    });
    let sql = statements(&w.plan());
    assert_eq!(
        sql[..4],
        [
            "REVOKE USAGE ON SCHEMA \"public\" FROM \"old_user\"".to_string(),
            "ALTER DEFAULT PRIVILEGES IN SCHEMA \"public\" REVOKE SELECT ON TABLES FROM \"old_user\"".to_string(),
            "REVOKE TEMPORARY ON DATABASE \"dev\" FROM \"old_user\"".to_string(),
            "DROP USER \"old_user\"".to_string(),
        ]
    );
    assert_eq!(sql[4], format!("CREATE USER \"{USER}\" PASSWORD DISABLE"));
}

#[test]
fn a_catalog_error_holds_up_the_user_and_its_grants_only() {
    let mut w = World::new(consumer(polytomic(), json!({})));
    w.users = Err(Error::waiting(
        reasons::OBJECT_NOT_FOUND,
        "database orders does not exist",
        Duration::from_secs(30),
    ));
    let p = w.plan();
    assert!(statements(&p).is_empty());
    assert_eq!(reason(&p.steps.user), reasons::OBJECT_NOT_FOUND);
    assert_eq!(reason(&p.steps.grants), reasons::OBJECT_NOT_FOUND);
    assert_eq!(iam(&p).len(), 3, "the role goes ahead");
}

// ---------------------------------------------------------------------------------------------------------
// Grants

#[test]
fn grants_removed_from_the_spec_and_privileges_nobody_declared_are_revoked() {
    let mut w = World::in_sync();
    let mut spec = polytomic();
    spec["databaseUser"]["grants"] = json!([{"type": "SchemaUsage", "schema": "public"}]);
    w.obj.spec = serde_json::from_value(spec).unwrap();
    let mut held = granted();
    held.push(table("dev", "public", "orders", "INSERT"));
    held.push(table("dev", "pg_catalog", "svv_table_info", "SELECT"));
    held.push(database("orders", "CREATE"));
    held.push(schema("dev", "public", "MYSTERY"));
    w.users = Ok(UsersSeen {
        wanted: Some(user(USER, &held)),
        stale: None,
    });
    let p = w.plan();
    assert_eq!(
        statements(&p),
        [
            format!("REVOKE SELECT ON \"pg_catalog\".\"svv_table_info\" FROM \"{USER}\""),
            format!("REVOKE TEMPORARY ON DATABASE \"dev\" FROM \"{USER}\""),
            format!("REVOKE CREATE ON DATABASE \"orders\" FROM \"{USER}\""),
            format!("REVOKE INSERT ON ALL TABLES IN SCHEMA \"public\" FROM \"{USER}\""),
            format!("REVOKE SELECT ON ALL TABLES IN SCHEMA \"public\" FROM \"{USER}\""),
        ],
        "one statement per schema and privilege; an unknown privilege is left alone"
    );
    assert!(p
        .actions
        .iter()
        .all(|a| a.condition_type() != GRANTS_APPLIED
            || matches!(a, Action::Sql { event, .. } if *event == reasons::REVOKED_EVENT)));
}

#[test]
fn a_new_table_is_granted_again_unless_default_privileges_cover_it() {
    let mut w = World::in_sync();
    let mut u = user(USER, &granted());
    u.tables
        .get_mut(&("dev".to_string(), "public".to_string()))
        .unwrap()
        .insert("refunds".into());
    w.users = Ok(UsersSeen {
        wanted: Some(u.clone()),
        stale: None,
    });
    assert_eq!(
        statements(&w.plan()),
        [format!(
            "GRANT SELECT ON ALL TABLES IN SCHEMA \"public\" TO \"{USER}\""
        )]
    );

    // SelectFutureTables alone: tables that got SELECT through the default privilege are not revoked.
    let mut spec = polytomic();
    spec["databaseUser"]["grants"] = json!([{"type": "SelectFutureTables", "schema": "public"}]);
    w.obj.spec = serde_json::from_value(spec).unwrap();
    let mut held: Vec<Held> = vec![
        default("dev", "public"),
        table("dev", "public", "refunds", "SELECT"),
    ];
    held.push(database("dev", "TEMP"));
    w.users = Ok(UsersSeen {
        wanted: Some(user(USER, &held)),
        stale: None,
    });
    assert_eq!(
        statements(&w.plan()),
        [format!(
            "REVOKE TEMPORARY ON DATABASE \"dev\" FROM \"{USER}\""
        )]
    );
}

#[test]
fn grants_resolve_their_database_and_run_where_they_apply() {
    let wanted = grants::wanted(
        &serde_json::from_value::<Vec<zeroetl_api::consumer::Grant>>(json!([
            {"type": "SelectFutureTables", "schema": "s", "database": "orders"},
            {"type": "DatabaseCreate", "database": "orders"},
            {"type": "SchemaDrop", "schema": "s"},
        ]))
        .unwrap(),
        "dev",
    );
    assert_eq!(
        grants::databases(&wanted),
        BTreeSet::from(["dev".to_string(), "orders".to_string()])
    );
    let p = grants::plan(
        &wanted,
        &UserSeen {
            name: "u".into(),
            exists: true,
            ..Default::default()
        },
        "dev",
    );
    let runs: Vec<(String, String)> = p
        .actions
        .iter()
        .map(|a| match a {
            Action::Sql { sql, .. } => (sql.database.clone(), sql.text.clone()),
            _ => panic!(),
        })
        .collect();
    assert_eq!(
        runs,
        [
            (
                "orders".to_string(),
                "ALTER DEFAULT PRIVILEGES IN SCHEMA \"s\" GRANT SELECT ON TABLES TO \"u\""
                    .to_string()
            ),
            (
                "dev".to_string(),
                "GRANT CREATE ON DATABASE \"orders\" TO \"u\"".to_string()
            ),
            (
                "dev".to_string(),
                "GRANT DROP ON SCHEMA \"s\" TO \"u\"".to_string()
            ),
        ]
    );
    assert!(wanted
        .iter()
        .any(|w| w.type_ == GrantType::DatabaseCreate && w.object == "orders"));
}

// ---------------------------------------------------------------------------------------------------------
// The Secret, names, decisions

#[test]
fn the_coordinates_secret_holds_coordinates_and_the_role_never_a_password() {
    let p = World::in_sync().plan();
    let Some(Action::PublishSecret { name, data }) = p.actions.last() else {
        panic!()
    };
    assert_eq!(name, "polytomic-access");
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "database",
            "externalId",
            "host",
            "jdbcUrl",
            "namespaceArn",
            "port",
            "region",
            "roleArn",
            "username",
            "workgroup"
        ]
    );
    assert_eq!(
        (
            data["roleArn"].as_str(),
            data["externalId"].as_str(),
            data["username"].as_str()
        ),
        (ROLE_ARN, "ext-1", USER)
    );

    let mut no_endpoint = World::in_sync();
    let seen = Observation {
        facts: WarehouseFacts {
            warehouse: Warehouse {
                endpoint: None,
                ..warehouse()
            },
            ..facts()
        },
        roles: clone_result(&no_endpoint.roles),
        users: clone_result(&no_endpoint.users),
        password: None,
    };
    no_endpoint.password = None;
    let o = owner(&no_endpoint.obj);
    let fresh = Password::generate();
    let conn = connection();
    let p = plan(&Input {
        obj: &no_endpoint.obj,
        owner: &o,
        adopt: false,
        seen: &seen,
        connection: &conn,
        external_id: "ext-1",
        user_name: Some(USER.into()),
        rotation: None,
        fresh_password: &fresh,
    });
    assert_eq!(reason(&p.steps.secret), reasons::ENDPOINT_PENDING);
}

#[test]
fn user_names_default_to_the_roles_serverless_user_and_provisioned_needs_one() {
    let obj = consumer(polytomic(), json!({}));
    assert_eq!(user_name(&obj, true).as_deref(), Some(USER));
    assert_eq!(user_name(&obj, false), None);
    assert_eq!(spec_problems(&obj, true), vec![]);
    let paths: Vec<String> = spec_problems(&obj, false)
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert_eq!(paths, ["spec.databaseUser.name"]);
    let mut no_user = polytomic();
    no_user.as_object_mut().unwrap().remove("databaseUser");
    let paths: Vec<String> = spec_problems(&consumer(no_user, json!({})), false)
        .into_iter()
        .map(|e| e.path)
        .collect();
    assert_eq!(paths, ["spec.databaseUser"]);
}

#[test]
fn decisions_follow_the_steps() {
    let passed = Step::passed("Ok", "ok");
    let mut steps = Steps {
        role: passed.clone(),
        user: passed.clone(),
        grants: passed.clone(),
        secret: passed.clone(),
        verified: Step::Informational {
            status: Status::Unknown,
            reason: reasons::SKIPPED.into(),
            message: String::new(),
        },
    };
    assert!(
        decide(&steps, "fine", Duration::from_secs(300))
            .progress
            .is_ready(),
        "a skipped verification does not hold Ready"
    );
    steps.user = Step::failed(reasons::USER_EXISTS, "x");
    assert!(decide(&steps, "", Duration::ZERO).progress.is_stalled());
    steps.verified = Step::waiting(reasons::VERIFYING, "v", Duration::from_secs(2));
    let d = decide(&steps, "", Duration::ZERO);
    assert!(
        matches!(d.progress, crate::progress::Progress::InProgress { ref reason, .. } if reason == reasons::VERIFYING)
    );
    steps.verified = Step::NotChecked;
    steps.user = passed;
    assert!(
        !decide(&steps, "", Duration::ZERO).progress.is_ready(),
        "an unchecked step is not Ready"
    );
    assert_eq!(decide(&steps, "", Duration::ZERO).conditions.len(), 5);
}

// ---------------------------------------------------------------------------------------------------------
// Deletion and status

#[test]
fn deletion_revokes_drops_and_deletes_only_what_is_ours() {
    let obj = consumer(polytomic(), json!({}));
    let o = owner(&obj);
    let role = role_in_sync(&obj);
    let u = user(USER, &granted());
    let p = plan_delete(&o, Some(&role), Some(&u), "dev");
    assert!(!p.release);
    let kinds: Vec<String> = p
        .actions
        .iter()
        .map(|a| match a {
            Action::Sql { sql, .. } => sql.text.split(' ').take(2).collect::<Vec<_>>().join(" "),
            Action::DeletePolicy { .. } => "DeleteRolePolicy".into(),
            Action::DeleteRole { .. } => "DeleteRole".into(),
            other => format!("{other:?}"),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "REVOKE USAGE",
            "REVOKE TEMPORARY",
            "REVOKE SELECT",
            "DROP USER",
            "DeleteRolePolicy",
            "DeleteRolePolicy",
            "DeleteRole"
        ]
    );
    let mut foreign = role.clone();
    foreign.tags.clear();
    let p = plan_delete(&o, Some(&foreign), Some(&missing_user(USER)), "dev");
    assert!(p.release && p.actions.is_empty());
    assert!(plan_delete(&o, None, None, "dev").release);
}

#[test]
fn status_claims_only_what_happened_and_keeps_the_external_id() {
    let obj = consumer(polytomic(), json!({"grantDatabases": ["old"]}));
    let claims = Claims {
        role_arn: Some(ROLE_ARN.into()),
        role_creating: true,
        user: Some(ManagedUser {
            name: USER.into(),
            authentication: UserAuthentication::Iam,
        }),
        user_claiming: true,
        rotation: None,
        grant_databases: BTreeSet::from(["dev".to_string()]),
    };
    let now = chrono::Utc::now();
    let ok = status::next(
        &obj,
        &claims,
        &Outcomes::default(),
        Some("ext-1".into()),
        true,
        now,
    );
    assert_eq!(
        (ok.role_arn.as_deref(), ok.external_id.as_deref()),
        (Some(ROLE_ARN), Some("ext-1"))
    );
    assert_eq!(ok.grant_databases, ["dev"]);
    assert!(ok.last_verified_time.is_some());

    let failed = Outcomes {
        failed: BTreeSet::from([ROLE_READY, DATABASE_USER_READY]),
        user_submitted: false,
    };
    let s = status::next(&obj, &claims, &failed, Some("ext-1".into()), false, now);
    assert_eq!(
        (s.role_arn, s.database_user),
        (None, None),
        "nothing claimed that was not created"
    );
    assert_eq!(
        s.external_id.as_deref(),
        Some("ext-1"),
        "the generated id survives a failed pass"
    );
    assert_eq!(s.grant_databases, ["dev", "old"]);

    let submitted = Outcomes {
        failed: BTreeSet::from([DATABASE_USER_READY]),
        user_submitted: true,
    };
    let s = status::next(&obj, &claims, &submitted, None, false, now);
    assert!(s.database_user.is_some(), "a submitted CREATE USER is ours");
}
