//! The reasons this reconciler writes on its step conditions.

pub const ACCESS_DENIED: &str = "AccessDenied";
pub const SECRET_NOT_FOUND: &str = "SecretNotFound";
pub const INVALID_ACCESS_KEY_SECRET: &str = "InvalidAccessKeySecret";
pub const DESCRIBED: &str = "Described";
pub const IDENTITY_ACCEPTED: &str = "IdentityAccepted";
pub const WAREHOUSE_NOT_FOUND: &str = "WarehouseNotFound";
pub const ISSUED: &str = "Issued";
pub const NOT_NEEDED: &str = "NotNeeded";
pub const QUERY_SUCCEEDED: &str = "QuerySucceeded";
pub const QUERY_FAILED: &str = "QueryFailed";
pub const QUERY_RUNNING: &str = "QueryRunning";
pub const NOT_CONFIGURED: &str = "NotConfigured";
pub const STAGING_VERIFIED: &str = "Verified";
pub const BUCKET_NOT_FOUND: &str = "BucketNotFound";
pub const BUCKET_REGION_MISMATCH: &str = "BucketRegionMismatch";
pub const ROLE_NOT_ATTACHED: &str = "RoleNotAttached";
pub const KMS_KEY_NOT_USABLE: &str = "KmsKeyNotUsable";
pub const ENABLED: &str = "Enabled";
pub const DISABLED: &str = "Disabled";
pub const PENDING_REBOOT: &str = "PendingReboot";
pub const APPLYING: &str = "Applying";
pub const REBOOTING: &str = "Rebooting";
pub const PUBLISHED: &str = "Published";
pub const NOT_REQUESTED: &str = "NotRequested";
pub const SECRET_CONFLICT: &str = "SecretConflict";
pub const NOT_CHECKED: &str = "NotChecked";
