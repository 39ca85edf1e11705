use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::sync::Arc;
use tocsin::config::{Config, LogFormat, Overrides};
use tocsin_domain::clock::SystemClock;

/// Tocsin: self-hosted incident response.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    #[command(flatten)]
    connection: tocsin::cli::Connection,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (embedded SQLite in --data-dir, listening on 127.0.0.1:8080 by default).
    Serve {
        /// TOML configuration file.
        #[arg(long, short = 'c')]
        config: Option<PathBuf>,
        /// Address to listen on, e.g. 127.0.0.1:8080.
        #[arg(long)]
        listen: Option<std::net::SocketAddr>,
        /// Directory for the database; created if missing.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// A PostgreSQL database instead of the embedded one: postgres://user:password@host:port/db.
        #[arg(long = "database", value_name = "URL")]
        database_url: Option<String>,
    },
    /// Run pending database migrations and exit (the server also runs them on start).
    Migrate {
        /// TOML configuration file.
        #[arg(long, short = 'c')]
        config: Option<PathBuf>,
        /// Directory of the embedded database.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// A PostgreSQL database: postgres://user:password@host:port/db.
        #[arg(long = "database", value_name = "URL")]
        database_url: Option<String>,
    },
    /// Copy the embedded database to a new file while the server keeps running.
    Backup {
        /// TOML configuration file.
        #[arg(long, short = 'c')]
        config: Option<PathBuf>,
        /// Directory of the embedded database.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// Refused with directions: PostgreSQL is backed up with pg_dump.
        #[arg(long = "database", value_name = "URL")]
        database_url: Option<String>,
        /// The new file to write.
        #[arg(long)]
        to: PathBuf,
    },
    /// Create a new admin API token directly in the database (when every admin token is lost).
    AdminToken {
        /// TOML configuration file.
        #[arg(long, short = 'c')]
        config: Option<PathBuf>,
        /// Directory of the embedded database.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// A PostgreSQL database: postgres://user:password@host:port/db.
        #[arg(long = "database", value_name = "URL")]
        database_url: Option<String>,
        /// What to call the token.
        #[arg(long, default_value = "recovered admin")]
        name: String,
    },
    /// Drive a server with load and print throughput and latency figures.
    Bench(tocsin::bench::BenchArgs),
    /// The benchmark's no-op handler: parses PagerDuty events and stores nothing.
    #[command(hide = true)]
    BenchNoop {
        #[arg(long)]
        listen: std::net::SocketAddr,
    },
    #[command(flatten)]
    Client(tocsin::cli::Commands),
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TOCSIN_LOG")
        .unwrap_or_else(|_| "info,tower_http=warn".into());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve {
            config,
            listen,
            data_dir,
            database_url,
        } => {
            serve(
                config,
                Overrides {
                    listen,
                    data_dir,
                    database_url,
                },
            )
            .await
        }
        Command::Migrate {
            config,
            data_dir,
            database_url,
        } => {
            migrate(
                config,
                Overrides {
                    data_dir,
                    database_url,
                    ..Overrides::default()
                },
            )
            .await
        }
        Command::Backup {
            config,
            data_dir,
            database_url,
            to,
        } => backup(
            config,
            Overrides {
                data_dir,
                database_url,
                ..Overrides::default()
            },
            &to,
        ),
        Command::AdminToken {
            config,
            data_dir,
            database_url,
            name,
        } => {
            admin_token(
                config,
                Overrides {
                    data_dir,
                    database_url,
                    ..Overrides::default()
                },
                &name,
            )
            .await
        }
        Command::Bench(args) => tocsin::bench::run(args).await,
        Command::BenchNoop { listen } => tocsin::bench::serve_noop(listen).await,
        Command::Client(cmd) => {
            tocsin::cli::die_quietly_on_closed_pipe();
            tocsin::cli::run(cli.connection, cmd).await
        }
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // Server messages may quote what a sender wrote.
            let message = format!("{e:#}");
            eprintln!("error: {}", tocsin::cli::terminal_safe(&message));
            std::process::ExitCode::FAILURE
        }
    }
}

async fn serve(file: Option<PathBuf>, overrides: Overrides) -> anyhow::Result<()> {
    let config = Config::load(file.as_deref(), overrides)?;
    init_logging(config.log_format);
    let server = tocsin::server::start(&config, Arc::new(SystemClock)).await?;
    if let Some(token) = &server.generated_token {
        println!(
            "Created the first admin API token. It is shown only this once; keep it safe:\n\n    {token}\n"
        );
        println!("Use it with the CLI:  export TOCSIN_TOKEN={token}");
    }
    if let Some(link) = &server.first_owner_link {
        println!(
            "Create the first owner's account in a browser (the link works once, for 7 days, until the next start):\n\n    {link}\n"
        );
    }
    println!("Tocsin is listening on http://{}", server.addr);
    server.wait_for_signal().await
}

async fn migrate(file: Option<PathBuf>, overrides: Overrides) -> anyhow::Result<()> {
    let config = Config::load(file.as_deref(), overrides)?;
    init_logging(config.log_format);
    let version = tocsin::server::migrate(&config).await?;
    println!("The database is at schema version {version}.");
    Ok(())
}

fn backup(file: Option<PathBuf>, overrides: Overrides, to: &std::path::Path) -> anyhow::Result<()> {
    let config = Config::load(file.as_deref(), overrides)?;
    tocsin::server::backup(&config, to)?;
    println!(
        "Wrote a consistent copy of the database to {}",
        to.display()
    );
    Ok(())
}

async fn admin_token(
    file: Option<PathBuf>,
    overrides: Overrides,
    name: &str,
) -> anyhow::Result<()> {
    let config = Config::load(file.as_deref(), overrides)?;
    init_logging(config.log_format);
    let token = tocsin::server::recover_admin_token(&config, name, &SystemClock).await?;
    println!(
        "Created a new admin API token. It is shown only this once; keep it safe:\n\n    {token}\n"
    );
    Ok(())
}
