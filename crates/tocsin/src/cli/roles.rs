//! `tocsin roles` (the roles of a response) and the incident commands about roles and responders.

use super::client::Client;
use super::output::{Cell, Col, Output, items, print_table, text};
use super::{IncidentRef, catalog::read_document};
use anyhow::Context;
use clap::Subcommand;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// `tocsin roles`.
#[derive(Subcommand, Debug)]
pub enum RoleCmd {
    /// List the roles people take in a response, built in and your own.
    List,
    /// Create a role of your own, or reword one (admins). Without --file, what is not given stays as it is.
    Set {
        /// The role's key: lowercase letters, digits and dashes, e.g. commander or db-expert.
        key: String,
        /// A role document (YAML or JSON): name, instructions, single, and defaults, each with severities,
        /// services (by name) and a target ({schedule: Primary}, {user: ana@example.com}, {team: …},
        /// {team_on_call: …}); `-` reads standard input.
        #[arg(long, short = 'f', conflicts_with_all = ["name", "instructions", "single"])]
        file: Option<PathBuf>,
        /// What people call it.
        #[arg(long)]
        name: Option<String>,
        /// What whoever holds it does (Markdown).
        #[arg(long)]
        instructions: Option<String>,
        /// Whether one person holds it at a time (assigning another hands it over).
        #[arg(long)]
        single: Option<bool>,
    },
    /// Remove a role of your own (admins); who held it stays in incidents' history.
    Delete {
        /// The role's key.
        key: String,
    },
}

/// The incident commands about roles and responders.
#[derive(Subcommand, Debug)]
pub enum IncidentRoleCmd {
    /// Who holds each role in an incident now, and who held it before.
    Roles(IncidentRef),
    /// Give someone a role in an incident; they are paged with it unless it is you. A role one person holds is
    /// handed over.
    Assign {
        #[command(flatten)]
        target: IncidentRef,
        /// The role's key, e.g. commander, communications, scribe, expert.
        role: String,
        /// User ID or email.
        user: String,
    },
    /// Someone stops holding a role in an incident.
    Release {
        #[command(flatten)]
        target: IncidentRef,
        /// The role's key.
        role: String,
        /// User ID or email [default: whoever holds it].
        #[arg(long)]
        user: Option<String>,
    },
    /// The people working an incident, with their roles.
    Responders(IncidentRef),
    /// Join an incident's response without being paged (or add someone with --user).
    Join {
        #[command(flatten)]
        target: IncidentRef,
        /// User ID or email [default: you].
        #[arg(long)]
        user: Option<String>,
    },
    /// Leave an incident's response, giving up your roles in it (or take someone off with --user).
    Leave {
        #[command(flatten)]
        target: IncidentRef,
        /// User ID or email [default: you].
        #[arg(long)]
        user: Option<String>,
    },
}

const ROLES: &[Col] = &[
    Col("KEY", Cell::Text("key")),
    Col("NAME", Cell::Text("name")),
    Col("HELD BY", Cell::With(held_by)),
    Col("DEFAULTS", Cell::With(defaults)),
    Col("BUILT IN", Cell::With(built_in)),
];

fn held_by(role: &Value) -> String {
    if role["single"] == true {
        "one person".into()
    } else {
        "several".into()
    }
}

fn defaults(role: &Value) -> String {
    match role["defaults"].as_array().map_or(0, Vec::len) {
        0 => "-".into(),
        n => n.to_string(),
    }
}

fn built_in(role: &Value) -> String {
    if role["built_in"] == true {
        "yes".into()
    } else {
        "no".into()
    }
}

const ASSIGNMENTS: &[Col] = &[
    Col("ROLE", Cell::Text("role_name")),
    Col("PERSON", Cell::Text("user")),
    Col("SINCE", Cell::Time("assigned_at")),
    Col("UNTIL", Cell::Time("released_at")),
    Col("GIVEN BY", Cell::Text("assigned_by")),
];

const RESPONDERS: &[Col] = &[
    Col("PERSON", Cell::Text("name")),
    Col("JOINED", Cell::Text("joined")),
    Col("SINCE", Cell::Time("since")),
    Col("ROLES", Cell::Text("roles")),
];

/// Prints responders, naming their roles as people do (the API lists the keys); `--json` prints the API's answer.
async fn print_responders(client: &Client, list: &Value, out: Output) -> anyhow::Result<()> {
    if out.json {
        out.table(list, RESPONDERS);
        return Ok(());
    }
    let roles = client.get(&["incident-roles"]).await?;
    let name = |key: &Value| {
        items(&roles)
            .iter()
            .find(|r| r["key"] == *key)
            .map_or_else(|| key.clone(), |r| r["name"].clone())
    };
    let mut named = list.clone();
    for r in named["items"].as_array_mut().into_iter().flatten() {
        let names: Vec<Value> = r["roles"]
            .as_array()
            .into_iter()
            .flatten()
            .map(name)
            .collect();
        r["roles"] = Value::Array(names);
    }
    print_table(items(&named), RESPONDERS);
    Ok(())
}

pub async fn roles(client: &Client, cmd: RoleCmd, out: Output) -> anyhow::Result<()> {
    match cmd {
        RoleCmd::List => {
            let list = client.get(&["incident-roles"]).await?;
            out.table(&list, ROLES);
        }
        RoleCmd::Set {
            key,
            file,
            name,
            instructions,
            single,
        } => {
            let spec = match file {
                Some(path) => read_role(client, &path).await?,
                None => {
                    let list = client.get(&["incident-roles"]).await?;
                    let current = items(&list).iter().find(|r| r["key"] == key.as_str());
                    let mut spec = match current {
                        Some(r) => json!({
                            "name": r["name"],
                            "instructions": r["instructions"],
                            "single": r["single"],
                            "defaults": r["defaults"],
                        }),
                        None => json!({}),
                    };
                    if let Some(v) = name {
                        spec["name"] = v.into();
                    }
                    if let Some(v) = instructions {
                        spec["instructions"] = v.into();
                    }
                    if let Some(v) = single {
                        spec["single"] = v.into();
                    }
                    if spec.get("name").is_none() {
                        anyhow::bail!("a new role needs --name (or --file)");
                    }
                    spec
                }
            };
            let v = client.put(&["incident-roles", &key], &spec).await?;
            out.done(
                &v,
                format!("role {} is {}", text(&v["key"]), text(&v["name"])),
            );
        }
        RoleCmd::Delete { key } => {
            let v = client.delete(&["incident-roles", &key]).await?;
            out.done(&v, format!("role {key} removed"));
        }
    }
    Ok(())
}

pub async fn incidents(client: &Client, cmd: IncidentRoleCmd, out: Output) -> anyhow::Result<()> {
    let someone = |user: Option<String>| match user {
        Some(u) => json!({ "user": u }),
        None => json!({}),
    };
    match cmd {
        IncidentRoleCmd::Roles(r) => {
            let v = client.get(&["incidents", &r.incident, "roles"]).await?;
            out.table(&v, ASSIGNMENTS);
        }
        IncidentRoleCmd::Assign { target, role, user } => {
            let v = client
                .post(
                    &["incidents", &target.incident, "roles", &role],
                    &json!({ "user": user }),
                )
                .await?;
            out.table(&v, ASSIGNMENTS);
        }
        IncidentRoleCmd::Release { target, role, user } => {
            let v = client
                .post(
                    &["incidents", &target.incident, "roles", &role, "release"],
                    &someone(user),
                )
                .await?;
            out.table(&v, ASSIGNMENTS);
        }
        IncidentRoleCmd::Responders(r) => {
            let v = client
                .get(&["incidents", &r.incident, "responders"])
                .await?;
            print_responders(client, &v, out).await?;
        }
        IncidentRoleCmd::Join { target, user } => {
            let v = client
                .post(
                    &["incidents", &target.incident, "responders", "join"],
                    &someone(user),
                )
                .await?;
            print_responders(client, &v, out).await?;
        }
        IncidentRoleCmd::Leave { target, user } => {
            let v = client
                .post(
                    &["incidents", &target.incident, "responders", "leave"],
                    &someone(user),
                )
                .await?;
            print_responders(client, &v, out).await?;
        }
    }
    Ok(())
}

/// Reads a role document, putting IDs where it names services by name and targets as people do, since the API
/// takes IDs only.
async fn read_role(client: &Client, path: &Path) -> anyhow::Result<Value> {
    let mut spec: Value = read_document(
        path,
        "a role has a name, and may have instructions, single and defaults",
    )?;
    let defaults = spec
        .get_mut("defaults")
        .and_then(Value::as_array_mut)
        .map(|d| d.iter_mut())
        .into_iter()
        .flatten();
    for (i, default) in defaults.enumerate() {
        let at = || format!("{}: defaults[{i}]", path.display());
        if let Some(target) = default.get_mut("target")
            && let Some((kind, reference)) = super::paging::target_reference(target)
        {
            let id = super::paging::resolve(client, kind, &reference)
                .await
                .with_context(at)?;
            *target = json!({ "type": kind, "id": id });
        }
        if let Some(services) = default.get_mut("services").and_then(Value::as_array_mut) {
            for s in services.iter_mut() {
                if let Some(name) = s.as_str().filter(|n| !n.starts_with("svc_")) {
                    let found = client.get(&["services", name]).await.with_context(at)?;
                    *s = found["id"].clone();
                }
            }
        }
    }
    Ok(spec)
}
