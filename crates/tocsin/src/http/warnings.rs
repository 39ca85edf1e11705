//! Warnings that come with a change that succeeded but leaves something that cannot page.
//!
//! They travel as `Warning: 299 tocsin "…"` headers, the form the Kubernetes API uses and its clients print, so
//! that every response body keeps its schema; `tocsin` prints each one on standard error.

use axum::http::header::WARNING;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, IntoResponseParts, Response, ResponseParts};

pub struct Warnings(pub Vec<tocsin_app::Warning>);

impl IntoResponseParts for Warnings {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        for w in &self.0 {
            let text = header_text(&crate::wording::warning(w));
            if let Ok(value) = HeaderValue::from_bytes(text.as_bytes()) {
                res.headers_mut().append(WARNING, value);
            }
        }
        Ok(res)
    }
}

/// The header's value: code 299 ("miscellaneous persistent warning"), agent `tocsin`, and the text quoted, with
/// quotes and backslashes escaped. Names keep their letters (UTF-8 is allowed in a header value as opaque
/// bytes); control characters, which are not, become spaces.
fn header_text(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 16);
    quoted.push_str("299 tocsin \"");
    for c in text.chars() {
        match c {
            '"' | '\\' => {
                quoted.push('\\');
                quoted.push(c);
            }
            c if c.is_control() => quoted.push(' '),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// A use case's answer with its warnings as headers.
pub fn warned<T: serde::Serialize>(status: StatusCode, warned: tocsin_app::Warned<T>) -> Response {
    (status, Warnings(warned.warnings), axum::Json(warned.value)).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_is_quoted_and_escaped() {
        assert_eq!(
            header_text("Service \"a\\b\" \u{7} café"),
            "299 tocsin \"Service \\\"a\\\\b\\\"   café\""
        );
    }
}
