//! HTTP requests a script makes (`http_get`, `http_post`): the data that crosses the seam and the
//! `HttpClient` boundary the call actor runs them through.
//!
//! A request is a `Command::Http` like any other verb, so the simulator, the scenario runner and
//! future replay tools see it as data. The call actor carries it out itself (not the switch)
//! through the `HttpClient` it was given at spawn, racing it against the call's hangup. The real
//! client (reqwest, with the allowlist from `rivr.yaml`) lives in `crate::http`; tests and
//! scenarios plug in canned clients. This module knows nothing of reqwest, Rhai or ESL.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use thiserror::Error;

/// A boxed future that can move between threads, as the `HttpClient` trait returns it.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Carries out a call's HTTP requests. One client serves every call (a shared connection pool);
/// the call actor drops the future when the call hangs up, which must cancel the request.
pub trait HttpClient: Send + Sync {
    /// Send `request` and resolve with the whole response (or why there is none).
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, HttpError>>;
}

/// The HTTP methods scripts can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HttpMethod {
    /// `http_get`.
    Get,
    /// `http_post`.
    Post,
}

impl HttpMethod {
    /// The method as HTTP spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
        }
    }

    /// The script verb that sends this method.
    pub fn verb(self) -> &'static str {
        match self {
            HttpMethod::Get => "http_get",
            HttpMethod::Post => "http_post",
        }
    }
}

impl fmt::Display for HttpMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One request from a script.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpRequest {
    /// GET or POST.
    pub method: HttpMethod,
    /// The URL as the script wrote it.
    pub url: String,
    /// Request headers, in the script's order (`content-type` included for a POST body).
    pub headers: Vec<(String, String)>,
    /// The body, for POST.
    pub body: Option<Vec<u8>>,
    /// The script's own timeout; `None` uses the client's default (`http.timeout_ms`).
    pub timeout: Option<Duration>,
}

impl HttpRequest {
    /// A GET of `url` with no headers and the default timeout.
    pub fn get(url: impl Into<String>) -> Self {
        HttpRequest {
            method: HttpMethod::Get,
            url: url.into(),
            headers: Vec::new(),
            body: None,
            timeout: None,
        }
    }

    /// A POST of `body` to `url`, with `content_type`.
    pub fn post(url: impl Into<String>, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        HttpRequest {
            method: HttpMethod::Post,
            url: url.into(),
            headers: vec![(CONTENT_TYPE.into(), content_type.into())],
            body: Some(body.into()),
            timeout: None,
        }
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// A response, whole: rivr reads the body up to `http.max_response_bytes` before the script
/// sees anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code; 4xx and 5xx are responses too, for the script to branch on.
    pub status: u16,
    /// Response headers with lowercase names, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response with `status` and a body of `content_type`.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        HttpResponse { status, headers: vec![(CONTENT_TYPE.into(), content_type.into())], body: body.into() }
    }

    /// A 200 response with a JSON body.
    pub fn json(body: impl Into<String>) -> Self {
        HttpResponse::new(200, "application/json", body.into())
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

/// Why a request produced no response. Every variant is the script's to catch.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum HttpError {
    /// The URL does not start with any prefix in `http.allow` (or a redirect led outside them).
    #[error("`{url}` is not allowed: {}", refused_hint(.allowed))]
    Refused {
        /// The URL refused (a redirect's target when a redirect was refused).
        url: String,
        /// The prefixes that are allowed.
        allowed: Vec<String>,
    },
    /// No whole response arrived in time.
    #[error("no response from `{url}` within {} ms (the `timeout` option, or http.timeout_ms in rivr.yaml)", .after.as_millis())]
    Timeout {
        /// The URL.
        url: String,
        /// The time allowed.
        after: Duration,
    },
    /// The body is longer than `http.max_response_bytes`.
    #[error("the response from `{url}` is larger than {limit} bytes (http.max_response_bytes in rivr.yaml)")]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit in bytes.
        limit: usize,
    },
    /// The server could not be reached.
    #[error("cannot connect to `{url}`: {reason}")]
    Connect {
        /// The URL.
        url: String,
        /// What went wrong (DNS, refused, TLS, ...).
        reason: String,
    },
    /// The request is malformed: a bad URL or header.
    #[error("{0}")]
    Invalid(String),
    /// The exchange failed after connecting (a broken response, too many redirects, ...).
    #[error("request to `{url}` failed: {reason}")]
    Failed {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// This call has no HTTP client (its `CallServices` have none).
    #[error("HTTP is not configured for this call")]
    NotConfigured,
}

fn refused_hint(allowed: &[String]) -> String {
    if allowed.is_empty() {
        "http.allow in rivr.yaml is empty, so scripts may not make requests; add a URL prefix such as \
         https://crm.example.com/api/"
            .to_string()
    } else {
        format!("it starts with none of the prefixes in http.allow in rivr.yaml ({})", allowed.join(", "))
    }
}

/// A client that refuses every request: what a call gets when nothing was configured.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoHttp;

impl HttpClient for NoHttp {
    fn send(&self, _request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, HttpError>> {
        Box::pin(async { Err(HttpError::NotConfigured) })
    }
}

/// A client answering from a function, for tests and scenarios (no network).
pub struct CannedHttp<F>(pub F);

impl<F> HttpClient for CannedHttp<F>
where
    F: Fn(&HttpRequest) -> Result<HttpResponse, HttpError> + Send + Sync,
{
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, HttpError>> {
        let result = (self.0)(&request);
        Box::pin(async move { result })
    }
}

/// The `content-type` header name.
pub const CONTENT_TYPE: &str = "content-type";

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(key, _)| key.eq_ignore_ascii_case(name)).map(|(_, value)| value.as_str())
}
