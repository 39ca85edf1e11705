//! Credentials out of what Tocsin keeps of a request: a body sample shown to API readers must not hand them a
//! routing key or a token that a sender put in it.

use std::borrow::Cow;

/// What replaces a credential's value.
pub const REDACTED: &str = "[redacted]";

/// Field names (lowercased, without `-` and `_`) that hold a credential when they contain one of these.
const CREDENTIAL_NAMES: [&str; 13] = [
    "routingkey",
    "servicekey",
    "integrationkey",
    "apikey",
    "accesskey",
    "privatekey",
    "geniekey",
    "secret",
    "token",
    "password",
    "passwd",
    "authorization",
    "credential",
];

/// Whether a JSON field of this name holds a credential.
pub fn is_credential_name(name: &str) -> bool {
    let normal: String = name
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    CREDENTIAL_NAMES.iter().any(|n| normal.contains(n))
}

/// JSON text with the string value of every credential-named field replaced by [`REDACTED`], keeping everything
/// else byte for byte. It reads the text as tokens rather than parsing it, so a body cut short is redacted too.
pub fn json_credentials(text: &str) -> Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'"' {
            i += 1;
            continue;
        }
        let Some(name_end) = string_end(bytes, i) else {
            break;
        };
        let name = &text[i + 1..name_end];
        // A string followed by a colon is a field name; its value follows.
        let mut j = skip_space(bytes, name_end + 1);
        if bytes.get(j) != Some(&b':') || !is_credential_name(name) {
            i = name_end + 1;
            continue;
        }
        j = skip_space(bytes, j + 1);
        if bytes.get(j) != Some(&b'"') {
            i = j;
            continue;
        }
        let value_end = string_end(bytes, j).unwrap_or(bytes.len());
        let buf = out.get_or_insert_with(|| String::with_capacity(text.len()));
        buf.push_str(&text[copied..=j]);
        buf.push_str(REDACTED);
        if value_end < bytes.len() {
            buf.push('"');
        }
        copied = (value_end + 1).min(bytes.len());
        i = copied;
    }
    match out {
        None => Cow::Borrowed(text),
        Some(mut buf) => {
            buf.push_str(&text[copied..]);
            Cow::Owned(buf)
        }
    }
}

/// The index of the quote closing the string that opens at `start`, if the text has it.
fn string_end(bytes: &[u8], start: usize) -> Option<usize> {
    let mut k = start + 1;
    while k < bytes.len() {
        match bytes[k] {
            b'\\' => k += 2,
            b'"' => return Some(k),
            _ => k += 1,
        }
    }
    None
}

fn skip_space(bytes: &[u8], mut k: usize) -> usize {
    while bytes.get(k).is_some_and(u8::is_ascii_whitespace) {
        k += 1;
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_values_go_and_everything_else_stays() {
        let body = r#"{"routing_key": "R0123456789abcdef0123456789abcdef", "event_action":"trigger",
            "payload": {"summary": "token \"x\" leaked?", "custom_details": {"X-Api-Key":"k\"1", "apiToken": "t"}},
            "dedup_key": "disk", "password": 5}"#;
        let redacted = json_credentials(body);
        assert!(!redacted.contains("R0123456789abcdef"), "{redacted}");
        assert!(
            !redacted.contains(r#"k\"1"#) && !redacted.contains(r#""t""#),
            "{redacted}"
        );
        assert!(
            redacted.contains(r#""routing_key": "[redacted]""#),
            "{redacted}"
        );
        assert!(
            redacted.contains(r#""summary": "token \"x\" leaked?""#),
            "a value naming a token stays"
        );
        assert!(
            redacted.contains(r#""dedup_key": "disk""#) && redacted.contains(r#""password": 5"#)
        );
        let parsed: serde_json::Value = serde_json::from_str(&redacted).unwrap();
        assert_eq!(parsed["payload"]["custom_details"]["X-Api-Key"], REDACTED);
    }

    #[test]
    fn a_body_cut_short_is_redacted_too_and_one_without_credentials_is_not_copied() {
        let cut = r#"{"event_action": "trigger", "routing_key": "R0123456789ab"#;
        assert_eq!(
            json_credentials(cut),
            r#"{"event_action": "trigger", "routing_key": "[redacted]"#
        );
        let plain = r#"{"groupKey": "{}:{alertname=\"X\"}", "alerts": []}"#;
        assert!(matches!(json_credentials(plain), Cow::Borrowed(_)));
        assert!(is_credential_name("GenieKey") && is_credential_name("client_secret"));
        assert!(!is_credential_name("groupKey") && !is_credential_name("dedup_key"));
    }
}
