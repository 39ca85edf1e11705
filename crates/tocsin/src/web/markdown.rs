//! Markdown that people wrote (notes, descriptions, customer impact), shown on pages. Raw HTML in it is shown as
//! text and links go only to http(s) and mailto, so nothing a person or a sender wrote can run in a reader's page.

use pulldown_cmark::{CowStr, Event, Options, Parser, Tag, TagEnd, html};

/// Links people may follow from a note: the web and mail, and paths on this site (never `//host`, which is
/// another site).
fn safe_url(url: &str) -> bool {
    let lower = url.trim().to_ascii_lowercase();
    lower.starts_with("https://")
        || lower.starts_with("http://")
        || lower.starts_with("mailto:")
        || (lower.starts_with('/') && !lower.starts_with("//") && !lower.contains('\\'))
        || lower.starts_with('#')
}

/// `source` rendered to HTML that is safe to insert into a page as it is.
pub fn render(source: &str) -> String {
    let options =
        Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TABLES | Options::ENABLE_TASKLISTS;
    // Links with unsafe targets lose their target; images become their alt text, so a note cannot make readers'
    // browsers fetch from anywhere.
    let mut in_unsafe_link = Vec::new();
    let mut in_image = 0usize;
    let events = Parser::new_ext(source, options).filter_map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Some(Event::Text(raw)),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => {
            // An email autolink (`<a@example.com>`) names the address alone; the writer adds `mailto:`.
            let unsafe_target = match link_type {
                pulldown_cmark::LinkType::Email => false,
                _ => !safe_url(&dest_url),
            };
            in_unsafe_link.push(unsafe_target);
            (!unsafe_target).then_some(Event::Start(Tag::Link {
                link_type,
                dest_url,
                title,
                id,
            }))
        }
        Event::End(TagEnd::Link) => match in_unsafe_link.pop() {
            Some(true) => None,
            _ => Some(Event::End(TagEnd::Link)),
        },
        Event::Start(Tag::Image { .. }) => {
            in_image += 1;
            None
        }
        Event::End(TagEnd::Image) => {
            in_image = in_image.saturating_sub(1);
            None
        }
        Event::Text(t) if in_image > 0 => Some(Event::Text(CowStr::from(format!("[{t}]")))),
        other => Some(other),
    });
    let mut out = String::new();
    html::push_html(&mut out, events);
    out
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn markdown_renders_and_nothing_in_it_runs() {
        assert_eq!(
            render("**Rolled back** the *deploy*"),
            "<p><strong>Rolled back</strong> the <em>deploy</em></p>\n"
        );
        let hostile = render(
            "<script>alert(1)</script>\n\nSee <img src=x onerror=alert(2)> [click](javascript:alert(3)) \
             [ok](https://example.com/a?b=1) ![pixel](https://tracker.example/p.gif)",
        );
        assert!(!hostile.contains("<script"), "{hostile}");
        assert!(!hostile.contains("<img"), "{hostile}");
        assert!(!hostile.contains("javascript:"), "{hostile}");
        assert!(hostile.contains("&lt;script&gt;"), "{hostile}");
        assert!(
            hostile.contains(r#"<a href="https://example.com/a?b=1">ok</a>"#),
            "{hostile}"
        );
        assert!(hostile.contains("[pixel]"), "{hostile}");
        assert!(
            render("[x](JaVaScRiPt:alert(1))").contains("<p>x</p>"),
            "case does not hide a scheme"
        );
        assert!(
            render("[elsewhere](//evil.example/x)").contains("<p>elsewhere</p>"),
            "a scheme-relative link is another site"
        );
        assert!(
            render("<oncall@example.com>").contains(r#"href="mailto:oncall@example.com""#),
            "{}",
            render("<oncall@example.com>")
        );
    }
}
