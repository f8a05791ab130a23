//! KMS (awsJson 1.1): DescribeKey by key id, key ARN, alias name or alias ARN; Encrypt, Decrypt and
//! GenerateDataKey with a fake, unencrypted ciphertext that names its key and encryption context, so Decrypt
//! can check both (and IAM can evaluate kms:Decrypt on the right key).

use serde_json::{json, Value};

use super::unknown_action;
use crate::model::{KmsKey, World};
use crate::server::{ApiRequest, Ctx};
use crate::wire::{epoch, ApiError, ApiResult, Reply};

const MAGIC: &str = "aws-sim-kms-v1";

pub fn handle(ctx: &mut Ctx, req: &ApiRequest) -> ApiResult<Reply> {
    match req.action.as_str() {
        "DescribeKey" => describe_key(ctx, req),
        "Encrypt" => encrypt(ctx, req),
        "Decrypt" => decrypt(ctx, req),
        "GenerateDataKey" => generate_data_key(ctx, req),
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

fn key_for<'a>(ctx: &'a Ctx, req: &ApiRequest) -> ApiResult<&'a KmsKey> {
    let key = req
        .str("KeyId")
        .ok_or_else(|| ApiError::validation("KeyId is required"))?;
    find_key(ctx.world, &ctx.caller.account, ctx.region, key)
        .ok_or_else(|| ApiError::bad("NotFoundException", format!("Key '{key}' does not exist")))
}

fn describe_key(ctx: &mut Ctx, req: &ApiRequest) -> ApiResult<Reply> {
    let k = key_for(ctx, req)?;
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

/// The encryption context as canonical JSON (keys sorted), so equal contexts compare equal.
fn context_of(req: &ApiRequest) -> String {
    let ctx: std::collections::BTreeMap<String, String> = req
        .json
        .get("EncryptionContext")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    serde_json::to_string(&ctx).unwrap_or_default()
}

fn seal(key_arn: &str, context: &str, plaintext: &[u8]) -> String {
    let mut blob = format!("{MAGIC}\n{key_arn}\n{context}\n").into_bytes();
    blob.extend_from_slice(plaintext);
    base64::encode(&blob)
}

/// (key ARN, context, plaintext) of a ciphertext made here.
fn open(blob_b64: &str) -> Option<(String, String, Vec<u8>)> {
    let blob = base64::decode(blob_b64)?;
    let mut parts = blob.splitn(4, |b| *b == b'\n');
    if parts.next()? != MAGIC.as_bytes() {
        return None;
    }
    let key = String::from_utf8(parts.next()?.to_vec()).ok()?;
    let context = String::from_utf8(parts.next()?.to_vec()).ok()?;
    Some((key, context, parts.next()?.to_vec()))
}

/// The key ARN a ciphertext was made with (what IAM checks kms:Decrypt against).
pub fn ciphertext_key_arn(blob_b64: &str) -> Option<String> {
    open(blob_b64).map(|(key, _, _)| key)
}

fn plaintext_of(req: &ApiRequest) -> ApiResult<Vec<u8>> {
    let text = req
        .str("Plaintext")
        .ok_or_else(|| ApiError::validation("Plaintext is required"))?;
    let bytes =
        base64::decode(text).ok_or_else(|| ApiError::validation("Plaintext is not base64"))?;
    if bytes.is_empty() || bytes.len() > 4096 {
        return Err(ApiError::validation(
            "Plaintext must be between 1 and 4096 bytes",
        ));
    }
    Ok(bytes)
}

fn encrypt(ctx: &mut Ctx, req: &ApiRequest) -> ApiResult<Reply> {
    let plaintext = plaintext_of(req)?;
    let k = key_for(ctx, req)?;
    Ok(Reply::Json(json!({
        "CiphertextBlob": seal(&k.arn, &context_of(req), &plaintext),
        "KeyId": k.arn,
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    })))
}

fn decrypt(ctx: &mut Ctx, req: &ApiRequest) -> ApiResult<Reply> {
    let blob = req
        .str("CiphertextBlob")
        .ok_or_else(|| ApiError::validation("CiphertextBlob is required"))?;
    let invalid = || ApiError::bad("InvalidCiphertextException", "");
    let (key_arn, context, plaintext) = open(blob).ok_or_else(invalid)?;
    if let Some(wanted) = req.str("KeyId") {
        let named = find_key(ctx.world, &ctx.caller.account, ctx.region, wanted)
            .map(|k| k.arn.clone())
            .unwrap_or_else(|| wanted.to_string());
        if named != key_arn {
            return Err(ApiError::bad(
                "IncorrectKeyException",
                "The key ID in the request does not identify a CMK that can perform this operation.",
            ));
        }
    }
    let exists = ctx
        .world
        .accounts
        .values()
        .flat_map(|a| a.kms_keys.values())
        .any(|k| k.arn == key_arn);
    if !exists {
        return Err(ApiError::bad(
            "NotFoundException",
            format!("Key '{key_arn}' does not exist"),
        ));
    }
    // The context must be the one given to Encrypt, as in KMS.
    if context != context_of(req) {
        return Err(invalid());
    }
    Ok(Reply::Json(json!({
        "KeyId": key_arn,
        "Plaintext": base64::encode(&plaintext),
        "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
    })))
}

fn generate_data_key(ctx: &mut Ctx, req: &ApiRequest) -> ApiResult<Reply> {
    let len = match (req.str("KeySpec"), req.int("NumberOfBytes")) {
        (Some("AES_256"), None) => 32,
        (Some("AES_128"), None) => 16,
        (None, Some(n)) if (1..=1024).contains(&n) => n as usize,
        _ => {
            return Err(ApiError::validation(
                "Specify either KeySpec (AES_256 or AES_128) or NumberOfBytes (1-1024)",
            ))
        }
    };
    let k = key_for(ctx, req)?;
    let plaintext: Vec<u8> = {
        use rand::Rng;
        let mut rng = rand::rng();
        (0..len).map(|_| rng.random()).collect()
    };
    Ok(Reply::Json(json!({
        "CiphertextBlob": seal(&k.arn, &context_of(req), &plaintext),
        "Plaintext": base64::encode(&plaintext),
        "KeyId": k.arn,
    })))
}

/// Standard base64 (with padding), as the awsJson protocol carries blobs.
mod base64 {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    pub fn encode(data: &[u8]) -> String {
        let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
        for chunk in data.chunks(3) {
            let b = [
                chunk[0],
                *chunk.get(1).unwrap_or(&0),
                *chunk.get(2).unwrap_or(&0),
            ];
            let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
            for i in 0..4 {
                if i <= chunk.len() {
                    out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
                } else {
                    out.push('=');
                }
            }
        }
        out
    }

    pub fn decode(text: &str) -> Option<Vec<u8>> {
        let text = text.trim_end_matches('=');
        let mut out = Vec::with_capacity(text.len() * 3 / 4);
        let (mut acc, mut bits) = (0u32, 0);
        for c in text.bytes() {
            let v = ALPHABET.iter().position(|a| *a == c)? as u32;
            acc = (acc << 6) | v;
            bits += 6;
            if bits >= 8 {
                bits -= 8;
                out.push((acc >> bits) as u8);
                acc &= (1 << bits) - 1;
            }
        }
        Some(out)
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn round_trips() {
            for data in [
                &b""[..],
                b"f",
                b"fo",
                b"foo",
                b"foob",
                b"\x00\xff\x10zeroetl",
            ] {
                assert_eq!(super::decode(&super::encode(data)).as_deref(), Some(data));
            }
            assert_eq!(super::encode(b"foob"), "Zm9vYg==");
            assert!(super::decode("not base64!").is_none());
        }
    }
}
