//! An in-memory Kubernetes API server for the middle test layer: enough of the real one's behaviour (GET,
//! create, replace, merge patch with resourceVersion checks, JSON patch, status subresource, delete with
//! finalizers, Secret lists, Events) to run whole reconciles through the real `kube::Client` in milliseconds,
//! with every request recorded for assertions.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use http::{Method, Request, Response, StatusCode};
use kube::client::Body;
use parking_lot::Mutex;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

#[derive(Default)]
struct State {
    /// Objects by their API path (no query, no `/status`).
    objects: BTreeMap<String, Value>,
    /// `METHOD path` of every request, in order.
    requests: Vec<String>,
    events: Vec<Value>,
    /// Refuse this many status writes with 422 (an operator bug the pipeline must survive honestly).
    refuse_status_writes: u32,
    resource_version: u64,
}

#[derive(Clone, Default)]
pub struct FakeApi {
    state: Arc<Mutex<State>>,
}

/// The API path of a namespaced object.
pub fn path_of(api_version: &str, plural: &str, namespace: &str, name: &str) -> String {
    let base = if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    };
    format!("{base}/namespaces/{namespace}/{plural}/{name}")
}

impl FakeApi {
    pub fn client(&self) -> kube::Client {
        let api = self.clone();
        let service = tower::service_fn(move |request: Request<Body>| {
            let api = api.clone();
            async move { Ok::<_, Infallible>(api.serve(request).await) }
        });
        kube::Client::new(service, "default")
    }

    /// Stores `obj` (with apiVersion, kind and metadata) at `path`, as if someone had created it.
    pub fn put(&self, path: &str, obj: &impl Serialize) {
        let value = serde_json::to_value(obj).expect("serializable");
        self.state.lock().store(path, value);
    }

    pub fn get<K: DeserializeOwned>(&self, path: &str) -> Option<K> {
        let s = self.state.lock();
        s.objects
            .get(path)
            .map(|v| serde_json::from_value(v.clone()).expect("stored objects deserialize"))
    }

    pub fn remove(&self, path: &str) {
        self.state.lock().objects.remove(path);
    }

    /// Marks the object deleted, as `kubectl delete` does to an object with finalizers.
    pub fn mark_deleted(&self, path: &str) {
        let mut s = self.state.lock();
        if let Some(o) = s.objects.get_mut(path) {
            o["metadata"]["deletionTimestamp"] = json!("2026-12-01T00:00:00Z");
        }
    }

    pub fn refuse_status_writes(&self, count: u32) {
        self.state.lock().refuse_status_writes = count;
    }

    /// `METHOD path` of every request so far.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().requests.clone()
    }

    pub fn clear_requests(&self) {
        self.state.lock().requests.clear();
    }

    /// The reasons of the Events published so far.
    pub fn event_reasons(&self) -> Vec<String> {
        self.state
            .lock()
            .events
            .iter()
            .filter_map(|e| e["reason"].as_str().map(str::to_string))
            .collect()
    }

    async fn serve(&self, request: Request<Body>) -> Response<Body> {
        let method = request.method().clone();
        let uri = request.uri().clone();
        let content_type = request
            .headers()
            .get(http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = request
            .into_body()
            .collect_bytes()
            .await
            .unwrap_or_default();
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let path = uri.path().to_string();
        let mut s = self.state.lock();
        s.requests.push(format!("{method} {path}"));
        let (status, value) = s.handle(&method, &path, uri.query(), &content_type, body);
        Response::builder()
            .status(status)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Body::from(serde_json::to_vec(&value).expect("json")))
            .expect("response")
    }
}

fn status(code: StatusCode, reason: &str, message: &str) -> (StatusCode, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": reason,
               "message": message, "code": code.as_u16()}),
    )
}

impl State {
    fn handle(
        &mut self,
        method: &Method,
        path: &str,
        query: Option<&str>,
        content_type: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        if path.contains("/events") {
            // events.k8s.io: creates and series patches are accepted and recorded.
            self.events.push(body.clone());
            return (StatusCode::CREATED, body);
        }
        let (object_path, status_subresource) = match path.strip_suffix("/status") {
            Some(p) => (p.to_string(), true),
            None => (path.to_string(), false),
        };
        match *method {
            Method::GET if self.objects.contains_key(&object_path) => {
                (StatusCode::OK, self.objects[&object_path].clone())
            }
            Method::GET if path.ends_with("/secrets") => {
                let selector = query.and_then(|q| {
                    q.split('&')
                        .find_map(|kv| kv.strip_prefix("labelSelector="))
                        .map(|s| s.replace("%3D", "=").replace("%2F", "/"))
                });
                let items: Vec<Value> = self
                    .objects
                    .iter()
                    .filter(|(p, _)| p.starts_with(&format!("{path}/")))
                    .filter(|(_, o)| selector.as_deref().is_none_or(|sel| matches_labels(o, sel)))
                    .map(|(_, o)| o.clone())
                    .collect();
                (
                    StatusCode::OK,
                    json!({"apiVersion": "v1", "kind": "SecretList", "metadata": {"resourceVersion": self.resource_version.to_string()}, "items": items}),
                )
            }
            Method::GET => status(
                StatusCode::NOT_FOUND,
                "NotFound",
                &format!("{path} not found"),
            ),
            Method::POST => {
                let name = body["metadata"]["name"].as_str().unwrap_or_default();
                let at = format!("{path}/{name}");
                if self.objects.contains_key(&at) {
                    return status(
                        StatusCode::CONFLICT,
                        "AlreadyExists",
                        &format!("{at} exists"),
                    );
                }
                let mut created = body;
                created["metadata"]["namespace"] =
                    json!(path.split('/').nth(4).unwrap_or_default());
                self.store(&at, created)
            }
            Method::PUT => {
                if !self.objects.contains_key(&object_path) {
                    return status(StatusCode::NOT_FOUND, "NotFound", &object_path);
                }
                if let Some(conflict) = self.stale(&object_path, &body) {
                    return conflict;
                }
                self.store(&object_path, body)
            }
            Method::PATCH => {
                let Some(mut current) = self.objects.get(&object_path).cloned() else {
                    return status(StatusCode::NOT_FOUND, "NotFound", &object_path);
                };
                if status_subresource && self.refuse_status_writes > 0 {
                    self.refuse_status_writes -= 1;
                    return status(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "Invalid",
                        "status: refused by the fake API server",
                    );
                }
                if let Some(conflict) = self.stale(&object_path, &body) {
                    return conflict;
                }
                if content_type.starts_with("application/json-patch") {
                    let ops: json_patch::Patch =
                        serde_json::from_value(body).expect("a JSON patch");
                    if let Err(e) = json_patch::patch(&mut current, &ops) {
                        return status(StatusCode::UNPROCESSABLE_ENTITY, "Invalid", &e.to_string());
                    }
                } else {
                    json_patch::merge(&mut current, &body);
                }
                let released = current["metadata"]["deletionTimestamp"].is_string()
                    && current["metadata"]["finalizers"]
                        .as_array()
                        .is_none_or(|f| f.is_empty());
                if released {
                    // The API server removes a deleted object once its last finalizer is gone.
                    self.objects.remove(&object_path);
                    return (StatusCode::OK, current);
                }
                self.store(&object_path, current)
            }
            Method::DELETE => match self.objects.remove(&object_path) {
                Some(o) => (StatusCode::OK, o),
                None => status(StatusCode::NOT_FOUND, "NotFound", &object_path),
            },
            _ => status(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", path),
        }
    }

    /// A write carrying a resourceVersion that is not the stored one is refused, as the API server does.
    fn stale(&self, path: &str, body: &Value) -> Option<(StatusCode, Value)> {
        let sent = body["metadata"]["resourceVersion"].as_str()?;
        let stored = self.objects.get(path)?["metadata"]["resourceVersion"].as_str()?;
        (sent != stored).then(|| {
            status(
                StatusCode::CONFLICT,
                "Conflict",
                "the object has been modified",
            )
        })
    }

    fn store(&mut self, path: &str, mut value: Value) -> (StatusCode, Value) {
        self.resource_version += 1;
        value["metadata"]["resourceVersion"] = json!(self.resource_version.to_string());
        if value["metadata"]["uid"].as_str().is_none() {
            value["metadata"]["uid"] = json!(format!("uid-{}", self.resource_version));
        }
        self.objects.insert(path.to_string(), value.clone());
        (StatusCode::OK, value)
    }
}

fn matches_labels(obj: &Value, selector: &str) -> bool {
    selector.split(',').all(|term| match term.split_once('=') {
        Some((k, v)) => obj["metadata"]["labels"][k].as_str() == Some(v),
        None => true,
    })
}
