//! S3 (REST-XML, path style): GetBucketLocation, HeadBucket, ListObjectsV2, and PutObject, GetObject,
//! HeadObject, DeleteObject with objects kept in memory. Buckets are global; each belongs to the account
//! and region that seeded it, and another account's bucket answers 403 AccessDenied.

use std::hash::{Hash, Hasher};

use super::unknown_action;
use crate::model::{Bucket, S3Object};
use crate::server::{ApiRequest, Ctx};
use crate::wire::{esc, iso, ApiError, ApiResult, Reply};

const XMLNS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

pub fn handle(ctx: &mut Ctx, req: &ApiRequest) -> ApiResult<Reply> {
    let (bucket, key) = bucket_and_key(&req.path);
    match req.action.as_str() {
        "GetBucketLocation" => {
            let b = find(ctx, &bucket)?;
            // Real S3 answers an empty LocationConstraint for us-east-1.
            let location = if b.region == "us-east-1" {
                String::new()
            } else {
                esc(&b.region)
            };
            Ok(xml(format!(
                "<LocationConstraint xmlns=\"{XMLNS}\">{location}</LocationConstraint>"
            )))
        }
        "HeadBucket" => {
            let b = find(ctx, &bucket)?;
            Ok(Reply::Raw {
                status: 200,
                headers: vec![("x-amz-bucket-region".into(), b.region.clone())],
                body: Vec::new(),
            })
        }
        "ListObjectsV2" => list_objects(ctx, &bucket, &req.query),
        "PutObject" => {
            let key = key.unwrap_or_default();
            let body = object_body(req)?;
            let content_type = header(req, "content-type")
                .unwrap_or("binary/octet-stream")
                .to_string();
            let now = ctx.now;
            let b = find_mut(ctx, &bucket)?;
            let etag = etag(&body);
            b.objects.insert(
                key,
                S3Object {
                    size: body.len(),
                    body,
                    etag: etag.clone(),
                    content_type,
                    last_modified: now,
                },
            );
            Ok(Reply::Raw {
                status: 200,
                headers: vec![("etag".into(), etag)],
                body: Vec::new(),
            })
        }
        "GetObject" | "HeadObject" => {
            let key = key.unwrap_or_default();
            let b = find(ctx, &bucket)?;
            let o = b.objects.get(&key).ok_or_else(|| {
                ApiError::not_found("NoSuchKey", "The specified key does not exist.")
            })?;
            let mut headers = vec![
                ("content-type".into(), o.content_type.clone()),
                ("etag".into(), o.etag.clone()),
                (
                    "last-modified".into(),
                    o.last_modified
                        .format("%a, %d %b %Y %H:%M:%S GMT")
                        .to_string(),
                ),
                ("accept-ranges".into(), "bytes".into()),
            ];
            let body = if req.action == "GetObject" {
                o.body.clone()
            } else {
                // HEAD has no body, but says how long the object is.
                headers.push(("content-length".into(), o.size.to_string()));
                Vec::new()
            };
            Ok(Reply::Raw {
                status: 200,
                headers,
                body,
            })
        }
        "DeleteObject" => {
            // Deleting a missing key succeeds, as in S3.
            find_mut(ctx, &bucket)?
                .objects
                .remove(&key.unwrap_or_default());
            Ok(Reply::Raw {
                status: 204,
                headers: Vec::new(),
                body: Vec::new(),
            })
        }
        _ => Err(unknown_action(req)),
    }
}

fn xml(body: String) -> Reply {
    Reply::Raw {
        status: 200,
        headers: vec![("content-type".into(), "application/xml".into())],
        body: format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}").into_bytes(),
    }
}

fn header<'a>(req: &'a ApiRequest, name: &str) -> Option<&'a str> {
    req.headers.get(name).and_then(|v| v.to_str().ok())
}

/// Path-style addressing: `/bucket` or `/bucket/key…` (the key percent-decoded).
pub fn bucket_and_key(path: &str) -> (String, Option<String>) {
    let trimmed = path.trim_start_matches('/');
    match trimmed.split_once('/') {
        Some((bucket, key)) if !key.is_empty() => (bucket.to_string(), Some(percent_decode(key))),
        Some((bucket, _)) => (bucket.to_string(), None),
        None => (trimmed.to_string(), None),
    }
}

/// A query parameter's decoded value.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A quoted 32-hex-digit ETag. Not the MD5 real S3 uses for single-part uploads: clients treat it as
/// opaque.
fn etag(body: &[u8]) -> String {
    let mut a = std::collections::hash_map::DefaultHasher::new();
    body.hash(&mut a);
    let mut b = std::collections::hash_map::DefaultHasher::new();
    (body, "etag").hash(&mut b);
    format!("\"{:016x}{:016x}\"", a.finish(), b.finish())
}

/// The object bytes: the body as sent, or the payload of an `aws-chunked` upload (the SDKs stream
/// bodies with trailing checksums that way).
fn object_body(req: &ApiRequest) -> ApiResult<Vec<u8>> {
    let chunked = header(req, "content-encoding").is_some_and(|e| e.contains("aws-chunked"))
        || header(req, "x-amz-content-sha256").is_some_and(|h| h.starts_with("STREAMING-"));
    if !chunked {
        return Ok(req.body.to_vec());
    }
    decode_aws_chunked(&req.body)
        .ok_or_else(|| ApiError::bad("IncompleteBody", "The aws-chunked body is malformed."))
}

/// `<hex size>[;extensions]\r\n<data>\r\n` chunks up to a zero-size one (trailers after it are ignored).
fn decode_aws_chunked(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let line_end = data.get(at..)?.windows(2).position(|w| w == b"\r\n")?;
        let line = std::str::from_utf8(&data[at..at + line_end]).ok()?;
        let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
        at += line_end + 2;
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(at..at + size)?);
        at += size + 2;
    }
}

fn list_objects(ctx: &mut Ctx, bucket: &str, query: &str) -> ApiResult<Reply> {
    let b = find(ctx, bucket)?;
    let prefix = query_param(query, "prefix").unwrap_or_default();
    let delimiter = query_param(query, "delimiter").filter(|d| !d.is_empty());
    let max_keys: usize = query_param(query, "max-keys")
        .map(|m| {
            m.parse()
                .map_err(|_| ApiError::bad("InvalidArgument", "max-keys must be a number"))
        })
        .transpose()?
        .unwrap_or(1000);
    let token = query_param(query, "continuation-token");
    let start_after = query_param(query, "start-after");
    let after = token.clone().or(start_after.clone());
    let mut contents = Vec::new();
    let mut prefixes: Vec<String> = Vec::new();
    let mut next = None;
    for (key, o) in b
        .objects
        .range::<String, _>((
            after
                .clone()
                .map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded),
            std::ops::Bound::Unbounded,
        ))
        .filter(|(k, _)| k.starts_with(&prefix))
    {
        let common = delimiter.as_ref().and_then(|d| {
            key[prefix.len()..]
                .find(d.as_str())
                .map(|i| key[..prefix.len() + i + d.len()].to_string())
        });
        if common.as_ref().is_some_and(|c| prefixes.last() == Some(c)) {
            continue;
        }
        if contents.len() + prefixes.len() == max_keys {
            next = Some(key.clone());
            break;
        }
        match common {
            Some(c) => prefixes.push(c),
            None => contents.push((key, o)),
        }
    }
    let mut x = format!(
        "<ListBucketResult xmlns=\"{XMLNS}\"><Name>{}</Name><Prefix>{}</Prefix><KeyCount>{}</KeyCount><MaxKeys>{max_keys}</MaxKeys><IsTruncated>{}</IsTruncated>",
        esc(bucket),
        esc(&prefix),
        contents.len() + prefixes.len(),
        next.is_some()
    );
    if let Some(d) = &delimiter {
        x.push_str(&format!("<Delimiter>{}</Delimiter>", esc(d)));
    }
    if let Some(t) = &token {
        x.push_str(&format!(
            "<ContinuationToken>{}</ContinuationToken>",
            esc(t)
        ));
    }
    if let Some(s) = &start_after {
        x.push_str(&format!("<StartAfter>{}</StartAfter>", esc(s)));
    }
    // The next token is the last key returned (opaque to clients, as S3's are); after a common prefix it
    // sorts past every key under that prefix, so the prefix is not listed twice.
    if next.is_some() {
        let last_key = contents.last().map(|(k, _)| (*k).clone());
        let last_prefix = prefixes.last().map(|p| format!("{p}\u{10FFFF}"));
        let last = last_key
            .into_iter()
            .chain(last_prefix)
            .max()
            .unwrap_or_default();
        x.push_str(&format!(
            "<NextContinuationToken>{}</NextContinuationToken>",
            esc(&last)
        ));
    }
    for (key, o) in &contents {
        x.push_str(&format!(
            "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>{}</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
            esc(key),
            iso(&o.last_modified),
            esc(&o.etag),
            o.size
        ));
    }
    for p in &prefixes {
        x.push_str(&format!(
            "<CommonPrefixes><Prefix>{}</Prefix></CommonPrefixes>",
            esc(p)
        ));
    }
    x.push_str("</ListBucketResult>");
    Ok(xml(x))
}

fn locate(ctx: &Ctx, name: &str) -> ApiResult<(String, String)> {
    for a in ctx.world.accounts.values() {
        for (region, r) in &a.regions {
            if r.buckets.contains_key(name) {
                if a.id != ctx.caller.account {
                    return Err(ApiError::new(403, "AccessDenied", "Access Denied"));
                }
                return Ok((a.id.clone(), region.clone()));
            }
        }
    }
    Err(ApiError::not_found(
        "NoSuchBucket",
        "The specified bucket does not exist",
    ))
}

fn find<'a>(ctx: &'a Ctx, name: &str) -> ApiResult<&'a Bucket> {
    let (account, region) = locate(ctx, name)?;
    ctx.world
        .region(&account, &region)
        .and_then(|r| r.buckets.get(name))
        .ok_or_else(|| ApiError::not_found("NoSuchBucket", "The specified bucket does not exist"))
}

fn find_mut<'a>(ctx: &'a mut Ctx, name: &str) -> ApiResult<&'a mut Bucket> {
    let (account, region) = locate(ctx, name)?;
    ctx.world
        .region_mut(&account, &region)
        .buckets
        .get_mut(name)
        .ok_or_else(|| ApiError::not_found("NoSuchBucket", "The specified bucket does not exist"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aws_chunked_bodies_decode() {
        let body = b"5;chunk-signature=abc\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:AAAA\r\n\r\n";
        assert_eq!(
            decode_aws_chunked(body).as_deref(),
            Some(&b"hello world"[..])
        );
        assert_eq!(decode_aws_chunked(b"5\r\nhel"), None);
        assert_eq!(decode_aws_chunked(b"zz\r\n"), None);
    }

    #[test]
    fn paths_and_keys() {
        assert_eq!(bucket_and_key("/b"), ("b".into(), None));
        assert_eq!(bucket_and_key("/b/"), ("b".into(), None));
        assert_eq!(
            bucket_and_key("/b/unload/a%20b%2Bc.csv"),
            ("b".into(), Some("unload/a b+c.csv".into()))
        );
    }
}
