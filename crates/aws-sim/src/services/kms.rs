//! KMS (awsJson 1.1): DescribeKey by key id, key ARN, alias name or alias ARN.

use serde_json::json;

use super::unknown_action;
use crate::model::{KmsKey, World};
use crate::server::{ApiRequest, Ctx};
use crate::wire::{epoch, ApiError, ApiResult, Reply};

pub fn handle(ctx: &mut Ctx, req: &ApiRequest) -> ApiResult<Reply> {
    match req.action.as_str() {
        "DescribeKey" => describe_key(ctx, req),
        _ => Err(unknown_action(req)),
    }
}

/// A key in `account`/`region` named by id, key ARN, `alias/name` or alias ARN.
pub fn find_key<'a>(
    world: &'a World,
    account: &str,
    region: &str,
    key: &str,
) -> Option<&'a KmsKey> {
    let alias = key
        .split(":alias/")
        .nth(1)
        .map(|a| format!("alias/{a}"))
        .unwrap_or_else(|| key.to_string());
    world
        .accounts
        .get(account)?
        .kms_keys
        .values()
        .filter(|k| k.region == region)
        .find(|k| k.id == key || k.arn == key || k.aliases.contains(&alias))
}

fn describe_key(ctx: &mut Ctx, req: &ApiRequest) -> ApiResult<Reply> {
    let key = req
        .str("KeyId")
        .ok_or_else(|| ApiError::validation("KeyId is required"))?;
    let k = find_key(ctx.world, &ctx.caller.account, ctx.region, key)
        .ok_or_else(|| ApiError::bad("NotFoundException", format!("Key '{key}' does not exist")))?;
    Ok(Reply::Json(json!({"KeyMetadata": {
        "AWSAccountId": ctx.caller.account,
        "KeyId": k.id,
        "Arn": k.arn,
        "CreationDate": epoch(&k.creation_date),
        "Enabled": true,
        "Description": k.description,
        "KeyUsage": "ENCRYPT_DECRYPT",
        "KeyState": "Enabled",
        "Origin": "AWS_KMS",
        "KeyManager": "CUSTOMER",
        "CustomerMasterKeySpec": "SYMMETRIC_DEFAULT",
        "KeySpec": "SYMMETRIC_DEFAULT",
        "EncryptionAlgorithms": ["SYMMETRIC_DEFAULT"],
        "MultiRegion": false,
    }})))
}
