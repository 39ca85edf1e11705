//! Sending a [`Notice`] to a [`ContactTarget`]: email over SMTP, chat incoming webhooks (Slack, Teams, Mattermost),
//! signed webhooks, and SMS and voice through an HTTP gateway the operator configures.
//!
//! A transport makes one attempt and says how it went; it never waits and never retries. Whether and when to try
//! again is the caller's decision, taken from the [`SendOutcome`] and recorded with the delivery, so that a retry
//! survives a restart instead of living in a sleeping task. Every attempt of one delivery carries the same
//! `delivery_id`, which receivers that deduplicate (webhook consumers, mail clients threading on `Message-ID`) use
//! to show a retried notice once.

mod chat;
mod email;
mod gateway;
pub(crate) mod outbound;
#[cfg(test)]
mod testing;
mod webhook;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tocsin_domain::ValidationErrors;
use tocsin_domain::contact::{Channels, ContactTarget, Notice};
use tocsin_domain::net::AllowedNetworks;

pub(crate) use chat::lines;
pub use email::{SmtpConfig, SmtpTls};
pub use gateway::GatewayConfig;

/// How one attempt went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// The receiving system accepted the notice; `detail` is what it answered, for the delivery record.
    Delivered { detail: String },
    /// Worth trying again: the receiver was unreachable, overloaded or asked for a pause. `retry_after` is the
    /// pause it asked for, if any.
    Retry {
        error: String,
        retry_after: Option<chrono::Duration>,
    },
    /// Trying again will not help until someone changes the target or the configuration.
    Failed { error: String },
    /// Not sent: the destination is an address this server may not reach (`notify.allowed_networks`). A failure
    /// too, counted apart because it may be someone probing the network through a contact method.
    Refused { error: String },
}

impl SendOutcome {
    fn failed(error: impl Into<String>) -> Self {
        Self::Failed {
            error: error.into(),
        }
    }

    fn retry(error: impl Into<String>) -> Self {
        Self::Retry {
            error: error.into(),
            retry_after: None,
        }
    }
}

/// One attempt to deliver a notice.
#[derive(Debug, Clone, Copy)]
pub struct Outgoing<'a> {
    /// The same on every attempt of one delivery: the `webhook-id` header, the email's `Message-ID`
    /// (`<delivery_id@tocsin>`) and the `X-Tocsin-Delivery` header of other HTTP requests.
    pub delivery_id: &'a str,
    pub target: &'a ContactTarget,
    pub notice: &'a Notice,
    /// The time of this attempt; webhook signatures are timestamped with it.
    pub now: DateTime<Utc>,
}

#[async_trait]
pub trait Transport: Send + Sync {
    async fn send(&self, out: &Outgoing<'_>) -> SendOutcome;
}

/// How Tocsin reaches the kinds of contact target that need more than the target itself: an SMTP relay for email
/// and HTTP gateways for SMS and voice. Chat and webhook targets carry their own URLs and need nothing here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp: Option<SmtpConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<GatewayConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voice: Option<GatewayConfig>,
    /// Private networks (CIDR) webhook and chat URLs may lead to, for receivers on premises. Everything else
    /// private, loopback or link-local is refused.
    #[serde(default)]
    pub allowed_networks: AllowedNetworks,
}

impl NotifyConfig {
    /// The kinds of contact method this configuration can send.
    pub fn channels(&self) -> Channels {
        Channels {
            email: self.smtp.is_some(),
            sms: self.sms.is_some(),
            voice: self.voice.is_some(),
        }
    }

    /// Every problem at once, each naming its key (`notify.smtp.from`), so a config file is fixed in one pass.
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        if let Some(smtp) = &self.smtp {
            smtp.check("notify.smtp", &mut errors);
        }
        if let Some(sms) = &self.sms {
            sms.check("notify.sms", &mut errors);
        }
        if let Some(voice) = &self.voice {
            voice.check("notify.voice", &mut errors);
        }
        errors.into_result(())
    }
}

/// Every transport, chosen by the kind of target.
pub struct Transports {
    email: Option<email::EmailTransport>,
    chat: chat::ChatTransport,
    webhook: webhook::WebhookTransport,
    sms: Option<gateway::GatewayTransport>,
    voice: Option<gateway::GatewayTransport>,
}

impl Transports {
    pub fn new(config: &NotifyConfig) -> anyhow::Result<Self> {
        config.validate()?;
        let http = outbound::client(outbound::TIMEOUT)?;
        // Users choose webhook and chat URLs; administrators choose gateways and the mail relay.
        let users_urls =
            outbound::GuardedClient::new(outbound::TIMEOUT, config.allowed_networks.clone())?;
        let gateway = |c: &Option<GatewayConfig>, kind| {
            c.as_ref()
                .map(|c| gateway::GatewayTransport::new(http.clone(), c.clone(), kind))
        };
        Ok(Self {
            email: config
                .smtp
                .as_ref()
                .map(email::EmailTransport::new)
                .transpose()?,
            chat: chat::ChatTransport::new(users_urls.clone()),
            webhook: webhook::WebhookTransport::new(users_urls),
            sms: gateway(&config.sms, gateway::Kind::Sms),
            voice: gateway(&config.voice, gateway::Kind::Voice),
        })
    }
}

#[async_trait]
impl Transport for Transports {
    async fn send(&self, out: &Outgoing<'_>) -> SendOutcome {
        fn unconfigured(what: &str, key: &str) -> SendOutcome {
            SendOutcome::failed(format!(
                "{what} is not configured on this server: set {key} in the configuration"
            ))
        }
        match out.target {
            ContactTarget::Email { .. } => match &self.email {
                Some(t) => t.send(out).await,
                None => unconfigured("Email", "notify.smtp"),
            },
            ContactTarget::Slack { .. }
            | ContactTarget::Teams { .. }
            | ContactTarget::Mattermost { .. } => self.chat.send(out).await,
            ContactTarget::Webhook { .. } => self.webhook.send(out).await,
            ContactTarget::Sms { .. } => match &self.sms {
                Some(t) => t.send(out).await,
                None => unconfigured("SMS", "notify.sms"),
            },
            ContactTarget::Voice { .. } => match &self.voice {
                Some(t) => t.send(out).await,
                None => unconfigured("Voice calling", "notify.voice"),
            },
        }
    }
}

impl Transports {
    /// Pages and updates to Slack carry Acknowledge / Resolve / Escalate buttons; only for a server that handles
    /// Slack's interactivity (`[slack]`), since elsewhere a click only shows an error.
    pub fn with_slack_buttons(mut self, on: bool) -> Self {
        self.chat.slack_buttons = on;
        self
    }
}

/// The outcome a transport gives a target of a kind it does not carry; only a wiring mistake leads here.
fn wrong_kind(transport: &str, target: &ContactTarget) -> SendOutcome {
    SendOutcome::failed(format!(
        "the {transport} transport cannot send to a {} target",
        target.kind()
    ))
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use tocsin_domain::catalog::Email;
    use tocsin_domain::contact::PhoneNumber;

    #[tokio::test]
    async fn kinds_without_configuration_fail_naming_the_key() {
        let transports = Transports::new(&NotifyConfig::default()).unwrap();
        let notice = notice();
        let targets = [
            (
                ContactTarget::Email {
                    address: Email::parse("a@example.com").unwrap(),
                },
                "notify.smtp",
            ),
            (
                ContactTarget::Sms {
                    number: PhoneNumber::parse("+15551234567").unwrap(),
                },
                "notify.sms",
            ),
            (
                ContactTarget::Voice {
                    number: PhoneNumber::parse("+15551234567").unwrap(),
                },
                "notify.voice",
            ),
        ];
        for (target, key) in targets {
            let outcome = transports.send(&outgoing(&target, &notice)).await;
            match outcome {
                SendOutcome::Failed { error } => assert!(error.contains(key), "{error}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn dispatches_each_kind_to_its_transport() {
        let rx = Receiver::start(ok()).await;
        let mut config = NotifyConfig {
            sms: Some(GatewayConfig {
                body: r#"{"to": "{{to}}"}"#.into(),
                ..GatewayConfig::new(&rx.url("/sms"))
            }),
            ..NotifyConfig::default()
        };
        // Users' URLs may not lead to loopback by default; gateways are the administrator's and may.
        let refused = Transports::new(&config).unwrap();
        let hook = ContactTarget::Webhook {
            url: http_url(&rx.url("/hook")),
            secret: Some(tocsin_domain::webhook::generate_secret()),
        };
        let outcome = refused.send(&outgoing(&hook, &notice())).await;
        assert!(
            matches!(&outcome, SendOutcome::Refused { error } if error.contains("allowed_networks")),
            "{outcome:?}"
        );
        config.allowed_networks = AllowedNetworks::everywhere();
        let transports = Transports::new(&config).unwrap();
        let notice = notice();
        let targets = [
            ContactTarget::Slack {
                url: http_url(&rx.url("/slack")),
            },
            ContactTarget::Webhook {
                url: http_url(&rx.url("/hook")),
                secret: Some(tocsin_domain::webhook::generate_secret()),
            },
            ContactTarget::Sms {
                number: PhoneNumber::parse("+15551234567").unwrap(),
            },
        ];
        for target in &targets {
            let outcome = transports.send(&outgoing(target, &notice)).await;
            assert!(
                matches!(outcome, SendOutcome::Delivered { .. }),
                "{outcome:?}"
            );
        }
        let paths: Vec<String> = rx.requests().into_iter().map(|r| r.path).collect();
        assert_eq!(paths, ["/slack", "/hook", "/sms"]);
    }

    #[test]
    fn configuration_parses_from_toml_and_errors_name_keys() {
        use figment::Figment;
        use figment::providers::{Format, Toml};
        let parse = |toml: &str| {
            Figment::from(Toml::string(toml))
                .extract::<NotifyConfig>()
                .map_err(|e| e.to_string())
        };
        let config = parse(
            r#"
            [smtp]
            host = "mail.example.com"
            from = "Tocsin <tocsin@example.com>"

            [sms]
            url = "https://sms.example.com/send"
            headers = { Authorization = "Bearer x" }
            body = '{"to": "{{to}}", "text": "{{message}}"}'
            "#,
        )
        .unwrap();
        config.validate().unwrap();
        let smtp = config.smtp.unwrap();
        assert_eq!((smtp.port(), smtp.tls), (25, SmtpTls::Starttls));
        let sms = config.sms.unwrap();
        assert_eq!(
            (sms.method.as_str(), sms.content_type.as_str()),
            ("POST", "application/json")
        );
        let unknown = parse("[smpt]\nhost = \"x\"").unwrap_err();
        assert!(unknown.contains("smpt"), "{unknown}");

        let bad = NotifyConfig {
            smtp: Some(SmtpConfig {
                username: Some("u".into()),
                ..SmtpConfig::new("", "not an address")
            }),
            sms: Some(GatewayConfig {
                method: "FETCH ME".into(),
                body: r#"{"to": {{to}}}"#.into(),
                ..GatewayConfig::new("ftp://sms.example.com/{{number}}")
            }),
            voice: None,
            allowed_networks: AllowedNetworks::default(),
        };
        let errors = bad.validate().unwrap_err();
        let fields = errors.fields();
        assert_eq!(
            fields,
            [
                "notify.smtp.host",
                "notify.smtp.from",
                "notify.smtp.password",
                "notify.sms.url",
                "notify.sms.url",
                "notify.sms.method",
                "notify.sms.body",
            ]
        );
    }
}
