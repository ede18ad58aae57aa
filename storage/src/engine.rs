//! The engine a deployment chose, behind one type: the rest of the system
//! reaches the data through [`Store`] and asks the engine only for what
//! differs between engines (backups, statistics, where the data lives).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::{PgStore, SledStore, Store, StoreError};

/// Which engine, and where.
#[derive(Debug, Clone)]
pub enum EngineConfig {
    /// The embedded store in a directory.
    Sled {
        /// The data directory.
        dir: PathBuf,
        /// The page cache in bytes.
        cache_bytes: u64,
        /// A store made now keeps its pages zstd-compressed on disk.
        compress_pages: bool,
    },
    /// A PostgreSQL database shared by any number of nodes.
    Postgres {
        /// `postgres://user:password@host:port/database`.
        url: String,
        /// Connections this process keeps.
        pool: usize,
    },
}

/// An open store of either engine.
#[derive(Debug, Clone)]
pub enum Engine {
    /// The embedded engine (one process).
    Sled(Arc<SledStore>),
    /// PostgreSQL (any number of processes).
    Postgres(Arc<PgStore>),
}

/// What the engine has done, for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct EngineStats {
    /// Transactions committed.
    pub commits: u64,
    /// Transactions refused for a conflict (or a lost lease).
    pub conflicts: u64,
    /// Group flushes (sled): fewer than commits under load.
    pub flushes: Option<u64>,
    /// Flush time in microseconds and the latency buckets (sled).
    pub flush: Option<(u64, Vec<u64>)>,
    /// Statements that failed because the database could not be reached (PostgreSQL).
    pub unreachable: Option<u64>,
}

impl Engine {
    /// Opens the configured engine.
    pub fn open(config: &EngineConfig) -> Result<Self, StoreError> {
        Ok(match config {
            EngineConfig::Sled { dir, cache_bytes, compress_pages } => {
                Engine::Sled(Arc::new(SledStore::open_with(dir, *cache_bytes, *compress_pages)?))
            }
            EngineConfig::Postgres { url, pool } => Engine::Postgres(Arc::new(PgStore::open(url, *pool)?)),
        })
    }

    /// The store, for the domain.
    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            Engine::Sled(s) => s.clone(),
            Engine::Postgres(s) => s.clone(),
        }
    }

    /// `"sled"` or `"postgres"`.
    pub fn name(&self) -> &'static str {
        match self {
            Engine::Sled(_) => "sled",
            Engine::Postgres(_) => "postgres",
        }
    }

    /// True when other processes may write to the same data at the same time.
    pub fn shared(&self) -> bool {
        matches!(self, Engine::Postgres(_))
    }

    /// Where the data lives: a directory, or the database URL without its password.
    pub fn location(&self) -> String {
        match self {
            Engine::Sled(s) => s.path().display().to_string(),
            Engine::Postgres(s) => s.url(),
        }
    }

    /// A consistent copy into the empty directory `dest` (sled); a PostgreSQL
    /// store is backed up with the database's own tools.
    pub fn backup(&self, dest: &std::path::Path) -> Result<u64, StoreError> {
        match self {
            Engine::Sled(s) => s.backup(dest),
            Engine::Postgres(_) => Err(StoreError::Invalid(
                "a PostgreSQL store is backed up with pg_dump or pg_basebackup, not by kontakt".into(),
            )),
        }
    }

    /// The engine's statistics.
    pub fn stats(&self) -> EngineStats {
        match self {
            Engine::Sled(s) => {
                let st = s.stats();
                EngineStats {
                    commits: st.commits.load(Ordering::Relaxed),
                    conflicts: st.conflicts.load(Ordering::Relaxed),
                    flushes: Some(st.flushes.load(Ordering::Relaxed)),
                    flush: Some((
                        st.flush_micros.load(Ordering::Relaxed),
                        st.flush_buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect(),
                    )),
                    unreachable: None,
                }
            }
            Engine::Postgres(s) => {
                let st = s.stats();
                EngineStats {
                    commits: st.commits.load(Ordering::Relaxed),
                    conflicts: st.conflicts.load(Ordering::Relaxed),
                    flushes: None,
                    flush: None,
                    unreachable: Some(st.unreachable.load(Ordering::Relaxed)),
                }
            }
        }
    }
}

impl From<Arc<SledStore>> for Engine {
    fn from(s: Arc<SledStore>) -> Self {
        Engine::Sled(s)
    }
}

impl From<Arc<PgStore>> for Engine {
    fn from(s: Arc<PgStore>) -> Self {
        Engine::Postgres(s)
    }
}
