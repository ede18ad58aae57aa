//! The whole lifecycle through the real server: register → auto-dispatch →
//! accept → resolve → close over HTTP, with a websocket subscriber receiving
//! each event as it commits; then the ladder's events over the legacy protocol.

use kontakt_tests::app::{WsClient, spawn_demo};
use serde_json::{Value, json};

const REGISTER: &str = "mutation($input: RegisterRequestInput!) { registerRequest(input: $input) { id number status organization { id } deadline timeLeft applicant { name phone } } }";

fn card(category: &str, address: &str) -> Value {
    json!({ "input": {
        "categoryCode": category, "addressId": address, "description": "Нет света во всём подъезде",
        "applicant": { "name": "Иванова Мария", "phone": "8 (856) 412-34-56", "callbackConsent": true }
    }})
}

#[tokio::test]
async fn a_request_goes_from_registration_to_closed_and_every_step_is_streamed() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_demo(dir.path());
    let (operator, crew) = (app.token("OPERATOR"), app.token("res-gorlovka"));

    let mut ws =
        WsClient::connect(&app.base, "graphql-transport-ws", json!({ "token": operator })).await.unwrap();
    assert_eq!(ws.protocol, "graphql-transport-ws");
    ws.subscribe("1", "subscription { requestEvents { kind status request { number } } }", json!({})).await;
    // graphql-transport-ws does not acknowledge a subscribe: give the server a moment to start the stream.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let (status, body) = app.gql(Some(&operator), REGISTER, card("power-outage-building", "g001-001")).await;
    assert_eq!(status, 200, "{body}");
    let r = &body["data"]["registerRequest"];
    assert_eq!(r["status"], "DISPATCHED", "{body}");
    assert_eq!(r["organization"]["id"], "res-gorlovka");
    assert_eq!(r["applicant"]["phone"], "+78564123456");
    assert!(r["timeLeft"].as_str().unwrap().starts_with("PT5H59M"), "{body}");
    let (id, number) = (r["id"].as_str().unwrap().to_string(), r["number"].as_str().unwrap().to_string());

    let step = |q: &str| q.replace("$ID", &id);
    let (_, b) =
        app.gql(Some(&crew), &step(r#"mutation { acceptRequest(id: "$ID") { status } }"#), json!({})).await;
    assert_eq!(b["data"]["acceptRequest"]["status"], "IN_PROGRESS", "{b}");
    let (_, b) = app
        .gql(Some(&crew), &step(r#"mutation { resolveRequest(id: "$ID", resolution: "Заменили автомат в щитке") { status resolvedLate } }"#), json!({}))
        .await;
    assert_eq!(b["data"]["resolveRequest"]["status"], "RESOLVED", "{b}");
    assert_eq!(b["data"]["resolveRequest"]["resolvedLate"], false);
    let (_, b) = app
        .gql(
            Some(&operator),
            &step(r#"mutation { closeRequest(id: "$ID", note: "Заявитель подтвердил") { status } }"#),
            json!({}),
        )
        .await;
    assert_eq!(b["data"]["closeRequest"]["status"], "CLOSED", "{b}");

    let mut seen = Vec::new();
    for _ in 0..5 {
        let p = ws.next_payload(10).await.expect("an event for each step");
        let e = &p["data"]["requestEvents"];
        assert_eq!(e["request"]["number"], number.as_str());
        seen.push((e["kind"].as_str().unwrap().to_string(), e["status"].as_str().unwrap().to_string()));
    }
    let expected = [
        ("REGISTERED", "REGISTERED"),
        ("DISPATCHED", "DISPATCHED"),
        ("ACCEPTED", "IN_PROGRESS"),
        ("RESOLVED", "RESOLVED"),
        ("CLOSED", "CLOSED"),
    ];
    assert_eq!(seen, expected.map(|(k, s)| (k.to_string(), s.to_string())).to_vec());

    let (_, h) = app
        .gql(Some(&operator), &step(r#"{ requestHistory(id: "$ID") { seq kind actor note } }"#), json!({}))
        .await;
    let history = h["data"]["requestHistory"].as_array().unwrap();
    assert_eq!(history.len(), 5);
    assert_eq!(history[2]["actor"], "crew-res-gorlovka");
    assert_eq!(history[3]["note"], "Заменили автомат в щитке");
}

#[tokio::test]
async fn an_invalid_transition_is_refused_with_its_code_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_demo(dir.path());
    let operator = app.token("OPERATOR");
    let (_, body) = app.gql(Some(&operator), REGISTER, card("pothole", "g002-003")).await;
    let id = body["data"]["registerRequest"]["id"].as_str().unwrap().to_string();
    let (_, b) = app
        .gql(Some(&operator), &format!(r#"mutation {{ closeRequest(id: "{id}") {{ status }} }}"#), json!({}))
        .await;
    assert_eq!(b["errors"][0]["extensions"]["code"], "INVALID_TRANSITION", "{b}");
    let (_, b) = app
        .gql(Some(&operator), &format!(r#"{{ request(id: "{id}") {{ status version }} }}"#), json!({}))
        .await;
    assert_eq!(b["data"]["request"]["status"], "DISPATCHED");
    assert_eq!(b["data"]["request"]["version"], 1);
    // A stale expectedVersion is a CONFLICT.
    let crew = app.token("roads-gorlovka");
    let (_, b) = app
        .gql(
            Some(&crew),
            &format!(r#"mutation {{ acceptRequest(id: "{id}", expectedVersion: 7) {{ status }} }}"#),
            json!({}),
        )
        .await;
    assert_eq!(b["errors"][0]["extensions"]["code"], "CONFLICT", "{b}");
    // Unknown ids and malformed input.
    let (_, b) =
        app.gql(Some(&operator), r#"{ request(id: "01M8KRPZ0692EH7XWSJMCFKS16") { id } }"#, json!({})).await;
    assert_eq!(b["data"]["request"], Value::Null, "{b}");
    let (_, b) = app.gql(Some(&operator), r#"{ request(id: "nope") { id } }"#, json!({})).await;
    assert_eq!(b["errors"][0]["extensions"]["code"], "VALIDATION", "{b}");
    let mut bad = card("pothole", "g002-003");
    bad["input"]["applicant"]["phone"] = json!("позвоните соседке");
    let (_, b) = app.gql(Some(&operator), REGISTER, bad).await;
    assert_eq!(b["errors"][0]["extensions"]["code"], "VALIDATION", "{b}");
    let (_, b) =
        app.gql(Some(&operator), "{ requests(first: 50) { edges { node { id } } } }", json!({})).await;
    assert_eq!(
        b["data"]["requests"]["edges"].as_array().unwrap().len(),
        1,
        "the refused card left nothing behind"
    );
}

#[tokio::test]
async fn the_legacy_graphql_ws_protocol_is_spoken_when_offered_alone() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_demo(dir.path());
    let supervisor = app.token("SUPERVISOR");
    let mut ws = WsClient::connect(&app.base, "graphql-ws", json!({ "token": supervisor })).await.unwrap();
    assert_eq!(ws.protocol, "graphql-ws");
    ws.subscribe(
        "a",
        "subscription { slaBoard { unrouted rows { organization { id } dispatched } } }",
        json!({}),
    )
    .await;
    let first = ws.next_payload(10).await.expect("the board at once");
    assert!(first["data"]["slaBoard"]["rows"].as_array().unwrap().len() >= 6, "{first}");
    app.gql(Some(&app.token("OPERATOR")), REGISTER, card("other", "g003-001")).await;
    let next = ws.next_payload(10).await.expect("the board again after a change");
    assert_eq!(next["data"]["slaBoard"]["unrouted"], 1, "{next}");
}

#[tokio::test]
async fn both_protocols_offered_legacy_first_still_get_the_modern_one_answered_and_spoken() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_demo(dir.path());
    let mut ws = WsClient::connect(
        &app.base,
        "graphql-ws, graphql-transport-ws",
        json!({ "token": app.token("OPERATOR") }),
    )
    .await
    .unwrap();
    assert_eq!(ws.protocol, "graphql-transport-ws");
    ws.subscribe("1", "subscription { slaBoard { unrouted } }", json!({})).await;
    let p = ws.next_payload(10).await.expect("a `next` message of graphql-transport-ws");
    assert_eq!(p["data"]["slaBoard"]["unrouted"], 0, "{p}");
}

#[tokio::test]
async fn the_operator_sees_incidents_duplicates_and_the_script_while_entering_a_card() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_demo(dir.path());
    let op = app.token("OPERATOR");
    let (_, b) = app
        .gql(Some(&op), r#"{ addresses(search: "Пушкинская 12") { id lat lon street } }"#, json!({}))
        .await;
    let a = &b["data"]["addresses"][0];
    let (id, lat, lon) =
        (a["id"].as_str().unwrap().to_string(), a["lat"].as_f64().unwrap(), a["lon"].as_f64().unwrap());
    let d = 0.001;
    let polygon = json!([
        [lat - d, lon - d],
        [lat - d, lon + d],
        [lat + d, lon + d],
        [lat + d, lon - d],
        [lat - d, lon - d]
    ]);
    let (_, b) = app
        .gql(
            Some(&op),
            "mutation($p: [[Float!]!]) { createIncident(input: {title: \"Авария на ТП-12\", kind: \"power\", organizationId: \"res-gorlovka\", polygon: $p}) { id status } }",
            json!({ "p": polygon }),
        )
        .await;
    let incident = b["data"]["createIncident"]["id"].as_str().expect("created").to_string();
    let street = a["street"].as_str().unwrap().to_string();
    let (_, b) = app
        .gql(Some(&op), "mutation($s: [String!]!) { createIncident(input: {title: \"Порыв водовода\", kind: \"water\", streets: $s}) { id } }", json!({ "s": [street] }))
        .await;
    assert!(b["data"]["createIncident"]["id"].is_string(), "{b}");
    app.gql(Some(&op), REGISTER, card("roof-leak", &id)).await;

    let hints = format!(
        r#"{{ cardHints(addressId: "{id}", categoryCode: "power-outage-building") {{ activeIncidents {{ id title coverage }} openRequestsAtAddress {{ number }} deadlineClass organization {{ id }} script }} }}"#
    );
    let (_, b) = app.gql(Some(&op), &hints, json!({})).await;
    let h = &b["data"]["cardHints"];
    let coverages: Vec<&str> =
        h["activeIncidents"].as_array().unwrap().iter().map(|i| i["coverage"].as_str().unwrap()).collect();
    assert_eq!(coverages, vec!["street", "area"], "{b}");
    assert_eq!(h["activeIncidents"][1]["id"], incident.as_str());
    assert_eq!(
        h["openRequestsAtAddress"].as_array().unwrap().len(),
        1,
        "the earlier card is a possible duplicate"
    );
    assert_eq!(h["deadlineClass"], "EMERGENCY");
    assert!(!h["script"].as_str().unwrap().contains("{deadline}"), "the script is filled in: {h}");

    // Linked at registration, the card goes to the incident's organization; ending it resolves the card.
    let mut linked = card("other", &id);
    linked["input"]["incidentId"] = json!(incident);
    let (_, b) = app.gql(Some(&op), REGISTER, linked).await;
    assert_eq!(b["data"]["registerRequest"]["organization"]["id"], "res-gorlovka", "{b}");
    let (_, c) = app
        .gql(
            Some(&op),
            &format!(
                r#"{{ request(id: "{}") {{ incident {{ id title }} }} }}"#,
                b["data"]["registerRequest"]["id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
    assert_eq!(c["data"]["request"]["incident"]["title"], "Авария на ТП-12", "{c}");
    let number = b["data"]["registerRequest"]["number"].as_str().unwrap().to_string();
    // Ended by a supervisor: the linked requests are resolved on their authority.
    let (_, b) = app
        .gql(Some(&app.token("SUPERVISOR")), &format!(r#"mutation {{ endIncident(id: "{incident}", resolution: "Трансформатор заменён") {{ status }} }}"#), json!({}))
        .await;
    assert_eq!(b["data"]["endIncident"]["status"], "ENDED", "{b}");
    let (_, b) = app
        .gql(Some(&op), &format!(r#"{{ request(number: "{number}") {{ status resolution }} }}"#), json!({}))
        .await;
    assert_eq!(b["data"]["request"]["status"], "RESOLVED", "{b}");
    assert_eq!(b["data"]["request"]["resolution"], "Трансформатор заменён");
}

#[tokio::test]
async fn a_cap_file_dropped_into_the_demo_folder_becomes_an_incident() {
    let dir = tempfile::tempdir().unwrap();
    let app =
        kontakt_tests::app::spawn(dir.path(), &["--demo"], &[("KONTAKT__JOBS__FEEDS", "*/1 * * * * *")]);
    let cap = r#"<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>DEMO-1</identifier><sender>res</sender><sent>2026-11-29T09:00:00+03:00</sent>
<status>Actual</status><msgType>Alert</msgType><scope>Public</scope><info><event>power</event><headline>Плановое отключение</headline>
<area><areaDesc>Центр</areaDesc><geocode><valueName>kontakt:street</valueName><value>ул. Пушкинская</value></geocode></area></info></alert>"#;
    std::fs::write(dir.path().join("feeds/cap/demo-1.xml"), cap).unwrap();
    let op = app.token("OPERATOR");
    let mut found = json!(null);
    for _ in 0..50 {
        let (_, b) = app.gql(Some(&op), "{ incidents { edges { node { id title } } } }", json!({})).await;
        if b["data"]["incidents"]["edges"].as_array().is_some_and(|a| !a.is_empty()) {
            found = b;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(found["data"]["incidents"]["edges"][0]["node"]["id"], "demo-cap/DEMO-1", "{found}");
    let (status, body) = app.get("/readyz").await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"scheduler\":true"), "{body}");
}
