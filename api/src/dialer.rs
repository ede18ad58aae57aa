//! Dialers: how a callback reaches the applicant. `log` writes the call to
//! the log (demo default); `webhook` POSTs it as JSON, HMAC-signed, to any PBX
//! or SMS gateway; `asterisk-ami` logs in to Asterisk's Manager Interface and
//! originates the call with the message and request number as channel
//! variables. Each call carries the attempt's idempotency key.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

/// One call to place.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Call {
    /// The callback task, for recording the outcome.
    pub task_id: String,
    /// The same for a re-sent attempt, new for a new one.
    pub idempotency_key: String,
    /// Whom to call.
    pub phone: String,
    /// The request number.
    pub number: String,
    /// What to say.
    pub message: String,
}

/// Dialer settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum DialerSettings {
    /// No dialer: every callback waits for an operator in the worklist
    /// (also what an unset dialer means outside the demo).
    None,
    /// Write calls to the log (the demo's).
    Log,
    /// POST calls as JSON.
    Webhook {
        /// Where.
        url: String,
        /// HMAC-SHA256 key of the `X-Kontakt-Signature` header.
        secret: String,
    },
    /// Asterisk Manager Interface.
    AsteriskAmi {
        /// `host:port` of the AMI (5038 usually).
        address: String,
        /// AMI user.
        username: String,
        /// AMI secret.
        secret: String,
        /// The channel to dial, `{phone}` replaced (`PJSIP/{phone}@trunk`).
        channel: String,
        /// Dialplan context that plays the message.
        context: String,
        /// Extension in that context.
        #[serde(default = "default_exten")]
        exten: String,
    },
}

fn default_exten() -> String {
    "s".into()
}

/// How far a signed message's timestamp may be from now, either way: a
/// captured body cannot be replayed later than this.
pub const SIGNATURE_WINDOW_SECS: i64 = 300;

/// The signature Kontakt puts on a webhook body sent at `timestamp` (Unix
/// seconds), and asks of one it receives: `sha256=` and the hex HMAC-SHA256
/// of `"{timestamp}.{body}"`, carried in `X-Kontakt-Signature` beside
/// `X-Kontakt-Timestamp`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    // HMAC takes keys of any length, so new_from_slice cannot fail here.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(format!("{timestamp}.").as_bytes());
    mac.update(body);
    let hex: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Why a signed webhook was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No timestamp, or not a number.
    #[error("missing or malformed X-Kontakt-Timestamp")]
    Timestamp,
    /// Signed too long ago (or in the future).
    #[error("X-Kontakt-Timestamp is more than 5 minutes from now: refused as a replay")]
    Stale,
    /// The signature does not match.
    #[error("bad or missing X-Kontakt-Signature")]
    Signature,
}

/// Checks a `sha256=<hex>` signature of `"{timestamp}.{body}"` in constant
/// time, and that the timestamp is within [`SIGNATURE_WINDOW_SECS`] of `now`.
pub fn verify_signature(
    secret: &[u8],
    timestamp: &str,
    body: &[u8],
    header: &str,
    now: i64,
) -> Result<(), SignatureError> {
    let ts: i64 = timestamp.trim().parse().map_err(|_| SignatureError::Timestamp)?;
    let Some(hex) = header.strip_prefix("sha256=") else { return Err(SignatureError::Signature) };
    let Ok(bytes) = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2).unwrap_or("zz"), 16))
        .collect::<Result<Vec<u8>, _>>()
    else {
        return Err(SignatureError::Signature);
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| SignatureError::Signature)?;
    mac.update(format!("{ts}.").as_bytes());
    mac.update(body);
    mac.verify_slice(&bytes).map_err(|_| SignatureError::Signature)?;
    if (now - ts).abs() > SIGNATURE_WINDOW_SECS {
        return Err(SignatureError::Stale);
    }
    Ok(())
}

/// Places calls.
#[derive(Debug, Clone)]
pub struct Dialer {
    settings: DialerSettings,
    http: reqwest::Client,
}

impl Dialer {
    /// A dialer of the given kind.
    pub fn new(settings: DialerSettings) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
        Self { settings, http }
    }

    /// Hands one call over; an error means it was not taken and is retried.
    pub async fn dial(&self, call: &Call) -> Result<(), String> {
        match &self.settings {
            DialerSettings::None => Err("no dialer is configured: the call waits for an operator".into()),
            DialerSettings::Log => {
                // Logs never carry personal data: the phone is masked, and the
                // message (which quotes staff text) is left out.
                let phone = kontakt_workflow::model::mask_phone(&call.phone);
                tracing::info!(task = %call.task_id, key = %call.idempotency_key, %phone, "callback");
                println!(
                    "KONTAKT_CALLBACK number={} phone={phone} key={}",
                    call.number, call.idempotency_key
                );
                Ok(())
            }
            DialerSettings::Webhook { url, secret } => {
                let body = serde_json::to_vec(call).map_err(|e| e.to_string())?;
                let timestamp = chrono::Utc::now().timestamp();
                let resp = self
                    .http
                    .post(url)
                    .header("content-type", "application/json")
                    .header("Idempotency-Key", &call.idempotency_key)
                    .header("X-Kontakt-Timestamp", timestamp.to_string())
                    .header("X-Kontakt-Signature", signature(secret.as_bytes(), timestamp, &body))
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                if resp.status().is_success() {
                    Ok(())
                } else {
                    Err(format!("webhook answered {}", resp.status()))
                }
            }
            DialerSettings::AsteriskAmi { address, username, secret, channel, context, exten } => {
                let channel = channel.replace("{phone}", &call.phone);
                let talk = ami_originate(address, username, secret, &channel, context, exten, call);
                tokio::time::timeout(Duration::from_secs(15), talk)
                    .await
                    .map_err(|_| "AMI did not answer in 15 s".to_string())?
            }
        }
    }
}

/// AMI values end at the line: strip anything that could start a new header.
fn ami_value(v: &str) -> String {
    v.replace(['\r', '\n'], " ")
}

async fn ami_originate(
    address: &str,
    username: &str,
    secret: &str,
    channel: &str,
    context: &str,
    exten: &str,
    call: &Call,
) -> Result<(), String> {
    let stream = tokio::net::TcpStream::connect(address).await.map_err(|e| format!("AMI {address}: {e}"))?;
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    // The banner: "Asterisk Call Manager/x.y".
    let banner = lines.next_line().await.map_err(|e| e.to_string())?.unwrap_or_default();
    if !banner.starts_with("Asterisk Call Manager") {
        return Err(format!("not an AMI: {banner:?}"));
    }
    let login = format!(
        "Action: Login\r\nUsername: {}\r\nSecret: {}\r\nActionID: login-{}\r\n\r\n",
        ami_value(username),
        ami_value(secret),
        ami_value(&call.idempotency_key)
    );
    write.write_all(login.as_bytes()).await.map_err(|e| e.to_string())?;
    expect_success(&mut lines, "Login").await?;
    let originate = format!(
        "Action: Originate\r\nChannel: {}\r\nContext: {}\r\nExten: {}\r\nPriority: 1\r\nAsync: true\r\nCallerID: Kontakt <{}>\r\nActionID: {}\r\nVariable: KONTAKT_NUMBER={}\r\nVariable: KONTAKT_MESSAGE={}\r\nVariable: KONTAKT_KEY={}\r\n\r\n",
        ami_value(channel),
        ami_value(context),
        ami_value(exten),
        ami_value(&call.number),
        ami_value(&call.idempotency_key),
        ami_value(&call.number),
        ami_value(&call.message),
        ami_value(&call.idempotency_key),
    );
    write.write_all(originate.as_bytes()).await.map_err(|e| e.to_string())?;
    expect_success(&mut lines, "Originate").await?;
    let _ = write.write_all(b"Action: Logoff\r\n\r\n").await;
    Ok(())
}

/// Reads one AMI response block and requires `Response: Success`.
async fn expect_success(
    lines: &mut tokio::io::Lines<BufReader<tokio::net::tcp::OwnedReadHalf>>,
    what: &str,
) -> Result<(), String> {
    let mut response = None;
    let mut message = String::new();
    loop {
        let line = lines
            .next_line()
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("AMI closed during {what}"))?;
        let line = line.trim_end();
        if line.is_empty() {
            if response.is_some() {
                break;
            }
            continue;
        }
        if let Some(v) = line.strip_prefix("Response: ") {
            response = Some(v.to_string());
        } else if let Some(v) = line.strip_prefix("Message: ") {
            message = v.to_string();
        }
    }
    match response.as_deref() {
        Some("Success") => Ok(()),
        other => Err(format!("AMI refused {what}: {} {message}", other.unwrap_or("?"))),
    }
}
