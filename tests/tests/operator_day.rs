//! The operator's working day through the API against the real server: who
//! is calling (requests by phone in any form), what may be done to a request
//! right now, the sentence to read out, notes on a card.

use kontakt_tests::app::spawn_demo;
use serde_json::{Value, json};

const REGISTER: &str =
    r#"mutation($input: RegisterRequestInput!) { registerRequest(input: $input) { id number } }"#;

fn card(address: &str, phone: &str) -> Value {
    json!({ "input": { "categoryCode": "pothole", "addressId": address, "description": "Яма у подъезда",
        "applicant": { "name": "Орлова", "phone": phone, "callbackConsent": true } } })
}

#[tokio::test]
async fn a_callers_requests_are_found_by_their_phone_in_any_form() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_demo(dir.path());
    let op = app.token("OPERATOR");
    let mut numbers = Vec::new();
    for (address, typed) in [("g001-020", "8 856 412-34-56"), ("g001-021", "+7 856 4123456")] {
        let (_, b) = app.gql(Some(&op), REGISTER, card(address, typed)).await;
        numbers.push(
            b["data"]["registerRequest"]["number"].as_str().unwrap_or_else(|| panic!("{b}")).to_string(),
        );
    }
    app.gql(Some(&op), REGISTER, card("g001-022", "+7 856 4000000")).await;
    for typed in ["(856) 412 34 56", "412-34-56", "8 (856) 412-34-56"] {
        let q =
            r#"query($p: String) { requests(first: 10, filter: {phone: $p}) { edges { node { number } } } }"#;
        let (_, b) = app.gql(Some(&op), q, json!({ "p": typed })).await;
        let found: Vec<&str> = b["data"]["requests"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["number"].as_str().unwrap())
            .collect();
        assert_eq!(
            found,
            vec![numbers[1].as_str(), numbers[0].as_str()],
            "{typed}: newest first, that line only"
        );
    }
}

#[tokio::test]
async fn the_page_offers_only_what_the_server_accepts_and_reads_out_the_status() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_demo(dir.path());
    let op = app.token("OPERATOR");
    let (_, b) = app.gql(Some(&op), REGISTER, card("g001-023", "+7 856 4111111")).await;
    let id = b["data"]["registerRequest"]["id"].as_str().unwrap().to_string();
    let actions = async |token: &str| {
        let (_, b) = app
            .gql(Some(token), &format!(r#"{{ request(id: "{id}") {{ allowedActions }} }}"#), json!({}))
            .await;
        b["data"]["request"]["allowedActions"]
            .as_array()
            .unwrap_or_else(|| panic!("{b}"))
            .iter()
            .map(|a| a.as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        actions(&op).await,
        ["RAISE_TO_EMERGENCY", "LINK_TO_INCIDENT", "ADD_NOTE", "CORRECT", "ADD_APPLICANT", "CANCEL"]
    );
    assert_eq!(actions(&app.token("roads-gorlovka")).await, ["ACCEPT", "RESOLVE", "REJECT", "ADD_NOTE"]);
    let (_, b) = app
        .gql(
            Some(&app.token("zhek-central")),
            &format!(r#"{{ request(id: "{id}") {{ allowedActions }} }}"#),
            json!({}),
        )
        .await;
    assert!(b["data"]["request"].is_null(), "another organization's request is not there at all: {b}");
    let sup = actions(&app.token("SUPERVISOR")).await;
    assert!(sup.contains(&"REASSIGN".to_string()) && sup.contains(&"RESOLVE".to_string()), "{sup:?}");
    // What is not offered is refused.
    let (_, b) = app.gql(Some(&op), &format!(r#"mutation {{ reassignRequest(id: "{id}", organizationId: "vodokanal-gorlovka", reason: "не то") {{ status }} }}"#), json!({})).await;
    assert_eq!(b["errors"][0]["extensions"]["code"], "FORBIDDEN", "{b}");
    // A note, and the sentence to read out.
    let (_, b) = app.gql(Some(&op), &format!(r#"mutation {{ addNote(id: "{id}", note: "Звонила снова, стало хуже") {{ history {{ kind note actor }} }} }}"#), json!({})).await;
    let last = b["data"]["addNote"]["history"].as_array().unwrap().last().cloned().unwrap();
    assert_eq!(
        (&last["kind"], &last["note"]),
        (&json!("NOTE_ADDED"), &json!("Звонила снова, стало хуже")),
        "{b}"
    );
    let (_, b) = app
        .gql(
            Some(&op),
            &format!(
                r#"{{ request(id: "{id}") {{ number ru: statusScript en: statusScript(lang: "en") }} }}"#
            ),
            json!({}),
        )
        .await;
    let r = &b["data"]["request"];
    let number = r["number"].as_str().unwrap();
    assert!(r["ru"].as_str().unwrap().starts_with(&format!("Ваша заявка № {number} передана в ")), "{r}");
    assert!(r["ru"].as_str().unwrap().contains("срок исполнения до "), "{r}");
    assert!(r["en"].as_str().unwrap().starts_with(&format!("Your request No. {number} was sent to ")), "{r}");
}

#[tokio::test]
async fn an_incoming_call_opens_the_callers_panel_on_the_console_at_that_extension() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "pbx-shared-secret-0123456789abcdef";
    let app = kontakt_tests::app::spawn(dir.path(), &["--demo"], &[("KONTAKT__TELEPHONY__SECRET", secret)]);
    let op = app.token("OPERATOR");
    let (_, b) = app.gql(Some(&op), REGISTER, card("g001-024", "8 856 412-77-88")).await;
    let number = b["data"]["registerRequest"]["number"].as_str().unwrap().to_string();
    let (_, b) = app
        .gql(Some(&app.token("ADMIN")), r#"mutation { issueToken(role: OPERATOR, ttl: "PT8H", subject: "ivanova", extension: "101") { token } }"#, json!({}))
        .await;
    let token = b["data"]["issueToken"]["token"].as_str().unwrap_or_else(|| panic!("{b}")).to_string();
    let mut ws =
        kontakt_tests::app::WsClient::connect(&app.base, "graphql-transport-ws", json!({ "token": token }))
            .await
            .unwrap();
    ws.subscribe(
        "calls",
        "subscription { incomingCalls { callerId phone extension requests { number statusScript } } }",
        json!({}),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let pbx = reqwest::Client::new();
    let ring = async |bearer: &str, extension: &str| {
        pbx.post(format!("{}/telephony/incoming", app.base))
            .bearer_auth(bearer)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("caller_id=88564127788&extension={extension}"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(ring("wrong-secret", "101").await, 401);
    assert_eq!(ring(secret, "102").await, 202, "another desk rings");
    assert_eq!(ring(secret, "101").await, 202);
    let popped = ws.next_payload(5).await.expect("the console hears its call");
    let call = &popped["data"]["incomingCalls"];
    assert_eq!((&call["extension"], &call["phone"]), (&json!("101"), &json!("+78564127788")), "{popped}");
    assert_eq!(call["requests"][0]["number"], number.as_str(), "the caller's requests: {popped}");
    assert!(call["requests"][0]["statusScript"].as_str().unwrap().contains(&number));
}

async fn resolve_one(app: &kontakt_tests::app::TestApp, address: &str, phone: &str) -> String {
    let (_, b) = app.gql(Some(&app.token("OPERATOR")), REGISTER, card(address, phone)).await;
    let id = b["data"]["registerRequest"]["id"].as_str().unwrap_or_else(|| panic!("{b}")).to_string();
    let (_, b) = app
        .gql(
            Some(&app.token("roads-gorlovka")),
            &format!(r#"mutation {{ resolveRequest(id: "{id}", resolution: "Яму заделали") {{ status }} }}"#),
            json!({}),
        )
        .await;
    assert_eq!(b["data"]["resolveRequest"]["status"], "RESOLVED", "{b}");
    id
}

#[tokio::test]
async fn without_a_dialer_callbacks_wait_for_an_operator_who_calls_and_records_the_answer() {
    let dir = tempfile::tempdir().unwrap();
    let app = kontakt_tests::app::spawn(
        dir.path(),
        &["--demo"],
        &[("KONTAKT__CALLBACKS__DIALER__KIND", "none"), ("KONTAKT__JOBS__CALLBACKS", "*/1 * * * * *")],
    );
    let fixed = resolve_one(&app, "g001-025", "+7 856 4222201").await;
    let broken = resolve_one(&app, "g001-026", "+7 856 4222202").await;
    let op = app.token("OPERATOR");
    let list = r#"{ callbackWorklist { reason phone script callableFrom callback { id status } request { id number } } }"#;
    let (_, b) = app.gql(Some(&op), list, json!({})).await;
    let items = b["data"]["callbackWorklist"].as_array().unwrap_or_else(|| panic!("{b}")).clone();
    let mine: Vec<&Value> = items
        .iter()
        .filter(|i| i["request"]["id"] == fixed.as_str() || i["request"]["id"] == broken.as_str())
        .collect();
    assert_eq!(mine.len(), 2, "both wait for a person: {b}");
    let item = mine.iter().find(|i| i["request"]["id"] == fixed.as_str()).unwrap();
    assert_eq!((&item["reason"], &item["phone"]), (&json!("NO_DIALER"), &json!("+78564222201")));
    assert!(item["script"].as_str().unwrap().contains("Яму заделали"), "{item}");
    // The job placed no call by itself meanwhile.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (_, b) = app
        .gql(
            Some(&op),
            &format!(r#"{{ request(id: "{fixed}") {{ allowedActions callbacks {{ status attempts }} }} }}"#),
            json!({}),
        )
        .await;
    assert_eq!(b["data"]["request"]["callbacks"][0]["status"], "PENDING", "{b}");
    assert!(
        b["data"]["request"]["allowedActions"]
            .as_array()
            .unwrap()
            .contains(&json!("RECORD_CALLBACK_OUTCOME")),
        "{b}"
    );
    let record = async |id: &str, outcome: &str| {
        let task = items.iter().find(|i| i["request"]["id"] == id).unwrap()["callback"]["id"]
            .as_str()
            .unwrap()
            .to_string();
        let (_, b) = app.gql(Some(&op), &format!(r#"mutation {{ recordCallbackOutcome(taskId: "{task}", outcome: {outcome}, note: "звонил оператор") {{ status }} }}"#), json!({})).await;
        b["data"]["recordCallbackOutcome"]["status"].clone()
    };
    assert_eq!(record(&fixed, "CONFIRMED").await, "CLOSED");
    assert_eq!(record(&broken, "NOT_FIXED").await, "DISPATCHED", "not fixed reopens to the organization");
    let (_, b) = app.gql(Some(&op), list, json!({})).await;
    assert!(
        !b["data"]["callbackWorklist"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["request"]["id"] == fixed.as_str()),
        "done calls leave the list: {b}"
    );
}

#[tokio::test]
async fn a_resolution_at_night_is_called_back_when_calling_hours_open() {
    let dir = tempfile::tempdir().unwrap();
    let app = kontakt_tests::app::spawn(
        dir.path(),
        &["--demo"],
        &[
            ("KONTAKT__TESTING__MOVABLE_CLOCK", "true"),
            ("KONTAKT__CALLBACKS__CALLING_HOURS", "09:00-21:00"),
            ("KONTAKT__JOBS__CALLBACKS", "*/1 * * * * *"),
        ],
    );
    let advance = async |secs: i64| app.advance_clock(secs).await;
    // To 22:00 city time (UTC+3), tonight or tomorrow.
    let city = chrono::Utc::now() + chrono::Duration::hours(3);
    let day = city.date_naive();
    let ten_pm = day.and_hms_opt(22, 0, 0).unwrap();
    let target = if city.naive_utc() < ten_pm { ten_pm } else { ten_pm + chrono::Duration::days(1) };
    advance((target - city.naive_utc()).num_seconds()).await;
    let id = resolve_one(&app, "g001-027", "+7 856 4222203").await;
    let status = async || {
        let (_, b) = app
            .gql(
                Some(&app.token("OPERATOR")),
                &format!(r#"{{ request(id: "{id}") {{ callbacks {{ status }} }} }}"#),
                json!({}),
            )
            .await;
        b["data"]["request"]["callbacks"][0]["status"].as_str().unwrap_or_default().to_string()
    };
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert_eq!(status().await, "PENDING", "nobody is called at night");
    advance(11 * 3600).await;
    let mut now = String::new();
    for _ in 0..50 {
        now = status().await;
        if now == "SENT" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(now, "SENT", "called once calling hours open at 09:00");
}

#[tokio::test]
async fn a_wrong_category_is_corrected_with_its_consequences_and_the_original_stays_in_the_history() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_demo(dir.path());
    let op = app.token("OPERATOR");
    let (_, b) = app.gql(Some(&op), REGISTER, card("g001-028", "+7 856 4333301")).await;
    let id = b["data"]["registerRequest"]["id"].as_str().unwrap().to_string();
    // A pothole (one week) that is really a gas smell (6 hours): tighter, and not accepted yet, so it moves.
    let fix = format!(
        r#"mutation {{ correctRequest(id: "{id}", input: {{categoryCode: "gas-smell"}}, reason: "заявитель уточнил: пахнет газом") {{ deadlineClass organization {{ id }} category {{ code }} registeredAt deadline history {{ kind note }} }} }}"#
    );
    let (_, b) = app.gql(Some(&op), &fix, json!({})).await;
    let r = &b["data"]["correctRequest"];
    assert_eq!(
        (&r["deadlineClass"], &r["organization"]["id"], &r["category"]["code"]),
        (&json!("EMERGENCY"), &json!("gas-gorlovka"), &json!("gas-smell")),
        "{b}"
    );
    let registered = chrono::DateTime::parse_from_rfc3339(r["registeredAt"].as_str().unwrap()).unwrap();
    let deadline = chrono::DateTime::parse_from_rfc3339(r["deadline"].as_str().unwrap()).unwrap();
    assert_eq!(deadline - registered, chrono::Duration::hours(6));
    let kinds: Vec<&str> =
        r["history"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["REGISTERED", "DISPATCHED", "CORRECTED"], "the registration keeps the original");
    // Back to a looser class: only a supervisor.
    let back = format!(
        r#"mutation {{ correctRequest(id: "{id}", input: {{categoryCode: "pothole"}}, reason: "ошибка") {{ deadlineClass }} }}"#
    );
    let (_, b) = app.gql(Some(&op), &back, json!({})).await;
    assert_eq!(b["errors"][0]["extensions"]["code"], "FORBIDDEN", "{b}");
    let (_, b) = app.gql(Some(&app.token("SUPERVISOR")), &back, json!({})).await;
    assert_eq!(b["data"]["correctRequest"]["deadlineClass"], "LONG", "{b}");
}

#[tokio::test]
async fn an_address_not_in_the_registry_is_registered_listed_and_attached_to_a_building_added_while_running()
{
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_demo(dir.path());
    let (op, admin) = (app.token("OPERATOR"), app.token("ADMIN"));
    let (_, b) = app.gql(Some(&op), "{ districts }", json!({})).await;
    let district = b["data"]["districts"][0].as_str().unwrap_or_else(|| panic!("{b}")).to_string();
    let free = |district: &str| {
        json!({ "input": { "categoryCode": "pothole", "description": "Яма у частного дома",
            "freeAddress": { "text": "Садовый тупик, частный дом за школой", "district": district } } })
    };
    // An unknown district is refused, and nothing is registered.
    let (_, b) = app.gql(Some(&op), REGISTER, free("Нет такого района")).await;
    assert_eq!(b["errors"][0]["extensions"]["code"], "VALIDATION", "{b}");
    let (_, b) = app.gql(Some(&op), REGISTER, free(&district)).await;
    let id = b["data"]["registerRequest"]["id"].as_str().unwrap_or_else(|| panic!("{b}")).to_string();
    let q = r#"query($id: ID!) { request(id: $id) { addressUnconfirmed address { id label district } organization { id } } }"#;
    let (_, b) = app.gql(Some(&op), q, json!({ "id": id })).await;
    let r = &b["data"]["request"];
    assert_eq!(r["addressUnconfirmed"], true);
    assert_eq!(r["address"]["label"], "Садовый тупик, частный дом за школой");
    assert_eq!(r["address"]["district"], district.as_str());
    assert!(!r["organization"].is_null(), "routed by its district: {b}");
    // Listed for the administration.
    let list = r#"{ requests(first: 10, filter: { addressUnconfirmed: true }) { edges { node { id } } } }"#;
    let (_, b) = app.gql(Some(&admin), list, json!({})).await;
    assert_eq!(b["data"]["requests"]["edges"][0]["node"]["id"], id.as_str(), "{b}");
    // An operator may not add buildings; an admin may, with the server running.
    let add = r#"mutation($b: BuildingInput!) { addBuilding(input: $b) { id label } }"#;
    let building = json!({ "b": { "street": "Садовый тупик", "house": "3", "district": district, "lat": 48.3, "lon": 38.05 } });
    let (_, b) = app.gql(Some(&op), add, building.clone()).await;
    assert_eq!(b["errors"][0]["extensions"]["code"], "FORBIDDEN", "{b}");
    let (_, b) = app.gql(Some(&admin), add, building).await;
    let building_id = b["data"]["addBuilding"]["id"].as_str().unwrap_or_else(|| panic!("{b}")).to_string();
    let (_, b) = app.gql(Some(&op), r#"{ addresses(search: "Садовый тупик 3") { id } }"#, json!({})).await;
    assert_eq!(b["data"]["addresses"][0]["id"], building_id.as_str(), "searchable at once: {b}");
    // Attaching the building confirms the address; the history keeps the words.
    let fix = r#"mutation($id: ID!, $a: ID!) { correctRequest(id: $id, input: { addressId: $a }, reason: "дом внесён в реестр") { addressUnconfirmed address { id } } }"#;
    let (_, b) = app.gql(Some(&admin), fix, json!({ "id": id, "a": building_id })).await;
    assert_eq!(b["data"]["correctRequest"]["addressUnconfirmed"], false, "{b}");
    let (_, b) = app.gql(Some(&admin), list, json!({})).await;
    assert_eq!(b["data"]["requests"]["edges"].as_array().map(Vec::len), Some(0), "no longer listed: {b}");
}

#[tokio::test]
async fn an_unrouted_request_stays_in_the_unrouted_queue_when_it_becomes_overdue() {
    let dir = tempfile::tempdir().unwrap();
    let app = kontakt_tests::app::spawn(
        dir.path(),
        &["--demo"],
        &[("KONTAKT__TESTING__MOVABLE_CLOCK", "true"), ("KONTAKT__JOBS__SLA_SWEEP", "*/1 * * * * *")],
    );
    let (op, sup) = (app.token("OPERATOR"), app.token("SUPERVISOR"));
    let unrouted = async || {
        let (_, b) = app.gql(Some(&sup), "{ slaBoard { unrouted } }", json!({})).await;
        b["data"]["slaBoard"]["unrouted"].as_u64().unwrap_or_else(|| panic!("{b}"))
    };
    let before = unrouted().await;
    // A gas-like emergency in a category no routing rule covers: nobody holds it.
    let (_, b) = app
        .gql(
            Some(&op),
            r#"mutation { registerRequest(input: { categoryCode: "other", addressId: "g001-020",
                description: "Пахнет чем-то едким в подвале", raiseToEmergency: "запах в подвале жилого дома" }) { id status } }"#,
            json!({}),
        )
        .await;
    let id = b["data"]["registerRequest"]["id"].as_str().unwrap_or_else(|| panic!("{b}")).to_string();
    assert_eq!(b["data"]["registerRequest"]["status"], "REGISTERED");
    assert_eq!(unrouted().await, before + 1);
    app.advance_clock(7 * 3600).await;
    let q = format!(r#"{{ request(id: "{id}") {{ status organization {{ id }} }} }}"#);
    let mut status = String::new();
    for _ in 0..100 {
        let (_, b) = app.gql(Some(&sup), &q, json!({})).await;
        status = b["data"]["request"]["status"].as_str().unwrap_or_default().to_string();
        if status == "OVERDUE" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(status, "OVERDUE");
    assert!(unrouted().await > before, "an overdue request nobody holds is still counted as unrouted");
}
