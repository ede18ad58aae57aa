//! The local administration socket: how `kontakt token`, `import`, `backup`
//! and `check` reach a store that a running server holds.
//!
//! sled locks its directory for one process and has no read-only mode, so
//! while `kontakt serve` runs, the command line cannot open the store; it asks
//! the server instead, over a Unix socket in the data directory
//! (`admin.sock`, mode 0600: whoever may read the store's files may
//! administer it, nobody else). When no server answers there, the command
//! line opens the store itself — and only a store that exists: it never
//! creates one.
//!
//! The protocol is one JSON request line, answered by any number of
//! `{"progress": {"done", "total"}}` lines and one final `{"ok": …}` or
//! `{"error": "…"}` line.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use kontakt_storage::Engine;
use kontakt_workflow::model::{Actor, Role};
use kontakt_workflow::{DomainError, Kontakt, check, reference};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

use crate::auth::Auth;
use crate::bus::Bus;

/// The socket's file name inside the data directory.
pub const SOCKET: &str = "admin.sock";
/// The longest request line (an address registry of a large city fits).
const MAX_REQUEST: usize = 256 << 20;

/// Reference data kinds an import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
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

/// One administration request.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    /// Issue a token.
    TokenIssue {
        /// Its role.
        role: Role,
        /// A contractor's organization.
        org: Option<String>,
        /// Lifetime in seconds.
        ttl_secs: i64,
        /// The holder.
        subject: String,
        /// An operator's telephone extension.
        #[serde(default)]
        extension: Option<String>,
    },
    /// Revoke a token.
    TokenRevoke {
        /// Its id.
        jti: String,
    },
    /// Import reference data.
    Import {
        /// What the CSV holds.
        kind: ImportKind,
        /// The CSV text.
        csv: String,
    },
    /// Copy the store into an empty directory.
    Backup {
        /// An absolute path.
        dest: PathBuf,
    },
    /// Check the store.
    Check,
}

/// Who acts through the command line, as the tokens' records and events name it.
pub fn cli_actor() -> Actor {
    Actor { subject: "kontakt-cli".into(), role: None, organization: None }
}

/// What an administration request works on.
#[derive(Clone)]
pub struct Target {
    /// The domain service.
    pub kontakt: Kontakt,
    /// The store (for backups).
    pub store: Engine,
    /// Token issuing, when a key is known.
    pub auth: Option<Auth>,
    /// Where reference changes are announced (a server's hints and boards).
    pub bus: Option<Bus>,
}

impl Target {
    /// Carries out one request; `progress(done, total)` hears how far an import got.
    pub fn run(&self, request: Request, progress: &mut dyn FnMut(usize, usize)) -> Result<Value, String> {
        let text = |e: DomainError| e.to_string();
        let answer = match request {
            Request::TokenIssue { role, org, ttl_secs, subject, extension } => {
                let auth =
                    self.auth.as_ref().ok_or("no JWT key: set KONTAKT_JWT_SECRET or auth.secret_file")?;
                let ttl = chrono::Duration::try_seconds(ttl_secs).ok_or("the lifetime is out of range")?;
                let (token, claims) = auth
                    .issue_with(
                        &subject,
                        role,
                        org.as_deref(),
                        extension.as_deref(),
                        ttl,
                        self.kontakt.now(),
                        &cli_actor(),
                    )
                    .map_err(text)?;
                json!({ "token": token, "jti": claims.jti, "expiresAt": claims.exp })
            }
            Request::TokenRevoke { jti } => {
                let fresh = match &self.auth {
                    Some(auth) => auth.revoke(&jti, &cli_actor()),
                    None => self.kontakt.revoke(&jti, &cli_actor()),
                }
                .map_err(text)?;
                json!({ "revoked": fresh })
            }
            Request::Import { kind, csv } => {
                let n = import(&self.kontakt, kind, &csv, &cli_actor(), progress).map_err(text)?;
                if let Some(bus) = &self.bus {
                    bus.touch();
                }
                json!({ "rows": n })
            }
            Request::Backup { dest } => {
                let n = self.store.backup(&dest).map_err(|e| e.to_string())?;
                json!({ "entries": n })
            }
            Request::Check => {
                let report = check::check(&self.kontakt).map_err(text)?;
                json!({ "report": report.to_string(), "problems": report.problems.len() })
            }
        };
        Ok(answer)
    }
}

/// Parses the whole file first (a bad row loads nothing), then writes it in
/// chunks, telling `progress` after each.
pub fn import(
    kontakt: &Kontakt,
    kind: ImportKind,
    text: &str,
    actor: &Actor,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<usize, DomainError> {
    match kind {
        ImportKind::Addresses => {
            let rows = reference::parse_addresses(text)?;
            let total = rows.len();
            kontakt.put_addresses(&rows, actor, &mut |done| progress(done, total))?;
            Ok(total)
        }
        ImportKind::Organizations => {
            each(&reference::parse_organizations(text)?, |o| kontakt.put_organization(o, actor), progress)
        }
        ImportKind::Categories => {
            each(&reference::parse_categories(text)?, |c| kontakt.put_category(c, actor), progress)
        }
        ImportKind::Routing => each(&reference::parse_rules(text)?, |r| kontakt.put_rule(r, actor), progress),
    }
}

/// Writes `rows` one at a time, telling `progress` after each.
fn each<T>(
    rows: &[T],
    put: impl Fn(&T) -> Result<(), DomainError>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<usize, DomainError> {
    for (i, row) in rows.iter().enumerate() {
        put(row)?;
        progress(i + 1, rows.len());
    }
    Ok(rows.len())
}

/// Opens the socket at `path`, readable and writable by its owner only.
pub fn bind(path: &Path) -> std::io::Result<tokio::net::UnixListener> {
    // A socket file left by a server that was killed answers nobody: replace it.
    if path.exists() && std::os::unix::net::UnixStream::connect(path).is_err() {
        std::fs::remove_file(path)?;
    }
    let listener = tokio::net::UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
    Ok(listener)
}

/// Serves the socket until `shutdown`; its file is removed at the end.
pub async fn serve(
    listener: tokio::net::UnixListener,
    path: PathBuf,
    target: Target,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let target = target.clone();
                tokio::spawn(async move {
                    if let Err(e) = answer(stream, target).await {
                        tracing::warn!(error = %e, "administration socket");
                    }
                });
            }
            _ = shutdown.changed() => break,
        }
    }
    let _ = std::fs::remove_file(&path);
}

async fn answer(stream: tokio::net::UnixStream, target: Target) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = tokio::io::BufReader::new(read).take(MAX_REQUEST as u64);
    reader.read_line(&mut line).await?;
    let request: Request = match serde_json::from_str(&line) {
        Ok(r) => r,
        Err(e) => {
            let refusal = json!({ "error": format!("not an administration request: {e}") });
            return write.write_all(format!("{refusal}\n").as_bytes()).await;
        }
    };
    // The work is store work: off the async workers, with progress sent as it goes.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let work = tokio::task::spawn_blocking(move || {
        let progress_tx = tx.clone();
        let mut progress = move |done: usize, total: usize| {
            drop(progress_tx.send(json!({ "progress": { "done": done, "total": total } })))
        };
        let last = match target.run(request, &mut progress) {
            Ok(v) => json!({ "ok": v }),
            Err(e) => json!({ "error": e }),
        };
        let _ = tx.send(last);
    });
    while let Some(msg) = rx.recv().await {
        write.write_all(format!("{msg}\n").as_bytes()).await?;
    }
    let _ = work.await;
    Ok(())
}

/// Sends `request` to the server listening in `data_dir`, if one is:
/// `None` when none answers there.
pub fn call(
    data_dir: &Path,
    request: &Request,
    progress: &mut dyn FnMut(usize, usize),
) -> Option<Result<Value, String>> {
    let mut stream = std::os::unix::net::UnixStream::connect(data_dir.join(SOCKET)).ok()?;
    let mut talk = || -> Result<Value, String> {
        let line = serde_json::to_string(request).map_err(|e| e.to_string())?;
        stream.write_all(format!("{line}\n").as_bytes()).map_err(|e| e.to_string())?;
        for line in BufReader::new(&stream).lines() {
            let msg: Value =
                serde_json::from_str(&line.map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
            if let Some(p) = msg.get("progress") {
                let n = |k: &str| p.get(k).and_then(Value::as_u64).unwrap_or(0) as usize;
                progress(n("done"), n("total"));
            } else if let Some(ok) = msg.get("ok") {
                return Ok(ok.clone());
            } else {
                return Err(msg.get("error").and_then(Value::as_str).unwrap_or("no answer").to_string());
            }
        }
        Err("the server closed the administration socket without an answer".into())
    };
    Some(talk())
}

/// Refuses a directory that holds no store: the command line never creates one.
pub fn holds_store(dir: &Path) -> Result<(), String> {
    if dir.exists() && !dir.is_dir() {
        return Err(format!("{} is not a directory", dir.display()));
    }
    if dir.join("conf").exists() && dir.join("db").exists() {
        return Ok(());
    }
    Err(format!(
        "{} holds no Kontakt store and no server answers there: start `kontakt serve` (it creates the store), \
         or name the store with --data",
        dir.display()
    ))
}
