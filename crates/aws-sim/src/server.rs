//! The HTTP front door: one listener for every service. Routes by the SigV4 credential-scope service, then
//! by `Action` (query) or `X-Amz-Target` (JSON) or method/path (S3); applies identity, faults and deny
//! lists; runs the handler under the world lock (never held across an await); logs the call.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, Response, StatusCode};
use chrono::Utc;
use parking_lot::{Mutex, RwLock};
use serde_json::Value;

use crate::calls::{is_mutating, CallLog, CallRecord};
use crate::estate::Estate;
use crate::faults::{FaultKind, Faults};
use crate::identity::{self, Caller};
use crate::model::World;
use crate::services;
use crate::wire::{self, ApiError, Params, Protocol, Rendered};
use crate::Timings;

pub struct Shared {
    pub world: Mutex<World>,
    pub faults: Mutex<Faults>,
    pub log: Mutex<CallLog>,
    pub timings: RwLock<Timings>,
    /// The estate `reset` returns to.
    pub seed: Mutex<Estate>,
    /// API requests served since start (`reset` keeps counting), for `/_sim/stats`.
    pub requests: std::sync::atomic::AtomicU64,
}

impl Shared {
    pub fn new(seed: Estate, timings: Timings) -> anyhow::Result<Self> {
        Ok(Self {
            world: Mutex::new(World::from_estate(&seed)?),
            faults: Mutex::new(Faults::default()),
            log: Mutex::new(CallLog::default()),
            timings: RwLock::new(timings),
            seed: Mutex::new(seed),
            requests: Default::default(),
        })
    }
}

/// One parsed API request, as handlers see it.
pub struct ApiRequest {
    pub service: String,
    pub action: String,
    pub method: Method,
    pub path: String,
    pub query: String,
    pub params: Params,
    pub json: Value,
    /// The raw body and headers (S3 objects).
    pub body: axum::body::Bytes,
    pub headers: HeaderMap,
}

impl ApiRequest {
    pub fn str(&self, key: &str) -> Option<&str> {
        self.json
            .get(key)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    }
    pub fn int(&self, key: &str) -> Option<i64> {
        self.json.get(key).and_then(Value::as_i64)
    }
}

/// What a handler may touch.
pub struct Ctx<'a> {
    pub world: &'a mut World,
    pub caller: &'a Caller,
    pub region: &'a str,
    pub now: chrono::DateTime<Utc>,
    pub timings: Timings,
}

impl Ctx<'_> {
    pub fn account(&self) -> &str {
        &self.caller.account
    }
    pub fn region_state(&mut self) -> &mut crate::model::Region {
        self.world
            .region_mut(&self.caller.account.clone(), self.region)
    }
    pub fn after(&self, d: Duration) -> chrono::DateTime<Utc> {
        self.now + chrono::Duration::from_std(d).unwrap_or_default()
    }
    /// Register the transition of an object in the caller's account and region (its `due` says when).
    pub fn schedule(&mut self, at: chrono::DateTime<Utc>, what: crate::model::Due) {
        let account = self.caller.account.clone();
        self.world.schedule(at, &account, self.region, what);
    }
}

pub fn protocol_for(service: &str) -> Protocol {
    match service {
        "rds" => Protocol::Query {
            xmlns: "http://rds.amazonaws.com/doc/2014-10-31/",
        },
        "redshift" => Protocol::Query {
            xmlns: "http://redshift.amazonaws.com/doc/2012-12-01/",
        },
        "iam" => Protocol::Query {
            xmlns: "https://iam.amazonaws.com/doc/2010-05-08/",
        },
        "sts" => Protocol::Query {
            xmlns: "https://sts.amazonaws.com/doc/2011-06-15/",
        },
        "s3" => Protocol::RestXml,
        _ => Protocol::Json,
    }
}

fn to_response(r: Rendered) -> Response<Body> {
    let mut b = Response::builder()
        .status(StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    for (k, v) in &r.headers {
        b = b.header(k.as_str(), v.as_str());
    }
    b.body(Body::from(r.body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
}

fn s3_action(method: &Method, path: &str, query: &str) -> String {
    let has = |k: &str| {
        query
            .split('&')
            .any(|p| p == k || p.starts_with(&format!("{k}=")))
    };
    let (bucket, key) = services::s3::bucket_and_key(path);
    match (method.as_str(), key.is_some()) {
        _ if bucket.is_empty() => format!("Unsupported{method}"),
        ("GET", false) if has("location") => "GetBucketLocation".into(),
        ("GET", false) if query_is("list-type", "2", query) => "ListObjectsV2".into(),
        ("HEAD", false) => "HeadBucket".into(),
        ("PUT", true) => "PutObject".into(),
        ("GET", true) => "GetObject".into(),
        ("HEAD", true) => "HeadObject".into(),
        ("DELETE", true) => "DeleteObject".into(),
        (m, _) => format!("Unsupported{m}"),
    }
}

fn query_is(key: &str, value: &str, query: &str) -> bool {
    services::s3::query_param(query, key).as_deref() == Some(value)
}

fn fault_error(
    protocol: Protocol,
    kind: FaultKind,
    code: Option<&str>,
    status: Option<u16>,
    message: Option<&str>,
) -> ApiError {
    match kind {
        FaultKind::Throttle => {
            let code = code.unwrap_or(match protocol {
                Protocol::Query { .. } => "Throttling",
                Protocol::Json => "ThrottlingException",
                Protocol::RestXml => "SlowDown",
            });
            let status = status.unwrap_or(if protocol == Protocol::RestXml {
                503
            } else {
                400
            });
            ApiError::new(status, code, message.unwrap_or("Rate exceeded"))
        }
        FaultKind::ServerError | FaultKind::DropResponse => {
            let status = status.unwrap_or(500);
            let default_code = if status == 503 {
                "ServiceUnavailable"
            } else {
                "InternalFailure"
            };
            ApiError::new(
                status,
                code.unwrap_or(default_code),
                message.unwrap_or("We encountered an internal error. Please try again."),
            )
        }
        FaultKind::Error | FaultKind::Latency => ApiError::new(
            status.unwrap_or(400),
            code.unwrap_or("InjectedFault"),
            message.unwrap_or("aws-sim injected this error"),
        ),
    }
}

fn access_denied(protocol: Protocol, caller: &Caller, action: &str, resource: &str) -> ApiError {
    let code = match protocol {
        Protocol::Json => "AccessDeniedException",
        _ => "AccessDenied",
    };
    ApiError::new(
        403,
        code,
        format!(
            "User: {} is not authorized to perform: {action} on resource: {resource}",
            caller.arn
        ),
    )
}

/// For enforced principals: the call needs an Allow and no Deny in their identity policies.
fn enforce_policies(
    world: &World,
    caller: &Caller,
    region: &str,
    req: &ApiRequest,
    protocol: Protocol,
) -> Result<(), ApiError> {
    let Some(policies) = &caller.policies else {
        return Ok(());
    };
    let Some((action, resource)) =
        services::resources::authorization_target(world, caller, region, req)
    else {
        return Ok(());
    };
    let mut context = caller.condition_context(region);
    if req.service == "s3" {
        if let Some(prefix) = crate::services::s3::query_param(&req.query, "prefix") {
            context.insert("s3:prefix".into(), prefix);
        }
    }
    if let Some(external_id) = req.params.get("ExternalId") {
        context.insert("sts:externalid".into(), external_id.to_string());
    }
    let why = match crate::authz::evaluate(policies, &action, &resource, &context) {
        crate::authz::Decision::Allowed => return Ok(()),
        crate::authz::Decision::ExplicitDeny => {
            "with an explicit deny in an identity-based policy".to_string()
        }
        crate::authz::Decision::ImplicitDeny => {
            format!("because no identity-based policy allows the {action} action")
        }
    };
    let mut e = access_denied(protocol, caller, &action, &resource);
    e.message = format!("{} {why}", e.message);
    Err(e)
}

pub async fn handle_api(shared: Arc<Shared>, req: Request<Body>) -> Response<Body> {
    shared
        .requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let (parts, body) = req.into_parts();
    let body = match axum::body::to_bytes(body, 64 * 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => {
            return Response::builder()
                .status(400)
                .body(Body::from("unreadable body"))
                .unwrap_or_default()
        }
    };
    let request_id = wire::request_id();
    let auth = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(identity::parse_authorization);
    let Some(scope) = auth else {
        let err = ApiError::new(
            403,
            "MissingAuthenticationToken",
            "Request is missing Authentication Token",
        );
        return to_response(wire::render_error(
            Protocol::Query { xmlns: "" },
            &err,
            &request_id,
        ));
    };
    let protocol = protocol_for(&scope.service);
    let path = parts.uri.path().to_string();
    let query = parts.uri.query().unwrap_or("").to_string();
    let (action, params, json) = match protocol {
        Protocol::Query { .. } => {
            let mut p = Params::parse(&body);
            // Some clients put query parameters in the URL instead of the body.
            if !query.is_empty() {
                p.0.extend(Params::parse(query.as_bytes()).0);
            }
            (p.get("Action").unwrap_or("").to_string(), p, Value::Null)
        }
        Protocol::Json => {
            let target = header(&parts.headers, "x-amz-target");
            let action = target.rsplit('.').next().unwrap_or("").to_string();
            let json = if body.is_empty() {
                Value::Object(Default::default())
            } else {
                serde_json::from_slice(&body).unwrap_or(Value::Null)
            };
            (action, Params::default(), json)
        }
        Protocol::RestXml => (
            s3_action(&parts.method, &path, &query),
            Params::default(),
            Value::Null,
        ),
    };
    let req = ApiRequest {
        service: scope.service.clone(),
        action,
        method: parts.method.clone(),
        path,
        query,
        params,
        json,
        body,
        headers: parts.headers.clone(),
    };
    let full_action = format!("{}:{}", scope.service, req.action);
    let mutating = is_mutating(&req.action);

    let timings = *shared.timings.read();
    let caller = identity::resolve(&shared.world.lock(), &scope.access_key_id, Utc::now());
    let mut record = CallRecord {
        seq: 0,
        time: Utc::now(),
        service: scope.service.clone(),
        action: req.action.clone(),
        account: caller.as_ref().ok().map(|c| c.account.clone()),
        region: scope.region.clone(),
        access_key_id: scope.access_key_id.clone(),
        caller: caller.as_ref().ok().map(|c| c.arn.clone()),
        role_session_name: (req.service == "sts" && req.action == "AssumeRole")
            .then(|| req.params.get("RoleSessionName").map(str::to_string))
            .flatten(),
        mutating,
        status: 200,
        error_code: None,
    };

    let outcome: Result<wire::Reply, ApiError> = 'outcome: {
        let caller = match caller {
            Ok(c) => c,
            Err(e) => break 'outcome Err(e),
        };
        let fired = shared.faults.lock().fire(&full_action);
        let mut drop_response = false;
        for f in &fired {
            match f.kind {
                FaultKind::Latency => {
                    tokio::time::sleep(Duration::from_millis(f.latency_ms.unwrap_or(200))).await
                }
                FaultKind::DropResponse => drop_response = true,
                kind => {
                    break 'outcome Err(fault_error(
                        protocol,
                        kind,
                        f.code.as_deref(),
                        f.status,
                        f.message.as_deref(),
                    ))
                }
            }
        }
        let result = {
            let mut world = shared.world.lock();
            let now = Utc::now();
            world.advance(now);
            if caller.is_denied(&full_action) {
                let resource = services::resource_hint(&world, &caller, &scope.region, &req);
                break 'outcome Err(access_denied(protocol, &caller, &full_action, &resource));
            }
            if let Err(e) = enforce_policies(&world, &caller, &scope.region, &req, protocol) {
                break 'outcome Err(e);
            }
            let mut ctx = Ctx {
                world: &mut world,
                caller: &caller,
                region: &scope.region,
                now,
                timings,
            };
            services::dispatch(&mut ctx, &req)
        };
        if drop_response && result.is_ok() {
            break 'outcome Err(fault_error(
                protocol,
                FaultKind::DropResponse,
                None,
                None,
                None,
            ));
        }
        result
    };

    let rendered = match outcome {
        Ok(reply) => wire::render_ok(protocol, &req.action, reply, &request_id),
        Err(e) => {
            record.error_code = Some(e.code.clone());
            if e.status >= 400 && e.code != "InvalidClientTokenId" {
                tracing::debug!(action = %full_action, code = %e.code, "answering with an error");
            }
            wire::render_error(protocol, &e, &request_id)
        }
    };
    record.status = rendered.status;
    shared.log.lock().push(record);
    let mut response = to_response(rendered);
    // HEAD responses carry no body; S3 clients map a bare 404 to NotFound.
    if req.method == Method::HEAD {
        *response.body_mut() = Body::empty();
    }
    response
}

fn header(h: &HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}
