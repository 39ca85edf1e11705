//! SMS and voice calls through an HTTP gateway. Providers differ in every detail but nearly all take one HTTP
//! request, so the operator describes that request as a template instead of Tocsin carrying one client per
//! provider:
//!
//! ```toml
//! [notify.sms]
//! url = "https://api.example.com/v1/messages"
//! headers = { Authorization = "Bearer …" }
//! body = '{"to": "{{to}}", "text": "{{message}}"}'
//! ```
//!
//! Placeholders are escaped for where they land: JSON string escaping in JSON bodies (so they go inside quotes),
//! form encoding in form bodies, percent-encoding in the URL.

use super::outbound::{self, truncate};
use super::{Outgoing, SendOutcome, Transport, wrong_kind};
use async_trait::async_trait;
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use tocsin_domain::ValidationErrors;
use tocsin_domain::contact::{ContactTarget, Notice};
use tocsin_domain::template::{self, Escape, default_content_type, default_method, render};

/// Longest SMS text: two concatenated messages. Longer ones cost more and arrive out of order on some networks.
const SMS_MAX_CHARS: usize = 320;

/// The least of the subject an SMS keeps before it gives up the link for it.
const SMS_MIN_SUBJECT_CHARS: usize = 40;

const PLACEHOLDERS: [&str; 4] = ["to", "message", "subject", "delivery_id"];

/// One templated HTTP request per message.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// May hold placeholders, e.g. `https://gw.example.com/send?to={{to}}`.
    pub url: String,
    #[serde(default = "default_method")]
    pub method: String,
    /// Extra headers, e.g. an `Authorization`; values may hold placeholders.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// The request body template; empty sends no body.
    #[serde(default)]
    pub body: String,
    #[serde(default = "default_content_type")]
    pub content_type: String,
}

impl GatewayConfig {
    /// A JSON POST to `url` with an empty body and no extra headers.
    pub fn new(url: &str) -> Self {
        Self {
            url: url.into(),
            method: default_method(),
            headers: BTreeMap::new(),
            body: String::new(),
            content_type: default_content_type(),
        }
    }

    fn method(&self) -> Option<Method> {
        Method::from_bytes(self.method.trim().to_ascii_uppercase().as_bytes()).ok()
    }

    pub(super) fn check(&self, key: &str, errors: &mut ValidationErrors) {
        // Values with quotes, a newline and reserved URL characters, so a template that escapes wrongly fails here
        // rather than on the first page.
        let sample = Values {
            to: "+15551234567",
            message: "Line \"one\" & more\nline two",
            subject: "[SEV-1] a/b?c",
            delivery_id: "dlv_01J9Z3V4W5X6Y7Z8A9B0C1D2E3",
        };
        let mut unknown = |field: &str, template: &str| {
            for name in unknown_placeholders(template) {
                errors.push(
                    format!("{key}.{field}"),
                    format!(
                        "has an unknown placeholder {{{{{name}}}}}; use {{{{to}}}}, {{{{message}}}}, {{{{subject}}}} or {{{{delivery_id}}}}"
                    ),
                );
            }
        };
        unknown("url", &self.url);
        for (name, value) in &self.headers {
            unknown(&format!("headers.{name}"), value);
        }
        unknown("body", &self.body);

        let url = render(&self.url, &sample, Escape::Url);
        match url::Url::parse(&url) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() => {}
            Ok(_) => errors.push(format!("{key}.url"), "must be an http:// or https:// URL"),
            Err(e) => errors.push(format!("{key}.url"), format!("is not a URL: {e}")),
        }
        let method = self.method();
        if method.is_none() {
            errors.push(
                format!("{key}.method"),
                "is not an HTTP method like POST or GET",
            );
        }
        for (name, value) in &self.headers {
            if HeaderName::from_bytes(name.as_bytes()).is_err() {
                errors.push(
                    format!("{key}.headers.{name}"),
                    "is not a valid header name",
                );
            } else if name.eq_ignore_ascii_case("content-type") {
                errors.push(
                    format!("{key}.headers.{name}"),
                    format!("set {key}.content_type instead"),
                );
            } else if HeaderValue::from_str(&render(value, &sample, Escape::Header)).is_err() {
                errors.push(
                    format!("{key}.headers.{name}"),
                    "is not a valid header value",
                );
            }
        }
        if HeaderValue::from_str(&self.content_type).is_err() || !self.content_type.contains('/') {
            errors.push(
                format!("{key}.content_type"),
                "is not a media type like application/json",
            );
        }
        if self.body.is_empty() {
            return;
        }
        if matches!(method, Some(Method::GET | Method::HEAD)) {
            errors.push(
                format!("{key}.body"),
                format!(
                    "must be empty for {}; put the values in the URL",
                    self.method
                ),
            );
        }
        let escape = Escape::for_content_type(&self.content_type);
        if escape == Escape::Json
            && let Err(e) =
                serde_json::from_str::<serde_json::Value>(&render(&self.body, &sample, escape))
        {
            errors.push(
                format!("{key}.body"),
                format!(
                    "is not JSON once filled in ({e}); placeholders go inside quotes, as in \"{{{{message}}}}\""
                ),
            );
        }
    }
}

/// Header values are left out: gateways authenticate with them.
impl fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("url", &self.url)
            .field("method", &self.method)
            .field("headers", &self.headers.keys().collect::<Vec<_>>())
            .field("body", &self.body)
            .field("content_type", &self.content_type)
            .finish()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Sms,
    Voice,
}

pub struct GatewayTransport {
    http: reqwest::Client,
    config: GatewayConfig,
    kind: Kind,
}

impl GatewayTransport {
    pub fn new(http: reqwest::Client, config: GatewayConfig, kind: Kind) -> Self {
        Self { http, config, kind }
    }

    fn key(&self) -> &'static str {
        match self.kind {
            Kind::Sms => "notify.sms",
            Kind::Voice => "notify.voice",
        }
    }
}

#[async_trait]
impl Transport for GatewayTransport {
    async fn send(&self, out: &Outgoing<'_>) -> SendOutcome {
        let (number, message) = match (self.kind, out.target) {
            (Kind::Sms, ContactTarget::Sms { number }) => (number, sms_text(out.notice)),
            (Kind::Voice, ContactTarget::Voice { number }) => (number, voice_text(out.notice)),
            (_, other) => return wrong_kind(self.key(), other),
        };
        let Some(method) = self.config.method() else {
            return SendOutcome::failed(format!("{}.method is not an HTTP method", self.key()));
        };
        let values = Values {
            to: number.as_str(),
            message: &message,
            subject: &out.notice.subject,
            delivery_id: out.delivery_id,
        };
        let mut request = self
            .http
            .request(method, render(&self.config.url, &values, Escape::Url))
            .header(outbound::DELIVERY_HEADER, out.delivery_id);
        for (name, value) in &self.config.headers {
            request = request.header(name, render(value, &values, Escape::Header));
        }
        if !self.config.body.is_empty() {
            let escape = Escape::for_content_type(&self.config.content_type);
            request = request
                .header(CONTENT_TYPE, &self.config.content_type)
                .body(render(&self.config.body, &values, escape));
        }
        outbound::send(request, out.now).await
    }
}

/// The subject and the first link, which is what someone paged on a phone acts on. The subject is cut before the
/// link is, since a link cut short is useless.
fn sms_text(notice: &Notice) -> String {
    let subject = notice
        .subject
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    // The link that needs no account, or else the first; whichever fits beside some of the subject.
    let fits = |url: &&str| url.chars().count() + 1 + SMS_MIN_SUBJECT_CHARS <= SMS_MAX_CHARS;
    let link = notice
        .quick_link
        .as_deref()
        .filter(fits)
        .or_else(|| notice.links.first().map(|l| l.url.as_str()));
    match link {
        Some(url) if url.chars().count() + 1 + SMS_MIN_SUBJECT_CHARS <= SMS_MAX_CHARS => {
            let room = SMS_MAX_CHARS - url.chars().count() - 1;
            format!("{} {}", truncate(&subject, room), url)
        }
        _ => truncate(&subject, SMS_MAX_CHARS),
    }
}

/// What is read out: links cannot be followed on a call.
fn voice_text(notice: &Notice) -> String {
    std::iter::once(notice.subject.as_str())
        .chain(notice.body.lines())
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

struct Values<'a> {
    to: &'a str,
    message: &'a str,
    subject: &'a str,
    delivery_id: &'a str,
}

impl template::Values for Values<'_> {
    fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        match name {
            "to" => Some(self.to),
            "message" => Some(self.message),
            "subject" => Some(self.subject),
            "delivery_id" => Some(self.delivery_id),
            _ => None,
        }
        .map(Cow::Borrowed)
    }
}

fn unknown_placeholders(template: &str) -> Vec<&str> {
    template::placeholders(template)
        .into_iter()
        .filter(|name| !PLACEHOLDERS.contains(name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use serde_json::json;
    use tocsin_domain::contact::{NoticeLink, PhoneNumber};

    fn sms() -> ContactTarget {
        ContactTarget::Sms {
            number: PhoneNumber::parse("+49 151 1234 5678").unwrap(),
        }
    }

    fn transport(config: GatewayConfig, kind: Kind) -> GatewayTransport {
        let mut errors = ValidationErrors::default();
        config.check("notify.sms", &mut errors);
        assert!(errors.is_empty(), "{errors}");
        GatewayTransport::new(outbound::client(outbound::TIMEOUT).unwrap(), config, kind)
    }

    #[tokio::test]
    async fn json_gateways_get_escaped_values_and_the_number_in_url_and_headers() {
        let rx = Receiver::start(ok_with(r#"{"status":"queued"}"#)).await;
        let config = GatewayConfig {
            headers: BTreeMap::from([
                ("Authorization".into(), "Bearer s3cret".into()),
                ("X-Recipient".into(), "{{to}}".into()),
            ]),
            body: r#"{"to": "{{to}}", "text": "{{ message }}", "ref": "{{delivery_id}}"}"#.into(),
            ..GatewayConfig::new(&rx.url("/v1/{{to}}/messages?subject={{subject}}"))
        };
        let notice = Notice {
            quick_link: None,
            incident: None,
            subject: "[SEV-1] \"Checkout\" down".into(),
            ..notice()
        };
        let target = sms();
        let outcome = transport(config, Kind::Sms)
            .send(&outgoing(&target, &notice))
            .await;
        assert_eq!(
            outcome,
            SendOutcome::Delivered {
                detail: "HTTP 200 OK".into()
            }
        );
        let [req] = rx.requests().try_into().unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/v1/%2B4915112345678/messages");
        assert_eq!(
            req.query.as_deref(),
            Some("subject=%5BSEV-1%5D%20%22Checkout%22%20down")
        );
        assert_eq!(req.header("authorization"), Some("Bearer s3cret"));
        assert_eq!(req.header("x-recipient"), Some("+4915112345678"));
        assert_eq!(req.header("content-type"), Some("application/json"));
        assert_eq!(req.header("x-tocsin-delivery"), Some(DELIVERY_ID));
        assert_eq!(
            req.json(),
            json!({
                "to": "+4915112345678",
                "text": "[SEV-1] \"Checkout\" down https://tocsin.example.com/a/xyz",
                "ref": DELIVERY_ID,
            })
        );
    }

    #[tokio::test]
    async fn form_gateways_get_form_encoded_values() {
        let rx = Receiver::start(ok()).await;
        let config = GatewayConfig {
            body: "To={{to}}&From=%2B15550000000&Body={{message}}".into(),
            content_type: "application/x-www-form-urlencoded".into(),
            ..GatewayConfig::new(&rx.url("/2010-04-01/Accounts/AC1/Messages.json"))
        };
        let target = sms();
        let notice = notice();
        let outcome = transport(config, Kind::Sms)
            .send(&outgoing(&target, &notice))
            .await;
        assert!(
            matches!(outcome, SendOutcome::Delivered { .. }),
            "{outcome:?}"
        );
        let [req] = rx.requests().try_into().unwrap();
        assert_eq!(
            req.text(),
            "To=%2B4915112345678&From=%2B15550000000&Body=%5BSEV-1%5D+Checkout+is+down+https%3A%2F%2Ftocsin.example.com%2Fa%2Fxyz"
        );
        let form: Vec<(String, String)> = url::form_urlencoded::parse(&req.body)
            .into_owned()
            .collect();
        assert_eq!(
            form[2].1,
            "[SEV-1] Checkout is down https://tocsin.example.com/a/xyz"
        );
    }

    #[tokio::test]
    async fn voice_calls_read_the_subject_and_body_and_get_requests_carry_no_body() {
        let rx = Receiver::start(ok()).await;
        let config = GatewayConfig {
            method: "get".into(),
            ..GatewayConfig::new(&rx.url("/call?to={{to}}&say={{message}}"))
        };
        let target = ContactTarget::Voice {
            number: PhoneNumber::parse("+15551234567").unwrap(),
        };
        let notice = notice();
        let outcome = transport(config, Kind::Voice)
            .send(&outgoing(&target, &notice))
            .await;
        assert!(
            matches!(outcome, SendOutcome::Delivered { .. }),
            "{outcome:?}"
        );
        let [req] = rx.requests().try_into().unwrap();
        assert_eq!(req.method, "GET");
        assert!(req.body.is_empty());
        assert_eq!(req.header("content-type"), None);
        let query: Vec<(String, String)> =
            url::form_urlencoded::parse(req.query.as_deref().unwrap().as_bytes())
                .into_owned()
                .collect();
        assert_eq!(
            query,
            [
                ("to".to_owned(), "+15551234567".to_owned()),
                (
                    "say".to_owned(),
                    "[SEV-1] Checkout is down\nPayments API returns 502 for 40% of requests.\nService: checkout"
                        .to_owned()
                ),
            ]
        );
    }

    #[tokio::test]
    async fn gateway_answers_are_classified() {
        let rx = Receiver::start(Reply {
            status: axum::http::StatusCode::TOO_MANY_REQUESTS,
            headers: vec![("retry-after", "30")],
            ..ok()
        })
        .await;
        let target = sms();
        let outcome = transport(GatewayConfig::new(&rx.url("/s")), Kind::Sms)
            .send(&outgoing(&target, &notice()))
            .await;
        assert_eq!(
            outcome,
            SendOutcome::Retry {
                error: "HTTP 429 Too Many Requests".into(),
                retry_after: Some(chrono::Duration::seconds(30)),
            }
        );
        let rx = Receiver::start(Reply {
            status: axum::http::StatusCode::UNPROCESSABLE_ENTITY,
            body: "invalid number",
            ..ok()
        })
        .await;
        let outcome = transport(GatewayConfig::new(&rx.url("/s")), Kind::Sms)
            .send(&outgoing(&target, &notice()))
            .await;
        assert_eq!(
            outcome,
            SendOutcome::Failed {
                error: "HTTP 422 Unprocessable Entity".into()
            }
        );
        let voice = ContactTarget::Voice {
            number: PhoneNumber::parse("+15551234567").unwrap(),
        };
        let outcome = transport(GatewayConfig::new(&rx.url("/s")), Kind::Sms)
            .send(&outgoing(&voice, &notice()))
            .await;
        assert!(matches!(outcome, SendOutcome::Failed { .. }), "{outcome:?}");
    }

    #[test]
    fn sms_text_keeps_the_link_whole_and_stays_within_320_characters() {
        let long = Notice {
            quick_link: None,
            subject: "x".repeat(400),
            ..notice()
        };
        let text = sms_text(&long);
        assert_eq!(text.chars().count(), SMS_MAX_CHARS);
        assert!(
            text.ends_with("… https://tocsin.example.com/a/xyz"),
            "{text}"
        );

        let huge_link = Notice {
            quick_link: None,
            links: vec![NoticeLink {
                label: "Acknowledge".into(),
                url: format!("https://tocsin.example.com/{}", "a".repeat(300)),
            }],
            ..notice()
        };
        assert_eq!(sms_text(&huge_link), "[SEV-1] Checkout is down");

        let too_long = Notice {
            quick_link: Some(format!(
                "https://tocsin.example.com/act/{}",
                "q".repeat(400)
            )),
            ..notice()
        };
        assert!(
            sms_text(&too_long).ends_with(" https://tocsin.example.com/a/xyz"),
            "a signed link too long for an SMS gives way to the first: {}",
            sms_text(&too_long)
        );
        let quick = Notice {
            quick_link: Some("https://tocsin.example.com/act/quick".into()),
            ..notice()
        };
        assert!(
            sms_text(&quick).ends_with(" https://tocsin.example.com/act/quick"),
            "an SMS carries the link that needs no account: {}",
            sms_text(&quick)
        );

        let no_links = Notice {
            quick_link: None,
            subject: "Line\none".into(),
            links: Vec::new(),
            ..notice()
        };
        assert_eq!(sms_text(&no_links), "Line one");
    }

    #[test]
    fn unknown_placeholders_are_named_and_json_types_escape_as_json() {
        assert_eq!(unknown_placeholders("{{to}} {{ number }} {{x"), ["number"]);
        assert_eq!(
            Escape::for_content_type("application/vnd.api+json; charset=utf-8"),
            Escape::Json
        );
        assert_eq!(Escape::for_content_type("text/plain"), Escape::Raw);
    }

    #[test]
    fn configuration_errors_name_their_keys() {
        let config = GatewayConfig {
            method: "GET".into(),
            headers: BTreeMap::from([
                ("Bad Name".into(), "x".into()),
                ("Content-Type".into(), "text/plain".into()),
                ("X-Text".into(), "{{msg}}".into()),
            ]),
            body: "{{message}}".into(),
            content_type: "json".into(),
            ..GatewayConfig::new("https://sms.example.com/send")
        };
        let mut errors = ValidationErrors::default();
        config.check("notify.voice", &mut errors);
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "notify.voice.headers.X-Text",
                "notify.voice.headers.Bad Name",
                "notify.voice.headers.Content-Type",
                "notify.voice.content_type",
                "notify.voice.body",
            ]
        );
        assert!(
            errors.0[0].message.contains("{{msg}}"),
            "{}",
            errors.0[0].message
        );
        assert!(!format!("{config:?}").contains("text/plain"));
    }
}
