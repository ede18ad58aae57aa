//! Delivering the notice outbox: each due notice goes to its recipient's
//! channels — a webhook (JSON, signed like every Kontakt webhook, the
//! notice id as `Idempotency-Key`, so a receiver drops a repeat) and/or
//! e-mail over SMTP (plain text and HTML, in the recipient's language).
//! A recipient with a digest gets one message per period with everything
//! due. Failures are retried with backoff and stay visible on the notice.

use std::collections::BTreeMap;
use std::time::Duration;

use kontakt_workflow::Kontakt;
use kontakt_workflow::delivery::Delivery;
use kontakt_workflow::notify::{Notice, NoticeKind, NoticeStatus};
use kontakt_workflow::service::ADMINISTRATION;
use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::Deserialize;

use crate::dialer::signature;

/// The SMTP relay notices are mailed through.
#[derive(Debug, Clone, Deserialize)]
pub struct SmtpSettings {
    /// Host name.
    pub host: String,
    /// Port (25, 587, 465).
    #[serde(default = "default_port")]
    pub port: u16,
    /// The sender, `Контакт-центр <kontakt@city.example>`.
    pub from: String,
    /// `none` (a relay on a trusted network), `starttls` or `tls`.
    #[serde(default = "default_tls")]
    pub tls: String,
    /// Login, if the relay asks for one.
    #[serde(default)]
    pub username: Option<String>,
    /// Its password.
    #[serde(default)]
    pub password: Option<String>,
}

fn default_port() -> u16 {
    25
}

fn default_tls() -> String {
    "starttls".into()
}

/// Sends notices.
#[derive(Clone)]
pub struct Notifier {
    kontakt: Kontakt,
    http: reqwest::Client,
    mailer: Option<(AsyncSmtpTransport<Tokio1Executor>, Mailbox)>,
}

/// What one delivery pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NotifyReport {
    /// Notices delivered.
    pub delivered: usize,
    /// Notices whose delivery failed (retried later).
    pub failed: usize,
    /// Notices for recipients without a channel.
    pub skipped: usize,
    /// Notices held for a digest.
    pub held: usize,
}

impl Notifier {
    /// The same notifier writing through `kontakt` (a job's fenced service).
    pub fn with_kontakt(&self, kontakt: Kontakt) -> Self {
        Self { kontakt, http: self.http.clone(), mailer: self.mailer.clone() }
    }

    /// A notifier mailing through `smtp` when given.
    pub fn new(kontakt: Kontakt, smtp: Option<&SmtpSettings>) -> Result<Self, String> {
        let mailer = match smtp {
            Some(s) => {
                let builder = match s.tls.as_str() {
                    "none" => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&s.host),
                    "starttls" => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&s.host)
                        .map_err(|e| e.to_string())?,
                    "tls" => {
                        AsyncSmtpTransport::<Tokio1Executor>::relay(&s.host).map_err(|e| e.to_string())?
                    }
                    other => return Err(format!("notify.smtp.tls {other:?}: none, starttls or tls")),
                };
                let mut builder = builder.port(s.port).timeout(Some(Duration::from_secs(15)));
                if let (Some(u), Some(p)) = (&s.username, &s.password) {
                    builder = builder.credentials(lettre::transport::smtp::authentication::Credentials::new(
                        u.clone(),
                        p.clone(),
                    ));
                }
                let from: Mailbox =
                    s.from.parse().map_err(|e| format!("notify.smtp.from {:?}: {e}", s.from))?;
                Some((builder.build(), from))
            }
            None => None,
        };
        let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap_or_default();
        Ok(Self { kontakt, http, mailer })
    }

    /// Delivers what is due: each recipient's notices together when it takes
    /// a digest, else one by one.
    pub async fn tick(&self) -> NotifyReport {
        let mut report = NotifyReport::default();
        let k = self.kontakt.clone();
        let due = match tokio::task::spawn_blocking(move || k.due_notices(200)).await {
            Ok(Ok(d)) => d,
            Ok(Err(e)) => {
                tracing::error!(error = %e, "reading due notices");
                return report;
            }
            Err(e) => {
                tracing::error!(error = %e, "notice task failed");
                return report;
            }
        };
        let mut by_recipient: BTreeMap<String, Vec<Notice>> = BTreeMap::new();
        for n in due {
            let who = n.organization.as_ref().map_or(ADMINISTRATION.to_string(), |o| o.to_string());
            by_recipient.entry(who).or_default().push(n);
        }
        for (who, notices) in by_recipient {
            let k = self.kontakt.clone();
            let recipient = who.clone();
            let delivery = tokio::task::spawn_blocking(move || k.delivery(&recipient))
                .await
                .ok()
                .and_then(Result::ok)
                .flatten();
            let Some(delivery) = delivery.filter(|d| !d.is_empty()) else {
                for n in &notices {
                    self.record(n, Ok(vec![]), true, &mut report).await;
                }
                continue;
            };
            let now = self.kontakt.now();
            if delivery.digest_minutes > 0 {
                // Everything due goes in one message once the oldest has waited the period.
                let period = chrono::Duration::minutes(i64::from(delivery.digest_minutes));
                let oldest = notices.iter().map(|n| n.at).min().unwrap_or(now);
                if oldest + period > now && notices.iter().all(|n| n.status == NoticeStatus::Pending) {
                    for n in &notices {
                        let k = self.kontakt.clone();
                        let (n, until) = (n.clone(), oldest + period);
                        if let Ok(Ok(())) =
                            tokio::task::spawn_blocking(move || k.hold_notice(&n, until)).await
                        {
                            report.held += 1;
                        }
                    }
                    continue;
                }
                let outcome = self.send(&who, &delivery, &notices).await;
                for n in &notices {
                    self.record(n, outcome.clone(), false, &mut report).await;
                }
            } else {
                for n in &notices {
                    let outcome = self.send(&who, &delivery, std::slice::from_ref(n)).await;
                    self.record(n, outcome, false, &mut report).await;
                }
            }
        }
        report
    }

    async fn record(
        &self,
        n: &Notice,
        outcome: Result<Vec<String>, String>,
        no_channel: bool,
        report: &mut NotifyReport,
    ) {
        match (&outcome, no_channel) {
            (_, true) => report.skipped += 1,
            (Ok(_), _) => report.delivered += 1,
            (Err(e), _) => {
                tracing::warn!(notice = %n.id, error = %e, "notice not delivered; retried");
                report.failed += 1;
            }
        }
        let (k, n) = (self.kontakt.clone(), n.clone());
        match tokio::task::spawn_blocking(move || k.record_delivery(&n, outcome, no_channel)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::error!(error = %e, "recording a delivery"),
            Err(e) => tracing::error!(error = %e, "notice task failed"),
        }
    }

    /// Sends `notices` by every channel `d` has: Ok with the channels used when all took it.
    async fn send(&self, who: &str, d: &Delivery, notices: &[Notice]) -> Result<Vec<String>, String> {
        let mut channels = Vec::new();
        let lines = self.lines(notices, d.language == "en").await;
        if let (Some(url), Some(secret)) = (&d.webhook_url, &d.webhook_secret) {
            let body = serde_json::to_vec(&serde_json::json!({
                "recipient": who,
                "notices": notices.iter().zip(&lines).map(|(n, line)| serde_json::json!({
                    "id": n.id, "kind": n.kind.as_str(), "request": n.request.to_string(), "number": n.number.to_string(),
                    "class": n.class.as_str(), "deadline": n.deadline, "at": n.at, "text": line,
                })).collect::<Vec<_>>(),
            }))
            .map_err(|e| e.to_string())?;
            let key = if notices.len() == 1 {
                notices[0].id.clone()
            } else {
                format!("digest:{}:{}", notices[0].id, notices.len())
            };
            let ts = chrono::Utc::now().timestamp();
            let resp = self
                .http
                .post(url)
                .header("content-type", "application/json")
                .header("Idempotency-Key", key)
                .header("X-Kontakt-Timestamp", ts.to_string())
                .header("X-Kontakt-Signature", signature(secret.as_bytes(), ts, &body))
                .body(body)
                .send()
                .await
                .map_err(|e| format!("webhook: {e}"))?;
            if !resp.status().is_success() {
                return Err(format!("webhook answered {}", resp.status()));
            }
            channels.push("webhook".to_string());
        }
        if !d.emails.is_empty() {
            let Some((mailer, from)) = &self.mailer else {
                return Err("e-mail is asked for, but no [notify.smtp] relay is configured".into());
            };
            let en = d.language == "en";
            let subject = match (notices.len(), en) {
                (1, false) => {
                    format!("Контакт: {} — заявка {}", kind_words(notices[0].kind, false), notices[0].number)
                }
                (1, true) => {
                    format!("Kontakt: {} — request {}", kind_words(notices[0].kind, true), notices[0].number)
                }
                (n, false) => format!("Контакт: сводка, {n} {}", plural_notices(n)),
                (n, true) => format!("Kontakt: digest of {n} notices"),
            };
            let plain = lines.join("\n");
            let items: String = lines.iter().map(|l| format!("<li>{}</li>", html_escape(l))).collect();
            let html = format!(
                "<!doctype html><html><body><p>{}</p><ul>{items}</ul></body></html>",
                html_escape(&subject)
            );
            for to in &d.emails {
                let to: Mailbox = to.parse().map_err(|e| format!("{to:?}: {e}"))?;
                let mail = Message::builder()
                    .from(from.clone())
                    .to(to)
                    .subject(subject.clone())
                    .multipart(MultiPart::alternative_plain_html(plain.clone(), html.clone()))
                    .map_err(|e| e.to_string())?;
                mailer.send(mail).await.map_err(|e| format!("smtp: {e}"))?;
            }
            channels.push("email".to_string());
        }
        Ok(channels)
    }

    /// One line per notice, in the recipient's language.
    async fn lines(&self, notices: &[Notice], en: bool) -> Vec<String> {
        let mut out = Vec::new();
        for n in notices {
            let k = self.kontakt.clone();
            let id = n.request;
            let r =
                tokio::task::spawn_blocking(move || k.request(id)).await.ok().and_then(Result::ok).flatten();
            let deadline =
                n.deadline.with_timezone(&kontakt_workflow::service::moscow()).format("%d.%m.%Y %H:%M");
            let about =
                r.map_or_else(String::new, |r| format!(" — {}: {}", r.address.label(), r.description));
            out.push(if en {
                format!("Request {} {} (deadline {deadline}){about}", n.number, kind_words(n.kind, true))
            } else {
                format!("Заявка {} {} (срок {deadline}){about}", n.number, kind_words(n.kind, false))
            });
        }
        out
    }
}

impl Notifier {
    /// Mails the morning report to the administration with its CSV and XLSX
    /// attached; false when there is nobody to mail it to or no relay.
    pub async fn mail_report(&self, report: &kontakt_workflow::reports::DailyReport) -> Result<bool, String> {
        let k = self.kontakt.clone();
        let d = tokio::task::spawn_blocking(move || k.delivery(ADMINISTRATION))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
        let (Some(d), Some((mailer, from))) = (d.filter(|d| !d.emails.is_empty()), &self.mailer) else {
            return Ok(false);
        };
        let k = self.kontakt.clone();
        let r = report.clone();
        let en = d.language == "en";
        let (csv, xlsx) = tokio::task::spawn_blocking(move || {
            let tables = crate::reports::tables(&r, &k, en);
            let csv = tables.first().map(|t| t.to_csv()).transpose().map_err(|e| e.to_string())?;
            let xlsx = crate::reports::to_xlsx(&tables).map_err(|e| e.to_string())?;
            Ok::<_, String>((format!("\u{feff}{}", csv.unwrap_or_default()), xlsx))
        })
        .await
        .map_err(|e| e.to_string())??;
        let date = report.date.format("%d.%m.%Y").to_string();
        let subject = if en {
            format!("Kontakt: daily report for {date}")
        } else {
            format!("Контакт: ежедневный отчёт за {date}")
        };
        let plain = if en {
            format!("The daily report for {date} is attached as CSV and XLSX.")
        } else {
            format!("Ежедневный отчёт за {date} — во вложении (CSV и XLSX).")
        };
        let html = format!("<!doctype html><html><body><p>{}</p></body></html>", html_escape(&plain));
        let name = format!("kontakt-daily-{}", report.date);
        for to in &d.emails {
            let to: Mailbox = to.parse().map_err(|e| format!("{to:?}: {e}"))?;
            let body = MultiPart::mixed()
                .multipart(MultiPart::alternative_plain_html(plain.clone(), html.clone()))
                .singlepart(lettre::message::Attachment::new(format!("{name}.csv")).body(
                    csv.clone().into_bytes(),
                    "text/csv; charset=utf-8".parse().map_err(|_| "csv type")?,
                ))
                .singlepart(
                    lettre::message::Attachment::new(format!("{name}.xlsx")).body(
                        xlsx.clone(),
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
                            .parse()
                            .map_err(|_| "xlsx type")?,
                    ),
                );
            let mail = Message::builder()
                .from(from.clone())
                .to(to)
                .subject(subject.clone())
                .multipart(body)
                .map_err(|e| e.to_string())?;
            mailer.send(mail).await.map_err(|e| format!("smtp: {e}"))?;
        }
        Ok(true)
    }
}

fn kind_words(kind: NoticeKind, en: bool) -> &'static str {
    match (kind, en) {
        (NoticeKind::Dispatched, false) => "направлена вам",
        (NoticeKind::Reassigned, false) => "передана вам",
        (NoticeKind::Reopened, false) => "переоткрыта: заявитель сообщил, что проблема не решена",
        (NoticeKind::RaisedToEmergency, false) => "переведена в аварийные (срок 6 ч)",
        (NoticeKind::Warning, false) => "на контроле: прошло 75 % срока",
        (NoticeKind::Overdue, false) => "просрочена",
        (NoticeKind::Escalated, false) => "эскалирована: срок превышен вдвое",
        (NoticeKind::Dispatched, true) => "is dispatched to you",
        (NoticeKind::Reassigned, true) => "is reassigned to you",
        (NoticeKind::Reopened, true) => "is reopened: the caller says it is not fixed",
        (NoticeKind::RaisedToEmergency, true) => "is raised to emergency (6 h)",
        (NoticeKind::Warning, true) => "has used 75 % of its time",
        (NoticeKind::Overdue, true) => "is overdue",
        (NoticeKind::Escalated, true) => "is escalated: twice its time gone",
    }
}

fn plural_notices(n: usize) -> &'static str {
    match (n % 10, n % 100) {
        (1, x) if x != 11 => "уведомление",
        (2..=4, x) if !(12..=14).contains(&x) => "уведомления",
        _ => "уведомлений",
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}
