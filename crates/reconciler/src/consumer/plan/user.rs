//! DatabaseUserReady: the user exists, is this object's, and logs in the declared way — `PASSWORD DISABLE`
//! for Iam users; for Password users, the password in the user's own Secret (generated, replaced when the
//! rotate annotation changes or the Secret is lost). Redshift users carry no tags: a user is this object's
//! when status.databaseUser names it (it was created or adopted here); any other existing user needs the
//! adopt annotation. A superuser is never managed.

use zeroetl_api::conditions::DATABASE_USER_READY;
use zeroetl_api::consumer::{ManagedUser, UserAuthentication};

use super::grants::revoke_everything;
use super::{reasons, Action, Input, Step};
use crate::consumer::observed::UserSeen;
use crate::consumer::password::Password;
use crate::consumer::sql;

/// Annotation whose every new value replaces a Password user's password.
pub const ROTATE_PASSWORD_ANNOTATION: &str = "zeroetl.dev/rotate-password";

#[derive(Debug)]
pub struct UserPlan {
    pub step: Step,
    pub actions: Vec<Action>,
    /// The user this object manages once the actions ran.
    pub managed: Option<ManagedUser>,
    /// The user is being created or adopted this pass: claimed in status only once that worked.
    pub claiming: bool,
    /// status.passwordRotation once the actions ran.
    pub rotation: Option<String>,
    /// The user exists (or is being created) and is this object's: its grants may be planned.
    pub grants_allowed: bool,
}

pub fn plan(input: &Input) -> UserPlan {
    let obj = input.obj;
    let status = obj.status.clone().unwrap_or_default();
    let db = &input.seen.facts.database;
    let mut actions = Vec::new();
    let users = match &input.seen.users {
        Ok(u) => u,
        Err(e) => {
            return UserPlan {
                step: Step::from_error(e),
                actions,
                managed: status.database_user.clone(),
                claiming: false,
                rotation: status.password_rotation.clone(),
                grants_allowed: false,
            }
        }
    };
    if let Some(stale) = users.stale.as_ref().filter(|u| u.exists) {
        actions.extend(teardown(stale, db));
    }
    let (Some(spec), Some(name)) = (&obj.spec.database_user, input.user_name.clone()) else {
        let step = match actions.is_empty() {
            true => Step::passed(reasons::NOT_REQUESTED, "spec.databaseUser is not set"),
            false => Step::passed(
                reasons::APPLIED,
                "dropping the user this object no longer declares",
            ),
        };
        if obj.spec.database_user.is_none() {
            actions.extend(delete_password_secret(input, &status));
        }
        return UserPlan {
            step,
            actions,
            managed: None,
            claiming: false,
            rotation: None,
            grants_allowed: false,
        };
    };
    let auth = spec.authentication;
    let managed = ManagedUser {
        name: name.clone(),
        authentication: auth,
    };
    let wanted = users.wanted.clone().unwrap_or_default();
    let rotation_value = input.rotation.map(str::to_string);
    let rotation_due = rotation_value.is_some() && rotation_value != status.password_rotation;
    let ours = status
        .database_user
        .as_ref()
        .is_some_and(|u| u.name == name);
    let claiming;

    let (reason, message) = if !wanted.exists {
        claiming = true;
        let password = match auth {
            UserAuthentication::Iam => None,
            UserAuthentication::Password => Some(password_for_new_user(input, &name, &mut actions)),
        };
        actions.push(user_sql(
            reasons::CREATED_USER_EVENT,
            sql::create_user(db, &name, password.as_ref()),
        ));
        (reasons::APPLIED, format!("creating database user {name}"))
    } else if wanted.superuser {
        return refused(
            actions,
            reasons::SUPERUSER,
            format!("database user {name} is a superuser; the operator does not manage superusers (grants mean nothing to them)"),
        );
    } else if !ours && !input.adopt {
        return refused(
            actions,
            reasons::USER_EXISTS,
            format!(
                "database user {name} exists and was not created by this object; to let the operator manage it (its \
                 login and privileges are replaced), annotate the object zeroetl.dev/adopt=true, or choose another name"
            ),
        );
    } else {
        claiming = !ours;
        let auth_changed = status
            .database_user
            .as_ref()
            .is_some_and(|u| u.authentication != auth);
        match auth {
            UserAuthentication::Iam if claiming || auth_changed => {
                actions.push(user_sql(
                    reasons::ALTERED_USER_EVENT,
                    sql::alter_user_password(db, &name, None),
                ));
                (
                    reasons::APPLIED,
                    format!("database user {name} now logs in with IAM credentials only"),
                )
            }
            UserAuthentication::Iam => (
                reasons::IN_SYNC,
                format!("database user {name} logs in with IAM credentials only"),
            ),
            UserAuthentication::Password => {
                let lost = input
                    .seen
                    .password
                    .as_ref()
                    .is_none_or(|p| !p.is_acceptable());
                if claiming || auth_changed || lost || rotation_due {
                    let fresh = input.fresh_password.clone();
                    actions.push(Action::WritePasswordSecret {
                        name: obj.password_secret_name(),
                        user: name.clone(),
                        password: fresh.clone(),
                    });
                    actions.push(user_sql(
                        reasons::ROTATED_PASSWORD_EVENT,
                        sql::alter_user_password(db, &name, Some(&fresh)),
                    ));
                    (
                        reasons::APPLIED,
                        format!(
                            "setting a new password for database user {name} (Secret {})",
                            obj.password_secret_name()
                        ),
                    )
                } else {
                    (
                        reasons::IN_SYNC,
                        format!(
                            "database user {name}'s password is in Secret {}",
                            obj.password_secret_name()
                        ),
                    )
                }
            }
        }
    };
    if auth == UserAuthentication::Iam {
        actions.extend(delete_password_secret(input, &status));
    }
    UserPlan {
        step: Step::passed(reason, message),
        actions,
        managed: Some(managed),
        claiming,
        rotation: match auth {
            UserAuthentication::Password => rotation_value.or(status.password_rotation),
            UserAuthentication::Iam => None,
        },
        grants_allowed: true,
    }
}

/// A new Password user reuses the password its Secret still holds (the user was dropped by hand, or a pass
/// stopped between writing the Secret and creating the user); otherwise a fresh one goes into the Secret.
fn password_for_new_user(input: &Input, user: &str, actions: &mut Vec<Action>) -> Password {
    match input.seen.password.as_ref().filter(|p| p.is_acceptable()) {
        Some(p) => p.clone(),
        None => {
            actions.push(Action::WritePasswordSecret {
                name: input.obj.password_secret_name(),
                user: user.to_string(),
                password: input.fresh_password.clone(),
            });
            input.fresh_password.clone()
        }
    }
}

fn delete_password_secret(
    input: &Input,
    status: &zeroetl_api::RedshiftConsumerStatus,
) -> Option<Action> {
    let had_password = input.seen.password.is_some()
        || status
            .database_user
            .as_ref()
            .is_some_and(|u| u.authentication == UserAuthentication::Password);
    had_password.then(|| Action::DeletePasswordSecret {
        name: input.obj.password_secret_name(),
    })
}

fn user_sql(event: &'static str, sql: sql::Sql) -> Action {
    Action::Sql {
        step: DATABASE_USER_READY,
        event,
        sql,
    }
}

fn refused(actions: Vec<Action>, reason: &str, message: String) -> UserPlan {
    UserPlan {
        step: Step::failed(reason, message),
        actions,
        managed: None,
        claiming: false,
        rotation: None,
        grants_allowed: false,
    }
}

/// Removing a user: every privilege it holds in the databases looked at, then DROP USER (Redshift refuses
/// to drop a user that still holds any).
pub fn teardown(user: &UserSeen, connection_db: &str) -> Vec<Action> {
    let mut actions = revoke_everything(user, connection_db, DATABASE_USER_READY);
    actions.push(user_sql(
        reasons::DROPPED_USER_EVENT,
        sql::drop_user(connection_db, &user.name),
    ));
    actions
}
