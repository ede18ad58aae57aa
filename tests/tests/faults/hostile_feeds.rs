//! Feed servers that misbehave on purpose, written against raw TCP so that
//! they can do what no well-behaved HTTP library would: hang after accepting,
//! reset in the middle of a body, stream without end, announce a terabyte,
//! trickle a byte at a time. And documents built to hurt a parser: an entity
//! bomb and nesting a hundred thousand levels deep.
//!
//! For each, one `feed_tick` must come back within the feed's timeout plus a
//! little, refuse the document with the right reason in the metrics, create
//! no incident, and read no more than the feed's byte limit: memory stays
//! flat while the server offers gigabytes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use kontakt_api::bus::Bus;
use kontakt_api::config::{FeedFormat, FeedSource};
use kontakt_api::jobs::Jobs;
use kontakt_api::metrics::{FeedLabels, Metrics};
use kontakt_storage::SledStore;
use kontakt_tests::small_city;
use kontakt_workflow::incidents::IncidentStatus;
use kontakt_workflow::{Kontakt, SystemClock};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::alone;

/// Every feed's timeout.
const TIMEOUT_SECS: u64 = 2;
/// What a pull may take beyond the timeout (debug build, loaded machine).
const SLACK: Duration = Duration::from_secs(3);
/// Every feed's byte limit, except the deep documents'.
const MAX_BYTES: usize = 64 * 1024;
/// How deep the nesting documents go.
const DEPTH: usize = 100_000;
/// Most the process may grow while a server streams without end.
const MAX_GROWTH: u64 = 64 << 20;

const CAP_HEAD: &str = r#"<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">"#;

/// A CAP alert whose identifier expands to 10⁹ `lol`s if entities are expanded.
fn billion_laughs() -> String {
    let mut dtd = String::from("<!ENTITY lol \"lol\">\n");
    for i in 1..=9 {
        let prev = if i == 1 { "lol".to_string() } else { format!("lol{}", i - 1) };
        dtd.push_str(&format!("<!ENTITY lol{i} \"{}\">\n", format!("&{prev};").repeat(10)));
    }
    format!(
        r#"<?xml version="1.0"?>
<!DOCTYPE alert [
{dtd}]>
{CAP_HEAD}<identifier>&lol9;</identifier><sender>res</sender><sent>2026-11-30T09:00:00+03:00</sent>
<status>Actual</status><msgType>Alert</msgType><scope>Public</scope>
<info><event>power</event><headline>&lol9;</headline>
<area><areaDesc>&lol9;</areaDesc><circle>48.3,38.05 1</circle></area></info></alert>"#
    )
}

fn deep_xml() -> String {
    format!("{CAP_HEAD}{}{}</alert>", "<x>".repeat(DEPTH), "</x>".repeat(DEPTH))
}

fn deep_json() -> String {
    format!("{}{}", "[".repeat(DEPTH), "]".repeat(DEPTH))
}

/// Reads the request head and returns its path.
async fn request_path(socket: &mut TcpStream) -> std::io::Result<String> {
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let n = socket.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&head).lines().next().unwrap_or_default().to_string();
    Ok(line.split(' ').nth(1).unwrap_or("/").to_string())
}

/// Writes `chunk` until the peer goes away, counting what the kernel took.
async fn stream_forever(socket: &mut TcpStream, chunk: &[u8], sent: &AtomicU64) {
    while socket.write_all(chunk).await.is_ok() {
        sent.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    }
}

async fn misbehave(mut socket: TcpStream, sent: Arc<AtomicU64>) -> std::io::Result<()> {
    let path = request_path(&mut socket).await?;
    let ok = |headers: &str| format!("HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\n{headers}\r\n");
    let full = |body: String| format!("{}{body}", ok(&format!("Content-Length: {}\r\n", body.len())));
    match path.as_str() {
        "/silent" => {
            // Accept, read the request, and never answer.
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        "/reset" => {
            // A length under the limit, so that the client starts reading the body.
            socket.write_all(ok("Content-Length: 50000\r\n").as_bytes()).await?;
            socket.write_all(&[b'<'; 1000]).await?;
            socket.flush().await?;
            tokio::time::sleep(Duration::from_millis(100)).await;
            // Closing with a zero linger sends RST instead of FIN.
            socket.set_zero_linger()?;
            drop(socket);
        }
        "/endless" => {
            socket.write_all(ok("Transfer-Encoding: chunked\r\n").as_bytes()).await?;
            let mut chunk = format!("{:x}\r\n", 64 * 1024).into_bytes();
            chunk.extend(std::iter::repeat_n(b'x', 64 * 1024));
            chunk.extend_from_slice(b"\r\n");
            stream_forever(&mut socket, &chunk, &sent).await;
        }
        "/endless-unframed" => {
            socket.write_all(ok("Connection: close\r\n").as_bytes()).await?;
            stream_forever(&mut socket, &[b'x'; 64 * 1024], &sent).await;
        }
        "/terabyte" => {
            socket.write_all(ok("Content-Length: 1099511627776\r\n").as_bytes()).await?;
            stream_forever(&mut socket, &[b'x'; 64 * 1024], &sent).await;
        }
        "/trickle" => {
            socket.write_all(ok("Transfer-Encoding: chunked\r\n").as_bytes()).await?;
            while socket.write_all(b"1\r\n<\r\n").await.is_ok() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        "/laughs.xml" => socket.write_all(full(billion_laughs()).as_bytes()).await?,
        "/deep.xml" => socket.write_all(full(deep_xml()).as_bytes()).await?,
        "/deep.json" => socket.write_all(full(deep_json()).as_bytes()).await?,
        _ => socket.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").await?,
    }
    Ok(())
}

/// Starts the server; `sent` counts the bytes its endless streams handed to the kernel.
async fn hostile_server(sent: Arc<AtomicU64>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            tokio::spawn(misbehave(socket, sent.clone()));
        }
    });
    format!("http://{addr}")
}

/// Resident memory of this process, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib = status.lines().find_map(|l| l.strip_prefix("VmRSS:")).unwrap();
    kib.trim().trim_end_matches("kB").trim().parse::<u64>().unwrap() * 1024
}

/// Samples [`rss`] every few milliseconds until dropped; `peak` is the highest seen.
struct RssWatch {
    stop: Arc<AtomicBool>,
    peak: Arc<AtomicU64>,
}

impl RssWatch {
    fn start() -> Self {
        let (stop, peak) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(rss())));
        let (s, p) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                p.fetch_max(rss(), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        RssWatch { stop, peak }
    }

    fn peak(&self) -> u64 {
        self.peak.fetch_max(rss(), Ordering::Relaxed).max(rss())
    }
}

impl Drop for RssWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

#[test]
fn hostile_feed_servers_are_refused_in_time_by_reason_with_bounded_memory() {
    let _alone = alone();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SledStore::open(dir.path()).unwrap());
        let kontakt = Kontakt::new(store.clone(), Arc::new(SystemClock));
        small_city(&kontakt, 10).unwrap();
        let bus = Bus::default();
        let metrics = Arc::new(Metrics::new(kontakt.clone(), store, bus.clone()));
        let sent = Arc::new(AtomicU64::new(0));
        let base = hostile_server(sent.clone()).await;

        let cases = [
            ("silent", "/silent", FeedFormat::Cap, MAX_BYTES, "unreachable"),
            ("reset", "/reset", FeedFormat::Cap, MAX_BYTES, "unreachable"),
            ("endless", "/endless", FeedFormat::Cap, MAX_BYTES, "oversized"),
            ("endless-unframed", "/endless-unframed", FeedFormat::Json, MAX_BYTES, "oversized"),
            ("terabyte", "/terabyte", FeedFormat::Cap, MAX_BYTES, "oversized"),
            ("trickle", "/trickle", FeedFormat::Cap, MAX_BYTES, "unreachable"),
            ("laughs", "/laughs.xml", FeedFormat::Cap, MAX_BYTES, "malformed"),
            ("deep-xml", "/deep.xml", FeedFormat::Cap, 2 << 20, "wrong_schema"),
            ("deep-json", "/deep.json", FeedFormat::Json, 2 << 20, "malformed"),
        ];
        for (name, path, format, max_bytes, reason) in cases {
            let feed = FeedSource {
                name: name.into(),
                location: format!("{base}{path}"),
                format,
                max_bytes,
                timeout_secs: TIMEOUT_SECS,
            };
            let jobs = Jobs::new(kontakt.clone(), bus.clone(), metrics.clone(), vec![feed], 100);
            sent.store(0, Ordering::Relaxed);
            let before = rss();
            let watch = RssWatch::start();
            let start = Instant::now();
            let pulled = jobs.feed_tick().await;
            let took = start.elapsed();
            let growth = watch.peak().saturating_sub(before);
            drop(watch);

            println!(
                "{name}: refused in {took:.2?}, grew {} KiB, the server handed over {} KiB",
                growth >> 10,
                sent.load(Ordering::Relaxed) >> 10
            );
            assert!(took < Duration::from_secs(TIMEOUT_SECS) + SLACK, "{name}: the pull took {took:?}");
            assert_eq!((pulled.created, pulled.revised, pulled.ended, pulled.failed), (0, 0, 0, 1), "{name}");
            let counted = metrics
                .feed_failures
                .get_or_create(&FeedLabels { feed: name.into(), reason: reason.into() })
                .get();
            assert_eq!(counted, 1, "{name}: counted as {reason}: {}", metrics.render());
            let lines = metrics.render().lines().filter(|l| l.contains(&format!("feed=\"{name}\""))).count();
            assert_eq!(lines, 1, "{name}: counted once, under one reason");
            assert!(growth < MAX_GROWTH, "{name}: the process grew by {} MiB", growth >> 20);
            if name.starts_with("endless") || name == "terabyte" {
                // The client stopped reading: the server got rid of kernel buffers' worth, not gigabytes.
                let offered = sent.load(Ordering::Relaxed);
                assert!(offered < MAX_GROWTH, "{name}: {} MiB were taken from the server", offered >> 20);
            }
        }
        assert!(kontakt.incidents(IncidentStatus::Active, 100).unwrap().is_empty());
        assert!(kontakt.incidents(IncidentStatus::Ended, 100).unwrap().is_empty());
    });
}
