//! The writing side: tasks that make writes at a steady pace and log each
//! acknowledged event, and the real server's request lifecycle as such writes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Acked, request_key};
use crate::app::TestApp;

/// Demo categories routed city-wide, one per organization, so every
/// organization's subscribers have something to hear.
const CATEGORIES: [&str; 7] = [
    "power-outage-building",
    "no-cold-water",
    "gas-smell",
    "no-heating-building",
    "pothole",
    "street-light-out",
    "garbage-not-collected",
];

/// How writes are paced.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// This many writes per second, across all writer tasks.
    Writes(f64),
    /// This many committed events per second, across all writer tasks.
    Events(f64),
}

/// What a writer task works on: its own counter and the request it is walking.
#[derive(Debug, Default)]
pub struct Cursor {
    /// The writer task.
    pub task: usize,
    /// Writes this task has made.
    pub n: u64,
    /// The request in progress: id, organization and how far it went (0: registered).
    pub current: Option<(String, Arc<str>, u8)>,
}

/// Something a writer task can change one step at a time.
pub trait Target {
    /// Makes the next write for `cursor`; returns the events it committed, or why it failed.
    fn step(&self, cursor: &mut Cursor) -> impl Future<Output = Result<Vec<Acked>, String>>;
}

/// Everything the writers did.
#[derive(Debug, Default)]
pub struct WriteLog {
    /// Acknowledged events, per writer in commit order.
    pub acked: Vec<Acked>,
    /// Acknowledged writes.
    pub writes: u64,
    /// Refused or failed writes, with the reason.
    pub failures: Vec<String>,
    /// How long the writers ran.
    pub elapsed: Duration,
}

impl WriteLog {
    /// Appends another log (a later phase of the same run).
    pub fn extend(&mut self, other: WriteLog) {
        self.acked.extend(other.acked);
        self.writes += other.writes;
        self.failures.extend(other.failures);
        self.elapsed += other.elapsed;
    }
}

/// Runs `tasks` writer tasks against `target` for `duration` at `pace`. A
/// task that falls behind carries on from now rather than bursting to catch up.
pub async fn drive<T: Target>(target: &T, tasks: usize, pace: Pace, duration: Duration) -> WriteLog {
    let start = Instant::now();
    let until = start + duration;
    let rate = match pace {
        Pace::Writes(r) | Pace::Events(r) => r,
    };
    let unit = Duration::from_secs_f64(tasks as f64 / rate);
    let logs = futures_util::future::join_all((0..tasks).map(|task| async move {
        let mut log = WriteLog::default();
        let mut cursor = Cursor { task, ..Cursor::default() };
        // Stagger the tasks across one interval.
        let mut next = start + unit.mul_f64(task as f64 / tasks as f64);
        while next < until {
            tokio::time::sleep_until(next.into()).await;
            let units = match target.step(&mut cursor).await {
                Ok(events) => {
                    log.writes += 1;
                    let n = events.len().max(1);
                    log.acked.extend(events);
                    if matches!(pace, Pace::Events(_)) { n } else { 1 }
                }
                Err(e) => {
                    log.failures.push(e);
                    cursor.current = None;
                    1
                }
            };
            cursor.n += 1;
            next = (next + unit * units as u32).max(Instant::now());
        }
        log
    }))
    .await;
    let mut all = WriteLog::default();
    for log in logs {
        all.extend(log);
    }
    all.elapsed = start.elapsed();
    all
}

/// The real server: register (operator), accept and resolve (the
/// organization's crew), close (operator), over GraphQL.
pub struct Lifecycles<'a> {
    app: &'a TestApp,
}

impl<'a> Lifecycles<'a> {
    /// Writes to `app`, which must be the demo (its tokens are used).
    pub fn new(app: &'a TestApp) -> Self {
        Self { app }
    }

    async fn mutate(&self, token: &str, query: &str, variables: Value, field: &str) -> Result<Value, String> {
        let (status, body) = self.app.gql(Some(token), query, variables).await;
        match &body["data"][field] {
            Value::Object(_) if status == 200 && body.get("errors").is_none() => {
                Ok(body["data"][field].clone())
            }
            _ => Err(format!("{field}: HTTP {status} {body}")),
        }
    }
}

const REGISTER: &str = "mutation($input: RegisterRequestInput!) { registerRequest(input: $input) { id status organization { id } } }";
const ACCEPT: &str = "mutation($id: ID!) { acceptRequest(id: $id) { status } }";
const RESOLVE: &str = "mutation($id: ID!) { resolveRequest(id: $id, resolution: \"Устранено\") { status } }";
const CLOSE: &str = "mutation($id: ID!) { closeRequest(id: $id, note: \"Заявитель подтвердил\") { status } }";

impl Target for Lifecycles<'_> {
    async fn step(&self, cursor: &mut Cursor) -> Result<Vec<Acked>, String> {
        let operator = self.app.token("OPERATOR");
        let Some((id, org, stage)) = cursor.current.clone() else {
            let i = cursor.n * 8 + cursor.task as u64;
            let input = json!({ "input": {
                "categoryCode": CATEGORIES[(i % CATEGORIES.len() as u64) as usize],
                "addressId": format!("g{:03}-{:03}", i % 65 + 1, i / 65 % 15 + 1),
                "description": "Нет света во всём подъезде",
            }});
            let sent = Instant::now();
            let r = self.mutate(&operator, REGISTER, input, "registerRequest").await?;
            let at = Instant::now();
            let (Some(id), Some(org)) = (r["id"].as_str(), r["organization"]["id"].as_str()) else {
                return Err(format!("registered without an id or an organization: {r}"));
            };
            if r["status"] != "DISPATCHED" {
                return Err(format!("registered but not dispatched: {r}"));
            }
            let key = request_key(id).ok_or_else(|| format!("not a ULID: {id}"))?;
            let org: Arc<str> = org.into();
            cursor.current = Some((id.to_string(), org.clone(), 0));
            return Ok(vec![
                Acked { request: key, kind: 0, after: None, before: None, sent, at },
                Acked { request: key, kind: 1, after: Some(org), before: None, sent, at },
            ]);
        };
        let crew = self.app.token(&org);
        let (token, query, field, status) = match stage {
            0 => (&crew, ACCEPT, "acceptRequest", "IN_PROGRESS"),
            1 => (&crew, RESOLVE, "resolveRequest", "RESOLVED"),
            _ => (&operator, CLOSE, "closeRequest", "CLOSED"),
        };
        let sent = Instant::now();
        let r = self.mutate(token, query, json!({ "id": id }), field).await?;
        let at = Instant::now();
        if r["status"] != status {
            return Err(format!("{field} left the request {}", r["status"]));
        }
        cursor.current = if stage < 2 { Some((id.clone(), org.clone(), stage + 1)) } else { None };
        let key = request_key(&id).ok_or_else(|| format!("not a ULID: {id}"))?;
        Ok(vec![Acked {
            request: key,
            kind: stage + 2,
            after: Some(org.clone()),
            before: Some(org),
            sent,
            at,
        }])
    }
}
