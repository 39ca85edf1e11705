//! Signed webhooks: the notice's event as a JSON POST with the Standard Webhooks headers.

use super::{Outgoing, SendOutcome, Transport, outbound, wrong_kind};
use async_trait::async_trait;
use reqwest::header::CONTENT_TYPE;
use tocsin_domain::contact::ContactTarget;
use tocsin_domain::webhook::sign;

pub struct WebhookTransport {
    http: outbound::GuardedClient,
}

impl WebhookTransport {
    pub fn new(http: outbound::GuardedClient) -> Self {
        Self { http }
    }
}

#[async_trait]
impl Transport for WebhookTransport {
    async fn send(&self, out: &Outgoing<'_>) -> SendOutcome {
        let ContactTarget::Webhook { url, secret } = out.target else {
            return wrong_kind("webhook", out.target);
        };
        // Unsigned deliveries would teach receivers to accept anything; every Tocsin webhook has a secret from
        // creation, so a missing one means the target was stored wrongly.
        let Some(secret) = secret else {
            return SendOutcome::failed("no signing secret: recreate the webhook contact method");
        };
        let body = match serde_json::to_vec(&out.notice.event) {
            Ok(body) => body,
            Err(e) => return SendOutcome::failed(format!("event is not JSON: {e}")),
        };
        // Signed afresh on each attempt: the timestamp is the attempt's, so a receiver's replay window holds
        // for retries too.
        let timestamp = out.now.timestamp();
        let signature = match sign(secret, out.delivery_id, timestamp, &body) {
            Ok(s) => s,
            Err(e) => return SendOutcome::failed(format!("cannot sign: {e}")),
        };
        let request = match self.http.post(url.as_str()) {
            Ok(request) => request,
            Err(refused) => return refused,
        };
        let request = request
            .header(CONTENT_TYPE, "application/json")
            .header("webhook-id", out.delivery_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body);
        outbound::send(request, out.now).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use axum::http::StatusCode;
    use tocsin_domain::net::AllowedNetworks;
    use tocsin_domain::webhook::{DEFAULT_TOLERANCE_SECS, generate_secret, verify};

    fn transport() -> WebhookTransport {
        WebhookTransport::new(
            outbound::GuardedClient::new(outbound::TIMEOUT, AllowedNetworks::everywhere()).unwrap(),
        )
    }

    #[tokio::test]
    async fn posts_the_event_signed_so_standard_webhooks_verification_passes() {
        let rx = Receiver::start(Reply {
            status: StatusCode::NO_CONTENT,
            ..ok()
        })
        .await;
        let secret = generate_secret();
        let target = ContactTarget::Webhook {
            url: http_url(&rx.url("/hooks/tocsin?team=sre")),
            secret: Some(secret.clone()),
        };
        let notice = notice();
        let outcome = transport().send(&outgoing(&target, &notice)).await;
        assert_eq!(
            outcome,
            SendOutcome::Delivered {
                detail: "HTTP 204 No Content".into()
            }
        );

        let [req] = rx.requests().try_into().unwrap();
        assert_eq!(
            (req.method.as_str(), req.path.as_str(), req.query.as_deref()),
            ("POST", "/hooks/tocsin", Some("team=sre"))
        );
        assert_eq!(req.header("content-type"), Some("application/json"));
        assert_eq!(req.header("webhook-id"), Some(DELIVERY_ID));
        let timestamp = now().timestamp().to_string();
        assert_eq!(req.header("webhook-timestamp"), Some(timestamp.as_str()));
        assert_eq!(req.json(), notice.event);
        let signature = req.header("webhook-signature").unwrap();
        assert!(signature.starts_with("v1,"), "{signature}");
        verify(
            &secret,
            req.header("webhook-id").unwrap(),
            req.header("webhook-timestamp").unwrap(),
            signature,
            &req.body,
            now().timestamp() + 10,
            DEFAULT_TOLERANCE_SECS,
        )
        .unwrap();
        assert!(
            verify(
                &generate_secret(),
                DELIVERY_ID,
                &timestamp,
                signature,
                &req.body,
                now().timestamp(),
                DEFAULT_TOLERANCE_SECS,
            )
            .is_err()
        );
    }

    #[tokio::test]
    async fn a_webhook_without_a_secret_is_not_sent() {
        let rx = Receiver::start(ok()).await;
        let target = ContactTarget::Webhook {
            url: http_url(&rx.url("/h")),
            secret: None,
        };
        let outcome = transport().send(&outgoing(&target, &notice())).await;
        assert!(
            matches!(&outcome, SendOutcome::Failed { error } if error.starts_with("no signing secret")),
            "{outcome:?}"
        );
        let target = ContactTarget::Webhook {
            url: http_url(&rx.url("/h")),
            secret: Some("whsec_c2hvcnQ=".into()),
        };
        let outcome = transport().send(&outgoing(&target, &notice())).await;
        assert!(
            matches!(&outcome, SendOutcome::Failed { error } if error.starts_with("cannot sign")),
            "{outcome:?}"
        );
        assert!(rx.requests().is_empty());
    }

    #[tokio::test]
    async fn receiver_errors_are_classified() {
        let target = |rx: &Receiver| ContactTarget::Webhook {
            url: http_url(&rx.url("/h")),
            secret: Some(generate_secret()),
        };
        let cases = [
            (StatusCode::TOO_MANY_REQUESTS, true),
            (StatusCode::REQUEST_TIMEOUT, true),
            (StatusCode::BAD_GATEWAY, true),
            (StatusCode::GONE, false),
            (StatusCode::UNAUTHORIZED, false),
        ];
        for (status, retried) in cases {
            let rx = Receiver::start(Reply { status, ..ok() }).await;
            let outcome = transport().send(&outgoing(&target(&rx), &notice())).await;
            assert_eq!(
                matches!(outcome, SendOutcome::Retry { .. }),
                retried,
                "{status}: {outcome:?}"
            );
            assert_eq!(
                matches!(outcome, SendOutcome::Failed { .. }),
                !retried,
                "{status}: {outcome:?}"
            );
        }
        let refused = ContactTarget::Webhook {
            url: http_url(&format!("http://{}/h", refused_addr())),
            secret: Some(generate_secret()),
        };
        let outcome = transport().send(&outgoing(&refused, &notice())).await;
        assert!(matches!(outcome, SendOutcome::Retry { .. }), "{outcome:?}");
    }
}
