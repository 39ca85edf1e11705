//! README's examples, as written: every example file is applied (or, for configuration, loaded), and every
//! command without a placeholder runs in the order the README gives it, against one fresh server.

use crate::cli::{Run, run};
use crate::support::TestApp;
use reqwest::StatusCode;
use std::path::Path;

/// A piece of the README a reader would copy: a fenced block with its language, or an inline code span.
enum Piece {
    Block { lang: String, text: String },
    Inline(String),
}

fn pieces(readme: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if let Some(lang) = line.trim_start().strip_prefix("```") {
            let text: Vec<&str> = lines
                .by_ref()
                .take_while(|l| !l.trim_start().starts_with("```"))
                .collect();
            out.push(Piece::Block {
                lang: lang.trim().to_owned(),
                text: text.join("\n"),
            });
            continue;
        }
        let spans: Vec<&str> = line.split('`').collect();
        out.extend(
            spans
                .iter()
                .skip(1)
                .step_by(2)
                .map(|s| Piece::Inline((*s).to_owned())),
        );
    }
    out
}

/// The file an example YAML block is meant to be saved as, by what it holds.
fn file_name(yaml: &str) -> Option<&'static str> {
    let has = |key: &str| yaml.lines().any(|l| l.starts_with(key));
    if has("users:") {
        Some("catalog.yaml")
    } else if has("layers:") {
        Some("primary.yaml")
    } else if has("levels:") {
        Some("policy.yaml")
    } else if has("mapping:") {
        Some("m.yaml")
    } else if has("receivers:") {
        None // Alertmanager's configuration, not Tocsin's
    } else {
        panic!("a YAML example this test does not know; name its file here:\n{yaml}")
    }
}

/// Words as a POSIX shell splits them, for the quoting the README uses: single and double quotes.
fn words(command: &str) -> Vec<String> {
    let (mut out, mut word, mut quote, mut in_word) = (Vec::new(), String::new(), None, false);
    for c in command.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        out.push(word);
    }
    out
}

/// The commands of a shell block: comments dropped, a quoted argument spanning lines kept whole.
fn commands(block: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut open = false;
    for line in block.lines() {
        let line = if open {
            line.to_owned()
        } else {
            match line.find(" #") {
                Some(at) if line[..at].matches('\'').count() % 2 == 0 => line[..at].to_owned(),
                _ => line.to_owned(),
            }
        };
        if open {
            let last = out.last_mut().unwrap();
            last.push('\n');
            last.push_str(&line);
        } else if !line.trim().is_empty() && !line.trim_start().starts_with('#') {
            out.push(line.trim().to_owned());
        }
        open = out.last().is_some_and(|c| c.matches('\'').count() % 2 == 1);
    }
    out
}

/// Whether a command shows a shape to fill in rather than something to run as is.
fn has_placeholder(args: &[String]) -> bool {
    args.iter().any(|a| {
        a.contains('…')
            || a.contains('<')
            || a.starts_with('[')
            || a == "42"
            || (a.len() == 1 && a.chars().all(|c| c.is_ascii_uppercase()))
    })
}

/// Commands that run beside the server on its files, not against it.
const OFFLINE: [&str; 5] = ["serve", "migrate", "backup", "admin-token", "bench"];

struct Tour<'a> {
    app: &'a TestApp,
    dir: &'a Path,
    /// The last integration key a command printed, for `<key>` in the examples that follow it.
    key: Option<String>,
    ran: Vec<String>,
}

impl Tour<'_> {
    async fn tocsin(&mut self, args: Vec<String>) {
        if has_placeholder(&args) || OFFLINE.contains(&args[0].as_str()) {
            return;
        }
        let args: Vec<String> = args
            .into_iter()
            .map(|a| {
                let file = self.dir.join(&a);
                if a.ends_with(".yaml") && file.exists() {
                    file.to_string_lossy().into_owned()
                } else {
                    a
                }
            })
            .collect();
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let env = [
            ("TOCSIN_SERVER", self.app.url.as_str()),
            ("TOCSIN_TOKEN", self.app.token.as_str()),
        ];
        let Run {
            success,
            stdout,
            stderr,
        } = run(self.app, &env, &refs).await;
        let shown = format!("tocsin {}", args.join(" "));
        // The doctor reports what it finds with status 1; finding something is what it is for.
        let doctor_found = args[0] == "doctor" && !success && !stdout.is_empty();
        assert!(success || doctor_found, "{shown} failed:\n{stdout}{stderr}");
        if let Some(key) = stdout
            .split_whitespace()
            .find(|w| w.len() == 32 && w.bytes().all(|b| b.is_ascii_hexdigit()))
        {
            self.key = Some(key.to_owned());
        }
        self.ran.push(shown);
    }

    /// `curl -X POST <url> -H … -d '<body>'`, sent to this server with the key the README says to fill in.
    async fn curl(&mut self, args: Vec<String>) {
        let url = args
            .iter()
            .find(|a| a.starts_with("http"))
            .expect("curl has a URL");
        let path = &url[url
            .find("/v2/")
            .or_else(|| url.find("/api/"))
            .expect("a Tocsin path")..];
        let body = args
            .iter()
            .position(|a| a == "-d")
            .map(|i| args[i + 1].clone())
            .expect("curl sends a body");
        let key = self
            .key
            .clone()
            .expect("an integration key was printed before");
        let resp = self
            .app
            .client
            .post(format!("{}{path}", self.app.url))
            .header("Content-Type", "application/json")
            .body(body.replace("<key>", &key))
            .send()
            .await
            .unwrap();
        let status = resp.status();
        assert!(
            status.is_success(),
            "curl {path}: {status} {}",
            resp.text().await.unwrap()
        );
        self.ran.push(format!("curl {path}"));
    }
}

#[tokio::test]
async fn readme_examples_work_as_written() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("README.md at the repository root");
    let app = TestApp::spawn().await;
    let dir = tempfile::tempdir().unwrap();
    let pieces = pieces(&readme);

    // Files first: the quick tour applies the catalog shown after it.
    let mut files = Vec::new();
    for piece in &pieces {
        if let Piece::Block { lang, text } = piece {
            match lang.as_str() {
                "yaml" => {
                    if let Some(name) = file_name(text) {
                        std::fs::write(dir.path().join(name), text).unwrap();
                        files.push(name);
                    }
                }
                "toml" => {
                    let path = dir.path().join("tocsin.toml");
                    std::fs::write(&path, text).unwrap();
                    let loaded = tocsin::config::Config::load(Some(&path), Default::default());
                    assert!(loaded.is_ok(), "{loaded:?}\n{text}");
                }
                _ => {}
            }
        }
    }
    files.sort_unstable();
    assert_eq!(
        files,
        ["catalog.yaml", "m.yaml", "policy.yaml", "primary.yaml"]
    );

    let mut tour = Tour {
        app: &app,
        dir: dir.path(),
        key: None,
        ran: Vec::new(),
    };
    for piece in pieces {
        let lines = match piece {
            Piece::Block { lang, text } if lang == "sh" => commands(&text),
            Piece::Inline(code) if code.starts_with("tocsin ") => vec![code],
            _ => continue,
        };
        for line in lines {
            let mut args = words(&line);
            match args.first().map(String::as_str) {
                Some("tocsin") => {
                    args.remove(0);
                    tour.tocsin(args).await;
                }
                Some("curl") => tour.curl(args).await,
                _ => {} // `export`, `cargo`, `bash`: the setting up this test does itself
            }
        }
    }
    let ran = tour.ran.join("\n");
    assert!(
        tour.ran.len() >= 25,
        "only {} commands ran:\n{ran}",
        tour.ran.len()
    );
    for expected in [
        "tocsin apply -f",
        "curl /v2/enqueue",
        "tocsin incidents resolve 1",
        "tocsin schedules create -f",
        "tocsin policies create -f",
        "tocsin maintenance create --service ledger",
        "tocsin notification-rules add",
    ] {
        assert!(ran.contains(expected), "{expected:?} was not run:\n{ran}");
    }
    let (s, incident) = app.get("/api/v1/incidents/1").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(incident["status"], "resolved", "the quick tour's incident");
}

#[test]
fn shell_words_and_commands_split_as_a_shell_would() {
    assert_eq!(
        words(r#"silences create --matcher 'host=~db-.*' --comment "disk swap""#),
        [
            "silences",
            "create",
            "--matcher",
            "host=~db-.*",
            "--comment",
            "disk swap"
        ]
    );
    assert_eq!(
        commands("tocsin a   # why\ncurl -d '{\n  \"x\": 1}'\n# only a comment\n"),
        ["tocsin a", "curl -d '{\n  \"x\": 1}'"]
    );
}
