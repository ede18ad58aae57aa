//! The `kontakt` command line: one subcommand per job, each parsing its
//! arguments and then doing one thing.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use kontakt_workflow::model::Role;
use kontakt_workflow::{DomainError, Kontakt};

use crate::admin::{self, ImportKind, Request};
use crate::auth::Auth;
use crate::config::Settings;
use crate::graphql::scalars::{IsoDuration, parse_iso};
use crate::server::{self, ServeOptions};

/// Kontakt: the city Contact Center's request system.
#[derive(Debug, Parser)]
#[command(name = "kontakt", version, about)]
pub struct Cli {
    /// A TOML settings file (default: ./kontakt.toml when present).
    #[arg(long, global = true, env = "KONTAKT_CONFIG")]
    pub config: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Cmd,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Run the server with its embedded store.
    Serve {
        /// Load the demo city once, print a token per role, enable GraphiQL.
        #[arg(long)]
        demo: bool,
        /// With --demo: the days of past activity the city starts with (once per store).
        #[arg(long, default_value_t = 0, requires = "demo")]
        demo_days: i64,
        /// The store's directory (default: ./data).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Address to listen on (default: 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<String>,
    },
    /// Print the GraphQL schema (SDL).
    Schema,
    /// Issue or revoke tokens.
    Token {
        /// Issue or revoke.
        #[command(subcommand)]
        action: TokenCmd,
    },
    /// Check the store: every index entry and event against the records.
    Check {
        /// The store's directory.
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Import reference data from CSV (formats: workflow/data/README.md).
    Import {
        /// What the file holds.
        kind: ImportKind,
        /// The CSV file.
        file: PathBuf,
        /// The store's directory.
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Bring the store up to date with this build (the server also does this
    /// at start); with --to, copy a sled store into an empty PostgreSQL database.
    Migrate {
        /// The sled store's directory.
        #[arg(long)]
        data: Option<PathBuf>,
        /// `postgres://user:password@host:port/database` to copy the store into.
        #[arg(long)]
        to: Option<String>,
    },
    /// Write a consistent copy of the store into an empty directory.
    Backup {
        /// Where the copy goes.
        dest: PathBuf,
        /// The store's directory.
        #[arg(long)]
        data: Option<PathBuf>,
    },
}

/// Token subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCmd {
    /// Issue a token.
    Issue {
        /// OPERATOR, CONTRACTOR, SUPERVISOR or ADMIN.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// The organization (contractors only).
        #[arg(long)]
        org: Option<String>,
        /// Lifetime: ISO 8601 (PT12H) or 12h / 7d / 30m.
        #[arg(long, default_value = "12h", value_parser = parse_ttl)]
        ttl: chrono::Duration,
        /// The holder's name.
        #[arg(long)]
        sub: Option<String>,
        /// An operator's telephone extension: incoming calls there open their caller panel.
        #[arg(long)]
        extension: Option<String>,
        /// The store's directory (to check the organization).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// Revoke a token by its id (`jti`).
    Revoke {
        /// The token id.
        jti: String,
        /// The store's directory.
        #[arg(long)]
        data: Option<PathBuf>,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    s.parse().map_err(|e: DomainError| e.to_string())
}

/// Parses `PT12H`, `12h`, `7d`, `30m` or `45s`.
pub fn parse_ttl(s: &str) -> Result<chrono::Duration, String> {
    let s = s.trim();
    if let Some(secs) = parse_iso(s) {
        return Ok(IsoDuration(secs).to_chrono());
    }
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = n.parse().map_err(|_| format!("{s:?} is not a duration like 12h or PT12H"))?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("{s:?} is not a duration like 12h or PT12H")),
    };
    n.checked_mul(unit)
        .and_then(chrono::Duration::try_seconds)
        .ok_or_else(|| format!("{s:?} is longer than any token may live"))
}

/// Runs the command; the error is printed by `main` with exit code 1.
pub async fn run(cli: Cli) -> Result<(), String> {
    let settings = Settings::load(cli.config.as_deref()).map_err(|e| format!("settings: {e}"))?;
    match cli.command {
        Cmd::Serve { demo, demo_days, data, listen } => {
            server::serve(settings, ServeOptions { demo, demo_days, data, listen })
                .await
                .map_err(|e| e.to_string())
        }
        Cmd::Schema => {
            print!("{}", crate::graphql::sdl());
            Ok(())
        }
        Cmd::Token { action: TokenCmd::Issue { role, org, ttl, sub, extension, data } } => {
            let subject = sub.unwrap_or_else(|| format!("{}-cli", role.as_str().to_lowercase()));
            let request = Request::TokenIssue { role, org, ttl_secs: ttl.num_seconds(), subject, extension };
            let issued = administer(&settings, data.as_deref(), request)?;
            let expires = issued["expiresAt"].as_i64().and_then(|t| chrono::DateTime::from_timestamp(t, 0));
            eprintln!(
                "jti {} expires {}",
                issued["jti"].as_str().unwrap_or("?"),
                expires.unwrap_or_default()
            );
            println!("{}", issued["token"].as_str().unwrap_or_default());
            Ok(())
        }
        Cmd::Token { action: TokenCmd::Revoke { jti, data } } => {
            let answer = administer(&settings, data.as_deref(), Request::TokenRevoke { jti })?;
            println!("{}", if answer["revoked"] == true { "revoked" } else { "already revoked" });
            Ok(())
        }
        Cmd::Check { data } => {
            let answer = administer(&settings, data.as_deref(), Request::Check)?;
            print!("{}", answer["report"].as_str().unwrap_or_default());
            match answer["problems"].as_u64() {
                Some(0) => Ok(()),
                n => Err(format!("{} problems found", n.unwrap_or(0))),
            }
        }
        Cmd::Import { kind, file, data } => {
            let csv =
                std::fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let answer = administer(&settings, data.as_deref(), Request::Import { kind, csv })?;
            println!("imported {} rows from {}", answer["rows"], file.display());
            Ok(())
        }
        Cmd::Migrate { data, to } => migrate(&settings, data.as_deref(), to.as_deref()),
        Cmd::Backup { dest, data } => {
            // The server may run elsewhere in the file system's eyes: send it a whole path.
            let dest = std::path::absolute(&dest).map_err(|e| format!("{}: {e}", dest.display()))?;
            let answer = administer(&settings, data.as_deref(), Request::Backup { dest: dest.clone() })?;
            println!("copied {} entries to {}", answer["entries"], dest.display());
            Ok(())
        }
    }
}

/// Brings the configured store up to date, or copies a sled store into PostgreSQL.
fn migrate(settings: &Settings, data: Option<&Path>, to: Option<&str>) -> Result<(), String> {
    let dir = data.unwrap_or(&settings.data_dir);
    let Some(url) = to else {
        if settings.store.engine == "sled" {
            admin::holds_store(dir)?;
        }
        let (_, engine) = open_store(settings, dir)?;
        println!("the store at {} is up to date with this build", engine.location());
        return Ok(());
    };
    admin::holds_store(dir)?;
    // The source is brought up to date first, so the copy is of this build's format.
    let mut sled_settings = settings.clone();
    sled_settings.store.engine = "sled".into();
    let (_, source) = open_store(&sled_settings, dir)?;
    let kontakt_storage::Engine::Sled(source) = source else {
        return Err("the source of a copy is a sled store".into());
    };
    let target = kontakt_storage::PgStore::open(url, 4).map_err(|e| e.to_string())?;
    let bar = ProgressBar::new(0);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} records") {
        bar.set_style(style);
    }
    let copied = target
        .copy_from(&source, &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    let report = kontakt_storage::Store::check(&target).map_err(|e| e.to_string())?;
    print!("{report}");
    if !report.is_clean() {
        return Err(format!("{} problems found in the copy", report.problems.len()));
    }
    println!("copied {copied} records from {} to {}", dir.display(), target.url());
    Ok(())
}

/// Carries out an administration request: through the server that holds the
/// store when one runs, else on the store directly — never on a store this
/// command would have to create.
fn administer(
    settings: &Settings,
    data: Option<&Path>,
    request: Request,
) -> Result<serde_json::Value, String> {
    let dir = data.unwrap_or(&settings.data_dir);
    let mut bar: Option<ProgressBar> = None;
    let shared = settings.store.engine == "postgres";
    let mut progress = |done: usize, total: usize| {
        let pb = bar.get_or_insert_with(|| {
            let pb = ProgressBar::new(total as u64);
            if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len}") {
                pb.set_style(style);
            }
            pb
        });
        pb.set_position(done as u64);
    };
    // A shared database is opened alongside the nodes; only a sled store is
    // held by one process, which the command line asks through its socket.
    if !shared {
        if let Some(answer) = admin::call(dir, &request, &mut progress) {
            return answer;
        }
        admin::holds_store(dir)?;
    }
    let (kontakt, store) = open_store(settings, dir)?;
    let auth = settings.jwt_secret()?.map(|key| Auth::new(&key, settings.auth.clone(), kontakt.clone()));
    admin::Target { kontakt, store, auth, bus: None }.run(request, &mut progress)
}

fn open_store(settings: &Settings, dir: &Path) -> Result<(Kontakt, kontakt_storage::Engine), String> {
    server::open(settings, dir).map_err(|e| {
        let text = e.to_string();
        if text.contains("lock") {
            format!("{text}\n(a server holds this store but its administration socket does not answer)")
        } else {
            text
        }
    })
}
