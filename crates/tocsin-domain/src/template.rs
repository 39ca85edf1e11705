//! Templates of outgoing requests that operators write (an SMS gateway's body, an automation step's request):
//! `{{name}}` placeholders filled with values escaped for where they land, so a value a sender wrote can close
//! no quote, add no header and move no URL to another host.

use std::borrow::Cow;

/// What fills the placeholders.
pub trait Values {
    /// The value of placeholder `name`, or `None` to leave `{{name}}` as written.
    fn get(&self, name: &str) -> Option<Cow<'_, str>>;
}

impl<F> Values for F
where
    F: Fn(&str) -> Option<String>,
{
    fn get(&self, name: &str) -> Option<Cow<'_, str>> {
        self(name).map(Cow::Owned)
    }
}

/// How a value is escaped for the place it fills.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Escape {
    /// Inside a JSON string: the template puts the quotes around the placeholder.
    Json,
    /// A form-encoded value.
    Form,
    /// Part of a URL's path or query.
    Url,
    /// A header value: control characters become spaces, so no value adds a header.
    Header,
    /// As it is, for bodies of other media types.
    Raw,
}

impl Escape {
    /// The escaping a request body of this media type needs.
    pub fn for_content_type(content_type: &str) -> Self {
        let essence = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        if essence == "application/json" || essence.ends_with("+json") {
            Self::Json
        } else if essence == "application/x-www-form-urlencoded" {
            Self::Form
        } else {
            Self::Raw
        }
    }

    pub fn apply(self, value: &str) -> String {
        match self {
            Self::Json => {
                let quoted = serde_json::to_string(value).expect("strings serialize");
                quoted[1..quoted.len() - 1].to_owned()
            }
            Self::Form => url::form_urlencoded::byte_serialize(value.as_bytes()).collect(),
            // Form encoding writes a space as `+`, which in a URL path is a plus sign; it writes a real `+` as
            // `%2B`, so every `+` left is a space.
            Self::Url => url::form_urlencoded::byte_serialize(value.as_bytes())
                .collect::<String>()
                .replace('+', "%20"),
            Self::Header => value
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect(),
            Self::Raw => value.to_owned(),
        }
    }
}

/// `template` with each known `{{name}}` (spaces inside the braces allowed) replaced by its escaped value; anything
/// else is left as written.
pub fn render(template: &str, values: &dyn Values, escape: Escape) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            rest = &rest[start..];
            break;
        };
        match values.get(after[..end].trim()) {
            Some(value) => out.push_str(&escape.apply(&value)),
            None => out.push_str(&rest[start..start + 2 + end + 2]),
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

/// The names of the placeholders in `template`, in order.
pub fn placeholders(template: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else { break };
        names.push(after[..end].trim());
        rest = &after[end + 2..];
    }
    names
}

/// The method of a request template that names none.
pub fn default_method() -> String {
    "POST".into()
}

/// The content type of a request template that names none.
pub fn default_content_type() -> String {
    "application/json".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(name: &str) -> Option<String> {
        match name {
            "to" => Some("+1".into()),
            "message" => Some("a \"b\"\n".into()),
            _ => None,
        }
    }

    #[test]
    fn templates_render_known_placeholders_escaped_and_leave_the_rest() {
        assert_eq!(
            render(
                r#"{"t": "{{message}}", "x": "{{other}}"}"#,
                &values,
                Escape::Json
            ),
            r#"{"t": "a \"b\"\n", "x": "{{other}}"}"#
        );
        assert_eq!(render("{{to}}{{ to }}", &values, Escape::Raw), "+1+1");
        assert_eq!(render("{{message}}", &values, Escape::Header), "a \"b\" ");
        assert_eq!(
            render("/m?to={{to}}&m={{message}}", &values, Escape::Url),
            "/m?to=%2B1&m=a%20%22b%22%0A"
        );
        assert_eq!(render("open {{to", &values, Escape::Raw), "open {{to");
        assert_eq!(
            placeholders("{{to}} and {{ alert.labels.host }} {{x"),
            ["to", "alert.labels.host"]
        );
    }
}
