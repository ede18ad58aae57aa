//! The public map's endpoints, open to anyone: `/public/requests.geojson`
//! (anonymized requests) and `/public/config.json` (the map's first view).
//!
//! Anonymized means: no applicant, no description (free text may name
//! people), and the building's registry point instead of wherever the caller
//! stood. The GeoJSON is validated by an `ETag` made of the bus generation
//! (which moves on every committed change), the minute (time-left and the
//! 30-day window move with the clock), the server's boot id (generations
//! restart at 0) and the query, so a client polling an unchanged city is
//! answered 304 without a single store read.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use kontakt_workflow::model::{Category, CategoryCode, Code, RequestStatus};
use kontakt_workflow::{Kontakt, Request, RequestQuery};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::config::Map;
use crate::open311::w3c as rfc3339;
use crate::ratelimit::RateLimit;
use crate::state::AppState;

/// Default number of features.
const DEFAULT_LIMIT: usize = 2000;
/// Most features one answer holds.
const MAX_LIMIT: usize = 5000;
/// How far back `status=closed` reaches.
const CLOSED_DAYS: i64 = 30;

/// What the public endpoints share.
#[derive(Debug)]
pub struct PublicState {
    /// The per-address rate limit of `/public/*` and `/open311/*`.
    pub limit: RateLimit,
    /// The map's first view.
    pub map: Map,
    /// Different on every start, so validators of a previous run never match.
    pub boot: String,
}

impl PublicState {
    /// The state for a server starting now.
    pub fn new(limit: RateLimit, map: Map) -> Arc<Self> {
        Arc::new(Self { limit, map, boot: ulid::Ulid::generate().to_string() })
    }
}

/// The routes under `/public`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/requests.geojson", get(requests))
        .route("/config.json", get(config))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such public resource") })
}

/// A refusal: `{"error": "…"}`.
pub fn error(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

async fn config(State(app): State<AppState>) -> Response {
    let m = &app.public.map;
    Json(json!({
        "city": m.city,
        "center": m.center,
        "zoom": m.zoom,
        "tileUrl": m.tile_url,
        "tileAttribution": m.tile_attribution,
    }))
    .into_response()
}

/// Which requests the map asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    /// Every request not finished.
    Open,
    /// Finished in the last 30 days.
    Closed,
    /// Both: the open ones first.
    All,
}

/// The map's query, parsed.
#[derive(Debug, Clone, PartialEq)]
struct MapQuery {
    which: Which,
    category: Option<CategoryCode>,
    limit: usize,
}

fn parse_query(raw: Option<&str>) -> Result<MapQuery, String> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| format!("the query string is malformed: {e}"))?;
    let mut q = MapQuery { which: Which::Open, category: None, limit: DEFAULT_LIMIT };
    let mut seen: Vec<&str> = Vec::new();
    for (k, v) in &pairs {
        if seen.contains(&k.as_str()) {
            return Err(format!("{k} is given more than once"));
        }
        seen.push(k);
        match k.as_str() {
            "status" => {
                q.which = match v.as_str() {
                    "open" => Which::Open,
                    "closed" => Which::Closed,
                    "all" => Which::All,
                    other => return Err(format!("status {other:?} is not open, closed or all")),
                }
            }
            "category" => {
                q.category =
                    Some(Code::parse(v).map_err(|_| format!("category {v:?} is not a category code"))?)
            }
            "limit" => {
                q.limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| format!("limit {v:?} is not a number from 1 to {MAX_LIMIT}"))?
            }
            // Cache-busting and tracking parameters are not the client's mistake.
            _ => {}
        }
    }
    Ok(q)
}

/// True when the client's `If-None-Match` holds `etag` (weak comparison, as for GET).
fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    let bare = |t: &str| t.trim().trim_start_matches("W/").to_string();
    headers
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim() == "*" || bare(t) == bare(etag)))
}

async fn requests(State(app): State<AppState>, headers: HeaderMap, RawQuery(raw): RawQuery) -> Response {
    let query = match parse_query(raw.as_deref()) {
        Ok(q) => q,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    if let Some(code) = &query.category {
        match app.kontakt.category(code.as_str()) {
            Ok(Some(_)) => {}
            Ok(None) => return error(StatusCode::BAD_REQUEST, &format!("unknown category {code}")),
            Err(e) => {
                tracing::error!(error = %e, "reading a category");
                return error(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
            }
        }
    }
    // Read before the body is built: a change committed meanwhile makes the next poll rebuild.
    let generation = app.bus.generation();
    let now = app.kontakt.now();
    let digest = Sha256::digest(raw.as_deref().unwrap_or("").as_bytes());
    let hash: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let etag = format!("W/\"{}-{generation}-{}-{hash}\"", app.public.boot, now.timestamp().div_euclid(60));
    let mut response = if not_modified(&headers, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let k = app.kontakt.clone();
        match tokio::task::spawn_blocking(move || build(&k, &query, now)).await {
            Ok(Ok(body)) => ([(header::CONTENT_TYPE, "application/geo+json")], body).into_response(),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "building the public map");
                return error(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
            }
            Err(e) => {
                tracing::error!(error = %e, "public map task failed");
                return error(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
            }
        }
    };
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    response
}

/// The collection; foreign member `generatedAt` is the time `timeLeftSeconds` counts from.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct FeatureCollection<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    generated_at: String,
    features: Vec<Feature<'a>>,
}

#[derive(Serialize)]
struct Feature<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: String,
    geometry: Point,
    properties: Properties<'a>,
}

#[derive(Serialize)]
struct Point {
    #[serde(rename = "type")]
    kind: &'static str,
    coordinates: [f64; 2],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Properties<'a> {
    number: String,
    status: &'static str,
    open: bool,
    overdue: bool,
    deadline: String,
    time_left_seconds: Option<i64>,
    registered_at: String,
    resolved_at: Option<String>,
    deadline_class: &'static str,
    category_code: &'a str,
    category_name: &'a str,
    category_name_en: &'a str,
    organization: Option<&'a str>,
    address: String,
}

fn feature<'a>(
    r: &'a Request,
    now: DateTime<Utc>,
    categories: &'a HashMap<String, Category>,
    organizations: &'a HashMap<String, String>,
) -> Feature<'a> {
    let open = r.status.is_open();
    let category = categories.get(r.category.as_str());
    Feature {
        kind: "Feature",
        id: r.number.to_string(),
        geometry: Point { kind: "Point", coordinates: [r.address.lon, r.address.lat] },
        properties: Properties {
            number: r.number.to_string(),
            status: r.status.as_str(),
            open,
            overdue: open && r.deadline <= now,
            deadline: rfc3339(r.deadline),
            time_left_seconds: open.then(|| (r.deadline - now).num_seconds()),
            registered_at: rfc3339(r.registered_at),
            resolved_at: r.resolved_at.map(rfc3339),
            deadline_class: r.deadline_class.as_str(),
            category_code: r.category.as_str(),
            category_name: category.map_or(r.category.as_str(), |c| c.name_ru.as_str()),
            category_name_en: category.map_or(r.category.as_str(), |c| c.name_en.as_str()),
            organization: r
                .organization
                .as_ref()
                .and_then(|o| organizations.get(o.as_str()))
                .map(String::as_str),
            address: r.address.label(),
        },
    }
}

/// Reads the requests asked for through the indexes and writes the collection.
fn build(k: &Kontakt, q: &MapQuery, now: DateTime<Utc>) -> Result<Vec<u8>, String> {
    let mut found = Vec::new();
    if q.which != Which::Closed {
        let open = RequestQuery {
            statuses: RequestStatus::ALL.iter().copied().filter(|s| s.is_open()).collect(),
            category: q.category.clone(),
            ..RequestQuery::default()
        };
        found = k.list_up_to(&open, q.limit).map_err(|e| e.to_string())?;
    }
    if q.which != Which::Open && found.len() < q.limit {
        let since = now - Duration::days(CLOSED_DAYS);
        found.extend(
            k.finished_since(since, q.category.as_ref(), q.limit - found.len()).map_err(|e| e.to_string())?,
        );
    }
    let categories: HashMap<String, Category> =
        k.categories().map_err(|e| e.to_string())?.into_iter().map(|c| (c.code.to_string(), c)).collect();
    let organizations: HashMap<String, String> = k
        .organizations()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|o| (o.id.to_string(), o.name_ru))
        .collect();
    let collection = FeatureCollection {
        kind: "FeatureCollection",
        generated_at: rfc3339(now),
        features: found.iter().map(|r| feature(r, now, &categories, &organizations)).collect(),
    };
    serde_json::to_vec(&collection).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_defaults_to_open_requests_and_refuses_bad_values() {
        assert_eq!(
            parse_query(None).unwrap(),
            MapQuery { which: Which::Open, category: None, limit: DEFAULT_LIMIT }
        );
        let q = parse_query(Some("status=all&category=water-leak&limit=10&_=123")).unwrap();
        assert_eq!((q.which, q.category.unwrap().as_str(), q.limit), (Which::All, "water-leak", 10));
        for (bad, word) in [
            ("status=pending", "status"),
            ("limit=0", "limit"),
            ("limit=5001", "limit"),
            ("limit=ten", "limit"),
            ("category=Not%20a%20code", "category"),
            ("status=open&status=closed", "more than once"),
        ] {
            assert!(parse_query(Some(bad)).unwrap_err().contains(word), "{bad}");
        }
    }

    #[test]
    fn if_none_match_compares_weakly_and_takes_lists_and_stars() {
        let etag = "W/\"b-1-2-ab\"";
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(header::IF_NONE_MATCH, HeaderValue::from_str(v).unwrap());
            h
        };
        assert!(not_modified(&with(etag), etag));
        assert!(not_modified(&with("\"b-1-2-ab\""), etag));
        assert!(not_modified(&with("\"x\", W/\"b-1-2-ab\""), etag));
        assert!(not_modified(&with("*"), etag));
        assert!(!not_modified(&with("W/\"b-2-2-ab\""), etag));
        assert!(!not_modified(&HeaderMap::new(), etag));
    }
}
