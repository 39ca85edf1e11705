//! The HTTP side of the client: finding the server and token, sending requests, and turning the API's error bodies
//! into messages.

use super::Connection;
use anyhow::{Context, anyhow, bail};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::Value;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// A query string as name/value pairs; absent filters are simply left out.
pub type Query = Vec<(&'static str, String)>;

pub struct Client {
    http: reqwest::Client,
    base: Url,
    token: String,
}

impl Client {
    pub fn connect(conn: &Connection) -> anyhow::Result<Self> {
        let (server, token) = settings(conn)?;
        let base = parse_server(&server)?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(60))
            .user_agent(concat!("tocsin-cli/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { http, base, token })
    }

    pub async fn get(&self, path: &[&str]) -> anyhow::Result<Value> {
        self.call(Method::GET, path, &[], None).await
    }

    pub async fn get_with(&self, path: &[&str], query: &Query) -> anyhow::Result<Value> {
        self.call(Method::GET, path, query, None).await
    }

    pub async fn post(&self, path: &[&str], body: &Value) -> anyhow::Result<Value> {
        self.post_with(path, &Query::new(), body).await
    }

    pub async fn post_with(
        &self,
        path: &[&str],
        query: &Query,
        body: &Value,
    ) -> anyhow::Result<Value> {
        self.call(Method::POST, path, query, Some(body)).await
    }

    /// An action that takes no body, such as acknowledging.
    pub async fn post_empty(&self, path: &[&str]) -> anyhow::Result<Value> {
        self.call(Method::POST, path, &[], None).await
    }

    pub async fn patch(&self, path: &[&str], body: &Value) -> anyhow::Result<Value> {
        self.call(Method::PATCH, path, &[], Some(body)).await
    }

    pub async fn put(&self, path: &[&str], body: &Value) -> anyhow::Result<Value> {
        self.call(Method::PUT, path, &[], Some(body)).await
    }

    pub async fn delete(&self, path: &[&str]) -> anyhow::Result<Value> {
        self.call(Method::DELETE, path, &[], None).await
    }

    /// A paged list (`{"items", "next_cursor"}`): one page, or with `all` every page joined into one answer of the
    /// same shape.
    pub async fn pages(&self, path: &[&str], query: Query, all: bool) -> anyhow::Result<Value> {
        let mut page = self.get_with(path, &query).await?;
        if !all {
            return Ok(page);
        }
        let mut items = take_items(&mut page);
        while let Some(cursor) = page["next_cursor"].as_str().map(str::to_owned) {
            let mut q = query.clone();
            q.retain(|(k, _)| *k != "cursor");
            q.push(("cursor", cursor));
            page = self.get_with(path, &q).await?;
            items.append(&mut take_items(&mut page));
        }
        Ok(serde_json::json!({ "items": items, "next_cursor": null }))
    }

    /// Sends one request under `/api/v1`. Path segments are escaped here, so emails and names can be passed as they
    /// are.
    async fn call(
        &self,
        method: Method,
        path: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
    ) -> anyhow::Result<Value> {
        let url = self.url(path);
        let mut req = self
            .http
            .request(method, url.clone())
            .bearer_auth(&self.token);
        if !query.is_empty() {
            req = req.query(query);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("could not reach the server at {}", self.base))?;
        let status = resp.status();
        for warning in resp.headers().get_all(reqwest::header::WARNING) {
            let said = warning_text(warning.as_bytes());
            eprintln!("warning: {}", super::output::terminal_safe(&said));
        }
        let text = resp
            .text()
            .await
            .with_context(|| format!("could not read the answer from {url}"))?;
        if !status.is_success() {
            return Err(ApiError::from_body(status, &text).into());
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).with_context(|| format!("the answer from {url} is not JSON"))
    }

    fn url(&self, path: &[&str]) -> Url {
        let mut url = self.base.clone();
        // `parse_server` refused URLs that cannot take a path, so this cannot fail.
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(["api", "v1"]).extend(path);
        }
        url
    }
}

/// The text of a `Warning: 299 tocsin "…"` header, unquoted; a header of another form is shown whole.
fn warning_text(header: &[u8]) -> String {
    let header = String::from_utf8_lossy(header);
    let Some(quoted) = header
        .split_once(" \"")
        .and_then(|(_, rest)| rest.strip_suffix('"'))
    else {
        return header.into_owned();
    };
    let mut text = String::with_capacity(quoted.len());
    let mut chars = quoted.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => text.extend(chars.next()),
            c => text.push(c),
        }
    }
    text
}

fn take_items(page: &mut Value) -> Vec<Value> {
    match page["items"].take() {
        Value::Array(items) => items,
        _ => Vec::new(),
    }
}

/// A refusal from the server, from its `{"error": {...}}` body.
#[derive(Debug)]
pub struct ApiError {
    pub code: String,
    pub message: String,
    pub details: Vec<FieldError>,
}

#[derive(Debug, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    code: String,
    message: String,
    #[serde(default)]
    details: Vec<FieldError>,
}

impl ApiError {
    /// Something between the client and Tocsin (a proxy, a wrong port) may answer without the API's error body;
    /// the status and the start of whatever it sent are then the best description.
    pub fn from_body(status: StatusCode, text: &str) -> Self {
        match serde_json::from_str::<ErrorEnvelope>(text) {
            Ok(ErrorEnvelope { error }) => Self {
                code: error.code,
                message: error.message,
                details: error.details,
            },
            Err(_) => Self {
                code: format!("http_{}", status.as_u16()),
                message: describe_foreign(status, text),
                details: Vec::new(),
            },
        }
    }
}

fn describe_foreign(status: StatusCode, text: &str) -> String {
    let snippet: String = text.trim().chars().take(200).collect();
    if snippet.is_empty() {
        format!("the server answered {status}")
    } else {
        format!("the server answered {status}: {snippet}")
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code)?;
        // One problem is already the message; several are only summarized there.
        if self.details.len() > 1 {
            for d in &self.details {
                write!(f, "\n  {}: {}", d.field, d.message)?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// The config file's settings; flags and environment variables take precedence.
#[derive(Debug, Default, Deserialize)]
struct FileSettings {
    server: Option<String>,
    token: Option<String>,
}

fn settings(conn: &Connection) -> anyhow::Result<(String, String)> {
    let path = config_path();
    let file = if conn.server.is_some() && conn.token.is_some() {
        FileSettings::default()
    } else {
        read_config(path.as_ref())?
    };
    let server = non_empty(&conn.server)
        .or(non_empty(&file.server))
        .unwrap_or(DEFAULT_SERVER)
        .to_owned();
    let Some(token) = non_empty(&conn.token).or(non_empty(&file.token)) else {
        let file_hint = path
            .map(|(p, _)| format!(", or put token = \"...\" in {}", p.display()))
            .unwrap_or_default();
        bail!("no API token; set TOCSIN_TOKEN (or pass --token{file_hint})");
    };
    Ok((server, token.to_owned()))
}

fn non_empty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The config file and whether it was named explicitly (then it must exist).
fn config_path() -> Option<(PathBuf, bool)> {
    if let Some(p) = std::env::var_os("TOCSIN_CLI_CONFIG").filter(|p| !p.is_empty()) {
        return Some((PathBuf::from(p), true));
    }
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some((PathBuf::from(home).join(".config/tocsin/cli.toml"), false))
}

fn read_config(path: Option<&(PathBuf, bool)>) -> anyhow::Result<FileSettings> {
    use figment::Figment;
    use figment::providers::{Format, Toml};
    let Some((path, explicit)) = path else {
        return Ok(FileSettings::default());
    };
    if !path.exists() {
        if *explicit {
            bail!(
                "TOCSIN_CLI_CONFIG names {}, which does not exist",
                path.display()
            );
        }
        return Ok(FileSettings::default());
    }
    Figment::from(Toml::file_exact(path))
        .extract()
        .map_err(|e| anyhow!("could not read {}: {e}", path.display()))
}

fn parse_server(server: &str) -> anyhow::Result<Url> {
    // People type `localhost:8080`; without a scheme that would parse as a URL with scheme `localhost`.
    let with_scheme = if server.contains("://") {
        server.to_owned()
    } else {
        format!("http://{server}")
    };
    let url = Url::parse(&with_scheme)
        .with_context(|| format!("{server:?} is not a server URL such as {DEFAULT_SERVER}"))?;
    if url.cannot_be_a_base() || !matches!(url.scheme(), "http" | "https") {
        bail!("{server:?} is not a server URL such as {DEFAULT_SERVER}");
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_become_message_and_code() {
        let body = r#"{"error":{"code":"not_found","message":"no service \"nope\""}}"#;
        let e = ApiError::from_body(StatusCode::NOT_FOUND, body);
        assert_eq!(e.to_string(), r#"no service "nope" (not_found)"#);
    }

    #[test]
    fn several_problems_are_listed() {
        let body = r#"{"error":{"code":"invalid_request","message":"2 problems","details":[
            {"field":"a","message":"bad"},{"field":"b","message":"worse"}]}}"#;
        let e = ApiError::from_body(StatusCode::BAD_REQUEST, body);
        assert_eq!(
            e.to_string(),
            "2 problems (invalid_request)\n  a: bad\n  b: worse"
        );
    }

    #[test]
    fn warnings_are_shown_unquoted() {
        assert_eq!(
            warning_text("299 tocsin \"Service \\\"a\\\\b\\\" café\"".as_bytes()),
            "Service \"a\\b\" café"
        );
        assert_eq!(warning_text(b"199 other"), "199 other");
    }

    #[test]
    fn answers_without_the_error_body_keep_the_status() {
        let e = ApiError::from_body(StatusCode::BAD_GATEWAY, "<html>upstream down</html>");
        assert_eq!(e.code, "http_502");
        assert!(e.message.contains("upstream down"), "{e}");
    }

    #[test]
    fn server_urls_get_a_scheme_and_keep_a_prefix() {
        assert_eq!(
            parse_server("localhost:8080").unwrap().as_str(),
            "http://localhost:8080/"
        );
        let client = Client {
            http: reqwest::Client::new(),
            base: parse_server("https://ops.example.com/tocsin/").unwrap(),
            token: String::new(),
        };
        assert_eq!(
            client.url(&["users", "a b@example.com"]).as_str(),
            "https://ops.example.com/tocsin/api/v1/users/a%20b@example.com"
        );
        assert!(parse_server("ftp://example.com").is_err());
    }
}
