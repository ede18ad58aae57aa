//! Settings: built-in defaults, then an optional TOML file, then environment
//! variables `KONTAKT__SECTION__KEY` (for example `KONTAKT__HTTP__LISTEN`),
//! then command-line flags. The JWT key comes from `KONTAKT_JWT_SECRET` or a
//! key file; there is no default key outside demo mode.

use std::path::{Path, PathBuf};

use config::{Config, Environment, File, FileFormat};
use serde::Deserialize;

const DEFAULTS: &str = r#"
data_dir = "data"
# sled's page cache: reads outside it go to disk; size it to the working set
# (the open requests of a city fit; 1 M stored requests do not need to).
cache_mb = 128

[store]
# "sled": the embedded store in data_dir, for one process (make run, small
# cities). "postgres": a database several Kontakt nodes share (url, pool);
# see README "Running several nodes".
engine = "sled"
url = ""
pool = 16
# sled: keep a new store's pages zstd-compressed on disk (also when a format-1
# store is migrated). About a third of the disk, but writes and a start after
# much writing are slower; an existing store keeps what it was made with.
compress_pages = false

[cluster]
# This node's name in job leases and /metrics (empty: host name and process id).
node = ""
# A job's lease lasts this long unless its holder renews it (every run does):
# after a node dies, another takes its jobs over within this time.
lease_secs = 60

[http]
listen = "127.0.0.1:8080"
body_limit_bytes = 65536

[phone]
# A number typed without its country code is read in this country; a local
# number without the city code, in this city (the demo city: +7 856).
country_code = "7"
city_code = "856"

[telephony]
# The PBX's shared secret for POST /telephony/incoming (32 bytes or more;
# unset: the endpoint is off).

[testing]
# Lets POST /testing/clock (ADMIN) move this server's clock forward: for
# end-to-end tests of night callbacks, storms and retention. Never in production.
movable_clock = false

[ws]
# A socket that has not sent connection_init by then is closed (4408).
init_timeout_secs = 10
# Operations at once on one socket, and sockets at once per token.
max_subscriptions = 100
max_sockets_per_token = 20

[public]
# Per client address, over /public/* and /open311/*: a token bucket.
rate_per_minute = 120
burst = 30

[map]
city = "Горловка"
# The middle of the demo city's buildings.
center = [48.2995, 38.0495]
zoom = 13
# The city's extent [south, west, north, east]: feed alerts drawn wholly
# outside it are about another place and are ignored with a log line.
bounds = [48.20, 37.85, 48.42, 38.25]
# Empty: the map shows its pins on a blank background.
tile_url = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
tile_attribution = "© OpenStreetMap contributors"

[ui]
# Relative to the working directory; `make ui` builds it.
dir = "ui-client/dist"

[graphql]
max_depth = 12
max_complexity = 1000
max_first = 100
max_aliases = 30
introspection = false
# Index entries or records one count (totalCount) reads at most.
count_budget = 20000

[auth]
issuer = "kontakt"
audience = "kontakt-api"
leeway_seconds = 5
default_ttl_hours = 12

[jobs]
# Six-field cron expressions, seconds first.
sla_sweep = "*/30 * * * * *"
feeds = "0 */2 * * * *"
sweep_batch = 64
callbacks = "*/5 * * * * *"
# In city time (Europe/Moscow, UTC+3): yesterday's report at 08:00.
daily_report = "0 0 8 * * *"
# A bounded pass of the personal-data retention rule.
retention = "0 */10 * * * *"
# Delivering notices (dispatch, reassignment, reopening, warnings, overdue,
# escalations) to the organizations' webhooks and mailboxes.
notify = "*/10 * * * * *"

[retention]
# Applicants' names and phones are erased this many days after their request
# ended (closed, cancelled, or resolved and never closed): three years.
days = 1095

[callbacks]
# City time; every call waits for these hours, automatic or by an operator.
calling_hours = "09:00-21:00"
language = "ru"
max_attempts = 3
backoff_secs = 60
outcome_timeout_secs = 3600
dial_lease_secs = 120


[sla]
warning_pct = 75
overdue_pct = 100
escalated_pct = 200
"#;

/// Everything the server reads at start.
#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    /// Where the embedded store lives.
    pub data_dir: PathBuf,
    /// The store's page cache, in MiB.
    pub cache_mb: u64,
    /// Which store engine.
    pub store: StoreSettings,
    /// Several nodes over one database.
    pub cluster: Cluster,
    /// HTTP settings.
    pub http: Http,
    /// Websocket limits.
    pub ws: Ws,
    /// Switches for end-to-end tests.
    pub testing: Testing,
    /// How long personal data is kept.
    pub retention: Retention,
    /// How phones are read.
    pub phone: PhoneSettings,
    /// The PBX.
    #[serde(default)]
    pub telephony: Telephony,
    /// GraphQL limits.
    pub graphql: Graphql,
    /// Token settings.
    pub auth: AuthSettings,
    /// The escalation ladder.
    pub sla: Sla,
    /// Time-driven jobs.
    pub jobs: Jobs,
    /// Notices to organizations and the administration.
    #[serde(default)]
    pub notify: Notify,
    /// Emergency feeds to pull.
    #[serde(default)]
    pub feeds: Vec<FeedSource>,
    /// Calling applicants back.
    pub callbacks: Callbacks,
    /// The unauthenticated surface: public map and Open311.
    pub public: Public,
    /// What the public map shows first.
    pub map: Map,
    /// The web client.
    pub ui: Ui,
}

/// Limits of the unauthenticated endpoints.
#[derive(Debug, Clone, Deserialize)]
pub struct Public {
    /// Requests per minute one client address may make, on average.
    pub rate_per_minute: u32,
    /// Requests one client address may make at once before the rate applies.
    pub burst: u32,
}

/// The public map's starting view, served at `/public/config.json`.
#[derive(Debug, Clone, Deserialize)]
pub struct Map {
    /// The city's name.
    pub city: String,
    /// `[lat, lon]` of the first view.
    pub center: [f64; 2],
    /// The first zoom level.
    pub zoom: u8,
    /// A `{z}/{x}/{y}` tile URL template; empty for no background.
    pub tile_url: String,
    /// The tiles' attribution.
    pub tile_attribution: String,
    /// The city's extent, `[south, west, north, east]`: emergency alerts
    /// drawn wholly outside it are ignored (unset: none are).
    #[serde(default)]
    pub bounds: Option<[f64; 4]>,
}

/// Where the built web client is.
#[derive(Debug, Clone, Deserialize)]
pub struct Ui {
    /// The folder served at `/` (`index.html` inside).
    pub dir: PathBuf,
}

/// Callback settings.
#[derive(Debug, Clone, Deserialize)]
pub struct Callbacks {
    /// `ru` or `en`: the language of the spoken message.
    pub language: String,
    /// Most attempts per callback.
    pub max_attempts: u32,
    /// First retry delay; each further one doubles.
    pub backoff_secs: i64,
    /// How long a call may wait for its outcome before it counts as unanswered.
    pub outcome_timeout_secs: i64,
    /// How long an attempt may stay unrecorded before it is re-sent (same key).
    pub dial_lease_secs: i64,
    /// How calls are placed; none outside the demo: every callback then
    /// waits in the operators' worklist (`callbackWorklist`).
    #[serde(default)]
    pub dialer: Option<crate::dialer::DialerSettings>,
    /// When applicants may be called, in city time (`09:00-21:00`).
    pub calling_hours: String,
    /// HMAC key of `POST /callbacks/outcome` (the endpoint is off without one).
    #[serde(default)]
    pub outcome_secret: Option<String>,
}

impl Callbacks {
    /// The calling hours (checked at start by `Settings::check`; any time if malformed).
    pub fn hours(&self) -> kontakt_workflow::callbacks::CallingHours {
        kontakt_workflow::callbacks::CallingHours::parse(&self.calling_hours).unwrap_or_default()
    }

    /// The domain's retry policy.
    pub fn policy(&self) -> kontakt_workflow::callbacks::CallbackPolicy {
        kontakt_workflow::callbacks::CallbackPolicy {
            max_attempts: self.max_attempts.max(1),
            backoff_secs: self.backoff_secs.max(1),
            outcome_timeout_secs: self.outcome_timeout_secs.max(1),
            dial_lease_secs: self.dial_lease_secs.max(1),
        }
    }
}

/// Schedules of the time-driven jobs.
#[derive(Debug, Clone, Deserialize)]
pub struct Jobs {
    /// The SLA sweep (warnings, overdue, escalations) and incident expiry.
    pub sla_sweep: String,
    /// Pulling the emergency feeds.
    pub feeds: String,
    /// Requests per atomic write in the sweep; a storm is worked off in such batches.
    pub sweep_batch: usize,
    /// Delivering due callbacks.
    pub callbacks: String,
    /// Making yesterday's daily report, in city time.
    pub daily_report: String,
    /// A pass of the personal-data retention rule.
    pub retention: String,
    /// Delivering the notices to organizations and the administration.
    #[serde(default = "default_notify_cron")]
    pub notify: String,
}

fn default_notify_cron() -> String {
    "*/10 * * * * *".into()
}

/// Telling organizations and the administration by webhook and e-mail.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Notify {
    /// The SMTP relay for e-mail (unset: no e-mail is sent; notices for
    /// recipients with addresses keep failing visibly).
    #[serde(default)]
    pub smtp: Option<crate::notify::SmtpSettings>,
    /// The administration's addresses: escalations, overdue emergencies and
    /// the morning report. Also settable with `setDelivery(recipient: "administration")`.
    #[serde(default)]
    pub admin_emails: Vec<String>,
}

/// One emergency feed.
#[derive(Debug, Clone, Deserialize)]
pub struct FeedSource {
    /// Its name: the `source` of the incidents it reports.
    pub name: String,
    /// An `http://` or `https://` URL, or a local folder of files.
    pub location: String,
    /// `cap` (one CAP 1.2 alert per document) or `json`.
    pub format: FeedFormat,
    /// Largest document accepted.
    #[serde(default = "default_feed_bytes")]
    pub max_bytes: usize,
    /// How long a fetch may take.
    #[serde(default = "default_feed_timeout")]
    pub timeout_secs: u64,
}

/// A feed's format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeedFormat {
    /// OASIS CAP 1.2 XML.
    Cap,
    /// Kontakt's JSON incident format.
    Json,
}

fn default_feed_bytes() -> usize {
    2 << 20
}

fn default_feed_timeout() -> u64 {
    10
}

/// HTTP settings.
#[derive(Debug, Clone, Deserialize)]
pub struct Http {
    /// Address to listen on.
    pub listen: String,
    /// Largest request body accepted.
    pub body_limit_bytes: usize,
    /// When set, `/metrics` asks for `Authorization: Bearer <this>`, as Prometheus scrapers send it.
    #[serde(default)]
    pub metrics_token: Option<String>,
}

/// The PBX's access.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Telephony {
    /// The shared secret the PBX sends as a bearer token.
    #[serde(default)]
    pub secret: Option<String>,
}

/// How phones typed without their country or city code are read.
#[derive(Debug, Clone, Deserialize)]
pub struct PhoneSettings {
    /// The country code.
    pub country_code: String,
    /// The city's code (empty: local numbers are refused).
    pub city_code: String,
}

impl PhoneSettings {
    /// The numbering plan the domain reads phones in.
    pub fn plan(&self) -> kontakt_workflow::model::NumberingPlan {
        kontakt_workflow::model::NumberingPlan {
            country: self.country_code.trim().to_string(),
            city: Some(self.city_code.trim().to_string()).filter(|c| !c.is_empty()),
        }
    }
}

/// How long applicants' personal data is kept.
#[derive(Debug, Clone, Deserialize)]
pub struct Retention {
    /// Days after a request ended.
    pub days: u32,
}

/// The store engine.
#[derive(Debug, Clone, Deserialize)]
pub struct StoreSettings {
    /// `sled` or `postgres`.
    pub engine: String,
    /// The PostgreSQL URL (`postgres://user:password@host:port/database`).
    pub url: String,
    /// PostgreSQL connections this node keeps.
    pub pool: usize,
    /// sled: a new (or migrated) store keeps its pages compressed on disk.
    pub compress_pages: bool,
}

/// Several nodes over one database.
#[derive(Debug, Clone, Deserialize)]
pub struct Cluster {
    /// This node's name (empty: host name and process id).
    pub node: String,
    /// Seconds a job's lease lasts without renewal.
    pub lease_secs: u64,
}

impl Settings {
    /// The engine these settings name, with `data` as the sled directory.
    pub fn engine(&self, data: &Path) -> Result<kontakt_storage::EngineConfig, String> {
        match self.store.engine.as_str() {
            "sled" => Ok(kontakt_storage::EngineConfig::Sled {
                dir: data.to_path_buf(),
                cache_bytes: self.cache_mb << 20,
                compress_pages: self.store.compress_pages,
            }),
            "postgres" if self.store.url.is_empty() => {
                Err("store.engine is \"postgres\" but store.url is empty (KONTAKT__STORE__URL)".into())
            }
            "postgres" => Ok(kontakt_storage::EngineConfig::Postgres {
                url: self.store.url.clone(),
                pool: self.store.pool.max(2),
            }),
            other => Err(format!("store.engine must be \"sled\" or \"postgres\", not {other:?}")),
        }
    }

    /// This node's name.
    pub fn node(&self) -> String {
        if !self.cluster.node.is_empty() {
            return self.cluster.node.clone();
        }
        let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
        let host = host.trim();
        format!("{}-{}", if host.is_empty() { "kontakt" } else { host }, std::process::id())
    }
}

/// Switches for end-to-end tests, all off by default.
#[derive(Debug, Clone, Deserialize)]
pub struct Testing {
    /// `POST /testing/clock` moves the server's clock forward.
    pub movable_clock: bool,
}

/// Limits of GraphQL over websockets.
#[derive(Debug, Clone, Deserialize)]
pub struct Ws {
    /// Seconds a new socket has to send `connection_init`.
    pub init_timeout_secs: u64,
    /// Operations running at once on one socket.
    pub max_subscriptions: usize,
    /// Sockets open at once with one token.
    pub max_sockets_per_token: usize,
}

/// Limits that keep one query from exhausting the server.
#[derive(Debug, Clone, Deserialize)]
pub struct Graphql {
    /// Deepest selection nesting.
    pub max_depth: usize,
    /// Highest complexity score.
    pub max_complexity: usize,
    /// Largest page size.
    pub max_first: i32,
    /// Most aliases in one document.
    pub max_aliases: usize,
    /// Index entries or records one count reads at most; past it the count is a lower bound.
    pub count_budget: usize,
    /// Introspection, GraphiQL and field suggestions (always on in demo mode).
    pub introspection: bool,
}

/// Token settings.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthSettings {
    /// `iss` of issued tokens, required of presented ones.
    pub issuer: String,
    /// `aud` of issued tokens, required of presented ones.
    pub audience: String,
    /// Clock skew tolerated on `exp` and `nbf`.
    pub leeway_seconds: u64,
    /// Lifetime of tokens issued without an explicit one.
    pub default_ttl_hours: i64,
    /// A file holding the HS256 key (used when `KONTAKT_JWT_SECRET` is unset).
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
}

/// The escalation ladder, in percent of the deadline window.
#[derive(Debug, Clone, Deserialize)]
pub struct Sla {
    /// WARNING.
    pub warning_pct: u32,
    /// OVERDUE.
    pub overdue_pct: u32,
    /// ESCALATED to the city administration.
    pub escalated_pct: u32,
}

impl Settings {
    /// Loads defaults, then `file` (or `kontakt.toml` when present), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Self, config::ConfigError> {
        let mut builder = Config::builder().add_source(File::from_str(DEFAULTS, FileFormat::Toml));
        builder = match file {
            Some(path) => {
                builder.add_source(File::from(path.to_path_buf()).format(FileFormat::Toml).required(true))
            }
            None => builder.add_source(File::with_name("kontakt").format(FileFormat::Toml).required(false)),
        };
        builder.add_source(Environment::with_prefix("KONTAKT").separator("__")).build()?.try_deserialize()
    }

    /// Refuses settings that would run insecurely: an HMAC secret shorter than
    /// its 256-bit output can be brute-forced from one signed body.
    pub fn check(&self) -> Result<(), String> {
        if self.callbacks.outcome_secret.as_ref().is_some_and(|s| s.len() < 32) {
            return Err("callbacks.outcome_secret must be at least 32 bytes".into());
        }
        kontakt_workflow::callbacks::CallingHours::parse(&self.callbacks.calling_hours)
            .map_err(|e| format!("callbacks.calling_hours: {e}"))?;
        if self.telephony.secret.as_ref().is_some_and(|s| !s.is_empty() && s.len() < 32) {
            return Err("telephony.secret must be at least 32 bytes".into());
        }
        Ok(())
    }

    /// The JWT key: `KONTAKT_JWT_SECRET`, else the key file; `None` when neither is set.
    pub fn jwt_secret(&self) -> Result<Option<Vec<u8>>, String> {
        if let Ok(s) = std::env::var("KONTAKT_JWT_SECRET")
            && !s.is_empty()
        {
            return check_key(s.into_bytes());
        }
        let file =
            std::env::var_os("KONTAKT_JWT_SECRET_FILE").map(PathBuf::from).or(self.auth.secret_file.clone());
        match file {
            Some(path) => {
                let bytes = std::fs::read(&path)
                    .map_err(|e| format!("cannot read key file {}: {e}", path.display()))?;
                let trimmed = String::from_utf8_lossy(&bytes).trim().as_bytes().to_vec();
                check_key(trimmed)
            }
            None => Ok(None),
        }
    }
}

fn check_key(key: Vec<u8>) -> Result<Option<Vec<u8>>, String> {
    // HS256 with a key shorter than its 256-bit output is brute-forceable.
    if key.len() < 32 {
        return Err("the JWT key must be at least 32 bytes".into());
    }
    Ok(Some(key))
}
