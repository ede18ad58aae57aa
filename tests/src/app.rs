//! Starts the real `kontakt` binary on a free port with a fresh data
//! directory, and talks to it the way clients do: GraphQL over HTTP, and
//! graphql-transport-ws over a real websocket.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// The key every test server signs with, so tests can mint their own tokens.
pub const TEST_SECRET: &str = "kontakt-end-to-end-test-key-0123456789abcdef";

/// `cargo build` of the `kontakt` binary from the workspace root.
fn cargo_build(cargo: &str, root: &Path, extra: &[&str]) -> std::process::ExitStatus {
    let mut build = Command::new(cargo);
    build.args(["build", "-q", "-p", "kontakt-api", "--bin", "kontakt"]).args(extra).current_dir(root);
    // `cargo test` hands its package's variables to the test; build scripts that watch
    // them (ring's) would see a change and rebuild the TLS stack on every run.
    for (key, _) in std::env::vars_os() {
        let key = key.to_string_lossy();
        if key == "CARGO_MANIFEST_DIR" || key == "CARGO_MANIFEST_PATH" || key.starts_with("CARGO_PKG_") {
            build.env_remove(key.as_ref());
        }
    }
    build.status().expect("run cargo build")
}

/// The `kontakt` binary, built once per test process.
pub fn kontakt_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        if let Some(bin) = std::env::var_os("KONTAKT_BIN") {
            return PathBuf::from(bin);
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = cargo_build(&cargo, &root, &[]);
        assert!(status.success(), "building the kontakt binary failed");
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
        target.join("debug").join("kontakt")
    })
    .clone()
}

/// The `kontakt` binary built with the release profile, for benchmarks: built
/// once per process into the workspace's `target/release`.
pub fn kontakt_release_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace root").to_path_buf();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = cargo_build(&cargo, &root, &["--release"]);
        assert!(status.success(), "building the release kontakt binary failed");
        let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
        target.join("release").join("kontakt")
    })
    .clone()
}

/// A running server.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Tokens the demo printed: `OPERATOR`, `SUPERVISOR`, `ADMIN`, and one per organization.
    pub tokens: HashMap<String, String>,
    /// The data directory.
    pub data: PathBuf,
    child: Child,
    client: reqwest::Client,
    output: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `kontakt serve --demo` on a free port in `data`.
pub fn spawn_demo(data: &Path) -> TestApp {
    spawn(data, &["--demo"], &[])
}

/// Starts `kontakt serve` with extra arguments and environment.
pub fn spawn(data: &Path, args: &[&str], env: &[(&str, &str)]) -> TestApp {
    spawn_bin(&kontakt_bin(), data, args, env)
}

/// Starts `kontakt serve` from a given binary (e.g. [`kontakt_release_bin`]).
pub fn spawn_bin(bin: &Path, data: &Path, args: &[&str], env: &[(&str, &str)]) -> TestApp {
    let mut cmd = Command::new(bin);
    cmd.args(["serve", "--data"]).arg(data).args(["--listen", "127.0.0.1:0"]).args(args);
    // Tests run at any hour: calls may be placed at any time unless a test says otherwise.
    cmd.env("KONTAKT_JWT_SECRET", TEST_SECRET)
        .env("KONTAKT_LOG", "warn")
        .env("KONTAKT__CALLBACKS__CALLING_HOURS", "00:00-24:00");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start kontakt");
    let stdout = child.stdout.take().expect("stdout");
    let stderr = child.stderr.take().expect("stderr");
    let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let kept = output.clone();
    std::thread::spawn(move || {
        // Keep draining stdout so the server never blocks on a full pipe.
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            keep(&kept, &line);
            let _ = tx.send(line);
        }
    });
    let kept = output.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            keep(&kept, &line);
        }
    });
    let mut tokens = HashMap::new();
    let base = loop {
        let line = rx.recv_timeout(Duration::from_secs(120)).expect("the server printed its address in time");
        if let Some(rest) = line.strip_prefix("KONTAKT_TOKEN ") {
            let field = |name: &str| {
                rest.split(' ')
                    .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                    .unwrap_or_default()
                    .to_string()
            };
            let key = if field("org") == "-" { field("role") } else { field("org") };
            tokens.insert(key, field("token"));
        }
        if let Some(url) = line.strip_prefix("KONTAKT_LISTENING ") {
            break url.to_string();
        }
    };
    TestApp { base, tokens, data: data.to_path_buf(), child, client: reqwest::Client::new(), output }
}

/// Starts one `kontakt serve --demo` from `bin` per directory, at once (the
/// demo city is then loaded by one of them), named `node-1`, `node-2`, …; over
/// the PostgreSQL database `url` when given, with `env` added.
pub fn spawn_nodes(bin: &Path, dirs: &[&Path], url: Option<&str>, env: &[(&str, &str)]) -> Vec<TestApp> {
    let started: Vec<_> = dirs
        .iter()
        .enumerate()
        .map(|(i, dir)| {
            let (bin, dir, url) = (bin.to_path_buf(), dir.to_path_buf(), url.map(str::to_string));
            let env: Vec<(String, String)> =
                env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            std::thread::spawn(move || {
                let node = format!("node-{}", i + 1);
                let mut all: Vec<(&str, &str)> = vec![("KONTAKT__CLUSTER__NODE", &node)];
                if let Some(url) = &url {
                    all.extend([
                        ("KONTAKT__STORE__ENGINE", "postgres"),
                        ("KONTAKT__STORE__URL", url.as_str()),
                    ]);
                }
                all.extend(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
                spawn_bin(&bin, &dir, &["--demo"], &all)
            })
        })
        .collect();
    started.into_iter().map(|t| t.join().expect("a node starts")).collect()
}

/// Keeps the last lines the server wrote, for tests that read its output.
fn keep(lines: &std::sync::Mutex<Vec<String>>, line: &str) {
    let mut lines = lines.lock().unwrap_or_else(|e| e.into_inner());
    if lines.len() >= 20_000 {
        lines.drain(..10_000);
    }
    lines.push(line.to_string());
}

impl TestApp {
    /// What the server has written to stdout and stderr so far (the last 20,000 lines at most).
    pub fn output(&self) -> Vec<String> {
        self.output.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The demo token of a role (`OPERATOR`, …) or an organization.
    pub fn token(&self, who: &str) -> String {
        self.tokens.get(who).unwrap_or_else(|| panic!("no demo token for {who}")).clone()
    }

    /// Moves the server's clock forward by `secs` (`testing.movable_clock`), as ADMIN.
    pub async fn advance_clock(&self, secs: i64) {
        let r = self
            .client
            .post(format!("{}/testing/clock", self.base))
            .bearer_auth(self.token("ADMIN"))
            .json(&json!({ "advanceSecs": secs }))
            .send()
            .await
            .expect("POST /testing/clock");
        assert_eq!(r.status().as_u16(), 200, "the server's clock moves");
    }

    /// Posts a GraphQL operation; returns the HTTP status and the body.
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> (u16, Value) {
        let mut req = self
            .client
            .post(format!("{}/graphql", self.base))
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("POST /graphql");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// Posts a raw body.
    pub async fn post_raw(&self, token: Option<&str>, body: Vec<u8>) -> (u16, Value) {
        let mut req = self
            .client
            .post(format!("{}/graphql", self.base))
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("POST /graphql");
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap_or(Value::Null))
    }

    /// GETs a path; returns status and text.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let resp = self.client.get(format!("{}{path}", self.base)).send().await.expect("GET");
        (resp.status().as_u16(), resp.text().await.unwrap_or_default())
    }

    /// GETs a path with extra headers; returns status, headers and text.
    pub async fn get_with(
        &self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, String) {
        let mut req = self.client.get(format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("GET");
        let (status, headers) = (resp.status().as_u16(), resp.headers().clone());
        (status, headers, resp.text().await.unwrap_or_default())
    }

    /// Posts a form (`application/x-www-form-urlencoded`) to a path; returns status and text.
    pub async fn post_form(&self, path: &str, fields: &[(&str, &str)]) -> (u16, String) {
        let body = serde_urlencoded::to_string(fields).expect("encode the form");
        self.post_body(path, "application/x-www-form-urlencoded", body.into_bytes()).await
    }

    /// Posts a raw body with a content type to a path; returns status and text.
    pub async fn post_body(&self, path: &str, content_type: &str, body: Vec<u8>) -> (u16, String) {
        self.send(reqwest::Method::POST, path, content_type, body).await
    }

    /// Sends any method with a body to a path; returns status and text.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (u16, String) {
        let resp = self
            .client
            .request(method, format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .expect("send");
        (resp.status().as_u16(), resp.text().await.unwrap_or_default())
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The server's resident set size in bytes (`VmRSS` of `/proc/<pid>/status`);
    /// `None` once it has exited or where there is no `/proc`.
    pub fn rss_bytes(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kib: u64 = line.trim_start_matches("VmRSS:").trim().trim_end_matches("kB").trim().parse().ok()?;
        Some(kib * 1024)
    }

    /// Stops the server with SIGKILL: no chance to flush anything.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the server with SIGTERM and waits for it to exit.
    pub fn terminate(&mut self) -> Option<i32> {
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        self.child.wait().ok().and_then(|s| s.code())
    }
}

/// Signs arbitrary claims with `key` and `alg` (HS256 unless said).
pub fn mint(claims: &Value, key: &str) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(key.as_bytes()),
    )
    .expect("sign")
}

/// Valid claims for a role, adjustable before minting.
pub fn claims(role: &str, org: Option<&str>) -> Value {
    let now = chrono::Utc::now().timestamp();
    let mut c = json!({
        "sub": format!("test-{}", role.to_lowercase()), "role": role, "iss": "kontakt", "aud": "kontakt-api",
        "exp": now + 3600, "nbf": now - 10, "iat": now - 10, "jti": ulid::Ulid::generate().to_string(),
    });
    if let Some(o) = org {
        c["org"] = json!(o);
    }
    c
}

/// A token with `alg: none` and no signature.
pub fn unsigned(claims: &Value) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    format!("{}.{}.", b64.encode(br#"{"alg":"none","typ":"JWT"}"#), b64.encode(claims.to_string()))
}

/// A graphql-transport-ws (or legacy graphql-ws) client over a real websocket.
pub struct WsClient {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    /// The subprotocol the server answered.
    pub protocol: String,
}

/// How a websocket session ended before it was acknowledged.
#[derive(Debug, PartialEq, Eq)]
pub enum WsRefused {
    /// Closed with this code.
    Closed(u16),
    /// The legacy protocol's `connection_error`.
    ConnectionError,
}

impl WsClient {
    /// Connects offering `protocols`, sends `connection_init` with `payload`, waits for the ack.
    pub async fn connect(base: &str, protocols: &str, payload: Value) -> Result<WsClient, WsRefused> {
        let url = format!("{}/graphql/ws", base.replacen("http", "ws", 1));
        let mut req = url.into_client_request().expect("ws request");
        req.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_str(protocols).expect("header"));
        let (ws, resp) = tokio_tungstenite::connect_async(req).await.expect("websocket handshake");
        let protocol = resp
            .headers()
            .get("sec-websocket-protocol")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let mut client = WsClient { ws, protocol };
        client.send(json!({ "type": "connection_init", "payload": payload })).await;
        loop {
            match client.next_raw().await {
                Some(Ok(v)) if v["type"] == "connection_ack" => return Ok(client),
                Some(Ok(v)) if v["type"] == "connection_error" => return Err(WsRefused::ConnectionError),
                Some(Ok(_)) => continue,
                Some(Err(code)) => return Err(WsRefused::Closed(code)),
                None => return Err(WsRefused::Closed(1006)),
            }
        }
    }

    /// Sends one protocol message.
    pub async fn send(&mut self, v: Value) {
        self.ws.send(Message::Text(v.to_string().into())).await.expect("ws send");
    }

    /// Starts a subscription.
    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        let kind = if self.protocol == "graphql-ws" { "start" } else { "subscribe" };
        self.send(json!({ "id": id, "type": kind, "payload": { "query": query, "variables": variables } }))
            .await;
    }

    /// The next JSON message, or the close code; `None` when the stream ended.
    pub async fn next_raw(&mut self) -> Option<Result<Value, u16>> {
        loop {
            match self.ws.next().await? {
                Ok(Message::Text(t)) => return Some(Ok(serde_json::from_str(&t).unwrap_or(Value::Null))),
                Ok(Message::Close(frame)) => return Some(Err(frame.map_or(1005, |f| u16::from(f.code)))),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }

    /// The next data payload within `secs`, skipping keep-alives.
    pub async fn next_payload(&mut self, secs: u64) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let msg = tokio::time::timeout_at(deadline, self.next_raw()).await.ok()??;
            match msg {
                Ok(v) if v["type"] == "next" || v["type"] == "data" => return Some(v["payload"].clone()),
                Ok(v) if v["type"] == "error" => return Some(json!({ "errors": v["payload"] })),
                Ok(_) => continue,
                Err(_) => return None,
            }
        }
    }
}
