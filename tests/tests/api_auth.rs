//! Authorization: every role against every operation (queries, mutations,
//! subscriptions and personal fields), contractor A against organization B's
//! requests, and every way a token can be bad.

use kontakt_tests::app::{TEST_SECRET, TestApp, WsClient, WsRefused, claims, mint, spawn_demo, unsigned};
use serde_json::{Value, json};

const REGISTER: &str = "mutation($input: RegisterRequestInput!) { registerRequest(input: $input) { id } }";

struct Setup {
    app: TestApp,
    _dir: tempfile::TempDir,
    /// A request of res-gorlovka (organization A).
    a: String,
    /// A request of zhek-central (organization B).
    b: String,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_demo(dir.path());
    let op = app.token("OPERATOR");
    let mut ids = Vec::new();
    for (cat, addr) in [("power-outage-building", "g001-001"), ("roof-leak", "g001-002")] {
        let input = json!({ "input": { "categoryCode": cat, "addressId": addr, "description": "описание",
            "applicant": { "name": "Петров", "phone": "+78564000000", "callbackConsent": true } } });
        let (_, b) = app.gql(Some(&op), REGISTER, input).await;
        ids.push(b["data"]["registerRequest"]["id"].as_str().expect("registered").to_string());
    }
    Setup { app, _dir: dir, a: ids[0].clone(), b: ids[1].clone() }
}

/// Who asks: a demo token name, or anonymous.
const WHO: [&str; 6] = ["anonymous", "OPERATOR", "res-gorlovka", "zhek-central", "SUPERVISOR", "ADMIN"];

fn code_of(body: &Value) -> Option<String> {
    body["errors"][0]["extensions"]["code"].as_str().map(str::to_string)
}

#[tokio::test]
async fn every_role_meets_every_operation_as_the_matrix_says() {
    let s = setup().await;
    // (operation, who may: the rest get FORBIDDEN, anonymous UNAUTHENTICATED)
    let ops: Vec<(String, Vec<&str>)> = vec![
        ("{ me { role } }".into(), vec!["OPERATOR", "res-gorlovka", "zhek-central", "SUPERVISOR", "ADMIN"]),
        ("{ organizations { id } }".into(), vec!["OPERATOR", "res-gorlovka", "zhek-central", "SUPERVISOR", "ADMIN"]),
        ("{ categories { code } }".into(), vec!["OPERATOR", "res-gorlovka", "zhek-central", "SUPERVISOR", "ADMIN"]),
        (r#"{ addresses(search: "Пушк") { id } }"#.into(), vec!["OPERATOR", "res-gorlovka", "zhek-central", "SUPERVISOR", "ADMIN"]),
        (format!(r#"{{ request(id: "{}") {{ number }} }}"#, s.a), vec!["OPERATOR", "res-gorlovka", "SUPERVISOR", "ADMIN"]),
        (format!(r#"{{ requestHistory(id: "{}") {{ kind }} }}"#, s.a), vec!["OPERATOR", "res-gorlovka", "SUPERVISOR", "ADMIN"]),
        (format!(r#"{{ requestAt(id: "{}", at: "2030-01-01T00:00:00Z") {{ status }} }}"#, s.b), vec!["OPERATOR", "zhek-central", "SUPERVISOR", "ADMIN"]),
        (r#"{ requests(filter: {organizationId: "res-gorlovka"}) { edges { node { id } } } }"#.into(), vec!["OPERATOR", "res-gorlovka", "SUPERVISOR", "ADMIN"]),
        (r#"{ cardHints(addressId: "g001-001", categoryCode: "pothole") { script } }"#.into(), vec!["OPERATOR", "SUPERVISOR", "ADMIN"]),
        ("{ slaBoard { unrouted } }".into(), vec!["OPERATOR", "res-gorlovka", "zhek-central", "SUPERVISOR", "ADMIN"]),
        (
            r#"mutation { registerRequest(input: {categoryCode: "pothole", addressId: "g002-002", description: "яма"}) { id } }"#.into(),
            vec!["OPERATOR", "SUPERVISOR", "ADMIN"],
        ),
        (r#"mutation { issueToken(role: OPERATOR, ttl: "PT1H") { jti } }"#.into(), vec!["ADMIN"]),
        (r#"mutation { revokeToken(jti: "01M8KRPZ0692EH7XWSJMCFKS16") }"#.into(), vec!["ADMIN"]),
        (
            r#"mutation { setRoutingRule(categoryCode: "other", organizationId: "sanitation-gorlovka") }"#.into(),
            vec!["ADMIN"],
        ),
        (
            r#"mutation { upsertOrganization(input: {id: "lift-service", nameRu: "Лифтсервис", nameEn: "Lift service", kind: HOUSING, subordination: CITY}) { id } }"#.into(),
            vec!["ADMIN"],
        ),
    ];
    for (op, allowed) in &ops {
        for who in WHO {
            let token = (who != "anonymous").then(|| s.app.token(who));
            let (status, body) = s.app.gql(token.as_deref(), op, json!({})).await;
            assert_eq!(status, 200, "{who} {op}: {body}");
            let code = code_of(&body);
            if allowed.contains(&who) {
                assert_eq!(code, None, "{who} should be allowed {op}: {body}");
            } else if who == "anonymous" {
                assert_eq!(code.as_deref(), Some("UNAUTHENTICATED"), "{op}: {body}");
            } else if op.contains(&s.a) || op.contains(&s.b) {
                // Another organization's request reads exactly as one that does not exist.
                assert!(
                    matches!(code.as_deref(), None | Some("NOT_FOUND"))
                        && !body.to_string().contains("number\":\"2"),
                    "{who} should not see {op}: {body}"
                );
            } else {
                assert_eq!(code.as_deref(), Some("FORBIDDEN"), "{who} should be forbidden {op}: {body}");
            }
        }
    }
}

#[tokio::test]
async fn a_contractor_cannot_read_change_or_list_another_organizations_request() {
    let s = setup().await;
    let b_crew = s.app.token("zhek-central");
    for op in [
        format!(r#"mutation {{ acceptRequest(id: "{}") {{ status }} }}"#, s.a),
        format!(r#"mutation {{ resolveRequest(id: "{}", resolution: "готово") {{ status }} }}"#, s.a),
        format!(r#"mutation {{ rejectRequest(id: "{}", reason: "не наше") {{ status }} }}"#, s.a),
        format!(r#"mutation {{ cancelRequest(id: "{}", reason: "x") {{ status }} }}"#, s.a),
    ] {
        let (_, body) = s.app.gql(Some(&b_crew), &op, json!({})).await;
        let code = code_of(&body);
        // Another organization's request is answered as one that does not exist
        // (cancel is refused earlier, by the role guard).
        assert!(matches!(code.as_deref(), Some("NOT_FOUND" | "FORBIDDEN")), "{op}: {body}");
    }
    let (_, body) =
        s.app.gql(Some(&b_crew), &format!(r#"{{ request(id: "{}") {{ status }} }}"#, s.a), json!({})).await;
    assert!(body["data"]["request"].is_null() && body.get("errors").is_none(), "{body}");
    let (_, body) = s
        .app
        .gql(
            Some(&b_crew),
            "{ requests(first: 100) { edges { node { id organization { id } } } } }",
            json!({}),
        )
        .await;
    let ids: Vec<&str> = body["data"]["requests"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![s.b.as_str()], "a contractor's list holds only its own");
    let (_, body) =
        s.app.gql(Some(&b_crew), "{ slaBoard { rows { organization { id } } } }", json!({})).await;
    assert_eq!(body["data"]["slaBoard"]["rows"].as_array().unwrap().len(), 1);
    // Nothing changed for organization A.
    let (_, body) = s
        .app
        .gql(
            Some(&s.app.token("OPERATOR")),
            &format!(r#"{{ request(id: "{}") {{ status version }} }}"#, s.a),
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["request"]["status"], "DISPATCHED");
    assert_eq!(body["data"]["request"]["version"], 1);
}

#[tokio::test]
async fn applicant_name_and_phone_are_shown_only_to_those_entitled() {
    let s = setup().await;
    let q = format!(r#"{{ request(id: "{}") {{ applicant {{ name phone }} }} }}"#, s.b);
    for (who, sees) in [("OPERATOR", true), ("SUPERVISOR", true), ("ADMIN", true), ("zhek-central", true)] {
        let (_, body) = s.app.gql(Some(&s.app.token(who)), &q, json!({})).await;
        assert_eq!(body["data"]["request"]["applicant"]["phone"].is_string(), sees, "{who}: {body}");
    }
    // Reassigned away, the former organization no longer sees it at all.
    let sup = s.app.token("SUPERVISOR");
    let (_, body) = s
        .app
        .gql(Some(&sup), &format!(r#"mutation {{ reassignRequest(id: "{}", organizationId: "teploset-gorlovka", reason: "это отопление") {{ status }} }}"#, s.b), json!({}))
        .await;
    assert_eq!(body["data"]["reassignRequest"]["status"], "DISPATCHED", "{body}");
    let (_, body) = s.app.gql(Some(&s.app.token("zhek-central")), &q, json!({})).await;
    assert!(body["data"]["request"].is_null(), "{body}");
    // The new organization sees the applicant.
    let (_, body) = s.app.gql(Some(&s.app.token("teploset-gorlovka")), &q, json!({})).await;
    assert_eq!(body["data"]["request"]["applicant"]["name"], "Петров", "{body}");
}

#[tokio::test]
async fn subscriptions_are_scoped_to_the_contractors_organization() {
    let s = setup().await;
    let mut a_ws = WsClient::connect(
        &s.app.base,
        "graphql-transport-ws",
        json!({ "token": s.app.token("res-gorlovka") }),
    )
    .await
    .unwrap();
    a_ws.subscribe(
        "1",
        "subscription { requestEvents { kind request { id organization { id } applicant { phone } } } }",
        json!({}),
    )
    .await;
    let mut b_ws = WsClient::connect(
        &s.app.base,
        "graphql-transport-ws",
        json!({ "token": s.app.token("zhek-central") }),
    )
    .await
    .unwrap();
    b_ws.subscribe("1", "subscription { requestEvents { kind request { id } } }", json!({})).await;
    // Asking for another organization's stream is refused.
    b_ws.subscribe(
        "2",
        r#"subscription { requestEvents(filter: {organizationId: "res-gorlovka"}) { kind } }"#,
        json!({}),
    )
    .await;
    let refused = b_ws.next_payload(10).await.expect("an error for the foreign filter");
    assert_eq!(refused["errors"][0]["extensions"]["code"], "FORBIDDEN", "{refused}");
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    let crew_a = s.app.token("res-gorlovka");
    let crew_b = s.app.token("zhek-central");
    s.app
        .gql(
            Some(&crew_a),
            &format!(r#"mutation {{ acceptRequest(id: "{}") {{ status }} }}"#, s.a),
            json!({}),
        )
        .await;
    s.app
        .gql(
            Some(&crew_b),
            &format!(r#"mutation {{ acceptRequest(id: "{}") {{ status }} }}"#, s.b),
            json!({}),
        )
        .await;

    let a_event = a_ws.next_payload(10).await.expect("A hears its own event");
    assert_eq!(a_event["data"]["requestEvents"]["request"]["id"], s.a.as_str(), "{a_event}");
    assert!(a_event["data"]["requestEvents"]["request"]["applicant"]["phone"].is_string());
    let b_event = b_ws.next_payload(10).await.expect("B hears its own event");
    assert_eq!(b_event["data"]["requestEvents"]["request"]["id"], s.b.as_str(), "{b_event}");
    assert!(a_ws.next_payload(1).await.is_none(), "A hears nothing of B");
    assert!(b_ws.next_payload(1).await.is_none(), "B hears nothing of A");
}

#[tokio::test]
async fn every_kind_of_bad_token_is_refused_over_http_and_websocket() {
    let s = setup().await;
    let now = chrono::Utc::now().timestamp();
    let good = claims("SUPERVISOR", None);
    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = good.clone();
        f(&mut c);
        c
    };
    let revoked = {
        let c = claims("OPERATOR", None);
        let jti = c["jti"].as_str().unwrap().to_string();
        let (_, b) = s
            .app
            .gql(
                Some(&s.app.token("ADMIN")),
                &format!(r#"mutation {{ revokeToken(jti: "{jti}") }}"#),
                json!({}),
            )
            .await;
        assert_eq!(b["data"]["revokeToken"], true, "{b}");
        mint(&c, TEST_SECRET)
    };
    let cases: Vec<(&str, String)> = vec![
        ("alg none", unsigned(&good)),
        ("wrong key", mint(&good, "another-key-of-sufficient-length-0123456789")),
        ("expired", mint(&with(&|c| c["exp"] = json!(now - 3600)), TEST_SECRET)),
        ("not yet valid", mint(&with(&|c| c["nbf"] = json!(now + 3600)), TEST_SECRET)),
        ("wrong issuer", mint(&with(&|c| c["iss"] = json!("someone-else")), TEST_SECRET)),
        ("wrong audience", mint(&with(&|c| c["aud"] = json!("other-api")), TEST_SECRET)),
        (
            "no expiry",
            mint(&with(&|c| c.as_object_mut().unwrap().remove("exp").map(|_| ()).unwrap_or(())), TEST_SECRET),
        ),
        ("contractor without organization", mint(&claims("CONTRACTOR", None), TEST_SECRET)),
        ("unknown role", mint(&with(&|c| c["role"] = json!("MAYOR")), TEST_SECRET)),
        ("revoked", revoked),
        ("garbage", "not.a.token".into()),
    ];
    for (what, token) in &cases {
        let (status, body) = s.app.gql(Some(token), "{ me { role } }", json!({})).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(code_of(&body).as_deref(), Some("UNAUTHENTICATED"), "{what}: {body}");
        let ws = WsClient::connect(&s.app.base, "graphql-transport-ws", json!({ "token": token })).await;
        assert_eq!(ws.err(), Some(WsRefused::Closed(4403)), "{what} over websocket");
    }
    // The good token works; a missing one closes the socket with 4401.
    let (status, body) = s.app.gql(Some(&mint(&good, TEST_SECRET)), "{ me { role } }", json!({})).await;
    assert_eq!((status, &body["data"]["me"]["role"]), (200, &json!("SUPERVISOR")), "{body}");
    let ws = WsClient::connect(&s.app.base, "graphql-transport-ws", json!({})).await;
    assert_eq!(ws.err(), Some(WsRefused::Closed(4401)));
    let ws = WsClient::connect(&s.app.base, "graphql-ws", json!({ "token": "not.a.token" })).await;
    assert_eq!(ws.err(), Some(WsRefused::ConnectionError), "the legacy protocol refuses in its own words");
}

#[tokio::test]
async fn tokens_issued_by_an_admin_work_until_revoked() {
    let s = setup().await;
    let admin = s.app.token("ADMIN");
    let (_, b) = s.app.gql(Some(&admin), r#"mutation { issueToken(role: CONTRACTOR, organizationId: "res-gorlovka", ttl: "PT2H", subject: "brigade-7") { token jti } }"#, json!({})).await;
    let token = b["data"]["issueToken"]["token"].as_str().unwrap().to_string();
    let jti = b["data"]["issueToken"]["jti"].as_str().unwrap().to_string();
    let (_, me) = s.app.gql(Some(&token), "{ me { subject role organization { id } } }", json!({})).await;
    assert_eq!(
        me["data"]["me"],
        json!({ "subject": "brigade-7", "role": "CONTRACTOR", "organization": { "id": "res-gorlovka" } })
    );
    let (_, bad) = s.app.gql(Some(&admin), r#"mutation { issueToken(role: CONTRACTOR, organizationId: "no-such-org", ttl: "PT2H") { jti } }"#, json!({})).await;
    assert_eq!(code_of(&bad).as_deref(), Some("VALIDATION"), "{bad}");
    s.app.gql(Some(&admin), &format!(r#"mutation {{ revokeToken(jti: "{jti}") }}"#), json!({})).await;
    let (status, _) = s.app.gql(Some(&token), "{ me { role } }", json!({})).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn a_revoked_token_ends_its_live_subscriptions() {
    let s = setup().await;
    let admin = s.app.token("ADMIN");
    let (_, b) = s
        .app
        .gql(
            Some(&admin),
            r#"mutation { issueToken(role: SUPERVISOR, ttl: "PT1H") { token jti } }"#,
            json!({}),
        )
        .await;
    let (token, jti) = (
        b["data"]["issueToken"]["token"].as_str().unwrap().to_string(),
        b["data"]["issueToken"]["jti"].as_str().unwrap().to_string(),
    );
    let mut ws =
        WsClient::connect(&s.app.base, "graphql-transport-ws", json!({ "token": token })).await.unwrap();
    ws.subscribe("1", "subscription { slaBoard { unrouted } }", json!({})).await;
    assert!(ws.next_payload(10).await.unwrap()["data"]["slaBoard"].is_object());
    s.app.gql(Some(&admin), &format!(r#"mutation {{ revokeToken(jti: "{jti}") }}"#), json!({})).await;
    let last = ws.next_payload(10).await.expect("a last word");
    assert_eq!(last["errors"][0]["extensions"]["code"], "UNAUTHENTICATED", "{last}");
}
