//! Dialers: how a callback reaches the applicant. `log` writes the call to
//! the log (demo default); `webhook` POSTs it as JSON, HMAC-signed, to any PBX
//! or SMS gateway; `asterisk-ami` keeps a session with Asterisk's Manager
//! Interface, originates the call on it and reads the answer back (see
//! [`crate::ami`]). Each call carries the attempt's idempotency key.

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

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
    ami: Option<crate::ami::AmiHandle>,
}

impl Dialer {
    /// A dialer of the given kind.
    pub fn new(settings: DialerSettings) -> Self {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
        Self { settings, http, ami: None }
    }

    /// For `asterisk-ami`: starts the AMI session that places the calls and
    /// records their answers on `kontakt`.
    pub fn started(self, kontakt: &kontakt_workflow::Kontakt, bus: &crate::bus::Bus) -> Self {
        let ami = match &self.settings {
            DialerSettings::AsteriskAmi { address, username, secret, channel, context, exten } => {
                Some(crate::ami::start(
                    crate::ami::AmiSettings {
                        address: address.clone(),
                        username: username.clone(),
                        secret: secret.clone(),
                        channel: channel.clone(),
                        context: context.clone(),
                        exten: exten.clone(),
                    },
                    kontakt.clone(),
                    bus.clone(),
                ))
            }
            _ => None,
        };
        Self { ami, ..self }
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
            DialerSettings::AsteriskAmi { .. } => match &self.ami {
                Some(ami) => ami.originate(call).await,
                None => Err("the AMI session is not started".into()),
            },
        }
    }
}
