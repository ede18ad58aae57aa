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
    assert_eq!(actions(&op).await, ["RAISE_TO_EMERGENCY", "LINK_TO_INCIDENT", "ADD_NOTE", "CANCEL"]);
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
