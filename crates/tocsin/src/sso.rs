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
/// How long after a failed fetch of the provider's configuration sign-ins are refused without asking it again.
const FAILURE_BACKOFF: std::time::Duration = std::time::Duration::from_secs(10);
/// How recent a fetch of the provider's keys is kept even when a token does not verify against them.
const REFETCH_AFTER: std::time::Duration = std::time::Duration::from_secs(60);
/// The most of a provider's answer read.
const MAX_RESPONSE: usize = 1 << 20;

/// Why a sign-in with the provider did not happen.
#[derive(Debug, thiserror::Error)]
pub enum SsoError {
    /// The browser came back without the sign-in it started, or too late, or with another one's state.
    #[error("this sign-in expired or was not started here; start again")]
    Flow,
    /// The provider said no (the person declined, or it refused the request).
    #[error("the provider did not sign you in")]
    Refused,
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
    metadata: Mutex<Cached>,
    /// One discovery at a time: a burst of sign-ins waits for it rather than each asking the provider.
    fetching: tokio::sync::Mutex<()>,
}

/// The provider's configuration and keys as last fetched, and when fetching last failed.
#[derive(Default)]
struct Cached {
    fetched: Option<(std::time::Instant, CoreProviderMetadata)>,
    failed_at: Option<std::time::Instant>,
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
        anyhow::ensure!(
            config.new_user_role <= tocsin_domain::auth::Role::Responder,
            "oidc.new_user_role must be observer or responder; an owner gives more"
        );
        anyhow::ensure!(
            !config.create_users || !config.allowed_domains.is_empty(),
            "oidc.create_users needs oidc.allowed_domains, e.g. [\"example.com\"]: otherwise anyone the provider \
             lets sign up would get an account"
        );
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
            metadata: Mutex::new(Cached::default()),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// The provider's name, for the sign-in button.
    pub fn label(&self) -> &str {
        &self.config.label
    }

    /// Who may get an account on their first sign-in, and with which role; nobody unless `create_users`.
    pub fn join(&self) -> Option<tocsin_app::Join> {
        self.config.create_users.then(|| tocsin_app::Join {
            role: self.config.new_user_role,
            domains: self.config.allowed_domains.clone(),
        })
    }

    /// The cached configuration, if still fresh.
    fn cached(&self) -> Option<CoreProviderMetadata> {
        let cache = self.metadata.lock().expect("metadata lock");
        cache
            .fetched
            .as_ref()
            .filter(|(at, _)| at.elapsed() < METADATA_TTL)
            .map(|(_, m)| m.clone())
    }

    async fn metadata(&self) -> Result<CoreProviderMetadata, SsoError> {
        if let Some(m) = self.cached() {
            return Ok(m);
        }
        let _one = self.fetching.lock().await;
        if let Some(m) = self.cached() {
            return Ok(m);
        }
        // A provider that is down is not asked again by every sign-in.
        if self
            .metadata
            .lock()
            .expect("metadata lock")
            .failed_at
            .is_some_and(|at| at.elapsed() < FAILURE_BACKOFF)
        {
            return Err(SsoError::Provider(
                "the provider could not be reached a moment ago".into(),
            ));
        }
        let issuer = IssuerUrl::new(self.config.issuer.clone())
            .map_err(|e| SsoError::Provider(e.to_string()))?;
        let http = |r| send(self.http.clone(), r);
        let found = CoreProviderMetadata::discover_async(issuer, &http).await;
        let mut cache = self.metadata.lock().expect("metadata lock");
        match found {
            Ok(found) => {
                cache.fetched = Some((std::time::Instant::now(), found.clone()));
                cache.failed_at = None;
                Ok(found)
            }
            Err(e) => {
                cache.failed_at = Some(std::time::Instant::now());
                Err(SsoError::Provider(format!("discovery: {}", chain(&e))))
            }
        }
    }

    /// After a token that did not verify: the provider may have rotated its keys, so the next sign-in fetches them
    /// again, unless they were fetched in the last minute (a stream of bad tokens must not make every sign-in
    /// fetch them).
    fn keys_may_have_rotated(&self) {
        let mut cache = self.metadata.lock().expect("metadata lock");
        if cache
            .fetched
            .as_ref()
            .is_some_and(|(at, _)| at.elapsed() >= REFETCH_AFTER)
        {
            cache.fetched = None;
        }
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

    /// Whether this browser started the sign-in the provider answered, with `state`, and it has not expired.
    fn started_here(&self, cookie: Option<&str>, state: &str, now: DateTime<Utc>) -> Option<Flow> {
        let flow = cookie.and_then(|c| self.open(c))?;
        (flow.expires >= now && constant_time_eq(flow.state.as_bytes(), state.as_bytes()))
            .then_some(flow)
    }

    /// Whether a refusal the provider sent back is for the sign-in this browser started; providers that leave the
    /// state out of a refusal are taken at the browser's word that it started one.
    pub fn refusal_is_ours(
        &self,
        cookie: Option<&str>,
        state: Option<&str>,
        now: DateTime<Utc>,
    ) -> bool {
        match state {
            Some(state) => self.started_here(cookie, state, now).is_some(),
            None => cookie
                .and_then(|c| self.open(c))
                .is_some_and(|flow| flow.expires >= now),
        }
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
        let flow = self
            .started_here(cookie, state, now)
            .ok_or(SsoError::Flow)?;
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
                if matches!(
                    e,
                    openidconnect::ClaimsVerificationError::SignatureVerification(_)
                ) {
                    self.keys_may_have_rotated();
                }
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
                allowed_domains: Vec::new(),
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
