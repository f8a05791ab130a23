//! Wire formats: parsing query-protocol form bodies, writing XML, and rendering replies and errors in each
//! protocol's real shape (awsQuery XML, awsJson 1.1, S3 REST-XML).

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::Value;

/// The protocol a service speaks; decides how replies and errors are rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// awsQuery: form-encoded request, XML response wrapped in `{Action}Response/{Action}Result`.
    Query { xmlns: &'static str },
    /// awsJson 1.1: `X-Amz-Target` header, JSON bodies.
    Json,
    /// S3 REST-XML.
    RestXml,
}

/// An AWS error as the service would return it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.to_string(),
            message: message.into(),
        }
    }
    pub fn bad(code: &str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }
    pub fn not_found(code: &str, message: impl Into<String>) -> Self {
        Self::new(404, code, message)
    }
    pub fn invalid_value(message: impl Into<String>) -> Self {
        Self::bad("InvalidParameterValue", message)
    }
    pub fn validation(message: impl Into<String>) -> Self {
        Self::bad("ValidationException", message)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// A handler's successful answer, before protocol wrapping.
pub enum Reply {
    /// Inner XML of the `{Action}Result` element (may be empty for actions without output).
    Xml(String),
    Json(Value),
    /// A fully formed response (S3).
    Raw {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
}

/// Query-protocol parameters (`Action=..&Foo.member.1=..`).
#[derive(Clone, Debug, Default)]
pub struct Params(pub BTreeMap<String, String>);

impl Params {
    pub fn parse(body: &[u8]) -> Self {
        Self(
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    pub fn required(&self, key: &str) -> ApiResult<&str> {
        self.get(key).ok_or_else(|| {
            ApiError::bad(
                "MissingParameter",
                format!("The request must contain the parameter {key}"),
            )
        })
    }

    pub fn int(&self, key: &str) -> ApiResult<Option<i64>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| ApiError::invalid_value(format!("Invalid value for {key}: {v}"))),
        }
    }

    pub fn bool(&self, key: &str) -> Option<bool> {
        self.get(key).map(|v| v.eq_ignore_ascii_case("true"))
    }

    /// Scalars of a serialized list: `prefix.1`, `prefix.2`, … in index order.
    pub fn list(&self, prefix: &str) -> Vec<String> {
        let mut items: Vec<(u32, String)> = self
            .0
            .iter()
            .filter_map(|(k, v)| {
                let rest = k.strip_prefix(prefix)?.strip_prefix('.')?;
                rest.parse::<u32>().ok().map(|i| (i, v.clone()))
            })
            .collect();
        items.sort_by_key(|(i, _)| *i);
        items.into_iter().map(|(_, v)| v).collect()
    }

    /// Structures of a serialized list: `prefix.N.Field=..` becomes one `Params` per N with keys `Field`.
    pub fn structs(&self, prefix: &str) -> Vec<Params> {
        let mut items: BTreeMap<u32, BTreeMap<String, String>> = BTreeMap::new();
        for (k, v) in &self.0 {
            let Some(rest) = k.strip_prefix(prefix).and_then(|r| r.strip_prefix('.')) else {
                continue;
            };
            let Some((idx, field)) = rest.split_once('.') else {
                continue;
            };
            if let Ok(i) = idx.parse::<u32>() {
                items
                    .entry(i)
                    .or_default()
                    .insert(field.to_string(), v.clone());
            }
        }
        items.into_values().map(Params).collect()
    }

    /// `Tags.Tag.N.Key/Value` (or `Tags.member.N`) as ordered pairs.
    pub fn tags(&self, prefix: &str) -> Vec<(String, String)> {
        self.structs(prefix)
            .into_iter()
            .filter_map(|t| {
                Some((
                    t.get("Key")?.to_string(),
                    t.get("Value").unwrap_or("").to_string(),
                ))
            })
            .collect()
    }
}

/// Escape text for XML element content.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}

pub fn iso(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn epoch(t: &DateTime<Utc>) -> f64 {
    t.timestamp_millis() as f64 / 1000.0
}

/// A small XML writer; elements are written in call order.
#[derive(Default)]
pub struct Xml(pub String);

impl Xml {
    pub fn new() -> Self {
        Self(String::with_capacity(512))
    }
    pub fn open(&mut self, name: &str) -> &mut Self {
        self.0.push('<');
        self.0.push_str(name);
        self.0.push('>');
        self
    }
    pub fn close(&mut self, name: &str) -> &mut Self {
        self.0.push_str("</");
        self.0.push_str(name);
        self.0.push('>');
        self
    }
    pub fn el(&mut self, name: &str, value: impl std::fmt::Display) -> &mut Self {
        self.open(name);
        self.0.push_str(&esc(&value.to_string()));
        self.close(name)
    }
    pub fn opt(&mut self, name: &str, value: Option<impl std::fmt::Display>) -> &mut Self {
        if let Some(v) = value {
            self.el(name, v);
        }
        self
    }
    pub fn time(&mut self, name: &str, t: &DateTime<Utc>) -> &mut Self {
        self.el(name, iso(t))
    }
    pub fn raw(&mut self, xml: &str) -> &mut Self {
        self.0.push_str(xml);
        self
    }
    /// `<Outer><Member>..</Member>…</Outer>` for string lists.
    pub fn strings<'a>(
        &mut self,
        outer: &str,
        member: &str,
        items: impl IntoIterator<Item = &'a String>,
    ) -> &mut Self {
        self.open(outer);
        for i in items {
            self.el(member, i);
        }
        self.close(outer)
    }
    pub fn tags<'a>(
        &mut self,
        outer: &str,
        member: &str,
        tags: impl IntoIterator<Item = &'a (String, String)>,
    ) -> &mut Self {
        self.open(outer);
        for (k, v) in tags {
            self.open(member).el("Key", k).el("Value", v).close(member);
        }
        self.close(outer)
    }
    pub fn finish(self) -> String {
        self.0
    }
}

pub fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// A rendered HTTP response.
pub struct Rendered {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

pub fn render_ok(protocol: Protocol, action: &str, reply: Reply, request_id: &str) -> Rendered {
    match (protocol, reply) {
        (
            _,
            Reply::Raw {
                status,
                mut headers,
                body,
            },
        ) => {
            headers.push(("x-amz-request-id".into(), request_id.into()));
            Rendered {
                status,
                headers,
                body,
            }
        }
        (Protocol::Query { xmlns }, Reply::Xml(inner)) => {
            let result = if inner.is_empty() {
                String::new()
            } else {
                format!("<{action}Result>{inner}</{action}Result>")
            };
            Rendered {
                status: 200,
                headers: vec![
                    ("content-type".into(), "text/xml".into()),
                    ("x-amzn-requestid".into(), request_id.into()),
                ],
                body: format!(
                    "<{action}Response xmlns=\"{xmlns}\">{result}<ResponseMetadata><RequestId>{request_id}</RequestId></ResponseMetadata></{action}Response>"
                )
                .into_bytes(),
            }
        }
        (_, Reply::Json(v)) => Rendered {
            status: 200,
            headers: vec![
                ("content-type".into(), "application/x-amz-json-1.1".into()),
                ("x-amzn-requestid".into(), request_id.into()),
            ],
            body: v.to_string().into_bytes(),
        },
        (_, Reply::Xml(inner)) => Rendered {
            status: 200,
            headers: vec![("content-type".into(), "application/xml".into())],
            body: inner.into_bytes(),
        },
    }
}

pub fn render_error(protocol: Protocol, err: &ApiError, request_id: &str) -> Rendered {
    match protocol {
        Protocol::Query { .. } => {
            let kind = if err.status >= 500 { "Receiver" } else { "Sender" };
            Rendered {
                status: err.status,
                headers: vec![
                    ("content-type".into(), "text/xml".into()),
                    ("x-amzn-requestid".into(), request_id.into()),
                ],
                body: format!(
                    "<ErrorResponse><Error><Type>{kind}</Type><Code>{}</Code><Message>{}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>",
                    esc(&err.code),
                    esc(&err.message)
                )
                .into_bytes(),
            }
        }
        Protocol::Json => Rendered {
            status: err.status,
            headers: vec![
                ("content-type".into(), "application/x-amz-json-1.1".into()),
                ("x-amzn-requestid".into(), request_id.into()),
                ("x-amzn-errortype".into(), err.code.clone()),
            ],
            body: serde_json::json!({"__type": err.code, "message": err.message})
                .to_string()
                .into_bytes(),
        },
        Protocol::RestXml => Rendered {
            status: err.status,
            headers: vec![
                ("content-type".into(), "application/xml".into()),
                ("x-amz-request-id".into(), request_id.into()),
            ],
            body: format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{}</Code><Message>{}</Message><RequestId>{request_id}</RequestId></Error>",
                esc(&err.code),
                esc(&err.message)
            )
            .into_bytes(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_lists_and_structs_follow_index_order() {
        let p = Params::parse(b"Action=X&Tags.Tag.2.Key=b&Tags.Tag.2.Value=2&Tags.Tag.1.Key=a&Tags.Tag.1.Value=1&TagKeys.member.2=y&TagKeys.member.1=x");
        assert_eq!(
            p.tags("Tags.Tag"),
            vec![("a".into(), "1".into()), ("b".into(), "2".into())]
        );
        assert_eq!(
            p.list("TagKeys.member"),
            vec!["x".to_string(), "y".to_string()]
        );
    }

    #[test]
    fn query_errors_use_the_error_response_shape() {
        let r = render_error(
            Protocol::Query { xmlns: "x" },
            &ApiError::bad("Throttling", "Rate <exceeded>"),
            "rid",
        );
        assert_eq!(r.status, 400);
        assert!(String::from_utf8_lossy(&r.body)
            .contains("<Code>Throttling</Code><Message>Rate &lt;exceeded&gt;</Message>"));
    }
}
