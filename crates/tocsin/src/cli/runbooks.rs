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
    /// first heading), services (by name) and match (alert matchers such as alertname="DiskFull"). Files as they
    /// are already change nothing.
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
}

/// A runbook file read: its key, title, the services it names, its matchers and its Markdown.
#[derive(Debug, PartialEq)]
struct RunbookFile {
    key: String,
    title: String,
    services: Vec<String>,
    matchers: Vec<String>,
    body: String,
}

/// Splits a runbook file into its front matter and Markdown; the key defaults to the file's name and the title
/// to the first heading.
fn parse_file(stem: &str, source: &str) -> Result<RunbookFile, String> {
    let source = source.strip_prefix('\u{feff}').unwrap_or(source);
    let (front, body) = match source
        .strip_prefix("---\n")
        .or_else(|| source.strip_prefix("---\r\n"))
    {
        Some(rest) => {
            let end = rest
                .find("\n---")
                .filter(|&i| rest[i + 4..].starts_with(['\n', '\r']) || rest[i + 4..].is_empty())
                .ok_or("the front matter opened with --- has no closing --- line")?;
            let yaml = &rest[..end];
            let after = &rest[end + 4..];
            let body = after
                .strip_prefix("\r\n")
                .or_else(|| after.strip_prefix('\n'))
                .unwrap_or(after);
            let front: FrontMatter = if yaml.trim().is_empty() {
                FrontMatter::default()
            } else {
                crate::document::parse(yaml, crate::document::Syntax::Yaml)
                    .map_err(|e| format!("front matter: {e}"))?
            };
            (front, body)
        }
        None => (FrontMatter::default(), source),
    };
    let heading = body
        .lines()
        .find_map(|l| l.strip_prefix("# ").map(str::trim));
    let title = front.title.or_else(|| heading.map(str::to_owned)).ok_or(
        "give it a title: a first line such as `# Disk full`, or `title:` in front matter",
    )?;
    Ok(RunbookFile {
        key: front.key.unwrap_or_else(|| stem.to_owned()),
        title,
        services: front.services,
        matchers: front.matchers,
        body: body.to_owned(),
    })
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

async fn apply(client: &Client, paths: &[PathBuf], out: Output) -> anyhow::Result<()> {
    let mut files = Vec::new();
    for p in paths {
        files.extend(markdown_files(p)?);
    }
    if files.is_empty() {
        bail!(
            "no Markdown (.md) files in {}",
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    // Every file is read and checked before anything is written, so a mistake in one leaves all as they were.
    let mut read = Vec::new();
    for f in &files {
        let stem = f.file_stem().and_then(|s| s.to_str()).unwrap_or_default();
        let file =
            parse_file(stem, &read_input(f)?).map_err(|e| anyhow!("{}: {e}", f.display()))?;
        read.push((f, file));
    }
    let existing = client.get(&["runbooks"]).await?;
    let versions: HashMap<String, u64> = array(&existing["items"])
        .iter()
        .filter_map(|r| Some((r["key"].as_str()?.to_owned(), r["version"].as_u64()?)))
        .collect();
    let mut service_ids: HashMap<String, Value> = HashMap::new();
    let mut applied = Vec::new();
    for (path, file) in read {
        let mut services = Vec::new();
        for (j, name) in file.services.iter().enumerate() {
            if !service_ids.contains_key(name) {
                let found = client
                    .get(&["services", name])
                    .await
                    .with_context(|| format!("{}: services[{j}]", path.display()))?;
                service_ids.insert(name.clone(), found["id"].clone());
            }
            services.push(service_ids[name].clone());
        }
        let spec = json!({
            "title": file.title,
            "body": file.body,
            "services": services,
            "matchers": file.matchers,
        });
        let r = client
            .put(&["runbooks", &file.key], &spec)
            .await
            .with_context(|| path.display().to_string())?;
        let version = r["version"].as_u64().unwrap_or_default();
        let what = match versions.get(&file.key) {
            None => "created",
            Some(&before) if before == version => "unchanged",
            Some(_) => "updated",
        };
        if !out.json {
            println!(
                "runbook {} ({}): {what}, version {version}",
                file.key, file.title
            );
        }
        applied.push(r);
    }
    if out.json {
        out.either(&json!({ "items": applied }), || {});
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_runbook_file_is_front_matter_then_markdown() {
        let file = parse_file(
            "disk",
            "---\nkey: disk-full\nservices: [checkout]\nmatch: ['alertname=\"DiskFull\"']\n---\n# Disk full\n\n1. Free space\n",
        )
        .unwrap();
        assert_eq!(
            file,
            RunbookFile {
                key: "disk-full".into(),
                title: "Disk full".into(),
                services: vec!["checkout".into()],
                matchers: vec!["alertname=\"DiskFull\"".into()],
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
