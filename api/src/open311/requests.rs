//! `requests`: the list with its filters, one request by number, and posting
//! a new one. Reads go through the same indexed list the GraphQL `requests`
//! query uses; a post goes through the same registration as the GraphQL
//! mutation and is published on the bus like it.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use kontakt_workflow::model::{Actor, Category, Channel, Code, RequestNumber, RequestStatus, Role};
use kontakt_workflow::service::AddressPoint;
use kontakt_workflow::{Applicant, Kontakt, NewRequest, Request, RequestQuery};

use super::render::Node;
use super::{Answer, Format, Location, Open311Error, Params, blocking, category_name, class_words};
use crate::auth::Principal;
use crate::state::AppState;

/// Most requests one list answers (the spec's own limit).
const MAX_RESULTS: usize = 1000;
/// The widest `start_date`..`end_date` window, and the default one before now.
const WINDOW_DAYS: i64 = 90;
/// Most numbers one `service_request_id` may list.
const MAX_IDS: usize = 100;
/// Roles that may register, as the GraphQL `registerRequest` guard says.
const MAY_REGISTER: &[Role] = &[Role::Operator, Role::Supervisor, Role::Admin];

/// W3C / RFC 3339 time in UTC, with as many fraction digits as it has, so a
/// deadline reads back as exactly the instant GraphQL gives.
pub(crate) fn w3c(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// Parses a W3C datetime: full RFC 3339, minutes only, or a date (midnight, city time).
fn parse_date(name: &str, v: &str) -> Result<DateTime<Utc>, Open311Error> {
    // A `+` left unencoded in a query string arrives as a space.
    let v = v.replace(' ', "+");
    let city = kontakt_workflow::service::moscow();
    DateTime::parse_from_rfc3339(&v)
        .or_else(|_| DateTime::parse_from_str(&v, "%Y-%m-%dT%H:%M%:z"))
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| {
            NaiveDate::parse_from_str(&v, "%Y-%m-%d").map_err(|_| ()).and_then(|d| {
                d.and_hms_opt(0, 0, 0)
                    .and_then(|t| t.and_local_timezone(city).single())
                    .map(|t| t.with_timezone(&Utc))
                    .ok_or(())
            })
        })
        .ok()
        // Dates far from now are refused: window arithmetic on them would leave chrono's range.
        .filter(|t| (1970..=9999).contains(&chrono::Datelike::year(t)))
        .ok_or_else(|| {
            Open311Error::BadRequest(format!(
                "{name} {v:?} is not a W3C datetime like 2026-03-01T10:00:00+03:00 between the years 1970 and 9999"
            ))
        })
}

/// Who may read descriptions: a valid `api_key`, when one is given.
fn reader(app: &AppState, params: &Params) -> Result<Option<Principal>, Open311Error> {
    match params.get("api_key") {
        None => Ok(None),
        Some(key) => app.auth.verify(key).map(Some).map_err(|e| {
            crate::state::auth_failure(&app.metrics, &e);
            Open311Error::Forbidden(format!("api_key refused: {e}"))
        }),
    }
}

/// True when `p` may read `r`'s description: what may see its applicant may read it.
fn may_read(p: Option<&Principal>, r: &Request) -> bool {
    p.is_some_and(|p| match p.role {
        Role::Operator | Role::Supervisor | Role::Admin => true,
        Role::Contractor => p.is_contractor_of(r.organization.as_ref()),
    })
}

/// Reference names and the caller, for writing requests.
struct Names {
    categories: HashMap<String, Category>,
    organizations: HashMap<String, String>,
    english: bool,
    reader: Option<Principal>,
}

impl Names {
    fn load(k: &Kontakt, english: bool, reader: Option<Principal>) -> Result<Self, Open311Error> {
        Ok(Self {
            categories: k.categories()?.into_iter().map(|c| (c.code.to_string(), c)).collect(),
            organizations: k
                .organizations()?
                .into_iter()
                .map(|o| (o.id.to_string(), if english { o.name_en } else { o.name_ru }))
                .collect(),
            english,
            reader,
        })
    }
}

/// The spec's `status_notes`. Without a key only the public resolution the
/// organization wrote: reasons, internal notes and callback notes are staff
/// text that may name people. A key of an entitled role adds the latest of them.
fn status_notes(k: &Kontakt, r: &Request, staff: bool) -> Result<Option<String>, Open311Error> {
    if !staff {
        return Ok(r.resolution.clone());
    }
    if let Some(res) = &r.resolution {
        return Ok(Some(res.clone()));
    }
    // A fresh request has only its registration and dispatch: nothing to say, nothing to read.
    if r.events <= 2 {
        return Ok(None);
    }
    Ok(k.history(r.id)?.iter().rev().find_map(|e| match &e.kind {
        kontakt_workflow::EventKind::Dispatched { .. }
        | kontakt_workflow::EventKind::LinkedToIncident { .. } => None,
        kind => kind.note(),
    }))
}

/// One request as the spec writes it; never the applicant.
fn request_node(k: &Kontakt, r: &Request, names: &Names) -> Result<Node, Open311Error> {
    let category = names.categories.get(r.category.as_str());
    let mut fields = vec![
        ("service_request_id", Node::text(r.number.to_string())),
        ("status", Node::text(if r.status.is_open() { "open" } else { "closed" })),
    ];
    if let Some(notes) = status_notes(k, r, may_read(names.reader.as_ref(), r))? {
        fields.push(("status_notes", Node::text(notes)));
    }
    fields.push((
        "service_name",
        Node::text(category.map_or(r.category.as_str(), |c| category_name(c, names.english))),
    ));
    fields.push(("service_code", Node::text(r.category.as_str())));
    if may_read(names.reader.as_ref(), r) {
        fields.push(("description", Node::text(r.description.clone())));
    }
    if let Some(org) = r.organization.as_ref().and_then(|o| names.organizations.get(o.as_str())) {
        fields.push(("agency_responsible", Node::text(org.clone())));
    }
    fields.extend([
        ("service_notice", Node::text(class_words(r.deadline_class, names.english))),
        ("requested_datetime", Node::text(w3c(r.registered_at))),
        ("updated_datetime", Node::text(w3c(r.updated_at))),
        ("expected_datetime", Node::text(w3c(r.deadline))),
        ("address", Node::text(r.address.label())),
        ("address_id", Node::text(r.address.id.as_str())),
        ("lat", Node::Num(r.address.lat)),
        ("long", Node::Num(r.address.lon)),
    ]);
    Ok(Node::Obj(fields))
}

fn answer(k: &Kontakt, requests: &[Request], names: &Names) -> Result<Answer, Open311Error> {
    let items = requests.iter().map(|r| request_node(k, r, names)).collect::<Result<_, _>>()?;
    Ok(Answer { root: "service_requests", node: Node::List("request", items) })
}

/// What a list asks for, parsed.
enum ListQuery {
    /// `service_request_id`: these numbers, other filters ignored.
    Numbers(Vec<RequestNumber>),
    /// The filters.
    Filter(RequestQuery),
}

fn list_query(k: &Kontakt, params: &Params) -> Result<ListQuery, Open311Error> {
    let bad = |m: String| Open311Error::BadRequest(m);
    if let Some(ids) = params.get("service_request_id") {
        let numbers = ids
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                RequestNumber::parse(s)
                    .map_err(|_| bad(format!("{s:?} is not a service_request_id like 2026-000123")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if numbers.len() > MAX_IDS {
            return Err(bad(format!("at most {MAX_IDS} service_request_id at once")));
        }
        return Ok(ListQuery::Numbers(numbers));
    }
    let statuses: Vec<RequestStatus> = match params.get("status").map(|s| s.replace(' ', "")) {
        None => vec![],
        Some(s) => {
            let (mut open, mut closed) = (false, false);
            for part in s.split(',') {
                match part {
                    "open" => open = true,
                    "closed" => closed = true,
                    other => return Err(bad(format!("status {other:?} is not open or closed"))),
                }
            }
            RequestStatus::ALL.iter().copied().filter(|st| if st.is_open() { open } else { closed }).collect()
        }
    };
    // Both kinds named is the same as no filter, and reads the records in time order.
    let statuses = if statuses.len() == RequestStatus::ALL.len() { vec![] } else { statuses };
    let category = match params.get("service_code") {
        None => None,
        Some(code) => {
            let known = Code::parse(code).ok().filter(|c| k.category(c.as_str()).ok().flatten().is_some());
            Some(known.ok_or_else(|| bad(format!("unknown service_code {code:?}")))?)
        }
    };
    let start = params.get("start_date").map(|v| parse_date("start_date", v)).transpose()?;
    let end = params.get("end_date").map(|v| parse_date("end_date", v)).transpose()?;
    let window = Duration::days(WINDOW_DAYS);
    let (from, to) = match (start, end) {
        (Some(s), Some(e)) if s >= e => return Err(bad("start_date must be before end_date".into())),
        (Some(s), Some(e)) if e - s > window => {
            return Err(bad(format!("start_date to end_date may span at most {WINDOW_DAYS} days")));
        }
        (Some(s), Some(e)) => (s, e),
        (Some(s), None) => (s, s + window),
        (None, Some(e)) => (e - window, e),
        // The end is exclusive: a millisecond past now includes what was registered just now.
        (None, None) => {
            let now = k.now() + Duration::milliseconds(1);
            (now - window, now)
        }
    };
    Ok(ListQuery::Filter(RequestQuery {
        statuses,
        category,
        registered_from: Some(from),
        registered_to: Some(to),
        ..RequestQuery::default()
    }))
}

/// `GET requests.{fmt}`.
pub(super) async fn list(app: &AppState, query: Option<&str>) -> Result<Answer, Open311Error> {
    let params = Params::parse(query)?;
    let english = params.english()?;
    let reader = reader(app, &params)?;
    let k = app.kontakt.clone();
    blocking(move || {
        let requests = match list_query(&k, &params)? {
            ListQuery::Numbers(numbers) => {
                let mut found = Vec::new();
                for n in numbers {
                    found.extend(k.request_by_number(&n)?);
                }
                found
            }
            ListQuery::Filter(q) => k.list_up_to(&q, MAX_RESULTS)?,
        };
        answer(&k, &requests, &Names::load(&k, english, reader)?)
    })
    .await
}

/// `GET requests/{id}.{fmt}`: a list of one.
pub(super) async fn one(
    State(app): State<AppState>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let (id, format) = match super::split(&file) {
        Ok(x) => x,
        Err(e) => return super::error_response(Format::Xml, &e),
    };
    let id = id.to_string();
    let result = async {
        let params = Params::parse(query.as_deref())?;
        let english = params.english()?;
        let reader = reader(&app, &params)?;
        let number = RequestNumber::parse(&id).map_err(|_| {
            Open311Error::BadRequest(format!("{id:?} is not a service_request_id like 2026-000123"))
        })?;
        let k = app.kontakt.clone();
        blocking(move || {
            let r = k
                .request_by_number(&number)?
                .ok_or_else(|| Open311Error::NotFound(format!("no service request {number}")))?;
            answer(&k, &[r], &Names::load(&k, english, reader)?)
        })
        .await
    }
    .await;
    super::respond(format, result)
}

/// `POST requests.{fmt}`: registers a request, durably, and publishes it.
pub(super) async fn post(
    State(app): State<AppState>,
    Path(file): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (name, format) = match super::split(&file) {
        Ok(x) => x,
        Err(e) => return super::error_response(Format::Xml, &e),
    };
    let result = if name == "requests" {
        register(&app, query.as_deref(), &headers, body).await
    } else {
        Err(Open311Error::MethodNotAllowed(format!("POST is accepted on requests, not on {name}")))
    };
    super::respond(format, result)
}

async fn register(
    app: &AppState,
    query: Option<&str>,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Answer, Open311Error> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Open311Error::PayloadTooLarge(format!("the body is over {} bytes", app.body_limit))
        } else {
            Open311Error::BadRequest(format!("cannot read the body: {e}"))
        }
    })?;
    let kind = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let kind = kind.split(';').next().unwrap_or("").trim();
    if !kind.is_empty() && !kind.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Err(Open311Error::BadRequest(format!(
            "send the request as application/x-www-form-urlencoded, not {kind}"
        )));
    }
    // The key is checked before the rest is read: a caller without one learns nothing of its input.
    let key = super::form::api_key(&body)
        .or_else(|| Params::parse(query).ok().and_then(|p| p.get("api_key").map(str::to_string)));
    let Some(key) = key else {
        return Err(Open311Error::Forbidden("api_key is required to post a request".into()));
    };
    let principal = app.auth.verify(&key).map_err(|e| {
        crate::state::auth_failure(&app.metrics, &e);
        Open311Error::Forbidden(format!("api_key refused: {e}"))
    })?;
    if !MAY_REGISTER.contains(&principal.role) {
        return Err(Open311Error::Forbidden(format!("{} may not register requests", principal.role)));
    }
    let posted = super::parse_post(&body)?;
    let english = Params::parse(query)?.english()?;
    let k = app.kontakt.clone();
    let actor: Actor = principal.actor();
    // A client that retries after a timeout sends the same key: one card.
    let idempotency_key = headers
        .get("idempotency-key")
        .map(|v| v.to_str().map(str::to_owned))
        .transpose()
        .map_err(|_| Open311Error::BadRequest("Idempotency-Key must be printable text".into()))?
        .filter(|k| !k.trim().is_empty());
    let outcome = blocking(move || {
        if k.category(posted.service_code.as_str())?.is_none() {
            return Err(Open311Error::BadRequest(format!(
                "unknown service_code {:?}",
                posted.service_code.as_str()
            )));
        }
        let address = match posted.location {
            Location::Point { lat, lon } => AddressPoint::Point { lat, lon },
            Location::AddressId(id) => AddressPoint::Id(id),
            Location::AddressString(text) => {
                let found = k.search_addresses(&text, 1)?.into_iter().next().ok_or_else(|| {
                    Open311Error::BadRequest(format!(
                        "no registered building matches address_string {text:?}"
                    ))
                })?;
                AddressPoint::Id(found.id.to_string())
            }
        };
        let new = NewRequest {
            category: posted.service_code,
            address,
            description: posted.description,
            channel: Channel::Open311,
            applicant: Applicant { name: posted.name, phone: posted.phone, callback_consent: false },
            raise_reason: None,
            incident: None,
        };
        let outcome = match &idempotency_key {
            Some(key) => k.register_once(new, &actor, key)?,
            None => k.register(new, &actor)?,
        };
        Ok((outcome, posted.account_id))
    })
    .await;
    let (outcome, account_id) = outcome?;
    app.bus.publish(&outcome.events, None, &outcome.request);
    let r = &outcome.request;
    let mut fields = vec![
        ("service_request_id", Node::text(r.number.to_string())),
        ("token", Node::text(r.id.to_string())),
        ("service_notice", Node::text(class_words(r.deadline_class, english))),
    ];
    if let Some(a) = account_id {
        fields.push(("account_id", Node::text(a)));
    }
    Ok(Answer { root: "service_requests", node: Node::List("request", vec![Node::Obj(fields)]) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn w3c_datetimes_parse_in_their_common_spellings() {
        let t = parse_date("start_date", "2026-03-01T10:00:00+03:00").unwrap();
        assert_eq!(w3c(t), "2026-03-01T07:00:00Z");
        assert_eq!(parse_date("d", "2026-03-01T10:00:00 03:00").unwrap(), t);
        assert_eq!(parse_date("d", "2026-03-01T10:00+03:00").unwrap(), t);
        assert_eq!(w3c(parse_date("d", "2026-03-01T07:00:00.25Z").unwrap()), "2026-03-01T07:00:00.250Z");
        assert_eq!(w3c(parse_date("d", "2026-03-01").unwrap()), "2026-02-28T21:00:00Z");
        for bad in ["yesterday", "2026-13-01", "01.03.2026", ""] {
            assert!(
                matches!(parse_date("start_date", bad), Err(Open311Error::BadRequest(m)) if m.contains("start_date"))
            );
        }
    }
}
