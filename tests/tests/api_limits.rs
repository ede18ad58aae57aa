//! Abuse limits: depth, complexity, page size, aliases, operations per
//! document, batching, body size, and introspection off outside demo mode.
//! Each refusal is a clear error with a code, and changes nothing.

use kontakt_tests::app::{spawn, spawn_demo};
use serde_json::{Value, json};

fn code_of(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

#[tokio::test]
async fn queries_past_the_limits_are_refused_with_a_code() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_demo(dir.path());
    let op = app.token("OPERATOR");

    // Introspection types nest without lists' cost, so this is deep but cheap.
    let mut deep = "name".to_string();
    for _ in 0..12 {
        deep = format!("ofType {{ {deep} }}");
    }
    let (_, b) = app
        .gql(
            Some(&op),
            &format!("{{ __schema {{ queryType {{ fields {{ type {{ {deep} }} }} }} }} }}"),
            json!({}),
        )
        .await;
    assert_eq!(code_of(&b), Some("VALIDATION"), "depth: {b}");
    assert!(b["errors"][0]["message"].as_str().unwrap().contains("deep"), "{b}");

    let wide = "id number status description deadline registeredAt history { seq kind note at actor status }";
    let mut nested = "id".to_string();
    for _ in 0..3 {
        nested = format!("history {{ request {{ {nested} }} }}");
    }
    let (_, b) = app
        .gql(Some(&op), &format!("{{ requests(first: 5) {{ edges {{ node {{ {nested} }} }} }} }}"), json!({}))
        .await;
    assert_eq!(code_of(&b), Some("VALIDATION"), "nested lists: {b}");
    let (_, b) = app
        .gql(Some(&op), &format!("{{ requests(first: 100) {{ edges {{ node {{ {wide} }} }} }} }}"), json!({}))
        .await;
    assert_eq!(code_of(&b), Some("VALIDATION"), "complexity: {b}");
    assert!(b["errors"][0]["message"].as_str().unwrap().contains("complex"), "{b}");

    let (_, b) = app.gql(Some(&op), "{ requests(first: 101) { edges { cursor } } }", json!({})).await;
    assert_eq!(code_of(&b), Some("VALIDATION"), "first: {b}");
    let (_, b) = app.gql(Some(&op), "{ requests(first: 0) { edges { cursor } } }", json!({})).await;
    assert_eq!(code_of(&b), Some("VALIDATION"), "first: {b}");

    let aliases: String = (0..31).map(|i| format!("a{i}: me {{ role }} ")).collect();
    let (_, b) = app.gql(Some(&op), &format!("{{ {aliases} }}"), json!({})).await;
    assert_eq!(code_of(&b), Some("VALIDATION"), "aliases: {b}");
    assert!(b["errors"][0]["message"].as_str().unwrap().contains("aliases"), "{b}");
    let few: String = (0..5).map(|i| format!("a{i}: me {{ role }} ")).collect();
    let (_, b) = app.gql(Some(&op), &format!("{{ {few} }}"), json!({})).await;
    assert_eq!(b["data"]["a4"]["role"], "OPERATOR", "a few aliases are fine: {b}");

    let (_, b) = app.gql(Some(&op), "query A { me { role } } query B { me { subject } }", json!({})).await;
    assert_eq!(code_of(&b), Some("VALIDATION"), "operations: {b}");

    let (status, b) = app.gql(Some(&op), "{ me { role } ", json!({})).await;
    assert_eq!((status, code_of(&b)), (200, Some("VALIDATION")), "syntax: {b}");
}

#[tokio::test]
async fn transport_abuse_is_refused_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn_demo(dir.path());
    let op = app.token("OPERATOR");
    let batch =
        serde_json::to_vec(&json!([{ "query": "{ me { role } }" }, { "query": "{ me { role } }" }])).unwrap();
    let (status, b) = app.post_raw(Some(&op), batch).await;
    assert_eq!(status, 400, "{b}");
    assert!(b["errors"][0]["message"].as_str().unwrap().contains("batched"));

    let huge =
        format!(r#"{{"query":"{{ me {{ role }} }}","variables":{{"pad":"{}"}}}}"#, "x".repeat(100_000));
    let (status, _) = app.post_raw(Some(&op), huge.into_bytes()).await;
    assert_eq!(status, 413, "the body limit");

    let (status, b) = app.post_raw(Some(&op), b"{not json".to_vec()).await;
    assert_eq!((status, code_of(&b)), (400, Some("BAD_REQUEST")), "{b}");

    let description = "д".repeat(5000);
    let (_, b) = app
        .gql(
            Some(&op),
            "mutation($d: String!) { registerRequest(input: {categoryCode: \"pothole\", addressId: \"g001-001\", description: $d}) { id } }",
            json!({ "d": description }),
        )
        .await;
    assert_eq!(code_of(&b), Some("VALIDATION"), "an overlong description: {b}");
    let (_, b) = app.gql(Some(&op), "{ requests { edges { cursor } } }", json!({})).await;
    assert_eq!(b["data"]["requests"]["edges"], json!([]), "nothing was registered");
}

#[tokio::test]
async fn introspection_graphiql_and_suggestions_are_off_outside_demo_mode() {
    let dir = tempfile::tempdir().unwrap();
    let app = spawn(dir.path(), &[], &[]);
    let token =
        kontakt_tests::app::mint(&kontakt_tests::app::claims("ADMIN", None), kontakt_tests::app::TEST_SECRET);
    let (_, b) = app.gql(Some(&token), "{ __schema { types { name } } }", json!({})).await;
    assert!(b["data"].is_null() || b["data"]["__schema"].is_null(), "introspection answered: {b}");
    let (_, b) = app.gql(Some(&token), "{ mee { role } }", json!({})).await;
    let message = b["errors"][0]["message"].as_str().unwrap();
    assert!(!message.contains("Did you mean"), "suggestions leak the schema: {message}");
    assert_eq!(app.get("/graphiql").await.0, 404);
    assert_eq!(app.get("/healthz").await, (200, "ok".into()));

    let demo_dir = tempfile::tempdir().unwrap();
    let demo = spawn_demo(demo_dir.path());
    let (_, b) = demo.gql(Some(&demo.token("ADMIN")), "{ __schema { queryType { name } } }", json!({})).await;
    assert_eq!(b["data"]["__schema"]["queryType"]["name"], "Query", "{b}");
    assert_eq!(demo.get("/graphiql").await.0, 200);
}

#[tokio::test]
async fn the_server_refuses_to_start_without_a_key_outside_demo_mode() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(kontakt_tests::app::kontakt_bin())
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .env_remove("KONTAKT_JWT_SECRET")
        .env_remove("KONTAKT_JWT_SECRET_FILE")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("KONTAKT_JWT_SECRET"), "{err}");

    std::fs::write(dir.path().join("photo.jpg"), b"not a store").unwrap();
    let out = std::process::Command::new(kontakt_tests::app::kontakt_bin())
        .args(["serve", "--demo", "--listen", "127.0.0.1:0", "--data"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("holds no Kontakt store"), "a foreign directory is refused clearly: {err}");
}
