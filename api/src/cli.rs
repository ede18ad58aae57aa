//! The `kontakt` command line: one subcommand per job, each parsing its
//! arguments and then doing one thing.

use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use kontakt_workflow::model::Role;
use kontakt_workflow::{DomainError, Kontakt, check, reference};

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

/// Reference data kinds `import` reads.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum ImportKind {
    /// id,street,house,district,lat,lon
    Addresses,
    /// id,name_ru,name_en,kind,subordination,district,crews,phone
    Organizations,
    /// code,group,name_ru,name_en,deadline_class,script_ru,script_en
    Categories,
    /// category,district,organization
    Routing,
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
        Cmd::Token { action: TokenCmd::Issue { role, org, ttl, sub, data } } => {
            let key =
                settings.jwt_secret()?.ok_or("no JWT key: set KONTAKT_JWT_SECRET or auth.secret_file")?;
            let (kontakt, _) = open_store(&settings, data.as_deref())?;
            let auth = Auth::new(&key, settings.auth.clone(), kontakt.clone());
            let subject = sub.unwrap_or_else(|| format!("{}-cli", role.as_str().to_lowercase()));
            let (token, claims) = auth
                .issue(&subject, role, org.as_deref(), ttl, kontakt.now(), &cli_actor())
                .map_err(|e| e.to_string())?;
            eprintln!(
                "jti {} expires {}",
                claims.jti,
                chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or_default()
            );
            println!("{token}");
            Ok(())
        }
        Cmd::Token { action: TokenCmd::Revoke { jti, data } } => {
            let (kontakt, _) = open_store(&settings, data.as_deref())?;
            let fresh = kontakt.revoke(&jti, &cli_actor()).map_err(|e| e.to_string())?;
            println!("{}", if fresh { "revoked" } else { "already revoked" });
            Ok(())
        }
        Cmd::Check { data } => {
            let (kontakt, _) = open_store(&settings, data.as_deref())?;
            let report = check::check(&kontakt).map_err(|e| e.to_string())?;
            print!("{report}");
            if report.is_clean() { Ok(()) } else { Err(format!("{} problems found", report.problems.len())) }
        }
        Cmd::Import { kind, file, data } => {
            let text =
                std::fs::read_to_string(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
            let (kontakt, _) = open_store(&settings, data.as_deref())?;
            let n = import(&kontakt, kind, &text).map_err(|e| e.to_string())?;
            println!("imported {n} rows from {}", file.display());
            Ok(())
        }
        Cmd::Backup { dest, data } => {
            let (_, store) = open_store(&settings, data.as_deref())?;
            let n = store.backup(&dest).map_err(|e| e.to_string())?;
            println!("copied {n} entries to {}", dest.display());
            Ok(())
        }
    }
}

fn open_store(
    settings: &Settings,
    data: Option<&Path>,
) -> Result<(Kontakt, std::sync::Arc<kontakt_storage::SledStore>), String> {
    let dir = data.unwrap_or(&settings.data_dir);
    server::open(settings, dir).map_err(|e| {
        let text = e.to_string();
        if text.contains("lock") {
            format!("{text}\n(is `kontakt serve` running on this store? stop it, or use the GraphQL API)")
        } else {
            text
        }
    })
}

/// Parses the whole file first (a bad row loads nothing), then writes with a progress bar.
fn import(kontakt: &Kontakt, kind: ImportKind, text: &str) -> Result<usize, DomainError> {
    let bar = |n: usize| {
        let pb = ProgressBar::new(n as u64);
        if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}") {
            pb.set_style(style);
        }
        pb
    };
    match kind {
        ImportKind::Addresses => {
            let rows = reference::parse_addresses(text)?;
            let pb = bar(rows.len());
            for chunk in rows.chunks(1000) {
                kontakt.put_addresses(chunk)?;
                pb.inc(chunk.len() as u64);
            }
            pb.finish_with_message("addresses");
            Ok(rows.len())
        }
        ImportKind::Organizations => {
            let rows = reference::parse_organizations(text)?;
            let pb = bar(rows.len());
            for o in &rows {
                kontakt.put_organization(o)?;
                pb.inc(1);
            }
            pb.finish_with_message("organizations");
            Ok(rows.len())
        }
        ImportKind::Categories => {
            let rows = reference::parse_categories(text)?;
            let pb = bar(rows.len());
            for c in &rows {
                kontakt.put_category(c)?;
                pb.inc(1);
            }
            pb.finish_with_message("categories");
            Ok(rows.len())
        }
        ImportKind::Routing => {
            let rows = reference::parse_rules(text)?;
            let pb = bar(rows.len());
            for r in &rows {
                kontakt.put_rule(r)?;
                pb.inc(1);
            }
            pb.finish_with_message("routing rules");
            Ok(rows.len())
        }
    }
}

/// The command line acts as the system, named so in the tokens' records.
fn cli_actor() -> kontakt_workflow::model::Actor {
    kontakt_workflow::model::Actor { subject: "kontakt-cli".into(), role: None, organization: None }
}
