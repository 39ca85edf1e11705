//! The command-line client. It talks to a server over the same HTTP API users have.

use clap::{Args, Subcommand};

/// Where the server is and how to authenticate.
#[derive(Args, Debug, Clone)]
pub struct Connection {
    /// Server URL.
    #[arg(long, global = true, env = "TOCSIN_SERVER")]
    pub server: Option<String>,
    /// API token.
    #[arg(long, global = true, env = "TOCSIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum Commands {}

pub async fn run(_conn: Connection, cmd: Commands) -> anyhow::Result<()> {
    match cmd {}
}
