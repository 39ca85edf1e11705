//! Catalog commands: users, teams and services one at a time, and the whole catalog as a file.

use super::client::Client;
use super::output::{Cell, Col, Output, array, pretty, text};
use super::{
    ApplyArgs, CatalogCmd, ExportArgs, NewService, NewTeam, NewUser, ServiceCmd, body, query,
    read_input,
};
use crate::document::Syntax;
use anyhow::{Context, anyhow, bail};
use clap::Args;
use serde_json::{Value, json};
use std::path::Path;
use tocsin_domain::catalog::CatalogDocument;

/// A kind of catalog entry: where it lives in the API and how to show it.
pub struct Resource {
    path: &'static str,
    kind: &'static str,
    /// The field people refer to it by.
    key: &'static str,
    cols: &'static [Col],
}

pub const USERS: Resource = Resource {
    path: "users",
    kind: "user",
    key: "email",
    cols: &[
        Col("EMAIL", Cell::Text("email")),
        Col("NAME", Cell::Text("name")),
        Col("TIME ZONE", Cell::Text("time_zone")),
        Col("ROLE", Cell::Text("role")),
        Col("ID", Cell::Text("id")),
    ],
};

/// Runs a `tocsin users` command.
pub async fn users(client: &Client, cmd: super::UserCmd, out: Output) -> anyhow::Result<()> {
    match cmd {
        super::UserCmd::Catalog(cmd) => crud(client, &USERS, cmd, out).await,
        super::UserCmd::SetRole { user, role } => {
            let v = client
                .put(
                    &["users", &user, "role"],
                    &serde_json::json!({ "role": role }),
                )
                .await?;
            out.done(
                &v,
                format!("{} now holds the {role} role", text(&v["email"])),
            );
            Ok(())
        }
    }
}

pub const TEAMS: Resource = Resource {
    path: "teams",
    kind: "team",
    key: "name",
    cols: &[
        Col("NAME", Cell::Text("name")),
        Col("MEMBERS", Cell::Text("members")),
        Col("DESCRIPTION", Cell::Text("description")),
    ],
};

const SERVICES: Resource = Resource {
    path: "services",
    kind: "service",
    key: "name",
    cols: &[
        Col("NAME", Cell::Text("name")),
        Col("TEAM", Cell::Text("team")),
        Col("TIER", Cell::Text("tier")),
        Col("DEPENDS ON", Cell::Text("depends_on")),
        Col("DESCRIPTION", Cell::Text("description")),
    ],
};

const CHANGES: &[Col] = &[
    Col("RECEIVED", Cell::Time("received_at")),
    Col("SOURCE", Cell::Text("source")),
    Col("SUMMARY", Cell::Text("summary")),
];

/// What the create command sends.
pub trait CreateBody {
    fn body(self) -> Value;
}

impl CreateBody for NewUser {
    fn body(self) -> Value {
        body(json!({ "name": self.name, "email": self.email, "time_zone": self.time_zone }))
    }
}

impl CreateBody for NewTeam {
    fn body(self) -> Value {
        body(json!({ "name": self.name, "description": self.description, "members": self.members }))
    }
}

impl CreateBody for NewService {
    fn body(self) -> Value {
        body(json!({
            "name": self.name,
            "description": self.description,
            "team": self.team,
            "tier": self.tier,
            "runbook_url": self.runbook_url,
            "depends_on": self.depends_on,
        }))
    }
}

pub async fn crud<C: Args + CreateBody>(
    client: &Client,
    res: &Resource,
    cmd: CatalogCmd<C>,
    out: Output,
) -> anyhow::Result<()> {
    match cmd {
        CatalogCmd::List => out.table(&client.get(&[res.path]).await?, res.cols),
        CatalogCmd::Show { reference } => out.record(&client.get(&[res.path, &reference]).await?),
        CatalogCmd::Create(spec) => {
            let created = client.post(&[res.path], &spec.body()).await?;
            let name = text(&created[res.key]);
            out.done(&created, format!("created {} {name}", res.kind));
        }
        CatalogCmd::Delete { reference } => {
            let gone = client.delete(&[res.path, &reference]).await?;
            out.done(&gone, format!("deleted {} {reference}", res.kind));
        }
    }
    Ok(())
}

pub async fn services(client: &Client, cmd: ServiceCmd, out: Output) -> anyhow::Result<()> {
    match cmd {
        ServiceCmd::Common(cmd) => crud(client, &SERVICES, cmd, out).await,
        ServiceCmd::Paging(cmd) => super::paging::services(client, cmd, out).await,
        ServiceCmd::Changes { service, limit } => {
            let q = query([("limit", limit.map(|l| l.to_string()))]);
            let changes = client
                .get_with(&["services", &service, "changes"], &q)
                .await?;
            out.table(&changes, CHANGES);
            Ok(())
        }
    }
}

pub async fn apply(client: &Client, args: ApplyArgs) -> anyhow::Result<()> {
    let doc = read_catalog(&args.file)?;
    let q = query([("dry_run", Some(args.dry_run.to_string()))]);
    let report = client
        .post_with(&["catalog", "apply"], &q, &serde_json::to_value(&doc)?)
        .await?;
    args.out.either(&report, || print_report(&report));
    Ok(())
}

fn print_report(report: &Value) {
    for e in array(&report["entries"]) {
        let action = text(&e["action"]);
        println!("{action:<8} {} {}", text(&e["kind"]), text(&e["name"]));
    }
    let dry = if report["dry_run"] == true {
        "(dry run) "
    } else {
        ""
    };
    println!(
        "{dry}{} created, {} updated, {} unchanged",
        report["created"], report["updated"], report["unchanged"]
    );
}

/// Parses the file here rather than leaving it to the server, so mistakes are reported with their line number.
fn read_catalog(path: &Path) -> anyhow::Result<CatalogDocument> {
    read_document(path, "a catalog lists users, teams and services")
}

/// Reads a YAML file (or JSON, if its name ends in `.json`), naming the file and the line of any mistake; an empty
/// file is refused with `what_it_holds` as the hint.
pub(super) fn read_document<T: serde::de::DeserializeOwned>(
    path: &Path,
    what_it_holds: &str,
) -> anyhow::Result<T> {
    let source = read_input(path)?;
    let name = path.display();
    if source.trim().is_empty() {
        bail!("{name} is empty; {what_it_holds}");
    }
    let syntax = if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"))
    {
        Syntax::Json
    } else {
        Syntax::Yaml
    };
    crate::document::parse(&source, syntax).map_err(|e| anyhow!("{name}: {e}"))
}

pub async fn export(client: &Client, args: ExportArgs) -> anyhow::Result<()> {
    let doc = client.get(&["catalog"]).await?;
    let rendered = if args.out.json {
        pretty(&doc) + "\n"
    } else {
        to_yaml(doc)?
    };
    match args.file {
        Some(path) => {
            std::fs::write(&path, rendered)
                .with_context(|| format!("could not write {}", path.display()))?;
            println!("wrote the catalog to {}", path.display());
        }
        None => print!("{rendered}"),
    }
    Ok(())
}

/// Goes through the catalog's own type when it can, so entries read in its field order (name first) and defaults
/// are left out, as someone would write them; a server newer than this client still exports, in sorted order.
fn to_yaml(doc: Value) -> anyhow::Result<String> {
    let rendered = match serde_json::from_value::<CatalogDocument>(doc.clone()) {
        Ok(typed) => serde_yaml_ng::to_string(&typed),
        Err(_) => serde_yaml_ng::to_string(&doc),
    };
    rendered.context("could not write the catalog as YAML")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn catalog_file(ext: &str, source: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::Builder::new().suffix(ext).tempfile().unwrap();
        f.write_all(source.as_bytes()).unwrap();
        f
    }

    #[test]
    fn yaml_mistakes_name_the_line() {
        let f = catalog_file(
            ".yaml",
            "users:\n  - name: Alice\n    email: alice@example.com\nservices:\n  - name: checkout\n    tier: 9\n",
        );
        let e = read_catalog(f.path()).unwrap_err().to_string();
        assert!(e.contains("line 5") || e.contains("line 6"), "{e}");
        assert!(e.contains("must be 1"), "{e}");
    }

    #[test]
    fn json_files_are_read_as_json() {
        let f = catalog_file(".json", r#"{"teams": [{"name": "payments"}]}"#);
        assert_eq!(read_catalog(f.path()).unwrap().teams.len(), 1);
    }

    #[test]
    fn an_empty_file_is_refused() {
        let f = catalog_file(".yaml", "\n");
        assert!(
            read_catalog(f.path())
                .unwrap_err()
                .to_string()
                .contains("empty")
        );
    }
}
