//! `tocsin runbooks` (Markdown documents kept in Tocsin, applied from files as code) and `tocsin incidents
//! runbooks`.

use super::client::Client;
use super::output::{Cell, Col, Output, array, text};
use super::{IncidentRef, read_input};
use anyhow::{Context, anyhow, bail};
use clap::Subcommand;
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tocsin_domain::automation::Step;
use tocsin_domain::noise::Matcher;
use tocsin_domain::refs::Key;
use tocsin_domain::runbooks::RunbookSpec;

/// `tocsin runbooks`.
#[derive(Subcommand, Debug)]
pub enum RunbookCmd {
    /// List the runbooks, by title.
    List,
    /// Print a runbook: what it is for, then its Markdown.
    #[command(alias = "get")]
    Show {
        /// The runbook's key.
        key: String,
        /// An earlier version (the newest 100 are kept).
        #[arg(long)]
        version: Option<u32>,
    },
    /// The versions of a runbook: when, by whom.
    History {
        /// The runbook's key.
        key: String,
    },
    /// Create or update runbooks from Markdown files (admins): each file, or each `.md` file in each directory.
    /// A file may open with YAML front matter between `---` lines: key (else the file's name), title (else its
    /// first heading), services (by name), match (alert matchers such as alertname="DiskFull") and steps (what
    /// Tocsin can run: HTTP requests and allowed commands). Files as they are already change nothing.
    Apply {
        /// Markdown files or directories of them.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Remove a runbook with all its versions (admins).
    Delete {
        /// The runbook's key.
        key: String,
    },
}

/// `tocsin incidents runbooks`.
#[derive(Subcommand, Debug)]
pub enum IncidentRunbookCmd {
    /// The runbooks an incident shows: its services' and those whose matchers accept one of its alerts.
    Runbooks(IncidentRef),
}

const RUNBOOKS: &[Col] = &[
    Col("KEY", Cell::Text("key")),
    Col("TITLE", Cell::Text("title")),
    Col("FOR", Cell::With(what_for)),
    Col("VERSION", Cell::Text("version")),
    Col("UPDATED", Cell::Time("updated_at")),
];

/// Its services (as IDs: the list shows what the API says) and matchers, in one cell.
fn what_for(r: &Value) -> String {
    let matchers: Vec<String> = array(&r["matchers"]).iter().map(text).collect();
    let services = array(&r["services"]).len();
    match (services, matchers.is_empty()) {
        (0, true) => "-".into(),
        (0, false) => matchers.join(", "),
        (n, true) => format!("{n} service(s)"),
        (n, false) => format!("{n} service(s); {}", matchers.join(", ")),
    }
}

const VERSIONS: &[Col] = &[
    Col("VERSION", Cell::Text("version")),
    Col("TITLE", Cell::Text("title")),
    Col("WRITTEN", Cell::Time("written_at")),
    Col("BY", Cell::With(written_by)),
];

fn written_by(v: &Value) -> String {
    text(&v["written_by"]["name"])
}

pub async fn runbooks(client: &Client, cmd: RunbookCmd, out: Output) -> anyhow::Result<()> {
    match cmd {
        RunbookCmd::List => {
            let list = client.get(&["runbooks"]).await?;
            out.table(&list, RUNBOOKS);
        }
        RunbookCmd::Show { key, version } => {
            let query = version
                .map(|v| vec![("version", v.to_string())])
                .unwrap_or_default();
            let r = client.get_with(&["runbooks", &key], &query).await?;
            out.either(&r, || {
                println!(
                    "# {} ({}, version {})",
                    text(&r["title"]),
                    text(&r["key"]),
                    text(&r["version"])
                );
                println!("For: {}", what_for(&r));
                println!();
                println!("{}", text(&r["body"]));
            });
        }
        RunbookCmd::History { key } => {
            let list = client.get(&["runbooks", &key, "versions"]).await?;
            out.table(&list, VERSIONS);
        }
        RunbookCmd::Apply { paths } => apply(client, &paths, out).await?,
        RunbookCmd::Delete { key } => {
            let v = client.delete(&["runbooks", &key]).await?;
            out.done(&v, format!("runbook {key} removed"));
        }
    }
    Ok(())
}

pub async fn incidents(
    client: &Client,
    cmd: IncidentRunbookCmd,
    out: Output,
) -> anyhow::Result<()> {
    match cmd {
        IncidentRunbookCmd::Runbooks(r) => {
            let list = client.get(&["incidents", &r.incident, "runbooks"]).await?;
            out.table(&list, RUNBOOKS);
        }
    }
    Ok(())
}

/// The front matter a runbook file may open with.
#[derive(Debug, Default, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct FrontMatter {
    key: Option<String>,
    title: Option<String>,
    #[serde(default)]
    services: Vec<String>,
    #[serde(default, rename = "match")]
    matchers: Vec<String>,
    #[serde(default)]
    steps: Vec<Step>,
}

/// A runbook file read: its key, title, the services it names, its matchers and its Markdown.
#[derive(Debug, PartialEq)]
struct RunbookFile {
    key: String,
    title: String,
    services: Vec<String>,
    matchers: Vec<String>,
    steps: Vec<Step>,
    body: String,
}

/// Splits a runbook file into its front matter and Markdown; the key defaults to the file's name and the title
/// to the first heading.
fn parse_file(stem: &str, source: &str) -> Result<RunbookFile, String> {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let mut lines = source.split_inclusive('\n');
    let opens = lines.next().is_some_and(|l| l.trim_end() == "---");
    let (front, body) = if opens {
        // The front matter ends at the next line of three dashes alone; the Markdown starts after it.
        let mut offset = source.find('\n').map_or(source.len(), |i| i + 1);
        let yaml_start = offset;
        let mut end = None;
        for line in lines {
            if line.trim_end() == "---" {
                end = Some((offset, offset + line.len()));
                break;
            }
            offset += line.len();
        }
        let (yaml_end, body_start) =
            end.ok_or("the front matter opened with --- has no closing --- line")?;
        let yaml = &source[yaml_start..yaml_end];
        let front: FrontMatter = if yaml.trim().is_empty() {
            FrontMatter::default()
        } else {
            crate::document::parse(yaml, crate::document::Syntax::Yaml)
                .map_err(|e| format!("front matter (from line 2): {e}"))?
        };
        (front, &source[body_start..])
    } else {
        (FrontMatter::default(), source)
    };
    let title = front.title.or_else(|| first_heading(body)).ok_or(
        "give it a title: a first heading such as `# Disk full`, or `title:` in front matter",
    )?;
    let key = match front.key {
        Some(k) => k,
        None if stem.parse::<Key>().is_ok() => stem.to_owned(),
        None => {
            return Err(format!(
                "its name {stem:?} is not a runbook key (lowercase letters, digits and dashes, starting with a \
                 letter): rename the file or give `key:` in front matter"
            ));
        }
    };
    Ok(RunbookFile {
        key,
        title,
        services: front.services,
        matchers: front.matchers,
        steps: front.steps,
        body: body.to_owned(),
    })
}

/// The text of the Markdown's first level-one heading (not a `#` line in a code block).
fn first_heading(markdown: &str) -> Option<String> {
    use pulldown_cmark::{Event, HeadingLevel, Parser, Tag, TagEnd};
    let mut text: Option<String> = None;
    for event in Parser::new(markdown) {
        match (event, text.as_mut()) {
            (
                Event::Start(Tag::Heading {
                    level: HeadingLevel::H1,
                    ..
                }),
                None,
            ) => text = Some(String::new()),
            (Event::Text(t) | Event::Code(t), Some(so_far)) => so_far.push_str(&t),
            (Event::End(TagEnd::Heading(HeadingLevel::H1)), Some(so_far)) => {
                return Some(so_far.trim().to_owned()).filter(|t| !t.is_empty());
            }
            _ => {}
        }
    }
    None
}

/// The files a path names: itself, or the `.md` files in it, by name.
fn markdown_files(path: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if !path.is_dir() {
        return Ok(vec![path.to_owned()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)
        .with_context(|| format!("could not read {}", path.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e.eq_ignore_ascii_case("md")))
        .collect();
    files.sort();
    Ok(files)
}

/// What `apply` puts: a file, its key and the body the API takes.
struct Planned {
    path: PathBuf,
    key: String,
    title: String,
    spec: Value,
}

async fn apply(client: &Client, paths: &[PathBuf], out: Output) -> anyhow::Result<()> {
    let mut files = Vec::new();
    for p in paths {
        files.extend(markdown_files(p)?);
    }
    if files.is_empty() {
        let named: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
        bail!("no Markdown (.md) files in {}", named.join(", "));
    }
    // Every file is read and checked (as the server would, and its services found) before anything is
    // written, so that a mistake in one leaves every runbook as it was.
    let mut planned: Vec<Planned> = Vec::new();
    let mut service_ids: HashMap<String, Value> = HashMap::new();
    for path in files {
        let at = |what: String| format!("{}: {what}", path.display());
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        let file = parse_file(stem, &read_input(&path)?).map_err(|e| anyhow!(at(e)))?;
        if let Err(m) = file.key.parse::<Key>() {
            bail!(at(format!("the key {m}")));
        }
        if let Some(other) = planned.iter().find(|p| p.key == file.key) {
            bail!(at(format!(
                "{} has the key {} too; give one of them another key",
                other.path.display(),
                file.key
            )));
        }
        let mut matchers = Vec::new();
        for (j, m) in file.matchers.iter().enumerate() {
            matchers.push(Matcher::parse(m).map_err(|e| anyhow!(at(format!("match[{j}]: {e}"))))?);
        }
        let checked = RunbookSpec {
            title: file.title.clone(),
            body: file.body.clone(),
            services: vec![],
            matchers,
            steps: file.steps.clone(),
        }
        .validated()
        .map_err(|errors| {
            let said: Vec<String> = errors
                .0
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect();
            anyhow!(at(said.join("; ")))
        })?;
        let mut services = Vec::new();
        for (j, name) in file.services.iter().enumerate() {
            if !service_ids.contains_key(name) {
                let found = client
                    .get(&["services", name])
                    .await
                    .with_context(|| at(format!("services[{j}]")))?;
                service_ids.insert(name.clone(), found["id"].clone());
            }
            services.push(service_ids[name].clone());
        }
        planned.push(Planned {
            key: file.key,
            title: checked.title.clone(),
            spec: json!({
                "title": checked.title,
                "body": checked.body,
                "services": services,
                "matchers": checked.matchers,
                "steps": checked.steps,
            }),
            path,
        });
    }
    let existing = client.get(&["runbooks"]).await?;
    let versions: HashMap<String, u64> = array(&existing["items"])
        .iter()
        .filter_map(|r| Some((r["key"].as_str()?.to_owned(), r["version"].as_u64()?)))
        .collect();
    let mut applied = Vec::new();
    for p in planned {
        let r = client
            .put(&["runbooks", &p.key], &p.spec)
            .await
            .with_context(|| p.path.display().to_string())?;
        let version = r["version"].as_u64().unwrap_or_default();
        let what = match versions.get(&p.key) {
            None => "created",
            Some(&before) if before == version => "unchanged",
            Some(_) => "updated",
        };
        if !out.json {
            println!("runbook {} ({}): {what}, version {version}", p.key, p.title);
        }
        applied.push(r);
    }
    // People saw a line per runbook as it was written; scripts get what the server answered.
    out.either(&json!({ "items": applied }), || {});
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runbook_file_is_front_matter_then_markdown() {
        let file = parse_file(
            "disk",
            "---\nkey: disk-full\nservices: [checkout]\nmatch: ['alertname=\"DiskFull\"']\nsteps:\n  - key: clean\n    \
             title: Clean /tmp\n    command: clean-tmp\n    needs_approval: true\n---\n# Disk full\n\n1. Free space\n",
        )
        .unwrap();
        assert_eq!(
            file,
            RunbookFile {
                key: "disk-full".into(),
                title: "Disk full".into(),
                services: vec!["checkout".into()],
                matchers: vec!["alertname=\"DiskFull\"".into()],
                steps: vec![Step {
                    key: "clean".parse().unwrap(),
                    title: "Clean /tmp".into(),
                    http: None,
                    command: Some("clean-tmp".parse().unwrap()),
                    automatic: false,
                    needs_approval: true,
                    timeout_seconds: 30,
                }],
                body: "# Disk full\n\n1. Free space\n".into(),
            }
        );
        // Without front matter: the key is the file's name, the title its first heading.
        let plain = parse_file("db-failover", "Intro\n\n# Fail over the database\nSteps").unwrap();
        assert_eq!(
            (
                plain.key.as_str(),
                plain.title.as_str(),
                plain.body.as_str()
            ),
            (
                "db-failover",
                "Fail over the database",
                "Intro\n\n# Fail over the database\nSteps"
            )
        );
        // A rule of dashes in the Markdown is not the front matter's end.
        let ruled = parse_file("r", "---\ntitle: Ruled\n---\nabove\n\n---\nbelow").unwrap();
        assert_eq!(
            (ruled.title.as_str(), ruled.body.as_str()),
            ("Ruled", "above\n\n---\nbelow")
        );
    }

    #[test]
    fn front_matter_ends_at_a_line_of_dashes_alone() {
        let empty = parse_file("disk", "---\n---\n# Disk full\n").unwrap();
        assert_eq!(
            (
                empty.key.as_str(),
                empty.title.as_str(),
                empty.body.as_str()
            ),
            ("disk", "Disk full", "# Disk full\n")
        );
        let crlf = parse_file("disk", "---\r\ntitle: Disk\r\n--- \r\nFree space.\r\n").unwrap();
        assert_eq!(
            (crlf.title.as_str(), crlf.body.as_str()),
            ("Disk", "Free space.\r\n")
        );
        let longer_rule = parse_file("x", "---\ntitle: T\n----\nkey: k\n---\nbody").unwrap_err();
        assert!(longer_rule.contains("front matter"), "{longer_rule}");
        // A `#` line in a code block is a shell comment, not the title.
        let fenced = parse_file(
            "restart",
            "```sh\n# restart the pod\nkubectl delete pod x\n```\n\n# Restart `api`\n",
        )
        .unwrap();
        assert_eq!(fenced.title, "Restart api");
    }

    #[test]
    fn a_runbook_file_says_what_is_wrong_with_it() {
        assert!(
            parse_file("x", "no heading here")
                .unwrap_err()
                .contains("title")
        );
        assert!(
            parse_file("x", "---\ntitle: open\n# never closed")
                .unwrap_err()
                .contains("closing ---")
        );
        assert!(
            parse_file("x", "---\ntitel: typo\n---\n# T")
                .unwrap_err()
                .contains("titel")
        );
    }
}
