//! Single sign-on with an OpenID Connect provider: the authorization code flow with PKCE and a nonce.
//!
//! What a sign-in started with lives in a cookie in the browser that started it, sealed with the server's link key
//! (shared by every instance), so the provider may send the browser back to any instance. The ID token's
//! signature, issuer, audience, expiry and nonce are checked against the provider's published keys; the person
//! is who the provider vouches for by a verified email, and the application layer decides whether Tocsin knows
//! them.

use crate::config::OidcConfig;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge,
    PkceCodeVerifier, RedirectUrl, Scope, TokenResponse,
};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::sync::Mutex;
use tocsin_app::Vouched;

/// How long a browser has to come back from the provider.
pub const FLOW_LIFETIME: Duration = Duration::minutes(10);
/// How long the provider's configuration and keys are reused before they are fetched again.
const METADATA_TTL: std::time::Duration = std::time::Duration::from_secs(15 * 60);
/// The most of a provider's answer read.
const MAX_RESPONSE: usize = 1 << 20;

/// Why a sign-in with the provider did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    /// The browser came back without the sign-in it started, or too late, or with another one's state.
    #[error("this sign-in expired or was not started here; start again")]
    Flow,
    /// The provider said no (the person declined, or it refused the request).
    #[error("the provider did not sign you in: {0}")]
    Refused(String),
    /// The provider vouched for no verified email.
    #[error("the provider did not vouch for a verified email address")]
    NoVerifiedEmail,
    /// Talking to the provider failed, or what it sent does not verify.
    #[error("the sign-in could not be checked with the provider: {0}")]
    Provider(String),
}

/// What a sign-in started with, carried by the browser until it comes back.
#[derive(Serialize, Deserialize)]
struct Flow {
    state: String,
    nonce: String,
    verifier: String,
    next: String,
    expires: DateTime<Utc>,
}

pub struct Sso {
    config: OidcConfig,
    redirect: RedirectUrl,
    key: Vec<u8>,
    http: reqwest::Client,
    metadata: Mutex<Option<(std::time::Instant, CoreProviderMetadata)>>,
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Request(#[from] reqwest::Error),
    #[error("the answer is larger than {MAX_RESPONSE} bytes")]
    TooLarge,
    #[error("{0}")]
    Http(#[from] axum::http::Error),
}

/// One request to the provider, with our client: no redirects followed, the answer's size bounded.
async fn send(
    client: reqwest::Client,
    request: openidconnect::HttpRequest,
) -> Result<openidconnect::HttpResponse, HttpError> {
    let (parts, body) = request.into_parts();
    let mut response = client
        .request(parts.method, parts.uri.to_string())
        .headers(parts.headers)
        .body(body)
        .send()
        .await?;
    let mut answer = axum::http::Response::builder().status(response.status());
    if let Some(headers) = answer.headers_mut() {
        *headers = response.headers().clone();
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if bytes.len() + chunk.len() > MAX_RESPONSE {
            return Err(HttpError::TooLarge);
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(answer.body(bytes)?)
}

impl Sso {
    pub fn new(config: OidcConfig, public_url: &str, key: &[u8]) -> anyhow::Result<Self> {
        IssuerUrl::new(config.issuer.clone())
            .map_err(|e| anyhow::anyhow!("oidc.issuer is not a URL: {e}"))?;
        let redirect = RedirectUrl::new(format!("{public_url}/login/sso/callback"))
            .map_err(|e| anyhow::anyhow!("public_url does not make a redirect URL: {e}"))?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()?;
        Ok(Self {
            config,
            redirect,
            key: key.to_vec(),
            http,
            metadata: Mutex::new(None),
        })
    }

    /// The provider's name, for the sign-in button.
    pub fn label(&self) -> &str {
        &self.config.label
    }

    /// The role a person the provider vouches for gets when Tocsin makes their account, if it may.
    pub fn join(&self) -> Option<tocsin_domain::auth::Role> {
        self.config
            .create_users
            .then_some(self.config.new_user_role)
    }

    async fn metadata(&self) -> Result<CoreProviderMetadata, SsoError> {
        if let Some((at, m)) = &*self.metadata.lock().expect("metadata lock")
            && at.elapsed() < METADATA_TTL
        {
            return Ok(m.clone());
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| SsoError::Provider(e.to_string()))?;
        let http = |r| send(self.http.clone(), r);
        let found = CoreProviderMetadata::discover_async(issuer, &http)
            .await
            .map_err(|e| SsoError::Provider(format!("discovery: {}", chain(&e))))?;
        *self.metadata.lock().expect("metadata lock") =
            Some((std::time::Instant::now(), found.clone()));
        Ok(found)
    }

    fn client(
        &self,
        metadata: CoreProviderMetadata,
    ) -> openidconnect::core::CoreClient<
        openidconnect::EndpointSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointNotSet,
        openidconnect::EndpointMaybeSet,
        openidconnect::EndpointMaybeSet,
    > {
        CoreClient::from_provider_metadata(
            metadata,
            ClientId::new(self.config.client_id.clone()),
            self.config.client_secret.clone().map(ClientSecret::new),
        )
        .set_redirect_uri(self.redirect.clone())
    }

    /// Where to send the browser to sign in, and the sealed cookie value that remembers the attempt.
    pub async fn begin(
        &self,
        next: &str,
        now: DateTime<Utc>,
    ) -> Result<(String, String), SsoError> {
        let client = self.client(self.metadata().await?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .url();
        let flow = Flow {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            verifier: verifier.secret().clone(),
            next: next.to_owned(),
            expires: now + FLOW_LIFETIME,
        };
        Ok((url.to_string(), self.seal(&flow)))
    }

    /// Checks what the provider sent back against the sign-in this browser started, redeems the code, verifies the
    /// ID token, and says whom the provider vouches for and where the person was going.
    pub async fn finish(
        &self,
        cookie: Option<&str>,
        code: &str,
        state: &str,
        now: DateTime<Utc>,
    ) -> Result<(Vouched, String), SsoError> {
        let flow = cookie.and_then(|c| self.open(c)).ok_or(SsoError::Flow)?;
        if flow.expires < now || !constant_time_eq(flow.state.as_bytes(), state.as_bytes()) {
            return Err(SsoError::Flow);
        }
        let client = self.client(self.metadata().await?);
        let http = |r| send(self.http.clone(), r);
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|e| SsoError::Provider(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(flow.verifier.clone()))
            .request_async(&http)
            .await
            .map_err(|e| SsoError::Provider(format!("token: {}", chain(&e))))?;
        let id_token = token
            .id_token()
            .ok_or_else(|| SsoError::Provider("no ID token in the answer".into()))?;
        let verifier = client.id_token_verifier().set_time_fn(move || now);
        let claims = match id_token.claims(&verifier, &Nonce::new(flow.nonce.clone())) {
            Ok(claims) => claims,
            Err(e) => {
                // The provider may have rotated its keys since they were fetched: the next sign-in fetches them
                // again. (This one's code is spent.)
                *self.metadata.lock().expect("metadata lock") = None;
                return Err(SsoError::Provider(e.to_string()));
            }
        };
        let email = claims
            .email()
            .filter(|_| claims.email_verified() == Some(true))
            .ok_or(SsoError::NoVerifiedEmail)?;
        let vouched = Vouched {
            email: email.as_str().to_owned(),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.as_str().to_owned()),
            issuer: claims.issuer().as_str().to_owned(),
            subject: claims.subject().as_str().to_owned(),
        };
        Ok((vouched, flow.next))
    }

    fn mac(&self, payload: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(b"tocsin sso flow\0");
        mac.update(payload);
        mac
    }

    fn seal(&self, flow: &Flow) -> String {
        let payload = serde_json::to_vec(flow).expect("a flow serializes");
        let tag = self.mac(&payload).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    fn open(&self, sealed: &str) -> Option<Flow> {
        let (payload, tag) = sealed.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.mac(&payload).verify_slice(&tag).ok()?;
        serde_json::from_slice(&payload).ok()
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// An error with its causes, which is where a provider's reason is.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sso() -> Sso {
        Sso::new(
            OidcConfig {
                issuer: "http://127.0.0.1:9400".into(),
                client_id: "tocsin".into(),
                client_secret: Some("s".into()),
                label: "Example".into(),
                create_users: false,
                new_user_role: tocsin_domain::auth::Role::Observer,
            },
            "http://127.0.0.1:8080",
            b"a key",
        )
        .unwrap()
    }

    #[test]
    fn a_flow_cookie_opens_only_unaltered_and_under_the_same_key() {
        let s = sso();
        let flow = Flow {
            state: "st".into(),
            nonce: "n".into(),
            verifier: "v".into(),
            next: "/incidents/4".into(),
            expires: Utc::now(),
        };
        let sealed = s.seal(&flow);
        assert_eq!(s.open(&sealed).unwrap().next, "/incidents/4");
        let (payload, tag) = sealed.split_once('.').unwrap();
        let mut forged = serde_json::to_vec(&Flow {
            next: "https://evil.example".into(),
            ..flow
        })
        .unwrap();
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(&mut forged));
        assert!(
            s.open(&forged).is_none(),
            "another payload under the old tag"
        );
        assert!(s.open(payload).is_none());
        let other = Sso {
            key: b"another key".to_vec(),
            ..sso()
        };
        assert!(other.open(&sealed).is_none());
    }
}
