//! A private PostgreSQL server for tests and benchmarks: `initdb` into a
//! temporary directory and `pg_ctl start` on a free port, from the Debian
//! binaries; stopped and removed when dropped. No outside service is assumed.
//!
//! The server refuses to run as root, so when the test runs as root the
//! directory is given to the `postgres` user and every command runs as it
//! (`runuser -u postgres`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A running private server.
#[derive(Debug)]
pub struct PgServer {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    as_postgres: bool,
}

/// The directory holding `initdb`, `pg_ctl` and `pgbench`: `$PG_BIN`, or the
/// newest `/usr/lib/postgresql/*/bin`.
pub fn bin_dir() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PG_BIN") {
        return Some(PathBuf::from(p));
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    found.sort_by_key(|p| {
        p.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok())
    });
    found.pop()
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl PgServer {
    /// Creates and starts a server; `fsync = false` trades durability across a
    /// machine crash for speed (the data survives the server's own restart).
    pub fn start(fsync: bool) -> std::io::Result<Self> {
        let bin = bin_dir().ok_or_else(|| std::io::Error::other("no PostgreSQL binaries (set PG_BIN)"))?;
        let dir = tempfile::Builder::new().prefix("kontakt-pg").tempdir()?;
        let as_postgres = rustix::process::geteuid().is_root();
        if as_postgres {
            let uid = Command::new("id").args(["-u", "postgres"]).output()?;
            let gid = Command::new("id").args(["-g", "postgres"]).output()?;
            let parse = |o: std::process::Output| -> std::io::Result<u32> {
                String::from_utf8_lossy(&o.stdout)
                    .trim()
                    .parse()
                    .map_err(|_| std::io::Error::other("no postgres user to run the server as"))
            };
            std::os::unix::fs::chown(dir.path(), Some(parse(uid)?), Some(parse(gid)?))?;
        }
        let server = Self { port: free_port()?, dir, bin, as_postgres };
        let data = server.data();
        server.run(
            "initdb",
            &["-D", &data, "-A", "trust", "-U", "kontakt", "-E", "UTF8", "--no-locale", "--no-sync"],
        )?;
        let conf = format!(
            "\nfsync = {}\nmax_connections = 300\nshared_buffers = 128MB\nlisten_addresses = '127.0.0.1'\n\
             unix_socket_directories = '{}'\nport = {}\n",
            if fsync { "on" } else { "off" },
            server.dir.path().display(),
            server.port
        );
        let mut f =
            std::fs::OpenOptions::new().append(true).open(Path::new(&data).join("postgresql.conf"))?;
        std::io::Write::write_all(&mut f, conf.as_bytes())?;
        server.start_again()?;
        Ok(server)
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn run(&self, tool: &str, args: &[&str]) -> std::io::Result<()> {
        self.tool(tool, args).map(drop)
    }

    /// Starts the server (again, after [`stop`](Self::stop)).
    pub fn start_again(&self) -> std::io::Result<()> {
        let log = self.dir.path().join("server.log").display().to_string();
        self.run("pg_ctl", &["-D", &self.data(), "-l", &log, "-w", "-t", "60", "start"])
    }

    /// Stops the server (`fast`: open transactions are rolled back, connections closed).
    pub fn stop(&self) -> std::io::Result<()> {
        self.run("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"])
    }

    /// The server's own directory (readable by the server's user: scripts for its tools go here).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of database `db` on this server.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://kontakt@127.0.0.1:{}/{db}", self.port)
    }

    /// Creates an empty database and returns its URL.
    pub fn create_database(&self, db: &str) -> std::io::Result<String> {
        // Database names cannot be bound as parameters; only plain names are accepted.
        if !db.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_') {
            return Err(std::io::Error::other(format!("not a plain database name: {db}")));
        }
        let (admin, sql) = (self.url("postgres"), format!("CREATE DATABASE {db}"));
        // On a thread of its own: the synchronous client must not run inside an async runtime.
        std::thread::spawn(move || {
            let mut c = postgres::Client::connect(&admin, postgres::NoTls)?;
            c.batch_execute(&sql)
        })
        .join()
        .map_err(|_| std::io::Error::other("creating the database panicked"))?
        .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok(self.url(db))
    }

    /// The server's binaries (for `pgbench`).
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// Runs one of the server's tools as the server's user, returning its output.
    pub fn tool(&self, tool: &str, args: &[&str]) -> std::io::Result<String> {
        let program = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        // The server's user may not be allowed into the caller's directory.
        let out = cmd.args(args).stdin(Stdio::null()).current_dir(self.dir.path()).output()?;
        if !out.status.success() {
            return Err(std::io::Error::other(format!(
                "{tool} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if let Err(e) = self.run("pg_ctl", &["-D", &self.data(), "-m", "immediate", "-w", "stop"]) {
            eprintln!("the private PostgreSQL server did not stop: {e}");
        }
    }
}
