//! Chat incoming webhooks: a JSON POST to the URL the user created in Slack, Teams or Mattermost.

use super::{Outgoing, SendOutcome, Transport, outbound, wrong_kind};
use async_trait::async_trait;
use serde_json::{Value, json};
use tocsin_domain::contact::{ContactTarget, Notice};

pub struct ChatTransport {
    http: outbound::GuardedClient,
    /// Whether Slack messages carry buttons: only when this server handles Slack's interactivity.
    pub(super) slack_buttons: bool,
}

impl ChatTransport {
    pub fn new(http: outbound::GuardedClient) -> Self {
        Self {
            http,
            slack_buttons: false,
        }
    }
}

#[async_trait]
impl Transport for ChatTransport {
    async fn send(&self, out: &Outgoing<'_>) -> SendOutcome {
        let (url, payload) = match out.target {
            ContactTarget::Slack { url } => (
                url,
                crate::slack::notice_message(out.notice, self.slack_buttons),
            ),
            ContactTarget::Mattermost { url } => (url, mattermost(out.notice)),
            ContactTarget::Teams { url } => (url, teams(out.notice)),
            other => return wrong_kind("chat", other),
        };
        let request = match self.http.post(url.as_str()) {
            Ok(request) => request,
            Err(refused) => return refused,
        };
        let request = request
            .header(outbound::DELIVERY_HEADER, out.delivery_id)
            .json(&payload);
        if !matches!(out.target, ContactTarget::Teams { .. }) {
            return outbound::send(request, out.now).await;
        }
        match outbound::accepted(request, out.now).await {
            Ok((status, body)) => teams_answer(status, body),
            Err(outcome) => outcome,
        }
    }
}

/// Teams' older connector webhooks answer 200 even when they dropped the message, with the real error in the body.
fn teams_answer(status: reqwest::StatusCode, body: String) -> SendOutcome {
    if !body.contains("delivery failed") {
        return SendOutcome::Delivered {
            detail: outbound::status_line(status, &body),
        };
    }
    let said = "Teams answered that it dropped the message";
    if body.contains("HTTP error 429") {
        SendOutcome::retry(format!("{said} (rate limited)"))
    } else if body.contains("HTTP error 5") {
        SendOutcome::retry(format!("{said} (its server failed)"))
    } else {
        SendOutcome::failed(said)
    }
}

/// Text a sender may have written, made inert for Markdown renderers (Mattermost, Teams): every character that
/// starts a link, an image, an HTML tag, code or emphasis is escaped, mentions (`@channel`, `@all`, `@here`,
/// `@someone`) are broken with an invisible word joiner, and so are URLs, so that only Tocsin's own links, written
/// after the text, can be followed.
fn markdown_inert(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '\\' | '[' | ']' | '(' | ')' | '!' | '<' | '>' | '`' | '*' | '_' | '~' | '#' | '|' => {
                out.push('\\');
                out.push(c);
            }
            '@' => out.push_str("@\u{2060}"),
            c => out.push(c),
        }
    }
    out.replace("://", ":\u{2060}//")
}

/// Mattermost renders Markdown; a link's label and URL are escaped so that neither can end the link early.
fn mattermost(notice: &Notice) -> Value {
    let links = notice
        .links
        .iter()
        .map(|l| {
            let label = l
                .label
                .replace('\\', "\\\\")
                .replace('[', "\\[")
                .replace(']', "\\]");
            let url = l
                .url
                .replace(' ', "%20")
                .replace('(', "%28")
                .replace(')', "%29");
            format!("[{label}]({url})")
        })
        .collect::<Vec<_>>()
        .join(" · ");
    let (subject, body) = (
        markdown_inert(&notice.subject),
        markdown_inert(&notice.body),
    );
    json!({"text": lines(&[subject, body, links])})
}

/// A legacy MessageCard: both Teams connector webhooks and Workflows webhooks accept it, where an Adaptive Card
/// works only with Workflows.
fn teams(notice: &Notice) -> Value {
    let actions: Vec<Value> = notice
        .links
        .iter()
        .map(|l| {
            json!({
                "@type": "OpenUri",
                "name": l.label,
                "targets": [{"os": "default", "uri": l.url}],
            })
        })
        .collect();
    // Teams joins single line breaks in card text; an empty line between lines keeps them apart.
    let text = notice
        .body
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(markdown_inert)
        .collect::<Vec<_>>()
        .join("\n\n");
    json!({
        "@type": "MessageCard",
        "@context": "https://schema.org/extensions",
        "summary": notice.subject,
        "title": markdown_inert(&notice.subject),
        "text": text,
        "potentialAction": actions,
    })
}

/// The non-empty parts, one per line.
pub(crate) fn lines(parts: &[String]) -> String {
    parts
        .iter()
        .map(|p| p.trim())
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use axum::http::StatusCode;
    use tocsin_domain::contact::NoticeLink;
    use tocsin_domain::net::AllowedNetworks;

    fn tricky_notice() -> Notice {
        Notice {
            quick_link: None,
            incident: None,
            subject: "[SEV-1] db <primary> & replica".into(),
            body: "Disk full on db-1.\nSince 10:02.".into(),
            links: vec![
                NoticeLink {
                    label: "Acknowledge".into(),
                    url: "https://tocsin.example.com/ack?t=a|b".into(),
                },
                NoticeLink {
                    label: "Open [web]".into(),
                    url: "https://tocsin.example.com/i/(1)".into(),
                },
            ],
            event: json!({}),
        }
    }

    async fn deliver(target: &ContactTarget, notice: &Notice) -> SendOutcome {
        let chat = ChatTransport::new(
            outbound::GuardedClient::new(outbound::TIMEOUT, AllowedNetworks::everywhere()).unwrap(),
        );
        chat.send(&outgoing(target, notice)).await
    }

    #[tokio::test]
    async fn slack_gets_mrkdwn_text_with_escaped_links() {
        let rx = Receiver::start(ok_with("ok")).await;
        let target = ContactTarget::Slack {
            url: http_url(&rx.url("/services/T0/B0/xyz")),
        };
        let outcome = deliver(&target, &tricky_notice()).await;
        assert_eq!(
            outcome,
            SendOutcome::Delivered {
                detail: "HTTP 200 OK: ok".into()
            }
        );
        let [req] = rx.requests().try_into().unwrap();
        assert_eq!(req.method, "POST");
        assert_eq!(req.path, "/services/T0/B0/xyz");
        assert_eq!(req.header("content-type"), Some("application/json"));
        assert_eq!(req.header("x-tocsin-delivery"), Some(DELIVERY_ID));
        assert_eq!(
            req.json(),
            json!({"text": "[SEV-1] db &lt;primary&gt; &amp; replica\nDisk full on db-1.\nSince 10:02.\n\
                <https://tocsin.example.com/ack?t=a%7Cb|Acknowledge> · <https://tocsin.example.com/i/(1)|Open [web]>"})
        );
    }

    #[tokio::test]
    async fn mattermost_gets_markdown_links() {
        let rx = Receiver::start(ok()).await;
        let target = ContactTarget::Mattermost {
            url: http_url(&rx.url("/hooks/abc")),
        };
        let outcome = deliver(&target, &tricky_notice()).await;
        assert!(
            matches!(outcome, SendOutcome::Delivered { .. }),
            "{outcome:?}"
        );
        let [req] = rx.requests().try_into().unwrap();
        assert_eq!(
            req.json(),
            json!({"text": "\\[SEV-1\\] db \\<primary\\> & replica\nDisk full on db-1.\nSince 10:02.\n\
                [Acknowledge](https://tocsin.example.com/ack?t=a|b) · [Open \\[web\\]](https://tocsin.example.com/i/%281%29)"})
        );
    }

    #[tokio::test]
    async fn teams_gets_a_message_card_with_one_action_per_link() {
        let rx = Receiver::start(ok_with("1")).await;
        let target = ContactTarget::Teams {
            url: http_url(&rx.url("/webhookb2/x")),
        };
        let outcome = deliver(&target, &tricky_notice()).await;
        assert_eq!(
            outcome,
            SendOutcome::Delivered {
                detail: "HTTP 200 OK: 1".into()
            }
        );
        let [req] = rx.requests().try_into().unwrap();
        assert_eq!(
            req.json(),
            json!({
                "@type": "MessageCard",
                "@context": "https://schema.org/extensions",
                "summary": "[SEV-1] db <primary> & replica",
                "title": "\\[SEV-1\\] db \\<primary\\> & replica",
                "text": "Disk full on db-1.\n\nSince 10:02.",
                "potentialAction": [
                    {"@type": "OpenUri", "name": "Acknowledge",
                     "targets": [{"os": "default", "uri": "https://tocsin.example.com/ack?t=a|b"}]},
                    {"@type": "OpenUri", "name": "Open [web]",
                     "targets": [{"os": "default", "uri": "https://tocsin.example.com/i/(1)"}]},
                ],
            })
        );
    }

    #[test]
    fn sender_text_cannot_mention_link_or_show_images_in_markdown_chats() {
        let mut hostile = tricky_notice();
        hostile.subject =
            "@channel [Acknowledge](https://evil.example/ack) ![x](https://evil.example/x.png)"
                .into();
        hostile.body = "Disk full @all <https://evil.example> see https://evil.example/y".into();
        for payload in [mattermost(&hostile), teams(&hostile)] {
            // Mattermost's last line is Tocsin's own links.
            let text = payload["text"].as_str().unwrap();
            let senders = match payload.get("title") {
                Some(_) => text,
                None => text.rsplit_once('\n').unwrap().0,
            };
            let shown = format!("{}\n{senders}", payload["title"].as_str().unwrap_or(""));
            for raw in [
                "@channel",
                "@all",
                "[Acknowledge](",
                "![x](",
                "<https://",
                "https://evil",
            ] {
                assert!(!shown.contains(raw), "{raw:?} in {shown}");
            }
            assert!(shown.contains("Disk full"), "{shown}");
        }
        let text = mattermost(&hostile)["text"].as_str().unwrap().to_owned();
        assert!(
            text.ends_with("[Acknowledge](https://tocsin.example.com/ack?t=a|b) · [Open \\[web\\]](https://tocsin.example.com/i/%281%29)"),
            "Tocsin's own links stay links: {text}"
        );
    }

    #[tokio::test]
    async fn teams_errors_hidden_in_a_200_are_read_from_the_body() {
        let throttled = "Webhook message delivery failed with error: Microsoft Teams endpoint returned HTTP error 429 with ContextId x";
        let rx = Receiver::start(ok_with(throttled)).await;
        let target = ContactTarget::Teams {
            url: http_url(&rx.url("/webhookb2/x")),
        };
        let outcome = deliver(&target, &notice()).await;
        assert!(matches!(outcome, SendOutcome::Retry { .. }), "{outcome:?}");
        assert!(matches!(
            teams_answer(
                StatusCode::OK,
                "Webhook message delivery failed with error: Bad payload".into()
            ),
            SendOutcome::Failed { .. }
        ));
    }

    #[tokio::test]
    async fn overloaded_receivers_are_retried_when_they_ask() {
        let rx = Receiver::start(Reply {
            status: StatusCode::SERVICE_UNAVAILABLE,
            headers: vec![("retry-after", "7")],
            body: "busy",
            delay: None,
        })
        .await;
        let target = ContactTarget::Slack {
            url: http_url(&rx.url("/s")),
        };
        let outcome = deliver(&target, &notice()).await;
        assert_eq!(
            outcome,
            SendOutcome::Retry {
                error: "HTTP 503 Service Unavailable: busy".into(),
                retry_after: Some(chrono::Duration::seconds(7)),
            }
        );
    }

    #[tokio::test]
    async fn rejected_payloads_fail() {
        let rx = Receiver::start(Reply {
            status: StatusCode::BAD_REQUEST,
            body: "invalid_payload",
            ..ok()
        })
        .await;
        let target = ContactTarget::Mattermost {
            url: http_url(&rx.url("/m")),
        };
        let outcome = deliver(&target, &notice()).await;
        assert_eq!(
            outcome,
            SendOutcome::Failed {
                error: "HTTP 400 Bad Request: invalid_payload".into()
            }
        );
        let rx = Receiver::start(Reply {
            status: StatusCode::FOUND,
            headers: vec![("location", "https://elsewhere.example.com/")],
            ..ok()
        })
        .await;
        let target = ContactTarget::Slack {
            url: http_url(&rx.url("/moved")),
        };
        let outcome = deliver(&target, &notice()).await;
        assert!(
            matches!(&outcome, SendOutcome::Failed { error } if error.contains("redirect")),
            "{outcome:?}"
        );
        assert_eq!(rx.requests().len(), 1);
    }

    #[tokio::test]
    async fn unreachable_and_slow_receivers_are_retried_without_leaking_the_url() {
        let target = ContactTarget::Slack {
            url: http_url(&format!("http://{}/services/SECRET", refused_addr())),
        };
        let outcome = deliver(&target, &notice()).await;
        match outcome {
            SendOutcome::Retry { error, retry_after } => {
                assert!(error.starts_with("could not connect"), "{error}");
                assert!(!error.contains("SECRET"), "{error}");
                assert_eq!(retry_after, None);
            }
            other => panic!("{other:?}"),
        }

        let rx = Receiver::start(Reply {
            delay: Some(std::time::Duration::from_secs(5)),
            ..ok()
        })
        .await;
        let chat = ChatTransport::new(
            outbound::GuardedClient::new(
                std::time::Duration::from_millis(200),
                AllowedNetworks::everywhere(),
            )
            .unwrap(),
        );
        let target = ContactTarget::Slack {
            url: http_url(&rx.url("/services/SECRET")),
        };
        let outcome = chat.send(&outgoing(&target, &notice())).await;
        match outcome {
            SendOutcome::Retry { error, .. } => {
                assert!(error.starts_with("timed out"), "{error}");
                assert!(!error.contains("SECRET"), "{error}");
            }
            other => panic!("{other:?}"),
        }
    }
}
