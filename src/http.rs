//! The HTTP client scripts use in production: reqwest (rustls with the ring provider), one
//! connection pool shared by every call, and the policy from `rivr.yaml`'s `http:` section.
//!
//! The policy is checked here, where every request passes, rather than in the script API: the
//! allowlist applies to the URL after parsing (so `/api/../admin` cannot sneak past a
//! `/api/` prefix) and to every redirect. The response body is read in chunks and abandoned
//! as soon as it passes `max_response_bytes`, so a huge response costs at most that much memory.
//! The policy can be replaced while calls run ([`ReqwestHttp::set_policy`], on config reload).
//! Proxies come from the environment (`HTTPS_PROXY`, `HTTP_PROXY`, `NO_PROXY`), as for curl.
//!
//! This module knows nothing of Rhai or calls: it implements `call::http::HttpClient`.

use std::error::Error as StdError;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use reqwest::redirect;

use crate::call::http::{BoxFuture, HttpClient, HttpError, HttpMethod, HttpRequest, HttpResponse};
use crate::config;

/// What scripts may reach, from `config::Http`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpPolicy {
    /// URL prefixes requests (and redirects) must start with.
    pub allow: Vec<String>,
    /// Time for a whole exchange when the script gives none.
    pub timeout: Duration,
    /// Largest response body accepted.
    pub max_response_bytes: usize,
}

impl HttpPolicy {
    /// Whether `url` (already parsed and normalized) starts with an allowed prefix.
    pub fn allows(&self, url: &str) -> bool {
        self.allow.iter().any(|prefix| url.starts_with(prefix.as_str()))
    }
}

impl From<&config::Http> for HttpPolicy {
    fn from(http: &config::Http) -> Self {
        HttpPolicy {
            allow: http.allow.iter().map(|prefix| prefix.as_str().to_string()).collect(),
            timeout: http.timeout(),
            max_response_bytes: http.max_response_bytes.get(),
        }
    }
}

/// The client could not be built (no TLS roots, a broken system configuration).
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the HTTP client for scripts: {0}")]
pub struct HttpSetupError(#[source] reqwest::Error);

/// The production `HttpClient`. Cheap to share: wrap it in an `Arc` and hand it to every call's
/// actor (`CallServices::with_http`).
pub struct ReqwestHttp {
    client: reqwest::Client,
    /// Read once per request and by the redirect policy; replaced on config reload.
    policy: Arc<ArcSwap<HttpPolicy>>,
}

impl ReqwestHttp {
    /// A client enforcing `http` (allowlist, default timeout, response size cap).
    ///
    /// # Errors
    /// `HttpSetupError` when reqwest cannot build its TLS configuration.
    pub fn new(http: &config::Http) -> Result<Self, HttpSetupError> {
        ensure_crypto_provider();
        let policy = Arc::new(ArcSwap::from_pointee(HttpPolicy::from(http)));
        let for_redirects = policy.clone();
        let redirects = redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
            }
            if for_redirects.load().allows(attempt.url().as_str()) {
                attempt.follow()
            } else {
                let url = attempt.url().to_string();
                attempt.error(RedirectRefused(url))
            }
        });
        let client = reqwest::Client::builder()
            .redirect(redirects)
            .user_agent(concat!("rivr/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(HttpSetupError)?;
        Ok(ReqwestHttp { client, policy })
    }

    /// Replace the policy for requests that start from now on (a reloaded `rivr.yaml`).
    pub fn set_policy(&self, http: &config::Http) {
        let policy = HttpPolicy::from(http);
        if **self.policy.load() != policy {
            tracing::info!(allow = ?policy.allow, "http policy updated");
            self.policy.store(Arc::new(policy));
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<HttpPolicy> {
        self.policy.load_full()
    }
}

impl HttpClient for ReqwestHttp {
    fn send(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, HttpError>> {
        let policy = self.policy.load_full();
        Box::pin(async move {
            let url = reqwest::Url::parse(&request.url)
                .map_err(|error| HttpError::Invalid(format!("`{}` is not a URL: {error}", request.url)))?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(HttpError::Invalid(format!(
                    "`{}` is not an http:// or https:// URL",
                    request.url
                )));
            }
            if !policy.allows(url.as_str()) {
                return Err(HttpError::Refused { url: request.url, allowed: policy.allow.clone() });
            }
            let timeout = request.timeout.unwrap_or(policy.timeout);
            let method = match request.method {
                HttpMethod::Get => reqwest::Method::GET,
                HttpMethod::Post => reqwest::Method::POST,
            };
            let mut builder = self.client.request(method, url);
            for (name, value) in &request.headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            if let Some(body) = request.body {
                builder = builder.body(body);
            }
            let exchange = exchange(builder, &request.url, &policy);
            // One deadline for connecting, sending and reading the whole body.
            match tokio::time::timeout(timeout, exchange).await {
                Ok(result) => result,
                Err(_) => Err(HttpError::Timeout { url: request.url, after: timeout }),
            }
        })
    }
}

/// Send the request and read the whole response, stopping once the body passes `limit`.
async fn exchange(
    builder: reqwest::RequestBuilder,
    url: &str,
    policy: &HttpPolicy,
) -> Result<HttpResponse, HttpError> {
    let limit = policy.max_response_bytes;
    let mut response = builder.send().await.map_err(|error| describe(url, &error, policy))?;
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(name, value)| {
            (name.as_str().to_string(), String::from_utf8_lossy(value.as_bytes()).into_owned())
        })
        .collect();
    let too_large = || HttpError::TooLarge { url: url.to_string(), limit };
    if response.content_length().is_some_and(|length| length > limit as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|error| describe(url, &error, policy))? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(HttpResponse { status, headers, body })
}

/// A reqwest error as the script should read it.
fn describe(url: &str, error: &reqwest::Error, policy: &HttpPolicy) -> HttpError {
    let mut source: Option<&(dyn StdError + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(refused) = current.downcast_ref::<RedirectRefused>() {
            return HttpError::Refused { url: refused.0.clone(), allowed: policy.allow.clone() };
        }
        source = current.source();
    }
    let reason = root_cause(error);
    if error.is_builder() {
        HttpError::Invalid(format!("cannot send to `{url}`: {reason}"))
    } else if error.is_connect() {
        HttpError::Connect { url: url.to_string(), reason }
    } else {
        HttpError::Failed { url: url.to_string(), reason }
    }
}

/// The innermost error's message: reqwest's own text ("error sending request") says little.
fn root_cause(error: &(dyn StdError + 'static)) -> String {
    let mut current = error;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}

/// A redirect to a URL outside the allowlist, carried through reqwest's error.
#[derive(Debug)]
struct RedirectRefused(String);

impl std::fmt::Display for RedirectRefused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "redirect to `{}` is outside http.allow", self.0)
    }
}

impl StdError for RedirectRefused {}

/// reqwest is built without a default crypto provider (see Cargo.toml); install ring's once.
/// Every reqwest client rivr builds (scripts' HTTP, webhooks) calls this first.
pub(crate) fn ensure_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Another thread may have installed one meanwhile; either way one is in place.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

/// Most redirects followed for one request.
const MAX_REDIRECTS: usize = 5;
