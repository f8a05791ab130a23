//! The reasons this reconciler writes on its step conditions, and the reasons of the events it publishes.

pub const NOT_REQUESTED: &str = "NotRequested";
pub const APPLIED: &str = "Applied";
pub const IN_SYNC: &str = "InSync";
pub const PUBLISHED: &str = "Published";
pub const ROLE_EXISTS: &str = "RoleExists";
pub const ROLE_OWNED_ELSEWHERE: &str = "RoleOwnedElsewhere";
pub const USER_EXISTS: &str = "UserExists";
pub const SUPERUSER: &str = "Superuser";
pub const NOT_CHECKED: &str = "NotChecked";
pub const CONNECTION_NOT_FOUND: &str = "ConnectionNotFound";
pub const CONNECTION_NOT_READY: &str = "ConnectionNotReady";
pub const ENDPOINT_PENDING: &str = "EndpointPending";
/// SQL failed because a database, schema or table does not exist (yet: a zero-ETL database appears later).
pub const OBJECT_NOT_FOUND: &str = "ObjectNotFound";
pub const STATEMENT_FAILED: &str = "StatementFailed";
pub const STATEMENT_RUNNING: &str = "StatementRunning";
pub const VERIFIED: &str = "Verified";
pub const VERIFYING: &str = "Verifying";
pub const SKIPPED: &str = "Skipped";
pub const NOT_APPLICABLE: &str = "NotApplicable";
pub const ROLE_REFUSED: &str = "RoleRefused";
/// IAM changes take a few seconds to reach every endpoint: a denial right after a change is waited out.
pub const PROPAGATING: &str = "Propagating";
pub const ROLE_NOT_ATTACHED: &str = "RoleNotAttached";

// Events.
pub const CREATED_ROLE_EVENT: &str = "CreatedRole";
pub const ADOPTED_ROLE_EVENT: &str = "AdoptedRole";
pub const UPDATED_ROLE_EVENT: &str = "UpdatedRole";
pub const DELETED_ROLE_EVENT: &str = "DeletedRole";
pub const CREATED_USER_EVENT: &str = "CreatedDatabaseUser";
pub const ALTERED_USER_EVENT: &str = "AlteredDatabaseUser";
pub const ROTATED_PASSWORD_EVENT: &str = "RotatedPassword";
pub const DROPPED_USER_EVENT: &str = "DroppedDatabaseUser";
pub const GRANTED_EVENT: &str = "Granted";
pub const REVOKED_EVENT: &str = "Revoked";
