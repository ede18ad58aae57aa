//! Appeals to regional organizations, end to end on the real server: a
//! regional organization lets requests run late on the testing clock, a
//! supervisor drafts, edits and sends the appeal, and downloads it as a Word
//! letter that cites the organization, its compliance and every late request.
//! Operators are refused; so are appeals about city organizations and those
//! that met the target.

use std::io::Read;

use kontakt_tests::app::{TestApp, spawn};
use serde_json::{Value, json};

const REGISTER: &str = r#"mutation($input: RegisterRequestInput!) {
    registerRequest(input: $input) { id number registeredAt organization { id } } }"#;
const RESOLVE: &str = r#"mutation($id: ID!) { resolveRequest(id: $id, resolution: "Устранено") { status } }"#;
const APPEAL_FIELDS: &str = "id version status subject body outgoingNumber docxUrl
    organization { id name }
    figures { onTime late openOverdue compliance target }
    lateRequests { number categoryCode deadline resolvedAt status }
    history { kind actor actorRole note }";

/// The gas utility: regional, and every gas smell is a 6-hour emergency.
const GAS: &str = "gas-gorlovka";
const GAS_NAME: &str = "Горловское управление по газоснабжению и газификации";

fn spawn_movable(dir: &std::path::Path) -> TestApp {
    spawn(dir, &["--demo"], &[("KONTAKT__TESTING__MOVABLE_CLOCK", "true")])
}

/// A registered request: its id, number and registration time.
struct Card {
    id: String,
    number: String,
    registered_at: String,
}

async fn register(app: &TestApp, category: &str, address: &str, organization: &str) -> Card {
    let input =
        json!({ "input": { "categoryCode": category, "addressId": address, "description": "Обращение" } });
    let (_, b) = app.gql(Some(&app.token("OPERATOR")), REGISTER, input).await;
    let r = &b["data"]["registerRequest"];
    assert_eq!(r["organization"]["id"], organization, "routed to {organization}: {b}");
    let text = |k: &str| r[k].as_str().unwrap_or_else(|| panic!("{b}")).to_string();
    Card { id: text("id"), number: text("number"), registered_at: text("registeredAt") }
}

async fn resolve(app: &TestApp, organization: &str, card: &Card) {
    let (_, b) = app.gql(Some(&app.token(organization)), RESOLVE, json!({ "id": card.id })).await;
    assert_eq!(b["data"]["resolveRequest"]["status"], "RESOLVED", "{b}");
}

/// Moves the server's clock forward.
async fn advance(app: &TestApp, secs: i64) {
    app.advance_clock(secs).await;
}

/// Drafts an appeal about `organization` from `from` over the next two days
/// (a period reaching past now ends now).
async fn draft(app: &TestApp, token: &str, organization: &str, from: &str) -> Value {
    let to = chrono::DateTime::parse_from_rfc3339(from).unwrap() + chrono::Duration::days(2);
    let q = format!(
        "mutation($org: ID!, $from: DateTime!, $to: DateTime!) {{
            draftAppeal(organizationId: $org, from: $from, to: $to) {{ {APPEAL_FIELDS} }} }}"
    );
    let (_, b) =
        app.gql(Some(token), &q, json!({ "org": organization, "from": from, "to": to.to_rfc3339() })).await;
    b
}

async fn appeal(app: &TestApp, id: &str) -> Value {
    let q = format!(r#"{{ appeal(id: "{id}") {{ {APPEAL_FIELDS} }} }}"#);
    let (_, b) = app.gql(Some(&app.token("SUPERVISOR")), &q, json!({})).await;
    b["data"]["appeal"].clone()
}

async fn download(app: &TestApp, url: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = reqwest::Client::new().get(format!("{}{url}", app.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

/// The text of `word/document.xml` inside a DOCX.
fn document_xml(docx: &[u8]) -> String {
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(docx)).expect("a DOCX is a zip");
    let mut xml = String::new();
    zip.by_name("word/document.xml").expect("the document part").read_to_string(&mut xml).unwrap();
    xml
}

#[tokio::test]
async fn a_regional_organization_below_target_is_sent_an_appeal_as_a_word_letter() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_movable(dir.path());
    let sup = app.token("SUPERVISOR");
    // Four gas smells: one fixed at once, one fixed an hour after its 6-hour deadline, two left open.
    let cards = [
        register(&app, "gas-smell", "g002-001", GAS).await,
        register(&app, "gas-smell", "g002-002", GAS).await,
        register(&app, "gas-smell", "g002-003", GAS).await,
        register(&app, "gas-smell", "g002-004", GAS).await,
    ];
    resolve(&app, GAS, &cards[0]).await;
    advance(&app, 7 * 3600).await;
    resolve(&app, GAS, &cards[1]).await;
    advance(&app, 60).await;

    let b = draft(&app, &sup, GAS, &cards[0].registered_at).await;
    let a = &b["data"]["draftAppeal"];
    let id = a["id"].as_str().unwrap_or_else(|| panic!("{b}")).to_string();
    assert_eq!((&a["status"], &a["version"]), (&json!("DRAFT"), &json!(1)));
    assert_eq!(a["organization"]["name"], GAS_NAME);
    assert_eq!(
        a["figures"],
        json!({ "onTime": 1, "late": 1, "openOverdue": 2, "compliance": 0.25, "target": 0.9 })
    );
    let late: Vec<&str> =
        a["lateRequests"].as_array().unwrap().iter().map(|l| l["number"].as_str().unwrap()).collect();
    let mut want: Vec<&str> = cards[1..].iter().map(|c| c.number.as_str()).collect();
    want.sort_unstable();
    assert_eq!(late, want, "the late one and the two still open, by deadline");
    assert!(a["body"].as_str().unwrap().contains("25,0 %"), "the text cites the compliance: {b}");

    // Edited at the version the supervisor saw; a second edit from the same stale view is refused.
    let edit = "mutation($id: ID!, $v: Int!, $s: String!, $t: String!) {
        editAppeal(id: $id, expectedVersion: $v, subject: $s, body: $t) { version subject } }";
    let body = "Просим принять меры к соблюдению регламентных сроков.\nО принятых мерах сообщить в десятидневный срок.";
    let (_, b) =
        app.gql(Some(&sup), edit, json!({ "id": id, "v": 1, "s": "О нарушении сроков", "t": body })).await;
    assert_eq!(b["data"]["editAppeal"], json!({ "version": 2, "subject": "О нарушении сроков" }), "{b}");
    let (_, b) =
        app.gql(Some(&sup), edit, json!({ "id": id, "v": 1, "s": "Устаревшая правка", "t": body })).await;
    assert_eq!(b["errors"][0]["extensions"]["code"], "CONFLICT", "{b}");
    let now = appeal(&app, &id).await;
    assert_eq!(
        (&now["version"], &now["subject"]),
        (&json!(2), &json!("О нарушении сроков")),
        "nothing changed"
    );

    // An operator may neither send it nor read it.
    let op = app.token("OPERATOR");
    let send = "mutation($id: ID!, $v: Int!, $n: String!) {
        markAppealSent(id: $id, expectedVersion: $v, outgoingNumber: $n) { status version outgoingNumber } }";
    let (_, b) = app.gql(Some(&op), send, json!({ "id": id, "v": 2, "n": "01-15/123" })).await;
    assert_eq!(b["errors"][0]["extensions"]["code"], "FORBIDDEN", "{b}");
    let url = now["docxUrl"].as_str().unwrap().to_string();
    assert_eq!(url, format!("/reports/appeals/{id}.docx"));
    assert_eq!(download(&app, &url, Some(&op)).await.status().as_u16(), 403);
    assert_eq!(download(&app, &url, None).await.status().as_u16(), 401);
    assert_eq!(appeal(&app, &id).await["status"], "DRAFT");

    let (_, b) = app.gql(Some(&sup), send, json!({ "id": id, "v": 2, "n": "01-15/123" })).await;
    assert_eq!(
        b["data"]["markAppealSent"],
        json!({ "status": "SENT", "version": 3, "outgoingNumber": "01-15/123" }),
        "{b}"
    );
    let (_, b) =
        app.gql(Some(&sup), edit, json!({ "id": id, "v": 3, "s": "После отправки", "t": body })).await;
    assert_eq!(b["errors"][0]["extensions"]["code"], "VALIDATION", "a sent letter is not edited: {b}");

    let r = download(&app, &url, Some(&sup)).await;
    assert_eq!(r.status().as_u16(), 200);
    let header = |n: &str| r.headers()[n].to_str().unwrap().to_string();
    assert!(header("content-type").contains("wordprocessingml"), "{}", header("content-type"));
    assert!(header("content-disposition").contains(&format!("filename=\"kontakt-appeal-{id}.docx\"")));
    let xml = document_xml(&r.bytes().await.unwrap());
    for want in
        [GAS_NAME, "25,0 %", "01-15/123", "Приложение: перечень обращений с нарушением срока", "Запах газа"]
            .into_iter()
            .chain(cards[1..].iter().map(|c| c.number.as_str()))
    {
        assert!(xml.contains(want), "the letter names {want:?}");
    }
    assert!(!xml.contains(&cards[0].number), "the request fixed on time is not in the attachment");

    let history = appeal(&app, &id).await["history"].clone();
    let kinds: Vec<&str> = history.as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["DRAFTED", "EDITED", "SENT"]);
    assert_eq!((&history[2]["actorRole"], &history[2]["note"]), (&json!("SUPERVISOR"), &json!("01-15/123")));

    // A second draft, withdrawn: a reason of a word is not enough.
    let b = draft(&app, &app.token("ADMIN"), GAS, &cards[0].registered_at).await;
    let second = b["data"]["draftAppeal"]["id"].as_str().unwrap_or_else(|| panic!("{b}")).to_string();
    let withdraw = "mutation($id: ID!, $r: String!) { withdrawAppeal(id: $id, expectedVersion: 1, reason: $r) { status withdrawalReason } }";
    let (_, b) = app.gql(Some(&sup), withdraw, json!({ "id": second, "r": "дубль" })).await;
    assert_eq!(b["errors"][0]["extensions"]["code"], "VALIDATION", "{b}");
    let (_, b) = app
        .gql(Some(&sup), withdraw, json!({ "id": second, "r": "дубль письма от сегодняшнего числа" }))
        .await;
    assert_eq!(b["data"]["withdrawAppeal"]["status"], "WITHDRAWN", "{b}");
    let (_, b) = app
        .gql(Some(&sup), &format!(r#"{{ appeals(organizationId: "{GAS}") {{ id status }} }}"#), json!({}))
        .await;
    assert_eq!(
        b["data"]["appeals"],
        json!([{ "id": second, "status": "WITHDRAWN" }, { "id": id, "status": "SENT" }]),
        "newest first"
    );
}

#[tokio::test]
async fn appeals_are_refused_for_city_organizations_those_at_target_and_operators() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_movable(dir.path());
    let sup = app.token("SUPERVISOR");
    // Roads are the city's own; the electric grid is regional and fixes its outage in time.
    let pothole = register(&app, "pothole", "g003-001", "roads-gorlovka").await;
    let outage = register(&app, "power-outage-building", "g003-002", "res-gorlovka").await;
    resolve(&app, "res-gorlovka", &outage).await;
    // A day on: the outage was due and met, the pothole (a week) is not due yet.
    advance(&app, 24 * 3600).await;
    let from = &pothole.registered_at;

    let b = draft(&app, &sup, "roads-gorlovka", from).await;
    assert_eq!(b["errors"][0]["extensions"]["code"], "VALIDATION", "{b}");
    assert!(b["errors"][0]["message"].as_str().unwrap().contains("city organization"), "{b}");
    let b = draft(&app, &sup, "res-gorlovka", from).await;
    assert_eq!(b["errors"][0]["extensions"]["code"], "VALIDATION", "{b}");
    assert!(b["errors"][0]["message"].as_str().unwrap().contains("met the target"), "{b}");
    let b = draft(&app, &sup, "vodokanal-gorlovka", from).await;
    assert!(b["errors"][0]["message"].as_str().unwrap().contains("nothing to appeal"), "{b}");
    let b = draft(&app, &sup, "no-such-org", from).await;
    assert_eq!(b["errors"][0]["extensions"]["code"], "NOT_FOUND", "{b}");
    let b = draft(&app, &app.token("OPERATOR"), GAS, from).await;
    assert_eq!(b["errors"][0]["extensions"]["code"], "FORBIDDEN", "{b}");

    let (_, b) = app.gql(Some(&sup), "{ appeals { id } }", json!({})).await;
    assert_eq!(b["data"]["appeals"], json!([]), "nothing was drafted: {b}");
    assert_eq!(
        download(&app, "/reports/appeals/01JNOSUCHAPPEAL0000000000.docx", Some(&sup)).await.status().as_u16(),
        404
    );
}
