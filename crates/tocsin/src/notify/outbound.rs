//! What every HTTP-based transport shares: the client, and reading a response as a [`SendOutcome`].

use super::SendOutcome;
use chrono::{DateTime, Utc};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::header::RETRY_AFTER;
use reqwest::{RequestBuilder, Response, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tocsin_domain::net::{AllowedNetworks, refusal_text};

/// Per request. A receiver slower than this is treated as down: a page must not wait on it, and the retry comes
/// sooner than a hung connection would give up.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The longest pause a receiver's `Retry-After` can ask for; a page that waits longer is no longer worth sending,
/// and a hostile or broken receiver must not park a delivery for days.
const MAX_RETRY_AFTER_SECS: i64 = 24 * 60 * 60;

/// How much of a response body a delivery record keeps.
const SNIPPET_CHARS: usize = 200;

pub const DELIVERY_HEADER: &str = "x-tocsin-delivery";

pub fn client(timeout: Duration) -> reqwest::Result<reqwest::Client> {
    builder(timeout).build()
}

/// A client for URLs that users give (webhooks, chat): every name it resolves must lead to an address the allowed
/// networks permit, checked when connecting, so a name that points at a private address later is refused then;
/// an address written in the URL itself is checked before any request.
#[derive(Clone)]
pub struct GuardedClient {
    http: reqwest::Client,
    allowed: AllowedNetworks,
}

impl GuardedClient {
    pub fn new(timeout: Duration, allowed: AllowedNetworks) -> reqwest::Result<Self> {
        let resolver = Arc::new(GuardedResolver {
            allowed: allowed.clone(),
        });
        Ok(Self {
            http: builder(timeout).dns_resolver(resolver).build()?,
            allowed,
        })
    }

    /// A POST to `url`, or the refused outcome when `url` names an address that may not be reached.
    pub fn post(&self, url: &str) -> Result<RequestBuilder, SendOutcome> {
        self.request(reqwest::Method::POST, url)
            .map_err(|refused| SendOutcome::Refused { error: refused.0 })
    }

    /// A request to `url`, refused when `url` names an address that may not be reached.
    pub fn request(
        &self,
        method: reqwest::Method,
        url: &str,
    ) -> Result<RequestBuilder, RefusedDestination> {
        match url::Url::parse(url)
            .ok()
            .and_then(|u| self.allowed.refusal(&u))
        {
            Some(why) => Err(RefusedDestination(why)),
            None => Ok(self.http.request(method, url)),
        }
    }
}

/// Why a request was not sent: its destination is not allowed. Sending again cannot help.
#[derive(Debug)]
pub struct RefusedDestination(pub String);

impl std::fmt::Display for RefusedDestination {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for RefusedDestination {}

struct GuardedResolver {
    allowed: AllowedNetworks,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allowed = self.allowed.clone();
        Box::pin(async move {
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((name.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| allowed.permits(a.ip()))
                .collect();
            match (permitted.is_empty(), found.first()) {
                (false, _) => Ok(Box::new(permitted.into_iter()) as Addrs),
                (true, Some(refused)) => Err(Box::new(RefusedDestination(format!(
                    "{} resolves to {}",
                    name.as_str(),
                    refusal_text(refused.ip())
                ))) as _),
                (true, None) => Err(format!("{} has no address", name.as_str()).into()),
            }
        })
    }
}

fn builder(timeout: Duration) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        // A redirected POST turns into a GET on the way, and following one would let a target send its signed
        // payload somewhere else; a target that moved has to be updated instead.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Tocsin/", env!("CARGO_PKG_VERSION")))
}

/// Sends `request` and classifies the answer: 2xx delivered; 408, 425, 429, 5xx and network errors retried;
/// anything else failed.
pub async fn send(request: RequestBuilder, now: DateTime<Utc>) -> SendOutcome {
    match request.send().await {
        Ok(response) => classify(response, now).await,
        Err(e) => from_error(e),
    }
}

/// A 2xx response's status and the start of its body, or the outcome of any other response.
pub async fn accepted(
    request: RequestBuilder,
    now: DateTime<Utc>,
) -> Result<(StatusCode, String), SendOutcome> {
    match request.send().await {
        Ok(response) if response.status().is_success() => {
            let status = response.status();
            Ok((status, snippet(response).await))
        }
        Ok(response) => Err(classify(response, now).await),
        Err(e) => Err(from_error(e)),
    }
}

async fn classify(response: Response, now: DateTime<Utc>) -> SendOutcome {
    let status = response.status();
    let retry_after = response
        .headers()
        .get(RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, now));
    let body = snippet(response).await;
    let said = status_line(status, &body);
    if status.is_success() {
        SendOutcome::Delivered { detail: said }
    } else if retryable(status) {
        SendOutcome::Retry {
            error: said,
            retry_after,
        }
    } else if status.is_redirection() {
        SendOutcome::failed(format!(
            "{said} (redirects are not followed; set the URL it redirects to)"
        ))
    } else {
        SendOutcome::failed(said)
    }
}

fn retryable(status: StatusCode) -> bool {
    status.is_server_error()
        || matches!(
            status,
            StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_EARLY | StatusCode::TOO_MANY_REQUESTS
        )
}

fn from_error(e: reqwest::Error) -> SendOutcome {
    let mut cause: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    while let Some(c) = cause {
        if let Some(refused) = c.downcast_ref::<RefusedDestination>() {
            return SendOutcome::Refused {
                error: refused.0.clone(),
            };
        }
        cause = c.source();
    }
    let builder = e.is_builder();
    let message = describe(e);
    if builder {
        SendOutcome::failed(message)
    } else {
        SendOutcome::retry(message)
    }
}

/// Why a request failed, on one line: the refusal of its destination, or the error and its causes.
pub fn describe_error(e: reqwest::Error) -> String {
    match from_error(e) {
        SendOutcome::Refused { error } => format!("not sent: {error}"),
        SendOutcome::Failed { error } | SendOutcome::Retry { error, .. } => error,
        SendOutcome::Delivered { detail } => detail,
    }
}

/// The error and its causes on one line. The URL is left out: chat webhook URLs carry their credential in the
/// path, and this text is stored and logged.
fn describe(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let e = e.without_url();
    let mut message = kind.to_owned();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(&e);
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// The start of a response body, on one line.
/// What a delivery record keeps of an answer: its status line, and the body only when it is a bare error code
/// (Slack's `invalid_payload`). A response body is the receiver's to keep: recorded, it would let anyone who reads
/// the notification log read what an internal service answers.
pub fn status_line(status: StatusCode, body: &str) -> String {
    let code = status.as_u16();
    let line = match status.canonical_reason() {
        Some(reason) => format!("HTTP {code} {reason}"),
        None => format!("HTTP {code}"),
    };
    let is_code = !body.is_empty()
        && body.len() <= 40
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if is_code {
        format!("{line}: {body}")
    } else {
        line
    }
}

async fn snippet(mut response: Response) -> String {
    let mut bytes = Vec::new();
    // Read only what is kept: an error page can be large, and a hostile receiver endless.
    while bytes.len() < SNIPPET_CHARS * 4 {
        match response.chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    truncate(&one_line, SNIPPET_CHARS)
}

/// At most `max` characters, marking a cut with an ellipsis.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut cut: String = s.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// `Retry-After` as delta-seconds or an HTTP date, capped at a day; `None` when unreadable.
fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<chrono::Duration> {
    let value = value.trim();
    let secs = if let Ok(secs) = value.parse::<u64>() {
        i64::try_from(secs).unwrap_or(i64::MAX)
    } else {
        let at = DateTime::parse_from_rfc2822(value).ok()?;
        (at.with_timezone(&Utc) - now).num_seconds().max(0)
    };
    Some(chrono::Duration::seconds(secs.min(MAX_RETRY_AFTER_SECS)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates_and_is_capped() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:28:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let secs = |v| parse_retry_after(v, now).map(|d| d.num_seconds());
        assert_eq!(secs("7"), Some(7));
        assert_eq!(secs(" 120 "), Some(120));
        assert_eq!(secs("Wed, 21 Oct 2015 07:29:30 GMT"), Some(90));
        assert_eq!(secs("Wed, 21 Oct 2015 07:00:00 GMT"), Some(0));
        assert_eq!(secs("99999999999999999999"), None);
        assert_eq!(secs("18446744073709551615"), Some(MAX_RETRY_AFTER_SECS));
        assert_eq!(secs("-5"), None);
        assert_eq!(secs("soon"), None);
    }

    #[test]
    fn only_transient_statuses_are_retried() {
        for code in [408, 425, 429, 500, 502, 503, 504] {
            assert!(retryable(StatusCode::from_u16(code).unwrap()), "{code}");
        }
        for code in [200, 301, 400, 401, 403, 404, 410, 413, 422] {
            assert!(!retryable(StatusCode::from_u16(code).unwrap()), "{code}");
        }
    }

    #[test]
    fn truncation_counts_characters() {
        assert_eq!(truncate("abc", 3), "abc");
        assert_eq!(truncate("abcd", 3), "ab…");
        assert_eq!(truncate("äöüß", 2), "ä…");
    }
}
