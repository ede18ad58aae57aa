//! The public map through the real server: anonymized GeoJSON at the
//! building's point, its filters, validation by ETag, the map's first view,
//! the per-address rate limit of the public endpoints, and the web client at `/`.

use kontakt_tests::app::{TestApp, spawn};
use serde_json::{Value, json};

const GEOJSON: &str = "/public/requests.geojson";

/// The demo server with a burst no test reaches: these tests are about
/// answers, not the rate limit (which has its own test).
fn spawn_unlimited(data: &std::path::Path) -> TestApp {
    spawn(data, &["--demo"], &[("KONTAKT__PUBLIC__BURST", "100000")])
}

fn parse(status: u16, body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{status}: not JSON ({e}): {body}"))
}

async fn map(app: &TestApp, query: &str) -> Value {
    let (status, headers, body) = app.get_with(&format!("{GEOJSON}{query}"), &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(headers["content-type"], "application/geo+json");
    assert_eq!(headers["cache-control"], "no-cache");
    let v = parse(status, &body);
    assert_eq!(v["type"], "FeatureCollection");
    v
}

fn numbers(collection: &Value) -> Vec<String> {
    collection["features"].as_array().unwrap().iter().map(|f| f["id"].as_str().unwrap().to_string()).collect()
}

async fn register(app: &TestApp, input: Value) -> Value {
    let (_, b) = app
        .gql(
            Some(&app.token("OPERATOR")),
            "mutation($input: RegisterRequestInput!) { registerRequest(input: $input) {
               id number status deadline registeredAt deadlineClass organization { name }
               address { label lat lon } } }",
            json!({ "input": input }),
        )
        .await;
    assert!(b["data"]["registerRequest"].is_object(), "{b}");
    b["data"]["registerRequest"].clone()
}

fn instant(v: &Value) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339(v.as_str().unwrap()).unwrap().to_utc()
}

#[tokio::test]
async fn the_map_shows_requests_at_their_building_and_nothing_personal() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_unlimited(dir.path());
    let (status, body) = app.get("/public/config.json").await;
    assert_eq!(
        parse(status, &body),
        json!({
            "city": "Горловка", "center": [48.2995, 38.0495], "zoom": 13,
            "tileUrl": "https://tile.openstreetmap.org/{z}/{x}/{y}.png",
            "tileAttribution": "© OpenStreetMap contributors",
        })
    );
    assert_eq!(numbers(&map(&app, "").await), Vec::<String>::new());

    // The caller stands across the street; the map shows the building.
    let (caller_lat, caller_lon) = (48.296400, 38.028400);
    let secret = "Квартира 5, спросить Секретову";
    let first = register(
        &app,
        json!({
            "categoryCode": "power-outage-building", "lat": caller_lat, "lon": caller_lon, "description": secret,
            "applicant": { "name": "Секретова Анна", "phone": "8 (856) 412-34-56", "callbackConsent": true }
        }),
    )
    .await;
    let second = register(
        &app,
        json!({ "categoryCode": "pothole", "addressId": "g003-005", "description": "Яма у дома" }),
    )
    .await;
    let (first_no, second_no) = (first["number"].as_str().unwrap(), second["number"].as_str().unwrap());

    let (status, headers, body) = app.get_with(GEOJSON, &[]).await;
    assert_eq!(status, 200);
    assert!(headers.contains_key("etag"));
    for leak in ["Секретов", "Анна", "4123456", "Квартира", "Яма у дома"] {
        assert!(!body.contains(leak), "{leak:?} leaked: {body}");
    }
    let all = parse(status, &body);
    assert_eq!(numbers(&all), [second_no, first_no], "newest first");
    let f = &all["features"][1];
    assert_eq!(f["type"], "Feature");
    assert_eq!(f["id"], first_no);
    let building = [first["address"]["lon"].as_f64().unwrap(), first["address"]["lat"].as_f64().unwrap()];
    assert_eq!(f["geometry"], json!({ "type": "Point", "coordinates": building }));
    assert_ne!(building, [caller_lon, caller_lat]);
    let p = &f["properties"];
    let mut keys: Vec<&str> = p.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "address",
            "categoryCode",
            "categoryName",
            "categoryNameEn",
            "deadline",
            "deadlineClass",
            "number",
            "open",
            "organization",
            "overdue",
            "registeredAt",
            "resolvedAt",
            "status",
            "timeLeftSeconds"
        ]
    );
    assert_eq!(p["number"], first_no);
    assert_eq!(p["status"], "DISPATCHED");
    assert_eq!((p["open"].as_bool(), p["overdue"].as_bool()), (Some(true), Some(false)));
    assert_eq!(instant(&p["deadline"]), instant(&first["deadline"]));
    assert_eq!(instant(&p["registeredAt"]), instant(&first["registeredAt"]));
    let left = p["timeLeftSeconds"].as_i64().unwrap();
    assert!((6 * 3600 - 120..=6 * 3600).contains(&left), "{left}");
    assert_eq!(p["resolvedAt"], Value::Null);
    assert_eq!(p["deadlineClass"], "EMERGENCY");
    assert_eq!(p["categoryCode"], "power-outage-building");
    assert_eq!(p["categoryName"], "Нет электроэнергии в доме");
    assert_eq!(p["categoryNameEn"], "No electricity in the building");
    assert_eq!(p["organization"], first["organization"]["name"]);
    assert_eq!(p["address"], first["address"]["label"]);
    assert!(p["address"].as_str().unwrap().starts_with("ул. Пушкинская"), "{p}");
    assert_eq!(all["features"][0]["properties"]["deadlineClass"], "LONG");

    // Resolved: off the open map, on the closed one.
    let crew = app.token("res-gorlovka");
    let id = first["id"].as_str().unwrap();
    let (_, r) = app
        .gql(Some(&crew), &format!(r#"mutation {{ acceptRequest(id: "{id}") {{ status }} }}"#), json!({}))
        .await;
    assert_eq!(r["data"]["acceptRequest"]["status"], "IN_PROGRESS", "{r}");
    let (_, r) = app
        .gql(
            Some(&crew),
            &format!(r#"mutation {{ resolveRequest(id: "{id}", resolution: "Заменили автомат") {{ status resolvedAt }} }}"#),
            json!({}),
        )
        .await;
    assert_eq!(r["data"]["resolveRequest"]["status"], "RESOLVED", "{r}");
    assert_eq!(numbers(&map(&app, "").await), [second_no]);
    assert_eq!(numbers(&map(&app, "?status=open").await), [second_no]);
    let closed = map(&app, "?status=closed").await;
    assert_eq!(numbers(&closed), [first_no]);
    let p = &closed["features"][0]["properties"];
    assert_eq!(
        (p["status"].as_str(), p["open"].as_bool(), p["overdue"].as_bool()),
        (Some("RESOLVED"), Some(false), Some(false))
    );
    assert_eq!(p["timeLeftSeconds"], Value::Null);
    assert_eq!(instant(&p["resolvedAt"]), instant(&r["data"]["resolveRequest"]["resolvedAt"]));
    assert_eq!(numbers(&map(&app, "?status=all").await), [second_no, first_no], "open first, then finished");
    assert_eq!(numbers(&map(&app, "?status=all&category=pothole").await), [second_no]);
    assert_eq!(numbers(&map(&app, "?status=closed&category=pothole").await), Vec::<String>::new());
    let third = register(
        &app,
        json!({ "categoryCode": "pothole", "addressId": "g003-006", "description": "Ещё яма" }),
    )
    .await;
    assert_eq!(numbers(&map(&app, "?limit=1").await), [third["number"].as_str().unwrap()]);

    for (query, words) in [
        ("?status=pending", "status"),
        ("?limit=0", "limit"),
        ("?limit=5001", "limit"),
        ("?category=no-such-category", "no-such-category"),
        ("?category=Bad%20Code", "category"),
    ] {
        let (status, body) = app.get(&format!("{GEOJSON}{query}")).await;
        assert_eq!(status, 400, "{query}: {body}");
        assert!(parse(status, &body)["error"].as_str().unwrap().contains(words), "{query}: {body}");
    }
    let (status, body) = app.get("/public/nothing.json").await;
    assert_eq!(status, 404);
    assert!(parse(status, &body)["error"].is_string());
}

#[tokio::test]
async fn an_unchanged_map_is_answered_304_until_a_request_changes() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_unlimited(dir.path());
    register(&app, json!({ "categoryCode": "pothole", "addressId": "g003-005", "description": "Яма" })).await;
    // The validator also moves with the minute; a poll that straddles one is repeated.
    let (etag, status, headers, body) = loop {
        let (_, headers, _) = app.get_with(GEOJSON, &[]).await;
        let etag = headers["etag"].to_str().unwrap().to_string();
        let (status, again, body) = app.get_with(GEOJSON, &[("if-none-match", &etag)]).await;
        if again["etag"].to_str().unwrap() == etag {
            break (etag, status, again, body);
        }
    };
    assert!(etag.starts_with("W/\""), "{etag}");
    assert_eq!(status, 304);
    assert_eq!(body, "");
    assert_eq!(headers["cache-control"], "no-cache");
    // Another query is another document.
    let (_, other, _) = app.get_with(&format!("{GEOJSON}?status=all"), &[]).await;
    assert_ne!(other["etag"].to_str().unwrap(), etag);

    register(&app, json!({ "categoryCode": "pothole", "addressId": "g003-006", "description": "Ещё яма" }))
        .await;
    let (status, headers, body) = app.get_with(GEOJSON, &[("if-none-match", &etag)]).await;
    assert_eq!(status, 200);
    assert_ne!(headers["etag"].to_str().unwrap(), etag);
    assert_eq!(parse(status, &body)["features"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn a_client_over_its_burst_is_told_when_to_come_back() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(
        dir.path(),
        &["--demo"],
        &[
            ("KONTAKT__PUBLIC__BURST", "3"),
            ("KONTAKT__PUBLIC__RATE_PER_MINUTE", "2"),
            ("KONTAKT__MAP__TILE_URL", ""),
        ],
    );
    let (status, body) = app.get("/public/config.json").await;
    assert_eq!(parse(status, &body)["tileUrl"], "", "an empty tile URL means a blank background");
    let (status, _) = app.get(GEOJSON).await;
    assert_eq!(status, 200);
    let (status, _) = app.get("/open311/v2/services.json").await;
    assert_eq!(status, 200);

    let (status, headers, body) = app.get_with(GEOJSON, &[]).await;
    assert_eq!(status, 429, "{body}");
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=30).contains(&wait), "{wait}");
    assert!(parse(status, &body)["error"].as_str().unwrap().contains("too many requests"), "{body}");
    let (status, headers, body) = app.get_with("/open311/v2/services.json", &[]).await;
    assert_eq!(status, 429);
    assert!(headers.contains_key("retry-after"));
    assert_eq!(parse(status, &body)[0]["code"], 429, "{body}");
    let (status, _, body) = app.get_with("/open311/v2/requests.xml", &[]).await;
    assert_eq!(status, 429);
    let doc = roxmltree::Document::parse(&body).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "errors");
    assert!(body.contains("<code>429</code>"), "{body}");

    // The rest of the API is not behind this limit.
    let (_, b) = app.gql(Some(&app.token("OPERATOR")), "{ me { role } }", json!({})).await;
    assert_eq!(b["data"]["me"]["role"], "OPERATOR");
    let (_, metrics) = app.get("/metrics").await;
    assert!(metrics.contains(r#"kontakt_rate_limited_total{surface="public"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"kontakt_rate_limited_total{surface="open311"} 2"#), "{metrics}");
}

#[tokio::test]
async fn the_web_client_is_served_at_the_root_once_built() {
    let dir = tempfile::tempdir().unwrap();
    let ui = tempfile::tempdir().unwrap();
    let dist = ui.path().join("dist");
    let app = spawn(dir.path(), &["--demo"], &[("KONTAKT__UI__DIR", dist.to_str().unwrap())]);

    let (status, body) = app.get("/").await;
    assert_eq!(status, 503);
    assert!(body.contains("make ui"), "{body}");
    let (_, b) = app.gql(Some(&app.token("OPERATOR")), "{ me { role } }", json!({})).await;
    assert_eq!(b["data"]["me"]["role"], "OPERATOR", "the API runs without the client");

    std::fs::create_dir_all(dist.join("assets")).unwrap();
    std::fs::write(dist.join("index.html"), "<!doctype html><title>Контакт</title>").unwrap();
    std::fs::write(dist.join("assets/app.js"), "console.log('kontakt')").unwrap();
    let (status, body) = app.get("/").await;
    assert_eq!((status, body.as_str()), (200, "<!doctype html><title>Контакт</title>"));
    let (status, body) = app.get("/assets/app.js").await;
    assert_eq!((status, body.as_str()), (200, "console.log('kontakt')"));
    let (status, body) = app.get("/board/overdue").await;
    assert_eq!(
        (status, body.as_str()),
        (200, "<!doctype html><title>Контакт</title>"),
        "client routes load the app"
    );
    let (status, body) = app.get("/graphql/nothing").await;
    assert_eq!(status, 404, "API paths never fall back to the page: {body}");
    let (status, body) = app.get("/open311/v2/nothing/here.json").await;
    assert_eq!(status, 404);
    assert_eq!(parse(status, &body)[0]["code"], 404);
}
