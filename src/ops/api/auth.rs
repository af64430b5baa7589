//! The API's bearer token: compared in constant time, never logged.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::ApiError;
use crate::config::Secret;

/// The token requests must carry, if one is configured.
#[derive(Clone)]
pub(super) struct Token(Option<Arc<Secret>>);

impl Token {
    pub(super) fn new(secret: Option<Secret>) -> Self {
        Token(secret.map(Arc::new))
    }

    /// Whether `presented` is the token, in time that does not depend on how much of it matches.
    fn accepts(&self, presented: Option<&str>) -> bool {
        match &self.0 {
            None => true,
            Some(secret) => {
                presented.is_some_and(|given| bool::from(given.as_bytes().ct_eq(secret.expose().as_bytes())))
            }
        }
    }
}

/// Refuse a request without the token (`Authorization: Bearer <token>`) with 401.
pub(super) async fn require(
    State(token): State<Token>,
    ConnectInfo(remote): ConnectInfo<SocketAddr>,
    request: Request,
    next: Next,
) -> Response {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .map(str::trim);
    if token.accepts(presented) {
        return next.run(request).await;
    }
    tracing::warn!(%remote, path = request.uri().path(), token_given = presented.is_some(), "API request refused: missing or wrong token");
    let mut response = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "this API needs its token: send `Authorization: Bearer <api.token>` (the token is in rivr.yaml, \
         usually from RIVR_API_TOKEN)",
    )
    .into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_token_is_accepted_and_no_token_configured_accepts_anything() {
        let token = Token::new(Some(Secret::new("s3cret-token-value")));
        assert!(token.accepts(Some("s3cret-token-value")));
        assert!(!token.accepts(Some("s3cret-token-valuf")));
        assert!(!token.accepts(Some("s3cret")));
        assert!(!token.accepts(None));
        assert!(Token::new(None).accepts(None));
    }
}
