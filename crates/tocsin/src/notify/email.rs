//! Email through an SMTP relay: a plain-text and an HTML part, the notice's links as buttons.

use super::outbound::TIMEOUT;
use super::{Outgoing, SendOutcome, Transport, wrong_kind};
use anyhow::Context;
use async_trait::async_trait;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::fmt::Write as _;
use tocsin_domain::ValidationErrors;
use tocsin_domain::contact::{ContactTarget, Notice};

/// The SMTP relay that sends notification email.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    /// 25, or 465 with `tls = "tls"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: SmtpTls,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
    /// The sender, e.g. `Tocsin <tocsin@example.com>`.
    pub from: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpTls {
    /// Plain text; for a relay on the same host or network only.
    None,
    /// Upgrade with STARTTLS, and refuse to send if the relay does not offer it: falling back to plain text would
    /// let anyone on the path strip the upgrade and read the password.
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

impl SmtpConfig {
    pub fn new(host: &str, from: &str) -> Self {
        Self {
            host: host.into(),
            port: None,
            tls: SmtpTls::default(),
            username: None,
            password: None,
            from: from.into(),
        }
    }

    pub fn port(&self) -> u16 {
        self.port.unwrap_or(match self.tls {
            SmtpTls::Tls => 465,
            SmtpTls::None | SmtpTls::Starttls => 25,
        })
    }

    pub(super) fn check(&self, key: &str, errors: &mut ValidationErrors) {
        let host = self.host.trim();
        if host.is_empty() || host.contains(char::is_whitespace) {
            errors.push(format!("{key}.host"), "must be a host name or address");
        }
        if self.port == Some(0) {
            errors.push(
                format!("{key}.port"),
                "must be a port number from 1 to 65535",
            );
        }
        if self.from.parse::<Mailbox>().is_err() {
            errors.push(
                format!("{key}.from"),
                "is not an address like tocsin@example.com or \"Tocsin <tocsin@example.com>\"",
            );
        }
        match (&self.username, &self.password) {
            (Some(_), None) => errors.push(
                format!("{key}.password"),
                format!("must be set together with {key}.username"),
            ),
            (None, Some(_)) => errors.push(
                format!("{key}.username"),
                format!("must be set together with {key}.password"),
            ),
            (Some(_), Some(_)) if self.tls == SmtpTls::None && !is_loopback(host) => errors.push(
                format!("{key}.tls"),
                "must be starttls or tls when a password is set, so that it is not sent in the clear",
            ),
            _ => {}
        }
    }
}

fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The password is left out.
impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "…"))
            .field("from", &self.from)
            .finish()
    }
}

pub struct EmailTransport {
    mailer: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    relay: String,
}

impl EmailTransport {
    pub fn new(config: &SmtpConfig) -> anyhow::Result<Self> {
        let from: Mailbox = config.from.parse().context("notify.smtp.from")?;
        let host = config.host.trim();
        let tls_parameters =
            || TlsParameters::new(host.to_owned()).context("setting up TLS for notify.smtp");
        let tls = match config.tls {
            SmtpTls::None => Tls::None,
            SmtpTls::Starttls => Tls::Required(tls_parameters()?),
            SmtpTls::Tls => Tls::Wrapper(tls_parameters()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
            .port(config.port())
            .tls(tls)
            .timeout(Some(TIMEOUT));
        if let (Some(username), Some(password)) = (&config.username, &config.password) {
            builder = builder.credentials(Credentials::new(username.clone(), password.clone()));
        }
        Ok(Self {
            mailer: builder.build(),
            from,
            relay: format!("{host}:{}", config.port()),
        })
    }
}

#[async_trait]
impl Transport for EmailTransport {
    async fn send(&self, out: &Outgoing<'_>) -> SendOutcome {
        let ContactTarget::Email { address } = out.target else {
            return wrong_kind("email", out.target);
        };
        let to: Mailbox = match address.as_str().parse() {
            Ok(to) => to,
            Err(e) => return SendOutcome::failed(format!("cannot send to {address}: {e}")),
        };
        let message = match message(self.from.clone(), to, out) {
            Ok(m) => m,
            Err(e) => return SendOutcome::failed(format!("cannot build the message: {e}")),
        };
        match self.mailer.send(message).await {
            Ok(response) => SendOutcome::Delivered {
                detail: format!(
                    "accepted by {}: {} {}",
                    self.relay,
                    response.code(),
                    response.message().collect::<Vec<_>>().join(" ")
                ),
            },
            Err(e) => classify(&self.relay, &e),
        }
    }
}

/// 5xx replies are final (no such mailbox, relaying denied), as is a relay that cannot do what the configuration
/// demands (STARTTLS); 4xx replies and broken connections are worth another try.
fn classify(relay: &str, e: &lettre::transport::smtp::Error) -> SendOutcome {
    let mut error = format!("SMTP {relay}: {e}");
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        let _ = write!(error, ": {cause}");
        source = cause.source();
    }
    if e.is_permanent() || e.is_client() {
        SendOutcome::failed(error)
    } else {
        SendOutcome::retry(error)
    }
}

fn message(
    from: Mailbox,
    to: Mailbox,
    out: &Outgoing<'_>,
) -> Result<Message, lettre::error::Error> {
    let notice = out.notice;
    Message::builder()
        .from(from)
        .to(to)
        .subject(
            notice
                .subject
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" "),
        )
        // The same on every attempt, so a mail client shows a notice that was retried after a lost reply once.
        .message_id(Some(format!("<{}@tocsin>", out.delivery_id)))
        .date(out.now.into())
        // Keeps vacation responders from answering every page (RFC 3834).
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".into(),
        ))
        .multipart(MultiPart::alternative_plain_html(
            plain_text(notice),
            html(notice),
        ))
}

fn plain_text(notice: &Notice) -> String {
    let mut text = notice.body.trim().to_owned();
    if !notice.links.is_empty() {
        text.push_str("\n\n");
        for link in &notice.links {
            let _ = writeln!(text, "{}: {}", link.label, link.url);
        }
    }
    text
}

/// Inline styles only: mail clients drop style sheets.
fn html(notice: &Notice) -> String {
    let mut html = String::from(
        "<!DOCTYPE html>\n<html>\n<body style=\"font-family: sans-serif; line-height: 1.4\">\n<p>\n",
    );
    let lines: Vec<String> = notice.body.trim().lines().map(escape_html).collect();
    html.push_str(&lines.join("<br>\n"));
    html.push_str("\n</p>\n");
    if !notice.links.is_empty() {
        html.push_str("<p>\n");
        for link in &notice.links {
            let _ = writeln!(
                html,
                "<a href=\"{}\" style=\"display: inline-block; margin: 4px 8px 4px 0; padding: 8px 16px; \
                 background: #1f2937; color: #ffffff; text-decoration: none; border-radius: 4px\">{}</a>",
                escape_html(&link.url),
                escape_html(&link.label)
            );
        }
        html.push_str("</p>\n");
    }
    html.push_str("</body>\n</html>\n");
    html
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;
    use std::net::SocketAddr;
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};
    use tocsin_domain::catalog::Email;
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    fn target() -> ContactTarget {
        ContactTarget::Email {
            address: Email::parse("oncall@example.com").unwrap(),
        }
    }

    fn plain_relay(addr: SocketAddr) -> EmailTransport {
        EmailTransport::new(&SmtpConfig {
            port: Some(addr.port()),
            tls: SmtpTls::None,
            ..SmtpConfig::new(&addr.ip().to_string(), "Tocsin <tocsin@example.com>")
        })
        .unwrap()
    }

    /// aiosmtpd, a real SMTP server, writing what it receives to a maildir; killed on drop.
    struct Aiosmtpd {
        child: Child,
        addr: SocketAddr,
        dir: tempfile::TempDir,
    }

    impl Aiosmtpd {
        async fn start() -> Option<Self> {
            // Debian's python3-aiosmtpd installs for the system interpreter, which may not be the first python3.
            let python = ["python3", "/usr/bin/python3"].into_iter().find(|p| {
                Command::new(p)
                    .args(["-c", "import aiosmtpd"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success())
            });
            let Some(python) = python else {
                let required = std::env::var("TOCSIN_REQUIRE_PEERS").is_ok_and(|v| v == "1");
                assert!(
                    !required,
                    "aiosmtpd is missing and TOCSIN_REQUIRE_PEERS=1; run scripts/install-test-deps.sh"
                );
                eprintln!("skipped: aiosmtpd is missing (run scripts/install-test-deps.sh)");
                return None;
            };
            let mut dir = tempfile::tempdir().unwrap();
            // A port just freed may be taken again before aiosmtpd binds it, by a test running alongside: a server
            // that exits at start is started again on another port, and one is only trusted once it stays up while
            // answering.
            for _ in 0..5 {
                let addr = std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap();
                let child = Command::new(python)
                    .args(["-m", "aiosmtpd", "-n", "-l", &addr.to_string()])
                    .args(["-c", "aiosmtpd.handlers.Mailbox"])
                    .arg(dir.path().join("mail"))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn()
                    .unwrap();
                let mut peer = Self { child, addr, dir };
                let deadline = Instant::now() + Duration::from_secs(20);
                loop {
                    if peer.child.try_wait().unwrap().is_some() {
                        break;
                    }
                    if tokio::net::TcpStream::connect(addr).await.is_ok() {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                        if peer.child.try_wait().unwrap().is_none() {
                            return Some(peer);
                        }
                        break;
                    }
                    assert!(
                        Instant::now() < deadline,
                        "aiosmtpd did not start listening"
                    );
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                dir = std::mem::replace(&mut peer.dir, tempfile::tempdir().unwrap());
            }
            panic!("aiosmtpd exited at start five times");
        }

        fn messages(&self) -> Vec<String> {
            let new: PathBuf = self.dir.path().join("mail").join("new");
            read_dir(&new)
        }
    }

    fn read_dir(dir: &Path) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        entries
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect()
    }

    impl Drop for Aiosmtpd {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    /// An SMTP server that answers every recipient with `rcpt_reply` and offers no extensions.
    async fn scripted_relay(rcpt_reply: &'static str) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let (read, mut write) = stream.into_split();
                    let mut lines = BufReader::new(read).lines();
                    write.write_all(b"220 relay ESMTP\r\n").await?;
                    while let Some(line) = lines.next_line().await? {
                        let verb = line.get(..4).unwrap_or_default().to_ascii_uppercase();
                        let reply = match verb.as_str() {
                            "EHLO" | "HELO" => "250 relay",
                            "MAIL" | "RSET" | "NOOP" => "250 OK",
                            "RCPT" => rcpt_reply,
                            "QUIT" => "221 Bye",
                            _ => "502 Not implemented",
                        };
                        write.write_all(format!("{reply}\r\n").as_bytes()).await?;
                        if verb == "QUIT" {
                            break;
                        }
                    }
                    std::io::Result::Ok(())
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn email_reaches_a_real_smtp_server() {
        let Some(peer) = Aiosmtpd::start().await else {
            return;
        };
        let notice = notice();
        let target = target();
        let outcome = plain_relay(peer.addr)
            .send(&outgoing(&target, &notice))
            .await;
        assert!(
            matches!(&outcome, SendOutcome::Delivered { detail } if detail.contains(" 250 ")),
            "{outcome:?}"
        );
        let [mail] = peer.messages().try_into().unwrap();
        // Undo quoted-printable line folding, so the assertions hold whichever encoding lettre chose.
        let mail = mail
            .replace("=\r\n", "")
            .replace("=\n", "")
            .replace("=3D", "=");
        assert!(mail.contains("Subject: [SEV-1] Checkout is down"), "{mail}");
        assert!(
            mail.contains(&format!("Message-ID: <{DELIVERY_ID}@tocsin>")),
            "{mail}"
        );
        assert!(mail.contains("From: Tocsin <tocsin@example.com>"), "{mail}");
        assert!(mail.contains("To: oncall@example.com"), "{mail}");
        assert!(mail.contains("Auto-Submitted: auto-generated"), "{mail}");
        assert!(mail.contains("multipart/alternative"), "{mail}");
        assert!(
            mail.contains("Acknowledge: https://tocsin.example.com/a/xyz"),
            "{mail}"
        );
        assert!(
            mail.contains("<a href=\"https://tocsin.example.com/a/xyz\""),
            "{mail}"
        );
    }

    #[tokio::test]
    async fn smtp_rejections_are_classified() {
        let target = target();
        let notice = notice();
        let busy = plain_relay(scripted_relay("451 4.7.1 Try again later").await);
        let outcome = busy.send(&outgoing(&target, &notice)).await;
        assert!(
            matches!(&outcome, SendOutcome::Retry { error, retry_after: None } if error.contains("451")),
            "{outcome:?}"
        );
        let unknown = plain_relay(scripted_relay("550 5.1.1 No such user").await);
        let outcome = unknown.send(&outgoing(&target, &notice)).await;
        assert!(
            matches!(&outcome, SendOutcome::Failed { error } if error.contains("550")),
            "{outcome:?}"
        );
        let outcome = plain_relay(refused_addr())
            .send(&outgoing(&target, &notice))
            .await;
        assert!(matches!(outcome, SendOutcome::Retry { .. }), "{outcome:?}");
    }

    #[tokio::test]
    async fn a_relay_without_starttls_is_refused_rather_than_sent_in_the_clear() {
        let addr = scripted_relay("250 OK").await;
        let relay = EmailTransport::new(&SmtpConfig {
            port: Some(addr.port()),
            ..SmtpConfig::new("127.0.0.1", "tocsin@example.com")
        })
        .unwrap();
        let outcome = relay.send(&outgoing(&target(), &notice())).await;
        assert!(
            matches!(&outcome, SendOutcome::Failed { error } if error.contains("STARTTLS")),
            "{outcome:?}"
        );
    }

    #[test]
    fn the_html_part_escapes_the_notice() {
        let notice = Notice {
            quick_link: None,
            incident: None,
            body: "a <b> & \"c\"\nsecond".into(),
            links: vec![tocsin_domain::contact::NoticeLink {
                label: "<Ack>".into(),
                url: "https://x.example.com/?a=1&b=\"2\"".into(),
            }],
            ..notice()
        };
        let html = html(&notice);
        assert!(
            html.contains("a &lt;b&gt; &amp; &quot;c&quot;<br>\nsecond"),
            "{html}"
        );
        assert!(
            html.contains("href=\"https://x.example.com/?a=1&amp;b=&quot;2&quot;\""),
            "{html}"
        );
        assert!(html.contains(">&lt;Ack&gt;</a>"), "{html}");
        assert_eq!(
            plain_text(&notice),
            "a <b> & \"c\"\nsecond\n\n<Ack>: https://x.example.com/?a=1&b=\"2\"\n"
        );
    }

    #[test]
    fn passwords_are_kept_out_of_debug_output_and_off_plain_connections() {
        let config = SmtpConfig {
            username: Some("tocsin".into()),
            password: Some("hunter2".into()),
            tls: SmtpTls::None,
            ..SmtpConfig::new("mail.example.com", "tocsin@example.com")
        };
        assert!(!format!("{config:?}").contains("hunter2"));
        let mut errors = ValidationErrors::default();
        config.check("notify.smtp", &mut errors);
        assert_eq!(errors.0[0].field, "notify.smtp.tls");
        let mut errors = ValidationErrors::default();
        SmtpConfig {
            host: "127.0.0.1".into(),
            ..config
        }
        .check("notify.smtp", &mut errors);
        assert!(errors.is_empty(), "{errors}");
    }
}
