//! S3 (REST-XML, path style): GetBucketLocation and HeadBucket. Buckets are global; each belongs to the
//! account and region that seeded it.

use super::unknown_action;
use crate::model::Bucket;
use crate::server::{ApiRequest, Ctx};
use crate::wire::{esc, ApiError, ApiResult, Reply};

pub fn handle(ctx: &mut Ctx, req: &ApiRequest) -> ApiResult<Reply> {
    let name = req.path.trim_matches('/').to_string();
    match req.action.as_str() {
        "GetBucketLocation" => {
            let b = find(ctx, &name)?;
            // Real S3 answers an empty LocationConstraint for us-east-1.
            let location = if b.region == "us-east-1" {
                String::new()
            } else {
                esc(&b.region)
            };
            Ok(Reply::Raw {
                status: 200,
                headers: vec![("content-type".into(), "application/xml".into())],
                body: format!(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<LocationConstraint xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">{location}</LocationConstraint>"
                ),
            })
        }
        "HeadBucket" => {
            let b = find(ctx, &name)?;
            Ok(Reply::Raw {
                status: 200,
                headers: vec![("x-amz-bucket-region".into(), b.region.clone())],
                body: String::new(),
            })
        }
        _ => Err(unknown_action(req)),
    }
}

fn find(ctx: &Ctx, name: &str) -> ApiResult<Bucket> {
    for a in ctx.world.accounts.values() {
        for r in a.regions.values() {
            if let Some(b) = r.buckets.get(name) {
                if a.id != ctx.caller.account {
                    return Err(ApiError::new(403, "AccessDenied", "Access Denied"));
                }
                return Ok(b.clone());
            }
        }
    }
    Err(ApiError::not_found(
        "NoSuchBucket",
        "The specified bucket does not exist",
    ))
}
